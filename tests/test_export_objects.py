"""``dicomsniff export-objects``: Part-10 files from the wire (PS3.10 §7.1), streamed, named safely.

Real captures (captures/*.pcap) check the exported data sets against the files
storescu sent (scripts/testobjects.make_objects) and that DCMTK's dcmdump and
pydicom read them; synthetic captures (capwriter + pdu_fixtures) cover hostile
UIDs, truncation and a ~30 MB object streamed with bounded memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import tracemalloc
import warnings
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner
from hypothesis import given, strategies as st
from pydicom import config
from pydicom.dataset import FileMetaDataset, validate_file_meta

from capwriter import ACK, ETHERNET, FIN, PSH, SYN, frame, pcap_bytes, tcp_packet
from dicomsniff.cli import main
from dicomsniff.output.export_objects import ExportOptions, ObjectExporter, export_objects
from dicomsniff.output.part10 import (IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, FileMeta,
                                      file_meta_bytes, object_file_name, safe_component)
from dicomsniff.pipeline import Analyzer
from dicomsniff.reading import read_events
from scripts.testobjects import make_objects
from tests.pdu_fixtures import (COMMAND, CT_STORAGE, DATA, IMPLICIT_LE, LAST, abort, assoc_ac, assoc_rq, pdata,
                                release_rp, release_rq)

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
MANIFEST = json.loads((CAPTURES / "manifest.json").read_text())["captures"]
DCMDUMP = "/usr/bin/dcmdump"
SAFE_NAME = re.compile(r"[0-9A-Za-z._-]{1,100}")


# -- helpers --------------------------------------------------------------------------------------

def run(*args: str):
    """The CLI in-process; stdout and stderr apart."""
    result = CliRunner().invoke(main, ["export-objects", *map(str, args)], catch_exceptions=False)
    return result


def meta_end(path: Path) -> int:
    """Offset of the data set in a Part-10 file: 132 + the 12-byte group length element + its value."""
    head = path.read_bytes()[:144]
    assert head[128:132] == b"DICM" and head[132:136] == b"\x02\x00\x00\x00" and head[136:138] == b"UL"
    return 144 + struct.unpack_from("<I", head, 140)[0]


@pytest.fixture(scope="module")
def sent(tmp_path_factory) -> dict[str, Path]:
    """The objects storescu sent, by SOP Instance UID."""
    d = tmp_path_factory.mktemp("sent")
    return {str(pydicom.dcmread(p).SOPInstanceUID): p for p in make_objects(d)}


@pytest.fixture(scope="module")
def store_export(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("store") / "out"
    result = run(CAPTURES / "store.pcap", out)
    assert result.exit_code == 0, result.output
    assert "5 object(s) written" in result.stdout
    return sorted(out.iterdir())


def same_elements(a: pydicom.Dataset, b: pydicom.Dataset) -> None:
    """Element by element (values, not encodings): every element of one equals the other's."""
    assert [e.tag for e in a] == [e.tag for e in b]
    for ea in a:
        eb = b[ea.tag]
        if ea.VR == "SQ":
            assert len(ea.value) == len(eb.value)
            for ia, ib in zip(ea.value, eb.value):
                same_elements(ia, ib)
        elif ea.tag == 0x7FE00010:
            assert (a.pixel_array == b.pixel_array).all()
        else:
            assert ea.value == eb.value, ea.tag


def check_meta(path: Path, *, ts: str | None = None, source_ae: str | None = None) -> pydicom.FileDataset:
    """The file meta is complete and conformant, and (0002,0000) is the true group length."""
    ds = pydicom.dcmread(path)
    fm = ds.file_meta
    for kw in ("FileMetaInformationGroupLength", "FileMetaInformationVersion", "MediaStorageSOPClassUID",
               "MediaStorageSOPInstanceUID", "TransferSyntaxUID", "ImplementationClassUID",
               "ImplementationVersionName"):
        assert kw in fm and not fm[kw].is_empty, kw
    copy = FileMetaDataset(fm)
    validate_file_meta(copy, enforce_standard=True)       # raises if a Type 1 element is missing
    assert len(copy) == len(fm)                          # and added nothing
    assert fm.FileMetaInformationVersion == b"\x00\x01"
    assert fm.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert fm.ImplementationClassUID.is_valid
    assert fm.ImplementationVersionName == IMPLEMENTATION_VERSION_NAME
    assert fm.FileMetaInformationGroupLength == meta_end(path) - 144
    if ts is not None:
        assert fm.TransferSyntaxUID == ts
    if source_ae is not None:
        assert fm.SourceApplicationEntityTitle == source_ae
    return ds


def strict_read(path: Path) -> pydicom.FileDataset:
    """pydicom with every warning an error and its reading validation raising, every value decoded
    (they are decoded lazily), pixels too, and the file meta checked by ``validate_file_meta``."""
    old = config.settings.reading_validation_mode
    config.settings.reading_validation_mode = config.RAISE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ds = pydicom.dcmread(path, force=False)
            for elem in ds.iterall():
                _ = elem.value
            if "PixelData" in ds:
                _ = ds.pixel_array
            validate_file_meta(FileMetaDataset(ds.file_meta), enforce_standard=True)
    finally:
        config.settings.reading_validation_mode = old
    return ds


def dcmdump_clean(path: Path) -> None:
    proc = subprocess.run([DCMDUMP, str(path)], capture_output=True, text=True, errors="replace", timeout=30)
    assert proc.returncode == 0, proc.stderr
    bad = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith(("W:", "E:"))]
    assert not bad, bad


# -- synthetic captures ---------------------------------------------------------------------------

def element(group: int, elem: int, value: bytes) -> bytes:
    """An Implicit VR Little Endian element (command sets are always encoded so: PS3.7 §6.3.1)."""
    if len(value) % 2:
        value += b"\x00"
    return struct.pack("<HHI", group, elem, len(value)) + value


def store_rq(sop_class: str, instance: bytes | str, message_id: int = 1) -> bytes:
    """A C-STORE-RQ command set (PS3.7 §9.3.1.1) announcing a data set."""
    inst = instance if isinstance(instance, bytes) else instance.encode()
    body = (element(0, 0x0002, sop_class.encode()) + element(0, 0x0100, struct.pack("<H", 0x0001))
            + element(0, 0x0110, struct.pack("<H", message_id)) + element(0, 0x0700, b"\x00\x00")
            + element(0, 0x0800, b"\x00\x00") + element(0, 0x1000, inst))
    return element(0, 0x0000, struct.pack("<I", len(body))) + body


def small_dataset(instance: str) -> bytes:
    """A tiny implicit LE CT data set: SOP class and instance, patient name, 4 pixels."""
    return (element(0x0008, 0x0016, CT_STORAGE.encode()) + element(0x0008, 0x0018, instance.encode())
            + element(0x0010, 0x0010, b"SYN^THETIC") + element(0x7FE0, 0x0010, bytes(range(8))))


class Conversation:
    """A TCP conversation written as pcap records: handshake, then payloads either way."""

    def __init__(self, client=("10.0.0.1", 40000), server=("10.0.0.2", 11112)):
        self.c, self.s = client, server
        self.seq = {True: 1000, False: 5000}
        self.ts = 1_700_000_000 * 10**9
        self.records: list = []
        self._packet(True, SYN, b"")
        self.seq[True] += 1
        self._packet(False, SYN | ACK, b"")
        self.seq[False] += 1
        self._packet(True, ACK, b"")

    def _packet(self, from_client: bool, flags: int, payload: bytes) -> None:
        (src, sport), (dst, dport) = (self.c, self.s) if from_client else (self.s, self.c)
        pkt = tcp_packet(src, dst, sport, dport, seq=self.seq[from_client], ack=self.seq[not from_client],
                         flags=flags, payload=payload)
        self.ts += 1000
        self.records.append((self.ts, frame(ETHERNET, pkt)))

    def send(self, from_client: bool, data: bytes, mss: int = 60000) -> None:
        for i in range(0, len(data), mss):
            part = data[i:i + mss]
            self._packet(from_client, PSH | ACK, part)
            self.seq[from_client] += len(part)

    def close(self) -> None:
        for side in (True, False):
            self._packet(side, FIN | ACK, b"")
            self.seq[side] += 1

    def take(self) -> list:
        out, self.records = self.records, []
        return out


def store_capture(instance: bytes | str, data: bytes, *, cut: int | None = None) -> bytes:
    """One association sending one C-STORE; ``cut`` keeps only that many data set bytes (no response, no end)."""
    c = Conversation()
    c.send(True, assoc_rq("SYNSCU", "SYNSCP", [(1, CT_STORAGE, [IMPLICIT_LE])]))
    c.send(False, assoc_ac("SYNSCU", "SYNSCP", [(1, 0, IMPLICIT_LE)]))
    c.send(True, pdata([(1, COMMAND | LAST, store_rq(CT_STORAGE, instance))]))
    if cut is None:
        c.send(True, pdata([(1, DATA | LAST, data)]))
        c.send(True, release_rq())
        c.send(False, release_rp())
        c.close()
    else:
        c.send(True, pdata([(1, DATA | LAST, data)])[:6 + 6 + cut])
    return pcap_bytes(c.take(), ETHERNET)


# -- real captures --------------------------------------------------------------------------------

def same_data_set(path: Path, ref_path: Path) -> bool:
    """Byte for byte when the wire kept the sent file's transfer syntax, else element by element;
    returns whether the bytes were compared."""
    mine, ref = pydicom.dcmread(path), pydicom.dcmread(ref_path)
    if mine.file_meta.TransferSyntaxUID == ref.file_meta.TransferSyntaxUID:
        assert path.read_bytes()[meta_end(path):] == ref_path.read_bytes()[meta_end(ref_path):]
        return True
    same_elements(mine, ref)
    return False


def test_store_objects_match_what_storescu_sent(store_export, sent):
    """Each data set is what storescu sent: all five kept their transfer syntax, so byte for byte
    (the deflated one too: it is written as received, still deflated)."""
    objects = {o["sop_instance_uid"]: o for o in MANIFEST["store"]["objects_sent"]}
    assert len(store_export) == 5
    for path in store_export:
        ds = check_meta(path, source_ae="STORESCU")
        uid = str(ds.file_meta.MediaStorageSOPInstanceUID)
        assert path.name.endswith(f"-{uid}.dcm") and SAFE_NAME.fullmatch(path.name)
        assert ds.file_meta.TransferSyntaxUID == objects[uid]["transfer_syntax_uid"]
        assert ds.file_meta.MediaStorageSOPClassUID == objects[uid]["sop_class_uid"]
        assert same_data_set(path, sent[uid])


def test_store_index_order_and_names(store_export):
    names = [p.name for p in store_export]
    assert [n[:4] for n in names] == ["0001", "0002", "0003", "0004", "0005"]
    uids = [o["sop_instance_uid"] for o in MANIFEST["store"]["objects_sent"]]
    assert names == [f"{i:04d}-{u}.dcm" for i, u in enumerate(uids, 1)]


@pytest.mark.skipif(not os.path.exists(DCMDUMP), reason="DCMTK dcmdump not installed")
def test_dcmdump_reads_every_export_cleanly(store_export, tmp_path):
    paths = list(store_export)
    for cap in ("get.pcap", "move.pcap", "find_mwl.pcap"):
        out = tmp_path / cap
        assert run(CAPTURES / cap, out, "--all").exit_code == 0
        paths += sorted(out.iterdir())
    assert len(paths) >= 5 + 4 + 5 + 3
    for p in paths:
        dcmdump_clean(p)


@pytest.mark.parametrize("cap", ["store", "get", "move", "find_mwl", "pynetdicom", "concurrent", "abort"])
def test_pydicom_reads_every_export_strictly(cap, tmp_path):
    """Every file of every shipped capture that has data sets (``--all``) reads without a single warning."""
    out = tmp_path / "out"
    assert run(CAPTURES / f"{cap}.pcap", out, "--all").exit_code == 0
    files = sorted(out.iterdir())
    assert files
    for f in files:
        strict_read(f)


@pytest.mark.parametrize("cap, source_ae", [("get", "QRSCP"), ("move", "QRSCP")])
def test_sub_operation_objects(cap, source_ae, tmp_path, sent):
    """C-STOREs inside C-GET (server → client, same association) and C-MOVE (sub-association)."""
    out = tmp_path / "out"
    result = run(CAPTURES / f"{cap}.pcap", out)
    assert result.exit_code == 0, result.output
    files = sorted(out.iterdir())
    assert len(files) == MANIFEST[cap]["commands"]["C-STORE-RQ"]
    for f in files:
        ds = check_meta(f, source_ae=source_ae)
        uid = str(ds.file_meta.MediaStorageSOPInstanceUID)
        assert ds.SOPInstanceUID == uid
        same_data_set(f, sent[uid])


def test_all_exports_identifiers_with_clear_names(tmp_path):
    out = tmp_path / "out"
    assert run(CAPTURES / "find_mwl.pcap", out, "--all").exit_code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["ds0001-assoc1-C-FIND-RQ-msg1-identifier.dcm", "ds0002-assoc1-C-FIND-RSP-msg1-identifier.dcm",
                     "ds0003-assoc1-C-FIND-RSP-msg1-identifier.dcm"]
    for n in names:
        ds = check_meta(out / n)
        assert ds.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.31"
    assert run(CAPTURES / "find_mwl.pcap", tmp_path / "none").stdout.count("no data sets found") == 1


def test_filters(tmp_path):
    def count(*opts):
        out = tmp_path / "x"
        shutil.rmtree(out, ignore_errors=True)
        assert run(CAPTURES / "store.pcap", out, *opts).exit_code == 0
        return sorted(p.name[:4] for p in out.iterdir()) if out.exists() else []
    assert count("--sop-class", "MR Image") == ["0002", "0004"]
    assert count("--sop-class", "1.2.840.10008.5.1.4.1.1.2") == ["0001", "0003", "0005"]
    assert count("--sop-class", "1.2.840.10008.5.1.4.1") == []        # a UID must match exactly
    assert count("--ae", "storescp") == ["0001", "0002", "0003", "0004", "0005"]
    assert count("--ae", "NOBODY") == []
    assert count("--association", "2") == []
    assert count("--association", "1", "--sop-class", "ct") == ["0001", "0003", "0005"]


def test_summary_says_what_was_left_out(tmp_path):
    """A new user sees why 0001 is missing from a C-GET export, and how many bytes were written."""
    lines = run(CAPTURES / "get.pcap", tmp_path / "g").stdout.splitlines()
    assert lines == [f"3 object(s) written to {tmp_path / 'g'} (4.1 KiB of data sets)",
                     "1 other data set(s) not exported (C-GET-RQ identifier; --all writes them)"]
    assert "other data set" not in run(CAPTURES / "get.pcap", tmp_path / "a", "--all").stdout
    assert "(C-MOVE-RQ identifier ×2; --all writes them)" in run(CAPTURES / "move.pcap", tmp_path / "m").stdout
    out = run(CAPTURES / "store.pcap", tmp_path / "s", "--sop-class", "MR").stdout
    assert "3 data set(s) left out by --association/--ae/--sop-class" in out
    lines = run(CAPTURES / "find_mwl.pcap", tmp_path / "f").stdout.splitlines()
    assert lines[1:] == ["no data sets found in C-STORE requests",
                         "3 other data set(s) not exported (C-FIND-RQ identifier, C-FIND-RSP identifier ×2;"
                         " --all writes them)"]
    assert not (tmp_path / "f").exists()                      # nothing to write: no directory made


def test_list_writes_nothing(tmp_path):
    out = tmp_path / "never"
    result = run(CAPTURES / "get.pcap", out, "--list", "--all")
    assert result.exit_code == 0
    assert not out.exists()
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["#", "assoc", "command"]
    rows = lines[1:5]
    assert lines[5].startswith("4 object(s) found; 4 would be written")
    assert "C-GET-RQ" in rows[0] and "ds0001-assoc1-C-GET-RQ-msg1-identifier.dcm" in rows[0]
    assert all("C-STORE-RQ" in r and "Storage" in r and "would write" in r for r in rows[1:])
    # the objects are numbered among the C-STORE data sets: the C-GET identifier is not #1
    assert [r.split()[-3].split("-")[0] for r in rows[1:]] == ["0001", "0002", "0003"], rows


def test_objects_numbered_from_one_and_a_created_folder_is_named(tmp_path):
    out = tmp_path / "new" / "folder"
    result = run(CAPTURES / "get.pcap", out)
    assert result.exit_code == 0
    assert sorted(p.name[:5] for p in out.iterdir()) == ["0001-", "0002-", "0003-"]
    assert f"created folder {out}" in result.stderr
    again = run(CAPTURES / "get.pcap", out, "--force")
    assert again.exit_code == 0 and "created folder" not in again.stderr


def test_existing_files_kept_unless_force(tmp_path, store_export):
    out = tmp_path / "out"
    out.mkdir()
    victim = out / store_export[0].name
    victim.write_bytes(b"keep me")
    result = run(CAPTURES / "store.pcap", out)
    assert result.exit_code == 0
    assert victim.read_bytes() == b"keep me"
    assert "4 object(s) written" in result.stdout and "1 skipped: already exists" in result.stdout
    assert victim.name not in result.stderr and result.stdout.count(victim.name) == 1      # listed once
    assert not [p for p in out.iterdir() if p.name.startswith(".")]          # no temporary file left
    listing = run(CAPTURES / "store.pcap", out, "--list").stdout
    assert listing.count("skip: already exists (use --force to overwrite)") == 5
    result = run(CAPTURES / "store.pcap", out, "--force")
    assert "5 object(s) written" in result.stdout
    assert victim.read_bytes() == store_export[0].read_bytes()


def test_symlink_out_of_dir_never_followed(tmp_path, store_export):
    out, outside = tmp_path / "out", tmp_path / "outside.txt"
    out.mkdir()
    outside.write_text("untouched")
    (out / store_export[0].name).symlink_to(outside)
    result = run(CAPTURES / "store.pcap", out, "--force")
    assert result.exit_code == 0
    assert outside.read_text() == "untouched"
    assert (out / store_export[0].name).is_symlink()
    assert "1 skipped: a symbolic link has this name" in result.stdout


def test_directory_is_a_file_is_one_line_error(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    result = run(CAPTURES / "store.pcap", f)
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "is a file" in result.stderr
    result = run(CAPTURES / "store.pcap", f / "sub")
    assert result.exit_code == 2
    assert "Traceback" not in result.output and result.stderr.startswith("dicomsniff: ")
    assert len(result.stderr.splitlines()) == 1


def test_not_a_capture(tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"hello, not a capture" * 10)
    result = run(bad, tmp_path / "out")
    assert result.exit_code == 2 and "Traceback" not in result.output


# -- synthetic: hostile names, truncation, streaming ----------------------------------------------

def test_hostile_instance_uid_stays_inside(tmp_path):
    uid = b"../../etc/x\x1b[31m"
    cap = tmp_path / "hostile.pcap"
    cap.write_bytes(store_capture(uid, small_dataset("1.2.3")))
    out = tmp_path / "a" / "b" / "out"
    before = {p for p in tmp_path.rglob("*")}
    result = run(cap, out)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    created = {p for p in tmp_path.rglob("*")} - before
    assert created and all(p == out or out in p.parents or p in out.parents for p in created)
    files = list(out.iterdir())
    assert len(files) == 1
    name = files[0].name
    assert SAFE_NAME.fullmatch(name) and ".." not in name and name.startswith("0001-")
    assert name == "0001-etc_x_31m.dcm"
    ds = pydicom.dcmread(files[0])
    assert ds.PatientName == "SYN^THETIC"
    assert ds.file_meta.SourceApplicationEntityTitle == "SYNSCU"


@given(st.text(max_size=300))
def test_safe_names_property(text):
    """Whatever the UID, the name is [0-9A-Za-z._-], ≤ 100 characters, has no '..' and keeps the index."""
    for reserve in (0, 8):
        name = object_file_name(7, text, ".dcm", reserve)
        assert SAFE_NAME.fullmatch(name) and len(name) <= 100 - reserve
        assert ".." not in name and name.startswith("0007") and name.endswith(".dcm")
    assert ".." not in safe_component(text) and "/" not in safe_component(text)


def test_name_fallback_and_cap():
    assert object_file_name(3, "/../..\x00") == "0003.dcm"
    assert object_file_name(3, None) == "0003.dcm"
    assert len(object_file_name(1, "1." * 200)) == 100


def test_same_names_get_suffixes(tmp_path):
    ex = ObjectExporter(tmp_path, ExportOptions())
    assert [ex._unique("0001-x.dcm") for _ in range(3)] == ["0001-x.dcm", "0001-x-2.dcm", "0001-x-3.dcm"]


def test_file_meta_bytes_layout():
    raw = file_meta_bytes(FileMeta("1.2.3", "1.2.3.4", IMPLICIT_LE, "AE\\BAD"))
    assert raw[:128] == bytes(128) and raw[128:132] == b"DICM"
    assert struct.unpack_from("<I", raw, 140)[0] == len(raw) - 144
    assert b"AE\\BAD" not in raw                    # an AE no conformant meta can hold is left out
    assert len(raw) % 2 == 0


def test_truncated_object_listed_then_partial(tmp_path):
    data = small_dataset("1.2.3.4") + element(0x0011, 0x0010, b"x" * 4000)
    cap = tmp_path / "cut.pcap"
    cap.write_bytes(store_capture("1.2.3.4", data, cut=1500))
    out = tmp_path / "out"
    result = run(cap, out)
    assert result.exit_code == 0
    assert "1 incomplete, not written" in result.stdout and "0001-1.2.3.4.dcm" in result.stdout
    assert not out.exists() or not any(out.iterdir())
    listing = run(cap, out, "--list")
    row = listing.stdout.splitlines()[1]
    assert "0001-1.2.3.4.dcm" in row and "cut short" in row
    result = run(cap, out, "--incomplete")
    assert result.exit_code == 0
    assert [p.name for p in out.iterdir()] == ["0001-1.2.3.4.dcm.partial"]
    part = out / "0001-1.2.3.4.dcm.partial"
    assert part.read_bytes()[meta_end(part):] == data[:1500]


@pytest.mark.parametrize("how", ["gap", "abort"])
def test_object_cut_by_gap_or_abort_is_never_complete(how, tmp_path):
    """A data set whose middle is missing (TCP gap) or that an A-ABORT ends is never written as complete."""
    c = Conversation()
    c.send(True, assoc_rq("SYNSCU", "SYNSCP", [(1, CT_STORAGE, [IMPLICIT_LE])]))
    c.send(False, assoc_ac("SYNSCU", "SYNSCP", [(1, 0, IMPLICIT_LE)]))
    c.send(True, pdata([(1, COMMAND | LAST, store_rq(CT_STORAGE, "1.2.3.5"))]))
    c.send(True, pdata([(1, DATA, small_dataset("1.2.3.5"))]))
    if how == "gap":
        c.seq[True] += len(pdata([(1, DATA, b"y" * 2000)]))          # a segment the capture missed
        c.send(True, pdata([(1, DATA | LAST, b"z" * 1000)]))
        c.send(True, release_rq())
        c.send(False, release_rp())
        c.close()
    else:
        c.send(True, abort())
    cap = tmp_path / f"{how}.pcap"
    cap.write_bytes(pcap_bytes(c.take(), ETHERNET))
    out = tmp_path / "out"
    result = run(cap, out)
    assert "1 incomplete, not written" in result.stdout, result.output
    assert not out.exists() or not any(out.iterdir())
    if how == "gap":
        assert "TCP gap" in run(cap, out, "--list").stdout.splitlines()[1]
    run(cap, out, "--incomplete")
    assert [p.name for p in out.iterdir()] == ["0001-1.2.3.5.dcm.partial"]


def big_store_capture(cap: Path, size: int) -> str:
    """Write a capture of one C-STORE whose data set ends in ``size`` bytes of pixels, in 16 KiB PDVs
    (written as it is built); returns the data set's SHA-256."""
    pixels = bytes(range(256)) * 64
    head = small_dataset("1.2.3.30")[:-16] + struct.pack("<HHI", 0x7FE0, 0x0010, size)
    digest = hashlib.sha256(head)
    c = Conversation()
    with cap.open("wb") as f:
        f.write(pcap_bytes([], ETHERNET))
        c.send(True, assoc_rq("BIGSCU", "BIGSCP", [(1, CT_STORAGE, [IMPLICIT_LE])], max_pdu=0))
        c.send(False, assoc_ac("BIGSCU", "BIGSCP", [(1, 0, IMPLICIT_LE)], max_pdu=0))
        c.send(True, pdata([(1, COMMAND | LAST, store_rq(CT_STORAGE, "1.2.3.30"))]))
        c.send(True, pdata([(1, DATA, head)]))
        sent = 0
        while sent < size:
            last = sent + len(pixels) >= size
            c.send(True, pdata([(1, DATA | (LAST if last else 0), pixels)]))
            digest.update(pixels)
            sent += len(pixels)
            f.write(pcap_bytes(c.take(), ETHERNET)[24:])
        c.send(True, release_rq())
        c.send(False, release_rp())
        c.close()
        f.write(pcap_bytes(c.take(), ETHERNET)[24:])
    return digest.hexdigest()


def export_traced(cap: Path, out: Path):
    """Export ``cap`` under tracemalloc; returns (records, peak bytes)."""
    tracemalloc.start()
    try:
        an = Analyzer(keep_pdus=False, stream_data=True, decode_data=False)
        box: list = []
        records = export_objects(read_events(cap, an, reader_out=box), out, ExportOptions(),
                                 say=lambda line: None, reader_box=box, forget=an.forget)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return records, peak


def test_streaming_30mb_keeps_memory_bounded(tmp_path):
    """A ~30 MB data set in 16 KiB PDVs: peak memory (tracemalloc) is far below the object size and
    hardly above a 10 MB object's (what remains is the capture reader's fixed read buffer)."""
    small_digest = big_store_capture(tmp_path / "small.pcap", 10 << 20)
    small_records, small_peak = export_traced(tmp_path / "small.pcap", tmp_path / "small")
    assert [r.status for r in small_records] == ["written"]
    (tmp_path / "small.pcap").unlink()
    size = 30 << 20
    digest = big_store_capture(tmp_path / "big.pcap", size)
    records, peak = export_traced(tmp_path / "big.pcap", tmp_path / "big")
    assert [r.status for r in records] == ["written"]
    path = records[0].path
    assert path.stat().st_size > size
    h = hashlib.sha256()
    with path.open("rb") as f:
        f.seek(meta_end(path))
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    assert h.hexdigest() == digest != small_digest
    assert peak < 16 << 20, f"peak {peak} bytes for a {size}-byte object"
    assert peak - small_peak < 2 << 20, f"peak {peak} vs {small_peak} for a 3x smaller object"
