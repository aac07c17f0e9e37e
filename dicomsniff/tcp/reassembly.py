"""Sans-I/O TCP stream reassembly: segments in, in-order stream events out.

Flows are keyed by their 4-tuple (both orientations map to one stream) and
numbered in order of first appearance, like Wireshark's ``tcp.stream``. Each
direction is delivered in sequence order as :class:`StreamData` events, every
one a slice (a memoryview, never a copy) of one segment's payload, so the
upper layer always knows which frame bytes it is looking at (RFC 9293 §3.4
for sequence-number arithmetic).

Out-of-order segments wait in a bounded per-direction buffer. A hole the
capture will never fill becomes a :class:`StreamGap` (never zero-filled) when
the peer acknowledges bytes in it (only those bytes: the rest may still come),
when the buffer bound is reached, when
the direction ends, or right away after a segment the snap length cut short.
Retransmissions are dropped; overlaps are trimmed to their new bytes, the
first copy wins, and a conflicting overlap (different bytes for the same
sequence numbers, as TCP-evasion tricks produce) is reported once per stream.
Conflicts are only detectable against bytes still buffered: delivered bytes
are not retained.

Memory is bounded: ``max_buffer_per_direction`` bytes of out-of-order data per
direction, ``max_streams`` live streams (the least recently used one is closed
and evicted with a notice), and a bounded tombstone set for ignored streams.
"""

from __future__ import annotations

from bisect import bisect_right
from operator import attrgetter

from ..capture.frame import ACK, FIN, RST, SYN, TcpSegment
from ..field import ERROR, NOTE, WARN, Finding
from ..notice import Notice
from .events import StreamClosed, StreamData, StreamGap, StreamKey, StreamOpened

_M = 0xFFFFFFFF          # 32-bit sequence space
_HALF = 1 << 31          # unwrap to the offset nearest the expected one
# A trailing loss inferred from an ACK at the end of a direction is trusted only
# up to this many bytes; a larger distance means the ACK belongs to something else.
_MAX_TRAILING_GAP = 1 << 30
_NO_KEY = StreamKey(b"", 0, b"", 0)
_OFF = attrgetter("off")


class _Piece:
    """A buffered out-of-order slice of one segment: stream range [off, end)."""

    __slots__ = ("off", "end", "data", "frame", "foff", "ts", "cut")

    def __init__(self, off: int, end: int, data: memoryview, frame: int, foff: int,
                 ts: int, cut: bool):
        self.off = off
        self.end = end
        self.data = data
        self.frame = frame
        self.foff = foff          # offset of data inside its frame
        self.ts = ts
        self.cut = cut            # the segment was cut by the snap length right after this


class _Dir:
    """Reassembly state of one direction of a stream.

    ``base`` is the raw 32-bit sequence number of stream offset 0; ``nxt`` the
    unwrapped offset of the next byte to deliver. ``ready`` (nothing buffered,
    no FIN pending, open) enables the in-order fast path; ``wait`` (something
    buffered or a FIN not yet reached) makes the peer's ACKs worth checking.
    """

    __slots__ = ("st", "index", "peer", "base", "nxt", "pending", "held", "last_frame",
                 "fin", "fin_frame", "fin_ts", "closed", "cut", "ack", "ready", "wait", "lane")

    def __init__(self, st: "_Stream", index: int):
        self.st = st
        self.index = index
        self.peer: _Dir = self
        self.base: int | None = None
        self.nxt = 0
        self.pending: list[_Piece] = []
        self.held = 0
        self.last_frame = 0
        self.fin: int | None = None
        self.fin_frame = 0
        self.fin_ts = 0
        self.closed = False
        self.cut = False          # last delivered segment was truncated: its true end is unknown
        self.ack: int | None = None   # latest raw ACK the peer sent for this direction
        self.ready = False
        self.wait = False
        self.lane = None          # set by the analyzer: this direction's Upper Layer framer (its fast path)

    def refresh(self) -> None:
        open_ = not self.closed and self.base is not None
        busy = bool(self.pending) or self.fin is not None
        self.ready = open_ and not busy
        self.wait = open_ and busy


class _Stream:
    """One TCP connection: its index, key, both directions and LRU bookkeeping."""

    __slots__ = ("index", "key", "fwd", "rev", "dirs", "last", "ts", "mark", "noted", "parked")

    def __init__(self, index: int, key: StreamKey, frame: int, ts: int):
        self.index = index
        self.key = key
        self.fwd = (key.a_ip, key.a_port, key.b_ip, key.b_port)
        self.rev = (key.b_ip, key.b_port, key.a_ip, key.a_port)
        d0, d1 = _Dir(self, 0), _Dir(self, 1)
        d0.peer, d1.peer = d1, d0
        self.dirs = (d0, d1)
        self.last = frame         # last frame seen (LRU clock)
        self.ts = ts
        self.mark = frame         # value of ``last`` when queued in the LRU order
        self.noted: set[str] = set()   # notice codes already issued for this stream
        # segments the analyzer's compiled walk held and parked (capture/_walk.c park()): buffered after a hole
        # (counted in ``held``) but not in ``pending`` until the analyzer asks for them (_walk.unpark)
        self.parked = False

    @property
    def done(self) -> bool:
        return self.dirs[0].closed and self.dirs[1].closed


class TcpReassembler:
    """Feed :class:`TcpSegment` objects in capture order; get stream events back.

    ``feed`` returns :class:`StreamOpened`, :class:`StreamData`,
    :class:`StreamGap`, :class:`StreamClosed` and :class:`Notice` objects;
    ``finish`` flushes every open direction at the end of the capture.
    Nothing raises on malformed input.
    """

    def __init__(self, max_buffer_per_direction: int = 4 << 20, max_streams: int = 100_000,
                 max_tombstones: int | None = None):
        self.max_buffer = max(0, max_buffer_per_direction)
        self.max_streams = max(1, max_streams)
        self.max_tombstones = 2 * self.max_streams if max_tombstones is None else max(0, max_tombstones)
        self._flows: dict[tuple, _Dir] = {}
        self._streams: dict[int, _Stream] = {}     # live streams, roughly least recently used first
        self._keys: dict[int, StreamKey] = {}      # index -> key, also for recently removed streams
        self._tomb: dict[tuple, None] = {}         # 4-tuples of ignored streams, oldest first
        self._next_index = 0

    # -- public ---------------------------------------------------------------

    def flow(self, seg: TcpSegment) -> _Dir | None:
        """The direction ``seg`` travels in, None for a flow not seen yet."""
        try:
            return self._flows.get((seg.src_ip, seg.sport, seg.dst_ip, seg.dport))
        except (TypeError, ValueError):      # an unhashable (writable) memoryview address
            return self._flows.get((bytes(seg.src_ip), seg.sport, bytes(seg.dst_ip), seg.dport))

    def feed(self, seg: TcpSegment) -> list:
        """Events caused by one segment (often none, for pure ACKs)."""
        try:
            d = self.flow(seg)
            if d is None:
                out: list = []
                self._first(seg, out)
                return out
            flags = seg.flags
            st = d.st
            st.last = seg.frame
            st.ts = seg.ts_ns
            if flags & ACK:
                peer = d.peer
                peer.ack = seg.ack
                if peer.wait:
                    return self._slow(d, seg)
            if flags & (FIN | SYN | RST):
                return self._slow(d, seg)
            p = seg.payload
            n = len(p)
            if not n:
                return []
            if d.ready:
                nxt = d.nxt
                if ((seg.seq - d.base - nxt + _HALF) & _M) == _HALF and not seg.truncated:
                    d.nxt = nxt + n
                    d.last_frame = seg.frame
                    return [StreamData(st.index, d.index, nxt, p, seg.frame, seg.payload_offset,
                                       seg.ts_ns)]
            return self._slow(d, seg)
        except Exception as exc:      # malformed segment object: report, never raise
            return [Notice("tcp", Finding(ERROR, "tcp-bad-segment",
                                          f"TCP segment not reassembled: {type(exc).__name__}: {exc}"),
                           _frame_of(seg))]

    def finish(self) -> list:
        """Flush every direction still open (holes become gaps) and close it as "eof"."""
        out: list = []
        for idx in sorted(self._streams):
            st = self._streams[idx]
            for d in st.dirs:
                if not d.closed:
                    self._flush(d, out)
                    if not d.closed:
                        self._close(d, "eof", st.last, st.ts, out)
        self._streams.clear()
        self._flows.clear()
        return out

    def set_lane(self, stream: int, direction: int, lane) -> None:
        """Attach the consumer of a direction's bytes (the analyzer's fast path reads it)."""
        st = self._streams.get(stream)
        if st is not None:
            st.dirs[direction].lane = lane

    def buffer_after(self, d: _Dir, seq: int, payload: bytes, frame: int, foff: int, ts: int) -> bool:
        """The analyzer's fast path (``Analyzer.feed_record``) for a segment (ACK, no other flag, not cut,
        the peer not waiting) that continues exactly the bytes buffered after a hole, or begins past them
        after a new hole: buffer it as :meth:`feed` would, and say True; False (nothing changed) for anything
        else. (While bytes wait, the receiver's ACKs have not reached past the first hole: each that did
        declared it a gap when it came.)"""
        pend = d.pending
        if not pend or d.fin is not None or d.closed:
            return False
        last = pend[-1]
        n = len(payload)
        nxt = d.nxt                 # (offsets reckoned from the next byte to deliver, as _process does)
        off = ((seq - d.base - nxt + _HALF) & _M) - _HALF + nxt
        if last.cut or off < last.end or d.held + n > self.max_buffer:
            return False
        pend.append(_Piece(off, off + n, payload, frame, foff, ts, False))
        d.held += n
        return True

    def ack_while_waiting(self, d: _Dir, out=None, take=None, take_gap=None) -> list:
        """The analyzer's fast path for a pure ACK (no other flag, the ACK already recorded in ``d.peer``)
        whose receiver direction has bytes buffered or a FIN pending (or for the segment :meth:`hold` buffered,
        ``d`` its peer): what :meth:`feed` does for it, without a TcpSegment — acknowledged holes become gaps,
        and what follows them is delivered.

        ``out`` receives the events (``out.append``); a consumer that handles each event as it is appended
        may also give ``take(x)``, called before each in-order buffered piece of direction ``x`` is delivered:
        it may deliver pieces from the front of ``x.pending`` itself (:meth:`delivered`) instead of as
        StreamData events; and ``take_gap(x, to, before_frame, ts)``, called for each acknowledged hole
        (``x.nxt`` to ``to``) before it becomes a gap: True when it handled the gap itself, as it would the
        StreamGap event, which is then not made."""
        out = [] if out is None else out
        peer = d.peer
        self._ack_flush(peer, out, take, take_gap)
        d.refresh()
        peer.refresh()
        return out

    @staticmethod
    def delivered(d: _Dir, q: _Piece) -> None:
        """``take`` (see :meth:`ack_while_waiting`) delivered ``q``, the first of ``d.pending``, in order."""
        del d.pending[0]
        d.held -= q.end - q.off
        d.nxt = q.end
        d.last_frame = q.frame
        d.cut = q.cut

    def hold(self, d: _Dir, off: int, payload: bytes, frame: int, foff: int, ts: int) -> bool:
        """The analyzer's fast path for the first segment after a hole (ACK, no other flag, not cut, the peer
        not waiting) on a direction with nothing buffered: ``payload`` starts at stream offset ``off`` past
        the next expected byte. Buffered, and True: the caller then calls :meth:`ack_while_waiting` (with ``d``'s
        peer), which does the rest of what :meth:`feed` does for it: a hole the receiver has already acknowledged
        becomes a gap at once and what follows it is delivered, and both directions' flags are refreshed (until
        then ``d`` says ``ready`` with a piece held). False (nothing changed) for anything else."""
        if not d.ready or d.pending or d.cut or off <= d.nxt or d.held + len(payload) > self.max_buffer:
            return False
        d.pending.append(_Piece(off, off + len(payload), payload, frame, foff, ts, False))
        d.held += len(payload)
        return True

    def stream_key(self, stream: int) -> StreamKey:
        """The 4-tuple of ``stream``; endpoint a is direction 0's sender (empty if unknown)."""
        return self._keys.get(stream, _NO_KEY)

    def ignore(self, stream: int) -> None:
        """Stop reassembling ``stream``: free its buffers, drop its later segments in O(1).

        A new SYN on the same 4-tuple (port reuse) starts a new stream again.
        """
        st = self._streams.get(stream)
        if st is None:
            return
        self._remove(st)
        for d in st.dirs:
            d.pending.clear()
            d.held = 0
            d.closed = True
            d.refresh()
        tomb = self._tomb
        tomb[st.fwd] = None
        tomb[st.rev] = None
        while len(tomb) > self.max_tombstones:
            del tomb[next(iter(tomb))]

    @property
    def stream_count(self) -> int:
        """Streams currently held (open or recently closed)."""
        return len(self._streams)

    # -- stream table ---------------------------------------------------------

    def _first(self, seg: TcpSegment, out: list) -> None:
        """A segment of an unknown 4-tuple: open a stream (unless it is tombstoned)."""
        src, dst = bytes(seg.src_ip), bytes(seg.dst_ip)
        sport, dport = seg.sport, seg.dport
        flags = seg.flags
        pure_syn = flags & (SYN | ACK | RST) == SYN
        if self._tomb:
            key = (src, sport, dst, dport)
            if key in self._tomb:
                if not pure_syn:
                    return
                self._tomb.pop(key, None)
                self._tomb.pop((dst, dport, src, sport), None)
        if len(self._streams) >= self.max_streams:
            self._evict(seg, out)
        synack = flags & (SYN | ACK) == SYN | ACK
        if synack:     # the SYN was missed: the receiver of the SYN-ACK opened the connection
            skey = StreamKey(dst, dport, src, sport)
        else:
            skey = StreamKey(src, sport, dst, dport)
        idx = self._next_index
        self._next_index += 1
        st = _Stream(idx, skey, seg.frame, seg.ts_ns)
        self._streams[idx] = st
        self._keys[idx] = skey
        while len(self._keys) > 2 * self.max_streams:
            del self._keys[next(iter(self._keys))]
        self._flows[st.rev] = st.dirs[1]
        self._flows[st.fwd] = st.dirs[0]
        out.append(StreamOpened(idx, skey, bool(flags & SYN), seg.frame, seg.ts_ns))
        self._process(st.dirs[1] if synack else st.dirs[0], seg, out)

    def _remove(self, st: _Stream) -> None:
        for key in (st.fwd, st.rev):
            d = self._flows.get(key)
            if d is not None and d.st is st:
                del self._flows[key]
        self._streams.pop(st.index, None)

    def _evict(self, seg: TcpSegment, out: list) -> None:
        """Drop the least recently used stream (second-chance order), closing it if open."""
        streams = self._streams
        while streams:
            idx = next(iter(streams))
            st = streams[idx]
            if st.last != st.mark:          # touched since queued: give it a second chance
                del streams[idx]
                st.mark = st.last
                streams[idx] = st
                continue
            break
        else:
            return
        self._remove(st)
        if st.done:
            return
        out.append(Notice("tcp", Finding(
            WARN, "tcp-stream-evicted",
            f"TCP stream {st.index} evicted after {self.max_streams} streams were open; "
            "it is closed here and later segments start a new stream"), seg.frame))
        for d in st.dirs:
            if not d.closed:
                self._flush(d, out)
                if not d.closed:
                    self._close(d, "eof", st.last, st.ts, out)

    def _notice_once(self, st: _Stream, severity: str, code: str, message: str, frame: int,
                     out: list) -> None:
        if code not in st.noted:
            st.noted.add(code)
            out.append(Notice("tcp", Finding(severity, code, message), frame))

    # -- per segment ----------------------------------------------------------

    def _slow(self, d: _Dir, seg: TcpSegment) -> list:
        out: list = []
        st = d.st
        if seg.flags & (SYN | ACK | RST) == SYN and (st.done or d.base != (seg.seq + 1) & _M):
            # A new connection on a known 4-tuple (port reuse): a new stream index.
            if not st.done:
                self._notice_once(st, NOTE, "tcp-port-reuse",
                                  f"new SYN on the 4-tuple of open TCP stream {st.index}; "
                                  "that stream ends here", seg.frame, out)
                for x in st.dirs:
                    if not x.closed:
                        self._flush(x, out)
                        if not x.closed:
                            self._close(x, "eof", x.last_frame or seg.frame, seg.ts_ns, out)
            self._remove(st)
            self._first(seg, out)
            return out
        self._process(d, seg, out)
        return out

    def _process(self, d: _Dir, seg: TcpSegment, out: list) -> None:
        """Everything a segment means for its stream, outside the in-order fast path."""
        flags = seg.flags
        peer = d.peer
        if flags & SYN:
            if d.base is None:
                d.base = (seg.seq + 1) & _M
            if flags & ACK and peer.base is None:
                peer.base = seg.ack & _M
        if flags & ACK:
            # The ACK speaks of what the sender had received before it sent this
            # segment: a hole it acknowledges is a capture loss that comes first.
            peer.ack = seg.ack
            self._ack_flush(peer, out)
        p = seg.payload
        n = len(p)
        if not d.closed:
            if d.base is None and (n or flags & FIN):
                d.base = seg.seq & _M
            if d.base is not None and (n or flags & FIN):
                seq = seg.seq + 1 if flags & SYN else seg.seq
                nxt = d.nxt
                off = ((seq - d.base - nxt + _HALF) & _M) - _HALF + nxt
                if flags & FIN and d.fin is None:
                    self._set_fin(d, max(off + n, nxt), seg)
                if n:
                    self._data(d, off, p, seg, out)
                self._drain(d, out)
                if d.held > self.max_buffer:
                    self._bound(d, seg, out)
                self._ack_flush(d, out)
        if flags & RST:
            for x in d.st.dirs:
                if not x.closed:
                    self._flush(x, out)
            for x in (d, peer):         # the sender's direction first: its close names who reset
                if not x.closed:
                    self._close(x, "rst", seg.frame, seg.ts_ns, out)
        d.refresh()
        peer.refresh()

    def _set_fin(self, d: _Dir, fin: int, seg: TcpSegment) -> None:
        """Record the FIN's offset; buffered bytes beyond it cannot be stream data."""
        d.fin, d.fin_frame, d.fin_ts = fin, seg.frame, seg.ts_ns
        pend = d.pending
        while pend and pend[-1].end > fin:
            q = pend[-1]
            if q.off >= fin:
                pend.pop()
                d.held -= q.end - q.off
            else:
                d.held -= q.end - fin
                q.data = q.data[:fin - q.off]
                q.end = fin
                q.cut = False
                break

    def _data(self, d: _Dir, off: int, p, seg: TcpSegment, out: list) -> None:
        """Deliver or buffer the new bytes of a payload starting at stream offset ``off``."""
        full_end = off + len(p)
        end = full_end if d.fin is None else min(full_end, d.fin)
        nxt = d.nxt
        if end <= nxt:
            return                      # retransmission of delivered bytes
        start = off if off > nxt else nxt
        mv = p if type(p) is memoryview else memoryview(p)
        cut = bool(seg.truncated) and end == full_end
        if start == nxt and not d.pending:
            out.append(StreamData(d.st.index, d.index, start, mv[start - off:end - off], seg.frame,
                                  seg.payload_offset + start - off, seg.ts_ns))
            d.nxt = end
            d.last_frame = seg.frame
            d.cut = cut
            return
        self._insert(d, off, mv, start, end, seg, cut, out)

    def _insert(self, d: _Dir, off: int, mv: memoryview, start: int, end: int,
                seg: TcpSegment, cut: bool, out: list) -> None:
        """Buffer [start, end) of a payload at ``off``, keeping only bytes not yet buffered."""
        pend = d.pending
        i = bisect_right(pend, start, key=_OFF)
        if i:
            q = pend[i - 1]
            if q.end > start:
                self._compare(d, q, mv, off, start, min(q.end, end), seg, out)
                start = q.end
        while start < end:
            if i < len(pend) and pend[i].off < end:
                q = pend[i]
                if q.off > start:
                    self._put(d, i, mv, off, start, q.off, seg, False)
                    i += 1
                self._compare(d, q, mv, off, q.off, min(q.end, end), seg, out)
                start = q.end
                i += 1
                continue
            self._put(d, i, mv, off, start, end, seg, cut)
            break

    def _put(self, d: _Dir, i: int, mv: memoryview, off: int, start: int, end: int,
             seg: TcpSegment, cut: bool) -> None:
        d.pending.insert(i, _Piece(start, end, mv[start - off:end - off], seg.frame,
                                   seg.payload_offset + start - off, seg.ts_ns, cut))
        d.held += end - start

    def _compare(self, d: _Dir, q: _Piece, mv: memoryview, off: int, start: int, end: int,
                 seg: TcpSegment, out: list) -> None:
        """Report (once per stream) an overlap whose bytes differ from the buffered copy."""
        if start >= end or "tcp-overlap-conflict" in d.st.noted:
            return
        if mv[start - off:end - off] != q.data[start - q.off:end - q.off]:
            self._notice_once(d.st, WARN, "tcp-overlap-conflict",
                              f"TCP stream {d.st.index} direction {d.index}: overlapping segment "
                              f"(frame {seg.frame}) carries different bytes at stream offset {start} "
                              f"than frame {q.frame}; the first copy is kept", seg.frame, out)

    def _drain(self, d: _Dir, out: list, take=None) -> None:
        """Deliver buffered pieces that are now in order, then close on a reached FIN (``take``: see
        :meth:`ack_while_waiting`)."""
        pend = d.pending
        while pend:
            q = pend[0]
            if q.off > d.nxt:
                if not d.cut:
                    break
                self._gap(d, q.off, q.frame, q.ts, out)   # the snap length cut the previous segment
            if take is not None and q.off == d.nxt:
                take(d)
                if not pend:
                    break
                q = pend[0]
                if q.off > d.nxt:
                    continue
            del pend[0]
            d.held -= q.end - q.off
            data, off, foff = q.data, q.off, q.foff
            if off < d.nxt:             # cannot happen while pieces stay at or past nxt; be safe
                if q.end <= d.nxt:
                    continue
                data, foff, off = data[d.nxt - off:], foff + d.nxt - off, d.nxt
            out.append(StreamData(d.st.index, d.index, off, data, q.frame, foff, q.ts))
            d.nxt = q.end
            d.last_frame = q.frame
            d.cut = q.cut
        if d.fin is not None and not d.closed:
            if d.cut and d.nxt < d.fin and not pend:
                self._gap(d, d.fin, d.fin_frame, d.fin_ts, out)
            if d.nxt >= d.fin:
                self._close(d, "fin", d.fin_frame, d.fin_ts, out)

    def _gap(self, d: _Dir, to: int, before_frame: int, ts: int, out: list, take_gap=None) -> None:
        if to > d.nxt:
            if take_gap is None or not take_gap(d, to, before_frame, ts):
                out.append(StreamGap(d.st.index, d.index, d.nxt, to - d.nxt, d.last_frame,
                                     before_frame, ts))
            d.nxt = to
        d.cut = False

    def _skip_hole(self, d: _Dir, out: list) -> bool:
        """Declare the first hole a gap and deliver what follows; False if there is none."""
        if d.pending:
            q = d.pending[0]
            self._gap(d, q.off, q.frame, q.ts, out)
        elif d.fin is not None and d.nxt < d.fin:
            self._gap(d, d.fin, d.fin_frame, d.fin_ts, out)
        else:
            return False
        self._drain(d, out)
        return True

    def _bound(self, d: _Dir, seg: TcpSegment, out: list) -> None:
        """The out-of-order buffer is over its bound: give up on holes until it fits."""
        self._notice_once(d.st, NOTE, "tcp-buffer-limit",
                          f"TCP stream {d.st.index} direction {d.index}: more than "
                          f"{self.max_buffer} bytes waiting behind a hole; declaring it lost",
                          seg.frame, out)
        while d.held > self.max_buffer and not d.closed and self._skip_hole(d, out):
            pass

    def _ack_flush(self, d: _Dir, out: list, take=None, take_gap=None) -> None:
        """Bytes the receiver has acknowledged but the capture lacks were lost by the capture.

        Only the acknowledged part of a hole becomes a gap: the rest may still arrive.
        """
        if d.ack is None or d.base is None or d.closed or not (d.pending or d.fin is not None):
            return
        raw = d.ack
        while not d.closed:
            nxt = d.nxt
            acked = ((raw - d.base - nxt + _HALF) & _M) - _HALF + nxt
            if acked <= nxt:
                return
            if d.pending:
                q = d.pending[0]
                to, before, ts = min(acked, q.off), q.frame, q.ts
            elif d.fin is not None:
                to, before, ts = min(acked, d.fin), d.fin_frame, d.fin_ts
            else:
                return
            if to <= nxt:
                return
            self._gap(d, to, before, ts, out, take_gap)
            self._drain(d, out, take)

    def _flush(self, d: _Dir, out: list) -> None:
        """End of a direction: every remaining hole is a gap; a trailing loss shows in the ACK."""
        while not d.closed and self._skip_hole(d, out):
            pass
        if d.closed or d.ack is None or d.base is None:
            return
        nxt = d.nxt
        acked = ((d.ack - d.base - nxt + _HALF) & _M) - _HALF + nxt
        if nxt < acked <= nxt + _MAX_TRAILING_GAP:
            self._gap(d, acked, 0, d.st.ts, out)

    def _close(self, d: _Dir, how: str, frame: int, ts: int, out: list) -> None:
        d.closed = True
        d.pending.clear()
        d.held = 0
        d.refresh()
        out.append(StreamClosed(d.st.index, d.index, how, frame, ts))


def _frame_of(seg) -> int:
    frame = getattr(seg, "frame", 0)
    return frame if isinstance(frame, int) else 0
