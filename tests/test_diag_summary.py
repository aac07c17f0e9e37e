"""``dicomsniff summary`` shows the diagnosis: per association, one line per finding with frames and hint.

The findings are exactly those of ``dicomsniff diagnose`` (the model's own ones refined there, never
listed a second time in their raw wording), read without keeping PDUs (``PduWatch``).
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from dicomsniff.cli import main

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def summary(*args):
    r = CliRunner().invoke(main, ["summary", "--no-color", *map(str, args)])
    assert r.exit_code == 0, r.output
    return r.output


def section(out: str, number: int) -> str:
    start = out.index(f"Association #{number} ")
    nxt = out.find("\nAssociation #", start + 1)
    return out[start:] if nxt < 0 else out[start:nxt]


def test_findings_per_association_one_line_with_frames_and_hint():
    out = summary(CAPTURES / "diag_status.pcap")
    one = section(out, 1)
    assert "  Findings:" in one
    line = [ln for ln in one.splitlines() if "0xC000" in ln and "dimse-failure" in ln][0]
    assert line.startswith("    ERROR   dimse-failure: C-STORE-RQ #1 (CT Image Storage) failed")
    assert "[frame 15]" in line and "→ cannot understand" in line
    two = section(out, 2)
    assert "context-not-accepted: C-STORE-RQ #1 for MR Image Storage sent on presentation context 7" in two
    # the model's raw wording of the same finding is not listed beside the refined one
    assert "association aborted by the server during C-STORE-RQ #1: service-user" not in two
    assert two.count("association-aborted") == 1
    assert "no-transfer-syntax" not in two          # said once, by context-not-accepted


def test_summary_and_diagnose_list_the_same_findings():
    for name in ("move.pcap", "diag_status.pcap", "reject.pcap", "context_rejected.pcap"):
        out = summary(CAPTURES / name)
        r = CliRunner().invoke(main, ["diagnose", "--json", str(CAPTURES / name)])
        for f in json.loads(r.output)["findings"]:
            assert f"{f['code']}: {f['message']}" in out.replace("\n", " ") or \
                f"{f['code']}: {f['message'][:60]}" in out, (name, f)


def test_table_counts_errors_and_warnings():
    out = summary(CAPTURES / "move.pcap")
    head = out.split("\n\n")[0]
    assert "Findings" in head
    rows = [ln for ln in head.splitlines() if "MOVESCU → QRSCP" in ln]
    assert rows[0].rstrip().endswith("│") or "err" not in rows[0]     # association 1: notes only
    assert "1 err" in rows[1]
    notes = section(out, 2)
    assert "NOTE    move-sub-association: sub-association #2 carries C-MOVE #1 of association #1" in notes


def test_slow_and_idle_thresholds():
    assert "slow-response" not in summary(CAPTURES / "diag_status.pcap")
    out = summary(CAPTURES / "diag_status.pcap", "--slow", "1")
    assert "slow-response: C-ECHO-RQ #1 waited 1.50 s for its first response (threshold 1 s)" in out


def test_clean_capture_has_no_findings_block():
    out = summary(CAPTURES / "echo.pcap")
    assert "Findings:" not in out


def test_pdu_level_findings_without_keeping_pdus():
    """summary keeps no PDUs (bounded memory): PDU-level rules read a PduWatch fed as the capture is read."""
    out = summary(CAPTURES / "diag_per_object.pcap")
    assert "WARNING tiny-max-pdu: the client announces a max PDU length of 4096 bytes (below 8192) [frame 4]" in out
    assert "association-per-object: 5 associations 'ONEBYONE' → 'STORESCP'" in section(out, 1)
