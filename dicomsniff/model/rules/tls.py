"""DICOM over TLS: why a secure connection failed, in plain words, from the handshake's own evidence.

Reads ``Association.tls`` (:class:`dicomsniff.tls.session.TlsInfo`): the hellos, the certificates when
they travel in clear (TLS 1.2, or TLS 1.3 decrypted), the alerts and who sent them, the records' sizes,
and how the TCP connection ended. A TLS association that was not decrypted has no PDUs: the model's
"incomplete"/"started mid-association" lines would misread it, so ``tls-encrypted`` and the failure
codes supersede them. Also catches the two port mix-ups: a plain A-ASSOCIATE-RQ sent to a TLS port,
and a TLS ClientHello sent to a plain DICOM port.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ...field import ERROR, NOTE, WARN
from ...textsafe import safe_text
from ..association import Association
from ..findings import Finding
from .base import Options
from .registry import emit, rule

TEST = "tests/test_tls_diagnosis.py"
# What a failed or encrypted TLS connection makes the model say that does not apply to it.
MISREAD = ("association-incomplete", "started-mid-association", "peer-closed", "no-response", "capture-ended",
           "release-no-reply")
TRUST = {42: "bad_certificate", 46: "certificate_unknown", 48: "unknown_ca", 43: "unsupported_certificate"}


def _tls(a: Association):
    return getattr(a, "tls", None)


def _date(d: datetime | None) -> str:
    return d.strftime("%Y-%m-%d %H:%M UTC") if d else "?"


def _capture_time(a: Association, frame_ts: int = 0) -> int:
    return frame_ts or a.start_ns or 0


def _cert_text(c) -> str:
    return (f"subject {safe_text(c.subject)}, issuer {safe_text(c.issuer)}, valid {_date(c.not_before)} to "
            f"{_date(c.not_after)}" + (f", {c.key}" if c.key else ""))


def _names(codes, name_of, limit: int = 8) -> str:
    names = [name_of(c) for c in codes]
    more = len(names) - limit
    return ", ".join(names[:limit]) + (f" and {more} more" if more > 0 else "")


def _closer(a: Association) -> str:
    if not a.closes:
        return ""
    c = a.closes[0]
    return f"; the {c.side} then closed the TCP connection ({c.how.upper()}, frame {c.frame})" if c.frame else ""


@rule(code="tls-handshake-failed", severity=ERROR, group="response",
      summary="a TLS handshake ended with a fatal alert: certificate not trusted or expired, no common version,"
              " no shared cipher suite, client certificate required or rejected (who sent it, what it rests on)",
      evidence="Association.tls: alerts (sender, level, description, frame), ClientHello/ServerHello offers,"
               " certificates in clear (subject, issuer, validity), CertificateRequest, TCP close",
      test=TEST, supersedes=MISREAD)
def handshake_failed(a: Association, opts: Options) -> list[Finding]:
    from ...tls.tables import alert_name, suite_name, version_name

    t = _tls(a)
    if t is None:
        return []
    alert = next((x for x in t.alerts if x.level == 2 and x.description is not None), None)
    if alert is None or t.finished[0] and t.finished[1] and t.decrypted:
        return []
    desc, who = alert.description, alert.sender
    other = "server" if who == "client" else "client"
    certs = [c for c in t.certificates if c.sender == other]
    leaf = certs[0] if certs else None
    where = f" (frame {alert.frame})"
    enc = " (sent encrypted, read with the key log)" if alert.encrypted else ""
    head = f"TLS handshake failed: the {who} sent fatal {alert_name(desc)}{where}{enc}"
    hint = ""
    if desc in TRUST:
        if leaf is not None:
            msg = (f"{head}: it does not trust the {other}'s certificate ({_cert_text(leaf)})")
            hint = (f"the {who} does not trust the issuer '{safe_text(leaf.issuer)}': give the {who} that CA"
                    f" certificate (DCMTK +cf, pynetdicom ssl context load_verify_locations), or give the {other} a"
                    f" certificate from a CA the {who} trusts")
        else:
            msg = f"{head}: it does not trust the {other}'s certificate (not readable: TLS 1.3 sends it encrypted)"
            hint = (f"the {who} rejected the {other}'s certificate; give --tls-keylog to read the certificate, and"
                    f" check that the {who} trusts the CA that signed it")
    elif desc == 45:
        if leaf is not None:
            state = leaf.expired_at(alert.ts_ns) or "expired"
            msg = (f"{head}: the {other}'s certificate is {state} (valid {_date(leaf.not_before)} to"
                   f" {_date(leaf.not_after)}; {safe_text(leaf.subject)})")
        else:
            msg = f"{head}: the {other}'s certificate is expired or not yet valid"
        hint = f"renew the {other}'s certificate (and check both clocks)"
    elif desc == 70:
        offered = _names(t.offered_versions, version_name)
        msg = f"{head}: no common protocol version — the client offered {offered or '?'}"
        if who == "server":
            msg += "; the server accepts none of them"
        hint = ("enable a common TLS version on both sides (BCP 195: TLS 1.2 and 1.3); a client capped at an older"
                " version cannot talk to a TLS 1.3-only server")
    elif desc == 116 or (desc == 40 and t.client_cert_requested and (t.client_cert_empty or not any(
            c.sender == "client" for c in t.certificates))):
        msg = f"{head}: the server requires a client certificate and the client sent none"
        hint = ("configure the client's certificate and key (DCMTK +tls KEY CERT, pynetdicom"
                " ssl_context.load_cert_chain), or stop requiring one on the server")
    elif desc == 40 and t.server_hello_frame == 0 and t.client_hellos:
        msg = (f"{head}: no shared cipher suite or version — the client offered"
               f" {_names(t.offered_suites, suite_name)}; the server accepted none of them")
        hint = "configure at least one cipher suite both sides accept (BCP 195: ECDHE with AES-GCM)"
    elif desc == 40:
        msg = f"{head}: the handshake could not agree ({t.version_text}, {t.suite_text})"
        hint = f"look at the {who}'s TLS log for the reason"
    else:
        msg = head
        hint = f"look at the {who}'s TLS log for the reason"
    msg += _closer(a)
    frames = sorted({f for f in (t.client_hello_frame, t.server_hello_frame, leaf.frame if leaf else 0, alert.frame)
                     if f})
    return [emit(a, "tls-handshake-failed", msg, frames, hint, key=str(desc))]


@rule(code="tls-encrypted-alert", severity=WARN, group="response",
      summary="an alert travelled encrypted and could not be read without keys; the handshake did not complete",
      evidence="Association.tls: a TLS 1.2 record of type alert after ChangeCipherSpec, or (TLS 1.3) one 19-byte"
               " protected record answering the client's Finished, then a close; no key log for it",
      test=TEST, supersedes=MISREAD)
def encrypted_alert(a: Association, opts: Options) -> list[Finding]:
    t = _tls(a)
    if t is None or t.decrypted or any(y.level == 2 for y in t.alerts if y.description is not None):
        return []
    sealed = t.sealed_alert()
    if sealed is not None:
        side, frame = sealed
        c = t.tally[a.client_dir]
        return [emit(a, "tls-encrypted-alert", f"the {side} answered the client's encrypted handshake flight"
                     f" ({c.app_records} records from frame {c.protected[0][1]}) with one 19-byte encrypted record"
                     f" (frame {frame}) — the size of a TLS 1.3 alert — and no application data" + _closer(a),
                     [c.protected[0][1], frame],
                     f"the handshake most likely failed at the {side} (commonly: the client's certificate is"
                     " missing or not trusted); give --tls-keylog to read the alert", key="sealed")]
    if t.handshake_complete:
        return []
    x = next((x for x in t.alerts if x.description is None), None)
    if x is None or any(y.level == 2 for y in t.alerts if y.description is not None):
        return []
    return [emit(a, "tls-encrypted-alert", f"the {x.sender} sent an encrypted TLS alert (frame {x.frame}) before the"
                 f" handshake completed; it cannot be read without keys" + _closer(a), [x.frame],
                 "give --tls-keylog (the key log of either peer) to read it")]


@rule(code="tls-certificate-date", severity=WARN, group="protocol",
      summary="a certificate sent in clear was expired or not yet valid when the capture was made (its dates named)",
      evidence="Association.tls.certificates (validity read with cryptography.x509) against the frame's time",
      test=TEST)
def certificate_dates(a: Association, opts: Options) -> list[Finding]:
    t = _tls(a)
    if t is None:
        return []
    out = []
    ts = a.start_ns or 0
    for c in t.certificates:
        state = c.expired_at(ts)
        if not state:
            continue
        when = datetime.fromtimestamp(ts / 1e9, tz=timezone.utc)
        out.append(emit(a, "tls-certificate-date",
                        f"the {c.sender}'s certificate {safe_text(c.subject)} is {state}: valid {_date(c.not_before)}"
                        f" to {_date(c.not_after)}, capture made {_date(when)}", [c.frame],
                        f"renew the {c.sender}'s certificate (or check the clocks)", key=c.serial or c.subject))
    return out


@rule(code="tls-not-tls", severity=ERROR, group="protocol",
      summary="a TLS ClientHello answered with bytes that are not TLS (a plain DICOM port answering), or not"
              " answered at all before the connection closed",
      evidence="Association.tls: the server's first bytes (not a TLS record) or no ServerHello and a TCP close",
      test=TEST, supersedes=MISREAD)
def not_tls(a: Association, opts: Options) -> list[Finding]:
    t = _tls(a)
    if t is None or t.server_hello_frame or t.hrr:
        return []
    server_dir = 1 - a.client_dir
    bad = next(((d, f, b) for d, f, b in t.not_tls if d == server_dir), None)
    if bad is not None:
        _d, frame, first = bad
        what = {0x02: "an A-ASSOCIATE-AC", 0x03: "an A-ASSOCIATE-RJ", 0x07: "an A-ABORT"}.get(first[0] if first else -1,
                                                                                        "bytes that are not TLS")
        return [emit(a, "tls-not-tls", f"TLS ClientHello (frame {t.client_hello_frame}) sent to a port that is not"
                     f" TLS: the server answered with {what} ({first[:8].hex(' ')}, frame {frame})",
                     [t.client_hello_frame, frame],
                     f"port {a.server.port} speaks plain DICOM: connect without TLS, or use the server's TLS port",
                     key="answer")]
    if t.alerts or t.tally[server_dir].records or not t.client_hello_frame:
        return []
    if not a.closes:
        return [emit(a, "tls-not-tls", f"TLS ClientHello (frame {t.client_hello_frame}) got no answer before the"
                     " capture ended", [t.client_hello_frame], "", severity=WARN, key="none")]
    c = a.closes[0]
    by = f"the {c.side} closed the connection ({c.how.upper()}, frame {c.frame})"
    hint = (f"a plain DICOM server closes the connection on a ClientHello (it reads 0x16 as an unknown PDU type):"
            f" check that port {a.server.port} expects TLS" if c.side == "server" else "")
    return [emit(a, "tls-not-tls", f"TLS ClientHello (frame {t.client_hello_frame}) never answered: {by} without"
                 " a ServerHello", [t.client_hello_frame, c.frame], hint, key="closed")]


@rule(code="tls-plain-to-tls", severity=WARN, group="protocol",
      summary="a plain A-ASSOCIATE-RQ the server did not answer before closing the connection (what a TLS-only"
              " port does)",
      evidence="A-ASSOCIATE-RQ without A-ASSOCIATE-AC/RJ/A-ABORT, no byte from the server, the server's FIN/RST",
      test=TEST, supersedes=("peer-closed", "no-response", "association-incomplete"))
def plain_to_tls(a: Association, opts: Options) -> list[Finding]:
    if _tls(a) is not None or a.rq is None or a.ac is not None or a.rj is not None or a.abort is not None:
        return []
    server_dir = 1 - a.client_dir
    if a.bytes[server_dir] or not a.closes or a.closes[0].side != "server":
        return []
    c = a.closes[0]
    return [emit(a, "tls-plain-to-tls", f"the server closed the connection ({c.how.upper()}, frame {c.frame}) without"
                 f" answering the A-ASSOCIATE-RQ: port {a.server.port} may expect TLS", [a.first_frame, c.frame],
                 "a TLS-only port drops plain DICOM this way: connect with TLS (DCMTK +tls / +tla, pynetdicom"
                 " tls_args), or use the server's plain port; the server's log says which")]


@rule(code="tls-handshake-incomplete", severity=WARN, group="response",
      summary="a TLS handshake that neither completed nor failed with an alert before the connection ended",
      evidence="Association.tls: hellos, no application data both ways, no fatal alert, TCP close or capture end",
      test=TEST, supersedes=MISREAD)
def handshake_incomplete(a: Association, opts: Options) -> list[Finding]:
    t = _tls(a)
    if t is None or t.handshake_complete or t.decrypted or t.alerts or not t.server_hello_frame \
            or t.sealed_alert() is not None:
        return []
    how = _closer(a) or "; the capture ended"
    return [emit(a, "tls-handshake-incomplete", f"the TLS handshake ({t.version_text}) never completed: no"
                 f" application data both ways and no alert{how}", [t.client_hello_frame, t.server_hello_frame],
                 "check both peers' TLS logs (a peer that drops the connection without an alert)")]


@rule(code="tls-not-dicom", severity=NOTE, group="info",
      summary="a TLS connection decrypted with the key log whose data is not DICOM (its first bytes quoted)",
      evidence="Association.tls.not_dicom: the client's first decrypted bytes, not a PDU header",
      test=TEST, supersedes=MISREAD)
def not_dicom(a: Association, opts: Options) -> list[Finding]:
    t = _tls(a)
    if t is None or not t.not_dicom:
        return []
    shown = safe_text(t.not_dicom.decode("ascii", "replace"))
    return [emit(a, "tls-not-dicom", f"{t.version_text} decrypted, but its data is not DICOM: it starts with"
                 f" {shown!r} ({t.not_dicom[:8].hex(' ')})", [t.tally[a.client_dir].first_app_frame],
                 "another application shares the key log (browsers write SSLKEYLOGFILE too): nothing to do for DICOM")]


@rule(code="tls-encrypted", severity=NOTE, group="info",
      summary="a TLS connection whose application data was not decrypted: give --tls-keylog (sizes and timing of"
              " its records are shown)",
      evidence="Association.tls: version, suite, records per direction (count, bytes, first/last time)",
      test=TEST, supersedes=MISREAD)
def encrypted(a: Association, opts: Options) -> list[Finding]:
    t = _tls(a)
    if t is None or t.decrypted or t.not_dicom or not t.handshake_complete:
        return []
    c, s = t.tally[a.client_dir], t.tally[1 - a.client_dir]
    if t.decrypt_errors:
        return []
    why = "the key log has no secrets for this session" if t.keylog_given and not t.keys else "no key log given"
    if t.midstream:
        return [emit(a, "tls-encrypted", f"TLS connection that began before the capture: client sent {c.records}"
                     f" records / {c.bytes} B, server {s.records} / {s.bytes} B; without its handshake it cannot be"
                     " decrypted", [t.tally[a.client_dir].first_app_frame or a.first_frame],
                     "capture from the start of the connection (a key log finds a session by its ClientHello)",
                     key="midstream")]
    return [emit(a, "tls-encrypted", f"{t.version_text} {t.suite_text}, encrypted ({why}): client sent"
                 f" {c.app_records} records / {c.app_bytes} B, server {s.app_records} / {s.app_bytes} B",
                 [t.client_hello_frame, c.first_app_frame], "give --tls-keylog FILE (SSLKEYLOGFILE of either peer)"
                 " or a pcapng with embedded secrets to see the DICOM inside")]


@rule(code="tls-decrypt-failed", severity=WARN, group="capture",
      summary="TLS records that did not decrypt or authenticate with the key log given (reported once per"
              " direction; nothing after them is guessed)",
      evidence="Association.tls.decrypt_errors: side, frame, reason (AEAD tag, MAC, padding)",
      test=TEST, supersedes=MISREAD)
def decrypt_failed(a: Association, opts: Options) -> list[Finding]:
    t = _tls(a)
    if t is None or not t.decrypt_errors:
        return []
    out = []
    for side, frame, why in t.decrypt_errors:
        out.append(emit(a, "tls-decrypt-failed", f"{side} → {'server' if side == 'client' else 'client'}: TLS record"
                        f" at frame {frame} did not decrypt: {why}; the rest of this direction is not decoded",
                        [frame], "the key log does not match this session (another run's keys?), or the capture"
                        " damaged the record", key=side))
    return out
