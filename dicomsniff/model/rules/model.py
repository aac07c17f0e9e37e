"""The findings the association model raises while decoding, refined: a hint each, and full wording
for rejection (PS3.8 §9.3.4) and abort (PS3.8 §9.3.8) with what was in flight."""

from __future__ import annotations

from ...field import WARN
from ...textsafe import safe_text
from ...ul.pdus import ABORT
from ...ul.tables import abort_reason_plain, abort_text, reject_reason_text, reject_result_text
from .. import hints as H
from ..association import Association
from ..findings import Finding
from .base import Options, _facts, _req_label, _size, _values


def refine_model(a: Association, opts: Options) -> list[Finding]:
    """The model's findings with a hint each, and richer messages for rejection and abort."""
    for f in a.findings:
        if f.code == "association-rejected" and a.rj is not None:
            f.message, f.hint = reject_text(a)
        elif f.code == "association-aborted" and a.abort is not None:
            f.message, f.hint, cut = abort_text_of(a, opts)
            if not cut and a.abort.source != 2:
                # A user abort that cut nothing: no operation failed and A-ABORT is legal — suspicious
                # (the peer did not release), not an error. A provider abort (source 2) stays an error.
                f.severity = WARN
                f.hint = (f"nothing was lost: every request had its final response; the {a.abort_by} ends the"
                          " association with A-ABORT instead of A-RELEASE (some applications do so on purpose,"
                          " e.g. storescu --abort), which the other side may log as an error")
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
                # The TCP handshake or a hole before the client's first bytes says the capture was running:
                # it lost the RQ, it did not start late.
                lost = a.handshake_seen or a.loss[a.client_dir].gaps > 0
                if lost:
                    # Only the handshake proves the start was captured; a client gap alone says bytes were lost.
                    why = ("the capture lost the A-ASSOCIATE-RQ (the connection's start was captured)"
                           if a.handshake_seen else
                           "the A-ASSOCIATE-RQ was not captured (the capture lost bytes the client sent)")
                    head = (why + ":"
                            + (" the proposed abstract syntaxes" if a.ac is not None else
                               " presentation contexts, transfer syntaxes and AE titles")
                            + " are unknown, so rules on them cannot run")
                    f.hint = ("the negotiation is in the capture's lost bytes (see capture-loss): capture with a"
                              " larger buffer (tcpdump -B) or on one of the peers to see it" if a.handshake_seen else
                              "the capture began late or lost the negotiation (see capture-loss): start it before"
                              " the association opens, with a larger buffer (tcpdump -B)")
                elif a.ac is not None:
                    head = ("the A-ASSOCIATE-RQ was not captured: the proposed abstract syntaxes are unknown, so"
                            " rules on them cannot run")
                else:
                    head = ("the capture began after this association was negotiated: presentation contexts,"
                            " transfer syntaxes and AE titles are unknown, so rules on them cannot run")
                f.message = (head
                             + (f" and {undecoded} data set{'s were' if undecoded != 1 else ' was'} not decoded"
                                if undecoded else ""))
    return out


def reject_text(a: Association) -> tuple[str, str]:
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


def abort_text_of(a: Association, opts: Options) -> tuple[str, str, bool]:
    """(message, hint, whether the abort cut a request or a message in flight)."""
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
            if not req.complete:
                inflight += f" after {size} of its data set (incomplete)"
            else:
                inflight += f" of a {size} object" if ex.command_field == 0x0001 else f" with a {size} identifier"
        if ex.responses:
            inflight += f" ({len(ex.responses)} responses so far)"
        break
    cut = bool(inflight)
    if not inflight:
        partial = [m for m in a.messages if not m.complete and m.ts_ns <= ts]
        if partial:
            m = partial[-1]
            cut = True
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
    return msg, hint, cut
