"""Golden files: the text of `dump`, `summary` and `diagnose` on every shipped capture, byte for byte.

A change in what a user reads shows up here as a diff to review, not silently. When a change is meant,
regenerate and read the diff before committing it:

    DICOMSNIFF_GOLDEN=update python3 -m pytest -q tests/test_golden_text.py && git diff tests/golden/
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
CAPTURES = sorted(p.name for p in (ROOT / "captures").glob("*.pcap"))
COMMANDS = {"dump": ["dump"], "summary": ["summary", "--no-color"], "diagnose": ["diagnose", "--no-color"]}
UPDATE = os.environ.get("DICOMSNIFF_GOLDEN") == "update"


def run(command: str, capture: str) -> tuple[str, int]:
    """The command as a user runs it from the repository root (relative path, no terminal, wide lines)."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TZ": "UTC"}
    r = subprocess.run([sys.executable, "-m", "dicomsniff", *COMMANDS[command], f"captures/{capture}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    return r.stdout + (f"--- stderr\n{r.stderr}" if r.stderr else "") + f"--- exit {r.returncode}\n", r.returncode


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("capture", CAPTURES)
def test_text_output_is_as_recorded(command, capture):
    text, _ = run(command, capture)
    golden = GOLDEN / f"{Path(capture).stem}.{command}.txt"
    if UPDATE:
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden.name}: run with DICOMSNIFF_GOLDEN=update and review it"
    assert text == golden.read_text(), f"{command} {capture} differs from {golden.name}"


def test_every_golden_file_belongs_to_a_capture():
    names = {f"{Path(c).stem}.{cmd}.txt" for c in CAPTURES for cmd in COMMANDS}
    assert {p.name for p in GOLDEN.glob("*.txt")} <= names
