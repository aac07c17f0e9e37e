"""The one place a capture timestamp becomes calendar text; it never raises.

A pcapng interface may claim any ``if_tsoffset`` (±2^63 s) or resolution, and a
packet any 64-bit stamp, so a timestamp can lie far outside what a calendar
(``datetime``: years 1 to 9999) can show. Such a time is shown as raw seconds
since 1970, ``@18446744073.709551615``, everywhere a time is formatted; the
reader says so once per interface (notice ``timestamp-out-of-range``).
"""

from __future__ import annotations

import datetime as _dt

NS = 1_000_000_000
# The instants datetime can show, as ns since 1970 (0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z),
# kept a day inside each end so a local-time conversion cannot step over the edge either.
_FIRST = -62_135_596_800 * NS + 86_400 * NS
_LAST = 253_402_300_800 * NS - 86_400 * NS - 1


def in_calendar(ts_ns: int) -> bool:
    """True when ``ts_ns`` (ns since 1970, UTC) can be shown as a calendar date and time."""
    return _FIRST <= ts_ns <= _LAST


def raw_seconds(ts_ns: int) -> str:
    """``@<seconds since 1970>.<nine digits>``, exact for any integer (negative ones too)."""
    sign = "-" if ts_ns < 0 else ""
    sec, ns = divmod(abs(int(ts_ns)), NS)
    return f"@{sign}{sec}.{ns:09d}"


# The last whole second formatted and its text (a capture's times repeat it): one tuple, rebound whole,
# so a thread that reads it (the viewer's loader and UI both format times) never pairs one second with
# another's text.
_iso_second: tuple = (None, "")


def iso_time(ts_ns: int | None) -> str | None:
    """ISO 8601 UTC with microseconds (``2026-12-02T06:52:13.123456Z``), raw seconds outside the calendar."""
    if ts_ns is None:
        return None
    try:
        if not in_calendar(ts_ns):
            return raw_seconds(ts_ns)
        sec, ns = divmod(ts_ns, NS)
        global _iso_second
        cached = _iso_second
        if cached[0] != sec:
            t = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(seconds=sec)
            cached = _iso_second = (sec, t.replace(tzinfo=None).isoformat(timespec="seconds"))
        return f"{cached[1]}.{ns // 1000:06d}Z"
    except Exception:      # not an integer, or a platform limit: still a string, never an exception
        return _fallback(ts_ns)


def clock_time(ts_ns: int | None) -> str:
    """Local wall-clock time with milliseconds (``08:46:44.491``), raw seconds outside the calendar."""
    if ts_ns is None:
        return "-"
    try:
        if not in_calendar(ts_ns):
            return raw_seconds(ts_ns)
        sec, ns = divmod(ts_ns, NS)
        return _dt.datetime.fromtimestamp(sec).strftime("%H:%M:%S") + f".{ns // 1_000_000:03d}"
    except Exception:      # e.g. localtime() refusing a year on this platform
        return _fallback(ts_ns)


def _fallback(ts_ns) -> str:
    try:
        return raw_seconds(int(ts_ns))
    except Exception:
        return "@?"
