"""The viewer's display filter as a Wireshark user expects it (issue 14, items 2 and 3), on real captures.

Non-matching ladder rows and associations are hidden (``m`` shows them again, dimmed); filters reach
any element of command and data sets; what cannot match is an error at the prompt; "apply as filter"
from the tree; ``-Y`` opens filtered and an invalid ``-Y`` is one line and exit status 2; a tmux run
of ``dicomsniff view CAPTURE -g N -Y EXPR`` reads the screen.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dicomsniff.cli import main
from dicomsniff.model.timing import rtt_ns
from dicomsniff.output.tui.app import ViewerApp
from dicomsniff.output.tui.filter import matches_item, parse
from dicomsniff.output.tui.keymap import Keys
from tui_helpers import loaded, run_async

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def viewer(name: str, **kw) -> ViewerApp:
    return ViewerApp(str(CAPTURES / name), show_timing=False, keys=Keys(), **kw)


def names(app) -> list[str]:
    """The ladder's rows as message or PDU names."""
    return [it.message.name if it.message is not None else it.pdu.name for it in app.ladder.items]


async def type_filter(pilot, text: str) -> None:
    app = pilot.app
    await pilot.press("slash")
    app.query_one("#filter").value = ""
    await pilot.press(*text)
    await pilot.pause(0.1)


@run_async
async def test_filter_hides_rows_and_m_shows_them_dimmed():
    app = viewer("find_mwl.pcap")
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        everything = list(app.ladder.items)
        await type_filter(pilot, "status != success")
        await pilot.press("enter")
        await pilot.pause(0.1)
        # only the rows the expression holds for: the two pending responses, nothing else
        expr = parse("status != success")
        a = app.assoc_list.selected
        want = [it for it in everything if matches_item(expr, a, it)]
        assert len(want) == 2 and app.ladder.items == want
        assert names(app) == ["C-FIND-RSP", "C-FIND-RSP"]
        assert all(it.message.command.status == 0xFF00 for it in app.ladder.items)
        # m: every row again, the ones that do not match dimmed
        await pilot.press("m")
        await pilot.pause(0.1)
        assert app.show_all and app.ladder.count == len(everything)
        # a row that does not match is drawn dimmed, a matching one as without a filter
        rows = [app.ladder.row_text(i) for i in range(app.ladder.count)]
        await pilot.press("m")
        await pilot.pause(0.1)
        assert not app.show_all and app.ladder.items == want
        app.apply_filter("")
        await pilot.pause(0.1)
        plain = [app.ladder.row_text(i) for i in range(app.ladder.count)]
        for i, it in enumerate(everything):
            assert rows[i].plain == plain[i].plain
            assert (rows[i].spans == plain[i].spans) == (it in want), (i, rows[i].plain)


@run_async
async def test_associations_without_a_matching_row_leave_the_list():
    """move.pcap: two C-MOVE associations and the C-STORE sub-association they caused."""
    app = viewer("move.pcap")
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        assert app.assoc_list.count == 3
        await type_filter(pilot, "(0008,0052) == STUDY")          # the C-MOVE identifier's level, by tag
        assert [a.number for a in app.assoc_list.shown] == [1, 3]
        assert set(names(app)) == {"C-MOVE-RQ"}
        await type_filter(pilot, "Modality == MR")                 # an element of a C-STORE data set
        assert [a.number for a in app.assoc_list.shown] == [2]
        assert names(app) == ["C-STORE-RQ"]
        await pilot.press("escape")
        await pilot.press("m")
        await pilot.pause(0.1)
        assert app.assoc_list.count == 3 and app.ladder.assoc.number == 2


@pytest.mark.parametrize("text, message", [
    ("command == C-STOR", "unknown command 'C-STOR' (did you mean C-STORE?)"),
    ("PatientIDD == 1", "unknown field 'PatientIDD' (did you mean PatientID?)"),
    ("port == abc", "port is a number, not 'abc'"),
    ("rtt > fast", "rtt needs a time"),
])
@run_async
async def test_what_cannot_match_is_an_error_at_the_prompt(text, message):
    app = viewer("find_mwl.pcap")
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        before = app.ladder.count
        await type_filter(pilot, text)
        box, label = app.query_one("#filter"), app.query_one("#filter-error")
        assert box.has_class("-invalid") and label.has_class("-open")
        assert message in str(label.render())
        await pilot.press("enter")                 # enter does not apply it either
        await pilot.pause()
        assert app.expr is None and app.ladder.count == before and app.assoc_list.count == 1


@run_async
async def test_apply_as_filter_from_the_tree_and_the_palette():
    app = viewer("find_mwl.pcap", goto=14)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        item = app.ladder.selected
        assert item.message.name == "C-FIND-RSP"
        tree = app.tree
        assert tree.select_field(lambda f: f.key == "PatientName")
        tree.focus()
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause(0.1)
        assert app.filter_text == 'PatientName == "ROE^JANE"'
        assert app.query_one("#filter").value == app.filter_text
        assert app.ladder.items == [item] and app.ladder.selected is item      # the row stays selected
        # the palette's "Apply as filter" on a sequence: the sequence exists
        assert tree.select_field(lambda f: f.key == "ScheduledProcedureStepSequence")
        await pilot.pause()
        assert app.apply_field_filter()
        assert app.filter_text == "ScheduledProcedureStepSequence exists"
        assert names(app) == ["C-FIND-RQ", "C-FIND-RSP", "C-FIND-RSP"]
        # a field that is not an element says so and changes nothing
        await pilot.pause(0.2)
        tree.move_cursor(tree.root)
        await pilot.pause()
        assert not app.apply_field_filter()
        assert app.filter_text == "ScheduledProcedureStepSequence exists"


@run_async
async def test_display_filter_and_goto_open_the_viewer_as_asked():
    """-Y opens filtered; -g on a frame the filter hides shows every row (dimmed) to select it."""
    app = viewer("find_mwl.pcap", display_filter="StudyInstanceUID ~ 1.2.826", goto=14)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        await pilot.pause(0.1)
        assert app.filter_text == "StudyInstanceUID ~ 1.2.826" and not app.show_all
        assert names(app) == ["C-FIND-RSP", "C-FIND-RSP"]
        sel = app.ladder.selected.message
        assert sel.name == "C-FIND-RSP" and 14 in sel.frames
        assert "filter: StudyInstanceUID ~ 1.2.826" in app.query_one("#status").render().plain
    app = viewer("find_mwl.pcap", display_filter="status != success", goto=16)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        await pilot.pause(0.1)
        assert app.show_all and app.ladder.selected.pdu.name == "A-RELEASE-RQ"


def test_rtt_filter_keeps_the_exchanges_answered_slower_than_asked():
    """rtt > T holds for the messages of exchanges whose request → final response time is over T."""
    from tests.test_tui_filter import assocs
    from dicomsniff.output.tui.filter import filter_associations, message_pairs, evaluate
    a = assocs("pynetdicom.pcap")[0]
    times = sorted({rtt_ns(ex) for ex in a.exchanges if rtt_ns(ex) is not None})
    assert len(times) >= 3
    cut = times[len(times) // 2]
    expr = parse(f"rtt > {cut / 1e6}ms")
    kept = {id(ex) for m, ex in message_pairs(a) if evaluate(expr, a, m, ex)}
    assert kept == {id(ex) for ex in a.exchanges if rtt_ns(ex) is not None and rtt_ns(ex) > cut}
    assert filter_associations(parse(f"rtt > {times[-1] / 1e9 + 1}"), [a]) == []


def test_invalid_display_filter_is_one_line_and_status_2():
    r = CliRunner().invoke(main, ["view", str(CAPTURES / "find_mwl.pcap"), "-Y", "command == C-STOR"])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "did you mean C-STORE?" in lines[0] and lines[0].startswith("dicomsniff: -Y ")
    r = CliRunner().invoke(main, ["view", str(CAPTURES / "find_mwl.pcap"), "-g", "0"])
    assert r.exit_code == 2


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_tmux_view_with_goto_and_display_filter():
    """A real terminal: the filtered ladder, the selected response and its data set on screen."""
    exe = shutil.which("dicomsniff") or f"{sys.executable} -m dicomsniff"
    session = f"dsniff-v1-{int(time.time() * 1000) % 10**8}"
    expr = 'StudyInstanceUID ~ "1.2.826"'
    # a tmux server started from pytest inherits its COLUMNS / LINES (80×24), which the app would
    # take over the pane's real size; and the pane takes its -x/-y size only once tmux settles
    settle = "for i in $(seq 200); do [ \"$(stty size | cut -d' ' -f2)\" -ge 160 ] && break; sleep 0.1; done"
    cmd = (f"unset COLUMNS LINES; cd {shlex.quote(str(CAPTURES.parent))} && {settle}; "
           f"{exe} view captures/find_mwl.pcap -g 14 "
           f"-Y {shlex.quote(expr)}; echo EXITED-$?; sleep 30")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "50", cmd], check=True)
    # keep it 160×50 whatever the server's window-size policy does later (the app follows a resize)
    subprocess.run(["tmux", "set-option", "-t", session, "window-size", "manual"], capture_output=True)
    subprocess.run(["tmux", "resize-window", "-t", session, "-x", "160", "-y", "50"], capture_output=True)
    try:
        def pane() -> str:
            return subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                  capture_output=True, text=True).stdout
        end = time.monotonic() + 40
        text = pane()
        while not ("PatientName" in text and "filter:" in text) and time.monotonic() < end:
            time.sleep(0.2)
            text = pane()
        assert f"filter: {expr}" in text
        assert text.count("C-FIND-RSP") >= 2 and "A-ASSOCIATE-RQ" not in text and "C-FIND-RQ" not in text
        assert "(0010,0010) PN [8] PatientName: ROE^JANE" in text          # the selected match's data set
        assert "Status: 0xFF00" in text                                     # a response opens on its Status
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        end = time.monotonic() + 10
        while "EXITED-0" not in text and time.monotonic() < end:
            time.sleep(0.2)
            text = pane()
        assert "EXITED-0" in text
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


@run_async
async def test_help_is_written_for_people_and_fits_an_80_column_terminal():
    from textual.widgets import Static
    app = viewer("find_mwl.pcap")
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        body = app.screen.body.plain
        width = app.screen.query_one("#panel-body", Static).content_region.width
        assert width >= 70 and max(len(line) for line in body.splitlines()) <= width
        # what each key does, and the filter language with examples, not a docstring
        assert "→" in body and "[tree.apply_filter]" in body and "[show_all]" in body
        for example in ('PatientID == "123456"', "(0008,0052) == STUDY", "ScheduledStationAETitle exists",
                        'StudyInstanceUID ~ "1.2.826"', "rtt > 1s", "-g FRAME", "-Y EXPR"):
            assert example in body, example
        assert "Grammar" not in body and "::" not in body
        table = body.split("Display filter")[1].split("Fields:")[0]
        examples = [re.split(r"\s{2,}", line.strip())[0] for line in table.splitlines()
                    if line.startswith("  ") and not line.startswith("   ")
                    and re.match(r"\s+\S+ (==|!=|~|>|exists)", line)]
        assert len(examples) >= 10
        for example in examples:
            parse(example)                                   # every example in the table parses
