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
