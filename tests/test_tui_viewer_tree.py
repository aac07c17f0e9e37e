"""The viewer's field tree as DICOM people read it (issue 14, items 1, 3 and 9), on real captures.

Element rows show tag, VR, [length], keyword and value; their Tag/VR/Length/Value bytes are one
level down and closed; sequences open with their items; → ← g G End work in the tree; ``-g FRAME``
opens with the frame's message selected; ``p``, search and "go to frame" keep or pick the right row.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dicomsniff.output.tui.app import ViewerApp
from dicomsniff.output.tui.field_tree import FieldRef, is_byte_field, is_element
from dicomsniff.output.tui.keymap import Keys
from tui_helpers import loaded, run_async

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def viewer(name: str, **kw) -> ViewerApp:
    return ViewerApp(str(CAPTURES / name), show_timing=False, keys=Keys(), **kw)


def tree_lines(app) -> list[str]:
    """The text of every row of the field tree as it is on screen."""
    return [app.tree.render_line(y).text.rstrip() for y in range(app.tree.scrollable_content_region.height)]


def visible_nodes(node) -> list:
    """Nodes in display order (expanded ones' children included)."""
    out = [node]
    if node.is_expanded:
        for child in node.children:
            out.extend(visible_nodes(child))
    return out


def message_of(app):
    item = app.ladder.selected
    return item.message if item is not None else None


@run_async
async def test_g_opens_on_the_c_find_rq_with_its_query_keys_as_element_rows():
    """-g 10 (the frame carrying the C-FIND-RQ): the message is selected, not its P-DATA-TF rows; the
    query keys read (tag) VR [length] Keyword: value, within the first rows of a 16-row pane."""
    app = viewer("find_mwl.pcap", goto=10)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        await pilot.pause(0.1)
        assert message_of(app) is not None and message_of(app).name == "C-FIND-RQ"
        assert app.focused is app.ladder
        rows = tree_lines(app)
        assert app.tree.scrollable_content_region.height >= 16
        first16 = rows[:16]
        # the command set is one closed row (its line names command and message ID) above the data set
        assert "▶ Command Set: C-FIND-RQ: MessageID=1" in rows[1]
        # the data set follows at once, with VR and length on each element, bytes not shown
        data_at = next(i for i, r in enumerate(rows) if "Data Set: Explicit VR Little Endian" in r)
        assert data_at == 2
        assert any("(0010,0010) PN [0] PatientName: (empty)" in r for r in first16)
        assert any("(0040,0100) SQ [62] ScheduledProcedureStepSequence: 1 item" in r and "▼" in r for r in first16)
        shown = visible_nodes(app.tree.root)
        assert not any(isinstance(n.data, FieldRef) and is_byte_field(n.data.field) for n in shown)
        # opened, the command set is one row per element (tag, VR, length, keyword, value), each closed
        command = app.tree.root.children[0]
        command.expand()
        await pilot.pause()
        elements = [str(n.label) for n in command.children]
        assert "(0000,0100) US [2] CommandField: C-FIND-RQ (0x0020)" in elements and len(elements) == 6
        assert not any(n.is_expanded for n in command.children)
        # the sequence is open: its item's elements are rows too
        nodes = visible_nodes(app.tree.root)
        labels = [str(n.label) for n in nodes]
        assert any(lbl.startswith("Item 1: 5 elements") for lbl in labels)
        assert any("(0040,0001) AE [4] ScheduledStationAETitle: CT01" in lbl for lbl in labels)


@run_async
async def test_right_left_open_close_and_bytes_highlight():
    """→ opens an element to its Tag / VR / Length / Value bytes, each highlighting its own bytes;
    ← closes it, then steps out to the parent; g and G go to the first and the last row."""
    app = viewer("find_mwl.pcap", goto=14)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        tree = app.tree
        assert tree.select_field(lambda f: f.key == "PatientName")
        tree.focus()
        await pilot.pause()
        node = tree.cursor_node
        assert not node.is_expanded and str(node.label).startswith("(0010,0010) PN [8] PatientName: ")
        name = node.data.field
        await pilot.press("right")
        assert node.is_expanded
        assert [str(c.label).split(":")[0] for c in node.children] == ["Tag", "VR", "Length", "Value"]
        await pilot.press("right")                  # into it: the Tag
        assert tree.cursor_node is node.children[0]
        tag = node.children[0].data.field
        assert tag.display == "(0010,0010) Patient's Name" and (tag.offset, tag.length) == (name.offset, 4)
        await pilot.pause()
        assert app.hex.highlight == (tag.offset, tag.offset + 4)
        assert app.hex.source.read(tag.offset, 4) == [0x10, 0x00, 0x10, 0x00]
        await pilot.press("down", "down", "down")   # the Value: the name's bytes
        value = tree.selected_ref.field
        assert name.value == "ROE^JANE"            # the first match of frame 14
        assert value.label == "Value" and bytes(app.hex.source.read(value.offset, value.length)) == b"ROE^JANE"
        assert "Patient's Name" in tree.border_subtitle or "dicom.tag.value" in tree.border_subtitle
        await pilot.press("left")                   # a leaf: out to the element
        assert tree.cursor_node is node
        await pilot.press("left")                   # an open element: closed
        assert not node.is_expanded and tree.cursor_node is node
        assert "(0010,0010) Patient's Name" in tree.border_subtitle
        await pilot.press("left")                   # a closed one: out to its parent
        assert tree.cursor_node is node.parent
        await pilot.press("g")
        assert tree.cursor_node is tree.root
        await pilot.press("G")
        assert tree.cursor_line == tree.last_line


@run_async
async def test_end_scrolls_the_hex_pane_to_the_field():
    """End in the tree brings the selected field's bytes to the top of the bytes pane."""
    app = viewer("store.pcap")
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        row = next(i for i, it in enumerate(app.ladder.items)
                   if it.message is not None and it.message.name == "C-STORE-RQ")
        app.ladder.select(row)
        await pilot.pause()
        tree = app.tree
        assert tree.select_field(lambda f: f.key == "PixelData")
        tree.focus()
        await pilot.pause()
        field = tree.selected_ref.field
        assert field.offset // 16 > 40                   # far below the first screen of bytes
        app.hex.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        assert app.hex.scroll_offset.y == 0
        await pilot.press("end")
        await pilot.pause()
        assert app.hex.highlight == (field.offset, field.offset + field.length)
        assert app.hex.scroll_offset.y == min(field.offset // 16, app.hex.max_scroll_y)
        assert app.tree.cursor_node.data.field is field     # End did not move the tree's cursor


@run_async
async def test_search_selects_the_matched_element_of_a_c_find_response():
    """Bug 9: a search hit in a C-FIND-RSP selected Status; it selects the element that matched."""
    app = viewer("find_mwl.pcap")
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        await pilot.press("ctrl+f")
        await pilot.press(*"WL0001", "enter")
        await pilot.pause(0.2)
        m = message_of(app)
        assert m is not None and m.name == "C-FIND-RSP"
        ref = app.tree.selected_ref
        assert ref is not None and ref.field.key == "PatientID" and ref.field.value == "WL0001"
        await pilot.press("n")                       # the other response does not hold it: wraps to itself
        await pilot.pause(0.2)
        assert app.tree.selected_ref.field.key == "PatientID"
        await pilot.press("ctrl+f")
        app.query_one("#search").value = ""
        await pilot.press(*"CT01", "enter")          # in a sequence item, in the request first
        await pilot.pause(0.2)
        ref = app.tree.selected_ref
        assert ref.field.key == "ScheduledStationAETitle" and ref.unit == "data"


@run_async
async def test_go_to_frame_from_the_palette_selects_the_message():
    """Bug 9: ctrl+p "Go to frame 14" selected a P-DATA-TF row; it selects the first message of the frame."""
    app = viewer("find_mwl.pcap")
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"14")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.3)
        m = message_of(app)
        assert m is not None and m.name == "C-FIND-RSP" and 14 in m.frames
        assert app.tree.selected_ref.field.key == "Status"      # a response opens on its Status
        assert app.goto_frame(16)                               # a frame of a PDU alone: its PDU
        assert app.ladder.selected.message is None and app.ladder.selected.pdu.name == "A-RELEASE-RQ"
        assert not app.goto_frame(99999)


@run_async
async def test_p_keeps_the_selected_message():
    """Bug 9: hiding or showing P-DATA-TF rows (p) kept the ladder on its first row."""
    app = viewer("find_mwl.pcap", goto=14)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        item = app.ladder.selected
        assert item.message is not None and item.message.name == "C-FIND-RSP"
        before = app.ladder.count
        await pilot.press("p")
        await pilot.pause()
        assert app.ladder.count < before and app.ladder.selected is item
        await pilot.press("p")
        await pilot.pause()
        assert app.ladder.count == before and app.ladder.selected is item
        # a selected P-DATA-TF row that p hides gives way to the row after it
        pdata = next(i for i, it in enumerate(app.ladder.items) if it.message is None and it.frames == [14])
        app.ladder.select(pdata)
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()
        sel = app.ladder.selected
        assert sel.message is not None and 14 in sel.frames


def test_tree_opens_only_what_helps():
    """Which nodes start open: units and sequences (to a depth), not elements' bytes."""
    from dicomsniff.field import Field
    from dicomsniff.output.tui.field_tree import FieldTree
    tag = Field("dicom.tag", "Tag", (0x10, 0x10), "(0010,0010) Patient's Name", 0, 4)
    elem = Field("PatientName", "(0010,0010) PN [4] PatientName", "A^B", "A^B", 0, 12,
                 [tag, Field("dicom.tag.vr", "VR", "PN", "PN", 4, 2), Field("dicom.tag.vl", "Length", 4, "4", 6, 2),
                  Field("dicom.tag.value.str", "Value", "A^B", "A^B", 8, 4)])
    assert is_element(elem) and all(is_byte_field(c) for c in elem.children)
    t = FieldTree()
    assert not t._opens(FieldRef(elem, "data", depth=1))
    assert t._opens(FieldRef(elem, "data", depth=0))                    # a unit's root
    pdu_item = Field("dicom.assoc.item", "Presentation Context", None, "", 0, 4, [Field("x", "y")])
    assert t._opens(FieldRef(pdu_item, "pdu", depth=1)) and not t._opens(FieldRef(pdu_item, "pdu", depth=2))


@run_async
async def test_g_while_loading_waits_for_the_message_not_its_p_data_row():
    """The loader thread appends a frame's P-DATA-TF rows before the message row they complete; a batch
    the UI reads in between must not settle -g on the P-DATA-TF (it did, under load: a flaky snapshot)."""
    app = viewer("find_mwl.pcap")
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        real = app.session.items_of
        app.session.items_of = lambda a: [it for it in real(a) if it.message is None]   # the message row not yet
        assert app.goto_frame(10, quiet=True, final=False) is False      # still loading: wait for the next batch
        app.session.items_of = real
        assert app.goto_frame(10, quiet=True, final=False) is True
        await pilot.pause()
        assert message_of(app) is not None and message_of(app).name == "C-FIND-RQ"
        # once loaded, a frame that only a P-DATA-TF holds is that row
        app.session.items_of = lambda a: [it for it in real(a) if it.message is None]
        assert app.goto_frame(10, quiet=True) is True
        assert app.ladder.selected.message is None and app.ladder.selected.pdu.pdu_type == 4


# -- snapshots ------------------------------------------------------------------------------

pytest.importorskip("pytest_textual_snapshot")
from pytest_textual_snapshot import SVGImageExtension  # noqa: E402

SVGImageExtension.file_extension = "svg"


async def _diagnosed(pilot, timeout: float = 30.0) -> None:
    app = pilot.app
    end = time.monotonic() + timeout
    while app.diagnosed_at is None and app.error is None:
        assert time.monotonic() < end, "capture was not loaded and diagnosed in time"
        await pilot.pause(0.05)
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 50)], ids=["80x24", "100x30", "160x50"])
def test_snapshot_c_find_query_keys(snap_compare, size):
    """find_mwl.pcap -g 10: the C-FIND-RQ's command and data set as element rows, the tree focused."""
    async def run_before(pilot):
        await _diagnosed(pilot)
        pilot.app.tree.focus()
        assert pilot.app.tree.select_field(lambda f: f.key == "ScheduledProcedureStepSequence")
        await pilot.pause(0.2)

    assert snap_compare(viewer("find_mwl.pcap", goto=10), terminal_size=size, run_before=run_before)
