#!/usr/bin/env python3
"""Python calls per packet of ``dicomsniff summary``, by module (issue 18, item 2).

    python bench/calls_per_packet.py [CAPTURE] [--mb N] [--top N]

Runs ``summary`` in this process under cProfile and divides every function's call count
(builtins included, charged to the module that called them) by the number of frames read.
CAPTURE defaults to the C-STORE MTU-1500 capture ``bench/run.py`` builds
(``~/.cache/dicomsniff-bench/store-*-mtu1500.pcap``); ``--mb`` profiles only its first N MB
(a copy cut at a record boundary), since cProfile slows the run several times.
The "below TCP" line is the capture layer: ``capture/reader.py``, ``packet.py``, ``frame.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/profile.py would shadow the standard library's profile module that cProfile imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import cProfile  # noqa: E402
import glob  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import struct  # noqa: E402
import tempfile  # noqa: E402
from collections import Counter  # noqa: E402

BELOW_TCP = ("dicomsniff/capture/reader.py", "dicomsniff/capture/packet.py", "dicomsniff/capture/frame.py")


def default_capture() -> str | None:
    found = sorted(glob.glob(os.path.expanduser("~/.cache/dicomsniff-bench/store-*-mtu1500.pcap")),
                   key=os.path.getsize)
    return found[0] if found else None


def head_copy(src: str, mb: float) -> str:
    """The first ``mb`` MB of a little-endian microsecond pcap, cut at a record boundary."""
    limit = int(mb * 1e6)
    out = tempfile.NamedTemporaryFile(prefix="calls-", suffix=".pcap", delete=False)
    with open(src, "rb") as f, out:
        head = f.read(24)
        if struct.unpack("<I", head[:4])[0] not in (0xA1B2C3D4, 0xA1B23C4D):
            raise SystemExit(f"{src}: --mb needs a little-endian pcap")
        out.write(head)
        size = 24
        while size < limit:
            rec = f.read(16)
            if len(rec) < 16:
                break
            caplen = struct.unpack_from("<I", rec, 8)[0]
            data = f.read(caplen)
            out.write(rec + data)
            size += 16 + caplen
    return out.name


def module_of(filename: str) -> str:
    if filename.startswith("~") or filename in ("", "<string>"):
        return "(builtin)"                      # C functions; dataclass-generated __init__s
    p = Path(filename)
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        parts = p.parts
        if "site-packages" in parts:
            i = len(parts) - 1 - parts[::-1].index("site-packages")
            return "/".join(parts[i + 1:i + 2]) or filename
        return "stdlib " + p.name if p.suffix == ".py" else filename


def profile(capture: str) -> tuple[Counter, int]:
    from dicomsniff import reading
    from dicomsniff.cli import main

    frames = []
    real_open = reading.open_capture

    def counting_open(*a, **kw):              # remember the reader, to read its frame count after
        r = real_open(*a, **kw)
        frames.append(r)
        return r

    reading.open_capture = counting_open
    prof = cProfile.Profile()
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        prof.enable()
        try:
            main(["summary", capture], standalone_mode=False)
        finally:
            prof.disable()
    reading.open_capture = real_open
    st = pstats.Stats(prof, stream=io.StringIO())
    by_module: Counter = Counter()
    for (filename, _line, _name), (_cc, nc, _tt, _ct, callers) in st.stats.items():
        mod = module_of(filename)
        if mod == "(builtin)" and callers:      # counted for the module that called it
            for (cfile, _l, _n), cstat in callers.items():
                by_module[module_of(cfile)] += cstat[1]
        else:
            by_module[mod] += nc
    n = sum(r.frames for r in frames)
    return by_module, n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture", nargs="?", default=None)
    ap.add_argument("--mb", type=float, default=40.0, help="profile only the first N MB (0: all)")
    ap.add_argument("--top", type=int, default=16)
    args = ap.parse_args(argv)
    capture = args.capture or default_capture()
    if capture is None:
        raise SystemExit("no capture given and none in ~/.cache/dicomsniff-bench (python bench/run.py --build-only)")
    path = head_copy(capture, args.mb) if args.mb else capture
    try:
        by_module, frames = profile(path)
    finally:
        if path != capture:
            os.unlink(path)
    total = sum(by_module.values())
    below = sum(by_module[m] for m in BELOW_TCP)
    print(f"{capture}{f' (first {args.mb:g} MB)' if args.mb else ''}: {frames} frames, "
          f"{total} calls, {total / max(frames, 1):.1f} per frame")
    print(f"below TCP (capture/reader, packet, frame): {below / max(frames, 1):.2f} per frame")
    for mod, n in by_module.most_common(args.top):
        print(f"  {n / max(frames, 1):7.2f}  {mod}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
