"""Pass 1 of the rewriter: each TCP direction's bytes, its PDUs (from the decoder), their new bytes.

The capture is read once through :class:`~dicomsniff.pipeline.Analyzer` (PDU framing, associations,
accepted transfer syntaxes, max PDU lengths) and, beside it, through a :class:`TcpReassembler` of our
own that keeps every direction's bytes and gaps. Each direction is then rebuilt PDU by PDU: every
P-DATA-TF's command and data set fragments are reassembled into messages, anonymized, and cut again
into the same PDVs (same count, same contexts and flags, new lengths), so the PDU sequence is the
original's. An :class:`OffsetMap` maps every old stream offset to its new one, for TCP sequence and
acknowledgement numbers. What cannot be decoded keeps its length and is zeroed, and is listed.
"""

from __future__ import annotations

import struct
import zlib
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field

from ..capture.frame import SYN
from ..capture.packet import decode_tcp
from ..capture.reader import open_capture
from ..pipeline import AssociationOpened, Analyzer, PduSeen
from ..tcp.events import StreamData, StreamGap, StreamOpened
from ..tcp.reassembly import TcpReassembler
from ..ul.pdus import P_DATA_TF
from .dataset import IMPLICIT_LE, DataSetError, codec_for, encode, parse
from .profile import Cleaner

_M = 0xFFFFFFFF
_HALF = 1 << 31
STORE_RQ = 0x0001
QUERY_COMMANDS = frozenset((0x0020, 0x8020, 0x0010, 0x8010, 0x0021, 0x8021))


@dataclass
class Problem:
    """One thing the rewriter could not rewrite and zeroed instead (listed to the user)."""

    frame: int
    association: int
    what: str


class OffsetMap:
    """Old stream offset → new stream offset: piecewise linear between breakpoints, a shift outside."""

    def __init__(self):
        self.old = array("q")
        self.new = array("q")

    def add(self, old: int, new: int) -> None:
        if self.old and old <= self.old[-1]:
            if old == self.old[-1]:
                self.new[-1] = new
            return
        self.old.append(old)
        self.new.append(new)

    def __call__(self, x: int) -> int:
        old, new = self.old, self.new
        if not old:
            return x
        i = bisect_right(old, x) - 1
        if i < 0:
            return x + (new[0] - old[0])
        if i == len(old) - 1:
            return x + (new[i] - old[i])
        o0, o1, n0, n1 = old[i], old[i + 1], new[i], new[i + 1]
        return n0 + (x - o0) * (n1 - n0) // (o1 - o0)


class Direction:
    """One direction of one TCP stream: its bytes (gaps zero-filled), lost ranges, PDUs, new bytes."""

    def __init__(self, stream: int, index: int):
        self.stream = stream
        self.index = index
        self.data = bytearray()
        self.lost: list[tuple[int, int]] = []
        self.base: int | None = None
        self.pdus: list = []            # PduEvent, in stream order
        self.new: bytes | bytearray = b""
        self.map = OffsetMap()
        self.first_frame = 0

    def put(self, offset: int, chunk) -> None:
        end = offset + len(chunk)
        if end > len(self.data):
            self.data.extend(bytes(end - len(self.data)))
        self.data[offset:end] = chunk

    def has_loss(self, start: int, end: int) -> bool:
        return any(s < end and s + n > start for s, n in self.lost)


@dataclass
class Capture1:
    """What pass 1 learnt: directions by (stream, direction), frame → (stream, direction)."""

    dirs: dict[tuple[int, int], Direction] = field(default_factory=dict)
    frame_stream: array = field(default_factory=lambda: array("i"))
    frame_dir: array = field(default_factory=lambda: array("b"))
    associations: dict[int, object] = field(default_factory=dict)   # stream -> Association
    frames: int = 0


def collect(path, ports=frozenset()) -> Capture1:
    """Read the capture once: stream bytes and gaps per direction, PDUs and associations per stream."""
    cap = Capture1()
    analyzer = Analyzer(ports=set(ports), keep_pdus=False, decode_data=False)
    reasm = TcpReassembler(max_buffer_per_direction=64 << 20)
    flows: dict[tuple, tuple[int, int]] = {}
    reader = open_capture(path)
    try:
        for frame in reader:
            cap.frames = frame.number
            _grow(cap, frame.number)
            seg = decode_tcp(frame)
            if seg is not None:
                evs = reasm.feed(seg)
                for ev in evs:
                    if isinstance(ev, StreamOpened):
                        k = ev.key
                        flows[(bytes(k.a_ip), k.a_port, bytes(k.b_ip), k.b_port)] = (ev.stream, 0)
                        flows[(bytes(k.b_ip), k.b_port, bytes(k.a_ip), k.a_port)] = (ev.stream, 1)
                where = flows.get((bytes(seg.src_ip), seg.sport, bytes(seg.dst_ip), seg.dport))
                if where is not None:
                    cap.frame_stream[frame.number] = where[0]
                    cap.frame_dir[frame.number] = where[1]
                    d = cap.dirs.get(where)
                    if d is None:
                        d = cap.dirs[where] = Direction(*where)
                    if d.base is None and seg.flags & SYN:
                        d.base = (seg.seq + 1) & _M
                    for ev in evs:
                        _tcp_event(cap, ev, seg)
                else:
                    for ev in evs:
                        _tcp_event(cap, ev, seg)
            for ev in analyzer.feed(frame):
                _event(cap, ev)
        for ev in reasm.finish():
            _tcp_event(cap, ev, None)
        for ev in analyzer.finish():
            _event(cap, ev)
    finally:
        reader.close()
    for stream in cap.associations:
        if reasm.stream_key(stream) != analyzer.tcp.stream_key(stream):
            raise RuntimeError(f"stream {stream}: the decoder's TCP streams do not match the rewriter's")
    return cap


def _grow(cap: Capture1, n: int) -> None:
    while len(cap.frame_stream) <= n:
        cap.frame_stream.append(-1)
        cap.frame_dir.append(-1)


def _tcp_event(cap: Capture1, ev, seg) -> None:
    if isinstance(ev, StreamData):
        d = cap.dirs.get((ev.stream, ev.direction))
        if d is None:
            d = cap.dirs[(ev.stream, ev.direction)] = Direction(ev.stream, ev.direction)
        if d.base is None and seg is not None and ev.frame == seg.frame:
            first = seg.seq + (1 if seg.flags & SYN else 0)
            d.base = (first + (ev.frame_offset - seg.payload_offset) - ev.stream_offset) & _M
        if not d.first_frame:
            d.first_frame = ev.frame
        d.put(ev.stream_offset, ev.data)
    elif isinstance(ev, StreamGap):
        d = cap.dirs.get((ev.stream, ev.direction))
        if d is None:
            d = cap.dirs[(ev.stream, ev.direction)] = Direction(ev.stream, ev.direction)
        d.lost.append((ev.stream_offset, ev.length))
        if ev.stream_offset + ev.length > len(d.data):
            d.data.extend(bytes(ev.stream_offset + ev.length - len(d.data)))


def _event(cap: Capture1, ev) -> None:
    if isinstance(ev, AssociationOpened):
        cap.associations[ev.association.stream] = ev.association
    elif isinstance(ev, PduSeen):
        pdu = ev.pdu
        d = cap.dirs.get((pdu.stream, pdu.direction))
        if d is None:
            d = cap.dirs[(pdu.stream, pdu.direction)] = Direction(pdu.stream, pdu.direction)
        d.pdus.append(pdu)


# ---- pass 1b: new bytes per direction ---------------------------------------------------------

@dataclass
class Fragment:
    pdu: int              # index in the direction's PDU list
    pdv: int              # index among that PDU's PDVs
    start: int            # stream offset of the value
    length: int


@dataclass
class _Msg:
    context: int
    command: bool
    fragments: list[Fragment] = field(default_factory=list)
    done: bool = False
    broken: bool = False


@dataclass
class Result:
    commands: int = 0
    datasets: int = 0
    zeroed: list[Problem] = field(default_factory=list)
    oversize: list[Problem] = field(default_factory=list)
    kept_tls: list[int] = field(default_factory=list)     # TLS streams, copied encrypted


class DirectionRewriter:
    """Rebuilds one direction of a DICOM stream (see the module docstring)."""

    def __init__(self, d: Direction, assoc, cleaner: Cleaner, result: Result, frame_of):
        self.d = d
        self.assoc = assoc
        self.cleaner = cleaner
        self.result = result
        self.frame_of = frame_of      # stream offset -> frame number (for listings)
        self.number = getattr(assoc, "number", 0)
        self.max_pdu = self._max_pdu()

    def _client(self) -> bool:
        return getattr(self.assoc, "client_dir", 0) == self.d.index

    def _first_loss(self, start: int, end: int) -> int:
        lost = [s for s, n in self.d.lost if s < end and s + n > start]
        return max(start, min(lost)) if lost else end

    def _max_pdu(self) -> int:
        a = self.assoc
        try:
            mine = a.client_dir == self.d.index
            peer = a.ac if mine else a.rq          # the receiver's announcement bounds what we send
            n = peer.user_info.max_pdu_length if peer is not None else 0
            return n or 0
        except AttributeError:
            return 0

    def run(self) -> None:
        d = self.d
        data = d.data
        # PDV layout of each complete P-DATA-TF; None for a PDU kept byte for byte or zeroed
        layouts: list[list[tuple[int, int, int, int]] | None] = []
        intact: list[bool] = []
        for pdu in d.pdus:
            start = pdu.stream_offset
            end = start + 6 + pdu.length
            ok = pdu.complete and not d.has_loss(start, end) and end <= len(data)
            lay = None
            if pdu.pdu_type == P_DATA_TF:
                lay = self._pdvs(data, start, end, min(end, len(data), self._first_loss(start, end)))
            layouts.append(lay)
            intact.append(ok and lay is not None)
        values: dict[tuple[int, int], bytes] = {}
        new_len = {i: pdu.length for i, pdu in enumerate(d.pdus)}
        open_msgs: dict[tuple[int, bool], _Msg] = {}
        last_command: dict[int, int] = {}
        msgs: list[_Msg] = []
        for i, lay in enumerate(layouts):
            if lay is None:
                continue
            for j, (off, length, ctx, control) in enumerate(lay):
                is_cmd = bool(control & 1)
                key = (ctx, is_cmd)
                m = open_msgs.get(key)
                if m is None:
                    m = open_msgs[key] = _Msg(ctx, is_cmd)
                    msgs.append(m)
                m.fragments.append(Fragment(i, j, off + 6, length - 2))
                if not intact[i]:
                    m.broken = True
                if control & 2:
                    m.done = True
                    del open_msgs[key]
                    self._message(m, values, new_len, last_command)
        for m in open_msgs.values():            # never finished: cut by the capture
            m.broken = True
            self._message(m, values, new_len, last_command)
        self._build(layouts, intact, values, new_len)

    @staticmethod
    def _pdvs(data, start: int, end: int, have: int):
        """PDV items of the P-DATA-TF at [start, end) as (offset, length, context, control); None if
        they do not tile it. ``have``: where the captured bytes end (a cut PDU's last PDV may run past)."""
        out = []
        pos = start + 6
        while pos + 6 <= min(end, have):
            (length,) = struct.unpack_from(">I", data, pos)
            if length < 2 or pos + 4 + length > end:
                return None
            out.append((pos, length, data[pos + 4], data[pos + 5]))
            pos += 4 + length
        if pos == end or have < end:
            return out
        return None

    def _message(self, m: _Msg, values, new_len, last_command) -> None:
        data = self.d.data
        raw = b"".join(bytes(data[f.start:f.start + f.length]) for f in m.fragments
                       if f.start + f.length <= len(data))
        frame = self.frame_of(m.fragments[0].start)
        what = "command set" if m.command else "data set"
        if m.broken or not m.done:
            self._zero(m, values, f"{what} on context {m.context}, incomplete (a gap, the connection's or the capture's end cut it)", frame)
            return
        try:
            if m.command:
                elems = parse(raw, IMPLICIT_LE)
                field_ = next((el for el in elems if el.tag == 0x00000100), None)
                if field_ is not None and len(field_.value) == 2:
                    last_command[m.context] = struct.unpack("<H", field_.value)[0]
                new = encode(self.cleaner.command(elems), IMPLICIT_LE)
                self.result.commands += 1
            else:
                codec, deflated, elems = self._decode(raw, m.context)
                command = last_command.get(m.context)
                role = ("object" if command == STORE_RQ else "identifier" if command in QUERY_COMMANDS
                        else "other")
                new = encode(self.cleaner.dataset(elems, role), codec)
                if deflated:
                    z = zlib.compressobj(6, zlib.DEFLATED, -15)
                    new = z.compress(new) + z.flush()
                    if len(new) % 2:                  # PS3.5 A.5: padded to an even length
                        new += b"\0"
                self.result.datasets += 1
        except (DataSetError, struct.error, ValueError, IndexError) as e:
            self._zero(m, values, f"{what} on context {m.context}, not decodable: {e}", frame)
            return
        self._distribute(m, new, values, new_len)

    def _decode(self, raw: bytes, context: int):
        """(codec, deflated, elements) of a data set: in the accepted transfer syntax; on a context that
        was not accepted (a peer sending anyway) or whose answer was not captured, in the first proposed
        transfer syntax it parses in."""
        ts = self.assoc.transfer_syntax_of(self.d.index, context) if self.assoc else None
        candidates = [ts] if ts is not None else []
        if ts is None and self.assoc is not None:
            ctx = self.assoc.contexts.get(context)
            candidates = list(getattr(ctx, "proposed", None) or [])
        if not candidates:
            raise DataSetError("transfer syntax unknown (the context's negotiation is not in the capture)")
        error: Exception | None = None
        for ts in candidates:
            codec, deflated = codec_for(ts)
            try:
                body = zlib.decompressobj(-15).decompress(raw) if deflated else raw
                return codec, deflated, parse(body, codec)
            except zlib.error as e:
                error = DataSetError(f"deflated data set does not inflate: {e}")
            except (DataSetError, struct.error) as e:
                error = e
        raise DataSetError(str(error)) from None

    def _zero(self, m: _Msg, values, why: str, frame: int) -> None:
        for f in m.fragments:
            values[(f.pdu, f.pdv)] = bytes(f.length)
        self.result.zeroed.append(Problem(frame, self.number, why))

    def _distribute(self, m: _Msg, new: bytes, values, new_len) -> None:
        """Cut ``new`` into the message's fragments: same count, lengths as close to the old as fit.

        Shrinking fills the fragments in order (a real sender's way); growth goes to the last fragments
        whose PDU still fits the receiver's max PDU length, then past it (listed) if it must.
        """
        frags = m.fragments
        sizes = [f.length for f in frags]
        total = sum(sizes)
        target = len(new)
        if target <= total:
            left = target
            for k in range(len(frags)):
                sizes[k] = min(sizes[k], left)
                left -= sizes[k]
            for k in range(len(frags) - 1, 0, -1):      # no empty trailing fragment while bytes allow
                while sizes[k] == 0:                     # (2 bytes at a time: fragments stay even)
                    donors = [j for j in range(k) if sizes[j] > 2]
                    if not donors:
                        break
                    sizes[donors[-1]] -= 2
                    sizes[k] += 2
        else:
            extra = target - total
            for k in range(len(frags) - 1, -1, -1):
                if not extra:
                    break
                pdu = frags[k].pdu
                room = extra if not self.max_pdu else max(0, self.max_pdu - (new_len[pdu] + sizes[k] - frags[k].length))
                take = min(room - room % 2, extra)
                sizes[k] += take
                extra -= take
            if extra:
                sizes[-1] += extra
                self.result.oversize.append(Problem(
                    self.frame_of(frags[-1].start), self.number,
                    f"a P-DATA-TF grew past the receiver's max PDU length {self.max_pdu} by {extra} bytes"))
        pos = 0
        for k, f in enumerate(frags):
            values[(f.pdu, f.pdv)] = new[pos:pos + sizes[k]]
            new_len[f.pdu] += sizes[k] - f.length
            pos += sizes[k]

    def _build(self, layouts, intact, values, new_len) -> None:
        d = self.d
        data = d.data
        out = bytearray()
        mp = d.map
        cur = 0
        zeroed_gaps = 0
        for i, pdu in enumerate(d.pdus):
            start = pdu.stream_offset
            end = min(start + 6 + pdu.length, len(data))
            if start < cur:
                continue                        # overlapping PDU report: keep the first
            if start > cur:                     # bytes between PDUs (after a resync): not DICOM we know
                mp.add(cur, len(out))
                out += bytes(start - cur)
                zeroed_gaps += start - cur
            mp.add(start, len(out))
            lay = layouts[i]
            if pdu.pdu_type != P_DATA_TF:
                out += data[start:end]
            elif lay is None or not intact[i]:
                # kept length; PDV headers kept where they are known, every value zeroed
                piece = bytearray(end - start)
                piece[:6] = data[start:start + 6]
                for off, length, _ctx, _ctl in lay or []:
                    if off + 6 <= end:
                        piece[off - start:off - start + 6] = data[off:off + 6]
                out += piece
                if lay is None or not intact[i]:
                    if lay is None:
                        self.result.zeroed.append(Problem(self.frame_of(start), self.number,
                                                          "P-DATA-TF whose PDVs do not parse: its values"))
            else:
                out += bytes((P_DATA_TF, data[start + 1])) + struct.pack(">I", new_len[i])
                for j, (off, length, ctx, control) in enumerate(lay):
                    value = values.get((i, j), bytes(length - 2))
                    mp.add(off, len(out))
                    out += struct.pack(">I", len(value) + 2) + bytes((ctx, control))
                    mp.add(off + 6, len(out))
                    out += value
                    mp.add(off + 4 + length, len(out))
            cur = end
            mp.add(end, len(out))
        if len(data) > cur:
            mp.add(cur, len(out))
            out += bytes(len(data) - cur)
            zeroed_gaps += len(data) - cur
        mp.add(len(data), len(out))
        if zeroed_gaps:
            self.result.zeroed.append(Problem(d.first_frame, self.number,
                                              f"{zeroed_gaps} bytes outside any PDU ({'client' if self._client() else 'server'} side)"))
        d.new = out


def _tls_start(cap: Capture1, d: Direction) -> bool:
    """Either direction of the stream starts with a TLS handshake record (RFC 8446 §5.1)."""
    for i in (0, 1):
        x = cap.dirs.get((d.stream, i))
        if x is not None and len(x.data) >= 3 and x.data[0] == 0x16 and x.data[1] == 3 and x.data[2] <= 4:
            return True
    return False


def _frame_finder(d: Direction):
    starts = [p.stream_offset for p in d.pdus]

    def frame_of(offset: int) -> int:
        i = bisect_right(starts, offset) - 1
        return d.pdus[i].frame if i >= 0 else d.first_frame
    return frame_of


def rewrite_streams(cap: Capture1, cleaner: Cleaner) -> Result:
    """New bytes and offset maps for every direction; non-DICOM TCP payload is zeroed (same length)."""
    result = Result()
    for key in sorted(cap.dirs):
        d = cap.dirs[key]
        assoc = cap.associations.get(d.stream)
        if getattr(assoc, "tls", None) is not None or (assoc is None and _tls_start(cap, d)):
            d.new = d.data                 # encrypted: nothing readable to anonymize, kept as it was
            if d.index == 0 and d.data:
                result.kept_tls.append(d.stream)
            continue
        if assoc is None:
            d.new = bytes(len(d.data))
            if d.data:
                result.zeroed.append(Problem(d.first_frame, 0, f"TCP stream {d.stream} direction {d.index} "
                                             f"is not DICOM: its {len(d.data)} payload bytes"))
            continue
        d.pdus.sort(key=lambda p: p.stream_offset)
        DirectionRewriter(d, assoc, cleaner, result, _frame_finder(d)).run()
    return result
