"""The throughput plot (``i``), like Wireshark's I/O graph: DICOM bytes per interval, both directions.

Of the whole capture or of the selected association (``a`` switches); each
association's span is marked by vertical lines at its start and end (up to
:data:`MAX_SPANS` of them; the selected one only when there are more). ``+``/``-``
change the interval. textual-plotext (and plotext) are imported only here, and
this module only when the screen opens, so start-up stays light.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from ...textsafe import safe_text
from ..text import size_text
from .traffic import nice_interval

MAX_SPANS = 12

try:
    from textual_plotext import PlotextPlot
except ImportError as e:               # a runtime dependency; say what to install rather than fail obscurely
    PlotextPlot = None
    MISSING = f"the throughput plot needs textual-plotext: pip install textual-plotext ({e})"
else:
    MISSING = ""


def interval_text(ns: int) -> str:
    if ns >= 1_000_000_000:
        return f"{ns / 1e9:g} s"
    return f"{ns / 1e6:g} ms"


class IOGraphScreen(ModalScreen):
    """Bytes per interval (client → server, server → client) with the associations' spans."""

    BINDINGS = [Binding("escape,q", "dismiss_pane", "Close"),
                Binding("a", "scope", "Capture / association"),
                Binding("plus,equals_sign", "interval(-1)", "Finer"),
                Binding("minus", "interval(1)", "Coarser")]
    DEFAULT_CSS = """
    IOGraphScreen { align: center middle; }
    IOGraphScreen > Vertical { width: 96%; height: 92%; border: thick $accent; background: $surface; }
    IOGraphScreen #io-caption { height: auto; max-height: 3; padding: 0 1; }
    IOGraphScreen PlotextPlot { height: 1fr; }
    """

    def __init__(self, session, association=None, close_key: tuple[str, ...] = ()):
        super().__init__()
        self.kind = "io_graph"
        self.session = session
        self.assoc = association
        self.whole = True
        self.close_keys = tuple(close_key)
        self.interval = 0
        self.series: tuple[list, list, list] = ([], [], [])

    def bounds(self) -> tuple[int, int]:
        s = self.session
        t0 = s.t0
        if self.whole or self.assoc is None:
            return t0, max(s.last_ts, t0)
        a = self.assoc
        start = a.start_ns if a.start_ns is not None else t0
        end = a.end_ns if a.end_ns is not None else max(s.last_ts, start)
        return start, max(end, start)

    def compute(self) -> None:
        lo, hi = self.bounds()
        if not self.interval:
            self.interval = nice_interval(hi - lo)
        number = None if (self.whole or self.assoc is None) else self.assoc.number
        traffic = self.session.traffic
        traffic.catch_up(self.session.associations, self.session.items)
        self.series = traffic.series(lo, hi, self.interval, number)

    def caption(self) -> Text:
        x, up, down = self.series
        out = Text()
        if self.whole or self.assoc is None:
            out.append(f"{safe_text(self.session.name)}: whole capture", style="bold")
        else:
            a = self.assoc
            out.append(f"association #{a.number} {safe_text(a.calling_ae or '?')} → "
                       f"{safe_text(a.called_ae or '?')}", style="bold")
        out.append(f"   bytes per {interval_text(self.interval)}: client → server {size_text(sum(up))}, "
                   f"server → client {size_text(sum(down))}")
        out.append("\nvertical lines: association start (green) and end (red)   a: capture / association   "
                   "+ -: interval", style="dim")
        return out

    def compose(self) -> ComposeResult:
        box = Vertical()
        box.border_title = "Throughput (I/O graph)"
        with box:
            yield Static(id="io-caption", markup=False)
            if PlotextPlot is not None:
                yield PlotextPlot(id="io-plot")
            else:
                yield Static(MISSING, id="io-missing", markup=False)

    def on_mount(self) -> None:
        self.redraw()

    def spans(self) -> list[tuple[int, int, int]]:
        """(number, start, end) of the associations to mark, in ns."""
        s = self.session
        if self.whole or self.assoc is None:
            assocs = list(s.associations)
            if len(assocs) > MAX_SPANS:
                assocs = [self.assoc] if self.assoc is not None else []
        else:
            assocs = [self.assoc]
        out = []
        for a in assocs:
            if a.start_ns is None:
                continue
            out.append((a.number, a.start_ns, a.end_ns if a.end_ns is not None else s.last_ts))
        return out

    def redraw(self) -> None:
        self.compute()
        self.query_one("#io-caption", Static).update(self.caption())
        if PlotextPlot is None:
            return
        widget = self.query_one(PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        x, up, down = self.series
        scale, unit = 1, "B"
        peak = max(up + down, default=0)
        for s, u in ((1 << 20, "MiB"), (1 << 10, "KiB")):
            if peak >= 4 * s:
                scale, unit = s, u
                break
        plt.plot(x, [v / scale for v in up], label="client → server", color="cyan", marker="braille")
        plt.plot(x, [v / scale for v in down], label="server → client", color="magenta", marker="braille")
        lo = self.bounds()[0]
        for _number, start, end in self.spans():
            plt.vline((start - lo) / 1e9, "green")
            plt.vline((end - lo) / 1e9, "red")
        plt.xlabel("seconds since the first frame" if self.whole or self.assoc is None
                   else "seconds since the association began")
        plt.ylabel(f"{unit} per {interval_text(self.interval)}")
        widget.refresh()

    def on_key(self, event) -> None:
        if event.key in self.close_keys:
            event.stop()
            self.dismiss()

    def action_dismiss_pane(self) -> None:
        self.dismiss()

    def action_scope(self) -> None:
        if self.assoc is None:
            return
        self.whole = not self.whole
        self.interval = 0
        self.redraw()

    def action_interval(self, direction: int) -> None:
        """Coarser (1) or finer (-1) intervals along 1, 2, 5 × 10^k (at least 1 ms)."""
        lo, hi = self.bounds()
        steps = []
        step = 1_000_000
        while step <= max(hi - lo, 1_000_000) * 10:
            steps.extend(step * m for m in (1, 2, 5))
            step *= 10
        i = min(range(len(steps)), key=lambda k: abs(steps[k] - self.interval))
        i = max(0, min(len(steps) - 1, i + direction))
        if (hi - lo) // steps[i] > 5000:     # a bound on the work and on the points drawn
            return
        self.interval = steps[i]
        self.redraw()
