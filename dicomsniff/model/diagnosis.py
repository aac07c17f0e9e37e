"""Diagnosis rules: from a capture's associations to findings with evidence and a hint.

:func:`diagnose` reads finished :class:`~.association.Association` objects
(it does not change what they recorded, except to add a hint or sharpen the
message of a finding the model already raised) and returns every finding:
the model's own, refined, plus the ones these rules add — rejection and
context negotiation (PS3.8 §9.3.3-9.3.4), DIMSE statuses (PS3.7 Annex C,
PS3.4), aborts with what was in flight, protocol violations (max PDU length
PS3.8 §D.1, PDV fragmentation PS3.8 Annex E, command/data set decoding),
C-MOVE sub-associations (PS3.4 §C.4.2), performance smells and capture
problems. It is the one source of findings for every view (``diagnose``,
``summary``, ``export``, the TUI): they show its list, never the model's raw
``Association.findings`` beside it. It runs after the capture is read, because
some rules need every association at once; :class:`Diagnoser` does the same
association by association for streaming consumers (``export --jsonl``),
keeping only a small :class:`Digest` of each for the rules across associations.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field

from ..dimse.commands import command_name, is_request
from ..field import ERROR, NOTE, SEVERITY_RANK, WARN
from ..textsafe import safe_text
from ..uids import uid_name
from ..ul.pdus import ABORT, ASSOCIATE_AC, ASSOCIATE_RQ, P_DATA_TF, RELEASE_RP, RELEASE_RQ
from ..ul.tables import abort_reason_plain, abort_text, context_result_text, reject_reason_text, \
    reject_result_text
from . import hints as H
from .association import Association, Exchange
from .findings import Finding

C_STORE, C_FIND, C_MOVE, C_GET = 0x0001, 0x0020, 0x0021, 0x0010
DICOM_APP_CONTEXT = "1.2.840.10008.3.1.1.1"
MAX_SAME = 5          # at most this many findings of one code per association; the rest are counted


@dataclass(slots=True)
class Options:
    """Thresholds of the performance rules."""

    slow_s: float = 5.0              # a response later than this is slow
    idle_s: float = 10.0             # no PDU for this long inside an association
    tiny_pdu: int = 8192             # a max PDU length below this is tiny
    per_object_min: int = 5          # this many one-C-STORE associations between the same peers
    dataset_budget: int = 2000       # data sets decoded for checking, per capture (decoding costs ~1 ms each)
    command_cache: dict = field(default_factory=dict)
    dataset_cache: dict = field(default_factory=dict)
    facts: dict = field(default_factory=dict)            # association number → PduFacts


def diagnose(associations: list[Association], *, slow_s: float = 5.0, idle_s: float = 10.0,
             tiny_pdu: int = 8192, per_object_min: int = 5, watch: "PduWatch | None" = None) -> list[Finding]:
    """Every finding of these associations, ordered by association then severity (most severe first).

    PDU-level rules read ``watch`` (filled while the capture was read) or, without
    one, the PDUs the associations kept. Never raises on odd input: a rule that
    fails on one association is skipped for it.
    """
    d = Diagnoser(slow_s=slow_s, idle_s=idle_s, tiny_pdu=tiny_pdu, per_object_min=per_object_min, watch=watch)
    out: list[Finding] = []
    for a in associations:
        out.extend(d.association(a))
    out.extend(d.finish())
    order = {a.number: i for i, a in enumerate(associations)}
    return ordered(out, order)


def ordered(findings: list[Finding], order: dict[int, int] | None = None) -> list[Finding]:
    """Findings by association (``order``: number → position; default by number), most severe first."""
    key = (lambda n: order.get(n, -1)) if order is not None else (lambda n: n)
    return sorted(findings, key=lambda f: (key(f.association), -f.rank, f.frames[0] if f.frames else 0))


class Diagnoser:
    """The same diagnosis, association by association, for consumers that cannot keep them all.

    Call :meth:`association` when an association has ended (before it is dropped),
    then :meth:`finish` once for the rules across associations (C-MOVE
    sub-associations, one association per object), which read a small digest
    kept per association. ``diagnose()`` is this, run over a list.
    """

    def __init__(self, *, slow_s: float = 5.0, idle_s: float = 10.0, tiny_pdu: int = 8192,
                 per_object_min: int = 5, watch: "PduWatch | None" = None):
        self.opts = Options(slow_s, idle_s, tiny_pdu, per_object_min)
        self.watch = watch
        self.digests: list[Digest] = []

    def association(self, a: Association, *, forget: bool = False) -> list[Finding]:
        """This association's findings (the model's, refined, plus the per-association rules').

        ``forget`` drops what was kept for it (its PduFacts, in the watch too) once read.
        """
        opts = self.opts
        if self.watch is not None and a.number in self.watch.facts:
            opts.facts[a.number] = self.watch.facts[a.number]
        out = list(_refine_model(a, opts))
        for rule in _RULES:
            try:
                out.extend(rule(a, opts))
            except Exception:           # one broken association must not hide the others' diagnosis
                if os.environ.get("DICOMSNIFF_DEBUG"):
                    raise
                continue
        try:
            self.digests.append(Digest.of(a))
        except Exception:
            if os.environ.get("DICOMSNIFF_DEBUG"):
                raise
        if forget:
            opts.facts.pop(a.number, None)
            if self.watch is not None:
                self.watch.facts.pop(a.number, None)
        return out

    def finish(self) -> list[Finding]:
        """Findings of the rules across associations (call once, after the last association)."""
        out: list[Finding] = []
        for rule in _CAPTURE_RULES:
            try:
                out.extend(rule(self.digests, self.opts))
            except Exception:
                if os.environ.get("DICOMSNIFF_DEBUG"):
                    raise
                continue
        return out


def worst(findings: list[Finding]) -> str | None:
    """The most severe severity among ``findings`` (None when empty)."""
    best = None
    for f in findings:
        if best is None or SEVERITY_RANK.get(f.severity, 0) > SEVERITY_RANK.get(best, 0):
            best = f.severity
    return best


# -- helpers -------------------------------------------------------------------


def _f(a: Association, severity: str, code: str, message: str, frames, hint: str = "") -> Finding:
    return Finding(severity, code, message, a.number, [x for x in frames if x][:20], hint)


def _sop(uid: str | None) -> str:
    return safe_text(uid_name(uid)) if uid else "an unknown SOP class"


def _strip(uid: str | None) -> str | None:
    return uid.rstrip("\x00 ") if isinstance(uid, str) else uid


def _size(n: int) -> str:
    for unit, k in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= k:
            return f"{n / k:.1f} {unit}"
    return f"{n} bytes"


def _secs(ns: int) -> str:
    return f"{ns / 1e9:.2f} s"


class PduFacts:
    """What the rules need from one association's PDUs, gathered as they pass (bounded memory).

    Feed it every PDU in stream order with :meth:`observe`; the ``dicomsniff diagnose``
    command does so from PduSeen events, so the analyzer need not keep the PDUs.
    """

    MAX_KEPT = 50

    __slots__ = ("first", "over", "over_count", "over_max", "pdv_open", "pdv_issues", "gaps", "last",
                 "expert", "_expert_codes")

    def __init__(self):
        self.first: dict[int, tuple[int, int]] = {}          # PDU type → (frame, ts) of its first PDU
        self.over: dict[int, list[tuple[int, int]]] = {}     # direction → [(frame, length)] over the limit
        self.over_count: dict[int, int] = {}
        self.over_max: dict[int, tuple[int, int]] = {}       # direction → (largest length, limit)
        self.pdv_open: dict[tuple[int, int], tuple[str, int]] = {}
        self.pdv_issues: list[tuple] = []
        self.gaps: list[tuple] = []                          # (gap ns, prev name, prev frame, prev end, next name, frame, ts)
        self.last: tuple[str, int, int] | None = None        # (name, frame, end ts)
        self.expert: list[tuple[str, str, str, int]] = []    # (severity, code, message, frame)
        self._expert_codes: dict[str, int] = {}

    def frame_of(self, pdu_type: int) -> int:
        return self.first.get(pdu_type, (0, 0))[0]

    def observe(self, a: Association, p) -> None:
        t = p.pdu_type
        if t not in self.first:
            self.first[t] = (p.frame, p.ts_ns)
        if self.last is not None:
            gap = p.ts_ns - self.last[2]
            if gap > 1_000_000_000:           # idle gaps over 1 s; the longest MAX_KEPT are kept
                self.gaps.append((gap, self.last[0], self.last[1], self.last[2], p.name, p.frame, p.ts_ns))
                if len(self.gaps) > self.MAX_KEPT:
                    self.gaps.remove(min(self.gaps))
        if self.last is None or p.end_ts_ns >= self.last[2]:
            self.last = (p.name, p.frame, p.end_ts_ns)
        if t == P_DATA_TF:
            self._pdata(a, p)
        elif t in (RELEASE_RQ, RELEASE_RP):
            for (d, ctx), (kind, frame) in list(self.pdv_open.items()):
                if d == p.direction:
                    self.pdv_issues.append(("last-missing", a.side(d), p.name, p.frame, kind, ctx, frame))
                    del self.pdv_open[(d, ctx)]
        try:
            found = p.all_findings()
        except Exception:
            found = []
        for x in found:
            if x.severity in (ERROR, WARN) and not x.code.startswith("ae-title"):
                n = self._expert_codes[x.code] = self._expert_codes.get(x.code, 0) + 1
                if n <= MAX_SAME:
                    self.expert.append((x.severity, x.code, f"{p.name} in frame {p.frame}: {x.message}", p.frame))

    def _pdata(self, a: Association, p) -> None:
        d = p.direction
        peer = a.ac if d == a.client_dir else a.rq       # the receiver's negotiated Maximum Length Received
        limit = peer.user_info.max_pdu_length if peer is not None else None
        if limit and p.length > limit:
            self.over_count[d] = self.over_count.get(d, 0) + 1
            self.over.setdefault(d, [])
            if len(self.over[d]) < 5:
                self.over[d].append((p.frame, p.length))
            if p.length > self.over_max.get(d, (0, 0))[0]:
                self.over_max[d] = (p.length, limit)
        for v in p.pdvs:
            key = (d, v.context_id)
            kind = "command" if v.is_command else "data"
            prev = self.pdv_open.get(key)
            if prev is not None and prev[0] != kind:
                if len(self.pdv_issues) < self.MAX_KEPT:
                    self.pdv_issues.append(("sequence", kind, v.context_id, p.frame, prev[0], prev[1]))
                self.pdv_open.pop(key, None)
                continue
            if v.is_last:
                self.pdv_open.pop(key, None)
            elif prev is None:
                self.pdv_open[key] = (kind, p.frame)


def facts_from_pdus(a: Association) -> PduFacts:
    """PduFacts from the PDUs an association kept (``Analyzer(keep_pdus=True)``)."""
    f = PduFacts()
    for p in a.pdus:
        f.observe(a, p)
    return f


class PduWatch:
    """Feeds PduFacts from pipeline events: ``watch.event(ev)`` for every event of a capture."""

    def __init__(self):
        self.facts: dict[int, PduFacts] = {}

    def event(self, ev) -> None:
        pdu = getattr(ev, "pdu", None)
        a = getattr(ev, "association", None)
        if pdu is None or a is None:
            return
        f = self.facts.get(a.number)
        if f is None:
            f = self.facts[a.number] = PduFacts()
        f.observe(a, pdu)


def _facts(a: Association, opts: Options) -> PduFacts:
    f = opts.facts.get(a.number)
    if f is None:
        f = opts.facts[a.number] = facts_from_pdus(a)
    return f


def _values(a: Association) -> dict:
    return {"calling": safe_text(a.calling_ae or "?"), "called": safe_text(a.called_ae or "?"),
            "client_ip": str(a.client).rsplit(":", 1)[0]}


def _req_label(ex: Exchange) -> str:
    m = ex.request or (ex.responses[0] if ex.responses else None)
    name = command_name(ex.command_field) if ex.command_field is not None else "message"
    if ex.request is None and m is not None:
        name = m.name
    return f"{name} #{ex.message_id}"


def _capped(findings: list[Finding]) -> list[Finding]:
    """At most MAX_SAME findings per code; the last kept one says how many more there were."""
    by_code: dict[str, int] = defaultdict(int)
    out: list[Finding] = []
    extra: dict[str, int] = defaultdict(int)
    for f in findings:
        by_code[f.code] += 1
        if by_code[f.code] <= MAX_SAME:
            out.append(f)
        else:
            extra[f.code] += 1
    for f in reversed(out):
        if extra.get(f.code):
            f.message += f" (and {extra.pop(f.code)} more like this)"
    return out


# -- refining what the model raised ----------------------------------------------


def _refine_model(a: Association, opts: Options) -> list[Finding]:
    """The model's findings with a hint each, and richer messages for rejection and abort."""
    for f in a.findings:
        if f.code == "association-rejected" and a.rj is not None:
            f.message, f.hint = _reject_text(a)
        elif f.code == "association-aborted" and a.abort is not None:
            f.message, f.hint = _abort_text(a, opts)
        elif f.code == "context-not-accepted":
            f.hint = f.hint or H.MODEL_HINTS[f.code]
        elif not f.hint and f.code in H.MODEL_HINTS:
            f.hint = H.MODEL_HINTS[f.code]
    # A message on a context that was not accepted has no transfer syntax either: say it once.
    unaccepted = {tuple(f.frames) for f in a.findings if f.code == "context-not-accepted"}
    out = [f for f in a.findings if not (f.code == "no-transfer-syntax" and tuple(f.frames) in unaccepted)]
    if a.started_mid:
        # Without the negotiation no data set can be decoded: one capture finding says so, not one per message.
        undecoded = sum(1 for f in out if f.code == "no-transfer-syntax")
        out = [f for f in out if f.code != "no-transfer-syntax"]
        for f in out:
            if f.code == "started-mid-association":         # rewritten from counts each run: idempotent
                f.message = ("the capture began after this association was negotiated: presentation contexts,"
                             " transfer syntaxes and AE titles are unknown, so rules on them cannot run"
                             + (f" and {undecoded} data set{'s were' if undecoded != 1 else ' was'} not decoded"
                                if undecoded else ""))
    if a.gaps:
        for f in out:
            if f.code == "response-unmatched" and "TCP gap" not in f.message:
                f.message += " (the capture misses bytes of this association: its request may be in a TCP gap)"
                f.hint = ("if a tcp-gap finding comes before it, recapture without packet loss; otherwise "
                          + H.MODEL_HINTS["response-unmatched"])
    return out


def _reject_text(a: Association) -> tuple[str, str]:
    rj = a.rj
    who = H.REJECT_WHO.get(rj.source, "the called system")
    term = reject_reason_text(rj.source, rj.reason)
    kind = reject_result_text(rj.result)
    msg = (f"association '{safe_text(a.calling_ae or '?')}' → '{safe_text(a.called_ae or '?')}' rejected by"
           f" {who}, {kind}: {term}")
    key = (rj.source, rj.reason)
    hint = H.REJECT_HINTS.get(key) if isinstance(rj.source, int) and isinstance(rj.reason, int) else None
    if hint is None:
        hint = "look in the SCP's log at this time for why it refused the association"
    ver = a.rq.protocol_version if a.rq is not None else None
    app = safe_text(a.rq.application_context) if a.rq is not None and a.rq.application_context else "?"
    hint = H.fill(hint, version=ver, app_context=app, **_values(a))
    if rj.result == 2:
        hint += " (transient: the same request may succeed later)"
    return msg, hint


def _abort_text(a: Association, opts: Options) -> tuple[str, str]:
    ab = a.abort
    first = _facts(a, opts).first.get(ABORT)
    ts = first[1] if first else (a.end_ns or 0)
    inflight = ""
    # The last request still waiting for its final response when the abort came.
    for ex in reversed(a.exchanges):
        req = ex.request
        if req is None or req.ts_ns > ts:
            continue
        final = ex.final
        if final is not None and final.end_ts_ns <= ts:
            continue
        inflight = f" during {_req_label(ex)}"
        if req.data_spans is not None:
            size = _size(req.data_length)
            inflight += f" of a {size} object" if req.complete else f" after {size} of its data set (incomplete)"
        if ex.responses:
            inflight += f" ({len(ex.responses)} responses so far)"
        break
    if not inflight:
        partial = [m for m in a.messages if not m.complete and m.ts_ns <= ts]
        if partial:
            m = partial[-1]
            inflight = f" while {m.name} was being sent ({_size(m.data_length)} of its data set seen)"
        elif a.exchanges:
            inflight = " with no request outstanding"
    msg = f"association aborted by the {a.abort_by or '?'}{inflight}: {abort_text(ab.source, ab.reason)}"
    if ab.source == 2:
        hint = (f"{abort_reason_plain(ab.source, ab.reason)}: the {a.abort_by}'s DICOM stack refused what the"
                " other side sent; look at the last PDU before the abort")
    elif a.abort_by == "client":
        hint = ("the client application gave up (user cancel, a timeout waiting for the SCP, or an error on"
                " its side): check the client's log, and the SCP's response time if a request was waiting")
    else:
        hint = ("the SCP's application aborted (storage or processing error, refused object, timeout):"
                " check the SCP's log at this time")
    return msg, hint


# -- rules per association -------------------------------------------------------


def _contexts(a: Association, opts: Options) -> list[Finding]:
    out: list[Finding] = []
    if a.ac is None:
        return out
    frame = _facts(a, opts).frame_of(ASSOCIATE_AC)
    vals = _values(a)
    accepted = [c for c in a.contexts.values() if c.accepted]
    for ctx in sorted(a.contexts.values(), key=lambda c: c.id):
        if ctx.result is None:
            if a.rq is not None and ctx.abstract_syntax is not None:
                out.append(_f(a, ERROR, "context-not-answered",
                              f"A-ASSOCIATE-AC does not answer presentation context {ctx.id}"
                              f" ({_sop(ctx.abstract_syntax)}) proposed in the RQ", [frame],
                              "the AC must answer every proposed context (PS3.8 §9.3.3): the SCP's DICOM"
                              " stack is faulty; the SCU cannot use this context"))
            continue
        if ctx.accepted:
            if ctx.proposed and ctx.transfer_syntax not in ctx.proposed:
                out.append(_f(a, ERROR, "context-ts-not-proposed",
                              f"presentation context {ctx.id} ({_sop(ctx.abstract_syntax)}) accepted with"
                              f" transfer syntax {safe_text(uid_name(ctx.transfer_syntax or '?'))},"
                              f" which the RQ did not propose", [frame],
                              "the SCP must pick one of the proposed transfer syntaxes: its DICOM stack is"
                              " faulty; data sets on this context may be misread"))
            continue
        proposed = ", ".join(safe_text(uid_name(t)) for t in ctx.proposed) or "none"
        hint = H.fill(H.CONTEXT_HINTS.get(ctx.result, "check the SCP's conformance statement"),
                      sop=_sop(ctx.abstract_syntax), proposed=proposed, **vals)
        out.append(_f(a, WARN, "context-rejected",
                      f"presentation context {ctx.id} ({_sop(ctx.abstract_syntax)}) rejected:"
                      f" {context_result_text(ctx.result)}; proposed: {proposed}", [frame], hint))
    if a.contexts and not accepted:
        out.append(_f(a, ERROR, "no-context-accepted",
                      "the SCP accepted the association but none of its presentation contexts: nothing can be"
                      " exchanged", [frame], "see the context-rejected findings for each context"))
    return out


def _sop_classes(a: Association, opts: Options) -> list[Finding]:
    """Requests for a SOP class that no accepted context covers, or on a context of another SOP class."""
    out: list[Finding] = []
    if a.ac is None:
        return out
    accepted = {_strip(c.abstract_syntax) for c in a.contexts.values() if c.accepted}
    rejected = {_strip(c.abstract_syntax) for c in a.contexts.values()
                if c.result is not None and not c.accepted}
    flagged = {tuple(f.frames): f for f in a.findings if f.code == "context-not-accepted"}
    for m in a.messages:
        cmd = m.command
        if cmd is None or not is_request(cmd.command_field) or cmd.command_field == 0x0FFF:
            continue
        sop = _strip(cmd.sop_class_uid)
        if not sop:
            continue
        ctx = a.contexts.get(m.context_id)
        model = flagged.get(tuple(m.frames[:3]))
        if model is not None:
            # The model already said "not accepted": say which SOP class and what became of its context.
            state = "never proposed" if ctx is None else (ctx.result_text if ctx.result is not None
                                                         else "not answered")
            also = "" if sop in accepted else "; no accepted context covers this SOP class"
            model.message = (f"{m.name} #{cmd.message_id} for {_sop(sop)} sent on presentation context"
                             f" {m.context_id}, which was not accepted ({state}){also}")
            continue
        if sop not in accepted:
            why = "whose presentation context the SCP rejected" if sop in rejected else \
                "which was never proposed: no accepted presentation context covers it"
            out.append(_f(a, ERROR, "sop-class-not-negotiated",
                          f"{m.name} #{cmd.message_id} sent for {_sop(sop)}, {why} (context {m.context_id})",
                          m.frames[:3],
                          "the sender must only send SOP classes the SCP accepted: check the SCU's proposed"
                          " contexts and the SCP's supported SOP classes"))
        elif ctx is not None and ctx.accepted and ctx.abstract_syntax and _strip(ctx.abstract_syntax) != sop:
            out.append(_f(a, ERROR, "sop-class-context-mismatch",
                          f"{m.name} #{cmd.message_id} for {_sop(sop)} sent on context {m.context_id}, which"
                          f" was negotiated for {_sop(ctx.abstract_syntax)}", m.frames[:3],
                          "each message must travel on a context negotiated for its SOP class: the SCU picks"
                          " the wrong context"))
    return _capped(out)


def _statuses(a: Association, opts: Options) -> list[Finding]:
    out: list[Finding] = []
    vals = _values(a)
    for ex in a.exchanges:
        info = ex.status_info
        final = ex.final
        req = ex.request
        cf = ex.command_field
        if info is None or final is None:
            continue
        cmd = final.command
        rcmd = req.command if req is not None else None
        sop = _strip(rcmd.sop_class_uid) if rcmd is not None else None
        label = _req_label(ex)
        frames = final.frames[:2]
        extra = ""
        if cmd is not None and cmd.error_comment:
            extra += f" (error comment: '{safe_text(cmd.error_comment)}')"
        subops = None
        if cf is not None and cf & 0x7FFF in (C_MOVE, C_GET) and cmd is not None:
            counts = [cmd.completed, cmd.failed, cmd.warning]
            if any(counts):                 # all zero (a refused C-MOVE) says nothing worth a line
                subops = counts
                extra += f"; sub-operations completed {counts[0] or 0}, failed {counts[1] or 0}," \
                         f" warning {counts[2] or 0}"
        dest = rcmd.move_destination if rcmd is not None else None
        hint = H.status_hint(info.code, cf, dest=safe_text(dest) if dest else None, sop=_sop(sop),
                             meaning=info.meaning, **vals)
        if info.category == "Failure":
            out.append(_f(a, ERROR, "dimse-failure", f"{label} ({_sop(sop)}) failed: {info.display}{extra}",
                          frames, hint))
        elif info.category == "Warning":
            out.append(_f(a, WARN, "dimse-warning", f"{label} ({_sop(sop)}) ended with a warning:"
                          f" {info.display}{extra}", frames, hint))
        elif info.category == "Cancel":
            out.append(_f(a, NOTE, "dimse-cancel", f"{label} was cancelled: {info.display}", frames, hint))
        elif info.category == "Success":
            if cf is not None and cf & 0x7FFF == C_FIND and ex.pending == 0:
                out.append(_f(a, NOTE, "find-no-matches",
                              f"{label} ({_sop(sop)}) succeeded with no matches (0 pending responses):"
                              " the query ran, nothing matched — this is not a failure", frames,
                              "check the matching keys (e.g. Modality, ScheduledStationAETitle, dates, patient"
                              " ID) against the SCP's data; `dicomsniff diff` shows how this query differs"
                              " from one that works"))
            elif subops is not None and (subops[1] or 0) > 0:
                out.append(_f(a, WARN, "suboperations-failed",
                              f"{label} reported success but {subops[1]} failed sub-operations", frames,
                              "look at the sub-association's C-STORE statuses"))
    return _capped(out)


def _releases(a: Association, opts: Options) -> list[Finding]:
    facts = _facts(a, opts)
    if RELEASE_RQ not in facts.first and not a.release_by:
        return []
    if a.released or a.abort is not None or RELEASE_RP in facts.first:
        return []
    frame = facts.frame_of(RELEASE_RQ) or a.last_frame
    return [_f(a, WARN, "release-no-reply",
               f"A-RELEASE-RQ from the {a.release_by or '?'} got no A-RELEASE-RP", [frame],
               "the peer closed the connection or stopped answering instead of confirming the release:"
               " usually harmless for the data, but check the peer's log and its release timeout")]


def _max_pdu(a: Association, opts: Options) -> list[Finding]:
    """P-DATA-TF longer than the receiver's Maximum Length Received (PS3.8 §D.1), and tiny max PDUs."""
    out: list[Finding] = []
    facts = _facts(a, opts)
    for d, kept in facts.over.items():
        sender, receiver = a.side(d), a.side(1 - d)
        big, limit = facts.over_max[d]
        out.append(_f(a, ERROR, "pdu-exceeds-max",
                      f"{facts.over_count[d]} P-DATA-TF from the {sender} longer than the {receiver}'s negotiated"
                      f" max PDU length {limit} (largest {big} bytes, first in frame {kept[0][0]})",
                      [fr for fr, _n in kept],
                      f"the {sender} ignores the Maximum Length Received the {receiver} announced; many"
                      f" implementations abort on this: fix the {sender}'s max PDU handling"))
    for who, rq in (("client", a.rq), ("server", a.ac)):
        if rq is None:
            continue
        n = rq.user_info.max_pdu_length
        if n and n < opts.tiny_pdu:
            frame = facts.frame_of(ASSOCIATE_RQ if who == "client" else ASSOCIATE_AC)
            out.append(_f(a, WARN, "tiny-max-pdu",
                          f"the {who} announces a max PDU length of {n} bytes (below {opts.tiny_pdu})", [frame],
                          "small PDUs multiply per-PDU overhead on large objects: raise the max PDU"
                          " (16 KiB to 1 MiB are usual) in this peer's network settings"))
    return out


def _pdv_sequence(a: Association, opts: Options) -> list[Finding]:
    """PDV fragments: command then data, each ended by its last fragment (PS3.8 Annex E)."""
    out: list[Finding] = []
    raised = {f.code for f in a.findings}
    for issue in _facts(a, opts).pdv_issues:
        if issue[0] == "sequence":
            _, kind, ctx, frame, prev_kind, prev_frame = issue
            if {"dataset-missing", "orphan-data"} & raised:
                continue           # the assembler already said it, with the same frames
            out.append(_f(a, ERROR, "pdv-out-of-sequence",
                          f"a {kind} fragment on context {ctx} in frame {frame} while the {prev_kind} begun in"
                          f" frame {prev_frame} had no last fragment", [prev_frame, frame],
                          "the sender's PDV fragmentation is broken (PS3.8 Annex E): each command and data set"
                          " must end with a fragment flagged last"))
        else:
            _, side, name, frame, kind, ctx, begun = issue
            out.append(_f(a, ERROR, "pdv-last-missing",
                          f"{name} from the {side} in frame {frame} while a {kind} on context {ctx} (begun in"
                          f" frame {begun}) never got its last fragment", [begun, frame],
                          "the sender never flagged the last fragment of this message: its PDV fragmentation"
                          " is broken (PS3.8 Annex E)"))
    return _capped(out)


def _command_findings(cmd, cache: dict) -> list:
    """A command set's findings, cached by its bytes with the Message ID values masked (they vary, the
    findings do not)."""
    raw = bytes(cmd.raw)
    key = raw
    for tag in (b"\x00\x00\x10\x01\x02\x00\x00\x00", b"\x00\x00\x20\x01\x02\x00\x00\x00"):
        i = key.find(tag)
        if i >= 0 and i % 2 == 0:
            key = key[:i + 8] + b"\x00\x00" + key[i + 10:]
    hit = cache.get(key)
    if hit is None:
        try:
            hit = cache[key] = [x for x in cmd.findings if x.severity in (ERROR, WARN)]
        except Exception:
            hit = cache[key] = []
        if len(cache) > 10000:
            cache.clear()
    return hit


def _dataset_findings(data, opts: Options) -> list | None:
    """A data set's findings (None when the decoding budget is spent); identical small ones decode once."""
    buf = getattr(data, "_buf", None)
    key = (data.transfer_syntax, buf) if isinstance(buf, (bytes, bytearray)) and len(buf) <= 4096 else None
    if key is not None and key in opts.dataset_cache:
        return opts.dataset_cache[key]
    if opts.dataset_budget <= 0:
        return None
    opts.dataset_budget -= 1
    try:
        found = [x for x in data.findings if x.severity in (ERROR, WARN)]
    except Exception:
        found = []
    if key is not None and len(opts.dataset_cache) < 10000:
        opts.dataset_cache[key] = found
    return found


def _decoding(a: Association, opts: Options) -> list[Finding]:
    """Command sets that do not decode (errors), data sets that do not match their transfer syntax."""
    out: list[Finding] = []
    unchecked = 0
    for m in a.messages:
        cmd = m.command
        if not m.complete and m.data_spans is None:
            continue        # cut short: the model's message-incomplete / command-incomplete says so
        if cmd is None or cmd.command_field is None:
            out.append(_f(a, ERROR, "command-undecodable",
                          f"message {m.index} on context {m.context_id}: the command set does not decode"
                          " (no Command Field)", m.frames[:3],
                          "the sender's command set is malformed (PS3.7 §6.3.1: implicit VR little endian,"
                          " group 0000)"))
        if cmd is not None:
            for x in _command_findings(cmd, opts.command_cache):
                out.append(_f(a, x.severity, x.code, f"{m.name} (message {m.index}): {x.message}",
                              m.frames[:3], "the sender's command set breaks PS3.7 §6.3.1 / §9.3: check"
                                            " the sender's DICOM stack"))
        data = m.data
        if data is not None:
            found = _dataset_findings(data, opts)
            if found is None:
                unchecked += 1
                continue
            for x in found:
                ts = safe_text(uid_name(m.transfer_syntax)) if m.transfer_syntax else "?"
                out.append(_f(a, x.severity, x.code,
                              f"{m.name} (message {m.index}) data set in {ts}: {x.message}",
                              (m.data_spans.frames if m.data_spans else m.frames)[:3],
                              "the data set does not match the negotiated transfer syntax or is malformed:"
                              " check that the sender encodes it in the accepted transfer syntax"))
    out = _capped(out)
    if unchecked:
        out.append(_f(a, NOTE, "datasets-not-checked",
                      f"{unchecked} data sets of this association were not checked for encoding errors"
                      " (decoding budget of the capture spent)", [],
                      "use `dicomsniff dump -V` on the frames of interest to decode them"))
    return out


def _pdu_findings(a: Association, opts: Options) -> list[Finding]:
    """Expert findings of the Upper Layer dissector (warnings and errors), per PDU."""
    seen = {(f.code, tuple(f.frames)) for f in a.findings}
    model_codes = {f.code for f in a.findings}
    out = []
    for sev, code, msg, frame in _facts(a, opts).expert:
        if (code, (frame,)) in seen:
            continue
        if code in ("tcp-gap", "resync") and code in model_codes:
            continue            # the model already reported this gap (capture problem, not the sender's fault)
        out.append(_f(a, sev, code, msg, [frame], "the sender's PDU breaks PS3.8 §9.3: check the sender's DICOM"
                                                  " stack"))
    return out


_AE_OK = set(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~")


def _ae_titles(a: Association, opts: Options) -> list[Finding]:
    """AE titles: 1-16 characters of the default repertoire, no backslash or control characters (PS3.5 §6.2)."""
    out: list[Finding] = []
    facts = _facts(a, opts)
    frame = facts.frame_of(ASSOCIATE_RQ)
    if a.rq is not None:
        for role, ae in (("calling", a.rq.calling_ae), ("called", a.rq.called_ae)):
            why = None
            if ae is None or not ae.strip():
                why = "is empty (all spaces)"
            elif any(ch not in _AE_OK for ch in ae):
                why = "contains characters not allowed in an AE title (backslash, control or non-ASCII)"
            elif len(ae) > 16:
                why = "is longer than 16 characters"
            if why:
                out.append(_f(a, ERROR, "ae-title-invalid", f"{role} AE title '{safe_text(ae or '')}' {why}",
                              [frame], f"fix the {role} AE title in the configuration: many SCPs reject or"
                                       " mismatch such titles"))
    if a.rq is not None and a.ac is not None:
        for role in ("calling_ae", "called_ae"):
            x, y = getattr(a.rq, role), getattr(a.ac, role)
            if x is not None and y is not None and x.strip() != y.strip():
                out.append(_f(a, NOTE, "ac-ae-mismatch",
                              f"A-ASSOCIATE-AC echoes {role.replace('_ae', '')} AE '{safe_text(y)}' instead of"
                              f" the RQ's '{safe_text(x)}'", [facts.frame_of(ASSOCIATE_AC)],
                              "PS3.8 §9.3.3 says the AC repeats the RQ's AE titles (not to be tested):"
                              " harmless, but shows how the SCP sees itself"))
    return out


def _slow(a: Association, opts: Options) -> list[Finding]:
    out: list[Finding] = []
    limit = int(opts.slow_s * 1e9)
    for ex in a.exchanges:
        if ex.request is None or not ex.responses:
            continue
        first = ex.responses[0]
        wait = first.ts_ns - (ex.request.end_ts_ns or ex.request.ts_ns)
        if wait > limit:
            out.append(_f(a, WARN, "slow-response",
                          f"{_req_label(ex)} waited {_secs(wait)} for its first response (threshold"
                          f" {opts.slow_s:g} s)", [ex.request.frames[-1] if ex.request.frames else 0,
                                                   first.frames[0] if first.frames else 0],
                          "the responder is slow: check its load, database or storage latency, and that the"
                          " requester's DIMSE timeout is longer than this"))
    return _capped(out)


def _idle(a: Association, opts: Options) -> list[Finding]:
    out: list[Finding] = []
    limit = int(opts.idle_s * 1e9)
    slow_limit = int(opts.slow_s * 1e9)
    waits = []
    for ex in a.exchanges:
        if ex.request is not None and ex.responses:
            s = ex.request.end_ts_ns or ex.request.ts_ns
            if ex.responses[0].ts_ns - s > slow_limit:
                waits.append((s, ex.responses[0].ts_ns))
    gaps = [g for g in _facts(a, opts).gaps if g[0] > limit]
    named = _message_names(a, {g[2] for g in gaps} | {g[5] for g in gaps}) if gaps else {}
    for gap, prev_name, prev_frame, prev_end, name, frame, ts in sorted(gaps, key=lambda g: g[5]):
        if any(s <= prev_end + 1 and ts <= e + 1 for s, e in waits):
            continue                  # explained by a slow-response finding
        before = named[prev_frame][1] if prev_frame in named else prev_name
        after = named[frame][0] if frame in named else name
        out.append(_f(a, WARN, "idle-gap",
                      f"no PDU for {_secs(gap)} inside the association, between {before} (frame {prev_frame})"
                      f" and {after} (frame {frame})", [prev_frame, frame],
                      "an association held open while idle: the application waits (user, database) between"
                      " operations, and idle timeouts or firewalls may cut it"))
    return _capped(out)


def _message_names(a: Association, frames: set[int]) -> dict[int, tuple[str, str]]:
    """Frame → (the message that starts in it, the message that ends in it), for the frames asked."""
    out: dict[int, tuple[str | None, str | None]] = {}
    for m in a.messages:
        fr = m.frames
        if not fr or not (frames & {fr[0], fr[-1]}):
            continue
        cmd = m.command
        label = m.name + (f" #{cmd.message_id}" if cmd is not None and cmd.message_id is not None else
                          f" #{cmd.responds_to}" if cmd is not None and cmd.responds_to is not None else "")
        if fr[0] in frames:
            first, last = out.get(fr[0], (None, None))
            out[fr[0]] = (first or label, last)
        if fr[-1] in frames:
            first, last = out.get(fr[-1], (None, None))
            out[fr[-1]] = (first, label)
    return {k: (v[0] or v[1] or "", v[1] or v[0] or "") for k, v in out.items()}


_RULES = (_contexts, _sop_classes, _statuses, _releases, _max_pdu, _pdv_sequence, _decoding, _pdu_findings,
          _ae_titles, _slow, _idle)


# -- rules across associations ---------------------------------------------------


@dataclass(slots=True)
class MoveDigest:
    """What the sub-association rule needs of one C-MOVE request."""

    message_id: int | None
    destination: str
    start_ns: int
    end_ns: int
    request_frame: int
    final_frame: int
    suboperations: int | None        # largest completed + failed + warning count reported, None if never
    failed: bool                     # final status a failure other than 0xA801 (no sub-association expected)


@dataclass(slots=True)
class Digest:
    """An association as the rules across associations see it: small, kept after the association is gone."""

    number: int
    calling: str
    called: str
    client_ip: bytes
    server_ip: bytes
    server_port: int
    start_ns: int | None
    first_frame: int
    outcome: str
    moves: list[MoveDigest]
    stores: int                                   # C-STORE requests (kept and folded)
    origins: set[tuple[str, int | None]]          # (Move Originator AE, Message ID) of its C-STOREs, bounded
    has_origin: bool                              # some C-STORE carried a Move Originator Message ID
    single_store: bool                            # exactly one C-STORE and nothing but C-ECHO besides

    MAX_ORIGINS = 64

    @classmethod
    def of(cls, a: Association) -> "Digest":
        moves = []
        for ex in a.exchanges:
            req = ex.request
            if req is None or req.command is None or ex.command_field != C_MOVE:
                continue
            final = ex.final
            counts = [(c.completed or 0) + (c.failed or 0) + (c.warning or 0)
                      for c in (r.command for r in ex.responses) if c is not None]
            info = ex.status_info
            moves.append(MoveDigest(
                ex.message_id, (req.command.move_destination or "").strip(), req.ts_ns,
                final.end_ts_ns if final is not None else (a.end_ns or req.ts_ns), req.frames[0] if req.frames else 0,
                (final.frames[0] if final is not None and final.frames else (req.frames[0] if req.frames else 0)),
                max(counts) if counts else None,
                info is not None and info.category == "Failure" and ex.status != 0xA801))
        origins: set[tuple[str, int | None]] = set()
        has_origin = False
        kept_stores = 0
        for m in a.messages:
            c = m.command
            if c is None or c.command_field != C_STORE:
                continue
            kept_stores += 1
            if c.move_originator_message_id is not None:
                has_origin = True
                if len(origins) < cls.MAX_ORIGINS:
                    origins.add(((c.move_originator_ae or "").strip(), c.move_originator_message_id))
        folded_stores = sum(n for (name, _c, _t), n in a.folded.items() if name == "C-STORE-RQ")
        store_ex = [ex for ex in a.exchanges if ex.command_field == C_STORE]
        others = [ex for ex in a.exchanges if ex.command_field not in (C_STORE, 0x0030)]
        return cls(a.number, (a.calling_ae or "").strip(), (a.called_ae or "").strip(), a.client.ip, a.server.ip,
                   a.server.port, a.start_ns, a.first_frame, a.outcome, moves, kept_stores + folded_stores,
                   origins, has_origin, len(store_ex) == 1 and not others and not a.folded)


def _sub_associations(assocs: list[Digest], opts: Options) -> list[Finding]:
    """Link each C-MOVE to the C-STORE association its SCP opened to the move destination (PS3.4 §C.4.2).

    Candidates: an association from the C-MOVE's called AE to its Move Destination, opened between
    1 s before the request and its final response. A candidate whose C-STOREs carry a Move Originator
    (AE, Message ID) must name this C-MOVE; the first such match wins over one by AE titles and time.
    """
    out: list[Finding] = []
    used: set[int] = set()
    for a in assocs:
        for mv in a.moves:
            dest, scp = mv.destination, a.called
            best: tuple[int, Digest] | None = None
            for b in assocs:
                if b is a or b.number in used or b.start_ns is None:
                    continue
                if b.calling != scp or b.called != dest:
                    continue
                if not (mv.start_ns - 1_000_000_000 <= b.start_ns <= mv.end_ns):
                    continue
                score = 1
                if b.has_origin:
                    if (a.calling, mv.message_id) in b.origins:
                        score = 2
                    else:
                        continue     # these C-STOREs say they belong to another C-MOVE
                if best is None or score > best[0]:
                    best = (score, b)
            label = f"C-MOVE #{mv.message_id}"
            if best is not None:
                score, b = best
                used.add(b.number)
                how = "Move Originator in its C-STOREs" if score == 2 else "AE titles and time"
                out.append(Finding(NOTE, "move-sub-association",
                                   f"{label} to '{safe_text(dest)}': its sub-operations ran on association"
                                   f" #{b.number} ({safe_text(b.calling or '?')} → {safe_text(b.called or '?')},"
                                   f" {b.stores} C-STORE, {b.outcome}; matched by {how})", a.number,
                                   [mv.request_frame] if mv.request_frame else []))
                out.append(Finding(NOTE, "move-sub-association",
                                   f"sub-association #{b.number} carries {label} of association #{a.number}"
                                   f" ({safe_text(a.calling or '?')} → {safe_text(a.called or '?')})",
                                   b.number, [b.first_frame] if b.first_frame else []))
                continue
            if (mv.suboperations or 0) > 0 or mv.failed:
                out.append(Finding(WARN, "move-sub-association-missing",
                                   f"{label} to '{safe_text(dest)}' reports {mv.suboperations or 0}"
                                   f" sub-operations but no association from '{safe_text(scp)}' to"
                                   f" '{safe_text(dest)}' appears in the capture", a.number,
                                   [mv.final_frame] if mv.final_frame else [],
                                   "capture the SCP's outgoing connection too (the move destination's host and"
                                   " port may be outside this capture filter), and check the host/port the SCP"
                                   f" has configured for '{safe_text(dest)}'"))
    return out


def _association_per_object(assocs: list[Digest], opts: Options) -> list[Finding]:
    groups: dict[tuple, list[Digest]] = defaultdict(list)
    for a in assocs:
        if a.single_store:
            groups[(a.client_ip, a.server_ip, a.server_port, a.calling, a.called)].append(a)
    out: list[Finding] = []
    for key, group in groups.items():
        if len(group) >= opts.per_object_min:
            first = group[0]
            nums = ", ".join(f"#{g.number}" for g in group[:10]) + (" …" if len(group) > 10 else "")
            out.append(Finding(WARN, "association-per-object",
                               f"{len(group)} associations '{safe_text(key[3])}' → '{safe_text(key[4])}' each"
                               f" carried a single C-STORE ({nums})", first.number,
                               [g.first_frame for g in group[:10]],
                               "the sender opens one association per object: configure it to send a study (or"
                               " a batch) per association; negotiation per object costs time and SCP slots"))
    return out


_CAPTURE_RULES = (_sub_associations, _association_per_object)
