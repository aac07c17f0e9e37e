"""TLS that is not DICOM: a ClientHello offering only other applications' ALPN IDs (HTTPS) is left alone, and a
session decrypted with keys whose first bytes are no DICOM PDU is said to be "not DICOM inside", never framed.

The TLS bytes are real: two OpenSSL endpoints (Python ``ssl`` over memory BIOs, the client writing a key
log) talk through memory; the bytes are then laid into TCP segments of a capture (tests/capwriter.py).
"""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import pytest

from capwriter import ACK, ETHERNET, FIN, PSH, SYN, frame, pcap_bytes, tcp_packet
from dicomsniff.model.diagnosis import diagnose
from dicomsniff.pipeline import Analyzer
from dicomsniff.reading import read_events
from dicomsniff.tls.keylog import KeyLog


def make_cert(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    c, k = tmp / "cert.pem", tmp / "key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return c, k


def tls_conversation(tmp: Path, request: bytes, answer: bytes, alpn=None) -> tuple[list[tuple[int, bytes]], Path]:
    """(direction, bytes) written by a TLS 1.3 client (0) and server (1) over memory BIOs, and the key log."""
    cert, key = make_cert(tmp)
    keys = tmp / "keys.txt"
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.load_verify_locations(cert)
    cctx.keylog_filename = str(keys)
    if alpn:
        cctx.set_alpn_protocols(alpn)
        sctx.set_alpn_protocols(alpn)
    cin, cout, sin, sout = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = cctx.wrap_bio(cin, cout, server_hostname="localhost")
    s = sctx.wrap_bio(sin, sout, server_side=True)
    wire: list[tuple[int, bytes]] = []

    def pump() -> None:
        for src, dst, d in ((cout, sin, 0), (sout, cin, 1)):
            data = src.read()
            if data:
                wire.append((d, data))
                dst.write(data)

    for _ in range(10):
        for end in (c, s):
            try:
                end.do_handshake()
            except ssl.SSLWantReadError:
                pass
        pump()
    c.write(request)
    pump()
    assert s.read(65536) == request
    s.write(answer)
    pump()
    assert c.read(65536) == answer
    return wire, keys


def capture(wire, port: int) -> bytes:
    cl, sv = ("10.0.0.1", 50000), ("10.0.0.2", port)
    seq = {0: 1000, 1: 9000}
    recs, ts = [], int(datetime.datetime.now(datetime.timezone.utc).timestamp()) * 10**9   # inside the validity

    def send(d: int, payload: bytes = b"", flags: int = PSH | ACK) -> None:
        nonlocal ts
        (src, sp), (dst, dp) = (cl, sv) if d == 0 else (sv, cl)
        recs.append((ts, frame(ETHERNET, tcp_packet(src, dst, sp, dp, seq=seq[d], ack=seq[1 - d], flags=flags,
                                                    payload=payload))))
        seq[d] += len(payload) + (1 if flags & (SYN | FIN) else 0)
        ts += 1_000_000

    send(0, flags=SYN)
    send(1, flags=SYN | ACK)
    for d, data in wire:
        for i in range(0, len(data), 1400):
            send(d, data[i:i + 1400])
    send(0, flags=FIN | ACK)
    send(1, flags=FIN | ACK)
    return pcap_bytes(recs, ETHERNET)


def run(data: bytes, keys: Path | None):
    kl = KeyLog()
    if keys is not None:
        kl.add_file(keys)
    an = Analyzer(keep_pdus=True, tls_keylog=kl)
    for _ in read_events(data, an):
        pass
    return an


def test_https_alpn_is_left_alone(tmp_path):
    wire, keys = tls_conversation(tmp_path, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n",
                                  alpn=["h2", "http/1.1"])
    an = run(capture(wire, 8443), keys)
    assert an.associations == []


def test_decrypted_but_not_dicom_is_said_and_never_framed(tmp_path):
    wire, keys = tls_conversation(tmp_path, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n")
    data = capture(wire, 2762)
    an = run(data, keys)
    a, = an.associations
    assert a.tls.not_dicom.startswith(b"GET / HTTP") and a.pdu_count == 0
    assert a.tls.status_text() == "TLS 1.3, decrypted: not DICOM inside"
    fs = diagnose(an.associations)
    assert [f.code for f in fs] == ["tls-not-dicom"]
    assert "GET / HTTP" in fs[0].message
    an = run(data, None)                            # without keys it is one encrypted TLS connection
    assert [f.code for f in diagnose(an.associations)] == ["tls-encrypted"]


@pytest.mark.parametrize("split", [1, 7, 1400])
def test_dicom_over_memory_tls_decrypts_in_any_segmentation(tmp_path, split):
    """A hand-made A-ASSOCIATE-RJ-sized exchange: an RQ-looking PDU one way, an A-ABORT back."""
    rq = bytes([1, 0]) + (68).to_bytes(4, "big") + bytes([0, 1, 0, 0]) + b"CALLED".ljust(16) \
        + b"CALLING".ljust(16) + bytes(32)
    abort = bytes([7, 0, 0, 0, 0, 4, 0, 0, 2, 0])
    wire, keys = tls_conversation(tmp_path, rq, abort)
    fine = [(d, b[i:i + split]) for d, b in wire for i in range(0, len(b), split)]
    an = run(capture(fine, 2762), keys)
    a, = an.associations
    assert a.tls.decrypted and a.calling_ae == "CALLING" and a.outcome == "aborted"
