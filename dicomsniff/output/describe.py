"""Plain-language one-liners for associations, contexts and exchanges (shared by summary, TUI, JSON)."""

from __future__ import annotations

from ..model.association import Association, ContextInfo, Exchange
from ..textsafe import safe_text
from ..uids import uid_name
from .text import duration_text

# How many identifier keys an exchange line shows, e.g. (PatientID=123456, Modality=CT).
KEYS_SHOWN = 3


def ts_name(uid: str | None) -> str:
    return uid_name(uid) if uid else "-"


def context_line(ctx: ContextInfo) -> str:
    name = safe_text(uid_name(ctx.abstract_syntax)) if ctx.abstract_syntax else "(abstract syntax unknown)"
    if ctx.accepted:
        return f"{ctx.id:>3}  {name}  accepted, {safe_text(ts_name(ctx.transfer_syntax))}"
    proposed = ", ".join(safe_text(ts_name(t)) for t in ctx.proposed)
    return f"{ctx.id:>3}  {name}  {ctx.result_text}" + (f" (proposed: {proposed})" if proposed else "")


# For storage requests the object's identity says more than its first elements.
STORE_KEYS = ("PatientID", "Modality", "InstanceNumber")


def identifier_keys(msg) -> str:
    """The keys of a message's data set worth a glance: 'PatientID=123456, Modality=CT'.

    Matching keys with values first; a query of only return keys lists their names.
    """
    data = getattr(msg, "data", None)
    if data is None:
        return ""
    try:
        ds = data.dataset
    except Exception:       # the data set does not decode: its findings say why
        return ""
    if ds is None:
        return ""
    parts: list[str] = []
    empty: list[str] = []
    cmd = msg.command
    try:
        if cmd is not None and cmd.command_field == 0x0001:
            for kw in STORE_KEYS:
                v = ds.get(kw)
                if v not in (None, ""):
                    parts.append(f"{kw}={_short(v)}")
            return safe_text(", ".join(parts))
        for elem in ds:
            if elem.tag == 0x00080005 or elem.tag.element == 0:     # charset, group lengths
                continue
            kw = elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"
            if elem.VR == "SQ":
                inner = [f"{sub.keyword}={_short(sub.value)}" for item in (elem.value or []) for sub in item
                         if sub.VR != "SQ" and sub.value not in (None, "", b"")]
                if inner:
                    parts.append(f"{kw}[{', '.join(inner[:2])}]")
                else:
                    empty.append(kw)
            elif elem.value in (None, "", b"") or elem.VR in ("OB", "OW", "OF", "OD", "UN"):
                empty.append(kw)
            else:
                parts.append(f"{kw}={_short(elem.value)}")
    except Exception:       # a value pydicom cannot convert: show what we have
        pass
    if parts:
        return safe_text(", ".join(parts[:KEYS_SHOWN]) + (", …" if len(parts) > KEYS_SHOWN else ""))
    if empty:
        return safe_text("return keys " + ", ".join(empty[:KEYS_SHOWN]) + (", …" if len(empty) > KEYS_SHOWN else ""))
    return ""


def _short(value, limit: int = 24) -> str:
    s = str(value)
    return s if len(s) <= limit else s[:limit - 1] + "…"


def exchange_line(ex: Exchange) -> str:
    """e.g. 'C-FIND-RQ #1 Modality Worklist … (PatientID=123) → 3 pending, Success in 12 ms'."""
    req = ex.request
    if req is None:
        first = ex.responses[0]
        cmd = first.command
        return (f"{first.name} for unknown request #{cmd.responds_to if cmd else '?'}"
                f" → {_status_text(ex)}")
    cmd = req.command
    sop = cmd.affected_sop_class_uid or cmd.requested_sop_class_uid if cmd else None
    parts = [f"{req.name} #{ex.message_id}"]
    if sop:
        parts.append(safe_text(uid_name(sop)))
    keys = identifier_keys(req)
    if keys:
        parts.append(f"({keys})")
    if cmd is not None and cmd.move_destination:
        parts.append(f"to {safe_text(cmd.move_destination)}")
    line = " ".join(parts)
    outcome = []
    if ex.pending:
        outcome.append(f"{ex.pending} pending")
    outcome.append(_status_text(ex))
    text = f"{line} → {', '.join(outcome)}"
    if ex.duration_ns is not None:
        text += f" in {duration_text(ex.duration_ns)}"
    if ex.cancel is not None:
        text += " (cancelled)"
    return text


def _status_text(ex: Exchange) -> str:
    info = ex.status_info
    if info is None:
        return "no response"
    if info.category == "Success" and info.code == 0:
        return "Success"
    return f"0x{info.code:04X} {info.meaning}"


def association_title(a: Association) -> str:
    return f"{safe_text(a.calling_ae or '?')} → {safe_text(a.called_ae or '?')}"


def outcome_text(a: Association) -> str:
    if a.outcome == "rejected":
        return f"rejected ({a.reject_text()})"
    if a.outcome == "aborted":
        return f"aborted by {a.abort_by} ({a.abort_text()})"
    return a.outcome
