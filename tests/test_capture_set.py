"""Capture sets (issue 17 item 1): real captures split with editcap read as one capture.

A capture cut into files at awkward points (right after an A-ASSOCIATE-RQ so its A-ASSOCIATE-AC is in
the next file, inside a PDU that spans several frames, every frame alone, by time) and given back as
a set, a directory or a glob gives the same ``summary``, ``export`` JSON and ``diagnose --json`` as the
unsplit capture, frame numbers included; the set's frames are those ``mergecap`` writes. Files out
of order, a file given twice, a copy, and overlapping files are said so and read as the capture was.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from dicomsniff.capture.captureset import (CaptureSet, InputError, expand_inputs, input_arg, natural_key,
                                           open_capture_set)
from dicomsniff.capture.reader import open_capture
from dicomsniff.cli import main
from dicomsniff.pipeline import Analyzer, PduSeen
from dicomsniff.reading import read_events
from dicomsniff.ul.pdus import ASSOCIATE_RQ

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"

pytestmark = pytest.mark.skipif(shutil.which("editcap") is None or shutil.which("mergecap") is None,
                                reason="editcap/mergecap (wireshark-common) not installed")

# Captures with multi-frame PDUs, several associations, sub-associations, aborts, resets, other peers.
SPLIT_CAPTURES = ["store.pcap", "move.pcap", "concurrent.pcap", "pynetdicom.pcap", "get.pcap", "abort.pcap",
                  "close_scp_killed.pcap", "peer_orthanc_scp.pcap", "peer_gdcm.pcap", "peer_odil.pcap",
                  "pynetdicom_ipv6.pcap", "diag_more.pcap"]


def invoke(args: list[str]):
    return CliRunner().invoke(main, [str(a) for a in args])


def frames_of(reader) -> list[tuple]:
    with reader:
        return [(f.number, f.ts_ns, f.linktype, bytes(f.data), f.orig_len) for f in reader]


def pdu_frames(capture: Path) -> tuple[int, int]:
    """(last frame of the first A-ASSOCIATE-RQ, first frame of the first PDU spanning several frames)."""
    rq = multi = 0
    for ev in read_events(str(capture), Analyzer()):
        if type(ev) is PduSeen:
            frames = ev.pdu.spans.frames
            if ev.pdu.pdu_type == ASSOCIATE_RQ and not rq:
                rq = frames[-1]
            if len(set(frames)) > 1 and not multi:
                multi = frames[0]
    return rq, multi


def editcap(src: Path, out_dir: Path, *args: str, name: str = "part.pcap") -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["editcap", *args, str(src), str(out_dir / name)], check=True, capture_output=True, timeout=60)
    return sorted(out_dir.iterdir(), key=natural_key)


def without_capture(doc: dict) -> dict:
    doc = dict(doc)
    doc.pop("capture", None)
    return doc


def outputs(target: list) -> dict:
    """summary text, export document, diagnose --json of a capture or a set (arguments as a user types them)."""
    out = {}
    r = invoke(["summary", *target, "--no-color"])
    assert r.exit_code == 0, r.output
    out["summary"] = r.output
    r = invoke(["export", *target, "-o", "-"])
    assert r.exit_code == 0, r.output
    out["export"] = without_capture(json.loads(r.output))
    r = invoke(["diagnose", *target, "--json"])
    assert r.exit_code in (0, 1, 2) and r.output.startswith("{"), r.output
    out["diagnose"] = without_capture(json.loads(r.output))
    return out


_reference: dict[str, dict] = {}


def reference(name: str) -> dict:
    if name not in _reference:
        _reference[name] = outputs([CAPTURES / name])
    return _reference[name]


def assert_same(got: dict, want: dict) -> None:
    assert got["summary"] == want["summary"]
    assert got["export"] == want["export"]
    assert got["diagnose"] == want["diagnose"]


@pytest.mark.parametrize("name", SPLIT_CAPTURES)
def test_split_after_rq_and_inside_a_pdu_equals_the_capture(name, tmp_path):
    src = CAPTURES / name
    rq, multi = pdu_frames(src)
    assert rq, "every capture here has an A-ASSOCIATE-RQ"
    want = reference(name)
    n_frames = len(frames_of(open_capture(src)))
    for label, n in (("rq", rq), ("multi", multi), ("prime", 13)):
        if not n or n >= n_frames:
            continue
        parts = editcap(src, tmp_path / label, "-c", str(n))
        assert len(parts) >= 2
        # the set's frames are mergecap's (chronological merge) of the parts, numbered across files
        merged = tmp_path / f"{label}-merged.pcapng"
        subprocess.run(["mergecap", "-w", str(merged), *map(str, parts)], check=True, timeout=60)
        got_frames = frames_of(open_capture_set(parts))
        assert [f[:4] for f in got_frames] == [f[:4] for f in frames_of(open_capture(merged))]
        assert got_frames == frames_of(open_capture(src))
        assert_same(outputs([tmp_path / label]), want)       # a directory


@pytest.mark.parametrize("name", ["store.pcap", "move.pcap", "concurrent.pcap"])
def test_every_frame_its_own_file_and_split_by_time(name, tmp_path):
    src = CAPTURES / name
    want = reference(name)
    parts = editcap(src, tmp_path / "one", "-c", "1")
    assert len(parts) == len(frames_of(open_capture(src)))
    assert_same(outputs(parts), want)                        # the files named one by one
    first, last = (lambda fr: (fr[0][1], fr[-1][1]))(frames_of(open_capture(src)))
    seconds = max((last - first) / 4e9, 0.000001)
    parts = editcap(src, tmp_path / "time", "-i", f"{seconds:.6f}")
    assert len(parts) >= 3
    assert_same(outputs([str(tmp_path / "time" / "part_*.pcap")]), want)   # a glob


def test_files_out_of_order_are_read_in_time_order_and_said_so(tmp_path):
    src = CAPTURES / "move.pcap"
    rq, _ = pdu_frames(src)
    parts = editcap(src, tmp_path, "-c", str(rq))
    s = open_capture_set(list(reversed(parts)))
    assert frames_of(s) == frames_of(open_capture(src))
    codes = [n.finding.code for n in s.notices]
    assert codes == ["capture-set-order"]
    assert s.notices[0].severity == "note" and "not given in time order" in s.notices[0].message
    got = invoke(["export", *reversed(parts), "-o", "-"])
    doc = json.loads(got.output)
    assert doc["associations"] == reference("move.pcap")["export"]["associations"]
    assert [n["code"] for n in doc["notices"]] == ["capture-set-order"]


def test_a_file_given_twice_is_read_once(tmp_path):
    src = CAPTURES / "store.pcap"
    parts = editcap(src, tmp_path / "p", "-c", "20")
    s = open_capture_set([parts[0], parts[1], parts[0], parts[2]])
    assert frames_of(s) == frames_of(open_capture(src))
    assert [(n.finding.code, n.severity) for n in s.notices] == [("capture-set-duplicate-file", "warning")]
    assert "given twice" in s.notices[0].message
    # a copy under another name: the same frames at the same times, read once
    copy = tmp_path / "copy.pcap"
    shutil.copy(parts[1], copy)
    s = open_capture_set([*parts, copy])
    assert frames_of(s) == frames_of(open_capture(src))
    dup = [n for n in s.notices if n.finding.code == "capture-set-duplicate-frames"]
    assert len(dup) == 1 and "is a copy of" in dup[0].message and dup[0].severity == "warning"
    assert any(n.finding.code == "capture-set-overlap" for n in s.notices)


def test_overlapping_files_share_frames_read_once(tmp_path):
    src = CAPTURES / "concurrent.pcap"
    total = len(frames_of(open_capture(src)))
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    subprocess.run(["editcap", "-r", str(src), str(a), f"1-{total * 2 // 3}"], check=True, timeout=60)
    subprocess.run(["editcap", "-r", str(src), str(b), f"{total // 3}-{total}"], check=True, timeout=60)
    s = open_capture_set([a, b])
    assert frames_of(s) == frames_of(open_capture(src))
    codes = {n.finding.code: n for n in s.notices}
    assert "capture-set-overlap" in codes
    shared = total * 2 // 3 - total // 3 + 1
    assert f"{shared} of the" in codes["capture-set-duplicate-frames"].message
    r = invoke(["summary", a, b, "--no-color"])
    assert r.exit_code == 0
    assert "also in" in r.output
    # the associations are exactly the capture's
    doc = json.loads(invoke(["export", a, b, "-o", "-"]).output)
    assert doc["associations"] == reference("concurrent.pcap")["export"]["associations"]


def _to_raw_ip(src: Path, dst: Path) -> None:
    """Rewrite an Ethernet pcap as LINKTYPE_RAW (101): the same packets without their 14-byte header."""
    data = src.read_bytes()
    magic, _, _, _, _, snap, link = struct.unpack_from("<IHHiIII", data, 0)
    assert link == 1
    out = [struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snap, 101)]
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, cap, orig = struct.unpack_from("<IIII", data, pos)
        body = data[pos + 16:pos + 16 + cap]
        out.append(struct.pack("<IIII", sec, frac, cap - 14, orig - 14) + body[14:])
        pos += 16 + cap
    dst.write_bytes(b"".join(out))


def test_mixed_formats_and_link_types_in_one_set(tmp_path):
    src = CAPTURES / "store.pcap"
    rq, multi = pdu_frames(src)
    parts = editcap(src, tmp_path / "p", "-F", "pcap", "-c", str(multi))       # editcap writes pcapng by default
    assert len(parts) >= 3
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i, p in enumerate(parts):
        target = mixed / f"{i:03d}_{p.name}"
        if i % 3 == 1:
            subprocess.run(["editcap", "-F", "pcapng", str(p), str(target) + "ng"], check=True, timeout=60)
        elif i % 3 == 2:
            _to_raw_ip(p, target)
        else:
            shutil.copy(p, target)
    s = open_capture_set(expand_inputs([mixed]))
    assert s.linktype is None                   # Ethernet and raw IP
    frames = frames_of(s)
    assert len(frames) == len(frames_of(open_capture(src)))
    assert {f[2] for f in frames} == {1, 101}
    want = reference("store.pcap")
    got = outputs([mixed])
    assert got["summary"] == want["summary"]
    assert got["diagnose"] == want["diagnose"]
    # Byte offsets count from the frame's start: a raw IP frame has no 14-byte Ethernet header.
    raw = {i + 1 for i, f in enumerate(frames) if f[2] == 101}

    def uris(doc):
        return re.findall(r"frame:(\d+);offset=(\d+)", json.dumps(doc))
    shifted = [(f, int(o) - (14 if int(f) in raw else 0)) for f, o in uris(want["export"])]
    assert [(f, int(o)) for f, o in uris(got["export"])] == shifted and shifted
    same = re.sub(r"offset=\d+", "", json.dumps(got["export"]))
    assert same == re.sub(r"offset=\d+", "", json.dumps(want["export"]))


def test_streams_with_one_file_open_and_one_pending_frame_per_file(tmp_path):
    src = CAPTURES / "get.pcap"
    parts = editcap(src, tmp_path, "-c", "2")
    assert len(parts) > 20
    s = open_capture_set(parts)
    most = 0
    read = []
    for _ in s:
        most = max(most, sum(1 for m in s._members if m.reader is not None))
        read.append(s.bytes_read)
    assert most == 1                 # a ring buffer without overlap: one file open at a time
    assert read == sorted(read) and read[0] < s.size // 4 and s.bytes_read == s.size
    assert s.frames == len(frames_of(open_capture(src)))


def test_member_notices_name_their_file(tmp_path):
    src = CAPTURES / "store.pcap"
    parts = editcap(src, tmp_path, "-c", "20")
    last = parts[-1]
    last.write_bytes(last.read_bytes()[:-10])          # the last file was cut while being written
    s = open_capture_set(parts)
    frames = frames_of(s)
    assert len(frames) == len(frames_of(open_capture(src))) - 1
    (n,) = s.notices
    assert n.finding.code == "truncated-record" and n.message.startswith(f"{last}: capture ends inside frame ")
    assert n.frame == len(frames) + 1       # the set's number of the frame that was cut


def test_bad_inputs_are_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("not a capture")
    r = invoke(["summary", tmp_path])
    assert r.exit_code == 2 and "no pcap or pcapng file" in r.output
    r = invoke(["summary", str(tmp_path / "*.pcap")])
    assert r.exit_code == 2 and "no capture file matches" in r.output.splitlines()[0]
    with pytest.raises(InputError):
        expand_inputs([tmp_path / "missing.pcap"])
    shutil.copy(CAPTURES / "echo.pcap", tmp_path / "echo.pcap")
    (tmp_path / ".echo.pcap.1234abcd.tmp").write_bytes((CAPTURES / "echo.pcap").read_bytes())
    skipped: list = []
    assert expand_inputs([tmp_path], skipped) == [tmp_path / "echo.pcap"]     # hidden in-progress file left out
    assert skipped == [(tmp_path / "notes.txt", f"not a pcap or pcapng file (in directory {tmp_path})")]
    # a directory with one capture and a non-capture: a set, whose notices say what was skipped
    r = invoke(["summary", tmp_path, "--no-color"])
    assert r.exit_code == 0 and "notes.txt: skipped: not a pcap or pcapng file" in r.output
    # a file named explicitly that is no capture is an error, as for one file
    r = invoke(["summary", CAPTURES / "echo.pcap", tmp_path / "notes.txt"])
    assert r.exit_code == 2 and "notes.txt: not a pcap or pcapng file" in r.output
    with pytest.raises(InputError):
        open_capture_set(["-", CAPTURES / "echo.pcap"])
    assert input_arg([str(CAPTURES / "echo.pcap")]) == str(CAPTURES / "echo.pcap")
    assert isinstance(input_arg([str(tmp_path)]), list)


def test_natural_order_of_ring_buffer_names():
    names = ["cap.pcap10", "cap.pcap", "cap.pcap2", "cap.pcap1"]
    assert sorted(names, key=natural_key) == ["cap.pcap", "cap.pcap1", "cap.pcap2", "cap.pcap10"]
    dumpcap = ["x_00010_20260101000010.pcapng", "x_00002_20260101000002.pcapng", "x_00001_20260101000001.pcapng"]
    assert sorted(dumpcap, key=natural_key) == sorted(dumpcap)


def test_export_refuses_to_overwrite_a_member(tmp_path):
    parts = editcap(CAPTURES / "echo.pcap", tmp_path, "-c", "4")
    before = parts[1].read_bytes()
    r = invoke(["export", *parts, "-o", parts[1]])
    assert r.exit_code == 2 and "is the input capture" in r.output
    assert parts[1].read_bytes() == before


def test_read_events_takes_a_set(tmp_path):
    parts = editcap(CAPTURES / "echo.pcap", tmp_path, "-c", "4")
    an = Analyzer()
    evs = list(read_events(parts, an))
    assert an.frames == len(frames_of(open_capture(CAPTURES / "echo.pcap")))
    assert sum(1 for e in evs if type(e) is PduSeen) == sum(
        1 for e in read_events(str(CAPTURES / "echo.pcap"), Analyzer()) if type(e) is PduSeen)
    assert isinstance(CaptureSet(parts), CaptureSet)


def test_export_objects_and_diff_take_a_set(tmp_path):
    parts = editcap(CAPTURES / "store.pcap", tmp_path / "parts", "-c", "9")
    one, many = tmp_path / "one", tmp_path / "many"
    assert invoke(["export-objects", CAPTURES / "store.pcap", one]).exit_code == 0
    r = invoke(["export-objects", tmp_path / "parts", many])
    assert r.exit_code == 0 and "5 object(s) written" in r.output
    assert sorted(p.name for p in one.iterdir()) == sorted(p.name for p in many.iterdir())
    assert all((one / p.name).read_bytes() == p.read_bytes() for p in many.iterdir())
    r = invoke(["diff", CAPTURES / "store.pcap", str(tmp_path / "parts" / "*.pcap") + "#1"])
    assert r.exit_code == 0 and "No differences." in r.output
    assert len(parts) > 3


def test_frame_index_rereads_frames_from_their_files(tmp_path):
    """The viewer's hex pane re-reads frame bytes by number: in a set each from its own file."""
    from dicomsniff.capture.index import FrameIndex
    editcap(CAPTURES / "move.pcap", tmp_path, "-c", "7")
    capture = input_arg([str(tmp_path)])
    index = FrameIndex(capture)
    with open_capture_set(capture) as s:
        for f in s:
            index.add(f)
    want = frames_of(open_capture(CAPTURES / "move.pcap"))
    assert len(index) == len(want)
    for n in (1, 7, 8, len(want) // 2, len(want), 3):
        assert index.read(n) == want[n - 1][3]
    index.close()


def test_a_file_deleted_while_the_set_is_read_is_left_out_and_said_so(tmp_path):
    """A ring buffer's --keep may delete the oldest file between the listing and its turn."""
    parts = editcap(CAPTURES / "store.pcap", tmp_path, "-c", "10")
    s = open_capture_set(parts)
    it = iter(s)
    first = [next(it) for _ in range(3)]
    parts[2].unlink()
    rest = list(it)
    want = frames_of(open_capture(CAPTURES / "store.pcap"))
    assert len(first) + len(rest) == len(want) - 10
    (n,) = s.notices
    assert n.finding.code == "capture-set-unreadable" and n.severity == "warning"
    assert n.message.startswith(f"{parts[2]}: could not be read any more (No such file or directory)")


def test_a_member_cut_inside_its_header_is_left_out(tmp_path):
    parts = editcap(CAPTURES / "echo.pcap", tmp_path, "-F", "pcap", "-c", "4")
    cut = tmp_path / "zz_started.pcap"
    cut.write_bytes(parts[0].read_bytes()[:10])           # tcpdump -C just opened its next file
    s = open_capture_set(expand_inputs([tmp_path]))
    assert frames_of(s) == frames_of(open_capture(CAPTURES / "echo.pcap"))
    assert [(n.finding.code, n.severity) for n in s.notices] == [("capture-set-unreadable", "warning")]
    assert "pcap file header truncated" in s.notices[0].message
