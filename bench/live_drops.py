"""Benchmark: does `dicomsniff capture` keep up with C-STORE traffic on loopback?

Generates a few 20-50 MB CT images with pydicom, sends them repeatedly with
DCMTK ``storescu`` to ``storescp --ignore`` (received and discarded) on a
free loopback port while ``dicomsniff capture -i lo -f 'tcp port P' --jsonl``
runs, then reports packets captured versus dropped by the kernel, whether
every association and C-STORE was decoded, wall time and MB/s.

Usage: ``sudo python3 bench/live_drops.py [--total-mb 600] [--sizes 20,32,48]``.
Not a test; CI does not run it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dcmtk(tool: str) -> str:
    """The DCMTK tool, not pynetdicom's same-named Python app."""
    for cand in (f"/usr/bin/{tool}", f"/usr/local/bin/{tool}"):
        if os.path.exists(cand):
            return cand
    sys.exit(f"live_drops: DCMTK {tool} not found")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_ct(path: Path, megabytes: int) -> int:
    """A CT image of about ``megabytes`` MB of pixel data; returns the file size."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
    side = int((megabytes * 1_000_000 / 2) ** 0.5)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = "BENCH", "Bench^Live", "CT"
    ds.Rows = ds.Columns = side
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.random.default_rng(megabytes).integers(0, 4096, side * side, dtype="<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path.stat().st_size


def wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--total-mb", type=int, default=600, help="MB of C-STORE data to send (default 600)")
    ap.add_argument("--sizes", default="20,32,48", help="sizes of the generated images in MB")
    ap.add_argument("--keep", action="store_true", help="keep the capture output in the temp dir")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="dicomsniff-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    files = []
    for i, mb in enumerate(sizes):
        p = tmp / f"ct{i}.dcm"
        files.append((p, make_ct(p, mb)))
    per_round = sum(size for _, size in files)
    rounds = max(1, -(-args.total_mb * 1_000_000 // per_round))
    port = free_port()
    out_path = tmp / "live.jsonl"
    cap = scp = None
    with open(out_path, "w") as out:
        try:
            cap = subprocess.Popen([sys.executable, "-m", "dicomsniff", "capture", "-i", "lo", "-f",
                                    f"tcp port {port}", "--jsonl"], stdout=out, cwd=ROOT)
            if not wait_for(lambda: out_path.stat().st_size > 0, 20):
                sys.exit("live_drops: dicomsniff capture did not start")
            scp = subprocess.Popen([dcmtk("storescp"), "--ignore", str(port)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if not wait_for(lambda: port_open(port), 10):
                sys.exit("live_drops: storescp did not start")
            sent_bytes = 0
            t0 = time.monotonic()
            for _ in range(rounds):
                run = subprocess.run([dcmtk("storescu"), "127.0.0.1", str(port)] + [str(p) for p, _ in files],
                                     capture_output=True, text=True, timeout=600)
                if run.returncode != 0:
                    print(f"storescu failed: {run.stderr.strip()[:200]}", file=sys.stderr)
                sent_bytes += per_round
            send_s = time.monotonic() - t0
            # The capture may lag behind the traffic: wait until every association is out.
            wait_for(lambda: out_path.read_text().count('"record":"association"') >= rounds, 120)
            lag_s = time.monotonic() - t0 - send_s
        finally:
            for proc, sig in ((cap, signal.SIGINT), (scp, signal.SIGTERM)):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(sig)
                    try:
                        proc.wait(30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
    records = [json.loads(line) for line in out_path.read_text().splitlines() if line.startswith("{")]
    end = next((r for r in records if r["record"] == "end"), {})
    assocs = [r for r in records if r["record"] == "association"]
    stores = [r for r in records if r.get("event") == "exchange" and r.get("command") == "C-STORE-RQ"]
    ok = sum(1 for r in stores if r.get("status_category") == "Success")
    released = sum(1 for a in assocs if a["state"] == "released")
    sent_objects = rounds * len(files)
    print(f"sent:        {rounds} associations x {len(files)} objects ({'+'.join(map(str, sizes))} MB) "
          f"= {sent_objects} C-STOREs, {sent_bytes / 1e6:.0f} MB")
    print(f"packets:     {end.get('frames')} captured, {end.get('dropped_by_kernel')} dropped by the kernel")
    print(f"decoded:     {len(assocs)} associations ({released} released), "
          f"{ok}/{sent_objects} C-STORE-RQ with Success ({len(stores)} exchanges)")
    print(f"time:        {send_s:.2f} s sending ({sent_bytes / 1e6 / send_s:.0f} MB/s), "
          f"analysis finished {lag_s:.2f} s after the last storescu")
    print(f"end-to-end:  {sent_bytes / 1e6 / (send_s + lag_s):.0f} MB/s analysed")
    if args.keep:
        print(f"output kept in {tmp}")
    else:
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()


if __name__ == "__main__":
    main()
