#!/usr/bin/env python3
"""Profile a dicomsniff command with py-spy and list the hot spots (self and total time per function).

    python bench/profile.py [--rate 200] [--top 25] [--out /tmp/dicomsniff-profile] -- summary FILE --port 11112

Writes OUT.txt, py-spy's collapsed stacks (open it in https://www.speedscope.app
or flamegraph.pl), and prints the lists.  ``--from-raw OUT.txt`` re-prints them.
Needs ``pip install py-spy`` (run as root, or with ptrace allowed).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def short(path: str) -> str:
    """dicomsniff/… for our files, the last two parts for the others."""
    i = path.rfind("dicomsniff/")
    if i >= 0 and "site-packages" not in path[:i]:
        return path[i:]
    return "/".join(Path(path).parts[-2:])


def hot_spots(collapsed: Path, top: int) -> str:
    self_t: collections.Counter = collections.Counter()
    total_t: collections.Counter = collections.Counter()
    samples = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        n = int(n)
        samples += n
        frames = []
        for f in stack.split(";"):
            m = FRAME.match(f)
            frames.append(f"{m['func']} ({short(m['file'])})" if m else f)
        if frames:
            self_t[frames[-1]] += n
        for f in set(frames):
            total_t[f] += n
    if not samples:
        return "no samples"
    out = [f"{samples} samples", "", f"{'self %':>7} {'total %':>8}  function (file)"]
    for f, n in self_t.most_common(top):
        out.append(f"{100 * n / samples:7.1f} {100 * total_t[f] / samples:8.1f}  {f}")
    out += ["", "by total time (functions of dicomsniff only):", f"{'total %':>8} {'self %':>7}  function (file)"]
    ours = [(f, n) for f, n in total_t.most_common() if "(dicomsniff/" in f]
    for f, n in ours[:top]:
        out.append(f"{100 * n / samples:8.1f} {100 * self_t[f] / samples:7.1f}  {f}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, default=200, help="samples per second (default: 200)")
    ap.add_argument("--top", type=int, default=25, help="rows in each list (default: 25)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/dicomsniff-profile"), help="output prefix")
    ap.add_argument("--native", action="store_true", help="include native (C) frames")
    ap.add_argument("--from-raw", type=Path, help="only summarise an existing collapsed-stack file")
    ap.add_argument("args", nargs="*", help="dicomsniff arguments, after --")
    a = ap.parse_args(argv)
    if a.from_raw:
        print(hot_spots(a.from_raw, a.top))
        return 0
    if not a.args:
        ap.error("give the dicomsniff arguments after --, e.g. -- summary FILE --port 11112")
    pyspy = shutil.which("py-spy")
    if pyspy is None:
        ap.error("py-spy is not installed: pip install py-spy")
    raw = a.out.with_suffix(".txt")
    cmd = [pyspy, "record", "--rate", str(a.rate), "--format", "raw", "-o", str(raw)]
    if a.native:
        cmd.append("--native")
    cmd += ["--", sys.executable, "-m", "dicomsniff"] + a.args
    print("$", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, timeout=7200)
    print(hot_spots(raw, a.top))
    print(f"\ncollapsed stacks: {raw} (open in https://www.speedscope.app)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
