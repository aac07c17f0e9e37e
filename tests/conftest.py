"""Test session set-up: the interpreter's own scripts directory (the project's .venv) is searched for
``dicomsniff`` too, after everything already on PATH, so tests that run the installed command find it
without shadowing Debian's DCMTK tools by pynetdicom's same-named scripts."""

import os
import sys
from pathlib import Path

_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + _bin
