"""The viewer with 100,000+ ladder rows (only visible rows are built) and live following.

The big capture is synthetic (one association of 25,000 C-ECHO exchanges: 50,000
P-DATA-TF PDUs and 50,000 messages, packed into 60 KB segments so it loads in a
second or two). No timing is asserted: the tests count how many rows the lists build.
"""

from __future__ import annotations

import struct
import sys
import threading
import time
from pathlib import Path

import pytest

from dicomsniff.capture.reader import open_capture
from dicomsniff.output.tui.app import ViewerApp
from dicomsniff.output.tui.keymap import Keys

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capwriter import ETHERNET  # noqa: E402
from dimse_fixtures import Conv, echo_rq, echo_rsp, pcap  # noqa: E402
from pdu_fixtures import assoc_ac, assoc_rq, pdata, release_rp, release_rq  # noqa: E402
from test_tui_app import FakeLive, run_async  # noqa: E402

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
ECHOES = 25_000
MARK = 0x1234


def _with_id(template: bytes, mid: int) -> bytes:
    """The command set ``template`` (built with message ID 0x1234) for message ID ``mid``."""
    i = template.index(struct.pack("<H", MARK))
    return template[:i] + struct.pack("<H", mid) + template[i + 2:]


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory) -> Path:
    """One association of ECHOES C-ECHO exchanges (4 + 4 × ECHOES ladder rows)."""
    rq_t, rsp_t = echo_rq(MARK), echo_rsp(MARK)
    c = Conv(mss=60000)
    c.send(0, assoc_rq("BIGSCU", "BIGSCP"))
    c.send(1, assoc_ac("BIGSCU", "BIGSCP"))
    batch = 400
    for start in range(1, ECHOES + 1, batch):
        ids = range(start, min(start + batch, ECHOES + 1))
        c.send(0, b"".join(pdata([(1, 3, _with_id(rq_t, i % 65536))]) for i in ids))
        c.send(1, b"".join(pdata([(1, 3, _with_id(rsp_t, i % 65536))]) for i in ids))
    c.send(0, release_rq())
    c.send(1, release_rp())
    c.fin()
    path = tmp_path_factory.mktemp("big") / "echo-25000.pcap"
    path.write_bytes(pcap(c))
    return path


async def diagnosed(app, pilot, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while app.diagnosed_at is None and app.error is None:
        assert time.monotonic() < end, "capture was not loaded and diagnosed in time"
        await pilot.pause(0.05)
    await pilot.pause()


def count_rows(lst) -> list[int]:
    """Record every row ``lst`` builds from now on (its row_text calls)."""
    built: list[int] = []
    original = lst.row_text

    def row_text(row):
        built.append(row)
        return original(row)

    lst.row_text = row_text
    return built


@run_async
async def test_100k_ladder_rows_render_only_what_is_visible(big_capture):
    app = ViewerApp(str(big_capture), show_timing=False, keys=Keys())
    async with app.run_test(size=(120, 40)) as pilot:
        await diagnosed(app, pilot)
        ladder = app.ladder
        assert ladder.count == 4 * ECHOES + 4 >= 100_000
        height = ladder.scrollable_content_region.height
        screenful = ladder.size.height            # render_line may be asked for every line of the widget
        built = count_rows(ladder)
        ladder.invalidate()
        await pilot.pause()
        assert 0 < len(built) <= screenful and max(built) <= screenful
        # jump to the end: the last row (A-RELEASE-RP) is selected and on screen
        await pilot.press("tab", "G")
        await pilot.pause()
        assert ladder.cursor == ladder.count - 1
        assert ladder.selected.pdu is not None and ladder.selected.pdu.name == "A-RELEASE-RP"
        lines = [ladder.render_line(y).text for y in range(height)]
        assert "A-RELEASE-RP" in "".join(lines)
        assert int(ladder.scroll_offset.y) >= ladder.count - height
        built.clear()
        ladder.invalidate()
        await pilot.pause()
        assert 0 < len(built) <= screenful and min(built) >= ladder.count - screenful
        # page up twice and back to the top: still only screenfuls are built
        built.clear()
        await pilot.press("pageup", "pageup", "g")
        await pilot.pause()
        assert ladder.cursor == 0
        assert len(built) <= 4 * screenful
        # the fields and bytes of the selected row are decoded on demand
        await pilot.press("G")
        await pilot.pause()
        assert app.hex.source is not None and app.hex.source.length == 10


class SteppedLive(FakeLive):
    """A fake live source (capture.live.LiveSource's interface) that releases frames when told to."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.allowed = 0
        self.sent = 0
        self._cond = threading.Condition()

    def release(self, n: int) -> None:
        with self._cond:
            self.allowed = min(len(self.frames), n)
            self._cond.notify_all()

    def iter_frames(self, stop, idle=False):
        while not (stop.is_set() or self.closed):
            with self._cond:
                if self.sent >= self.allowed:
                    self._cond.wait(0.02)
                    ready = None
                else:
                    ready = self.frames[self.sent]
                    self.sent += 1
            if ready is not None:
                ready.file_offset = None
                yield ready
            else:
                yield None

    def stats(self):
        return (self.sent, 0)

    def close(self):
        super().close()
        with self._cond:
            self._cond.notify_all()


async def _until(pilot, cond, what: str, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await pilot.pause(0.03)


@run_async
async def test_live_follows_newest_unless_scrolled_away():
    live = SteppedLive(CAPTURES / "reject.pcap")
    app = ViewerApp(live=live, keys=Keys())
    async with app.run_test(size=(160, 50)) as pilot:
        s = app.session
        # frame by frame until the first association appears: it is selected
        step = 0
        while len(s.associations) < 1:
            step += 1
            live.release(step)
            await _until(pilot, lambda: app.analyzer.frames >= step, "frames")
        await _until(pilot, lambda: app.assoc_list.count == 1, "first association shown")
        assert app.assoc_list.cursor == 0
        # the second association: the list follows it (cursor on the newest row)
        while len(s.associations) < 2:
            step += 1
            live.release(step)
            await _until(pilot, lambda: app.analyzer.frames >= step, "frames")
        await _until(pilot, lambda: app.assoc_list.count == 2, "second association shown")
        assert app.assoc_list.cursor == 1 and app.assoc_list.selected is s.associations[1]
        assert app.ladder.assoc is s.associations[1]
        # the ladder of the followed association follows its newest rows (A-ASSOCIATE-RQ, then -RJ)
        assert app.ladder.count == 1 and app.ladder.cursor == 0
        while len(s.items_of(s.associations[1])) < 2:
            step += 1
            live.release(step)
            await _until(pilot, lambda: app.analyzer.frames >= step, "frames")
        await _until(pilot, lambda: app.ladder.count == 2, "second ladder row")
        assert app.ladder.cursor == 1 and app.ladder.selected.pdu.name == "A-ASSOCIATE-RJ"
        # the user moves up: the view stays there while the third association arrives
        await pilot.press("up")
        assert app.assoc_list.cursor == 0
        live.release(len(live.frames))
        await _until(pilot, lambda: app.assoc_list.count == 3, "third association shown")
        await pilot.pause(0.3)
        assert app.assoc_list.cursor == 0 and app.ladder.assoc is s.associations[0]
        # back on the last row: following again
        await pilot.press("G")
        assert app.assoc_list.cursor == 2
        await pilot.press("q")
    assert live.closed and app.finished.is_set()


@run_async
async def test_live_diagnosis_refreshes_and_findings_pane_updates():
    live = SteppedLive(CAPTURES / "reject.pcap")
    app = ViewerApp(live=live, keys=Keys())
    async with app.run_test(size=(160, 50)) as pilot:
        live.release(len(live.frames))
        await _until(pilot, lambda: app.assoc_list.count == 3 and app.analyzer.frames == len(live.frames),
                     "all associations")
        app.goto_association(1)
        await pilot.press("f")           # opening the pane asks the loader for a fresh diagnosis
        await _until(pilot, lambda: app.diagnosis is not None and 1 in app.diagnosis.numbers, "live diagnosis")
        await pilot.pause(0.2)
        assert app.diagnosis.final is False
        body = app.screen.body.plain
        assert "1 error" in body and "live" in body
        assert app.assoc_list.diagnosis.count(1) == (1, 0)
        await pilot.press("escape")
        await pilot.press("q")
