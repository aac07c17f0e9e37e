#!/usr/bin/env python3
"""Time to first screen and to fully loaded for ``dicomsniff view`` on the benchmark captures (issue 4).

    python bench/tui_load.py [--cache DIR] [--only NAME[,NAME]] [--size 160x50] [--skip-build]

Uses the captures of ``bench/run.py`` (built and cached by its functions in
~/.cache/dicomsniff-bench when missing: that needs root, DCMTK and tcpdump;
``--skip-build`` uses only cached ones). Each capture is opened in a fresh
Python process running the viewer headless (Textual's ``App.run_test()``),
which reports, in seconds from the app's construction:

  first screen   ViewerApp.first_screen_at: the first association is listed
  loaded         ViewerApp.loaded_at: every frame read (progress bar gone)
  diagnosed      ViewerApp.diagnosed_at: diagnosis findings computed (err/warn columns, ! marks)

plus, while loading, the worst event-loop stall seen by a 50 ms ticker and the
slowest key press (``j``/``k`` in the association list): the UI must stay
responsive while the worker reads. Peak RSS is the child's ru_maxrss.
Results print as a table and, with ``--json FILE``, as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_ONLY = "store-1g-mtu1500,store-1g-mtu65536,small-pdus"


def bench_run():
    """bench/run.py as a module (its capture specs and builder), without running it."""
    spec = importlib.util.spec_from_file_location("bench_run", HERE / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def captures(args) -> list[dict]:
    """The cached captures named by --only (built through bench/run.py when missing)."""
    run = bench_run()
    spec_args = argparse.Namespace(size_gb=args.size_gb, small_pdus=args.small_pdus)
    wanted = [w for w in args.only.split(",") if w]
    out = []
    for spec in run.capture_specs(spec_args):
        if wanted and not any(w in spec["name"] for w in wanted):
            continue
        if not args.skip_build and os.geteuid() != 0:
            print(f"{spec['name']}: building needs root; using the cache only", file=sys.stderr)
        meta = run.ensure_capture(spec, args.cache, args.skip_build or os.geteuid() != 0)
        if meta is not None:
            out.append(meta)
    return out


async def measure_one(path: str, port: int, size: tuple[int, int], timeout: float) -> dict:
    """Open ``path`` in the viewer headless; time its first screen, load and diagnosis."""
    sys.path.insert(0, str(REPO))
    from dicomsniff.output.tui.app import ViewerApp
    from dicomsniff.output.tui.keymap import Keys

    app = ViewerApp(path, ports=(port,) if port else (), show_timing=False, keys=Keys())
    stall = 0.0
    key_worst = 0.0
    key_times: list[float] = []
    keys = 0
    async with app.run_test(size=size) as pilot:
        end = time.monotonic() + timeout
        while app.diagnosed_at is None and app.error is None and time.monotonic() < end:
            t = time.monotonic()
            await asyncio.sleep(0.05)
            stall = max(stall, time.monotonic() - t - 0.05)
            if app.first_screen_at is not None and app.loaded_at is None:
                t = time.monotonic()
                await pilot.press("j" if keys % 2 == 0 else "k")
                key_times.append(time.monotonic() - t)
                key_worst = max(key_worst, key_times[-1])
                keys += 1
        s = app.session
        result = {
            "first_screen_s": None if app.first_screen_at is None else round(app.first_screen_at - app.started, 3),
            "loaded_s": None if app.loaded_at is None else round(app.loaded_at - app.started, 3),
            "diagnosed_s": None if app.diagnosed_at is None else round(app.diagnosed_at - app.started, 3),
            "diagnosis_s": None if s.diagnosis is None else round(s.diagnosis.elapsed, 3),
            "frames": app.progress.frames if app.progress else None,
            "associations": len(s.associations),
            "ladder_rows": sum(len(v) for v in s.items.values()),
            "findings": None if s.diagnosis is None else len(s.diagnosis.findings),
            "worst_stall_s": round(stall, 3),
            "worst_key_s": round(key_worst, 3),
            "median_key_s": round(sorted(key_times)[len(key_times) // 2], 3) if key_times else None,
            "keys_pressed_while_loading": keys,
            "error": app.error,
        }
        await pilot.press("q")
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def table(rows: list[dict]) -> str:
    cols = [("capture", "capture", 20), ("MB", "mb", 6), ("first screen s", "first_screen_s", 14),
            ("loaded s", "loaded_s", 9), ("diagnosed s", "diagnosed_s", 11), ("rows", "ladder_rows", 8),
            ("stall s", "worst_stall_s", 8), ("key s", "worst_key_s", 6), ("key med s", "median_key_s", 9), ("RSS MB", "peak_rss_mb", 7)]
    lines = ["  ".join(f"{name:>{w}}" for name, _, w in cols)]
    for r in rows:
        lines.append("  ".join(f"{str(r.get(key, '')):>{w}}" for _, key, w in cols))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "dicomsniff-bench")
    ap.add_argument("--only", default=DEFAULT_ONLY, help=f"captures (or parts of names); default {DEFAULT_ONLY}")
    ap.add_argument("--size-gb", type=float, default=1.0, help="size of the C-STORE captures (default: 1)")
    ap.add_argument("--small-pdus", type=int, default=100_000)
    ap.add_argument("--size", default="160x50", help="terminal size WxH (default 160x50)")
    ap.add_argument("--skip-build", action="store_true", help="use only captures already in the cache")
    ap.add_argument("--timeout", type=float, default=600, help="seconds allowed per capture")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)      # child mode: PATH
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    size = tuple(int(x) for x in args.size.lower().split("x"))
    if args.one:
        print(json.dumps(asyncio.run(measure_one(args.one, args.port, size, args.timeout))))
        return 0
    args.cache = args.cache.expanduser().resolve()
    rows = []
    for meta in captures(args):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--one", meta["file"], "--port",
               str(meta.get("port") or 0), "--size", args.size, "--timeout", str(args.timeout)]
        print(f"{meta['name']}: opening in the viewer ...", file=sys.stderr)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout + 60, cwd=REPO)
        if p.returncode != 0:
            print(p.stderr[-2000:], file=sys.stderr)
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        r.update(capture=meta["name"], mb=round(meta["bytes"] / 1e6))
        rows.append(r)
    print(table(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
