"""A list that renders only its visible rows (Textual's Line API), for 100,000+ rows.

Like toolong's ``LogLines``: a ``ScrollView`` whose ``render_line(y)`` asks a
subclass for the Rich ``Text`` of row ``scroll_y + y``; a cursor row, keys
(arrows, j/k, page, home/end), mouse clicks, and "follow": when the cursor is
on the last row, new rows move it along (live capture), otherwise it stays.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip


class LineList(ScrollView, can_focus=True):
    """Rows 0..count-1 rendered on demand; ``cursor`` is the selected row (-1: none)."""

    BINDINGS = [                         # ids: remappable in keys.toml (see keymap.py)
        Binding("up,k", "move(-1)", "Up", show=False, id="list.up"),
        Binding("down,j", "move(1)", "Down", show=False, id="list.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="list.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="list.page_down"),
        Binding("home,g", "jump(0)", "First", show=False, id="list.first"),
        Binding("end,G", "jump(-1)", "Last", show=False, id="list.last"),
        Binding("enter", "activate", "Open", show=False, id="list.open"),
    ]
    DEFAULT_CSS = """
    LineList { background: $surface; }
    LineList:focus { background-tint: $foreground 4%; }
    """

    class Selected(Message):
        """The cursor moved to ``row``."""

        def __init__(self, sender: "LineList", row: int):
            super().__init__()
            self.list = sender
            self.row = row

        @property
        def control(self) -> "LineList":
            return self.list

    class Activated(Selected):
        """Enter (or a double click) on ``row``."""

    def __init__(self, *, header: str | None = None, name: str | None = None, id: str | None = None,
                 classes: str | None = None):
        super().__init__(name=name, id=id, classes=classes)
        self.count = 0
        self.cursor = -1
        self.width_hint = 200
        self.header = header
        self._cache: dict[int, Text] = {}
        self._layout: tuple[int, list] | None = None      # (width, columns.layout(...)) for column lists

    columns: tuple | None = None        # subclasses with prioritised columns: a tuple of columns.Column

    def layout(self) -> list:
        """The columns that fit the pane's width now (columns.layout), recomputed when the width changes."""
        from .columns import layout
        width = max(1, self.scrollable_content_region.width)
        if self._layout is None or self._layout[0] != width:
            self._layout = (width, layout(self.columns or (), width))
            self._cache.clear()
        return self._layout[1]

    def header_text(self) -> Text:
        """The header line: the kept columns' titles, or the fixed ``header`` string."""
        if self.columns:
            from .columns import header
            return header(self.layout())
        return Text(self.header or "", style="bold underline", no_wrap=True)

    # -- subclass hooks --------------------------------------------------------------------

    def row_text(self, row: int) -> Text:
        """The Text of ``row`` (subclasses override)."""
        return Text(str(row))

    # -- rows ------------------------------------------------------------------------------

    @property
    def header_lines(self) -> int:
        return 1 if (self.header or self.columns) else 0

    def set_count(self, count: int, *, follow: bool | None = None) -> None:
        """Set the number of rows; follow the newest if the cursor was on the last row."""
        old = self.count
        if follow is None:
            follow = self.auto_follow and old > 0 and self.following
        self.count = count
        self._cache.clear()
        self.virtual_size = Size(self.width_hint, count + self.header_lines)
        if self.cursor >= count:
            self.cursor = count - 1
        if count and self.cursor < 0:
            self.select(0)
        elif follow and count > old:
            self.select(count - 1)
        self.refresh()

    auto_follow = True      # live views follow new rows; a file view stays where the user put it

    @property
    def following(self) -> bool:
        """True while new rows should move the cursor: it is on the last row and not scrolled away."""
        if self.count == 0 or self.cursor != self.count - 1:
            return False
        height = self.scrollable_content_region.height - self.header_lines
        if height <= 0:
            return True
        top = int(self.scroll_offset.y)
        return top <= self.cursor < top + height

    def reset(self, count: int) -> None:
        """New content: clear the cursor, then show ``count`` rows."""
        self.cursor = -1
        self.count = 0
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.set_count(count, follow=False)

    def invalidate(self) -> None:
        self._cache.clear()
        self.refresh()

    def select(self, row: int, *, notify: bool = True) -> None:
        if not self.count:
            return
        row = max(0, min(self.count - 1, row))
        self.cursor = row
        self._cache.clear()
        self.scroll_to_row(row)
        self.refresh()
        if notify:
            self.post_message(self.Selected(self, row))

    def scroll_to_row(self, row: int) -> None:
        height = max(1, self.scrollable_content_region.height - self.header_lines)
        top = int(self.scroll_offset.y)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False, immediate=True)

    # -- rendering -------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        if self.columns:
            self.layout()                # a new width drops the cached rows
        if self.header_lines and y == 0:
            return self._strip(self.header_text(), scroll_x, width, base)
        row = scroll_y + y - self.header_lines
        if row < 0 or row >= self.count:
            return Strip.blank(width, base)
        text = self._cache.get(row)
        if text is None:
            try:
                text = self.row_text(row)
            except Exception as e:       # a row must never take the app down
                text = Text(f"(row {row} cannot be shown: {type(e).__name__})", style="red")
            self._cache[row] = text
            if len(self._cache) > 500:
                self._cache.clear()
        strip = self._strip(text, scroll_x, width, base)
        if row == self.cursor:
            cursor = Style(reverse=True) if not self.has_focus else Style(bgcolor="blue", color="white", bold=False)
            strip = Strip(list(Segment.apply_style(strip, post_style=cursor)), strip.cell_length)
        return strip

    def _strip(self, text: Text, scroll_x: int, width: int, base: Style) -> Strip:
        segments = list(text.render(self.app.console))
        return Strip(segments).crop_extend(scroll_x, scroll_x + width, base)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- input -----------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        self.select((self.cursor if self.cursor >= 0 else 0) + delta if self.cursor >= 0 else 0)

    def action_page(self, direction: int) -> None:
        height = max(1, self.scrollable_content_region.height - self.header_lines)
        self.select(max(0, self.cursor) + direction * height)

    def action_jump(self, row: int) -> None:
        self.select(self.count - 1 if row < 0 else row)

    def action_activate(self) -> None:
        if self.cursor >= 0:
            self.post_message(self.Activated(self, self.cursor))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row = int(self.scroll_offset.y) + offset.y - self.header_lines
        if 0 <= row < self.count:
            self.focus()
            self.select(row)
            if event.chain >= 2:
                self.post_message(self.Activated(self, row))
