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


def identifier_keys(msg) -> str:
    """The keys of a message's data set worth a glance: 'PatientID=123456, Modality=CT'.

    A stored object shows its identity (``KeptDataSet.identity``).
    Matching keys with values first; a query of only return keys lists their names.
    """
    data = getattr(msg, "data", None)
    if data is None:
        return ""
    cmd = msg.command
    if cmd is not None and cmd.command_field == 0x0001:
        try:
            ident = data.identity()         # remembered from the diagnosis's decode
        except Exception:   # the data set does not decode: its findings say why
            return ""
        return safe_text(", ".join(f"{kw}={_short(v)}" for kw, v in ident.items()))
    try:
        ds = data.dataset
    except Exception:       # the data set does not decode: its findings say why
        return ""
    if ds is None:
        return ""
    parts: list[str] = []
    empty: list[str] = []
    try:
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
    tls = getattr(a, "tls", None)
    if tls is not None and a.calling_ae is None and a.called_ae is None:
        return f"TLS{' ' + safe_text(tls.sni) if tls.sni else ''}"
    return f"{safe_text(a.calling_ae or '?')} → {safe_text(a.called_ae or '?')}"


def list_cells(a: Association) -> tuple[str, str]:
    """(AE column, outcome column) of an association list row; a TLS connection not decrypted says what TLS
    showed instead (issue 15): ('TLS 1.3, encrypted: --tls-keylog', 'encrypted')."""
    tls = getattr(a, "tls", None)
    if tls is None or tls.decrypted or a.calling_ae is not None:
        return association_title(a), a.outcome
    if not tls.handshake_complete:
        state = "tls failed" if (tls.alerts or tls.sealed_alert()) else "no tls"
    else:
        state = "undecrypted" if tls.decrypt_errors else "encrypted"
    return safe_text(tls.short_status()), state


def outcome_text(a: Association) -> str:
    tls = getattr(a, "tls", None)
    if tls is not None and not tls.decrypted:
        return safe_text(tls.status_text())      # "TLS 1.3, encrypted — give --tls-keylog", a failed handshake
    if a.outcome == "rejected":
        text = f"rejected ({a.reject_text()})"
    elif a.outcome == "aborted":
        text = f"aborted by {a.abort_by} ({a.abort_text()})"
    else:
        text = a.outcome
    return f"{text} ({tls.version_text}, decrypted)" if tls is not None else text


def tls_lines(a: Association, t0: int = 0) -> list[str]:
    """The TLS facts of an association (issue 15): version and suite, offers, SNI, certificates, alerts, records."""
    from ..tls.tables import suite_name, version_name

    tls = getattr(a, "tls", None)
    if tls is None:
        return []
    out = [f"TLS: {safe_text(tls.status_text())}; {tls.suite_text}"
           + (f", SNI {safe_text(tls.sni)}" if tls.sni else "")
           + (", HelloRetryRequest" if tls.hrr else "") + (", encrypt-then-MAC" if tls.encrypt_then_mac else "")
           + (f", {tls.key_updates} key update(s)" if tls.key_updates else "")]
    if tls.offered_versions:
        out.append("  client offered " + ", ".join(version_name(v) for v in tls.offered_versions)
                   + f"; {len(tls.offered_suites)} cipher suites: "
                   + ", ".join(suite_name(s) for s in tls.offered_suites[:6])
                   + (" …" if len(tls.offered_suites) > 6 else ""))
    for c in tls.certificates:
        if c.error:
            out.append(f"  certificate from {c.sender} (frame {c.frame}): {c.error}")
            continue
        nb = c.not_before.strftime("%Y-%m-%d") if c.not_before else "?"
        na = c.not_after.strftime("%Y-%m-%d") if c.not_after else "?"
        out.append(f"  certificate from {c.sender} (frame {c.frame}): {safe_text(c.subject)}, issuer"
                   f" {safe_text(c.issuer)}, valid {nb} to {na}, {c.key}")
    if tls.client_cert_requested:
        out.append("  the server asked for a client certificate")
    for x in tls.alerts:
        out.append(f"  alert from {x.sender} (frame {x.frame}): {x.text}"
                   + (" (encrypted)" if x.encrypted and x.description is not None else ""))
    for side, d in (("client", a.client_dir), ("server", 1 - a.client_dir)):
        t = tls.tally[d]
        if t.records:
            span = (f", {(t.first_ts - t0) / 1e9:.6f}–{(t.last_ts - t0) / 1e9:.6f} s" if t0 and t.first_ts else "")
            out.append(f"  {side} sent {t.records} records, {t.bytes} B ({t.app_records} application data,"
                       f" {t.app_bytes} B){span}")
    for side, frame, why in tls.decrypt_errors:
        out.append(f"  {side}: record at frame {frame} did not decrypt: {why}")
    ends = [f"{c.side} {c.how.upper()}" + (f" (frame {c.frame})" if c.frame else "") for c in a.closes]
    if tls.close_notify or ends:
        out.append("  " + "; ".join(([f"close_notify from {' and '.join(tls.close_notify)}"] if tls.close_notify
                                     else []) + ([f"TCP closed: {', then '.join(ends)}"] if ends else [])))
    return out


def tls_dump_lines(a: Association, t0: int) -> list[str]:
    """``dump`` lines for a TLS connection whose DICOM was not decrypted (issue 15): the handshake, then each alert."""
    from .text import rel_time

    tls = getattr(a, "tls", None)
    if tls is None or tls.decrypted:
        return []
    c, s = tls.tally[a.client_dir], tls.tally[1 - a.client_dir]
    head = f"{tls.client_hello_frame:>7} {rel_time(a.start_ns or t0, t0):>11} #{a.number:<3} {a.client} → {a.server}  "
    out = [head + f"{safe_text(tls.status_text())} ({tls.suite_text}; client {c.records} records {c.bytes} B,"
                  f" server {s.records} records {s.bytes} B)"]
    for x in tls.alerts:
        src, dst = (a.client, a.server) if x.sender == "client" else (a.server, a.client)
        out.append(f"{x.frame:>7} {rel_time(x.ts_ns, t0):>11} #{a.number:<3} {src} → {dst}  TLS Alert {x.text}")
    return out
