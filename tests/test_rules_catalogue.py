"""The finding catalogue (dicomsniff/model/rules/registry.py): every code declared once, the severity
discipline checked in one place, repeats grouped by the framework, `diagnose --list-rules`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dicomsniff.cli import main
from dicomsniff.field import ERROR, NOTE, SEVERITY_RANK, WARN
from dicomsniff.model.findings import Finding
from dicomsniff.model.rules.registry import (CATALOGUE, ERROR_GROUPS, GROUPS, RULES, discipline_errors, finalize,
                                             group, supersede)
from dicomsniff.notice import Notice

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "dicomsniff"
CAPTURES = ROOT / "captures"
MALFORMED = Path(__file__).resolve().parent / "malformed"

# Calls whose string arguments are finding codes: Finding(sev, code, …), rules' _f(a, sev, code, …),
# emit(a, code, …), the model's add_finding(sev, code, …), the framer's and readers' _notice/_note.
CALLS = {"Finding", "_f", "emit", "add_finding", "_notice", "_note", "_notice_once", "finding"}
NOT_CODES = {"capture", "tcp", "ul"}          # Notice 'where' values


def source_codes() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for p in SRC.rglob("*.py"):
        for n in ast.walk(ast.parse(p.read_text())):
            if not isinstance(n, ast.Call):
                continue
            fn = n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", "")
            if fn not in CALLS:
                continue
            for arg in n.args[:4]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) \
                        and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", arg.value) and arg.value not in NOT_CODES \
                        and arg.value not in SEVERITY_RANK:
                    out.setdefault(arg.value, set()).add(str(p.relative_to(ROOT)))
    return out


def test_every_code_in_the_source_is_declared():
    codes = source_codes()
    assert len(codes) > 80                     # the walk finds them (a broken walk must not pass)
    missing = {c: sorted(w) for c, w in codes.items() if c not in CATALOGUE}
    assert not missing, missing


def _emitted(path) -> set[str]:
    from dicomsniff.model.diagnosis import PduWatch, diagnose
    from dicomsniff.output.diagnose import notice_findings
    from dicomsniff.pipeline import Analyzer
    from dicomsniff.reading import read_events
    an = Analyzer(keep_pdus=False)
    watch, notices = PduWatch(), []
    try:
        for ev in read_events(str(path), an):
            if type(ev) is Notice:
                notices.append(ev)
            else:
                watch.event(ev)
    except Exception:                          # a file the reader refuses: its notices still count
        pass
    fs = diagnose(an.associations, watch=watch) + notice_findings(notices)
    return {f.code for f in fs} | {n.finding.code for n in notices}


def test_every_code_emitted_on_real_and_malformed_captures_is_declared():
    seen: dict[str, str] = {}
    for p in sorted(CAPTURES.glob("*.pcap")) + sorted(MALFORMED.glob("*.pcap*")):
        for code in _emitted(p):
            seen.setdefault(code, p.name)
    assert len(seen) > 15
    missing = {c: w for c, w in seen.items() if c not in CATALOGUE}
    assert not missing, missing


def test_severity_discipline_holds_for_every_declaration():
    assert discipline_errors() == []
    for c in CATALOGUE.values():
        assert c.group in GROUPS, c
        if c.group == "capture":
            assert SEVERITY_RANK[c.severity] <= SEVERITY_RANK[WARN], c        # never blames a peer
        if c.severity == ERROR:
            assert c.group in ERROR_GROUPS, c                                 # a peer or a failed operation
        assert c.summary and len(c.summary) < 200, c


def test_discipline_is_enforced_on_findings_not_only_declared():
    fs = finalize([Finding(ERROR, "tcp-gap", "x", 1, [3]), Finding(ERROR, "pdu-truncated", "y", 1, [4]),
                   Finding(ERROR, "dimse-failure", "z", 1, [5], key="0001:A700")])
    assert [(f.code, f.severity) for f in fs] == [("tcp-gap", WARN), ("pdu-truncated", WARN),
                                                   ("dimse-failure", ERROR)]


def test_every_rule_declares_its_codes_and_a_test():
    assert len(RULES) >= 12
    for r in RULES.values():
        for code in r.codes:
            c = CATALOGUE[code]
            assert c.rule == r.name and c.source == "rule", c
            assert c.test.startswith("tests/") and (ROOT / c.test).exists() or "evidence" in r.module \
                or "closing" in r.module, c


def test_repeats_of_one_cause_are_one_line_with_a_count():
    fs = [Finding(ERROR, "dimse-failure", f"C-STORE-RQ #{i} failed: 0xA700", 1, [10 * i, 10 * i + 1],
                  key="0001:A700") for i in range(1, 4)]
    fs.append(Finding(ERROR, "dimse-failure", "C-STORE-RQ #9 failed: 0xC000", 1, [95], key="0001:C000"))
    fs.append(Finding(ERROR, "dimse-failure", "C-STORE-RQ #1 failed: 0xA700", 2, [7], key="0001:A700"))
    out = group(fs)
    assert [(f.association, f.key, f.count) for f in out] == [(1, "0001:A700", 3), (1, "0001:C000", 1),
                                                              (2, "0001:A700", 1)]
    a700 = out[0]
    assert a700.message == "C-STORE-RQ #1 failed: 0xA700" and a700.frames == [10, 11, 20, 21, 30, 31]
    assert (a700.first, a700.last) == (10, 31)
    j = a700.to_json()
    assert j["count"] == 3 and j["first_frame"] == 10 and j["last_frame"] == 31 and j["frames"] == a700.frames
    assert j["group"] == "response"
    # grouping twice changes nothing
    again = group(out)
    assert [(f.count, f.frames, f.first, f.last) for f in again] == [(f.count, f.frames, f.first, f.last)
                                                                     for f in out]


def test_grouped_frames_are_capped_but_first_and_last_exact():
    fs = [Finding(WARN, "orphan-data", "data fragment", 1, [i]) for i in range(1, 1001)]
    (g,) = group(fs)
    assert g.count == 1000 and len(g.frames) == 100 and (g.first, g.last) == (1, 1000)


def test_a_code_that_supersedes_others_replaces_them_in_its_association_only():
    fs = [Finding(ERROR, "peer-closed", "reset", 1, [9]), Finding(WARN, "association-incomplete", "x", 1, [9]),
          Finding(WARN, "association-incomplete", "y", 2, [20])]
    assert [(f.code, f.association) for f in supersede(fs)] == [("peer-closed", 1),
                                                                 ("association-incomplete", 2)]


def test_list_rules_prints_the_catalogue():
    r = CliRunner().invoke(main, ["diagnose", "--list-rules", "--no-color"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert len(lines) == len(CATALOGUE)
    by_code = {ln.split()[0]: ln.split() for ln in lines}
    assert by_code["capture-loss"][1:3] == ["WARNING", "capture"]
    assert by_code["dimse-failure"][1:3] == ["ERROR", "response"]
    assert by_code["contexts-rejected-unneeded"][1:3] == ["NOTE", "info"]
    one = CliRunner().invoke(main, ["diagnose", "--list-rules", "capture-loss", "--no-color"])
    assert one.exit_code == 0 and "evidence: Association.loss" in one.output
    j = CliRunner().invoke(main, ["diagnose", "--list-rules", "--json"])
    import json
    doc = json.loads(j.output)
    assert {d["code"] for d in doc} == set(CATALOGUE)


def test_diagnose_without_capture_and_without_list_rules_is_a_usage_error():
    r = CliRunner().invoke(main, ["diagnose"])
    assert r.exit_code == 2 and "CAPTURE" in r.output


@pytest.mark.parametrize("name,status", [
    ("abort.pcap", 1), ("concurrent.pcap", 0), ("context_rejected.pcap", 0), ("diag_more.pcap", 2),
    ("diag_move_nosub.pcap", 1), ("diag_per_object.pcap", 1), ("diag_status.pcap", 2), ("echo.pcap", 0),
    ("find_mwl.pcap", 0), ("find_mwl_empty.pcap", 0), ("get.pcap", 0), ("move.pcap", 2), ("mwl_dcmtk.pcap", 0),
    ("mwl_pynetdicom.pcap", 0), ("pynetdicom.pcap", 2), ("pynetdicom_ipv6.pcap", 0), ("reject.pcap", 2),
    ("store.pcap", 0)])
def test_exit_status_of_every_shipped_capture(name, status):
    r = CliRunner().invoke(main, ["diagnose", str(CAPTURES / name), "--no-color"])
    assert r.exit_code == status, r.output
