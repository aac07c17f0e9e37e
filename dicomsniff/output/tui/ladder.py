"""The middle pane: the selected association as a ladder of PDUs and DIMSE messages.

Rendered with the Line API (only visible rows are built), so an association of
100,000 messages scrolls as smoothly as one of ten. Rows that do not match
the filter are hidden, as in Wireshark; in "show all" mode (``m``) they stay,
dimmed, so request/response pairs read in context.
Columns have priorities (:mod:`.columns`); the ``resp. time`` column shows a
request's time to its final response (``first…final`` with pending responses)
and a response's time since its request (:mod:`dicomsniff.model.timing`).
"""

from __future__ import annotations

import bisect

from rich.text import Text

from ...ul.pdus import P_DATA_TF
from .columns import LADDER_COLUMNS, ItemCtx, render_row
from .filter import matches_item
from .line_list import LineList


class Ladder(LineList):
    """Rows of one association: its :class:`~.session.LadderItem` list, in capture order."""

    DEFAULT_CSS = """
    Ladder { height: 1fr; border: round $primary 50%; }
    Ladder:focus { border: round $accent; }
    """
    columns = LADDER_COLUMNS

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.assoc = None
        self.items: list = []
        self.source: list = []
        self.hide_pdata = False
        self._pos = 0
        self.t0 = 0
        self.expr = None
        self.show_all = False            # with a filter: every row, the non-matching dimmed
        self.width_hint = 1
        self.border_title = "Messages"
        self.marks: tuple[list[int], dict[int, str]] = ([], {})

    def show(self, assoc, source: list, t0: int, expr=None, hide_pdata: bool = False,
             show_all: bool | None = None, keep=None) -> None:
        """Switch to another association (``source`` is its live, growing item list).

        Under a filter only matching rows are kept, unless ``show_all`` (then the others are
        dimmed); ``keep``: the item to select again if it is still shown (else the first row).
        """
        self.assoc, self.source, self.t0, self.expr = assoc, source, t0, expr
        self.hide_pdata = hide_pdata
        if show_all is not None:
            self.show_all = show_all
        self.items = [] if self._filtered else source
        self._pos = 0
        self._sync()
        self.reset(len(self.items))
        if keep is not None:
            self.reselect(keep)

    @property
    def _filtered(self) -> bool:
        return self.hide_pdata or (self.expr is not None and not self.show_all)

    def keeps(self, item) -> bool:
        """Whether a row is shown: P-DATA-TF rows unless hidden, rows the filter matches unless all are shown."""
        if self.hide_pdata and item.message is None and item.pdu.pdu_type == P_DATA_TF:
            return False
        if self.expr is not None and not self.show_all:
            return matches_item(self.expr, self.assoc, item)
        return True

    def reselect(self, item) -> bool:
        """Select ``item`` (no Selected message) if shown, else the next shown row after it; True if shown."""
        if item is None or not self.count:
            return False
        for row, x in enumerate(self.items):
            if x is item:
                self.select(row, notify=False)
                return True
        order = {id(x): i for i, x in enumerate(self.source)}
        at = order.get(id(item), -1)
        row = next((r for r, x in enumerate(self.items) if order.get(id(x), -1) > at), self.count - 1)
        self.select(row)
        return False

    def _sync(self) -> None:
        if not self._filtered:
            return
        src, end = self.source, len(self.source)
        for i in range(self._pos, end):
            item = src[i]
            if self.keeps(item):
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

    def set_filter(self, expr, show_all: bool | None = None) -> None:
        """A new filter (or show-all mode): rows are kept or dropped again; the selected row stays
        selected when it is still shown."""
        keep = self.selected
        self.show(self.assoc, self.source, self.t0, expr, self.hide_pdata, show_all, keep=keep)

    @property
    def selected(self):
        return self.items[self.cursor] if 0 <= self.cursor < self.count else None

    def row_text(self, row: int) -> Text:
        item = self.items[row]
        dim = False
        if self.expr is not None and self.show_all:
            dim = not matches_item(self.expr, self.assoc, item)
        return render_row(self.layout(), ItemCtx(item, self.assoc, self.t0, dim, self.mark_of(item)))
