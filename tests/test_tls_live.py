"""`dicomsniff capture` decrypts live DICOM over TLS of a local peer started with the same SSLKEYLOGFILE
(the key log does not exist yet when the capture starts: it is read when a session's keys are needed)."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dicomsniff.capture.live import capture_permitted

HAVE_LO = any(name == "lo" for _, name in socket.if_nameindex())
pytestmark = pytest.mark.skipif(not (capture_permitted() and HAVE_LO),
                                reason="live capture needs Linux, an 'lo' interface and root or CAP_NET_RAW")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (cryptography), enough for a TLS 1.3 server."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    c, k = tmp / "cert.pem", tmp / "key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return c, k


def test_capture_decrypts_live_tls_with_sslkeylogfile(tmp_path):
    from pynetdicom import AE

    port = free_port()
    keys = tmp_path / "keys.txt"
    cert, key = make_cert(tmp_path)
    env = dict(os.environ, SSLKEYLOGFILE=str(keys), NO_COLOR="1")
    cap = subprocess.Popen([sys.executable, "-m", "dicomsniff", "capture", "-i", "lo", "-f", f"tcp port {port}",
                            "--duration", "8"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2.0)                              # the capture is listening
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cert, key)
        scp = AE(ae_title="LIVESCP")
        scp.add_supported_context("1.2.840.10008.1.1")
        server = scp.start_server(("127.0.0.1", port), block=False, ssl_context=sctx)
        try:
            cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            cctx.load_verify_locations(cert)
            cctx.keylog_filename = str(keys)
            scu = AE(ae_title="LIVESCU")
            scu.add_requested_context("1.2.840.10008.1.1")
            assoc = scu.associate("127.0.0.1", port, ae_title="LIVESCP", tls_args=(cctx, "localhost"))
            assert assoc.is_established
            assert assoc.send_c_echo().Status == 0
            assoc.release()
        finally:
            server.shutdown()
        out, _ = cap.communicate(timeout=30)
    finally:
        if cap.poll() is None:
            cap.kill()
    assert "LIVESCU → LIVESCP requests an association" in out, out
    assert "C-ECHO-RQ" in out and "released" in out, out
