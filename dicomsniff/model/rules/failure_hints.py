"""Hints from the evidence for failed requests (issue 12 item 6): the status rule's ``dimse-failure``
lines, refined with what the request and the response carried.

A pass after the rules (``@post``): for each ``dimse-failure`` it finds the exchange
(by the final response's frames), quotes the response's Error Comment (0000,0902) and
Offending Element (0000,0901) verbatim in the message, and replaces the status
table's generic hint when the request says more — a refused C-STORE whose data set
lacks a Type 1 identity attribute or names another SOP instance, a refused C-MOVE
whose destination AE is the likely cause. The evidence is
:func:`dicomsniff.model.evidence.failure_evidence`'s.
"""

from __future__ import annotations

from ...textsafe import safe_text
from .. import evidence as E
from ..association import Association
from ..findings import Finding
from .base import Options
from .registry import post

MAX_CHECKED = 20        # failures per association whose data set is decoded (the first of each cause is shown)


@post
def failure_evidence(a: Association, findings: list[Finding], opts: Options) -> list[Finding]:
    failures = [f for f in findings if f.code == "dimse-failure"]
    if not failures:
        return findings
    by_frames = {}
    for ex in a.exchanges:
        final = ex.final
        info = ex.status_info
        if final is None or info is None or info.category != "Failure":
            continue
        by_frames.setdefault(tuple(final.frames[:2]), ex)
    checked = 0
    for f in failures:
        ex = by_frames.get(tuple(f.frames))
        if ex is None or checked >= MAX_CHECKED:
            continue
        checked += 1
        extra, hint = E.failure_evidence(ex, f.hint)
        cmd = ex.final.command
        old = f" (error comment: '{safe_text(cmd.error_comment)}')" if cmd is not None and cmd.error_comment else ""
        if extra and extra not in f.message:
            f.message = f.message.replace(old, "", 1) + extra if old else f.message + extra
        f.hint = hint
    return findings
