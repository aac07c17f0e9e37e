"""Analyzer (sans-I/O pipeline): DICOM detection on any port, mid-stream starts, event order, closing."""

from dicomsniff.capture.reader import open_capture
from dicomsniff.pipeline import (DETECT_LIMIT, AssociationClosed, AssociationOpened, Analyzer, MessageSeen,
                                 PduSeen, analyze_frames, find_pdu_run)
from dimse_fixtures import Conv, echo_rq, echo_rsp, patient, pcap, run, store_rq, store_rsp
from pdu_fixtures import (COMMAND, CT_STORAGE, DATA, IMPLICIT_LE, LAST, VERIFICATION, assoc_ac, assoc_rq, pdata,
                          release_rp, release_rq)

HTTP_RQ = b"GET /wado?studyUID=1.2.3 HTTP/1.1\r\nHost: pacs.example\r\nAccept: application/dicom\r\n\r\n"
HTTP_RSP = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2000\r\n\r\n" + b"hello " * 333


def echo_association(c: Conv, calling: str = "ECHOSCU", mid: int = 1) -> Conv:
    c.send(0, assoc_rq(calling, "ANY-SCP"))
    c.send(1, assoc_ac(calling, "ANY-SCP"))
    c.send(0, pdata([(1, COMMAND | LAST, echo_rq(mid))]))
    c.send(1, pdata([(1, COMMAND | LAST, echo_rsp(mid))]))
    c.send(0, release_rq())
    c.send(1, release_rp())
    return c


def of(events, kind) -> list:
    return [e for e in events if type(e) is kind]


def frames(*convs):
    return list(open_capture(pcap(*convs)))


def test_associate_rq_detected_on_any_port():
    c = echo_association(Conv(("192.168.1.5", 51000), ("192.168.1.9", 4242))).fin()
    an, events = run(c)
    (a,) = an.associations
    assert type(events[0]) is AssociationOpened and events[0].association is a
    assert a.calling_ae == "ECHOSCU" and a.server.port == 4242 and a.client.port == 51000
    assert a.outcome == "released" and [ex.status for ex in a.exchanges] == [0]
    assert [e.pdu.name for e in of(events, PduSeen)] == ["A-ASSOCIATE-RQ", "A-ASSOCIATE-AC", "P-DATA-TF",
                                                         "P-DATA-TF", "A-RELEASE-RQ", "A-RELEASE-RP"]


def test_requestor_is_the_client_whatever_the_ports():
    # No handshake in the capture and a client on a low port: the A-ASSOCIATE-RQ decides, not the ports.
    c = Conv(("10.0.0.1", 1000), ("10.0.0.2", 11112), handshake=False)
    c.send(0, assoc_rq("SCU", "SCP"))
    c.send(1, assoc_ac("SCU", "SCP"))
    an, _ = run(c.fin())
    (a,) = an.associations
    assert a.client.port == 1000 and a.server.port == 11112 and a.side(0) == "client"
    assert a.outcome == "incomplete" and a.end_how == "fin"


def test_http_on_port_104_is_not_dicom_unless_forced():
    c = Conv(server=("10.0.0.2", 104))
    c.send(0, HTTP_RQ)
    c.send(1, HTTP_RSP)
    c.fin()
    an, events = run(c)
    assert an.associations == [] and events == [] and not an.pending and not an.dicom
    an, events = run(c, ports={104})
    (a,) = an.associations
    assert a.rq is None and a.outcome == "incomplete"
    assert of(events, AssociationClosed)[0].association is a


def test_non_dicom_stream_is_ignored_cheaply():
    c = Conv(server=("10.0.0.2", 8080))
    c.send(0, HTTP_RQ)
    big = b"x" * (DETECT_LIMIT + 10_000)
    c.send(1, big[:DETECT_LIMIT + 1000])
    c.send(1, big[DETECT_LIMIT + 1000:])
    an = Analyzer()
    frs = frames(c)
    out = []
    for fr in frs:
        out += an.feed(fr)
    assert out == []
    # Decided after DETECT_LIMIT bytes: nothing pending, and the reassembler forgot the stream.
    assert not an.pending and not an.dicom and an.tcp.stream_count == 0
    c.send(1, b"more" * 1000)
    c.fin()
    an2 = Analyzer()
    for fr in frames(c):
        assert an2.feed(fr) == []
    assert an2.tcp.stream_count == 0 and an2.finish() == [] and an2.associations == []


def test_small_non_dicom_stream_is_dropped_when_it_closes():
    c = Conv(server=("10.0.0.2", 8080))
    c.send(0, HTTP_RQ)
    c.send(1, HTTP_RSP)
    an = Analyzer()
    for fr in frames(c.fin()):
        assert an.feed(fr) == []
    assert not an.pending and an.tcp.stream_count == 0


def big_store_tail(c: Conv, tail: int) -> None:
    """A C-STORE of which the capture holds only the last ``tail`` bytes of its data P-DATA."""
    value = patient() + bytes(29_000)          # never decoded: the capture misses its start
    store = pdata([(3, COMMAND | LAST, store_rq(1))]) + pdata([(3, DATA | LAST, value)])
    cut = len(store) - tail
    c.send(0, store[:cut], skip=True)
    c.send(0, store[cut:])


def test_capture_starting_inside_a_big_pdata():
    c = Conv(handshake=False, server=("10.0.0.2", 11112))
    big_store_tail(c, 20_000)
    c.send(1, pdata([(3, COMMAND | LAST, store_rsp(1))]))
    c.send(0, pdata([(1, COMMAND | LAST, echo_rq(2))]))
    c.send(1, pdata([(1, COMMAND | LAST, echo_rsp(2))]))
    c.send(0, release_rq())
    c.send(1, release_rp())
    an, events = run(c.fin())
    (a,) = an.associations
    assert a.started_mid and a.outcome == "released"
    assert [(p.direction, p.name, p.stream_offset, p.complete) for p in a.pdus] == [
        (1, "P-DATA-TF", 0, True), (0, "P-DATA-TF", 20_000, True), (1, "P-DATA-TF", 114, True),
        (0, "A-RELEASE-RQ", 20_080, True), (1, "A-RELEASE-RP", 204, True)]
    resync = [f for f in a.findings if f.code == "resync"]
    assert len(resync) == 1 and "skipping 20000 bytes" in resync[0].message
    assert [(ex.message_id, ex.request is not None, ex.status) for ex in a.exchanges] == \
        [(1, False, 0), (2, True, 0)]
    assert "pdu-incomplete" not in [f.code for f in a.findings]


def test_one_sided_capture_inside_a_big_pdata_found_by_pdu_run():
    # Only the client's side: no A-ASSOCIATE-RQ and no two PDUs at the start; at the end the
    # run of plausible PDUs after the tail decides it.
    c = Conv(handshake=False, server=("10.0.0.2", 11112))
    big_store_tail(c, 20_000)
    c.send(0, pdata([(1, COMMAND | LAST, echo_rq(2))]))
    c.send(0, release_rq())
    an, _ = run(c)
    (a,) = an.associations
    assert [(p.name, p.stream_offset) for p in a.pdus] == [("P-DATA-TF", 20_000), ("A-RELEASE-RQ", 20_080)]
    assert [ex.request.name for ex in a.exchanges] == ["C-ECHO-RQ"]


def test_find_pdu_run():
    two = pdata([(1, COMMAND | LAST, b"abc")]) + release_rq()
    assert find_pdu_run(b"\x00" * 100 + two) == 100
    assert find_pdu_run(b"\x04\x00garbage" * 20 + two + b"\x00") == 180
    assert find_pdu_run(pdata([(1, 3, b"abc")])) == -1                # one PDU is not a run
    assert find_pdu_run(b"\x00" * 100 + two, limit=50) == -1


def test_forced_port_mid_stream_frames_from_the_next_pdu():
    # Decided at the first segment (forced port) while it is the middle of a PDU value.
    c = Conv(handshake=False, server=("10.0.0.2", 11112))
    big_store_tail(c, 20_000)
    c.send(0, pdata([(1, COMMAND | LAST, echo_rq(2))]))
    c.send(1, pdata([(1, COMMAND | LAST, echo_rsp(2))]))
    an, _ = run(c, ports={11112})
    (a,) = an.associations
    assert [p.name for p in a.pdus] == ["P-DATA-TF", "P-DATA-TF"] and all(p.complete for p in a.pdus)
    assert [(ex.message_id, ex.status) for ex in a.exchanges] == [(2, 0)]


def test_several_concurrent_associations():
    convs = [echo_association(Conv(("10.0.0.1", 40000 + i), ("10.0.0.2", 104), mss=40), f"SCU{i}", mid=i + 1)
             .fin() for i in range(3)]
    an, events = run(*convs)
    assert sorted(a.calling_ae for a in an.associations) == ["SCU0", "SCU1", "SCU2"]
    for a in an.associations:
        i = int(a.calling_ae[-1])
        assert a.client.port == 40000 + i and a.outcome == "released"
        assert [(ex.message_id, ex.status) for ex in a.exchanges] == [(i + 1, 0)]
        mine = [e for e in events if getattr(e, "association", None) is a]
        assert type(mine[0]) is AssociationOpened and type(mine[-1]) is AssociationClosed
        assert all(e.pdu.stream == a.stream for e in mine if type(e) is PduSeen)
    # Interleaved: each association opened before the first one closed.
    kinds = [type(e) for e in events]
    assert kinds.index(AssociationClosed) > max(i for i, k in enumerate(kinds) if k is AssociationOpened)


def test_pdu_seen_comes_before_the_message_it_completes():
    cmd = store_rq(2)
    ds = patient()
    c = Conv()
    c.send(0, assoc_rq(contexts=[(1, VERIFICATION, [IMPLICIT_LE]), (3, CT_STORAGE, [IMPLICIT_LE])]))
    c.send(1, assoc_ac(results=[(1, 0, IMPLICIT_LE), (3, 0, IMPLICIT_LE)]))
    c.send(0, pdata([(1, COMMAND | LAST, echo_rq(1)), (3, COMMAND, cmd[:30])]))     # P1
    c.send(0, pdata([(3, COMMAND | LAST, cmd[30:]), (3, DATA, ds[:10])]))           # P2
    c.send(0, pdata([(3, DATA | LAST, ds[10:])]))                                   # P3
    an, events = run(c.fin())
    seq = [(type(e).__name__, e.pdu.length if type(e) is PduSeen else e.message.name)
           for e in events if type(e) in (PduSeen, MessageSeen)]
    pdus = [e.pdu for e in of(events, PduSeen) if e.pdu.pdu_type == 4]
    names = [n for _, n in seq]
    assert names[2:] == [pdus[0].length, "C-ECHO-RQ", pdus[1].length, pdus[2].length, "C-STORE-RQ"]
    # Each message's last byte is in a PDU reported before it.
    for i, e in enumerate(events):
        if type(e) is MessageSeen:
            last = e.message.frames[-1]
            assert any(type(x) is PduSeen and last in x.pdu.spans.frames for x in events[:i])


def test_association_closed_at_fin_rst_and_end_of_capture():
    ends = {}
    for how in ("fin", "rst", "eof"):
        c = echo_association(Conv())
        if how == "fin":
            c.fin()
        elif how == "rst":
            c.rst(1)
        an = Analyzer()
        fed = []
        for fr in frames(c):
            fed += an.feed(fr)
        fin = an.finish()
        closed = of(fed + fin, AssociationClosed)
        assert len(closed) == 1 and closed[0].association.end_how == how
        ends[how] = (bool(of(fed, AssociationClosed)), closed[0].association.outcome)
        assert (fed + fin)[-1] is closed[0] and not an.dicom
    # FIN and RST close the association as the frames arrive; the end of the capture at finish().
    assert ends == {"fin": (True, "released"), "rst": (True, "released"), "eof": (False, "released")}


def test_rst_without_release_is_incomplete_and_closes_midway():
    c = Conv()
    c.send(0, assoc_rq())
    c.send(1, assoc_ac())
    c.send(0, pdata([(1, COMMAND | LAST, echo_rq(1))]))
    c.rst(1)
    an = Analyzer()
    fed = []
    for fr in frames(c):
        fed += an.feed(fr)
    (closed,) = of(fed, AssociationClosed)
    a = closed.association
    assert a.outcome == "incomplete" and a.end_how == "rst"
    assert {"association-incomplete", "no-response"} <= {f.code for f in a.findings}
    assert an.finish() == []


def test_no_handshake_but_whole_association_has_no_resync_noise():
    c = echo_association(Conv(handshake=False))
    an, events = run(c.fin(), ports={104})
    (a,) = an.associations
    assert a.outcome == "released" and not a.started_mid
    assert [f.code for f in a.findings] == []


def test_gap_exactly_between_pdus_cuts_the_open_message():
    # The data set travels in three P-DATA-TF PDUs; the middle one is missing from the capture.
    # No PDU is cut, so only the assembler can tell: the message must not pass as complete.
    data = patient(PatientComments="x" * 3000)
    c = Conv()
    c.send(0, assoc_rq("STORESCU", "STORESCP", [(1, CT_STORAGE, [IMPLICIT_LE])]))
    c.send(1, assoc_ac("STORESCU", "STORESCP", [(1, 0, IMPLICIT_LE)]))
    c.send(0, pdata([(1, COMMAND | LAST, store_rq(7))]))
    c.send(0, pdata([(1, DATA, data[:1000])]))
    c.send(0, pdata([(1, DATA, data[1000:2000])]), skip=True)
    c.send(0, pdata([(1, DATA | LAST, data[2000:])]))
    c.send(1, pdata([(1, COMMAND | LAST, store_rsp(7))]))
    c.send(0, release_rq())
    c.send(1, release_rp())
    an, events = run(c.fin())
    (a,) = an.associations
    rq = [e.message for e in of(events, MessageSeen) if e.message.name == "C-STORE-RQ"]
    assert len(rq) == 1 and rq[0].complete is False
    assert [f.code for f in rq[0].findings] == ["dataset-incomplete"]
    assert rq[0].data.truncated and rq[0].data_length == 1000
    # The fragment after the gap belongs to no message: said so, not glued on.
    assert "orphan-data" in [f.code for f in a.findings]
    assert [ex.status for ex in a.exchanges] == [0]


def _decode_summary(frames_bytes: list[bytes]):
    from capwriter import ETHERNET, pcap_bytes
    data = pcap_bytes([(1_700_000_000_000_000_000 + i * 1_000_000, f) for i, f in enumerate(frames_bytes)],
                      ETHERNET)
    an, events = analyze_frames(open_capture(data))
    return ([(e.pdu.direction, e.pdu.name, e.pdu.stream_offset, e.pdu.complete) for e in of(events, PduSeen)],
            [(e.message.name, e.message.complete) for e in of(events, MessageSeen)],
            [(a.client.port, a.server.port, a.calling_ae, a.outcome) for a in an.associations])


def test_capture_starting_at_the_synack_with_the_clients_second_segment_first():
    c = echo_association(Conv(("10.0.0.1", 40000), ("10.0.0.2", 104), mss=100)).fin()
    ref = _decode_summary(c.frames)
    assert ref[1] == [("C-ECHO-RQ", True), ("C-ECHO-RSP", True)] and ref[2][0][3] == "released"
    frames_ = list(c.frames[1:])                  # no SYN: the capture starts at the SYN-ACK
    # frames_: SYN-ACK, ACK, then the A-ASSOCIATE-RQ in 100-byte segments; swap its first two
    frames_[2], frames_[3] = frames_[3], frames_[2]
    assert _decode_summary(frames_) == ref


def test_cut_associate_rq_does_not_narrow_the_contexts_a_search_accepts():
    # The capture lost a segment inside a 40-context A-ASSOCIATE-RQ; later a hole swallows a PDU
    # header. The search must still accept P-DATA on context 79 (proposed after the hole in the RQ,
    # answered in the AC): the context IDs come from a whole A-ASSOCIATE only.
    ctxs = [(2 * i + 1, VERIFICATION, [IMPLICIT_LE]) for i in range(40)]
    c = Conv(("10.0.0.1", 40000), ("10.0.0.2", 104), mss=200)
    rq = assoc_rq("SCU", "SCP", contexts=ctxs)
    c.send(0, rq[:400])
    c.send(0, rq[400:600], skip=True)
    c.send(0, rq[600:])
    c.send(1, assoc_ac("SCU", "SCP", results=[(i, 0, IMPLICIT_LE) for i, _, _ in ctxs]))
    first = pdata([(79, COMMAND | LAST, echo_rq(1))])
    c.send(0, first[:50])
    c.send(0, first[50:], skip=True)              # runs to the end of this PDU: the next header is lost too
    c.send(0, pdata([(79, COMMAND | LAST, echo_rq(2))])[:7], skip=True)
    c.send(0, pdata([(79, COMMAND | LAST, echo_rq(2))])[7:] + pdata([(79, COMMAND | LAST, echo_rq(3))]))
    c.send(1, pdata([(79, COMMAND | LAST, echo_rsp(3))]))
    c.send(0, release_rq())
    c.send(1, release_rp())
    an, events = run(c.fin())
    (a,) = an.associations
    assert [(m.message.name, m.message.complete) for m in of(events, MessageSeen)] == \
        [("incomplete command set", False), ("C-ECHO-RQ", True), ("C-ECHO-RSP", True)]
    assert [(ex.message_id, ex.status) for ex in a.exchanges if ex.request is not None][-1] == (3, 0)
    assert a.outcome == "released"


def test_association_found_when_its_rq_is_lost_and_its_ac_cut():
    # The capture lost the whole A-ASSOCIATE-RQ and most of the AC; the AC's first bytes still say
    # DICOM (and who the server is), and the messages after the holes decode.
    ctxs = [(2 * i + 1, VERIFICATION, [IMPLICIT_LE]) for i in range(20)]
    c = Conv(("10.0.0.1", 40000), ("10.0.0.2", 4000), mss=200)
    c.send(0, assoc_rq("SCU", "SCP", contexts=ctxs), skip=True)
    ac = assoc_ac("SCU", "SCP", results=[(i, 0, IMPLICIT_LE) for i, _, _ in ctxs])
    c.send(1, ac[:200])
    c.send(1, ac[200:], skip=True)
    c.send(0, pdata([(3, COMMAND | LAST, echo_rq(1))]))
    c.send(1, pdata([(3, COMMAND | LAST, echo_rsp(1))]))
    c.send(0, release_rq())
    c.send(1, release_rp())
    an, events = run(c.fin())
    (a,) = an.associations
    assert a.client.port == 40000 and a.server.port == 4000
    assert [(m.message.name, m.message.complete) for m in of(events, MessageSeen)] == \
        [("C-ECHO-RQ", True), ("C-ECHO-RSP", True)]
    assert a.outcome == "released" and a.loss[0].bytes == len(assoc_rq("SCU", "SCP", contexts=ctxs))


def test_findings_after_loss_name_their_frames():
    # Loss inside a data set, a lost command PDV (its data set becomes orphan data) and a lost PDU
    # header (a search): every finding names frames, none is 0, and the resync names the frame where
    # the PDU it found begins.
    c = Conv(("10.0.0.1", 40000), ("10.0.0.2", 104), mss=100)
    c.send(0, assoc_rq("SCU", "SCP", contexts=[(1, VERIFICATION, [IMPLICIT_LE]), (3, CT_STORAGE, [IMPLICIT_LE])]))
    c.send(1, assoc_ac("SCU", "SCP", results=[(1, 0, IMPLICIT_LE), (3, 0, IMPLICIT_LE)]))
    data = patient(PatientComments="x" * 300)
    store1 = pdata([(3, COMMAND | LAST, store_rq(1))]) + pdata([(3, DATA | LAST, data)])
    c.send(0, store1[:300]).send(0, store1[300:400], skip=True).send(0, store1[400:])
    store2 = pdata([(3, COMMAND | LAST, store_rq(2))]) + pdata([(3, DATA | LAST, data)])
    cmd_len = len(pdata([(3, COMMAND | LAST, store_rq(2))]))
    c.send(0, store2[:cmd_len], skip=True).send(0, store2[cmd_len:])
    c.send(0, pdata([(1, COMMAND | LAST, echo_rq(3))])[:6], skip=True)
    c.send(0, pdata([(1, COMMAND | LAST, echo_rq(3))])[6:])
    c.send(1, pdata([(3, COMMAND | LAST, store_rsp(1))]))
    c.send(1, pdata([(3, COMMAND | LAST, store_rsp(2))]))
    c.send(0, release_rq())
    c.send(1, release_rp())
    an, events = run(c.fin())
    (a,) = an.associations
    assert a.findings and all(f.frames and 0 not in f.frames for f in a.findings), a.findings
    codes = [f.code for f in a.findings]
    assert codes.count("orphan-data") == 1 and "resync" in codes
    # one search after the lost command PDU (found the data PDU after it), one after the lost header
    # of the C-ECHO-RQ's PDU (found the A-RELEASE-RQ)
    found = [e.pdu for e in of(events, PduSeen) if e.pdu.direction == 0 and e.pdu.stream_offset in
             (len(assoc_rq("SCU", "SCP", contexts=[(1, VERIFICATION, [IMPLICIT_LE]), (3, CT_STORAGE, [IMPLICIT_LE])]))
              + len(store1) + cmd_len,)]
    rel = [e.pdu for e in of(events, PduSeen) if e.pdu.name == "A-RELEASE-RQ"][0]
    assert [f.frames for f in a.findings if f.code == "resync"] == [[found[0].frame], [rel.frame]]
    assert [(m.message.name, m.message.complete, m.message.cut) for m in of(events, MessageSeen)
            if m.message.direction == 0] == [("C-STORE-RQ", False, "capture-loss")]
    assert all(m.message.frames and 0 not in m.message.frames for m in of(events, MessageSeen))
