"""The command line as a user meets it: errors are one line and exit 2, hostile text is escaped.

Runs in-process through click's CliRunner, and a few times as a real process
(``python -m dicomsniff``) to see the exit status and stderr a shell sees.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dicomsniff.cli import main

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CAPTURES = ROOT / "captures"
CORPUS = HERE / "malformed"

_spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
MC = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(MC)

COMMANDS = [["dump"], ["dump", "-V"], ["summary"], ["export", "-o", "-"], ["export", "--jsonl", "-o", "-"]]


def invoke(args: list[str]):
    return CliRunner().invoke(main, args)


def _args(cmd: list[str], path) -> list[str]:
    return [cmd[0], str(path), *cmd[1:]]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dicomsniff", *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)


def _one_line_error(r) -> str:
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1, r.output
    assert lines[0].startswith("dicomsniff: ")
    assert "Traceback" not in r.output
    return lines[0]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_not_a_capture(cmd, tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("this is a text file, not a capture\n")
    r = invoke(_args(cmd, p))
    assert r.exit_code == 2
    assert "not a pcap or pcapng file" in _one_line_error(r)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_missing_file(cmd, tmp_path):
    r = invoke(_args(cmd, tmp_path / "nope.pcap"))
    assert r.exit_code == 2
    assert "No such file" in _one_line_error(r)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_empty_file(cmd, tmp_path):
    p = tmp_path / "empty.pcap"
    p.write_bytes(b"")
    r = invoke(_args(cmd, p))
    assert r.exit_code == 2
    assert "empty" in _one_line_error(r)


def test_directory_is_a_usage_error(tmp_path):
    r = invoke(["dump", str(tmp_path)])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_real_process_errors(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"\x00" * 100)
    r = run("summary", str(p))
    assert r.returncode == 2
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("dicomsniff: ")
    r = run("dump", str(tmp_path / "missing.pcap"))
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_python_m_help():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("dump", "summary", "export"):
        assert cmd in r.stdout
    r = run("dump", "--help")
    assert r.returncode == 0 and "-V" in r.stdout


def test_version():
    r = invoke(["--version"])
    assert r.exit_code == 0 and "dicomsniff" in r.output


def test_dump_without_dicom_says_so(tmp_path):
    p = tmp_path / "http.pcap"
    p.write_bytes(MC.conversation_pcap([(0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                                        (1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")]))
    r = run("dump", str(p))
    assert r.returncode == 0
    assert r.stdout == ""
    assert "no DICOM traffic found" in r.stderr and "--port" in r.stderr
    r = run("dump", "--port", "104", str(p))
    assert "Traceback" not in r.stderr and r.returncode == 0
    s = invoke(["summary", "--no-color", str(p)])
    assert s.exit_code == 0 and "Traceback" not in s.output


def test_dump_reads_stdin():
    data = (CAPTURES / "echo.pcap").read_bytes()
    r = subprocess.run([sys.executable, "-m", "dicomsniff", "dump", "-"], input=data, capture_output=True,
                       timeout=60)
    assert r.returncode == 0
    assert b"A-ASSOCIATE-RQ ECHOSCU" in r.stdout


def test_port_option_validated():
    r = invoke(["dump", "--port", "70000", str(CAPTURES / "echo.pcap")])
    assert r.exit_code == 2 and "Traceback" not in r.output


# -- hostile text -------------------------------------------------------------------------------------

ANSI, MARKUP = MC.ANSI_AE, MC.MARKUP_AE


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("hostile") / "hostile.pcap"
    p.write_bytes((CORPUS / "ansi_markup_text.pcap").read_bytes())
    return p


@pytest.mark.parametrize("cmd", [["dump"], ["dump", "-V"], ["summary"], ["summary", "--no-color"]])
def test_ansi_and_markup_escaped(cmd, hostile):
    r = invoke(_args(cmd, hostile))
    assert r.exit_code == 0, r.output
    out = r.output
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[31mRED\\x1b[0m" in out                 # shown, escaped
    assert MARKUP in out                                   # Rich markup shown literally, not interpreted
    if cmd[0] == "summary":
        assert "0xA700" in out


def test_summary_on_a_terminal_escapes_markup(hostile):
    """With colour forced on (as on a terminal), the AE titles still never become markup or escapes."""
    r = CliRunner().invoke(main, ["summary", str(hostile)], env={"FORCE_COLOR": "1", "TERM": "xterm-256color"},
                           color=True)
    assert r.exit_code == 0
    assert "\x1b[31mRED" not in r.output
    assert "[bold red]X[/]" in r.output.replace("\x1b[0m", "").replace("\x1b[1m", "") or MARKUP in r.output
    assert "\\x1b[31mRED" in r.output


def test_export_keeps_hostile_text_as_data(hostile):
    import json
    r = invoke(["export", str(hostile), "-o", "-"])
    assert r.exit_code == 0
    doc = json.loads(r.output)
    (a,) = doc["associations"]
    assert a["calling_ae"] in (ANSI, "\\x1b[31mRED\\x1b[0m")
    assert a["called_ae"] == MARKUP


# -- one error format, through a real process (issue 13 item 3) ---------------------------------------

def _bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    """(arguments, a part of the one-line message) for every kind of bad input a user can give."""
    text = tmp / "notes.txt"
    text.write_text("not a capture\n")
    echo = str(CAPTURES / "echo.pcap")
    return [
        (["dump", str(tmp / "missing.pcap")], "missing.pcap: No such file or directory"),
        (["summary", str(tmp)], f"{tmp}: Is a directory"),
        (["diagnose", str(tmp)], f"{tmp}: Is a directory"),
        (["export", str(tmp), "-o", "-"], f"{tmp}: Is a directory"),
        (["view", str(tmp)], f"{tmp}: Is a directory"),
        (["diff", str(tmp), echo], f"{tmp}: Is a directory"),
        (["dump", str(text)], "not a pcap or pcapng file"),
        (["export", echo, "-o", str(tmp / "nowhere" / "x.json")], "does not exist"),
        (["export", echo, "-o", str(tmp)], f"{tmp}: Is a directory"),
        (["export", echo], "export: Missing option '-o' / '--output'"),
        (["export"], "export: Missing argument 'CAPTURE'"),
        (["export", echo, "-o", "-", "--slow", "abc"], "--slow: 'abc' is not a valid float range"),
        (["diagnose", echo, "--idle", "-1"], "--idle: -1.0 is not in the range x>0"),
        (["dump", "--port", "70000", echo], "--port: 70000 is not in the range 1<=x<=65535"),
        (["dump", "--bogus", echo], "dump: No such option '--bogus'"),
        (["bogus"], "No such command 'bogus'"),
        (["export-objects", echo, str(text)], "DIRECTORY"),
        (["view", "--live"], "view: --live needs -i IFACE"),
    ]


def test_every_bad_input_is_one_line_and_exit_2(tmp_path):
    for args, part in _bad_inputs(tmp_path):
        r = run(*args)
        lines = r.stderr.splitlines()
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert len(lines) == 1 and lines[0].startswith("dicomsniff: "), (args, r.stderr)
        assert part in lines[0], (args, part, lines[0])
        assert r.stdout == "", (args, r.stdout)


def test_no_deprecation_warnings_with_W_error(tmp_path):
    """Warnings as errors (Click 9 removes get_text_stream): every command still works."""
    echo = str(CAPTURES / "echo.pcap")
    for args in (["dump", echo], ["dump", "-V", echo], ["summary", echo], ["diagnose", echo],
                 ["export", echo, "-o", str(tmp_path / "x.json")], ["export", echo, "--jsonl", "-o", "-"],
                 ["export-objects", str(CAPTURES / "store.pcap"), str(tmp_path / "objects")]):
        r = subprocess.run([sys.executable, "-W", "error", "-m", "dicomsniff", *args], capture_output=True,
                           text=True, timeout=120, cwd=ROOT)
        assert r.returncode == 0, (args, r.stderr)
        assert "Warning" not in r.stderr, (args, r.stderr)
    assert "A-ASSOCIATE-RQ ECHOSCU" in subprocess.run(
        [sys.executable, "-W", "error", "-m", "dicomsniff", "dump", echo], capture_output=True, text=True,
        timeout=60, cwd=ROOT).stdout


def test_summary_keeps_what_existed_before_it_out_of_the_collector_only_while_it_reads(monkeypatch):
    """run_diagnosed freezes what exists when it starts (the modules imported: gc.freeze) while it reads the
    capture, so that the collections its reading triggers do not traverse them, and gives them back to the
    collector after (gc.unfreeze): frozen for good, a caller's garbage would never be freed."""
    import gc
    import dicomsniff.reading as reading
    seen = []
    read_events = reading.read_events

    def reading_events(*args, **kwargs):
        seen.append(gc.get_freeze_count())
        yield from read_events(*args, **kwargs)
    monkeypatch.setattr(reading, "read_events", reading_events)
    before = gc.get_freeze_count()
    result = CliRunner().invoke(main, ["summary", str(CAPTURES / "store.pcap")])
    assert result.exit_code == 0, result.output
    assert seen and seen[0] > before and gc.get_freeze_count() == before
