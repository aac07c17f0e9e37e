"""Rows of the association list and the ladder as columns with priorities, so small screens keep what matters.

Each column has a priority (0 first), a minimum and a preferred width. For a pane
``width`` cells wide, :func:`layout` keeps the columns in priority order until the next one's
minimum width does not fit, then widens the kept ones towards their preferred width (most
important first); the columns then appear in their display order. At 80 columns the
association list keeps number, AE titles, outcome, errors, warnings and messages; the
ladder keeps the arrow with the command, the status meaning and the response time.
Everything from the wire goes through ``safe_text`` (via rows.py's helpers) into Text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rich.text import Text

from ...model.timing import exchange_times, since_request_ns
from ...textsafe import safe_text
from ...ul.pdus import P_DATA_TF
from ..text import duration_text, rel_time
from .rows import MARK, OUTCOME_STYLE, STATUS_STYLE, item_status, item_summary, time_bar


@dataclass(frozen=True, slots=True)
class Column:
    """One column: ``render(ctx, width)`` gives its Text (cut or padded here), ``right`` aligns right."""

    key: str
    title: str
    priority: int
    min: int
    want: int
    render: Callable
    right: bool = False
    gap: int = 1                      # blank cells after the column
    grow: int | None = None           # order in which kept columns widen (default: the priority)


def layout(columns: tuple[Column, ...], width: int) -> list[tuple[Column, int]]:
    """The columns that fit in ``width`` cells (by priority), each with its width, in display order."""
    order = sorted(range(len(columns)), key=lambda i: (columns[i].priority, i))
    kept: list[int] = []
    used = 0
    for i in order:
        c = columns[i]
        need = c.min + c.gap
        if used + need > width and kept:
            break                 # strictly by priority: the space left widens the kept columns instead
        kept.append(i)
        used += need
    widths = {i: columns[i].min for i in kept}
    spare = max(0, width - used)
    for i in sorted(kept, key=lambda i: (columns[i].priority if columns[i].grow is None else columns[i].grow, i)):
        grow = min(spare, columns[i].want - widths[i])
        if grow > 0:
            widths[i] += grow
            spare -= grow
    return [(columns[i], widths[i]) for i in sorted(kept)]


def _fit(t: Text, width: int, right: bool = False) -> Text:
    t = t.copy()
    t.no_wrap = True
    if t.cell_len > width:
        t.truncate(width, overflow="ellipsis")
    elif right:
        t = Text(" " * (width - t.cell_len)) + t
    else:
        t.pad_right(width - t.cell_len)
    return t


def render_row(cols: list[tuple[Column, int]], ctx) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis")
    for c, w in cols:
        out.append_text(_fit(c.render(ctx, w), w, c.right))
        if c.gap:
            out.append(" " * c.gap)
    return out


def header(cols: list[tuple[Column, int]]) -> Text:
    out = Text(no_wrap=True, style="bold underline")
    for c, w in cols:
        out.append_text(_fit(Text(c.title), w, c.right))
        if c.gap:
            out.append(" " * c.gap)
    return out


# -- association list ------------------------------------------------------------------


@dataclass(slots=True)
class AssocCtx:
    a: object
    t0: int
    t1: int
    counts: tuple[int, int] | None
    depth: int = 0                   # 1: a C-MOVE sub-association shown under its C-MOVE's association


def _a_number(c: AssocCtx, w: int) -> Text:
    if c.depth:
        return Text(f"└{c.a.number}", style="dim")
    return Text(str(c.a.number))


def _a_aes(c: AssocCtx, w: int) -> Text:
    a = c.a
    tls = getattr(a, "tls", None)           # DICOM over TLS (issue 15): what TLS showed when no AE title is known
    if tls is not None and not tls.decrypted and a.calling_ae is None:
        return Text(safe_text(tls.short_status()), style="yellow")
    return Text(f"{safe_text(a.calling_ae or '?')} → {safe_text(a.called_ae or '?')}", style="bold")


def _a_peers(c: AssocCtx, w: int) -> Text:
    return Text(safe_text(f"{c.a.client} → {c.a.server}"))


def _a_outcome(c: AssocCtx, w: int) -> Text:
    if getattr(c.a, "tls", None) is not None:      # DICOM over TLS (issue 15): 'encrypted', 'tls failed'
        from ..describe import list_cells
        return Text(list_cells(c.a)[1], style=OUTCOME_STYLE.get(c.a.outcome, ""))
    return Text(c.a.outcome, style=OUTCOME_STYLE.get(c.a.outcome, ""))


def _a_count(i: int, style: str) -> Callable:
    def render(c: AssocCtx, w: int) -> Text:
        if c.counts is None:
            return Text("…", style="dim")
        n = c.counts[i]
        return Text(str(n), style=style if n else "dim")
    return render


ASSOC_COLUMNS = (
    Column("number", "#", 0, 4, 5, _a_number, right=True),
    Column("time", "time", 6, 10, 10, lambda c, w: Text(rel_time(c.a.start_ns if c.a.start_ns is not None
                                                                 else c.t0, c.t0)), right=True, gap=2),
    Column("peers", "client → server", 5, 32, 44, _a_peers),
    Column("aes", "calling → called AE", 0, 18, 34, _a_aes, grow=-1),
    Column("outcome", "outcome", 0, 10, 10, _a_outcome),
    Column("messages", "msgs", 2, 5, 5, lambda c, w: Text(str(len(c.a.messages))), right=True),
    Column("errors", "err", 0, 4, 4, _a_count(0, "bold red"), right=True),
    Column("warnings", "warn", 0, 4, 4, _a_count(1, "yellow"), right=True),
    Column("duration", "duration", 3, 9, 9, lambda c, w: Text(duration_text(c.a.duration_ns)), right=True, gap=2),
    Column("timeline", "timeline", 4, 10, 20,
           lambda c, w: Text(time_bar(c.a.start_ns, c.a.end_ns, c.t0, c.t1, w),
                             style=OUTCOME_STYLE.get(c.a.outcome, ""))),
)


# -- ladder --------------------------------------------------------------------------------


@dataclass(slots=True)
class ItemCtx:
    item: object
    a: object
    t0: int
    dim: bool = False
    mark: str | None = None


def _l_mark(c: ItemCtx, w: int) -> Text:
    sign, style = MARK.get(c.mark, (" ", ""))
    return Text(sign, style=style)


def _arrow(name: str, to_server: bool, width: int) -> str:
    label = f"─{name}─"
    width = max(4, width)
    fill = max(2, width - len(label) - 1)
    if to_server:
        return ("─" + label + "─" * fill)[: width - 1] + "▶"
    return "◀" + ("─" + label + "─" * fill)[: width - 1]


def _l_arrow(c: ItemCtx, w: int) -> Text:
    item, a = c.item, c.a
    to_server = item.direction == a.client_dir
    if item.message is not None:
        m = item.message
        name = m.name
        info = item_status(item)
        if info is not None and info.category != "Success":
            name += f" {info.category}"
        style = "bold" if not c.dim else "dim"
        if info is not None and info.category == "Failure":
            style = "bold red"
    else:
        pdu = item.pdu
        name = pdu.name
        pdata = pdu.pdu_type == P_DATA_TF
        style = "dim" if (pdata or c.dim) else ("bold red" if pdu.pdu_type in (3, 7) else "bold cyan")
    out = Text(no_wrap=True)
    if w >= 30:
        out.append("SCU ", style="dim")
        out.append(_arrow(name, to_server, w - 8), style=style)
        out.append(" SCP", style="dim")
    else:
        out.append(_arrow(name, to_server, w), style=style)
    return out


def _l_id(c: ItemCtx, w: int) -> Text:
    m = c.item.message
    if m is None or m.command is None:
        return Text("")
    cmd = m.command
    mid = cmd.message_id if cmd.message_id is not None else cmd.responds_to
    return Text(f"#{mid}" if mid is not None else "", style="dim")


def response_time_text(item) -> tuple[str, str]:
    """The time column of a ladder row and its style.

    A request shows request → final response (``first…final`` when pending responses came
    first); a response shows the time since its request; ``…`` for a request still unanswered.
    """
    m, ex = item.message, item.exchange
    if m is None or ex is None:
        return "", ""
    if m is ex.request:
        t = exchange_times(ex)
        if t.final_ns is None:
            return ("…" if t.first_ns is None else f"{_short(t.first_ns)}…"), "dim"
        if t.first_ns is not None and t.first_ns != t.final_ns:
            return f"{_short(t.first_ns)}…{_short(t.final_ns)}", ""
        return _short(t.final_ns), ""
    since = since_request_ns(ex, m)
    return ("" if since is None else f"+{_short(since)}"), "dim"


def _short(ns: int) -> str:
    """A compact duration: 850µs, 12.3ms, 4.20s."""
    if ns < 0:
        return "-" + _short(-ns)
    if ns < 1_000_000:
        return f"{ns / 1000:.0f}µs"
    if ns < 100_000_000:
        return f"{ns / 1e6:.1f}ms"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.0f}ms"
    return f"{ns / 1e9:.2f}s"


def _l_rt(c: ItemCtx, w: int) -> Text:
    s, style = response_time_text(c.item)
    return Text(s, style="dim" if c.dim else style)


def _l_status(c: ItemCtx, w: int) -> Text:
    info = item_status(c.item)
    if info is None:
        return Text("")
    return Text(info.display, style=STATUS_STYLE.get(info.category, "") if not c.dim else "dim")


def _l_summary(c: ItemCtx, w: int) -> Text:
    item = c.item
    if item.message is None:
        pdu = item.pdu
        pdata = pdu.pdu_type == P_DATA_TF
        return Text(item_summary(item) + ("" if pdu.complete else "  [incomplete]"),
                    style="dim" if pdata or c.dim else "")
    return Text(item_summary(item), style="dim" if c.dim else "")


LADDER_COLUMNS = (
    Column("mark", "!", 0, 1, 1, _l_mark, gap=0),
    Column("time", "time", 6, 11, 11, lambda c, w: Text(rel_time(c.item.ts_ns, c.t0),
                                                        style="dim" if c.dim else ""), right=True),
    Column("frame", "frame", 5, 6, 7, lambda c, w: Text(str(c.item.frame), style="dim" if c.dim else ""),
           right=True, gap=2),
    Column("arrow", "message", 0, 22, 38, _l_arrow),
    Column("id", "id", 3, 5, 6, _l_id, right=True),
    Column("rt", "resp. time", 1, 12, 15, _l_rt, right=True, gap=2),
    Column("status", "status", 0, 24, 44, _l_status, gap=2, grow=-1),
    Column("summary", "summary", 2, 12, 200, _l_summary),
)
