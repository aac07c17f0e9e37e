"""Rich ``Text`` for the TUI's rows, panels and hex lines.

Every string that came off the wire (AE titles, UIDs, values) goes through
:func:`~dicomsniff.textsafe.safe_text` and into a ``Text`` object as plain
text, never into a markup string: ``[red]X`` or ``ESC[31m`` in an AE title
shows as those characters.
"""

from __future__ import annotations

import bisect

from rich.text import Text

from ...capture.frame import ip_text
from ...dimse.status import status_info
from ...textsafe import safe_text
from ...ul.pdus import P_DATA_TF
from ...uids import uid_name
from ..describe import context_line, identifier_keys, outcome_text
from ..text import duration_text, rel_time

OUTCOME_STYLE = {"released": "green", "rejected": "bold red", "aborted": "bold red", "incomplete": "yellow"}
STATUS_STYLE = {"Success": "green", "Pending": "cyan", "Cancel": "yellow", "Warning": "yellow",
                "Failure": "bold red"}
BAR_CELLS = 20
ARROW_WIDTH = 30


def text(s: object, style: str = "") -> Text:
    """A Text holding ``s`` literally (control characters escaped)."""
    return Text(safe_text(s), style=style)


def time_bar(start: int | None, end: int | None, t0: int, t1: int, cells: int = BAR_CELLS) -> str:
    """``cells`` characters: █ where the association lived within [t0, t1], ▁ elsewhere."""
    if start is None:
        return "▁" * cells
    end = start if end is None else end
    span = max(1, t1 - t0)
    first = min(cells - 1, max(0, (start - t0) * cells // span))
    last = min(cells - 1, max(first, (end - t0) * cells // span))
    return "".join("█" if first <= i <= last else "▁" for i in range(cells))


ASSOC_HEADER = (f"{'#':>4} {'time':>10}  {'client → server':<44} {'calling → called AE':<34} "
                f"{'outcome':<10} {'msgs':>5} {'err':>4} {'warn':>4} {'duration':>9}  timeline")
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "note": "cyan", "chat": "dim"}
MARK = {"error": ("!", "bold red"), "warning": ("!", "bold yellow")}


def association_row(a, t0: int, t1: int, counts: tuple[int, int] | None = None) -> Text:
    """One association-list row: number, time, peers, AE titles, outcome, counts, duration, bar.

    ``counts`` is (errors, warnings) of the diagnosis; None while it is not computed yet.
    """
    row = Text(no_wrap=True, overflow="ellipsis")
    start = a.start_ns if a.start_ns is not None else t0
    row.append(f"{a.number:>4} {rel_time(start, t0):>10}  ")
    row.append(safe_text(f"{a.client} → {a.server}")[:44].ljust(44) + " ")
    aes = f"{safe_text(a.calling_ae or '?')} → {safe_text(a.called_ae or '?')}"
    row.append(aes[:34].ljust(34) + " ", style="bold")
    outcome = a.outcome
    row.append(f"{outcome:<10}", style=OUTCOME_STYLE.get(outcome, ""))
    row.append(f" {len(a.messages):>5} ")
    if counts is None:
        row.append(f"{'…':>4} {'…':>4}", style="dim")
    else:
        err, warn = counts
        row.append(f"{err:>4}", style="bold red" if err else "dim")
        row.append(f" {warn:>4}", style="yellow" if warn else "dim")
    row.append(f" {duration_text(a.duration_ns):>9}  ")
    row.append(time_bar(a.start_ns, a.end_ns, t0, t1), style=OUTCOME_STYLE.get(outcome, ""))
    return row


def _arrow(name: str, to_server: bool, width: int = ARROW_WIDTH) -> str:
    label = f"─{name}─"
    fill = max(2, width - len(label) - 1)
    if to_server:
        return ("─" + label + "─" * fill)[: width - 1] + "▶"
    return "◀" + ("─" + label + "─" * fill)[: width - 1]


def item_status(item):
    """The StatusInfo of a response message row, else None."""
    m = item.message
    if m is None or m.command is None or m.command.status is None:
        return None
    cmd = m.command
    sop = cmd.affected_sop_class_uid
    ex = item.exchange
    if sop is None and ex is not None and ex.request is not None and ex.request.command is not None:
        sop = ex.request.command.affected_sop_class_uid
    return status_info(cmd.status, cmd.command_field, sop)


def item_summary(item) -> str:
    """The summary column: a PDU's info line, or a message's SOP class and identifier keys."""
    if item.message is None:
        return safe_text(item.pdu.info)
    m = item.message
    cmd = m.command
    parts: list[str] = []
    if cmd is not None:
        uid = cmd.affected_sop_class_uid or cmd.requested_sop_class_uid
        if uid:
            parts.append(safe_text(uid_name(uid)))
        if cmd.move_destination:
            parts.append(f"to {safe_text(cmd.move_destination)}")
    keys = identifier_keys(m)
    if keys:
        parts.append(f"({keys})")
    if not m.complete:
        parts.append("[incomplete]")
    return " ".join(parts)


def ladder_row(item, a, t0: int, dim: bool = False, mark: str | None = None) -> Text:
    """One ladder row: marker, time, frame, arrow between SCU and SCP, message ID, summary, status.

    ``mark`` is the worst severity of the diagnosis findings naming a frame of this row
    (a red ``!`` for an error, a yellow one for a warning).
    """
    to_server = item.direction == a.client_dir
    row = Text(no_wrap=True, overflow="ellipsis")
    sign, style = MARK.get(mark, (" ", ""))
    row.append(sign, style=style)
    row.append(f"{rel_time(item.ts_ns, t0):>11} {item.frame:>7}  ", style="dim" if dim else "")
    if item.message is not None:
        m = item.message
        cmd = m.command
        name = m.name
        info = item_status(item)
        if info is not None and info.category != "Success":
            name += f" {info.category}"
        style = "bold" if not dim else "dim"
        if info is not None and info.category == "Failure":
            style = "bold red"
        row.append("SCU ", style="dim")
        row.append(_arrow(name, to_server), style=style)
        row.append(" SCP", style="dim")
        mid = None
        if cmd is not None:
            mid = cmd.message_id if cmd.message_id is not None else cmd.responds_to
        row.append(f" {'#' + str(mid) if mid is not None else '':>6}  ", style="dim" if dim else "")
        if info is not None:
            row.append(info.display[:40] + "  ", style=STATUS_STYLE.get(info.category, "") if not dim else "dim")
        row.append(item_summary(item), style="dim" if dim else "")
        return row
    pdu = item.pdu
    pdata = pdu.pdu_type == P_DATA_TF
    style = "dim" if (pdata or dim) else ("bold red" if pdu.pdu_type in (3, 7) else "bold cyan")
    row.append("SCU ", style="dim")
    row.append(_arrow(pdu.name, to_server), style=style)
    row.append(" SCP", style="dim")
    row.append(f" {'':>6}  ")
    row.append(item_summary(item) + ("" if pdu.complete else "  [incomplete]"), style="dim" if pdata or dim else "")
    return row


def item_search_text(item) -> str:
    """Everything a free-text search looks at for one row: summary and decoded values."""
    parts = [item_summary(item)]
    if item.message is not None:
        m = item.message
        parts.append(m.name)
        for root in (m.command.tree if m.command else None, m.data.tree if m.data else None):
            if root is not None:
                parts.extend(f.text() for _, f in root.walk())
    else:
        parts.append(item.pdu.name)
        if item.pdu.decoded is not None:
            parts.extend(f.text() for _, f in item.pdu.decoded.tree.walk())
    return "\n".join(parts).lower()


def contexts_text(a) -> Text:
    """The presentation contexts panel: proposed versus accepted, with reasons."""
    out = Text()
    out.append(f"Association #{a.number}  ", style="bold")
    out.append(f"{safe_text(a.calling_ae or '?')} → {safe_text(a.called_ae or '?')}\n\n", style="bold")
    if not a.contexts:
        out.append("No presentation contexts seen (the capture may have begun after negotiation).\n")
    for ctx in sorted(list(a.contexts.values()), key=lambda c: c.id):
        style = "green" if ctx.accepted else ("yellow" if ctx.result is None else "red")
        out.append(context_line(ctx) + "\n", style=style)
    mp = a.max_pdu
    out.append(f"\nmax PDU: requestor {mp['requestor']}, acceptor {mp['acceptor']}\n", style="dim")
    out.append(f"outcome: {safe_text(outcome_text(a))}\n", style=OUTCOME_STYLE.get(a.outcome, ""))
    return out


def _finding_lines(out: Text, findings: list) -> None:
    """One entry per cause: repeats are already grouped (``count``, first and last frame)."""
    for f in findings:
        style = SEVERITY_STYLE.get(f.severity, "")
        count = getattr(f, "count", 1)
        out.append(f"[{f.severity}] ", style=style)
        if count > 1:
            out.append(f"×{count} ", style=style)
        out.append(safe_text(f.message), style="bold" if f.severity == "error" else "")
        code = getattr(f, "code", "")
        if code:
            out.append(f"  ({safe_text(code)})", style="dim")
        if f.frames:
            first, last = getattr(f, "first", f.frames[0]), getattr(f, "last", f.frames[-1])
            if count > 1 and first != last:
                out.append(f"\n    frames {first} … {last} ({count} times)", style="dim")
            else:
                more = f" … {len(f.frames) - 8} more" if len(f.frames) > 8 else ""
                out.append(f"\n    frames {', '.join(str(x) for x in f.frames[:8])}{more}", style="dim")
        out.append("\n")
        if f.hint:
            out.append(f"    {safe_text(f.hint)}\n", style="italic")


def findings_text(a, diagnosis=None) -> Text:
    """The findings panel: the diagnosis findings of the association (frames, hints), worst first.

    Without a diagnosis yet (still loading) it shows the model's own findings and says so.
    """
    out = Text()
    out.append(f"Association #{a.number} ", style="bold")
    out.append(f"{safe_text(a.calling_ae or '?')} → {safe_text(a.called_ae or '?')}\n", style="bold")
    if diagnosis is None:
        from ...model.rules.registry import group
        found = group(list(a.findings))
        out.append("Diagnosis runs when loading is done; these are the decoder's findings so far.\n\n",
                   style="dim")
    else:
        found = diagnosis.of(a.number)
        err, warn = diagnosis.count(a.number) or (0, 0)
        notes = len(found) - err - warn
        out.append(f"{err} error{'s' if err != 1 else ''}, {warn} warning{'s' if warn != 1 else ''}, "
                   f"{notes} note{'s' if notes != 1 else ''}", style="bold red" if err else
                   ("yellow" if warn else "green"))
        if not diagnosis.final:
            out.append("  (live: diagnosis of what was captured so far)", style="dim")
        out.append("\n")
        if diagnosis.error:
            out.append(f"diagnosis failed: {safe_text(diagnosis.error)}\n", style="bold red")
        out.append("\n")
    if not found:
        out.append("No findings: nothing looked wrong.\n", style="green")
    _finding_lines(out, found)
    if diagnosis is not None and diagnosis.capture:
        out.append("\nCapture (no association)\n", style="bold")
        _finding_lines(out, diagnosis.capture[:20])
    return out


def association_detail(a, counts: tuple[int, int] | None = None) -> Text:
    """A one-line header above the ladder for the selected association."""
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(f"#{a.number} ", style="bold")
    out.append(f"{safe_text(a.calling_ae or '?')} → {safe_text(a.called_ae or '?')}", style="bold")
    out.append(f"  {ip_text(a.client.ip)}:{a.client.port} → {ip_text(a.server.ip)}:{a.server.port}  ")
    out.append(safe_text(outcome_text(a)), style=OUTCOME_STYLE.get(a.outcome, ""))
    found = "…" if counts is None else f"{counts[0]} err, {counts[1]} warn"
    out.append(f"   c: contexts ({len(a.contexts)})  f: findings ({found})", style="dim")
    return out


class ByteSource:
    """The bytes of a reassembled unit, read back from frames through its SpanMap."""

    def __init__(self, spans, read_frame, length: int | None = None):
        self.spans = list(spans.spans)
        self.starts = [s.unit_offset for s in self.spans]
        self.length = spans.length if length is None else length
        self.read_frame = read_frame
        self.frames = spans.frames

    def read(self, offset: int, n: int) -> list[int | None]:
        """``n`` byte values from ``offset`` (None where the bytes are not available)."""
        out: list[int | None] = []
        pos, end = offset, min(offset + n, self.length)
        while pos < end:
            i = bisect.bisect_right(self.starts, pos) - 1
            if i < 0 or pos >= self.spans[i].unit_offset + self.spans[i].length:
                out.append(None)
                pos += 1
                continue
            s = self.spans[i]
            data = self.read_frame(s.frame)
            take = min(end, s.unit_offset + s.length) - pos
            start = s.frame_offset + pos - s.unit_offset
            chunk = data[start:start + take] if data is not None else b""
            out.extend(chunk)
            if len(chunk) < take:
                out.extend([None] * (take - len(chunk)))
            pos += take
        return out

    def frame_of(self, offset: int) -> int | None:
        i = bisect.bisect_right(self.starts, offset) - 1
        if i < 0:
            return None
        s = self.spans[i]
        return s.frame if offset < s.unit_offset + s.length else None


def hex_line(source: ByteSource, row: int, hl: tuple[int, int] | None) -> Text:
    """One 16-byte hex dump line with the highlighted byte range in reverse video."""
    off = row * 16
    values = source.read(off, 16)
    line = Text(no_wrap=True)
    line.append(f"{off:08x}  ", style="dim")
    lo, hi = hl if hl is not None else (-1, -1)
    for i in range(16):
        style = "reverse bold" if lo <= off + i < hi else ""
        if i < len(values):
            v = values[i]
            line.append("??" if v is None else f"{v:02x}", style=style)
        else:
            line.append("  ")
        line.append(" " if i != 7 else "  ", style=style if lo <= off + i + 1 < hi and i < 15 else "")
    line.append(" ")
    for i, v in enumerate(values):
        style = "reverse bold" if lo <= off + i < hi else "dim"
        line.append("." if v is None or not 32 <= v < 127 else chr(v), style=style)
    return line
