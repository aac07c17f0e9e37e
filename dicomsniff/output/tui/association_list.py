"""The top pane: one row per association (the filtered ones), with a time-axis bar.

Columns have priorities (:mod:`.columns`): at 80 columns the number, AE titles,
outcome, errors and warnings stay. A C-MOVE's sub-associations (linked by the
diagnosis, :mod:`dicomsniff.model.rules.subassoc`) sit right under the
association whose C-MOVE caused them, marked ``└``.
"""

from __future__ import annotations

from rich.text import Text

from .columns import ASSOC_COLUMNS, AssocCtx, render_row
from .line_list import LineList


def tree_order(shown: list, parent: dict) -> tuple[list, dict]:
    """``shown`` with each sub-association moved right after its parent (when the parent is shown).

    Returns (rows, depth by association number). ``parent`` maps a sub-association's number
    to (its C-MOVE's association number, message ID).
    """
    if not parent:
        return shown, {}
    numbers = {a.number for a in shown}
    kids: dict[int, list] = {}
    top: list = []
    for a in shown:
        p = parent.get(a.number)
        if p is not None and p[0] in numbers and p[0] != a.number:
            kids.setdefault(p[0], []).append(a)
        else:
            top.append(a)
    rows: list = []
    depth: dict[int, int] = {}
    for a in top:
        rows.append(a)
        for b in kids.get(a.number, ()):
            rows.append(b)
            depth[b.number] = 1
    return rows, depth


class AssociationList(LineList):
    """Associations of the session that pass the filter; ``shown`` maps rows to associations."""

    DEFAULT_CSS = """
    AssociationList { height: 1fr; border: round $primary 50%; }
    AssociationList:focus { border: round $accent; }
    """
    columns = ASSOC_COLUMNS

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.shown: list = []
        self.depth: dict[int, int] = {}
        self.t0 = 0
        self.t1 = 0
        self.width_hint = 1
        self.border_title = "Associations"
        self.diagnosis = None          # session.Diagnosis once computed: the err / warn columns
        self.dims = None               # filter in "show all" mode: association -> True when it does not match

    def set_rows(self, shown: list, t0: int, t1: int, *, reset: bool = False) -> None:
        """Show these associations (a filtered view of the session's list), sub-associations under their C-MOVE."""
        keep = self.shown[self.cursor] if 0 <= self.cursor < len(self.shown) else None
        parent = self.diagnosis.parent if self.diagnosis is not None else {}
        shown, self.depth = tree_order(shown, parent)
        self.shown = shown
        self.t0, self.t1 = t0, t1
        if reset:
            self.reset(len(shown))
            if keep is not None and keep in shown:
                self.select(shown.index(keep))
        else:
            follow = self.auto_follow and self.count > 0 and self.following
            self.set_count(len(shown))
            if not follow and keep is not None and keep in shown and shown.index(keep) != self.cursor:
                self.select(shown.index(keep), notify=False)      # a sub-association moved under its C-MOVE
        self.invalidate()

    @property
    def selected(self):
        return self.shown[self.cursor] if 0 <= self.cursor < len(self.shown) else None

    def row_of(self, number: int) -> int | None:
        """The row showing association ``number`` (None: not shown)."""
        for i, a in enumerate(self.shown):
            if a.number == number:
                return i
        return None

    def set_diagnosis(self, diagnosis) -> None:
        self.diagnosis = diagnosis
        self.set_rows(list(self.shown), self.t0, self.t1)

    def row_text(self, row: int) -> Text:
        a = self.shown[row]
        counts = self.diagnosis.count(a.number) if self.diagnosis is not None else None
        row = render_row(self.layout(), AssocCtx(a, self.t0, self.t1, counts, self.depth.get(a.number, 0)))
        if self.dims is not None and self.dims(a):
            row.stylize("dim")
        return row
