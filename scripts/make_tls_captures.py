#!/usr/bin/env python3
"""Make the real DICOM-over-TLS captures and their key logs (run as root: tcpdump on lo).

    sudo python scripts/make_tls_captures.py [--out captures/] [--only NAME[,NAME]] [--work DIR]

Reuses scripts/make_captures.py (process handling, tcpdump, test objects). A throwaway PKI is made
by the script with ``openssl`` (a test CA, a second "other" CA nobody trusts, server and client
certificates, and a server certificate that expired in 2020, signed with ``openssl ca`` and fixed
dates). Key logs come from Python's ``SSLContext.keylog_filename`` (NSS key log format); DCMTK cannot
write one, so when DCMTK is the client the pynetdicom server writes it. Each capture ``X.pcap`` with a
key log gets ``X.keys`` beside it; facts go to ``manifest.json`` under ``tls_captures``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_captures as M  # noqa: E402

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"


# --------------------------------------------------------------------------
# the throwaway PKI (openssl)
# --------------------------------------------------------------------------

def openssl(*args, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_pki(root: Path) -> Path:
    """CA, other CA, server/client certs (CN localhost, SAN 127.0.0.1), an expired server cert, DH params."""
    pki = root / "pki"
    if pki.exists():
        shutil.rmtree(pki)
    pki.mkdir(parents=True)
    ext = pki / "ext.cnf"
    ext.write_text("[srv]\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                   "[cli]\nextendedKeyUsage=clientAuth\n")
    for ca, cn in (("ca", "dicomsniff test CA"), ("other_ca", "other test CA (not trusted)")):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "3650", "-subj", f"/O=dicomsniff tests/CN={cn}", cwd=pki)
    for name, ca, cn, sect in (("server", "ca", "localhost", "srv"), ("client", "ca", "STORESCU", "cli"),
                               ("other_server", "other_ca", "localhost", "srv"),
                               ("other_client", "other_ca", "OTHERSCU", "cli")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/O=dicomsniff tests/CN={cn}", cwd=pki)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-days", "825", "-extfile", "ext.cnf", "-extensions", sect,
                "-out", f"{name}.pem", cwd=pki)
    # An expired server certificate: 'openssl ca' takes explicit start and end dates.
    (pki / "db").mkdir()
    (pki / "db" / "index.txt").write_text("")
    (pki / "db" / "serial").write_text("1000\n")
    (pki / "ca.cnf").write_text(
        "[ca]\ndefault_ca=d\n[d]\ndatabase=db/index.txt\nserial=db/serial\nnew_certs_dir=db\n"
        "default_md=sha256\npolicy=p\ncopy_extensions=none\nunique_subject=no\n[p]\ncommonName=supplied\n"
        "organizationName=optional\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "expired.key", "-out", "expired.csr",
            "-subj", "/O=dicomsniff tests/CN=localhost", cwd=pki)
    openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "expired.csr",
            "-startdate", "20190101000000Z", "-enddate", "20200101000000Z", "-extfile", "ext.cnf",
            "-extensions", "srv", "-out", "expired.pem", cwd=pki)
    openssl("genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048", "-out", "dh.pem", cwd=pki)
    return pki


def server_ctx(pki: Path, *, cert="server", cafile="ca.pem", require_client=False, min_v=None, max_v=None,
               ciphers=None, keylog: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / f"{cert}.pem", pki / f"{cert}.key")
    ctx.load_verify_locations(pki / cafile)
    ctx.verify_mode = ssl.CERT_REQUIRED if require_client else ssl.CERT_NONE
    if min_v:
        ctx.minimum_version = min_v
    if max_v:
        ctx.maximum_version = max_v
    if ciphers:
        ctx.set_ciphers(ciphers)
    try:
        ctx.load_dh_params(str(pki / "dh.pem"))
    except (ssl.SSLError, OSError):
        pass
    if keylog is not None:
        ctx.keylog_filename = str(keylog)
    return ctx


def client_ctx(pki: Path, *, cafile="ca.pem", cert: str | None = None, min_v=None, max_v=None, ciphers=None,
               keylog: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki / cafile)
    ctx.check_hostname = True
    if cert:
        ctx.load_cert_chain(pki / f"{cert}.pem", pki / f"{cert}.key")
    if min_v:
        ctx.minimum_version = min_v
    if max_v:
        ctx.maximum_version = max_v
    if ciphers:
        ctx.set_ciphers(ciphers)
    if keylog is not None:
        ctx.keylog_filename = str(keylog)
    return ctx


# --------------------------------------------------------------------------
# pynetdicom peers
# --------------------------------------------------------------------------

def pynet_scp(ae_title="TLSSCP"):
    from pynetdicom import AE

    M.pynet_quiet()
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_supported_context(VERIFICATION, [IMPLICIT, EXPLICIT])
    ae.add_supported_context(CT, [IMPLICIT, EXPLICIT])
    ae.add_supported_context(MR, [IMPLICIT, EXPLICIT])
    return ae


def start_scp(port: int, ctx: ssl.SSLContext | None, ae_title="TLSSCP"):
    from pynetdicom import evt

    ae = pynet_scp(ae_title)
    server = ae.start_server(("127.0.0.1", port), block=False, ssl_context=ctx,
                             evt_handlers=[(evt.EVT_C_STORE, lambda e: 0x0000)])
    M.wait_listening(port)
    return server


def pynet_scu(ae_title="TLSSCU"):
    from pynetdicom import AE

    M.pynet_quiet()
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(VERIFICATION, [IMPLICIT])
    ae.add_requested_context(CT, [IMPLICIT])
    return ae


def scu_session(port: int, ctx: ssl.SSLContext | None, *, store: Path | None = None, called="TLSSCP",
                ae_title="TLSSCU") -> dict:
    """Associate (over TLS when ``ctx``), C-ECHO, optionally C-STORE, release; returns what happened."""
    import pydicom

    ae = pynet_scu(ae_title)
    tls = (ctx, "localhost") if ctx is not None else None
    try:
        assoc = ae.associate("127.0.0.1", port, ae_title=called, tls_args=tls)
    except (ssl.SSLError, OSError) as e:
        return {"established": False, "error": repr(e)}
    res: dict = {"established": assoc.is_established}
    if assoc.is_established:
        res["echo"] = int(assoc.send_c_echo().Status)
        if store is not None:
            res["store"] = int(assoc.send_c_store(pydicom.dcmread(store)).Status)
        assoc.release()
    return res


# --------------------------------------------------------------------------
# scenarios: name -> (fn(ctx) -> facts, ports)
# --------------------------------------------------------------------------

class Ctx:
    def __init__(self, work: M.Work, procs: M.Procs, pki: Path, pcap: Path, keys: Path, ports: list[int]):
        self.work, self.procs, self.pki, self.pcap, self.keys, self.ports = work, procs, pki, pcap, keys, ports


V12, V13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3


def sc_tls13_store(c: Ctx) -> dict:
    port = c.ports[0]
    server = start_scp(port, server_ctx(c.pki))
    try:
        with M.tcpdump(c.pcap, c.ports, c.procs.logdir):
            res = scu_session(port, client_ctx(c.pki, min_v=V13, keylog=c.keys),
                              store=c.work.objects["ct_implicit_le"])
    finally:
        server.shutdown()
    return {"description": "pynetdicom TLSSCU -> pynetdicom TLSSCP over TLS 1.3 (TLS_AES_256_GCM_SHA384): "
                           "C-ECHO, C-STORE CT, release; client key log",
            "version": "TLS 1.3", "cipher": "TLS_AES_256_GCM_SHA384", "sni": "localhost", "result": res,
            "commands": {"C-ECHO-RQ": 1, "C-ECHO-RSP": 1, "C-STORE-RQ": 1, "C-STORE-RSP": 1}}


def sc_tls12_dcmtk(c: Ctx) -> dict:
    """DCMTK storescu +tls (client certificate) -> pynetdicom SCP capped at TLS 1.2; the server writes the keys."""
    port = c.ports[0]
    ctx = server_ctx(c.pki, require_client=True, max_v=V12, keylog=c.keys)
    server = start_scp(port, ctx, ae_title="STORESCP")
    pki = c.pki
    try:
        with M.tcpdump(c.pcap, c.ports, c.procs.logdir):
            c.procs.run("storescu", [M.dcmtk("storescu"), "-v", "+tls", pki / "client.key", pki / "client.pem",
                                     "+cf", pki / "ca.pem", "-aet", "STORESCU", "-aec", "STORESCP",
                                     "127.0.0.1", port, c.work.objects["ct_implicit_le"],
                                     c.work.objects["mr_explicit_le"]])
    finally:
        server.shutdown()
    return {"description": "DCMTK storescu +tls (client certificate, BCP 195 profile) -> pynetdicom SCP capped at "
                           "TLS 1.2 (client certificate required): 2 C-STORE, release; server key log",
            "version": "TLS 1.2", "peers": "storescu (DCMTK 3.6.7, OpenSSL 3.0) -> pynetdicom",
            "commands": {"C-STORE-RQ": 2, "C-STORE-RSP": 2}}


TLS12_SUITES = ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-RSA-AES128-SHA",
                "ECDHE-RSA-AES128-SHA256", "ECDHE-RSA-AES256-SHA384", "DHE-RSA-AES256-GCM-SHA384",
                "DHE-RSA-AES128-SHA"]


def sc_tls12_suites(c: Ctx) -> dict:
    """One association per TLS 1.2 suite (AEAD and CBC + HMAC), each a C-ECHO then a C-STORE."""
    port = c.ports[0]
    server = start_scp(port, server_ctx(c.pki, max_v=V12, ciphers="ALL:@SECLEVEL=1"))
    results = {}
    try:
        with M.tcpdump(c.pcap, c.ports, c.procs.logdir):
            for suite in TLS12_SUITES:
                results[suite] = scu_session(port, client_ctx(c.pki, max_v=V12, ciphers=suite + ":@SECLEVEL=1",
                                                              keylog=c.keys),
                                             store=c.work.objects["ct_implicit_le"])
    finally:
        server.shutdown()
    return {"description": "pynetdicom TLSSCU -> pynetdicom TLSSCP over TLS 1.2, one association per suite: "
                           + ", ".join(TLS12_SUITES) + "; each C-ECHO + C-STORE CT; client key log",
            "version": "TLS 1.2", "suites": TLS12_SUITES, "result": results}


# A TLS 1.3 client in its own process: OpenSSL's configuration picks the TLS 1.3 suite (Python has no
# call for it), and after the C-ECHO it asks for a key update (SSL_key_update through ctypes).
TLS13_SUITE_SCU = r"""
import ctypes, ssl, sys, logging
import pydicom
from pynetdicom import AE
logging.getLogger("pynetdicom").setLevel(logging.WARNING)
port, pki, keys, obj = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(pki + "/ca.pem")
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.keylog_filename = keys
ae = AE(ae_title="TLSSCU")
ae.add_requested_context("1.2.840.10008.1.1", ["1.2.840.10008.1.2"])
ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2", ["1.2.840.10008.1.2"])
assoc = ae.associate("127.0.0.1", port, ae_title="TLSSCP", tls_args=(ctx, "localhost"))
assert assoc.is_established
print("cipher", assoc.dul.socket.socket.cipher(), flush=True)
assoc.send_c_echo()
# SSL_key_update(SSL *, SSL_KEY_UPDATE_REQUESTED): the SSL pointer follows PyObject_HEAD and the socket
# reference in CPython's PySSLSocket.
import _ssl
sslobj = assoc.dul.socket.socket._sslobj
ptr = ctypes.c_void_p.from_address(id(sslobj) + 3 * ctypes.sizeof(ctypes.c_void_p)).value
lib = ctypes.CDLL(_ssl.__file__)
rc = lib.SSL_key_update(ctypes.c_void_p(ptr), 1)
print("key update", rc, flush=True)
st = assoc.send_c_store(pydicom.dcmread(obj))
print("store", st.Status, flush=True)
assoc.release()
"""


def sc_tls13_suites(c: Ctx) -> dict:
    """TLS_AES_128_GCM_SHA256 and TLS_CHACHA20_POLY1305_SHA256 associations, each with a key update."""
    port = c.ports[0]
    server = start_scp(port, server_ctx(c.pki))
    conf = c.work.root / "openssl-{}.cnf"
    suites = ["TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"]
    try:
        with M.tcpdump(c.pcap, c.ports, c.procs.logdir):
            for suite in suites:
                path = Path(str(conf).format(suite))
                path.write_text("openssl_conf = oc\n[oc]\nssl_conf = sc\n[sc]\nsystem_default = sd\n"
                                f"[sd]\nCiphersuites = {suite}\n")
                env = dict(os.environ, OPENSSL_CONF=str(path))
                M.LOG(f"    OPENSSL_CONF ({suite}) python -c TLS13_SUITE_SCU {port}")
                out = subprocess.run([sys.executable, "-c", TLS13_SUITE_SCU, str(port), str(c.pki), str(c.keys),
                                      str(c.work.objects["ct_implicit_le"])], env=env, timeout=60,
                                     capture_output=True, text=True)
                if out.returncode != 0:
                    raise RuntimeError(out.stderr[-2000:])
                M.LOG("    " + out.stdout.replace("\n", "; "))
    finally:
        server.shutdown()
    return {"description": "pynetdicom TLSSCU (own process, OPENSSL_CONF Ciphersuites) -> pynetdicom TLSSCP over "
                           "TLS 1.3: one association with TLS_AES_128_GCM_SHA256, one with "
                           "TLS_CHACHA20_POLY1305_SHA256; each C-ECHO, client KeyUpdate (update_requested), "
                           "C-STORE CT, release; client key log",
            "version": "TLS 1.3", "suites": suites}


def _failure(c: Ctx, sctx, cctx, what: str, **facts) -> dict:
    port = c.ports[0]
    server = start_scp(port, sctx)
    try:
        with M.tcpdump(c.pcap, c.ports, c.procs.logdir):
            res = scu_session(port, cctx)
            time.sleep(0.3)
    finally:
        server.shutdown()
    return {"description": what, "result": res, **facts}


def sc_tls_untrusted_server(c: Ctx) -> dict:
    """TLS 1.2: the server's certificate is signed by a CA the client does not trust (cert in clear)."""
    return _failure(c, server_ctx(c.pki, cert="other_server", max_v=V12), client_ctx(c.pki, keylog=c.keys),
                    "TLS 1.2: server presents a certificate from 'other test CA'; the client trusts only the test "
                    "CA and sends a fatal unknown_ca alert", expect="unknown_ca from client")


def sc_tls13_untrusted_server(c: Ctx) -> dict:
    return _failure(c, server_ctx(c.pki, cert="other_server"), client_ctx(c.pki, keylog=c.keys),
                    "TLS 1.3: server certificate from an untrusted CA; the client's unknown_ca alert is encrypted "
                    "(handshake keys)", expect="encrypted alert from client")


def sc_tls_untrusted_client(c: Ctx) -> dict:
    return _failure(c, server_ctx(c.pki, require_client=True, max_v=V12),
                    client_ctx(c.pki, cert="other_client", keylog=c.keys),
                    "TLS 1.2: the server requires a client certificate; the client's is from 'other test CA'; the "
                    "server sends unknown_ca", expect="unknown_ca from server")


def sc_tls13_untrusted_client(c: Ctx) -> dict:
    return _failure(c, server_ctx(c.pki, require_client=True), client_ctx(c.pki, cert="other_client", keylog=c.keys),
                    "TLS 1.3: the server requires a client certificate and does not trust the client's ('other test "
                    "CA'); its alert travels encrypted after the client's Finished", expect="encrypted alert from server")


def sc_tls13_hrr(c: Ctx) -> dict:
    """The server accepts only P-256 key shares; the client's first key share is X25519: HelloRetryRequest."""
    port = c.ports[0]
    sctx = server_ctx(c.pki)
    sctx.set_ecdh_curve("prime256v1")
    server = start_scp(port, sctx)
    try:
        with M.tcpdump(c.pcap, c.ports, c.procs.logdir):
            res = scu_session(port, client_ctx(c.pki, min_v=V13, keylog=c.keys))
    finally:
        server.shutdown()
    return {"description": "TLS 1.3 with a HelloRetryRequest (server groups: P-256 only, client key share X25519): "
                           "C-ECHO, release; client key log", "version": "TLS 1.3", "result": res,
            "commands": {"C-ECHO-RQ": 1, "C-ECHO-RSP": 1}}


def sc_tls_no_client_cert(c: Ctx) -> dict:
    return _failure(c, server_ctx(c.pki, require_client=True, max_v=V12), client_ctx(c.pki, keylog=c.keys),
                    "TLS 1.2: the server requires a client certificate; the client sends none; the server sends "
                    "handshake_failure", expect="handshake_failure from server")


def sc_tls_expired(c: Ctx) -> dict:
    return _failure(c, server_ctx(c.pki, cert="expired", max_v=V12), client_ctx(c.pki, keylog=c.keys),
                    "TLS 1.2: the server's certificate expired on 2020-01-01; the client sends certificate_expired",
                    expect="certificate_expired from client")


def sc_tls_version(c: Ctx) -> dict:
    return _failure(c, server_ctx(c.pki, min_v=V13), client_ctx(c.pki, max_v=V12, keylog=c.keys),
                    "client capped at TLS 1.2 against a TLS 1.3-only server: protocol_version alert from the server",
                    expect="protocol_version from server")


def sc_tls_cipher(c: Ctx) -> dict:
    return _failure(c, server_ctx(c.pki, max_v=V12, ciphers="ECDHE-RSA-AES256-GCM-SHA384"),
                    client_ctx(c.pki, max_v=V12, ciphers="ECDHE-RSA-AES128-SHA:ECDHE-RSA-CHACHA20-POLY1305",
                               keylog=c.keys),
                    "TLS 1.2 with disjoint suites (client AES128-SHA/CHACHA20, server AES256-GCM only): "
                    "handshake_failure from the server", expect="handshake_failure from server")


def sc_tls_plain_to_tls(c: Ctx) -> dict:
    return _failure(c, server_ctx(c.pki), None,
                    "plain DICOM A-ASSOCIATE-RQ sent to a TLS server port", expect="server answers with a TLS alert "
                    "or closes")


def sc_tls_tls_to_plain(c: Ctx) -> dict:
    port = c.ports[0]
    scp = c.procs.start("storescp", [M.dcmtk("storescp"), "-v", "-aet", "TLSSCP", "-od", c.work.incoming, port])
    M.wait_listening(port, scp)
    with M.tcpdump(c.pcap, c.ports, c.procs.logdir):
        res = scu_session(port, client_ctx(c.pki, keylog=c.keys))
        time.sleep(0.3)
    return {"description": "TLS ClientHello (pynetdicom over TLS) sent to a plain DCMTK storescp port",
            "result": res}


SCENARIOS = {
    "tls13_store": (sc_tls13_store, [2762]),
    "tls12_dcmtk": (sc_tls12_dcmtk, [2763]),
    "tls12_suites": (sc_tls12_suites, [2764]),
    "tls13_suites": (sc_tls13_suites, [2765]),
    "tls_untrusted_server": (sc_tls_untrusted_server, [2770]),
    "tls13_untrusted_server": (sc_tls13_untrusted_server, [2771]),
    "tls_untrusted_client": (sc_tls_untrusted_client, [2772]),
    "tls13_untrusted_client": (sc_tls13_untrusted_client, [2779]),
    "tls13_hrr": (sc_tls13_hrr, [2766]),
    "tls_no_client_cert": (sc_tls_no_client_cert, [2773]),
    "tls_expired": (sc_tls_expired, [2774]),
    "tls_version": (sc_tls_version, [2775]),
    "tls_cipher": (sc_tls_cipher, [2776]),
    "tls_plain_to_tls": (sc_tls_plain_to_tls, [2777]),
    "tls_tls_to_plain": (sc_tls_tls_to_plain, [2778]),
}


def _big(c: Ctx, version) -> dict:
    """One ~16 MB CT over TLS (for bench/README's decryption figures; not committed, not run by default)."""
    import make_close_captures as C

    port = c.ports[0]
    server = start_scp(port, server_ctx(c.pki))
    try:
        with M.tcpdump(c.pcap, c.ports, c.procs.logdir):
            kw = {"min_v": V13} if version == V13 else {"max_v": V12}
            res = scu_session(port, client_ctx(c.pki, keylog=c.keys, **kw), store=C.big_ct(c.work))
    finally:
        server.shutdown()
    return {"description": f"bench: one ~16 MB CT over {version.name}", "result": res}


# Only with --only (bench/README.md): big captures, not committed.
BIG = {
    "tls13_big": (lambda c: _big(c, V13), [2790]),
    "tls12_big": (lambda c: _big(c, V12), [2791]),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(HERE.parent / "captures"))
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--work", default="/tmp/dicomsniff-tls-work")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("make_tls_captures.py must run as root (tcpdump)", file=sys.stderr)
        return 2
    only = [x for o in args.only for x in o.split(",") if x] or list(SCENARIOS)
    SCENARIOS.update({k: v for k, v in BIG.items() if k in only})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = M.Work(Path(args.work), False)
    work.prepare(move_dest_port=5679)
    pki = make_pki(work.root)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    entries = manifest.setdefault("tls_captures", {})
    failed = []
    for name in only:
        fn, ports = SCENARIOS[name]
        M.LOG(f"== {name} (ports {ports})")
        procs = M.Procs(work.log_dir(name))
        tmp = work.root / "pcap" / f"{name}.pcap"
        keys = work.root / "pcap" / f"{name}.keys"
        keys.parent.mkdir(parents=True, exist_ok=True)
        if keys.exists():
            keys.unlink()
        try:
            facts = fn(Ctx(work, procs, pki, tmp, keys, ports))
            M.LOG(f"   {facts.get('result', '')}")
        except Exception as e:  # noqa: BLE001
            M.LOG(f"   FAILED: {e!r}")
            failed.append(name)
            continue
        finally:
            procs.stop_all()
            for p in ports:
                M.wait_closed(p)
        shutil.copy(tmp, out / f"{name}.pcap")
        entry = {"file": f"{name}.pcap", "ports": ports, **facts}
        if keys.exists() and keys.stat().st_size:
            shutil.copy(keys, out / f"{name}.keys")
            entry["keylog"] = f"{name}.keys"
        entry["size"] = (out / f"{name}.pcap").stat().st_size
        entries[name] = entry
    manifest["tls_generator"] = "scripts/make_tls_captures.py"
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    if failed:
        M.LOG(f"FAILED scenarios: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
