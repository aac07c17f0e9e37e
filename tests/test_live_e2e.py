"""End to end: `dicomsniff capture` next to tcpdump while DCMTK and pynetdicom talk on loopback.

The live JSON lines, the export of the pcap that ``capture -w`` wrote, and the
export of tcpdump's own pcap must describe the same associations (AE titles,
state, commands and statuses), and both pcaps must hold the same packets.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dicomsniff.capture.live import capture_permitted

ROOT = Path(__file__).resolve().parent.parent
HAVE_LO = any(name == "lo" for _, name in socket.if_nameindex())


def dcmtk(tool: str) -> str | None:
    """Path of a DCMTK tool; pynetdicom installs same-named Python apps, so check the version text."""
    for cand in (f"/usr/bin/{tool}", shutil.which(tool)):
        if cand and os.path.exists(cand):
            try:
                run = subprocess.run([cand, "--version"], capture_output=True, text=True, timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if "dcmtk" in (run.stdout + run.stderr).lower():
                return cand
    return None


TOOLS = {t: dcmtk(t) for t in ("storescp", "storescu", "echoscu")}
pytestmark = [
    pytest.mark.skipif(not (capture_permitted() and HAVE_LO),
                       reason="live capture needs Linux, an 'lo' interface and root or CAP_NET_RAW"),
    pytest.mark.skipif(not shutil.which("tcpdump"), reason="tcpdump not installed"),
    pytest.mark.skipif(not all(TOOLS.values()), reason="DCMTK storescp/storescu/echoscu not installed"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_ct(path: Path) -> None:
    """A 16x16 CT image in explicit VR little endian, enough for storescu."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = "LIVE-E2E", "Live^Test", "CT"
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = bytes(range(256)) * 2
    ds.save_as(path, enforce_file_format=True)


def wait_for(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def stop(proc: subprocess.Popen | None, sig=signal.SIGINT, timeout: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def pynetdicom_echo(port: int) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", port, ae_title="ANY-SCP")
    assert assoc.is_established
    status = assoc.send_c_echo()
    assert status.Status == 0
    assoc.release()


def key(rec: dict) -> tuple:
    """What must agree between live output and exports: AEs, state, commands and statuses."""
    return (rec["calling_ae"], rec["called_ae"], rec["state"],
            tuple((m["command"], m["status"]) for m in rec["messages"]))


def export_keys(pcap: Path) -> list[tuple]:
    run = subprocess.run([sys.executable, "-m", "dicomsniff", "export", str(pcap), "-o", "-",
                          "--no-trees"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    return [key(a) for a in json.loads(run.stdout)["associations"]]


def frame_count(pcap: Path) -> int:
    from dicomsniff.capture.reader import open_capture
    with open_capture(str(pcap)) as r:
        return sum(1 for _ in r)


def test_live_capture_matches_exports_of_both_pcaps(tmp_path):
    port = free_port()
    ours, theirs, received = tmp_path / "x.pcap", tmp_path / "y.pcap", tmp_path / "received"
    received.mkdir()
    dcm = tmp_path / "ct.dcm"
    small_ct(dcm)
    live_out = open(tmp_path / "live.jsonl", "w+")
    tcpdump_err = open(tmp_path / "tcpdump.err", "w+")
    cap = tcpd = scp = None
    try:
        cap = subprocess.Popen([sys.executable, "-m", "dicomsniff", "capture", "-i", "lo", "-f",
                                f"tcp port {port}", "-w", str(ours), "--jsonl"],
                               stdout=live_out, stderr=subprocess.PIPE, cwd=ROOT)
        # --immediate-mode: otherwise tcpdump holds packets in its ring for up to a
        # second and loses the last ones when stopped.
        tcpd = subprocess.Popen(["tcpdump", "-i", "lo", "--immediate-mode", "-U", "-w", str(theirs),
                                 f"tcp port {port}"], stdout=subprocess.DEVNULL, stderr=tcpdump_err)
        wait_for(lambda: cap.poll() is not None or Path(live_out.name).read_text().startswith("{"), 15,
                 "dicomsniff capture to start")
        assert cap.poll() is None, cap.stderr.read().decode()
        wait_for(lambda: "listening on" in Path(tcpdump_err.name).read_text(), 15, "tcpdump to start")
        scp = subprocess.Popen([TOOLS["storescp"], "-od", str(received), str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: port_open(port), 10, "storescp to listen")
        for argv in ([TOOLS["echoscu"], "127.0.0.1", str(port)],
                     [TOOLS["storescu"], "127.0.0.1", str(port), str(dcm)]):
            run = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            assert run.returncode == 0, run.stderr
        pynetdicom_echo(port)
        time.sleep(0.5)
    finally:
        stop(cap)
        stop(tcpd)
        stop(scp, signal.SIGTERM)
        live_out.close()
        tcpdump_err.close()
    assert cap.returncode == 0, cap.stderr.read().decode()
    records = [json.loads(line) for line in Path(live_out.name).read_text().splitlines() if line]
    assert records[0]["record"] == "header" and records[-1]["record"] == "end"
    live_assocs = [r for r in records if r["record"] == "association"]
    live_keys = [key(r) for r in live_assocs]
    # The port_open probe is a TCP connection without DICOM: not an association.
    assert live_keys == [
        ("ECHOSCU", "ANY-SCP", "released", (("C-ECHO-RQ", None), ("C-ECHO-RSP", 0))),
        ("STORESCU", "ANY-SCP", "released", (("C-STORE-RQ", None), ("C-STORE-RSP", 0))),
        ("PYNETDICOM", "ANY-SCP", "released", (("C-ECHO-RQ", None), ("C-ECHO-RSP", 0))),
    ]
    events = [(r["event"], r.get("association")) for r in records if r["record"] == "live"]
    for n in (1, 2, 3):
        assert ("association-requested", n) in events and ("association-accepted", n) in events
    exchanges = [r["command"] for r in records if r["record"] == "live" and r["event"] == "exchange"]
    assert exchanges == ["C-ECHO-RQ", "C-STORE-RQ", "C-ECHO-RQ"]
    end = records[-1]
    assert end["dropped_by_kernel"] == 0 and end["associations"] == 3
    assert export_keys(ours) == live_keys
    assert export_keys(theirs) == live_keys
    assert end["frames"] == frame_count(ours) == frame_count(theirs)
