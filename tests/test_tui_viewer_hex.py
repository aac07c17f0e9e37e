"""The hex pane as bytes were framed: frame and PDV starts marked, the frame of a byte named, a byte cursor,
``x`` between the frame's own bytes and the reassembled ones (re-read from the capture file)."""

from __future__ import annotations

import struct
import sys
import time
from pathlib import Path

from dicomsniff.capture.reader import open_capture
from dicomsniff.output.tui.app import ViewerApp
from dicomsniff.output.tui.keymap import Keys

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_tui_app import run_async  # noqa: E402

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


async def diagnosed(app, pilot, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while app.diagnosed_at is None and app.error is None:
        assert time.monotonic() < end, "capture was not loaded and diagnosed in time"
        await pilot.pause(0.03)
    await pilot.pause()


def frames_of(path: Path) -> dict[int, bytes]:
    reader = open_capture(str(path))
    try:
        return {f.number: bytes(f.data) for f in reader}
    finally:
        reader.close()


async def open_data_set(app, pilot, name: str = "C-STORE-RQ"):
    await pilot.press("tab")
    row = next(i for i, it in enumerate(app.ladder.items) if it.message is not None and it.message.name == name)
    app.ladder.select(row)
    await pilot.pause()
    app._show_unit("data")
    app.hex.focus()
    await pilot.pause()
    return app.ladder.items[row].message


@run_async
async def test_frames_and_pdvs_of_a_reassembled_data_set_are_marked():
    """close_scp_killed.pcap: a 125 KB data set over 4 frames and several PDVs."""
    path = CAPTURES / "close_scp_killed.pcap"
    raw = frames_of(path)
    app = ViewerApp(str(path), show_timing=False, keys=Keys())
    async with app.run_test(size=(160, 50)) as pilot:
        await diagnosed(app, pilot)
        m = await open_data_set(app, pilot)
        hexp = app.hex
        spans = m.data_spans.spans
        # a frame mark where each frame's bytes begin, and only there
        want = [s.unit_offset for i, s in enumerate(spans) if i == 0 or s.frame != spans[i - 1].frame]
        assert hexp.frame_marks == want and len(want) == len(m.data_spans.frames) >= 4
        # each PDV mark: in the frame as captured, the 6 bytes before it are a PDV item header
        # (4-byte length, the message's context, control header: data), PS3.8 §9.3.5.1
        assert len(hexp.pdv_marks) >= 2
        for mark in hexp.pdv_marks:
            frame, fo = hexp.frame_offset_of(mark.offset)
            length, ctx, control = struct.unpack(">IBB", raw[frame][fo - 6:fo])
            assert ctx == m.context_id and not control & 1 and length >= 2
            assert mark.context_id == ctx and not mark.command
        # the gutter and the top line
        second = want[1]
        assert "▸" in hexp.line_text(second // 16).plain
        hexp._set_cursor(second)
        await pilot.pause()
        top = "".join(seg.text for seg in hexp.render_line(0))
        s = next(s for s in spans if s.unit_offset == second)
        assert f"offset {second} " in top and f"frame {s.frame}, byte {s.frame_offset} of it" in top
        assert hexp.pdv_at(second).text() in top


@run_async
async def test_cursor_keys_and_frame_switch():
    path = CAPTURES / "close_scp_killed.pcap"
    raw = frames_of(path)
    app = ViewerApp(str(path), show_timing=False, keys=Keys())
    async with app.run_test(size=(160, 50)) as pilot:
        await diagnosed(app, pilot)
        m = await open_data_set(app, pilot)
        hexp = app.hex
        assert app.focused is hexp and hexp.cursor == 0
        await pilot.press("right", "right", "down")
        assert hexp.cursor == 18
        await pilot.press("pagedown", "pagedown", "pagedown")
        assert hexp.cursor > 16 * 3 * 10 and hexp.scroll_offset.y > 0
        await pilot.press("end")
        assert hexp.cursor == m.data_spans.length - 1
        await pilot.press("home")
        # x: the frame of the cursor's byte, as captured; the byte under the cursor is the same byte
        second = hexp.frame_marks[1] + 100
        hexp._set_cursor(second)
        unit_byte = hexp.source.read(second, 1)[0]
        await pilot.press("x")
        await pilot.pause()
        frame, fo = hexp.unit.spans[0].frame, 0
        loc = hexp.frame_view
        assert loc is not None and hexp.border_title == f"Frame {loc} bytes"
        assert hexp.source.length == len(raw[loc]) and hexp.source.read(0, 64) == list(raw[loc][:64])
        assert hexp.source.read(hexp.cursor, 1)[0] == unit_byte
        frame, fo = hexp.frame_offset_of(second)
        assert (frame, fo) == (loc, hexp.cursor)
        # ] and [ step through the unit's frames
        frames = m.data_spans.frames
        await pilot.press("right_square_bracket")
        assert hexp.frame_view == frames[frames.index(loc) + 1]
        await pilot.press("left_square_bracket")
        assert hexp.frame_view == loc
        hexp._set_cursor(fo)
        await pilot.press("x")
        await pilot.pause()
        assert hexp.frame_view is None and hexp.cursor == second
        assert hexp.border_title == "Data set bytes"


@run_async
async def test_pdu_unit_marks_its_pdv_items():
    """peer_odil.pcap: Odil sends the command and the data set of a C-STORE as two PDVs of one P-DATA-TF."""
    path = CAPTURES / "peer_odil.pcap"
    app = ViewerApp(str(path), show_timing=False, keys=Keys())
    async with app.run_test(size=(160, 50)) as pilot:
        await diagnosed(app, pilot)
        assert app.goto_association(2)
        await pilot.pause()
        await pilot.press("tab")
        row = next(i for i, it in enumerate(app.ladder.items)
                   if it.message is None and it.pdu.pdu_type == 4 and len(it.pdu.pdvs) == 2)
        app.ladder.select(row)
        await pilot.pause()
        pdu = app.ladder.items[row].pdu
        marks = app.hex.pdv_marks
        assert [mk.offset for mk in marks] == [p.offset for p in pdu.pdvs] == [6, 142]
        assert [mk.command for mk in marks] == [True, False]
        # every PDV item starts with its length: the bytes at the mark say so
        for mk, p in zip(marks, pdu.pdvs):
            assert int.from_bytes(bytes(app.hex.source.read(mk.offset, 4)), "big") == p.length
        assert "•" in app.hex.line_text(142 // 16).plain


@run_async
async def test_data_set_in_several_pdvs_of_one_frame():
    """peer_ctn_scu.pcap: CTN sends a data set as 5 PDVs (the last one empty), one per P-DATA-TF, in one frame."""
    path = CAPTURES / "peer_ctn_scu.pcap"
    raw = frames_of(path)
    app = ViewerApp(str(path), show_timing=False, keys=Keys())
    async with app.run_test(size=(160, 50)) as pilot:
        await diagnosed(app, pilot)
        m = await open_data_set(app, pilot)
        pdvs = [it.pdu for it in app.ladder.items if it.message is None and it.pdu.pdu_type == 4
                and it.pdu.direction == m.direction and any(not p.is_command for p in it.pdu.pdvs)
                and it.pdu.spans.first_frame in m.data_spans.frames]
        non_empty = [p for pdu in pdvs for p in pdu.pdvs if p.value_length and not p.is_command]
        marks = app.hex.pdv_marks
        assert len(marks) == len(non_empty) == 4 and marks[0].offset == 0
        assert app.hex.frame_marks == []                      # one frame: nothing to tell apart
        for mk in marks:
            frame, fo = app.hex.frame_offset_of(mk.offset)
            length, ctx, control = struct.unpack(">IBB", raw[frame][fo - 6:fo])
            assert ctx == m.context_id and control in (0, 2)
