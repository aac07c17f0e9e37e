"""Capture loss is the capture's fault (issue 12, item 2, the diagnosis side).

Copies of the shipped captures that lost segments (``tests/losssim.py``: MSS-1448
resegmentation, seeded random drops, exact drops of the A-ASSOCIATE-AC, a PDU header, a
command PDV), a capture file cut short, and a connection reset mid-PDU. Properties: no
ERROR code the intact capture lacks; errors + warnings ≤ 10 per association; a
``capture-loss`` line names the direction and the bytes; healthy captures with loss exit
≤ 1; an A-ASSOCIATE-AC that was not captured gives no context judgement, only a note that
infers the accepted contexts from the traffic.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

import dimse_fixtures as D
import losssim as L
import pdu_fixtures as P
from dicomsniff.capture.reader import open_capture
from dicomsniff.model.diagnosis import PduWatch, diagnose
from dicomsniff.notice import Notice
from dicomsniff.output.diagnose import exit_status, notice_findings
from dicomsniff.pipeline import Analyzer
from dicomsniff.reading import read_events

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
HEALTHY = ("store.pcap", "get.pcap", "context_rejected.pcap", "find_mwl.pcap", "concurrent.pcap", "peer_ctn_scp.pcap",
           "peer_orthanc_scp.pcap", "peer_odil.pcap", "peer_gdcm.pcap")
FAILING = ("move.pcap", "pynetdicom.pcap", "diag_status.pcap")
SEEDS = range(8)
RATES = (0.005, 0.02, 0.05)


def diagnosed(path, ports=frozenset()):
    """(associations, findings) as `dicomsniff diagnose` computes them (capture notices included)."""
    an = Analyzer(ports=set(ports), keep_pdus=False)
    watch, notices = PduWatch(), []
    for ev in read_events(path if isinstance(path, bytes) else str(path), an):
        if type(ev) is Notice:
            if ev.where in ("capture", "tcp"):
                notices.append(ev)
        else:
            watch.event(ev)
    return an.associations, diagnose(an.associations, watch=watch) + notice_findings(notices)


_intact: dict[str, tuple] = {}


def intact(name: str):
    if name not in _intact:
        _intact[name] = diagnosed(CAPTURES / name)
    return _intact[name]


def errors(fs) -> set[str]:
    return {f.code for f in fs if f.severity == "error"}


def loud_per_association(fs) -> Counter:
    return Counter(f.association for f in fs if f.severity in ("error", "warning"))


def check_lossy(name: str, dst: Path, report) -> list:
    _, base = intact(name)
    assocs, fs = diagnosed(dst)
    assert errors(fs) <= errors(base), (name, sorted(errors(fs) - errors(base)),
                                        [(f.code, f.message) for f in fs if f.severity == "error"])
    loud = loud_per_association(fs)
    assert max(loud.values(), default=0) <= 10, (name, loud, [(f.code, f.count) for f in fs])
    lossy = [a for a in assocs if a.gaps]
    losses = [f for f in fs if f.code == "capture-loss"]
    for a in lossy:
        for d in (0, 1):
            t = a.loss[d]
            if not t.gaps:
                continue
            mine = [f for f in losses if f.association == a.number and f.key == str(d)]
            assert len(mine) == 1, (a.number, d, [f.message for f in losses])
            f = mine[0]
            assert f.severity == "warning"
            assert f.message.startswith(f"{a.side(d)} → {a.side(1 - d)}: {t.gaps} gap")
            lost = re.search(r"gaps?, ([\d.]+ (?:bytes|KB|MB|GB)) lost", f.message)
            assert lost is not None, f.message
            if t.bytes < 10240:
                assert lost.group(1) == f"{t.bytes} bytes"
    assert not any(f.code == "tcp-gap" for f in fs)          # facts, not lines
    # one line per cause: no two findings share (association, code, key)
    keys = Counter((f.association, f.code, f.key) for f in fs)
    assert max(keys.values(), default=1) == 1, keys.most_common(3)
    if report.dropped:
        assert lossy, "segments were dropped but no association recorded loss"
    return fs


@pytest.mark.parametrize("name", HEALTHY + FAILING)
def test_random_loss_never_blames_a_peer(name, tmp_path):
    for rate in RATES:
        for seed in SEEDS:
            dst = tmp_path / f"{rate}-{seed}.pcap"
            rep = L.drop_segments(CAPTURES / name, dst, rate=rate, seed=seed, mss=1448)
            fs = check_lossy(name, dst, rep)
            if name in HEALTHY:
                assert exit_status(fs) <= 1, (rate, seed, [(f.severity, f.code, f.message) for f in fs])


def test_resegmenting_alone_changes_nothing(tmp_path):
    for name in HEALTHY + FAILING:
        dst = tmp_path / name
        L.resegment(CAPTURES / name, dst)
        _, base = intact(name)
        _, fs = diagnosed(dst)
        assert sorted((f.severity, f.code, f.count) for f in fs) == \
            sorted((f.severity, f.code, f.count) for f in base), name


@pytest.mark.parametrize("name", ("store.pcap", "get.pcap", "pynetdicom.pcap"))
def test_associate_ac_not_captured(name, tmp_path):
    dst = tmp_path / "noac.pcap"
    rep = L.drop_associate_ac(CAPTURES / name, dst)
    assert rep.dropped
    _, base = intact(name)
    assocs, fs = diagnosed(dst)
    codes = [f.code for f in fs]
    assert "context-not-answered" not in codes and "context-not-accepted" not in codes
    assert "no-transfer-syntax" not in codes
    assert errors(fs) <= errors(base)
    note = [f for f in fs if f.code == "ac-not-captured"]
    assert len(note) == 1 and note[0].severity == "note"
    m = re.search(r"accepted contexts inferred from the traffic: ([\d, ]+) \(a response", note[0].message)
    assert m, note[0].message
    inferred = {int(x) for x in m.group(1).split(", ")}
    # every context a request travelled on and got an answer is among them, and nothing else
    a = assocs[0]
    used = {ex.request.context_id for ex in a.exchanges if ex.request is not None and ex.responses}
    assert inferred == used


def test_associate_ac_not_captured_store_says_success(tmp_path):
    dst = tmp_path / "noac.pcap"
    L.drop_associate_ac(CAPTURES / "store.pcap", dst)
    _, fs = diagnosed(dst)
    f = [x for x in fs if x.code == "ac-not-captured"][0]
    assert f.message.startswith("A-ASSOCIATE-AC not captured: accepted contexts inferred from the traffic: 1, 3,"
                                " 5, 7, 9 (a response with Success arrived on each)")


def test_associate_rq_lost_by_the_capture_is_not_a_late_start(tmp_path):
    """The handshake was captured, the RQ's segment was not: the capture lost it, it did not begin late."""
    dst = tmp_path / "norq.pcap"
    L.drop_pdu_header(CAPTURES / "store.pcap", dst, pdu_type=1)
    _, fs = diagnosed(dst)
    (f,) = [x for x in fs if x.code == "started-mid-association"]
    assert f.severity == "note" and f.message.startswith("the capture lost the A-ASSOCIATE-RQ")
    assert "capture-loss" in f.hint and "start the capture before" not in f.hint
    assert [x.code for x in fs if x.severity in ("warning", "error")] == ["capture-loss"]


@pytest.mark.parametrize("nth", range(4))
def test_lost_command_pdv_or_pdu_header(nth, tmp_path):
    drops = [(L.drop_command_pdv, {"nth": nth}), (L.drop_pdu_header, {"pdu_type": 4, "nth": nth * 2})]
    if nth == 0:         # the whole A-ASSOCIATE-RQ / AC / A-RELEASE-RQ / RP
        drops += [(L.drop_pdu_header, {"pdu_type": t, "nth": 0}) for t in (1, 2, 5, 6)]
    for drop, kw in drops:
        for name in ("store.pcap", "pynetdicom.pcap", "move.pcap", "get.pcap"):
            dst = tmp_path / f"{drop.__name__}-{name}"
            try:
                rep = drop(CAPTURES / name, dst, **kw)
            except (IndexError, ValueError):
                continue                      # fewer messages / PDUs than nth
            check_lossy(name, dst, rep)


# -- the end of a direction: capture cut short, connection reset --------------------------------

def _object() -> bytes:
    """A 200 KiB data set that decodes (Implicit VR Little Endian): the intact capture has nothing to say."""
    from pydicom.dataset import Dataset
    ds = Dataset()
    ds.PatientID = "PID1"
    ds.SOPInstanceUID = "1.2.3.4"
    ds.BitsAllocated = 8
    ds.PixelData = bytes(range(256)) * 800
    return D.encode(ds)


OBJECT = _object()


def _store_conv(*, cut_after: int | None = None) -> D.Conv:
    """A C-STORE whose data set travels in 16 KiB PDUs; ``cut_after`` stops after that many data PDUs."""
    c = D.Conv(mss=1460)
    c.send(0, P.assoc_rq("SCU", "SCP", [(1, P.CT_STORAGE, [P.IMPLICIT_LE])]))
    c.send(1, P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE)]))
    c.send(0, P.pdata([(1, 0x03, D.store_rq(7))]))
    chunks = [OBJECT[i:i + 16000] for i in range(0, len(OBJECT), 16000)]
    for i, chunk in enumerate(chunks):
        if cut_after is not None and i == cut_after:
            # half of this PDU, then nothing more from the client
            c.send(0, P.pdata([(1, 0x00, chunk)])[:8000])
            return c
        c.send(0, P.pdata([(1, 0x02 if i == len(chunks) - 1 else 0x00, chunk)]))
    c.send(1, P.pdata([(1, 0x03, D.store_rsp(7))]))
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    return c


def test_capture_file_cut_short_is_the_captures_fault():
    data = D.pcap(_store_conv())
    cut = data[: len(data) * 6 // 10 + 7]          # inside a record, mid data set
    assocs, fs = diagnosed(cut)
    assert not errors(fs), [(f.code, f.message) for f in fs if f.severity == "error"]
    codes = [f.code for f in fs]
    for noisy in ("pdu-truncated", "pdu-incomplete", "command-incomplete", "dataset-incomplete",
                  "message-incomplete", "no-response"):
        assert noisy not in codes, (noisy, [(f.code, f.message) for f in fs])
    ended = [f for f in fs if f.code == "capture-ended"]
    assert len(ended) == 1 and ended[0].severity == "warning"
    assert "the capture ended while the client was sending C-STORE-RQ #7" in ended[0].message
    assert "KB of its data set captured" in ended[0].message
    assert "peers are not at fault" in ended[0].hint
    assert any(f.code == "truncated-record" and f.association == 0 for f in fs)


def test_connection_reset_mid_pdu_is_reported_once_and_names_the_peer():
    c = _store_conv(cut_after=5)
    c.rst(1)
    assocs, fs = diagnosed(D.pcap(c))
    loud = [f for f in fs if f.association == 1 and f.severity in ("error", "warning")]
    assert len(loud) == 1, [(f.code, f.message) for f in fs]
    f = loud[0]
    assert f.code in ("peer-closed", "connection-reset")
    assert f.severity == "error"                    # C-STORE-RQ #7 was lost with it
    assert f.message.startswith("the server reset the connection (RST, frame ")
    assert "while the client was sending C-STORE-RQ #7 (" in f.message and "of its data set sent" in f.message
    assert "server" in f.hint


def test_loss_before_a_cut_does_not_blame_the_sender(tmp_path):
    """The framer's noise after a gap (PDU guesses, orphan data) is not a sender's fault."""
    c = D.Conv(mss=1460)
    c.send(0, P.assoc_rq("SCU", "SCP", [(1, P.CT_STORAGE, [P.IMPLICIT_LE])]))
    c.send(1, P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE)]))
    for mid in (1, 2, 3):
        c.send(0, P.pdata([(1, 0x03, D.store_rq(mid))]))
        for i in range(0, len(OBJECT), 16000):
            last = i + 16000 >= len(OBJECT)
            c.send(0, P.pdata([(1, 0x02 if last else 0x00, OBJECT[i:i + 16000])]), skip=(mid == 2 and i == 32000))
        c.send(1, P.pdata([(1, 0x03, D.store_rsp(mid))]))
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    assocs, fs = diagnosed(D.pcap(c))
    assert not errors(fs), [(f.code, f.message) for f in fs if f.severity == "error"]
    loss = [f for f in fs if f.code == "capture-loss"]
    assert len(loss) == 1
    assert loss[0].message.startswith("client → server: 1 gap, ")
    assert "C-STORE data set" in loss[0].message and "#2" in loss[0].message
    assert exit_status(fs) == 1


def test_a_cut_associate_rq_is_not_compared_with_its_ac(tmp_path):
    """CTN's storescu proposes 128 contexts (9.6 KB): losing a segment inside the RQ leaves a partial RQ,
    framed after its AC; no context is then 'not answered' or 'not accepted'."""
    dst = tmp_path / "rq.pcap"
    rep = L.drop_segments(CAPTURES / "peer_ctn_scp.pcap", dst, mss=1448,
                          only=lambda s: s.flow[3] == 8108 and 6000 <= s.offset < 9000)
    assert rep.dropped
    assocs, fs = diagnosed(dst)
    codes = {f.code for f in fs}
    assert not {"context-not-answered", "context-not-accepted", "context-not-proposed",
                "context-ts-not-proposed"} & codes, [(f.code, f.message) for f in fs]
    assert not errors(fs)
    loss = [f for f in fs if f.code == "capture-loss"]
    assert len(loss) == 1 and "the A-ASSOCIATE-RQ is incomplete, so the negotiation is not judged" in loss[0].message
    assert exit_status(fs) == 1


def test_a_long_lossy_transfer_fits_on_one_screen():
    """60 objects, a PDU lost in every third one (both the data and some responses): a handful of lines."""
    c = D.Conv(mss=1460)
    c.send(0, P.assoc_rq("SCU", "SCP", [(1, P.CT_STORAGE, [P.IMPLICIT_LE])]))
    c.send(1, P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE)]))
    for mid in range(1, 61):
        c.send(0, P.pdata([(1, 0x03, D.store_rq(mid))]))
        for i in range(0, len(OBJECT), 16000):
            last = i + 16000 >= len(OBJECT)
            c.send(0, P.pdata([(1, 0x02 if last else 0x00, OBJECT[i:i + 16000])]), skip=(mid % 3 == 0 and i == 48000))
        c.send(1, P.pdata([(1, 0x03, D.store_rsp(mid))]), skip=(mid % 7 == 0))
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    assocs, fs = diagnosed(D.pcap(c))
    (a,) = assocs
    assert a.loss[0].gaps == 20 and a.loss[1].gaps == 8
    assert not errors(fs), [(f.code, f.message) for f in fs if f.severity == "error"]
    assert len(fs) <= 4, [(f.code, f.count, f.message[:120]) for f in fs]
    client = [f for f in fs if f.code == "capture-loss" and f.key == "0"][0]
    assert client.message.startswith("client → server: 20 gaps, 312.") and "20 C-STORE data sets incomplete" in client.message
    assert "(#3, #6, #9, #12, #15, … (15 more))" in client.message
    server = [f for f in fs if f.code == "capture-loss" and f.key == "1"][0]
    assert server.message.startswith("server → client: 8 gaps")
    # the viewer's pane before the diagnosis has run (still loading) groups the model's raw findings too
    from dicomsniff.output.tui.rows import findings_text
    raw = findings_text(a, None).plain
    assert raw.count("(tcp-gap)") == 2 and "×20 " in raw and "×8 " in raw


@pytest.mark.parametrize("name", HEALTHY + FAILING)
def test_a_capture_file_cut_anywhere_blames_no_peer(name):
    """The capture file ends at a random byte: no ERROR the whole capture lacks, few lines, exit ≤ 1 if healthy."""
    import random
    data = (CAPTURES / name).read_bytes()
    _, base = intact(name)
    rnd = random.Random(name)
    for _ in range(6):
        cut = rnd.randrange(100, len(data))
        _, fs = diagnosed(data[:cut])
        assert errors(fs) <= errors(base), (cut, [(f.code, f.message) for f in fs if f.severity == "error"])
        assert max(loud_per_association(fs).values(), default=0) <= 10, (cut, [(f.code, f.count) for f in fs])
        if name in HEALTHY:
            assert exit_status(fs) <= 1, (cut, [(f.severity, f.code, f.message) for f in fs])
