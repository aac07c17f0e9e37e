"""The README's first set-up command, run exactly as written, as a new user on a stock Debian would.

It runs in a clean copy of the repository (the files git tracks), with ``PATH=/usr/bin:/bin`` so that
``python3`` is the distribution's own interpreter — the one that refuses ``pip install`` outside a
virtual environment (PEP 668, ``EXTERNALLY-MANAGED``). The command ends in the viewer, so it runs in
tmux: the test waits for the association to show, presses ``q`` and checks the command's exit status.
It needs the package index (pip downloads the dependencies), like the README's command itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PY = Path("/usr/bin/python3")


def readme_commands() -> list[str]:
    """The shell commands of the README's "Set up" section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Set up"):text.index("\n## ", text.index("## Set up") + 1)]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_readme_has_the_two_setup_commands():
    first, second = readme_commands()[:2]
    assert "venv" in first and "pip install ." in first and "dicomsniff view captures/" in first
    assert second == (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]


def clean_copy(dst: Path) -> None:
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)


@pytest.mark.skipif(not SYSTEM_PY.exists() or shutil.which("tmux") is None or shutil.which("git") is None,
                    reason="needs the distribution's /usr/bin/python3, tmux and git")
def test_readme_first_command_under_the_system_python(tmp_path):
    first = readme_commands()[0]
    work = tmp_path / "clone"
    work.mkdir()
    clean_copy(work)
    session = f"dsniff-setup-{int(time.time() * 1000) % 10**8}"
    script = tmp_path / "run.sh"
    script.write_text(f"cd {work}\nexport PATH=/usr/bin:/bin\n{first}\necho EXITED-$?\nsleep 60\n")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "50", f"bash {script}"],
                   check=True)

    def pane() -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout

    try:
        end = time.monotonic() + 600          # pip downloads and builds the dependencies
        text = pane()
        while "STORESCU → STORESCP" not in text and "EXITED-" not in text and time.monotonic() < end:
            time.sleep(0.5)
            text = pane()
        assert "STORESCU → STORESCP" in text, text
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        end = time.monotonic() + 15
        while "EXITED-" not in text and time.monotonic() < end:
            time.sleep(0.2)
            text = pane()
        assert "EXITED-0" in text, text
        assert (work / ".venv" / "bin" / "dicomsniff").exists()
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
