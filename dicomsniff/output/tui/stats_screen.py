"""The response-time statistics screen (``s``), like Wireshark's Service Response Time.

Per DIMSE service and per responding peer (AE title and address): count, min,
median, p95 and max of request → final response, then of request → first
response (they differ for C-FIND, C-GET and C-MOVE, whose pending responses come
first). Times in milliseconds with microseconds, as the capture timestamps go; all
computed by :func:`dicomsniff.model.timing.response_stats`. ``a`` switches between
the whole capture and the selected association.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding

from ...model.timing import response_stats
from ...textsafe import safe_text
from .text_screen import TextScreen

COLUMNS = ("count", "min", "median", "p95", "max")


def ms(ns) -> str:
    """Milliseconds with three decimals (microseconds); '-' when there is no value."""
    return "-" if ns is None else f"{ns / 1e6:.3f}"


def _table_head(out: Text, first: str) -> None:
    out.append(f"  {first:<20}{'count':>6}" + "".join(f"{c:>10}" for c in COLUMNS[1:]) + "\n",
               style="bold underline")


def _row(out: Text, label: str, summary: dict, unanswered: int = 0, indent: int = 2) -> None:
    width = 22 - indent
    name = safe_text(label)
    name = name if len(name) <= width else name[:width - 1] + "…"
    out.append(" " * indent + f"{name:<{width}}{summary['count']:>6}"
               + "".join(f"{ms(summary[c]):>10}" for c in COLUMNS[1:]))
    if unanswered:
        out.append(f"  +{unanswered} unanswered", style="yellow")
    out.append("\n")


def statistics_text(associations: list, title: str) -> Text:
    """The whole statistics screen as text (both measures, by service and by peer)."""
    by_cmd, by_peer = response_stats(associations)
    out = Text()
    out.append(f"Service response time: {safe_text(title)}\n", style="bold")
    out.append("times in ms, from the end of the request to the start of the response "
               "(PS3.7 §9.1); p95 is the nearest-rank 95th percentile\n", style="dim")
    if not by_cmd:
        out.append("\nNo DIMSE request in the capture has been read yet.\n")
        return out
    folded = sum(n for a in associations for (name, _c, _t), n in dict(a.folded).items() if name.endswith("-RQ"))
    for which, label in (("final", "Request → final response"), ("first", "Request → first response")):
        out.append(f"\n{label}\n", style="bold cyan")
        _table_head(out, "service")
        for s in by_cmd:
            _row(out, s.command, s.summary(which), s.unanswered if which == "final" else 0)
        out.append("\n")
        _table_head(out, "peer (answering)")
        peer = None
        for s in by_peer:
            if s.peer != peer:
                peer = s.peer
                out.append(f"  {safe_text(peer)}\n", style="bold")
            _row(out, s.command, s.summary(which), s.unanswered if which == "final" else 0, indent=4)
    if folded:
        out.append(f"\n{folded} later request{'s' if folded != 1 else ''} of long associations were counted, "
                   "not kept, and are not timed here.\n", style="dim")
    return out


class StatsScreen(TextScreen):
    """Response-time statistics of the capture, or of one association (``a`` switches)."""

    BINDINGS = [Binding("a", "scope", "Capture / association")]
    DEFAULT_CSS = """
    StatsScreen > VerticalScroll { width: 96%; height: 92%; }
    """

    def __init__(self, session, association=None, close_key: tuple[str, ...] = ()):
        self.session = session
        self.assoc = association
        self.whole = True
        super().__init__("Statistics", self._text(), close_key)
        self.kind = "statistics"

    def _text(self) -> Text:
        if self.whole or self.assoc is None:
            return statistics_text(list(self.session.associations), f"{self.session.name} (a: selected association)")
        a = self.assoc
        return statistics_text([a], f"association #{a.number} {a.calling_ae or '?'} → {a.called_ae or '?'}"
                                    " (a: whole capture)")

    def action_scope(self) -> None:
        self.whole = not self.whole
        self.set_body(self._text())
