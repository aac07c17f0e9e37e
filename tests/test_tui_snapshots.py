"""SVG snapshots of ``dicomsniff view`` (pytest-textual-snapshot) at 80×24 and 160×50.

Snapshots live in ``tests/__snapshots__/test_tui_snapshots/``. After an intended change of
the display, look at the new screens and accept them with::

    python -m pytest tests/test_tui_snapshots.py --snapshot-update

The screens are deterministic: no timing in the status line (``show_timing=False``), no
clock, the default keys whatever ``~/.config/dicomsniff/keys.toml`` says, and the
screenshot is taken once the capture is loaded and diagnosed. Pins (pyproject ``test``
extra): pytest-textual-snapshot 1.0.0 with syrupy 5.1.0 works under pytest 9, whereas
1.1.0 pins syrupy 4.8.0, which does not.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("pytest_textual_snapshot")

from pytest_textual_snapshot import SVGImageExtension  # noqa: E402

from dicomsniff.output.tui.app import ViewerApp  # noqa: E402
from dicomsniff.output.tui.keymap import Keys  # noqa: E402

# pytest-textual-snapshot 1.0.0 names its extension through syrupy 4's ``_file_extension``;
# syrupy 5 reads ``file_extension``, and would store the screens as ``.raw``.
SVGImageExtension.file_extension = "svg"

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def viewer(name: str) -> ViewerApp:
    return ViewerApp(str(CAPTURES / name), show_timing=False, keys=Keys())


async def diagnosed(pilot, timeout: float = 20.0) -> None:
    """Wait until the capture is loaded and diagnosed, so every screen shows its final state."""
    app = pilot.app
    end = time.monotonic() + timeout
    while app.diagnosed_at is None and app.error is None:
        assert time.monotonic() < end, "capture was not loaded and diagnosed in time"
        await pilot.pause(0.05)
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
def test_pynetdicom(snap_compare, size):
    """A released association with a failed C-STORE: err column, ! marks in the ladder."""
    assert snap_compare(viewer("pynetdicom.pcap"), terminal_size=size, run_before=diagnosed)


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
def test_reject(snap_compare, size):
    """Three rejected associations."""
    assert snap_compare(viewer("reject.pcap"), terminal_size=size, run_before=diagnosed)


def test_pynetdicom_failed_store_fields(snap_compare):
    """The failing C-STORE-RSP selected (marked !): its Status field highlighted in the hex pane."""
    async def run_before(pilot):
        await diagnosed(pilot)
        app = pilot.app
        await pilot.press("tab")
        row = next(i for i, item in enumerate(app.ladder.items)
                   if item.message is not None and item.message.command.status == 0xA700)
        app.ladder.select(row)
        await pilot.pause()

    assert snap_compare(viewer("pynetdicom.pcap"), terminal_size=(160, 50), run_before=run_before)


def test_findings_pane(snap_compare):
    """The findings pane (f) of the diagnosis."""
    async def run_before(pilot):
        await diagnosed(pilot)
        await pilot.press("f")
        await pilot.pause()

    assert snap_compare(viewer("pynetdicom.pcap"), terminal_size=(160, 50), run_before=run_before)


# -- viewer 2 (issue 14 items 4-7): columns by priority, findings pane, statistics, bytes as framed, I/O graph --

SIZES = [(80, 24), (100, 30), (160, 50)]
SIZE_IDS = ["80x24", "100x30", "160x50"]


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_move_tree_and_response_times(snap_compare, size):
    """move.pcap: the sub-association under its C-MOVE; the ladder's response-time column; columns by priority."""
    async def run_before(pilot):
        await diagnosed(pilot)
        await pilot.press("tab")
        await pilot.pause()

    assert snap_compare(viewer("move.pcap"), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_findings_list(snap_compare, size):
    """viewer_repeats.pcap: the findings pane, three 0xA700 refusals as one row ×3, its hint and frames."""
    async def run_before(pilot):
        await diagnosed(pilot)
        await pilot.press("f")
        await pilot.pause()

    assert snap_compare(viewer("viewer_repeats.pcap"), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_statistics(snap_compare, size):
    """pynetdicom.pcap: service response time per service and per answering peer."""
    async def run_before(pilot):
        await diagnosed(pilot)
        await pilot.press("s")
        await pilot.pause()

    assert snap_compare(viewer("pynetdicom.pcap"), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(100, 30), (160, 50)], ids=["100x30", "160x50"])
def test_hex_frames_and_pdvs(snap_compare, size):
    """close_scp_killed.pcap: the data set's bytes maximised, frame (▸) and PDV (•) starts, the cursor's frame."""
    async def run_before(pilot):
        await diagnosed(pilot)
        app = pilot.app
        await pilot.press("tab")
        row = next(i for i, it in enumerate(app.ladder.items)
                   if it.message is not None and it.message.name == "C-STORE-RQ")
        app.ladder.select(row)
        await pilot.pause()
        app._show_unit("data")
        app.hex.focus()
        await pilot.press("z")
        app.hex._set_cursor(app.hex.frame_marks[1] - 40)
        await pilot.pause()

    assert snap_compare(viewer("close_scp_killed.pcap"), terminal_size=size, run_before=run_before)


def test_io_graph(snap_compare):
    """move.pcap: bytes per 10 ms both ways, association spans marked."""
    async def run_before(pilot):
        await diagnosed(pilot)
        await pilot.press("i")
        await pilot.pause()

    assert snap_compare(viewer("move.pcap"), terminal_size=(100, 30), run_before=run_before)
