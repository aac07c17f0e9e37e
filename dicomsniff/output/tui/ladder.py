"""The middle pane: the selected association as a ladder of PDUs and DIMSE messages.

Rendered with the Line API (only visible rows are built), so an association of
100,000 messages scrolls as smoothly as one of ten. Rows that do not match
the filter are dimmed, not hidden, so request/response pairs stay readable.
"""

from __future__ import annotations

import bisect

from rich.text import Text

from ...ul.pdus import P_DATA_TF
from .filter import matches_message
from .line_list import LineList
from .rows import ladder_row


class Ladder(LineList):
    """Rows of one association: its :class:`~.session.LadderItem` list, in capture order."""

    DEFAULT_CSS = """
    Ladder { height: 1fr; border: round $primary 50%; }
    Ladder:focus { border: round $accent; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.assoc = None
        self.items: list = []
        self.source: list = []
        self.hide_pdata = False
        self._pos = 0
        self.t0 = 0
        self.expr = None
        self.width_hint = 160
        self.border_title = "Messages"
        self.marks: tuple[list[int], dict[int, str]] = ([], {})

    def show(self, assoc, source: list, t0: int, expr=None, hide_pdata: bool = False) -> None:
        """Switch to another association (``source`` is its live, growing item list)."""
        self.assoc, self.source, self.t0, self.expr = assoc, source, t0, expr
        self.hide_pdata = hide_pdata
        self.items = [] if hide_pdata else source
        self._pos = 0
        self._sync()
        self.reset(len(self.items))

    def _sync(self) -> None:
        if not self.hide_pdata:
            return
        src, end = self.source, len(self.source)
        for i in range(self._pos, end):
            item = src[i]
            if item.message is not None or item.pdu.pdu_type != P_DATA_TF:
                self.items.append(item)
        self._pos = end

    def grow(self) -> None:
        """More items may have arrived for the shown association."""
        self._sync()
        if len(self.items) != self.count:
            self.set_count(len(self.items))

    def set_marks(self, marks: tuple[list[int], dict[int, str]]) -> None:
        """Frames named by the diagnosis' errors and warnings (sorted list, frame → severity)."""
        if marks != self.marks:
            self.marks = marks
            self.invalidate()

    def mark_of(self, item) -> str | None:
        """The worst severity among the marked frames that belong to ``item`` (None: unmarked)."""
        frames, severity = self.marks
        if not frames:
            return None
        own = item.frames
        if not own:
            return None
        lo, hi = min(own[0], own[-1]), max(own[0], own[-1])
        i = bisect.bisect_left(frames, lo)
        worst = None
        own_set = None
        while i < len(frames) and frames[i] <= hi:
            f = frames[i]
            if own_set is None:
                own_set = set(own) if len(own) > 8 else own
            if f in own_set:
                if severity[f] == "error":
                    return "error"
                worst = severity[f]
            i += 1
        return worst

    def set_filter(self, expr) -> None:
        self.expr = expr
        self.invalidate()

    @property
    def selected(self):
        return self.items[self.cursor] if 0 <= self.cursor < self.count else None

    def row_text(self, row: int) -> Text:
        item = self.items[row]
        dim = False
        if self.expr is not None and item.message is not None:
            dim = not matches_message(self.expr, self.assoc, item.message, item.exchange)
        return ladder_row(item, self.assoc, self.t0, dim, self.mark_of(item))
