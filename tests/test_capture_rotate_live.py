"""`dicomsniff capture --rotate` on loopback while DCMTK storescu sends to storescp, next to tcpdump.

The ring buffer's files, read back as one capture set, hold the packets tcpdump saw and decode to the
same associations, messages and PDU counts (nothing lost across rotations); ``--keep`` leaves the
newest files; ``--jsonl`` records are in the output file while the capture still runs; the capture
process' memory does not grow with the traffic (RSS measured after a warm-up and at the end).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dicomsniff.capture.captureset import expand_inputs, open_capture_set
from dicomsniff.capture.reader import open_capture
from tests.test_live_e2e import HAVE_LO, ROOT, TOOLS, capture_permitted, free_port, port_open, stop, wait_for

pytestmark = [
    pytest.mark.skipif(not (capture_permitted() and HAVE_LO),
                       reason="live capture needs Linux, an 'lo' interface and root or CAP_NET_RAW"),
    pytest.mark.skipif(not all(TOOLS.values()), reason="DCMTK storescp/storescu not installed"),
]
RING = re.compile(r"^dicomsniff_(\d{5})_(\d{14})\.pcap$")


def ct_files(folder: Path, n: int, size: int = 64) -> list[Path]:
    """``n`` CT images of ``size``×``size`` 16-bit pixels (explicit VR little endian)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
    folder.mkdir(parents=True, exist_ok=True)
    study = generate_uid()
    out = []
    for i in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
        ds.PatientID, ds.PatientName, ds.Modality, ds.InstanceNumber = "RING", "Ring^Test", "CT", i + 1
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = bytes((i + k) & 0xFF for k in range(size * size * 2))
        path = folder / f"ct{i}.dcm"
        ds.save_as(path, enforce_file_format=True)
        out.append(path)
    return out


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def records_of(path: Path) -> list[dict]:
    text = path.read_text()
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


def export(target: list[str]) -> dict:
    run = subprocess.run([sys.executable, "-m", "dicomsniff", "export", *target, "-o", "-", "--no-trees"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def key(a: dict) -> tuple:
    return (a["calling_ae"], a["called_ae"], a["state"], a["counts"]["pdus"], a["counts"]["messages"],
            tuple((m["command"], m["status"], m["affected_sop_instance_uid"]) for m in a["messages"]))


class Peers:
    """storescp on a free port, and storescu runs against it."""

    def __init__(self, tmp: Path):
        self.port = free_port()
        self.received = tmp / "received"
        self.received.mkdir()
        self.scp = None

    def start(self) -> None:
        self.scp = subprocess.Popen([TOOLS["storescp"], "--ignore", str(self.port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: port_open(self.port), 10, "storescp to listen")

    def store(self, files: list[Path], aet: str = "STORESCU") -> None:
        run = subprocess.run([TOOLS["storescu"], "-aet", aet, "127.0.0.1", str(self.port), *map(str, files)],
                             capture_output=True, text=True, timeout=30)
        assert run.returncode == 0, run.stderr

    def stop(self) -> None:
        stop(self.scp, signal.SIGTERM)


def start_capture(tmp: Path, port: int, *extra: str) -> tuple[subprocess.Popen, Path]:
    out = tmp / "live.jsonl"
    f = open(out, "w")
    cap = subprocess.Popen([sys.executable, "-m", "dicomsniff", "capture", "-i", "lo", "-f", f"tcp port {port}",
                            "--jsonl", *extra], stdout=f, stderr=subprocess.PIPE, cwd=ROOT)
    f.close()
    wait_for(lambda: cap.poll() is not None or out.read_text().startswith("{"), 15, "dicomsniff capture to start")
    assert cap.poll() is None, cap.stderr.read().decode()
    return cap, out


def test_rotated_files_hold_what_tcpdump_saw_and_jsonl_is_flushed(tmp_path):
    peers = Peers(tmp_path)
    ring, theirs = tmp_path / "ring", tmp_path / "tcpdump.pcap"
    files = ct_files(tmp_path / "ct", 5)
    tcpdump_err = open(tmp_path / "tcpdump.err", "w+")
    cap = tcpd = None
    try:
        cap, out = start_capture(tmp_path, peers.port, "-w", str(ring), "--rotate", "30kB")
        tcpd = subprocess.Popen(["tcpdump", "-i", "lo", "--immediate-mode", "-U", "-w", str(theirs),
                                 f"tcp port {peers.port}"], stdout=subprocess.DEVNULL, stderr=tcpdump_err)
        wait_for(lambda: "listening on" in Path(tcpdump_err.name).read_text(), 15, "tcpdump to start")
        peers.start()
        peers.store(files, "FIRST")
        # the association's records are in the file while the capture still runs: flushed as they complete
        wait_for(lambda: any(r["record"] == "association" and r["calling_ae"] == "FIRST" for r in records_of(out)),
                 10, "the first association's record")
        assert cap.poll() is None
        early = records_of(out)
        assert sum(1 for r in early if r["record"] == "message") == 10        # 5 C-STORE-RQ + 5 RSP
        for i in range(5):
            peers.store(files, f"SCU{i}")
        wait_for(lambda: sum(1 for r in records_of(out) if r["record"] == "association") == 6, 10,
                 "six association records")
        assert cap.poll() is None and len([p for p in ring.iterdir() if RING.match(p.name)]) >= 3
        time.sleep(0.5)
    finally:
        stop(cap)
        stop(tcpd)
        peers.stop()
        tcpdump_err.close()
    assert cap.returncode == 0, cap.stderr.read().decode()
    records = records_of(out)
    assert records[0]["record"] == "header" and records[-1]["record"] == "end"
    names = sorted(p.name for p in ring.iterdir())
    assert all(RING.match(n) for n in names), names                   # complete files only, no .tmp left
    assert len(names) >= 8
    assert all((ring / n).stat().st_size <= 30_000 for n in names)
    file_records = [r for r in records if r["record"] == "file"]
    assert [Path(r["path"]).name for r in file_records] == names
    assert sum(r["frames"] for r in file_records) == records[-1]["frames"]
    # nothing lost across rotations: the set is tcpdump's packets, frame for frame
    with open_capture_set(expand_inputs([ring])) as s:
        ours = [(f.number, bytes(f.data)) for f in s]
    with open_capture(str(theirs)) as r:
        tcpdumps = [(f.number, bytes(f.data)) for f in r]
    assert ours == tcpdumps and len(ours) == records[-1]["frames"]
    a, b = export([str(ring)]), export([str(theirs)])
    assert [key(x) for x in a["associations"]] == [key(x) for x in b["associations"]]
    assert [x["calling_ae"] for x in a["associations"]] == ["FIRST"] + [f"SCU{i}" for i in range(5)]
    live = [r for r in records if r["record"] == "association"]
    assert [key(x) for x in live] == [key(x) for x in b["associations"]]


def test_keep_and_flat_memory_over_a_longer_run(tmp_path):
    peers = Peers(tmp_path)
    ring = tmp_path / "ring"
    files = ct_files(tmp_path / "ct", 3)
    cap = None
    rss = []
    try:
        cap, out = start_capture(tmp_path, peers.port, "-w", str(ring), "--rotate", "20kB", "--keep", "3")
        peers.start()
        for i in range(60):
            peers.store(files, f"SCU{i % 7}")
            if i in (10, 59):
                wait_for(lambda: sum(1 for r in records_of(out) if r["record"] == "association") == i + 1, 10,
                         "the association records")
                rss.append(rss_kib(cap.pid))
    finally:
        stop(cap)
        peers.stop()
    assert cap.returncode == 0, cap.stderr.read().decode()
    records = records_of(out)
    end = records[-1]
    file_records = [r for r in records if r["record"] == "file"]
    names = sorted(p.name for p in ring.iterdir())
    assert len(names) == 3 and len(file_records) > 10
    assert names == sorted(Path(r["path"]).name for r in file_records[-3:])
    deleted = [Path(d).name for r in file_records for d in r["deleted"]]
    assert len(deleted) == len(file_records) - 3
    assert end["associations"] == 60 and end["frames"] == sum(r["frames"] for r in file_records)
    # memory: what 50 more associations and ~40 more rotations add (figures printed for the report)
    print(f"capture RSS after 11 associations {rss[0]} KiB, after 60: {rss[1]} KiB, {len(file_records)} files")
    assert rss[1] - rss[0] < 8 * 1024
