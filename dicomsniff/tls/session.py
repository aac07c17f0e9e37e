"""What one TLS connection showed: versions, suite, SNI, certificates, alerts, records (the views read this)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from .tables import alert_level, alert_name


@dataclass(slots=True)
class Certificate:
    """One certificate of a chain, as sent (subject, issuer, validity, key type); ``error`` when unreadable."""

    sender: str                      # "client" or "server"
    frame: int
    subject: str = ""
    issuer: str = ""
    not_before: datetime | None = None
    not_after: datetime | None = None
    key: str = ""
    serial: str = ""
    error: str = ""

    def expired_at(self, ts_ns: int) -> str:
        """'expired' / 'not yet valid' at capture time ``ts_ns``, or ''."""
        if not ts_ns or self.not_after is None or self.not_before is None:
            return ""
        when = datetime.fromtimestamp(ts_ns / 1e9, tz=timezone.utc)
        if when > self.not_after:
            return "expired"
        if when < self.not_before:
            return "not yet valid"
        return ""

    def to_json(self) -> dict:
        return {"sender": self.sender, "frame": self.frame, "subject": self.subject, "issuer": self.issuer,
                "not_before": self.not_before.isoformat() if self.not_before else None,
                "not_after": self.not_after.isoformat() if self.not_after else None,
                "key": self.key, "serial": self.serial, **({"error": self.error} if self.error else {})}


@dataclass(slots=True)
class Alert:
    """A TLS alert: who sent it; ``level``/``description`` None when it was encrypted and could not be read."""

    sender: str
    frame: int
    ts_ns: int
    level: int | None
    description: int | None
    encrypted: bool                  # it travelled encrypted (read with keys, or not read)

    @property
    def text(self) -> str:
        if self.description is None:
            return "encrypted alert (unreadable without keys)"
        return f"{alert_level(self.level or 0)} {alert_name(self.description)}"

    def to_json(self) -> dict:
        return {"sender": self.sender, "frame": self.frame, "level": alert_level(self.level) if self.level else None,
                "description": alert_name(self.description) if self.description is not None else None,
                "encrypted": self.encrypted}


@dataclass(slots=True)
class RecordTally:
    """Records of one direction: counts, bytes, first/last times (what 'encrypted' traffic still shows)."""

    records: int = 0
    bytes: int = 0
    app_records: int = 0
    app_bytes: int = 0
    first_ts: int = 0
    last_ts: int = 0
    first_app_frame: int = 0
    last_frame: int = 0
    protected: list = field(default_factory=list)   # (length, frame) of the first protected records


    def add(self, length: int, ts: int, frame: int, app: bool) -> None:
        self.records += 1
        self.bytes += length
        if not self.first_ts:
            self.first_ts = ts
        self.last_ts = ts
        self.last_frame = frame
        if app:
            if len(self.protected) < 8:
                self.protected.append((length, frame))
            self.app_records += 1
            self.app_bytes += length
            if not self.first_app_frame:
                self.first_app_frame = frame

    def to_json(self) -> dict:
        return {"records": self.records, "bytes": self.bytes, "application_records": self.app_records,
                "application_bytes": self.app_bytes}


@dataclass(slots=True)
class TlsInfo:
    """The facts of one TLS connection (attached to its association as ``assoc.tls``)."""

    client_dir: int
    version: int | None = None               # negotiated (ServerHello / supported_versions)
    legacy_version: int | None = None        # ClientHello.legacy_version
    offered_versions: list[int] = field(default_factory=list)
    suite: int | None = None
    offered_suites: list[int] = field(default_factory=list)
    sni: str | None = None
    hrr: bool = False
    hrr_frame: int = 0
    client_hello_frame: int = 0
    server_hello_frame: int = 0
    client_hellos: int = 0
    encrypt_then_mac: bool = False
    client_cert_requested: bool = False
    client_cert_empty: bool = False          # the client answered a request with no certificate
    certificates: list[Certificate] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    close_notify: list[str] = field(default_factory=list)   # sides that sent close_notify
    tally: list[RecordTally] = field(default_factory=lambda: [RecordTally(), RecordTally()])
    keys: bool = False                       # the key log had this session's secrets
    keylog_given: bool = False               # a key log with some secrets was given
    decrypted: bool = False                  # application data was decrypted
    decrypt_errors: list[tuple[str, int, str]] = field(default_factory=list)   # (side, frame, why)
    finished: list[bool] = field(default_factory=lambda: [False, False])      # Finished seen (decrypted) per dir
    encrypted_from: list[int] = field(default_factory=lambda: [0, 0])        # first encrypted record frame per dir
    not_tls: list[tuple[int, int, bytes]] = field(default_factory=list)       # (direction, frame, first bytes)
    key_updates: int = 0
    lost: bool = False                       # a TCP gap stopped decoding
    midstream: bool = False                  # the handshake is not in the capture (records only)
    not_dicom: bytes = b""                   # decrypted, but the client's first bytes are no DICOM PDU: those bytes
    index: object = None                     # record.RecordIndex: decrypted records by frame (hex pane)

    def frame_reader(self, read):
        """``read(frame) -> bytes`` in, the same with each decrypted record's plaintext in place of its ciphertext
        (the hex pane shows a PDU's decrypted bytes in the frames that carried them); unchanged without keys."""
        if self.index is None:
            return read
        return lambda number: self.index.overlay(number, read)

    def side(self, direction: int) -> str:
        return "client" if direction == self.client_dir else "server"

    @property
    def version_text(self) -> str:
        from .tables import version_name
        if self.version is None:
            return "TLS (handshake not captured)" if self.midstream else "TLS (version not negotiated)"
        return version_name(self.version)

    @property
    def suite_text(self) -> str:
        from .tables import suite_name
        return suite_name(self.suite) if self.suite is not None else "-"

    @property
    def handshake_complete(self) -> bool:
        """Both sides went on to encrypted application data (or Finished was read), and no fatal alert."""
        if any(a.level == 2 for a in self.alerts) or self.sealed_alert() is not None:
            return False
        if all(self.finished):
            return True
        if self.midstream:
            return True                          # records flowed both ways after a handshake before the capture
        if self.version is None or self.hrr and not self.server_hello_frame:
            return False
        c, s = self.tally[self.client_dir], self.tally[1 - self.client_dir]
        if self.version == 0x0304:      # the client's Finished is its first protected record
            return c.app_records >= 2 and s.app_records >= 1
        return c.app_records >= 1 and s.app_records >= 1

    def sealed_alert(self) -> tuple[str, int] | None:
        """(side, frame) of a TLS 1.3 record that can only be an alert, when it could not be decrypted: after the
        client's first protected record (its Finished) the other side sent exactly one protected record, of
        5 + 2 + 1 + 16 bytes (an alert, its inner type, the AEAD tag), and nothing more."""
        if self.version != 0x0304 or self.decrypted or any(self.finished):
            return None
        c, s = self.tally[self.client_dir], self.tally[1 - self.client_dir]
        if not c.protected:
            return None
        first = c.protected[0][1]
        if s.app_records > len(s.protected):        # more than the first records kept: not a handshake that died
            return None
        after = [r for r in s.protected if r[1] >= first]
        if len(after) == 1 and after[0][0] == 24 and s.protected[-1] == after[0]:
            return self.side(1 - self.client_dir), after[0][1]
        return None

    def short_status(self) -> str:
        """At most ~34 characters for the viewer's association list: 'TLS 1.3, encrypted: --tls-keylog'."""
        from .tables import alert_name
        v = self.version_text if self.version is not None else "TLS"
        fatal = next((a for a in self.alerts if a.level == 2 and a.description is not None), None)
        if fatal is not None:
            return f"{v} failed: {alert_name(fatal.description)} ({fatal.sender})"
        if self.decrypt_errors:
            return f"{v}: did not decrypt"
        if self.midstream:
            return "TLS, handshake not captured"
        if not self.handshake_complete:
            return f"{v} failed: sealed alert" if self.sealed_alert() else f"{v}: handshake incomplete"
        return f"{v}, encrypted: --tls-keylog"

    def status_text(self) -> str:
        """One line for the association list: 'TLS 1.3, encrypted — give --tls-keylog' and the like."""
        v = self.version_text
        if self.not_dicom:
            return f"{v}, decrypted: not DICOM inside"
        if self.decrypted:
            return f"{v}, decrypted"
        if self.decrypt_errors:
            return f"{v}, could not decrypt ({self.decrypt_errors[0][2]})"
        if self.midstream:
            return "TLS, began before the capture: cannot decrypt (needs the handshake)"
        fatal = next((a for a in self.alerts if a.level == 2), None)
        if fatal is not None:
            return f"{v}, {'failed' if all(self.finished) else 'handshake failed'}: {fatal.sender} sent {fatal.text}"
        if not self.handshake_complete:
            sealed = self.sealed_alert()
            if sealed is not None:
                return f"{v}, handshake failed: {sealed[0]} sent an encrypted alert — give --tls-keylog"
            fatal = next((a for a in self.alerts if a.description is None), None)
            if fatal is not None:
                return f"{v}, handshake failed: {fatal.sender} sent {fatal.text}"
            return f"{v}, handshake not completed"
        return f"{v}, encrypted — give --tls-keylog"

    def to_json(self) -> dict:
        from .tables import suite_name, version_name
        return {
            "version": version_name(self.version) if self.version is not None else None,
            "offered_versions": [version_name(v) for v in self.offered_versions],
            "cipher": suite_name(self.suite) if self.suite is not None else None,
            "offered_ciphers": [suite_name(s) for s in self.offered_suites],
            "sni": self.sni,
            "hello_retry_request": self.hrr,
            "client_certificate_requested": self.client_cert_requested,
            "certificates": [c.to_json() for c in self.certificates],
            "alerts": [a.to_json() for a in self.alerts],
            "close_notify": list(self.close_notify),
            "handshake_complete": self.handshake_complete,
            "decrypted": self.decrypted,
            "keys_found": self.keys,
            "decrypt_errors": [{"side": s, "frame": f, "reason": r} for s, f, r in self.decrypt_errors],
            "key_updates": self.key_updates,
            "records": {"client": self.tally[self.client_dir].to_json(),
                        "server": self.tally[1 - self.client_dir].to_json()},
            "status": self.status_text(),
        }
