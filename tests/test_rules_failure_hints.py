"""Rule pass dicomsniff.model.rules.failure_hints: dimse-failure lines quote the response's Error Comment and
Offending Element and hint from the request's evidence — through diagnose() and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import evidence_fixtures as X
from dicomsniff.cli import main

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def failures(data):
    _a, fs = X.analyse(data)
    return [f for f in fs if f.code == "dimse-failure"]


def test_store_a700_without_study_uid():
    (f,) = failures(X.store_missing_study_uid())
    assert f.message == ('C-STORE-RQ #1 (CT Image Storage) failed: 0xA700 Refused: Out of Resources — Error Comment'
                         ' "Missing Study Instance UID"; Offending Element (0020,000D)')
    assert f.hint.startswith("the data set has no Study Instance UID (0020,000D), a Type 1 attribute: the SCP"
                             " probably refused it for that, not for lack of disk space")


def test_store_a700_with_a_complete_data_set_keeps_disk_space():
    (f,) = failures(X.store_missing_study_uid(dataset=X.ct_object(), comment=None, offending=()))
    assert f.message == "C-STORE-RQ #1 (CT Image Storage) failed: 0xA700 Refused: Out of Resources"
    assert "out of disk space" in f.hint and "present and match the command" in f.hint


def test_real_pynetdicom_a700():
    (f,) = failures((CAPTURES / "pynetdicom.pcap").read_bytes())
    assert f.message == "C-STORE-RQ #1 (MR Image Storage) failed: 0xA700 Refused: Out of Resources"
    assert f.hint.startswith("out of resources: the SCP is probably out of disk space")
    assert f.hint.endswith("(the data set's Type 1 identity attributes are present and match the command)")


def test_move_c000_names_the_destination():
    (f,) = failures(X.move_unknown_destination())
    assert f.message.endswith('failed: 0xC000 Error: Unable to process — Error Comment "Unknown modality:'
                              ' UNKNOWNAE"')
    assert "'UNKNOWNAE'" in f.hint and "not configured on the SCP" in f.hint and "query keys" in f.hint


def test_move_c000_without_comment_still_lists_the_destination():
    (f,) = failures(X.move_unknown_destination(comment=None))
    assert f.hint.startswith("either the move destination 'UNKNOWNAE' is not configured on the SCP")


def test_real_move_a801():
    fs = failures((CAPTURES / "move.pcap").read_bytes())
    (f,) = fs
    assert f.hint.startswith("the C-MOVE destination AE 'NOWHERE' is not configured on the SCP")


def test_control_characters_in_error_comment_are_escaped_in_text_and_json(tmp_path):
    data = X.store_missing_study_uid(comment="bad\x1b]0;owned\x07 \x9bvalue", offending=())
    (f,) = failures(data)
    assert 'Error Comment "bad\\x1b]0;owned\\x07 \\x9bvalue"' in f.message
    cap = tmp_path / "x.pcap"
    cap.write_bytes(data)
    r = CliRunner()
    res = r.invoke(main, ["diagnose", str(cap)])
    assert res.exit_code == 2 and "\x1b" not in res.output and "\x9b" not in res.output
    res = r.invoke(main, ["diagnose", str(cap), "--json"])
    doc = json.loads(res.output)
    items = doc["findings"] if isinstance(doc, dict) else doc
    (fj,) = [x for x in items if x["code"] == "dimse-failure"]
    assert "\\x1b]0;owned" in fj["message"]


ORTHANC_FAIL = CAPTURES / "peer_orthanc_fail.pcap"


@pytest.mark.skipif(not ORTHANC_FAIL.exists(), reason="peer capture not made (scripts/make_peer_captures.py)")
def test_real_orthanc_refusals_are_explained_by_the_request():
    """peer_orthanc_fail.pcap: Orthanc 1.10.1 answers a CT without Study Instance UID with 0xA700 and a C-MOVE to
    NOWHERE (not in its DicomModalities) with 0xC000, neither with an Error Comment."""
    fs = {f.association: f for f in failures(ORTHANC_FAIL.read_bytes())}
    store, move = fs[5], fs[4]
    assert store.message == "C-STORE-RQ #1 (CT Image Storage) failed: 0xA700 Refused: Out of Resources"
    assert store.hint.startswith("the data set has no Study Instance UID (0020,000D), a Type 1 attribute: the SCP"
                                 " probably refused it for that, not for lack of disk space")
    assert move.message.endswith("failed: 0xC000 Error: Unable to process")
    assert move.hint.startswith("either the move destination 'NOWHERE' is not configured on the SCP (some SCPs,"
                                " e.g. Orthanc, answer 0xC000")
