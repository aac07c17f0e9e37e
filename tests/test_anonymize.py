"""``dicomsniff anonymize`` on the real captures: the proof of issue 16 part 1.

For each capture in ``captures/`` (scripts/make_captures.py, make_diag_captures.py, make_peer_captures.py,
make_close_captures.py): ``dicomsniff diff IN OUT`` differs only inside data sets, identifiers and the
command sets' instance UIDs (same associations, contexts, commands, statuses); tshark decodes OUT with
no expert error or warning IN does not have and the same DICOM PDU sequence; no PN, LO/SH ID, DA, DT or
instance UI value of IN (decoded by dicomsniff's own decoder) occurs anywhere in OUT's bytes;
``export-objects`` on OUT gives files that pass ``dcmftest`` and carry the De-identification Method
attributes.
"""

from __future__ import annotations

import json
import struct
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from dicomsniff.anonymize import Options, anonymize
from dicomsniff.pipeline import Analyzer, MessageSeen
from dicomsniff.reading import read_events

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
MANIFEST = json.loads((CAPTURES / "manifest.json").read_text())


def _ports(name: str) -> list[int]:
    for group in ("captures", "peer_incomplete_captures"):
        entry = MANIFEST.get(group, {}).get(name)
        if isinstance(entry, dict) and entry.get("ports"):
            return entry["ports"]
    return []


ALL = sorted(p.stem for p in CAPTURES.glob("*.pcap"))
SECRET = bytes(range(32))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Each capture anonymized once (basic profile), shared by the checks below."""
    folder = tmp_path_factory.mktemp("anon")
    done = {}
    for name in ALL:
        out = folder / f"{name}.pcap"
        report = anonymize(CAPTURES / f"{name}.pcap", out, Options(secret=SECRET),
                           map_path=folder / f"{name}.json")
        done[name] = (out, report)
    return done


def _dicomsniff(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dicomsniff", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


ALLOWED_COMMAND_ITEMS = {"AffectedSOPInstanceUID", "RequestedSOPInstanceUID"}


@pytest.mark.parametrize("name", ALL)
def test_diff_shows_only_anonymized_values(outputs, name):
    out, report = outputs[name]
    assert not report.oversize, "growth fitted below every receiver's max PDU length"
    res = _dicomsniff("diff", "--json", CAPTURES / f"{name}.pcap", out)
    assert res.returncode in (0, 1), res.stderr
    doc = json.loads(res.stdout)
    for note in doc["notes"]:
        m = re.match(r"A has (\d+) associations?, B has (\d+)", note)
        assert m is None or m.group(1) == m.group(2), note
    for pair in doc["pairs"]:
        assert pair["a"] == pair["b"]
        for row in pair["rows"]:
            section, item = row["section"], row["item"]
            if re.fullmatch(r"exchange \d+ (data set|identifier)", section):
                continue
            if re.fullmatch(r"exchange \d+ command set", section) and item in ALLOWED_COMMAND_ITEMS:
                continue
            pytest.fail(f"#{pair['a']}: a difference outside data sets: {row}")


def _messages(path) -> list:
    analyzer = Analyzer(keep_pdus=False)
    return [ev.message for ev in read_events(path, analyzer) if isinstance(ev, MessageSeen)]


def _walk(ds, out: set) -> None:
    from dicomsniff.anonymize.profile import ID_KEYWORD, KEEP_UID_KEYWORDS, standard_uid
    for el in ds:
        if el.VR == "SQ":
            for item in el.value or []:
                _walk(item, out)
            continue
        kw = el.keyword or ""
        if el.VR in ("PN", "DA", "DT") or (el.VR in ("LO", "SH") and ID_KEYWORD.search(kw)) or (
                el.VR == "UI" and not KEEP_UID_KEYWORDS.search(kw)):
            raw = el.value
            values = raw if isinstance(raw, (list, tuple)) or type(raw).__name__ == "MultiValue" else [raw]
            for v in values:
                text = str(v).strip()
                if len(text) >= 3 and not (el.VR == "UI" and standard_uid(text)):
                    out.add(text.encode("latin-1", "replace"))


def _sensitive(path) -> set[bytes]:
    """PN, DA, DT, ID-like LO/SH and instance UI values of the capture's data sets and command sets."""
    found: set[bytes] = set()
    for m in _messages(path):
        if m.command is not None:
            for kw in ("AffectedSOPInstanceUID", "RequestedSOPInstanceUID"):
                v = m.command.elements.get(kw)
                if v:
                    found.add(str(v).encode())
        if m.data is not None:
            ds = m.data.dataset
            if ds is not None:
                _walk(ds, found)
    return found


@pytest.mark.parametrize("name", ALL)
def test_no_original_value_left(outputs, name):
    out, _ = outputs[name]
    values = _sensitive(CAPTURES / f"{name}.pcap")
    blob = out.read_bytes()
    leaked = sorted(v for v in values if v in blob)
    assert not leaked, f"{len(leaked)} of {len(values)} original values still in the output: {leaked[:5]}"


def _tshark(path: Path, ports: list[int]) -> tuple[list[str], Counter]:
    """(the DICOM PDU types, packet by packet; expert items of severity warning and above, counted)."""
    decode = [a for p in ports for a in ("-d", f"tcp.port=={p},dicom")]
    text = subprocess.run(["tshark", "-r", str(path), *decode, "-T", "fields", "-e", "dicom.pdu.type",
                           "-z", "expert,warn"], capture_output=True, text=True, timeout=300).stdout
    lines = text.splitlines()
    cut = next((i for i, line in enumerate(lines) if re.fullmatch(r"(Errors|Warns) \(\d+\)", line)), len(lines))
    rows = Counter()
    for line in lines[cut:]:
        m = re.match(r"\s+(\d+)\s+(\S+)\s+(\S+)\s+(.*)$", line)
        if m:
            rows[(m.group(2), m.group(3), m.group(4).strip())] += int(m.group(1))
    return [line for line in lines[:cut] if line.strip()], rows


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name", ALL)
def test_tshark_decodes_the_output_as_the_input(outputs, name):
    out, _ = outputs[name]
    ports = _ports(name)
    pdus_in, expert_in = _tshark(CAPTURES / f"{name}.pcap", ports)
    pdus_out, expert_out = _tshark(out, ports)
    assert pdus_out == pdus_in
    new = {k: n for k, n in expert_out.items() if n > expert_in.get(k, 0)}
    assert not new, f"tshark finds on the output what it does not on the input: {new}"


@pytest.mark.skipif(shutil.which("dcmftest") is None, reason="DCMTK not installed")
@pytest.mark.parametrize("name", ["store", "move", "get", "pynetdicom", "peer_orthanc_scp", "peer_gdcm"])
def test_exported_objects_are_deidentified(outputs, name, tmp_path):
    import pydicom
    out, _ = outputs[name]
    res = _dicomsniff("export-objects", out, tmp_path / "objs")
    assert res.returncode == 0, res.stderr
    files = sorted((tmp_path / "objs").glob("*.dcm"))
    assert files
    check = subprocess.run(["dcmftest", *map(str, files)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "no:" not in check.stdout, check.stdout
    for f in files:
        ds = pydicom.dcmread(f)
        assert ds.PatientIdentityRemoved == "YES"
        codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
        assert codes[0] == "113100" and "113107" in codes
        assert ds.DeidentificationMethod.startswith("dicomsniff anonymize")
        if "PixelData" in ds and ds.file_meta.TransferSyntaxUID != "1.2.840.10008.1.2.5":
            assert not any(ds.PixelData)


def test_uids_consistent_across_associations(outputs):
    """The same original UID is one replacement everywhere: C-MOVE's study UID, the sub-association's objects."""
    out, report = outputs["move"]
    orig = _messages(CAPTURES / "move.pcap")
    new = _messages(out)
    study = report.table["uids"]["1.2.826.0.1.3680043.8.498.4242.1"]
    seen = []
    for a, b in zip(orig, new):
        if b.data is not None and b.data.dataset is not None and "StudyInstanceUID" in b.data.dataset:
            seen.append(b.data.dataset.StudyInstanceUID)
        if a.command is not None and a.command.affected_sop_instance_uid:
            assert b.command.affected_sop_instance_uid == report.table["uids"][a.command.affected_sop_instance_uid]
    assert seen and set(seen) == {study}


# ---- hard cases -------------------------------------------------------------------------------------

def _decoded(path) -> list[tuple]:
    """(association number, command, message ID, status) of every message dicomsniff decodes."""
    out = []
    for m in _messages(path):
        c = m.command
        out.append((c.name if c else None, c.elements.get("MessageID") if c else None,
                    c.elements.get("MessageIDBeingRespondedTo") if c else None,
                    c.elements.get("Status") if c else None, m.complete))
    return out


def _stream_consistent(path) -> None:
    """Every payload byte of every segment (retransmissions included) equals the reassembled stream's."""
    from dicomsniff.anonymize.streams import collect
    from losssim import segments
    cap = collect(path)
    flows = {}
    for d in cap.dirs.values():
        flows.setdefault(d.stream, {})[d.index] = d
    from dicomsniff.capture.packet import decode_tcp
    from dicomsniff.capture.reader import open_capture
    with open_capture(str(path)) as reader:
        for fr in reader:
            seg = decode_tcp(fr)
            if seg is None or not len(seg.payload) or cap.frame_stream[fr.number] < 0:
                continue
            d = cap.dirs[(cap.frame_stream[fr.number], cap.frame_dir[fr.number])]
            off = (seg.seq - d.base) & 0xFFFFFFFF
            assert bytes(seg.payload) == d.read(off, off + len(seg.payload)), f"frame {fr.number}"
    cap.close()


def _retransmit(src: Path, dst: Path) -> int:
    """A copy of ``src`` where every third data segment is sent again whole after the next frame, and
    its second half once more (an overlapping partial retransmission)."""
    from capwriter import tcp_packet
    from dicomsniff.capture.frame import ip_text
    from dicomsniff.capture.packet import decode_tcp
    from dicomsniff.capture.reader import open_capture
    from losssim import _write, link_frame
    with open_capture(str(src)) as reader:
        frames = list(reader)
    linktype = frames[0].linktype
    records, later, n = [], [], 0
    for i, fr in enumerate(frames):
        records.append((fr.ts_ns, bytes(fr.data), fr.orig_len))
        records.extend(later)
        later = []
        seg = decode_tcp(fr)
        if seg is None or len(seg.payload) < 64 or seg.flags & 0x07:
            continue
        n += 1
        if n % 3:
            continue
        half = len(seg.payload) // 2
        pkt = tcp_packet(ip_text(seg.src_ip), ip_text(seg.dst_ip), seg.sport, seg.dport,
                         seq=(seg.seq + half) & 0xFFFFFFFF, ack=seg.ack, flags=seg.flags,
                         payload=bytes(seg.payload[half:]))
        later = [(fr.ts_ns + 1, bytes(fr.data), fr.orig_len), (fr.ts_ns + 2, link_frame(linktype, pkt), None)]
        later[-1] = (later[-1][0], later[-1][1], len(later[-1][1]))
    records.extend(later)
    _write(dst, records, linktype)
    return n // 3


@pytest.mark.parametrize("name", ["store", "move", "find_mwl", "pynetdicom"])
def test_resegmented_and_retransmitted(name, tmp_path):
    """Segments that end one PDU and start the next (MSS 1448), retransmissions and overlaps."""
    from losssim import resegment
    small = tmp_path / "small.pcap"
    resegment(CAPTURES / f"{name}.pcap", small, mss=1448)
    noisy = tmp_path / "noisy.pcap"
    assert _retransmit(small, noisy) > 0
    out = tmp_path / "out.pcap"
    anonymize(noisy, out, Options(secret=SECRET))
    assert _decoded(out) == _decoded(CAPTURES / f"{name}.pcap")
    _stream_consistent(out)
    blob = out.read_bytes()
    assert not [v for v in _sensitive(CAPTURES / f"{name}.pcap") if v in blob]
    if shutil.which("tshark"):
        ports = _ports(name)
        pdus_in, expert_in = _tshark(noisy, ports)
        pdus_out, expert_out = _tshark(out, ports)
        assert pdus_out == pdus_in
        assert not {k: n for k, n in expert_out.items() if n > expert_in.get(k, 0)}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_gaps_are_zeroed_and_listed(seed, tmp_path):
    """Bytes the capture lost: what they cut is zeroed and listed, nothing of it leaks, the rest decodes."""
    from losssim import drop_segments
    lossy = tmp_path / "lossy.pcap"
    rep = drop_segments(CAPTURES / "store.pcap", lossy, rate=0.08, seed=seed, mss=1448)
    assert rep.dropped
    out = tmp_path / "out.pcap"
    report = anonymize(lossy, out, Options(secret=SECRET))
    assert report.problems, "a lossy capture lists what it zeroed"
    assert all("incomplete" in p.what or "not framed as PDUs" in p.what or "do not parse" in p.what
               for p in report.problems), [p.what for p in report.problems]
    blob = out.read_bytes()
    assert not [v for v in _sensitive(CAPTURES / "store.pcap") if v in blob]
    assert _decoded(out) == _decoded(lossy)


def test_pcapng_stays_pcapng(tmp_path):
    if shutil.which("editcap") is None:
        pytest.skip("editcap not installed")
    src = tmp_path / "in.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(CAPTURES / "find_mwl.pcap"), str(src)], check=True)
    out = tmp_path / "out.pcapng"
    report = anonymize(src, out, Options(secret=SECRET))
    assert report.format == "pcapng" and out.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    assert _decoded(out) == _decoded(src)
    assert b"DOE^JOHN" in src.read_bytes() and b"DOE^JOHN" not in out.read_bytes()
    pdus_in, _ = _tshark(src, [4242])
    pdus_out, expert = _tshark(out, [4242])
    assert pdus_out == pdus_in and not expert


def test_ips_and_map_file(tmp_path):
    out = tmp_path / "out.pcap"
    mapfile = tmp_path / "map.json"
    res = _dicomsniff("anonymize", CAPTURES / "pynetdicom_ipv6.pcap", out, "--ips", "--map", mapfile)
    assert res.returncode == 0, res.stderr
    table = json.loads(mapfile.read_text())
    assert table["ips"] == {"::1": "fd00::1"}
    assert table["uids"] and all(v.startswith("2.25.") for v in table["uids"].values())
    assert table["date_shift_days"] < 0 and table["date_shift_days"] % 7 == 0
    from dicomsniff.capture.packet import decode_tcp
    from dicomsniff.capture.reader import open_capture
    with open_capture(str(out)) as reader:
        addrs = {bytes(s.src_ip) for s in map(decode_tcp, reader) if s is not None}
    assert addrs == {bytes.fromhex("fd00") + bytes(10) + bytes.fromhex("00000001")}
    assert _decoded(out) == _decoded(CAPTURES / "pynetdicom_ipv6.pcap")
    if shutil.which("tshark"):
        _, expert = _tshark(out, [7001])
        _, expert_in = _tshark(CAPTURES / "pynetdicom_ipv6.pcap", [7001])
        assert not {k: n for k, n in expert.items() if n > expert_in.get(k, 0)}


def test_undecodable_data_set_is_zeroed(tmp_path):
    """A data set whose encoding breaks (a bad VR) is replaced by zeros of its length and listed."""
    raw = (CAPTURES / "store.pcap").read_bytes()
    marker = b"\x10\x00\x10\x00PN"          # PatientName in the explicit VR LE object
    assert raw.count(marker) >= 1
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(raw.replace(marker, b"\x10\x00\x10\x00\x01\x01", 1))
    out = tmp_path / "out.pcap"
    report = anonymize(bad, out, Options(secret=SECRET))
    assert any("not decodable" in p.what and "bad VR" in p.what for p in report.problems)
    assert b"SNIFF^TEST" not in out.read_bytes()
    assert [m[:4] for m in _decoded(out)] == [m[:4] for m in _decoded(bad)]


def test_deflated_data_set_is_inflated_anonymized_deflated(outputs):
    """store.pcap's MR object travels deflated: the output's inflates and is anonymized."""
    out, _ = outputs["store"]
    sets = [m.data for m in _messages(out) if m.data is not None and m.data.inflated]
    assert len(sets) == 1
    ds = sets[0].dataset
    assert str(ds.PatientName).startswith("ANON^") and ds.PatientIdentityRemoved == "YES"


def test_retain_options(tmp_path):
    keep = tmp_path / "keep.pcap"
    anonymize(CAPTURES / "store.pcap", keep, Options(profile="retain-uids", keep_pixels=True, secret=SECRET))
    dates = tmp_path / "dates.pcap"
    anonymize(CAPTURES / "store.pcap", dates, Options(profile="retain-dates", secret=SECRET))
    a = [m.data.dataset for m in _messages(keep) if m.data is not None][0]
    b = [m.data.dataset for m in _messages(dates) if m.data is not None][0]
    assert a.SOPInstanceUID == "1.2.826.0.1.3680043.8.498.4242.2.1.1"
    assert "113110" in [i.CodeValue for i in a.DeidentificationMethodCodeSequence]
    assert b.StudyDate == "20240102" and str(b.PatientName).startswith("ANON^")
    import pydicom
    for path, kept in ((keep, True), (dates, False)):
        assert _dicomsniff("export-objects", path, tmp_path / path.stem).returncode == 0
        first = pydicom.dcmread(sorted((tmp_path / path.stem).glob("*.dcm"))[0])
        assert any(first.PixelData) is kept
    assert b.SOPInstanceUID.startswith("2.25.") and b.LongitudinalTemporalInformationModified == "UNMODIFIED"


def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "out.pcap"
    res = _dicomsniff("anonymize", ROOT / "README.md", out)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "not a pcap or pcapng file" in res.stderr
    assert not out.exists() and not list(tmp_path.iterdir())
    out.write_bytes(b"keep me")
    res = _dicomsniff("anonymize", CAPTURES / "store.pcap", tmp_path / "missing" / "x.pcap")
    assert res.returncode == 2 and res.stderr.startswith("dicomsniff: ")
    res = _dicomsniff("anonymize", CAPTURES / "store.pcap", CAPTURES / "store.pcap")
    assert res.returncode == 2 and "input" in res.stderr


def test_cli_lists_what_it_zeroed(tmp_path):
    res = _dicomsniff("anonymize", CAPTURES / "close_scp_killed.pcap", tmp_path / "o.pcap", "--seed", "t")
    assert res.returncode == 0
    lines = res.stderr.splitlines()
    assert lines[0].startswith(str(tmp_path / "o.pcap") + ": pcap, 21 frames")
    assert lines[1:] == ["  zeroed (frame 9, association #1): data set on context 1, incomplete (a gap, the "
                         "connection's or the capture's end cut it)"]


def _ip_packets(name: str) -> list[tuple[int, bytes]]:
    from dicomsniff.capture.reader import open_capture
    with open_capture(str(CAPTURES / f"{name}.pcap")) as reader:
        return [(fr.ts_ns, bytes(fr.data[14:])) for fr in reader]      # Ethernet captures


@pytest.mark.parametrize("big_endian", [False, True])
def test_pcapng_blocks_link_types_and_secrets(tmp_path, big_endian):
    """A hand-made pcapng: two sections, EPB / SPB / obsolete PB, SLL2, 802.1Q Ethernet and raw IP, a Name
    Resolution Block and a Decryption Secrets Block. The output keeps every block but the secrets (and
    the names with --ips), in the same byte order, and decodes to the same messages."""
    import capwriter as cw
    e = ">" if big_endian else "<"
    packets = _ip_packets("find_mwl")
    half = len(packets) // 2
    blocks = [cw.shb(big_endian=big_endian), cw.idb(cw.SLL2, big_endian=big_endian),
              cw.idb(cw.ETHERNET, big_endian=big_endian),
              cw.block(4, struct.pack(e + "HH", 1, 8) + bytes([127, 0, 0, 1]) + b"pacs" + struct.pack(e + "HH", 0, 0),
                       big_endian=big_endian),
              cw.block(10, b"TLSK" + struct.pack(e + "I", 4) + b"keys", big_endian=big_endian)]
    for k, (ts, ip) in enumerate(packets[:half]):
        if k % 3 == 2:
            blocks.append(cw.opb(0, ts, cw.frame(cw.SLL2, ip), big_endian=big_endian))
        else:
            blocks.append(cw.epb(k % 2, ts, cw.frame(cw.SLL2 if k % 2 == 0 else cw.ETHERNET, ip, vlans=(7,)),
                                 big_endian=big_endian))
    blocks += [cw.shb(big_endian=big_endian), cw.idb(cw.RAW, big_endian=big_endian)]
    blocks += [cw.spb(ip, big_endian=big_endian) for _, ip in packets[half:]]
    src = tmp_path / "in.pcapng"
    src.write_bytes(b"".join(blocks))
    out = tmp_path / "out.pcapng"
    report = anonymize(src, out, Options(secret=SECRET))
    assert report.dropped_secrets == 1
    assert _decoded(out) == _decoded(src) and len(_decoded(src)) == 4
    assert b"DOE^JOHN" in src.read_bytes() and b"DOE^JOHN" not in out.read_bytes()
    kinds = _block_types(out.read_bytes(), e)
    assert kinds == [t for t in _block_types(src.read_bytes(), e) if t != 10]
    ips = tmp_path / "ips.pcapng"
    anonymize(src, ips, Options(secret=SECRET), ips=True)
    assert 4 not in _block_types(ips.read_bytes(), e) and b"pacs" not in ips.read_bytes()


def _block_types(blob: bytes, e: str) -> list[int]:
    out, pos = [], 0
    while pos + 8 <= len(blob):
        btype, size = struct.unpack_from(e + "II", blob, pos)
        out.append(btype)
        pos += size
    return out


@pytest.mark.parametrize("kind", ["pcap-us", "pcap-ns-be"])
def test_unchanged_frames_are_copied_byte_for_byte(tmp_path, kind):
    """The container copy itself changes nothing: with no frame changed, the file is identical."""
    import io
    import capwriter as cw
    from dicomsniff.anonymize.container import rewrite_file
    packets = _ip_packets("echo")
    blob = cw.pcap_bytes([(ts, cw.frame(cw.ETHERNET, ip)) for ts, ip in packets], nanos=kind.endswith("be"),
                         big_endian=kind.endswith("be"))
    out = io.BytesIO()
    assert rewrite_file(io.BytesIO(blob), out, lambda n, lt, data, orig: (data, orig)) == "pcap"
    assert out.getvalue() == blob


MALFORMED = sorted(p.name for p in (ROOT / "tests" / "malformed").glob("*.pcap*"))


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_captures_never_raise(tmp_path, name):
    """The malformed corpus (Wireshark DICOM CVE shapes): one-line errors for non-captures, otherwise an
    output that reads back, with nothing of what did not decode copied."""
    from dicomsniff.capture.reader import CaptureFormatError
    src = ROOT / "tests" / "malformed" / name
    out = tmp_path / "out.pcap"
    try:
        anonymize(src, out, Options(secret=SECRET))
    except CaptureFormatError:
        assert not out.exists()
        return
    _messages(out)


def _first_pdu(blob: bytes) -> bytes:
    return blob[:6 + struct.unpack_from(">I", blob, 2)[0]]


def _pdata(context: int, control: int, value: bytes, max_pdu: int) -> bytes:
    out = b""
    step = max_pdu - 6
    for i in range(0, len(value), step):
        last = i + step >= len(value)
        piece = value[i:i + step]
        pdv = struct.pack(">IBB", len(piece) + 2, context, control | (2 if last else 0)) + piece
        out += struct.pack(">BBI", 4, 0, len(pdv)) + pdv
    return out


def test_growth_goes_into_a_segment_with_room(tmp_path):
    """Loopback carries 64 KiB segments, so a data set that grows (the de-identification attributes)
    would push a full segment past IP's 65,535 bytes if the growth were spread over the segments; it goes
    to one that has room, and every frame is rewritten (none listed)."""
    import capwriter as cw
    from pydicom.dataset import Dataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    from dicomsniff.anonymize.streams import collect

    def implicit(ds) -> bytes:
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, True
        write_dataset(fp, ds)
        return fp.getvalue()
    cap = collect(CAPTURES / "store.pcap")
    rq = _first_pdu(cap.dirs[(0, 0)].read(0, 1 << 16))
    ac = _first_pdu(cap.dirs[(0, 1)].read(0, 1 << 16))
    cap.close()
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.7.1"
    ds.PatientName = "BIG^PATIENT"
    ds.PatientID = "BIG001"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.7.2"
    ds.PixelData = bytes(range(256)) * 1200
    ds["PixelData"].VR = "OW"
    cmd = Dataset()
    cmd.AffectedSOPClassUID = ds.SOPClassUID
    cmd.CommandField = 1
    cmd.MessageID = 1
    cmd.Priority = 0
    cmd.CommandDataSetType = 0
    cmd.AffectedSOPInstanceUID = ds.SOPInstanceUID
    body = implicit(cmd)
    command = struct.pack("<HHII", 0, 0, 4, len(body)) + body
    rsp = Dataset()
    rsp.AffectedSOPClassUID = ds.SOPClassUID
    rsp.CommandField = 0x8001
    rsp.MessageIDBeingRespondedTo = 1
    rsp.CommandDataSetType = 0x0101
    rsp.Status = 0
    rsp.AffectedSOPInstanceUID = ds.SOPInstanceUID
    body = implicit(rsp)
    response = struct.pack("<HHII", 0, 0, 4, len(body)) + body
    client = _pdata(1, 1, command, 16384) + _pdata(1, 0, implicit(ds), 16384)
    release_rq, release_rp = bytes.fromhex("05000000000400000000"), bytes.fromhex("06000000000400000000")
    c, s = "127.0.0.1", "127.0.0.1"
    cp, sp = 40000, 11112
    cseq, sseq = 1000, 5000
    frames = []

    def send(src_is_client: bool, payload: bytes, flags: int = cw.PSH | cw.ACK):
        nonlocal cseq, sseq
        if src_is_client:
            pkt = cw.tcp_packet(c, s, cp, sp, cseq, sseq, flags, payload)
            cseq += len(payload) + (1 if flags & (cw.SYN | cw.FIN) else 0)
        else:
            pkt = cw.tcp_packet(s, c, sp, cp, sseq, cseq, flags, payload)
            sseq += len(payload) + (1 if flags & (cw.SYN | cw.FIN) else 0)
        frames.append((len(frames) * 1000, cw.frame(cw.NULL, pkt)))
    send(True, b"", cw.SYN)
    send(False, b"", cw.SYN | cw.ACK)
    send(True, b"", cw.ACK)
    send(True, rq)
    send(False, ac)
    # full 64 KiB segments, then a last one of 100 bytes: the data set's last fragment spans the last two
    cuts = list(range(len(client) - 100, 0, -65483))[::-1]
    for a, b in zip([0] + cuts, cuts + [len(client)]):
        send(True, client[a:b])
    assert len(frames[-2][1]) > 65000 and (len(implicit(ds)) % 16372) > 100
    send(False, _pdata(1, 1, response, 16384))
    send(True, release_rq)
    send(False, release_rp)
    send(True, b"", cw.FIN | cw.ACK)
    send(False, b"", cw.FIN | cw.ACK)
    src = tmp_path / "big.pcap"
    src.write_bytes(cw.pcap_bytes(frames, cw.NULL))
    out = tmp_path / "out.pcap"
    report = anonymize(src, out, Options(secret=SECRET))
    assert report.problems == [] and report.datasets == 1
    assert _decoded(out) == _decoded(src) and len(_decoded(src)) == 2
    _stream_consistent(out)
    assert b"BIG^PATIENT" not in out.read_bytes()


def test_listing_groups_repeats():
    from dicomsniff.anonymize import Report, describe
    from dicomsniff.anonymize.streams import Problem
    report = Report(format="pcap", frames=9, problems=[Problem(f, 1, "data set on context 1, not decodable: x")
                                                       for f in (7, 3, 5)] + [Problem(4, 0, "TCP stream 2 \x1b[31m")])
    lines = describe(report, "in", "out.pcap")
    assert lines[1:] == ["  zeroed ×3 (frames 3 … 7, association #1): data set on context 1, not decodable: x",
                         "  zeroed (frame 4): TCP stream 2 \\x1b[31m"]


def test_tso_frames_with_ip_length_zero(tmp_path):
    """Frames captured on the sending host with TSO show IPv4 total length 0: the capture's length is
    trusted, as the decoder does, and the field stays 0."""
    import capwriter as cw
    from dicomsniff.capture.reader import open_capture
    records = []
    with open_capture(str(CAPTURES / "store.pcap")) as reader:
        for fr in reader:
            data = bytearray(fr.data)
            struct.pack_into("!H", data, 16, 0)                 # Ethernet + IPv4 total length
            records.append((fr.ts_ns, bytes(data)))
    src = tmp_path / "tso.pcap"
    src.write_bytes(cw.pcap_bytes(records, cw.ETHERNET))
    out = tmp_path / "out.pcap"
    report = anonymize(src, out, Options(secret=SECRET))
    assert report.problems == []
    assert _decoded(out) == _decoded(src) == _decoded(CAPTURES / "store.pcap")
    assert b"SNIFF^TEST" not in out.read_bytes()
    with open_capture(str(out)) as reader:
        assert all(fr.data[16:18] == b"\0\0" for fr in reader)


def test_user_identity_secrets_are_zeroed(outputs):
    """pynetdicom.pcap's A-ASSOCIATE-RQ carries user identity type 2 (dicomsniff / s3cret), the IPv6
    capture a JWT and the server's response: the password, token and response are zeroed at their
    length; the username stays; negotiation still compares equal."""
    out, _ = outputs["pynetdicom"]
    raw = (CAPTURES / "pynetdicom.pcap").read_bytes()
    assert b"s3cret" in raw and b"s3cret" not in out.read_bytes() and b"dicomsniff" in out.read_bytes()
    out6, _ = outputs["pynetdicom_ipv6"]
    from dicomsniff.pipeline import AssociationOpened
    for path, expect in ((CAPTURES / "pynetdicom_ipv6.pcap", False), (out6, True)):
        assocs = [ev.association for ev in read_events(path, Analyzer()) if isinstance(ev, AssociationOpened)]
        ident = assocs[0].rq.user_info.user_identity
        assert ident.type == 5 and len(ident.primary) == 48 and (ident.primary == bytes(48)) is expect
