"""More diagnosis scenarios (issue 7 coverage): real peers where they can misbehave that way, else bytes.

Real: captures/diag_more.pcap and diag_move_nosub.pcap (scripts/make_diag_captures.py; pynetdicom
handlers returning chosen statuses, a C-CANCEL, an idle SCU, SOP classes sent by hand on the wrong
context; dcmqrscp whose sub-association is outside the capture filter). Capture problems are made
from a real capture (store.pcap) by leaving frames out. Byte fixtures (dimse_fixtures, pdu_fixtures)
where no peer does it: a C-MOVE sub-association without Move Originator (linked by AE titles and
time), an AC that answers no context positively, a user-rejected context, an AC that changes AE titles.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

import capwriter as cw
import dimse_fixtures as D
import pdu_fixtures as P
from dicomsniff.capture.reader import open_capture
from dicomsniff.cli import main
from dicomsniff.model.diagnosis import Diagnoser, PduWatch, diagnose
from dicomsniff.pipeline import Analyzer
from dicomsniff.reading import read_events

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
COMMAND, LAST = 0x01, 0x02


def run(data, ports=frozenset(), **options):
    an = Analyzer(keep_pdus=True, ports=ports)
    for _ in read_events(data, an):
        pass
    return an.associations, diagnose(an.associations, **options)


def one(findings, code):
    hits = [f for f in findings if f.code == code]
    assert len(hits) == 1, (code, [(f.code, f.message) for f in findings])
    return hits[0]


# -- real peers ------------------------------------------------------------------------


def test_warning_status_failed_find_cancel_and_idle_gap():
    _, fs = run(CAPTURES / "diag_more.pcap", idle_s=2.0)
    w = one(fs, "dimse-warning")
    assert w.association == 1 and w.severity == "warning"
    assert "C-STORE-RQ #3 (CT Image Storage) ended with a warning: 0xB000" in w.message
    assert "changed or dropped elements" in w.hint
    fail = one(fs, "dimse-failure")
    assert "C-FIND-RQ #4 (Modality Worklist Information Model - FIND) failed: 0xA900" in fail.message
    assert "find-no-matches" not in [f.code for f in fs]        # a failing C-FIND is not "no matches"
    cancel = one(fs, "dimse-cancel")
    assert cancel.severity == "note" and "C-FIND-RQ #5 was cancelled: 0xFE00" in cancel.message
    gap = one(fs, "idle-gap")
    assert "no PDU for 2.5" in gap.message and "between C-ECHO-RSP #1" in gap.message
    assert "and C-ECHO-RQ #2" in gap.message
    _, fs = run(CAPTURES / "diag_more.pcap")                     # default idle threshold 10 s
    assert "idle-gap" not in [f.code for f in fs]


def test_sop_class_on_the_wrong_context_and_never_negotiated():
    _, fs = run(CAPTURES / "diag_more.pcap")
    mis = one(fs, "sop-class-context-mismatch")
    assert mis.association == 2 and mis.severity == "error"
    assert "C-STORE-RQ #1 for Secondary Capture Image Storage sent on context 3, which was negotiated for CT" \
        in mis.message
    nn = one(fs, "sop-class-not-negotiated")
    assert "C-STORE-RQ #2 sent for MR Image Storage, which was never proposed" in nn.message
    assert nn.frames and nn.hint


def test_move_whose_sub_association_is_not_in_the_capture():
    _, fs = run(CAPTURES / "diag_move_nosub.pcap")
    f = one(fs, "move-sub-association-missing")
    assert f.severity == "warning" and "C-MOVE #1 to 'STORESCP' reports 3 sub-operations" in f.message
    assert "'QRSCP' to 'STORESCP'" in f.message and "capture filter" in f.hint
    r = CliRunner().invoke(main, ["diagnose", str(CAPTURES / "diag_move_nosub.pcap")])
    assert r.exit_code == 1


def test_idle_option_on_the_command_line():
    r = CliRunner().invoke(main, ["diagnose", "--no-color", "--idle", "2", str(CAPTURES / "diag_more.pcap")])
    assert r.exit_code == 2 and "idle-gap: no PDU for 2.50 s" in r.output and "idle gap threshold 2 s" in r.output


# -- capture problems, cut from a real capture -----------------------------------------


def _store_pcap_without(drop) -> bytes:
    frames = list(open_capture(CAPTURES / "store.pcap"))
    return cw.pcap_bytes([(f.ts_ns, f.data) for f in frames if not drop(f.number)], frames[0].linktype)


def test_capture_started_after_the_negotiation():
    _, fs = run(_store_pcap_without(lambda n: n <= 6), ports={11112})
    f = one(fs, "started-mid-association")
    assert "5 data sets were not decoded" in f.message and "start the capture before" in f.hint
    assert "no-transfer-syntax" not in [x.code for x in fs]    # said once, not per message


def test_tcp_gap_is_one_capture_loss_line_that_explains_the_unmatched_response():
    _, fs = run(_store_pcap_without(lambda n: n == 26), ports={11112})
    assert "tcp-gap" not in [x.code for x in fs] and "response-unmatched" not in [x.code for x in fs]
    loss = one(fs, "capture-loss")
    assert loss.severity == "warning" and "-B" in loss.hint and "not the peers' fault" in loss.hint
    assert loss.message.startswith("client → server: 1 gap, 1550 bytes lost before frame 31")
    assert "the request of C-STORE-RSP #3 not captured" in loss.message
    assert all(f.severity != "error" for f in fs)


def test_capture_that_ends_mid_association():
    _, fs = run(_store_pcap_without(lambda n: n > 30), ports={11112})
    f = one(fs, "association-incomplete")
    assert "the capture ended" in f.message and "capture longer" in f.hint


# -- byte fixtures ---------------------------------------------------------------------


def _move_conversations(with_originator: bool):
    ident = D.encode(_study())
    qr = D.Conv(("10.0.0.1", 40000), ("10.0.0.2", 104))
    qr.send(0, P.assoc_rq("MOVESCU", "QRSCP", [(1, MOVE, [P.IMPLICIT_LE])]))
    qr.send(1, P.assoc_ac("MOVESCU", "QRSCP", [(1, 0, P.IMPLICIT_LE)]))
    qr.send(0, P.pdata([(1, COMMAND | LAST, D.command(AffectedSOPClassUID=MOVE, CommandField=0x0021, MessageID=7,
                                                      Priority=0, CommandDataSetType=0, MoveDestination="DEST")),
                        (1, LAST, ident)]))
    sub = D.Conv(("10.0.0.2", 41000), ("10.0.0.3", 104))
    sub.send(0, P.assoc_rq("QRSCP", "DEST", [(1, P.CT_STORAGE, [P.IMPLICIT_LE])]))
    sub.send(1, P.assoc_ac("QRSCP", "DEST", [(1, 0, P.IMPLICIT_LE)]))
    extra = {"MoveOriginatorApplicationEntityTitle": "MOVESCU", "MoveOriginatorMessageID": 7} if with_originator \
        else {}
    sub.send(0, P.pdata([(1, COMMAND | LAST, D.command(AffectedSOPClassUID=P.CT_STORAGE, CommandField=0x0001,
                                                       MessageID=1, Priority=0, CommandDataSetType=0,
                                                       AffectedSOPInstanceUID="1.2.3.4", **extra)),
                         (1, LAST, D.patient())]))
    sub.send(1, P.pdata([(1, COMMAND | LAST, D.store_rsp(1))]))
    sub.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    qr.send(1, P.pdata([(1, COMMAND | LAST, D.command(AffectedSOPClassUID=MOVE, CommandField=0x8021,
                                                      MessageIDBeingRespondedTo=7, CommandDataSetType=0x0101,
                                                      Status=0, NumberOfCompletedSuboperations=1,
                                                      NumberOfFailedSuboperations=0,
                                                      NumberOfWarningSuboperations=0))]))
    qr.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    return D.pcap(qr, sub)


def _study():
    from pydicom.dataset import Dataset
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = "1.2.3"
    return ds


def test_move_sub_association_linked_by_ae_titles_and_time():
    assocs, fs = run(_move_conversations(with_originator=False))
    links = [f for f in fs if f.code == "move-sub-association"]
    assert len(links) == 2
    main_link = [f for f in links if f.association == 1][0]
    assert "C-MOVE #7 to 'DEST': its sub-operations ran on association #2" in main_link.message
    assert "matched by AE titles and time" in main_link.message
    _, fs = run(_move_conversations(with_originator=True))
    assert "matched by Move Originator in its C-STOREs" in \
        [f for f in fs if f.code == "move-sub-association" and f.association == 1][0].message


def test_incremental_diagnoser_equals_diagnose():
    """What export --jsonl does (diagnose each association when it ends, then forget it) equals diagnose()."""
    data = _move_conversations(with_originator=False)
    _, whole = run(data)
    an = Analyzer(keep_pdus=False)
    watch = PduWatch()
    d = Diagnoser(watch=watch)
    got = []
    from dicomsniff.pipeline import AssociationClosed
    for ev in read_events(data, an):
        watch.event(ev)
        if type(ev) is AssociationClosed:
            got.extend(d.association(ev.association, forget=True))
            an.forget(ev.association)
    got.extend(d.finish())
    key = lambda f: (f.association, f.code, f.message)  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, whole)) and watch.facts == {}


def _negotiation(results, ac_called="SCP"):
    c = D.Conv()
    c.send(0, P.assoc_rq("SCU", "SCP", [(1, P.CT_STORAGE, [P.IMPLICIT_LE]), (3, P.VERIFICATION, [P.IMPLICIT_LE])]))
    c.send(1, P.assoc_ac("SCU", ac_called, results))
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    return D.pcap(c)


def test_no_context_accepted_and_user_rejection():
    _, fs = run(_negotiation([(1, 1, P.IMPLICIT_LE), (3, 3, P.IMPLICIT_LE)]))
    f = one(fs, "no-context-accepted")
    assert f.severity == "error" and "none of its presentation contexts" in f.message
    user = [x for x in fs if x.code == "context-rejected" and "context 1" in x.message][0]
    assert "user-rejection" in user.message and "application refused CT Image Storage" in user.hint


def test_ac_that_changes_the_called_ae_title():
    _, fs = run(_negotiation([(1, 0, P.IMPLICIT_LE), (3, 0, P.IMPLICIT_LE)], ac_called="OTHER"))
    f = one(fs, "ac-ae-mismatch")
    assert f.severity == "note" and "echoes called AE 'OTHER' instead of the RQ's 'SCP'" in f.message


def test_orthanc_refusals_each_said_once():
    """Orthanc aborts a C-FIND it does not serve and answers 0xC000 to a C-MOVE to an unknown AE."""
    assocs, fs = run(CAPTURES / "peer_orthanc_fail.pcap")
    by = {a.number: [f for f in fs if f.association == a.number] for a in assocs}
    (ab,) = by[3]                                          # the abort names the request; no no-response line
    assert ab.code == "association-aborted" and "during C-FIND-RQ #1 with a 22 bytes identifier" in ab.message
    (mv,) = by[4]                                          # refused: no sub-association was expected
    assert mv.code == "dimse-failure" and "0xC000" in mv.message and "'NOWHERE'" in mv.hint
