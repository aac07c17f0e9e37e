"""The viewer's findings: a pane of grouped findings that jump, counts in the status line, the association tree,
and export file names."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dicomsniff.output.tui.app import ViewerApp
from dicomsniff.output.tui.findings_pane import FindingList
from dicomsniff.output.tui.keymap import Keys

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_tui_app import run_async  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"


async def diagnosed(app, pilot, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while app.diagnosed_at is None and app.error is None:
        assert time.monotonic() < end, "capture was not loaded and diagnosed in time"
        await pilot.pause(0.03)
    await pilot.pause()


def diagnose_json(path: Path) -> dict:
    r = subprocess.run([sys.executable, "-m", "dicomsniff", "diagnose", str(path), "--json"], capture_output=True,
                       text=True, timeout=120, cwd=ROOT)
    assert r.returncode in (0, 1, 2), r.stderr
    return json.loads(r.stdout)


@run_async
async def test_findings_pane_groups_as_diagnose_and_jumps_to_the_frame():
    """viewer_repeats.pcap: three 0xA700 refusals are one row ×3, as `diagnose` prints; enter selects the message."""
    path = CAPTURES / "viewer_repeats.pcap"
    expected = [f for f in diagnose_json(path)["findings"] if f["association"] == 1]
    assert any(f["count"] == 3 for f in expected)
    app = ViewerApp(str(path), show_timing=False, keys=Keys())
    async with app.run_test(size=(120, 40)) as pilot:
        await diagnosed(app, pilot)
        await pilot.press("f")
        lst = app.screen.query_one(FindingList)
        assert app.focused is lst
        assert [(f.code, f.count, f.severity) for f in lst.findings] == \
            [(f["code"], f["count"], f["severity"]) for f in expected]
        row = lst.row_text(0).plain
        assert row.startswith("ERROR") and "×3" in row and "0xA700" in row
        detail = str(app.screen.query_one("#findings-detail").render())
        assert "frames 29 … 49 (3 times)" in detail and "enter: go to frame 29" in detail
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        item = app.ladder.selected
        assert app.focused is app.ladder
        assert item.message is not None and 29 in item.frames
        assert item.message.command.status == 0xA700          # the message, not its P-DATA-TF row


@run_async
async def test_move_finding_jumps_to_the_sub_association_and_back():
    path = CAPTURES / "move.pcap"
    app = ViewerApp(str(path), show_timing=False, keys=Keys())
    async with app.run_test(size=(120, 40)) as pilot:
        await diagnosed(app, pilot)
        assert app.assoc_list.selected.number == 1
        await pilot.press("f")
        lst = app.screen.query_one(FindingList)
        row = next(i for i, f in enumerate(lst.findings) if f.code == "move-sub-association")
        lst.select(row)
        await pilot.pause()
        assert "enter: go to sub-association #2" in str(app.screen.query_one("#findings-detail").render())
        await pilot.press("enter")
        await pilot.pause()
        assert app.assoc_list.selected.number == 2
        # from the sub-association's finding back to the C-MOVE that caused it
        await pilot.press("f")
        lst = app.screen.query_one(FindingList)
        row = next(i for i, f in enumerate(lst.findings) if f.code == "move-sub-association")
        lst.select(row)
        await pilot.press("enter")
        await pilot.pause()
        assert app.assoc_list.selected.number == 1
        assert app.ladder.selected.message is not None and app.ladder.selected.message.name == "C-MOVE-RQ"


@run_async
async def test_findings_pane_scope_all_associations():
    path = CAPTURES / "diag_more.pcap"
    every = diagnose_json(path)["findings"]
    app = ViewerApp(str(path), show_timing=False, keys=Keys())
    async with app.run_test(size=(120, 40)) as pilot:
        await diagnosed(app, pilot)
        await pilot.press("f")
        lst = app.screen.query_one(FindingList)
        assert {f.association for f in lst.findings} <= {0, 1}
        await pilot.press("a")
        assert [(f.association, f.code) for f in lst.findings] == [(f["association"], f["code"]) for f in every]
        assert lst.row_text(len(lst.findings) - 1).plain.split()[1] == "#2"
        lst.select(len(lst.findings) - 1)
        await pilot.press("enter")
        await pilot.pause()
        assert app.assoc_list.selected.number == 2


@pytest.mark.parametrize("size", [(160, 50), (80, 24)])
@run_async
async def test_status_line_counts_errors_warnings_and_notes(size):
    path = CAPTURES / "diag_more.pcap"
    counts = diagnose_json(path)["counts"]
    app = ViewerApp(str(path), show_timing=False, keys=Keys())
    async with app.run_test(size=size) as pilot:
        await diagnosed(app, pilot)
        status = app.query_one("#status")
        line = "".join(seg.text for seg in status.render_line(0))
        want = (f"{counts['error']} errors, {counts['warning']} warning{'s' if counts['warning'] != 1 else ''}, "
                f"{counts['note']} note{'s' if counts['note'] != 1 else ''}")
        assert want in line, (want, line)


@pytest.mark.parametrize("name, tree", [("move.pcap", [(1, 0), (2, 1), (3, 0)]),
                                        ("peer_orthanc_scp.pcap", [(1, 0), (2, 0), (3, 0), (4, 0), (5, 1), (6, 1)]),
                                        ("peer_gdcm.pcap", [(1, 0), (2, 0), (3, 0), (4, 0), (5, 1)])])
@run_async
async def test_sub_associations_sit_under_their_c_move(name, tree):
    """The C-MOVE's sub-associations (diagnose's move-sub-association links) right under it, marked └."""
    app = ViewerApp(str(CAPTURES / name), show_timing=False, keys=Keys())
    async with app.run_test(size=(160, 50)) as pilot:
        await diagnosed(app, pilot)
        lst = app.assoc_list
        got = [(a.number, lst.depth.get(a.number, 0)) for a in lst.shown]
        assert got == tree
        for i, (number, depth) in enumerate(tree):
            assert lst.row_text(i).plain.lstrip().startswith(("└" if depth else "") + str(number))


@run_async
async def test_export_names_are_predictable(tmp_path, monkeypatch):
    """e and o twice: association number and frame range, then -2 (never a name from the wire, never over a file)."""
    monkeypatch.chdir(tmp_path)
    app = ViewerApp(str(CAPTURES / "store.pcap"), show_timing=False, keys=Keys())
    async with app.run_test(size=(120, 40)) as pilot:
        await diagnosed(app, pilot)
        a = app.assoc_list.selected
        stem = f"{a.number}-frames-{a.first_frame}-{a.last_frame}"
        await pilot.press("e")
        await pilot.press("e")
        await pilot.pause()
        assert sorted(p.name for p in tmp_path.glob("*.json")) == [
            f"dicomsniff-association-{stem}-2.json", f"dicomsniff-association-{stem}.json"]
        assert json.loads((tmp_path / f"dicomsniff-association-{stem}.json").read_text())["number"] == 1
        await pilot.press("o")
        end = time.monotonic() + 30
        while not app.exports:
            assert time.monotonic() < end
            await pilot.pause(0.05)
        await pilot.press("o")
        while len(app.exports) < 2:
            assert time.monotonic() < end
            await pilot.pause(0.05)
        assert [Path(d).name for _n, d, _r in app.exports] == [f"dicomsniff-objects-{stem}",
                                                             f"dicomsniff-objects-{stem}-2"]
        assert len(list((tmp_path / f"dicomsniff-objects-{stem}-2").glob("*.dcm"))) == 5
