"""The TLS record layer, sans-I/O: TCP stream bytes in, decrypted application data with its frame map out.

:class:`TlsConnection` is fed the :class:`~dicomsniff.tcp.events.StreamData` of both directions of one
TCP connection. It frames TLS records (RFC 8446 §5.1, RFC 5246 §6.2) across any segmentation, reads the
handshake in clear (hellos, TLS 1.2 certificates, alerts), and, when the key log has the session's
secrets, decrypts records (TLS 1.3 AEAD; TLS 1.2 AES-GCM, ChaCha20-Poly1305, AES-CBC with HMAC, MAC then
encrypt or encrypt-then-MAC) with per-direction sequence numbers. Decrypted application data comes out
as ``StreamData`` events of a plaintext stream whose ``frame``/``frame_offset`` point at the ciphertext
bytes (in the frames that carried them) each plaintext byte was decrypted from, so the Upper Layer
framer and every view above work unchanged. A record that fails to authenticate stops decryption of
that direction and is reported once; nothing is guessed.
"""

from __future__ import annotations

import hmac
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ..tcp.events import StreamClosed, StreamData, StreamGap
from . import keys as K
from .keylog import KeyLog
from .session import Alert, Certificate, TlsInfo
from .tables import (ALERT, APPLICATION_DATA, CHANGE_CIPHER_SPEC, EXT_ENCRYPT_THEN_MAC, EXT_SERVER_NAME,
                     EXT_SUPPORTED_VERSIONS, HANDSHAKE, HRR_RANDOM, SUITES)

MAX_RECORD = (1 << 14) + 2048           # RFC 5246 §6.2.3 bound on a protected record's length
MAX_INDEXED = 1 << 20                   # decrypted records remembered for re-reading (~100 B each)
MAX_ALERTS = 64                         # alerts kept per connection (a peer could send thousands)
MAX_CERTS = 20                          # certificates kept per connection
MAX_HANDSHAKE = 1 << 18                 # handshake bytes buffered per direction (certificate chains)
_HDR = struct.Struct(">BHH")


class _Cipher:
    """One direction's read state: the suite, keys, and the record sequence number."""

    __slots__ = ("suite", "key", "iv", "mac_key", "seq", "aead", "etm", "secret")

    def __init__(self, suite, key: bytes, iv: bytes, mac_key: bytes = b"", etm: bool = False, secret: bytes = b""):
        self.suite = suite
        self.key = key
        self.iv = iv
        self.mac_key = mac_key
        self.seq = 0
        self.etm = etm
        self.secret = secret
        if suite.kind in ("aead13", "gcm", "chacha"):
            self.aead = ChaCha20Poly1305(key) if suite.cipher == "chacha20" else AESGCM(key)
        else:
            self.aead = None

    def _nonce_xor(self) -> bytes:
        s = self.seq.to_bytes(len(self.iv), "big")
        return bytes(a ^ b for a, b in zip(self.iv, s))

    def decrypt(self, ctype: int, version: int, fragment: bytes, header: bytes,
                seq: int | None = None) -> tuple[int, bytes, int]:
        """(content type, plaintext, offset of the plaintext in the fragment); raises ValueError when it fails.
        ``seq``: decrypt as that record number (re-reading a record later) instead of the current one."""
        if seq is not None:
            saved, self.seq = self.seq, seq
            try:
                return self.decrypt(ctype, version, fragment, header)
            finally:
                self.seq = saved
        kind = self.suite.kind
        try:
            if kind == "aead13":
                pt = self.aead.decrypt(self._nonce_xor(), fragment, header)
                end = len(pt)
                while end and pt[end - 1] == 0:
                    end -= 1
                if not end:
                    raise ValueError("no inner content type")
                return pt[end - 1], pt[:end - 1], 0
            seqb = self.seq.to_bytes(8, "big")
            if kind == "gcm":
                if len(fragment) < 24:
                    raise ValueError("record too short")
                nonce = self.iv + fragment[:8]
                ct = fragment[8:]
                aad = seqb + bytes([ctype]) + version.to_bytes(2, "big") + (len(ct) - 16).to_bytes(2, "big")
                return ctype, self.aead.decrypt(nonce, ct, aad), 8
            if kind == "chacha":
                if len(fragment) < 16:
                    raise ValueError("record too short")
                aad = seqb + bytes([ctype]) + version.to_bytes(2, "big") + (len(fragment) - 16).to_bytes(2, "big")
                return ctype, self.aead.decrypt(self._nonce_xor(), fragment, aad), 0
            return self._cbc(ctype, version, fragment, seqb)
        except InvalidTag:
            raise ValueError("authentication failed (wrong key or damaged record)") from None

    def _cbc(self, ctype: int, version: int, fragment: bytes, seqb: bytes) -> tuple[int, bytes, int]:
        maclen = K.DIGEST_LEN[self.suite.mac]
        vb = version.to_bytes(2, "big")
        if self.etm:
            if len(fragment) < 32 + maclen:
                raise ValueError("record too short")
            enc, mac = fragment[:-maclen], fragment[-maclen:]
            want = hmac.new(self.mac_key, seqb + bytes([ctype]) + vb + len(enc).to_bytes(2, "big") + enc,
                            self.suite.mac).digest()
            if not hmac.compare_digest(want, mac):
                raise ValueError("record MAC does not verify (wrong key or damaged record)")
        else:
            enc = fragment
        if len(enc) < 32 or len(enc) % 16:
            raise ValueError("CBC record length is not whole blocks")
        dec = Cipher(algorithms.AES(self.key), modes.CBC(enc[:16])).decryptor()
        pt = dec.update(enc[16:]) + dec.finalize()
        pad = pt[-1]
        if pad + 1 > len(pt) or any(b != pad for b in pt[-pad - 1:]):
            raise ValueError("bad CBC padding (wrong key or damaged record)")
        pt = pt[:-pad - 1]
        if not self.etm:
            if len(pt) < maclen:
                raise ValueError("record too short for its MAC")
            content, mac = pt[:-maclen], pt[-maclen:]
            want = hmac.new(self.mac_key, seqb + bytes([ctype]) + vb + len(content).to_bytes(2, "big") + content,
                            self.suite.mac).digest()
            if not hmac.compare_digest(want, mac):
                raise ValueError("record MAC does not verify (wrong key or damaged record)")
            pt = content
        return ctype, pt, 16


class RecordIndex:
    """Decrypted application-data records by frame, to re-read and decrypt them again on demand (bounded).

    Each entry: the record's bytes as (frame, frame offset, length) spans, its cipher state and sequence
    number. Nothing decrypted is kept: the hex pane asks for a frame, the records touching it are read back
    from the capture, decrypted again, and their plaintext is laid over the ciphertext's places.
    """

    def __init__(self):
        self.records: list[tuple] = []                 # (spans, cipher, seq, outer type, version)
        self.by_frame: dict[int, list[int]] = {}

    def add(self, spans: tuple, cipher, seq: int, ctype: int, version: int) -> None:
        if len(self.records) >= MAX_INDEXED:
            return
        i = len(self.records)
        self.records.append((spans, cipher, seq, ctype, version))
        for frame, _o, _n in spans:
            lst = self.by_frame.setdefault(frame, [])
            if not lst or lst[-1] != i:
                lst.append(i)

    def overlay(self, number: int, read) -> bytes | None:
        data = read(number)
        if data is None or number not in self.by_frame:
            return data
        out = bytearray(data)
        for i in self.by_frame[number]:
            spans, cipher, seq, ctype, version = self.records[i]
            parts = []
            for frame, off, n in spans:
                fd = data if frame == number else read(frame)
                if fd is None or off + n > len(fd):
                    parts = None
                    break
                parts.append(bytes(fd[off:off + n]))
            if parts is None:
                continue
            rec = b"".join(parts)
            try:
                _t, plain, poff = cipher.decrypt(ctype, version, rec[5:], rec[:5], seq=seq)
            except ValueError:
                continue
            pos = 5 + poff                             # record offset of the first plaintext byte
            at = 0                                     # record offset of the current span
            for frame, off, n in spans:
                lo, hi = max(pos, at), min(pos + len(plain), at + n)
                if frame == number and lo < hi:
                    out[off + lo - at:off + hi - at] = plain[lo - pos:hi - pos]
                at += n
        return bytes(out)


class _Direction:
    """Record framing state of one direction."""

    __slots__ = ("buf", "pieces", "cipher", "pending", "encrypted", "hs", "hs_frame", "plain_offset", "dead",
                 "failed", "stream_offset", "ccs", "upd")

    def __init__(self):
        self.buf = bytearray()
        self.pieces: list[list] = []      # [index in buf, frame, frame_offset, ts]
        self.cipher: _Cipher | None = None
        self.pending: _Cipher | None = None
        self.encrypted = False            # records from here on are protected
        self.hs = bytearray()             # handshake message bytes not yet parsed
        self.hs_frame = 0
        self.plain_offset = 0             # offset in the decrypted application-data stream
        self.dead = False                 # framing stopped (not TLS, gap)
        self.failed = False               # decryption stopped (reported once)
        self.stream_offset = -1
        self.ccs = False
        self.upd = False                  # a KeyUpdate was read: switch keys after this record


class TlsConnection:
    """Sans-I/O TLS decoder for one TCP connection: ``feed``/``gap``/``close`` return plaintext events."""

    def __init__(self, stream: int, client_dir: int, keylog: KeyLog | None = None, *, midstream: bool = False):
        """``midstream``: the capture begins after the handshake (records only): counted, never decrypted, since
        a key log finds a session's secrets by the ClientHello's random."""
        self.stream = stream
        self.keylog = keylog
        self.info = TlsInfo(client_dir)
        self.info.midstream = midstream
        self.info.keylog_given = bool(keylog)
        self.dirs = [_Direction(), _Direction()]
        if midstream:
            for d in self.dirs:
                d.encrypted = True
        self.client_random = b""
        self.server_random = b""
        self.index = RecordIndex()
        self.secrets: dict[str, bytes] = {}

    # -- public -----------------------------------------------------------------

    def feed(self, ev: StreamData) -> list:
        d = self.dirs[ev.direction]
        if d.dead or not ev.data:
            return []
        d.pieces.append([len(d.buf), ev.frame, ev.frame_offset, ev.ts_ns])
        d.buf += ev.data
        out: list = []
        self._records(ev.direction, d, out)
        return out

    def gap(self, ev: StreamGap) -> list:
        """Bytes lost: record boundaries and sequence numbers are unknown from here, so this direction stops. The
        plaintext stream gets one gap of the ciphertext's length (how much plaintext it held is unknowable)."""
        d = self.dirs[ev.direction]
        if d.dead:
            return []
        d.dead = True
        self.info.lost = True
        d.buf.clear()
        d.pieces.clear()
        return [StreamGap(self.stream, ev.direction, d.plain_offset, ev.length, ev.after_frame, ev.before_frame,
                          ev.ts_ns)]

    def events(self, ev) -> list:
        """The pipeline's entry: TCP events of this connection in, the plaintext stream's events out."""
        t = type(ev)
        if t is StreamData:
            return self.feed(ev)
        if t is StreamGap:
            return self.gap(ev)
        return [ev]                     # StreamClosed and the rest pass through

    def finish(self, assoc=None) -> None:
        """The connection ended: handshake bytes left over are dropped; an association that carried no PDU (not
        decrypted) takes its times and frames from the TLS records, so views can place it."""
        tallies = [t for t in self.info.tally if t.records]
        if assoc is not None and tallies and assoc.start_ns is None:
            assoc.start_ns = min(t.first_ts for t in tallies)
            assoc.end_ns = max([t.last_ts for t in tallies] + [assoc.end_ns or 0])
            assoc.first_frame = assoc.first_frame or self.info.client_hello_frame
            assoc.last_frame = max(assoc.last_frame, max(t.last_frame for t in tallies))
        for d in self.dirs:
            d.buf.clear()
            d.pieces.clear()
            d.hs.clear()

    # -- records ----------------------------------------------------------------

    def _records(self, direction: int, d: _Direction, out: list) -> None:
        buf = d.buf
        start = 0
        while len(buf) - start >= 5:
            ctype, version, length = _HDR.unpack_from(buf, start)
            if not 20 <= ctype <= 24 or version >> 8 != 3 or length > MAX_RECORD:
                frame = self._frame_at(d, start)[0]
                self.info.not_tls.append((direction, frame, bytes(buf[start:start + 16])))
                d.dead = True
                break
            end = start + 5 + length
            if end > len(buf):
                break
            self._record(direction, d, ctype, version, start, bytes(buf[start:end]), out)
            start = end
        if start:
            del buf[:start]
            pieces = d.pieces
            keep = 0
            while keep + 1 < len(pieces) and pieces[keep + 1][0] <= start:
                keep += 1
            del pieces[:keep]
            if pieces and pieces[0][0] < start:
                pieces[0][2] += start - pieces[0][0]
                pieces[0][0] = start
            for p in pieces:
                p[0] -= start
            if not buf:
                pieces.clear()
        if d.dead:
            buf.clear()
            d.pieces.clear()

    def _frame_at(self, d: _Direction, index: int) -> tuple[int, int, int, int]:
        """(frame, frame offset, ts, index of the piece's end) of the byte at ``index`` of the buffer."""
        pieces = d.pieces
        i = len(pieces) - 1
        while i > 0 and pieces[i][0] > index:
            i -= 1
        p = pieces[i]
        end = pieces[i + 1][0] if i + 1 < len(pieces) else len(d.buf)
        return p[1], p[2] + index - p[0], p[3], end

    def _record(self, direction: int, d: _Direction, ctype: int, version: int, start: int, rec: bytes,
                out: list) -> None:
        info = self.info
        frame, _off, ts, _end = self._frame_at(d, start)
        last_frame, _o, last_ts, _e = self._frame_at(d, start + len(rec) - 1)
        fragment = rec[5:]
        if ctype == CHANGE_CIPHER_SPEC:
            info.tally[direction].add(len(rec), last_ts, last_frame, False)
            if info.version != 0x0304:
                d.encrypted = True
                d.ccs = True
                d.cipher, d.pending = d.pending, None
                if d.cipher is None:
                    self._make_cipher12(direction, d)
                if not info.encrypted_from[direction]:
                    info.encrypted_from[direction] = last_frame
            return
        # TLS 1.3 protects only records of outer type application_data (RFC 8446 §5.2): an alert sent before the
        # sender switched keys (a client refusing the server's certificate) travels in clear.
        protected = d.encrypted and (info.version != 0x0304 or ctype == APPLICATION_DATA)
        info.tally[direction].add(len(rec), last_ts, last_frame, protected and ctype == APPLICATION_DATA)
        payload_off = 5
        if protected:
            if not info.encrypted_from[direction]:
                info.encrypted_from[direction] = last_frame
            c = d.cipher
            if c is None or d.failed:
                if ctype == ALERT and len(info.alerts) < MAX_ALERTS:   # TLS 1.2: outer type alert, sealed
                    info.alerts.append(Alert(info.side(direction), last_frame, last_ts, None, None, True))
                return
            outer = ctype
            try:
                ctype, plain, poff = c.decrypt(ctype, version, fragment, rec[:5])
            except ValueError as e:
                d.failed = True
                info.decrypt_errors.append((info.side(direction), last_frame, str(e)))
                return
            if ctype == APPLICATION_DATA:
                self.index.add(self._spans(d, start, len(rec)), c, c.seq, outer, version)
                info.index = self.index
            c.seq += 1
            payload_off = 5 + poff
            fragment = plain
        if ctype == HANDSHAKE:
            self._handshake(direction, d, fragment, last_frame, protected)
        elif ctype == ALERT:
            self._alert(direction, fragment, last_frame, last_ts, protected)
        elif ctype == APPLICATION_DATA:
            if protected and d.cipher is not None and not info.not_dicom:
                if d.plain_offset == 0 and not _dicom_start(fragment):
                    info.not_dicom = bytes(fragment[:16]) or b"?"     # e.g. HTTP: nothing goes up to the framer
                    return
                info.decrypted = True
                self._emit(direction, d, start + payload_off, fragment, out)
        if d.upd and d.cipher is not None:
            d.upd = False
            nxt = K.next_secret13(d.cipher.suite, d.cipher.secret)
            key, iv = K.traffic_keys13(d.cipher.suite, nxt)
            d.cipher = _Cipher(d.cipher.suite, key, iv, secret=nxt)

    def _spans(self, d: _Direction, start: int, length: int) -> tuple:
        """(frame, frame offset, length) of the buffer bytes [start, start + length), in order."""
        out = []
        pos, end = start, start + length
        while pos < end:
            frame, foff, _ts, pend = self._frame_at(d, pos)
            n = min(end, pend) - pos
            if n <= 0:
                break
            out.append((frame, foff, n))
            pos += n
        return tuple(out)

    def _emit(self, direction: int, d: _Direction, index: int, data: bytes, out: list) -> None:
        """Plaintext ``data`` decrypted from the buffer bytes at ``index``: one StreamData per carrying frame."""
        pos = 0
        while pos < len(data):
            frame, foff, ts, end = self._frame_at(d, index + pos)
            n = min(len(data) - pos, max(1, end - (index + pos)))
            out.append(StreamData(self.stream, direction, d.plain_offset, data[pos:pos + n], frame, foff, ts))
            d.plain_offset += n
            pos += n

    def _alert(self, direction: int, body: bytes, frame: int, ts: int, encrypted: bool) -> None:
        info = self.info
        for i in range(0, len(body) - 1, 2):
            if len(info.alerts) >= MAX_ALERTS:
                break
            a = Alert(info.side(direction), frame, ts, body[i], body[i + 1], encrypted)
            info.alerts.append(a)
            if body[i + 1] == 0 and a.sender not in info.close_notify:
                info.close_notify.append(a.sender)

    # -- handshake --------------------------------------------------------------

    def _handshake(self, direction: int, d: _Direction, body: bytes, frame: int, protected: bool) -> None:
        if not d.hs:
            d.hs_frame = frame
        if len(d.hs) + len(body) > MAX_HANDSHAKE:
            d.hs.clear()
            return
        d.hs += body
        while len(d.hs) >= 4:
            t = d.hs[0]
            n = int.from_bytes(d.hs[1:4], "big")
            if len(d.hs) < 4 + n:
                break
            msg = bytes(d.hs[4:4 + n])
            raw = bytes(d.hs[:4 + n])
            del d.hs[:4 + n]
            try:
                self._message(direction, d, t, msg, raw, d.hs_frame or frame, protected)
            except (IndexError, ValueError, struct.error):
                pass
            d.hs_frame = frame

    def _message(self, direction: int, d: _Direction, t: int, msg: bytes, raw: bytes, frame: int,
                 protected: bool) -> None:
        info = self.info
        if t == 1:
            self._client_hello(msg, frame)
        elif t == 2:
            self._server_hello(msg, frame)
        elif t == 11:
            self._certificates(direction, msg, frame)
        elif t == 13:
            info.client_cert_requested = True
        elif t == 20:
            info.finished[direction] = True
            if info.version == 0x0304:
                self._switch13(direction, d, "CLIENT_TRAFFIC_SECRET_0" if direction == info.client_dir
                               else "SERVER_TRAFFIC_SECRET_0")
        elif t == 24 and info.version == 0x0304:
            info.key_updates += 1
            d.upd = True

    def _client_hello(self, m: bytes, frame: int) -> None:
        info = self.info
        info.client_hellos += 1
        info.client_hello_frame = info.client_hello_frame or frame
        info.legacy_version = int.from_bytes(m[0:2], "big")
        self.client_random = m[2:34]
        p = 34
        p += 1 + m[p]                                    # session id
        n = int.from_bytes(m[p:p + 2], "big")
        info.offered_suites = [int.from_bytes(m[i:i + 2], "big") for i in range(p + 2, p + 2 + n, 2)]
        p += 2 + n
        p += 1 + m[p]                                    # compression methods
        versions = None
        for et, ed in _extensions(m, p):
            if et == EXT_SERVER_NAME and len(ed) > 5:
                ln = int.from_bytes(ed[3:5], "big")
                info.sni = ed[5:5 + ln].decode("ascii", "replace")
            elif et == EXT_SUPPORTED_VERSIONS and ed:
                versions = [int.from_bytes(ed[i:i + 2], "big") for i in range(1, 1 + ed[0], 2)]
        info.offered_versions = [v for v in (versions or [info.legacy_version]) if (v & 0x0F0F) != 0x0A0A]

    def _server_hello(self, m: bytes, frame: int) -> None:
        info = self.info
        version = int.from_bytes(m[0:2], "big")
        random = m[2:34]
        p = 34
        p += 1 + m[p]
        suite = int.from_bytes(m[p:p + 2], "big")
        p += 3
        etm = False
        for et, ed in _extensions(m, p):
            if et == EXT_SUPPORTED_VERSIONS and len(ed) >= 2:
                version = int.from_bytes(ed[0:2], "big")
            elif et == EXT_ENCRYPT_THEN_MAC:
                etm = True
        info.version = version
        info.suite = suite
        info.encrypt_then_mac = etm
        if random == HRR_RANDOM:
            info.hrr = True
            info.hrr_frame = frame
            return
        info.server_hello_frame = frame
        self.server_random = random
        if version == 0x0304:
            for direction in (0, 1):
                self.dirs[direction].encrypted = True
                label = ("CLIENT_HANDSHAKE_TRAFFIC_SECRET" if direction == info.client_dir
                         else "SERVER_HANDSHAKE_TRAFFIC_SECRET")
                self._switch13(direction, self.dirs[direction], label)

    def _secret(self, label: str) -> bytes | None:
        if self.keylog is None or not self.client_random:
            return None
        secret = self.keylog.get(self.client_random, label)
        if secret is None and self.keylog.files and self.keylog.refresh():
            secret = self.keylog.get(self.client_random, label)
        return secret

    def _switch13(self, direction: int, d: _Direction, label: str) -> None:
        suite = SUITES.get(self.info.suite or -1)
        secret = self._secret(label)
        if suite is None or suite.kind != "aead13" or secret is None:
            d.cipher = None
            return
        self.info.keys = True
        key, iv = K.traffic_keys13(suite, secret)
        d.cipher = _Cipher(suite, key, iv, secret=secret)

    def _make_cipher12(self, direction: int, d: _Direction) -> None:
        info = self.info
        suite = SUITES.get(info.suite or -1)
        master = self._secret("CLIENT_RANDOM")
        if suite is None or suite.kind == "aead13" or master is None or not self.server_random:
            return
        info.keys = True
        kb = K.key_block12(suite, master, self.client_random, self.server_random)
        who = "client" if direction == info.client_dir else "server"
        d.cipher = _Cipher(suite, kb[f"{who}_key"], kb[f"{who}_iv"], kb[f"{who}_mac"], etm=info.encrypt_then_mac)

    def _certificates(self, direction: int, m: bytes, frame: int) -> None:
        info = self.info
        sender = info.side(direction)
        p = 0
        if info.version == 0x0304:
            p = 1 + m[0]                                 # certificate_request_context
        total = int.from_bytes(m[p:p + 3], "big")
        p += 3
        end = min(len(m), p + total)
        if total == 0 and sender == "client":
            info.client_cert_empty = True
        n = 0
        while p + 3 <= end and n < 10 and len(info.certificates) < MAX_CERTS:
            ln = int.from_bytes(m[p:p + 3], "big")
            der = m[p + 3:p + 3 + ln]
            p += 3 + ln
            if info.version == 0x0304:
                el = int.from_bytes(m[p:p + 2], "big")
                p += 2 + el
            info.certificates.append(parse_certificate(der, sender, frame))
            n += 1


def _dicom_start(data: bytes) -> bool:
    """The first decrypted bytes of a direction can open a DICOM PDU (type 1-7, reserved byte 0; PS3.8 §9.3)."""
    if not data:
        return True
    return 1 <= data[0] <= 7 and (len(data) < 2 or data[1] == 0)


def _extensions(m: bytes, p: int):
    if p + 2 > len(m):
        return
    end = min(len(m), p + 2 + int.from_bytes(m[p:p + 2], "big"))
    p += 2
    while p + 4 <= end:
        et = int.from_bytes(m[p:p + 2], "big")
        ln = int.from_bytes(m[p + 2:p + 4], "big")
        yield et, m[p + 4:p + 4 + ln]
        p += 4 + ln


def parse_certificate(der: bytes, sender: str, frame: int) -> Certificate:
    """Subject, issuer, validity and key type of a DER certificate (``cryptography.x509``); never raises."""
    c = Certificate(sender, frame)
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

        cert = x509.load_der_x509_certificate(der)
        c.subject = cert.subject.rfc4514_string()
        c.issuer = cert.issuer.rfc4514_string()
        c.not_before = cert.not_valid_before_utc
        c.not_after = cert.not_valid_after_utc
        c.serial = format(cert.serial_number, "x")
        k = cert.public_key()
        if isinstance(k, rsa.RSAPublicKey):
            c.key = f"RSA {k.key_size}"
        elif isinstance(k, ec.EllipticCurvePublicKey):
            c.key = f"EC {k.curve.name}"
        elif isinstance(k, ed25519.Ed25519PublicKey):
            c.key = "Ed25519"
        elif isinstance(k, ed448.Ed448PublicKey):
            c.key = "Ed448"
        elif isinstance(k, dsa.DSAPublicKey):
            c.key = f"DSA {k.key_size}"
        else:
            c.key = type(k).__name__
    except Exception as e:  # noqa: BLE001 - untrusted bytes: any parse failure is shown, never raised
        c.error = f"unreadable certificate ({type(e).__name__})"
    return c
