"""Real captures of other DICOM stacks: Orthanc, GDCM, CTN and Odil (scripts/make_peer_captures.py, issue 12).

Each committed ``captures/peer_*.pcap`` decodes to the facts in ``captures/manifest.json`` (written by the
capture script from what the peers did and logged, not from our decoder; scripts/verify_captures.py's own
decoder agrees), is compared with tshark by tests/test_integration_tshark.py (checked here that none is
left out of it), and diagnoses as a user would want: every
healthy conversation exits 0 with no error or warning, every failing one names its cause (status and
its meaning, AE title, reason, which side ended, what was in flight).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest
from click.testing import CliRunner

from dicomsniff.capture.reader import open_capture
from dicomsniff.cli import main
from dicomsniff.dimse.commands import command_name
from dicomsniff.uids import uid_name
from dicomsniff.pipeline import MessageSeen, PduSeen, analyze_frames

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
DOC = json.loads((CAPTURES / "manifest.json").read_text())
PEERS = {n: i for n, i in DOC["captures"].items() if n.startswith("peer_")}
CUT = DOC.get("peer_incomplete_captures", {})
ALL = {**PEERS, **CUT}
HEALTHY = sorted(n for n, i in PEERS.items() if i.get("healthy"))

pytestmark = pytest.mark.skipif(not PEERS, reason="no peer captures in captures/manifest.json")


@lru_cache(maxsize=None)
def decoded(name: str):
    info = ALL[name]
    return analyze_frames(open_capture(CAPTURES / info["file"]), ports=set(info["ports"]))


def assocs(name: str) -> list:
    an, _ = decoded(name)
    return sorted(an.associations, key=lambda a: a.start_ns or 0)


def messages(name: str) -> list:
    _, events = decoded(name)
    return [(ev.association, ev.message) for ev in events if type(ev) is MessageSeen]


def cmd(m) -> str:
    return command_name(m.command.command_field)


@lru_cache(maxsize=None)
def diagnosis(name: str) -> tuple[int, dict]:
    r = CliRunner().invoke(main, ["diagnose", "--json", str(CAPTURES / ALL[name]["file"])])
    assert "Traceback" not in r.output
    return r.exit_code, json.loads(r.output)


def findings(name: str, association: int | None = None) -> list[dict]:
    _, doc = diagnosis(name)
    return [f for f in doc["findings"] if association is None or f["association"] == association]


def show(fs) -> list:
    return [(f["association"], f["severity"], f["code"], f["message"]) for f in fs]


# -- decode --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PEERS))
def test_every_association_decodes_as_the_peers_did(name):
    info = PEERS[name]
    got = assocs(name)
    assert len(got) == len(info["associations"])
    for a, e in zip(got, info["associations"]):
        assert (a.calling_ae, a.called_ae) == (e["calling_ae"], e["called_ae"])
        assert a.gaps == 0
        if e["result"] == "rejected":
            assert a.rj is not None and (a.rj.result, a.rj.source, a.rj.reason) == tuple(e["reject"].values())
            continue
        assert a.ac is not None and a.rj is None
        assert a.outcome == {"release": "released", "abort": "aborted"}[e["end"]]
        assert all(m.complete and m.command is not None for m in a.messages)
        if "commands" in e:
            assert Counter(cmd(m) for m in a.messages) == Counter(e["commands"])
        if "statuses" in e:
            assert [m.command.status for m in a.messages if m.command.status is not None] == e["statuses"]


@pytest.mark.parametrize("name", sorted(PEERS))
def test_messages_and_statuses_as_in_the_manifest(name):
    info = PEERS[name]
    msgs = messages(name)
    assert Counter(cmd(m) for _, m in msgs) == Counter(info["commands"])
    by: dict[str, list[int]] = {}
    for _, m in msgs:
        if m.command.status is not None:
            by.setdefault(cmd(m), []).append(m.command.status)
    assert by == info["statuses_by_command"]


def test_orthanc_worklist_and_find_answers():
    rsps = [m for _, m in messages("peer_orthanc_mwl") if cmd(m) == "C-FIND-RSP" and m.data is not None]
    got = [{k: str(m.data.dataset.get(k, "")) for k in ("PatientName", "PatientID", "AccessionNumber")} for m in rsps]
    assert sorted(got, key=str) == sorted(PEERS["peer_orthanc_mwl"]["matches"], key=str)
    (rq,) = [m for _, m in messages("peer_orthanc_mwl") if cmd(m) == "C-FIND-RQ"]
    assert rq.command.affected_sop_class_uid == PEERS["peer_orthanc_mwl"]["sop_class"]
    for name in ("peer_orthanc_scp", "peer_odil"):
        (match,) = [m for _, m in messages(name) if cmd(m) == "C-FIND-RSP" and m.data is not None]
        assert str(match.data.dataset.StudyInstanceUID) == PEERS["peer_orthanc_scp"]["find_matches"][0]["StudyInstanceUID"]
        assert str(match.data.dataset.PatientName) == PEERS["peer_orthanc_scp"]["find_matches"][0]["PatientName"]


def test_orthanc_move_sub_associations_carry_move_originator():
    """Orthanc opens one sub-association per SOP class for its C-MOVE; each C-STORE names the C-MOVE."""
    a = assocs("peer_orthanc_scp")
    move = next(x for x in a if x.calling_ae == "MOVESCU")
    (rq,) = [m for m in move.messages if cmd(m) == "C-MOVE-RQ"]
    subs = [x for x in a if x.calling_ae == "ORTHANC"]
    assert len(subs) == len(PEERS["peer_orthanc_scp"]["objects_moved"])
    for sub in subs:
        (store,) = [m for m in sub.messages if cmd(m) == "C-STORE-RQ"]
        assert store.command.move_originator_ae == "MOVESCU"
        assert store.command.move_originator_message_id == rq.command.message_id


def test_orthanc_move_links_every_sub_association_it_opened():
    """Both of Orthanc's sub-associations (one per SOP class) are the C-MOVE's, not just the first."""
    r = CliRunner().invoke(main, ["diagnose", "--json", str(CAPTURES / "peer_orthanc_scp.pcap")])
    fs = [f for f in json.loads(r.output)["findings"] if f["code"] == "move-sub-association"]
    subs = [x for x in assocs("peer_orthanc_scp") if x.calling_ae == "ORTHANC" and x.called_ae == "STORESCP"]
    assert len(subs) == 2
    (link,) = [f for f in fs if f["message"].startswith("C-MOVE #1 to 'STORESCP'")]
    assert all(f"#{b.number} (ORTHANC → STORESCP" in link["message"] for b in subs)
    assert sorted(f["association"] for f in fs if f["message"].startswith("sub-association")) == \
        sorted(b.number for b in subs)


def test_orthanc_as_scu_proposes_every_storage_class_it_knows():
    """Orthanc opens one association per SOP class it sends (REST store, C-MOVE sub-operations), each proposing
    ~126 contexts: the object's class first, then every storage class it knows; storescp accepts them all."""
    for name in ("peer_orthanc_scu", "peer_orthanc_scp"):
        stores = [a for a in assocs(name) if a.calling_ae == "ORTHANC" and any(
            cmd(m) == "C-STORE-RQ" for m in a.messages)]
        assert len(stores) == 2
        for a in stores:
            (rq,) = [m for m in a.messages if cmd(m) == "C-STORE-RQ"]
            first = min(a.contexts)
            assert a.contexts[first].abstract_syntax == rq.command.affected_sop_class_uid
            assert 120 <= len(a.contexts) <= 130 and all(c.result == 0 for c in a.contexts.values())


def test_ctn_empty_last_pdv_is_kept():
    """CTN send_image ends each data set with an empty PDV (length 2: context ID and 'data, last')."""
    _, events = decoded("peer_ctn_scu")
    data_pdvs: dict[int, list] = {}
    for ev in events:
        if type(ev) is PduSeen and ev.pdu.pdu_type == 4 and ev.pdu.direction == 0:
            data_pdvs.setdefault(ev.association.number, []).extend(p for p in ev.pdu.pdvs if not p.is_command)
    assert len(data_pdvs) == 2
    for pdvs in data_pdvs.values():
        assert len(pdvs) > 1
        assert pdvs[-1].length == 2 and pdvs[-1].is_last and pdvs[-1].value_length == 0
        assert not any(p.is_last for p in pdvs[:-1])
    stores = [m for _, m in messages("peer_ctn_scu") if cmd(m) == "C-STORE-RQ"]
    assert len(stores) == 2 and all(m.complete and m.data is not None and m.data.dataset is not None for m in stores)


# -- tshark --------------------------------------------------------------------------------------


def test_every_peer_capture_is_in_the_tshark_comparison():
    """tests/test_integration_tshark.py compares them with tshark frame by frame (Upper Layer) and command by
    command (DIMSE, statuses); here only that none is left out, so tshark does not run twice per suite."""
    import tests.test_integration_tshark as T

    assert set(PEERS) <= set(T.NAMES)                       # Upper Layer, DIMSE and statuses
    assert set(CUT) <= set(T.EXTRA)                         # Upper Layer (the crash cut its messages)
    assert CUT["peer_gdcm_move_crash"]["tshark_ul_only_ours"] == [CUT["peer_gdcm_move_crash"]["cut_by_reset"]["frame"]]


# -- diagnosis: healthy --------------------------------------------------------------------------


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_conversation_diagnoses_with_exit_0(name):
    code, doc = diagnosis(name)
    assert [f for f in doc["findings"] if f["severity"] != "note"] == [], show(doc["findings"])
    assert code == 0 and doc["exit_status"] == 0


def _rejected_contexts(name: str, association) -> tuple[int, int]:
    """(rejected, proposed) presentation contexts of one association, from its A-ASSOCIATE-AC."""
    results = [c.result for c in association.contexts.values()]
    return sum(1 for r in results if r not in (0, None)), len(results)


def test_crowded_negotiation_with_ctn_is_one_note():
    """storescu proposes 128 contexts, CTN rejects 46 (23 SOP classes its log names); none was needed."""
    (a,) = assocs("peer_ctn_scp")
    rejected, proposed = _rejected_contexts("peer_ctn_scp", a)
    classes = PEERS["peer_ctn_scp"]["ctn_rejected_sop_classes"]
    assert (rejected, proposed) == (2 * len(classes), 128)
    (f,) = findings("peer_ctn_scp")
    assert f["severity"] == "note", show([f])
    assert f"{rejected} of {proposed} proposed presentation contexts ({len(classes)} SOP classes) rejected" \
        in f["message"] and "none needed" in f["message"]
    named = f["message"].split("none needed:", 1)[1].split(";")[0]
    shown = [x.strip() for x in named.split(",") if x.strip() and not x.strip().startswith("…")]
    names = {uid_name(uid).removesuffix(" Storage") for uid in classes}
    assert shown and set(shown) <= names, (shown, sorted(names))
    more = re.search(r"… \((\d+) more\)", named)
    assert len(shown) + (int(more.group(1)) if more else 0) == len(classes)


def test_orthanc_echo_contexts_storescp_rejects_are_one_note():
    """Orthanc's C-ECHO proposes Verification and 4 query/retrieve contexts; storescp rejects the 4."""
    a = assocs("peer_orthanc_scu")[0]
    assert _rejected_contexts("peer_orthanc_scu", a) == (4, 5)
    (f,) = findings("peer_orthanc_scu", 1)
    assert f["severity"] == "note" and "4 of 5 proposed" in f["message"], show([f])


# -- diagnosis: failing --------------------------------------------------------------------------


def test_orthanc_refusals_exit_2():
    code, doc = diagnosis("peer_orthanc_fail")
    assert code == 2 and doc["counts"]["error"] >= 5


def test_orthanc_rejects_unknown_calling_and_called_ae():
    (f,) = findings("peer_orthanc_fail", 1)
    assert (f["severity"], f["code"]) == ("error", "association-rejected")
    assert "'INTRUDER'" in f["message"] and "calling-AE-title-not-recognized" in f["message"]
    assert "INTRUDER" in f["hint"]
    (f,) = findings("peer_orthanc_fail", 2)
    assert (f["severity"], f["code"]) == ("error", "association-rejected")
    assert "'WRONGAE'" in f["message"] and "called-AE-title-not-recognized" in f["message"]


def test_orthanc_abort_on_a_refused_find_is_one_line():
    """Orthanc answers a C-FIND it does not allow (AllowFind false) with an A-ABORT: one cause, one line."""
    fs = findings("peer_orthanc_fail", 3)
    errors = [f for f in fs if f["severity"] != "note"]
    assert len(errors) == 1, show(fs)
    assert errors[0]["severity"] == "error" and "aborted by the server" in errors[0]["message"]
    assert "C-FIND-RQ #1" in errors[0]["message"]


def test_orthanc_move_to_unknown_destination_names_it():
    """Orthanc answers 0xC000 (not 0xA801) for a destination missing from DicomModalities."""
    fs = findings("peer_orthanc_fail", 4)
    fail = [f for f in fs if f["code"] == "dimse-failure"]
    assert len(fail) == 1 and fail[0]["severity"] == "error" and "0xC000" in fail[0]["message"], show(fs)
    assert "'NOWHERE'" in fail[0]["hint"] and "not configured" in fail[0]["hint"]


def test_refused_move_with_no_sub_operation_expects_no_sub_association():
    """The C-MOVE was refused before any sub-operation: no sub-association is missing from the capture."""
    fs = findings("peer_orthanc_fail", 4)
    assert [f["code"] for f in fs if f["severity"] != "note"] == ["dimse-failure"], show(fs)


def test_orthanc_store_refusal_names_the_missing_attribute():
    """0xA700 "out of resources" from Orthanc for a data set without Study Instance UID (Type 1)."""
    (f,) = findings("peer_orthanc_fail", 5)
    assert f["severity"] == "error" and "0xA700" in f["message"]
    assert "Study Instance UID" in f["hint"] and "(0020,000D)" in f["hint"]


def test_gdcmscu_crash_during_orthanc_move_names_the_peer_process():
    """gdcmscu (the C-MOVE SCU and its own move destination) dies on Orthanc's first C-STORE."""
    code, doc = diagnosis("peer_gdcm_move_crash")
    assert code == 2
    ended = [f for f in doc["findings"] if f["code"] == "peer-ended"]
    assert len(ended) == 1, show(doc["findings"])
    msg = ended[0]["message"]
    assert msg.startswith("peer process ended (crash or kill)") and "'GDCMSCU'" in msg
    assert "C-MOVE-RQ #1 on #1" in msg and "C-STORE-RQ #1 on #2" in msg
    cut = CUT["peer_gdcm_move_crash"]["cut_by_reset"]
    assert cut["reset_frame"] in ended[0]["frames"]
    # nothing blames Orthanc, whose process was fine: every error is about the side that closed
    for f in doc["findings"]:
        assert "ORTHANC" not in f["message"].split("(")[0], show([f])
    closed = {f["association"]: f for f in doc["findings"] if f["code"] == "peer-closed"}
    assert closed[1]["message"].startswith("the client reset the connection (RST")
    assert closed[2]["message"].startswith("the server closed the connection (FIN")
