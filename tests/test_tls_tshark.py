"""DICOM inside TLS: our decrypted decode agrees with tshark's, PDU by PDU (frame, PDU types, AE titles,
presentation context IDs), on the captures of scripts/make_tls_captures.py with their key logs.

tshark 4.0 decodes DICOM inside TLS only for a port listed in its TLS "RSA keys" table with protocol
"dicom" (the key file must exist; its key is not used since the key log decrypts):
``-o tls.keylog_file:KEYS -d tcp.port==P,tls -o 'uat:ssl_keys:"127.0.0.1","P","dicom","KEYFILE",""'``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from dicomsniff.output.dump import pdu_frame
from dicomsniff.pipeline import Analyzer, PduSeen
from dicomsniff.reading import read_events
from dicomsniff.tls.keylog import KeyLog

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
TLS = json.loads((CAPTURES / "manifest.json").read_text()).get("tls_captures", {})
TSHARK = shutil.which("tshark")
DECRYPTED = sorted(n for n, i in TLS.items() if i.get("keylog") and n.startswith(("tls12_", "tls13_"))
                   and "untrusted" not in n)
FIELDS = ["frame.number", "dicom.pdu.type", "dicom.assoc.ae.calling", "dicom.assoc.ae.called", "dicom.pctx.id"]

pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed")


@pytest.fixture(scope="module")
def dummy_key(tmp_path_factory) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    path = tmp_path_factory.mktemp("tls") / "dummy.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    return path


def theirs(name: str, key: Path) -> dict[int, dict]:
    info = TLS[name]
    args = [TSHARK, "-r", str(CAPTURES / info["file"]), "-o", f"tls.keylog_file:{CAPTURES / info['keylog']}"]
    for p in info["ports"]:
        args += ["-d", f"tcp.port=={p},tls", "-o", f'uat:ssl_keys:"127.0.0.1","{p}","dicom","{key}",""']
    args += ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-Y", "dicom"]
    for f in FIELDS:
        args += ["-e", f]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        cols = (line.split("\t") + [""] * len(FIELDS))[:len(FIELDS)]
        sp = lambda s: [x for x in s.split(",") if x]  # noqa: E731
        out[int(cols[0])] = {"types": [int(x, 0) for x in sp(cols[1])], "calling": [x.strip() for x in sp(cols[2])],
                             "called": [x.strip() for x in sp(cols[3])], "pctx": [int(x, 0) for x in sp(cols[4])]}
    return out


def ours(name: str) -> dict[int, dict]:
    info = TLS[name]
    kl = KeyLog()
    kl.add_file(CAPTURES / info["keylog"])
    an = Analyzer(keep_pdus=True, tls_keylog=kl)
    out: dict[int, dict] = defaultdict(lambda: {"types": [], "calling": [], "called": [], "pctx": []})
    for ev in read_events(CAPTURES / info["file"], an):
        if type(ev) is not PduSeen or not ev.pdu.complete:
            continue
        row = out[pdu_frame(ev.pdu)]
        row["types"].append(ev.pdu.pdu_type)
        tree = ev.pdu.tree()
        row["calling"] += [f.value.strip() for f in tree.find_all("dicom.assoc.ae.calling") if f.value is not None]
        row["called"] += [f.value.strip() for f in tree.find_all("dicom.assoc.ae.called") if f.value is not None]
        row["pctx"] += [int(f.value) for f in tree.find_all("dicom.pctx.id") if f.value is not None]
    return dict(out)


def test_there_are_decrypted_captures_to_check():
    assert {"tls13_store", "tls13_suites", "tls12_dcmtk", "tls12_suites"} <= set(DECRYPTED)


@pytest.mark.parametrize("name", DECRYPTED)
def test_decrypted_dicom_agrees_with_tshark_pdu_by_pdu(name, dummy_key):
    t, m = theirs(name, dummy_key), ours(name)
    assert t, f"{name}: tshark decoded no DICOM (decryption setup?)"
    assert sorted(m) == sorted(t), f"{name}: frames with PDUs differ"
    for frame in sorted(t):
        assert m[frame] == t[frame], f"{name} frame {frame}: ours {m[frame]} tshark {t[frame]}"
