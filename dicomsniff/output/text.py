"""Plain-text views: ``dump`` lines, field trees, times. Every string from traffic is escaped."""

from __future__ import annotations

from ..field import Field
from ..textsafe import safe_text
from ..timefmt import iso_time

__all__ = ["duration_text", "iso_time", "rel_time", "size_text", "tree_lines"]


def rel_time(ts_ns: int, t0_ns: int) -> str:
    """Seconds since the first frame, like Wireshark's default time column."""
    return f"{(ts_ns - t0_ns) / 1e9:.6f}"


def duration_text(ns: int | None) -> str:
    if ns is None:
        return "-"
    if ns < 1_000_000:
        return f"{ns / 1000:.0f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.0f} ms"
    return f"{ns / 1e9:.2f} s"


def size_text(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def tree_lines(root: Field, indent: str = "    ", base: int = 0) -> list[str]:
    """The field tree as indented text lines, with findings as ``[!]`` lines under their field."""
    lines: list[str] = []
    for depth, f in root.walk():
        lines.append(f"{indent * depth}{safe_text(f.text())}")
        for x in f.findings:
            lines.append(f"{indent * (depth + 1)}[{x.severity}] {safe_text(x.message)}")
    return lines
