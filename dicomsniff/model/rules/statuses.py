"""DIMSE status rules (PS3.7 Annex C, PS3.4): failures, warnings, cancels, empty C-FINDs, and C-MOVE/C-GET
sub-operation counts. Each status is its own cause (grouping key), so 0xA700 and 0xC000 stay two lines."""

from __future__ import annotations

from ...field import ERROR, NOTE, WARN
from ...textsafe import safe_text
from .. import evidence as E
from .. import hints as H
from ..association import Association
from ..findings import Finding
from .base import C_FIND, C_GET, C_MOVE, Options, _f, _req_label, _sop, _strip, _values
from .registry import rule


MAX_CHECKED = 20        # failures per association whose request is examined for evidence


@rule(code="dimse-failure", severity=ERROR, group="response",
      summary="a request failed: its final DIMSE status is a Failure (meaning for the service class, likely"
              " cause)", evidence="final response Status, Error Comment, the request", test="tests/test_model_diagnosis.py")
@rule(code="dimse-warning", severity=WARN, group="response", summary="a request ended with a Warning status",
      evidence="final response Status", test="tests/test_model_diagnosis.py")
@rule(code="dimse-cancel", severity=NOTE, group="response", summary="a request was cancelled (C-CANCEL, 0xFE00)",
      evidence="final response Status", test="tests/test_model_diagnosis.py")
@rule(code="find-no-matches", severity=NOTE, group="info",
      summary="a C-FIND succeeded with no matches (not a failure)", evidence="no pending responses, Success",
      test="tests/test_model_diagnosis.py")
@rule(code="suboperations-failed", severity=WARN, group="response",
      summary="a C-MOVE/C-GET reported success but some failed sub-operations",
      evidence="Number of Failed Sub-operations", test="tests/test_model_diagnosis.py")
def statuses(a: Association, opts: Options) -> list[Finding]:
    out: list[Finding] = []
    vals = _values(a)
    checked = 0             # failures whose request's data set is decoded for evidence (each decode costs)
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
        extra = E.response_evidence(ex)         # Error Comment, Offending Element, verbatim
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
            if checked < MAX_CHECKED:
                checked += 1
                _, hint = E.failure_evidence(ex, hint)
            out.append(_f(a, ERROR, "dimse-failure", f"{label} ({_sop(sop)}) failed: {info.display}{extra}",
                          frames, hint, key=f"{(cf or 0) & 0x7FFF:04X}:{info.code:04X}"))
        elif info.category == "Warning":
            out.append(_f(a, WARN, "dimse-warning", f"{label} ({_sop(sop)}) ended with a warning:"
                          f" {info.display}{extra}", frames, hint, key=f"{(cf or 0) & 0x7FFF:04X}:{info.code:04X}"))
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
    return out
