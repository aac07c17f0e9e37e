"""Negotiation rules (PS3.8 §9.3.2-9.3.3, PS3.7 Annex D): contexts, SOP classes, AE titles.

A rejected presentation context matters only when a message needed it: crowded
negotiations (DCMTK storescu ~120 contexts, Orthanc 126) routinely get retired
SOP classes rejected, and nothing is wrong with that. So rejected contexts that
nothing needed are one grouped NOTE; a rejection that left a message without a
context is a WARNING, and no context at all an ERROR.
"""

from __future__ import annotations

from collections import Counter

from ...dimse.commands import is_request
from ...field import ERROR, NOTE, WARN
from ...textsafe import safe_text
from ...uids import uid_name
from ...ul.pdus import ASSOCIATE_AC, ASSOCIATE_RQ
from ...ul.tables import context_result_text
from .. import hints as H
from ..association import Association
from ..findings import Finding
from .base import Options, _f, _facts, _sop, _strip, _values
from .registry import rule

NAMES_SHOWN = 4          # SOP class names listed in the grouped note before "…"


def _requested_sops(a: Association) -> dict[str, list]:
    """SOP class → the request messages sent for it (kept messages)."""
    out: dict[str, list] = {}
    for m in a.messages:
        cmd = m.command
        if cmd is None or not is_request(cmd.command_field) or cmd.command_field == 0x0FFF:
            continue
        sop = _strip(cmd.sop_class_uid)
        if sop:
            out.setdefault(sop, []).append(m)
    return out


def _short(name: str) -> str:
    for tail in (" Image Storage", " Storage", " Information Model", " SOP Class"):
        if name.endswith(tail) and len(name) > len(tail):
            return name[: -len(tail)]
    return name


@rule(code="context-not-answered", severity=ERROR, group="protocol",
      summary="the A-ASSOCIATE-AC does not answer a proposed presentation context (PS3.8 §9.3.3)",
      evidence="A-ASSOCIATE-RQ and a complete A-ASSOCIATE-AC", test="tests/test_rules_negotiation.py", fragile=True)
@rule(code="context-ts-not-proposed", severity=ERROR, group="protocol",
      summary="a context accepted with a transfer syntax the RQ did not propose",
      evidence="A-ASSOCIATE-RQ/AC transfer syntaxes", test="tests/test_model_diagnosis.py", fragile=True)
@rule(code="context-rejected", severity=WARN, group="response",
      summary="a presentation context was rejected and a message needed it (its SOP class was sent on no"
              " accepted context)", evidence="A-ASSOCIATE-AC results, requests' SOP classes",
      test="tests/test_rules_negotiation.py", fragile=True)
@rule(code="contexts-rejected-unneeded", severity=NOTE, group="info",
      summary="presentation contexts rejected that nothing needed: one line per association, by reason",
      evidence="A-ASSOCIATE-AC results, requests' SOP classes", test="tests/test_rules_negotiation.py")
@rule(code="no-context-accepted", severity=ERROR, group="response",
      summary="the association was accepted but none of its presentation contexts: nothing can be exchanged",
      evidence="A-ASSOCIATE-AC results", test="tests/test_model_diagnosis.py", fragile=True)
def contexts(a: Association, opts: Options) -> list[Finding]:
    out: list[Finding] = []
    if a.ac is None:
        return out
    frame = _facts(a, opts).frame_of(ASSOCIATE_AC)
    sd = 1 - a.client_dir                # the A-ASSOCIATE-AC's direction
    vals = _values(a)
    accepted = [c for c in a.contexts.values() if c.accepted]
    accepted_sops = {_strip(c.abstract_syntax) for c in accepted}
    requested = _requested_sops(a)
    unneeded = []
    for ctx in sorted(a.contexts.values(), key=lambda c: c.id):
        if ctx.result is None:
            if a.rq is not None and ctx.abstract_syntax is not None and a.rq_complete and a.ac_complete:
                out.append(_f(a, ERROR, "context-not-answered",
                              f"A-ASSOCIATE-AC does not answer presentation context {ctx.id}"
                              f" ({_sop(ctx.abstract_syntax)}) proposed in the RQ", [frame],
                              "the AC must answer every proposed context (PS3.8 §9.3.3): the SCP's DICOM"
                              " stack is faulty; the SCU cannot use this context", key=str(ctx.id), direction=sd))
            continue
        if ctx.accepted:
            if ctx.proposed and ctx.transfer_syntax not in ctx.proposed and a.rq_complete:
                out.append(_f(a, ERROR, "context-ts-not-proposed",
                              f"presentation context {ctx.id} ({_sop(ctx.abstract_syntax)}) accepted with"
                              f" transfer syntax {safe_text(uid_name(ctx.transfer_syntax or '?'))},"
                              f" which the RQ did not propose", [frame],
                              "the SCP must pick one of the proposed transfer syntaxes: its DICOM stack is"
                              " faulty; data sets on this context may be misread", key=str(ctx.id), direction=sd))
            continue
        sop = _strip(ctx.abstract_syntax)
        needed = [m for m in requested.get(sop, [])] if sop not in accepted_sops else []
        if not needed and accepted:
            unneeded.append(ctx)
            continue
        proposed = ", ".join(safe_text(uid_name(t)) for t in ctx.proposed) or "none"
        hint = H.fill(H.CONTEXT_HINTS.get(ctx.result, "check the SCP's conformance statement"),
                      sop=_sop(ctx.abstract_syntax), proposed=proposed, **vals)
        if needed:
            first = needed[0]
            label = f"{first.name} #{first.command.message_id}" + (f" and {len(needed) - 1} more"
                                                                   if len(needed) > 1 else "")
            why, frames = f"{label} needed it and no accepted context carries this SOP class", first.frames[:1]
        else:
            why, frames = "no context was accepted, so nothing could be sent", []
        out.append(_f(a, WARN, "context-rejected",
                      f"presentation context {ctx.id} ({_sop(ctx.abstract_syntax)}) rejected:"
                      f" {context_result_text(ctx.result)}; proposed: {proposed}; {why}", [frame] + frames, hint,
                      key=f"{ctx.id}", direction=sd))
    if unneeded and accepted:
        out.append(_unneeded_note(a, unneeded, frame))
    if a.contexts and not accepted:
        out.append(_f(a, ERROR, "no-context-accepted",
                      f"the SCP accepted the association but none of its presentation contexts ({len(a.contexts)}"
                      " proposed): nothing can be exchanged", [frame], "see the context-rejected findings for"
                      " each context", direction=sd))
    return out


def _unneeded_note(a: Association, unneeded: list, frame: int) -> Finding:
    names: list[str] = []
    for ctx in unneeded:
        n = _short(_sop(ctx.abstract_syntax))
        if ctx.result == 4 and ctx.proposed:
            n += f" ({', '.join(safe_text(uid_name(t)) for t in ctx.proposed[:2])} only)"
        if n not in names:
            names.append(n)
    shown = ", ".join(names[:NAMES_SHOWN]) + (f", … ({len(names) - NAMES_SHOWN} more)"
                                               if len(names) > NAMES_SHOWN else "")
    # several contexts per SOP class (one per transfer syntax): say how many classes the names count
    classes = f" ({len(names)} SOP classes)" if len(names) != len(unneeded) else ""
    reasons = Counter(context_result_text(c.result).split(" (")[0] for c in unneeded)
    by = ", ".join(f"{r} {n}" for r, n in reasons.most_common())
    partial = "" if a.ac_complete and a.rq_complete else " (in the part of the negotiation the capture kept)"
    return _f(a, NOTE, "contexts-rejected-unneeded",
              f"{len(unneeded)} of {len(a.contexts)} proposed presentation contexts{classes} rejected{partial},"
              " none needed:"
              f" {shown}; by reason: {by}", [frame],
              "nothing was sent for these SOP classes on a rejected context (or another accepted context"
              " carried them): usual when an SCU proposes many contexts; `dicomsniff summary` lists them")


@rule(code="sop-class-not-negotiated", severity=ERROR, group="protocol",
      summary="a request for a SOP class no accepted presentation context covers",
      evidence="requests' Affected SOP Class, A-ASSOCIATE-AC results", test="tests/test_model_diagnosis.py",
      fragile=True)
@rule(code="sop-class-context-mismatch", severity=ERROR, group="protocol",
      summary="a request sent on a context negotiated for another SOP class",
      evidence="requests' Affected SOP Class and PDV context ID", test="tests/test_model_diagnosis.py",
      fragile=True)
def sop_classes(a: Association, opts: Options) -> list[Finding]:
    """Requests for a SOP class that no accepted context covers, or on a context of another SOP class."""
    out: list[Finding] = []
    if a.ac is None or a.rq is None:
        return out              # without both, which SOP class each context carries is unknown
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
        if not (a.rq_complete and a.ac_complete) and (ctx is None or ctx.result is None):
            continue                # its context is in the part of the RQ or AC the capture lost: unknown
        model = flagged.get(tuple(m.frames[:3]))
        if model is not None:
            # The model already said "not accepted": say which SOP class and what became of its context.
            state = "never proposed" if ctx is None else (ctx.result_text if ctx.result is not None
                                                         else "not answered")
            also = "" if sop in accepted else "; no accepted context covers this SOP class"
            model.message = (f"{m.name} #{cmd.message_id} for {_sop(sop)} sent on presentation context"
                             f" {m.context_id}, which was not accepted ({state}){also}")
            model.key = f"{m.context_id}"
            continue
        if sop not in accepted:
            why = "whose presentation context the SCP rejected" if sop in rejected else \
                "which was never proposed: no accepted presentation context covers it"
            out.append(_f(a, ERROR, "sop-class-not-negotiated",
                          f"{m.name} #{cmd.message_id} sent for {_sop(sop)}, {why} (context {m.context_id})",
                          m.frames[:3],
                          "the sender must only send SOP classes the SCP accepted: check the SCU's proposed"
                          " contexts and the SCP's supported SOP classes", key=sop, direction=m.direction))
        elif ctx is not None and ctx.accepted and ctx.abstract_syntax and _strip(ctx.abstract_syntax) != sop:
            out.append(_f(a, ERROR, "sop-class-context-mismatch",
                          f"{m.name} #{cmd.message_id} for {_sop(sop)} sent on context {m.context_id}, which"
                          f" was negotiated for {_sop(ctx.abstract_syntax)}", m.frames[:3],
                          "each message must travel on a context negotiated for its SOP class: the SCU picks"
                          " the wrong context", key=f"{sop} {m.context_id}", direction=m.direction))
    return out


_AE_OK = set(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~")


@rule(code="ae-title-invalid", severity=ERROR, group="protocol",
      summary="an AE title that is empty, too long or has characters PS3.5 §6.2 does not allow",
      evidence="A-ASSOCIATE-RQ calling/called AE", test="tests/test_model_diagnosis.py", fragile=True)
@rule(code="ac-ae-mismatch", severity=NOTE, group="info",
      summary="the A-ASSOCIATE-AC echoes other AE titles than the RQ's (harmless, not to be tested)",
      evidence="A-ASSOCIATE-RQ/AC AE titles", test="tests/test_model_diagnosis.py", fragile=True)
def ae_titles(a: Association, opts: Options) -> list[Finding]:
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
                                       " mismatch such titles", direction=a.client_dir))
    if a.rq is not None and a.ac is not None:
        for role in ("calling_ae", "called_ae"):
            x, y = getattr(a.rq, role), getattr(a.ac, role)
            if x is not None and y is not None and x.strip() != y.strip():
                out.append(_f(a, NOTE, "ac-ae-mismatch",
                              f"A-ASSOCIATE-AC echoes {role.replace('_ae', '')} AE '{safe_text(y)}' instead of"
                              f" the RQ's '{safe_text(x)}'", [facts.frame_of(ASSOCIATE_AC)],
                              "PS3.8 §9.3.3 says the AC repeats the RQ's AE titles (not to be tested):"
                              " harmless, but shows how the SCP sees itself", direction=1 - a.client_dir))
    return out
