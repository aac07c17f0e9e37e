"""Diagnosis rules (dicomsniff/model/diagnosis.py): one scenario per finding.

Real captures (captures/*.pcap, made by real DCMTK/pynetdicom peers) where a peer
produces the problem; byte fixtures (tests/capwriter.py + tests/pdu_fixtures.py)
where no peer misbehaves that way (PDU over the negotiated max, AC contexts not
matching the RQ, missing last fragment, undecodable command set, idle gaps).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from dicomsniff.model.diagnosis import diagnose, worst
from dicomsniff.pipeline import Analyzer
from dicomsniff.reading import read_events

from . import capwriter as cw
from . import pdu_fixtures as P

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
NS = 1_000_000_000
CLIENT, SERVER = ("10.0.0.1", 40000), ("10.0.0.2", 104)
COMMAND, LAST = 0x01, 0x02
CT = P.CT_STORAGE

_TAGS = {
    "AffectedSOPClassUID": (0x0002, "UI"), "CommandField": (0x0100, "US"), "MessageID": (0x0110, "US"),
    "MessageIDBeingRespondedTo": (0x0120, "US"), "MoveDestination": (0x0600, "AE"), "Priority": (0x0700, "US"),
    "CommandDataSetType": (0x0800, "US"), "Status": (0x0900, "US"), "AffectedSOPInstanceUID": (0x1000, "UI"),
    "NumberOfRemainingSuboperations": (0x1020, "US"), "NumberOfCompletedSuboperations": (0x1021, "US"),
    "NumberOfFailedSuboperations": (0x1022, "US"), "NumberOfWarningSuboperations": (0x1023, "US"),
}


def cmd(**elements) -> bytes:
    """A command set (implicit VR little endian, group 0000, with its group length)."""
    body = b""
    for kw, value in sorted(elements.items(), key=lambda kv: _TAGS[kv[0]][0]):
        elem, vr = _TAGS[kw]
        if vr == "US":
            raw = struct.pack("<H", value)
        else:
            raw = value.encode()
            if len(raw) % 2:
                raw += b"\x00" if vr == "UI" else b" "
        body += struct.pack("<HHI", 0, elem, len(raw)) + raw
    return struct.pack("<HHII", 0, 0, 4, len(body)) + body


def echo_rq(mid=1):
    return cmd(AffectedSOPClassUID=P.VERIFICATION, CommandField=0x0030, MessageID=mid, CommandDataSetType=0x0101)


def echo_rsp(mid=1, status=0):
    return cmd(AffectedSOPClassUID=P.VERIFICATION, CommandField=0x8030, MessageIDBeingRespondedTo=mid,
               CommandDataSetType=0x0101, Status=status)


def store_rq(mid=1):
    return cmd(AffectedSOPClassUID=CT, CommandField=0x0001, MessageID=mid, Priority=0, CommandDataSetType=0,
               AffectedSOPInstanceUID="1.2.3.4")


def store_rsp(mid=1, status=0):
    return cmd(AffectedSOPClassUID=CT, CommandField=0x8001, MessageIDBeingRespondedTo=mid,
               CommandDataSetType=0x0101, Status=status, AffectedSOPInstanceUID="1.2.3.4")


def pixel_data(n: int) -> bytes:
    """An implicit VR data set: Patient Name then n bytes of (7FE0,0010)."""
    name = b"DOE^JOHN"
    return struct.pack("<HHI", 0x0010, 0x0010, len(name)) + name + struct.pack("<HHI", 0x7FE0, 0x0010, n) + bytes(n)


def conversation(pdus, *, handshake=True, fin=True, client=CLIENT, server=SERVER) -> bytes:
    """A pcap of one TCP connection: pdus are (sender 'c' or 's', bytes, seconds since the previous)."""
    recs = []
    t = NS
    seq = {"c": 1000, "s": 900_000}
    ends = {"c": (client, server), "s": (server, client)}

    def send(who, flags, payload=b""):
        (src, sport), (dst, dport) = ends[who]
        other = "s" if who == "c" else "c"
        pkt = cw.tcp_packet(src, dst, sport, dport, seq=seq[who], ack=seq[other], flags=flags, payload=payload)
        recs.append((t, cw.frame(cw.ETHERNET, pkt)))
        seq[who] += len(payload) + (1 if flags & (cw.SYN | cw.FIN) else 0)

    if handshake:
        seq["c"] -= 1
        send("c", cw.SYN)
        seq["s"] -= 1
        send("s", cw.SYN | cw.ACK)
        send("c", cw.ACK)
    for who, data, dt in pdus:
        t += int(dt * NS)
        send(who, cw.PSH | cw.ACK, data)
    if fin:
        t += NS // 100
        send("c", cw.FIN | cw.ACK)
        send("s", cw.FIN | cw.ACK)
    return cw.pcap_bytes(recs, cw.ETHERNET)


def run(data_or_path, ports=frozenset(), **options):
    an = Analyzer(keep_pdus=True, ports=ports)
    for _ in read_events(data_or_path, an):
        pass
    return an.associations, diagnose(an.associations, **options)


def codes(findings, association=None) -> list[str]:
    return [f.code for f in findings if association is None or f.association == association]


def one(findings, code):
    hits = [f for f in findings if f.code == code]
    assert len(hits) == 1, (code, [(f.code, f.message) for f in findings])
    return hits[0]


def established(contexts=((1, P.VERIFICATION, [P.IMPLICIT_LE]),), results=((1, 0, P.IMPLICIT_LE),),
                rq_max=16384, ac_max=16384, calling="SCU", called="SCP"):
    return [("c", P.assoc_rq(calling, called, list(contexts), max_pdu=rq_max), 0.001),
            ("s", P.assoc_ac(calling, called, list(results), max_pdu=ac_max), 0.001)]


RELEASE = [("c", P.release_rq(), 0.001), ("s", P.release_rp(), 0.001)]


# -- real captures ----------------------------------------------------------------


def test_reject_reasons_with_hints_per_reason():
    _, fs = run(CAPTURES / "reject.pcap")
    rej = [f for f in fs if f.code == "association-rejected"]
    assert [f.association for f in rej] == [1, 2, 3]
    assert "called-AE-title-not-recognized" in rej[0].message and "'WRONGAE'" in rej[0].message
    assert "AE configuration" in rej[0].hint and "WRONGAE" in rej[0].hint
    assert "calling-AE-title-not-recognized" in rej[1].message
    assert "add the calling AE 'INTRUDER'" in rej[1].hint
    assert "no-reason-given" in rej[2].message and "log" in rej[2].hint
    assert all(f.frames == [fr] for f, fr in zip(rej, (6, 16, 26)))
    assert codes(fs).count("association-rejected") == 3     # refined, not duplicated


def test_rejected_contexts_nothing_needed_are_one_note():
    # CT/RLE (context 3) rejected but CT travelled on context 1; MR (context 5) rejected and never sent.
    _, fs = run(CAPTURES / "context_rejected.pcap")
    assert "context-rejected" not in codes(fs)
    f = one(fs, "contexts-rejected-unneeded")
    assert f.severity == "note" and f.frames == [6]
    assert f.message.startswith("2 of 3 proposed presentation contexts rejected, none needed: CT (RLE Lossless only), MR")
    assert "transfer-syntaxes-not-supported 1" in f.message and "abstract-syntax-not-supported 1" in f.message
    assert "sop-class-not-negotiated" not in codes(fs)        # the MR object was never sent
    assert worst(fs) == "note"


def test_rejected_context_a_message_needed_is_a_warning():
    # diag_status #2 sends C-STORE MR on the rejected MR context 7: the rejection mattered.
    _, fs = run(CAPTURES / "diag_status.pcap")
    mine = [f for f in fs if f.association == 2 and f.code == "context-rejected"]
    assert len(mine) == 1 and mine[0].severity == "warning"
    assert "context 7 (MR Image Storage)" in mine[0].message and "C-STORE-RQ #1 needed it" in mine[0].message
    assert "does not support MR Image Storage" in mine[0].hint
    # association 1 rejected MR too, but never sent one: a note, not a warning
    first = [f for f in fs if f.association == 1 and "context" in f.code]
    assert [(f.code, f.severity) for f in first] == [("contexts-rejected-unneeded", "note")]


def test_abort_by_client_says_who_and_what_was_in_flight():
    _, fs = run(CAPTURES / "abort.pcap")
    f = one(fs, "association-aborted")
    assert "aborted by the client" in f.message and "no request outstanding" in f.message
    assert f.frames == [24] and "client" in f.hint


def test_move_destination_unknown_and_sub_association_link():
    _, fs = run(CAPTURES / "move.pcap")
    fail = one(fs, "dimse-failure")
    assert fail.association == 3 and "0xA801" in fail.message
    assert "'NOWHERE' is not configured on the SCP" in fail.hint
    links = [f for f in fs if f.code == "move-sub-association"]
    assert {f.association for f in links} == {1, 2}
    sub = [f for f in links if f.association == 2][0]
    assert sub.severity == "note"
    assert "sub-association #2 carries C-MOVE #1 of association #1" in sub.message
    main = [f for f in links if f.association == 1][0]
    assert "association #2" in main.message and "3 C-STORE" in main.message and "Move Originator" in main.message
    assert "move-sub-association-missing" not in codes(fs)


def test_out_of_resources_store():
    _, fs = run(CAPTURES / "pynetdicom.pcap")
    f = one(fs, "dimse-failure")
    assert "C-STORE-RQ #1 (MR Image Storage)" in f.message and "0xA700" in f.message
    assert "disk space" in f.hint


def test_find_with_no_matches_is_a_note_not_an_error():
    _, fs = run(CAPTURES / "find_mwl_empty.pcap")
    assert [(f.code, f.severity) for f in fs] == [("find-no-matches", "note")]
    _, fs = run(CAPTURES / "find_mwl.pcap")
    assert fs == []


def test_pynetdicom_statuses_slow_echo_and_rejected_context_use():
    # made by scripts/make_diag_captures.py: SCP answers C-ECHO after 1.5 s, 0xC000 for CT, 0x0122 for SC;
    # association 2 sends a C-STORE MR on the rejected MR context and the SCP aborts.
    _, fs = run(CAPTURES / "diag_status.pcap", slow_s=1.0)
    fails = [f for f in fs if f.code == "dimse-failure"]
    assert {f.association for f in fails} == {1}
    by = {f.message.split(" failed: ")[1][:6]: f for f in fails}
    assert "cannot understand" in by["0xC000"].hint
    assert "Secondary Capture" in by["0x0122"].message and "does not implement" in by["0x0122"].hint
    slow = one(fs, "slow-response")
    assert slow.association == 1 and "C-ECHO-RQ #1 waited 1.5" in slow.message
    ctx = one(fs, "context-not-accepted")
    assert ctx.association == 2 and "MR Image Storage" in ctx.message and "abstract-syntax-not-supported" in ctx.message
    ab = one(fs, "association-aborted")
    assert ab.association == 2 and "by the server during C-STORE-RQ #1" in ab.message
    assert "sop-class-not-negotiated" not in codes(fs)        # folded into context-not-accepted
    _, fs = run(CAPTURES / "diag_status.pcap")                # default threshold 5 s
    assert "slow-response" not in codes(fs)


def test_one_association_per_object_and_tiny_max_pdu():
    assocs, fs = run(CAPTURES / "diag_per_object.pcap")
    f = one(fs, "association-per-object")
    assert f.association == 1 and "5 associations 'ONEBYONE' → 'STORESCP'" in f.message
    assert "#1, #2, #3, #4, #5" in f.message
    tiny = [f for f in fs if f.code == "tiny-max-pdu"]
    assert len(tiny) == 5 and all("client announces a max PDU length of 4096" in f.message for f in tiny)


# -- byte fixtures --------------------------------------------------------------------


def test_pdu_larger_than_receiver_max():
    data = conversation(established(contexts=((1, CT, [P.IMPLICIT_LE]),), results=((1, 0, P.IMPLICIT_LE),),
                                    ac_max=4096)
                        + [("c", P.pdata([(1, COMMAND | LAST, store_rq()), (1, LAST, pixel_data(6000))]), 0.01),
                           ("s", P.pdata([(1, COMMAND | LAST, store_rsp())]), 0.01)] + RELEASE)
    _, fs = run(data)
    f = one(fs, "pdu-exceeds-max")
    assert "from the client longer than the server's negotiated max PDU length 4096" in f.message
    assert f.frames == [6]
    t = one(fs, "tiny-max-pdu")
    assert "server announces a max PDU length of 4096" in t.message


def test_ac_contexts_not_matching_rq():
    data = conversation(established(contexts=((1, P.VERIFICATION, [P.IMPLICIT_LE]), (3, CT, [P.EXPLICIT_LE])),
                                    results=((1, 0, P.EXPLICIT_BE), (5, 0, P.IMPLICIT_LE))) + RELEASE)
    _, fs = run(data)
    assert "Explicit VR Big Endian" in one(fs, "context-ts-not-proposed").message
    assert "context 3 (CT Image Storage)" in one(fs, "context-not-answered").message
    nprop = one(fs, "context-not-proposed")                  # raised by the model, refined with a hint
    assert nprop.hint and nprop.frames == [5]


def test_missing_last_fragment_before_release():
    data = conversation(established() + [("c", P.pdata([(1, COMMAND, echo_rq()[:20])]), 0.01)] + RELEASE)
    _, fs = run(data)
    f = one(fs, "pdv-last-missing")
    assert "never got its last fragment" in f.message and f.frames == [6, 7]
    assert "command-undecodable" not in codes(fs)             # a cut message is not also "undecodable"


def test_data_fragment_while_command_open_is_out_of_sequence():
    data = conversation(established(contexts=((1, CT, [P.IMPLICIT_LE]),), results=((1, 0, P.IMPLICIT_LE),))
                        + [("c", P.pdata([(1, COMMAND, store_rq()[:30]), (1, LAST, pixel_data(10))]), 0.01)]
                        + RELEASE)
    _, fs = run(data)
    assert {"pdv-out-of-sequence", "orphan-data"} & set(codes(fs))
    f = [f for f in fs if f.code in ("pdv-out-of-sequence", "orphan-data")][0]
    assert f.severity in ("error", "warning") and f.hint


def test_undecodable_command_set_is_an_error():
    data = conversation(established() + [("c", P.pdata([(1, COMMAND | LAST, b"\x01\x02\x03\x04\x05")]), 0.01)]
                        + RELEASE)
    _, fs = run(data)
    f = one(fs, "command-undecodable")
    assert f.severity == "error" and f.frames == [6]


def test_idle_gap_and_slow_response():
    data = conversation(established() + [("c", P.pdata([(1, COMMAND | LAST, echo_rq())]), 0.01),
                                         ("s", P.pdata([(1, COMMAND | LAST, echo_rsp())]), 6.0),
                                         ("c", P.release_rq(), 12.0), ("s", P.release_rp(), 0.01)])
    _, fs = run(data)
    assert "C-ECHO-RQ #1 waited 6.00 s" in one(fs, "slow-response").message
    gap = one(fs, "idle-gap")
    assert "no PDU for 12.00 s" in gap.message and gap.frames == [7, 8]
    _, fs = run(data, slow_s=10)
    assert "slow-response" not in codes(fs)


def test_release_without_reply_and_unmatched_response():
    data = conversation(established() + [("s", P.pdata([(1, COMMAND | LAST, echo_rsp(mid=9))]), 0.01),
                                         ("c", P.release_rq(), 0.01)])
    _, fs = run(data)
    assert one(fs, "release-no-reply").frames == [7]
    un = one(fs, "response-unmatched")
    assert "message ID 9" in un.message and un.hint


def test_an_abort_names_the_request_it_left_unanswered_once():
    data = conversation(established() + [("c", P.pdata([(1, COMMAND | LAST, echo_rq())]), 0.01),
                                         ("c", P.abort(), 0.01)])
    _, fs = run(data)
    assert "during C-ECHO-RQ #1" in one(fs, "association-aborted").message
    assert "no-response" not in codes(fs)


def test_no_response_before_a_release_gets_a_hint():
    data = conversation(established() + [("c", P.pdata([(1, COMMAND | LAST, echo_rq())]), 0.01)] + RELEASE)
    _, fs = run(data)
    f = one(fs, "no-response")
    assert f.severity == "warning" and "C-ECHO-RQ #1 got no final response" in f.message and f.hint


def test_abort_in_the_middle_of_an_object():
    data = conversation(established(contexts=((1, CT, [P.IMPLICIT_LE]),), results=((1, 0, P.IMPLICIT_LE),))
                        + [("c", P.pdata([(1, COMMAND | LAST, store_rq()), (1, 0, pixel_data(3000))]), 0.01),
                           ("c", P.abort(), 0.01)])
    _, fs = run(data)
    f = one(fs, "association-aborted")
    assert "aborted by the client during C-STORE-RQ #1 after 3.0 KB of its data set (incomplete)" in f.message


@pytest.mark.parametrize("result,source,reason,words", [
    (2, 3, 1, "retry later"),
    (2, 3, 2, "max associations"),
    (1, 1, 2, "application context"),
    (1, 2, 2, "protocol version 1"),
])
def test_reject_hints_for_other_reasons(result, source, reason, words):
    data = conversation([("c", P.assoc_rq("SCU", "SCP"), 0.001), ("s", P.assoc_rj(result, source, reason), 0.001)])
    _, fs = run(data)
    f = one(fs, "association-rejected")
    assert words in f.hint
    if result == 2:
        assert "transient" in f.hint


def test_invalid_ae_title():
    data = conversation([("c", P.assoc_rq("BAD\\AE", "SCP"), 0.001), ("s", P.assoc_rj(1, 1, 3), 0.001)])
    _, fs = run(data, ports={104})      # detection by content refuses such a title: force the port
    f = one(fs, "ae-title-invalid")
    assert "calling AE title 'BAD\\AE'" in f.message and f.severity == "error"


def test_move_with_completed_suboperations_but_no_sub_association():
    move = "1.2.840.10008.5.1.4.1.2.2.2"
    rq = cmd(AffectedSOPClassUID=move, CommandField=0x0021, MessageID=1, Priority=0, CommandDataSetType=0,
             MoveDestination="DEST")
    rsp = cmd(AffectedSOPClassUID=move, CommandField=0x8021, MessageIDBeingRespondedTo=1,
              CommandDataSetType=0x0101, Status=0, NumberOfCompletedSuboperations=3,
              NumberOfFailedSuboperations=0, NumberOfWarningSuboperations=0)
    ident = struct.pack("<HHI", 0x0008, 0x0052, 6) + b"STUDY "
    data = conversation(established(contexts=((1, move, [P.IMPLICIT_LE]),), results=((1, 0, P.IMPLICIT_LE),))
                        + [("c", P.pdata([(1, COMMAND | LAST, rq), (1, LAST, ident)]), 0.01),
                           ("s", P.pdata([(1, COMMAND | LAST, rsp)]), 0.01)] + RELEASE)
    _, fs = run(data)
    f = one(fs, "move-sub-association-missing")
    assert "reports 3 sub-operations" in f.message and "'SCP' to 'DEST'" in f.message and f.frames == [7]


def test_capture_problems_have_hints():
    # No handshake and no A-ASSOCIATE: the capture began mid-association.
    data = conversation([("c", P.pdata([(1, COMMAND | LAST, echo_rq())]), 0.01),
                         ("s", P.pdata([(1, COMMAND | LAST, echo_rsp())]), 0.01)] + RELEASE, handshake=False)
    _, fs = run(data)
    f = one(fs, "started-mid-association")
    assert "start the capture before" in f.hint


def test_diagnose_is_idempotent_and_never_duplicates():
    an = Analyzer(keep_pdus=True)
    for _ in read_events(CAPTURES / "reject.pcap", an):
        pass
    first = [(f.code, f.message) for f in diagnose(an.associations)]
    second = [(f.code, f.message) for f in diagnose(an.associations)]
    assert first == second
    assert len(an.associations[0].findings) == 1


def test_data_set_not_matching_the_negotiated_transfer_syntax():
    # The context was accepted with Explicit VR Little Endian, the data set is sent implicit.
    data = conversation(established(contexts=((1, CT, [P.EXPLICIT_LE]),), results=((1, 0, P.EXPLICIT_LE),))
                        + [("c", P.pdata([(1, COMMAND | LAST, store_rq()), (1, LAST, pixel_data(64))]), 0.01),
                           ("s", P.pdata([(1, COMMAND | LAST, store_rsp())]), 0.01)] + RELEASE)
    _, fs = run(data)
    f = one(fs, "dataset-parse")
    assert f.severity == "error" and "Explicit VR Little Endian" in f.message and f.frames == [6]
    assert "negotiated transfer syntax" in f.hint


def _fixture_conversations():
    yield conversation(established(contexts=((1, CT, [P.IMPLICIT_LE]),), results=((1, 0, P.IMPLICIT_LE),),
                                   ac_max=4096)
                       + [("c", P.pdata([(1, COMMAND | LAST, store_rq()), (1, LAST, pixel_data(6000))]), 0.01),
                          ("s", P.pdata([(1, COMMAND | LAST, store_rsp())]), 12.0)] + RELEASE)
    yield conversation(established() + [("c", P.pdata([(1, COMMAND, echo_rq()[:20])]), 0.01)] + RELEASE)
    yield conversation(established() + [("c", P.pdata([(1, COMMAND | LAST, echo_rq())]), 0.01),
                                        ("s", P.pdata([(1, COMMAND | LAST, echo_rsp())]), 0.01),
                                        ("c", P.release_rq(), 12.0)])


@pytest.mark.parametrize("data", list(_fixture_conversations()) + [CAPTURES / "diag_status.pcap"])
def test_streaming_watch_gives_the_same_findings_as_kept_pdus(data):
    from dicomsniff.model.diagnosis import PduWatch
    _, kept = run(data)
    an = Analyzer(keep_pdus=False)
    watch = PduWatch()
    for ev in read_events(data, an):
        watch.event(ev)
    assert an.associations[0].pdus == []
    streamed = diagnose(an.associations, watch=watch)
    assert [f.to_json() for f in streamed] == [f.to_json() for f in kept]
    assert kept
