"""Viewer features: diagnosis findings and marks, object export, key remapping, literal display."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pydicom
import pytest

from dicomsniff.capture.reader import open_capture
from dicomsniff.model.diagnosis import PduWatch, diagnose
from dicomsniff.output.tui.app import ViewerApp
from dicomsniff.output.tui.keymap import ACTIONS, Keys, load_keys, parse_keymap
from dicomsniff.pipeline import Analyzer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_tui_app import HOSTILE, hostile_capture, run_async, screen_text  # noqa: E402

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
LITERAL = "[red]X\\x1b[31m"


async def diagnosed(app, pilot, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while app.diagnosed_at is None and app.error is None:
        assert time.monotonic() < end, "capture was not loaded and diagnosed in time"
        await pilot.pause(0.03)
    await pilot.pause()


async def until(pilot, cond, what: str, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await pilot.pause(0.03)


def cli_findings(path: Path) -> list:
    """The findings as ``dicomsniff diagnose`` computes them (streaming analyzer, PduWatch)."""
    an = Analyzer(keep_pdus=False, keep_limit=256 << 10)
    watch = PduWatch()
    for frame in open_capture(str(path)):
        for ev in an.feed(frame):
            watch.event(ev)
    for ev in an.finish():
        watch.event(ev)
    return diagnose(an.associations, watch=watch)


# -- diagnosis -------------------------------------------------------------------------------


@run_async
async def test_diagnosis_counts_marks_and_pane_agree_with_dicomsniff_diagnose():
    path = CAPTURES / "diag_status.pcap"
    expected = cli_findings(path)
    app = ViewerApp(str(path), show_timing=False, keys=Keys())
    async with app.run_test(size=(160, 50)) as pilot:
        await diagnosed(app, pilot)
        lst = app.assoc_list
        assert lst.count == 2
        for row, a in enumerate(lst.shown):
            mine = [f for f in expected if f.association == a.number]
            errors = [f for f in mine if f.severity == "error"]
            warnings = [f for f in mine if f.severity == "warning"]
            assert errors, "the capture has a failure in each association"
            # the list's err / warn columns
            assert app.diagnosis.count(a.number) == (len(errors), len(warnings))
            text = lst.row_text(row).plain
            assert f"{len(errors):>4} {len(warnings):>4}" in text
            lst.select(row)
            await pilot.pause()
            assert f"({len(errors)} err, {len(warnings)} warn)" in app.query_one("#detail").render().plain
            # ladder marks: exactly the rows holding a frame named by an error or warning
            named = {fr for f in errors + warnings for fr in f.frames}
            marked = 0
            for i, item in enumerate(app.ladder.items):
                has = bool(named & set(item.frames))
                shown = app.ladder.row_text(i).plain.startswith("!")
                assert has == shown, (i, item.frames)
                marked += shown
            assert marked >= len(errors)
            # the findings pane lists every finding of this association, with its hint
            await pilot.press("f")
            body = app.screen.body.plain
            assert f"{len(errors)} error" in body
            for f in mine:
                assert f.message in body
                if f.hint:
                    assert f.hint.split("\n")[0] in body
            await pilot.press("f")
            assert app.screen is app.screen_stack[0]


@run_async
async def test_findings_pane_shows_diagnosis_not_only_model_findings():
    """reject.pcap: the diagnosis explains the rejection (the model alone says less)."""
    path = CAPTURES / "reject.pcap"
    expected = [f for f in cli_findings(path) if f.association == 1]
    app = ViewerApp(str(path), show_timing=False, keys=Keys())
    async with app.run_test(size=(120, 40)) as pilot:
        await diagnosed(app, pilot)
        await pilot.press("f")
        body = app.screen.body.plain
        for f in expected:
            assert f.message in body and f.code in body


# -- export ----------------------------------------------------------------------------------


@run_async
async def test_export_objects_of_the_selected_association(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = ViewerApp(str(CAPTURES / "concurrent.pcap"), show_timing=False, keys=Keys())
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        await diagnosed(app, pilot)
        assert app.goto_association(2)
        await pilot.press("o")
        await until(pilot, lambda: app.exports, "the object export")
        number, directory, records = app.exports[0]
        assert number == 2 and Path(directory).name == "dicomsniff-objects-2-frames-11-57"
        files = sorted((tmp_path / "dicomsniff-objects-2-frames-11-57").glob("*.dcm"))
        assert len(files) == 1 and all(r.association == 2 for r in records)
        ds = pydicom.dcmread(files[0])
        assert ds.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.1.1.4"     # MR Image Storage
        await pilot.pause(0.1)
        notes = [str(n.message) for n in app._notifications]
        assert any("1 object written to" in n and "dicomsniff-objects-2-frames-11-57" in n for n in notes)
        # again: a fresh folder, never over the first
        await pilot.press("o")
        await until(pilot, lambda: len(app.exports) == 2, "the second export")
        assert Path(app.exports[1][1]).name == "dicomsniff-objects-2-frames-11-57-2"


@run_async
async def test_export_objects_whole_association_and_json_from_palette(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = ViewerApp(str(CAPTURES / "store.pcap"), show_timing=False, keys=Keys())
    async with app.run_test(size=(160, 50)) as pilot:
        await diagnosed(app, pilot)
        stores = [m for m in app.assoc_list.selected.messages if m.name == "C-STORE-RQ"]
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"objects to .dcm")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: app.exports, "the object export")
        assert len(list((tmp_path / "dicomsniff-objects-1-frames-4-49").glob("*.dcm"))) == len(stores) == 5
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"association to JSON")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert len(list(tmp_path.glob("dicomsniff-association-1-*.json"))) == 1


@run_async
async def test_export_objects_without_stores_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = ViewerApp(str(CAPTURES / "echo.pcap"), show_timing=False, keys=Keys())
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await diagnosed(app, pilot)
        await pilot.press("o")
        await pilot.pause(0.2)
        assert not app.exports and not list(tmp_path.iterdir())
        assert any("no C-STORE" in str(n.message) for n in app._notifications)


# -- keys ------------------------------------------------------------------------------------


def test_keymap_file_is_checked(tmp_path, monkeypatch):
    f = tmp_path / "keys.toml"
    f.write_text('quit = "ctrl+q"\nfilter = ["f2", "slash"]\n"list.down" = "down,ctrl+n"\n'
                 'nonsense = "x"\nhelp = ""\n[tree]\nup = "ctrl+u"\n')
    monkeypatch.setenv("DICOMSNIFF_KEYS", str(f))
    keys = load_keys()
    assert keys.path == f
    assert keys.keymap == {"quit": "ctrl+q", "filter": "f2,slash", "list.down": "down,ctrl+n",
                           "tree.up": "ctrl+u"}
    assert any("nonsense" in p for p in keys.problems) and any(p.startswith("help:") for p in keys.problems)
    # clashes are reported, defaults do not clash
    assert parse_keymap({})[1] == []
    _, problems = parse_keymap({"contexts": "f"})
    assert any("'f'" in p and "findings" in p for p in problems)
    _, problems = parse_keymap({"quit": "j"})
    assert any("list.down takes it" in p for p in problems)
    # a file that is no TOML: defaults and one problem
    f.write_text("quit = = =\n")
    keys = load_keys()
    assert keys.keymap == {} and len(keys.problems) == 1
    # no file: defaults, no problem
    monkeypatch.setenv("DICOMSNIFF_KEYS", str(tmp_path / "missing.toml"))
    assert load_keys().keymap == {} and load_keys().problems == []
    monkeypatch.delenv("DICOMSNIFF_KEYS")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert load_keys().path == tmp_path / "cfg" / "dicomsniff" / "keys.toml"


@run_async
async def test_remapped_keys_work_and_help_shows_them(tmp_path, monkeypatch):
    f = tmp_path / "keys.toml"
    f.write_text('quit = "ctrl+q"\nfindings = "F"\n"list.down" = "ctrl+n"\n"list.last" = "end"\n'
                 'help = "f1"\n')
    monkeypatch.setenv("DICOMSNIFF_KEYS", str(f))
    app = ViewerApp(str(CAPTURES / "reject.pcap"), show_timing=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await diagnosed(app, pilot)
        assert app.keys.problems == []
        lst = app.assoc_list
        await pilot.press("j")                      # no longer "down"
        assert lst.cursor == 0
        await pilot.press("ctrl+n")
        assert lst.cursor == 1
        await pilot.press("G")                      # "last" is now only End
        assert lst.cursor == 1
        await pilot.press("end")
        assert lst.cursor == 2
        await pilot.press("f")                      # findings moved to F
        assert app.screen is app.screen_stack[0]
        await pilot.press("F")
        assert app.screen.kind == "findings"
        await pilot.press("F")                      # the pane closes with its own key
        assert app.screen is app.screen_stack[0]
        await pilot.press("f1")
        help_text = app.screen.body.plain
        assert "ctrl+q" in help_text and "[quit] *" in help_text and str(f) in help_text
        assert "[contexts]" in help_text and "problem" not in help_text
        await pilot.press("f1")
        await pilot.press("q")                      # q no longer quits
        await pilot.pause(0.1)
        assert app.is_running
        await pilot.press("ctrl+q")
        await pilot.pause(0.2)
    assert not app.is_running


def test_every_binding_has_a_remappable_id():
    from dicomsniff.output.tui.field_tree import FieldTree
    from dicomsniff.output.tui.line_list import LineList
    from dicomsniff.output.tui.hex_pane import HexPane
    ids = {b.id for cls in (ViewerApp, LineList, FieldTree, HexPane) for b in cls.BINDINGS}
    assert ids == set(ACTIONS)


# -- literal display of hostile values --------------------------------------------------------


@run_async
async def test_hostile_values_are_literal_in_findings_palette_and_help(tmp_path, monkeypatch):
    cap = tmp_path / "hostile.pcap"
    hostile_capture(cap)
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text(f'"{HOSTILE.replace(chr(27), "")}" = "x"\n')
    monkeypatch.setenv("DICOMSNIFF_KEYS", str(keys_file))
    app = ViewerApp(str(cap), show_timing=False)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await diagnosed(app, pilot)
        assert any("[red]X[31m" in p for p in app.keys.problems)
        # association list, detail, findings pane
        assert LITERAL in screen_text(app.assoc_list)[1]
        await pilot.press("f")
        pane = app.screen
        body = pane.body.plain
        assert LITERAL in body and "\x1b" not in body
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "[red]X\\x1b[31m" in svg.replace("&#160;", " ")
        await pilot.press("f")
        # the contexts pane
        await pilot.press("c")
        assert LITERAL in app.screen.body.plain
        await pilot.press("c")
        # the command palette: an association hit names the AE title literally
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Go to association")
        await pilot.pause(0.5)
        from textual.command import CommandList
        options = app.screen.query_one(CommandList)
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        hit = next(p for p in prompts if "association #1" in p)
        assert LITERAL in hit
        svg = app.export_screenshot()
        assert "\x1b" not in svg
        await pilot.press("escape")
        # the help screen shows the bad key file's problem literally
        await pilot.press("question_mark")
        assert "[red]X[31m" in app.screen.body.plain
        # and the notification of that problem was plain text
        assert any("[red]X" in str(n.message) for n in app._notifications)


@run_async
async def test_a_file_view_does_not_follow_new_rows():
    # Following the newest rows is for live captures; reading a file, new associations arriving
    # while the user looks at the last one must not move the selection away from it.
    from test_tui_app import loaded
    app = ViewerApp(str(Path(__file__).resolve().parent.parent / "captures" / "concurrent.pcap"), show_timing=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        lst = app.assoc_list
        assert lst.auto_follow is False and app.ladder.auto_follow is False
        every = list(app.session.associations)
        assert len(every) == 3
        t0, t1 = lst.t0, lst.t1
        for follow, expected in ((False, 1), (True, 2)):
            lst.auto_follow = follow
            lst.set_rows(every[:2], t0, t1, reset=True)
            lst.select(1)
            await pilot.pause()
            lst.set_rows(every, t0, t1)          # a batch brings association 3 while #2 is selected
            assert lst.cursor == expected, (follow, lst.cursor)


@run_async
async def test_view_idle_threshold_reaches_the_diagnosis():
    """`view --idle S` as in the other commands: diag_more.pcap's 2.5 s pause is an idle gap at 2 s, not at 10 s."""
    path = CAPTURES / "diag_more.pcap"
    for idle, expected in ((2.0, True), (10.0, False)):
        app = ViewerApp(str(path), show_timing=False, keys=Keys(), idle_s=idle)
        async with app.run_test(size=(160, 50)) as pilot:
            await diagnosed(app, pilot)
            codes = {f.code for f in app.diagnosis.findings}
            assert ("idle-gap" in codes) is expected, (idle, codes)


def test_view_takes_idle_like_the_other_commands():
    from click.testing import CliRunner

    from dicomsniff.cli import main
    r = CliRunner().invoke(main, ["view", "--help"])
    assert r.exit_code == 0 and "--idle" in r.output and "--slow" in r.output
