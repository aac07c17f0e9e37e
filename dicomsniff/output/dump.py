"""``dicomsniff dump``: one line per PDU in the spirit of Wireshark's packet list; ``-V`` adds trees."""

from __future__ import annotations

from typing import Callable, Iterable

from ..notice import Notice
from ..pipeline import MessageSeen, PduSeen
from ..textsafe import safe_text
from .text import rel_time, tree_lines


def pdu_frame(pdu) -> int:
    """The frame in which a PDU is complete (Wireshark shows reassembled PDUs there)."""
    spans = pdu.spans.spans
    return spans[-1].frame if spans else 0


def pdu_line(ev: PduSeen, t0: int) -> str:
    a, pdu = ev.association, ev.pdu
    src, dst = (a.client, a.server) if pdu.direction == a.client_dir else (a.server, a.client)
    flag = "" if pdu.complete else "  [incomplete]"
    return (f"{pdu_frame(pdu):>7} {rel_time(pdu.end_ts_ns, t0):>11} #{a.number:<3} {src} → {dst}  "
            f"{safe_text(pdu.info)}{flag}")


def message_header(ev: MessageSeen) -> str:
    m = ev.message
    cmd = m.command
    label = cmd.tree.display if cmd is not None else ""
    return f"    DIMSE {m.name} on context {m.context_id}" + (f" ({safe_text(label)})" if label else "")


def write_dump(events: Iterable, write: Callable[[str], None], *, verbose: bool, t0: Callable[[], int]) -> int:
    """Write dump lines for ``events``; returns the number of PDUs shown."""
    count = 0
    for ev in events:
        t = type(ev)
        if t is PduSeen:
            count += 1
            write(pdu_line(ev, t0()))
            if verbose:
                for line in tree_lines(ev.pdu.tree(), base=0):
                    write("    " + line)
        elif t is MessageSeen and verbose:
            write(message_header(ev))
            m = ev.message
            if m.command is not None:
                for line in tree_lines(m.command.tree):
                    write("        " + line)
            if m.data is not None:
                for line in tree_lines(m.data.tree):
                    write("        " + line)
            for f in m.findings:
                write(f"        [{f.severity}] {safe_text(f.message)}")
        elif t is Notice:
            where = f" (frame {ev.frame})" if ev.frame else ""
            write(f"        [{ev.severity}] {ev.where}: {safe_text(ev.message)}{where}")
    return count
