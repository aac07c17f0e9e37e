"""``export-objects`` on a live DCMTK transfer: what storescu sent is what comes out (issue 6 §5).

One capture, made here on loopback with scripts/make_captures.py's helpers
(tcpdump on ``lo``, every process bounded and stopped): DCMTK ``storescu``
sends the five small test objects, each in its own transfer syntax (the
``Store`` profile of captures/store.pcap), then the ~20 MB CT four times, once
per transfer syntax (explicit LE as in the file, explicit BE, deflated and
implicit LE, which storescu converts to), over ~1,250 P-DATA PDUs each, to
``storescp +B`` (bit-preserving: it stores the data sets exactly as received).

Each exported data set must equal byte for byte the file sent when the wire kept
its transfer syntax, element by element otherwise, and byte for byte what storescp
stored in every case; DCMTK and pydicom must read every file without a warning.

Needs root (tcpdump), DCMTK in /usr/bin and tcpdump; skipped otherwise.
Takes ~10 s, most of it the four 20 MB transfers and tcpdump's start and stop.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner
from pydicom.uid import (DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian,
                         ImplicitVRLittleEndian, RLELossless)

from dicomsniff.cli import main
from dicomsniff.output.part10 import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from dicomsniff.pipeline import Analyzer, PduSeen
from dicomsniff.reading import read_events
from tests.test_export_objects import same_elements, strict_read

DCMTK = Path(os.environ.get("DCMTK_BIN", "/usr/bin"))
NEEDED = [DCMTK / "storescu", DCMTK / "storescp"]
TCPDUMP = shutil.which("tcpdump", path="/usr/sbin:/usr/bin:/sbin:/bin")

pytestmark = [
    pytest.mark.skipif(not all(p.exists() for p in NEEDED), reason="DCMTK storescu/storescp not in /usr/bin"),
    pytest.mark.skipif(TCPDUMP is None, reason="tcpdump not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="capturing on lo needs root"),
]

# The small objects: the Store profile of scripts/make_captures.py (one context per object and syntax).
SMALL = [("ct_implicit_le", ImplicitVRLittleEndian), ("mr_explicit_le", ExplicitVRLittleEndian),
         ("ct_explicit_be", ExplicitVRBigEndian), ("mr_deflated_le", DeflatedExplicitVRLittleEndian),
         ("ct_rle_lossless", RLELossless)]
# The ~20 MB explicit LE CT, once per profile below: a single context with a single transfer syntax,
# so storescp cannot pick another and storescu must convert (all but BigExplicitLE).
BIG = [("BigExplicitLE", "ExplicitLE", ExplicitVRLittleEndian), ("BigExplicitBE", "ExplicitBE", ExplicitVRBigEndian),
       ("BigDeflated", "Deflated", DeflatedExplicitVRLittleEndian), ("BigImplicit", "Implicit", ImplicitVRLittleEndian)]


def storescu_config() -> str:
    """make_captures' storescu configuration plus one single-syntax CT profile per entry of BIG."""
    from scripts.make_captures import STORESCU_CFG
    contexts = "".join(f"[{name}]\nPresentationContext1 = CTImageStorage\\{ts}\n" for name, ts, _ in BIG)
    profiles = "".join(f"[{name}]\nPresentationContexts = {name}\n" for name, _, _ in BIG)
    head, tail = STORESCU_CFG.split("[[Profiles]]\n")
    return head + contexts + "[[Profiles]]\n" + tail + profiles


def meta_end(data: bytes) -> int:
    """Offset of the data set in Part-10 bytes: 144 + the (0002,0000) group length."""
    assert data[128:132] == b"DICM" and data[132:138] == b"\x02\x00\x00\x00UL"
    return 144 + struct.unpack_from("<I", data, 140)[0]


def data_set_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    return raw[meta_end(raw):]


@dataclass
class Transfer:
    sent: dict[str, Path]           # test object name -> file storescu sent
    expected: list[tuple[str, str]]  # (object name, transfer syntax on the wire), in sending order
    stored: list[Path]              # what storescp +B stored
    capture: Path
    exported: list[Path]
    stdout: str


@pytest.fixture(scope="module")
def transfer(tmp_path_factory) -> Transfer:
    from scripts.make_captures import Procs, dcmtk, tcpdump, wait_listening
    from scripts.testobjects import make_objects
    work = tmp_path_factory.mktemp("dcmtk")
    logs, incoming = work / "logs", work / "incoming"
    logs.mkdir()
    incoming.mkdir()
    sent = {p.stem: p for p in make_objects(work / "objects", big=True)}
    cfg = work / "storescu.cfg"
    cfg.write_text(storescu_config())
    with socket.socket() as s:                       # a free port; nothing else binds it in between, usually
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = Procs(logs)
    scu = [dcmtk("storescu"), "-aet", "STORESCU", "-aec", "STORESCP"]
    capture = work / "dcmtk.pcap"
    try:
        scp = procs.start("storescp", [dcmtk("storescp"), "+xa", "+B", "+uf", "-aet", "STORESCP",
                                       "-od", incoming, port])
        wait_listening(port, scp)
        try:
            with tcpdump(capture, [port], logs):
                procs.run("storescu-small", scu + ["-xf", cfg, "Store", "127.0.0.1", port]
                          + [sent[name] for name, _ in SMALL])
                for profile, _, _ in BIG:
                    procs.run(f"storescu-{profile}", scu + ["-xf", cfg, profile, "127.0.0.1", port,
                                                             sent["ct_big_20mb"]])
        except RuntimeError as e:
            if "tcpdump" in str(e):                  # not permitted here, or the kernel dropped packets
                pytest.skip(f"no usable capture: {e}")
            raise
    finally:
        procs.stop_all()
    out = work / "out"
    result = CliRunner().invoke(main, ["export-objects", str(capture), str(out), "--port", str(port)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    expected = list(SMALL) + [("ct_big_20mb", ts) for _, _, ts in BIG]
    return Transfer(sent, expected, sorted(incoming.iterdir()), capture, sorted(out.iterdir()), result.stdout)


def test_all_objects_exported_in_order(transfer):
    assert transfer.stdout.splitlines()[0].startswith(f"{len(transfer.expected)} object(s) written")
    assert len(transfer.exported) == len(transfer.expected) == 9
    for i, (path, (name, ts)) in enumerate(zip(transfer.exported, transfer.expected), 1):
        uid = pydicom.dcmread(transfer.sent[name], stop_before_pixels=True).SOPInstanceUID
        assert path.name == f"{i:04d}-{uid}.dcm"       # the same UID four times: four files, none overwritten
        meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
        assert meta.TransferSyntaxUID == ts, (path.name, meta.TransferSyntaxUID.name)
        assert meta.MediaStorageSOPInstanceUID == uid
        assert meta.SourceApplicationEntityTitle == "STORESCU"


def test_big_object_spans_many_pdus(transfer):
    """Each 20 MB transfer is ~1,250 P-DATA-TF PDUs (storescp's 16 KB max PDU; ~900 deflated)."""
    an = Analyzer(keep_pdus=False, decode_data=False)
    per_association: dict[int, int] = {}
    for ev in read_events(transfer.capture, an):
        if type(ev) is PduSeen and ev.pdu.pdu_type == 4:
            per_association[ev.association.number] = per_association.get(ev.association.number, 0) + 1
    counts = [per_association[n] for n in sorted(per_association)]
    assert len(counts) == 1 + len(BIG)
    assert all(n > 800 for n in counts[1:]), counts


def test_data_sets_equal_what_storescu_sent(transfer):
    """Byte for byte when the wire kept the file's transfer syntax, element by element when storescu
    converted it (the deflated copy is compared after inflating: it is exported still deflated)."""
    compared_bytes = 0
    for path, (name, ts) in zip(transfer.exported, transfer.expected):
        ref = transfer.sent[name]
        if pydicom.dcmread(ref, stop_before_pixels=True).file_meta.TransferSyntaxUID == ts:
            assert data_set_bytes(path) == data_set_bytes(ref), path.name
            compared_bytes += 1
        else:
            same_elements(pydicom.dcmread(path), pydicom.dcmread(ref))
    assert compared_bytes == 6                      # the five small ones and the explicit LE big one


def test_data_sets_equal_what_storescp_stored(transfer):
    """``storescp +B`` writes each data set exactly as it came off the association: the same bytes."""
    stored = sorted(data_set_bytes(p) for p in transfer.stored)
    assert sorted(data_set_bytes(p) for p in transfer.exported) == stored


def test_dcmdump_reads_without_warnings(transfer):
    dcmdump = DCMTK / "dcmdump"
    if not dcmdump.exists():
        pytest.skip("dcmdump not installed")
    for path in transfer.exported:
        proc = subprocess.run([str(dcmdump), "+M", str(path)], capture_output=True, text=True,
                              errors="replace", timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert not [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith(("W:", "E:"))]
    dcmftest = DCMTK / "dcmftest"                       # "yes: FILE" for a Part-10 file (preamble, DICM, meta)
    if dcmftest.exists():
        proc = subprocess.run([str(dcmftest), *map(str, transfer.exported)], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0 and proc.stdout.count("yes: ") == len(transfer.exported), proc.stdout


def test_pydicom_reads_without_warnings_and_meta_conforms(transfer):
    for path in transfer.exported:
        ds = strict_read(path)
        fm = ds.file_meta
        assert fm.FileMetaInformationVersion == b"\x00\x01"
        assert fm.MediaStorageSOPClassUID == ds.SOPClassUID                  # plain UID, nothing appended
        assert fm.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert fm.ImplementationClassUID == IMPLEMENTATION_CLASS_UID and fm.ImplementationClassUID.is_valid
        assert fm.ImplementationVersionName == IMPLEMENTATION_VERSION_NAME
        assert fm.FileMetaInformationGroupLength == meta_end(path.read_bytes()) - 144


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not installed")
def test_dciodvfy_finds_no_meta_error(transfer):
    for path in transfer.exported:
        proc = subprocess.run(["dciodvfy", "-filename", str(path)], capture_output=True, text=True,
                              errors="replace", timeout=120)
        meta_errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("Error") and "Meta" in ln]
        assert not meta_errors, (path.name, meta_errors)
