"""Frames one direction of a TCP stream into Upper Layer PDUs (PS3.8 §9.3.1).

Every PDU starts with a 6-byte header: type, a reserved byte and a 32-bit
length. The framer follows those lengths across any segmentation, streams
P-DATA-TF values out as :class:`PdvChunk` events (never buffering a whole
P-DATA PDU), and buffers the other PDU types up to a bound and dissects them.

Loss is handled by arithmetic on stream offsets, not by guessing: a TCP gap
inside a PDU whose header was seen ends that PDU exactly at header + 6 +
length (the PDU is marked incomplete with the missing byte ranges), and a gap
inside a PDV whose header was seen skips to that PDV's end. Only when a gap
swallowed a PDU header (or a peer sent an impossible header) does the framer
search for the next PDU, and then it accepts a candidate only once it has
validated it whole: known type, reserved byte 0, a length within the
receiver's maximum, PDV items that sum exactly to the PDU length with proposed
context IDs and valid control headers, and a valid header right after it (or
the end of the stream there). Unvalidated bytes never become events. A search
after a lost header first waits for the bytes to reach where the next header
would be if the lost PDU were as long as the last P-DATA-TF, then judges them
at once: the same PDU is found, with fewer searches.

Every iteration of every loop consumes input or leaves the loop.
"""

from __future__ import annotations

import os
import re
import struct
from collections import deque

from ..field import ERROR, NOTE, WARN, Finding
from ..notice import Notice
from ..tcp.events import StreamData, StreamGap
from .detect import ASSOC_MAX, plausible_pdu_header
from .dissect import dissect_pdu
from .events import PduEvent, PdvChunk, PdvLoss, SpanMap
from .pdus import ABORT, ASSOCIATE_AC, ASSOCIATE_RJ, ASSOCIATE_RQ, P_DATA_TF, RELEASE_RP, RELEASE_RQ, Pdv, pdu_name

HEADER, BODY, PDATA, RESYNC = range(4)

# Non-P-DATA PDUs (associate, release, abort) are buffered whole up to this
# size; real ones are a few KiB (an RQ with 128 contexts is ~16 KiB).
MAX_BODY = 1 << 20
# A P-DATA-TF found while searching is at most this long when the receiver's
# maximum is unknown (or unlimited); with a known maximum, that + PDATA_SLACK.
PDATA_BOUND = (1 << 20) + 6
PDATA_SLACK = 16
# A search holds at most one candidate PDU: a peer that announces a huge Maximum Length Received
# (up to 4 GiB) must not make it hold that much. Real P-DATA PDUs are far smaller; a bigger one met
# while searching is skipped, and framing resumes at the next PDU.
SEARCH_CAP = 16 << 20
# Bytes of look-ahead a plausibility check needs (PDU header + first PDV header).
LOOKAHEAD = 12
CAPTURE_LOSS = "capture-loss"
_U32 = struct.Struct(">I")
_PDV = struct.Struct(">IBB")
_CANDIDATE = re.compile(rb"[\x01-\x07]\x00", re.S)


def _find_candidate_py(buf, i: int, pbound: int = -1, abound: int = -1) -> int:
    """Where a PDU may start in ``buf`` from ``i`` (a type 1-7 and a zero reserved byte), or -1; with the bounds,
    only where its length may be a PDU's too (:meth:`PduFramer._validate`'s first test: 6 to ``pbound`` bytes for
    a P-DATA-TF, 68 to ``abound`` for an A-ASSOCIATE-RQ/AC, 4 for the others; any when it is not all there)."""
    n = len(buf)
    while True:
        m = _CANDIDATE.search(buf, i)
        if m is None:
            return -1
        i = m.start()
        if pbound < 0 or abound < 0 or i + 6 > n:
            return i
        t = buf[i]
        length = _U32.unpack_from(buf, i + 2)[0]
        if (6 <= length <= pbound) if t == P_DATA_TF else (68 <= length <= abound) if t <= 2 else length == 4:
            return i
        i += 1


_find_candidate = _find_candidate_py


def loss_message(lost: list, length: int) -> str:
    """The message of the finding on a PDU of ``length`` whose bytes ``lost`` (stream offset, length) the capture
    lacks (PduFramer._loss_finding; PduFacts writes it for the PDUs counted quietly)."""
    if len(lost) == 1:              # (most: one hole per PDU)
        o, n = lost[0]
        where = f"{o}+{n}"
    else:
        n = sum(b for _, b in lost)
        where = ", ".join(f"{o}+{b}" for o, b in lost[:4]) + (" …" if len(lost) > 4 else "")
    return (f"{CAPTURE_LOSS}: {n} of {6 + length} bytes of this PDU are missing from the capture"
            f" (stream offset+length {where})")
# The same in C (capture/_walk.c, built with the record walk; DICOMSNIFF_PURE=1 keeps the regex): searches
# after a capture loss scan pixel data, where the regex ran at ~200 MB/s (issue 18).
if not os.environ.get("DICOMSNIFF_PURE"):
    try:
        from ..capture._walk import candidate as _find_candidate   # noqa: F811
    except ImportError:         # pragma: no cover - a machine without a C compiler
        pass
_FIXED4 = frozenset((ASSOCIATE_RJ, RELEASE_RQ, RELEASE_RP, ABORT))


class PduFramer:
    """Sans-I/O framer for one direction: ``feed`` stream data, ``gap``, ``finish``.

    ``max_pdu`` (the receiver's Maximum Length Received, 0/None unknown or
    unlimited) and ``contexts`` (proposed presentation context IDs, None
    unknown) are set by the pipeline from the A-ASSOCIATE-RQ/AC; they bound
    what a search for the next PDU may accept.
    """

    # (slots: the analyzer's fast path and the compiled walk read and write these per segment; a __dict__ for
    # anything else, such as a test's instrumentation)
    __slots__ = ("body", "body_dropped", "contexts", "defer_replay", "dicom", "direction", "end_ts", "expect_at",
                 "fast", "fast_coll", "fast_feed", "findings", "hdr", "holed", "length", "lost", "max_body",
                 "max_pdu", "next_ctx", "next_msg", "offset", "other", "pdu_type", "pdus", "pdv", "pdv_done",
                 "pdv_left", "pdv_skip", "pdv_start", "pdvhdr", "pdvs", "prev_length", "rbase", "rbuf",
                 "remaining", "replay", "resync_after_loss", "rneed", "rpieces", "rpos", "skip_from_frame",
                 "skipped", "spans", "start_offset", "start_ts", "state", "stream", "__dict__")

    def __init__(self, stream: int, direction: int, *, max_body: int = MAX_BODY):
        self.stream = stream
        self.direction = direction
        self.max_body = max_body
        self.max_pdu: int | None = None
        self.contexts: frozenset[int] | None = None
        self.state = HEADER
        self.offset = 0                 # stream offset of the next byte
        self.pdu_type = 0
        self.length = 0
        self.prev_length = 0            # the length of the last P-DATA-TF framed (where a search looks first)
        self.expect_at = 0              # the stream offset a searched-for header is expected at (_expect)
        self._reset_unit()
        # search state (RESYNC): candidate bytes, kept until a candidate validates
        self.rbuf = bytearray()
        self.rpieces: list[list] = []   # [index in rbuf, frame, frame_offset, ts]
        self.rbase = 0                  # stream offset of rbuf[0]
        self.rpos = 0                   # next candidate position in rbuf
        self.rneed = 0                  # bytes rbuf must hold before the candidate at rpos can be judged
        self.skipped = 0                # bytes skipped while resynchronising
        self.skip_from_frame = 0
        self.resync_after_loss = False
        self.pdus = 0
        # The analyzer's fast path (see Analyzer.feed_record): the message whose data set the current
        # PDV carries, when no consumer reads its bytes (None otherwise), and that message's collector.
        self.fast = None
        self.fast_coll = None
        # The same message's collector while it still keeps bytes (not saturated): the fast path feeds it the
        # bytes it passes over (fast_coll is then None); the compiled walk leaves such a lane to Python.
        self.fast_feed = None
        self.other: PduFramer | None = None     # the other direction's framer
        self.dicom = None                       # the analyzer's record of the stream
        self.next_msg = None                    # the message a data set's next P-DATA-TF continues
        self.next_ctx = 0                       # and the presentation context that PDU's PDV must be on
        # A search that validated a PDU replays the bytes it held from there. With ``defer_replay`` (the
        # analyzer's fast path) ``feed`` leaves those pieces in ``replay`` for the caller to frame, in order,
        # with :meth:`frame_piece` — so that the ones nobody reads can take the fast lane.
        self.defer_replay = False
        self.replay: list | None = None

    def _reset_unit(self) -> None:
        if self.pdu_type == P_DATA_TF:
            self.prev_length = self.length
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
        self.lost: list[tuple[int, int]] = []
        self.pdvhdr = bytearray()
        self.pdv_start = 0
        self.pdv: Pdv | None = None
        self.pdv_left = 0
        self.pdv_done = 0
        self.pdv_skip = 0               # bytes of this PDU to pass over (the rest of a cut PDV, or of the PDU)
        self.holed = False              # a buffered PDU lost bytes: the body stops at the hole

    @property
    def carry(self) -> bytes:
        """Bytes held while searching for the next PDU (bounded by max PDU + look-ahead)."""
        return bytes(self.rbuf)

    # -- public -------------------------------------------------------------

    def feed(self, ev: StreamData) -> list:
        """Consume one in-order piece of the stream; returns PduEvent/PdvChunk/PdvLoss/Notice events."""
        out: list = []
        if ev.stream_offset > self.offset:
            # The TCP layer reports holes with StreamGap first; be safe anyway.
            self.gap(StreamGap(ev.stream, ev.direction, self.offset, ev.stream_offset - self.offset,
                               0, ev.frame, ev.ts_ns), out)
        data = ev.data
        if ev.stream_offset < self.offset:      # overlap with what was already framed: only new bytes
            cut = self.offset - ev.stream_offset
            if cut >= len(data):
                return out
            data = memoryview(data)[cut:]
            replay = self._consume(memoryview(data), ev.frame, ev.frame_offset + cut, ev.ts_ns, out)
        else:
            replay = self._consume(memoryview(data), ev.frame, ev.frame_offset, ev.ts_ns, out)
        if replay:
            if self.defer_replay:
                self.replay = replay
            else:
                self._run(deque(replay), out)
        return out

    def hold_candidate(self, data, frame: int, frame_offset: int, ts: int) -> bool:
        """Searching, with a candidate PDU (or the place :meth:`_expect` waits for) that needs more bytes than
        ``data`` completes: hold them as :meth:`feed` would (no event, nothing to judge yet) and say True;
        False (nothing changed) otherwise."""
        rbuf = self.rbuf
        if self.state != RESYNC or len(rbuf) + len(data) >= self.rneed:
            return False
        self.rpieces.append([len(rbuf), frame, frame_offset, ts])
        rbuf += data
        self.offset += len(data)
        return True

    def search_held(self) -> list:
        """The search :meth:`feed` makes for a piece that completes the bytes a candidate needs, when that piece was
        held already as :meth:`hold_candidate` holds one (the compiled walk's): its events, and the replay of a
        PDU it validates as :meth:`feed` leaves or frames it."""
        out: list = []
        replay = self._search(out, final=False, replay_out=True)
        if replay:
            if self.defer_replay:
                self.replay = replay
            else:
                self._run(deque(replay), out)
        return out

    def frame_piece(self, piece: tuple, out: list) -> list | None:
        """Frame one piece of a deferred ``replay`` (data, frame, frame offset, time); returns the pieces
        to frame before the rest of the replay (a search that validated a PDU inside it), or None."""
        data, frame, frame_offset, ts = piece
        return self._consume(memoryview(data), frame, frame_offset, ts, out)

    def gap(self, ev: StreamGap, out: list | None = None) -> list:
        """``ev.length`` bytes are missing: continue by arithmetic where the position is known."""
        out = [] if out is None else out
        end = ev.stream_offset + ev.length
        if end <= self.offset:
            return out
        if self.state == RESYNC:
            # Judge what was buffered as if the stream ended at the hole.
            self._search_final(out)
            if self.state == RESYNC:
                self._drop_search()
                self.skipped_gap(ev.before_frame)
                self.offset = end
                self.rbase = end
                if self.expect_at:
                    self._expect(self.expect_at)
                return out
        start = self.offset
        n = end - start
        if self.state == HEADER:
            # The next PDU header was (at least partly) in the hole.
            lost_at = self.start_offset if self.hdr else start
            self._lost_framing(start, n, ev, out)
            self._enter_resync(ev.before_frame, after_loss=True)
            self.offset = end
            self.rbase = end
            self._expect(lost_at + 6 + self.prev_length)
            return out
        pdu_end = self.start_offset + 6 + self.length
        inside = min(end, pdu_end) - start
        self.lost.append((start, inside))
        if self.state == BODY:
            self.holed = True
            self.remaining -= inside
            self.offset += inside
            self.end_ts = ev.ts_ns or self.end_ts
            if self.remaining == 0:
                self._emit_buffered(out)
        else:
            self._pdata_gap(start, inside, ev, out)
        if end > pdu_end:
            # The hole runs past this PDU: the next header is gone too.
            if self.state != HEADER:
                self._close_incomplete(None, out)
            self._lost_framing(pdu_end, end - pdu_end, ev, out)
            self._enter_resync(ev.before_frame, after_loss=True)
            self.offset = end
            self.rbase = end
            self._expect(pdu_end + 6 + self.prev_length)
        return out

    def _expect(self, at: int) -> None:
        """A PDU header fell in a hole (or a hole cut a search short); ``at`` is where the next one would be
        if the PDU it began were as long as the last P-DATA-TF (a data set's mostly are). The search waits
        until the bytes from the hole reach there (its PDV header too; the one after, if ``at`` is in the
        hole) and judges them all at once, rather than after every segment. It finds the same PDU either
        way (the first candidate that validates: one rejected with fewer bytes stays rejected with more),
        only fewer times; the other direction speaking, a hole or the end of the stream judge what is held
        as before."""
        step = 6 + self.prev_length
        if not 0 < step <= self._pdata_bound():    # (the bytes held while waiting: at most a searched PDU's)
            return
        while at < self.offset:
            at += step
        self.expect_at = at
        self.rneed = at + LOOKAHEAD - self.offset

    def skipped_gap(self, frame: int) -> None:
        """A hole while searching: nothing framed was cut; remember where the search resumes."""
        self.resync_after_loss = True
        if frame:
            self.skip_from_frame = self.skip_from_frame or frame

    def settle(self) -> list:
        """The other direction spoke: a candidate that validates whole and ends exactly where the held
        bytes end is accepted now rather than when the next header arrives (which, in a request/
        response protocol, comes after the answer). Call before routing the other direction's data."""
        out: list = []
        if self.state == RESYNC and self.rbuf:
            self._search(out, final=False, settle=True)
        return out

    def finish(self, ts_ns: int = 0) -> list:
        """The stream ended: a search judges what it holds; a unit in progress is closed as incomplete."""
        out: list = []
        if self.state == RESYNC:
            self._search_final(out)
        if self.state in (BODY, PDATA) or (self.state == HEADER and self.hdr):
            have = self.offset - self.start_offset - sum(n for _, n in self.lost)
            want = 6 + self.length if self.state != HEADER else 6
            self._close_incomplete(Finding(
                ERROR, "pdu-truncated",
                f"stream ends inside {pdu_name(self.pdu_type) if self.state != HEADER else 'a PDU header'}:"
                f" {have} of {want} bytes present"), out)
        elif self.state == RESYNC and (self.skipped or self.rbuf):
            n = self.skipped + len(self.rbuf)
            out.append(self._notice(WARN if self.resync_after_loss else NOTE, "resync-failed",
                                    f"{n} bytes after frame {self.skip_from_frame} held no valid PDU",
                                    self.skip_from_frame))
            self._drop_search()
            self.skipped = 0
        return out

    # -- internals ----------------------------------------------------------

    def _notice(self, sev: str, code: str, msg: str, frame: int) -> Notice:
        return Notice("ul", Finding(sev, code, msg), frame)

    def _enter_resync(self, frame: int, after_loss: bool = False) -> None:
        self._reset_unit()
        self.state = RESYNC
        self.rbuf = bytearray()
        self.rpieces = []
        self.rbase = self.offset
        self.rpos = 0
        self.rneed = 0
        self.skipped = 0
        self.skip_from_frame = frame
        self.resync_after_loss = after_loss
        self.expect_at = 0

    def _drop_search(self) -> None:
        self.skipped += len(self.rbuf)
        self.rbase += len(self.rbuf)
        self.rbuf = bytearray()
        self.rpieces = []
        self.rpos = 0
        self.rneed = 0

    def _lost_framing(self, offset: int, length: int, ev: StreamGap, out: list) -> None:
        """PDV fragments of any context may be in the hole: the assembler must close what is open."""
        out.append(PdvLoss(self.stream, self.direction, offset, length, ev.before_frame or ev.after_frame,
                           ev.ts_ns))

    def _run(self, queue: deque, out: list) -> None:
        """Frame the pieces in ``queue``; a search that validates a PDU puts its bytes back in front."""
        while queue:
            data, frame, frame_offset, ts = queue.popleft()
            replay = self._consume(memoryview(data), frame, frame_offset, ts, out)
            if replay:
                queue.extendleft(reversed(replay))

    def _consume(self, data: memoryview, frame: int, frame_offset: int, ts: int, out: list) -> list | None:
        pos, n = 0, len(data)
        stalls = 0
        while pos < n:
            state = self.state
            if state == PDATA:
                took = self._pdata(data, pos, frame, frame_offset, ts, out)
            elif state == HEADER:
                took = self._header(data, pos, frame, frame_offset, ts, out)
            elif state == BODY:
                took = self._body(data, pos, frame, frame_offset, ts, out)
            else:
                return self._resync(data[pos:], frame, frame_offset + pos, ts, out)
            pos += took
            if took:
                stalls = 0
            elif self.state == state:
                # No byte consumed and no state change: cannot happen; end the unit rather than spin.
                stalls += 1
                if stalls > 1:
                    self._close_incomplete(Finding(WARN, "framer-stalled", "framing made no progress"), out)
                    self._enter_resync(frame)
        return None

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

    def _body(self, data: memoryview, pos: int, frame: int, frame_offset: int, ts: int, out: list) -> int:
        take = min(self.remaining, len(data) - pos)
        if not self.holed:
            room = self.max_body - len(self.body)
            if room > 0:
                self.body += data[pos:pos + min(take, room)]
            self.body_dropped += max(0, take - max(room, 0))
        self._account(frame, frame_offset + pos, take, ts)
        self.remaining -= take
        if self.remaining <= 0:
            self._emit_buffered(out)
        return take

    def _pdata(self, data: memoryview, pos: int, frame: int, frame_offset: int, ts: int, out: list) -> int:
        avail = min(self.remaining, len(data) - pos)
        if avail <= 0:
            self._end_pdu(out)          # nothing left of this PDU: it ends here (changes state)
            return 0
        if self.pdv_skip:
            take = min(self.pdv_skip, avail)
            self.pdv_skip -= take
            self._account(frame, frame_offset + pos, take, ts)
            self.remaining -= take
            if self.remaining == 0:
                self._end_pdu(out)
            return take
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
                    self._bad_pdv(length)
                else:
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
            if self.remaining == 0:
                self._end_pdu(out)
            return take
        take = min(self.pdv_left, avail)
        self.pdv_left -= take
        self.pdv_done += take
        done = self.pdv_left == 0
        out.append(PdvChunk(self.stream, self.direction, pdv, data[pos:pos + take], self.pdv_done - take,
                            frame, frame_offset + pos, ts, self.pdv_done == take, done))
        self._account(frame, frame_offset + pos, take, ts)
        self.remaining -= take
        if done:
            self._close_pdv()
        if self.remaining == 0:
            self._end_pdu(out)
        return take

    def _pdata_gap(self, start: int, n: int, ev: StreamGap, out: list) -> None:
        """``n`` bytes of this P-DATA-TF (from ``start``) are missing; the PDU end is known."""
        pdu_end = self.start_offset + 6 + self.length
        end = start + n
        if self.pdv is not None:
            pdv_end = self.start_offset + self.pdv.offset + 4 + self.pdv.length
            self._broken_chunk(ev.after_frame, out, lost=True)
            self._close_pdv()
            # Within this PDV: the next PDV header is read normally at its end.
            self.pdv_skip = (pdv_end - end) if end <= pdv_end else (pdu_end - end)
            if end > pdv_end:
                self._lost_framing(pdv_end, end - pdv_end, ev, out)
        elif self.pdv_skip:
            target = start + self.pdv_skip
            if end <= target:
                self.pdv_skip -= n
            else:
                self.pdv_skip = pdu_end - end
                if end < pdu_end:
                    self._lost_framing(target, end - target, ev, out)
        else:
            # A PDV header (or part of it) is in the hole: the rest of this PDU's PDVs are unknown.
            self.pdvhdr = bytearray()
            self.pdv_skip = pdu_end - end
            if end < pdu_end:
                self._lost_framing(start, n, ev, out)
        self.remaining -= n
        self.offset += n
        if self.remaining <= 0:
            self.pdv_skip = 0
            self._end_pdu(out)

    def _broken_chunk(self, frame: int, out: list, lost: bool = False) -> None:
        pdv = self.pdv
        if pdv is None:
            return
        end = self.spans.end
        f, fo = end if end is not None else (frame, 0)
        out.append(PdvChunk(self.stream, self.direction, pdv, b"", self.pdv_done, f, fo, self.end_ts,
                            self.pdv_done == 0, True, broken=True, lost=lost))

    def _close_pdv(self) -> None:
        self.pdv = None
        self.pdvhdr = bytearray()

    def _bad_pdv(self, length: int) -> None:
        """A PDV header that cannot be right: the PDU length still frames; skip to the PDU's end."""
        self.findings.append(Finding(
            ERROR, "pdv-length-invalid",
            f"PDV length {length} at PDU offset {self.pdv_start} does not fit the"
            f" {self.remaining + 6} bytes left in the PDU: the rest of the PDU is skipped"))
        self.pdvhdr = bytearray()
        self.pdv_skip = self.remaining

    def _emit_buffered(self, out: list) -> None:
        data = bytes(self.hdr) + bytes(self.body)
        decoded = dissect_pdu(data)
        if self.body_dropped:
            self.findings.append(Finding(ERROR, "pdu-too-long",
                                         f"{self.body_dropped} bytes past {self.max_body} not decoded"))
        if self.lost:
            self.findings.append(self._loss_finding())
        decoded.tree.findings.extend(self.findings)
        out.append(PduEvent(self.stream, self.direction, self.pdu_type, self.length, self.start_offset,
                            self.start_ts, self.end_ts, self.spans, decoded, findings=self.findings,
                            complete=not self.lost, lost=self.lost))
        self.pdus += 1
        self.state = HEADER
        self._reset_unit()

    def _loss_finding(self) -> Finding:
        return Finding(WARN, "tcp-gap", loss_message(self.lost, self.length))

    def _end_pdu(self, out: list) -> None:
        if self.state == BODY:
            self._emit_buffered(out)
            return
        if self.lost:
            self.findings.append(self._loss_finding())
        out.append(PduEvent(self.stream, self.direction, self.pdu_type, self.length, self.start_offset,
                            self.start_ts, self.end_ts, self.spans, None, self.pdvs, self.findings,
                            complete=not self.lost, lost=self.lost))
        self.pdus += 1
        self.state = HEADER
        self._reset_unit()

    def _close_incomplete(self, why: Finding | None, out: list) -> None:
        """Emit the unit in progress as incomplete (end of stream, or a hole past its end)."""
        if why is not None:
            self.findings.append(why)
        if self.lost:
            self.findings.append(self._loss_finding())
        if self.pdv is not None:
            self._broken_chunk(0, out, lost=bool(self.lost) or why is None)
        if self.state == PDATA:
            ev = PduEvent(self.stream, self.direction, self.pdu_type, self.length, self.start_offset,
                          self.start_ts, self.end_ts, self.spans, None, self.pdvs, self.findings,
                          complete=False, lost=self.lost)
        else:
            decoded = dissect_pdu(bytes(self.hdr) + bytes(self.body))
            decoded.tree.findings.extend(self.findings)
            ev = PduEvent(self.stream, self.direction, self.pdu_type or (self.hdr[0] if self.hdr else 0),
                          self.length, self.start_offset, self.start_ts, self.end_ts, self.spans, decoded,
                          findings=self.findings, complete=False, lost=self.lost)
        out.append(ev)
        self.pdus += 1
        self.state = HEADER
        self._reset_unit()

    # -- searching for the next PDU ----------------------------------------------

    def _search_final(self, out: list) -> None:
        """The bytes held are all there will be before a hole or the end: judge them for good."""
        size = len(self.rbuf) + 1
        while self.state == RESYNC and self.rbuf and len(self.rbuf) < size:
            size = len(self.rbuf)       # each round accepts a PDU (and frames past it) or ends
            self._search(out, final=True)

    def _pdata_bound(self) -> int:
        return min(self.max_pdu + PDATA_SLACK, SEARCH_CAP) if self.max_pdu else PDATA_BOUND

    def _resync(self, data: memoryview, frame: int, frame_offset: int, ts: int, out: list) -> list | None:
        """Buffer ``data`` as candidate bytes and search; returns the pieces to replay from a validated PDU."""
        if not self.rbuf:
            self.rbase = self.offset
        self.rpieces.append([len(self.rbuf), frame, frame_offset, ts])
        self.rbuf += data
        self.offset += len(data)
        if len(self.rbuf) < self.rneed:
            return None
        return self._search(out, final=False, replay_out=True)

    def _search(self, out: list, final: bool, replay_out: bool = False, settle: bool = False) -> list | None:
        """Look for a PDU that validates; on success leave RESYNC and replay (or return) its bytes."""
        buf = self.rbuf
        i = self.rpos
        n = len(buf)
        self.rneed = 0
        find = _find_candidate
        pbound, abound = self._pdata_bound(), min(ASSOC_MAX, self.max_body)
        while True:
            i = find(buf, i, pbound, abound)
            if i < 0:
                # Keep one byte: it may be a PDU type whose reserved byte comes next.
                keep = n - 1 if n and 1 <= buf[-1] <= 7 and not final else n
                self._trim(keep)
                return None
            verdict = self._validate(buf, i, n, final, settle)
            if verdict is None:
                self._trim(i)
                return None
            if verdict:
                return self._accept(i, out, replay_out)
            i += 1

    def _validate(self, buf: bytearray, i: int, n: int, final: bool, settle: bool = False) -> bool | None:
        """True if a PDU starts at ``buf[i]``, False if not, None if more bytes are needed to tell."""
        if i + 6 > n:
            return self._wait(i + 6, final)
        t = buf[i]
        length = _U32.unpack_from(buf, i + 2)[0]
        end = i + 6 + length
        if t == P_DATA_TF:
            if not 6 <= length <= self._pdata_bound():
                return False
            p = i + 6
            ctxs = self.contexts
            while p < end:
                if p + 6 > n:
                    return self._wait(p + 6, final)
                plen, ctx, mch = _PDV.unpack_from(buf, p)
                if plen < 2 or p + 4 + plen > end or mch & ~3:
                    return False
                if (ctx not in ctxs) if ctxs else not ctx & 1:
                    return False
                p += 4 + plen
            if self.expect_at and self.rbase + i == self.expect_at and length == self.prev_length:
                return True     # where the arithmetic said, as long as the last one: the next header adds nothing
        elif t in _FIXED4:
            if length != 4:
                return False
            if i + 10 > n:
                return self._wait(i + 10, final)
            if not plausible_pdu_header(buf, i):
                return False
        else:                           # A-ASSOCIATE-RQ / -AC
            if not 68 <= length <= min(ASSOC_MAX, self.max_body):
                return False
            if i + 8 > n:
                return self._wait(i + 8, final)
            if not plausible_pdu_header(buf, i):
                return False
            if end > n:
                return self._wait(end, final)
            decoded = dissect_pdu(bytes(buf[i:end]))
            if decoded.findings and any(f.severity == ERROR for f in decoded.findings):
                return False
        # The whole PDU is here and valid: the next header must be valid too, or the stream end
        # exactly there (``final``), or the other direction have spoken with the bytes ending
        # exactly there (``settle``: a peer answers a whole request).
        if end == n and (final or settle):
            return True
        if end + 6 > n:
            return self._wait(end + 6, final)
        return self._next_header_ok(buf, end, n)

    def _wait(self, need: int, final: bool) -> bool | None:
        if final:
            return False
        self.rneed = need
        return None

    def _next_header_ok(self, buf: bytearray, j: int, n: int) -> bool:
        if not plausible_pdu_header(buf, j, max_len=self._pdata_bound()):
            return False
        if buf[j] == P_DATA_TF and self.contexts and j + 11 <= n and buf[j + 10] not in self.contexts:
            return False
        return True

    def _trim(self, k: int) -> None:
        """Forget the first ``k`` candidate bytes (they held no PDU): counted as skipped."""
        self.rneed = max(0, self.rneed - k) if self.rneed else 0
        if k <= 0:
            self.rpos = 0
            return
        del self.rbuf[:k]
        self.rbase += k
        self.skipped += k
        pieces = self.rpieces
        if self.rbuf and pieces:
            j, last = 0, len(pieces) - 1        # the first piece kept: the last that begins at or before k
            while j < last and pieces[j + 1][0] <= k:
                j += 1
            p = pieces[j]
            keep = [[0, p[1], p[2] + (k - p[0]), p[3]] if p[0] < k else [p[0] - k, p[1], p[2], p[3]]]
            keep += [[p[0] - k, p[1], p[2], p[3]] for p in pieces[j + 1:]]
            self.rpieces = keep
        else:
            self.rpieces = []
        self.rpos = 0

    def _accept(self, i: int, out: list, replay_out: bool) -> list | None:
        """A PDU validated at ``rbuf[i]``: say so once, and frame the buffered bytes from there."""
        self._trim(i)
        skipped = self.skipped
        resume_frame = self.rpieces[0][1] if self.rpieces else 0
        at = self.rbase
        if skipped or at:     # a stream that simply begins with a PDU needs no notice
            out.append(self._notice(
                WARN if skipped else NOTE, "resync",
                f"resynchronised at stream offset {at} (frame {resume_frame}) after skipping {skipped} bytes"
                + (" after a gap in the capture" if self.resync_after_loss else ""),
                resume_frame))
        buf = memoryview(self.rbuf)     # (the replay's own: self.rbuf is a new bytearray from here on)
        pieces = self.rpieces
        replay = []
        for idx, (start, frame, frame_offset, ts) in enumerate(pieces):
            stop = pieces[idx + 1][0] if idx + 1 < len(pieces) else len(buf)
            if stop > start:
                replay.append((buf[start:stop], frame, frame_offset, ts))
        self.rbuf = bytearray()
        self.rpieces = []
        self.rpos = 0
        self.rneed = 0
        self.skipped = 0
        self.expect_at = 0
        self.offset = at
        self.state = HEADER
        self._reset_unit()
        if replay_out:
            return replay
        self._run(deque(replay), out)
        return None
