"""PduFramer: the paths mutation testing found unasserted (tests/MUTATION.md, ``ul/framer.py``).

Each test pins exact decoded values: event order, stream offsets, frame offsets, timestamps, messages.
"""

from __future__ import annotations

import struct

from dicomsniff.field import NOTE, WARN
from dicomsniff.notice import Notice
from dicomsniff.tcp.events import StreamData, StreamGap
from dicomsniff.ul.events import PduEvent, PdvChunk, PdvLoss
from dicomsniff.ul.framer import PduFramer
from pdu_fixtures import DATA, LAST, assoc_rq, pdata, pdu, release_rp, release_rq

HDR = 54


class Feed:
    """One direction, frames 1, 2, ... with the payload at HDR and timestamp frame * 1000."""

    def __init__(self, framer: PduFramer | None = None):
        self.f = framer or PduFramer(0, 0)
        self.n = 0
        self.pos = 0

    def data(self, data: bytes, at: int | None = None) -> list:
        self.n += 1
        off = self.pos if at is None else at
        self.pos = max(self.pos, off + len(data))
        return self.f.feed(StreamData(0, 0, off, data, self.n, HDR, self.n * 1000))

    def gap(self, length: int) -> list:
        out = self.f.gap(StreamGap(0, 0, self.pos, length, self.n, self.n + 1, 7))
        self.pos += length
        return out


def kinds(evs) -> list:
    out = []
    for e in evs:
        if type(e) is PduEvent:
            out.append(("pdu", e.pdu_type, e.stream_offset, e.complete))
        elif type(e) is PdvLoss:
            out.append(("loss", e.stream_offset, e.length))
        elif type(e) is Notice:
            out.append(("notice", e.finding.severity, e.finding.code, e.message))
        elif type(e) is PdvChunk:
            out.append(("chunk", bytes(e.data), e.value_offset, e.broken, e.lost))
    return out


def test_data_past_the_framed_offset_is_a_gap_first():
    """A StreamData that starts after the next expected byte: the framer declares the hole itself."""
    fd = Feed()
    first = fd.data(release_rq())
    evs = fd.data(release_rp(), at=20)          # bytes 10..19 never delivered
    assert kinds(first) == [("pdu", 5, 0, True)]
    assert kinds(evs)[0] == ("loss", 10, 10)
    loss = evs[0]
    assert loss.frame == 2 and loss.ts_ns == 2000


def test_data_past_the_framed_offset_resyncs_on_the_next_pdu():
    fd = Feed()
    fd.data(release_rq())
    evs = fd.data(release_rp(), at=20) + fd.data(release_rq()) + fd.f.finish()
    assert kinds(evs) == [
        ("loss", 10, 10),
        ("notice", NOTE, "resync", "resynchronised at stream offset 20 (frame 2) after skipping 0 bytes"
                                   " after a gap in the capture"),
        ("pdu", 6, 20, True), ("pdu", 5, 30, True)]


def test_overlapping_data_frames_only_its_new_bytes():
    whole = release_rq() + release_rp()
    fd = Feed()
    a = fd.data(whole[:7])
    b = fd.data(whole[3:15], at=3)             # overlaps 3..6, new bytes 7..14
    c = fd.data(whole[15:])
    assert a == []
    assert kinds(b) == [("pdu", 5, 0, True)]
    assert kinds(c) == [("pdu", 6, 10, True)]
    rp = c[0]
    # The RP's first 5 bytes are frame 2's payload bytes 7.. (frame offset HDR + 7), the rest frame 3's.
    assert [(s.frame, s.frame_offset, s.length) for s in rp.spans.spans] == [(2, HDR + 7, 5), (3, HDR, 5)]
    assert fd.data(whole[:4], at=0) == []      # wholly old bytes: nothing


def test_pdu_counter_counts_every_emitted_pdu():
    fd = Feed()
    fd.data(release_rq() + pdata([(1, LAST, b"ab")]) + release_rp() + pdata([(1, LAST, b"cd")]))
    assert fd.f.pdus == 4


def test_reserved_byte_of_a_pdata_header_is_noted_with_its_value():
    fd = Feed()
    p = bytearray(pdata([(1, LAST, b"xy")]))
    p[1] = 0x5A
    (ev, *_rest) = [e for e in fd.data(bytes(p)) if type(e) is PduEvent]
    assert [(f.severity, f.code, f.message) for f in ev.findings] == [
        (NOTE, "reserved-nonzero", "reserved byte of PDU header is 0x5A")]


def test_skipped_rest_of_a_pdu_takes_its_frames_timestamp():
    """An invalid PDV length skips to the PDU end: the skipped bytes still time the PDU."""
    bad = pdu(0x04, struct.pack(">IBB", 0xFFFF, 1, 3) + b"abcdefgh")
    fd = Feed()
    assert fd.data(bad[:12]) == []
    (ev,) = fd.data(bad[12:])
    assert ev.ts_ns == 1000 and ev.end_ts_ns == 2000 and ev.complete
    assert [(f.code, f.message) for f in ev.findings] == [
        ("pdv-length-invalid", f"PDV length {0xFFFF} at PDU offset 6 does not fit the 14 bytes left in the PDU:"
                               " the rest of the PDU is skipped")]
    assert [(s.frame, s.frame_offset, s.length) for s in ev.spans.spans] == [(1, HDR, 12), (2, HDR, 8)]


def test_empty_pdv_value_chunk_points_after_its_header():
    fd = Feed()
    evs = fd.data(b"\xee" * 0 + pdata([(1, DATA, b"abc"), (3, LAST, b"")]))
    chunks = [e for e in evs if type(e) is PdvChunk]
    assert [(bytes(c.data), c.frame, c.frame_offset, c.first, c.done) for c in chunks] == [
        (b"abc", 1, HDR + 12, True, True), (b"", 1, HDR + 6 + 9 + 6, True, True)]
    assert chunks[1].pdv.context_id == 3 and chunks[1].pdv.offset == 6 + 9


def test_broken_chunk_at_the_end_points_after_the_last_byte_with_its_time():
    value = bytes(range(40))
    p = pdata([(1, DATA, value)])
    fd = Feed()
    fd.data(p[:20])
    fd.data(p[20:30])
    evs = fd.f.finish()
    broken = [e for e in evs if type(e) is PdvChunk]
    assert len(broken) == 1
    c = broken[0]
    assert (c.broken, c.lost, c.value_offset, c.frame, c.frame_offset, c.ts_ns) == (True, False, 18, 2, HDR + 10, 2000)
    (ev,) = [e for e in evs if type(e) is PduEvent]
    assert ev.complete is False and [f.message for f in ev.findings] == [
        f"stream ends inside P-DATA-TF: 30 of {len(p)} bytes present"]


def test_gap_from_one_pdv_into_the_next_loses_the_framing_from_the_first_pdv_end():
    v1, v2 = bytes(range(30)), bytes(range(100, 140))
    p = pdata([(1, DATA, v1), (3, DATA, v2)])
    # PDV 1 value at 12..41, PDV 2 header at 42..47, value 48..87; the hole 20..49 runs into PDV 2.
    fd = Feed()
    fd.data(p[:20])
    evs = fd.gap(30) + fd.data(p[50:]) + fd.data(release_rq())
    assert kinds(evs) == [("chunk", b"", 8, True, True), ("loss", 42, 8), ("pdu", 4, 0, False), ("pdu", 5, 88, True)]
    assert evs[2].lost == [(20, 30)] and [f.code for f in evs[2].findings] == ["tcp-gap"]


def test_second_gap_past_the_cut_pdv_loses_the_framing_from_its_end():
    v1, v2 = bytes(range(30)), bytes(range(100, 140))
    p = pdata([(1, DATA, v1), (3, DATA, v2)])
    fd = Feed()
    fd.data(p[:20])
    first = fd.gap(5)                           # inside PDV 1 (20..24): its rest is skipped up to 42
    mid = fd.data(p[25:30])                     # still PDV 1
    evs = fd.gap(20) + fd.data(p[50:]) + fd.data(release_rq())   # 30..49: past PDV 1's end (42)
    assert kinds(first) == [("chunk", b"", 8, True, True)]
    assert mid == []
    assert kinds(evs) == [("loss", 42, 8), ("pdu", 4, 0, False), ("pdu", 5, 88, True)]
    assert evs[1].lost == [(20, 5), (30, 20)] and [f.code for f in evs[1].findings] == ["tcp-gap"]
    assert evs[1].findings[-1].message == (
        f"capture-loss: 25 of {len(p)} bytes of this PDU are missing from the capture"
        " (stream offset+length 20+5, 30+20)")


def test_gap_between_pdus_is_a_loss_at_the_hole():
    fd = Feed()
    fd.data(release_rq())
    evs = fd.gap(33)
    assert kinds(evs) == [("loss", 10, 33)]
    assert (evs[0].frame, evs[0].ts_ns) == (2, 7)      # the frame after the hole


def test_three_gaps_in_a_row_then_the_offset_of_the_resync():
    fd = Feed()
    fd.data(release_rq())
    out = fd.gap(5) + fd.gap(6) + fd.gap(7)
    assert kinds(out) == [("loss", 10, 5)]
    evs = fd.data(release_rp() + release_rq()) + fd.f.finish()
    assert kinds(evs) == [
        ("notice", NOTE, "resync", "resynchronised at stream offset 28 (frame 2) after skipping 0 bytes"
                                   " after a gap in the capture"),
        ("pdu", 6, 28, True), ("pdu", 5, 38, True)]


def test_resync_that_never_finds_a_pdu_without_loss_is_a_note():
    fd = Feed()
    fd.data(release_rq() + pdu(0x05, b"", length=0x7FFFFFFF) + b"\xff" * 9)
    evs = fd.f.finish()
    assert kinds(evs) == [("notice", NOTE, "resync-failed", "9 bytes after frame 1 held no valid PDU")]


def test_resync_notice_names_the_frame_of_the_pdu_not_of_the_garbage_before_it():
    """The search held a candidate across frames: the frame named is the one the PDU starts in."""
    fd = Feed()
    fd.data(release_rq())
    fd.gap(4)
    fake = b"\x01\x00\x00\x00\x00\x50"           # an A-ASSOCIATE-RQ header of 80 bytes: wait for more
    assert fd.data(fake) == []
    evs = fd.data(b"\x00\x00\x00" + release_rp()) + fd.f.finish()
    assert kinds(evs) == [
        ("notice", WARN, "resync", "resynchronised at stream offset 23 (frame 3) after skipping 9 bytes"
                                   " after a gap in the capture"),
        ("pdu", 6, 23, True)]
    assert evs[0].frame == 3 and evs[1].frame == 3


def test_pdu_found_inside_a_frame_held_across_two_frames_keeps_its_first_bytes():
    fd = Feed()
    fd.data(release_rq())
    fd.gap(4)
    rp = release_rp()
    # Frame 2: a P-DATA-TF header of 32 bytes (its first PDV header not whole: wait), then the RP's first 4
    # bytes; frame 3: the rest of the RP and an RQ. The fake is judged (and dropped) only with frame 3 held.
    assert fd.data(b"\x04\x00\x00\x00\x00\x20" + rp[:4]) == []
    evs = fd.data(rp[4:] + release_rq()) + fd.f.finish()
    assert kinds(evs) == [
        ("notice", WARN, "resync", "resynchronised at stream offset 20 (frame 2) after skipping 6 bytes"
                                   " after a gap in the capture"),
        ("pdu", 6, 20, True), ("pdu", 5, 30, True)]
    assert [(s.frame, s.frame_offset, s.length) for s in evs[1].spans.spans] == [(2, HDR + 6, 4), (3, HDR, 6)]
    assert evs[1].decoded.findings == []


def test_search_accepts_an_associate_rq_after_garbage_that_is_no_header():
    fd = Feed()
    fd.data(release_rq())
    fd.gap(4)
    rq = assoc_rq()
    evs = fd.data(b"\xff\xff\xff" + rq + release_rq()) + fd.f.finish()
    ps = [e for e in evs if type(e) is PduEvent]
    assert [(p.pdu_type, p.stream_offset, p.complete) for p in ps] == [(1, 17, True), (5, 17 + len(rq), True)]
    assert ps[0].decoded.body.calling_ae == "FINDSCU"


def test_search_at_the_end_looks_past_an_associate_rq_longer_than_what_is_held():
    """A plausible A-ASSOCIATE-RQ header whose length runs past the end: not a PDU, the search goes on."""
    fd = Feed()
    fd.data(release_rq())
    fd.gap(4)
    fake = b"\x01\x00\x00\x00\x00\xc8\x00\x01" + b"\xff" * 12      # RQ of 200 bytes, protocol version 1
    evs = fd.data(fake + release_rp()) + fd.f.finish()
    assert kinds(evs) == [
        ("notice", WARN, "resync", "resynchronised at stream offset 34 (frame 2) after skipping 20 bytes"
                                   " after a gap in the capture"),
        ("pdu", 6, 34, True)]


def test_search_judges_a_candidate_as_soon_as_the_next_header_is_whole():
    fd = Feed()
    fd.data(release_rq())
    fd.gap(4)
    rp, rq = release_rp(), release_rq()
    evs = fd.data(rp + rq[:6])                 # the RP and exactly the next header: accepted now
    assert [k[:3] for k in kinds(evs)] == [("notice", NOTE, "resync"), ("pdu", 6, 14)]
    assert kinds(fd.data(rq[6:])) == [("pdu", 5, 24, True)]


def test_search_waits_for_exactly_the_six_bytes_of_the_next_header():
    fd = Feed()
    fd.data(release_rq())
    fd.gap(4)
    rp, rq = release_rp(), release_rq()
    assert fd.data(rp + rq[:3]) == []          # the next header is not whole yet
    evs = fd.data(rq[3:6])                     # now it is
    assert [k[:3] for k in kinds(evs)] == [("notice", NOTE, "resync"), ("pdu", 6, 14)]

