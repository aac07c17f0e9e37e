#!/usr/bin/env python3
"""Start-up time of dicomsniff commands (issue 18, item 3).

    python bench/startup.py [--runs N] [--root DIR] [--top N]

Best of N wall times of ``python -m dicomsniff --version`` and ``summary captures/echo.pcap``
(with this interpreter, not a pyenv shim), beside ``python -c pass``; then the top
``-X importtime`` offenders of each command (cumulative microseconds of the first run's
outermost imports, and the largest self times). ``--root`` measures another checkout (e.g. an
older commit unpacked with ``git archive``), for before/after figures.

Byte code is cached (in a temporary ``PYTHONPYCACHEPREFIX``, after one warm-up run), as after
``pip install``, even where the environment sets ``PYTHONDONTWRITEBYTECODE``; ``--no-bytecode``
measures with every module compiled from source at each start instead.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "dicomsniff --version": ["-m", "dicomsniff", "--version"],
    "dicomsniff summary captures/echo.pcap": ["-m", "dicomsniff", "summary", "captures/echo.pcap"],
}


ENV: dict[str, str] = {}


def best_of(argv: list[str], runs: int, cwd: Path) -> float:
    env = dict(ENV, PYTHONPATH=str(cwd))
    subprocess.run([sys.executable, *argv], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)        # warm-up: byte code, page cache
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, *argv], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True, timeout=60)
        best = min(best, time.perf_counter() - t)
    return best


def import_times(argv: list[str], cwd: Path) -> list[tuple[int, int, str]]:
    """(self µs, cumulative µs, indented module name) of every import ``-X importtime`` reports."""
    env = dict(ENV, PYTHONPATH=str(cwd))
    out = subprocess.run([sys.executable, "-X", "importtime", *argv], cwd=cwd, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True, timeout=60)
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|", 2)
        rows.append((int(self_us), int(cum_us), name[1:].rstrip()))    # nesting: two spaces a level
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout to measure (default: this one)")
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--no-bytecode", action="store_true", help="compile every module at every start")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    ENV.update(os.environ)
    if args.no_bytecode:
        ENV["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        ENV.pop("PYTHONDONTWRITEBYTECODE", None)
        ENV["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="startup-pyc-")
    print(f"{root}: best of {args.runs} runs, {sys.executable}, "
          f"{'no byte code cache' if args.no_bytecode else 'byte code cached'}, load {os.getloadavg()[0]:.2f}")
    for label, cmd in COMMANDS.items():
        print(f"  {best_of(cmd, args.runs, root) * 1000:6.0f} ms  {label}")
    for label, cmd in list(COMMANDS.items())[1:]:
        rows = import_times(cmd, root)
        heavy = [m for m in ("pydicom", "numpy", "textual", "rich", "click", "dpkt")
                 if any(name.strip() == m for _, _, name in rows)]
        print(f"\n{label}: {len(rows)} modules imported, {sum(s for s, _, _ in rows) / 1000:.0f} ms in imports; "
              f"packages: {', '.join(heavy) or '-'}")
        print("  top-level imports by cumulative time:")
        tops = [r for r in rows if not r[2].startswith("  ")]
        for _s, cum, name in sorted(tops, reverse=True, key=lambda r: r[1])[:args.top]:
            print(f"    {cum / 1000:6.1f} ms  {name.strip()}")
        print("  largest self times:")
        for s, _cum, name in sorted(rows, reverse=True)[:args.top]:
            print(f"    {s / 1000:6.1f} ms  {name.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
