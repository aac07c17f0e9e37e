"""TcpReassembler: the paths mutation testing found unasserted (tests/MUTATION.md, ``tcp/reassembly.py``).

Each test pins exact events: offsets, lengths, frames, timestamps, close reasons and notice texts.
"""

from __future__ import annotations

from dicomsniff.capture.frame import ACK, FIN, PSH, RST, TcpSegment
from dicomsniff.notice import Notice
from dicomsniff.tcp.events import StreamClosed, StreamData, StreamGap, StreamKey, StreamOpened
from dicomsniff.tcp.reassembly import TcpReassembler
from test_tcp_reassembly import HDR, Wire


def facts(events) -> list:
    out = []
    for e in events:
        if isinstance(e, StreamData):
            out.append(("data", e.direction, e.stream_offset, bytes(e.data), e.frame, e.ts_ns))
        elif isinstance(e, StreamGap):
            out.append(("gap", e.direction, e.stream_offset, e.length, e.after_frame, e.before_frame))
        elif isinstance(e, StreamClosed):
            out.append(("closed", e.direction, e.how, e.frame, e.ts_ns))
        elif isinstance(e, Notice):
            out.append(("notice", e.where, e.finding.severity, e.finding.code, e.message, e.frame))
        elif isinstance(e, StreamOpened):
            out.append(("opened", e.stream))
    return out


def test_in_order_data_carries_its_timestamp_and_the_close_the_last_one():
    w = Wire()
    r = TcpReassembler()
    ev = r.feed(w.syn()) + r.feed(w.data(0, 0, b"abc")) + r.feed(w.data(0, 3, b"de"))
    assert facts(ev)[1:] == [("data", 0, 0, b"abc", 2, 2_000_000), ("data", 0, 3, b"de", 3, 3_000_000)]
    assert facts(r.finish()) == [("closed", 0, "eof", 3, 3_000_000), ("closed", 1, "eof", 3, 3_000_000)]


def test_a_stream_of_one_segment_closes_at_that_segments_time():
    w = Wire()
    r = TcpReassembler()
    r.feed(w.data(0, 0, b"only"))
    assert facts(r.finish()) == [("closed", 0, "eof", 1, 1_000_000), ("closed", 1, "eof", 1, 1_000_000)]


def test_gap_after_data_delivered_by_the_first_segment_names_that_frame():
    w = Wire()
    r = TcpReassembler()
    ev = r.feed(w.data(0, 0, b"abcd")) + r.feed(w.data(0, 10, b"xy")) + r.finish()
    assert [f for f in facts(ev) if f[0] == "gap"] == [("gap", 0, 4, 6, 1, 2)]


def test_truncated_segment_buffered_out_of_order_declares_the_next_hole_at_once():
    w = Wire()
    r = TcpReassembler()
    r.feed(w.syn())
    assert r.feed(w.data(0, 10, b"k" * 10, truncated=True)) == []    # buffered; really longer
    ev = r.feed(w.data(0, 0, b"a" * 10))                              # fills the front
    assert facts(ev) == [("data", 0, 0, b"a" * 10, 3, 3_000_000), ("data", 0, 10, b"k" * 10, 2, 2_000_000)]
    ev = r.feed(w.data(0, 40, b"z" * 5))
    # The snap length cut frame 2: its true end is unknown, so the hole before 40 is declared now.
    assert facts(ev) == [("gap", 0, 20, 20, 2, 4), ("data", 0, 40, b"z" * 5, 4, 4_000_000)]


def test_truncated_segment_then_fin_declares_the_rest_lost_and_closes():
    w = Wire()
    r = TcpReassembler()
    r.feed(w.syn())
    r.feed(w.data(0, 0, b"a" * 10, truncated=True))
    ev = r.feed(w.data(0, 30, b"", flags=FIN | ACK, ack=5001))
    assert facts(ev) == [("gap", 0, 10, 20, 2, 3), ("closed", 0, "fin", 3, 3_000_000)]


def test_ack_short_of_the_fin_declares_only_the_acknowledged_bytes():
    w = Wire()
    r = TcpReassembler()
    r.feed(w.syn())
    r.feed(w.data(0, 0, b"a" * 10))
    assert r.feed(w.data(0, 30, b"", flags=FIN)) == []               # FIN at 30: 10..29 not seen yet
    ev = r.feed(w.seg(1, 5001, b"", flags=ACK, ack=1001 + 20))        # the server has 0..19
    assert facts(ev) == [("gap", 0, 10, 10, 2, 3)]
    ev = r.finish()
    assert facts(ev) == [("gap", 0, 20, 10, 2, 3), ("closed", 0, "fin", 3, 3_000_000),
                         ("closed", 1, "eof", 4, 4_000_000)]


def test_finish_with_a_fin_beyond_a_hole_gaps_up_to_the_fin():
    w = Wire()
    r = TcpReassembler()
    r.feed(w.syn())
    r.feed(w.data(0, 0, b"a" * 10))
    r.feed(w.data(0, 30, b"", flags=FIN))
    ev = r.finish()
    assert facts(ev)[:2] == [("gap", 0, 10, 20, 2, 3), ("closed", 0, "fin", 3, 3_000_000)]


def test_fin_cutting_a_buffered_piece_keeps_only_the_bytes_before_it():
    w = Wire()
    r = TcpReassembler()
    r.feed(w.syn())
    r.feed(w.data(0, 20, bytes(range(20))))                           # 20..39 buffered
    r.feed(w.data(0, 30, b"", flags=FIN))                             # the FIN says the stream ends at 30
    ev = r.feed(w.data(0, 0, b"a" * 20))
    assert facts(ev) == [("data", 0, 0, b"a" * 20, 4, 4_000_000), ("data", 0, 20, bytes(range(10)), 2, 2_000_000),
                         ("closed", 0, "fin", 3, 3_000_000)]


def test_one_segment_spanning_two_buffered_pieces_fills_around_them():
    w = Wire()
    r = TcpReassembler()
    r.feed(w.syn())
    whole = bytes(range(50))
    r.feed(w.data(0, 20, whole[20:25]))
    r.feed(w.data(0, 30, whole[30:35]))
    r.feed(w.data(0, 10, whole[10:40]))                               # around and over both pieces
    ev = r.feed(w.data(0, 0, whole[:10]))
    assert [(f[2], f[3], f[4]) for f in facts(ev)] == [
        (0, whole[:10], 5), (10, whole[10:20], 4), (20, whole[20:25], 2), (25, whole[25:30], 4),
        (30, whole[30:35], 3), (35, whole[35:40], 4)]
    for e in ev:
        assert w.frames[e.frame][e.frame_offset:e.frame_offset + len(e.data)] == bytes(e.data)


def test_conflicting_bytes_over_a_later_buffered_piece_are_noted():
    w = Wire()
    r = TcpReassembler()
    r.feed(w.syn())
    r.feed(w.data(0, 20, b"A" * 10))
    ev = r.feed(w.data(0, 15, b"b" * 20))                             # 15..34: differs over 20..29
    assert facts(ev) == [("notice", "tcp", "warning", "tcp-overlap-conflict",
                          "TCP stream 0 direction 0: overlapping segment (frame 3) carries different bytes at"
                          " stream offset 20 than frame 2; the first copy is kept", 3)]


def test_rst_closes_at_the_resets_time():
    w = Wire()
    r = TcpReassembler()
    r.feed(w.syn())
    ev = r.feed(w.seg(1, 5000, flags=RST))
    assert facts(ev) == [("closed", 1, "rst", 2, 2_000_000), ("closed", 0, "rst", 2, 2_000_000)]


def test_eviction_flushes_the_held_bytes_with_their_hole_and_says_why():
    r = TcpReassembler(max_streams=1)
    w = Wire()
    r.feed(w.syn())
    r.feed(w.data(0, 0, b"aa"))
    r.feed(w.data(0, 5, b"bb"))                                        # 2..4 missing
    other = Wire(cport=7)
    other.n = 10
    ev = r.feed(other.syn())
    assert facts(ev) == [
        ("notice", "tcp", "warning", "tcp-stream-evicted",
         "TCP stream 0 evicted after 1 streams were open; it is closed here and later segments start a new stream",
         11),
        ("gap", 0, 2, 3, 2, 3), ("data", 0, 5, b"bb", 3, 3_000_000),
        ("closed", 0, "eof", 3, 3_000_000), ("closed", 1, "eof", 3, 3_000_000), ("opened", 1)]


def test_new_syn_on_an_open_stream_closes_it_at_its_last_frame_and_says_so():
    r = TcpReassembler()
    w = Wire()
    r.feed(w.syn())
    r.feed(w.data(0, 0, b"abc"))
    r.feed(w.seg(1, 5001, b"xy", flags=PSH | ACK, ack=1004))
    w.isn[0] = 777
    ev = r.feed(w.syn())
    assert facts(ev) == [
        ("notice", "tcp", "note", "tcp-port-reuse", "new SYN on the 4-tuple of open TCP stream 0; that stream ends here", 4),
        ("closed", 0, "eof", 2, 4_000_000), ("closed", 1, "eof", 3, 4_000_000), ("opened", 1)]


def test_unknown_stream_key_is_the_empty_key():
    assert TcpReassembler().stream_key(99) == StreamKey(b"", 0, b"", 0)


def test_tombstones_default_to_twice_the_stream_bound():
    r = TcpReassembler(max_streams=3)
    assert r.max_tombstones == 6
    wires = [Wire(cport=3000 + i) for i in range(4)]
    for i, w in enumerate(wires):
        w.n = 10 * i
        r.feed(w.syn())
        r.ignore(i)
    # Four ignored streams, room for three (two 4-tuples each): the first is forgotten, the others still dropped.
    assert r.feed(wires[0].data(0, 0, b"x")) != []
    assert r.feed(wires[1].data(0, 0, b"x")) == []


def test_malformed_segment_with_a_non_integer_frame_is_reported_at_frame_zero():
    r = TcpReassembler()
    bad = TcpSegment("seven", 1, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), 1, 2, None, 0, ACK,
                     b"xx", HDR)   # type: ignore[arg-type]
    ev = r.feed(bad)
    notes = [e for e in ev if isinstance(e, Notice)]
    assert len(notes) == 1 and notes[0].finding.code == "tcp-bad-segment" and notes[0].frame == 0

