"""Real captures that lost TCP segments (``losssim``): what was captured is decoded exactly, nothing is invented.

Each capture is first resegmented (MSS 1448, the SPAN-port case; also a small MSS so that PDUs span
many segments), then copies drop payload segments at random (seeded, 1-5 %) or exactly (the
A-ASSOCIATE-AC, a PDU header, a command PDV). Properties, against the intact resegmented capture:

- every DIMSE message whose PDUs were all captured decodes with the same command, message ID,
  affected SOP instance and status (matched as a multiset per sending direction);
- every PDU the framer emits starts where a PDU of the intact capture starts, with its header captured;
- no PDU has a (type, length) the intact capture lacks (no garbage framed from Pixel Data);
- the association's loss tallies count exactly the bytes dropped, per direction;
- every finding and message names frames, none of them 0.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from losssim import (LossReport, decoded_messages, drop_associate_ac, drop_command_pdv, drop_pdu_header,
                     drop_segments, intact_after, resegment)

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
EXTERNAL = Path("/work/shared/external-captures")
RANDOM = ["store", "move", "get", "pynetdicom"]
RATES = [0.01, 0.03, 0.05]
SEEDS = range(20)

_intact: dict = {}


def _flows(assocs) -> dict:
    out = {}
    for a in assocs:
        for d in (0, 1):
            snd, rcv = (a.client, a.server) if d == a.client_dir else (a.server, a.client)
            out[(a.stream, d)] = (bytes(snd.ip), snd.port, bytes(rcv.ip), rcv.port)
    return out


def intact(tmp_factory, name: str, mss: int):
    key = (name, mss)
    if key not in _intact:
        path = tmp_factory.mktemp("intact") / f"{name}-{mss}.pcap"
        resegment(CAPTURES / f"{name}.pcap", path, mss)
        msgs, pdus, assocs = decoded_messages(path)
        fl = _flows(assocs)
        _intact[key] = (path, msgs, {(fl[(p.stream, p.direction)], p.stream_offset) for p in pdus},
                        {(p.pdu_type, p.length) for p in pdus})
    return _intact[key]


def check(ref, lossy: Path, rep: LossReport) -> tuple[int, int]:
    """Assert the properties; returns (messages whose PDUs were all captured, of those decoded)."""
    _, base, starts, shapes = ref
    msgs, pdus, assocs = decoded_messages(lossy)
    fl = _flows(assocs)
    for p in pdus:
        flow = fl[(p.stream, p.direction)]
        assert (flow, p.stream_offset) in starts, f"PDU at {p.stream_offset} invented ({p.name}, {p.length})"
        assert not any(o < p.stream_offset + 6 and p.stream_offset < o + n for o, n in rep.lost_ranges(flow)), \
            f"PDU at {p.stream_offset} framed from a header the capture lost"
        assert (p.pdu_type, p.length) in shapes
    have = Counter((m.flow, m.key) for m in msgs if m.complete)
    kept = found = 0
    for m in base:
        if m.complete and intact_after(m, rep):
            kept += 1
            if have[(m.flow, m.key)] > 0:
                have[(m.flow, m.key)] -= 1
                found += 1
    assert found == kept, f"{kept - found} of {kept} fully captured messages not decoded"
    dropped = rep.by_flow()
    for a in assocs:
        for d in (0, 1):
            flow = fl[(a.stream, d)]
            assert a.loss[d].bytes == dropped.get(flow, (0, 0))[1], (flow, a.loss[d], dropped.get(flow))
            assert (a.loss[d].gaps > 0) == (flow in dropped)
        for f in a.findings:
            assert 0 not in f.frames, f
    for m in msgs:
        assert m.message.frames and 0 not in m.message.frames, m.message
    return kept, found


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("name", RANDOM)
def test_random_loss_mss_1448(tmp_path_factory, tmp_path, name, rate):
    ref = intact(tmp_path_factory, name, 1448)
    total = 0
    for seed in SEEDS:
        rep = drop_segments(ref[0], tmp_path / "lossy.pcap", rate=rate, seed=seed)
        total += check(ref, tmp_path / "lossy.pcap", rep)[0]
    assert total > 0


@pytest.mark.parametrize("name", ["store", "get"])
def test_random_loss_small_segments(tmp_path_factory, tmp_path, name):
    # MSS 300: every C-STORE data set and many commands span several segments.
    ref = intact(tmp_path_factory, name, 300)
    for seed in range(15):
        rep = drop_segments(ref[0], tmp_path / "lossy.pcap", rate=0.05, seed=seed)
        check(ref, tmp_path / "lossy.pcap", rep)


@pytest.mark.parametrize("name", RANDOM + ["echo", "find_mwl", "concurrent", "diag_more"])
def test_lost_associate_ac(tmp_path_factory, tmp_path, name):
    ref = intact(tmp_path_factory, name, 1448)
    rep = drop_associate_ac(ref[0], tmp_path / "lossy.pcap")
    assert rep.dropped
    kept, found = check(ref, tmp_path / "lossy.pcap", rep)
    assert kept == found and kept >= 2


@pytest.mark.parametrize("name", ["store", "move", "get"])
def test_lost_pdu_headers(tmp_path_factory, tmp_path, name):
    ref = intact(tmp_path_factory, name, 300)
    n_pdata = sum(1 for shape in ref[3] if shape[0] == 4)
    for nth in range(0, min(n_pdata, 12)):
        rep = drop_pdu_header(ref[0], tmp_path / "lossy.pcap", pdu_type=4, nth=nth)
        check(ref, tmp_path / "lossy.pcap", rep)


@pytest.mark.parametrize("name", ["store", "move", "pynetdicom"])
def test_lost_command_pdvs(tmp_path_factory, tmp_path, name):
    ref = intact(tmp_path_factory, name, 300)
    for nth in range(min(len(ref[1]), 10)):
        rep = drop_command_pdv(ref[0], tmp_path / "lossy.pcap", nth=nth)
        kept, found = check(ref, tmp_path / "lossy.pcap", rep)
        assert kept < len([m for m in ref[1] if m.complete])      # the message that lost its command


def test_loss_is_recorded_as_capture_loss_not_blamed(tmp_path_factory, tmp_path):
    ref = intact(tmp_path_factory, "store", 300)
    rep = drop_segments(ref[0], tmp_path / "lossy.pcap", rate=0.05, seed=3)
    msgs, pdus, _ = decoded_messages(tmp_path / "lossy.pcap")
    cut = [p for p in pdus if not p.complete]
    assert cut and all(p.lost or any(f.code == "pdu-truncated" for f in p.findings) for p in cut)
    for p in cut:
        for off, n in p.lost:
            assert p.stream_offset <= off and off + n <= p.stream_offset + 6 + p.length
    for m in msgs:
        if not m.complete:
            assert m.message.cut in ("capture-loss", "end-of-stream"), m.message


@pytest.mark.skipif(not EXTERNAL.is_dir(), reason="go-netdicom captures not present")
def test_external_go_netdicom_rq_split_over_two_segments(tmp_path):
    # One direction only, no ACKs: the capture cannot show that bytes were lost, only that the
    # stream ends inside the A-ASSOCIATE-RQ. One PDU, at 0, cut; nothing else framed.
    src = EXTERNAL / "dicom_arq_2_get_testclient.pcap"
    rep = drop_segments(src, tmp_path / "lossy.pcap", only=lambda s: s.offset > 0)
    assert rep.bytes == 177
    msgs, pdus, assocs = decoded_messages(tmp_path / "lossy.pcap")
    assert [(p.stream_offset, p.pdu_type, p.complete, p.spans.length) for p in pdus] == [(0, 1, False, 16332)]
    assert [f.code for f in pdus[0].findings] == ["pdu-truncated"] and msgs == []
    assert [a.loss[a.client_dir].bytes for a in assocs] == [0]
