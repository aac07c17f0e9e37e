"""The viewer's time views: response-time column, statistics screen, throughput plot; columns on small screens.

The statistics are checked against numbers computed here from ``dicomsniff export`` JSON of the same
capture (request end = the time of the PDU that ends in the request's last frame; a response's time is
its ``time``), not against our own timing code.
"""

from __future__ import annotations

import calendar
import json
import math
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from dicomsniff.output.tui.app import ViewerApp
from dicomsniff.output.tui.keymap import Keys

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_tui_app import run_async  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
PENDING = {0xFF00, 0xFF01}


async def diagnosed(app, pilot, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while app.diagnosed_at is None and app.error is None:
        assert time.monotonic() < end, "capture was not loaded and diagnosed in time"
        await pilot.pause(0.03)
    await pilot.pause()


def ns(iso: str) -> int:
    """ISO 8601 UTC with microseconds → integer nanoseconds since the epoch."""
    dt = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ")
    return (calendar.timegm(dt.timetuple()) * 1_000_000 + dt.microsecond) * 1000


def export(path: Path, tmp_path: Path) -> dict:
    out = tmp_path / f"{path.stem}.json"
    r = subprocess.run([sys.executable, "-m", "dicomsniff", "export", str(path), "-o", str(out)],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text())


def json_times(doc: dict) -> list[tuple[str, str, int | None, int | None]]:
    """(service, answering peer, request → first response ns, request → final response ns) per request."""
    out = []
    for a in doc["associations"]:
        frame_time = {}
        for p in a["pdus"]:
            frame_time.setdefault(p["frame"], ns(p["time"]))
        msgs = a["messages"]
        for i, m in enumerate(msgs):
            if not m["command"].endswith("-RQ") or m["message_id"] is None:
                continue
            sent = frame_time[m["frames"][-1]]
            responses = []
            for r in msgs[i + 1:]:
                if r["command"].endswith("-RQ") and r["direction"] == m["direction"] \
                        and r["message_id"] == m["message_id"]:
                    break                                   # the ID is used again: a new exchange
                if r["direction"] != m["direction"] and r["responds_to"] == m["message_id"] \
                        and r["command"].endswith("-RSP") and r["command"][:-4] == m["command"][:-3]:
                    responses.append(r)
                    if r["status"] not in PENDING:
                        break
            answering = "server" if m["direction"] == "client" else "client"
            ae = a["called_ae"] if answering == "server" else a["calling_ae"]
            ep = a[answering]
            peer = f"{(ae or '?').strip()} {ep['ip']}:{ep['port']}"
            first = ns(responses[0]["time"]) - sent if responses else None
            final = next((ns(r["time"]) - sent for r in responses if r["status"] not in PENDING), None)
            out.append((m["command"][:-3], peer, first, final))
    return out


def stats_lines(values: list[int]) -> str:
    """count, min, median, p95 (nearest rank), max in ms with 3 decimals, as the screen prints them."""
    s = sorted(values)
    n = len(s)
    med = float(s[n // 2]) if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    p95 = s[max(1, math.ceil(0.95 * n)) - 1]
    cells = [f"{n:>6}"] + [f"{v / 1e6:.3f}".rjust(10) for v in (s[0], med, p95, s[-1])]
    return "".join(cells)


@pytest.mark.parametrize("name", ["viewer_repeats.pcap", "pynetdicom.pcap", "move.pcap", "diag_more.pcap"])
@run_async
async def test_statistics_screen_equals_numbers_from_the_json_export(name, tmp_path):
    path = CAPTURES / name
    rows = json_times(export(path, tmp_path))
    assert rows
    app = ViewerApp(str(path), show_timing=False, keys=Keys())
    async with app.run_test(size=(120, 50)) as pilot:
        await diagnosed(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        assert app.screen.kind == "statistics"
        body = app.screen.body.plain
        final_part, first_part = body.split("Request → first response")
        for which, part in ((3, final_part), (2, first_part)):
            services = sorted({r[0] for r in rows})
            for svc in services:
                values = [r[which] for r in rows if r[0] == svc and r[which] is not None]
                line = f"  {svc:<20}" + stats_lines(values)
                assert line in part, (svc, line, part)
            for peer in sorted({r[1] for r in rows}):
                assert f"  {peer}\n" in part
                for svc in sorted({r[0] for r in rows if r[1] == peer}):
                    values = [r[which] for r in rows if r[1] == peer and r[0] == svc and r[which] is not None]
                    line = f"    {svc:<18}" + stats_lines(values)
                    assert line in part.split(f"  {peer}\n", 1)[1], (peer, svc, line)
        # a: the selected association only, and back
        await pilot.press("a")
        assert f"association #{app.assoc_list.selected.number}" in app.screen.body.plain
        await pilot.press("s")
        assert app.screen is app.screen_stack[0]


@run_async
async def test_viewer_repeats_statistics_reflect_the_scp_delays(tmp_path):
    """The SCP slept 10…50 ms before each C-ECHO response: min ≥ 10 ms, max ≥ 50 ms, 5 of them."""
    rows = [r for r in json_times(export(CAPTURES / "viewer_repeats.pcap", tmp_path)) if r[0] == "C-ECHO"]
    finals = sorted(r[3] for r in rows)
    assert len(finals) == 5 and finals[0] >= 10_000_000 and finals[-1] >= 50_000_000
    assert all(b > a for a, b in zip(finals, finals[1:]))


def short(ns_: int) -> str:
    if ns_ < 1_000_000:
        return f"{ns_ / 1000:.0f}µs"
    if ns_ < 100_000_000:
        return f"{ns_ / 1e6:.1f}ms"
    if ns_ < 1_000_000_000:
        return f"{ns_ / 1e6:.0f}ms"
    return f"{ns_ / 1e9:.2f}s"


@run_async
async def test_ladder_response_time_column(tmp_path):
    """pynetdicom.pcap: each request row shows first…final (C-FIND, C-GET) or its time; responses +time since."""
    rows = json_times(export(CAPTURES / "pynetdicom.pcap", tmp_path))
    app = ViewerApp(str(CAPTURES / "pynetdicom.pcap"), show_timing=False, keys=Keys())
    async with app.run_test(size=(160, 50)) as pilot:
        await diagnosed(app, pilot)
        assert "resp. time" in app.ladder.header_text().plain
        requests = [(i, it) for i, it in enumerate(app.ladder.items)
                    if it.message is not None and it.message.name.endswith("-RQ")]
        assert len(requests) == len(rows)
        for (i, it), (svc, _peer, first, final) in zip(requests, rows):
            text = app.ladder.row_text(i).plain
            assert it.message.name.startswith(svc)
            want = short(final) if first == final else f"{short(first)}…{short(final)}"
            assert f" {want} " in text, (svc, want, text)
        # the C-FIND's two pending responses and its final one: +time since the request
        find = next(it for _i, it in requests if it.message.name == "C-FIND-RQ")
        rsp_rows = [app.ladder.row_text(i).plain for i, it in enumerate(app.ladder.items)
                    if it.message is not None and it.exchange is find.exchange and it.message is not find.message]
        assert len(rsp_rows) == 3 and all(" +" in r for r in rsp_rows)


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
@run_async
async def test_small_screens_keep_outcome_errors_and_status(size):
    """Columns with priorities: at 80×24 and 100×30 outcome, err, warn and the status meaning stay."""
    app = ViewerApp(str(CAPTURES / "pynetdicom.pcap"), show_timing=False, keys=Keys())
    async with app.run_test(size=size) as pilot:
        await diagnosed(app, pilot)
        head = app.assoc_list.header_text().plain
        for col in ("#", "calling → called AE", "outcome", "err", "warn"):
            assert col in head, (col, head)
        row = app.assoc_list.row_text(0).plain
        assert "released" in row and "PYNETSCU" in row
        assert app.assoc_list.row_text(0).cell_len <= app.assoc_list.scrollable_content_region.width
        lhead = app.ladder.header_text().plain
        assert "status" in lhead and "resp. time" in lhead and "message" in lhead
        failed = next(i for i, it in enumerate(app.ladder.items)
                      if it.message is not None and it.message.command.status == 0xA700)
        text = app.ladder.row_text(failed).plain
        assert "0xA700" in text and "Failure" in text and text.startswith("!")
        if size[0] == 80:
            assert "client → server" not in head            # the least important went first


@run_async
async def test_maximise_key_toggles_the_focused_pane():
    app = ViewerApp(str(CAPTURES / "pynetdicom.pcap"), show_timing=False, keys=Keys())
    async with app.run_test(size=(80, 24)) as pilot:
        await diagnosed(app, pilot)
        await pilot.press("tab")
        assert app.focused is app.ladder
        await pilot.press("z")
        assert app.screen.maximized is app.ladder
        assert app.ladder.size.height > 15
        await pilot.press("z")
        assert app.screen.maximized is None


@run_async
async def test_io_graph_shows_bytes_of_both_directions(tmp_path):
    """The plot's series sum to the PDU bytes per direction of the JSON export, for the capture and one association."""
    doc = export(CAPTURES / "move.pcap", tmp_path)
    up = sum(p["length"] + 6 for a in doc["associations"] for p in a["pdus"] if p["direction"] == "client")
    down = sum(p["length"] + 6 for a in doc["associations"] for p in a["pdus"] if p["direction"] == "server")
    first = doc["associations"][0]
    up1 = sum(p["length"] + 6 for p in first["pdus"] if p["direction"] == "client")
    app = ViewerApp(str(CAPTURES / "move.pcap"), show_timing=False, keys=Keys())
    async with app.run_test(size=(100, 30)) as pilot:
        await diagnosed(app, pilot)
        await pilot.press("i")
        await pilot.pause()
        screen = app.screen
        assert screen.kind == "io_graph"
        x, s_up, s_down = screen.series
        assert sum(s_up) == up and sum(s_down) == down and len(x) > 10
        assert len(screen.spans()) == len(doc["associations"])
        from textual_plotext import PlotextPlot
        plot = screen.query_one(PlotextPlot)
        assert "client → server" in plot.render().plain
        await pilot.press("a")                 # the selected association (#1) only
        assert sum(screen.series[1]) == up1 and len(screen.spans()) == 1
        await pilot.press("minus")
        await pilot.press("escape")
        assert app.screen is app.screen_stack[0]


def test_plot_library_is_imported_only_when_the_graph_opens():
    code = ("import sys\nimport dicomsniff.output.tui.app\n"
            "print(any(m in sys.modules for m in ('textual_plotext', 'plotext')))\n"
            "import dicomsniff.output.tui.plot\n"
            "print('textual_plotext' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


@run_async
async def test_show_all_dims_the_associations_the_filter_does_not_match():
    """reject.pcap, filter on one called AE: hidden by default; m shows all three, the other two dimmed."""
    app = ViewerApp(str(CAPTURES / "reject.pcap"), show_timing=False, keys=Keys())
    async with app.run_test(size=(120, 40)) as pilot:
        await diagnosed(app, pilot)
        assert app.apply_filter('called == "WRONGAE"')
        await pilot.pause()
        assert [a.called_ae.strip() for a in app.assoc_list.shown] == ["WRONGAE"]
        status = "".join(seg.text for seg in app.query_one("#status").render_line(0))
        assert "1 shown; m: show all" in status
        await pilot.press("m")
        await pilot.pause()
        lst = app.assoc_list
        assert len(lst.shown) == 3
        for i, a in enumerate(lst.shown):
            dim = any("dim" in str(span.style) for span in lst.row_text(i).spans if span.start == 0)
            assert dim == (a.called_ae.strip() != "WRONGAE"), (a.number, a.called_ae)
        status = "".join(seg.text for seg in app.query_one("#status").render_line(0))
        assert "all shown, others dim; m: matching only" in status
