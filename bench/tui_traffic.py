#!/usr/bin/env python3
"""What the viewer's bytes-over-time records (the I/O graph, ``dicomsniff/output/tui/traffic.py``) cost the loader.

    python bench/tui_traffic.py CAPTURE [--port N]

Runs the viewer's Loader (no UI) over CAPTURE twice in fresh processes, with the records and with
``Traffic`` made a no-op, and prints load time, the records' size and peak RSS of each.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time
from dicomsniff.capture.reader import open_capture
from dicomsniff.output.tui import traffic
from dicomsniff.output.tui.session import Loader, new_analyzer, new_session
path, off, ports = sys.argv[1], sys.argv[2] == "off", [int(p) for p in sys.argv[3:]]
if off:
    traffic.Traffic.pdu = lambda self, pdu, a: None
    traffic.Traffic.frame = lambda self, n, ts: None
s = new_session("bench", path=path)
t = time.perf_counter()
Loader(s, new_analyzer(ports), lambda p: None).run_file(open_capture(path))
dt = time.perf_counter() - t
tr = s.traffic
size = sum(a.itemsize * len(a) for a in (tr.frame_ts, tr.ts, tr.nbytes, tr.who))
print(json.dumps({"seconds": dt, "records": len(tr), "record_bytes": size,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture")
    ap.add_argument("--port", type=int, action="append", default=[])
    args = ap.parse_args()
    rows = {}
    for mode in ("on", "off"):
        out = subprocess.run([sys.executable, "-c", CHILD, args.capture, mode, *map(str, args.port)],
                             capture_output=True, text=True, check=True)
        rows[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    on, off = rows["on"], rows["off"]
    print(f"{'records':<10} {'load s':>8} {'records MB':>11} {'peak RSS MB':>12}")
    for mode in ("on", "off"):
        r = rows[mode]
        print(f"{mode:<10} {r['seconds']:>8.2f} {r['record_bytes'] / 2**20:>11.1f} {r['rss_mb']:>12.0f}")
    print(f"overhead: {100 * (on['seconds'] / off['seconds'] - 1):+.1f} % load time, "
          f"{on['records']} span records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
