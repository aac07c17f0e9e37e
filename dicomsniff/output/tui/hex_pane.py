"""The bottom-right pane: the bytes of the selected unit, re-read from the capture's frames.

A PDU's bytes, or a message's command set or data set bytes, are read back
through their SpanMap (``rows.ByteSource``) and the frame index, 16 per row,
only for the rows on screen; the selected field's bytes are shown reversed.
The title says which frames the bytes came from.
"""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .rows import ByteSource, hex_line

WIDTH = 8 + 2 + 16 * 3 + 2 + 16


class HexPane(ScrollView, can_focus=True):
    """Hex dump of one ByteSource with a highlighted (offset, length) range."""

    DEFAULT_CSS = """
    HexPane { border: round $primary 50%; width: 1fr; height: 1fr; }
    HexPane:focus { border: round $accent; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.source: ByteSource | None = None
        self.highlight: tuple[int, int] | None = None
        self.note = ""
        self.border_title = "Bytes"

    @property
    def rows(self) -> int:
        return (self.source.length + 15) // 16 if self.source is not None else 0

    def show(self, source: ByteSource | None, title: str, note: str = "") -> None:
        """Show another unit's bytes (None: nothing)."""
        self.source = source
        self.highlight = None
        self.note = note
        self.border_title = title
        self.virtual_size = Size(WIDTH, self.rows + 1)
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def set_highlight(self, offset: int, length: int) -> None:
        """Highlight bytes [offset, offset+length) and scroll them into view."""
        self.highlight = (offset, offset + length) if length > 0 else None
        if self.highlight is not None:
            row = offset // 16 + 1
            height = max(1, self.scrollable_content_region.height)
            top = int(self.scroll_offset.y)
            if not top <= row < top + height:
                self.scroll_to(y=max(0, row - 2), animate=False, immediate=True)
        self.refresh()

    def line_text(self, row: int) -> Text:
        """The text of hex row ``row`` (0-based over the unit's bytes)."""
        return hex_line(self.source, row, self.highlight)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            text = Text(self.note or self._frames_note(), style="dim", no_wrap=True, overflow="ellipsis")
        else:
            row = scroll_y + y - 1
            if self.source is None or row >= self.rows:
                return Strip.blank(width, base)
            try:
                text = self.line_text(row)
            except Exception as e:       # unreadable bytes must not take the app down
                text = Text(f"(bytes unavailable: {type(e).__name__})", style="red")
        return Strip(list(text.render(self.app.console))).crop_extend(scroll_x, scroll_x + width, base)

    def _frames_note(self) -> str:
        if self.source is None:
            return "select a PDU or message"
        frames = self.source.frames
        shown = ", ".join(str(f) for f in frames[:8]) + (" …" if len(frames) > 8 else "")
        return f"{self.source.length} bytes from frame{'s' if len(frames) != 1 else ''} {shown}"
