"""JSON export of decoded sessions (schema: ``dicomsniff/schema/session-v1.json``).

Command sets and data sets use the DICOM JSON model of PS3.18 §F; bulk values
are replaced by a ``BulkDataURI`` of the form
``frame:N;offset=O;length=L`` (the frame and offset in it where the value
starts, and its length in the reassembled data set), never inlined.

Findings have one source, :func:`dicomsniff.model.diagnosis.diagnose` (which
refines the model's own findings and adds its rules'): the document's
top-level ``findings[]`` is its list, the same as ``dicomsniff diagnose
--json`` gives (capture-level ones with association 0), and
``associations[].findings`` is the part of that list for each association.
``Association.findings`` (the model's raw ones) is never exported beside it.
"""

from __future__ import annotations

import itertools
import json
from typing import IO

from .. import __version__
from ..capture.frame import ip_text
from ..model.association import Association, Exchange
from ..textsafe import json_text, safe_text
from ..ul.tables import (abort_reason_text, abort_source_text, context_result_text, reject_reason_text,
                         reject_result_text, reject_source_text, user_identity_type_text)
from ..uids import uid_name
from ..ul.dissect import INFO_PDVS, pdata_info
from ..ul.pdus import P_DATA_TF, Pdv
from .text import iso_time

SCHEMA_ID = "https://dicomsniff.invalid/schema/session-v1.json"
SCHEMA_VERSION = 1


def _ms(ns: int | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 3)


def bulk_uri(msg, offset: int, length: int) -> str:
    """Where a bulk value of a message's data set is: frame and offset in it, and length.

    A deflated data set's offsets count inflated bytes, which no frame holds: its URI says so,
    ``deflated:frame:N;offset=O;length=L`` — the data set that starts in frame N, inflated, from O.
    """
    if getattr(msg.data, "inflated", False):
        first = msg.data_spans.first_frame if msg.data_spans is not None else 0
        return f"deflated:frame:{first};offset={offset};length={length}"
    loc = msg.data_spans.locate(offset) if msg.data_spans is not None else None
    if loc is None:
        return f"dataset-offset:{offset};length={length}"
    return f"frame:{loc[0]};offset={loc[1]};length={length}"


def message_json(a: Association, msg, ex: Exchange | None, *, t0: int) -> dict:
    cmd = msg.command
    status = cmd.status if cmd is not None else None
    info = None
    if status is not None:
        from ..dimse.status import status_info
        sop_rq = ex.request.command.affected_sop_class_uid if ex and ex.request and ex.request.command else None
        info = status_info(status, cmd.command_field, sop_rq)
    data = None
    if msg.data is not None:
        data = msg.data.json_with(lambda off, ln: bulk_uri(msg, off, ln)) \
            if hasattr(msg.data, "json_with") else msg.data.json
    return {
        "index": msg.index,
        "command": msg.name,
        "direction": a.side(msg.direction),
        "time": iso_time(msg.ts_ns),
        "message_id": cmd.message_id if cmd is not None else None,
        "responds_to": cmd.responds_to if cmd is not None else None,
        "context_id": msg.context_id,
        "affected_sop_class_uid": cmd.affected_sop_class_uid if cmd is not None else None,
        "affected_sop_instance_uid": cmd.affected_sop_instance_uid if cmd is not None else None,
        "status": status,
        "status_text": info.meaning if info else None,
        "status_category": info.category if info else None,
        "frames": msg.frames,
        "complete": msg.complete,
        "cut": (msg.cut or None) if not msg.complete else None,
        "transfer_syntax": msg.transfer_syntax,
        "command_set": cmd.json if cmd is not None else None,
        "data_set": data,
        "data_set_length": msg.data_length if msg.data_spans is not None else None,
        "findings": [f.to_json() for f in msg.findings],
    }


def pdu_json(a: Association, pdu, *, trees: bool) -> dict:
    out = {
        "frame": pdu.spans.last_frame,
        "frames": pdu.spans.frames,
        "time": iso_time(pdu.end_ts_ns),
        "direction": a.side(pdu.direction),
        "type": pdu.name,
        "length": pdu.length,
        "info": safe_text(pdu.info),
        "complete": pdu.complete,
    }
    if pdu.lost:
        out["lost"] = [[off, n] for off, n in pdu.lost]
    if trees:
        out["tree"] = pdu.tree().to_json()
    return out


def pdata_jsonl(a: Association, pdu) -> str | None:
    """The ``pdu`` record of ``--jsonl --no-trees`` for a whole P-DATA-TF of at most INFO_PDVS PDVs — most
    records of any capture — written directly: exactly the text :func:`jsonl_record` gives for
    :func:`pdu_json` (every value here is a number or one of our own words); None for any other PDU."""
    pdvs = pdu.pdvs
    if pdu.pdu_type != P_DATA_TF or pdu.lost or len(pdvs) > INFO_PDVS:
        return None
    if len(pdvs) == 1:              # most P-DATA-TFs: one PDV, whose info line depends on two small numbers
        info = _one_pdv_info(pdvs[0].context_id, pdvs[0].control)
    else:
        info = pdata_info(pdvs)
    fl = pdu.spans.flat
    if len(fl) == 4:                # one span: one frame (SpanMap.frames, last_frame)
        last = fl[1]
        frames = str(last)
    else:
        sp = pdu.spans
        last = sp.last_frame
        frames = ",".join(map(str, sp.frames))
    return _pdata_line(f'"record":"pdu","association":{a.number},', a, last, frames, pdu.end_ts_ns,
                       pdu.direction, pdu.length, info, pdu.complete)


def _pdata_line(head: str, a: Association, last: int, frames: str, end_ts: int, direction: int, length: int,
                info: str, complete: bool) -> str:
    p0, p1, p2 = pdu_line_parts(head, a, direction, info, complete)
    return f'{p0}{last},"frames":[{frames}],"time":"{iso_time(end_ts)}{p1}{length}{p2}'


def pdu_line_parts(head: str, a: Association, direction: int, info: str, complete: bool) -> tuple[str, str, str]:
    """The text of a P-DATA-TF's compact record (``head`` first: the ``record`` and ``association`` members of a
    jsonl line, or none) around its last frame, the text of its frames' list, its time and its length."""
    return (f'{{{head}"frame":',
            f'","direction":"{a.side(direction)}","type":"P-DATA-TF","length":',
            f',"info":"{info}","complete":{"true" if complete else "false"}}}')


def quiet_parts(a: Association, direction: int, ctx: int, complete: bool = True) -> tuple[str, str, str]:
    """:func:`pdu_line_parts` of the jsonl line of a P-DATA-TF the analyzer counted quietly (its one PDV data, not
    the last, on ``ctx``): the analyzer writes these lines itself (``Analyzer(quiet_out=[], quiet_parts=this)``:
    ``quiet_out`` gets (association, line) as each such PDU ends, in the compiled walk too), the very text
    :func:`pdata_jsonl` writes for its event (``complete`` False: one a capture gap cut, whose line the analyzer
    ends with what it lost, as :func:`pdu_json` does)."""
    return pdu_line_parts(f'"record":"pdu","association":{a.number},', a, direction, _one_pdv_info(ctx, 0),
                          complete)


def quiet_record(a: Association, line: str) -> str:
    """The compact :func:`pdu_json` record that the ``-o`` document (``--no-trees``) lists for a quiet P-DATA-TF
    whose jsonl line (:func:`quiet_parts`) is ``line``: the same without its ``record`` and ``association``."""
    return "{" + line[len(f'{{"record":"pdu","association":{a.number},'):]


# pdata_jsonl's info lines of one-PDV P-DATA-TFs, by (presentation context, control header).
_ONE_PDV_INFO: dict[tuple[int, int], str] = {}


def _one_pdv_info(ctx: int, control: int) -> str:
    """The info line of a P-DATA-TF whose one PDV is on ``ctx`` with ``control`` (remembered: a few per capture)."""
    info = _ONE_PDV_INFO.get((ctx, control))
    if info is None:
        info = pdata_info([Pdv(6, 2, ctx, control)])
        if len(_ONE_PDV_INFO) < 4096:
            _ONE_PDV_INFO[(ctx, control)] = info
    return info


def association_json(a: Association, *, t0: int = 0, trees: bool = True, findings: list | None = None,
                     streamed: bool = False) -> dict:
    """One association; ``findings``: its diagnosis findings (default: what the model raised itself);
    ``streamed``: its messages and PDUs went out as records of their own (``--jsonl``), the arrays stay empty."""
    rq, ac = a.rq, a.ac
    reject = None
    if a.rj is not None:
        reject = {"result": a.rj.result, "result_text": reject_result_text(a.rj.result),
                  "source": a.rj.source, "source_text": reject_source_text(a.rj.source),
                  "reason": a.rj.reason, "reason_text": reject_reason_text(a.rj.source, a.rj.reason)}
    abort = None
    if a.abort is not None:
        abort = {"source": a.abort.source, "source_text": abort_source_text(a.abort.source),
                 "reason": a.abort.reason, "reason_text": abort_reason_text(a.abort.source, a.abort.reason),
                 "by": a.abort_by}
    ident = None
    if rq is not None and rq.user_info.user_identity is not None:
        u = rq.user_info.user_identity
        ident = {"type": u.type, "type_text": user_identity_type_text(u.type),
                 "user": u.primary.decode("utf-8", "replace") if u.type in (1, 2) else None,
                 "primary_length": len(u.primary), "password_present": bool(u.secondary),
                 "response_requested": bool(u.response_requested),
                 "server_response_present": bool(ac and ac.user_info.user_identity
                                                 and ac.user_info.user_identity.server_response)}

    def impl(x):
        if x is None:
            return None
        return {"class_uid": x.user_info.implementation_class_uid,
                "version": x.user_info.implementation_version}

    exchange_of: dict[int, Exchange] = {}
    for ex in a.exchanges:
        for m in ([ex.request] if ex.request else []) + ex.responses + ([ex.cancel] if ex.cancel else []):
            exchange_of[id(m)] = ex
    return {
        "number": a.number,
        "stream": a.stream,
        "calling_ae": a.calling_ae,
        "called_ae": a.called_ae,
        "client": {"ip": ip_text(a.client.ip), "port": a.client.port},
        "server": {"ip": ip_text(a.server.ip), "port": a.server.port},
        "state": a.outcome,
        "start": iso_time(a.start_ns),
        "end": iso_time(a.end_ns),
        "duration_ms": _ms(a.duration_ns),
        "started_mid_association": a.started_mid,
        "reject": reject,
        "abort": abort,
        "max_pdu": a.max_pdu,
        "implementation": {"requestor": impl(rq), "acceptor": impl(ac)},
        "application_context": rq.application_context if rq else None,
        "user_identity": ident,
        "roles": [{"sop_class_uid": r.sop_class_uid, "scu": r.scu_role, "scp": r.scp_role, "side": side}
                  for side, x in (("requestor", rq), ("acceptor", ac)) if x is not None
                  for r in x.user_info.roles],
        "contexts": [{"id": c.id, "abstract_syntax": c.abstract_syntax,
                      "abstract_syntax_name": uid_name(c.abstract_syntax) if c.abstract_syntax else None,
                      "transfer_syntaxes": c.proposed, "result": c.result,
                      "result_text": c.result_text if c.result is not None else "not answered",
                      "transfer_syntax": c.transfer_syntax if c.accepted else None}
                     for c in sorted(a.contexts.values(), key=lambda c: c.id)],
        "exchange_outcomes": [{"command": name, "category": cat, "status_text": text, "count": n}
                              for (name, cat, text), n in sorted(a.folded.items())],
        "counts": {"pdus": a.pdu_count, "messages": a.message_count, "objects": a.objects,
                   "bytes_client": a.bytes[a.client_dir], "bytes_server": a.bytes[1 - a.client_dir],
                   "failures": a.failures, "gaps": a.gaps,
                   "bytes_per_second": round(a.throughput) if a.throughput else None},
        "messages": [] if streamed else [message_json(a, m, exchange_of.get(id(m)), t0=t0) for m in a.messages],
        "pdus": [] if streamed else [pdu_json(a, p, trees=trees) for p in a.pdus],
        "findings": [f.to_json() for f in (a.findings if findings is None else findings)],
        "tls": a.tls.to_json() if getattr(a, "tls", None) is not None else None,     # issue 15
    }


def outcome_counts(a: Association) -> list[dict]:
    """Every exchange of an association counted by command and outcome (kept ones and folded ones)."""
    counts = dict(a.folded)
    for ex in a.exchanges:
        if ex.folded:
            continue
        info = ex.status_info
        key = (ex.request.name if ex.request is not None else "?", info.category if info else "No response",
               info.display if info else "no response")
        counts[key] = counts.get(key, 0) + 1
    return [{"command": name, "category": cat, "status_text": text, "count": n}
            for (name, cat, text), n in sorted(counts.items())]


def notice_json(n) -> dict:
    return {"where": n.where, "severity": n.severity, "code": n.finding.code, "message": n.message,
            "frame": n.frame}


def header_json(capture: str) -> dict:
    return {"schema": SCHEMA_ID, "schema_version": SCHEMA_VERSION,
            "generator": {"name": "dicomsniff", "version": __version__}, "capture": capture}


def write_document(fp: IO[str], capture: str, assocs: list[Association], notices: list, *,
                   frames: int, t0: int, trees: bool = True, findings: list | None = None) -> None:
    """The ``-o`` document. ``findings``: the diagnosis (computed here from the kept PDUs when None)."""
    if findings is None:
        findings = diagnosis_findings(assocs, notices)
    by: dict[int, list] = {}
    for f in findings:
        by.setdefault(f.association, []).append(f)
    doc = header_json(capture)
    doc["frames"] = frames
    doc["associations"] = [association_json(a, t0=t0, trees=trees, findings=by.get(a.number, []))
                           for a in assocs]
    doc["findings"] = [f.to_json() for f in findings]
    doc["notices"] = [notice_json(n) for n in notices]
    fp.write(json_text(doc, indent=1))
    fp.write("\n")


class _Spool:
    """Records kept on disk until the document needs them: an unnamed temporary file and, per list,
    the extents (offset, length) that hold its records. Consecutive records of one list share an
    extent, so memory grows with how often associations interleave, not with their messages."""

    def __init__(self, directory: str | None = None):
        self._dir = directory
        self._f = None
        self._end = 0

    def add(self, extents: "array", text: str) -> None:
        """Append one record (``text``, JSON) to the list whose extents are ``extents``."""
        data = (",\n" + text).encode("utf-8")
        try:
            if self._f is None:
                import tempfile
                self._f = tempfile.TemporaryFile(dir=self._dir)
            self._f.seek(self._end)
            self._f.write(data)
        except OSError as e:
            import tempfile
            where = f"temporary file in {self._dir or tempfile.gettempdir()}"
            raise OSError(e.errno, e.strerror or str(e), where) from None
        if len(extents) and extents[-2] + extents[-1] == self._end:
            extents[-1] += len(data)
        else:
            extents.extend((self._end, len(data)))
        self._end += len(data)

    def copy(self, extents: "array", write, chunk: int = 1 << 20) -> None:
        """Write the list's records, separated by commas and newlines."""
        import codecs
        decode = codecs.getincrementaldecoder("utf-8")().decode     # a chunk may end inside a character
        first = True
        for i in range(0, len(extents), 2):
            off, n = extents[i], extents[i + 1]
            if first:                                  # the first record's separator is left out
                off, n, first = off + 2, n - 2, False
            self._f.seek(off)
            while n > 0:
                data = self._f.read(min(n, chunk))
                if not data:
                    break
                n -= len(data)
                text = decode(data)
                if text:
                    write(text)
        tail = decode(b"", final=True)
        if tail:
            write(tail)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def write_document_stream(events, write, capture: str, analyzer, *, trees: bool = True, slow_s: float = 5.0,
                          idle_s: float = 10.0, spool_dir: str | None = None) -> None:
    """The ``-o`` document, built as the capture is read, in memory that does not grow with the messages.

    Each PDU and message is turned into JSON as it is decoded and kept in a temporary file (``spool_dir``,
    default the system's); an association is diagnosed and dropped when it ends. At the end the
    document is written: header, ``associations`` (by number; each with its ``messages``, ``pdus``
    and ``findings``, its findings being its part of the top-level list, which needs the rules across
    associations, hence the wait), then ``frames``, ``findings`` and ``notices``. It is the document
    :func:`write_document` writes, keys in this order.
    """
    from array import array

    from ..model.diagnosis import Diagnoser, PduWatch, ordered
    from ..notice import Notice
    from ..pipeline import AssociationClosed, MessageSeen, PduSeen
    from ..ul.events import BRIEF_SPANS
    from .diagnose import notice_findings
    watch = PduWatch()
    diag = Diagnoser(slow_s=slow_s, idle_s=idle_s, watch=watch)
    spool = _Spool(spool_dir)
    findings: list = []
    notices: list = []                       # errors and warnings, for their findings (capped)
    notice_records = array("q")
    parts: dict[int, tuple] = {}             # open association number -> (messages extents, pdus extents)
    done: list[tuple] = []                   # (number, head extents, messages extents, pdus extents)

    def of(a) -> tuple:
        p = parts.get(a.number)
        if p is None:
            p = parts[a.number] = (array("q"), array("q"))
        return p

    def close(a) -> None:
        findings.extend(diag.association(a, forget=True))
        body = association_json(a, trees=trees, findings=[], streamed=True)
        body["exchange_outcomes"] = outcome_counts(a)
        for key in ("messages", "pdus", "findings"):
            del body[key]
        head = array("q")
        spool.add(head, json_text(body, compact=True)[:-1])
        msgs, pdus = parts.pop(a.number, None) or (array("q"), array("q"))
        done.append((a.number, head, msgs, pdus))
        analyzer.forget(a)

    # P-DATA-TFs counted, not emitted (their records), and events made with them: before the next event
    quiet = getattr(analyzer, "quiet_out", None)

    def add_quiet() -> None:
        for ev in quiet:
            add(ev)
        quiet.clear()

    def add(ev) -> None:
        t = type(ev)
        if t is tuple:                  # (a quiet P-DATA-TF's record: Analyzer.quiet_out)
            a, line = ev
            spool.add(of(a)[1], quiet_record(a, line))
        elif t is PduSeen:
            watch.event(ev)
            spool.add(of(ev.association)[1], json_text(pdu_json(ev.association, ev.pdu, trees=trees), compact=True))
        elif t is MessageSeen:
            spool.add(of(ev.association)[0],
                      json_text(message_json(ev.association, ev.message, ev.exchange, t0=0), compact=True))
            if ev.message.data_spans is not None:
                ev.message.data_spans.trim(BRIEF_SPANS)     # written: the diagnosis needs only the first frames
        elif t is AssociationClosed:
            close(ev.association)
        elif t is Notice and ev.where in ("capture", "tcp"):
            if ev.severity in ("error", "warning") and len(notices) < 1000:
                notices.append(ev)
            spool.add(notice_records, json_text(notice_json(ev), compact=True))

    try:
        for ev in events:
            if quiet:
                add_quiet()
            add(ev)
        if quiet:
            add_quiet()
        for a in list(analyzer.associations):      # never closed (should not happen): written anyway
            close(a)
        findings.extend(diag.finish())
        every = ordered(findings) + notice_findings(notices)
        mine: dict[int, list] = {}
        for f in every:
            mine.setdefault(f.association, []).append(f)
        head = json_text(header_json(capture), compact=True)[:-1]
        write(head + ',\n"associations":[')
        for i, (number, head_ext, msgs, pdus) in enumerate(sorted(done, key=lambda x: x[0])):
            write("\n" if i == 0 else ",\n")
            spool.copy(head_ext, write)
            write(',"messages":[\n')
            spool.copy(msgs, write)
            write('],\n"pdus":[\n')
            spool.copy(pdus, write)
            write('],\n"findings":' + json_text([f.to_json() for f in mine.get(number, [])], compact=True) + "}")
        write('],\n"frames":' + str(int(analyzer.frames)) + ',\n"findings":[')
        for i, f in enumerate(every):
            write(("\n" if i == 0 else ",\n") + json_text(f.to_json(), compact=True))
        write('],\n"notices":[\n')
        spool.copy(notice_records, write)
        write("]}\n")
    finally:
        spool.close()


def diagnosis_findings(assocs: list[Association], notices: list, *, watch=None, slow_s: float = 5.0,
                       idle_s: float = 10.0) -> list:
    """What ``dicomsniff diagnose`` finds: the associations' findings, then the capture notices' (association 0)."""
    from ..model.diagnosis import diagnose
    from .diagnose import notice_findings
    return diagnose(assocs, slow_s=slow_s, idle_s=idle_s, watch=watch) + notice_findings(notices)


def jsonl_record(kind: str, body: dict) -> str:
    return json_text({"record": kind, **body}, compact=True)


def write_jsonl(events, write, capture: str, analyzer, *, trees: bool = True, slow_s: float = 5.0,
                idle_s: float = 10.0) -> None:
    """Stream records as the capture is read: ``header``; ``pdu`` and ``message`` records (each with
    its ``association`` number) as they are decoded; an ``association`` record when one ends (its
    ``messages``, ``pdus`` and ``findings`` arrays empty, ``"streamed": true``: they go out as records;
    ``exchange_outcomes`` counts all its exchanges); ``notice`` records; then one ``finding`` record per
    diagnosis finding (as ``dicomsniff diagnose --json`` lists them: the rules across associations
    need the whole capture); ``end``. Grouping the pdu/message/finding records by association gives
    the ``-o`` document.

    Each association is diagnosed when it ends and then forgotten; only its findings and a small
    digest (for the C-MOVE and one-association-per-object rules) stay until the end.

    ``write`` gets each record as a line without its newline, or (the ``pdu`` records of P-DATA-TFs the
    analyzer counted quietly: ``Analyzer.quiet_out``) several lines joined by newlines, the last without.
    """
    from ..model.diagnosis import Diagnoser, PduWatch, ordered
    from ..notice import Notice
    from ..pipeline import AssociationClosed, MessageSeen, PduSeen
    from ..ul.events import BRIEF_SPANS
    from .diagnose import notice_findings
    watch = PduWatch()
    diag = Diagnoser(slow_s=slow_s, idle_s=idle_s, watch=watch)
    findings: list = []
    notices: list = []
    # P-DATA-TFs counted, not emitted (their records), and events made with them: before the next event
    quiet = getattr(analyzer, "quiet_out", None)

    def write_quiet() -> None:       # the records' runs in one write each (``write`` ends each with a newline)
        run: list = []
        for ev in quiet:
            if type(ev) is tuple:
                run.append(ev[1])
                continue
            if run:
                write("\n".join(run))
                run = []
            record(ev)
        if run:
            write("\n".join(run))
        quiet.clear()

    def record(ev) -> None:
        t = type(ev)
        if t is tuple:                  # (a quiet P-DATA-TF's record: Analyzer.quiet_out)
            write(ev[1])
        elif t is PduSeen:
            watch.event(ev)
            line = None if trees else pdata_jsonl(ev.association, ev.pdu)
            write(line if line is not None else
                  jsonl_record("pdu", {"association": ev.association.number,
                                       **pdu_json(ev.association, ev.pdu, trees=trees)}))
        elif t is MessageSeen:
            write(jsonl_record("message", {"association": ev.association.number,
                                           **message_json(ev.association, ev.message, ev.exchange, t0=0)}))
            if ev.message.data_spans is not None:
                ev.message.data_spans.trim(BRIEF_SPANS)     # written: the diagnosis needs only the first frames
        elif t is AssociationClosed:
            a = ev.association
            findings.extend(diag.association(a, forget=True))
            write(jsonl_record("association", {**association_json(a, trees=trees, findings=[], streamed=True),
                                               "exchange_outcomes": outcome_counts(a), "streamed": True}))
            analyzer.forget(a)
        elif t is Notice and ev.where in ("capture", "tcp"):
            if ev.severity in ("error", "warning") and len(notices) < 1000:
                notices.append(ev)
            write(jsonl_record("notice", notice_json(ev)))

    events = iter(events)
    first = next(events, None)     # a file that is no capture raises here, before any record is written
    write(jsonl_record("header", header_json(capture)))
    for ev in itertools.chain(() if first is None else (first,), events):
        if quiet:
            write_quiet()
        record(ev)
    if quiet:
        write_quiet()
    for a in list(analyzer.associations):          # never closed (should not happen): diagnose them anyway
        findings.extend(diag.association(a, forget=True))
    findings.extend(diag.finish())
    for f in ordered(findings) + notice_findings(notices):
        write(jsonl_record("finding", f.to_json()))
    write(jsonl_record("end", {"frames": analyzer.frames}))
