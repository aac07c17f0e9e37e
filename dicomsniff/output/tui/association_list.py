"""The top pane: one row per association (the filtered ones), with a time-axis bar."""

from __future__ import annotations

from rich.text import Text

from .line_list import LineList
from .rows import ASSOC_HEADER, association_row


class AssociationList(LineList):
    """Associations of the session that pass the filter; ``shown`` maps rows to associations."""

    DEFAULT_CSS = """
    AssociationList { height: 1fr; border: round $primary 50%; }
    AssociationList:focus { border: round $accent; }
    """

    def __init__(self, **kwargs):
        super().__init__(header=ASSOC_HEADER, **kwargs)
        self.shown: list = []
        self.t0 = 0
        self.t1 = 0
        self.width_hint = 160
        self.border_title = "Associations"
        self.diagnosis = None          # session.Diagnosis once computed: the err / warn columns

    def set_rows(self, shown: list, t0: int, t1: int, *, reset: bool = False) -> None:
        """Show these associations (a filtered view of the session's list)."""
        keep = self.shown[self.cursor] if 0 <= self.cursor < len(self.shown) else None
        self.shown = shown
        self.t0, self.t1 = t0, t1
        if reset:
            self.reset(len(shown))
            if keep is not None and keep in shown:
                self.select(shown.index(keep))
        else:
            self.set_count(len(shown))
        self.invalidate()

    @property
    def selected(self):
        return self.shown[self.cursor] if 0 <= self.cursor < len(self.shown) else None

    def set_diagnosis(self, diagnosis) -> None:
        self.diagnosis = diagnosis
        self.invalidate()

    def row_text(self, row: int) -> Text:
        a = self.shown[row]
        counts = self.diagnosis.count(a.number) if self.diagnosis is not None else None
        return association_row(a, self.t0, self.t1, counts)
