"""DIMSE status rules (dicomsniff/model/rules/statuses.py) and the framework's grouping of their repeats:
one line per (command, status), with a count and first/last frames, in text and JSON."""

from __future__ import annotations

import json

import dimse_fixtures as D
import pdu_fixtures as P
from click.testing import CliRunner
from dicomsniff.cli import main
from dicomsniff.model.diagnosis import diagnose
from dicomsniff.pipeline import Analyzer
from dicomsniff.reading import read_events

STATUSES = [0xA700, 0xA700, 0x0000, 0xC000, 0xA700, 0x0000]


def capture() -> bytes:
    c = D.Conv()
    c.send(0, P.assoc_rq("STORESCU", "STORESCP", [(1, P.CT_STORAGE, [P.IMPLICIT_LE])]))
    c.send(1, P.assoc_ac("STORESCU", "STORESCP", [(1, 0, P.IMPLICIT_LE)]))
    for mid, st in enumerate(STATUSES, 1):
        c.send(0, P.pdata([(1, 0x03, D.store_rq(mid, f"1.2.3.{mid}"))]))
        c.send(0, P.pdata([(1, 0x02, D.patient())]))
        c.send(1, P.pdata([(1, 0x03, D.store_rsp(mid, st, f"1.2.3.{mid}"))]))
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    return D.pcap(c)


def test_failures_are_grouped_by_status():
    an = Analyzer(keep_pdus=True)
    for _ in read_events(capture(), an):
        pass
    fs = diagnose(an.associations)
    fail = [f for f in fs if f.code == "dimse-failure"]
    assert [(f.key, f.count) for f in fail] == [("0001:A700", 3), ("0001:C000", 1)]
    a700 = fail[0]
    assert a700.message.startswith("C-STORE-RQ #1 (CT Image Storage) failed: 0xA700")
    assert len(a700.frames) == 3 and (a700.first, a700.last) == (a700.frames[0], a700.frames[-1])
    assert a700.hint


def test_grouped_findings_in_text_and_json(tmp_path):
    p = tmp_path / "st.pcap"
    p.write_bytes(capture())
    r = CliRunner().invoke(main, ["diagnose", str(p), "--no-color"])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if "dimse-failure" in ln]
    assert len(lines) == 2
    assert lines[0].startswith("  ERROR   dimse-failure ×3: C-STORE-RQ #1") and " … " in lines[0]
    j = json.loads(CliRunner().invoke(main, ["diagnose", str(p), "--json"]).output)
    fail = [f for f in j["findings"] if f["code"] == "dimse-failure"]
    assert [f["count"] for f in fail] == [3, 1]
    assert fail[0]["first_frame"] == min(fail[0]["frames"]) and fail[0]["last_frame"] == max(fail[0]["frames"])
    assert fail[0]["group"] == "response" and j["counts"]["error"] == 2


def test_the_viewers_findings_pane_shows_one_entry_per_cause():
    from dicomsniff.output.tui.rows import findings_text
    from dicomsniff.output.tui.session import diagnose_session
    an = Analyzer(keep_pdus=True)
    for _ in read_events(capture(), an):
        pass
    d = diagnose_session(an.associations, [])
    text = findings_text(an.associations[0], d).plain
    assert text.count("(dimse-failure)") == 2
    assert "[error] ×3 C-STORE-RQ #1 (CT Image Storage) failed: 0xA700" in text
    assert "(3 times)" in text
