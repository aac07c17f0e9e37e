"""``dicomsniff diff``: the worklist scenario (findscu vs pynetdicom query), association picking, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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


def test_worklist_key_differences_stand_out_first_in_words():
    """The first lines after the pair title name the differing query keys, empty vs absent and VR in words,
    before negotiation details (implementation UIDs, max PDU) that rarely explain a failing query."""
    out = invoke(A, B, "--no-color").output
    lines = out.splitlines()
    start = lines.index("  key differences:")
    glance = lines[start + 1:start + 7]
    assert glance == [
        "   ~ identifier key PatientName: encoded as VR PN by A, VR LO by B, same value",
        "   - identifier key PatientID: A sends it empty (LO); B leaves it out (absent)",
        "   ~ identifier key ScheduledProcedureStepSequence[0].ScheduledStationAETitle: A 'CT01' (AE)  →  B 'CT1' (AE)",
        "   + identifier key AccessionNumber: A leaves it out (absent); B sends it empty (SH)",
        "   ~ command set Priority: A 0  |  B 2",
        "   ~ exchange 1 outcome: A 2 pending, 0x0000 Success  |  B 0 pending, 0x0000 Success",
    ]
    assert start < lines.index("  negotiation")


def test_key_differences_name_the_exchange_when_there_are_several():
    out = invoke(CAPTURES / "store.pcap", CAPTURES / "abort.pcap", "--no-color").output
    assert "   ~ exchange 1: data set transfer syntax: A Implicit VR Little Endian  |  B Explicit VR Little Endian" in out
    assert "   - exchange 3: A C-STORE-RQ #3  |  B absent" in out


def test_association_number_that_is_not_a_number_is_one_line_exit_2():
    r = invoke(f"{A}#abc", B)
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == [
        f"dicomsniff: {A}#abc: association number 'abc' is not a number (FILE#N, N as in `dicomsniff summary`)"]
    r = invoke(A, f"{B}#")
    assert r.exit_code == 2
    assert "no association number after '#'" in r.output and "No such file" not in r.output


def test_split_target():
    from dicomsniff.output.diff import TargetError, split_target
    present = {"x.pcap", "odd#name.pcap"}
    exists = present.__contains__
    assert split_target("x.pcap#2", exists) == ("x.pcap", 2)
    assert split_target("x.pcap", exists) == ("x.pcap", None)
    assert split_target("odd#name.pcap", exists) == ("odd#name.pcap", None)   # a file named with '#'
    assert split_target("missing.pcap#zz", exists) == ("missing.pcap#zz", None)  # then: no such file
    with pytest.raises(TargetError, match="'1a' is not a number"):
        split_target("x.pcap#1a", exists)


def test_missing_file_with_a_number_still_says_no_such_file(tmp_path):
    r = invoke(f"{tmp_path / 'nothere.pcap'}#2", B)
    assert r.exit_code == 2 and "No such file or directory" in r.output
