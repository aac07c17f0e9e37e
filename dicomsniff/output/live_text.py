"""Live capture output: one line (or one JSON record) per association event, as it happens.

Text lines read like a conversation log::

    08:46:44.491  #1 127.0.0.1:40312 → 127.0.0.1:11112  ECHOSCU → ANY-SCP requests an association (1 context)
    08:46:44.493  #1 accepted (1 of 1 contexts, max PDU 16384/16384)
    08:46:44.494  #1 C-ECHO-RQ #1 Verification SOP Class → Success in 1 ms
    08:46:44.495  #1 released after 4 ms: 1 exchange, 0 objects

With ``jsonl`` every line is one JSON record, written and flushed as soon as
what it describes is complete: ``{"record": "live", "event": ...}`` for the
conversation events above; the export's ``message`` records (with their
``association`` number) as each DIMSE message completes; the export's
``association`` record when an association ends, followed by one ``finding``
record per diagnosis finding of it (``dicomsniff diagnose``'s, rules across
associations at the end); ``file`` records when a ring-buffer file is complete
(``capture --rotate``); ``notice`` records; ``header`` first and ``end`` last.
A live run and an export of the same traffic can be compared record by record.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Callable

from ..model.association import ABORTED, INCOMPLETE, REJECTED, Association
from ..notice import Notice
from ..pipeline import AssociationClosed, AssociationOpened, MessageSeen, PduSeen
from ..textsafe import safe_text
from ..timefmt import clock_time
from ..ul.events import BRIEF_SPANS
from ..ul.pdus import ASSOCIATE_AC, ASSOCIATE_RJ, ASSOCIATE_RQ
from . import json_export as J
from .describe import association_title, exchange_line, outcome_text
from .text import duration_text, iso_time


DIGESTS_KEPT = 10_000      # association digests kept for the rules across associations (C-MOVE, per object)


def clock(ts_ns: int) -> str:
    """Local wall-clock time with milliseconds, e.g. '08:46:44.491' (raw seconds outside the calendar)."""
    return clock_time(ts_ns)


class LiveReporter:
    """Turns analyzer events into lines passed to ``write`` (text or JSON lines)."""

    def __init__(self, write: Callable[[str], None], *, jsonl: bool = False, trees: bool = False,
                 slow_s: float = 5.0, idle_s: float = 10.0):
        self.write = write
        self.jsonl = jsonl
        self.trees = trees
        self.associations = 0
        self.closed = 0
        self.exchanges = 0
        self.findings = 0
        self.diag = None
        if jsonl:
            from ..model.diagnosis import Diagnoser, PduWatch
            self.watch = PduWatch()
            self.diag = Diagnoser(slow_s=slow_s, idle_s=idle_s, watch=self.watch)

    # -- events -------------------------------------------------------------------------

    def event(self, ev) -> None:
        """Report one analyzer event if it is worth a line; never raises on odd input."""
        t = type(ev)
        if t is PduSeen:
            if self.diag is not None:
                self.watch.event(ev)
            self._pdu(ev.association, ev.pdu)
        elif t is MessageSeen:
            if self.jsonl:
                self._message_record(ev)
            self._message(ev)
        elif t is AssociationOpened:
            self.associations += 1
        elif t is AssociationClosed:
            self._closed(ev.association)
        elif t is Notice and ev.where in ("capture", "tcp"):
            self._notice(ev)

    def _live(self, kind: str, a: Association | None, ts_ns: int, text: str, **extra) -> None:
        if self.jsonl:
            body = {"event": kind, "time": iso_time(ts_ns)}
            if a is not None:
                body["association"] = a.number
            body.update(extra)
            self.write(J.jsonl_record("live", body))
        else:
            who = f"#{a.number} " if a is not None else ""
            self.write(f"{clock(ts_ns)}  {who}{text}")

    def _pdu(self, a: Association, pdu) -> None:
        t = pdu.pdu_type
        if t == ASSOCIATE_RQ and a.rq is not None:
            n = len(a.contexts)
            self._live("association-requested", a, pdu.ts_ns,
                       f"{a.client} → {a.server}  {association_title(a)} requests an association "
                       f"({n} context{'s' if n != 1 else ''})",
                       calling_ae=a.calling_ae, called_ae=a.called_ae,
                       client=a.client.to_json(), server=a.server.to_json(), contexts=n)
        elif t == ASSOCIATE_AC and a.ac is not None:
            ok = sum(1 for c in a.contexts.values() if c.accepted)
            mp = a.max_pdu
            self._live("association-accepted", a, pdu.ts_ns,
                       f"accepted ({ok} of {len(a.contexts)} contexts, max PDU "
                       f"{mp['requestor'] or '-'}/{mp['acceptor'] or '-'})",
                       accepted_contexts=ok, contexts=len(a.contexts))
        elif t == ASSOCIATE_RJ and a.state == REJECTED:
            self._live("association-rejected", a, pdu.ts_ns, f"rejected: {safe_text(a.reject_text() or '')}",
                       reason=a.reject_text())

    def _message_record(self, ev: MessageSeen) -> None:
        """The export's ``message`` record, as the message completes."""
        a, msg = ev.association, ev.message
        self.write(J.jsonl_record("message", {"association": a.number,
                                              **J.message_json(a, msg, ev.exchange, t0=0)}))
        if msg.data_spans is not None:
            msg.data_spans.trim(BRIEF_SPANS)        # written: the diagnosis needs only the first frames

    def _findings(self, findings: list) -> None:
        for f in findings:
            self.findings += 1
            self.write(J.jsonl_record("finding", f.to_json()))

    def _message(self, ev: MessageSeen) -> None:
        a, msg, ex = ev.association, ev.message, ev.exchange
        if ex is None:
            self._live("message", a, msg.end_ts_ns or msg.ts_ns, safe_text(msg.name), command=msg.name)
            return
        if ex.final is not msg and not (ex.request is None and ex.responses and ex.responses[-1] is msg):
            return          # a request, or a pending response: the exchange is not over yet
        self.exchanges += 1
        info = ex.status_info
        self._live("exchange", a, msg.end_ts_ns or msg.ts_ns, exchange_line(ex),
                   command=ex.request.name if ex.request is not None else msg.name,
                   message_id=ex.message_id, status=ex.status,
                   status_text=info.meaning if info else None,
                   status_category=info.category if info else None,
                   pending=ex.pending, duration_ms=None if ex.duration_ns is None
                   else round(ex.duration_ns / 1e6, 3))

    def _closed(self, a: Association) -> None:
        self.closed += 1
        if self.jsonl:
            findings = self.diag.association(a, forget=True)
            del self.diag.digests[:-DIGESTS_KEPT]       # bounded over days: cross-association rules look back this far
            self.write(J.jsonl_record("association", {**J.association_json(a, trees=self.trees, findings=findings),
                                                      "exchange_outcomes": J.outcome_counts(a)}))
            self._findings(findings)
            return
        n_ex = len(a.exchanges)
        counts = f"{n_ex} exchange{'s' if n_ex != 1 else ''}, {a.objects} object{'s' if a.objects != 1 else ''}"
        if a.outcome == INCOMPLETE:
            why = {"rst": "connection reset", "fin": "connection closed without A-RELEASE",
                   "eof": "still open when the capture stopped"}.get(a.end_how or "", a.end_how or "")
            text = f"incomplete ({why}): {counts}"
        elif a.outcome == ABORTED:
            text = f"{outcome_text(a)}: {counts}"
        elif a.outcome == REJECTED:
            text = "closed after rejection"
        else:
            text = f"{a.outcome} after {duration_text(a.duration_ns)}: {counts}"
        if a.gaps:
            text += f" ({a.gaps} gap{'s' if a.gaps != 1 else ''} in the capture)"
        self.write(f"{clock(a.end_ns or 0)}  #{a.number} {text}")

    def _notice(self, n: Notice) -> None:
        if self.jsonl:
            self.write(J.jsonl_record("notice", J.notice_json(n)))
        else:
            self.write(f"! {safe_text(n.message)}")

    # -- capture status -----------------------------------------------------------------

    def drops(self, ts_ns: int, dropped: int, new: int) -> None:
        """The kernel dropped ``new`` more packets (``dropped`` in all)."""
        self._live("drops", None, ts_ns,
                   f"! the kernel dropped {new} packet(s) ({dropped} so far): decoding may show gaps",
                   dropped_by_kernel=dropped, new=new)

    def file_done(self, path: str, frames: int, size: int, deleted: list) -> None:
        """A ring-buffer file is complete (renamed into place); ``deleted``: files removed by --keep."""
        if self.jsonl:
            self.write(J.jsonl_record("file", {"path": safe_text(path), "frames": frames, "bytes": size,
                                               "deleted": [safe_text(d) for d in deleted]}))
            return
        text = f"saved {safe_text(path)} ({frames} packet{'s' if frames != 1 else ''}, {size} bytes)"
        if deleted:
            text += f"; deleted {', '.join(safe_text(os.path.basename(d)) for d in deleted)} (--keep)"
        self.write(text)

    def write_error(self, text: str) -> None:
        """Saving failed (e.g. a full disk); the capture and its decoding go on."""
        if self.jsonl:
            self.write(J.jsonl_record("notice", {"where": "capture", "severity": "error",
                                                 "code": "capture-write-error", "message": safe_text(text),
                                                 "frame": 0}))
        else:
            self.write(f"! {safe_text(text)}")

    def finish(self) -> None:
        """The rules across associations (jsonl), once the capture has stopped."""
        if self.diag is not None:
            self._findings(self.diag.finish())

    def start(self, what: str) -> None:
        if self.jsonl:
            self.write(J.jsonl_record("header", J.header_json(what)))
        else:
            self.write(f"capturing on {what} (Ctrl-C to stop)")

    def end(self, packets: int, dropped: int, saved: str | None = None) -> None:
        """The closing line: packets captured, dropped by the kernel, associations."""
        if self.jsonl:
            self.write(J.jsonl_record("end", {"frames": packets, "dropped_by_kernel": dropped,
                                              "associations": self.associations,
                                              "exchanges": self.exchanges, "findings": self.findings,
                                              "saved": saved}))
            return
        text = (f"{packets} packet{'s' if packets != 1 else ''} captured, {dropped} dropped by the kernel, "
                f"{self.associations} association{'s' if self.associations != 1 else ''}, "
                f"{self.exchanges} exchange{'s' if self.exchanges != 1 else ''}")
        if saved:
            text += f"; written to {saved}"
        self.write(text)


def run_live(source, analyzer, write: Callable[[str], None], *, jsonl: bool = False, writer=None,
             count: int | None = None, duration: float | None = None,
             err: Callable[[str], None] | None = None, slow_s: float = 5.0, idle_s: float = 10.0) -> LiveReporter:
    """Run a live source through ``analyzer`` until Ctrl-C, SIGTERM, ``count`` or ``duration``.

    Each frame is saved (``writer``), analysed and reported as it arrives;
    kernel drops are reported when they increase. At the end the source and
    writer are closed, open associations are reported as incomplete, and a
    last line gives the totals. Signals are restored on return.
    """
    stop = threading.Event()
    reporter = LiveReporter(write, jsonl=jsonl, slow_s=slow_s, idle_s=idle_s)
    if hasattr(writer, "on_file"):             # a ring buffer (capture --rotate) says when a file is complete
        writer.on_file = reporter.file_done
        writer.on_error = reporter.write_error
    ring = hasattr(writer, "tick")
    previous = {}

    def on_signal(signum, _frame) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    feed, report, forget = analyzer.feed, reporter.event, analyzer.forget
    deadline = time.monotonic() + duration if duration else None
    next_check = time.monotonic() + 1.0
    dropped = 0
    packets = 0

    def emit(evs) -> None:
        for ev in evs:
            report(ev)
            if type(ev) is AssociationClosed:
                forget(ev.association)

    def check_drops() -> None:
        nonlocal dropped
        _, now_dropped = source.stats()
        if now_dropped > dropped:
            reporter.drops(time.time_ns(), now_dropped, now_dropped - dropped)
            dropped = now_dropped

    ok = False
    try:
        reporter.start(source.describe() if hasattr(source, "describe") else str(source))
        for frame in source.iter_frames(stop, idle=True):
            if frame is not None:
                packets += 1
                if writer is not None:
                    writer.write(frame)
                evs = feed(frame)
                if evs:
                    emit(evs)
                if count is not None and packets >= count:
                    break
                if packets & 255:
                    continue
            now = time.monotonic()
            if now >= next_check:
                next_check = now + 1.0
                check_drops()
                if ring:
                    writer.tick()               # completes a file that is old enough (--rotate DURATION)
                elif writer is not None and frame is None:
                    writer.flush()
            if deadline is not None and now >= deadline:
                break
        ok = True           # Ctrl-C, SIGTERM, --count and --duration are normal ends: the pcap goes into place
    finally:
        source.close()
        try:
            if writer is not None:
                writer.close(ok=ok)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        for n in getattr(source, "notices", []):
            report(n)
        emit(analyzer.finish())
        reporter.finish()
        check_drops()
        reporter.end(packets, dropped, getattr(writer, "path", None) and str(writer.path))
    return reporter
