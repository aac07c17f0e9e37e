"""The bottom-right pane: the bytes of the selected unit, re-read from the capture's frames.

A PDU's bytes, or a message's command set or data set bytes, are read back
through their SpanMap (``rows.ByteSource``) and the frame index, 16 per row,
only for the rows on screen; the selected field's bytes are shown reversed.

Bytes as they were framed (Wireshark's "Reassembled" and "Frame" tabs): in a
reassembled unit the first byte each frame contributed is underlined yellow and
the first byte of each PDV (its item, in a PDU; its value, in a command or data
set) underlined green, with ``▸``/``•`` in the gutter of the row. Focused, the pane
has a byte cursor (arrows, page keys, Home/End) and its top line says which
frame the byte under the cursor came from and which PDV holds it; ``x`` shows the
frame's own bytes as captured (headers included, the unit's bytes in it
highlighted), ``[``/``]`` step through the unit's frames, ``x`` again goes back.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...ul.pdus import P_DATA_TF
from .rows import ByteSource

WIDTH = 8 + 1 + 1 + 2 + 16 * 3 + 2 + 16
FRAME_MARK = "underline bold yellow"
PDV_MARK = "underline bold green"
HIGHLIGHT = "reverse bold"
CURSOR = Style(bgcolor="blue", color="white", bold=True)
MAX_PDV_MARKS = 20_000


@dataclass(frozen=True, slots=True)
class PdvMark:
    """A PDV begins at ``offset`` of the unit: its number in the unit, context, command/data, last."""

    offset: int
    number: int
    context_id: int
    command: bool
    last: bool

    def text(self) -> str:
        kind = "Command" if self.command else "Data"
        return f"PDV {self.number} (ctx {self.context_id}, {kind}{', Last' if self.last else ''})"


def frame_starts(source: ByteSource) -> list[int]:
    """Unit offsets where a frame's bytes begin (the first byte, then each change of frame); none for one frame."""
    out: list[int] = []
    prev = None
    for s in source.spans:
        if s.frame != prev:
            out.append(s.unit_offset)
            prev = s.frame
    return out if len(out) > 1 else []


def pdu_pdv_marks(pdu) -> list[PdvMark]:
    """The PDV items of a P-DATA-TF PDU, at their item offsets."""
    if pdu.pdu_type != P_DATA_TF:
        return []
    return [PdvMark(p.offset, i + 1, p.context_id, p.is_command, p.is_last)
            for i, p in enumerate(pdu.pdvs[:MAX_PDV_MARKS])]


def message_pdv_marks(items: list, message, command: bool, spans) -> list[PdvMark]:
    """Where each PDV value of a message's command (or data) set begins in the reassembled set.

    Read from the association's P-DATA-TF rows (``items``: its LadderItems, in capture order)
    that carry PDVs of the message's context and kind in the frames the set came from.
    """
    if spans is None or not spans.spans:
        return []
    first_frame = spans.spans[0].frame
    last_frame = spans.spans[-1].frame
    where: dict[tuple[int, int], tuple] = {}
    lo = bisect.bisect_left(items, first_frame, key=lambda it: it.frame)
    for it in items[lo:]:
        if it.frame > last_frame and it.message is None and it.pdu.spans.first_frame > last_frame:
            break
        if it.message is not None or it.pdu.pdu_type != P_DATA_TF or it.pdu.direction != message.direction:
            continue
        pdu = it.pdu
        for p in pdu.pdvs:
            if p.context_id != message.context_id or p.is_command != command or p.value_length == 0:
                continue
            loc = pdu.spans.locate(p.value_offset)
            if loc is not None:
                where[loc] = (p.context_id, p.is_command, p.is_last)
        if len(where) > MAX_PDV_MARKS:
            break
    out: list[PdvMark] = []
    for s in spans.spans:
        for (frame, fo), (ctx, cmd, last) in where.items():
            if frame == s.frame and s.frame_offset <= fo < s.frame_offset + s.length:
                out.append(PdvMark(s.unit_offset + fo - s.frame_offset, 0, ctx, cmd, last))
    out.sort(key=lambda m: m.offset)
    return [PdvMark(m.offset, i + 1, m.context_id, m.command, m.last) for i, m in enumerate(out)]


class FrameSource:
    """One frame's bytes as captured (link, IP and TCP headers included)."""

    def __init__(self, number: int, data: bytes | None):
        self.number = number
        self.data = data or b""
        self.length = len(self.data)
        self.frames = [number]
        self.spans: list = []

    def read(self, offset: int, n: int) -> list[int | None]:
        return list(self.data[offset:offset + n])

    def frame_of(self, offset: int) -> int | None:
        return self.number if 0 <= offset < self.length else None


class HexPane(ScrollView, can_focus=True):
    """Hex dump of one ByteSource with a highlighted (offset, length) range, frame/PDV marks, a byte cursor."""

    BINDINGS = [                         # ids: remappable in keys.toml (keymap.py)
        Binding("left", "move(-1)", "Byte left", show=False, id="hex.left"),
        Binding("right", "move(1)", "Byte right", show=False, id="hex.right"),
        Binding("up,k", "move(-16)", "Row up", show=False, id="hex.up"),
        Binding("down,j", "move(16)", "Row down", show=False, id="hex.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="hex.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="hex.page_down"),
        Binding("home", "edge(0)", "First byte", show=False, id="hex.first"),
        Binding("end", "edge(1)", "Last byte", show=False, id="hex.last"),
        Binding("x", "switch", "Frame / reassembled", id="hex.switch"),
        Binding("left_square_bracket", "frame_step(-1)", "Previous frame", show=False, id="hex.previous_frame"),
        Binding("right_square_bracket", "frame_step(1)", "Next frame", show=False, id="hex.next_frame"),
    ]
    DEFAULT_CSS = """
    HexPane { border: round $primary 50%; width: 1fr; height: 1fr; }
    HexPane:focus { border: round $accent; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.source: ByteSource | FrameSource | None = None
        self.unit: ByteSource | None = None            # the reassembled unit (kept while a frame is shown)
        self.highlight: tuple[int, int] | None = None  # in unit offsets
        self.note = ""
        self.title = "Bytes"
        self.border_title = "Bytes"
        self.frame_marks: list[int] = []
        self.pdv_marks: list[PdvMark] = []
        self._pdv_offsets: list[int] = []
        self.cursor = -1                                # offset in what is shown (unit or frame)
        self.frame_view: int | None = None              # frame number shown as captured, None: the unit

    @property
    def rows(self) -> int:
        return (self.source.length + 15) // 16 if self.source is not None else 0

    def show(self, source: ByteSource | None, title: str, note: str = "", pdvs: list[PdvMark] | None = None) -> None:
        """Show another unit's bytes (None: nothing); ``pdvs``: where its PDVs begin."""
        self.source = self.unit = source
        self.frame_view = None
        self.highlight = None
        self.note = note
        self.title = title
        self.border_title = title
        self.frame_marks = frame_starts(source) if isinstance(source, ByteSource) else []
        self.pdv_marks = list(pdvs or [])
        self._pdv_offsets = [m.offset for m in self.pdv_marks]
        self.cursor = 0 if source is not None and source.length else -1
        self._resize()
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def _resize(self) -> None:
        self.virtual_size = Size(WIDTH, self.rows + 1)

    def set_highlight(self, offset: int, length: int) -> None:
        """Highlight bytes [offset, offset+length) of the unit and scroll them into view."""
        self.highlight = (offset, offset + length) if length > 0 else None
        if self.frame_view is not None:
            self._show_unit_bytes()
        if self.highlight is not None:
            self.cursor = offset
            self._scroll_to_offset(offset)
        self.refresh()

    def _scroll_to_offset(self, offset: int) -> None:
        row = offset // 16 + 1
        height = max(1, self.scrollable_content_region.height)
        top = int(self.scroll_offset.y)
        if not top < row < top + height:
            self.scroll_to(y=max(0, row - 2), animate=False, immediate=True)

    # -- where a byte came from ------------------------------------------------------------

    def pdv_at(self, offset: int) -> PdvMark | None:
        i = bisect.bisect_right(self._pdv_offsets, offset) - 1
        return self.pdv_marks[i] if i >= 0 else None

    def where(self, offset: int) -> str:
        """For a unit offset: the frame it came from (and its offset there) and the PDV holding it."""
        src = self.unit
        if src is None or not 0 <= offset < src.length:
            return ""
        parts = [f"offset {offset} (0x{offset:x})"]
        i = bisect.bisect_right(src.starts, offset) - 1
        if i >= 0 and offset < src.spans[i].unit_offset + src.spans[i].length:
            s = src.spans[i]
            parts.append(f"frame {s.frame}, byte {s.frame_offset + offset - s.unit_offset} of it")
        else:
            parts.append("from no frame the capture kept")
        pdv = self.pdv_at(offset)
        if pdv is not None:
            parts.append(pdv.text())
        return ": ".join(parts[:2]) + (f" · {parts[2]}" if len(parts) > 2 else "")

    def unit_offset_of(self, frame: int, frame_offset: int) -> int | None:
        src = self.unit
        if src is None:
            return None
        for s in src.spans:
            if s.frame == frame and s.frame_offset <= frame_offset < s.frame_offset + s.length:
                return s.unit_offset + frame_offset - s.frame_offset
        return None

    def frame_offset_of(self, offset: int) -> tuple[int, int] | None:
        src = self.unit
        if src is None:
            return None
        i = bisect.bisect_right(src.starts, offset) - 1
        if i < 0 or offset >= src.spans[i].unit_offset + src.spans[i].length:
            return None
        s = src.spans[i]
        return s.frame, s.frame_offset + offset - s.unit_offset

    # -- rendering -----------------------------------------------------------------------------

    def line_text(self, row: int) -> Text:
        """The text of hex row ``row`` (0-based over the bytes shown)."""
        src = self.source
        off = row * 16
        values = src.read(off, 16)
        line = Text(no_wrap=True)
        line.append(f"{off:08x}", style="dim")
        marks = self._row_marks(off)
        gutter = "▸" if "frame" in marks.values() else ("•" if marks else " ")
        line.append(f" {gutter}  ", style="bold yellow" if gutter == "▸" else "bold green")
        styles = [self._byte_style(off + i, marks.get(off + i)) for i in range(16)]
        for i in range(16):
            st = styles[i]
            if i < len(values):
                v = values[i]
                line.append("??" if v is None else f"{v:02x}", style=st)
            else:
                line.append("  ")
            line.append(" " if i != 7 else "  ")
        line.append(" ")
        for i, v in enumerate(values):
            st = styles[i] or "dim"
            line.append("." if v is None or not 32 <= v < 127 else chr(v), style=st)
        return line

    def _row_marks(self, off: int) -> dict[int, str]:
        if self.frame_view is not None:
            return {}
        out: dict[int, str] = {}
        fm = self.frame_marks
        i = bisect.bisect_left(fm, off)
        while i < len(fm) and fm[i] < off + 16:
            out[fm[i]] = "frame"
            i += 1
        po = self._pdv_offsets
        i = bisect.bisect_left(po, off)
        while i < len(po) and po[i] < off + 16:
            out.setdefault(po[i], "pdv")
            i += 1
        return out

    def _byte_style(self, pos: int, mark: str | None):
        style: Style | str = ""
        if mark == "frame":
            style = FRAME_MARK
        elif mark == "pdv":
            style = PDV_MARK
        lo, hi = self._shown_highlight()
        if lo <= pos < hi:
            style = HIGHLIGHT if not mark else f"{style} reverse"
        elif self.frame_view is not None and self._in_unit_frame_range(pos):
            style = "bold cyan"
        if pos == self.cursor and self.has_focus:
            return CURSOR
        return style

    def _shown_highlight(self) -> tuple[int, int]:
        if self.highlight is None:
            return (-1, -1)
        if self.frame_view is None:
            return self.highlight
        # in frame view: the field's bytes that this frame holds (first contiguous run)
        lo, hi = self.highlight
        start = self.frame_offset_of(lo)
        if start is None or start[0] != self.frame_view:
            for s in self.unit.spans if self.unit is not None else ():
                if s.frame == self.frame_view and s.unit_offset < hi and lo < s.unit_offset + s.length:
                    a = max(lo, s.unit_offset)
                    return (s.frame_offset + a - s.unit_offset, s.frame_offset + min(hi, s.unit_offset + s.length)
                            - s.unit_offset)
            return (-1, -1)
        return (start[1], start[1] + (hi - lo))

    def _in_unit_frame_range(self, pos: int) -> bool:
        for s in self.unit.spans if self.unit is not None else ():
            if s.frame == self.frame_view and s.frame_offset <= pos < s.frame_offset + s.length:
                return True
        return False

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            text = self._top_line()
        else:
            row = scroll_y + y - 1
            if self.source is None or row >= self.rows:
                return Strip.blank(width, base)
            try:
                text = self.line_text(row)
            except Exception as e:       # unreadable bytes must not take the app down
                text = Text(f"(bytes unavailable: {type(e).__name__})", style="red")
        return Strip(list(text.render(self.app.console))).crop_extend(scroll_x, scroll_x + width, base)

    def _top_line(self) -> Text:
        if self.frame_view is not None:
            text = f"frame {self.frame_view} as captured, {self.source.length} bytes; this unit's bytes in cyan"
            if self.has_focus and 0 <= self.cursor < self.source.length:
                text = f"frame {self.frame_view} byte {self.cursor}"
                unit = self.unit_offset_of(self.frame_view, self.cursor)
                text += f" = unit offset {unit}" if unit is not None else " (not this unit's)"
            return Text(text + "   x: reassembled  [ ]: frames", style="dim", no_wrap=True, overflow="ellipsis")
        if self.note:
            return Text(self.note, style="dim", no_wrap=True, overflow="ellipsis")
        if self.has_focus and self.cursor >= 0:
            return Text(self.where(self.cursor) + "   x: frame bytes", style="dim", no_wrap=True,
                        overflow="ellipsis")
        return Text(self._frames_note(), style="dim", no_wrap=True, overflow="ellipsis")

    def _frames_note(self) -> str:
        if self.source is None:
            return "select a PDU or message"
        frames = self.source.frames
        shown = ", ".join(str(f) for f in frames[:8]) + (" …" if len(frames) > 8 else "")
        marks = "  ▸ frame  • PDV" if len(frames) > 1 or self.pdv_marks else ""
        return f"{self.source.length} bytes from frame{'s' if len(frames) != 1 else ''} {shown}{marks}"

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- keys ------------------------------------------------------------------------------------

    def _set_cursor(self, offset: int, later: bool = False) -> None:
        if self.source is None or not self.source.length:
            return
        self.cursor = max(0, min(self.source.length - 1, offset))
        if later:                    # the virtual size just changed: scroll once it is in force
            self.call_after_refresh(self._scroll_to_offset, self.cursor)
        else:
            self._scroll_to_offset(self.cursor)
        self.refresh()

    def action_move(self, delta: int) -> None:
        self._set_cursor((self.cursor if self.cursor >= 0 else 0) + delta)

    def action_page(self, direction: int) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        self._set_cursor(max(0, self.cursor) + direction * 16 * height)

    def action_edge(self, end: int) -> None:
        self._set_cursor(self.source.length - 1 if end and self.source is not None else 0)

    def action_switch(self) -> None:
        """x: the frame holding the cursor's byte as captured, or back to the reassembled unit."""
        if self.unit is None:
            return
        if self.frame_view is None:
            loc = self.frame_offset_of(max(0, self.cursor))
            frame = loc[0] if loc is not None else (self.unit.frames[0] if self.unit.frames else None)
            if frame is None:
                return
            self._show_frame(frame, loc[1] if loc is not None else 0)
        else:
            unit = self.unit_offset_of(self.frame_view, self.cursor)
            self._show_unit_bytes()
            self._set_cursor(unit if unit is not None else 0, later=True)

    def action_frame_step(self, direction: int) -> None:
        """[ / ]: the previous / next frame of the unit (shown as captured)."""
        if self.unit is None or self.frame_view is None:
            return
        frames = self.unit.frames
        if self.frame_view not in frames:
            return
        i = frames.index(self.frame_view) + direction
        if 0 <= i < len(frames):
            first = next((s.frame_offset for s in self.unit.spans if s.frame == frames[i]), 0)
            self._show_frame(frames[i], first)

    def _show_frame(self, frame: int, offset: int) -> None:
        data = self.unit.read_frame(frame)
        self.source = FrameSource(frame, data)
        self.frame_view = frame
        self.border_title = f"Frame {frame} bytes"
        self._resize()
        self._set_cursor(offset, later=True)
        self.refresh()

    def _show_unit_bytes(self) -> None:
        self.source = self.unit
        self.frame_view = None
        self.border_title = self.title
        self._resize()
        self.refresh()
