"""The per-packet path below TCP (issue 18, item 2): the inline IPv4/TCP fast path of
``decode_tcp`` agrees with the general path field for field, and reading a capture plus decoding
its TCP costs a fixed, small number of Python calls per frame."""

from __future__ import annotations

import random
import struct
import sys
from pathlib import Path

import pytest

from capwriter import ETHERNET, IPV4, IPV6, NULL, RAW, SLL, SLL2, frame, pcap_bytes, pcapng_bytes, tcp_packet
from dicomsniff.capture import packet as P
from dicomsniff.capture.frame import Frame
from dicomsniff.capture.reader import open_capture

CAPTURES = sorted((Path(__file__).resolve().parent.parent / "captures").glob("*.pcap"))


def general(fr: Frame):
    """What the general (non-inline) path makes of a frame: _ip_tcp at the link's IP offset."""
    try:
        link = P.LINK_DECODERS.get(fr.linktype)
        ip = link(fr.data) if link else -1
    except (struct.error, IndexError):
        return None
    if ip < 0:
        return "no-ip"
    seg = P._ip_tcp(fr, fr.data, ip, fr.linktype, None)
    return "tunnel" if seg is P._TUNNEL else seg


def facts(seg):
    if seg is None or isinstance(seg, str):
        return seg
    return (seg.frame, seg.ts_ns, bytes(seg.src_ip), bytes(seg.dst_ip), seg.sport, seg.dport, seg.seq, seg.ack,
            seg.flags, bytes(seg.payload), seg.payload_offset, seg.truncated)


def agree(fr: Frame) -> None:
    want = general(fr)
    if isinstance(want, str):              # not for the fast path: link or tunnel cases decode_tcp sends elsewhere
        return
    assert facts(P.decode_tcp(fr)) == facts(want), fr


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_fast_path_agrees_on_every_shipped_frame(path):
    with open_capture(str(path)) as r:
        frames = list(r)
    assert frames
    for fr in frames:
        agree(fr)


def _ipv4(pkt: bytes, *, total: int | None = None, frag: int | None = None, ihl: int | None = None,
          proto: int | None = None, doff: int | None = None) -> bytes:
    """``pkt`` (IPv4 + TCP from capwriter) with header fields overwritten."""
    b = bytearray(pkt)
    if ihl is not None:
        b[0] = 0x40 | ihl
    if total is not None:
        struct.pack_into(">H", b, 2, total)
    if frag is not None:
        struct.pack_into(">H", b, 6, frag)
    if proto is not None:
        b[9] = proto
    if doff is not None:
        b[20 + 12] = doff << 4
    return bytes(b)


def test_fast_path_agrees_on_odd_ipv4_headers():
    """Total length 0 (TSO), short, long, exact; data offsets too small or past the end; fragments;
    header options; other protocols; cut by the snap length at every length; every fast-path link."""
    rnd = random.Random(18)
    base = tcp_packet("192.168.1.10", "10.20.30.40", 40001, 104, seq=7, ack=9, payload=bytes(range(100)))
    cases = [base, _ipv4(base, total=0), _ipv4(base, total=19), _ipv4(base, total=20), _ipv4(base, total=39),
             _ipv4(base, total=40), _ipv4(base, total=len(base) + 500), _ipv4(base, doff=0), _ipv4(base, doff=4),
             _ipv4(base, doff=15), _ipv4(base, frag=0x2000), _ipv4(base, frag=0x0010), _ipv4(base, frag=0x4000),
             _ipv4(base, proto=17), _ipv4(base, proto=47), _ipv4(base, ihl=6), _ipv4(base, ihl=4)]
    for _ in range(300):
        cases.append(_ipv4(base, total=rnd.randrange(0, 200), doff=rnd.randrange(16),
                           frag=rnd.choice((0, 0, 0x4000, 0x2000, 0x0001))))
    n = 0
    for link in (ETHERNET, SLL, SLL2, NULL, RAW, IPV4, IPV6):
        for pkt in cases:
            data = frame(link, pkt, pad=False)
            for cut in sorted({len(data), len(data) - 1, len(data) - 60, 60, 40, 34, 33, 20, 14}):
                if cut < 0:
                    continue
                for orig in (len(data), len(data) + 10):
                    agree(Frame(3, 5_000, link, data[:cut], orig, 0, 0))
                    n += 1
    assert n > 10_000


def test_fast_path_details():
    base = tcp_packet("192.168.1.10", "10.20.30.40", 40001, 104, seq=7, ack=9, payload=b"DICOM")
    seg = P.decode_tcp(Frame(1, 2, ETHERNET, frame(ETHERNET, base, pad=False), 0, 0, 0))
    assert (seg.src_ip, seg.dst_ip, seg.sport, seg.dport, seg.seq, seg.ack) == \
        (bytes([192, 168, 1, 10]), bytes([10, 20, 30, 40]), 40001, 104, 7, 9)
    assert bytes(seg.payload) == b"DICOM" and seg.payload_offset == 14 + 40 and not seg.truncated
    # Ethernet padding after the IP packet is not payload; TSO (total 0) trusts the capture and says so if cut.
    padded = P.decode_tcp(Frame(1, 2, ETHERNET, frame(ETHERNET, base) + b"\0" * 4, 0, 0, 0))
    assert bytes(padded.payload) == b"DICOM"
    tso = frame(ETHERNET, _ipv4(base, total=0), pad=False)
    assert bytes(P.decode_tcp(Frame(1, 2, ETHERNET, tso, len(tso), 0, 0)).payload) == b"DICOM"
    assert P.decode_tcp(Frame(1, 2, ETHERNET, tso[:-2], len(tso), 0, 0)).truncated
    # An IPv4 packet on a raw IPv6 link is not one; a fragment goes the general way and is noted.
    assert P.decode_tcp(Frame(1, 2, IPV6, base, len(base), 0, 0)) is None
    notes: list = []
    first = P.decode_tcp(Frame(1, 2, RAW, _ipv4(base, frag=0x2000), len(base), 0, 0), notes)
    assert first.truncated and [n.finding.code for n in notes] == ["ip-fragment"]


def count_calls(blob: bytes) -> float:
    """Python calls (functions, generator resumptions, C functions) per frame to read ``blob`` and decode
    the TCP of every frame, after the first frame (opening the file and the format are not per frame)."""
    from dicomsniff.capture.packet import decode_tcp
    r = open_capture(blob)
    it = iter(r)
    next(it)
    calls = 0

    def prof(_frame, event, _arg):
        nonlocal calls
        if event == "call" or event == "c_call":
            calls += 1

    frames = 0
    sys.setprofile(prof)
    try:
        for fr in it:
            decode_tcp(fr)
            frames += 1
    finally:
        sys.setprofile(None)
    assert frames > 1000
    return calls / frames


def _mtu_frames(n: int, link: int = ETHERNET):
    for i in range(n):
        pkt = tcp_packet("10.0.0.1", "10.0.0.2", 40000, 104, seq=i * 1448, payload=bytes(1448))
        yield 1_700_000_000 * 10**9 + i * 1000, frame(link, pkt)


# The budget below TCP, per frame, on the Frame path (live capture, the viewer): the reader's two
# generator steps (records, frames), its record-header unpack and the Frame; decode_tcp, its one
# IPv4+TCP unpack, len() and the TcpSegment. A change that adds per-packet work there fails here
# (the chunk reads, a few per 4 MiB, round the figure up a little).
PCAP_BUDGET = 8.05
PCAPNG_BUDGET = 8.05


def test_calls_per_frame_pcap():
    assert count_calls(pcap_bytes(list(_mtu_frames(3000)))) <= PCAP_BUDGET


def test_calls_per_frame_pcapng():
    recs = [(ts, ETHERNET, data) for ts, data in _mtu_frames(3000)]
    assert count_calls(pcapng_bytes(recs)) <= PCAPNG_BUDGET


def whole_path_calls(blob: bytes, walk: bool = False, **options) -> tuple[float, int]:
    """Python calls per frame of reading ``blob`` through ``Analyzer.feed_record`` (what ``summary``,
    ``diagnose`` and ``export`` run), everything included: the reader, TCP, framing, messages,
    the association model, the data set's first bytes decoded by nobody yet. ``walk``: with the
    compiled record walk (``Analyzer.connect``), else the pure-Python fast path."""
    from dicomsniff.pipeline import Analyzer
    an = Analyzer(walk=walk, **options)
    assert an.walk == walk
    calls = 0

    def prof(_frame, event, _arg):
        nonlocal calls
        if event == "call" or event == "c_call":
            calls += 1

    with open_capture(blob) as r:
        if walk:
            an.connect(r)
        records = r.records()
        sys.setprofile(prof)
        try:
            for rec in records:
                an.feed_record(rec)
            an.finish()
        finally:
            sys.setprofile(None)
    frames = an.frames
    a, = an.associations
    ex, = a.exchanges
    assert ex.status == 0 and ex.request.complete and ex.request.data_length > options["keep_limit"]
    return calls / frames, frames


# Issue 18 asks for at most 12 Python calls per packet; this bound is tighter, so that one more call
# per packet on the fast path fails here. The whole path of a C-STORE of a big object at MSS 1448
# (what summary reads) measured 7.3: a packet inside a PDV costs 6 (record generator step, record
# header unpack, feed_record, IPv4+TCP unpack, flow lookup, _advance), a PDU boundary ~20 once per
# 11 packets, and the data set's first 64 KiB take the general path.
WHOLE_PATH_BUDGET = 8


def test_calls_per_packet_whole_path_big_store():
    from storecap import big_store
    from dicomsniff.ul.events import BRIEF_SPANS
    per_frame, frames = whole_path_calls(big_store(8 << 20), keep_pdus=False, keep_limit=64 << 10,
                                         data_span_limit=BRIEF_SPANS)
    assert frames > 8000
    assert per_frame <= WHOLE_PATH_BUDGET, f"{per_frame:.2f} calls per packet"


# The same with the compiled record walk (issue 18, item 5): packets inside a PDV and pure ACKs cost no
# Python call of their own, only a walk (the reader's hook, _walk.walk) once per run of them. Measured
# 2.1 on the same transfer (7.0 without the walk).
WALK_BUDGET = 3


def test_calls_per_packet_whole_path_big_store_walk():
    from storecap import big_store
    from dicomsniff.ul.events import BRIEF_SPANS
    per_frame, frames = whole_path_calls(big_store(8 << 20), walk=True, keep_pdus=False, keep_limit=64 << 10,
                                         data_span_limit=BRIEF_SPANS)
    assert frames > 8000
    assert per_frame <= WALK_BUDGET, f"{per_frame:.2f} calls per packet"


# The same as summary and diagnose run it (quiet_pdus: the data set's middle P-DATA-TFs counted, not
# emitted): the walk goes on past the ends of PDUs too, so only the data set's first 64 KiB and the
# messages' edges reach Python. Measured 0.43 on the same transfer (1.9 with events for every PDU).
QUIET_WALK_BUDGET = 1


def test_calls_per_packet_whole_path_big_store_walk_quiet():
    from storecap import big_store
    from dicomsniff.ul.events import BRIEF_SPANS
    per_frame, frames = whole_path_calls(big_store(8 << 20), walk=True, keep_pdus=False, keep_limit=64 << 10,
                                         data_span_limit=BRIEF_SPANS, quiet_pdus=True)
    assert frames > 8000
    assert per_frame <= QUIET_WALK_BUDGET, f"{per_frame:.2f} calls per packet"
