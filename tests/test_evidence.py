"""dicomsniff.model.evidence: who closed an association and what was lost; hints from a failing request.

Byte fixtures (tests/evidence_fixtures.py, each with its story) where no peer misbehaves on demand;
real captures where one does: pynetdicom.pcap (C-STORE MR refused 0xA700, complete data set),
move.pcap (C-MOVE to NOWHERE refused 0xA801), store.pcap / abort.pcap (released / aborted).
"""

from __future__ import annotations

from pathlib import Path

import evidence_fixtures as X
from dicomsniff.capture.reader import open_capture
from dicomsniff.model import evidence as E
from dicomsniff.model import hints as H
from dicomsniff.pipeline import Analyzer
from dicomsniff.reading import read_events

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def assocs(data):
    an = Analyzer(keep_pdus=True)
    for _ in read_events(data, an):
        pass
    return an.associations


def failed(a):
    (ex,) = [ex for ex in a.exchanges if ex.status_info and ex.status_info.category == "Failure"]
    return ex


def generic(ex):
    cmd = ex.request.command
    return H.status_hint(ex.status, ex.command_field, dest=cmd.move_destination)


def evidence_of(data):
    (a,) = assocs(data)
    ex = failed(a)
    return ex, E.failure_evidence(ex, generic(ex))


# -- failure evidence: C-STORE ------------------------------------------------------------


def test_store_without_study_uid_names_the_attribute_not_disk_space():
    ex, (extra, hint) = evidence_of(X.store_missing_study_uid())
    assert ex.status == 0xA700
    assert extra == ' — Error Comment "Missing Study Instance UID"; Offending Element (0020,000D)'
    assert hint.startswith("the data set has no Study Instance UID (0020,000D), a Type 1 attribute: the SCP"
                           " probably refused it for that, not for lack of disk space")
    assert "out of disk space" not in hint
    assert E.store_problems(ex) == ["has no Study Instance UID (0020,000D), a Type 1 attribute"]


def test_empty_type1_and_uid_mismatch_are_named():
    obj = X.ct_object("9.9.9", modality="", series=None)
    ex, (extra, hint) = evidence_of(X.store_missing_study_uid(dataset=obj, comment=None, offending=(),
                                                            status=0xA900))
    assert extra == ""
    assert E.store_problems(ex) == [
        "has no Series Instance UID (0020,000E)",
        "has an empty Modality (0008,0060), Type 1 attributes",
        "its SOP Instance UID (0008,0018) '9.9.9' differs from the command's Affected SOP Instance UID '1.2.3.4'"]
    assert "disk space" not in hint and "refused it for that" in hint


def test_complete_data_set_keeps_the_status_tables_cause():
    ex, (extra, hint) = evidence_of(X.store_missing_study_uid(dataset=X.ct_object(), comment=None, offending=()))
    assert E.store_problems(ex) == []
    assert extra == ""
    assert hint.startswith(generic(ex)) and "disk space" in hint
    assert hint.endswith("(the data set's Type 1 identity attributes are present and match the command)")


def test_real_pynetdicom_mr_refused_a700_has_a_complete_data_set():
    """pynetdicom.pcap: the SCP's handler answers 0xA700 to a complete MR object (scripts/make_captures.py)."""
    (a,) = assocs(CAPTURES / "pynetdicom.pcap")
    ex = failed(a)
    assert ex.status == 0xA700 and ex.request.command.affected_sop_class_uid == "1.2.840.10008.5.1.4.1.1.4"
    ds = ex.request.data.dataset
    assert ds.StudyInstanceUID and ds.SeriesInstanceUID and ds.Modality == "MR"
    assert E.store_problems(ex) == []
    extra, hint = E.failure_evidence(ex, generic(ex))
    assert extra == ""                       # pynetdicom sent no Error Comment / Offending Element
    assert "disk space" in hint and "present and match the command" in hint


def test_undecodable_or_absent_data_set_makes_no_attribute_claim():
    broken = b"\x08\x00\x16\x00" + b"\x40\x00\x00\x00" + b"1.2"       # (0008,0016) claims 64 bytes, has 3
    ex, (extra, hint) = evidence_of(X.store_missing_study_uid(dataset=broken, comment=None, offending=()))
    assert E.store_problems(ex) is None
    assert hint == generic(ex)


def test_error_comment_is_escaped_verbatim():
    ex, (extra, _hint) = evidence_of(X.store_missing_study_uid(comment="disk\x1b[31m full\x9b", offending=()))
    assert extra == ' — Error Comment "disk\\x1b[31m full\\x9b"'


def test_cut_data_set_checks_only_what_came_before_the_cut():
    """A data set kept only in part (a large object) cannot say that later attributes are absent."""
    (a,) = assocs(X.server_reset_mid_store(size=60_000))
    ex = [ex for ex in a.exchanges if ex.message_id == 3][0]
    assert not ex.request.complete
    assert E.store_problems(ex) == []          # everything up to Pixel Data is there; nothing claimed beyond


# -- failure evidence: C-MOVE -------------------------------------------------------------


def test_move_c000_naming_the_destination_points_at_the_destination():
    ex, (extra, hint) = evidence_of(X.move_unknown_destination())
    assert ex.status == 0xC000
    assert extra == ' — Error Comment "Unknown modality: UNKNOWNAE"'
    assert hint.startswith("the Error Comment names the move destination 'UNKNOWNAE': it is probably not"
                           " configured on the SCP")
    assert "query keys" in hint                 # the other cause stays among the causes


def test_move_c000_without_comment_lists_destination_among_causes():
    ex, (extra, hint) = evidence_of(X.move_unknown_destination(comment=None))
    assert extra == ""
    assert hint.startswith("either the move destination 'UNKNOWNAE' is not configured on the SCP")
    assert "or unable to process" in hint and "query keys" in hint


def test_real_move_a801_keeps_its_destination_hint():
    a = [a for a in assocs(CAPTURES / "move.pcap") if a.number == 3][0]
    ex = failed(a)
    extra, hint = E.failure_evidence(ex, generic(ex))
    assert ex.status == 0xA801 and extra == ""
    assert hint == generic(ex) and "'NOWHERE' is not configured on the SCP" in hint


# -- termination -----------------------------------------------------------------------------


def ended(data):
    out = []
    for a in assocs(data):
        f = E.close_facts(a)
        out.append((a, f, E.termination(f) if f is not None else None))
    return out


def test_server_reset_mid_store_names_the_server_and_the_cut_object():
    data = X.server_reset_mid_store()
    ((a, f, (sev, msg, hint, frames)),) = ended(data)
    rst_frame = len(list(open_capture(data)))             # the RST is the capture's last frame
    assert (f.side, f.how, f.frame) == ("server", "rst", rst_frame)
    assert f.cut is not None and f.cut.label == "C-STORE-RQ #3" and f.cut.side == "client"
    assert sev == "error"
    assert msg.startswith(f"the server reset the connection (RST, frame {rst_frame}) while the client was"
                          " sending C-STORE-RQ #3 (")
    assert "KB of its data set sent), with no A-RELEASE" in msg
    assert "got no response" not in msg                      # the cut request is named once
    assert "server's log" in hint
    assert frames[-1] == rst_frame


def test_client_fin_after_request():
    ((a, f, (sev, msg, hint, frames)),) = ended(X.client_fin_after_request())
    assert (f.side, f.how) == ("client", "fin")
    assert sev == "error"
    assert msg == (f"the client closed the connection (FIN, frame {f.frame}) 0.3 ms after its C-STORE-RQ #2 with"
                   " no A-RELEASE; C-STORE-RQ #2 got no response")
    assert "too soon for a timeout" in hint and "client's log" in hint


def test_client_fin_when_idle_is_a_warning():
    ((a, f, (sev, msg, hint, frames)),) = ended(X.client_fin_when_idle())
    assert sev == "warning" and not f.lost_operation
    assert msg == (f"the client closed the connection (FIN, frame {f.frame}) 2.0 ms after the server's"
                   " C-ECHO-RSP #1 with no A-RELEASE; no request was outstanding")


def test_capture_end_is_the_captures_limit_not_a_peer():
    ((a, f, (sev, msg, hint, frames)),) = ended(X.capture_ends_mid_association())
    assert f.how == "eof" and sev == "warning"
    assert msg == ("association still open when the capture ended right after the client's C-STORE-RQ #2;"
                   " C-STORE-RQ #2 had no response yet")
    assert "closed" not in msg and "reset" not in msg
    assert "capture" in hint


def test_capture_file_cut_mid_record_is_eof_too():
    data = X.client_fin_after_request()
    cut = data[:-30]                        # the last record (the FIN) is cut short
    ((a, f, (sev, msg, hint, frames)),) = ended(cut)
    assert f.how == "eof" and sev == "warning" and "still open when the capture ended" in msg


def test_released_and_aborted_associations_have_no_close_facts():
    for name in ("store.pcap", "abort.pcap", "pynetdicom.pcap"):
        for a in assocs(CAPTURES / name):
            assert E.close_facts(a) is None, (name, a.number, a.outcome)


def test_peer_crash_groups_connections_of_one_host():
    facts = [f for _a, f, _t in ended(X.client_crash())]
    (group,) = E.ended_together(facts)
    assert [f.number for f in group] == [1, 2]
    sev, msg, hint, frames = E.peer_ended(group)
    assert sev == "error"
    assert msg == ("peer process ended (crash or kill) while C-STORE-RQ #5 on #1 and C-FIND-RQ #1 on #2 were"
                   " waiting for a response: the client 10.0.0.1 ('STORESCU', 'FINDSCU') closed both of its"
                   " connections (associations #1 and #2, FIN/RST) within 1.5 ms, with no A-RELEASE")
    assert frames == [group[0].frame, group[1].frame]
    assert "crash" in hint and "10.0.0.1" in hint


def test_closes_seconds_apart_are_not_a_crash():
    facts = [f for _a, f, _t in ended(X.two_clients_close_apart())]
    assert len(facts) == 2 and E.ended_together(facts) == []


def test_closes_together_without_outstanding_requests_are_not_a_crash():
    facts = [f for _a, f, _t in ended(X.client_crash())]
    quiet = [E.CloseFacts(**{**{k: getattr(f, k) for k in f.__slots__}, "outstanding": (),
                             "outstanding_count": 0, "cut": None}) for f in facts]
    assert E.ended_together(quiet) == []


def test_delay_text_units():
    assert [E.delay_text(n) for n in (40_000, 300_000, 12_000_000, 2_500_000_000)] == \
        ["40 µs", "0.3 ms", "12 ms", "2.50 s"]


def test_offending_element_value_is_quoted_from_the_data_set():
    """A complete data set: the hint keeps the table's cause and says what the named element holds."""
    ex, (extra, hint) = evidence_of(X.store_missing_study_uid(dataset=X.ct_object(), comment="bad patient",
                                                             offending=(0x00100020,), status=0xC000))
    assert extra == ' — Error Comment "bad patient"; Offending Element (0010,0020)'
    assert hint.startswith(generic(ex))
    assert hint.endswith("; the SCP names (0010,0020) Patient ID, which the data set has as 'PID7'")
    ex, (_extra, hint) = evidence_of(X.store_missing_study_uid(dataset=X.ct_object(), comment=None,
                                                              offending=(0x00081030,), status=0xC000))
    assert hint.endswith("; the SCP names (0008,1030) Study Description, which the data set does not have")


def test_server_closing_an_idle_association_reads_as_an_idle_timeout():
    ((a, f, (sev, msg, hint, frames)),) = ended(X.server_idle_close(30))
    assert sev == "warning"
    assert msg == (f"the server closed the connection (FIN, frame {f.frame}) 30.00 s after its C-ECHO-RSP #1 with no"
                   " A-RELEASE; no request was outstanding")
    assert hint.startswith("the server closed 30.00 s after the last PDU with nothing outstanding: an idle timeout"
                           " of about 30 s on the server is likely")


def test_a_uid_mismatch_alone_reads_as_a_sentence():
    obj = X.ct_object("9.9.9")
    ex, (_extra, hint) = evidence_of(X.store_missing_study_uid(dataset=obj, comment=None, offending=(),
                                                             status=0xA900))
    assert hint.startswith("the data set's SOP Instance UID (0008,0018) '9.9.9' differs from the command's"
                           " Affected SOP Instance UID '1.2.3.4': the SCP probably refused it for that")
