"""TcpReassembler: order, retransmission, overlap, wrap-around, gaps, closes, bounds."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as hs

from dicomsniff.capture.frame import ACK, FIN, PSH, RST, SYN, TcpSegment
from dicomsniff.notice import Notice
from dicomsniff.tcp.events import StreamClosed, StreamData, StreamGap, StreamKey, StreamOpened
from dicomsniff.tcp.reassembly import TcpReassembler

CLIENT = bytes([10, 0, 0, 1])
SERVER = bytes([10, 0, 0, 2])
CPORT, SPORT = 40001, 104
HDR = 54                      # payload offset inside the synthetic frames


class Wire:
    """Builds segments of one connection and remembers each frame's bytes.

    Data segments carry no ACK flag unless a test says so: the ACK field is
    only meaningful where a test sets it.
    """

    def __init__(self, cport: int = CPORT, client_isn: int = 1000, server_isn: int = 5000):
        self.cport = cport
        self.isn = {0: client_isn, 1: server_isn}
        self.frames: dict[int, bytes] = {}
        self.n = 0

    def seg(self, direction: int, seq: int, payload: bytes = b"", flags: int = PSH,
            ack: int = 0, truncated: bool = False) -> TcpSegment:
        self.n += 1
        data = bytes([self.n & 0xFF]) * HDR + payload
        self.frames[self.n] = data
        src, sport, dst, dport = ((CLIENT, self.cport, SERVER, SPORT) if direction == 0
                                  else (SERVER, SPORT, CLIENT, self.cport))
        return TcpSegment(self.n, self.n * 1_000_000, src, dst, sport, dport, seq & 0xFFFFFFFF,
                          ack & 0xFFFFFFFF, flags, memoryview(data)[HDR:], HDR, truncated)

    def syn(self) -> TcpSegment:
        return self.seg(0, self.isn[0], flags=SYN)

    def data(self, direction: int, offset: int, payload: bytes, **kw) -> TcpSegment:
        """A data segment at stream ``offset`` of ``direction`` (after the handshake ISN)."""
        return self.seg(direction, self.isn[direction] + 1 + offset, payload, **kw)


def run(r: TcpReassembler, segs, finish: bool = True) -> list:
    out = []
    for s in segs:
        out.extend(r.feed(s))
    if finish:
        out.extend(r.finish())
    return out


def of(events, cls, stream: int | None = None, direction: int | None = None) -> list:
    return [e for e in events if isinstance(e, cls)
            and (stream is None or e.stream == stream)
            and (direction is None or getattr(e, "direction", direction) == direction)]


def joined(events, direction: int = 0, stream: int = 0) -> bytes:
    return b"".join(bytes(e.data) for e in of(events, StreamData, stream, direction))


def check_offsets(events, wire: Wire) -> None:
    """Every StreamData points at its own bytes in its frame, and offsets are contiguous."""
    expect: dict[tuple[int, int], int] = {}
    for e in events:
        if isinstance(e, StreamData):
            frame = wire.frames[e.frame]
            assert frame[e.frame_offset:e.frame_offset + len(e.data)] == bytes(e.data)
            assert e.frame_offset >= HDR
            k = (e.stream, e.direction)
            assert e.stream_offset == expect.get(k, 0)
            expect[k] = e.stream_offset + len(e.data)
        elif isinstance(e, StreamGap):
            k = (e.stream, e.direction)
            assert e.stream_offset == expect.get(k, 0) and e.length > 0
            expect[k] = e.stream_offset + e.length


def chunks(data: bytes, size: int) -> list[tuple[int, bytes]]:
    return [(i, data[i:i + size]) for i in range(0, len(data), size)]


MSG = bytes(range(256)) * 8          # 2048 bytes


def test_in_order_delivery_passes_payload_views_through():
    w = Wire()
    r = TcpReassembler()
    segs = [w.syn(), w.seg(1, 5000, flags=SYN | ACK, ack=1001)]
    segs += [w.data(0, off, part) for off, part in chunks(MSG, 100)]
    ev = run(r, segs, finish=False)
    opened = of(ev, StreamOpened)
    assert len(opened) == 1 and opened[0].handshake_seen and opened[0].stream == 0
    assert opened[0].key == StreamKey(CLIENT, CPORT, SERVER, SPORT)
    assert r.stream_key(0) == opened[0].key
    data = of(ev, StreamData)
    assert len(data) == len(segs) - 2
    assert all(e.data is s.payload for e, s in zip(data, segs[2:]))    # no copy on the fast path
    assert joined(ev) == MSG
    check_offsets(ev, w)
    closes = of(r.finish(), StreamClosed)
    assert sorted((c.direction, c.how) for c in closes) == [(0, "eof"), (1, "eof")]


def test_pure_ack_costs_nothing():
    w = Wire()
    r = TcpReassembler()
    run(r, [w.syn(), w.data(0, 0, b"abc")], finish=False)
    assert r.feed(w.seg(1, 5001, ack=1004, flags=ACK)) == []


def test_reversed_and_shuffled_give_same_bytes_and_offsets():
    parts = chunks(MSG, 97)
    results = []
    for order in ("forward", "reversed", "shuffled"):
        w = Wire()
        segs = [w.data(0, off, part) for off, part in parts]
        if order == "reversed":
            segs.reverse()
        elif order == "shuffled":
            random.Random(7).shuffle(segs)
        ev = run(TcpReassembler(), [w.syn()] + segs)
        check_offsets(ev, w)
        assert not of(ev, StreamGap) and not of(ev, Notice)
        results.append((joined(ev), [(e.stream_offset, len(e.data)) for e in of(ev, StreamData)]))
    assert results[0][0] == results[1][0] == results[2][0] == MSG
    assert results[0][1] == results[1][1] == results[2][1]


def test_duplicates_and_retransmissions_dropped():
    w = Wire()
    a, b, c = w.data(0, 0, b"hello "), w.data(0, 6, b"big "), w.data(0, 10, b"world")
    dup_a, dup_c = w.data(0, 0, b"hello "), w.data(0, 10, b"world")
    ev = run(TcpReassembler(), [w.syn(), a, dup_a, c, b, dup_c, w.data(0, 6, b"big ")])
    assert joined(ev) == b"hello big world"
    assert [e.frame for e in of(ev, StreamData)] == [a.frame, b.frame, c.frame]
    assert not of(ev, Notice)
    check_offsets(ev, w)


def test_partial_overlaps_trimmed_to_new_bytes():
    w = Wire()
    segs = [w.syn(), w.data(0, 0, MSG[0:10]),
            w.data(0, 5, MSG[5:20]),          # overlaps delivered bytes
            w.data(0, 30, MSG[30:40]),        # out of order
            w.data(0, 25, MSG[25:45]),        # overlaps the buffered piece on both sides
            w.data(0, 15, MSG[15:50])]        # fills the hole and overlaps everything
    ev = run(TcpReassembler(), segs)
    assert joined(ev) == MSG[:50]
    check_offsets(ev, w)
    assert not of(ev, Notice) and not of(ev, StreamGap)
    spans = [(e.frame, e.stream_offset, len(e.data)) for e in of(ev, StreamData)]
    assert spans[:2] == [(2, 0, 10), (3, 10, 10)]
    assert (6, 20, 5) in spans and (5, 25, 5) in spans and (4, 30, 10) in spans
    assert (5, 40, 5) in spans and (6, 45, 5) in spans


def test_conflicting_overlap_noted_once_and_first_copy_kept():
    w = Wire()
    segs = [w.syn(), w.data(0, 10, b"AAAAAAAAAA"), w.data(0, 10, b"BBBBBBBBBB"),
            w.data(0, 15, b"CCCCCCCCCC"), w.data(0, 0, b"0123456789")]
    ev = run(TcpReassembler(), segs)
    notes = of(ev, Notice)
    assert len(notes) == 1 and notes[0].finding.code == "tcp-overlap-conflict"
    assert notes[0].frame == 3
    assert joined(ev) == b"0123456789" + b"A" * 10 + b"C" * 5


def test_sequence_wrap_around():
    isn = 0xFFFFFFFF - 150           # data crosses 2^32 after 149 bytes
    w = Wire(client_isn=isn, server_isn=0xFFFFFFF0)
    parts = chunks(MSG, 64)
    segs = [w.data(0, off, p) for off, p in parts]
    random.Random(3).shuffle(segs)
    reply = [w.data(1, off, p) for off, p in chunks(MSG[:300], 50)]
    ev = run(TcpReassembler(), [w.syn(), w.seg(1, 0xFFFFFFF0, flags=SYN | ACK, ack=isn + 1)]
             + segs + reply)
    assert joined(ev, 0) == MSG
    assert joined(ev, 1) == MSG[:300]
    assert not of(ev, StreamGap)
    check_offsets(ev, w)


def test_wrap_around_far_beyond_4gib_offsets():
    r = TcpReassembler()
    block = memoryview(b"x" * 60000)
    isn = 123

    def seg(frame: int, offset: int, payload) -> TcpSegment:
        return TcpSegment(frame, frame, CLIENT, SERVER, CPORT, SPORT, (isn + 1 + offset) & 0xFFFFFFFF,
                          0, PSH, payload, HDR)

    r.feed(TcpSegment(1, 1, CLIENT, SERVER, CPORT, SPORT, isn, 0, SYN, b"", HDR))
    total = 0
    for frame in range(2, 80002):       # 4.8 GB of stream: more than one wrap of 2^32
        ev = r.feed(seg(frame, total, block))
        assert len(ev) == 1 and ev[0].stream_offset == total
        total += len(block)
    assert total > 1 << 32
    assert r.feed(seg(90000, total + 10, b"later")) == []
    assert r.feed(seg(90001, total - 5, b"dup")) == []
    ev = r.feed(seg(90002, total, b"0123456789"))
    assert [(e.stream_offset, bytes(e.data)) for e in ev] == [(total, b"0123456789"),
                                                              (total + 10, b"later")]


def test_missing_segment_gives_one_gap_then_data_continues():
    w = Wire()
    parts = chunks(MSG, 100)
    segs = [w.syn()] + [w.data(0, off, p) for off, p in parts if off != 300]
    ev = run(TcpReassembler(), segs)
    gaps = of(ev, StreamGap)
    assert len(gaps) == 1
    g = gaps[0]
    assert (g.stream_offset, g.length) == (300, 100)
    assert g.after_frame == 4 and g.before_frame == 5      # frames holding offsets 200 and 400
    assert joined(ev) == MSG[:300] + MSG[400:]
    check_offsets(ev, w)
    closed = of(ev, StreamClosed, 0, 0)
    assert closed[0].how == "eof" and ev.index(g) < ev.index(closed[0])


def test_peer_ack_beyond_hole_declares_gap_immediately():
    w = Wire()
    r = TcpReassembler()
    run(r, [w.syn(), w.seg(1, 5000, flags=SYN | ACK, ack=1001), w.data(0, 0, b"a" * 10)],
        finish=False)
    lost = w.data(0, 10, b"b" * 10)     # never fed: lost by the capture
    ev = r.feed(w.data(0, 20, b"c" * 10))
    assert of(ev, StreamData) == [] and of(ev, StreamGap) == []
    assert r.feed(w.seg(1, 5001, ack=1001 + 10, flags=ACK)) == []     # ACK below the hole
    ev = r.feed(w.seg(1, 5001, ack=1001 + 30, flags=ACK))
    gaps = of(ev, StreamGap)
    assert [(g.stream_offset, g.length, g.after_frame, g.before_frame) for g in gaps] == \
        [(10, 10, 3, lost.frame + 1)]
    assert [bytes(e.data) for e in of(ev, StreamData)] == [b"c" * 10]


def test_ack_seen_before_out_of_order_data_gaps_on_arrival():
    w = Wire()
    r = TcpReassembler()
    run(r, [w.syn(), w.data(0, 0, b"a" * 10), w.seg(1, 5001, ack=1001 + 20, flags=ACK)],
        finish=False)
    ev = r.feed(w.data(0, 20, b"c" * 10))
    assert [(type(e).__name__, e.stream_offset) for e in ev] == [("StreamGap", 10), ("StreamData", 20)]


def test_mid_stream_capture_without_handshake():
    w = Wire()
    first = w.data(1, 777, b"server-talks-first")      # capture starts mid-stream
    ev = run(TcpReassembler(), [first, w.data(0, 50, b"client"), w.data(1, 795, b"-more"),
                                w.data(0, 56, b"-again")])
    opened = of(ev, StreamOpened)[0]
    assert not opened.handshake_seen
    assert opened.key == StreamKey(SERVER, SPORT, CLIENT, CPORT)    # first sender is direction 0
    assert joined(ev, 0) == b"server-talks-first-more"
    assert joined(ev, 1) == b"client-again"
    assert of(ev, StreamData)[0].stream_offset == 0
    check_offsets(ev, w)


def test_synack_first_makes_its_receiver_the_client():
    w = Wire()
    ev = run(TcpReassembler(), [w.seg(1, 5000, flags=SYN | ACK, ack=1001), w.data(0, 0, b"req"),
                                w.data(1, 0, b"rsp")])
    opened = of(ev, StreamOpened)[0]
    assert opened.handshake_seen and opened.key == StreamKey(CLIENT, CPORT, SERVER, SPORT)
    assert joined(ev, 0) == b"req" and joined(ev, 1) == b"rsp"


def test_fin_closes_after_all_data_even_if_fin_comes_first():
    w = Wire()
    r = TcpReassembler()
    segs = [w.syn(), w.data(0, 5, b"world", flags=ACK | FIN), w.data(0, 0, b"hello")]
    ev = run(r, segs, finish=False)
    kinds = [type(e).__name__ for e in ev]
    assert kinds == ["StreamOpened", "StreamData", "StreamData", "StreamClosed"]
    assert ev[-1].how == "fin" and ev[-1].direction == 0 and ev[-1].frame == 2
    assert joined(ev) == b"helloworld"
    assert r.feed(w.data(0, 10, b"after-fin")) == []
    ev = r.feed(w.seg(1, 5001, flags=FIN | ACK, ack=1001 + 11))
    assert [(e.direction, e.how) for e in of(ev, StreamClosed)] == [(1, "fin")]
    assert r.finish() == []


def test_fin_after_a_lost_segment_gaps_when_the_fin_is_acked():
    w = Wire()
    r = TcpReassembler()
    run(r, [w.syn(), w.data(0, 0, b"abc")], finish=False)
    ev = r.feed(w.data(0, 10, b"", flags=ACK | FIN))           # bytes 3..10 never seen
    assert ev == []
    ev = r.feed(w.seg(1, 5001, flags=ACK, ack=1001 + 11))
    assert [(type(e).__name__) for e in ev] == ["StreamGap", "StreamClosed"]
    assert (ev[0].stream_offset, ev[0].length) == (3, 7) and ev[1].how == "fin"


def test_rst_closes_both_directions_after_buffered_data():
    w = Wire()
    r = TcpReassembler()
    ev = run(r, [w.syn(), w.data(0, 0, b"aaa"), w.data(0, 6, b"ccc"), w.data(1, 0, b"srv"),
                 w.seg(1, 5001 + 3, flags=RST | ACK, ack=1001 + 3)], finish=False)
    assert joined(ev, 0) == b"aaaccc" and joined(ev, 1) == b"srv"
    g = of(ev, StreamGap)
    assert [(x.stream_offset, x.length) for x in g] == [(3, 3)]
    assert sorted((c.direction, c.how) for c in of(ev, StreamClosed)) == [(0, "rst"), (1, "rst")]
    assert ev.index(g[0]) < ev.index(of(ev, StreamClosed)[0])
    assert r.feed(w.data(0, 9, b"late")) == [] and r.finish() == []


def test_finish_reports_trailing_loss_known_from_ack():
    w = Wire()
    r = TcpReassembler()
    run(r, [w.syn(), w.data(0, 0, b"abc"), w.seg(1, 5001, flags=ACK, ack=1001 + 8)], finish=False)
    ev = r.finish()
    gaps = of(ev, StreamGap)
    assert [(x.direction, x.stream_offset, x.length, x.after_frame, x.before_frame) for x in gaps] \
        == [(0, 3, 5, 2, 0)]


def test_port_reuse_after_fin_starts_new_stream():
    w = Wire()
    r = TcpReassembler()
    first = [w.syn(), w.data(0, 0, b"one", flags=ACK | FIN),
             w.seg(1, 5001, flags=ACK | FIN, ack=1005), w.seg(0, 1005, flags=ACK, ack=5002)]
    ev = run(r, first, finish=False)
    assert len(of(ev, StreamClosed)) == 2
    w2 = Wire(client_isn=90000, server_isn=70000)
    w2.n = w.n
    ev = run(r, [w2.syn(), w2.data(0, 0, b"two")], finish=False)
    opened = of(ev, StreamOpened)
    assert [o.stream for o in opened] == [1] and opened[0].handshake_seen
    assert joined(ev, 0, 1) == b"two"
    assert r.stream_key(0) == r.stream_key(1)
    assert r.feed(w2.syn()) == []       # a retransmitted SYN is the same stream


def test_new_syn_on_open_stream_closes_it_and_starts_another():
    w = Wire()
    r = TcpReassembler()
    run(r, [w.syn(), w.data(0, 0, b"one")], finish=False)
    ev = r.feed(w.seg(0, 424242, flags=SYN))
    assert [type(e).__name__ for e in ev] == ["Notice", "StreamClosed", "StreamClosed", "StreamOpened"]
    assert ev[-1].stream == 1 and {e.how for e in of(ev, StreamClosed)} == {"eof"}


def test_ignore_drops_segments_until_a_new_syn():
    w = Wire()
    r = TcpReassembler()
    run(r, [w.syn(), w.data(0, 0, b"not dicom"), w.data(0, 20, b"buffered")], finish=False)
    r.ignore(0)
    assert r.stream_count == 0
    assert r.feed(w.data(0, 9, b"more")) == []
    assert r.feed(w.data(1, 0, b"reply")) == []
    assert r.finish() == []
    w2 = Wire(client_isn=1)
    w2.n = w.n
    ev = r.feed(w2.syn())
    assert [o.stream for o in of(ev, StreamOpened)] == [1]
    r.ignore(12345)                      # unknown streams are fine


def test_tombstones_are_bounded():
    r = TcpReassembler(max_tombstones=4)
    for port in range(10):
        w = Wire(cport=1000 + port)
        r.feed(w.data(0, 0, b"x"))
        r.ignore(port)
    assert len(r._tomb) <= 4


def test_buffer_bound_forces_gap_instead_of_growing():
    w = Wire()
    r = TcpReassembler(max_buffer_per_direction=250)
    ev = run(r, [w.syn(), w.data(0, 0, b"a" * 100)], finish=False)
    ev = []
    for off in (200, 300, 400):           # offset 100..200 never comes
        ev += r.feed(w.data(0, off, bytes([off // 100]) * 100))
    gaps = of(ev, StreamGap)
    assert [(g.stream_offset, g.length) for g in gaps] == [(100, 100)]
    assert [n.finding.code for n in of(ev, Notice)] == ["tcp-buffer-limit"]
    assert joined(ev) == b"\x02" * 100 + b"\x03" * 100 + b"\x04" * 100
    d = r._streams[0].dirs[0]
    assert d.held == 0 and not d.pending


def test_truncated_segment_gap_declared_at_next_segment():
    w = Wire()
    r = TcpReassembler()
    run(r, [w.syn(), w.data(0, 0, b"a" * 40, truncated=True)], finish=False)   # really 100 bytes
    ev = r.feed(w.data(0, 100, b"b" * 10))
    assert [(type(e).__name__, e.stream_offset) for e in ev] == [("StreamGap", 40), ("StreamData", 100)]


def test_streams_numbered_in_order_of_appearance_and_lru_eviction():
    r = TcpReassembler(max_streams=3)
    wires = [Wire(cport=2000 + i) for i in range(4)]
    for i, w in enumerate(wires):
        w.n = 10 * i
    ev = []
    for w in wires[:3]:
        ev += r.feed(w.syn())
    ev += r.feed(wires[0].data(0, 0, b"!"))     # stream 0 is now more recent than stream 1
    ev4 = r.feed(wires[3].syn())
    assert [o.stream for o in of(ev, StreamOpened)] == [0, 1, 2]
    notes = of(ev4, Notice)
    assert len(notes) == 1 and notes[0].finding.code == "tcp-stream-evicted"
    assert sorted((c.stream, c.direction, c.how) for c in of(ev4, StreamClosed)) == \
        [(1, 0, "eof"), (1, 1, "eof")]
    assert [o.stream for o in of(ev4, StreamOpened)] == [3]
    assert r.stream_count == 3 and 1 not in r._streams
    assert r.stream_key(1).a_port == 2001
    assert r.feed(wires[1].data(0, 0, b"late")) != []          # comes back as a new stream
    assert of(r.feed(wires[0].data(0, 1, b"?")), StreamData)   # stream 0 survived


def test_evicting_closed_streams_is_silent():
    r = TcpReassembler(max_streams=1)
    w = Wire()
    run(r, [w.syn(), w.seg(0, 1001, flags=RST)], finish=False)
    ev = r.feed(Wire(cport=9).syn())
    assert [type(e).__name__ for e in ev] == ["StreamOpened"]


def test_ipv6_and_both_orientations_map_to_one_stream():
    a, b = bytes(15) + b"\x01", bytes(15) + b"\x02"
    r = TcpReassembler()
    s1 = TcpSegment(1, 1, a, b, 5, 104, 10, 0, SYN, b"", 74)
    s2 = TcpSegment(2, 2, b, a, 104, 5, 99, 11, SYN | ACK, b"", 74)
    s3 = TcpSegment(3, 3, bytearray(a), b, 5, 104, 11, 100, ACK, memoryview(bytearray(b"hi")), 74)
    ev = run(r, [s1, s2, s3])
    assert len(of(ev, StreamOpened)) == 1
    assert [(e.direction, bytes(e.data)) for e in of(ev, StreamData)] == [(0, b"hi")]


def test_malformed_segment_gives_notice_not_exception():
    r = TcpReassembler()
    bad = TcpSegment(1, 1, CLIENT, SERVER, 1, 2, None, 0, ACK, b"xx", 54)   # type: ignore[arg-type]
    ev = r.feed(bad)
    assert all(isinstance(e, (Notice, StreamOpened)) for e in ev)
    assert any(isinstance(e, Notice) and e.finding.code == "tcp-bad-segment" for e in ev)


@settings(max_examples=200, deadline=None)
@given(data=hs.binary(min_size=1, max_size=3000),
       pieces=hs.integers(min_value=1, max_value=60),
       seed=hs.integers(min_value=0, max_value=2**32 - 1),
       isn=hs.integers(min_value=0, max_value=2**32 - 1),
       dups=hs.integers(min_value=0, max_value=30),
       with_fin=hs.booleans())
def test_property_any_segmentation_order_duplication(data, pieces, seed, isn, dups, with_fin):
    """No losses: any segmentation, order and duplication gives back the bytes, right frames."""
    rnd = random.Random(seed)
    w = Wire(client_isn=isn)
    segs = split(data, rnd, pieces)
    for _ in range(dups):                 # duplicates and overlapping retransmissions
        lo = rnd.randrange(len(data))
        hi = rnd.randrange(lo + 1, len(data) + 1)
        segs.append((lo, hi))
    rnd.shuffle(segs)
    packets = [w.syn()]
    for i, (lo, hi) in enumerate(segs):
        last = with_fin and hi == len(data) and i == len(segs) - 1
        packets.append(w.data(0, lo, data[lo:hi], flags=ACK | (FIN if last else 0)))
    r = TcpReassembler()
    ev = run(r, packets)
    assert joined(ev) == data
    assert not of(ev, StreamGap) and not of(ev, Notice)
    check_offsets(ev, w)
    closes = of(ev, StreamClosed, 0, 0)
    assert len(closes) == 1 and closes[0].how == ("fin" if with_fin and segs[-1][1] == len(data)
                                                   else "eof")


def split(data: bytes, rnd: random.Random, pieces: int) -> list[tuple[int, int]]:
    """Random segmentation of ``data`` into at most ``pieces`` segments."""
    cuts = {rnd.randrange(1, len(data)) for _ in range(pieces - 1)} if len(data) > 1 else set()
    bounds = sorted({0, len(data), *cuts})
    return list(zip(bounds, bounds[1:]))


@settings(max_examples=150, deadline=None)
@given(data=hs.binary(min_size=1, max_size=3000),
       pieces=hs.integers(min_value=1, max_value=60),
       seed=hs.integers(min_value=0, max_value=2**32 - 1),
       isn=hs.integers(min_value=0, max_value=2**32 - 1))
def test_property_acks_of_received_bytes_never_cause_gaps(data, pieces, seed, isn):
    """Mild reordering plus ACKs of the contiguous prefix already captured: no gap, same bytes."""
    rnd = random.Random(seed)
    segs = split(data, rnd, pieces)
    for i in range(len(segs) - 1):                # swap neighbours now and then
        if rnd.random() < 0.3:
            segs[i], segs[i + 1] = segs[i + 1], segs[i]
    w = Wire(client_isn=isn)
    r = TcpReassembler()
    ev = r.feed(w.syn()) + r.feed(w.seg(1, 5000, flags=SYN | ACK, ack=isn + 1))
    have: set[tuple[int, int]] = set()
    for lo, hi in segs:
        ev += r.feed(w.data(0, lo, data[lo:hi], flags=ACK | PSH, ack=5001))
        have.add((lo, hi))
        prefix = 0
        for a, b in sorted(have):
            if a <= prefix:
                prefix = max(prefix, b)
        if rnd.random() < 0.5:
            ev += r.feed(w.seg(1, 5001, flags=ACK, ack=isn + 1 + prefix))
    ev += r.finish()
    assert joined(ev) == data
    assert not of(ev, StreamGap)
    check_offsets(ev, w)


@settings(max_examples=200, deadline=None)
@given(data=hs.binary(min_size=1, max_size=3000),
       pieces=hs.integers(min_value=1, max_value=60),
       seed=hs.integers(min_value=0, max_value=2**32 - 1),
       isn=hs.integers(min_value=0, max_value=2**32 - 1),
       bound=hs.sampled_from([0, 100, 1000, 4 << 20]))
def test_property_losses_become_gaps_and_delivered_bytes_are_right(data, pieces, seed, isn, bound):
    """Lost, reordered, duplicated segments and peer ACKs: every byte delivered is the right byte.

    The receiver is modelled as having every byte the sender sent before the
    earliest captured-but-not-yet-seen segment, so its ACKs only ever cover
    bytes the capture lost; with an ample buffer every captured byte is delivered.
    """
    rnd = random.Random(seed)
    segs = split(data, rnd, pieces)
    kept = [s for s in segs if rnd.random() < 0.7] + [s for s in segs if rnd.random() < 0.1]
    rnd.shuffle(kept)
    w = Wire(client_isn=isn)
    r = TcpReassembler(max_buffer_per_direction=bound)
    ev = r.feed(w.syn())
    sent_hi = 0
    for i, (lo, hi) in enumerate(kept):
        ev += r.feed(w.data(0, lo, data[lo:hi]))
        sent_hi = max(sent_hi, hi)
        if rnd.random() < 0.3:
            ack = min([sent_hi] + [a for a, _ in kept[i + 1:]])
            ev += r.feed(w.seg(1, 5001, flags=ACK, ack=isn + 1 + ack))
    ev += r.finish()
    check_offsets(ev, w)
    for e in of(ev, StreamData):
        assert bytes(e.data) == data[e.stream_offset:e.stream_offset + len(e.data)]
    for g in of(ev, StreamGap):
        assert g.after_frame in w.frames or g.after_frame == 0
        assert g.before_frame in w.frames or g.before_frame == 0
    if bound >= len(data):
        covered = bytearray(len(data))
        for e in of(ev, StreamData):
            covered[e.stream_offset:e.stream_offset + len(e.data)] = b"\x01" * len(e.data)
        for lo, hi in kept:
            assert all(covered[lo:hi]), (lo, hi)
        assert not of(ev, Notice)
    else:
        assert {n.finding.code for n in of(ev, Notice)} <= {"tcp-buffer-limit"}
    assert [c.how for c in of(ev, StreamClosed, 0, 0)] == ["eof"]


def test_synack_first_then_the_clients_second_segment_first():
    # The capture starts at the SYN-ACK and holds the client's second data segment before its first:
    # the SYN-ACK's ACK gives the client's stream offset 0, so both land in place (nothing is dropped
    # as a retransmission, nothing is a gap).
    w = Wire()
    synack = w.seg(1, 5000, flags=SYN | ACK, ack=1001)
    ev = run(TcpReassembler(), [synack, w.data(0, 3, b"lo-world"), w.data(0, 0, b"hel"), w.data(1, 0, b"rsp")])
    assert joined(ev, 0) == b"hello-world" and joined(ev, 1) == b"rsp"
    assert of(ev, StreamGap) == []
    assert [e.stream_offset for e in of(ev, StreamData, direction=0)] == [0, 3]
    check_offsets(ev, w)
