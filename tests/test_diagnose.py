"""``dicomsniff diagnose``: grouping, hints, JSON, colour, exit status (0 none/notes, 1 warnings, 2 errors)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from dicomsniff.cli import main

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def invoke(*args):
    return CliRunner().invoke(main, ["diagnose", *map(str, args)])


def test_errors_exit_2_grouped_most_severe_first():
    r = invoke(CAPTURES / "move.pcap", "--no-color")
    assert r.exit_code == 2, r.output
    out = r.output
    assert "3 associations, 1 error, 0 warnings, 2 notes" in out
    # the association with the error comes first, then the others in order
    assert out.index("Association #3") < out.index("Association #1") < out.index("Association #2")
    assert "ERROR   dimse-failure: C-MOVE-RQ #1" in out and "[frame 83]" in out
    assert "→ the C-MOVE destination AE 'NOWHERE' is not configured on the SCP" in out
    assert "\x1b[" not in out
    assert "sub-operations completed 0, failed 0" not in out     # a refused C-MOVE ran none: no noise


def test_warnings_exit_1_and_notes_only_exit_0():
    assert invoke(CAPTURES / "diag_per_object.pcap").exit_code == 1
    r = invoke(CAPTURES / "find_mwl_empty.pcap")
    assert r.exit_code == 0 and "find-no-matches" in r.output
    r = invoke(CAPTURES / "echo.pcap")
    assert r.exit_code == 0 and "No problems found." in r.output


def test_slow_threshold_option():
    r = invoke(CAPTURES / "diag_status.pcap", "--slow", "1")
    assert "slow-response" in r.output and "threshold 1 s" in r.output
    r = invoke(CAPTURES / "diag_status.pcap")
    assert "slow-response" not in r.output


def test_json_output():
    r = invoke(CAPTURES / "reject.pcap", "--json")
    assert r.exit_code == 2
    doc = json.loads(r.output)
    assert doc["exit_status"] == 2 and doc["counts"]["error"] == 3
    f = doc["findings"][1]
    assert f["code"] == "association-rejected" and f["association"] == 2 and f["frames"] == [16]
    assert "INTRUDER" in f["hint"]
    assert [a["number"] for a in doc["associations"]] == [1, 2, 3]


def test_unreadable_file_is_one_line_on_stderr(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello, not a capture\n")
    r = invoke(bad)
    assert r.exit_code == 2
    assert r.stdout == "" and "not a pcap or pcapng file" in r.stderr and "Traceback" not in r.stderr
    r = invoke(tmp_path / "missing.pcap")
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_colour_on_a_terminal(monkeypatch):
    from dicomsniff.output import diagnose as D
    from rich.console import Console
    import io
    from dicomsniff.model.diagnosis import diagnose
    from dicomsniff.pipeline import Analyzer
    from dicomsniff.reading import read_events
    an = Analyzer(keep_pdus=True)
    for _ in read_events(CAPTURES / "reject.pcap", an):
        pass
    buf = io.StringIO()
    D.print_diagnosis(Console(file=buf, force_terminal=True, color_system="standard"), "reject.pcap",
                      an.associations, diagnose(an.associations), 5.0)
    assert "\x1b[1;31mERROR" in buf.getvalue()
