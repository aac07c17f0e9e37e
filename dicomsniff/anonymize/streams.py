"""Pass 1 of the rewriter: each TCP direction's bytes, its PDUs (from the decoder), their new bytes.

The capture is read once through :class:`~dicomsniff.pipeline.Analyzer` (PDU framing, associations,
accepted transfer syntaxes, max PDU lengths) and, beside it, through a :class:`TcpReassembler` of our
own whose in-order chunks are remembered as (stream offset, length, file position): bytes are read back
from the capture file when needed, never held. Each direction is then rebuilt PDU by PDU: every
P-DATA-TF's command and data set fragments are reassembled into messages (one at a time), anonymized,
and cut again into the same PDVs (same count, same contexts and flags, new lengths), so the PDU sequence
is the original's. The new stream is a list of pieces — original bytes, bytes written to a spool file,
zeros — and an :class:`OffsetMap` maps every old stream offset to its new one, for TCP sequence and
acknowledgement numbers. What cannot be decoded keeps its length, is zeroed, and is listed. Memory holds
a few numbers per TCP segment and PDU, and the largest message being rewritten.
"""

from __future__ import annotations

import os
import struct
import tempfile
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
OLD, SPOOL, ZERO = 0, 1, 2       # piece kinds of a new stream
MAX_SEGMENT = 65535 - 120       # payload a segment can carry: IP total length minus IPv4 + TCP headers at most
MAX_INFLATED = 256 << 20         # a deflated data set that inflates past this is zeroed (deflate bombs)


def _inflate(raw: bytes) -> bytes:
    z = zlib.decompressobj(-15)
    body = z.decompress(raw, MAX_INFLATED)
    if z.unconsumed_tail:
        raise DataSetError(f"deflated data set inflates past {MAX_INFLATED >> 20} MiB")
    return body


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


class Source:
    """Random access to the capture file (original stream bytes are read back from it)."""

    def __init__(self, path):
        self.f = open(path, "rb")

    def read(self, pos: int, n: int) -> bytes:
        self.f.seek(pos)
        return self.f.read(n)

    def close(self) -> None:
        self.f.close()


class Spool:
    """Append-only scratch file for the rewritten bytes (beside the output, removed when closed)."""

    def __init__(self, folder: str | None = None):
        self.f = tempfile.TemporaryFile(prefix=".dicomsniff-anon-", dir=folder)
        self.size = 0
        self._writing = True

    def write(self, data) -> int:
        if not self._writing:
            self.f.seek(0, os.SEEK_END)
            self._writing = True
        at = self.size
        self.f.write(data)
        self.size += len(data)
        return at

    def read(self, pos: int, n: int) -> bytes:
        if self._writing:
            self.f.flush()
            self._writing = False
        self.f.seek(pos)
        return self.f.read(n)

    def close(self) -> None:
        self.f.close()


class Direction:
    """One direction of one TCP stream: where its bytes are in the file, lost ranges, PDUs, new pieces."""

    def __init__(self, stream: int, index: int, src: Source):
        self.stream = stream
        self.index = index
        self.src = src
        self.c_off = array("q")         # chunks: stream offset, length, file position
        self.c_len = array("q")
        self.c_pos = array("q")
        self.size = 0
        self.lost: list[tuple[int, int]] = []
        self.base: int | None = None
        self.pdu_off = array("q")       # PDUs as the decoder framed them
        self.pdu_len = array("q")
        self.pdu_type = array("B")
        self.pdu_complete = array("B")
        self.pdu_frame = array("q")
        self.p_new = array("q")         # the new stream: pieces (new offset, kind, argument, length)
        self.p_kind = array("B")
        self.p_arg = array("q")
        self.p_len = array("q")
        self.new_size = 0
        self.spool: Spool | None = None
        self.map = OffsetMap()
        self.first_frame = 0

    def chunk(self, offset: int, length: int, file_pos: int) -> None:
        if self.c_off and self.c_off[-1] + self.c_len[-1] == offset and self.c_pos[-1] + self.c_len[-1] == file_pos:
            self.c_len[-1] += length
        else:
            self.c_off.append(offset)
            self.c_len.append(length)
            self.c_pos.append(file_pos)
        self.size = max(self.size, offset + length)

    def read(self, a: int, b: int) -> bytes:
        """Original bytes [a, b) of the direction; zeros where the capture has none."""
        b = min(b, self.size)
        if b <= a:
            return b""
        out = bytearray(b - a)
        offs, lens = self.c_off, self.c_len
        i = max(0, bisect_right(offs, a) - 1)
        while i < len(offs) and offs[i] < b:
            lo, hi = max(a, offs[i]), min(b, offs[i] + lens[i])
            if lo < hi:
                out[lo - a:hi - a] = self.src.read(self.c_pos[i] + lo - offs[i], hi - lo)
            i += 1
        return bytes(out)

    def has_loss(self, start: int, end: int) -> bool:
        return any(s < end and s + n > start for s, n in self.lost)

    # -- the new stream ----------------------------------------------------------------------------

    def piece(self, kind: int, arg: int, length: int) -> None:
        if length <= 0:
            return
        if self.p_kind and self.p_kind[-1] == kind and (
                kind == ZERO or self.p_arg[-1] + self.p_len[-1] == arg):
            self.p_len[-1] += length
        else:
            self.p_new.append(self.new_size)
            self.p_kind.append(kind)
            self.p_arg.append(arg)
            self.p_len.append(length)
        self.new_size += length

    def new_bytes(self, a: int, b: int) -> bytes:
        """New stream bytes [a, b); zeros past its end."""
        out = bytearray()
        starts = self.p_new
        i = max(0, bisect_right(starts, a) - 1)
        x = a
        while x < b and i < len(starts):
            p0, n = starts[i], self.p_len[i]
            if p0 + n <= x:
                i += 1
                continue
            hi = min(b, p0 + n)
            kind, arg = self.p_kind[i], self.p_arg[i] + (x - p0)
            if kind == OLD:
                out += self.read(arg, arg + hi - x)
            elif kind == SPOOL:
                out += self.spool.read(arg, hi - x)
            else:
                out += bytes(hi - x)
            x = hi
            i += 1
        if len(out) < b - a:
            out += bytes(b - a - len(out))
        return bytes(out)


@dataclass
class Capture1:
    """What pass 1 learnt: directions by (stream, direction), frame → (stream, direction)."""

    src: Source
    dirs: dict[tuple[int, int], Direction] = field(default_factory=dict)
    frame_stream: array = field(default_factory=lambda: array("i", [-1]))
    frame_dir: array = field(default_factory=lambda: array("b", [-1]))
    associations: dict[int, object] = field(default_factory=dict)   # stream -> Association
    frames: int = 0

    def direction(self, stream: int, index: int) -> Direction:
        d = self.dirs.get((stream, index))
        if d is None:
            d = self.dirs[(stream, index)] = Direction(stream, index, self.src)
        return d

    def close(self) -> None:
        self.src.close()
        for d in self.dirs.values():
            if d.spool is not None:
                d.spool.close()
                break


def collect(path, ports=frozenset()) -> Capture1:
    """Read the capture once: where each direction's bytes are, gaps, PDUs and associations per stream."""
    cap = Capture1(Source(path))
    analyzer = Analyzer(ports=set(ports), keep_pdus=False, decode_data=False, keep_exchanges=0)
    reasm = TcpReassembler(max_buffer_per_direction=64 << 20)
    flows: dict[tuple, tuple[int, int]] = {}
    file_pos = array("q", [0])
    reader = None
    try:
        reader = open_capture(path)
        for frame in reader:
            n = frame.number
            cap.frames = n
            cap.frame_stream.append(-1)
            cap.frame_dir.append(-1)
            file_pos.append(frame.file_offset or 0)
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
                    cap.frame_stream[n] = where[0]
                    cap.frame_dir[n] = where[1]
                    d = cap.direction(*where)
                    if d.base is None and seg.flags & SYN:
                        d.base = (seg.seq + 1) & _M
                for ev in evs:
                    _tcp_event(cap, ev, seg, file_pos)
            for ev in analyzer.feed(frame):
                _event(cap, ev)
        for ev in reasm.finish():
            _tcp_event(cap, ev, None, file_pos)
        for ev in analyzer.finish():
            _event(cap, ev)
    except BaseException:
        cap.close()
        raise
    finally:
        if reader is not None:
            reader.close()
    for stream in cap.associations:
        if reasm.stream_key(stream) != analyzer.tcp.stream_key(stream):
            cap.close()
            raise RuntimeError(f"stream {stream}: the decoder's TCP streams do not match the rewriter's")
    return cap


def _tcp_event(cap: Capture1, ev, seg, file_pos) -> None:
    if isinstance(ev, StreamData):
        d = cap.direction(ev.stream, ev.direction)
        if d.base is None and seg is not None and ev.frame == seg.frame:
            first = seg.seq + (1 if seg.flags & SYN else 0)
            d.base = (first + (ev.frame_offset - seg.payload_offset) - ev.stream_offset) & _M
        if not d.first_frame:
            d.first_frame = ev.frame
        d.chunk(ev.stream_offset, len(ev.data), file_pos[ev.frame] + ev.frame_offset)
    elif isinstance(ev, StreamGap):
        d = cap.direction(ev.stream, ev.direction)
        d.lost.append((ev.stream_offset, ev.length))
        d.size = max(d.size, ev.stream_offset + ev.length)


def _event(cap: Capture1, ev) -> None:
    if isinstance(ev, AssociationOpened):
        cap.associations[ev.association.stream] = ev.association
    elif isinstance(ev, PduSeen):
        pdu = ev.pdu
        d = cap.direction(pdu.stream, pdu.direction)
        d.pdu_off.append(pdu.stream_offset)
        d.pdu_len.append(pdu.length)
        d.pdu_type.append(pdu.pdu_type & 0xFF)
        d.pdu_complete.append(1 if pdu.complete else 0)
        d.pdu_frame.append(pdu.frame)


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

    def __init__(self, d: Direction, assoc, cleaner: Cleaner, result: Result, spool: Spool):
        self.d = d
        self.assoc = assoc
        self.cleaner = cleaner
        self.result = result
        self.spool = spool
        self.number = getattr(assoc, "number", 0)
        self.max_pdu = self._max_pdu()
        self.used: dict[int, int] = {}        # growth already given to a segment (chunk index)

    def frame_of(self, offset: int) -> int:
        d = self.d
        i = bisect_right(d.pdu_off, offset) - 1
        return d.pdu_frame[i] if i >= 0 else d.first_frame

    def _growth_point(self, v0: int, v1: int, grow: int) -> int:
        """Where a value [v0, v1) that grows by ``grow`` takes its growth: the end of the last TCP segment
        over it that can carry ``grow`` more bytes (IP's 65,535-byte limit), else of the roomiest one.

        Spread over the segments (a proportional map) it would overflow every full 64 KiB loopback segment.
        """
        d = self.d
        offs, lens = d.c_off, d.c_len
        i = max(0, bisect_right(offs, v0) - 1)
        fit = roomiest = None
        best_room = -1
        while i < len(offs) and offs[i] < v1:
            end = offs[i] + lens[i]
            if end > v0:
                room = MAX_SEGMENT - lens[i] - self.used.get(i, 0)
                if room >= grow:
                    fit = (min(end, v1), i)
                if room > best_room:
                    roomiest, best_room = (min(end, v1), i), room
            i += 1
        chosen = fit or roomiest
        if chosen is None:                  # no captured segment over the value (a hole): at its end
            return v1
        self.used[chosen[1]] = self.used.get(chosen[1], 0) + grow
        return chosen[0]

    def _identity_secrets(self, start: int, end: int) -> list[tuple[int, int]]:
        """Byte ranges of user identity secrets in an A-ASSOCIATE-RQ/AC (PS3.7 §D.3.3.7): the password
        (type 2's secondary field), the Kerberos, SAML or JWT token (types 3-5's primary field) and the
        server's response. The username stays: it names an account, and often the problem."""
        blob = self.d.read(start, min(end, start + (1 << 20)))
        out = []
        pos = 74
        try:
            while pos + 4 <= len(blob):
                itype, ilen = blob[pos], struct.unpack_from(">H", blob, pos + 2)[0]
                if itype == 0x50:
                    sub, stop = pos + 4, min(pos + 4 + ilen, len(blob))
                    while sub + 4 <= stop:
                        stype, slen = blob[sub], struct.unpack_from(">H", blob, sub + 2)[0]
                        body = sub + 4
                        if stype == 0x58 and body + 4 <= stop:
                            kind, plen = blob[body], struct.unpack_from(">H", blob, body + 2)[0]
                            primary = body + 4
                            if kind in (3, 4, 5):
                                out.append((primary, primary + plen))
                            if kind == 2 and primary + plen + 2 <= stop:
                                qlen = struct.unpack_from(">H", blob, primary + plen)[0]
                                out.append((primary + plen + 2, primary + plen + 2 + qlen))
                        elif stype == 0x59 and body + 2 <= stop:
                            rlen = struct.unpack_from(">H", blob, body)[0]
                            out.append((body + 2, body + 2 + rlen))
                        sub = body + slen
                pos += 4 + ilen
        except (struct.error, IndexError):
            pass
        limit = len(blob)
        return [(start + a, start + min(b, limit)) for a, b in out if a < min(b, limit)]

    def _captured(self, a: int, b: int) -> int:
        """How many of the bytes [a, b) the capture has (the rest fell in gaps)."""
        lost = sum(max(0, min(b, s + n) - max(a, s)) for s, n in self.d.lost)
        return (b - a) - lost

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
        order = sorted(range(len(d.pdu_off)), key=lambda i: d.pdu_off[i])
        for name in ("pdu_off", "pdu_len", "pdu_type", "pdu_complete", "pdu_frame"):
            col = getattr(d, name)
            setattr(d, name, array(col.typecode, (col[i] for i in order)))
        # PDV layout of each P-DATA-TF, None when they do not parse; intact: complete, nothing lost
        layouts: list[list[tuple[int, int, int, int]] | None] = []
        intact: list[bool] = []
        for i in range(len(d.pdu_off)):
            start = d.pdu_off[i]
            end = start + 6 + d.pdu_len[i]
            ok = bool(d.pdu_complete[i]) and not d.has_loss(start, end) and end <= d.size
            lay = None
            if d.pdu_type[i] == P_DATA_TF:
                lay = self._pdvs(start, end, min(end, d.size, self._first_loss(start, end)))
            layouts.append(lay)
            intact.append(ok and lay is not None)
        values: dict[tuple[int, int], tuple[int, int]] = {}     # (pdu, pdv) -> (spool offset or -1, length)
        new_len = array("q", d.pdu_len)
        open_msgs: dict[tuple[int, bool], _Msg] = {}
        last_command: dict[int, int] = {}
        for i, lay in enumerate(layouts):
            if lay is None:
                continue
            for j, (off, length, ctx, control) in enumerate(lay):
                is_cmd = bool(control & 1)
                key = (ctx, is_cmd)
                m = open_msgs.get(key)
                if m is None:
                    m = open_msgs[key] = _Msg(ctx, is_cmd)
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

    def _pdvs(self, start: int, end: int, have: int):
        """PDV items of the P-DATA-TF at [start, end) as (offset, length, context, control); None if
        they do not tile it. ``have``: where the captured bytes end (a cut PDU's last PDV may run past)."""
        out = []
        pos = start + 6
        while pos + 6 <= min(end, have):
            head = self.d.read(pos, pos + 6)
            (length,) = struct.unpack_from(">I", head, 0)
            if length < 2 or pos + 4 + length > end:
                return None
            out.append((pos, length, head[4], head[5]))
            pos += 4 + length
        if pos == end or have < end:
            return out
        return None

    def _message(self, m: _Msg, values, new_len, last_command) -> None:
        d = self.d
        raw = b"".join(d.read(f.start, f.start + f.length) for f in m.fragments)
        frame = self.frame_of(m.fragments[0].start)
        what = "command set" if m.command else "data set"
        if m.broken or not m.done:
            self._zero(m, values, f"{what} on context {m.context}, incomplete (a gap, the connection's or "
                                  f"the capture's end cut it)", frame)
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
                del raw
                command = last_command.get(m.context)
                role = ("object" if command == STORE_RQ else "identifier" if command in QUERY_COMMANDS
                        else "other")
                new = encode(self.cleaner.dataset(elems, role), codec)
                del elems
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
                body = _inflate(raw) if deflated else raw
                return codec, deflated, parse(body, codec)
            except zlib.error as e:
                error = DataSetError(f"deflated data set does not inflate: {e}")
            except (DataSetError, struct.error) as e:
                error = e
        raise DataSetError(str(error)) from None

    def _zero(self, m: _Msg, values, why: str, frame: int) -> None:
        for f in m.fragments:
            values[(f.pdu, f.pdv)] = (-1, f.length)
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
        at = self.spool.write(new)
        for k, f in enumerate(frags):
            values[(f.pdu, f.pdv)] = (at, sizes[k])
            new_len[f.pdu] += sizes[k] - f.length
            at += sizes[k]

    def _build(self, layouts, intact, values, new_len) -> None:
        d = self.d
        mp = d.map
        cur = 0
        outside = 0
        for i in range(len(d.pdu_off)):
            start = d.pdu_off[i]
            end = min(start + 6 + d.pdu_len[i], d.size)
            if start < cur:
                continue                        # overlapping PDU report: keep the first
            if start > cur:                     # bytes between PDUs (after a resync): nothing we can read
                mp.add(cur, d.new_size)
                d.piece(ZERO, 0, start - cur)
                outside += self._captured(cur, start)
            mp.add(start, d.new_size)
            lay = layouts[i]
            if d.pdu_type[i] in (1, 2):        # A-ASSOCIATE-RQ/AC: user identity secrets zeroed in place
                at = start
                for a, b in self._identity_secrets(start, end):
                    d.piece(OLD, at, a - at)
                    d.piece(ZERO, 0, b - a)
                    at = b
                d.piece(OLD, at, end - at)
            elif d.pdu_type[i] != P_DATA_TF:
                d.piece(OLD, start, end - start)
            elif not intact[i]:
                # its length kept; the PDU and PDV headers where they are known, every value zeroed
                at = min(start + 6, end)
                d.piece(OLD, start, at - start)
                for off, _length, _ctx, _ctl in lay or []:
                    head = min(off + 6, end)
                    d.piece(ZERO, 0, off - at)
                    d.piece(OLD, off, head - off)
                    at = head
                d.piece(ZERO, 0, end - at)
                if lay is None:
                    self.result.zeroed.append(Problem(self.frame_of(start), self.number,
                                                      "P-DATA-TF whose PDVs do not parse: its values"))
            else:
                spool = self.spool
                d.piece(SPOOL, spool.write(bytes((P_DATA_TF, 0)) + struct.pack(">I", new_len[i])), 6)
                for j, (off, length, ctx, control) in enumerate(lay):
                    at, size = values.get((i, j), (-1, length - 2))
                    mp.add(off, d.new_size)
                    d.piece(SPOOL, spool.write(struct.pack(">I", size + 2) + bytes((ctx, control))), 6)
                    v0, v1, n0 = off + 6, off + 4 + length, d.new_size
                    mp.add(v0, n0)
                    grow = size - (length - 2)
                    if grow > 0:                # all the growth into one segment that has room for it
                        jump = self._growth_point(v0, v1, grow)
                        if jump - 1 > v0:
                            mp.add(jump - 1, n0 + (jump - 1 - v0))
                        mp.add(jump, n0 + (jump - v0) + grow)
                    d.piece(ZERO if at < 0 else SPOOL, max(at, 0), size)
                    mp.add(v1, d.new_size)
            cur = end
            mp.add(end, d.new_size)
        if d.size > cur:
            mp.add(cur, d.new_size)
            d.piece(ZERO, 0, d.size - cur)
            outside += self._captured(cur, d.size)
        mp.add(d.size, d.new_size)
        if outside:
            self.result.zeroed.append(Problem(d.first_frame, self.number, f"{outside} captured bytes of the "
                                              f"{'client' if self._client() else 'server'} not framed as PDUs "
                                              f"(next to lost bytes)"))


def _tls_start(cap: Capture1, d: Direction) -> bool:
    """Either direction of the stream starts with a TLS handshake record (RFC 8446 §5.1)."""
    for i in (0, 1):
        x = cap.dirs.get((d.stream, i))
        if x is not None and x.size >= 3:
            head = x.read(0, 3)
            if head[0] == 0x16 and head[1] == 3 and head[2] <= 4:
                return True
    return False


def rewrite_streams(cap: Capture1, cleaner: Cleaner, spool_dir: str | None = None) -> Result:
    """New pieces and offset maps for every direction; non-DICOM TCP payload is zeroed (same length)."""
    result = Result()
    spool = Spool(spool_dir)
    for key in sorted(cap.dirs):
        d = cap.dirs[key]
        d.spool = spool
        assoc = cap.associations.get(d.stream)
        if getattr(assoc, "tls", None) is not None or (assoc is None and _tls_start(cap, d)):
            d.piece(OLD, 0, d.size)        # encrypted: nothing readable to anonymize, kept as it was
            if d.index == 0 and d.size:
                result.kept_tls.append(d.stream)
            continue
        if assoc is None:
            d.piece(ZERO, 0, d.size)
            if d.size:
                result.zeroed.append(Problem(d.first_frame, 0, f"TCP stream {d.stream} direction {d.index} "
                                             f"is not DICOM: its {d.size} payload bytes"))
            continue
        DirectionRewriter(d, assoc, cleaner, result, spool).run()
    return result
