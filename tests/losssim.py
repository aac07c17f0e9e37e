"""Loss simulator: copies of real captures that lost TCP payload segments, as a busy host or a SPAN port loses them.

A dropped segment is simply absent from the copy (never retransmitted); every other frame,
ACKs included, is kept byte for byte, so the peer's ACKs above the hole are what tells the
reassembler bytes were lost (see ``dicomsniff/tcp/reassembly.py``). Loopback captures carry
64 KiB segments, so multi-segment PDUs need :func:`resegment` first (MSS 1448, the SPAN-port
case). All functions take a source capture (pcap or pcapng) and write a classic pcap.

API (paths are ``str`` or ``Path``)::

    resegment(src, dst, mss=1448) -> LossReport                 # nothing dropped; new frame numbers
    drop_segments(src, dst, *, rate=None, seed=0, mss=None, only=None) -> LossReport
    drop_associate_ac(src, dst, *, nth=0) -> LossReport         # the segment(s) of the nth A-ASSOCIATE-AC
    drop_pdu_header(src, dst, *, pdu_type=4, nth=0) -> LossReport   # segment(s) holding a PDU's first 6 bytes
    drop_command_pdv(src, dst, *, nth=0) -> LossReport          # segment(s) of the nth message's command set
    segments(src) -> list[Segment]                              # the payload segments, with stream offsets

``drop_segments``: ``rate`` drops each payload segment with that probability (``random.Random(seed)``);
``only`` drops exactly those frame numbers (an iterable) or the segments a predicate
``only(Segment) -> bool`` picks. With ``mss`` the source is first resegmented; the intact
resegmented copy is written beside ``dst`` (``report.intact``) and frame numbers in the report refer
to it. Segments carrying SYN, FIN or RST are never dropped (their loss is another story).

The report (:class:`LossReport`) says what was dropped: ``dropped`` (one :class:`Segment` each, with
its original frame number, flow, stream offset and length), ``frame_map`` (frame number in the
intact source → frame number in the copy, for kept frames), per-flow totals
(``by_flow()``) and ``lost_ranges(flow)`` as merged (stream offset, length) pairs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from capwriter import frame as link_frame, pcap_bytes, tcp_packet

from dicomsniff.capture.frame import FIN, RST, SYN, ip_text
from dicomsniff.capture.packet import decode_tcp
from dicomsniff.capture.reader import open_capture

_M = 0xFFFFFFFF

Flow = tuple[bytes, int, bytes, int]     # (src ip, src port, dst ip, dst port): one direction


@dataclass(slots=True)
class Segment:
    """One TCP segment with payload: ``offset`` counts from the direction's first byte (ISN + 1)."""

    frame: int
    flow: Flow
    seq: int
    offset: int
    length: int
    flags: int


@dataclass
class LossReport:
    src: str
    dst: str
    frames_in: int = 0
    frames_out: int = 0
    dropped: list[Segment] = field(default_factory=list)
    frame_map: dict[int, int] = field(default_factory=dict)
    intact: str | None = None            # the resegmented intact copy, when ``mss`` was given

    @property
    def dropped_frames(self) -> set[int]:
        return {s.frame for s in self.dropped}

    @property
    def bytes(self) -> int:
        return sum(s.length for s in self.dropped)

    def by_flow(self) -> dict[Flow, tuple[int, int]]:
        """flow → (segments dropped, bytes dropped)."""
        out: dict[Flow, tuple[int, int]] = {}
        for s in self.dropped:
            n, b = out.get(s.flow, (0, 0))
            out[s.flow] = (n + 1, b + s.length)
        return out

    def lost_ranges(self, flow: Flow) -> list[tuple[int, int]]:
        """Merged (stream offset, length) ranges the copy lacks in one direction."""
        out: list[list[int]] = []
        for s in sorted((s for s in self.dropped if s.flow == flow), key=lambda s: s.offset):
            if out and out[-1][0] + out[-1][1] >= s.offset:
                out[-1][1] = max(out[-1][1], s.offset + s.length - out[-1][0])
            else:
                out.append([s.offset, s.length])
        return [(a, b) for a, b in out]


def _read(src) -> tuple[list, int]:
    with open_capture(str(src)) as reader:
        frames = list(reader)
    links = {f.linktype for f in frames}
    if len(links) > 1:
        raise ValueError(f"{src}: several link types {sorted(links)}; losssim writes one-link pcaps")
    return frames, (links.pop() if links else 1)


def _write(dst, records: list, linktype: int) -> None:
    Path(dst).write_bytes(pcap_bytes(records, linktype, nanos=True))


def segments(src) -> list[Segment]:
    """Every TCP segment with payload in ``src``, with its stream offset (from the SYN, else the first seq)."""
    frames, _ = _read(src)
    return _segments(frames)


def _segments(frames) -> list[Segment]:
    base: dict[Flow, int] = {}
    out: list[Segment] = []
    for fr in frames:
        seg = decode_tcp(fr)
        if seg is None:
            continue
        flow = (bytes(seg.src_ip), seg.sport, bytes(seg.dst_ip), seg.dport)
        seq = seg.seq
        if seg.flags & SYN:
            base[flow] = (seq + 1) & _M
            seq = (seq + 1) & _M
        n = len(seg.payload)
        if not n:
            continue
        b = base.setdefault(flow, seq)
        out.append(Segment(fr.number, flow, seg.seq, (seq - b) & _M, n, seg.flags))
    return out


def resegment(src, dst, mss: int = 1448) -> LossReport:
    """Split every TCP payload longer than ``mss`` into ``mss``-byte segments with the right sequence numbers.

    Split segments are rebuilt (same addresses, ports, ACK, flags; FIN/PSH only on the last piece;
    link layer rebuilt for the same link type, fresh timestamps 1 ns apart); other frames are kept.
    """
    frames, linktype = _read(src)
    records = []
    rep = LossReport(str(src), str(dst), frames_in=len(frames))
    for fr in frames:
        seg = decode_tcp(fr)
        n = len(seg.payload) if seg is not None else 0
        if seg is None or n <= mss or seg.truncated or seg.flags & (SYN | RST):
            records.append((fr.ts_ns, bytes(fr.data), max(fr.orig_len, len(fr.data))))
            rep.frame_map[fr.number] = len(records)
            continue
        payload = bytes(seg.payload)
        for i in range(0, n, mss):
            last = i + mss >= n
            flags = seg.flags if last else seg.flags & ~(FIN | 0x08)
            pkt = tcp_packet(ip_text(seg.src_ip), ip_text(seg.dst_ip), seg.sport, seg.dport,
                             seq=(seg.seq + i) & _M, ack=seg.ack, flags=flags, payload=payload[i:i + mss])
            data = link_frame(linktype, pkt)
            records.append((fr.ts_ns + i // mss, data, len(data)))
        rep.frame_map[fr.number] = len(records)     # the original's last piece
    rep.frames_out = len(records)
    _write(dst, records, linktype)
    return rep


def drop_segments(src, dst, *, rate: float | None = None, seed: int = 0, mss: int | None = None,
                  only: Iterable[int] | Callable[[Segment], bool] | None = None) -> LossReport:
    """Write ``src`` without some payload segments: at random (``rate``, ``seed``) and/or exactly (``only``)."""
    intact = None
    if mss is not None:
        dst_p = Path(dst)
        intact = str(dst_p.with_name(dst_p.stem + ".intact.pcap"))
        resegment(src, intact, mss)
        src = intact
    frames, linktype = _read(src)
    rng = random.Random(seed)
    pick: Callable[[Segment], bool] | None
    if only is None:
        pick = None
    elif callable(only):
        pick = only
    else:
        wanted = set(only)
        pick = lambda s: s.frame in wanted      # noqa: E731
    drop: dict[int, Segment] = {}
    for s in _segments(frames):
        if s.flags & (SYN | FIN | RST):
            continue
        chosen = pick is not None and pick(s)
        if rate is not None and rng.random() < rate:
            chosen = True
        if chosen:
            drop[s.frame] = s
    rep = LossReport(str(src), str(dst), frames_in=len(frames), dropped=list(drop.values()), intact=intact)
    records = []
    for fr in frames:
        if fr.number in drop:
            continue
        records.append((fr.ts_ns, bytes(fr.data), max(fr.orig_len, len(fr.data))))
        rep.frame_map[fr.number] = len(records)
    rep.frames_out = len(records)
    _write(dst, records, linktype)
    return rep


def _decode(src):
    """The intact decode of ``src`` (analyzer, events): where its PDUs and messages lie."""
    from dicomsniff.pipeline import Analyzer
    from dicomsniff.reading import read_events
    an = Analyzer()
    return an, list(read_events(str(src), an))


def _pdus(src, pdu_type: int | None = None) -> list:
    from dicomsniff.pipeline import PduSeen
    return [e.pdu for e in _decode(src)[1]
            if isinstance(e, PduSeen) and (pdu_type is None or e.pdu.pdu_type == pdu_type)]


def _frames_of_bytes(pdu, lo: int, hi: int) -> set[int]:
    out = set()
    for i in range(lo, hi):
        where = pdu.spans.locate(i)
        if where is not None:
            out.add(where[0])
    return out


def drop_associate_ac(src, dst, *, nth: int = 0) -> LossReport:
    """Drop every segment holding bytes of the ``nth`` A-ASSOCIATE-AC of the capture."""
    acs = _pdus(src, 2)
    if len(acs) <= nth:
        raise ValueError(f"{src}: no A-ASSOCIATE-AC number {nth}")
    return drop_segments(src, dst, only=set(acs[nth].spans.frames))


def drop_pdu_header(src, dst, *, pdu_type: int = 4, nth: int = 0) -> LossReport:
    """Drop the segment(s) holding the first 6 bytes (the header) of the ``nth`` PDU of ``pdu_type``."""
    pdus = _pdus(src, pdu_type)
    if len(pdus) <= nth:
        raise ValueError(f"{src}: no PDU of type {pdu_type} number {nth}")
    return drop_segments(src, dst, only=_frames_of_bytes(pdus[nth], 0, 6))


def drop_command_pdv(src, dst, *, nth: int = 0) -> LossReport:
    """Drop the segment(s) carrying the command set of the ``nth`` DIMSE message of the capture."""
    from dicomsniff.pipeline import MessageSeen
    msgs = [e.message for e in _decode(src)[1] if isinstance(e, MessageSeen)]
    if len(msgs) <= nth:
        raise ValueError(f"{src}: no message number {nth}")
    return drop_segments(src, dst, only=set(msgs[nth].command_spans.frames))


@dataclass(slots=True)
class DecodedMessage:
    """A DIMSE message of a decode, in terms that survive renumbering of frames and streams."""

    flow: Flow                     # the sender's direction (src ip, port, dst ip, port)
    key: tuple                     # (command field, message id or id responded to, affected SOP instance, status)
    complete: bool
    ranges: list[tuple[int, int]]  # stream offsets (start, end) of the PDUs that carried it (intact decodes)
    message: object


def decoded_messages(src) -> tuple[list[DecodedMessage], list, list]:
    """(messages, PDU events, associations) of a decode of ``src``.

    Each message gets the stream ranges of the PDUs that carried its fragments (PDU headers and
    PDV headers included), so a test can ask whether every byte it needs survived a drop.
    """
    from dicomsniff.pipeline import AssociationOpened, MessageSeen, PduSeen
    an, events = _decode(src)
    pdus: list = []
    msgs: list[DecodedMessage] = []
    # (stream, direction, ctx) -> messages in order, then walk the PDUs to give each its ranges
    flows: dict[tuple[int, int], Flow] = {}
    queues: dict[tuple[int, int, int], list[DecodedMessage]] = {}
    assocs = []
    for e in events:
        if isinstance(e, AssociationOpened):
            assocs.append(e.association)
        elif isinstance(e, PduSeen):
            pdus.append(e.pdu)
        elif isinstance(e, MessageSeen):
            m = e.message
            a = e.association
            c, s = (a.client, a.server)
            sender, receiver = (c, s) if m.direction == a.client_dir else (s, c)
            flow = (bytes(sender.ip), sender.port, bytes(receiver.ip), receiver.port)
            flows[(m.stream, m.direction)] = flow
            cmd = m.command
            key = (None, None, None, None) if cmd is None else (
                cmd.command_field, cmd.message_id if cmd.message_id is not None else cmd.responds_to,
                cmd.affected_sop_instance_uid, cmd.status)
            dm = DecodedMessage(flow, key, m.complete, [], m)
            msgs.append(dm)
            queues.setdefault((m.stream, m.direction, m.context_id), []).append(dm)
    heads = {k: 0 for k in queues}
    for p in pdus:
        for pdv in p.pdvs:
            k = (p.stream, p.direction, pdv.context_id)
            q = queues.get(k)
            if not q or heads[k] >= len(q):
                continue
            dm = q[heads[k]]
            r = (p.stream_offset, p.stream_offset + 6 + p.length)
            if not dm.ranges or dm.ranges[-1] != r:
                dm.ranges.append(r)
            cmd = dm.message.command
            has_data = cmd is not None and cmd.has_data_set
            if pdv.is_last and (not pdv.is_command or not has_data):
                heads[k] += 1
    return msgs, pdus, assocs


def intact_after(msg: DecodedMessage, report: LossReport) -> bool:
    """True if no byte of the PDUs carrying ``msg`` was dropped."""
    lost = report.lost_ranges(msg.flow)
    return bool(msg.ranges) and not any(lo < b + n and b < hi for lo, hi in msg.ranges for b, n in lost)
