#!/usr/bin/env python3
"""What one capture hole costs ``dicomsniff summary``, by where it falls (issue 18: the lossy copy's figure).

    python bench/hole_cost.py [CAPTURE] [--mb N] [--holes N] [--more N] [--runs N] [--keep DIR]

From the first ``--mb`` MB of CAPTURE (default: the C-STORE MTU-1500 capture ``bench/run.py`` builds), copies
that lost exactly chosen payload segments (tests/losssim.py, ``only=``):

- ``mid``: ``--holes`` segments inside a data PDV (no PDU header within 6 bytes of them);
- ``mid+``: ``--more`` such segments (the same first ones and more): past an association's first 1,000
  findings (Association.add_finding's bound) its holes make no finding, as most in the lossy copy do;
- ``header``: ``--holes`` segments that hold a whole P-DATA-TF header of a data PDV (storescu writes the PDU
  and PDV headers, 12 bytes, as a segment of their own).

Each copy and the intact prefix are read with ``summary``; the cost is counted in instructions with
valgrind's callgrind when it is installed (one run each, deterministic), else as the best of ``--runs``
wall times. Printed: each copy's total, and its cost per hole over the intact prefix (for ``mid+``, per hole
beyond the first ``--holes``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.append(str(ROOT / "bench"))        # (after the standard library: bench/profile.py would shadow it)

import argparse  # noqa: E402
import bisect  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import losssim  # noqa: E402
from calls_per_packet import default_capture, head_copy  # noqa: E402
from dicomsniff.capture.packet import decode_tcp  # noqa: E402


def classify(capture: str) -> tuple[list[int], list[int]]:
    """Frame numbers of the payload segments of ``capture`` that hold a whole P-DATA-TF header of a data PDV,
    and of those inside a data PDV with no PDU header within 6 bytes (each flow's bytes framed from its first
    byte; flows that do not begin with a PDU, or whose framing breaks, are left out)."""
    frames, _ = losssim._read(capture)
    payload = {}
    for fr in frames:
        seg = decode_tcp(fr)
        if seg is not None and len(seg.payload):
            payload[fr.number] = bytes(seg.payload)
    flows: dict = {}
    for s in losssim._segments(frames):
        flows.setdefault(s.flow, []).append(s)
    headers, middles = [], []
    for segs in flows.values():
        segs.sort(key=lambda s: s.offset)
        stream = bytearray()
        for s in segs:
            if s.offset > len(stream):
                break                       # (a hole in the source: framing stops there)
            if s.offset + s.length > len(stream):
                stream += payload[s.frame][len(stream) - s.offset:]
        starts, kinds, at = [], [], 0
        while at + 12 <= len(stream) and 1 <= stream[at] <= 7:
            starts.append(at)
            kinds.append(stream[at] == 4 and not stream[at + 11] & 1)     # a P-DATA-TF, its first PDV data
            at += 6 + int.from_bytes(stream[at + 2:at + 6], "big")
        if not starts:
            continue
        for s in segs:
            end = s.offset + s.length
            if end > at:
                continue
            i = bisect.bisect_left(starts, s.offset - 6)
            if i < len(starts) and starts[i] < end + 6:         # a header near (or in) it
                if kinds[i] and s.offset <= starts[i] and starts[i] + 12 <= end:
                    headers.append(s.frame)
            elif i and kinds[i - 1]:                            # inside the data PDV of the PDU before
                middles.append(s.frame)
    return headers, middles


def cost(capture: str, runs: int) -> tuple[float, str]:
    """``summary`` of ``capture``: instructions (callgrind), or the best of ``runs`` wall seconds."""
    argv = [sys.executable, "-m", "dicomsniff", "summary", capture]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if shutil.which("valgrind"):
        with tempfile.TemporaryDirectory() as tmp:
            p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out", *argv],
                               env=env, capture_output=True, text=True)
        m = re.search(r"Collected : (\d+)", p.stderr)
        if m is None:
            raise SystemExit(f"callgrind gave no total:\n{p.stderr[-2000:]}")
        return float(m.group(1)), "instructions"
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=False)
        best = min(best, time.perf_counter() - t0)
    return best, "seconds"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture", nargs="?")
    ap.add_argument("--mb", type=float, default=158.0, help="use the first N MB of the capture")
    ap.add_argument("--holes", type=int, default=300)
    ap.add_argument("--more", type=int, default=1500)
    ap.add_argument("--runs", type=int, default=5, help="wall-time runs, without valgrind")
    ap.add_argument("--keep", help="write the copies here (default: a temporary folder)")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args(argv)
    capture = args.capture or default_capture()
    if capture is None:
        raise SystemExit("no capture given and none in ~/.cache/dicomsniff-bench (python bench/run.py --build-only)")
    work = Path(args.keep or tempfile.mkdtemp(prefix="holes-"))
    work.mkdir(parents=True, exist_ok=True)
    intact = head_copy(capture, args.mb)
    try:
        headers, middles = classify(intact)
        rnd = random.Random(args.seed)
        if len(middles) < args.more or len(headers) < args.holes:
            raise SystemExit(f"{len(middles)} mid-PDV and {len(headers)} header segments: too few for "
                             f"--more {args.more} / --holes {args.holes} (a larger --mb?)")
        mids = rnd.sample(middles, args.more)
        copies = {"mid": mids[:args.holes], "mid+": mids, "header": rnd.sample(headers, args.holes)}
        print(f"{capture} (first {args.mb:g} MB): {len(middles)} mid-PDV segments, {len(headers)} header segments")
        base, unit = cost(intact, args.runs)
        print(f"  intact               {base:16,.0f} {unit}")
        totals = {}
        for name, frames in copies.items():
            path = work / f"holes-{name.replace('+', 'more')}.pcap"
            losssim.drop_segments(intact, path, only=frames)
            totals[name], _ = cost(str(path), args.runs)
            print(f"  {name:7} {len(frames):5} holes {totals[name]:16,.0f} "
                  f"({(totals[name] - base) / len(frames):,.0f} per hole)")
        extra = args.more - args.holes
        if extra > 0:
            print(f"  mid+ beyond the first {args.holes}: "
                  f"{(totals['mid+'] - totals['mid']) / extra:,.0f} per hole")
    finally:
        os.unlink(intact)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
