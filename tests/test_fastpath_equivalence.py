"""The analyzer's fast path (``Analyzer.feed_record``, issue 18) changes nothing but speed.

Every shipped capture, and re-segmented (MSS 1448 and 200) and lossy copies of the C-STORE
captures, is analyzed three ways: record by record through the pure-Python fast path, the same
with the compiled record walk taking the records it can (``Analyzer.connect``, item 5; pcapng
copies too), and frame by frame through the general path with the fast path off
(``Analyzer(fast=False).feed``). The events (every field, recursively: PDUs,
their spans, messages, kept data-set bytes, notices) and the associations' final state must be
identical, under the option sets of ``summary`` (data sets kept up to 64 KiB, first spans only),
``export`` (256 KiB) and the viewer (PDUs kept, every span). A test also checks that the fast
path is really taken, so that the equivalence is not vacuous.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import losssim  # noqa: E402

from dicomsniff import pipeline  # noqa: E402
from dicomsniff.capture.reader import open_capture  # noqa: E402
from dicomsniff.pipeline import Analyzer  # noqa: E402
from dicomsniff.ul.events import BRIEF_SPANS  # noqa: E402

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
ALL = sorted(p.name for p in CAPTURES.glob("*.pcap*"))
OPTIONS = {
    "summary": dict(keep_pdus=False, keep_limit=64 << 10, data_span_limit=BRIEF_SPANS),
    "export": dict(keep_pdus=False, keep_limit=256 << 10),
    "viewer": dict(keep_pdus=True, keep_limit=1 << 20),
    # The shipped data sets are small: keep little of them, so the fast path carries the rest.
    "tiny": dict(keep_pdus=False, keep_limit=512, data_span_limit=4),
}


def canon(obj, seen=None, depth=0):
    """A comparable rendering of an event or model object: every field, recursively."""
    if seen is None:
        seen = set()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj)
    if depth > 12:
        return "<deep>"
    name = type(obj).__name__
    if name == "Association" and depth > 0:
        return ("Association", obj.number)
    if isinstance(obj, (list, tuple)) or type(obj).__name__ == "array":
        return [canon(x, seen, depth + 1) for x in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(repr(canon(x, seen, depth + 1)) for x in obj)
    if isinstance(obj, dict):
        return sorted((repr(canon(k, seen, depth + 1)), canon(v, seen, depth + 1)) for k, v in obj.items())
    if callable(obj) and not hasattr(obj, "__slots__") and not hasattr(obj, "__dict__"):
        return name
    if id(obj) in seen:
        return ("seen", name)
    seen.add(id(obj))
    fields = {}
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if slot.startswith("__") or slot in fields:
                continue
            try:
                fields[slot] = getattr(obj, slot)
            except AttributeError:
                continue
    fields.update(getattr(obj, "__dict__", {}))
    out = (name, sorted((k, canon(v, seen, depth + 1)) for k, v in fields.items()
                        if not callable(v) or hasattr(v, "__slots__")))
    seen.discard(id(obj))
    return out


def run(path, *, fast: bool, options: dict, walk: bool = False):
    """Events, final model, frame count and records the fast path finished (feed_record returned (),
    or the compiled walk took) of ``path``; ``walk``: with the compiled walk (it must be built)."""
    an = Analyzer(fast=fast, walk=walk, **options)
    assert an.walk == walk
    events = []
    taken = 0
    with open_capture(str(path)) as reader:
        if walk:
            an.connect(reader)
        if fast:
            for rec in reader.records():
                evs = an.feed_record(rec)
                if evs == ():
                    taken += 1
                events.extend(evs)
        else:
            for frame in reader:
                events.extend(an.feed(frame))
    events.extend(an.finish())
    model = [canon(a) for a in an.associations]
    return [canon(e) for e in events], model, an.frames, taken + an.walked


def assert_same(path, options):
    """The pure fast path and the compiled walk against the reference; the fast path's count of records."""
    slow_events, slow_model, slow_frames, _ = run(path, fast=False, options=options)
    taken = 0
    for walk in (False, True):
        fast_events, fast_model, fast_frames, n = run(path, fast=True, options=options, walk=walk)
        assert fast_frames == slow_frames, f"walk={walk}"
        assert len(fast_events) == len(slow_events), f"walk={walk}"
        for i, (a, b) in enumerate(zip(fast_events, slow_events)):
            assert a == b, f"event {i} differs (walk={walk})"
        assert fast_model == slow_model, f"walk={walk}"
        taken = taken or n
    return taken


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("mode", ["summary", "viewer", "tiny"])
def test_shipped_captures_same_events(name, mode):
    assert_same(CAPTURES / name, OPTIONS[mode])


def _other_ports(frame: bytes) -> bytes:
    """An Ethernet frame of the test transfers (10.0.0.1:40000 ↔ 10.0.0.2:104) moved to ports 40001 ↔ 105: another
    association on the same hosts."""
    b = bytearray(frame)
    for at in (34, 36):
        port = int.from_bytes(b[at:at + 2], "big")
        b[at:at + 2] = {40000: 40001, 104: 105}.get(port, port).to_bytes(2, "big")
    return bytes(b)


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """Re-segmented and lossy copies of the multi-object C-STORE captures (build_variants)."""
    return build_variants(tmp_path_factory.mktemp("fastpath"))


# The lossy copies the walk's look-ahead and hooks work on most: two associations interleaved, headers in segments of
# their own, 3 to 5 % loss (the mutated-input tests and fuzz/fuzz_pipeline.py --walk start from these).
LOSSY_SEEDS = ("big-store-parallel-loss.pcap", "big-store-split-loss7.pcap", "big-store-loss4.pcap")
# big-store-split with every third P-DATA-TF header lost: a search for the next PDU after each
HEADERS_LOST = "big-store-split-headers-lost.pcap"
# two lossy transfers interleaved, their receivers acknowledging every 300th segment: the walk flushes held segments
SPARSE_ACKS = "big-store-parallel-sparse-acks-loss.pcap"
# the copies whose held segments the walk flushes (acknowledged every 300th segment)
FLUSH_SEEDS = ("big-store-acks300-loss6.pcap", SPARSE_ACKS)


def _interleaved_lossy(d: Path, dst_name: str, size: int, ack_every: int, first: tuple, second: tuple,
                       rng) -> Path:
    """Two lossy big_store transfers (``first``: (name, loss seed), whole headers; ``second``: headers in segments of
    their own, other ports) whose receivers acknowledge every ``ack_every``-th segment, interleaved 1 to 8 records at
    a time as ``rng`` draws, written to ``d / dst_name``."""
    import capwriter as cw
    from storecap import big_store
    pair = []
    for (name, seed), kw in ((first, {}), (second, {"split_headers": True})):
        whole = d / f"{name}.pcap"
        whole.write_bytes(big_store(size, ack_every=ack_every, **kw))
        lossy = d / f"{name}-loss{seed}.pcap"
        losssim.drop_segments(whole, lossy, rate=0.03, seed=seed)
        with open_capture(str(lossy)) as r:
            pair.append([bytes(f.data) for f in r])
    one, two = pair[0], [_other_ports(b) for b in pair[1]]
    mixed, i, j = [], 0, 0
    while i < len(one) or j < len(two):
        k = rng.randint(1, 8)
        if j >= len(two) or i < len(one) and rng.random() < 0.5:
            mixed += one[i:i + k]
            i += k
        else:
            mixed += two[j:j + k]
            j += k
    dst = d / dst_name
    dst.write_bytes(cw.pcap_bytes([(1_700_000_000_000_000_000 + n * 1000, b) for n, b in enumerate(mixed)]))
    return dst


def build_variants(d: Path) -> list[Path]:
    """Re-segmented and lossy copies of the multi-object C-STORE captures, written in folder ``d``."""
    out = []
    for name in ("store.pcap", "diag_per_object.pcap", "close_scp_killed.pcap", "peer_orthanc_scp.pcap"):
        src = CAPTURES / name
        if not src.exists():
            continue
        for mss in (1448, 200):
            dst = d / f"{src.stem}-mss{mss}.pcap"
            losssim.resegment(src, dst, mss=mss)
            out.append(dst)
        for seed, rate in ((1, 0.01), (2, 0.05)):
            dst = d / f"{src.stem}-loss{seed}.pcap"
            losssim.drop_segments(src, dst, rate=rate, seed=seed, mss=1448)
            out.append(dst)
    from storecap import big_store

    def whole_and_lossy(name: str, data: bytes, losses) -> None:
        """``name``.pcap, and a copy ``name``-loss<seed>.pcap per (seed, rate) in ``losses``."""
        whole = d / f"{name}.pcap"
        whole.write_bytes(data)
        out.append(whole)
        for seed, rate in losses:
            dst = d / f"{name}-loss{seed}.pcap"
            losssim.drop_segments(whole, dst, rate=rate, seed=seed)
            out.append(dst)

    # A big object streamed in 16 KiB PDUs at MSS 1448 (tests/storecap.py), whole and lossy: the
    # fast path's three cases (inside a PDV, across a PDU boundary, past bytes a gap cut) all occur.
    whole_and_lossy("big-store", big_store(1 << 20), ((3, 0.01), (4, 0.05)))
    # Each P-DATA-TF's headers in a 12-byte segment of their own (DCMTK on a TCP_NODELAY socket): the walk
    # begins the next PDU of a data set itself (begin_pdu), whole and lossy.
    whole_and_lossy("big-store-split", big_store(1 << 20, split_headers=True), ((6, 0.02), (7, 0.05)))
    # The same with every third P-DATA-TF header lost (its 12-byte segments): after each, the framer searches for the
    # next PDU (PduFramer._expect), and the walk holds and replays the bytes that search needs.
    headers = [0]

    def every_third_header(seg) -> bool:
        if seg.length != 12:
            return False
        headers[0] += 1
        return headers[0] % 3 == 0
    dst = d / HEADERS_LOST
    losssim.drop_segments(d / "big-store-split.pcap", dst, only=every_third_header)
    out.append(dst)
    # Loopback-sized segments (64 KiB) carrying several whole 4 KiB P-DATA-TFs each, whole and lossy.
    whole_and_lossy("big-store-jumbo", big_store(1 << 20, max_pdu=4096, mss=65000), ((5, 0.05),))
    # A receiver that acknowledges every 300th segment: the segments after a hole often wait for an ACK beyond the
    # look-ahead's reach, several holes to one ACK, which the walk flushes itself (_walk.c flush_deferred).
    whole_and_lossy("big-store-acks300", big_store(2 << 20, ack_every=300), ((6, 0.03),))
    # Two lossy transfers interleaved a few records at a time (associations in parallel, as the bench captures
    # have them): after a hole, the walk's look-ahead reads the other association's records too (_walk.c
    # hole_settled), and the events must still come in the general path's order. The receivers acknowledge every
    # 16th segment, as on loopback, so that the other's records come between a hole and its ACK.
    import random
    import capwriter as cw
    rng = random.Random(8)
    out.append(_interleaved_lossy(d, "big-store-parallel-loss.pcap", 1 << 20, 16, ("acks16", 9), ("acks16-split", 10),
                                  rng))
    # The same with receivers that acknowledge every 300th segment (SPARSE_ACKS): past the look-ahead's reach, the
    # segments after a hole are held until the ACK, several holes to one ACK, which the walk flushes itself
    # (_walk.c flush_deferred).
    out.append(_interleaved_lossy(d, SPARSE_ACKS, 2 << 20, 300, ("acks300", 13), ("acks300-split", 14), rng))
    # The same lossy transfer on the other link layers the fast path reads (Linux cooked v1/v2,
    # raw IP, BSD loopback in both byte orders).
    with open_capture(str(d / "big-store-loss4.pcap")) as r:
        recs = [(f.ts_ns, f.data[14:]) for f in r]
    for link, name, kw in ((cw.SLL, "sll", {}), (cw.SLL2, "sll2", {}), (cw.RAW, "raw", {}),
                           (cw.NULL, "null", {}), (cw.NULL, "null-be", {"big_endian": True})):
        dst = d / f"big-store-loss4-{name}.pcap"
        dst.write_bytes(cw.pcap_bytes([(ts, cw.frame(link, ip, **kw)) for ts, ip in recs], link))
        out.append(dst)
    # The record formats the compiled walk reads: big-endian nanosecond pcap; pcapng in both byte
    # orders and two resolutions, its records alternating between two interfaces of different link
    # types; and pcapng as editcap writes it.
    eth = [(ts, cw.frame(cw.ETHERNET, ip)) for ts, ip in recs]
    dst = d / "big-store-loss4-be-ns.pcap"
    dst.write_bytes(cw.pcap_bytes(eth, nanos=True, big_endian=True))
    out.append(dst)
    for name, kw in (("ng", {"tsresol": 9}), ("ng-be", {"tsresol": 6, "big_endian": True})):
        dst = d / f"big-store-loss4-{name}.pcapng"
        dst.write_bytes(cw.pcapng_bytes(
            [(ts, cw.ETHERNET, cw.frame(cw.ETHERNET, ip)) if i % 3 else (ts, cw.SLL, cw.frame(cw.SLL, ip))
             for i, (ts, ip) in enumerate(recs)], **kw))
        out.append(dst)
    if shutil.which("editcap"):
        for src in (CAPTURES / "store.pcap", d / "big-store-loss3.pcap", d / "close_scp_killed-mss200.pcap"):
            if src.exists():
                dst = d / f"{src.stem}-editcap.pcapng"
                subprocess.run(["editcap", "-F", "pcapng", str(src), str(dst)], check=True)
                out.append(dst)
    return out


@pytest.mark.parametrize("mode", sorted(OPTIONS))
def test_resegmented_and_lossy_copies_same_events(variants, mode):
    assert variants
    taken = 0
    for path in variants:
        taken += assert_same(path, OPTIONS[mode])
    # The equivalence is not vacuous: the copies at MSS 1448/200 send most data-set bytes fast.
    assert taken > 100


@pytest.mark.parametrize("name", ["close_scp_killed-mss200", "big-store-loss4", "big-store-loss4-sll",
                                  "big-store-loss4-sll2", "big-store-loss4-raw", "big-store-loss4-null",
                                  "big-store-loss4-null-be"])
def test_fast_path_carries_most_segments_of_a_big_transfer(variants, name):
    path = next(p for p in variants if p.name == f"{name}.pcap")
    _, _, frames, taken = run(path, fast=True, options=OPTIONS["tiny"])
    assert taken > frames // 2


def test_the_rest_of_a_data_set_a_loss_ended_goes_the_fast_path(variants):
    """At 5 % loss the big object's message is ended by its first hole; the PDVs after it have no message
    (their command set is long gone) and are only counted: the fast path carries them, inside a PDV and
    across P-DATA-TF boundaries, and counts the same orphan PDVs as the general path."""
    from dicomsniff.capture.frame import Frame
    from dicomsniff.pipeline import _AFTER_LOSS

    path = next(p for p in variants if p.name == "big-store-loss4.pcap")
    orphans, carried = {}, 0
    for fast in (False, True):
        an = Analyzer(fast=fast, **OPTIONS["summary"])
        assemblers = {}
        with open_capture(str(path)) as reader:
            for number, ts, lt, buf, s, e, orig, foff, iface in reader.records():
                for stream, d in an.dicom.items():
                    assemblers[stream] = d.assembler
                if not fast:
                    an.feed(Frame(number, ts, lt, buf[s:e], orig, foff, iface))
                    continue
                lane = any(f.fast is _AFTER_LOSS for d in an.dicom.values() for f in d.framers)
                evs = an.feed_record((number, ts, lt, buf, s, e, orig, foff, iface))
                if lane and (evs == () or any(type(ev).__name__ == "PduSeen" for ev in evs)):
                    carried += 1
        an.finish()
        orphans[fast] = sorted((k, list(a.orphans_after_loss)) for k, a in assemblers.items())
    assert orphans[True] == orphans[False]
    assert sum(sum(c) for _, c in orphans[True]) > 10     # orphan PDVs counted, the same on both paths
    assert carried > 100                                  # their segments went the fast way


def compiler() -> bool:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) is not None


@pytest.mark.skipif(pipeline._cwalk is None and not compiler(), reason="no C compiler: the pure path is the one")
@pytest.mark.parametrize("name", ["big-store-loss4.pcap", "big-store-loss4-sll2.pcap", "big-store-loss4-null-be.pcap",
                                  "big-store-loss4-be-ns.pcap", "big-store-loss4-ng.pcapng",
                                  "big-store-loss4-ng-be.pcapng", "big-store-loss3-editcap.pcapng"])
def test_compiled_walk_is_built_and_takes_most_records(variants, name, monkeypatch):
    """Where a C compiler exists the extension is built (``pip install``/``-e``, setup.py) and used, so
    the comparisons above cover the walk, not only the fallback: through ``read_events`` (the commands'
    loop) it takes most records of a big transfer, in every record format it reads."""
    from dicomsniff.reading import read_events
    monkeypatch.delenv("DICOMSNIFF_PURE", raising=False)
    assert pipeline._cwalk is not None, "the compiled walk was not built (pip install -e . / setup.py build_ext)"
    path = next(p for p in variants if p.name == name)
    an = Analyzer(**OPTIONS["summary"])
    assert an.walk
    events = list(read_events(str(path), an))
    assert events
    assert an.walked > an.frames // 2


@pytest.mark.skipif(pipeline._cwalk is None, reason="the compiled walk is not built")
def test_walk_begins_the_next_pdu_of_a_data_set(variants, monkeypatch):
    """A P-DATA-TF whose headers come in a segment of their own, continuing a data set nobody reads, is
    begun by the walk (Analyzer._pdu_step's work, in C): once the data set's first bytes are collected,
    no such 12-byte segment reaches Python; the records left to it are about one per PDU (the segment
    that ends it), not two. (The lossy copies' equivalence is in the tests above.)"""
    from dicomsniff.reading import read_events
    monkeypatch.delenv("DICOMSNIFF_PURE", raising=False)
    path = next(p for p in variants if p.name == "big-store-split.pcap")
    an = Analyzer(**OPTIONS["summary"])
    headers = []
    feed = an.feed_record

    def counting(rec):
        if rec[5] - rec[4] == 14 + 40 + 12:         # Ethernet, IPv4 and TCP without options, 12 bytes
            headers.append(rec[0])
        return feed(rec)

    an.feed_record = counting
    events = list(read_events(str(path), an))
    pdus = sum(1 for ev in events if type(ev).__name__ == "PduSeen")
    keep = OPTIONS["summary"].get("keep_limit", 1 << 20)
    assert pdus > 60
    assert len(headers) <= keep // 16378 + 2, headers          # the collected PDUs' headers only
    assert an.frames - an.walked < pdus + 3 * keep // 1448 + 20


@pytest.mark.skipif(pipeline._cwalk is None, reason="the compiled walk is not built")
@pytest.mark.parametrize("mode", ["summary", "export", "viewer"])
def test_walk_feeds_the_collectors_of_data_sets(tmp_path, mode, monkeypatch):
    """While a data set's collector keeps bytes (64 KiB for summary, 256 KiB for export, 1 MiB for the viewer),
    the walk appends the values to it itself (DataSetCollector.feed), as it does not for an inflating one:
    Python feeds only what crosses a PDU's end, a small part of the bytes kept (the equivalence tests check
    that the kept bytes are the same). Before, every such segment was Python's: the viewer's 1 MiB per object
    was 14,000 Python calls per 150,000 frames of the MTU-1500 bench capture."""
    from storecap import big_store
    from dicomsniff.dimse import dataset as dsmod
    from dicomsniff.reading import read_events
    monkeypatch.delenv("DICOMSNIFF_PURE", raising=False)
    path = tmp_path / "store-4m.pcap"
    path.write_bytes(big_store(4 << 20, split_headers=True, ack_every=2))
    an = Analyzer(**OPTIONS[mode])
    asked = {"feeding": 0, "other": 0}
    want = an._want_walk

    def counting(d):
        asked["feeding" if d.lane is not None and d.lane.fast_feed is not None else "other"] += 1
        want(d)

    fed = 0
    feed = dsmod.DataSetCollector.feed

    def python_feeds(self, chunk):
        nonlocal fed
        fed += len(chunk)
        feed(self, chunk)

    an._want_walk = counting
    monkeypatch.setattr(dsmod.DataSetCollector, "feed", python_feeds)
    kept = [ev.message.data.kept for ev in read_events(str(path), an)
            if type(ev).__name__ == "MessageSeen" and ev.message.data is not None]
    assert kept == [OPTIONS[mode]["keep_limit"]]
    assert asked["feeding"] > 0 and fed < kept[0] // 5, (asked, fed)
    assert an.walked > an.frames * 3 // 4


def test_pure_switch_runs_the_pure_fast_path(variants, monkeypatch):
    """``DICOMSNIFF_PURE=1`` (and ``Analyzer(walk=False)``) turn the walk off: the same events, nothing walked,
    the pure fast path finishing the records instead."""
    from dicomsniff.reading import read_events
    path = next(p for p in variants if p.name == "big-store-loss4.pcap")
    monkeypatch.setenv("DICOMSNIFF_PURE", "1")
    pure = Analyzer(**OPTIONS["summary"])
    assert not pure.walk
    finished = 0
    feed = pure.feed_record

    def counting(rec):
        nonlocal finished
        evs = feed(rec)
        finished += evs == ()
        return evs

    pure.feed_record = counting
    pure_events = [canon(e) for e in read_events(str(path), pure)]
    assert pure.walked == 0 and finished > pure.frames // 2
    assert not Analyzer(walk=False).walk and not Analyzer(fast=False).walk
    monkeypatch.delenv("DICOMSNIFF_PURE")
    if pipeline._cwalk is not None:
        walked = Analyzer(**OPTIONS["summary"])
        assert [canon(e) for e in read_events(str(path), walked)] == pure_events
        assert walked.walked > 0


@pytest.mark.skipif(pipeline._cwalk is None, reason="the compiled walk is not built")
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("seed", [5, 6])
def test_walk_stops_where_the_reader_or_the_general_path_must_act(variants, tmp_path, fmt, seed):
    """Damaged copies of a big transfer (records cut by the snap length, bytes flipped, IP options, other
    protocols, the file ending inside a record), read through ``read_events`` (reader notices included)
    with the walk and without: the same events, frame count and model."""
    import random
    import capwriter as cw
    from dicomsniff.reading import read_events
    rnd = random.Random(seed)
    with open_capture(str(next(p for p in variants if p.name == "big-store-loss3.pcap"))) as r:
        recs = []
        for fr in r:
            data, orig = bytearray(fr.data), len(fr.data)
            x = rnd.random()
            if x < 0.01 and len(data) > 80:
                del data[-rnd.randrange(1, 40):]            # cut by the snap length
            elif x < 0.02:
                data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
            elif x < 0.025:
                data[14] = 0x46                             # IPv4 with options
            elif x < 0.03:
                data[14 + 9] = 17                           # not TCP
            recs.append((fr.ts_ns, bytes(data), orig))
    blob = (cw.pcap_bytes(recs) if fmt == "pcap" else
            cw.pcapng_bytes([(ts, cw.ETHERNET, data, orig) for ts, data, orig in recs]))
    path = tmp_path / f"damaged.{fmt}"
    path.write_bytes(blob[:len(blob) - rnd.randrange(1, 1000)])
    results = []
    for walk in (False, True):
        an = Analyzer(walk=walk, **OPTIONS["tiny"])
        events = [canon(e) for e in read_events(str(path), an)]
        results.append((events, [canon(a) for a in an.associations], an.frames))
        if walk:
            assert an.walked > an.frames // 4
    assert results[0] == results[1]


@pytest.mark.parametrize("widths", [("I", "H"), ("Q", "I")])
def test_walk_sink_records_every_record_it_takes(variants, tmp_path, widths):
    """A consumer that keeps every record (the viewer's frame index) gets, through a RecordSink, the file
    offset, length and time of each record the compiled walk takes, exactly as reading them one by one
    gives; events are unchanged. On pcap and pcapng, whole and lossy."""
    from array import array

    from dicomsniff.capture.recordsink import RecordSink
    from dicomsniff.pipeline import _cwalk

    if _cwalk is None:
        pytest.skip("the compiled walk is not built here")
    import subprocess
    paths = [p for p in variants if p.name in ("big-store.pcap", "big-store-loss4.pcap", "big-store-loss4-sll2.pcap")]
    ng = tmp_path / "big-store.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(paths[0]), str(ng)], check=True, capture_output=True)
    paths.append(ng)
    for path in paths:
        want = []
        with open_capture(str(path)) as reader:
            for rec in reader.records():
                want.append((rec[7], rec[5] - rec[4], rec[1]))
        opts = dict(OPTIONS["viewer"], keep_limit=512)     # the viewer's, with the data sets past 512 bytes unread
        an = Analyzer(**opts)
        o, n, t = array(widths[0]), array(widths[1]), array("q")
        an.walk_sink = RecordSink(lambda: (o, n, t))
        events = []
        with open_capture(str(path)) as reader:
            an.connect(reader)
            for rec in reader.records():
                if len(t) != rec[0] - 1:
                    raise AssertionError(f"record {rec[0]}: {len(t)} records indexed before it")
                o.append(rec[7])
                n.append(rec[5] - rec[4])
                t.append(rec[1])
                events.extend(an.feed_record(rec))
        events.extend(an.finish())
        assert an.walked > 0, path.name
        assert list(zip(o, n, t)) == want, path.name
        slow_events, _, _, _ = run(path, fast=False, options=opts)
        assert [canon(e) for e in events] == slow_events, path.name


@pytest.mark.skipif(pipeline._cwalk is None, reason="the compiled walk is not built")
def test_walk_on_randomly_mutated_captures_agrees_with_the_pure_path(variants, tmp_path):
    """Hostile bytes anywhere (record headers, lengths, link, IP and TCP headers, PDUs), pcap and pcapng,
    intact and lossy, with P-DATA-TF headers in segments of their own or not: the C walk never crashes the
    process and gives what the pure path gives (550 such inputs were run by hand while writing it, 600 more
    with the split headers; 180 stay in the suite, a sixth of them from two lossy associations interleaved, half
    of them read as summary reads them, quiet PDUs counted; more in
    test_walk_on_mutated_lossy_captures_read_as_summary_agrees)."""
    import random
    import subprocess
    big = next(p for p in variants if p.name == "big-store.pcap")
    ng = tmp_path / "big-store.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(big), str(ng)], check=True, capture_output=True)
    seeds = [big.read_bytes(), next(p for p in variants if p.name == "big-store-loss4.pcap").read_bytes(),
             ng.read_bytes()] + [next(p for p in variants if p.name == name).read_bytes()
                                 for name in ("big-store-split.pcap", "big-store-split-loss6.pcap",
                                              "big-store-parallel-loss.pcap")]
    rnd = random.Random(18)
    walked = 0
    for i in range(180):
        path = tmp_path / f"mutated-{i}.{'pcapng' if i % 6 == 2 else 'pcap'}"
        path.write_bytes(_mutated(rnd, seeds[i % 6]))
        # every other one as summary reads it: the quiet P-DATA-TFs counted in C (quiet_step) and by the hook
        walked += _walk_agrees(path, OPTIONS["tiny"] if i % 2 else dict(OPTIONS["summary"], quiet_pdus=True))
    assert walked > 10_000              # the walk did run on them


def _mutated(rnd, seed: bytes) -> bytes:
    """``seed`` with 1 to 19 random changes: bytes set, four bytes replaced, up to 63 deleted or inserted."""
    blob = bytearray(seed)
    for _ in range(rnd.randrange(1, 20)):
        k, pos = rnd.random(), rnd.randrange(len(blob))
        if k < 0.6:
            blob[pos] = rnd.randrange(256)
        elif k < 0.8:
            blob[pos:pos + 4] = rnd.randbytes(4)
        elif k < 0.9:
            del blob[pos:pos + rnd.randrange(1, 64)]
        else:
            blob[pos:pos] = rnd.randbytes(rnd.randrange(1, 64))
    return bytes(blob)


def _walk_agrees(path, options: dict) -> int:
    """Read ``path`` as read_events gives it, with and without the compiled walk: the same events, frames,
    associations and PduFacts (caught up with what was counted quietly), else an assertion; the records walked."""
    from dicomsniff.capture.reader import CaptureFormatError
    from dicomsniff.model.diagnosis import PduFacts, PduWatch
    from dicomsniff.reading import read_events
    results = []
    walked = 0
    for walk in (False, True):
        an = Analyzer(walk=walk, **options)
        watch = PduWatch()
        try:
            events = []
            for e in read_events(str(path), an):
                watch.event(e)
                events.append(canon(e))
        except CaptureFormatError:
            events = "not a capture"
        facts = {}
        for a in an.associations:      # (PduFacts take in what was counted quietly)
            f = watch.facts.setdefault(a.number, PduFacts())
            f.catch_up(a)
            facts[a.number] = canon(f)
        results.append((events, an.frames, [canon(a) for a in an.associations], facts))
        walked += an.walked
    assert results[0] == results[1], path.name
    return walked


@pytest.mark.parametrize("seed, inputs", [(42, 700), (55, 110)])
def test_walk_on_mutated_lossy_captures_read_as_summary_agrees(variants, tmp_path, seed, inputs):
    """More mutated inputs (_mutated), all read as summary reads them, from the lossy copies where the walk's
    look-ahead and its hooks work: two associations interleaved, headers in segments of their own, 3 to 5 % loss.
    These two runs held an input each that the walk gave otherwise before: an event a hook made waiting for a
    next record the truncated capture did not have, then coming after the reader's notice of that end (seed
    42, its 690th); a PDU event made after a hole the look-ahead settled, which did not carry the quiet PDUs
    before it as the held path's event does (seed 55, its 107th). 10,600 such inputs run by hand found them;
    25,000 more ran clean after the fixes."""
    import random
    if pipeline._cwalk is None:
        pytest.skip("the compiled walk is not built")
    seeds = [next(p for p in variants if p.name == name).read_bytes() for name in LOSSY_SEEDS]
    rnd = random.Random(seed)
    for i in range(inputs):
        path = tmp_path / f"mutated-{i}.pcap"
        path.write_bytes(_mutated(rnd, seeds[i % 3]))
        _walk_agrees(path, dict(OPTIONS["summary"], quiet_pdus=True))


def _export_agrees(path, jsonl: bool = True) -> None:
    """What ``export --no-trees`` writes of ``path`` (export_written) with the compiled walk, counting PDUs quietly
    as the command does, is what the general path's events give, line for line (a file that is no capture: neither
    writes anything), else an assertion."""
    from dicomsniff.capture.reader import CaptureFormatError
    results = []
    for options in (dict(fast=False), dict(fast=True, walk=True, quiet=True)):
        try:
            results.append(export_written(path, jsonl=jsonl, **options)[0])
        except CaptureFormatError:
            results.append("not a capture")
    ref, got = results
    if got != ref:
        line = next(i for i, (x, y) in enumerate(zip(list(got) + [None], list(ref) + [None])) if x != y)
        raise AssertionError(f"{path.name}: line {line} differs: {got[line] if line < len(got) else None!r} "
                             f"against {ref[line] if line < len(ref) else None!r}")


def test_walk_on_mutated_lossy_captures_written_as_export_agrees(variants, tmp_path):
    """Mutated lossy inputs (_mutated) written as ``export --jsonl --no-trees`` and as the ``-o`` document write them:
    with the walk, its hooks around the losses and the held deliveries writing into quiet_out (Analyzer._ordered_out),
    the lines are the general path's (_export_agrees); the fuzzer's ``--walk`` runs more (fuzz/README.md)."""
    import random
    if pipeline._cwalk is None:
        pytest.skip("the compiled walk is not built")
    seeds = [next(p for p in variants if p.name == name).read_bytes() for name in LOSSY_SEEDS + (HEADERS_LOST,)]
    rnd = random.Random(56)
    for i in range(160):
        path = tmp_path / f"mutated-{i}.pcap"
        path.write_bytes(_mutated(rnd, seeds[i % len(seeds)]))
        _export_agrees(path, jsonl=i % 2 == 0)


@pytest.mark.parametrize("bound, kept, inputs", [(0, 50, 120), (6, 2, 120)])
def test_walk_counts_holes_past_the_findings_bound_as_the_pure_path(variants, tmp_path, monkeypatch, bound, kept,
                                                                   inputs):
    """Past an association's findings bound (association.MAX_FINDINGS) a hole inside a data PDV and the end of the
    P-DATA-TF it cut change only counts, and the compiled walk keeps those counts with the quiet PDUs' until it hands
    them over (_walk.c gap_pdv and cut_end: Association.note_gaps, count_quiet's cuts and what count_quiet_cut would
    have kept of them, MAX_CUTS_KEPT). With the bounds lowered so that the small lossy copies pass them (the big
    captures' associations do at ~500 holes), the lossy copies and mutated inputs of them read as summary reads them
    give the pure path's events, associations and PduFacts; and the walk did count holes and cut PDUs that way."""
    import random
    from dicomsniff.model import association
    if pipeline._cwalk is None:
        pytest.skip("the compiled walk is not built")
    monkeypatch.delenv("DICOMSNIFF_PURE", raising=False)
    monkeypatch.setattr(association, "MAX_FINDINGS", bound)
    monkeypatch.setattr(association, "MAX_CUTS_KEPT", kept)
    counts = {"holes": 0, "cuts": 0}
    counting(monkeypatch, association.Association, "note_gaps", counts, "holes")
    count_quiet = association.Association.count_quiet

    def counting_cuts(a, *args):
        counts["cuts"] += args[14] if len(args) > 14 else 0     # (cuts: the walk passes all by position)
        return count_quiet(a, *args)
    monkeypatch.setattr(association.Association, "count_quiet", counting_cuts)
    options = dict(OPTIONS["summary"], quiet_pdus=True)
    seeds = [next(p for p in variants if p.name == name) for name in LOSSY_SEEDS]
    for path in seeds:
        _walk_agrees(path, options)
    assert counts["holes"] > 10 and counts["cuts"] > 10, counts
    rnd = random.Random(bound)
    for i in range(inputs):
        path = tmp_path / f"mutated-{i}.pcap"
        path.write_bytes(_mutated(rnd, seeds[i % 3].read_bytes()))
        _walk_agrees(path, options)


def counting(monkeypatch, owner, name: str, counts: dict, key: str, add=lambda result: 1) -> None:
    """Count the calls of ``owner.name`` in ``counts[key]``: ``add(result)`` for each (1 by default)."""
    orig = getattr(owner, name)

    def wrapper(*args, **kwargs):
        result = orig(*args, **kwargs)
        counts[key] += add(result)
        return result
    monkeypatch.setattr(owner, name, wrapper)


def counting_settled(monkeypatch, counts: dict) -> None:
    """Count the holes taken without a StreamGap event: in ``counts["settled ahead"]`` those with nothing held after
    them (the compiled walk's look-ahead settled them: Analyzer._take_gap, or for the usual shapes the walk itself,
    _walk.c gap_pdv, whose only Python call is Association.note_gap, or note_gaps for several past the findings'
    bound), in ``counts["settled held"]`` the others."""
    take_gap = pipeline.Analyzer._take_gap
    note_gap = pipeline.Association.note_gap
    note_gaps = pipeline.Association.note_gaps

    def taking(an, x, *args):
        held = bool(x.pending)
        took = take_gap(an, x, *args)
        counts["settled held" if held else "settled ahead"] += took
        return took

    def noting(a, *args):
        if sys._getframe(1).f_code is pipeline.Analyzer._walk_hook.__code__:     # (called by the walk itself)
            counts["settled ahead"] += 1
        return note_gap(a, *args)

    def noting_all(a, d, count, *args):
        counts["settled ahead"] += count            # (only the walk calls it)
        return note_gaps(a, d, count, *args)
    monkeypatch.setattr(pipeline.Analyzer, "_take_gap", taking)
    monkeypatch.setattr(pipeline.Association, "note_gap", noting)
    monkeypatch.setattr(pipeline.Association, "note_gaps", noting_all)


@pytest.mark.parametrize("walk", [False, True])
def test_losses_go_the_fast_lanes(variants, walk, monkeypatch):
    """After a capture loss inside a data set nobody reads, the general framer is left only what it must
    judge: the gap itself is taken by the lane (Analyzer._gap_in_pdv, also one in the rest of a PDV a gap
    cut), the segment that ends the PDU the gap cut and begins the data set's next P-DATA-TF by _pdu_step, and
    the bytes a search for the next PDU holds are buffered without framing (PduFramer.hold_candidate, or the
    compiled walk) and, once a PDU validates, replayed through the lanes (Analyzer._replay). Counted on the
    lossy big transfers: the framer's general entry points see a few segments per loss, not the dozens after
    each lost header they used to."""
    from dicomsniff.reading import read_events
    from dicomsniff.ul import framer as fr
    if walk and pipeline._cwalk is None:
        pytest.skip("the compiled walk is not built")
    monkeypatch.delenv("DICOMSNIFF_PURE", raising=False)
    counts = {"skip-end": 0, "searching-held": 0, "gap": 0, "replayed": 0, "held-in-python": 0, "validated": 0}
    feed, replay = fr.PduFramer.feed, pipeline.Analyzer._replay

    def counting_feed(self, ev):
        if self.state == fr.PDATA and self.fast is pipeline._SKIP:
            counts["skip-end"] += 1
        elif self.state == fr.RESYNC and self.rbuf and len(self.rbuf) + len(ev.data) < self.rneed:
            counts["searching-held"] += 1
        return feed(self, ev)

    def counting_replay(self, d, f, out):
        counts["replayed"] += len(f.replay)
        return replay(self, d, f, out)

    monkeypatch.setattr(fr.PduFramer, "feed", counting_feed)
    counting(monkeypatch, fr.PduFramer, "hold_candidate", counts, "held-in-python", bool)
    counting(monkeypatch, fr.PduFramer, "gap", counts, "gap")
    counting(monkeypatch, fr.PduFramer, "_accept", counts, "validated")
    monkeypatch.setattr(pipeline.Analyzer, "_replay", counting_replay)
    losses = 0
    for name in ("big-store-loss4", "big-store-split-loss7"):
        path = next(p for p in variants if p.name == f"{name}.pcap")
        an = Analyzer(walk=walk, **OPTIONS["summary"])
        list(read_events(str(path), an))
        losses += sum(a.gaps for a in an.associations)
    assert losses > 50
    assert counts["replayed"] > 0                   # searches validated PDUs: their bytes went the lanes
    assert counts["skip-end"] <= losses // 10, counts
    assert counts["gap"] <= losses // 3, counts     # (a second hole in a PDV a loss cut too: _gap_in_pdv's _SKIP)
    assert counts["searching-held"] == 0, counts      # (held by hold_candidate, not framed)
    if walk:                                            # the walk holds most of them itself
        assert counts["held-in-python"] <= losses // 4, counts
    else:                                               # (a search holds what is left of the PDU whose header
        assert counts["held-in-python"] > 2 * counts["validated"] > 0, counts  # was lost: segments each)


def diagnosed(path, *, fast: bool, walk: bool = False, quiet: bool = False):
    """What ``summary`` and ``diagnose`` read of ``path`` (run_diagnosed's loop): the findings, each
    association's PduFacts (caught up with the P-DATA-TFs counted quietly) and final state, the events other
    than PduSeen, and the number of PduSeen events."""
    from dicomsniff.model.diagnosis import PduWatch, diagnose
    an = Analyzer(fast=fast, walk=walk, quiet_pdus=quiet, **OPTIONS["summary"])
    assert an.quiet_pdus == quiet and an.walk == walk
    watch = PduWatch()
    events = []
    with open_capture(str(path)) as reader:
        if walk:
            an.connect(reader)
        batches = (an.feed_record(rec) for rec in reader.records()) if fast else (an.feed(f) for f in reader)
        for evs in batches:
            for ev in evs:
                watch.event(ev)
                events.append(ev)
    for ev in an.finish():
        watch.event(ev)
        events.append(ev)
    findings = canon(diagnose(an.associations, watch=watch))
    facts = {}
    for a in an.associations:
        f = watch.facts.get(a.number)
        if f is not None:
            f.catch_up(a)
            facts[a.number] = canon(f)
    pdus = sum(1 for e in events if type(e).__name__ == "PduSeen")
    rest = [canon(e) for e in events if type(e).__name__ != "PduSeen"]
    return findings, facts, [canon(a) for a in an.associations], rest, pdus


def timed_copies(variants, d: Path) -> list[Path]:
    """Copies of the whole big transfers whose timing or end the quiet P-DATA-TFs must not hide: cut in the
    middle of a data set (its last PDU is a middle one: PduFacts' ``last``), with a Maximum Length Received
    its P-DATA-TFs exceed, with an idle gap of 2 s between two middle PDUs, and with the clock going back
    1 s there (the PDUs after it end before the one before them); and (pcapng) with times that leave the
    calendar in the middle of a data set (the quiet P-DATA-TFs' lines then give raw seconds)."""
    import capwriter as cw
    out = []
    for src in (p for p in variants if p.name in ("big-store.pcap", "big-store-split.pcap")):
        with open_capture(str(src)) as r:
            recs = [(f.ts_ns, bytes(f.data)) for f in r]
        # the association negotiating a Maximum Length Received of 4 KiB: its 16 KiB P-DATA-TFs are too long
        small = [(ts, b.replace(b"\x51\x00\x00\x04\x00\x00\x40\x00", b"\x51\x00\x00\x04\x00\x00\x10\x00"))
                 for ts, b in recs]
        assert small != recs
        copies = [("cut", recs[:len(recs) * 3 // 5]), ("over", small)]
        if "split" in src.name:     # the clock changes where a P-DATA-TF begins (its 12-byte segment)
            mid = next(i for i in range(len(recs) * 2 // 5, len(recs))
                       if len(recs[i][1]) == 14 + 20 + (recs[i][1][46] >> 4) * 4 + 12 and recs[i][1][-12:-10] == b"\4\0")
            copies += [("idle", recs[:mid] + [(ts + 2_000_000_000, b) for ts, b in recs[mid:]]),
                       ("back", recs[:mid] + [(ts - 1_000_000_000, b) for ts, b in recs[mid:]])]
        for name, copy in copies:
            dst = d / f"{src.stem}-{name}.pcap"
            dst.write_bytes(cw.pcap_bytes(copy))
            out.append(dst)
        # the calendar's end (timefmt: after 9999-12-30T23:59:59.999999999) 5 µs after the middle record
        mid_ts = recs[len(recs) // 2][0]
        shift = (253_402_300_800 - 86_400) * 1_000_000_000 - 5_000 - mid_ts
        dst = d / f"{src.stem}-far.pcapng"
        dst.write_bytes(cw.pcapng_bytes([(ts + shift, cw.ETHERNET, b) for ts, b in recs]))
        out.append(dst)
    return out


def test_quiet_pdus_change_nothing_the_diagnosis_reads(variants, tmp_path):
    """``quiet_pdus`` (summary, diagnose): the middle P-DATA-TFs of data sets nobody reads are counted, not
    emitted, by the pure fast path and by the compiled walk alike. The findings, PduFacts, associations and
    every other event are those of the general path, which emits every PDU, on every shipped capture, on
    the re-segmented and lossy copies and on the timed ones (:func:`timed_copies`); and most PDUs of the whole big transfers are counted quietly (not
    vacuous)."""
    walks = (False, True) if pipeline._cwalk is not None else (False,)
    emitted = quiet = 0
    timed = timed_copies(variants, tmp_path)
    assert len(timed) == 8
    for path in [CAPTURES / n for n in ALL] + variants + timed:
        ref = diagnosed(path, fast=False)
        for walk in walks:
            got = diagnosed(path, fast=True, walk=walk, quiet=True)
            for i, what in enumerate(("findings", "PduFacts", "associations", "other events")):
                assert got[i] == ref[i], f"{path.name}: {what} differ (walk={walk})"
            assert got[4] <= ref[4]
        if path in variants and path.name.startswith("big-store") and "loss" not in path.name:
            emitted += ref[4]
            quiet += ref[4] - got[4]
    assert quiet > emitted * 3 // 4


def export_written(path, *, fast: bool, walk: bool = False, quiet: bool = False,
                   jsonl: bool = True) -> tuple[list[str], int]:
    """What ``export --no-trees`` writes of ``path`` (``jsonl``: with ``--jsonl``; its analyzer's options;
    ``quiet``: as the command runs it, the P-DATA-TFs counted quietly written from ``Analyzer.quiet_out``), as
    lines, and the PduSeen events."""
    from dicomsniff.cli import STREAM_EXCHANGES
    from dicomsniff.output import json_export as J
    from dicomsniff.reading import read_events
    an = Analyzer(fast=fast, walk=walk, keep_pdus=False, keep_exchanges=STREAM_EXCHANGES, keep_limit=256 << 10,
                  quiet_pdus=quiet, quiet_out=[] if quiet else None, quiet_parts=J.quiet_parts if quiet else None)
    assert an.walk == walk and (an.quiet_out is not None) == quiet
    seen = 0

    def events():
        nonlocal seen
        for ev in read_events(str(path), an):
            seen += type(ev).__name__ == "PduSeen"
            yield ev
    chunks: list[str] = []
    if jsonl:
        J.write_jsonl(events(), chunks.append, path.name, an, trees=False)
        return "\n".join(chunks).split("\n"), seen
    J.write_document_stream(events(), chunks.append, path.name, an, trees=False)
    return "".join(chunks).split("\n"), seen


def test_quiet_pdus_write_the_same_export(variants, tmp_path):
    """``export --no-trees`` counts the middle P-DATA-TFs of data sets quietly and writes their records from
    what the analyzer keeps of them (``Analyzer.quiet_out``: by the pure fast path and by the compiled walk):
    every line of ``--jsonl`` and of the ``-o`` document, in order, is the one written from the general path's
    events, on every shipped capture, the re-segmented and lossy copies and the timed ones (times past the
    calendar's end among them: raw seconds); and most of the big transfers' PDUs were quiet."""
    walks = (False, True) if pipeline._cwalk is not None else (False,)
    emitted = quiet = 0
    raw_times = {False: 0, True: 0}
    for path, jsonl in [(p, j) for p in [CAPTURES / n for n in ALL] + variants + timed_copies(variants, tmp_path)
                        for j in (True, False)]:
        ref, ref_seen = export_written(path, fast=False, jsonl=jsonl)
        for walk in walks:
            got, seen = export_written(path, fast=True, walk=walk, quiet=True, jsonl=jsonl)
            assert len(got) == len(ref), f"{path.name} (walk={walk}, jsonl={jsonl})"
            for i, (a, b) in enumerate(zip(got, ref)):
                assert a == b, f"{path.name}: line {i} differs (walk={walk}, jsonl={jsonl})"
            if path in variants and path.name.startswith("big-store") and "loss" not in path.name:
                emitted += ref_seen
                quiet += ref_seen - seen
            if path.name.endswith("-far.pcapng") and jsonl:
                raw_times[walk] += sum('"type":"P-DATA-TF"' in line and '"time":"@' in line for line in got)
    assert quiet > emitted * 3 // 4
    assert all(n > 10 for n in raw_times.values()), raw_times


def test_losses_stay_in_the_walk_and_quiet(variants, monkeypatch):
    """Around a capture loss inside a data set nobody reads, ``summary``'s analyzer (quiet_pdus) stays in the
    compiled walk: a hole inside a data PDV becomes a gap there without a StreamGap event (Analyzer._take_gap),
    either at once, when the records after the first segment past it settle it (_walk.c hole_settled: the
    receiver's ACK reaches past it before anything else would move), or when that ACK comes, the segments after
    the hole held by the walk itself (hold_first) and the ACK handed to Analyzer._flush_hook without the walk
    returning to the reader; the P-DATA-TF the loss cut is counted (Association.count_quiet_cut), as are the middle
    ones after it, instead of being emitted. What that gives is what the general path gives
    (test_quiet_pdus_change_nothing_the_diagnosis_reads); here: that it happens, counted on the lossy big
    transfers."""
    from dicomsniff.model.diagnosis import PduWatch
    from dicomsniff.reading import read_events
    from dicomsniff.tcp import reassembly
    if pipeline._cwalk is None:
        pytest.skip("the compiled walk is not built")
    monkeypatch.delenv("DICOMSNIFF_PURE", raising=False)
    counts = {"hold in python": 0, "flush hook": 0, "flush hook events": 0, "cut counted": 0, "gap events": 0,
              "settled ahead": 0, "settled held": 0}
    counting_settled(monkeypatch, counts)
    counting(monkeypatch, reassembly.TcpReassembler, "hold", counts, "hold in python")
    counting(monkeypatch, reassembly, "StreamGap", counts, "gap events")
    counting(monkeypatch, pipeline.Analyzer, "_flush_hook", counts, "flush hook")
    hook_done = pipeline.Analyzer._hook_done
    answers = {"went on": 0, "stopped": 0, "went on past a message": 0}

    def answering(an, out):             # (the walk goes on past the events of a hook only when no message is among
        go = hook_done(an, out)         # them: its Exchange may change with the records after it)
        if out:
            answers["went on" if go else "stopped"] += 1
            answers["went on past a message"] += go and any(type(ev) is pipeline.MessageSeen for ev in out)
        return go
    monkeypatch.setattr(pipeline.Analyzer, "_hook_done", answering)
    flush_hook = pipeline.Analyzer._flush_hook

    def flushing(an, *args):            # (events it made wait in _stash, whether the walk goes on or not)
        before = len(an._stash or ())
        go = flush_hook(an, *args)
        counts["flush hook events"] += len(an._stash or ()) > before
        return go
    monkeypatch.setattr(pipeline.Analyzer, "_flush_hook", flushing)
    counting(monkeypatch, pipeline.Association, "count_quiet_cut", counts, "cut counted")
    losses = cut_events = sealed = 0
    for name in ("big-store-loss4", "big-store-split-loss7"):
        path = next(p for p in variants if p.name == f"{name}.pcap")
        an = Analyzer(walk=True, quiet_pdus=True, **OPTIONS["summary"])
        watch = PduWatch()
        for ev in read_events(str(path), an):
            watch.event(ev)
            if type(ev).__name__ == "PduSeen":
                cut_events += not ev.pdu.complete and ev.pdu.pdu_type == 4
                sealed += ev.quiet is not None
        losses += sum(a.gaps for a in an.associations)
    assert losses > 50
    # (the first segments after a hole the receiver had acknowledged already are Python's: half of these copies')
    assert counts["hold in python"] <= losses * 3 // 4, counts
    assert counts["settled ahead"] >= losses // 2 and counts["settled held"] > 0, counts
    assert counts["flush hook"] > 0, counts
    assert counts["cut counted"] >= losses // 4 and cut_events < counts["cut counted"], (counts, cut_events)
    assert sealed > 0 and counts["flush hook events"] > 0, (counts, sealed)
    assert answers["went on"] > 0 and answers["stopped"] > 0 and not answers["went on past a message"], answers
    # the holes declared inside a data PDV, or ending the P-DATA-TF they cut (Analyzer._gap_ends_pdu), make no
    # StreamGap event (Analyzer._take_gap): three quarters of these copies' holes (every hole made one before;
    # 24 of 84 without _gap_ends_pdu)
    assert counts["gap events"] <= losses // 4, counts


def test_export_stays_in_the_walk_around_losses(variants, monkeypatch):
    """``export --no-trees`` (quiet_out: it writes a line per PDU, in order) gets what summary's analyzer gets around
    a capture loss (test_losses_stay_in_the_walk_and_quiet): the walk's hooks for the holes, the bytes held after them
    delivered with their middle P-DATA-TFs counted, and the P-DATA-TF a loss cut counted with a line that says what it
    lost (Analyzer._cut_line). What a hook or a held delivery makes goes into quiet_out in order with the lines around
    it (Analyzer._ordered_out): the walk goes on past the PDUs' events and notices, which the consumer writes the same
    later; a message (whose Exchange the records after may change) is given, with the lines before it, before the next
    record is read (read_events takes the stash first). What it writes is the general path's, line for line
    (test_quiet_pdus_write_the_same_export); here: that it happens, on the lossy big transfers."""
    from dicomsniff.cli import STREAM_EXCHANGES
    from dicomsniff.output import json_export as J
    from dicomsniff.reading import read_events
    if pipeline._cwalk is None:
        pytest.skip("the compiled walk is not built")
    monkeypatch.delenv("DICOMSNIFF_PURE", raising=False)
    counts = {"flush hook": 0, "cut lines": 0, "cut events": 0, "stash at a record": 0}
    counting(monkeypatch, pipeline.Analyzer, "_flush_hook", counts, "flush hook")
    counting(monkeypatch, pipeline.Analyzer, "_cut_line", counts, "cut lines")
    ordered_out = pipeline.Analyzer._ordered_out
    went_on = {"events": 0, "past a message": 0}
    given = {"messages": 0, "lines with them": 0}

    def ordering(an, at):
        made = an.quiet_out[at:]
        out = ordered_out(an, at)
        events = [ev for ev in made if type(ev) is not tuple]
        if not out:
            went_on["events"] += bool(events)
            went_on["past a message"] += any(type(ev) is pipeline.MessageSeen for ev in events)
        else:
            assert not an.quiet_out and out[-len(made):] == made     # (all of quiet_out, in order)
            given["messages"] += any(type(ev) is pipeline.MessageSeen for ev in out)
            given["lines with them"] += any(type(ev) is tuple for ev in out)
        return out
    monkeypatch.setattr(pipeline.Analyzer, "_ordered_out", ordering)
    feed_record = pipeline.Analyzer.feed_record

    def feeding(an, rec):               # (a hook's events never wait for the record after them)
        counts["stash at a record"] += an._stash is not None
        return feed_record(an, rec)
    monkeypatch.setattr(pipeline.Analyzer, "feed_record", feeding)
    for name in ("big-store-loss4", "big-store-split-loss7"):
        path = next(p for p in variants if p.name == f"{name}.pcap")
        an = Analyzer(walk=True, keep_pdus=False, keep_exchanges=STREAM_EXCHANGES, keep_limit=256 << 10,
                      quiet_pdus=True, quiet_out=[], quiet_parts=J.quiet_parts)
        chunks: list[str] = []
        before = counts["cut lines"]
        J.write_jsonl(read_events(str(path), an), chunks.append, path.name, an, trees=False)
        lost = sum('"lost":' in line for line in "\n".join(chunks).split("\n"))
        counts["cut events"] += lost - (counts["cut lines"] - before)
    assert counts["flush hook"] > 0, counts
    assert counts["cut lines"] > 20 and counts["cut events"] < counts["cut lines"], counts
    assert went_on["events"] > 0 and not went_on["past a message"], went_on
    assert given["messages"] > 0 and given["lines with them"] > 0, given
    assert counts["stash at a record"] == 0, counts


def test_a_lost_pdu_header_is_searched_and_replayed_in_the_walk(variants, monkeypatch):
    """A capture loss that takes a P-DATA-TF's header (big-store-split: each PDU's headers in a 12-byte segment of
    their own; every third of those lost): the framer searches for the next PDU (PduFramer._expect). ``summary``'s
    walk holds the bytes the search needs, from the first segment after the hole (_walk.take_held, once the
    receiver's ACK declared it) to the one that completes them, which it hands to Analyzer._search_hook instead of
    returning to the reader; the framer judges them there, once, where the next header is expected: the P-DATA-TF
    found there, as long as the last one, is taken without waiting for the header after it (PduFramer._validate),
    and framed from the bytes held (Analyzer._replay: here its headers' segment), the rest of it by the walk as any
    PDU; the resync notice waits in _stash while the walk goes on (Analyzer._hook_done). The events, associations
    and PduFacts are the pure path's (and for mutated copies: test_walk_on_mutated_copies_with_lost_headers_agrees);
    and it happens, with the framer's search run once a lost header."""
    if pipeline._cwalk is None:
        pytest.skip("the compiled walk is not built")
    monkeypatch.delenv("DICOMSNIFF_PURE", raising=False)
    path = next(p for p in variants if p.name == HEADERS_LOST)
    options = dict(OPTIONS["summary"], quiet_pdus=True)
    _walk_agrees(path, options)
    counts = {"search hook": 0, "searches": 0, "accepted": 0, "replayed": 0, "held in python": 0, "went on": 0}
    search_hook = pipeline.Analyzer._search_hook

    def searching(an, x):               # (the walk goes on past a search whose events are its resync notice)
        before = len(an._stash or ())
        go = search_hook(an, x)
        made = an._stash[before:] if an._stash else []
        counts["went on"] += go and bool(made) and all(type(ev) is pipeline.Notice for ev in made)
        return go
    monkeypatch.setattr(pipeline.Analyzer, "_search_hook", searching)
    counting(monkeypatch, pipeline.Analyzer, "_search_hook", counts, "search hook")
    counting(monkeypatch, pipeline.PduFramer, "_search", counts, "searches")
    counting(monkeypatch, pipeline.PduFramer, "_accept", counts, "accepted")
    counting(monkeypatch, pipeline.PduFramer, "hold_candidate", counts, "held in python", bool)
    replay = pipeline.Analyzer._replay

    def replaying(self, d, f, out):
        counts["replayed"] += len(f.replay)
        return replay(self, d, f, out)
    monkeypatch.setattr(pipeline.Analyzer, "_replay", replaying)
    from dicomsniff.reading import read_events
    an = Analyzer(walk=True, **options)
    list(read_events(str(path), an))
    lost = sum(a.gaps for a in an.associations)
    accepted = counts["accepted"]
    assert lost >= 15 and accepted == lost, (counts, lost)
    # (16 KiB PDUs at MSS 1448: 13 segments a PDU, the first its headers: the one piece replayed)
    assert counts["replayed"] == accepted, counts
    assert counts["search hook"] == counts["searches"] == counts["went on"] == accepted, counts
    # (the bytes after a hole are held by the walk; Python's hold_candidate holds one now and then: a segment the
    # walk did not reach)
    assert counts["held in python"] <= accepted // 10, counts


def test_walk_on_mutated_copies_with_lost_headers_agrees(variants, tmp_path):
    """Mutated inputs (_mutated) of the copy whose P-DATA-TF headers are lost every third PDU, read as summary reads
    them: the walk's search hook and replay give the pure path's events, associations and PduFacts."""
    import random
    if pipeline._cwalk is None:
        pytest.skip("the compiled walk is not built")
    seed = next(p for p in variants if p.name == HEADERS_LOST).read_bytes()
    rnd = random.Random(18)
    for i in range(150):
        path = tmp_path / f"mutated-{i}.pcap"
        path.write_bytes(_mutated(rnd, seed))
        _walk_agrees(path, dict(OPTIONS["summary"], quiet_pdus=True))


def test_the_walk_flushes_the_segments_it_held(variants, monkeypatch):
    """Segments held after a hole (the receiver's ACK past it beyond the look-ahead's reach, 256 records, set here
    whatever it is: it acknowledges every 300th segment) stay in the walk's buffer, not made Python pieces, and the ACK that
    reaches past the hole is flushed by the walk itself (_walk.c flush_deferred): each hole the ACK covers declared as Analyzer._take_gap
    declares it (gap_pdv), the segments after it taken as in-order records, what waits behind a hole the ACK does
    not reach held on; a segment its lane does not take, and a hole gap_pdv does not declare (a PDU header lost in
    it), given to Python one at a time under the held path's sealing (Analyzer._seal_hook), their events returned
    by the flush's Analyzer._drain_hook. Segments held since an earlier walk (Python pieces, the walk's own after
    them) are flushed in the walk too (flush_mixed); what a walk still holds when it ends is parked for the next one
    (_walk.c park, restore; Analyzer._parked_record). The events are the pure path's (the equivalence tests read
    these copies too, and mutated copies here)."""
    if pipeline._cwalk is None:
        pytest.skip("the compiled walk is not built")
    monkeypatch.delenv("DICOMSNIFF_PURE", raising=False)
    paths = [next(p for p in variants if p.name == name) for name in FLUSH_SEEDS]
    reach = pipeline._cwalk.look_ahead(256)     # (a longer reach would settle these holes ahead)
    try:
        _walk_flushes(paths, monkeypatch)
    finally:
        pipeline._cwalk.look_ahead(reach)


def _walk_stats(paths: list) -> tuple[dict, int]:
    """The walk's flush counters (_walk.stats) over reading ``paths`` as summary reads them, and their holes."""
    from dicomsniff.reading import read_events
    before = pipeline._cwalk.stats()
    holes = 0
    for path in paths:
        an = Analyzer(walk=True, **dict(OPTIONS["summary"], quiet_pdus=True))
        list(read_events(str(path), an))
        holes += sum(a.gaps for a in an.associations)
    after = pipeline._cwalk.stats()
    return {k: after[k] - before[k] for k in after}, holes


def _walk_flushes(paths: list, monkeypatch) -> None:
    import random
    done, holes = _walk_stats(paths)
    # (one flush for each ACK that reaches past a hole after the look-ahead gave up on it: a few in these copies, each
    # delivering a couple of hundred segments from the walk's buffer; the segment its lane does not take, the next
    # message's command say, given to Python alone in the middle of the flush, the rest still delivered by the walk)
    assert holes > 100 and done["flushed"] >= 1 and done["sealed"] >= 1, (done, holes)
    assert done["delivered"] >= 400, done
    # (and one whose segments the walk began holding before a walk of its own ended: Python pieces first, flushed
    # in the walk all the same, flush_mixed: here where walks end after every hook's events, as after a message's,
    # in the middle of the interleaved transfers' holds; the walk goes on past most of these copies' events)
    with monkeypatch.context() as m:
        m.setattr(pipeline, "_deferrable", lambda events: False)
        mixed, _ = _walk_stats(paths)
    assert mixed["mixed"] >= 1, mixed
    # (and what a walk holds when it ends, another association's hook having made events or the mapped window
    # ending, parked in C for the next walk, which goes on holding and flushing it from there (_walk.c park,
    # restore), not made Python pieces: but for the few a record Python takes must see first)
    assert done["parked"] >= 1000 and done["restored"] >= done["parked"] * 9 // 10, done
    assert done["unparked"] <= done["parked"] // 20, done
    rnd = random.Random(300)
    for i in range(80):
        mutated = paths[0].with_name(f"mutated-sparse-{i}.pcap")
        mutated.write_bytes(_mutated(rnd, paths[i % 2].read_bytes()))
        _walk_agrees(mutated, dict(OPTIONS["summary"], quiet_pdus=True))
        mutated.unlink()


def test_walk_on_mutated_sparse_ack_copies_agrees(variants, tmp_path):
    """Mutated inputs (_mutated) of the copies whose receivers acknowledge every 300th segment, read as summary reads
    them: the walk holds the segments after each hole until the receiver's ACK (beyond the look-ahead's 256 records)
    and flushes them itself, a hole with a lost PDU header in it and a segment its lane does not take given to Python
    one step at a time under the held path's sealing (Analyzer._seal_hook). Two versions that framed the segments
    after such a hole outside that sealing gave other events on inputs like these (the walk fuzzer: a PDU they ended
    became an event where the pure path counts it quietly; bench/README.md, 4 December)."""
    import random
    if pipeline._cwalk is None:
        pytest.skip("the compiled walk is not built")
    seeds = [next(p for p in variants if p.name == name).read_bytes() for name in FLUSH_SEEDS]
    rnd = random.Random(42)
    for i in range(60):
        path = tmp_path / f"mutated-{i}.pcap"
        path.write_bytes(_mutated(rnd, seeds[i % 2]))
        _walk_agrees(path, dict(OPTIONS["summary"], quiet_pdus=True))
        path.unlink()


def test_look_ahead_reads_past_another_association(variants, monkeypatch):
    """After a hole, the walk's look-ahead (_walk.c hole_settled) reads past the records of another association in
    parallel that the walk takes without an event, up to the receiver's ACK past the hole: on two lossy transfers
    interleaved a few records at a time, their receivers acknowledging every 16th segment, it settles a third of
    the holes at least (9 of 57 when such a record stops it; 25 with the rule). That the events are still the
    general path's is test_quiet_pdus_change_nothing_the_diagnosis_reads's."""
    from dicomsniff.reading import read_events
    if pipeline._cwalk is None:
        pytest.skip("the compiled walk is not built")
    monkeypatch.delenv("DICOMSNIFF_PURE", raising=False)
    counts = {"settled ahead": 0, "settled held": 0}
    counting_settled(monkeypatch, counts)
    path = next(p for p in variants if p.name == "big-store-parallel-loss.pcap")
    an = Analyzer(walk=True, quiet_pdus=True, **OPTIONS["summary"])
    list(read_events(str(path), an))
    losses = sum(a.gaps for a in an.associations)
    assert len(an.associations) == 2 and losses > 40
    assert counts["settled ahead"] >= losses // 3, (counts, losses)


@pytest.mark.parametrize("seed", range(6))
def test_candidate_search_with_bounds_agrees_with_the_regex(seed):
    """PduFramer's search skips the candidates whose length no PDU of their type may have (_find_candidate's
    bounds: what _validate rejects first): the compiled and the pure version find the same ones."""
    import random
    from dicomsniff.ul import framer as fr
    if pipeline._cwalk is None:
        pytest.skip("the compiled walk is not built")
    rnd = random.Random(seed)
    buf = bytes(rnd.choice((0, 0, 0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 0x44, 0xFF)) for _ in range(3000))
    found = {}
    for pb, ab in ((-1, -1), (16384 + 64, 65536), (6, 68), (1 << 20, 1 << 20)):
        for name, find in (("pure", fr._find_candidate_py), ("compiled", pipeline._cwalk.candidate)):
            hits, i = [], 0
            while (i := find(buf, i, pb, ab)) >= 0:
                hits.append(i)
                i += 1
            found[name] = hits
        assert found["compiled"] == found["pure"], (pb, ab)
        if pb < 0:
            every = found["pure"]
        else:
            assert len(found["pure"]) < len(every)      # (the bounds leave some out)
    assert every and found["pure"]                      # (1 MiB bounds: some are left in)


def _hostile_around_a_hole(d: Path) -> list[Path]:
    """Copies of a big transfer with segments the reassembler must judge as the general path does, around a hole:
    a segment whose TCP header is longer than its IP packet, 5000 bytes past a hole and after each segment of a
    search for a lost PDU header (a negative payload length), and two segments past a hole of nearly 2**31
    bytes, the second more than 2**31 past the next byte to deliver (the general path drops it)."""
    import ipaddress
    import struct
    from capwriter import ACK, ETHERNET, frame, pcap_bytes, tcp_packet
    from storecap import big_store_records
    cli, srv = ipaddress.ip_address("10.0.0.1").packed, ipaddress.ip_address("10.0.0.2").packed

    def fields(data: bytes):
        total, doff = struct.unpack(">H", data[16:18])[0], data[46] >> 4
        sport, seq, ack = struct.unpack(">HII", data[34:36] + data[38:46])
        return sport, total - 20 - doff * 4, seq, ack

    def bad_header(seq: int, ack: int) -> bytes:     # IP total 40, TCP data offset 15 (60 bytes)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40, 0x1234, 0, 64, 6, 0, cli, srv)
        return frame(ETHERNET, ip + struct.pack(">HHIIBBHHH", 40000, 104, seq & 0xFFFFFFFF, ack, 0xF0, 0x10,
                                                65535, 0, 0))

    recs = big_store_records(400_000)
    hits = [i for i, (_, b) in enumerate(recs) if fields(b)[0] == 40000 and fields(b)[1] == 1448]
    i = hits[59]
    _, n, seq, ack = fields(recs[i][1])
    ts = recs[i][0]
    out = []
    neg = recs[:i + 1] + [(ts + 1, bad_header(seq + n + 5000, ack))] + recs[i + 1:]
    far = recs[:i + 1] + [
        (ts + 1, frame(ETHERNET, tcp_packet("10.0.0.1", "10.0.0.2", 40000, 104, (seq + n + 0x7FFFF000) & 0xFFFFFFFF,
                                            ack, ACK, b"\x11" * 100))),
        (ts + 2, frame(ETHERNET, tcp_packet("10.0.0.1", "10.0.0.2", 40000, 104,
                                            (seq + n + 0x7FFFF000 + 100 + 0x10000000) & 0xFFFFFFFF, ack, ACK,
                                            b"\x22" * 100)))]
    for name, copy in (("neg", neg), ("far", far)):
        out.append(d / f"hostile-{name}.pcap")
        out[-1].write_bytes(pcap_bytes(copy, ETHERNET))
    whole, lost = d / "hostile-whole.pcap", d / "hostile-lost-header.pcap"
    whole.write_bytes(pcap_bytes(recs, ETHERNET))
    losssim.drop_pdu_header(whole, lost, nth=3)
    with open_capture(str(lost)) as r:
        lrecs = [(f.ts_ns, bytes(f.data)) for f in r]
    searched = []
    for ts, b in lrecs:
        searched.append((ts, b))
        sport, n, seq, ack = fields(b)
        if sport == 40000 and n > 0:
            searched.append((ts + 1, bad_header(seq + n, ack)))
    out.append(d / "hostile-search.pcap")
    out[-1].write_bytes(pcap_bytes(searched, ETHERNET))
    return out


def test_hostile_segments_around_a_hole_agree_with_the_general_path(tmp_path, monkeypatch):
    """Segments the fast path and the compiled walk see around a capture loss that the general path rejects or
    drops (_hostile_around_a_hole) give what the general path gives, with and without the quiet counts, and no
    error (before: the walk buffered a negative length, or placed a far segment by the held bytes' end)."""
    monkeypatch.delenv("DICOMSNIFF_PURE", raising=False)
    walks = (False, True) if pipeline._cwalk is not None else (False,)
    for path in _hostile_around_a_hole(tmp_path):
        ref = diagnosed(path, fast=False)
        assert ref[2], path.name
        for walk in walks:
            for quiet in (False, True):
                got = diagnosed(path, fast=True, walk=walk, quiet=quiet)
                for i, what in enumerate(("findings", "PduFacts", "associations", "other events")):
                    assert got[i] == ref[i], f"{path.name}: {what} differ (walk={walk}, quiet={quiet})"


def test_the_walk_feeds_kept_bytes_across_pdu_ends(variants, monkeypatch):
    """``export`` keeps the first 256 KiB of each data set (keep_limit): the compiled walk feeds those bytes to
    the message's collector across P-DATA-TF ends too (quiet_step, begin_pdu), so Analyzer._pdu_step is not
    called for a lane whose collector still keeps bytes, as it is without the walk; what export writes is the
    same (test_quiet_pdus_write_the_same_export). Counted on the intact big transfers."""
    from dicomsniff.cli import STREAM_EXCHANGES
    from dicomsniff.output.json_export import quiet_parts
    from dicomsniff.reading import read_events
    if pipeline._cwalk is None:
        pytest.skip("the compiled walk is not built")
    monkeypatch.delenv("DICOMSNIFF_PURE", raising=False)
    fed = {False: 0, True: 0}
    kept = {False: [], True: []}
    step = pipeline.Analyzer._pdu_step

    def counted(self, f, *args, **kwargs):
        feeding = f.fast_feed is not None
        out = step(self, f, *args, **kwargs)
        fed[self.walk] += feeding and out is not None
        return out
    monkeypatch.setattr(pipeline.Analyzer, "_pdu_step", counted)
    for name in ("big-store", "big-store-split"):
        path = next(p for p in variants if p.name == f"{name}.pcap")
        for walk in (False, True):
            an = Analyzer(walk=walk, keep_pdus=False, keep_exchanges=STREAM_EXCHANGES, keep_limit=256 << 10,
                          quiet_pdus=True, quiet_out=[], quiet_parts=quiet_parts)
            for ev in read_events(str(path), an):
                if type(ev).__name__ == "MessageSeen" and ev.message.data is not None:
                    kept[walk].append((ev.message.data.kept, ev.message.data.length))
    assert fed[False] > 20 and fed[True] == 0, fed
    assert kept[True] == kept[False] and any(k == 256 << 10 and n > k for k, n in kept[True])


def _summary_events(path, walk: bool) -> list:
    """The events ``summary`` reads of ``path`` (read_events, quiet PDUs counted), in order, canonical."""
    from dicomsniff.reading import read_events
    an = Analyzer(walk=walk, **dict(OPTIONS["summary"], quiet_pdus=True))
    return [canon(e) for e in read_events(str(path), an)]


def test_a_capture_that_ends_after_a_walk_hook_keeps_the_order_of_its_events(variants, tmp_path, monkeypatch):
    """A capture that ends (a truncated record) right after a record the walk handed to a hook that made events
    (_flush_hook, _hold_hook, _drain_hook: they wait in _stash for the next record's call, whether the walk goes on
    past them or not): those events come before the reader's notice of that end, as the pure path gives them
    (before: after it, from finish())."""
    if pipeline._cwalk is None:
        pytest.skip("the compiled walk is not built")
    monkeypatch.delenv("DICOMSNIFF_PURE", raising=False)
    src = next(p for p in variants if p.name == "big-store-split-loss7.pcap")
    hooked, went_on = [], []

    def noting(name: str, at: int) -> None:     # the frame number of each hook call that made events
        hook = getattr(pipeline.Analyzer, name)

        def call(an, *args):
            before = len(an._stash or ())
            go = hook(an, *args)        # (whether the walk goes on past them or not)
            if len(an._stash or ()) > before:   # (the drain hook's record: its stream's clock, which the walk set)
                hooked.append(args[at] if at >= 0 else args[0].st.last)
                went_on.append(go)
            return go
        monkeypatch.setattr(pipeline.Analyzer, name, call)
    noting("_hold_hook", 4)
    noting("_flush_hook", 1)
    noting("_drain_hook", -1)
    _summary_events(src, walk=True)
    assert len(hooked) >= 2 and any(went_on[:4]) and not all(went_on[:4]), (hooked, went_on)
    with open_capture(str(src)) as r:
        recs = [(f.ts_ns, bytes(f.data)) for f in r]
    import capwriter as cw
    for number in hooked[:4]:
        path = tmp_path / f"ends-after-{number}.pcap"
        path.write_bytes(cw.pcap_bytes(recs[:number]) + b"\x00" * 10)      # and a record header cut short
        pure, walked = _summary_events(path, walk=False), _summary_events(path, walk=True)
        assert "truncated-record" in str(pure), path.name
        assert walked == pure, path.name

