"""Our decode of every capture in ``captures/`` agrees with tshark's, PDU by PDU and message by message.

Upper Layer: for each frame, the PDU types completed in it, AE titles, presentation
context IDs / results / abstract and transfer syntaxes, max PDU length and
implementation class UID / version name (``tshark -T fields``). DIMSE: per command
(tshark ``-T pdml`` with ``dicom.tag_tree``), the counts of each command, the message
IDs and the statuses; the known tshark 4.0 misdecodes from the manifest are allowed for.
Skipped when tshark is not installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

import pytest

from dicomsniff.capture.reader import open_capture
from dicomsniff.dimse.commands import command_name
from dicomsniff.output.dump import pdu_frame
from dicomsniff.pipeline import MessageSeen, PduSeen, analyze_frames

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
_MANIFEST_DOC = json.loads((CAPTURES / "manifest.json").read_text())
MANIFEST = _MANIFEST_DOC["captures"]
TSHARK = shutil.which("tshark")

pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed")

NAMES = sorted(MANIFEST)


def _extra_captures() -> dict[str, dict]:
    """Shipped captures the manifest does not describe (diagnosis scenarios, worklist pairs):
    checked at the Upper Layer too, on the server ports our own decode finds."""
    known = {info["file"] for info in MANIFEST.values()}
    # Peer captures whose messages a crash cut (scripts/make_peer_captures.py): their ports and the frames
    # where only we show a PDU (its start, cut by a reset; tshark shows a PDU only once it is whole).
    out = {name: {"file": info["file"], "ports": info["ports"],
                  "tshark_ul_only_ours": info.get("tshark_ul_only_ours", [])}
           for name, info in _MANIFEST_DOC.get("peer_incomplete_captures", {}).items()}
    known |= {info["file"] for info in out.values()}
    # DICOM over TLS: checked against tshark with their key logs in tests/test_tls_tshark.py (issue 15)
    known |= {info["file"] for info in _MANIFEST_DOC.get("tls_captures", {}).values()}
    for path in sorted(CAPTURES.glob("*.pcap")):
        if path.name in known:
            continue
        an, _ = analyze_frames(open_capture(path))
        ports = sorted({a.server.port for a in an.associations})
        out[path.stem] = {"file": path.name, "ports": ports}
    return out


EXTRA = _extra_captures()
MANIFEST = {**MANIFEST, **EXTRA}
UL_FIELDS = ["frame.number", "dicom.pdu.type", "dicom.assoc.ae.calling", "dicom.assoc.ae.called",
             "dicom.pctx.id", "dicom.pctx.result", "dicom.pctx.abss.syntax", "dicom.pctx.xfer.syntax",
             "dicom.max_pdu_len", "dicom.userinfo.uid", "dicom.userinfo.version"]
UID_IN_PARENS = re.compile(r"\(([0-9]+(?:\.[0-9]+)+)\)")


def _decode_args(name: str) -> list[str]:
    args = []
    for p in MANIFEST[name]["ports"]:
        args += ["-d", f"tcp.port=={p},dicom"]
    return args


def _tshark(args: list[str]) -> str:
    r = subprocess.run([TSHARK, *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


@lru_cache(maxsize=None)
def ours(name: str):
    info = MANIFEST[name]
    an, events = analyze_frames(open_capture(CAPTURES / info["file"]), ports=set(info["ports"]))
    return an, events


# -- Upper Layer ---------------------------------------------------------------------------------


def _int(text: str) -> int:
    return int(text, 0)


def _uids(text: str) -> list[str]:
    """tshark shows syntaxes as 'Name (uid)' (or a bare uid when unknown)."""
    if not text:
        return []
    found = UID_IN_PARENS.findall(text)
    if found:
        return found
    return [t.strip() for t in text.split(",") if t.strip()]


def tshark_ul(name: str) -> dict[int, dict]:
    args = ["-r", str(CAPTURES / MANIFEST[name]["file"]), *_decode_args(name), "-T", "fields",
            "-E", "separator=/t", "-E", "occurrence=a", "-Y", "dicom"]
    for f in UL_FIELDS:
        args += ["-e", f]
    out: dict[int, dict] = {}
    for line in _tshark(args).splitlines():
        cols = line.split("\t")
        cols += [""] * (len(UL_FIELDS) - len(cols))
        d = dict(zip(UL_FIELDS, cols))
        split = lambda k: [x for x in d[k].split(",") if x != ""]  # noqa: E731
        out[int(d["frame.number"])] = {
            "types": [_int(x) for x in split("dicom.pdu.type")],
            "calling": [x.strip() for x in split("dicom.assoc.ae.calling")],
            "called": [x.strip() for x in split("dicom.assoc.ae.called")],
            "pctx_id": [_int(x) for x in split("dicom.pctx.id")],
            "pctx_result": [_int(x) for x in split("dicom.pctx.result")],
            "abstract": _uids(d["dicom.pctx.abss.syntax"]),
            "transfer": _uids(d["dicom.pctx.xfer.syntax"]),
            "max_pdu": [int(x) for x in split("dicom.max_pdu_len")],
            "impl_uid": split("dicom.userinfo.uid"),
            "impl_version": [x.strip() for x in split("dicom.userinfo.version")],
        }
    return out


def our_ul(name: str) -> dict[int, dict]:
    _, events = ours(name)
    out: dict[int, dict] = defaultdict(lambda: defaultdict(list))
    for ev in events:
        if type(ev) is not PduSeen:
            continue
        if not ev.pdu.complete:
            continue        # cut by a reset or the capture's end: tshark shows no PDU it could not reassemble
        row = out[pdu_frame(ev.pdu)]
        row["types"].append(ev.pdu.pdu_type)
        tree = ev.pdu.tree()
        for key, col, conv in (("dicom.assoc.ae.calling", "calling", str.strip),
                               ("dicom.assoc.ae.called", "called", str.strip),
                               ("dicom.pctx.id", "pctx_id", int), ("dicom.pctx.result", "pctx_result", int),
                               ("dicom.pctx.abss.syntax", "abstract", str),
                               ("dicom.pctx.xfer.syntax", "transfer", str),
                               ("dicom.max_pdu_len", "max_pdu", int), ("dicom.userinfo.uid", "impl_uid", str),
                               ("dicom.userinfo.version", "impl_version", str.strip)):
            row[col].extend(conv(f.value) for f in tree.find_all(key) if f.value is not None)
    return {k: {c: list(v.get(c, [])) for c in ("types", "calling", "called", "pctx_id", "pctx_result",
                                                  "abstract", "transfer", "max_pdu", "impl_uid",
                                                  "impl_version")}
            for k, v in out.items()}


def our_incomplete_frames(name: str) -> set[int]:
    """Frames where every PDU we show is incomplete (cut by a gap, a reset or the end of the capture)."""
    _, events = ours(name)
    pdus = defaultdict(list)
    for ev in events:
        if type(ev) is PduSeen:
            pdus[pdu_frame(ev.pdu)].append(ev.pdu.complete)
    return {frame for frame, done in pdus.items() if not any(done)}


@pytest.mark.parametrize("name", NAMES + sorted(EXTRA))
def test_upper_layer_agrees_with_tshark(name):
    theirs = tshark_ul(name)
    mine = our_ul(name)
    assert mine, f"{name}: we decoded no PDU"
    cut = set(MANIFEST[name].get("tshark_ul_only_ours", []))   # PDUs a peer's reset cut (left out of `mine`)
    assert cut <= our_incomplete_frames(name), f"{name}: PDUs expected cut at frames {sorted(cut)}"
    assert sorted(mine) == sorted(theirs), f"{name}: frames with PDUs differ"
    for frame in sorted(theirs):
        t, m = theirs[frame], mine[frame]
        for col in t:
            assert m[col] == t[col], f"{name} frame {frame} {col}: ours {m[col]!r} tshark {t[col]!r}"


# -- DIMSE ---------------------------------------------------------------------------------------


def _children(el):
    return [c for c in el if c.tag == "field"]


def _command_elements(pdv) -> dict[int, int | str]:
    """Group-0000 elements of one command PDV: tag -> integer value (16u/32u) or string."""
    out: dict[int, int | str] = {}
    stack = list(_children(pdv))
    while stack:
        el = stack.pop(0)
        kids = _children(el)
        tag = next((k for k in kids if k.get("name") == "dicom.tag"), None)
        if tag is not None:
            t = int(tag.get("show"), 16)
            if t >> 16 == 0:
                for k in kids:
                    n = k.get("name", "")
                    if n in ("dicom.tag.value.16u", "dicom.tag.value.32u"):
                        out[t] = int(k.get("show"))
                    elif n == "dicom.tag.value.str":
                        out.setdefault(t, k.get("show"))
            continue
        stack.extend(kids)
    return out


def tshark_messages(name: str) -> tuple[list[dict], int]:
    """(command, message_id, responds_to, status) per command set tshark decoded; and malformed count."""
    args = ["-r", str(CAPTURES / MANIFEST[name]["file"]), *_decode_args(name), "-2",
            "-o", "dicom.tag_tree:TRUE", "-T", "pdml", "-Y", "dicom"]
    root = ET.fromstring(_tshark(args))
    msgs, malformed = [], 0
    for packet in root.iter("packet"):
        for proto in packet.iter("proto"):
            if proto.get("name") == "_ws.malformed":
                malformed += 1
            if proto.get("name") != "dicom":
                continue
            for el in proto.iter("field"):
                kids = _children(el)
                flags = next((k for k in kids if k.get("name") == "dicom.pdv.flags"), None)
                if flags is None or not int(flags.get("show"), 0) & 1:
                    continue
                elems = _command_elements(el)
                if 0x0100 not in elems:
                    continue
                msgs.append({"command": command_name(int(elems[0x0100])), "message_id": elems.get(0x0110),
                             "responds_to": elems.get(0x0120), "status": elems.get(0x0900)})
    return msgs, malformed


def our_messages(name: str) -> list[dict]:
    _, events = ours(name)
    out = []
    for ev in events:
        if type(ev) is MessageSeen and ev.message.command is not None:
            c = ev.message.command
            out.append({"command": command_name(c.command_field), "message_id": c.message_id,
                        "responds_to": c.responds_to, "status": c.status})
    return out


@pytest.mark.parametrize("name", NAMES)
def test_dimse_agrees_with_tshark(name):
    theirs, malformed = tshark_messages(name)
    mine = our_messages(name)
    known = MANIFEST[name].get("tshark_known_issues", {})
    assert malformed == known.get("malformed", 0), f"{name}: tshark malformed count changed"
    missing = Counter(known.get("missing_commands", {}))
    ours_count = Counter(m["command"] for m in mine)
    assert ours_count == Counter(m["command"] for m in theirs) + missing
    assert ours_count == Counter(MANIFEST[name]["commands"])
    # Requests: the same message IDs; responses: the same responds-to IDs and statuses, in order,
    # except the responses tshark misdecodes (only those of the commands listed as missing).
    for kind in sorted(set(m["command"] for m in mine)):
        a = [m for m in mine if m["command"] == kind]
        b = [m for m in theirs if m["command"] == kind]
        if missing.get(kind):
            keyed = Counter((m["responds_to"], m["status"]) for m in a)
            keyed.subtract(Counter((m["responds_to"], m["status"]) for m in b))
            assert all(v >= 0 for v in keyed.values()) and sum(keyed.values()) == missing[kind]
            continue
        assert [(m["message_id"], m["responds_to"], m["status"]) for m in a] == \
               [(m["message_id"], m["responds_to"], m["status"]) for m in b], f"{name} {kind}"


@pytest.mark.parametrize("name", NAMES)
def test_statuses_agree_with_manifest_and_tshark(name):
    theirs, _ = tshark_messages(name)
    mine = our_messages(name)
    ours_by = defaultdict(list)
    for m in mine:
        if m["status"] is not None:
            ours_by[m["command"]].append(m["status"])
    assert dict(ours_by) == MANIFEST[name]["statuses_by_command"]
    if not MANIFEST[name].get("tshark_known_issues"):
        theirs_by = defaultdict(list)
        for m in theirs:
            if m["status"] is not None:
                theirs_by[m["command"]].append(m["status"])
        assert dict(ours_by) == dict(theirs_by)
