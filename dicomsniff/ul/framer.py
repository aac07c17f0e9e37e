"""Frames one direction of a TCP stream into Upper Layer PDUs (PS3.8 §9.3.1).

Every PDU starts with a 6-byte header: type, a reserved byte and a 32-bit
length. The framer follows those lengths across any segmentation, streams
P-DATA-TF values out as :class:`PdvChunk` events (never buffering a whole
P-DATA PDU), buffers the other PDU types up to a bound and dissects them, and
after a TCP gap or an implausible header scans forward to the next plausible
PDU header and says so.
"""

from __future__ import annotations

import struct

from ..field import ERROR, NOTE, WARN, Finding
from ..notice import Notice
from ..tcp.events import StreamData, StreamGap
from .detect import plausible_pdu_header
from .dissect import dissect_pdu
from .events import PduEvent, PdvChunk, SpanMap
from .pdus import P_DATA_TF, Pdv, pdu_name

HEADER, BODY, PDATA, RESYNC = range(4)

# Non-P-DATA PDUs (associate, release, abort) are buffered whole up to this
# size; real ones are a few KiB (an RQ with 128 contexts is ~16 KiB).
MAX_BODY = 1 << 20
# Bytes of look-ahead a plausibility check needs (PDU header + first PDV header).
LOOKAHEAD = 12
_U32 = struct.Struct(">I")
_PDV = struct.Struct(">IBB")


class PduFramer:
    """Sans-I/O framer for one direction: ``feed`` stream data, ``gap``, ``finish``."""

    def __init__(self, stream: int, direction: int, *, max_body: int = MAX_BODY):
        self.stream = stream
        self.direction = direction
        self.max_body = max_body
        self.state = HEADER
        self.offset = 0                 # stream offset of the next byte
        self._reset_unit()
        self.carry: list[tuple[bytes, int, int, int]] = []   # resync look-behind pieces
        self.skipped = 0                # bytes skipped while resynchronising
        self.skip_from_frame = 0
        self.pdus = 0

    def _reset_unit(self) -> None:
        self.hdr = bytearray()
        self.spans = SpanMap()
        self.start_offset = self.offset
        self.start_ts = 0
        self.end_ts = 0
        self.pdu_type = 0
        self.length = 0
        self.remaining = 0
        self.body = bytearray()
        self.body_dropped = 0
        self.pdvs: list[Pdv] = []
        self.findings: list[Finding] = []
        self.pdvhdr = bytearray()
        self.pdv: Pdv | None = None
        self.pdv_left = 0
        self.pdv_done = 0
        self.pdv_skip = False

    # -- public -------------------------------------------------------------

    def feed(self, ev: StreamData) -> list:
        """Consume one in-order piece of the stream; returns PduEvent/PdvChunk/Notice events."""
        out: list = []
        if ev.stream_offset > self.offset:
            # The TCP layer reports holes with StreamGap first; be safe anyway.
            self.gap(StreamGap(ev.stream, ev.direction, self.offset, ev.stream_offset - self.offset,
                               0, ev.frame, ev.ts_ns), out)
        self._consume(memoryview(ev.data), ev.frame, ev.frame_offset, ev.ts_ns, out)
        return out

    def gap(self, ev: StreamGap, out: list | None = None) -> list:
        """Bytes are missing: close the unit in progress as incomplete and resynchronise."""
        out = [] if out is None else out
        msg = (f"TCP gap: {ev.length} bytes missing at stream offset {ev.stream_offset}"
               f" (between frames {ev.after_frame or '?'} and {ev.before_frame or '?'})")
        if self.state == RESYNC:
            self.skipped += ev.length + sum(len(c[0]) for c in self.carry)
            self.carry = []
        elif self.state != HEADER or self.hdr:
            self._close_incomplete(Finding(ERROR, "tcp-gap", msg), out)
            self._enter_resync(ev.before_frame)
        else:
            self._enter_resync(ev.before_frame)
        self.offset = ev.stream_offset + ev.length
        self.start_offset = self.offset
        return out

    def finish(self, ts_ns: int = 0) -> list:
        """The stream ended: a unit in progress is closed as incomplete."""
        out: list = []
        if self.state in (BODY, PDATA) or (self.state == HEADER and self.hdr):
            have = self.offset - self.start_offset
            want = 6 + self.length if self.state != HEADER else 6
            self._close_incomplete(Finding(
                ERROR, "pdu-truncated",
                f"stream ends inside {pdu_name(self.pdu_type) if self.state != HEADER else 'a PDU header'}:"
                f" {have} of {want} bytes present"), out)
        elif self.state == RESYNC and (self.skipped or self.carry):
            n = self.skipped + sum(len(c[0]) for c in self.carry)
            out.append(self._notice(WARN, "resync-failed",
                                    f"{n} bytes after frame {self.skip_from_frame} held no plausible PDU header",
                                    self.skip_from_frame))
            self.carry, self.skipped = [], 0
        return out

    # -- internals ----------------------------------------------------------

    def _notice(self, sev: str, code: str, msg: str, frame: int) -> Notice:
        return Notice("ul", Finding(sev, code, msg), frame)

    def _enter_resync(self, frame: int) -> None:
        self._reset_unit()
        self.state = RESYNC
        self.carry = []
        self.skipped = 0
        self.skip_from_frame = frame

    def _consume(self, data: memoryview, frame: int, frame_offset: int, ts: int, out: list) -> None:
        pos, n = 0, len(data)
        while pos < n:
            state = self.state
            if state == PDATA:
                pos += self._pdata(data, pos, frame, frame_offset, ts, out)
            elif state == HEADER:
                pos += self._header(data, pos, frame, frame_offset, ts, out)
            elif state == BODY:
                take = min(self.remaining, n - pos)
                room = self.max_body - len(self.body)
                if room > 0:
                    self.body += data[pos:pos + min(take, room)]
                self.body_dropped += max(0, take - max(room, 0))
                self._account(frame, frame_offset + pos, take, ts)
                self.remaining -= take
                pos += take
                if self.remaining == 0:
                    self._emit_buffered(out)
            else:
                self._resync(data[pos:], frame, frame_offset + pos, ts, out)
                return

    def _account(self, frame: int, frame_offset: int, length: int, ts: int) -> None:
        self.spans.add(frame, frame_offset, length)
        self.offset += length
        self.end_ts = ts

    def _header(self, data: memoryview, pos: int, frame: int, frame_offset: int, ts: int, out: list) -> int:
        if not self.hdr:
            self.start_offset = self.offset
            self.start_ts = ts
        take = min(6 - len(self.hdr), len(data) - pos)
        self.hdr += data[pos:pos + take]
        self._account(frame, frame_offset + pos, take, ts)
        if len(self.hdr) < 6:
            return take
        pdu_type, reserved = self.hdr[0], self.hdr[1]
        length = _U32.unpack_from(self.hdr, 2)[0]
        if pdu_type != P_DATA_TF and length > self.max_body:
            # A lying length would swallow the rest of the stream: decode the
            # header, say so, and look for the next PDU right after it.
            decoded = dissect_pdu(bytes(self.hdr))
            ev = PduEvent(self.stream, self.direction, pdu_type, length, self.start_offset, self.start_ts,
                          ts, self.spans, decoded, findings=[Finding(
                              ERROR, "pdu-length-implausible",
                              f"{pdu_name(pdu_type)} claims {length} bytes (over {self.max_body}):"
                              " not framed by that length; scanning for the next PDU")], complete=False)
            decoded.tree.findings.extend(ev.findings)
            out.append(ev)
            self.pdus += 1
            self._enter_resync(frame)
            return take
        self.pdu_type = pdu_type
        self.length = length
        self.remaining = length
        if pdu_type == P_DATA_TF:
            if reserved:
                self.findings.append(Finding(NOTE, "reserved-nonzero",
                                             f"reserved byte of PDU header is 0x{reserved:02X}"))
            self.state = PDATA
        else:
            self.state = BODY
        if length == 0:
            self._end_pdu(out)
        return take

    def _pdata(self, data: memoryview, pos: int, frame: int, frame_offset: int, ts: int, out: list) -> int:
        avail = min(self.remaining, len(data) - pos)
        pdv = self.pdv
        if pdv is None:
            if not self.pdvhdr:
                self.pdv_start = 6 + self.length - self.remaining
            take = min(6 - len(self.pdvhdr), avail)
            self.pdvhdr += data[pos:pos + take]
            self._account(frame, frame_offset + pos, take, ts)
            self.remaining -= take
            if len(self.pdvhdr) == 6:
                length, ctx, mch = _PDV.unpack_from(self.pdvhdr, 0)
                if length < 2 or length - 2 > self.remaining:
                    self._bad_pdv(length, out)
                    return take
                pdv = self.pdv = Pdv(self.pdv_start, length, ctx, mch)
                self.pdvs.append(pdv)
                self.pdv_left = length - 2
                self.pdv_done = 0
                if self.pdv_left == 0:
                    out.append(PdvChunk(self.stream, self.direction, pdv, b"", 0, frame,
                                        frame_offset + pos + take, ts, True, True))
                    self._close_pdv()
            elif self.remaining == 0:
                self.findings.append(Finding(ERROR, "pdv-truncated",
                                             f"PDU ends inside a PDV header ({len(self.pdvhdr)} of 6 bytes)"))
            if self.remaining == 0 and self.state == PDATA:
                self._end_pdu(out)
            return take
        take = min(self.pdv_left, avail)
        first = self.pdv_done == 0
        self.pdv_left -= take
        self.pdv_done += take
        done = self.pdv_left == 0
        out.append(PdvChunk(self.stream, self.direction, pdv, data[pos:pos + take], self.pdv_done - take,
                            frame, frame_offset + pos, ts, first, done))
        self._account(frame, frame_offset + pos, take, ts)
        self.remaining -= take
        if done:
            self._close_pdv()
        if self.remaining == 0:
            self._end_pdu(out)
        return take

    def _close_pdv(self) -> None:
        self.pdv = None
        self.pdvhdr = bytearray()

    def _bad_pdv(self, length: int, out: list) -> None:
        """A PDV header that cannot be right: close the PDU there and rescan from its first byte."""
        remaining = self.remaining + 6
        self.findings.append(Finding(
            ERROR, "pdv-length-invalid",
            f"PDV length {length} at PDU offset {self.pdv_start} does not fit the"
            f" {remaining} bytes left in the PDU: scanning for the next PDU"))
        bad = bytes(self.pdvhdr)
        last = self.spans.spans[-1] if self.spans.spans else None
        self._close_incomplete(None, out)
        self._enter_resync(last.frame if last else 0)
        # Rescan from the byte after the bad PDV header's first byte.
        if last is not None:
            self.carry = [(bad[1:], last.frame, last.frame_offset + last.length - 5, self.end_ts)]

    def _emit_buffered(self, out: list) -> None:
        data = bytes(self.hdr) + bytes(self.body)
        decoded = dissect_pdu(data)
        if self.body_dropped:
            self.findings.append(Finding(ERROR, "pdu-too-long",
                                         f"{self.body_dropped} bytes past {self.max_body} not decoded"))
        decoded.tree.findings.extend(self.findings)
        out.append(PduEvent(self.stream, self.direction, self.pdu_type, self.length, self.start_offset,
                            self.start_ts, self.end_ts, self.spans, decoded, findings=self.findings))
        self.pdus += 1
        self.state = HEADER
        self._reset_unit()

    def _end_pdu(self, out: list) -> None:
        if self.state == BODY:
            self._emit_buffered(out)
            return
        out.append(PduEvent(self.stream, self.direction, self.pdu_type, self.length, self.start_offset,
                            self.start_ts, self.end_ts, self.spans, None, self.pdvs, self.findings))
        self.pdus += 1
        self.state = HEADER
        self._reset_unit()

    def _close_incomplete(self, why: Finding | None, out: list) -> None:
        """Emit the unit in progress as incomplete (gap, end of stream, broken PDV)."""
        if why is not None:
            self.findings.append(why)
        if self.pdv is not None:
            out.append(PdvChunk(self.stream, self.direction, self.pdv, b"", self.pdv_done, 0, 0, self.end_ts,
                                self.pdv_done == 0, True, broken=True))
        if self.state == PDATA:
            ev = PduEvent(self.stream, self.direction, self.pdu_type, self.length, self.start_offset,
                          self.start_ts, self.end_ts, self.spans, None, self.pdvs, self.findings, complete=False)
        else:
            decoded = dissect_pdu(bytes(self.hdr) + bytes(self.body))
            decoded.tree.findings.extend(self.findings)
            ev = PduEvent(self.stream, self.direction, self.pdu_type or (self.hdr[0] if self.hdr else 0),
                          self.length, self.start_offset, self.start_ts, self.end_ts, self.spans, decoded,
                          findings=self.findings, complete=False)
        out.append(ev)
        self.pdus += 1
        self.state = HEADER
        self._reset_unit()

    def _resync(self, data: memoryview, frame: int, frame_offset: int, ts: int, out: list) -> None:
        """Scan for a plausible PDU header across pieces, keeping a short look-behind."""
        pieces = self.carry + [(data, frame, frame_offset, ts)]
        joined = b"".join(bytes(p[0]) for p in pieces)
        base = self.offset - sum(len(p[0]) for p in self.carry)
        hit = -1
        for i in range(len(joined) - 5):
            t = joined[i]
            if 1 <= t <= 7 and joined[i + 1] == 0 and plausible_pdu_header(joined, i):
                # Near the end, accept only a PDU that is wholly here (a 10-byte
                # A-RELEASE-RQ may be the last thing in the stream); otherwise
                # wait for the full look-ahead.
                if len(joined) - i >= LOOKAHEAD or i + 6 + _U32.unpack_from(joined, i + 2)[0] <= len(joined):
                    hit = i
                    break
        if hit < 0:
            keep = LOOKAHEAD - 1
            self.skipped += max(0, len(joined) - keep)
            # Keep the last few bytes (as pieces) for a header that straddles pieces.
            tail: list = []
            need = keep
            for piece in reversed(pieces):
                if need <= 0:
                    break
                b = bytes(piece[0])
                part = b[-need:]
                tail.insert(0, (part, piece[1], piece[2] + len(b) - len(part), piece[3]))
                need -= len(part)
            self.carry = tail
            self.offset += len(data)
            return
        skipped = self.skipped + hit
        resume_frame, at = frame, 0
        for piece in pieces:
            if at + len(piece[0]) > hit:
                resume_frame = piece[1]
                break
            at += len(piece[0])
        self.offset = base + hit
        self.state = HEADER
        self._reset_unit()
        self.carry, self.skipped = [], 0
        if skipped or self.offset:     # a stream that simply begins with a PDU needs no notice
            out.append(self._notice(
                WARN if skipped else NOTE, "resync",
                f"resynchronised at stream offset {self.offset} (frame {resume_frame}) after skipping {skipped} bytes",
                resume_frame))
        # Replay from the hit, piece by piece, so spans stay exact.
        at = 0
        for piece, pf, pfo, pts in pieces:
            b = memoryview(bytes(piece)) if not isinstance(piece, memoryview) else piece
            lo = max(0, hit - at)
            if lo < len(b):
                self._consume(b[lo:], pf, pfo + lo, pts, out)
            at += len(b)
