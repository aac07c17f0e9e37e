"""``dicomsniff diff``: the worklist scenario (findscu vs pynetdicom query), association picking, JSON."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from dicomsniff.cli import main

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
A, B = str(CAPTURES / "mwl_dcmtk.pcap"), str(CAPTURES / "mwl_pynetdicom.pcap")


def invoke(*args):
    return CliRunner().invoke(main, ["diff", *map(str, args)])


def identifier_rows(doc):
    return {(r["item"], r["kind"]) for p in doc["pairs"] for r in p["rows"] if r["section"].endswith("identifier")}


def test_worklist_queries_name_exactly_the_differing_keys():
    # scripts/make_diag_captures.py QUERY_DIFF: PatientID removed, AccessionNumber added,
    # ScheduledStationAETitle CT01 → CT1, PatientName sent as LO instead of PN.
    r = invoke(A, B, "--json")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.output)
    assert identifier_rows(doc) == {
        ("PatientID", "removed"),
        ("AccessionNumber", "added"),
        ("ScheduledProcedureStepSequence[0].ScheduledStationAETitle", "changed"),
        ("PatientName VR", "vr"),
    }
    rows = {r["item"]: r for r in doc["pairs"][0]["rows"]}
    assert rows["ScheduledProcedureStepSequence[0].ScheduledStationAETitle"]["a"] == "'CT01' (AE)"
    assert rows["ScheduledProcedureStepSequence[0].ScheduledStationAETitle"]["b"] == "'CT1' (AE)"
    assert rows["PatientName VR"]["a"] == "PN" and rows["PatientName VR"]["b"] == "LO"
    assert rows["PatientID"]["a"] == "(empty) (LO)" and rows["PatientID"]["b"] is None
    assert rows["status"]["a"] == "2 pending, 0x0000 Success" and rows["status"]["b"] == "0 pending, 0x0000 Success"
    assert rows["Priority"]["kind"] == "changed"


def test_worklist_text_shows_only_differences_unless_all():
    r = invoke(A, B, "--no-color")
    out = r.output
    assert f"A: {A}" in out and f"B: {B}" in out
    assert "~ identifier: ScheduledProcedureStepSequence[0].ScheduledStationAETitle: A 'CT01' (AE)  |  B 'CT1' (AE)" in out
    assert "- identifier: PatientID: A (empty) (LO)  |  B absent" in out
    assert "+ identifier: AccessionNumber: A absent  |  B (empty) (SH)" in out
    assert "~ identifier: PatientName VR: A PN  |  B LO" in out
    assert "].Modality" not in out and "calling AE" not in out        # equal lines hidden
    full = invoke(A, B, "--all", "--no-color").output
    assert "identifier: ScheduledProcedureStepSequence[0].Modality: 'CT' (CS)" in full
    assert "calling AE: 'FINDSCU'" in full


def test_two_associations_of_one_capture():
    r = invoke(f"{CAPTURES / 'move.pcap'}#1", f"{CAPTURES / 'move.pcap'}#3", "--json")
    doc = json.loads(r.output)
    assert [(p["a"], p["b"]) for p in doc["pairs"]] == [(1, 3)]
    diffs = {row["item"]: (row["a"], row["b"]) for row in doc["pairs"][0]["rows"]}
    assert diffs["MoveDestination"] == ("STORESCP", "NOWHERE")
    assert diffs["status"] == ("3 pending, 0x0000 Success", "0 pending, 0xA801 Refused: Move Destination unknown")
    assert doc["differences"] == 2


def test_several_associations_compared_in_order_and_said_so():
    r = invoke(CAPTURES / "reject.pcap", CAPTURES / "echo.pcap", "--no-color")
    assert r.exit_code == 1
    assert "A has 3 associations, B has 1: comparing association by association in order" in r.output
    assert "A #2 has no counterpart in B" in r.output


def test_identical_is_exit_0_and_bad_input_exit_2():
    r = invoke(CAPTURES / "echo.pcap", CAPTURES / "echo.pcap")
    assert r.exit_code == 0 and "No differences." in r.output
    r = invoke(f"{CAPTURES / 'echo.pcap'}#7", CAPTURES / "echo.pcap")
    assert r.exit_code == 2 and "no association #7" in r.stderr
    r = invoke(CAPTURES / "README.md", CAPTURES / "echo.pcap")
    assert r.exit_code == 2 and "Traceback" not in r.output
