"""Indexing throughput of ``dicomsniff tables`` with 1 and 2 Dask workers, and the named queries' times.

A big C-STORE capture (``~/.cache/dicomsniff-bench/store-1g-mtu1500.pcap``, else
``store-0.2g-mtu1500.pcap``; made by ``bench/run.py``) is split by size with ``tcpdump -r -w -C``
(100 MB files for the 1 GB capture, 20 MB for the 0.2 GB one) into a ring-buffer-like set; it is indexed
in this process (``--workers 0``) and on a Dask LocalCluster of 1 and 2 worker processes (cluster start-up
timed apart), then each named query runs (best of 3). Prints a Markdown table; ``--json`` the figures.

    python bench/tables.py [--capture PCAP] [--split-mb N] [--workers 0,1,2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path.home() / ".cache" / "dicomsniff-bench"


def split(capture: Path, dst: Path, mb: int) -> list[Path]:
    dst.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tcpdump", "-q", "-r", str(capture), "-w", str(dst / "ring.pcap"), "-C", str(mb), "-Z", "root"],
                   check=True, capture_output=True)
    return sorted(dst.iterdir())


def many_set(dst: Path, files: int = 20, repeats: int = 8) -> list[Path]:
    """A ring-buffer-like set of many short associations: the shipped captures merged into one, then each
    file holds ``repeats`` copies of it shifted in time (8 days apart, so no two copies' streams overlap)."""
    caps = sorted((Path(__file__).resolve().parent.parent / "captures").glob("*.pcap"))
    dst.mkdir(parents=True, exist_ok=True)
    base = dst.parent / "base.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(base)] + [str(c) for c in caps], check=True,
                   capture_output=True)
    out = []
    for i in range(files):
        shifted = []
        for r in range(repeats):
            p = dst.parent / f"shift-{r}.pcap"
            subprocess.run(["editcap", "-t", str((i * repeats + r + 1) * 8 * 86400), str(base), str(p)],
                           check=True, capture_output=True)
            shifted.append(str(p))
        target = dst / f"many_{i:05d}.pcap"
        subprocess.run(["mergecap", "-F", "pcap", "-w", str(target)] + shifted, check=True, capture_output=True)
        out.append(target)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capture", type=Path)
    ap.add_argument("--split-mb", type=int)
    ap.add_argument("--workers", default="0,1,2")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--max-group-mb", type=int, default=2000, help="as dicomsniff tables --max-group")
    ap.add_argument("--many", action="store_true",
                    help="index a set of 20 files of many short associations (the shipped captures, shifted) instead")
    ap.add_argument("--repeats", type=int, default=2, help="--many: copies of the shipped captures per file")
    args = ap.parse_args(argv)
    from dicomsniff.tables import query as Q
    from dicomsniff.tables.build import Executor, build
    cap = args.capture
    if cap is None:
        for name in ("store-1g-mtu1500.pcap", "store-0.2g-mtu1500.pcap"):
            if (CACHE / name).exists():
                cap = CACHE / name
                break
    if args.many:
        cap = Path("captures/*.pcap")
    elif cap is None or not cap.exists():
        print("no capture: run bench/run.py first, or give --capture", file=sys.stderr)
        return 2
    mb = 0 if args.many else args.split_mb or (100 if cap.stat().st_size > 500e6 else 20)
    work = Path(tempfile.mkdtemp(prefix="dicomsniff-tables-bench-"))
    out: dict = {"capture": str(cap), "split_mb": mb, "max_group_mb": args.max_group_mb, "machine": {
        "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "indexing": [], "queries": {}, "load": " ".join(f"{x:.1f}" for x in os.getloadavg())}
    try:
        files = many_set(work / "ring", repeats=args.repeats) if args.many else split(cap, work / "ring", mb)
        total = sum(f.stat().st_size for f in files)
        out["bytes"] = total
        out["files"] = len(files)
        last = None
        for w in [int(x) for x in args.workers.split(",")]:
            t = time.monotonic()
            ex = Executor(workers=w)
            started = time.monotonic() - t
            dest = work / f"t{w}"
            try:
                t = time.monotonic()
                rep = build([str(work / "ring")], str(dest), executor=ex,
                            max_group_bytes=args.max_group_mb * 1_000_000)
                secs = time.monotonic() - t
            finally:
                ex.close()
            row = {"workers": w, "dask": w > 0, "seconds": round(secs, 2), "cluster_start_s": round(started, 2),
                   "mb_per_s": round(total / 1e6 / secs, 2), "groups": rep.groups_written, "rows": rep.rows}
            out["indexing"].append(row)
            print(f"workers={w}: {secs:.1f} s, {row['mb_per_s']} MB/s, {rep.groups_written} groups", file=sys.stderr)
            last = dest
        for name in Q.NAMED:
            best = None
            for _ in range(3):
                t = time.monotonic()
                Q.run(str(last), named=name, params={"slow": 5.0})
                d = time.monotonic() - t
                best = d if best is None else min(best, d)
            out["queries"][name] = round(best * 1000, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{out['files']} files, {out['bytes'] / 1e6:.0f} MB ({Path(out['capture']).name}"
          f"{f', split every {mb} MB' if mb else ', shifted copies'}; --max-group {args.max_group_mb} MB; "
          f"load average before: {out['load']})\n")
    print("| run | seconds | MB/s | groups | cluster start (s) |\n| --- | ---: | ---: | ---: | ---: |")
    for r in out["indexing"]:
        label = f"Dask LocalCluster, {r['workers']} worker(s)" if r["dask"] else "in process (--workers 0)"
        print(f"| {label} | {r['seconds']} | {r['mb_per_s']} | {r['groups']} | {r['cluster_start_s']} |")
    print("\n| named query | ms (best of 3, incl. connect) |\n| --- | ---: |")
    for k, v in out["queries"].items():
        print(f"| {k} | {v} |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
