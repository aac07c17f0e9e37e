"""Negotiation rules (dicomsniff/model/rules/negotiation.py): a rejected context matters only when a
message needed it. Byte fixtures of crowded negotiations (storescu proposes ~120 contexts, Orthanc 126)."""

from __future__ import annotations

import dimse_fixtures as D
import pdu_fixtures as P
from dicomsniff.model.diagnosis import diagnose
from dicomsniff.output.diagnose import exit_status
from dicomsniff.pipeline import Analyzer
from dicomsniff.reading import read_events
from dicomsniff.uids import uid_name

MR = "1.2.840.10008.5.1.4.1.1.4"
# Retired or print SOP classes an SCP with default settings rejects (UID → name in the dictionary).
RETIRED = ["1.2.840.10008.5.1.1.9", "1.2.840.10008.5.1.1.18", "1.2.840.10008.5.1.4.1.1.5",
           "1.2.840.10008.5.1.4.1.1.6", "1.2.840.10008.5.1.4.1.1.3", "1.2.840.10008.5.1.4.1.1.77.1",
           "1.2.840.10008.5.1.4.1.1.7.1", "1.2.840.10008.5.1.4.1.1.7.2", "1.2.840.10008.5.1.4.1.1.7.3",
           "1.2.840.10008.5.1.4.1.1.7.4", "1.2.840.10008.5.1.4.1.1.9.1.1", "1.2.840.10008.5.1.4.1.1.9.1.2",
           "1.2.840.10008.5.1.4.1.1.9.1.3", "1.2.840.10008.5.1.4.1.1.9.2.1"]


def run(data):
    an = Analyzer(keep_pdus=True)
    for _ in read_events(data, an):
        pass
    return an.associations, diagnose(an.associations)


def store_rq(mid, sop):
    return D.command(AffectedSOPClassUID=sop, CommandField=0x0001, MessageID=mid, Priority=0,
                     CommandDataSetType=0x0000, AffectedSOPInstanceUID=f"1.2.3.{mid}")


def store_rsp(mid, sop, status=0):
    return D.command(AffectedSOPClassUID=sop, CommandField=0x8001, MessageIDBeingRespondedTo=mid,
                     CommandDataSetType=0x0101, Status=status, AffectedSOPInstanceUID=f"1.2.3.{mid}")


def conversation(proposed, results, sends):
    """proposed: [(id, sop, [ts])]; results: {id: (result, ts)}; sends: [(mid, ctx id, sop)] answered 0x0000."""
    c = D.Conv()
    c.send(0, P.assoc_rq("STORESCU", "STORESCP", proposed))
    c.send(1, P.assoc_ac("STORESCU", "STORESCP", [(i, *results[i]) for i, _s, _t in proposed]))
    for mid, ctx, sop in sends:
        c.send(0, P.pdata([(ctx, 0x03, store_rq(mid, sop))]))
        c.send(0, P.pdata([(ctx, 0x02, D.patient())]))
        c.send(1, P.pdata([(ctx, 0x03, store_rsp(mid, sop))]))
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    return D.pcap(c)


def crowded(extra_rejected=()):
    proposed = [(1, P.CT_STORAGE, [P.IMPLICIT_LE]), (3, P.CT_STORAGE, [P.DEFLATED_LE]), (5, MR, [P.IMPLICIT_LE])]
    results = {1: (0, P.IMPLICIT_LE), 3: (4, P.IMPLICIT_LE), 5: (0, P.IMPLICIT_LE)}
    for k, sop in enumerate(RETIRED):
        cid = 7 + 2 * k
        proposed.append((cid, sop, [P.IMPLICIT_LE, P.EXPLICIT_LE]))
        results[cid] = (3, P.IMPLICIT_LE)
    for k in range(100):                     # accepted, never used: as storescu proposes them
        cid = 7 + 2 * len(RETIRED) + 2 * k
        proposed.append((cid, f"1.2.840.10008.5.1.4.1.1.{200 + k}", [P.IMPLICIT_LE]))
        results[cid] = (0, P.IMPLICIT_LE)
    return proposed, results


def test_crowded_negotiation_with_unneeded_rejections_is_one_note_and_exit_0():
    proposed, results = crowded()
    assocs, fs = run(conversation(proposed, results, [(1, 1, P.CT_STORAGE), (2, 5, MR)]))
    assert len(assocs[0].contexts) == 117
    assert [f.code for f in fs] == ["contexts-rejected-unneeded"]
    f = fs[0]
    assert f.severity == "note" and exit_status(fs) == 0
    assert f.message == ("15 of 117 proposed presentation contexts rejected, none needed: CT (Deflated Explicit VR"
                         " Little Endian only), Basic Grayscale Print Management Meta, Basic Color Print Management"
                         " Meta, Nuclear Medicine, … (11 more); by reason: abstract-syntax-not-supported 14,"
                         " transfer-syntaxes-not-supported 1")
    assert uid_name(RETIRED[0]) == "Basic Grayscale Print Management Meta SOP Class"
    assert "by reason: abstract-syntax-not-supported 14, transfer-syntaxes-not-supported 1" in f.message


def test_rejected_context_a_message_needed_is_a_warning_per_sop_class():
    proposed = [(1, P.CT_STORAGE, [P.IMPLICIT_LE]), (3, MR, [P.IMPLICIT_LE]), (5, RETIRED[2], [P.IMPLICIT_LE])]
    results = {1: (0, P.IMPLICIT_LE), 3: (3, P.IMPLICIT_LE), 5: (3, P.IMPLICIT_LE)}
    # the SCU sends MR anyway, twice, on the CT context: MR's rejection mattered; context 5 did not
    _, fs = run(conversation(proposed, results, [(1, 1, P.CT_STORAGE), (2, 1, MR), (3, 1, MR)]))
    rej = [f for f in fs if f.code == "context-rejected"]
    assert len(rej) == 1 and rej[0].severity == "warning"
    assert "presentation context 3 (MR Image Storage) rejected" in rej[0].message
    assert "C-STORE-RQ #2 and 1 more needed it" in rej[0].message
    note = [f for f in fs if f.code == "contexts-rejected-unneeded"]
    assert len(note) == 1 and note[0].message.startswith("1 of 3 proposed presentation contexts rejected")
    # the messages themselves are the protocol errors
    mis = [f for f in fs if f.code == "sop-class-not-negotiated"]
    assert len(mis) == 1 and mis[0].count == 2 and mis[0].severity == "error"


def test_nothing_accepted_is_an_error_and_each_rejection_says_why():
    proposed = [(1, P.CT_STORAGE, [P.IMPLICIT_LE]), (3, MR, [P.EXPLICIT_BE])]
    results = {1: (1, P.IMPLICIT_LE), 3: (4, P.IMPLICIT_LE)}
    _, fs = run(conversation(proposed, results, []))
    codes = sorted(f.code for f in fs)
    assert codes == ["context-rejected", "context-rejected", "no-context-accepted"]
    assert exit_status(fs) == 2
    ts = [f for f in fs if f.code == "context-rejected" and "context 3" in f.message][0]
    assert "Implicit VR Little Endian" in ts.hint and "no context was accepted" in ts.message


def test_unanswered_context_in_a_captured_ac_is_the_scps_fault():
    c = D.Conv()
    c.send(0, P.assoc_rq("SCU", "SCP", [(1, P.CT_STORAGE, [P.IMPLICIT_LE]), (3, MR, [P.IMPLICIT_LE])]))
    c.send(1, P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE)]))
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    _, fs = run(D.pcap(c))
    f = [x for x in fs if x.code == "context-not-answered"]
    assert len(f) == 1 and f[0].severity == "error" and "context 3 (MR Image Storage)" in f[0].message
