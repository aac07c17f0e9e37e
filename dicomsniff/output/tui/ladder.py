"""The middle pane: the selected association as a ladder of PDUs and DIMSE messages.

Rendered with the Line API (only visible rows are built), so an association of
100,000 messages scrolls as smoothly as one of ten. Rows that do not match
the filter are dimmed, not hidden, so request/response pairs stay readable.
"""

from __future__ import annotations

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
        self.width_hint = 150
        self.border_title = "Messages"

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
        return ladder_row(item, self.assoc, self.t0, dim)
