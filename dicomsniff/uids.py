"""UID names and UID syntax checks (PS3.6 Annex A registry via pydicom; PS3.5 §9 syntax)."""

from __future__ import annotations

import re
from functools import lru_cache

from pydicom.uid import UID_dictionary

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
    entry = UID_dictionary.get(uid)
    return entry[0] if entry else uid


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
