"""UID names and UID syntax checks (PS3.6 Annex A registry via pydicom; PS3.5 §9 syntax).

Also :func:`pydicom_table`: pydicom's generated registry tables without importing pydicom itself,
whose ``__init__`` pulls in ``pydicom.config``, the pixel handlers and numpy (~0.1 s of start-up
that ``--version`` and ``summary`` do not need; ``bench/README.md`` has the measurement).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import threading
from functools import lru_cache

from .textsafe import safe_text

# PS3.5 §9.1: components of digits without leading zeros (except "0" itself), dot-separated.
_UID_RE = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
MAX_UID_LEN = 64


def uid_name(uid: str) -> str:
    """The registered name of ``uid`` (e.g. "Verification SOP Class"), else ``uid`` itself; never raises."""
    if not isinstance(uid, str):
        return "" if uid is None else str(uid)
    if len(uid) > MAX_UID_LEN:      # never registered; keeps hostile strings out of the cache
        return uid
    return _registered_name(uid)


@lru_cache(maxsize=4096)
def _registered_name(uid: str) -> str:
    """Looks in pydicom's copy of the PS3.6 Annex A registry directly
    (``UID(uid).name`` would also warn on hostile, invalid strings)."""
    entry = pydicom_table("_uid_dict", "UID_dictionary").get(uid)
    return entry[0] if entry else uid


@lru_cache(maxsize=None)
def pydicom_table(module: str, name: str) -> dict:
    """``pydicom.<module>.<name>`` (``_uid_dict.UID_dictionary``, ``_dicom_dict.DicomDictionary``),
    loaded on first use.

    These modules are plain dictionary literals; when pydicom is not imported yet, the file is
    executed on its own (a few ms) instead of importing the package. Any surprise in pydicom's
    layout falls back to the ordinary import.
    """
    if "pydicom" not in sys.modules:
        try:
            spec = importlib.util.find_spec("pydicom")
            if spec is not None and spec.submodule_search_locations:
                path = os.path.join(list(spec.submodule_search_locations)[0], module + ".py")
                sub = importlib.util.spec_from_file_location(f"dicomsniff._pydicom{module}", path)
                if sub is not None and sub.loader is not None:
                    mod = importlib.util.module_from_spec(sub)
                    sub.loader.exec_module(mod)
                    table = getattr(mod, name)
                    if isinstance(table, dict):
                        return table
        except Exception:               # not the layout we know: take the slow, sure way
            pass
    load_pydicom()
    return getattr(importlib.import_module("pydicom." + module), name)


class _HideNumpy:
    """A meta-path finder that makes ``import numpy`` fail, for the importing thread only (load_pydicom)."""

    def __init__(self, thread: int):
        self.thread = thread

    def find_spec(self, name, path=None, target=None):
        if (name == "numpy" or name.startswith("numpy.")) and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden while pydicom loads)", name=name)
        return None


def load_pydicom() -> None:
    """Import pydicom (once; call before any ``from pydicom…`` import).

    pydicom imports numpy at start-up only for its pixel-data handlers, and guards every use with
    ``config.have_numpy``: values decode the same without it (issue 18, item 3: ~0.07 s of the 0.16 s
    pydicom costs). dicomsniff never decodes pixels, so numpy is hidden while pydicom loads, unless
    something imported it already (the tables' Dask and Arrow do; pydicom then uses it as usual).
    """
    if "pydicom.dataset" in sys.modules:
        return
    hide = None
    if "numpy" not in sys.modules:
        hide = _HideNumpy(threading.get_ident())
        sys.meta_path.insert(0, hide)
    try:
        import pydicom.dataset  # noqa: F401
    finally:
        if hide is not None:
            try:
                sys.meta_path.remove(hide)
            except ValueError:
                pass


def uid_display(uid: str | None) -> str:
    """``"1.2.840.10008.1.1 (Verification SOP Class)"``, or the UID alone when unknown; terminal-safe."""
    if uid is None:
        return "(none)"
    if uid == "":
        return "(empty)"
    name = uid_name(uid)
    if name == uid:
        return safe_text(uid)
    return f"{safe_text(uid)} ({safe_text(name)})"


def is_valid_uid(s: object) -> bool:
    """True if ``s`` is a UID per PS3.5 §9.1: ≤ 64 chars, digits and dots, no leading zeros in components."""
    return isinstance(s, str) and 0 < len(s) <= MAX_UID_LEN and _UID_RE.fullmatch(s) is not None
