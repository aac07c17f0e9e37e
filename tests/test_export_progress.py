"""``export-objects``' progress bar: on stderr when it is a terminal, never in a pipe (issue 6 §3)."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time

import pytest

from tests.test_export_objects import CAPTURES, run

EXE = shutil.which("dicomsniff")


def read_all(fd: int, proc: subprocess.Popen, timeout: float = 30) -> bytes:
    """Everything written to a pty master until the process ends (EIO once the slave side is closed)."""
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    return b"".join(chunks)


@pytest.mark.skipif(EXE is None or not sys.platform.startswith("linux"), reason="needs the installed CLI and a pty")
def test_bar_on_a_terminal_summary_on_stdout(tmp_path):
    master, slave = os.openpty()
    env = dict(os.environ, COLUMNS="120", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([EXE, "export-objects", str(CAPTURES / "store.pcap"), str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    try:
        err = read_all(master, proc)
        out, _ = proc.communicate(timeout=30)
    finally:
        os.close(master)
    assert proc.returncode == 0
    assert b"reading capture" in err                               # the bar was drawn on the terminal
    assert out.decode().startswith("5 object(s) written to ")      # the summary went to stdout, plain
    assert b"\x1b" not in out
    assert len(list((tmp_path / "out").iterdir())) == 5


def test_no_bar_when_stderr_is_not_a_terminal(tmp_path):
    (tmp_path / "out").mkdir()                  # an existing folder: nothing to say on stderr
    result = run(CAPTURES / "store.pcap", tmp_path / "out")
    assert result.exit_code == 0
    assert "reading capture" not in result.output and "\x1b" not in result.output
    assert result.stderr == ""
