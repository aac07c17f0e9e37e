"""The ``dicomsniff view`` app driven headless with Textual's pilot, on real and built captures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dicomsniff.capture.reader import open_capture
from dicomsniff.cli import main
from dicomsniff.output.tui.app import ViewerApp
from dicomsniff.output.tui.field_tree import FieldRef
from dicomsniff.output.tui.rows import item_search_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capwriter import ACK, ETHERNET, FIN, PSH, frame, pcap_bytes, tcp_packet  # noqa: E402
from pdu_fixtures import assoc_rj, assoc_rq  # noqa: E402
from tui_helpers import loaded, run_async, screen_text

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
HOSTILE = "[red]X\x1b[31m"


def hostile_capture(path: Path) -> None:
    """A client whose calling AE title holds Rich markup and an ANSI escape, rejected by the server."""
    c, s = ("10.0.0.1", 40000), ("10.0.0.2", 104)
    seq = {True: 1000, False: 5000}
    records, ts = [], 1_000_000_000

    def send(from_client: bool, payload: bytes, flags: int = PSH | ACK) -> None:
        nonlocal ts
        (src, sp), (dst, dp) = (c, s) if from_client else (s, c)
        records.append((ts, frame(ETHERNET, tcp_packet(src, dst, sp, dp, seq=seq[from_client],
                                                       ack=seq[not from_client], flags=flags,
                                                       payload=payload))))
        seq[from_client] += len(payload) + (1 if flags & FIN else 0)
        ts += 1_000_000

    send(True, assoc_rq(HOSTILE, "ANY-SCP"))
    send(False, assoc_rj(1, 1, 3))
    send(True, b"", FIN | ACK)
    send(False, b"", FIN | ACK)
    path.write_bytes(pcap_bytes(records, ETHERNET))


@run_async
async def test_pynetdicom_status_a700_field_and_hex_highlight():
    app = ViewerApp(str(CAPTURES / "pynetdicom.pcap"), show_timing=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        assert app.assoc_list.count == 1
        assert app.ladder.count > 20
        assert app.ladder.cursor == 0 and app.ladder.selected.pdu.name == "A-ASSOCIATE-RQ"
        await pilot.press("tab")
        assert app.focused is app.ladder
        # walk down the ladder with j until the failing C-STORE-RSP
        for _ in range(app.ladder.count):
            item = app.ladder.selected
            if item.message is not None and item.message.command.status == 0xA700:
                break
            await pilot.press("j")
        else:
            pytest.fail("no C-STORE-RSP with 0xA700 in the ladder")
        await pilot.pause()
        assert item.message.name == "C-STORE-RSP"
        ref = app.tree.selected_ref
        assert isinstance(ref, FieldRef) and ref.field.key == "Status"
        assert "0xA700" in str(app.tree.cursor_node.label)
        f = ref.field
        assert app.hex.highlight == (f.offset, f.offset + f.length)
        # the highlighted bytes, re-read from the capture file, are the whole Status element:
        # tag (0000,0900), length 2, value 0xA700 (implicit VR little endian)
        data = app.hex.source.read(f.offset, f.length)
        assert data == [0x00, 0x00, 0x00, 0x09, 0x02, 0x00, 0x00, 0x00, 0x00, 0xA7]
        assert any("00 a7" in line for line in screen_text(app.hex))
        # ladder shows the failure
        assert any("C-STORE-RSP Failure" in line and "0xA700" in line for line in screen_text(app.ladder))
        # moving in the tree moves the highlight to the new field's span
        await pilot.press("tab")
        assert app.focused is app.tree
        await pilot.press("up")
        ref2 = app.tree.selected_ref
        assert ref2.field is not f
        assert app.hex.highlight in (None, (ref2.field.offset, ref2.field.offset + ref2.field.length))


@run_async
async def test_pdu_hex_comes_from_the_frames():
    app = ViewerApp(str(CAPTURES / "echo.pcap"))
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        item = app.ladder.selected
        assert item.pdu is not None and item.pdu.name == "A-ASSOCIATE-RQ"
        src = app.hex.source
        data = bytes(src.read(0, src.length))
        assert data[:1] == b"\x01" and len(data) == 6 + item.pdu.length
        assert b"ECHOSCU" in data and b"STORESCP" in data
        assert "from frame" in screen_text(app.hex)[0]


@run_async
async def test_filter_state_rejected_shows_three_rows_and_invalid_input_is_marked():
    app = ViewerApp(str(CAPTURES / "reject.pcap"))
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        await pilot.press("slash")
        box = app.query_one("#filter")
        assert app.focused is box
        await pilot.press(*"state == released")
        await pilot.pause()
        assert app.assoc_list.count == 0
        box.value = ""
        await pilot.press(*"state == rejected")
        await pilot.pause()
        assert app.assoc_list.count == 3
        rows = screen_text(app.assoc_list)
        assert sum("rejected" in r for r in rows) == 3
        # an invalid expression is marked and changes nothing
        await pilot.press(*" and")
        await pilot.pause()
        assert box.has_class("-invalid")
        assert app.query_one("#filter-error").has_class("-open")
        assert app.assoc_list.count == 3
        await pilot.press("escape")
        assert app.focused is app.assoc_list
        # contexts and findings panels open with one key
        await pilot.press("f")
        assert "rejected" in str(app.screen.body)
        await pilot.press("escape")
        await pilot.press("c")
        assert app.screen.title_text == "Presentation contexts"
        await pilot.press("c")
        assert app.screen is app.screen_stack[0]


@run_async
async def test_hostile_ae_title_is_shown_literally(tmp_path):
    cap = tmp_path / "hostile.pcap"
    hostile_capture(cap)
    app = ViewerApp(str(cap))
    async with app.run_test(size=(160, 40)) as pilot:
        await loaded(app, pilot)
        assert app.assoc_list.count == 1
        literal = "[red]X\\x1b[31m"
        row = screen_text(app.assoc_list)[1]
        assert literal in row
        assert literal in app.query_one("#detail").render().plain
        labels = [str(n.label) for n in _nodes(app.tree.root)]
        assert any(literal in lab for lab in labels)
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "[red]X" in svg


def _nodes(node):
    yield node
    for child in node.children:
        yield from _nodes(child)


@run_async
async def test_search_goto_and_export(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = ViewerApp(str(CAPTURES / "concurrent.pcap"))
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(app, pilot)
        assert app.assoc_list.count == 3
        # search decoded values: the MR object of association SCU2
        app.search_query = "MR Image Storage"
        app.action_search_next(1)
        await pilot.pause()
        item = app.ladder.selected
        # the first hit is the first row whose decoded values name it (the A-ASSOCIATE-RQ proposing it)
        assert item is not None and "mr image storage" in item_search_text(item)
        assert app.assoc_list.selected.calling_ae.strip() == "SCU2"
        first = (app.assoc_list.cursor, app.ladder.cursor)
        await pilot.press("n")
        assert (app.assoc_list.cursor, app.ladder.cursor) != first
        # go to association 2, then export it
        assert app.goto_association(2)
        assert app.assoc_list.selected.number == 2
        path = app.action_export()
        doc = json.loads((tmp_path / path).read_text())
        assert doc["number"] == 2 or doc.get("association", {}).get("number") == 2 or "2" in path
        # a second export never replaces the first: it takes the next free name
        first_bytes = (tmp_path / path).read_bytes()
        again = app.action_export()
        assert again != path and again.endswith("-2.json")
        assert (tmp_path / path).read_bytes() == first_bytes
        assert json.loads((tmp_path / again).read_text()) == json.loads(first_bytes)
        # go to a frame of association 3
        a3 = next(a for a in app.session.associations if a.number == 3)
        assert app.goto_frame(a3.last_frame)
        assert app.assoc_list.selected.number == 3


@run_async
async def test_unreadable_capture_shows_a_message(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not a capture\n")
    app = ViewerApp(str(bad))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.error is not None and "not a pcap" in app.error
        assert "cannot read the capture" in str(app.query_one("#status").render())
        await pilot.press("q")


def test_cli_view_errors_are_one_line(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    r = CliRunner().invoke(main, ["view", str(bad)])
    assert r.exit_code == 2 and "not a pcap or pcapng file" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["view", str(tmp_path / "missing.pcap")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["view", "--live", "-i", "no-such-iface0"])
    assert r.exit_code == 2 and "no interface named" in r.output
    r = CliRunner().invoke(main, ["view"])
    assert r.exit_code == 2


class FakeLive:
    """Stands in for capture.live.LiveSource: frames from a file, a few at a time, until closed."""

    def __init__(self, path: Path):
        self.frames = list(open_capture(str(path)))
        self.interface = "fake0"
        self.linktype = ETHERNET
        self.snaplen = 262144
        self.notices: list = []
        self.bytes_read = 0
        self.size = None
        self.closed = False

    def iter_frames(self, stop, idle=False):
        for f in self.frames:
            if stop.is_set() or self.closed:
                return
            f.file_offset = None
            yield f
            yield None
            time.sleep(0.005)
        while not (stop.is_set() or self.closed):
            time.sleep(0.02)
            yield None

    def stats(self):
        return (len(self.frames), 0)

    def close(self):
        self.closed = True


@run_async
async def test_live_source_appears_follows_and_saves(tmp_path):
    from dicomsniff.capture.pcapwriter import PcapWriter
    out = tmp_path / "live.pcap"
    live = FakeLive(CAPTURES / "concurrent.pcap")
    writer = PcapWriter(str(out), ETHERNET)
    app = ViewerApp(live=live, writer=writer)
    async with app.run_test(size=(160, 50)) as pilot:
        end = time.monotonic() + 10
        while len(app.session.associations) < 3 or app.analyzer.frames < len(live.frames):
            assert time.monotonic() < end
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        assert app.assoc_list.count == 3
        assert app.ladder.count > 0
        # nobody moved the cursor: the view followed the newest association
        assert app.assoc_list.cursor == 2 and app.ladder.assoc is app.session.associations[2]
        await pilot.press("q")
    assert live.closed and app.finished.is_set()
    assert out.stat().st_size > 1000
    assert len(list(open_capture(str(out)))) == len(live.frames)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
def test_tmux_smoke(tmp_path):
    exe = shutil.which("dicomsniff") or f"{sys.executable} -m dicomsniff"
    session = f"dsniff-{int(time.time() * 1000) % 10**8}"
    cmd = f"{exe} view {CAPTURES / 'store.pcap'}; echo EXITED-$?; sleep 30"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "50", cmd], check=True)
    try:
        def pane() -> str:
            return subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                  capture_output=True, text=True).stdout
        end = time.monotonic() + 30            # generous: a loaded machine (CI's 2 cores) starts slowly
        text = pane()
        while not ("STORESCU → STORESCP" in text and "C-STORE-RQ" in text) and time.monotonic() < end:
            time.sleep(0.2)
            text = pane()
        assert "STORESCU → STORESCP" in text and "C-STORE-RQ" in text
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        end = time.monotonic() + 10
        while "EXITED-0" not in text and time.monotonic() < end:
            time.sleep(0.2)
            text = pane()
        assert "EXITED-0" in text
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
