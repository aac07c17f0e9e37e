"""Timestamps no calendar can show (wild if_tsoffset / if_tsresol, a packet stamped 2^64-1): every
command still ends normally, times outside years 1-9999 read as raw seconds ``@S.NNNNNNNNN``, and the
reader says so once per interface (``timestamp-out-of-range``)."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capwriter import ETHERNET, NS, block, idb, shb  # noqa: E402
from dimse_fixtures import Conv, echo_rq, echo_rsp  # noqa: E402
from pdu_fixtures import COMMAND, LAST, assoc_ac, assoc_rq, pdata, release_rp, release_rq  # noqa: E402

from dicomsniff.capture.reader import open_capture  # noqa: E402
from dicomsniff.cli import main  # noqa: E402
from dicomsniff.timefmt import clock_time, in_calendar, iso_time, raw_seconds  # noqa: E402

U64 = (1 << 64) - 1
ISO = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"
RAW = r"^@-?\d+\.\d{9}$"


def echo_frames() -> list[bytes]:
    c = Conv()
    c.send(0, assoc_rq("ECHOSCU", "ANY-SCP"))
    c.send(1, assoc_ac("ECHOSCU", "ANY-SCP"))
    c.send(0, pdata([(1, COMMAND | LAST, echo_rq(1))]))
    c.send(1, pdata([(1, COMMAND | LAST, echo_rsp(1))]))
    c.send(0, release_rq())
    c.send(1, release_rp())
    c.fin()
    return c.frames


def epb_units(iface: int, units: int, data: bytes) -> bytes:
    """An Enhanced Packet Block with a raw 64-bit timestamp."""
    return block(6, struct.pack("<IIIII", iface, units >> 32, units & 0xFFFFFFFF, len(data), len(data)) + data)


def pcapng_echo(tsresol: int = 6, tsoffset: int = 0, units=None) -> bytes:
    """An echo association on one interface; ``units(i)`` is frame i's raw timestamp (default: 1 ms steps)."""
    base = 1_700_000_000 * 10 ** 6
    out = [shb(), idb(ETHERNET, tsresol=tsresol, tsoffset=tsoffset)]
    for i, f in enumerate(echo_frames()):
        out.append(epb_units(0, base + 1000 * i if units is None else units(i), f))
    return b"".join(out)


# (if_tsresol byte, if_tsoffset s, raw units of frame i, is a frame outside the calendar)
CASES = {
    "offset+2^40": (6, 1 << 40, None, True),
    "offset-2^40": (6, -(1 << 40), None, True),
    "resol-2^-63": (0x80 | 63, 0, None, False),
    "resol-10^-30": (30, 0, None, False),
    "resol-1s-huge": (0, 0, lambda i: U64 - i, True),
    "resol-2^-127": (0xFF, 0, lambda i: U64 - i, False),
    "one-packet-2^64-1": (6, 0, lambda i: U64 if i == 3 else 1_700_000_000 * 10 ** 6 + 1000 * i, True),
    "offset-min": (6, -(1 << 63), None, True),
}


@pytest.fixture(params=sorted(CASES))
def odd_capture(request, tmp_path):
    resol, offset, units, outside = CASES[request.param]
    path = tmp_path / f"{request.param}.pcapng"
    path.write_bytes(pcapng_echo(resol, offset, units))
    return path, outside


def odd_notices(path) -> list:
    with open_capture(str(path)) as r:
        frames = list(r)
        return frames, [n for n in r.notices if n.finding.code == "timestamp-out-of-range"]


def test_helper_formats_any_integer_without_raising():
    assert iso_time(0) == "1970-01-01T00:00:00.000000Z"
    assert iso_time(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456Z"
    assert iso_time(-1) == "1969-12-31T23:59:59.999999Z"
    assert iso_time(U64 * 1000) == "@18446744073709.551615000"
    assert iso_time(-(1 << 40) * NS) == "@-1099511627776.000000000"
    assert raw_seconds(U64) == "@18446744073.709551615"
    assert iso_time(None) is None
    assert clock_time(10 ** 40).startswith("@10000000000000000000000000000000")
    assert not in_calendar(253_402_300_800 * NS) and in_calendar(253_402_300_800 * NS - 2 * 86_400 * NS)
    assert not in_calendar(-62_135_596_800 * NS) and in_calendar(-62_135_596_800 * NS + 2 * 86_400 * NS)


def test_reader_reports_once_per_interface(odd_capture):
    path, outside = odd_capture
    frames, notes = odd_notices(path)
    assert len(frames) == len(echo_frames())
    if not outside:
        assert notes == []
        return
    assert len(notes) == 1
    n = notes[0]
    assert n.severity == "warning" and n.where == "capture"
    first = next(f for f in frames if not in_calendar(f.ts_ns))
    assert n.frame == first.number
    assert f"frame {first.number}: timestamp {raw_seconds(first.ts_ns)[1:]} s since 1970" in n.message
    assert "raw seconds" in n.message


def test_two_interfaces_two_sections_each_reported_once(tmp_path):
    f = echo_frames()
    data = (shb() + idb(ETHERNET, tsoffset=1 << 40) + idb(ETHERNET)
            + b"".join(epb_units(i % 2, 1000 * i, x) for i, x in enumerate(f))
            + shb() + idb(ETHERNET, tsoffset=-(1 << 40)) + b"".join(epb_units(0, 1000 * i, x) for i, x in enumerate(f)))
    path = tmp_path / "two.pcapng"
    path.write_bytes(data)
    _, notes = odd_notices(path)
    assert [n.frame for n in notes] == [1, len(f) + 1]
    assert ["(interface 0)" in n.message for n in notes] == [True, True]


def run(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert "internal error" not in r.output and "Traceback" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r


def test_every_command_ends_normally(odd_capture, tmp_path):
    path, outside = odd_capture
    r = run("dump", path)
    assert r.exit_code == 0 and "P-DATA-TF" in r.output
    assert ("outside the calendar" in r.output) == outside
    r = run("summary", path)
    assert r.exit_code == 0 and "ECHOSCU" in r.output
    r = run("diagnose", path, "--json")
    found = json.loads(r.output)["findings"]
    codes = [f["code"] for f in found]
    assert ("timestamp-out-of-range" in codes) == outside
    for f in found:
        if f["code"] == "timestamp-out-of-range":      # one line, a hint about clocks, not "the file is damaged"
            assert f["severity"] == "warning" and "clock" in f["hint"] and "damaged" not in f["hint"]
    assert r.exit_code == (1 if outside else 0)

    out = tmp_path / "out.json"
    r = run("export", path, "-o", out)
    assert r.exit_code == 0
    doc = json.loads(out.read_text())
    times = [m["time"] for a in doc["associations"] for m in a["messages"] + a["pdus"]]
    times += [t for a in doc["associations"] for t in (a["start"], a["end"])]
    assert times and all(isinstance(t, str) for t in times)
    import re
    raw = [t for t in times if re.match(RAW, t)]
    assert all(re.match(ISO, t) or re.match(RAW, t) for t in times)
    assert bool(raw) == outside
    assert ("timestamp-out-of-range" in [f["code"] for f in doc["findings"]]) == outside

    r = run("export", path, "-o", "-", "--jsonl")
    assert r.exit_code == 0
    records = [json.loads(line) for line in r.output.splitlines()]
    assert records[-1]["record"] == "end"
    assert ("timestamp-out-of-range" in [x.get("code") for x in records]) == outside


def test_schema_accepts_raw_seconds(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(__file__).resolve().parent.parent / "dicomsniff/schema/session-v1.json").read_text())
    path = tmp_path / "x.pcapng"
    path.write_bytes(pcapng_echo(6, 1 << 40))
    out = tmp_path / "x.json"
    assert run("export", path, "-o", out).exit_code == 0
    jsonschema.validate(json.loads(out.read_text()), schema)


def test_viewer_export_key_on_odd_times(tmp_path, monkeypatch):
    """Pressing ``e`` in the viewer writes the association with raw-second times instead of dying."""
    import asyncio

    from dicomsniff.output.tui.app import ViewerApp
    path = tmp_path / "odd.pcapng"
    path.write_bytes(pcapng_echo(0, 0, lambda i: U64 - i))
    monkeypatch.chdir(tmp_path)

    async def go():
        app = ViewerApp(str(path), show_timing=False)
        async with app.run_test(size=(160, 50)) as pilot:
            import time
            end = time.monotonic() + 10
            while not (app.progress is not None and app.progress.done) and app.error is None:
                assert time.monotonic() < end
                await pilot.pause(0.02)
            await pilot.pause()
            await pilot.press("e")
            await pilot.pause()
        return app

    app = asyncio.run(go())
    assert app.error is None
    written = list(tmp_path.glob("dicomsniff-association-1-*.json"))
    assert len(written) == 1
    a = json.loads(written[0].read_text())
    assert a["start"].startswith("@1844674407370955") and a["calling_ae"] == "ECHOSCU"


def test_iso_time_agrees_with_datetime_across_the_calendar_and_within_a_second():
    """iso_time formats each whole second once (a capture's times repeat it): the text must stay
    datetime's isoformat for any instant, across second boundaries, years below 1000 and negative times."""
    import datetime as dt
    import random

    from dicomsniff.timefmt import NS, _FIRST, _LAST

    def reference(ts):
        sec, ns = divmod(ts, NS)
        t = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=sec, microseconds=ns // 1000)
        return t.isoformat(timespec="microseconds").replace("+00:00", "Z")

    r = random.Random(18)
    stamps = [r.randint(_FIRST, _LAST) for _ in range(2000)]
    stamps += [1_700_000_000 * NS + r.randint(-3 * NS, 3 * NS) for _ in range(2000)]
    stamps += [_FIRST, _LAST, 0, -1, -NS, -NS - 1, NS - 1, NS, -62_000_000_000 * NS]
    for ts in stamps:
        assert iso_time(ts) == reference(ts), ts
