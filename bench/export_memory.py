#!/usr/bin/env python3
"""Peak RSS of ``dicomsniff export`` (-o FILE, --jsonl) on N unanswered C-ECHO-RQs (issue 12 item 8).

Builds, once, a capture of one association flooded with N unanswered C-ECHO-RQs
(``tests/floodcap.py``; 100,000 make a 15 MB capture), then runs each export in
its own process and prints wall time and peak RSS (``ru_maxrss`` of the child).

    python bench/export_memory.py                         # N = 100,000
    python bench/export_memory.py --counts 10000,100000   # does the peak grow with N? (it should not, much)
    python bench/export_memory.py --tree /tmp/old         # the same on another checkout (before/after)
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests")]

from floodcap import write_echo_flood  # noqa: E402

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dicomsniff-bench"


def measure(tree: Path, args: list[str], timeout: float) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, exit status) of ``python -m dicomsniff ARGS`` run from ``tree``."""
    probe = ("import resource, subprocess, sys, time; t = time.monotonic(); "
             "rc = subprocess.run(sys.argv[1:]).returncode; "
             "print(time.monotonic() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)")
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "dicomsniff", *args],
                         capture_output=True, text=True, env=env, timeout=timeout, cwd=tree)
    secs, kb, rc = out.stdout.split()[-3:]
    return float(secs), int(kb) / 1024, int(rc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="100000", help="comma-separated request counts (default 100000)")
    ap.add_argument("--tree", type=Path, default=ROOT, help="checkout to measure (default this one)")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--cache", type=Path, default=CACHE)
    opts = ap.parse_args()
    opts.cache.mkdir(parents=True, exist_ok=True)
    print(f"tree {opts.tree}")
    print(f"{'requests':>9} {'capture MB':>10}  {'export':<16} {'seconds':>8} {'peak RSS MB':>11} {'exit':>4}")
    for n in (int(x) for x in opts.counts.split(",")):
        cap = opts.cache / f"echo-flood-{n}.pcap"
        if not cap.exists():
            write_echo_flood(cap, n)
        with tempfile.TemporaryDirectory() as tmp:
            for label, extra in (("-o FILE", []), ("-o FILE --jsonl", ["--jsonl"])):
                secs, mb, rc = measure(opts.tree, ["export", str(cap), "-o", str(Path(tmp) / "out.json"), *extra],
                                       opts.timeout)
                print(f"{n:>9} {cap.stat().st_size / 1e6:>10.1f}  {label:<16} {secs:>8.1f} {mb:>11.0f} {rc:>4}")


if __name__ == "__main__":
    main()
