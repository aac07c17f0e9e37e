"""The decode does not depend on how TCP cut the bytes (the sans-I/O property of STYLE.md).

The DICOM payloads of real captures are re-sent in synthetic captures (tests/capwriter.py):
whole, one byte per segment, in random splits, out of order and with retransmissions.
``dump -V`` text (minus frame numbers and times) and the association JSON (minus frames and
times) must not change. A capture with a missing segment reports a gap and resynchronises.
"""

from __future__ import annotations

import random
import re
import sys
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import capwriter as cw  # noqa: E402

from dicomsniff.capture.packet import decode_tcp  # noqa: E402
from dicomsniff.capture.reader import open_capture  # noqa: E402
from dicomsniff.output.dump import write_dump  # noqa: E402
from dicomsniff.output.json_export import association_json  # noqa: E402
from dicomsniff.pipeline import analyze_frames  # noqa: E402

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
CLIENT, SERVER = ("10.0.0.1", 40000), ("10.0.0.2", 104)
ISN = (1000, 900_000)      # initial sequence numbers, client and server


@lru_cache(maxsize=None)
def conversation(name: str) -> tuple[tuple[int, bytes], ...]:
    """The first TCP connection's payloads as (direction, bytes), 0 = client, in capture order,
    consecutive same-direction payloads joined."""
    out: list[list] = []
    client = None
    for fr in open_capture(CAPTURES / name):
        seg = decode_tcp(fr)
        if seg is None:
            continue
        if client is None and seg.flags & cw.SYN and not seg.flags & cw.ACK:
            client = (seg.src_ip, seg.sport, seg.dst_ip, seg.dport)
        if client is None:
            continue
        if (seg.src_ip, seg.sport, seg.dst_ip, seg.dport) == client:
            d = 0
        elif (seg.dst_ip, seg.dport, seg.src_ip, seg.sport) == client:
            d = 1
        else:
            continue
        data = bytes(seg.payload)
        if not data:
            continue
        if out and out[-1][0] == d:
            out[-1][1] += data
        else:
            out.append([d, bytearray(data)])
    return tuple((d, bytes(b)) for d, b in out)


def segments(conv, cut) -> list[tuple[int, int, bytes]]:
    """(direction, stream offset, bytes) segments; ``cut(n)`` gives the piece sizes of an n-byte run."""
    pos = [0, 0]
    out = []
    for d, data in conv:
        i = 0
        for size in cut(len(data)):
            out.append((d, pos[d] + i, data[i:i + size]))
            i += size
        assert i == len(data)
        pos[d] += len(data)
    return out


def build(segs, *, acks: bool = True) -> bytes:
    """A pcap: handshake, the segments (ack = the other side's bytes seen so far), FINs."""
    ends = [(CLIENT, SERVER), (SERVER, CLIENT)]
    seen = [0, 0]          # bytes of each direction sent so far (the other side acknowledges them)
    frames = []

    def pkt(d, seq, flags, payload=b""):
        (sip, sport), (dip, dport) = ends[d]
        ack = ISN[1 - d] + 1 + seen[1 - d] if acks or flags & cw.SYN else 0
        frames.append(cw.frame(cw.ETHERNET, cw.tcp_packet(sip, dip, sport, dport, seq=seq, ack=ack,
                                                          flags=flags, payload=payload)))

    pkt(0, ISN[0], cw.SYN)
    frames[-1] = cw.frame(cw.ETHERNET, cw.tcp_packet(CLIENT[0], SERVER[0], CLIENT[1], SERVER[1],
                                                     seq=ISN[0], ack=0, flags=cw.SYN))
    pkt(1, ISN[1], cw.SYN | cw.ACK)
    pkt(0, ISN[0] + 1, cw.ACK)
    for d, off, data in segs:
        pkt(d, ISN[d] + 1 + off, cw.PSH | cw.ACK, data)
        seen[d] = max(seen[d], off + len(data))
    pkt(0, ISN[0] + 1 + seen[0], cw.FIN | cw.ACK)
    pkt(1, ISN[1] + 1 + seen[1], cw.FIN | cw.ACK)
    seen_fin = list(seen)
    frames.append(cw.frame(cw.ETHERNET, cw.tcp_packet(CLIENT[0], SERVER[0], CLIENT[1], SERVER[1],
                                                      seq=ISN[0] + 2 + seen_fin[0],
                                                      ack=ISN[1] + 2 + seen_fin[1], flags=cw.ACK)))
    return cw.pcap_bytes([(1_700_000_000 * cw.NS + i * 1000, f) for i, f in enumerate(frames)])


# -- normalised views ------------------------------------------------------------------------------

FRAME_WORDS = re.compile(r"\bframes? [0-9][0-9, ]*")
URI = re.compile(r"frame:\d+;offset=\d+")
PDU_LINE = re.compile(r"^\s*\d+\s+-?\d+\.\d{6} ")     # frame number and time columns of a PDU line
DROP = {"frame", "frames", "time", "start", "end", "duration_ms"}


def _norm(s: str) -> str:
    return URI.sub("frame:N;offset=N", FRAME_WORDS.sub("frame N ", s))


def dump_text(pcap: bytes) -> list[str]:
    an, events = analyze_frames(open_capture(pcap))
    lines: list[str] = []
    write_dump(events, lines.append, verbose=True, t0=lambda: an.first_ts or 0)
    return [_norm(PDU_LINE.sub("", ln)) for ln in lines]


def _strip(x):
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items()
                if k not in DROP and "per_second" not in k and "duration" not in k}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    if isinstance(x, str):
        return _norm(x)
    return x


def assoc_json(pcap: bytes) -> list[dict]:
    an, _ = analyze_frames(open_capture(pcap))
    return [_strip(association_json(a)) for a in an.associations]


def views(pcap: bytes):
    return dump_text(pcap), assoc_json(pcap)


def whole(n):
    return [n]


@lru_cache(maxsize=None)
def reference(name: str):
    return views(build(segments(conversation(name), whole)))


NAMES = ["echo.pcap", "pynetdicom.pcap", "store.pcap"]


@pytest.mark.parametrize("name", NAMES)
def test_reference_decodes(name):
    text, js = reference(name)
    (a,) = js
    assert a["state"] in ("released", "aborted")
    assert a["counts"]["gaps"] == 0
    assert not [f for f in a["findings"] if f["severity"] == "error" and "A700" not in f["message"]]
    assert any("A-RELEASE-RP" in ln for ln in text)


@pytest.mark.parametrize("name", NAMES)
def test_same_as_original_capture_content(name):
    """The rebuilt capture decodes to the same PDU lines and trees as the original."""
    an, events = analyze_frames(open_capture(CAPTURES / name))
    lines: list[str] = []
    write_dump(events, lines.append, verbose=True, t0=lambda: an.first_ts or 0)
    first = [_norm(PDU_LINE.sub("", ln)) for ln in lines]
    ours = reference(name)[0]
    strip_ep = lambda ls: [re.sub(r"\S+:\d+ → \S+:\d+", "A → B", ln) for ln in ls]  # noqa: E731
    assert strip_ep(ours) == strip_ep(first)


@pytest.mark.parametrize("name", ["echo.pcap", "pynetdicom.pcap"])
def test_one_byte_per_segment(name):
    assert views(build(segments(conversation(name), lambda n: [1] * n))) == reference(name)


def _random_cut(rng: random.Random, maxsize: int):
    def cut(n):
        out = []
        while n:
            k = min(n, rng.randint(1, maxsize))
            out.append(k)
            n -= k
        return out
    return cut


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_seeded_random_splits(name, seed):
    rng = random.Random(seed)
    cut = _random_cut(rng, rng.choice([7, 100, 1500]))
    assert views(build(segments(conversation(name), cut))) == reference(name)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hypothesis_splits(data):
    name = data.draw(st.sampled_from(["echo.pcap", "pynetdicom.pcap"]))
    conv = conversation(name)
    cuts = []
    for _, run in conv:
        points = data.draw(st.lists(st.integers(1, len(run) - 1), max_size=12, unique=True)) if len(run) > 1 else []
        edges = [0, *sorted(points), len(run)]
        cuts.append([b - a for a, b in zip(edges, edges[1:])])
    it = iter(cuts)
    assert views(build(segments(conv, lambda n: next(it)))) == reference(name)


def _disorder(segs, rng: random.Random, *, retransmit: float = 0.2):
    """Shuffle segments inside each same-direction run (the other side's ACKs stay after them)
    and add retransmissions: exact copies and overlapping re-sends of earlier bytes."""
    out, run = [], []

    def flush():
        rng.shuffle(run)
        out.extend(run)
        run.clear()

    for s in segs:
        if run and run[-1][0] != s[0]:
            flush()
        run.append(s)
        if rng.random() < retransmit:
            run.append(s)
        if rng.random() < retransmit / 2 and len(run) >= 2 and run[-2][0] == s[0]:
            prev = run[-2]
            if prev[1] + len(prev[2]) == s[1]:   # overlapping: tail of the previous + head of this one
                k = max(1, len(prev[2]) // 2)
                run.append((s[0], s[1] - k, prev[2][-k:] + s[2][: max(1, len(s[2]) // 2)]))
    flush()
    return out


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [11, 12])
def test_out_of_order_and_retransmissions(name, seed):
    rng = random.Random(seed)
    segs = segments(conversation(name), _random_cut(rng, 300))
    assert views(build(_disorder(segs, rng))) == reference(name)


def test_missing_segment_reports_gap_and_resynchronises():
    conv = conversation("store.pcap")
    segs = segments(conv, _random_cut(random.Random(5), 1000))
    # drop a client segment in the middle of the 3rd C-STORE-RQ's data (the biggest client runs)
    client_runs = sorted(range(len(conv)), key=lambda i: -len(conv[i][1]) if conv[i][0] == 0 else 0)[:5]
    target = sorted(client_runs)[2]
    start = sum(len(b) for d, b in conv[:target] if d == 0)
    mid = start + len(conv[target][1]) // 2
    drop = next(i for i, s in enumerate(segs) if s[0] == 0 and s[1] <= mid < s[1] + len(s[2]))
    lost = segs[drop]
    an, events = analyze_frames(open_capture(build(segs[:drop] + segs[drop + 1:])))
    (a,) = an.associations
    assert a.gaps == 1
    assert any(f.code == "tcp-gap" and f"{len(lost[2])} bytes missing" in f.message for f in a.findings)
    # framing resynchronised: every later PDU decodes, the association ends in a release
    assert a.outcome == "released"
    names = [m.name for m in a.messages]
    assert names.count("C-STORE-RSP") == 5
    assert names.count("C-STORE-RQ") >= 4
    good = [m for m in a.messages if m.name == "C-STORE-RQ" and m.complete and m.data is not None]
    assert len(good) >= 4
    # the messages after the gap are the reference's messages, unchanged
    ref = reference("store.pcap")[1][0]["messages"]
    later = [m for m in a.messages if m.index > 0 and m.complete][-4:]
    assert [(m.name, m.command.message_id, m.command.status) for m in later] == \
        [(r["command"], r["message_id"], r["status"]) for r in ref[-4:]]
