"""PduFramer (PS3.8 §9.3.1): framing by PDU length across any segmentation, PDV streaming, resync."""

import os
import re
import signal
import struct
import tracemalloc
import zlib
from contextlib import contextmanager

import pytest
from hypothesis import given, settings, strategies as st

from dicomsniff.notice import Notice
from dicomsniff.tcp.events import StreamData, StreamGap
from dicomsniff.ul.events import PduEvent, PdvChunk, PdvLoss
from dicomsniff.ul.dissect import dissect_pdu
from dicomsniff.ul.framer import BODY, HEADER, PDATA, RESYNC, PduFramer
from pdu_fixtures import (COMMAND, DATA, LAST, VERIFICATION, CT_STORAGE, IMPLICIT_LE, abort, assoc_ac, assoc_rq,
                          pdata, pdu, release_rp, release_rq)

HDR = 54          # bytes of link/IP/TCP headers before the payload in each "frame"


class Feeder:
    """Feeds pieces of one direction as frames 1, 2, ... (payload at HDR in each) and keeps the frames."""

    def __init__(self, framer: PduFramer | None = None, keep_frames: bool = True):
        self.f = framer or PduFramer(0, 0)
        self.keep_frames = keep_frames
        self.frames: dict[int, bytes] = {}
        self.starts: dict[int, int] = {}     # frame -> stream offset of its first payload byte
        self.next_frame = 1
        self.pos = 0

    def feed(self, data: bytes) -> list:
        n = self.next_frame
        self.next_frame += 1
        if self.keep_frames:
            self.frames[n] = bytes(HDR) + data
        self.starts[n] = self.pos
        ev = StreamData(0, 0, self.pos, data, n, HDR, n * 1000)
        self.pos += len(data)
        return self.f.feed(ev)

    def gap(self, length: int) -> list:
        out = self.f.gap(StreamGap(0, 0, self.pos, length, self.next_frame - 1, self.next_frame, 0))
        self.pos += length
        return out

    def all(self, pieces) -> list:
        out = []
        for p in pieces:
            out += self.feed(p)
        return out + self.f.finish()

    def stream_ranges(self, spans) -> list[tuple[int, int]]:
        """A span map as merged (stream offset, length) ranges: the same whatever the segmentation."""
        out: list[list[int]] = []
        for s in spans.spans:
            off = self.starts[s.frame] + s.frame_offset - HDR
            if out and out[-1][0] + out[-1][1] == off:
                out[-1][1] += s.length
            else:
                out.append([off, s.length])
        return [tuple(r) for r in out]


def summary(fd: Feeder, events: list) -> list:
    """Events as segmentation-independent facts; PDV values concatenated per PDV."""
    out, values = [], {}
    for e in events:
        if type(e) is PdvChunk:
            key = id(e.pdv)
            if key not in values:
                values[key] = [e.pdv.context_id, e.pdv.control, b""]
                out.append(("pdv", values[key]))
            assert e.value_offset == len(values[key][2]) or e.broken
            values[key][2] += bytes(e.data)
            if e.broken:
                values[key].append("broken")
        elif type(e) is PduEvent:
            out.append(("pdu", e.pdu_type, e.length, e.stream_offset, e.complete,
                        [f.code for f in e.findings], fd.stream_ranges(e.spans),
                        [(p.offset, p.length, p.context_id, p.control) for p in e.pdvs]))
        else:
            assert type(e) is Notice
            out.append(("notice", e.finding.code, re.sub(r"\(frame \d+\)", "", e.message)))
    return [(o[0], tuple(o[1])) if o[0] == "pdv" else o for o in out]


def pdus(events) -> list[PduEvent]:
    return [e for e in events if type(e) is PduEvent]


def codes(ev: PduEvent) -> list[str]:
    return [f.code for f in ev.findings]


def chunks_by_pdv(events) -> list[bytes]:
    vals: dict[int, bytes] = {}
    for e in events:
        if type(e) is PdvChunk:
            vals[id(e.pdv)] = vals.get(id(e.pdv), b"") + bytes(e.data)
    return list(vals.values())


CONVERSATION = (
    assoc_rq(contexts=[(1, VERIFICATION, [IMPLICIT_LE]), (3, CT_STORAGE, [IMPLICIT_LE])])
    + assoc_ac(results=[(1, 0, IMPLICIT_LE), (3, 0, IMPLICIT_LE)])
    + pdata([(1, COMMAND | LAST, b"C" * 70)])
    + pdata([(3, COMMAND, b"c1" * 9), (3, COMMAND | LAST, b"c2" * 5), (3, DATA, b"d" * 301)])
    + pdata([(3, DATA, b""), (3, DATA | LAST, bytes(range(256)) * 3)])
    + release_rq() + release_rp()
)


def test_several_pdus_in_one_piece():
    fd = Feeder()
    evs = fd.all([CONVERSATION])
    ps = pdus(evs)
    assert [p.pdu_type for p in ps] == [1, 2, 4, 4, 4, 5, 6]
    assert all(p.complete and not p.findings for p in ps)
    assert not [e for e in evs if type(e) is Notice]
    assert ps[0].decoded.body.contexts[1].abstract_syntax == CT_STORAGE
    offs = [p.stream_offset for p in ps]
    assert offs[0] == 0 and all(offs[i] + 6 + ps[i].length == offs[i + 1] for i in range(len(ps) - 1))
    assert chunks_by_pdv(evs) == [b"C" * 70, b"c1" * 9, b"c2" * 5, b"d" * 301, b"", bytes(range(256)) * 3]
    assert [(p.offset, p.length, p.context_id, p.control) for p in ps[3].pdvs] == \
        [(6, 20, 3, 1), (30, 12, 3, 3), (46, 303, 3, 0)]


def test_one_pdu_byte_by_byte_equals_whole():
    whole = Feeder()
    ref = summary(whole, whole.all([CONVERSATION]))
    bytewise = Feeder()
    assert summary(bytewise, bytewise.all([CONVERSATION[i:i + 1] for i in range(len(CONVERSATION))])) == ref


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    cuts = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(cuts, cuts[1:])]


MESSY = (release_rq() + b"GARBAGE\x00\x01\x02garbage" + pdata([(1, LAST, b"v" * 40)])
         + pdu(0x05, bytes(4), length=0xFFFFFFFF) + b"\x00" * 7
         + pdu(0x04, struct.pack(">IBB", 0xFFFFFFFF, 1, 3) + b"abcd") + abort(2, 1) + release_rp())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**6), max_size=40), st.booleans())
def test_random_splits_give_identical_events(cuts, messy):
    data = CONVERSATION + (MESSY if messy else b"")
    whole = Feeder()
    ref = summary(whole, whole.all([data]))
    split = Feeder()
    assert summary(split, split.all(_split(data, cuts))) == ref


def test_messy_stream_reference():
    fd = Feeder()
    s = summary(fd, fd.all([MESSY]))
    assert [x[:2] for x in s] == [("pdu", 5), ("pdu", 0x47), ("notice", "resync"), ("pdu", 7), ("pdu", 6)]
    # "GARBAGE..." reads as an unknown PDU header with an absurd length: flagged, then a search.
    assert s[1][2:6] == (int.from_bytes(b"RBAG", "big"), 10, False, ["pdu-length-implausible"])
    # The P-DATA-TF at 27 is well formed, but the header after it (an A-RELEASE-RQ claiming
    # 0xFFFFFFFF bytes) is not, so it never validates; nor does the P-DATA whose PDV cannot fit.
    # The search accepts the A-ABORT, the first PDU followed by a valid header (or the end).
    assert s[2][2] == "resynchronised at stream offset 112  after skipping 96 bytes"
    assert s[3][3:5] == (112, True) and s[4][3:5] == (122, True)


def test_big_pdata_streams_without_buffering_the_value():
    piece = bytes(range(256)) * 256                # 64 KiB
    n = 80                                         # 5 MiB value
    value_len = len(piece) * n
    head = struct.pack(">BBI", 4, 0, 6 + value_len) + struct.pack(">IBB", 2 + value_len, 1, 2)
    fd = Feeder(keep_frames=False)
    crc, total, first_last, sizes = 0, 0, [], []
    tracemalloc.start()
    try:
        evs = fd.feed(head)
        for i in range(n):
            for e in fd.feed(piece):
                if type(e) is PdvChunk:
                    crc = zlib.crc32(e.data, crc)
                    total += len(e.data)
                    first_last.append((e.first, e.done))
                else:
                    evs.append(e)
            f = fd.f
            sizes.append((len(f.body), len(f.hdr), len(f.pdvhdr), len(f.carry), len(f.pdvs),
                          len(f.spans.spans)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == value_len and crc == zlib.crc32(piece * n)
    assert first_last[0] == (True, False) and first_last[-1] == (False, True)
    assert all(fl == (False, False) for fl in first_last[1:-1])
    assert all(s[0] == 0 and s[1] <= 6 and s[2] <= 6 and s[3] == 0 and s[4] <= 1 for s in sizes[:-1])
    assert all(s == (0, 0, 0, 0, 0, 0) for s in sizes[-1:])      # reset after the PDU ended
    assert peak < 1 << 20, peak        # the value is 5 MiB
    ps = pdus(evs)
    assert len(ps) == 1 and ps[0].complete and ps[0].length == 6 + value_len
    assert ps[0].spans.length == 12 + value_len and len(ps[0].spans.frames) == n + 1


def test_span_maps_point_into_the_frames():
    data = CONVERSATION
    pieces = _split(data, [7, 100, 101, 333, 500, 501, 502, 900, 1200])
    fd = Feeder()
    evs = fd.all(pieces)
    for p in pdus(evs):
        raw = data[p.stream_offset:p.stream_offset + 6 + p.length]
        assert p.spans.length == len(raw)
        for s in p.spans.spans:
            assert fd.frames[s.frame][s.frame_offset:s.frame_offset + s.length] == \
                raw[s.unit_offset:s.unit_offset + s.length]
        fr, fo = p.spans.locate(0)
        assert fd.frames[fr][fo] == p.pdu_type and fr == p.frame
    for e in evs:
        if type(e) is PdvChunk and e.data:
            assert fd.frames[e.frame][e.frame_offset:e.frame_offset + len(e.data)] == bytes(e.data)


def test_implausible_length_on_non_pdata():
    fd = Feeder()
    evs = fd.all([release_rq() + pdu(0x05, bytes(4), length=0xFFFFFFFF) + release_rp()])
    ps = pdus(evs)
    assert [p.pdu_type for p in ps] == [5, 5, 6]
    bad = ps[1]
    assert bad.complete is False and codes(bad) == ["pdu-length-implausible"]
    assert bad.length == 0xFFFFFFFF and bad.stream_offset == 10 and bad.spans.length == 6
    assert ps[2].complete and ps[2].stream_offset == 20
    notices = [e for e in evs if type(e) is Notice]
    assert [n.finding.code for n in notices] == ["resync"] and "skipping 4 bytes" in notices[0].message


def test_invalid_pdv_length_skips_to_the_pdu_end():
    fd = Feeder()
    bad = pdu(0x04, struct.pack(">IBB", 0xFFFFFFFF, 1, 3) + b"abcd")
    evs = fd.all([pdata([(1, 3, b"ok")]) + bad + assoc_ac()])
    ps = pdus(evs)
    assert [p.pdu_type for p in ps] == [4, 4, 2]
    # The PDU header framed it: only its PDV structure is lost, framing goes on by its length.
    assert ps[1].complete and codes(ps[1]) == ["pdv-length-invalid"] and ps[1].spans.length == len(bad)
    assert ps[2].complete and ps[2].stream_offset == 14 + len(bad) and ps[2].decoded.body.calling_ae == "FINDSCU"
    assert [e for e in evs if type(e) is Notice] == []
    assert chunks_by_pdv(evs) == [b"ok"]


def test_garbage_between_pdus_is_skipped_and_counted():
    garbage = b"\xff" * 13                       # no byte can start a PDU header
    fd = Feeder()
    evs = fd.all([release_rq()[:3], release_rq()[3:] + garbage[:5], garbage[5:], assoc_rq()])
    # 0xFF... reads as an unknown PDU header with an absurd length: flagged, then skipped.
    notices = [e for e in evs if type(e) is Notice]
    assert len(notices) == 1 and notices[0].finding.code == "resync"
    ps = pdus(evs)
    assert ps[0].pdu_type == 5 and ps[-1].pdu_type == 1 and ps[-1].complete
    assert ps[-1].stream_offset == 10 + len(garbage)
    skipped = int(re.search(r"skipping (\d+) bytes", notices[0].message)[1])
    accounted = sum(p.spans.length for p in ps[1:-1])
    assert skipped + accounted == len(garbage)
    assert notices[0].frame == 4


def test_gap_inside_a_pdv():
    value = bytes(range(200))
    p = pdata([(5, DATA, value)])
    fd = Feeder()
    evs = fd.feed(p[:60])
    evs += fd.gap(40)
    chunks = [e for e in evs if type(e) is PdvChunk]
    assert chunks[-1].broken and chunks[-1].lost and chunks[-1].done and not chunks[-1].data
    assert chunks[-1].frame == 1                      # where the PDV's last captured byte was
    assert b"".join(bytes(c.data) for c in chunks) == value[:48]
    assert pdus(evs) == []                            # the PDU ends where its length says, not at the hole
    # The rest of that PDV is passed over by arithmetic; the next PDU is framed where it starts.
    evs = fd.feed(p[100:] + release_rq())
    evs += fd.feed(pdata([(5, LAST, b"z")]))
    evs += fd.f.finish()
    assert [e for e in evs if type(e) is Notice] == []
    ps = pdus(evs)
    assert [x.pdu_type for x in ps] == [4, 5, 4]
    assert ps[0].complete is False and ps[0].lost == [(60, 40)] and codes(ps[0]) == ["tcp-gap"]
    assert "capture-loss" in ps[0].findings[0].message and ps[0].spans.length == len(p) - 40
    assert [(x.stream_offset, x.complete) for x in ps[1:]] == [(len(p), True), (len(p) + 10, True)]
    assert chunks_by_pdv(evs) == [b"z"]


def test_gap_swallowing_a_pdv_header_skips_to_the_pdu_end():
    p = pdata([(1, COMMAND | LAST, b"C" * 30), (3, DATA | LAST, b"D" * 30)])
    fd = Feeder()
    evs = fd.feed(p[:44])                             # PDU header, first PDV whole, 2 bytes of the second header
    evs += fd.gap(10)
    evs += fd.feed(p[54:] + release_rq())
    evs += fd.f.finish()
    ps = pdus(evs)
    assert [(x.pdu_type, x.complete, x.lost) for x in ps] == [(4, False, [(44, 10)]), (5, True, [])]
    assert [type(e).__name__ for e in evs if type(e) is not Notice][:3] == ["PdvChunk", "PdvLoss", "PduEvent"]
    assert chunks_by_pdv(evs) == [b"C" * 30] and [e for e in evs if type(e) is Notice] == []


def test_gap_between_pdus_resyncs_without_a_broken_unit():
    fd = Feeder()
    evs = fd.feed(release_rq())
    evs += fd.gap(100)
    evs += fd.feed(release_rp())
    assert [p.pdu_type for p in pdus(evs)] == [5]       # valid so far, but nothing after it yet
    evs += fd.f.finish()                                # the stream ends right after it: accepted
    assert [p.pdu_type for p in pdus(evs)] == [5, 6]
    assert all(p.complete for p in pdus(evs))
    assert [type(e).__name__ for e in evs].count("PdvLoss") == 1
    notices = [e for e in evs if type(e) is Notice]
    assert [n.finding.code for n in notices] == ["resync"] and "skipping 0 bytes" in notices[0].message


def test_finish_inside_a_pdu():
    fd = Feeder()
    rq = assoc_rq()
    evs = fd.all([rq[:40]])
    ps = pdus(evs)
    assert len(ps) == 1 and ps[0].complete is False and codes(ps[0]) == ["pdu-truncated"]
    assert f"40 of {len(rq)} bytes" in ps[0].findings[0].message
    fd = Feeder()
    evs = fd.all([pdata([(1, DATA, b"x" * 50)])[:30]])
    assert [type(e).__name__ for e in evs] == ["PdvChunk", "PdvChunk", "PduEvent"]
    assert evs[1].broken and codes(evs[2]) == ["pdu-truncated"]
    fd = Feeder()
    evs = fd.all([b"\x04\x00\x00"])
    assert codes(pdus(evs)[0]) == ["pdu-truncated"] and "PDU header" in pdus(evs)[0].findings[0].message


def test_zero_length_pdv_value():
    fd = Feeder()
    evs = fd.all([pdata([(1, COMMAND | LAST, b""), (3, DATA | LAST, b"ab")])])
    chunks = [e for e in evs if type(e) is PdvChunk]
    assert [(c.pdv.context_id, bytes(c.data), c.first, c.done) for c in chunks] == \
        [(1, b"", True, True), (3, b"ab", True, True)]
    assert pdus(evs)[0].complete and not pdus(evs)[0].findings


def test_unknown_pdu_type_with_sane_length():
    fd = Feeder()
    evs = fd.all([pdu(0x09, b"hello") + release_rq()])
    ps = pdus(evs)
    assert [p.pdu_type for p in ps] == [9, 5]
    assert ps[0].complete and ps[0].length == 5 and ps[0].decoded is not None
    assert "Unknown" in ps[0].name and ps[0].decoded.body is None
    assert not [e for e in evs if type(e) is Notice]


def test_zero_length_pdu_and_empty_pdata():
    fd = Feeder()
    evs = fd.all([pdu(0x04, b"") + pdu(0x06, b"") + release_rq()])
    ps = pdus(evs)
    assert [(p.pdu_type, p.length, p.stream_offset) for p in ps] == [(4, 0, 0), (6, 0, 6), (5, 4, 12)]


def test_resync_notice_names_the_frame_where_the_pdu_starts():
    data = release_rq() + b"\xff" * 9 + release_rp() + release_rq()
    fd = Feeder()
    evs = fd.all([data[i:i + 1] for i in range(len(data))])       # one byte per frame
    (notice,) = [e for e in evs if type(e) is Notice]
    rp = [p for p in pdus(evs) if p.pdu_type == 6][0]
    assert notice.frame == rp.frame == 20 and "(frame 20)" in notice.message


# -- termination, one test per framer state ------------------------------------------------------


@contextmanager
def must_terminate(seconds: float = 5.0):
    """Fail (instead of hanging) if the framer loops: every loop iteration must consume input or exit."""
    def boom(*_):
        raise TimeoutError("the framer did not terminate")
    old = signal.signal(signal.SIGALRM, boom)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _run_state(data: bytes, gap_at: int | None = None, gap: int = 0, bytewise: bool = False):
    """Feed ``data`` (with a hole of ``gap`` bytes after ``gap_at`` bytes), whole or byte by byte.

    Returns (state after the input, feeder, events, finish's events, and their summaries).
    """
    fd = Feeder()
    parts = [data] if gap_at is None else [data[:gap_at], None, data[gap_at:]]
    evs = []
    with must_terminate():
        for part in parts:
            if part is None:
                evs += fd.gap(gap)
            elif bytewise:
                for i in range(len(part)):
                    evs += fd.feed(part[i:i + 1])
            else:
                evs += fd.feed(part)
        f = fd.f
        state = (f.state, bytes(f.hdr), f.remaining, f.pdv is not None, len(f.pdvhdr), f.pdv_left)
        fin = fd.f.finish()
    return state, fd, evs, fin, summary(fd, [e for e in evs if type(e) is not PdvLoss]), \
        summary(fd, [e for e in fin if type(e) is not PdvLoss])


@pytest.mark.parametrize("bytewise", [False, True])
def test_input_ending_in_header_state(bytewise):
    state, fd, evs, fin, s, sf = _run_state(release_rq() + b"\x04\x00\x00", bytewise=bytewise)
    assert state[:2] == (HEADER, b"\x04\x00\x00")
    assert [x[:2] for x in s] == [("pdu", 5)]
    assert [x[:2] for x in sf] == [("pdu", 4)] and sf[0][4:6] == (False, ["pdu-truncated"])
    assert "a PDU header: 3 of 6 bytes" in pdus(fin)[0].findings[0].message


@pytest.mark.parametrize("bytewise", [False, True])
def test_input_ending_in_body_state(bytewise):
    rq = assoc_rq()
    state, fd, evs, fin, s, sf = _run_state(release_rp() + rq[:40], bytewise=bytewise)
    assert state[0] == BODY and state[2] == len(rq) - 40
    assert [x[:2] for x in s] == [("pdu", 6)]
    assert [x[:2] for x in sf] == [("pdu", 1)] and sf[0][4:6] == (False, ["pdu-truncated"])
    assert f"40 of {len(rq)} bytes" in pdus(fin)[0].findings[0].message


@pytest.mark.parametrize("bytewise", [False, True])
def test_input_ending_in_a_pdv_header(bytewise):
    p = pdata([(1, COMMAND | LAST, b"abc"), (3, DATA | LAST, b"x" * 20)])
    state, fd, evs, fin, s, sf = _run_state(p[:6 + 9 + 3], bytewise=bytewise)   # 3 bytes of the 2nd PDV header
    assert state[0] == PDATA and state[3:5] == (False, 3)
    assert s == [("pdv", (1, 3, b"abc"))]
    assert [x[:2] for x in sf] == [("pdu", 4)] and sf[0][4:6] == (False, ["pdu-truncated"])


@pytest.mark.parametrize("bytewise", [False, True])
def test_input_ending_in_a_pdv_value(bytewise):
    p = pdata([(1, DATA | LAST, b"x" * 50)])
    state, fd, evs, fin, s, sf = _run_state(p[:30], bytewise=bytewise)
    assert state[0] == PDATA and state[3] and state[5] == 32
    assert s == [("pdv", (1, 2, b"x" * 18))]
    assert [type(e).__name__ for e in fin] == ["PdvChunk", "PduEvent"] and fin[0].broken and not fin[0].lost
    assert sf[-1][4:6] == (False, ["pdu-truncated"])


@pytest.mark.parametrize("bytewise", [False, True])
def test_input_ending_in_resync_state(bytewise):
    # A hole swallowed the header of the PDU after the A-RELEASE-RQ; what follows looks like a
    # P-DATA header but its PDU never completes: nothing may be built from it.
    data = release_rq() + b"\x04\x00\x00\x00\x00\x30" + struct.pack(">IBB", 0x2A, 1, 3) + b"y" * 10
    state, fd, evs, fin, s, sf = _run_state(data, gap_at=10, gap=77, bytewise=bytewise)
    assert state[0] == RESYNC
    assert [x[:2] for x in s] == [("pdu", 5)]
    assert [type(e).__name__ for e in evs] == ["PduEvent", "PdvLoss"]
    assert [x[:2] for x in sf] == [("notice", "resync-failed")] and "22 bytes" in sf[0][2]
    assert fin[0].severity == "warning"


def test_pdata_ending_inside_a_pdv_header_ends_there():
    # The PDU length ends 5 bytes into a PDV header: the PDU is over, framing goes on right after it
    # (a mutant that drops the end-of-PDU check here spins forever or holds the PDU back).
    bad = pdu(0x04, struct.pack(">IB", 10, 1))
    for pieces in ([bad], [bad[i:i + 1] for i in range(len(bad))]):
        fd = Feeder()
        evs = []
        with must_terminate():
            for piece in pieces:
                evs += fd.feed(piece)
            assert fd.f.state == HEADER and fd.f.offset == len(bad)
            (p,) = pdus(evs)                              # emitted at once, not at the next PDU
            assert p.length == 5 and p.complete and codes(p) == ["pdv-truncated"]
            evs += fd.feed(release_rq())
            evs += fd.f.finish()
        assert [(x.pdu_type, x.stream_offset, x.complete) for x in pdus(evs)] == [(4, 0, True), (5, 11, True)]
        assert [e for e in evs if type(e) is PdvChunk] == []


def test_search_waits_for_the_whole_pdu_before_accepting_it():
    # After a hole, a candidate whose header and first PDV header are plausible but whose PDVs do not
    # sum to its length must never become a PDU, however its bytes arrive.
    fake = b"\x04\x00\x00\x00\x00\x14" + struct.pack(">IBB", 14, 1, 3) + b"z" * 12 + b"\x00\x00"
    for cut in (6, 12, 20, len(fake) - 1):
        fd = Feeder()
        evs = fd.feed(release_rq())
        evs += fd.gap(100)
        evs += fd.feed(fake[:cut])
        assert [p.pdu_type for p in pdus(evs)] == [5] and not [e for e in evs if type(e) is PdvChunk]
        evs += fd.feed(fake[cut:])
        evs += fd.feed(release_rp())
        evs += fd.f.finish()
        assert [(p.pdu_type, p.stream_offset) for p in pdus(evs)] == [(5, 0), (6, 110 + len(fake))]
        assert not [e for e in evs if type(e) is PdvChunk]
        (n,) = [e for e in evs if type(e) is Notice]
        assert f"skipping {len(fake)} bytes" in n.message


def test_search_accepts_a_valid_pdu_only_once_it_is_whole():
    good = pdata([(3, COMMAND | LAST, b"q" * 30)])
    fd = Feeder()
    fd.f.contexts = frozenset({1, 3})
    evs = fd.feed(release_rq()) + fd.gap(100)
    for i in range(len(good) - 1):
        evs += fd.feed(good[i:i + 1])
        assert [p.pdu_type for p in pdus(evs)] == [5] and not [e for e in evs if type(e) is PdvChunk]
    evs += fd.feed(good[-1:])
    assert [p.pdu_type for p in pdus(evs)] == [5]       # whole, but the header after it is not here yet
    evs += fd.feed(release_rp()[:5])
    assert [p.pdu_type for p in pdus(evs)] == [5]
    evs += fd.feed(release_rp()[5:])                    # a valid header follows: accepted, and framing goes on
    assert [(p.pdu_type, p.stream_offset, p.complete) for p in pdus(evs)] == \
        [(5, 0, True), (4, 110, True), (6, 110 + len(good), True)]
    assert chunks_by_pdv(evs) == [b"q" * 30]


def test_settle_accepts_a_whole_pdu_that_ends_where_the_held_bytes_end():
    # The other direction spoke (the pipeline calls settle): a whole, valid PDU ending exactly at the
    # end of what is held is accepted then; one that does not end there keeps waiting.
    good = pdata([(3, COMMAND | LAST, b"q" * 30)])
    fd = Feeder()
    evs = fd.feed(release_rq()) + fd.gap(100) + fd.feed(good[:-1])
    assert pdus(fd.f.settle()) == []
    evs += fd.feed(good[-1:])
    settled = fd.f.settle()
    assert [(p.pdu_type, p.stream_offset) for p in pdus(settled)] == [(4, 110)]
    assert [e.finding.code for e in settled if type(e) is Notice] == ["resync"]
    assert fd.f.state == HEADER and fd.f.settle() == []


def test_search_rejects_unproposed_contexts_and_oversized_pdus():
    fd = Feeder()
    fd.f.contexts = frozenset({1, 3})
    fd.f.max_pdu = 64
    wrong_ctx = pdata([(5, COMMAND | LAST, b"w" * 10)])
    too_big = pdata([(1, DATA | LAST, b"b" * 100)])
    evs = fd.feed(release_rq()) + fd.gap(50) + fd.feed(wrong_ctx + too_big + release_rp()) + fd.f.finish()
    assert [(p.pdu_type, p.stream_offset) for p in pdus(evs)] == [(5, 0), (6, 60 + len(wrong_ctx) + len(too_big))]
    assert not [e for e in evs if type(e) is PdvChunk]


def test_max_body_boundary():
    fd = Feeder(PduFramer(0, 0, max_body=100))
    evs = fd.all([pdu(0x05, bytes(100)) + pdu(0x05, bytes(101)) + release_rp()])
    ps = pdus(evs)
    assert ps[0].length == 100 and ps[0].complete and "pdu-length-implausible" not in codes(ps[0])
    assert ps[0].spans.length == 106
    assert ps[1].length == 101 and not ps[1].complete and codes(ps[1]) == ["pdu-length-implausible"]
    assert ps[-1].pdu_type == 6 and ps[-1].complete


def test_max_body_keeps_exactly_max_body_bytes():
    f = PduFramer(0, 0, max_body=100)
    fd = Feeder(f)
    fd.feed(pdu(0x05, bytes(100))[:-1])
    assert len(f.body) == 99 and f.body_dropped == 0
    (p,) = pdus(fd.feed(b"\x00"))
    assert not [x for x in p.findings if x.code == "pdu-too-long"]


def test_gap_in_a_buffered_pdu_ends_it_at_its_length():
    rq = assoc_rq()
    fd = Feeder()
    evs = fd.feed(rq[:50]) + fd.gap(30) + fd.feed(rq[80:] + release_rq()) + fd.f.finish()
    ps = pdus(evs)
    assert [(p.pdu_type, p.complete, p.lost, p.stream_offset) for p in ps] == \
        [(1, False, [(50, 30)], 0), (5, True, [], len(rq))]
    assert ps[0].spans.length == len(rq) - 30 and not [e for e in evs if type(e) is Notice]


def test_gap_running_past_the_pdu_end_searches_from_the_hole_end():
    p1 = pdata([(1, DATA | LAST, b"a" * 40)])
    p2 = pdata([(1, DATA | LAST, b"b" * 40)])
    fd = Feeder()
    evs = fd.feed(p1[:20]) + fd.gap(len(p1) - 20 + 10) + fd.feed(p2[10:] + release_rq()) + fd.f.finish()
    ps = pdus(evs)
    assert [(x.pdu_type, x.complete, x.lost) for x in ps] == [(4, False, [(20, len(p1) - 20)]), (5, True, [])]
    assert [e.finding.code for e in evs if type(e) is Notice] == ["resync"]
    assert "skipping 42 bytes" in [e for e in evs if type(e) is Notice][0].message
    assert [type(e).__name__ for e in evs].count("PdvLoss") == 1


def test_gap_ending_exactly_at_a_pdv_end_keeps_the_next_pdv():
    p = pdata([(1, DATA, b"a" * 40), (1, DATA | LAST, b"b" * 20)])
    fd = Feeder()
    evs = fd.feed(p[:20]) + fd.gap(52 - 20) + fd.feed(p[52:]) + fd.f.finish()      # first PDV ends at 52
    assert chunks_by_pdv(evs) == [b"a" * 8, b"b" * 20]
    (pd,) = pdus(evs)
    assert pd.lost == [(20, 32)] and [x.context_id for x in pd.pdvs] == [1, 1]
    assert not [e for e in evs if type(e) is PdvLoss]


def test_second_gap_ending_exactly_at_the_cut_pdv_end():
    p = pdata([(1, DATA, b"a" * 40), (1, DATA | LAST, b"b" * 20)])
    fd = Feeder()
    evs = fd.feed(p[:20]) + fd.gap(10) + fd.feed(p[30:40]) + fd.gap(12) + fd.feed(p[52:]) + fd.f.finish()
    assert chunks_by_pdv(evs) == [b"a" * 8, b"b" * 20]
    assert pdus(evs)[0].lost == [(20, 10), (40, 12)]


def _after_hole(fd: Feeder, data: bytes) -> list:
    return fd.feed(release_rq()) + fd.gap(64) + fd.feed(data) + fd.f.finish()


def test_search_rejects_bad_control_headers_and_even_contexts():
    bad_mch = pdata([(1, 0x04 | LAST, b"m" * 10)])
    even_ctx = pdata([(2, COMMAND | LAST, b"e" * 10)])
    fd = Feeder()
    evs = _after_hole(fd, bad_mch + even_ctx + release_rp())
    assert [(p.pdu_type, p.stream_offset) for p in pdus(evs)] == [(5, 0), (6, 74 + len(bad_mch) + len(even_ctx))]
    assert not [e for e in evs if type(e) is PdvChunk]


def test_search_needs_the_next_header_on_a_proposed_context():
    fd = Feeder()
    fd.f.contexts = frozenset({1})
    one = pdata([(1, COMMAND | LAST, b"1" * 10)])
    other = pdata([(5, COMMAND | LAST, b"5" * 10)])
    evs = _after_hole(fd, one + other + release_rp())
    # ``one`` is well formed, but the header after it opens a PDV on a context never proposed
    assert [(p.pdu_type, p.stream_offset) for p in pdus(evs)] == [(5, 0), (6, 74 + len(one) + len(other))]


def test_gap_in_a_buffered_pdu_never_shifts_bytes_after_the_hole():
    ctxs = [(2 * i + 1, VERIFICATION, [IMPLICIT_LE]) for i in range(10)]
    rq = assoc_rq(contexts=ctxs)
    fd = Feeder()
    evs = fd.feed(rq[:200]) + fd.gap(9) + fd.feed(rq[209:]) + fd.f.finish()
    (p,) = pdus(evs)
    assert not p.complete and p.lost == [(200, 9)]
    ids = [c.id for c in p.decoded.body.contexts]
    full = [c.id for c in dissect_pdu(rq[:200]).body.contexts]
    assert ids == full                                  # only what lies before the hole is decoded


def test_gap_to_the_exact_end_of_a_buffered_pdu_emits_it_there():
    rq = assoc_rq()
    fd = Feeder()
    evs = fd.feed(rq[:100]) + fd.gap(len(rq) - 100)
    (p,) = pdus(evs)
    assert not p.complete and p.lost == [(100, len(rq) - 100)] and codes(p) == ["tcp-gap"]
    assert fd.f.state == HEADER and pdus(fd.f.finish()) == []


def test_search_holds_no_more_than_its_cap_whatever_max_pdu_a_peer_announces():
    """A Maximum Length Received of 4 GiB must not make a search hold 4 GiB of candidate bytes."""
    from dicomsniff.ul.framer import SEARCH_CAP
    fd = Feeder()
    fd.f.contexts = frozenset({1})
    fd.f.max_pdu = 0xFFFFFFFF
    assert fd.f._pdata_bound() == SEARCH_CAP
    # a P-DATA-TF claiming 1 GiB (under the announced maximum, over the cap), one PDV filling it
    claim = b"\x04\x00" + (1 << 30).to_bytes(4, "big") + ((1 << 30) - 4).to_bytes(4, "big") + b"\x01\x02"
    evs = fd.feed(release_rq()) + fd.gap(50) + fd.feed(claim + bytes(4000) + release_rp())
    assert len(fd.f.rbuf) < 64                  # the oversized claim was skipped, not held for its length
    evs += fd.f.finish()
    assert [p.pdu_type for p in pdus(evs)] == [5, 6]


def test_compiled_candidate_search_finds_what_the_regex_finds():
    """The search after a loss looks for a PDU type (1-7) and a zero byte; where the record walk is built,
    C finds them (capture/_walk.c ``candidate``): the same positions as the regex, on bytes, bytearrays and
    memoryviews, from any start; with zero bytes dense, and sparse (C looks at 32 places at a time with AVX2, 16
    with SSE2, else skips eight bytes at a time where none is zero)."""
    import random
    from dicomsniff.ul import framer as fr
    try:
        from dicomsniff.capture._walk import candidate
    except ImportError:
        pytest.skip("the compiled walk is not built")
    rnd = random.Random(7)
    for trial in range(6000):
        n = rnd.randrange(0, 40 if trial % 2 else 200)
        dense = (0.9, 0.2, 0.03)[trial % 3]
        data = bytes(rnd.choice([0, 0, 1, 4, 7]) if rnd.random() < dense else rnd.choice([8, 255, rnd.randrange(256)])
                     for _ in range(n))
        start = rnd.randrange(0, n + 2)
        m = fr._CANDIDATE.search(data, start)
        want = m.start() if m else -1
        for buf in (data, bytearray(data), memoryview(data)):
            assert candidate(buf, start) == want, (data, start)
    assert fr._find_candidate is candidate or os.environ.get("DICOMSNIFF_PURE")


@pytest.mark.parametrize("shorter", [False, True])
def test_search_after_a_lost_header_looks_where_the_next_one_would_be(shorter):
    """A data set's P-DATA-TFs are as long as each other: after a hole swallowed one's header, the search waits
    until the bytes reach where the next header would be if the lost PDU were as long as the last one, and
    judges them at once (PduFramer._expect), not after every segment. It resynchronises at the same PDU, with
    the same notice and the same events, as judging every segment did; where the lost PDU was shorter (the
    last of a data set), the search finds the next one all the same."""
    body = bytes([3, 0, 5, 0, 200, 7, 0, 1]) * 256          # data with candidate bytes (type 1-7, then 0) in it
    lens = [2048] * 6 if not shorter else [2048, 600, 2048, 2048, 2048, 2048]
    stream = b"".join(pdata([(1, DATA, body[:k])]) for k in lens)
    first = 12 + lens[0]
    results = {}
    for mode in ("expect", "each segment"):
        fd = Feeder()
        searches = []
        search = fd.f._search
        fd.f._search = lambda *a, **k: (searches.append(1), search(*a, **k))[1]
        if mode == "each segment":
            fd.f._expect = lambda at: None
        evs = fd.feed(stream[:first]) + fd.gap(100)             # the second PDU's header is lost
        pos = first + 100
        while pos < len(stream):
            evs += fd.feed(stream[pos:pos + 100])
            pos += 100
        evs += fd.f.finish()
        results[mode] = ([(type(e).__name__, getattr(e, "stream_offset", None), getattr(e, "complete", None))
                          for e in evs if type(e) is not PdvChunk],
                         [e.message for e in evs if type(e) is Notice], len(searches))
    assert results["expect"][:2] == results["each segment"][:2]
    resynced = [e for e in results["expect"][0] if e[0] == "PduEvent"]
    assert resynced[1][1] == first + 12 + lens[1] and len(resynced) == 5
    assert "resynchronised" in results["expect"][1][0]
    fewer = 2 if shorter else 4                                 # (a shorter PDU: fewer segments to judge anyway)
    assert results["expect"][2] * fewer < results["each segment"][2], (results["expect"][2], results["each segment"][2])


@pytest.mark.parametrize("third", [2048, 600])
def test_search_after_a_lost_header_takes_the_predicted_header_at_once(third):
    """Where the arithmetic of a lost header predicts the next one (as long as the last P-DATA-TF) and one is
    there, as long as that, with a plausible PDV header, the search takes it without waiting for the header after
    it: a further hole inside that PDU then cuts a framed PDU instead of throwing it away with the search. A PDU of
    any other length there is judged as any candidate is, by the header after it."""
    body = bytes([3, 0, 5, 0, 200, 7, 0, 1]) * 256          # data with candidate bytes (type 1-7, then 0) in it
    lens = [2048, 2048, third, 2048, 2048]
    units = [pdata([(1, DATA, body[:k])]) for k in lens]
    stream = b"".join(units)
    third_at = len(units[0]) + len(units[1])
    fd = Feeder()
    evs = fd.feed(stream[:len(units[0])]) + fd.gap(100)       # the second PDU's header is lost
    evs += fd.feed(stream[len(units[0]) + 100:third_at + 12])  # up to the third's PDU and PDV headers
    if third != 2048:
        assert fd.f.state == RESYNC and not [e for e in evs if type(e) is Notice]
        return
    assert fd.f.state == PDATA and fd.f.start_offset == third_at
    (n,) = [e for e in evs if type(e) is Notice]
    assert f"resynchronised at stream offset {third_at}" in n.message
    evs += fd.feed(stream[third_at + 12:third_at + 500]) + fd.gap(300)     # a hole inside the third PDU
    evs += fd.feed(stream[third_at + 800:]) + fd.f.finish()
    framed = [(p.stream_offset, p.complete) for p in pdus(evs)]
    assert framed == [(0, True), (third_at, False), (third_at + len(units[2]), True),
                      (third_at + len(units[2]) + len(units[3]), True)]
    assert len([e for e in evs if type(e) is Notice]) == 1


def test_search_after_a_lost_header_waits_no_further_than_a_searched_pdu():
    """The place a search waits for after a lost header follows the last P-DATA-TF's length, which a peer
    chooses (up to 4 GiB, streamed): it is used only within what a search may hold for one candidate PDU
    (the receiver's maximum and a bound), so the bytes held while waiting stay bounded."""
    fd = Feeder()
    fd.f.max_pdu = 16384
    huge = pdu(0x04, b"", length=64 << 20)                 # a 64 MiB P-DATA-TF, streamed: its header only
    evs = fd.feed(huge + struct.pack(">IBB", (64 << 20) - 4, 1, DATA) + bytes(1000))
    evs += fd.gap((64 << 20) - 1006 + 50)                  # the rest of it and the next header are lost
    assert fd.f.state == RESYNC and fd.f.rneed == 0
    small = pdata([(1, DATA, bytes(2000))])
    fd = Feeder()
    fd.f.max_pdu = 16384
    evs = fd.feed(small) + fd.gap(50)
    assert fd.f.state == RESYNC and fd.f.rneed == len(small) - 50 + 12
