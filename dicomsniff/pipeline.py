"""The analysis pipeline: frames in, association/PDU/message events out (sans-I/O).

capture frames → :func:`decode_tcp` → :class:`TcpReassembler` → DICOM
detection per stream → :class:`PduFramer` per direction →
:class:`MessageAssembler` → :class:`Association`. The same :class:`Analyzer`
serves files, live capture, the TUI worker and the tests: feed it frames,
read the events it returns, call :meth:`Analyzer.finish` at the end.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from .capture.frame import Frame
from .capture.reader import CaptureReader
from .capture.packet import _IPV4_TCP_UNPACK as _IPV4_TCP, decode_tcp
from .dimse.assembler import CAPTURE_LOSS, DataChunk, DataEnded, DataStarted, MessageAssembler, MessageDone, OrphanData
from .model.association import Association, Endpoint, Exchange
from .notice import Notice
from .tcp.events import StreamClosed, StreamData, StreamGap, StreamOpened
from .tcp.reassembly import _HALF, _M, TcpReassembler, _Piece  # _M, _HALF: 32-bit sequence arithmetic
from .ul.detect import classify_stream_start, plausible_pdu_header
from .ul.events import MAX_SPANS, PduEvent, PdvChunk, PdvLoss, SpanMap
from .ul.pdus import ASSOCIATE_AC, P_DATA_TF, AssociateRQ, Pdv
from .ul.framer import HEADER, LOOKAHEAD, PDATA, RESYNC, PduFramer
from .timefmt import iso_time
from .tls.tables import looks_like_tls_hello, looks_like_tls_records

try:        # the compiled record walk (issue 18, item 5); optional: without it the pure-Python path runs
    from .capture import _walk as _cwalk
except ImportError:         # pragma: no cover - a machine without a C compiler
    _cwalk = None

# A P-DATA-TF's length, then its first PDV's length, context and control header (PS3.8 §9.3.5).
_PDATA_HEAD = struct.Struct(">IIBB").unpack_from
# PduFramer.fast when the framer passes over bytes a gap made unreadable (Analyzer.feed_record).
_SKIP = object()
# PduFramer.fast inside a data PDV that no message takes (its command set was lost, or none announced it).
_ORPHAN = object()
# The same, after a capture loss the assembler has already reported: the PDVs of the rest of a data set
# whose message the loss ended are only counted (MessageAssembler.orphans_after_loss), one per PDV.
_AFTER_LOSS = object()
# PduFramer.fast between two P-DATA-TF of a data set nobody reads (PduFramer.next_msg is the message).
_NEXT = object()
# How many bytes of a direction are looked at before deciding a stream is not DICOM.
DETECT_LIMIT = 64 << 10
# The compiled walk's lane kinds (capture/_walk.c, as _advance reads them): (PduFramer.fast, its budget is
# pdv_skip not pdv_left, what a PDV's first bytes mean: 0 nothing, 1 they are reported (the walk leaves them to
# Python), 2 they count one PDV in MessageAssembler.orphans_after_loss). Any other value but _NEXT is a message
# whose data set nobody reads: budget pdv_left, its data spans, end time, collector too.
_WALK_KINDS = ((_SKIP, True, 0), (_ORPHAN, False, 1), (_AFTER_LOSS, False, 2))


@dataclass(slots=True)
class AssociationOpened:
    association: Association


@dataclass(slots=True)
class AssociationClosed:
    association: Association


@dataclass(slots=True)
class PduSeen:
    association: Association
    pdu: PduEvent
    # The association's quiet P-DATA-TFs (Association.quiet) that came before this PDU, taken from it when the
    # event was made: set for every PDU event of an analyzer that counts them (``quiet_pdus``: summary, diagnose,
    # export --no-trees), since more PDUs may be counted quietly before the consumer sees
    # this event (while held bytes are delivered, or after a hole the walk's look-ahead settled, where the held
    # path would have made it while delivering). None: those before it are still in Association.quiet
    # (PduFacts.observe catches up from there).
    quiet: list | None = None


@dataclass(slots=True)
class MessageSeen:
    association: Association
    message: object            # dimse.assembler.Message
    exchange: Exchange | None


@dataclass(slots=True)
class DataSeen:
    """Data-set streaming events (DataStarted/DataChunk/DataEnded) of an association."""

    association: Association
    event: object


class _Push:
    """An event list whose ``append`` hands each event to the analyzer at once (:meth:`Analyzer._take_held`)."""

    __slots__ = ("an",)

    def __init__(self, an):
        self.an = an

    def append(self, ev) -> None:
        an = self.an
        an._tcp_event(ev, an._drain_out)


class _Pending:
    """A stream not yet known to be DICOM: its first bytes, per direction, bounded."""

    __slots__ = ("events", "sizes", "opened")

    def __init__(self, opened: StreamOpened):
        self.events: list = []
        self.sizes = [0, 0]
        self.opened = opened


class _Dicom:
    __slots__ = ("assoc", "framers", "assembler", "closed", "held")

    def __init__(self, assoc: Association, framers: list[PduFramer], assembler: MessageAssembler):
        self.assoc = assoc
        self.framers = framers
        self.assembler = assembler
        self.closed = [False, False]
        self.held: list = [[], []]     # message events waiting for their PDU's event


def find_pdu_run(buf: bytes, limit: int = DETECT_LIMIT) -> int:
    """Offset of the first run of two plausible consecutive PDUs in ``buf``, or -1.

    Used for streams whose start is not in the capture: the first bytes are the
    middle of some PDU, and framing resumes at the next PDU header.
    """
    n = min(len(buf), limit)
    for first in (b"\x04\x00", b"\x05\x00", b"\x06\x00", b"\x07\x00"):
        i = buf.find(first, 0, n)
        while i >= 0:
            if plausible_pdu_header(buf, i):
                nxt = i + 6 + int.from_bytes(buf[i + 2:i + 6], "big")
                if nxt + 6 <= len(buf) and plausible_pdu_header(buf, nxt):
                    return i
            i = buf.find(first, i + 1, n)
    return -1


def _deferrable(events: list, start: int = 0) -> bool:
    """Whether the consumers of quiet P-DATA-TFs (cli.run_diagnosed; output.json_export's writers, which write
    ``quiet_out``'s records) would read the same of ``events[start:]`` later, once the records after them are taken:
    notices (unchanging), ``quiet_out``'s lines (tuples), and P-DATA-TFs' PduSeen events that carry the quiet PDUs
    before them (PduSeen.quiet) of an association past its A-ASSOCIATE-AC (PduFacts reads its negotiation; a PDU's
    record reads only the PDU), but no message (whose Exchange a later response changes) and no other PDU."""
    for i in range(start, len(events)):
        ev = events[i]
        t = type(ev)
        if t is tuple:
            continue
        if t is PduSeen:
            if ev.quiet is None or ev.pdu.pdu_type != P_DATA_TF or ev.association.ac is None:
                return False
        elif t is not Notice:
            return False
    return True


def _seal(a: Association) -> list:
    """The association's quiet P-DATA-TFs so far (Association.quiet), taken from it for the PDU event made
    now (PduSeen.quiet: they come before it, those counted after it stay with the association)."""
    q = a.quiet
    sealed = [q[0], q[1]]
    q[0] = q[1] = None
    return sealed


def _after_cut(asm: MessageAssembler, direction: int, ctx: int):
    """What the P-DATA-TFs after one a capture gap cut (on context ``ctx``) continue, for the fast lanes: the message
    the cut PDV was on (its data set nobody reads, now with a hole), ``_AFTER_LOSS`` (the counted rest of a data
    set a loss ended), or None (the general path judges them)."""
    slot = asm.slots.get((direction, ctx))
    msg = slot.msg if slot is not None else None
    if msg is None:
        return _AFTER_LOSS if asm.loss_reported(direction) else None
    if slot.cmd is not None or msg.data_spans is None or not slot.hole:
        return None
    return msg


def _advance(f: PduFramer, m, frame: int, frame_offset: int, n: int, ts: int, data=None, at: int = 0) -> bool:
    """The fast path's step for ``n`` in-order bytes (``data[at:at + n]``) of a direction whose framer says
    (``f.fast``, set by :meth:`Analyzer._relane`) that nobody reads them: advance the framer and the message's
    span map exactly as framing, assembling and collecting them would (a collector still keeping bytes,
    ``f.fast_feed``, is fed them), and say True; False (nothing changed) when the bytes reach past what the
    fast path may cross (the end of the PDV or of a gap's reach)."""
    if m is _SKIP:                  # the rest of a PDV (or PDU) a capture gap made unreadable
        if n >= f.pdv_skip:
            return False
        f.pdv_skip -= n
    else:
        if n >= f.pdv_left:
            return False            # the PDV ends here
        if not f.pdv_done:          # its first bytes: an orphan's are reported, one after a loss counted
            if m is _ORPHAN:
                return False
            if m is _AFTER_LOSS:
                f.dicom.assembler.orphans_after_loss[f.direction] += 1
        f.pdv_left -= n
        f.pdv_done += n
        if m is not _ORPHAN and m is not _AFTER_LOSS:   # a data set nobody reads: its spans kept as evidence
            sp = m.data_spans       # SpanMap.add_new, inline (an array: typed)
            if sp.count < sp.limit:
                sp.flat.extend((sp.length, frame, frame_offset, n))
                sp.count += 1
            else:
                sp.dropped += 1
            sp.length += n
            m.end_ts_ns = ts
            c = f.fast_coll
            if c is not None:
                c.length += n
            else:
                c = f.fast_feed
                if c is not None:
                    c.feed(memoryview(data)[at:at + n])
                    if c.saturated:     # from here on only counted (what _relane decides after a chunk)
                        f.fast_coll = c
                        f.fast_feed = None
    f.remaining -= n
    f.offset += n
    f.end_ts = ts
    sp = f.spans                    # SpanMap.add_new, inline: this runs once per packet
    if sp.count < sp.limit:
        sp.flat += (sp.length, frame, frame_offset, n)
        sp.count += 1
    else:
        sp.dropped += 1
    sp.length += n
    return True


class Analyzer:
    """Frames in, events out. ``ports`` forces DICOM on those TCP ports."""

    def __init__(self, *, ports: set[int] | frozenset[int] = frozenset(), keep_pdus: bool = True,
                 stream_data: bool = False, decode_data: bool = True, keep_limit: int = 1 << 20,
                 keep_exchanges: int | None = None, data_span_limit: int = MAX_SPANS, tls_keylog=None,
                 fast: bool = True, walk: bool = True, quiet_pdus: bool = False, quiet_out: list | None = None,
                 quiet_parts=None):
        self.ports = set(ports)
        self.keep_pdus = keep_pdus
        # A consumer that reads PDUs only through PduFacts and the association's counters (``run_diagnosed``)
        # lets the fast path count the middle P-DATA-TFs of a data set nobody reads instead of emitting them
        # (:meth:`_pdu_step`'s ``quiet``): no event, and the compiled walk goes on past their ends (its quiet_step).
        # Not with keep_pdus.
        self.quiet_pdus = quiet_pdus and not keep_pdus
        # A consumer that also writes a line per PDU (``export --jsonl --no-trees``) gives a list, and the text of
        # that line around its numbers and time (``quiet_parts(association, direction, context)``: three strings,
        # output.json_export.quiet_parts): each quiet P-DATA-TF is appended to the list as (association, its line),
        # in the order they end (:meth:`_quiet_line`; the compiled walk writes the same lines). They all end before
        # the next event's record: the consumer writes them first (output.json_export.write_jsonl). Where events are
        # made among such PDUs (bytes held after a hole delivered, a walk's hook), the events go into quiet_out too,
        # in their order, when the consumer reads them the same later; otherwise the lines made with them are given
        # among the events, as they are in the list (:meth:`_ordered_out`). The consumer takes both in order.
        self.quiet_out = quiet_out if self.quiet_pdus else None
        if self.quiet_out is not None and quiet_parts is None:
            raise ValueError("quiet_out needs quiet_parts: the text of its lines")
        self.quiet_parts = quiet_parts
        self.stream_data = stream_data
        self.decode_data = decode_data
        self.keep_limit = keep_limit
        self.keep_exchanges = keep_exchanges
        # Spans (frame, offset) remembered per data set: views that re-read data-set bytes
        # (hex pane, bulk-data URIs) need them all; summaries only the first frames.
        self.data_span_limit = data_span_limit
        # The fast path for bytes nobody reads (see feed_record, _advance); False: everything goes the
        # general way (the reference the equivalence tests compare the fast path with).
        self.fast = fast
        # The compiled record walk (issue 18, item 5; see connect): off with fast=False, walk=False,
        # DICOMSNIFF_PURE=1, or where the extension was not built; the pure-Python fast path then runs.
        self.walk = bool(fast and walk and _cwalk is not None and not os.environ.get("DICOMSNIFF_PURE"))
        self.walked = 0             # records the walk took
        # Whoever keeps something of every record (the viewer's frame index) gives the walk a sink: an object
        # with ``args(base)`` (bytearrays the walk appends each record's file offset, length and time to,
        # their widths, the buffer's file offset) and ``flush()`` (called after each walk).
        self.walk_sink = None
        self._walk_req: list | None = None    # the connected reader's request list (connect)
        self._walk_backoff = 0      # after walks that took nothing, this many requests are not made
        self._walk_cool = 0
        self._walk_peers: tuple | None = None     # _walk_streams(), until an association starts or ends
        # The connected walk parks the segments it holds at its end (summary, diagnose: its drain hook), given back
        # to the next walk, made pieces when Python must see them (_walk.unpark: feed_record, feed, finish).
        self._parking = False
        self.tcp = TcpReassembler()
        self._flows = self.tcp._flows      # the fast path's flow lookup (feed_record)
        self.pending: dict[int, _Pending] = {}
        self.dicom: dict[int, _Dicom] = {}
        self.associations: list[Association] = []
        self.count = 0
        self.frames = 0
        self.first_ts: int | None = None
        self.last_ts = 0
        # TLS hook (issue 15): TLS streams by stream index; the key log (None: --tls-keylog/SSLKEYLOGFILE, read
        # when the first TLS stream appears); the reader's pcapng Decryption Secrets (set by whoever reads).
        self.tls: dict = {}
        self.tls_keylog = tls_keylog
        self.tls_secrets: list | None = None
        # A pure ACK that settles held bytes (feed_record): the reassembler's events are handled as they
        # come (_push.append), the events they give go to _drain_out.
        self._drain_out: list = []
        self._push = _Push(self)
        # While such an ACK's held bytes are delivered (_sealing), the middle P-DATA-TFs they end may be counted
        # quietly too (quiet_pdus). Then every PDU event takes the association's quiet PDUs before it along
        # (PduSeen.quiet, _seal), since more may be counted before the consumer sees it: the same event whether the
        # held path or the walk's look-ahead made it. With quiet_out (export), what such a delivery, a walk's hook
        # or a walk's flush makes goes into quiet_out itself, events and lines in the order they were made
        # (_ordered_out): the consumer writes quiet_out in order before the next event it is given.
        self._sealing = False
        # The events of a pure ACK the compiled walk handed to _flush_hook, returned before the next record's.
        self._stash: list | None = None
        # Where the steps of one flush the compiled walk gave to _seal_hook put their events, which its _drain_hook
        # returns: _step_out's (list, start) of the first step.
        self._flush_out: tuple | None = None
        # what _walk.take_held reads (its quiet hook: only while held bytes are delivered with _sealing; the
        # records of what it counts, with quiet_out)
        self._lane_ctx = (None, _NEXT, _WALK_KINDS, Pdv, PDATA, HEADER, RESYNC,
                          self._quiet_hook if self.quiet_pdus else None, self.quiet_out, self.quiet_parts, iso_time)

    # -- public ---------------------------------------------------------------

    def feed(self, frame: Frame) -> list:
        self.frames += 1
        if self.first_ts is None:
            self.first_ts = frame.ts_ns
        self.last_ts = frame.ts_ns
        seg = decode_tcp(frame)
        if seg is None:
            return []
        if self._parking:       # segments the walk parked made pieces first: its stream's, every stream's for a
            d = self.tcp.flow(seg)      # new stream (which may evict another)
            if d is None:
                _cwalk.unpark(self._walk_ctx)
            elif d.st.parked:
                _cwalk.unpark(self._walk_ctx, d.st)
        evs = self.tcp.feed(seg)
        if not evs:
            return evs
        out: list = []
        for ev in evs:
            self._tcp_event(ev, out)
        return out

    def feed_record(self, rec: tuple) -> list | tuple:
        """Like :meth:`feed`, for a record of :meth:`CaptureReader.records` (no Frame made unless needed).

        The fast path (issue 18): a segment that only continues a PDV whose bytes no consumer reads
        (the data set of a message whose collector is full or absent, no data streaming asked for),
        in order, on a DICOM stream with nothing buffered, only advances counters — the
        reassembler's next sequence number, the framer's PDU/PDV remainders, the spans — exactly
        as the general path would, with no event, object or slice (:func:`_advance`); one that
        crosses P-DATA-TF boundaries of such a data set emits the finished PDUs (:meth:`_pdu_step`);
        one that continues bytes held after a hole is buffered directly. A pure ACK only records
        the acknowledgement. Anything else, and anything not IPv4 without options over Ethernet,
        Linux cooked, raw IP or BSD loopback, takes the general path (:meth:`feed`).
        ``tests/test_fastpath_equivalence.py`` checks that both give the same events and the same
        model on every shipped capture, whole, re-segmented and lossy, on all those link layers.
        With a reader :meth:`connect`-ed, the records after one this path finished are offered to the
        compiled walk first (:meth:`_walk_hook`), which takes those the pure-ACK and ``_advance``
        branches would.
        """
        if self._stash is not None:         # (events of a record the walk took: _flush_hook)
            evs, self._stash = self._stash, None
            more = self.feed_record(rec)
            return evs + list(more) if more else evs
        number, ts, lt, buf, s, e, orig, foff, iface = rec
        self.frames += 1
        if self.first_ts is None:
            self.first_ts = ts
        self.last_ts = ts
        # Where an IPv4 header may start: Ethernet, Linux cooked (SLL, SLL2), raw IP, BSD loopback.
        if lt == 1:
            ip = s + 14 if e - s >= 54 and buf[s + 12] == 8 and buf[s + 13] == 0 else -1
        elif lt == 113:
            ip = s + 16 if e - s >= 56 and buf[s + 14] == 8 and buf[s + 15] == 0 else -1
        elif lt == 276:
            ip = s + 20 if e - s >= 60 and buf[s] == 8 and buf[s + 1] == 0 else -1
        elif lt == 101 or lt == 228 or lt == 12 or lt == 14:
            ip = s if e - s >= 40 else -1
        elif lt == 0:
            ip = s + 4 if e - s >= 44 and (buf[s] or buf[s + 3]) == 2 else -1
        else:
            ip = -1
        if ip >= 0 and buf[ip] == 0x45:
            _, total, frag, proto, src, dst, sport, dport, seq, ack, doff, flags = _IPV4_TCP(buf, ip)
            if proto == 6 and (flags == 0x10 or flags == 0x18) and not frag & 0x3FFF and total >= 40 \
                    and doff >= 0x50 and ip + total <= e:
                d = self._flows.get((src, sport, dst, dport))
                if d is not None:
                    pstart = ip + 20 + ((doff >> 4) << 2)
                    n = ip + total - pstart
                    peer = d.peer
                    if d.st.parked:
                        evs = self._parked_record(d, n, seq, ack, buf, pstart, s, number, ts)
                        if evs is not None:
                            return evs
                    if n == 0:
                        if pstart <= e:
                            st = d.st
                            st.last = number
                            st.ts = ts
                            peer.ack = ack
                            if not peer.wait or ((ack - peer.base - peer.nxt + _HALF) & _M) <= _HALF:
                                return ()       # (nothing waits, or the ACK does not reach past the first hole)
                            out = self._ack_settles(d)  # bytes wait behind a hole: this ACK may settle it
                            if peer.lane is not None and self._walk_req is not None:
                                self._want_walk(d)      # the lane goes on: _walk_hook
                            return out
                    else:
                        f = d.lane
                        if f is not None and n > 0:
                            m = f.fast
                            if m is not None and d.ready and not peer.wait and not f.other.rbuf \
                                    and not (seq - d.base - d.nxt) & 0xFFFFFFFF:
                                if (n < f.pdv_skip) if m is _SKIP else (m is not _NEXT and n < f.pdv_left):
                                    if _advance(f, m, number, pstart - s, n, ts, buf, pstart):
                                        st = d.st
                                        st.last = number
                                        st.ts = ts
                                        peer.ack = ack
                                        d.nxt += n
                                        d.last_frame = number
                                        if self._walk_req is not None and \
                                                (f.fast_feed is None or f.fast_feed._inflater is None) and \
                                                ((f.pdv_skip if m is _SKIP else f.pdv_left) > n or
                                                 self.quiet_pdus and m is not _SKIP):
                                            self._want_walk(d)          # segments this size fit, or the walk
                                                                        # counts the PDU's end: _walk_hook
                                        return ()           # (an inflating collector is Python's to feed)
                                else:
                                    evs = self._pdu_step(f, m, number, ts, buf, pstart, pstart - s, n,
                                                         self.quiet_pdus)
                                    if evs is not None:
                                        st = d.st
                                        st.last = number
                                        st.ts = ts
                                        peer.ack = ack
                                        d.nxt += n
                                        d.last_frame = number
                                        if self._walk_req is not None and \
                                                (f.fast_feed is None or f.fast_feed._inflater is None) and \
                                                (f.fast is _NEXT or f.pdv_left > n or self.quiet_pdus):
                                            self._want_walk(d)          # the next PDU's start, segments this
                                                                        # size fit, or the walk counts PDU
                                                                        # ends: _walk_hook
                                        return evs
                        if not d.ready and not peer.wait and n > 0 and d.pending and \
                                self.tcp.buffer_after(d, seq, buf[pstart:pstart + n], number, pstart - s, ts):
                            st = d.st           # held after a hole the receiver has not acknowledged yet
                            st.last = number
                            st.ts = ts
                            peer.ack = ack
                            if self._walk_req is not None:
                                self._want_walk(d)          # what follows may be held too: _walk_hook
                            return ()
                        if d.ready and not peer.wait and n > 0:
                            nxt = d.nxt
                            off = ((seq - d.base - nxt + _HALF) & _M) - _HALF + nxt
                            if off == nxt:      # in order: TcpReassembler.feed's own fast branch, inline
                                st = d.st       # (no Frame, TcpSegment or flow lookup), then the framer
                                st.last = number
                                st.ts = ts
                                peer.ack = ack
                                d.nxt = nxt + n
                                d.last_frame = number
                                out = []
                                self._tcp_event(StreamData(st.index, d.index, nxt, buf[pstart:pstart + n], number,
                                                           pstart - s, ts), out)
                                if f is not None and f.rneed and self._walk_req is not None:
                                    self._want_walk(d)      # a search holds a candidate: _walk_hook holds its bytes
                                return out
                            if off > nxt:       # the first segment after a hole: held
                                out = self._hold_settles(d, off, buf[pstart:pstart + n], number, pstart - s, ts,
                                                         ack)
                                if out is not None:     # (a hole acknowledged already: a gap, and the bytes
                                    if self._walk_req is not None:      # after it delivered)
                                        self._want_walk(d)  # what follows is held too: _walk_hook
                                    return out
        self.frames -= 1
        return self.feed(Frame(number, ts, lt, buf[s:e], orig, foff, iface))

    # -- bytes held after a hole, delivered when the receiver acknowledges past it ---

    def _parked_record(self, d, n: int, seq: int, ack: int, buf, pstart: int, s: int, number: int,
                       ts: int) -> list | tuple | None:
        """A record of direction ``d`` (``n`` payload bytes at ``pstart`` in ``buf``, the frame at ``s``) whose stream
        has segments the walk parked (held after a hole, not in ``pending``: _walk.c park()): one that continues the
        bytes ``d`` holds is parked after them, as feed_record's ``buffer_after`` branch buffers it; a pure ACK that
        reaches past the hole they wait behind is flushed as the walk flushes one (_walk.flush_parked: its events,
        those of the steps Python took first); one that does not leaves them parked; anything else makes them pieces
        in ``pending`` first (_walk.unpark), and feed_record goes on with it (None, as for that ACK)."""
        peer = d.peer
        if n == 0:          # (a pure ACK needs them only when it reaches past the first hole of its peer's bytes)
            if not peer.wait or ((ack - peer.base - peer.nxt + _HALF) & _M) <= _HALF:
                return None
            done = _cwalk.flush_parked(self._walk_ctx, d, number, ts, ack)
            if done:
                out = () if done == 1 else self._drain_rest(d)
                if peer.lane is not None and self._walk_req is not None:
                    self._want_walk(d)
                return out
        elif not d.ready and not peer.wait and \
                _cwalk.park_after(self._walk_ctx, d, seq, buf, pstart, n, number, pstart - s, ts):
            self._hook_record(d, number, ts, ack)
            if self._walk_req is not None:
                self._want_walk(d)          # what follows may be held too: _walk_hook
            return ()
        _cwalk.unpark(self._walk_ctx, d.st)
        return None

    def _lane(self, f: PduFramer, m, data, n: int, frame: int, fo: int, ts: int):
        """One in-order piece (``data``, ``n`` bytes at ``fo`` in ``frame``) on the fast lane ``m`` of ``f``:
        () when :func:`_advance` took it, the events when :meth:`_pdu_step` did (it crosses P-DATA-TF
        boundaries), None when neither (nothing changed: the general path frames it). ``feed_record``
        inlines the same step for its records."""
        if (n < f.pdv_skip) if m is _SKIP else (m is not _NEXT and n < f.pdv_left):
            return () if _advance(f, m, frame, fo, n, ts, data) else None
        return self._pdu_step(f, m, frame, ts, data, 0, fo, n, self._sealing)

    def _take_held(self, x) -> None:
        """Deliver the pieces at the front of ``x.pending`` (in order, after a hole the receiver
        acknowledged) that the framer's fast lane takes, as :meth:`_tcp_event` would take them as
        StreamData (:func:`_advance`, :meth:`_pdu_step`, or held by a search: PduFramer.hold_candidate),
        without the events; stop at the first it does not (TcpReassembler delivers that one as StreamData)."""
        f = x.lane
        pend = x.pending
        deliver = self.tcp.delivered
        walk = self.walk
        while pend and f is not None:
            if f.fast is None:          # searching for a PDU: bytes a candidate needs are held (hold_candidate)
                if walk and f.rneed and _cwalk.take_held(self._lane_ctx, x, self._sealing):
                    continue
                q = pend[0]
                if f.rneed and not q.cut and q.off == f.offset and not f.other.rbuf \
                        and f.hold_candidate(q.data, q.frame, q.foff, q.ts):
                    deliver(x, q)
                    continue
                return
            if walk and _cwalk.take_held(self._lane_ctx, x, self._sealing) and not pend:
                return
            m = f.fast
            q = pend[0]
            if m is None or f.other.rbuf or q.cut or q.off != f.offset:
                return
            evs = self._lane(f, m, q.data, q.end - q.off, q.frame, q.foff, q.ts)
            if evs is None:
                return
            self._drain_out.extend(evs)
            deliver(x, q)

    # -- the compiled record walk (issue 18, item 5) ----------------------------

    def connect(self, reader) -> None:
        """Let the compiled walk take records of ``reader`` (a :class:`CaptureReader` whose
        :meth:`~CaptureReader.records` are fed to :meth:`feed_record`): after a record that advanced a fast
        lane, the reader offers the records after it to :meth:`_walk_hook` instead of yielding them."""
        if self.walk and isinstance(reader, CaptureReader):      # its own records(), not a wrapper's
            # The hooks that may leave a record's events for later (in _stash, returned before the next record's; or
            # with quiet_out, in it: :meth:`_ordered_out`): only for consumers of quiet PDUs (``quiet_pdus``: summary,
            # diagnose, export --no-trees), which read PDUs through PduFacts (the events made meanwhile carry the quiet
            # counts before them: PduSeen.quiet) and the PDUs' own fields, not where a consumer reads anything else as
            # the records go by (the viewer's frame index, the PDUs' trees).
            # With them, a hole inside a lane's data PDV that the records after it settle as a capture loss becomes a
            # gap at once (the walk's look-ahead, _take_gap), without holding the segments after it.
            q = self.quiet_pdus
            self._walk_ctx = (self._flows, _NEXT, _WALK_KINDS, self.tcp.max_buffer, _Piece, Pdv, PDATA, RESYNC,
                              self._quiet_hook if q else None, HEADER, self.quiet_out,
                              self._flush_hook if q else None, self._hold_hook if q else None,
                              self.quiet_parts, iso_time, self._take_gap if q else None,
                              (CAPTURE_LOSS, self.stream_data),
                              self._search_hook if q else None, self._drain_hook if q else None,
                              self._seal_hook if q else None)
            self._walk_req = reader._walk_req
            reader._walk_hook = self._walk_hook
            self._parking = q

    def _want_walk(self, d) -> None:
        """Ask the reader to offer the records after this one to :meth:`_walk_hook` (``d``: the direction
        whose lane advanced), unless recent walks took nothing (a sender whose next segment is bigger
        than the PDV's rest: each empty walk costs a few microseconds)."""
        if self._walk_cool:
            self._walk_cool -= 1
        else:
            req = self._walk_req
            if req:                 # not taken yet (records fed from elsewhere): one request, bounded
                req[0] = d
            else:
                req.append(d)

    def _walk_hook(self, buf, pos: int, number: int, big: bool, fmt: int, a, b: int, c: int,
                   base: int = 0) -> tuple[int, int]:
        """Walk ``buf`` from ``pos`` (``_walk.walk``): it arms its table from the directions of the stream
        whose lane just advanced and of up to three other DICOM streams with a fast lane (associations in
        parallel interleave their segments), reading the same conditions as :meth:`feed_record`, takes
        records until one it cannot, and applies what it took in one step per direction, exactly as
        feed_record record by record would. Returns the reader's position and record number."""
        req = self._walk_req
        st = req.pop().st
        dirs = st.dirs
        peers = self._walk_peers
        if peers is None:
            peers = self._walk_peers = self._walk_streams()
        if len(peers) > 1:
            n = 1
            for other in peers:
                if other is not st:
                    dirs += other.dirs
                    n += 1
                    if n >= 4:
                        break
        sink = self.walk_sink
        sargs = None
        if sink is not None:
            sargs = sink.args(base)
            if sargs is None:       # a sink the walk cannot write: nothing walked
                return pos, number
        r = _cwalk.walk(self._walk_ctx, dirs, buf, pos, number, big, fmt, a, b, c, sargs)
        if sink is not None:
            sink.flush()
        if r is None:               # the next record was no walk's: ask less often until one takes some
            self._walk_cool = self._walk_backoff = min(2 * self._walk_backoff + 1, 63)
            return pos, number
        self._walk_backoff = 0
        pos, last, self.last_ts = r
        self.walked += last - number
        self.frames += last - number
        return pos, last

    def _ack_settles(self, d) -> list | tuple:
        """A pure ACK of ``d`` (recorded in ``d.peer.ack``) that reaches past the first hole of the bytes its peer
        holds (or the first segment after a hole its peer already acknowledged, which TcpReassembler.hold buffered):
        acknowledged holes become gaps (those inside a lane's data PDV without an event: :meth:`_take_gap`) and
        what follows them is delivered (TcpReassembler.ack_while_waiting), through the framer's lanes as each event
        comes (_take_held); the events that gives (:meth:`_step_given`)."""
        out, at = self._step_out()
        x = d.peer
        if x.lane is None:
            for ev in self.tcp.ack_while_waiting(d):
                self._tcp_event(ev, out)
        else:
            self._drain_out = out
            self._sealing = self.quiet_pdus
            self.tcp.ack_while_waiting(d, self._push, self._take_held, self._take_gap)
            self._sealing = False
        return self._step_given(out, at)

    def _step_out(self) -> tuple[list, int]:
        """Where a settling step (a held delivery, a walk's hook or flush) puts the events it makes, and where they
        begin there: a list of its own, or with quiet_out (export) quiet_out itself, in order with the lines
        (:meth:`_ordered_out`)."""
        qo = self.quiet_out
        return ([], 0) if qo is None else (qo, len(qo))

    def _step_given(self, out: list, at: int) -> list | tuple:
        """What a settling step whose events went to ``out`` from ``at`` (:meth:`_step_out`) gives its caller: the
        events; with quiet_out, :meth:`_ordered_out`'s."""
        return out if self.quiet_out is None else self._ordered_out(at)

    def _ordered_out(self, at: int) -> list | tuple:
        """With quiet_out (export), where a held delivery, a walk's hook or a walk's flush put what it made: from
        ``at`` in quiet_out, its events and its quiet P-DATA-TFs' lines in the order they were made. When the consumer
        reads them all the same later (:func:`_deferrable`) they stay there, written before the next event it is given
        (): the walk may go on. Otherwise all of quiet_out (the lines before them too, in order) is the events to give
        the consumer now, before the next record: quiet_out emptied."""
        qo = self.quiet_out
        if _deferrable(qo, at):
            return ()
        out = qo[:]
        qo.clear()
        return out

    def _take_gap(self, x, to: int, before_frame: int, ts: int) -> bool:
        """TcpReassembler's ``take_gap`` for direction ``x`` (a fast lane's, which is never a TLS stream's), and the
        compiled walk's for a hole the records after it settle (its look-ahead, before it would hold the segment
        after it): an acknowledged hole (``x.nxt`` to ``to``, before frame ``before_frame`` at ``ts``) that ends
        inside the data PDV the lane is in (or before the end of what a ``_SKIP`` lane skips) is handled as
        :meth:`_tcp_event` handles its StreamGap (:meth:`_gap_in_pdv`, and Association.note_gap: they change
        separate things), without the event, and where PDUs are counted quietly one that ends the P-DATA-TF it cut too
        (:meth:`_gap_ends_pdu`, the PDU counted): True; False (nothing changed) for any other."""
        f = x.lane
        dd = f.dicom
        nxt = x.nxt
        if dd is None:
            return False
        if f.remaining != to - nxt:     # (a gap that ends the PDU is never inside its PDV)
            if not self._gap_in_pdv(dd, f, nxt, to):
                return False
            dd.assoc.note_gap(to - nxt, before_frame, f.direction, ts)
            return True
        cut = self.quiet_pdus and self._gap_ends_pdu(dd, f, nxt, to)
        if not cut:
            return False
        dd.assoc.note_gap(to - nxt, before_frame, f.direction, ts)
        self._count_cut(f, *cut, 0, 0, 0)       # (the PDU it cut ends with it, at its last bytes' time)
        return True

    def _gap_ends_pdu(self, d: _Dicom, f: PduFramer, start: int, end: int):
        """Where PDUs are counted quietly: a capture gap (stream offsets ``start`` to ``end``) that ends exactly at
        the end of the P-DATA-TF a fast lane is in (the caller checked: ``f.remaining`` bytes), its one
        data PDV (or what a ``_SKIP`` lane skips) ending there too, when that PDU may then be counted
        (:meth:`_cut_countable`): :meth:`_gap_in_pdv` takes it (``to_end``) and the PDU ends with it, as
        PduFramer.gap ends it (:meth:`_count_cut`, once the caller noted the gap): (the message its data set's next
        PDUs continue, their context, the PDU's end time); None (nothing changed) for any other gap."""
        m = f.fast
        pdv = f.pdv
        if f.findings or len(f.pdvs) != 1:
            return None
        ts = f.end_ts
        if m is _SKIP or m is _AFTER_LOSS:      # (the assembler's state after the gap is what it is now)
            cut = self._cut_countable(f, ts, True)
        elif m is None or m is _NEXT or m is _ORPHAN or pdv is None:
            return None
        else:                                   # (the message goes on after its hole: _after_cut's answer then)
            cut = (m, pdv.context_id) if m.data_spans is not None and not self.stream_data and \
                self._quiet_cut_ok(d.assoc, f, pdv.context_id, (), ts, True) else None
        if cut is None or not self._gap_in_pdv(d, f, start, end, True):
            return None
        return cut[0], cut[1], ts

    def _flush_hook(self, d, number: int, ts: int, ack: int) -> bool:
        """The compiled walk's call for a pure ACK (frame ``number`` at ``ts``) of direction ``d`` that acknowledges
        bytes past the first hole of those its peer holds, after it applied what it took before: what feed_record
        does for it (the stream's clock and the ACK recorded, acknowledged holes become gaps, what follows them is
        delivered, through the framer's lanes). Whether the walk goes on (:meth:`_hook_done`: the events it made
        wait in ``_stash`` for the next record's, or :meth:`finish`'s)."""
        self._hook_record(d, number, ts, ack)
        return self._hook_done(self._ack_settles(d))

    def _hold_hook(self, d, mv, at: int, n: int, number: int, fo: int, ts: int, seq: int, ack: int) -> bool:
        """The compiled walk's call for the first segment after a hole (``mv[at:at + n]``, at ``fo`` in frame
        ``number``, at ``ts``; raw sequence number ``seq``, ACK ``ack``) on the ready direction ``d`` whose receiver
        has already acknowledged bytes past the hole, after it applied what it took before: feed_record's hold
        branch (TcpReassembler.hold buffers it, then :meth:`_ack_settles` declares the gap at once and delivers
        what follows it). Whether the walk goes on, as for :meth:`_flush_hook`."""
        nxt = d.nxt
        out = self._hold_settles(d, ((seq - d.base - nxt + _HALF) & _M) - _HALF + nxt, bytes(mv[at:at + n]), number,
                                 fo, ts, ack)
        if out is None:             # (the walk checked hold's conditions: cannot happen)
            raise RuntimeError("walk: a segment _hold_hook was given is not TcpReassembler.hold's")
        return self._hook_done(out)

    def _hold_settles(self, d, off: int, payload: bytes, number: int, fo: int, ts: int,
                      ack: int) -> list | tuple | None:
        """feed_record's hold branch: the first segment after a hole (``payload`` at stream offset ``off``, at
        ``fo`` in frame ``number``, at ``ts``, sent with ACK ``ack``) on the ready direction ``d``, buffered
        (TcpReassembler.hold), its record noted, and what a hole the receiver already acknowledged gives
        (:meth:`_ack_settles`): the events; None (nothing changed) when hold does not take it."""
        if not self.tcp.hold(d, off, payload, number, fo, ts):
            return None
        self._hook_record(d, number, ts, ack)
        return self._ack_settles(d.peer)

    def _drain_hook(self, d) -> bool:
        """The rest of :meth:`_flush_hook` for a pure ACK of direction ``d`` whose first step the compiled walk took
        (_walk.c flush_c: the ACK recorded, the hole up to the first piece its peer holds declared, the pieces after
        it its lane takes delivered): :meth:`_drain_rest`. Whether the walk goes on, as for :meth:`_flush_hook`."""
        return self._hook_done(self._drain_rest(d))

    def _drain_rest(self, d) -> list | tuple:
        """The rest of a flush the compiled walk began for a pure ACK of direction ``d``: the pieces left delivered,
        then whatever further hole the ACK reaches past, as TcpReassembler._ack_flush goes on, and both directions'
        flags refreshed; the events of the flush's steps :meth:`_seal_hook` took come first. Its events."""
        x = d.peer
        out, at = self._flush_out if self._flush_out is not None else self._step_out()
        self._flush_out = None
        self._drain_out = out
        self._sealing = self.quiet_pdus
        tcp = self.tcp
        tcp._drain(x, self._push, self._take_held)
        tcp._ack_flush(x, self._push, self._take_held, self._take_gap)
        self._sealing = False
        d.refresh()
        x.refresh()
        return self._step_given(out, at)

    def _seal_hook(self, x, to: int, frame: int, ts: int) -> None:
        """One step of a flush of held segments the compiled walk does (its ACK recorded, x waiting as the held path's
        x waits), that only Python takes: with ``to`` >= 0 the hole from ``x.nxt`` to ``to`` declared (before frame
        ``frame`` at ``ts``: a PDU header lost in it, say), -1 the one piece at the front of ``x.pending`` delivered
        (the next message's command, say), both as TcpReassembler._ack_flush and _drain do them under the held path's
        sealing; -2 the search of a candidate PDU whose bytes the segment the walk just delivered completes (held as
        PduFramer.hold_candidate holds them), as :meth:`_search_held` makes it and PduFramer.feed would for that
        segment. Their events wait where the flush's first step began (``_flush_out``: :meth:`_step_out`; with
        quiet_out, in order with the lines the walk writes) for the flush's :meth:`_drain_hook`, which ends it."""
        if self._flush_out is None:
            self._flush_out = self._step_out()
        out = self._drain_out = self._flush_out[0]
        self._sealing = self.quiet_pdus
        if to >= 0:
            self.tcp._gap(x, to, frame, ts, self._push, self._take_gap)
        elif to == -1:
            self.tcp._drain(x, self._push, self._take_held)
        else:
            self._search_held(x, out)
        self._sealing = False

    def _search_hook(self, x) -> bool:
        """The compiled walk's call for a segment of direction ``x`` that completes the bytes the candidate of its
        framer's search needs, after it applied what it took (the segment held as PduFramer.hold_candidate holds
        one, its record noted): what :meth:`_tcp_event` does for it then (PduFramer.feed's search, its events
        routed, a validated PDU's bytes replayed). Whether the walk goes on, as for :meth:`_flush_hook`."""
        out, at = self._step_out()
        self._search_held(x, out)
        return self._hook_done(self._step_given(out, at))

    def _search_held(self, x, out: list) -> None:
        """The search of the candidate whose bytes direction ``x``'s framer holds (PduFramer.search_held), its events
        routed into ``out`` and a validated PDU's bytes replayed, as :meth:`_tcp_event` does for a segment that
        completes them."""
        f = x.lane
        d = f.dicom
        self._route(d, f.direction, f.search_held(), out)
        if f.replay is not None:
            self._replay(d, f, out)

    @staticmethod
    def _hook_record(d, number: int, ts: int, ack: int) -> None:
        """A record (frame ``number`` at ``ts``, sent with ACK ``ack``) of direction ``d`` a hook or a fast branch
        took: the stream's clock and the ACK, as feed_record records them."""
        st = d.st
        st.last = number
        st.ts = ts
        d.peer.ack = ack

    def _hook_done(self, out: list | tuple) -> bool:
        """A hook's answer to the walk: whether it may go on. Events its record made wait in ``_stash`` (after those
        already there), returned before the next record's; the walk goes on past them only when the consumer reads
        nothing of them that the records after may change (:func:`_deferrable`), else it ends after this record.
        (With quiet_out, those it may go on past wait in quiet_out: :meth:`_ordered_out` gives the others.)"""
        if not out:
            return True
        if self._stash is None:
            self._stash = out
        else:
            self._stash += out
        return self.quiet_out is None and _deferrable(out)

    def _walk_streams(self) -> tuple:
        """The TCP streams of the first 16 live DICOM associations not over TLS (the walk's table takes the
        requesting stream and up to three of these: associations in parallel interleave their segments).
        Kept in ``_walk_peers`` until an association starts or ends."""
        live = self.tcp._streams
        out = []
        for stream in self.dicom:
            st = live.get(stream)
            if st is not None and stream not in self.tls:
                out.append(st)
                if len(out) >= 16:
                    break
        return tuple(out)

    def _pdu_step(self, f: PduFramer, m, number: int, ts: int, buf, pstart: int, fo: int, n: int,
                  quiet: int = 0) -> list | None:
        """The fast path across P-DATA-TF boundaries of a streamed data set (``buf[pstart:pstart + n]``,
        at ``fo`` in frame ``number``). The segment ends the current data PDV at its PDU's end (unless
        ``m`` is ``_NEXT``: the previous segment ended one), then holds whole P-DATA-TFs of one data
        PDV each and/or the start of one whose PDV goes on past the segment — same context, the
        message going on (no last fragment ends here), or (``_AFTER_LOSS``) the rest of a data set a
        capture loss ended, whose PDVs are only counted. Emits each finished PDU exactly as the
        general path does; returns None (take the general path, nothing changed) for any other shape.
        With ``quiet`` (the analyzer's ``quiet_pdus``), when every PDU the segment ends may be counted
        instead (:meth:`_quiet`), they are counted in the association and none is emitted;
        ``quiet=2`` (the compiled walk's :meth:`_quiet_hook`): only then, None (nothing changed) otherwise."""
        skip = 0
        if m is _NEXT:
            m = f.next_msg
            ctx = f.next_ctx
            k = 0
        elif m is _SKIP:
            # The rest of a P-DATA-TF a capture gap cut (the framer skips it to the PDU's end), then the
            # data set's next PDUs: those of the message the cut PDV was on, or (``_AFTER_LOSS``) the
            # counted rest of one a loss ended — what _relane would decide for that PDV's context.
            k = skip = f.pdv_skip
            pdvs = f.pdvs
            if f.remaining != k or not pdvs or f.pdv is not None or n < k or self.stream_data:
                return None
            last = pdvs[-1]
            if last.control:
                return None
            ctx = last.context_id
            m = _after_cut(f.dicom.assembler, f.direction, ctx)
            if m is None:
                return None
        else:
            if m is _ORPHAN:
                return None
            k = f.pdv_left
            if f.remaining != k or f.pdv.control or f.lost or f.findings:
                return None
            ctx = f.pdv.context_id
        if n < k:
            return None
        # Check the whole segment before changing anything.
        whole = []                  # (header offset, PDU length, PDV length, control) of PDUs ending here
        tail = None                 # the same for the PDU whose PDV goes on, with its value bytes here
        pos = k
        while pos < n:
            if n - pos < 12:
                return None
            h = pstart + pos
            if buf[h] != 4 or buf[h + 1]:
                return None
            length, plen, c, mch = _PDATA_HEAD(buf, h + 2)
            if length != plen + 4 or c != ctx or mch & ~2 or plen <= 2:
                return None
            here = n - pos - 12
            if here < plen - 2:
                tail = (h, length, plen, mch, here)
                break
            if mch:                 # the last fragment: the message ends (the general path says so)
                return None
            whole.append((h, length, plen, mch))
            pos += 10 + plen
        if not k and not whole and tail is None:
            return None
        dd = f.dicom
        if dd.held[f.direction]:
            return None
        a = dd.assoc
        if quiet:               # all the PDUs it ends counted in the association, or none
            q = self._quiet_cut_ok(a, f, ctx, whole, ts) if skip else self._quiet(a, f, k, ctx, whole, number, ts)
            if not q and quiet == 2:
                return None
            quiet = q
        lost = m is _AFTER_LOSS     # the rest of a data set a loss ended: its PDVs only counted
        ds = None if lost else m.data_spans
        feed = None if lost else f.fast_feed    # a collector still keeping bytes: fed the values, in order
        if feed is not None:
            view = memoryview(buf)
        orphans = dd.assembler.orphans_after_loss
        direction = f.direction
        keep = self.keep_pdus
        out: list = []
        value = k
        if skip:                    # the PDU in progress ends after the k bytes the framer skips
            value = 0
            f.fast_coll = None      # (a data set with a hole is no longer collected, only counted: _relane)
            sp = f.spans
            sp.add_new(number, fo, k)
            if quiet:               # counted with its loss finding, and the whole ones after it (_quiet_cut_ok)
                fl = sp.flat
                a.count_quiet_cut(direction, ctx, f.length, f.start_ts, ts, sp.length, fl[1] if fl else 0,
                                  sp.last_frame, f.lost)
                if self.quiet_out is not None:
                    self.quiet_out.append((a, self._cut_line(a, f, ctx, ts)))
                if whole:
                    self._quiet(a, f, 0, ctx, whole, number, ts)
            else:
                if f.lost:
                    f.findings.append(f._loss_finding())
                ev = PduEvent(f.stream, direction, 4, f.length, f.start_offset, f.start_ts, ts, sp, None,
                              f.pdvs, f.findings, complete=not f.lost, lost=f.lost)
        elif k:                     # the PDU in progress ends after k more bytes of its PDV's value
            sp = f.spans
            sp.add_new(number, fo, k)
            if lost:
                if not f.pdv_done:
                    orphans[direction] += 1
            else:
                ds.add_new(number, fo, k)
                if feed is not None:
                    feed.feed(view[pstart:pstart + k])
            if not quiet:
                ev = PduEvent(f.stream, direction, 4, f.length, f.start_offset, f.start_ts, ts, sp, None,
                              f.pdvs, f.findings)
            elif self.quiet_out is not None:
                self.quiet_out.append((a, self._quiet_line(a, direction, ",".join(map(str, sp.frames)),
                                                           sp.last_frame, ts, f.length, ctx)))
        if k:
            f.pdus += 1
            f.offset += k
            f.state = HEADER
            f._reset_unit()         # (end_ts and start_ts back to 0, as framing a PDU's end leaves them)
            if not quiet:
                if keep:
                    sp.freeze()
                a.on_pdu(ev)
                out.append(PduSeen(a, ev, _seal(a) if self.quiet_pdus else None))
        # Whole P-DATA-TFs: each is framed, emitted and forgotten at once; the framer's unit stays as
        # the end of the previous PDU left it (fresh), only its offset and count move.
        qo = self.quiet_out if quiet else None
        for h, length, plen, mch in whole:
            at = fo + h - pstart
            if not quiet:
                sp = SpanMap()
                sp.add_new(number, at, 10 + plen)
            elif qo is not None:
                qo.append((a, self._quiet_line(a, direction, str(number), number, ts, length, ctx)))
            if lost:
                orphans[direction] += 1
            else:
                ds.add_new(number, at + 12, plen - 2)
                if feed is not None:
                    feed.feed(view[h + 12:h + 10 + plen])
            f.pdus += 1
            if not quiet:
                ev = PduEvent(f.stream, direction, 4, length, f.offset, ts, ts, sp, None,
                              [Pdv(6, plen, ctx, mch)], [])
                if keep:
                    sp.freeze()
                a.on_pdu(ev)
                out.append(PduSeen(a, ev, _seal(a) if self.quiet_pdus else None))
            f.offset += 10 + plen
            value += plen - 2
        if whole:
            f.prev_length = whole[-1][1]    # (as framing them one by one would leave it: _reset_unit)
        f.start_offset = f.offset
        if tail is not None:        # a PDU begins: its header, its PDV's header, ``here`` bytes of the value
            h, length, plen, mch, here = tail
            f.start_ts = ts
            f.end_ts = ts
            f.hdr = bytearray(buf[h:h + 6])
            f.pdvhdr = bytearray(buf[h + 6:h + 12])
            f.pdu_type = 4
            f.length = length
            f.remaining = length - 6 - here
            f.pdv_start = 6
            f.pdv = pdv = Pdv(6, plen, ctx, mch)
            f.pdvs.append(pdv)
            f.pdv_left = plen - 2 - here
            f.pdv_done = here
            f.state = PDATA
            f.offset += 12 + here
            at = fo + h - pstart
            f.spans.add_new(number, at, 12 + here)
            if here:
                if lost:
                    orphans[direction] += 1
                else:
                    ds.add_new(number, at + 12, here)
                    if feed is not None:
                        feed.feed(view[h + 12:h + 12 + here])
            value += here
            f.fast = m
        else:                       # the segment ended with a PDU: the next header comes next
            f.fast = _NEXT
            f.next_msg = m
            f.next_ctx = ctx
        if value and not lost:
            m.end_ts_ns = ts
            c = f.fast_coll
            if c is not None:
                c.length += value
            elif feed is not None and feed.saturated:   # from here on only counted (as _relane decides)
                f.fast_coll = feed
                f.fast_feed = None
        return out

    def _quiet_line(self, a: Association, direction: int, frames: str, last: int, ts: int, length: int,
                    ctx: int, complete: bool = True) -> str:
        """The line of ``quiet_out`` for a quiet P-DATA-TF (``frames``: the text of its frames' list), from the
        consumer's ``quiet_parts``; the compiled walk writes the same (its quiet_line)."""
        p0, p1, p2 = self.quiet_parts(a, direction, ctx, complete)
        return f'{p0}{last},"frames":[{frames}],"time":"{iso_time(ts)}{p1}{length}{p2}'

    def _cut_line(self, a: Association, f: PduFramer, ctx: int, ts: int) -> str:
        """The line of ``quiet_out`` for a P-DATA-TF a capture gap cut, counted quietly as it ends at ``ts``
        (Association.count_quiet_cut: its one data PDV, not the last, on ``ctx``; the loss its only finding): the
        line of :meth:`_quiet_line`, not complete, with the stream offsets and lengths of what it lost, as the
        consumer writes its event's (output.json_export.pdu_json)."""
        sp = f.spans
        line = self._quiet_line(a, f.direction, ",".join(map(str, sp.frames)), sp.last_frame, ts, f.length, ctx,
                                False)
        lost = ",".join([f"[{off},{n}]" for off, n in f.lost])
        return f'{line[:-1]},"lost":[{lost}]}}'

    @staticmethod
    def _quiet(a: Association, f: PduFramer, k: int, ctx: int, whole: list, number: int, ts: int) -> bool:
        """Count the P-DATA-TFs a segment (frame ``number``, at ``ts``) ends in the association if every one may
        be (:meth:`Association.take_quiet`): the one in progress (``k`` more bytes: its PDV the only one), then the
        ``whole`` ones after it. The first's frames are those on_pdu would read of its spans with the ``k``
        bytes added."""
        if k:
            if len(f.pdvs) != 1:
                return False
            sp = f.spans
            fl = sp.flat
            if sp.count < sp.limit:
                first, last = (fl[1] if fl else number), number
            else:
                first, last = (fl[1], fl[-3]) if fl else (0, 0)
            first_len, start, rest, nbytes = f.length, f.start_ts, whole, 6 + f.length
        elif whole:
            first, last = number, number
            first_len, start, rest, nbytes = whole[0][1], ts, whole[1:], 0
        else:
            return True
        if whole:
            last = number
        longest = 0
        for w in whole:
            nbytes += 6 + w[1]
        for w in rest:
            if w[1] > longest:
                longest = w[1]
        return a.take_quiet(f.direction, ctx, first_len, start, ts, longest, (1 if k else 0) + len(whole),
                            nbytes, first, number, last)

    def _quiet_cut_ok(self, a: Association, f: PduFramer, ctx: int, whole: list, ts: int, lost: bool = False) -> bool:
        """Whether the P-DATA-TF a capture gap cut (the framer skips its rest) and the ``whole`` ones after it in
        the segment may all be counted (Association.count_quiet_cut, then :meth:`_quiet`) instead of emitted:
        its one data PDV and the loss its only finding (with ``quiet_out``, its line says what it lost:
        :meth:`_cut_line`), what :meth:`Association.quiet_cut_ok` asks of it and the receiver's limit of the
        others. (``lost``: the loss is about to be noted in it.)"""
        if not (f.lost or lost) or f.findings or len(f.pdvs) != 1:
            return False
        d = f.direction
        if not a.quiet_cut_ok(d, ctx, f.length, f.start_ts, ts):
            return False
        if whole:
            limit = a.receive_limit(d)
            if limit and max(w[1] for w in whole) > limit:
                return False
        return True

    def _quiet_hook(self, x, buf, at: int, number: int, fo: int, n: int, ts: int) -> bool:
        """The compiled walk's call for a record (``buf[at:at + n]``, at ``fo`` in frame ``number``) that crosses
        the end of its lane's PDV or begins a P-DATA-TF and goes past its PDV, after it applied what it took
        before: :meth:`_pdu_step` with ``quiet=2``. True when it ended only P-DATA-TFs it counted (the
        reassembler's offset moved past the record); False (nothing changed) when it would emit an event or
        is no shape it takes."""
        f = x.lane
        if f is None or f.fast is None:
            return False
        if f.fast is _SKIP and n == f.pdv_skip:     # (most: the end of a P-DATA-TF a capture loss cut)
            if not self._cut_end(f, number, ts, fo, n):
                return False
        elif self._pdu_step(f, f.fast, number, ts, buf, at, fo, n, 2) is None:
            return False
        x.nxt += n
        x.last_frame = number
        return True

    def _cut_end(self, f: PduFramer, number: int, ts: int, fo: int, k: int) -> bool:
        """:meth:`_pdu_step` with ``quiet=2`` for a segment (``k`` bytes at ``fo`` in frame ``number``) that ends
        exactly the P-DATA-TF a capture gap cut, the rest of which the framer skips: the same checks and the same
        changes for that one shape, without the segment's bytes (nothing follows the PDU's end in it)."""
        if f.remaining != k or f.pdv is not None:
            return False
        cut = self._cut_countable(f, ts)
        if cut is None:
            return False
        self._count_cut(f, cut[0], cut[1], ts, number, fo, k)
        return True

    def _cut_countable(self, f: PduFramer, ts: int, lost: bool = False):
        """Whether the P-DATA-TF a capture gap cut (its last PDV a data PDV, ending at ``ts``; ``lost``: the gap is
        about to be noted in it) may be counted when it ends (:meth:`_quiet_cut_ok`), and the message its data set's
        next PDUs continue (``_after_cut``): (that, its context), or None."""
        pdvs = f.pdvs
        if not pdvs or self.stream_data:
            return None
        last = pdvs[-1]
        if last.control:
            return None
        ctx = last.context_id
        dd = f.dicom
        m = _after_cut(dd.assembler, f.direction, ctx)
        if m is None or dd.held[f.direction] or not self._quiet_cut_ok(dd.assoc, f, ctx, (), ts, lost):
            return None
        return m, ctx

    def _count_cut(self, f: PduFramer, m, ctx: int, ts: int, number: int, fo: int, k: int) -> None:
        """The end of a P-DATA-TF a capture gap cut, counted (:meth:`_cut_countable` allows it), at ``ts``: its last
        ``k`` bytes (at ``fo`` in frame ``number``; none when the gap took them), Association.count_quiet_cut, and the
        framer's fresh unit, waiting for the next P-DATA-TF of message ``m`` (``_NEXT``), as _pdu_step leaves it."""
        f.fast_coll = None
        sp = f.spans
        if k:
            sp.add_new(number, fo, k)
        fl = sp.flat
        a = f.dicom.assoc
        a.count_quiet_cut(f.direction, ctx, f.length, f.start_ts, ts, sp.length, fl[1] if fl else 0, sp.last_frame,
                          f.lost)
        if self.quiet_out is not None:
            self.quiet_out.append((a, self._cut_line(a, f, ctx, ts)))
        f.pdus += 1
        f.offset += k
        f.state = HEADER
        f._reset_unit()
        f.start_offset = f.offset
        f.fast = _NEXT
        f.next_msg = m
        f.next_ctx = ctx

    def stashed(self) -> list | tuple:
        """The events of the last record the compiled walk took (a hook's: ``_stash``), which the next record's
        call returns first (read_events takes them before it gives that record, so that the consumer reads them
        before the record changes anything); for a reader that ends without one, before its own notices of that
        end, as :meth:`feed_record` of that last record would have returned them."""
        out = self._stash
        if out is None:
            return ()
        self._stash = None
        return out

    def finish(self) -> list:
        if self._parking:
            _cwalk.unpark(self._walk_ctx)
        out = list(self.stashed())
        for ev in self.tcp.finish():
            self._tcp_event(ev, out)
        for stream in list(self.pending):
            self._decide(stream, out, final=True)
        for stream, d in list(self.dicom.items()):
            self._close_stream(stream, d, "eof", self.last_ts, out)
        return out

    def forget(self, assoc: Association) -> None:
        """Drop a closed association (streaming exports keep memory bounded this way)."""
        try:
            self.associations.remove(assoc)
        except ValueError:
            pass

    # -- TCP events -----------------------------------------------------------

    def _tcp_event(self, ev, out: list, plain: bool = False) -> None:
        if self.tls and not plain:      # TLS hook (issue 15): a TLS stream's bytes become decrypted bytes
            conn = self.tls.get(getattr(ev, "stream", None))
            if conn is not None:
                for pev in conn.events(ev):
                    self._tcp_event(pev, out, True)
                return
        if type(ev) is StreamData:
            d = self.dicom.get(ev.stream)
            if d is not None:
                f = d.framers[ev.direction]
                other = f.other
                if other.rbuf:          # searching for a PDU: this direction's answer settles it
                    self._route(d, 1 - ev.direction, other.settle(), out)
                elif f.fast is not None and ev.stream_offset == f.offset:
                    # Bytes nobody reads (drained after a hole, or from any link layer): the fast path.
                    evs = self._lane(f, f.fast, ev.data, len(ev.data), ev.frame, ev.frame_offset, ev.ts_ns)
                    if evs is not None:
                        out.extend(evs)
                        return
                elif f.rneed and ev.stream_offset == f.offset and \
                        f.hold_candidate(ev.data, ev.frame, ev.frame_offset, ev.ts_ns):
                    return              # (searching: bytes a candidate PDU needs, nothing to route)
                self._route(d, ev.direction, f.feed(ev), out)
                if f.replay is not None:
                    self._replay(d, f, out)
                return
            p = self.pending.get(ev.stream)
            if p is not None:
                p.events.append(ev)
                p.sizes[ev.direction] += len(ev.data)
                self._decide(ev.stream, out)
            return
        if isinstance(ev, StreamOpened):
            self.pending[ev.stream] = _Pending(ev)
            return
        if isinstance(ev, StreamGap):
            d = self.dicom.get(ev.stream)
            if d is not None:
                d.assoc.note_gap(ev.length, ev.before_frame, ev.direction, ev.ts_ns)
                f = d.framers[ev.direction]
                if f.fast is not None and self._gap_in_pdv(d, f, ev.stream_offset, ev.stream_offset + ev.length):
                    return
                # The framer knows, by arithmetic, which units the hole cut; it tells the assembler.
                self._route(d, ev.direction, f.gap(ev), out)
                held = d.held[ev.direction]
                out.extend(held)
                held.clear()
            elif ev.stream in self.pending:
                self.pending[ev.stream].events.append(ev)
            return
        if isinstance(ev, StreamClosed):
            if ev.stream in self.pending:
                self.pending[ev.stream].events.append(ev)
                self._decide(ev.stream, out, final=self._both_closed(self.pending[ev.stream]))
                return
            d = self.dicom.get(ev.stream)
            if d is not None:
                self._route(d, ev.direction, d.framers[ev.direction].finish(ev.ts_ns), out)
                d.closed[ev.direction] = True
                d.assoc.note_close(ev.direction, ev.how, ev.frame, ev.ts_ns)
                if all(d.closed) or ev.how == "rst":
                    self._close_stream(ev.stream, d, ev.how, ev.ts_ns, out)
            return
        if isinstance(ev, Notice):
            out.append(ev)

    @staticmethod
    def _gap_in_pdv(d: _Dicom, f: PduFramer, start: int, end: int, to_end: bool = False) -> bool:
        """The fast path for a capture gap (stream offsets ``start`` to ``end``) that ends inside the data PDV
        a fast lane is in (a data set nobody reads, or the counted rest of one a loss ended): what
        :meth:`PduFramer.gap` and routing its broken chunk to the assembler would do — the PDV is cut, the
        framer skips to its end, the message has one more hole — without the chunk (:meth:`_relane` would
        then give the lane ``_SKIP``). On a ``_SKIP`` lane, a gap that ends before the bytes the framer skips do
        (the rest of a PDV or PDU a loss cut): what PduFramer.gap does for it, the framer skips less. ``to_end``: a
        gap that ends exactly there too (:meth:`_gap_ends_pdu`'s). False (nothing changed) for any other gap."""
        m = f.fast
        pdv = f.pdv
        if m is _SKIP:
            n = end - start
            if pdv is not None or start != f.offset or n > f.pdv_skip or n == f.pdv_skip and not to_end \
                    or f.state != PDATA or d.held[f.direction]:
                return False
            f.lost.append((start, n))
            f.pdv_skip -= n
            f.remaining -= n
            f.offset = end
            return True
        if m is None or m is _NEXT or m is _ORPHAN or pdv is None or pdv.control or d.held[f.direction]:
            return False
        pdv_end = f.start_offset + pdv.offset + 4 + pdv.length
        if start != f.offset or end > pdv_end or end == pdv_end and not to_end:
            return False
        if m is _AFTER_LOSS:
            if not f.pdv_done:      # (the broken chunk is the PDV's first: counted)
                d.assembler.orphans_after_loss[f.direction] += 1
        else:
            slot = d.assembler.slots.get((f.direction, pdv.context_id))
            if slot is None or slot.msg is not m or slot.cmd is not None:
                return False
            m.end_ts_ns = f.end_ts
            slot.hole += 1
            m.cut = CAPTURE_LOSS
        f.lost.append((start, end - start))
        f.pdv = None
        f.pdvhdr = bytearray()
        f.pdv_skip = pdv_end - end
        f.remaining -= end - start
        f.offset = end
        f.fast = _SKIP
        f.fast_feed = None
        return True

    def _replay(self, d: _Dicom, f: PduFramer, out: list) -> None:
        """Frame the bytes a search held from the PDU it validated (``f.replay``), piece by piece, as
        the framer's own replay would, routing each piece's events before the next: the pieces inside a
        data PDV nobody reads then take the fast lane (:func:`_advance`, :meth:`_pdu_step`)."""
        pieces = f.replay
        f.replay = None
        direction = f.direction
        x = None
        if self.walk:           # (the compiled step takes the runs of pieces _advance would: _walk.take_held)
            st = self.tcp._streams.get(f.stream)
            x = st.dirs[direction] if st is not None else None
            if x is not None and x.lane is not f:
                x = None
        i = 0
        while i < len(pieces):
            if f.fast is not None:
                if x is not None:
                    k = _cwalk.take_held(self._lane_ctx, x, self._sealing, pieces, i)
                    if k:
                        i += k
                        continue
                data, frame, fo, ts = pieces[i]
                evs = self._lane(f, f.fast, data, len(data), frame, fo, ts)
                if evs is not None:
                    out.extend(evs)
                    i += 1
                    continue
            evs = []
            more = f.frame_piece(pieces[i], evs)
            i += 1
            self._route(d, direction, evs, out)
            if more:
                pieces[i:i] = more

    @staticmethod
    def _both_closed(p: _Pending) -> bool:
        dirs = {e.direction for e in p.events if isinstance(e, StreamClosed)}
        return len(dirs) == 2 or any(isinstance(e, StreamClosed) and e.how == "rst" for e in p.events)

    # -- detection ------------------------------------------------------------

    def _prefix(self, p: _Pending, direction: int, limit: int) -> bytes:
        """The first contiguous bytes of a direction; when the capture lost its first bytes, those after the hole."""
        parts, n = [], 0
        for e in p.events:
            if type(e) is StreamData and e.direction == direction:
                parts.append(bytes(e.data[:limit - n]))
                n += len(parts[-1])
                if n >= limit:
                    break
            elif isinstance(e, StreamGap) and e.direction == direction:
                if parts:
                    break
        return b"".join(parts)

    @staticmethod
    def _runs(p: _Pending, direction: int, limit: int) -> list[bytes]:
        """The contiguous runs of bytes (between holes) of a direction, ``limit`` bytes in all."""
        runs: list[list[bytes]] = [[]]
        n = 0
        for e in p.events:
            if n >= limit:
                break
            if type(e) is StreamData and e.direction == direction:
                runs[-1].append(bytes(e.data[:limit - n]))
                n += len(runs[-1][-1])
            elif isinstance(e, StreamGap) and e.direction == direction and runs[-1]:
                runs.append([])
        return [b"".join(r) for r in runs if r]

    def _decide(self, stream: int, out: list, final: bool = False) -> None:
        p = self.pending[stream]
        key = self.tcp.stream_key(stream)
        forced = bool(self.ports) and (key.a_port in self.ports or key.b_port in self.ports)
        verdict: tuple[int, bool] | None = None     # (client direction, start in resync)
        undecided = False
        for direction in (0, 1):
            if p.sizes[direction] == 0:
                undecided = True
                continue
            head = self._prefix(p, direction, 1024)
            hello = looks_like_tls_hello(head)
            if hello:                   # TLS hook (issue 15): a ClientHello/ServerHello makes a TLS stream
                self._start_tls(stream, p, key, direction if hello == 1 else 1 - direction, out)
                return
            kind = classify_stream_start(head)
            if kind == "associate":
                verdict = (direction, False)
                break
            if kind == "accept":            # the A-ASSOCIATE-AC's sender is the server
                verdict = (1 - direction, False)
                break
            if kind == "midstream":
                verdict = (self._guess_client(key, p), False)
                break
            if kind is None and head[:1] in (b"\x14", b"\x15", b"\x17") and head[1:2] == b"\x03" \
                    and looks_like_tls_records(self._prefix(p, direction, 40 << 10)):
                # TLS hook (issue 15): TLS records whose handshake the capture missed
                self._start_tls(stream, p, key, self._guess_client(key, p), out, midstream=True)
                return
            if len(head) < 80 and not final:
                undecided = True
        if verdict is None and (forced or final or p.sizes[0] >= DETECT_LIMIT or p.sizes[1] >= DETECT_LIMIT):
            for direction in (0, 1):
                if any(find_pdu_run(buf) >= 0 for buf in self._runs(p, direction, DETECT_LIMIT)):
                    verdict = (self._guess_client(key, p), True)
                    break
            if verdict is None and forced:
                verdict = (self._guess_client(key, p), False)
        if verdict is None:
            if final or (not undecided and (p.sizes[0] >= DETECT_LIMIT or p.sizes[1] >= DETECT_LIMIT)) \
                    or p.sizes[0] + p.sizes[1] >= 2 * DETECT_LIMIT:
                del self.pending[stream]
                self.tcp.ignore(stream)
            return
        client_dir, resync = verdict
        del self.pending[stream]
        self._start(stream, p, key, client_dir, resync, out)

    def _start_tls(self, stream: int, p: _Pending, key, client_dir: int, out: list, midstream: bool = False) -> None:
        """TLS hook (issue 15): the stream's bytes go through a TlsConnection; its plaintext is framed as DICOM."""
        from .tls.keylog import default_keylog
        from .tls.record import TlsConnection
        from .tls.tables import client_hello_alpn, other_application

        if other_application(client_hello_alpn(self._prefix(p, client_dir, 16 << 10))):
            del self.pending[stream]            # HTTPS and the like (ALPN): not DICOM, left alone
            self.tcp.ignore(stream)
            return
        if self.tls_keylog is None:
            self.tls_keylog = default_keylog()
        self.tls_keylog.take_secrets(self.tls_secrets)
        conn = TlsConnection(stream, client_dir, self.tls_keylog, midstream=midstream)
        self.tls[stream] = conn
        del self.pending[stream]
        self._start(stream, p, key, client_dir, False, out, tls=conn.info)

    def _guess_client(self, key, p: _Pending) -> int:
        if p.opened.handshake_seen:
            return 0
        if self.ports:
            if key.a_port in self.ports:
                return 1
            if key.b_port in self.ports:
                return 0
        return 0 if key.a_port > key.b_port else 1

    def _start(self, stream: int, p: _Pending, key, client_dir: int, resync: bool, out: list, tls=None) -> None:
        a = Endpoint(key.a_ip, key.a_port)
        b = Endpoint(key.b_ip, key.b_port)
        client, server = (a, b) if client_dir == 0 else (b, a)
        self.count += 1
        assoc = Association(self.count, stream, client, server, client_dir,
                            handshake_seen=p.opened.handshake_seen, keep_pdus=self.keep_pdus,
                            keep_exchanges=self.keep_exchanges)
        if tls is not None:             # TLS hook (issue 15)
            assoc.tls = tls
        self.associations.append(assoc)
        framers = [PduFramer(stream, 0), PduFramer(stream, 1)]
        framers[0].other, framers[1].other = framers[1], framers[0]
        for direction, f in enumerate(framers):
            f.defer_replay = self.fast      # a search's replay framed by _replay (its pieces may take the lane)
            # Without the handshake a direction may begin inside a PDU (even when the
            # other one begins at a PDU header): frame it from the first plausible header.
            if resync or (not p.opened.handshake_seen
                          and not plausible_pdu_header(self._prefix(p, direction, LOOKAHEAD))):
                f._enter_resync(0)
        assembler = MessageAssembler(assoc.transfer_syntax_of, stream_data=self.stream_data,
                                     decode_data=self.decode_data, keep_limit=self.keep_limit,
                                     data_span_limit=self.data_span_limit)
        d = self.dicom[stream] = _Dicom(assoc, framers, assembler)
        self._walk_peers = None
        framers[0].dicom = framers[1].dicom = d
        if tls is None:     # the fast path reads TCP payload as DICOM: never for a TLS stream's ciphertext
            for direction, f in enumerate(framers):
                self.tcp.set_lane(stream, direction, f)
        out.append(AssociationOpened(assoc))
        for ev in p.events:
            self._tcp_event(ev, out)
            if stream not in self.dicom:
                break

    # -- routing upward -------------------------------------------------------

    def _route(self, d: _Dicom, direction: int, evs: list, out: list) -> None:
        assoc = d.assoc
        held = d.held[direction]
        for ev in evs:
            t = type(ev)
            if t is PdvChunk:
                for m in d.assembler.feed(ev):
                    self._message_event(d, m, held, out)
            elif t is PduEvent:
                if self.keep_pdus:
                    ev.spans.freeze()
                assoc.on_pdu(ev)
                if ev.pdu_type <= 2 and ev.complete:
                    self._negotiated(d, ev)
                out.append(PduSeen(assoc, ev, _seal(assoc) if self.quiet_pdus else None))
                if held:
                    out.extend(held)
                    held.clear()
            elif t is PdvLoss:
                for m in d.assembler.gap(direction, f"TCP gap of {ev.length} bytes before frame {ev.frame}"):
                    self._message_event(d, m, held, out)
            elif t is Notice:
                assoc.add_finding(ev.severity, ev.finding.code, ev.message, [ev.frame] if ev.frame else [])
                out.append(ev)
        self._relane(d, direction)

    def _relane(self, d: _Dicom, direction: int) -> None:
        """Open the fast path (:meth:`feed_record`) for ``direction`` when its framer is inside the value
        of a data PDV that no consumer reads, close it otherwise. Called after every change of the
        framer's or the assembler's state for that direction."""
        f = d.framers[direction]
        f.fast = None
        f.fast_feed = None
        if not self.fast:
            return
        if f.pdv_skip > 0 and f.state == PDATA:
            f.fast = _SKIP
            return
        pdv = f.pdv
        if pdv is None or f.state != PDATA or f.pdv_skip or f.pdv_left <= 0 or pdv.is_command \
                or self.stream_data:
            return
        slot = d.assembler.slots.get((direction, pdv.context_id))
        if slot is None:
            return
        msg = slot.msg
        if msg is None or slot.cmd is not None or msg.data_spans is None:
            # The assembler reads only the first bytes of such a PDV; after a loss it has reported, it counts them.
            f.fast = _AFTER_LOSS if msg is None and d.assembler.loss_reported(direction) else _ORPHAN
            return
        coll = slot.collector
        feed = None
        if slot.hole:
            coll = None                 # a data set with a hole is no longer collected, only counted
        elif coll is not None and not coll.saturated:
            coll, feed = None, coll     # still keeping bytes: the fast path feeds it (not the compiled walk)
        f.fast = msg
        f.fast_coll = coll
        f.fast_feed = feed

    @staticmethod
    def _negotiated(d: _Dicom, pdu: PduEvent) -> None:
        """Bound what the framers may accept when searching for a PDU: the receiver's max PDU, context IDs.

        Only a whole A-ASSOCIATE-RQ/AC is used (a cut one lists only some contexts); the AC answers
        every proposed context, so either gives the IDs a P-DATA-TF may carry.
        """
        body = pdu.decoded.body if pdu.decoded is not None else None
        if not isinstance(body, AssociateRQ):
            return
        client_dir = d.assoc.client_dir
        ids = frozenset(c.id for c in body.contexts if isinstance(c.id, int))
        if ids:
            for f in d.framers:
                f.contexts = ids if f.contexts is None else f.contexts | ids
        # Maximum Length Received bounds what the other side sends to the one that announced it.
        receiver = client_dir if pdu.pdu_type == ASSOCIATE_AC else 1 - client_dir
        d.framers[receiver].max_pdu = body.user_info.max_pdu_length or None

    def _message_event(self, d: _Dicom, m, held: list, out: list) -> None:
        assoc = d.assoc
        t = type(m)
        if t is MessageDone:
            msg = m.message
            msg.command_spans.freeze()
            if msg.data_spans is not None:
                msg.data_spans.freeze()
            ex = assoc.on_message(m.message)
            held.append(MessageSeen(assoc, m.message, ex))
        elif t in (DataChunk, DataStarted, DataEnded):
            out.append(DataSeen(assoc, m))
        elif t is OrphanData:
            assoc.add_finding(m.finding.severity, m.finding.code, m.finding.message, [m.frame])

    def _close_stream(self, stream: int, d: _Dicom, how: str, ts: int, out: list) -> None:
        for direction, f in enumerate(d.framers):
            self.tcp.set_lane(stream, direction, None)
        for direction in (0, 1):
            if not d.closed[direction]:
                self._route(d, direction, d.framers[direction].finish(ts), out)
                d.closed[direction] = True
                if how == "eof":
                    d.assoc.note_close(direction, "eof", 0, ts)
        held: list = []
        for m in d.assembler.finish():
            self._message_event(d, m, held, out)
        for h in d.held:
            out.extend(h)
            h.clear()
        out.extend(held)
        if self.tls and stream in self.tls:         # TLS hook (issue 15): times of an encrypted association
            self.tls.pop(stream).finish(d.assoc)
        d.assoc.close(how, ts)
        out.append(AssociationClosed(d.assoc))
        del self.dicom[stream]
        self._walk_peers = None


def analyze_frames(frames, **options) -> tuple[Analyzer, list]:
    """Convenience for tests and small captures: run frames through and collect every event."""
    an = Analyzer(**options)
    events: list = []
    for fr in frames:
        events.extend(an.feed(fr))
    events.extend(an.finish())
    return an, events

