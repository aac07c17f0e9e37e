"""Who ended an association that had no A-RELEASE (PS3.8 §7.2-7.3), and a peer process ending mid-request.

For an association that ended by a TCP FIN or RST, or was still open when the
capture ended, one line says which side closed first, how long after the last
PDU, and what was lost (requests without a final response, a message cut while
being sent) — in place of the model's ``association-incomplete``, the
``no-response`` per request and the cut-unit codes (at the end of the capture the
model's ``association-incomplete`` stays, worded from the same evidence). Where a reset or the end of
the capture cut a unit in flight, the capture rules' ``capture-ended`` line already says it and
this one steps aside. Across
associations, connections of one host that closed within a few milliseconds of
each other while requests were outstanding read as the peer process ending
(crash or kill). The facts and wording are :mod:`dicomsniff.model.evidence`'s.
"""

from __future__ import annotations

from ...field import ERROR, WARN
from .. import evidence as E
from ..association import Association
from ..findings import Finding
from .base import Options, _facts
from .registry import emit, post, rule

CUT_CODES = ("message-incomplete", "command-incomplete", "dataset-incomplete", "pdu-incomplete", "pdu-truncated")
TEST = "tests/test_rules_termination.py"


@rule(code="peer-closed", severity=WARN, group="response",
      summary="an association ended by a TCP FIN or RST without A-RELEASE: who closed first, how long after the"
              " last PDU, what was lost (ERROR when a request or a message was lost)",
      evidence="Association.closes (first FIN/RST and its frame), last PDU/message times, exchanges without a"
               " final response, incomplete messages",
      test=TEST, supersedes=("association-incomplete", "no-response") + CUT_CODES)
def closing(a: Association, opts: Options) -> list[Finding]:
    f = E.close_facts(a, _facts(a, opts).last)
    if f is None or f.how == "eof":
        return []
    severity, message, hint, frames = E.termination(f)
    return [emit(a, "peer-closed", message, frames, hint, severity=severity, key=f.how)]


@post
def one_close_line(a: Association, findings: list[Finding], opts: Options) -> list[Finding]:
    """One line per association on how it ended.

    A capture end that cut a unit is already one ``capture-ended`` line: ``peer-closed`` steps aside. An association still open
    when the capture ended keeps the model's ``association-incomplete`` (group
    capture), worded from the evidence (how long after what, which requests had no
    response yet), in place of a ``no-response`` line per request.
    """
    codes = {f.code for f in findings}
    if "capture-ended" in codes:
        return [f for f in findings if f.code != "peer-closed"]
    if "association-incomplete" not in codes or "peer-closed" in codes:
        return findings
    facts = E.close_facts(a, _facts(a, opts).last)
    if facts is None or facts.how != "eof":
        return findings
    _severity, message, hint, frames = E.termination(facts)
    out = []
    for f in findings:
        if f.code == "no-response":
            continue
        if f.code == "association-incomplete":
            f.message, f.hint = message, hint
            f.frames = frames or f.frames
        out.append(f)
    return out


@rule(code="peer-ended", severity=ERROR, group="response", scope="capture",
      summary="connections of one host closed within a few milliseconds of each other, without A-RELEASE, while"
              " requests were outstanding: the peer process ended (crash or kill)",
      evidence="each association's first FIN/RST (host, time) and its outstanding requests (Digest.closing)",
      test=TEST)
def peer_ended(digests: list, opts: Options) -> list[Finding]:
    facts = [c for c in (getattr(d, "closing", None) for d in digests) if c is not None]
    out = []
    for group in E.ended_together(facts):
        severity, message, hint, frames = E.peer_ended(group)
        first = min(group, key=lambda f: f.number)
        out.append(emit(first.number, "peer-ended", message, frames, hint, severity=severity,
                        key=f"{first.host_text}:{group[0].ts_ns}"))
    return out
