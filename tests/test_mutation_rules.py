"""Diagnosis rules: the paths mutation testing found unasserted (tests/MUTATION.md, ``model/rules``).

Each capture goes through the real reader, pipeline and diagnosis; the tests pin whole findings
(severity, code, message, hint).
"""

from __future__ import annotations

import dimse_fixtures as D
import pdu_fixtures as P
from evidence_fixtures import analyse

CTX = [(1, P.VERIFICATION, [P.IMPLICIT_LE])]
SCP_ABORT_HINT = ("the SCP's application aborted (storage or processing error, refused object, timeout): check the"
                  " SCP's log at this time")
LOST_RQ_HINT = ("the negotiation is in the capture's lost bytes (see capture-loss): capture with a larger buffer"
                " (tcpdump -B) or on one of the peers to see it")


def rq() -> bytes:
    return P.assoc_rq("SCU", "SCP", CTX)


def ac() -> bytes:
    return P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE)])


def found(conv: D.Conv, code: str | None = None) -> list[tuple]:
    _assocs, fs = analyse(D.pcap(conv))
    return [(f.severity, f.code, f.message, f.hint) for f in fs if code is None or f.code == code]


def test_rejection_with_a_reserved_reason_gets_the_default_hint():
    c = D.Conv().send(0, rq()).send(1, P.assoc_rj(1, 1, 10)).fin()
    assert found(c) == [(
        "error", "association-rejected",
        "association 'SCU' → 'SCP' rejected by the called application (service-user), rejected-permanent:"
        " reserved (0x0A)",
        "look in the SCP's log at this time for why it refused the association")]


def test_scp_abort_with_nothing_exchanged():
    c = D.Conv().send(0, rq()).send(1, ac()).send(1, P.abort(0, 0)).fin()
    # (severity and hint left out: whether an abort that cut nothing is an error is being changed in model.py)
    assert [f[1:3] for f in found(c)] == [("association-aborted", "association aborted by the server: service-user")]


def test_abort_in_the_frame_of_the_final_response_finds_no_request_outstanding():
    c = D.Conv().send(0, rq()).send(1, ac()).send(0, P.pdata([(1, 3, D.echo_rq(1))]))
    c.send(1, P.pdata([(1, 3, D.echo_rsp(1))]) + P.abort(0, 0)).fin()
    # (severity and hint left out: whether an abort that cut nothing is an error is being changed elsewhere)
    assert [f[1:3] for f in found(c, "association-aborted")] == [(
        "association-aborted", "association aborted by the server with no request outstanding: service-user")]


def test_abort_after_an_unsolicited_response_finds_no_request_outstanding():
    c = D.Conv().send(0, rq()).send(1, ac()).send(1, P.pdata([(1, 3, D.echo_rsp(7))])).send(0, P.abort(0, 0)).fin()
    assert sorted(f[1:3] for f in found(c)) == [
        ("association-aborted", "association aborted by the client with no request outstanding: service-user"),
        ("response-unmatched", "C-ECHO-RSP responds to message ID 7, which no request used")]


def test_abort_while_a_command_set_was_being_sent():
    c = D.Conv().send(0, rq()).send(1, ac()).send(0, P.pdata([(1, 1, D.echo_rq(1)[:20])])).send(1, P.abort(0, 0))
    c.fin()
    assert found(c, "association-aborted") == [(
        "error", "association-aborted", "association aborted by the server while incomplete command set was being"
        " sent (0 bytes of its data set seen): service-user", SCP_ABORT_HINT)]


def test_lost_negotiation_says_how_many_data_sets_were_not_decoded_once():
    c = D.Conv().send(0, rq(), skip=True).send(1, ac(), skip=True)
    for mid in (1, 2):
        c.send(0, P.pdata([(1, 3, D.store_rq(mid))])).send(0, P.pdata([(1, 2, D.patient())]))
        c.send(1, P.pdata([(1, 3, D.store_rsp(mid))]))
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    fs = found(c)
    assert [f[1] for f in fs] == ["capture-loss", "capture-loss", "started-mid-association"]
    assert fs[2] == (
        "note", "started-mid-association",
        "the capture lost the A-ASSOCIATE-RQ (the connection's start was captured): presentation contexts, transfer"
        " syntaxes and AE titles are unknown, so rules on them cannot run and 1 data set was not decoded",
        LOST_RQ_HINT)


def test_lost_request_with_the_acceptance_captured():
    c = D.Conv().send(0, rq(), skip=True).send(1, ac())
    c.send(0, P.pdata([(1, 3, D.echo_rq(1))])).send(1, P.pdata([(1, 3, D.echo_rsp(1))]))
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    assert found(c, "started-mid-association") == [(
        "note", "started-mid-association",
        "the capture lost the A-ASSOCIATE-RQ (the connection's start was captured): the proposed abstract syntaxes"
        " are unknown, so rules on them cannot run", LOST_RQ_HINT)]


def test_message_on_an_unaccepted_context_has_no_separate_transfer_syntax_line():
    c = D.Conv().send(0, P.assoc_rq("SCU", "SCP", [(1, P.VERIFICATION, [P.IMPLICIT_LE]),
                                                  (3, P.CT_STORAGE, [P.IMPLICIT_LE])]))
    c.send(1, P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE), (3, 3, None)]))
    c.send(0, P.pdata([(3, 3, D.store_rq(1))])).send(0, P.pdata([(3, 2, D.patient())]))
    c.send(1, P.pdata([(3, 3, D.store_rsp(1, 0x0122))]))
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    assert [f[:2] for f in found(c)] == [("error", "context-not-accepted"), ("error", "context-not-accepted"),
                                         ("error", "dimse-failure"), ("warning", "context-rejected")]


def test_capture_loss_lines_name_the_cut_data_set_per_direction():
    rq = P.assoc_rq("SCU", "SCP", [(1, P.CT_STORAGE, [P.IMPLICIT_LE])])
    ac = P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE)])
    c = D.Conv().send(0, rq[:40]).send(0, rq[40:], skip=True).send(1, ac[:40]).send(1, ac[40:], skip=True)
    c.send(0, P.pdata([(1, 3, D.store_rq(1))])).send(1, P.pdata([(1, 3, D.store_rsp(1))]))
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    _assocs, fs = analyse(D.pcap(c))
    loss = [(f.message, f.frames, f.key, f.direction) for f in fs if f.code == "capture-loss"]
    assert loss == [
        ("client → server: 1 gap, 184 bytes lost before frame 6; 1 C-STORE data set incomplete (#1)", [6], "0", 0),
        ("server → client: 1 gap, 155 bytes lost before frame 7", [7], "1", 1)]


def test_capture_loss_with_several_gaps_lists_cut_objects_and_messages():
    rq = P.assoc_rq("SCU", "SCP", [(1, P.CT_STORAGE, [P.IMPLICIT_LE])])
    ac = P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE)])
    big = P.pdata([(1, 2, D.patient(PatientComments="x" * 3000))])
    echo = P.pdata([(1, 3, D.echo_rq(2))])
    c = D.Conv(mss=200).send(0, rq).send(1, ac).send(0, P.pdata([(1, 3, D.store_rq(1))]))
    c.send(0, big[:300]).send(0, big[300:700], skip=True).send(0, big[700:1500]).send(0, big[1500:2000], skip=True)
    c.send(0, big[2000:]).send(1, P.pdata([(1, 3, D.store_rsp(1))]))
    c.send(0, echo[:20]).send(0, echo[20:], skip=True)
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    _assocs, fs = analyse(D.pcap(c))
    loss = [(f.severity, f.message, f.first_frame, f.last_frame) for f in fs if f.code == "capture-loss"]
    assert loss == [("warning", "client → server: 3 gaps, 960 bytes lost between frames 10 and 22 over 0.0 s;"
                                " 1 C-STORE data set incomplete (#1); 1 message incomplete (incomplete command set)",
                     10, 22)]


def test_redeclaring_a_decoder_code_as_catalogued_is_idempotent_and_protocol_codes_are_fragile():
    from dicomsniff.model.rules.declared import _d
    from dicomsniff.model.rules.registry import CATALOGUE
    c = CATALOGUE["dataset-missing"]
    assert (c.severity, c.group, c.source, c.fragile) == ("error", "protocol", "decoder", True)
    _d(c.code, c.severity, c.group, c.summary, c.evidence, c.source)      # same declaration: no error
    assert CATALOGUE["dataset-missing"] == c


# -- the evidence's wording (dicomsniff/model/evidence.py), from its facts directly -------------------------------

def _close(side, how="fin", *, last_ts=None, ts=0):
    from dicomsniff.model.evidence import CloseFacts
    return CloseFacts(3, "closed", side, how, 40, ts, b"\x0a\x00\x00\x01", "10.0.0.1", "SCU", "SCP",
                      "the client's C-ECHO-RQ #1" if last_ts is not None else None, 30, last_ts, (), 0, None, False)


def test_lists_and_delays_read_as_english():
    from dicomsniff.model.evidence import _list, _strip, delay_text
    assert _list([]) == "" and _list(["a"]) == "a" and _list(["a", "b", "c"]) == "a, b and c"
    assert delay_text(11_500_000) == "12 ms" and delay_text(12_400_000) == "12 ms"
    assert delay_text(999_000) == "1.0 ms" and delay_text(2_500_000_000) == "2.50 s"
    assert _strip("1.2.3\x00") == "1.2.3" and _strip(" AE  ") == "AE" and _strip(None) == ""


def test_client_idle_close_tells_the_server_to_release_first():
    from dicomsniff.model.evidence import termination
    sev, msg, hint, frames = termination(_close("client", last_ts=1_000, ts=1_000 + 1_000_000_000))
    assert sev == "warning" and frames == [30, 40]
    assert msg == ("the client closed the connection (FIN, frame 40) 1.00 s after the client's C-ECHO-RQ #1 with no"
                   " A-RELEASE; no request was outstanding")
    assert hint == ("the client closed 1.00 s after the last PDU with nothing outstanding: an idle timeout of about"
                    " 1 s on the client is likely; the server should release the association (or send) before then")


def test_close_by_an_unknown_side_soon_after_blames_the_peer_in_general():
    from dicomsniff.model.evidence import termination
    sev, msg, hint, _frames = termination(_close(None, last_ts=1_000, ts=1_000 + 5_000_000))
    assert sev == "warning"
    assert msg == ("one side closed the connection (FIN, frame 40) 5.0 ms after the client's C-ECHO-RQ #1 with no"
                   " A-RELEASE; no request was outstanding")
    assert hint.startswith("the peer dropped the connection instead of releasing the association (PS3.8 §7.2)")


def test_a_pdu_finding_of_the_decoder_is_raised_once_with_its_pdu_and_frame():
    import struct
    bad = P.pdu(0x04, struct.pack(">IBB", 0xFFFF, 1, 3) + b"abcd")
    c = D.Conv().send(0, rq()).send(1, ac()).send(0, bad).send(0, P.release_rq()).send(1, P.release_rp()).fin()
    assert found(c) == [(
        "error", "pdv-length-invalid", "P-DATA-TF in frame 6: PDV length 65535 at PDU offset 6 does not fit the 10"
        " bytes left in the PDU: the rest of the PDU is skipped", "the sender's PDU breaks PS3.8 §9.3: check the"
        " sender's DICOM stack")]


def test_rejected_contexts_nobody_needed_are_one_note():
    many = [(2 * i + 1, uid, [P.IMPLICIT_LE])
            for i, uid in enumerate([P.VERIFICATION, P.CT_STORAGE, P.STUDY_ROOT_FIND, P.STUDY_ROOT_MOVE])]
    c = D.Conv().send(0, P.assoc_rq("SCU", "SCP", many))
    c.send(1, P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE), (3, 3, None), (5, 3, None), (7, 3, None)]))
    c.send(0, P.pdata([(1, 3, D.echo_rq(1))])).send(1, P.pdata([(1, 3, D.echo_rsp(1))]))
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    assert found(c) == [(
        "note", "contexts-rejected-unneeded",
        "3 of 4 proposed presentation contexts rejected, none needed: CT, Study Root Query/Retrieve Information"
        " Model - FIND, Study Root Query/Retrieve Information Model - MOVE; by reason: abstract-syntax-not-supported 3",
        "nothing was sent for these SOP classes on a rejected context (or another accepted context carried them):"
        " usual when an SCU proposes many contexts; `dicomsniff summary` lists them")]


def test_short_sop_class_names_drop_one_generic_tail():
    from dicomsniff.model.rules.negotiation import _short
    assert _short("CT Image Storage") == "CT"
    assert _short("Basic Text SR Storage") == "Basic Text SR"
    assert _short("Patient Root Query/Retrieve Information Model") == "Patient Root Query/Retrieve"
    assert _short("Verification SOP Class") == "Verification"
    assert _short("Storage") == "Storage" and _short("Modality Worklist - FIND") == "Modality Worklist - FIND"


def test_rule_catalogue_rows_follow_the_group_order_then_the_code():
    from dicomsniff.model.rules.registry import CATALOGUE, GROUPS, catalogue_rows
    rows = catalogue_rows()
    assert len(rows) == len(CATALOGUE)
    order = list(GROUPS)
    keys = [(order.index(r.group), r.code) for r in rows]
    assert keys == sorted(keys) and keys[0][0] == 0 and {k[0] for k in keys} == set(range(len(order)))


def test_command_set_findings_over_many_frames_span_first_to_last_frame():
    c = D.Conv().send(0, rq()).send(1, ac())
    c.mss = 10                                   # the 52-byte P-DATA-TF over frames 7..11
    c.send(0, P.pdata([(1, 3, b"\xff" * 40)]))
    c.mss = 1460
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    _assocs, fs = analyse(D.pcap(c))
    assert [(f.code, f.frames, f.first_frame, f.last_frame) for f in fs] == [
        ("command-undecodable", [7, 8, 9], 7, 11), ("command-missing-element", [7, 8, 9], 7, 11),
        ("command-element-overrun", [7, 8, 9], 7, 11)]
    assert fs[0].message == "message 1 on context 1: the command set does not decode (no Command Field)"


def test_capture_ending_inside_a_data_set_is_one_capture_line_keyed_by_direction():
    store = [(1, P.CT_STORAGE, [P.IMPLICIT_LE])]
    big = P.pdata([(1, 2, D.patient(PatientComments="x" * 3000))])
    c = D.Conv().send(0, P.assoc_rq("SCU", "SCP", store)).send(1, P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE)]))
    c.send(0, P.pdata([(1, 3, D.store_rq(1))])).send(0, big[:2000])
    _assocs, fs = analyse(D.pcap(c))
    assert [(f.severity, f.code, f.message, f.key, f.direction, f.frames) for f in fs] == [(
        "warning", "capture-ended", "the capture ended while the client was sending C-STORE-RQ #1 (1.9 KB of its"
        " data set captured): the rest was not captured", "0", 0, [8])]
    assert fs[0].hint == ("capture longer (or stop the capture after the association ends): the peers are not at"
                          " fault for what is missing")


def test_capture_loss_names_a_cut_identifier_by_its_message_not_as_an_object():
    ident = P.pdata([(1, 2, D.patient(PatientComments="q" * 2000))])
    c = D.Conv(mss=400).send(0, P.assoc_rq("SCU", "SCP", [(1, P.STUDY_ROOT_FIND, [P.IMPLICIT_LE])]))
    c.send(1, P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE)])).send(0, P.pdata([(1, 3, D.find_rq(3))]))
    c.send(0, ident[:800]).send(0, ident[800:1600], skip=True).send(0, ident[1600:])
    c.send(1, P.pdata([(1, 3, D.find_rsp(3, 0))])).send(0, P.release_rq()).send(1, P.release_rp()).fin()
    _assocs, fs = analyse(D.pcap(c))
    assert [(f.code, f.message, f.frames) for f in fs if f.code == "capture-loss"] == [
        ("capture-loss", "client → server: 1 gap, 800 bytes lost before frame 9; 1 message incomplete"
                         " (C-FIND-RQ #3)", [9])]


def test_idle_gap_names_the_messages_on_both_sides_with_their_ids():
    from evidence_fixtures import T0, Timed, pcap_of
    c = Timed().send(0, rq()).send(1, ac())
    c.send(0, P.pdata([(1, 3, D.echo_rq(1))])).send(1, P.pdata([(1, 3, D.echo_rsp(1))]))
    c.at(T0 + 15_000_000_000)
    c.send(0, P.pdata([(1, 3, D.echo_rq(2))])).send(1, P.pdata([(1, 3, D.echo_rsp(2))]))
    c.at(T0 + 16_000_000_000)
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    _assocs, fs = analyse(pcap_of(c))
    assert [(f.severity, f.code, f.message, f.frames) for f in fs] == [(
        "warning", "idle-gap", "no PDU for 15.00 s inside the association, between C-ECHO-RSP #1 (frame 7) and"
        " C-ECHO-RQ #2 (frame 8)", [7, 8])]


def _store_failure(data: bytes, rsp: bytes) -> list[tuple]:
    import evidence_fixtures as EF
    c = EF.Timed().send(0, P.assoc_rq("SCU", "SCP", [(1, P.CT_STORAGE, [P.IMPLICIT_LE])]))
    c.send(1, P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE)]))
    c.send(0, P.pdata([(1, 3, D.store_rq(1, "1.2.3.4"))])).send(0, P.pdata([(1, 2, data)]))
    c.send(1, P.pdata([(1, 3, rsp)])).send(0, P.release_rq()).send(1, P.release_rp()).fin()
    _assocs, fs = analyse(EF.pcap_of(c))
    return [(f.severity, f.code, f.message, f.hint) for f in fs]


def test_store_failure_quotes_the_error_comment_and_id_and_what_the_object_lacks():
    import evidence_fixtures as EF
    fs = _store_failure(D.patient(), EF.store_rsp(1, 0xC000, ErrorComment="disk full", ErrorID=0x0123))
    assert fs == [(
        "error", "dimse-failure", "C-STORE-RQ #1 (CT Image Storage) failed: 0xC000 Error: Cannot understand — Error"
        " Comment \"disk full\"; Error ID 0x0123",
        "the data set has no SOP Class UID (0008,0016), SOP Instance UID (0008,0018), Modality (0008,0060), Study"
        " Instance UID (0020,000D) and Series Instance UID (0020,000E), Type 1 attributes: the SCP probably refused"
        " it for that; fix the sending application's object")]


def test_store_failure_names_a_sop_class_that_differs_from_the_command():
    import evidence_fixtures as EF
    mr = "1.2.840.10008.5.1.4.1.1.4"
    fs = _store_failure(EF.ct_object(sop_class=mr), EF.store_rsp(1, 0xA900))
    assert [f[:3] for f in fs] == [("error", "dimse-failure", "C-STORE-RQ #1 (CT Image Storage) failed: 0xA900 Error:"
                                                              " Data Set does not match SOP Class")]
    assert (f"SOP Class UID (0008,0016) '{mr}' differs from the command's Affected SOP Class UID"
            f" '{P.CT_STORAGE}': the SCP probably refused it for that") in fs[0][3]


def test_reapplying_a_rule_or_register_decorator_as_written_changes_nothing():
    from dicomsniff.model.rules import closing, protocol
    from dicomsniff.model.rules.registry import CATALOGUE, RULES, register, rule
    before_rules = {k: (v.name, v.scope, list(v.codes), v.module) for k, v in RULES.items()}
    before_codes = dict(CATALOGUE)
    c = CATALOGUE["peer-closed"]
    rule(code=c.code, severity=c.severity, group=c.group, summary=c.summary, evidence=c.evidence, test=c.test,
         supersedes=c.supersedes, fragile=c.fragile)(closing.closing)
    register(protocol.pdu_findings)
    assert {k: (v.name, v.scope, list(v.codes), v.module) for k, v in RULES.items()} == before_rules
    assert CATALOGUE == before_codes
    r = RULES["dicomsniff.model.rules.closing.closing"]
    assert (r.name, r.scope, r.module) == ("closing", "association", "dicomsniff.model.rules.closing")
    assert "peer-closed" in r.codes
    p = RULES["dicomsniff.model.rules.protocol.pdu_findings"]
    assert (p.name, p.scope, p.codes, p.module) == ("pdu_findings", "association", [], "dicomsniff.model.rules.protocol")


def test_identical_small_data_sets_are_checked_once_within_the_budget():
    from dicomsniff.model.rules.base import Options
    from dicomsniff.model.rules.protocol import decoding
    c = D.Conv().send(0, P.assoc_rq("SCU", "SCP", [(1, P.CT_STORAGE, [P.IMPLICIT_LE])]))
    c.send(1, P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE)]))
    for mid, data in ((1, D.patient()), (2, D.patient()), (3, D.patient("PID2"))):
        c.send(0, P.pdata([(1, 3, D.store_rq(mid))])).send(0, P.pdata([(1, 2, data)]))
        c.send(1, P.pdata([(1, 3, D.store_rsp(mid))]))
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    (a,), _fs = analyse(D.pcap(c))
    assert decoding(a, Options(dataset_budget=2)) == []          # the second is the first's twin: from the cache
    assert [f.message[:45] for f in decoding(a, Options(dataset_budget=1))] == [
        "1 data sets of this association were not chec"]
    fs = decoding(a, Options(dataset_budget=0))
    assert [(f.severity, f.code) for f in fs] == [("note", "datasets-not-checked")]


def test_grouped_failures_span_their_first_and_last_frames():
    from test_rules_statuses import capture
    _assocs, fs = analyse(capture())
    assert [(f.key, f.count, f.frames, f.first_frame, f.last_frame) for f in fs] == [
        ("0001:A700", 3, [8, 11, 20], 8, 20), ("0001:C000", 1, [17], 17, 17)]


def test_a_failure_answering_no_request_is_named_by_the_response():
    import evidence_fixtures as EF
    c = D.Conv().send(0, P.assoc_rq("SCU", "SCP", [(1, P.CT_STORAGE, [P.IMPLICIT_LE])]))
    c.send(1, P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE)])).send(1, P.pdata([(1, 3, EF.store_rsp(7, 0xA700))]))
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    assert [f[:3] for f in found(c)] == [
        ("error", "dimse-failure", "C-STORE-RSP #7 (an unknown SOP class) failed: 0xA700 Refused: Out of Resources"),
        ("warning", "response-unmatched", "C-STORE-RSP responds to message ID 7, which no request used")]


def test_offending_elements_are_quoted_from_the_data_set_one_by_one():
    import evidence_fixtures as EF
    _assocs, fs = analyse(EF.store_missing_study_uid(comment=None, offending=(0x00100020, 0x00080060),
                                                     dataset=EF.ct_object()))
    assert [(f.code, f.message) for f in fs] == [(
        "dimse-failure", "C-STORE-RQ #1 (CT Image Storage) failed: 0xA700 Refused: Out of Resources — Offending"
        " Element (0010,0020), (0008,0060)")]
    assert fs[0].hint.endswith("the SCP names (0010,0020) Patient ID, which the data set has as 'PID7'; (0008,0060)"
                               " Modality, which the data set has as 'CT'")


def test_a_warning_status_gets_no_failure_evidence():
    import evidence_fixtures as EF
    fs = _store_failure(D.patient(), EF.store_rsp(1, 0xB000))
    assert fs == [("warning", "dimse-warning", "C-STORE-RQ #1 (CT Image Storage) ended with a warning: 0xB000"
                   " Coercion of Data Elements", "the SCP stored the object but changed or dropped elements: check"
                   " what it coerced if exact values matter")]


# -- capture loss: which direction a finding is folded into (capture._folds) and the wording ---------------------

def _loss_lines(c: D.Conv) -> list[tuple]:
    _assocs, fs = analyse(D.pcap(c))
    return [(f.severity, f.code, f.message, f.frames, f.direction, f.key) for f in fs]


def _echo(c: D.Conv, mid: int, *, rq_lost: bool = False, rsp_lost: bool = False) -> D.Conv:
    return c.send(0, P.pdata([(1, 3, D.echo_rq(mid))]), skip=rq_lost).send(1, P.pdata([(1, 3, D.echo_rsp(mid))]),
                                                                         skip=rsp_lost)


def test_a_lost_response_is_folded_into_the_servers_loss_line_not_the_clients():
    c = _echo(D.Conv().send(0, rq()).send(1, ac()), 1, rsp_lost=True)
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    assert _loss_lines(c) == [(
        "warning", "capture-loss", "server → client: 1 gap, 90 bytes lost before frame 8; no response captured for"
        " C-ECHO-RQ #1 (the capture lost 90 bytes of the server's bytes)", [8], 1, "1")]


def test_two_lost_responses_are_listed_in_one_line():
    c = D.Conv().send(0, rq()).send(1, ac())
    for mid in (1, 2):
        _echo(c, mid, rsp_lost=True)
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    assert _loss_lines(c) == [(
        "warning", "capture-loss", "server → client: 1 gap, 180 bytes lost before frame 9; no response captured for"
        " C-ECHO-RQ #1, C-ECHO-RQ #2 (the capture lost 180 bytes of the server's bytes)", [9], 1, "1")]


def test_a_response_whose_request_was_lost_is_folded_into_the_clients_loss_line():
    c = _echo(D.Conv().send(0, rq()).send(1, ac()), 1, rq_lost=True)
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    assert _loss_lines(c) == [(
        "warning", "capture-loss", "client → server: 1 gap, 80 bytes lost before frame 7; the request of C-ECHO-RSP #1"
        " not captured", [7], 0, "0")]


def test_a_response_lost_at_the_end_makes_the_close_a_warning_and_the_end_unknown():
    c = _echo(D.Conv().send(0, rq()).send(1, ac()), 1, rsp_lost=True).fin()
    _assocs, fs = analyse(D.pcap(c))
    assert [(f.severity, f.code, f.message, f.frames, f.direction) for f in fs] == [
        ("warning", "peer-closed", "the client closed the connection (FIN, frame 7) 1.0 ms after its C-ECHO-RQ #1 with"
         " no A-RELEASE; C-ECHO-RQ #1 got no response (the capture lost bytes the server sent at the end: a response,"
         " A-ABORT or A-RELEASE may be among them)", [6, 7], None),
        ("warning", "capture-loss", "server → client: 1 gap, 90 bytes lost before frame 8; no response captured for"
         " C-ECHO-RQ #1 (the capture lost 90 bytes of the server's bytes); how the association ended is unknown: the"
         " capture lost bytes the server sent at the end (an A-RELEASE or A-ABORT may be among them)", [8], 1)]


def test_a_cut_associate_request_says_the_negotiation_is_not_judged():
    r = rq()
    c = D.Conv().send(0, r[:40]).send(0, r[40:], skip=True).send(1, ac())
    _echo(c, 1).send(0, P.release_rq()).send(1, P.release_rp()).fin()
    assert _loss_lines(c) == [(
        "warning", "capture-loss", "client → server: 1 gap, 176 bytes lost before frame 6; the A-ASSOCIATE-RQ is"
        " incomplete, so the negotiation is not judged; not judged, as they would rest on lost bytes: truncated ×3,"
        " sop-class-not-negotiated, ae-title-invalid", [6], 0, "0")]


def test_a_cut_associate_acceptance_says_the_negotiation_is_not_judged():
    a_ = ac()
    c = D.Conv().send(0, rq()).send(1, a_[:40]).send(1, a_[40:], skip=True)
    _echo(c, 1).send(0, P.release_rq()).send(1, P.release_rp()).fin()
    assert _loss_lines(c) == [(
        "warning", "capture-loss", "server → client: 1 gap, 155 bytes lost before frame 7; the A-ASSOCIATE-AC is"
        " incomplete, so the negotiation is not judged; not judged, as they would rest on lost bytes: truncated ×3,"
        " no-context-accepted", [7], 1, "1")]


# -- an abort that cut nothing is a WARNING, a provider abort stays an ERROR (rules/model.py refine_model) ---------

ABORT_NOTHING_LOST = ("nothing was lost: every request had its final response; the server ends the association with"
                      " A-ABORT instead of A-RELEASE (some applications do so on purpose, e.g. storescu --abort),"
                      " which the other side may log as an error")


def test_a_user_abort_that_cut_nothing_is_a_warning():
    c = D.Conv().send(0, rq()).send(1, ac()).send(1, P.abort(0, 0)).fin()
    assert found(c) == [("warning", "association-aborted", "association aborted by the server: service-user",
                         ABORT_NOTHING_LOST)]


def test_a_user_abort_in_the_frame_of_the_final_response_is_a_warning():
    c = D.Conv().send(0, rq()).send(1, ac()).send(0, P.pdata([(1, 3, D.echo_rq(1))]))
    c.send(1, P.pdata([(1, 3, D.echo_rsp(1))]) + P.abort(0, 0)).fin()
    assert found(c, "association-aborted") == [(
        "warning", "association-aborted", "association aborted by the server with no request outstanding:"
        " service-user", ABORT_NOTHING_LOST)]


def test_a_provider_abort_that_cut_nothing_stays_an_error():
    c = D.Conv().send(0, rq()).send(1, ac()).send(1, P.abort(2, 0)).fin()
    assert found(c) == [(
        "error", "association-aborted", "association aborted by the server: service-provider: reason-not-specified",
        "The DICOM stack aborted without saying why: the server's DICOM stack refused what the other side sent;"
        " look at the last PDU before the abort")]


# -- started mid-association: the handshake alone says the capture lost the RQ (refine_model) ---------------------

def _echo_then_release(c: D.Conv) -> D.Conv:
    return _echo(c, 1).send(0, P.release_rq()).send(1, P.release_rp()).fin()


def test_handshake_captured_without_gap_means_the_request_was_lost():
    assert found(_echo_then_release(D.Conv().send(1, ac()))) == [(
        "note", "started-mid-association", "the capture lost the A-ASSOCIATE-RQ (the connection's start was"
        " captured): the proposed abstract syntaxes are unknown, so rules on them cannot run", LOST_RQ_HINT)]
    assert found(_echo_then_release(D.Conv())) == [(
        "note", "started-mid-association", "the capture lost the A-ASSOCIATE-RQ (the connection's start was"
        " captured): presentation contexts, transfer syntaxes and AE titles are unknown, so rules on them cannot"
        " run", LOST_RQ_HINT)]


def test_no_handshake_and_no_gap_means_the_capture_began_late():
    assert found(_echo_then_release(D.Conv(handshake=False))) == [(
        "note", "started-mid-association", "the capture began after this association was negotiated: presentation"
        " contexts, transfer syntaxes and AE titles are unknown, so rules on them cannot run",
        "start the capture before the association opens to see its negotiation")]


# -- what the rules across associations keep of one (subassoc.Digest.of) -------------------------------------------

def test_digests_of_a_real_move_and_its_sub_association():
    from pathlib import Path

    from dicomsniff.model.rules.subassoc import Digest, MoveDigest
    assocs, _fs = analyse((Path(__file__).parent.parent / "captures" / "move.pcap").read_bytes())
    d1, d2, d3 = (Digest.of(a) for a in assocs)
    lo = b"\x7f\x00\x00\x01"
    assert (d1.number, d1.calling, d1.called, d1.client_ip, d1.server_ip, d1.server_port, d1.first_frame,
            d1.outcome, d1.stores, d1.origins, d1.has_origin, d1.single_store) == (
        1, "MOVESCU", "QRSCP", lo, lo, 5678, 4, "released", 0, set(), False, False)
    assert d1.start_ns == assocs[0].start_ns
    assert d1.moves == [MoveDigest(1, "STORESCP", 1795596045249127000, 1795596045513764000, 10, 62, 3, False)]
    assert (d2.number, d2.calling, d2.called, d2.server_port, d2.first_frame, d2.moves, d2.stores, d2.origins,
            d2.has_origin, d2.single_store) == (2, "QRSCP", "STORESCP", 5679, 15, [], 3, {("MOVESCU", 1)}, True, False)
    assert d3.moves == [MoveDigest(1, "NOWHERE", 1795596045913111000, 1795596045957159000, 79, 83, 0, False)]


def test_digest_of_a_failed_move_keeps_the_largest_sub_operation_count():
    import evidence_fixtures as EF
    from dicomsniff.model.rules.subassoc import Digest, MoveDigest
    c = EF.established([(1, EF.MOVE)], calling="MOVESCU", called="ORTHANC", server=("10.0.0.9", 11112))
    c.send(0, EF.cmd(1, EF.move_rq(5, "DEST")) + EF.data(1, EF.study_key()))
    c.send(1, EF.cmd(1, EF.move_rsp(5, 0xFF00, NumberOfRemainingSuboperations=2, NumberOfCompletedSuboperations=1,
                                    NumberOfFailedSuboperations=1, NumberOfWarningSuboperations=1)))
    c.send(1, EF.cmd(1, EF.move_rsp(5, 0xC000, NumberOfCompletedSuboperations=2, NumberOfFailedSuboperations=0)))
    (a,), _fs = analyse(EF.pcap_of(EF.released(c)))
    d = Digest.of(a)
    assert (d.calling, d.called, d.client_ip, d.server_ip, d.server_port) == (
        "MOVESCU", "ORTHANC", b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x09", 11112)
    assert d.moves == [MoveDigest(5, "DEST", 1700000000000050000, 1700000000000070000, 6, 8, 3, True)]


def test_digest_of_a_move_refused_for_an_unknown_destination_is_not_a_failure_to_link():
    import evidence_fixtures as EF
    from dicomsniff.model.rules.subassoc import Digest, MoveDigest
    c = EF.established([(1, EF.MOVE)])
    c.send(0, EF.cmd(1, EF.move_rq(5, "D")) + EF.data(1, EF.study_key())).send(1, EF.cmd(1, EF.move_rsp(5, 0xA801)))
    (a,), _fs = analyse(EF.pcap_of(EF.released(c)))
    assert Digest.of(a).moves == [MoveDigest(5, "D", 1700000000000050000, 1700000000000060000, 6, 7, 0, False)]


def test_a_loss_with_no_frame_after_it_is_at_the_end_of_the_stream():
    c = _echo(D.Conv().send(0, rq()).send(1, ac()), 1, rsp_lost=True)
    c.send(0, P.pdata([(1, 3, D.echo_rq(2))]))
    c._pkt(0, D.FIN | D.ACK, b"")                # only the client's FIN: nothing of the server's after the hole
    assert _loss_lines(c) == [
        ("warning", "capture-loss", "server → client: 1 gap, 90 bytes lost at the end of the stream; no response"
         " captured for C-ECHO-RQ #1, C-ECHO-RQ #2 (the capture lost 90 bytes of the server's bytes); how the"
         " association ended is unknown: the capture lost bytes the server sent at the end (an A-RELEASE or"
         " A-ABORT may be among them)", [], 1, "1"),
        ("warning", "peer-closed", "the client closed the connection (FIN, frame 8) 1.0 ms after its C-ECHO-RQ #2"
         " with no A-RELEASE; C-ECHO-RQ #1 and C-ECHO-RQ #2 got no final response (the capture lost bytes the"
         " server sent at the end: a response, A-ABORT or A-RELEASE may be among them)", [7, 8], None, "fin")]
    from dicomsniff.model.evidence import close_facts
    (a,), _fs = analyse(D.pcap(c))
    f = close_facts(a)
    assert (f.lost_bytes, f.outstanding_count, f.last_label, f.last_frame, f.cut) == (
        True, 2, "its C-ECHO-RQ #2", 7, None)


# -- the evidence: close facts, peers that ended together, sizes and the capture's end ---------------------------

def test_close_facts_fall_back_to_the_last_pdu_the_association_kept():
    from dicomsniff.model.evidence import close_facts
    c = D.Conv().send(0, rq()).send(1, ac())
    c._pkt(0, D.FIN | D.ACK, b"")
    (a,), fs = analyse(D.pcap(c))
    f = close_facts(a)
    assert (f.side, f.how, f.frame, f.last_label, f.last_frame, f.lost_bytes, f.outstanding_count) == (
        "client", "fin", 6, "the server's A-ASSOCIATE-AC", 5, False, 0)
    assert [(x.code, x.message) for x in fs] == [("peer-closed", "the client closed the connection (FIN, frame 6)"
                                                 " 1.0 ms after A-ASSOCIATE-AC with no A-RELEASE; no request was"
                                                 " outstanding")]


def _facts(number, side, *, cut=None, outstanding=(), ts=0, frame=40, how="rst"):
    from dicomsniff.model.evidence import CloseFacts
    return CloseFacts(number, "incomplete", side, how, frame, ts, b"\x0a\x00\x00\x01", "10.0.0.1", "SCU", "SCP",
                      None, 0, None, tuple(outstanding), len(outstanding), cut, False)


def test_peer_ended_with_one_message_cut_and_one_request_waiting():
    from dicomsniff.model.evidence import InFlight, peer_ended
    store = InFlight("C-STORE-RQ #3", "client", 30, False, 1000, 0)
    echo = InFlight("C-ECHO-RQ #1", "client", 31, True, 0, 0)
    sev, msg, _hint, frames = peer_ended([_facts(2, "client", cut=store, ts=1_000, frame=41),
                                          _facts(3, "client", outstanding=[echo], ts=2_001_000, frame=42)])
    assert (sev, frames) == ("error", [41, 42])
    assert msg == ("peer process ended (crash or kill) while C-STORE-RQ #3 on #2 was being sent and C-ECHO-RQ #1 on"
                   " #3 was waiting for a response: the client 10.0.0.1 ('SCU') closed both of its connections"
                   " (associations #2 and #3, RST) within 2.0 ms, with no A-RELEASE")


def test_peer_ended_with_two_messages_cut_says_were():
    from dicomsniff.model.evidence import InFlight, peer_ended
    cuts = [InFlight(f"C-STORE-RQ #{i}", "client", 30 + i, False, 0, 0) for i in (1, 2)]
    _sev, msg, _hint, _frames = peer_ended([_facts(2, "client", cut=cuts[0], frame=41),
                                            _facts(3, "client", cut=cuts[1], frame=42)])
    assert msg.startswith("peer process ended (crash or kill) while C-STORE-RQ #1 on #2 and C-STORE-RQ #2 on #3"
                          " were being sent: ")


def test_size_text_says_byte_for_one():
    from dicomsniff.model.evidence import size_text
    assert (size_text(0), size_text(1), size_text(2), size_text(1023), size_text(1024)) == (
        "0 bytes", "1 byte", "2 bytes", "1023 bytes", "1.0 KB")


def test_capture_end_wording_of_a_message_cut_before_its_data_set_and_of_a_close_soon_after():
    from dicomsniff.model.evidence import CloseFacts, InFlight, termination
    cut = InFlight("C-STORE-RQ #3", "client", 30, False, 0, 0)
    f = CloseFacts(3, "incomplete", None, "eof", 0, 0, b"", "10.0.0.2", "SCU", "SCP", None, 0, None, (), 0, cut,
                   False)
    assert termination(f)[:2] == ("warning", "association still open when the capture ended: the capture ended"
                                             " while the client was sending C-STORE-RQ #3")
    late = CloseFacts(3, "incomplete", None, "eof", 0, 1_500_000, b"", "10.0.0.2", "SCU", "SCP",
                      "the client's C-ECHO-RQ #1", 30, 1_000_000, (), 0, None, False)
    assert termination(late)[1] == ("association still open when the capture ended right after the client's"
                                    " C-ECHO-RQ #1")          # 0.5 ms: too soon to name a delay


# -- the registry's framework, called directly (rules registered at import time are out of mutmut's reach) -------

def test_a_new_rule_stacked_over_two_codes_keeps_its_scope_and_the_written_order():
    from dicomsniff.model.rules.registry import CATALOGUE, RULES, rule

    def probe(assocs, opts):
        return []
    name = f"{probe.__module__}.{probe.__qualname__}"
    try:
        rule(code="zz-probe-a", severity="note", group="info", summary="a", scope="capture")(
            rule(code="zz-probe-b", severity="note", group="info", summary="b", scope="capture")(probe))
        r = RULES[name]
        assert (r.name, r.fn, r.scope, r.codes, r.module) == ("probe", probe, "capture", ["zz-probe-a", "zz-probe-b"],
                                                             __name__)
        assert (CATALOGUE["zz-probe-a"].rule, CATALOGUE["zz-probe-a"].source) == ("probe", "rule")
    finally:
        RULES.pop(name, None)
        CATALOGUE.pop("zz-probe-a", None)
        CATALOGUE.pop("zz-probe-b", None)


def test_register_and_digest_hook_add_a_new_function_once():
    from dicomsniff.model.rules.registry import DIGEST_HOOKS, RULES, digest_hook, register

    def probe_rule(a, opts):
        return []

    def probe_hook(a, opts, digest):
        return None
    name = f"{probe_rule.__module__}.{probe_rule.__qualname__}"
    try:
        assert register(scope="capture")(probe_rule) is probe_rule
        r = RULES[name]
        assert (r.name, r.fn, r.scope, r.codes, r.module) == ("probe_rule", probe_rule, "capture", [], __name__)
        assert digest_hook(probe_hook) is probe_hook and digest_hook(probe_hook) is probe_hook
        assert DIGEST_HOOKS.count(probe_hook) == 1
    finally:
        RULES.pop(name, None)
        while probe_hook in DIGEST_HOOKS:
            DIGEST_HOOKS.remove(probe_hook)


def test_emit_and_supersede_take_undeclared_codes_in_their_stride():
    from dicomsniff.model.findings import Finding
    from dicomsniff.model.rules.registry import emit, supersede
    f = emit(4, "zz-undeclared", "m", [0, 7, 9])
    assert (f.severity, f.code, f.association, f.frames) == ("warning", "zz-undeclared", 4, [7, 9])
    assert emit(4, "started-mid-association", "m").severity == "note"
    assert emit(4, "started-mid-association", "m", severity="error").severity == "error"
    fs = [Finding("note", "zz-undeclared", "m", 1), Finding("warning", "tcp-gap", "g", 1),
          Finding("warning", "capture-loss", "l", 1), Finding("warning", "tcp-gap", "g", 2)]
    assert [(x.code, x.association) for x in supersede(fs)] == [
        ("zz-undeclared", 1), ("capture-loss", 1), ("tcp-gap", 2)]


def test_grouping_leaves_the_first_finding_as_it_was_and_an_empty_frame_list_at_zero():
    from dicomsniff.model.findings import Finding
    from dicomsniff.model.rules.registry import group
    first, second = Finding("warning", "x", "m", 1, [5]), Finding("error", "x", "m", 1, [9])
    (g,) = group([first, second])
    assert (g.severity, g.count, g.frames, g.first_frame, g.last_frame) == ("error", 2, [5, 9], 5, 9)
    assert first.frames == [5] and first.count == 1
    (e,) = group([Finding("note", "y", "m", 1)])
    assert (e.frames, e.first_frame, e.last_frame) == ([], 0, 0)


# -- base helpers, PduFacts, aborts and capture ends (rules/base.py, model.py, capture.py) -------------------------

def _two_echoes_in_one_frame() -> D.Conv:
    c = D.Conv().send(0, rq()).send(1, ac())
    c.send(0, P.pdata([(1, 3, D.echo_rq(1))]) + P.pdata([(1, 3, D.echo_rq(2))]))
    c.send(1, P.pdata([(1, 3, D.echo_rsp(1))]) + P.pdata([(1, 3, D.echo_rsp(2))]))
    return c.send(0, P.release_rq()).send(1, P.release_rp()).fin()


def test_message_names_give_the_message_starting_and_the_one_ending_in_a_frame():
    from dicomsniff.model.rules.base import _message_names, _req_label
    (a,), _fs = analyse(D.pcap(_two_echoes_in_one_frame()))
    assert [(m.name, m.frames) for m in a.messages] == [("C-ECHO-RQ", [6]), ("C-ECHO-RQ", [6]),
                                                        ("C-ECHO-RSP", [7]), ("C-ECHO-RSP", [7])]
    assert _message_names(a, {6, 7}) == {6: ("C-ECHO-RQ #1", "C-ECHO-RQ #2"), 7: ("C-ECHO-RSP #1", "C-ECHO-RSP #2")}
    assert _message_names(a, {7}) == {7: ("C-ECHO-RSP #1", "C-ECHO-RSP #2")}
    assert _message_names(a, {5, 99}) == {}
    assert [_req_label(ex) for ex in a.exchanges] == ["C-ECHO-RQ #1", "C-ECHO-RQ #2"]


def test_a_message_spanning_frames_is_named_at_its_first_and_its_last_frame():
    from dicomsniff.model.rules.base import _message_names
    c = D.Conv().send(0, rq()).send(1, ac())
    c.mss = 30                                    # the C-ECHO-RQ's P-DATA-TF over three frames
    c.send(0, P.pdata([(1, 3, D.echo_rq(4))]))
    c.mss = 1460
    c.send(1, P.pdata([(1, 3, D.echo_rsp(4))])).send(0, P.release_rq()).send(1, P.release_rp()).fin()
    (a,), _fs = analyse(D.pcap(c))
    (first, *_rest, last) = a.messages[0].frames
    assert _message_names(a, {first}) == {first: ("C-ECHO-RQ #4", "C-ECHO-RQ #4")}
    assert _message_names(a, {last}) == {last: ("C-ECHO-RQ #4", "C-ECHO-RQ #4")}
    assert _message_names(a, {first + 1}) == {}


def test_f_with_only_a_last_frame_spans_to_it():
    from dicomsniff.model.rules.base import _f, _strip
    (a,), _fs = analyse(D.pcap(_two_echoes_in_one_frame()))
    f = _f(a, "note", "x", "m", [], last=[1])
    assert (f.frames, f.first_frame, f.last_frame) == ([], 1, 1)
    f = _f(a, "note", "x", "m", [0, 3], last=[9, 0])
    assert (f.frames, f.first_frame, f.last_frame) == ([3], 3, 9)
    assert _strip("1.2.X \x00") == "1.2.X" and _strip(7) == 7


def _pdu_facts(c) -> object:
    from dicomsniff.model.rules.base import facts_from_pdus
    (a,), _fs = analyse(EF_pcap(c))
    return facts_from_pdus(a)


def EF_pcap(c):
    import evidence_fixtures as EF
    return EF.pcap_of(c) if isinstance(c, EF.Timed) else D.pcap(c)


def test_pdv_sequence_issues_name_both_pdvs_and_are_bounded():
    c = D.Conv().send(0, rq()).send(1, ac())
    c.send(0, P.pdata([(1, 1, D.echo_rq(1)[:10])]))          # a command fragment, not the last
    c.send(0, P.pdata([(1, 2, D.patient())]))                  # then data on the same context
    flip = []
    for _ in range(30):
        flip += [(1, 1, b"\x00" * 4), (1, 0, b"\x00" * 4)]
    c.send(0, P.pdata(flip)).send(0, P.release_rq()).send(1, P.release_rp()).fin()
    f = _pdu_facts(c)
    assert f.pdv_issues[0] == ("sequence", "data", 1, 7, "command", 6, 0)
    assert f.pdv_issues[1] == ("sequence", "data", 1, 8, "command", 8, 0)
    assert len(f.pdv_issues) == 31
    more = []
    for _ in range(30):
        more += [(1, 1, b"\x00" * 4), (1, 0, b"\x00" * 4)]
    c2 = D.Conv().send(0, rq()).send(1, ac()).send(0, P.pdata(flip + more))
    c2.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    assert len(_pdu_facts(c2).pdv_issues) == 50


def test_an_idle_gap_of_exactly_one_second_is_not_kept_one_us_more_is():
    from evidence_fixtures import Timed
    for extra, kept in ((0, 0), (1_000, 1)):             # pcap stamps are in microseconds
        c = Timed().send(0, rq()).send(1, ac())
        c.send(0, P.pdata([(1, 3, D.echo_rq(1))]))
        c.at(c.clock - 10_000 + 1_000_000_000 + extra)
        c.send(1, P.pdata([(1, 3, D.echo_rsp(1))])).send(0, P.release_rq()).send(1, P.release_rp()).fin()
        assert len(_pdu_facts(c).gaps) == kept, extra


def test_a_client_abort_during_a_request_blames_the_client_application():
    c = D.Conv().send(0, rq()).send(1, ac()).send(0, P.pdata([(1, 3, D.echo_rq(1))])).send(0, P.abort(0, 0)).fin()
    assert found(c) == [(
        "error", "association-aborted", "association aborted by the client during C-ECHO-RQ #1: service-user",
        "the client application gave up (user cancel, a timeout waiting for the SCP, or an error on its side): check"
        " the client's log, and the SCP's response time if a request was waiting")]


def test_abort_text_without_kept_pdus_uses_the_end_of_the_association():
    import evidence_fixtures as EF
    from dicomsniff.model.rules.base import Options
    from dicomsniff.model.rules.model import abort_text_of
    c = D.Conv().send(0, rq()).send(1, ac()).send(0, P.pdata([(1, 3, D.echo_rq(1))])).send(1, P.abort(0, 0)).fin()
    an = EF.Analyzer(keep_pdus=False)
    for _ in EF.read_events(D.pcap(c), an):
        pass
    (a,) = an.associations
    assert a.pdus == [] or not a.pdus
    assert abort_text_of(a, Options()) == ("association aborted by the server during C-ECHO-RQ #1: service-user",
                                          SCP_ABORT_HINT, True)


def test_losses_in_both_directions_fold_each_finding_into_the_other_directions_line():
    c = _echo(D.Conv().send(0, rq()).send(1, ac()), 1, rsp_lost=True)
    _echo(c, 2, rq_lost=True).send(0, P.release_rq()).send(1, P.release_rp()).fin()
    assert _loss_lines(c) == [
        ("warning", "capture-loss", "server → client: 1 gap, 90 bytes lost before frame 7; no response captured for"
         " C-ECHO-RQ #1 (the capture lost 90 bytes of the server's bytes)", [7], 1, "1"),
        ("warning", "capture-loss", "client → server: 1 gap, 80 bytes lost before frame 8; the request of"
         " C-ECHO-RSP #2 not captured", [8], 0, "0")]


def test_capture_ending_while_both_sides_were_sending_names_each_sides_own_message():
    big = P.pdata([(1, 2, D.patient(PatientComments="x" * 3000))])
    c = D.Conv().send(0, P.assoc_rq("SCU", "SCP", [(1, P.CT_STORAGE, [P.IMPLICIT_LE])]))
    c.send(1, P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE)]))
    c.send(0, P.pdata([(1, 3, D.store_rq(1))])).send(0, big[:2000]).send(1, P.pdata([(1, 3, D.echo_rq(4))])[:30])
    assert [f[:4] for f in _loss_lines(c)] == [
        ("warning", "capture-ended", "the capture ended while the client was sending C-STORE-RQ #1 (1.9 KB of its"
         " data set captured): the rest was not captured", [9]),     # the capture's last frame
        ("warning", "capture-ended", "the capture ended while the server was sending incomplete command set: the"
         " rest was not captured", [9])]


def test_an_offending_value_longer_than_64_characters_is_clipped_with_an_ellipsis():
    import evidence_fixtures as EF
    from pydicom.dataset import Dataset
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = EF.CT, "1.2.3.4", "CT"
    ds.PatientID, ds.PatientComments = "PID7", "y" * 70
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3", "1.2.3.1"
    _assocs, fs = analyse(EF.store_missing_study_uid(comment=None, offending=(0x00104000,), dataset=D.encode(ds)))
    assert fs[0].hint.endswith(f"the SCP names (0010,4000) Patient Comments, which the data set has as '{'y' * 64}…'")


def test_rejected_contexts_of_a_cut_request_say_only_the_kept_part_was_judged():
    many = [(2 * i + 1, uid, [P.IMPLICIT_LE]) for i, uid in enumerate([P.VERIFICATION, P.CT_STORAGE, P.STUDY_ROOT_FIND])]
    r = P.assoc_rq("SCU", "SCP", many)
    c = D.Conv().send(0, r[:-20]).send(0, r[-20:], skip=True)          # the user information's tail lost
    c.send(1, P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE), (3, 3, None), (5, 3, None)]))
    _echo_then_release(c)
    assert found(c, "contexts-rejected-unneeded") == [(
        "note", "contexts-rejected-unneeded", "2 of 3 proposed presentation contexts rejected (in the part of the"
        " negotiation the capture kept), none needed: CT, Study Root Query/Retrieve Information Model - FIND; by"
        " reason: abstract-syntax-not-supported 2", "nothing was sent for these SOP classes on a rejected context (or"
        " another accepted context carried them): usual when an SCU proposes many contexts; `dicomsniff summary`"
        " lists them")]


def test_an_offending_element_that_is_not_a_tag_list_is_quoted_as_hex():
    import struct

    import evidence_fixtures as EF
    body, pos, items = EF.store_rsp(1, 0xA700)[12:], 0, []
    while pos < len(body):                       # the response's elements, plus a 3-byte (0000,0901) in tag order
        g, e, n = struct.unpack_from("<HHI", body, pos)
        items.append(((g, e), body[pos:pos + 8 + n]))
        pos += 8 + n
    items.append(((0, 0x0901), struct.pack("<HHI", 0, 0x0901, 3) + b"\x10\x00\x20"))
    elements = b"".join(x for _k, x in sorted(items))
    c = EF.established([(1, EF.CT)])
    c.send(0, EF.cmd(1, D.store_rq(1)) + EF.data(1, EF.ct_object()))
    c.send(1, EF.cmd(1, struct.pack("<HHII", 0, 0, 4, len(elements)) + elements))
    _assocs, fs = analyse(EF.pcap_of(EF.released(c)))
    assert [(f.severity, f.code, f.message) for f in fs] == [(
        "error", "dimse-failure", "C-STORE-RQ #1 (CT Image Storage) failed: 0xA700 Refused: Out of Resources —"
        " Offending Element 10 00 20")]
