"""The PS3.15 Annex E Basic Application Level Confidentiality Profile applied to parsed data sets.

Actions come from :mod:`.annex_e` (the standard's Table E.1-1). Choices where the table leaves one:

- ``D`` and ``Z`` (and ``Z/D``): an empty value stays empty (a C-FIND return key keeps its meaning); a
  non-empty one gets a dummy of its VR, the same dummy for the same original everywhere in the capture
  (``ANON^0001`` for a PN, ``ANON0001`` for text); dates are shifted (below), times emptied; a sequence
  loses its items.
- ``X`` and ``X/…``: removed from stored objects; in query/retrieve identifiers and their responses the
  key is kept with an empty value instead, so the query's key set (often the problem reported) survives.
- ``U`` and every other UI value that is not a class, transfer syntax or other registered UID: replaced by
  a ``2.25.…`` UID, the same replacement for the same original everywhere (command sets too), of the
  original's length where it can be, so lengths rarely change.
- Beyond the table, nothing of these VRs leaks: every remaining PN gets a dummy, every remaining DA and DT
  is shifted, every LO/SH whose keyword names an ID or number gets a dummy; private elements are removed.
- Options: ``retain-uids`` keeps UIDs (Retain UIDs Option); ``retain-dates`` keeps DA, DT and TM values
  (Retain Longitudinal Temporal Information with Full Dates Option); otherwise dates move by one random
  whole number of weeks for the whole capture (Modified Dates). ``keep_pixels`` keeps Pixel Data, which is
  otherwise zeros of the same length (encapsulated: each fragment zeroed, lengths kept).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from . import annex_e
from .dataset import PIXEL_DATA, Element, implicit_vr, keyword_of, pad
from ..uids import load_pydicom

PROFILES = ("basic", "retain-uids", "retain-dates")
# Code values for De-identification Method Code Sequence (PS3.16 CID 7050).
CODES = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "retain-uids": ("113110", "Retain UIDs Option"),
    "retain-dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "modified-dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
}
MAX_LEN = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "PN": 64, "DS": 16, "IS": 12}
TEXT_VRS = frozenset(("AE", "AS", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"))
KEEP_UID_KEYWORDS = re.compile(r"(ClassUID|TransferSyntaxUID|CodingSchemeUID|ContextUID|"
                               r"ImplementationClassUID|MappingResourceUID|ContextGroupExtensionCreatorUID)s?$")
ID_KEYWORD = re.compile(r"(ID|IDs|Number|Numbers|Identifier)$")
_DATE = re.compile(rb"^(\d{4})(\d{2})?(\d{2})?")


def table_action(tag: int) -> str | None:
    action = annex_e.ACTIONS.get(tag)
    if action is None:
        g, e = tag >> 16, tag & 0xFFFF
        for mg, me, gm, em, act in annex_e.MASKED:
            if g & gm == mg and e & em == me:
                return act
    return action


def standard_uid(uid: str) -> bool:
    """A registered UID (SOP class, transfer syntax, well-known instance…): kept as it is."""
    if uid.startswith("1.2.840.10008."):
        return True
    load_pydicom()
    from pydicom.uid import UID_dictionary
    return uid in UID_dictionary


@dataclass
class Options:
    profile: str = "basic"
    keep_pixels: bool = False
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    date_shift_days: int | None = None

    @property
    def retain_uids(self) -> bool:
        return self.profile == "retain-uids"

    @property
    def retain_dates(self) -> bool:
        return self.profile == "retain-dates"


class Mapper:
    """Original → replacement tables, consistent over the whole capture (what ``--map`` writes)."""

    def __init__(self, options: Options):
        self.options = options
        if options.date_shift_days is None:
            rnd = int.from_bytes(hmac.new(options.secret, b"date-shift", hashlib.sha256).digest()[:4], "big")
            options.date_shift_days = -7 * (53 + rnd % 468)         # 1 to 10 years back, whole weeks
        self.shift = datetime.timedelta(days=options.date_shift_days)
        self.uids: dict[str, str] = {}
        self._uid_back: set[str] = set()
        self.texts: dict[tuple[str, str], str] = {}
        self._text_counts: dict[str, int] = {}
        self.dates: dict[str, str] = {}

    def _digest(self, what: bytes) -> int:
        return int.from_bytes(hmac.new(self.options.secret, what, hashlib.sha256).digest(), "big")

    def uid(self, old: str) -> str:
        new = self.uids.get(old)
        if new is not None:
            return new
        n = max(len(old), 44)
        salt = 0
        while True:
            d = self._digest(b"uid:" + old.encode() + salt.to_bytes(2, "big"))
            head = str(10 ** 38 + d % (2 ** 128 - 10 ** 38))        # 39 digits, < 2**128
            new = "2.25." + head
            extra = n - len(new)
            if extra >= 2:
                tail = (str(self._digest(b"tail:" + old.encode() + salt.to_bytes(2, "big"))) * 2).lstrip("0")
                new += "." + tail[:extra - 1]
            if new not in self._uid_back and new != old:
                break
            salt += 1
        self.uids[old] = new
        self._uid_back.add(new)
        return new

    def text(self, vr: str, old: str) -> str:
        key = (vr if vr == "PN" else "text", old)
        new = self.texts.get(key)
        if new is None:
            kind = key[0]
            self._text_counts[kind] = self._text_counts.get(kind, 0) + 1
            n = self._text_counts[kind]
            new = f"ANON^{n:04d}" if vr == "PN" else f"ANON{n:04d}"
            self.texts[key] = new
        limit = MAX_LEN.get(vr)
        return new[:limit] if limit else new

    def date(self, old: str, vr: str) -> str:
        """A DA (or DT, or a range/multi-value of them) shifted; unparseable parts become empty."""
        key = vr + ":" + old
        new = self.dates.get(key)
        if new is None:
            parts = []
            for value in old.split("\\"):
                parts.append("-".join(self._one_date(p.strip(), vr) for p in value.split("-")))
            new = "\\".join(parts)
            self.dates[key] = new
        return new

    def _one_date(self, text: str, vr: str) -> str:
        if not text:
            return ""
        m = _DATE.match(text.encode("latin-1", "replace"))
        if not m:
            return ""
        y, mo, d = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
        try:
            day = datetime.date(y, mo, d) + self.shift
        except (ValueError, OverflowError):
            return ""
        full = f"{day.year:04d}{day.month:02d}{day.day:02d}"
        width = m.end()
        rest = text[width:] if vr == "DT" else ""
        return full[:width] + rest

    def table(self) -> dict:
        return {
            "date_shift_days": 0 if self.options.retain_dates else self.options.date_shift_days,
            "uids": dict(self.uids),
            "names": {old: new for (kind, old), new in self.texts.items() if kind == "PN"},
            "values": {old: new for (kind, old), new in self.texts.items() if kind != "PN"},
            "dates": {k.split(":", 1)[1]: v for k, v in self.dates.items()},
        }


@dataclass
class Stats:
    removed: int = 0
    replaced: int = 0
    uids: int = 0
    pixels: int = 0


def _text(el: Element) -> str:
    return el.value.decode("latin-1").rstrip(" \0")


def _set(el: Element, text: str) -> None:
    el.value = pad(text.encode("latin-1", "replace"), el.vr)


class Cleaner:
    """Applies the profile to one data set (``role``: "object", "identifier", "other") or a command set."""

    def __init__(self, mapper: Mapper):
        self.mapper = mapper
        self.options = mapper.options
        self.stats = Stats()

    # -- command sets ------------------------------------------------------------------------------

    def command(self, elems: list[Element]) -> list[Element]:
        """Command sets keep every element; instance UIDs (Affected/Requested SOP Instance UID) are remapped."""
        for el in elems:
            if el.vr == "UI" and not self.options.retain_uids:
                self._uid(el)
        return elems

    # -- data sets ---------------------------------------------------------------------------------

    def dataset(self, elems: list[Element], role: str, *, top: bool = True) -> list[Element]:
        out: list[Element] = []
        keep_keys = role == "identifier"
        for el in elems:
            tag = el.tag
            if (tag >> 16) & 1:                       # private: removed (Basic Profile)
                self.stats.removed += 1
                continue
            if tag == PIXEL_DATA:
                if not self.options.keep_pixels:
                    self._zero_pixels(el)
                out.append(el)
                continue
            action = table_action(tag)
            wire_vr = el.vr
            if wire_vr == "UN" and el.items is None:      # a public element sent as UN: judged by its real VR
                el.vr = implicit_vr(tag)
            if self.options.retain_dates and el.vr in ("DA", "DT", "TM"):
                action = None
            if self.options.retain_uids and el.vr == "UI":
                action = None
            if action is not None and action.startswith("X") and not action.endswith("U*"):
                if keep_keys:
                    self._empty(el)
                    el.vr = wire_vr
                    out.append(el)
                else:
                    self.stats.removed += 1
                continue
            if action in ("D", "Z", "Z/D"):
                self._dummy(el)
            elif el.items is not None:
                el.items = [self.dataset(item, role, top=False) for item in el.items]
            else:
                self._generic(el)
            el.vr = wire_vr
            out.append(el)
        if top and role == "object":
            out = self._deidentified(out)
        return out

    def _generic(self, el: Element) -> None:
        """Values the table keeps: nothing of PN, DA, DT, UI or ID-like LO/SH leaks anyway."""
        vr = el.vr
        if vr == "UI" and not self.options.retain_uids:
            self._uid(el)
        elif vr in ("DA", "DT") and not self.options.retain_dates:
            self._date(el)
        elif vr == "PN" or (vr in ("LO", "SH") and ID_KEYWORD.search(keyword_of(el.tag) or "")):
            self._dummy(el)

    def _uid(self, el: Element) -> None:
        text = _text(el)
        if not text:
            return
        kw = keyword_of(el.tag)
        if KEEP_UID_KEYWORDS.search(kw):
            return
        new = "\\".join(u if (not u or standard_uid(u)) else self.mapper.uid(u) for u in text.split("\\"))
        if new != text:
            _set(el, new)
            self.stats.uids += 1

    def _date(self, el: Element) -> None:
        text = _text(el)
        if text:
            _set(el, self.mapper.date(text, el.vr))
            self.stats.replaced += 1

    def _dummy(self, el: Element) -> None:
        if el.items is not None:
            el.items, el.item_undefined = [], []
            self.stats.replaced += 1
            return
        if el.fragments is not None:
            el.fragments = [bytes(len(f)) for f in el.fragments]
            return
        vr = el.vr
        text = _text(el) if vr in TEXT_VRS or vr in ("DA", "DT", "TM", "UI", "DS", "IS") else ""
        if vr in ("DA", "DT"):
            if not self.options.retain_dates:
                self._date(el)
            return
        if vr == "UI":
            if not self.options.retain_uids:
                self._uid(el)
            return
        if not el.value:
            return
        self.stats.replaced += 1
        if vr == "TM":
            el.value = b""
        elif vr in ("DS", "IS"):
            _set(el, "0")
        elif vr == "CS":                              # a code: no dummy is a valid one
            el.value = b""
        elif vr in TEXT_VRS:
            if text:
                _set(el, self.mapper.text(vr, text))
            else:
                el.value = b""
        else:                                         # binary values: zeros of the same length
            el.value = bytes(len(el.value))

    def _empty(self, el: Element) -> None:
        self.stats.replaced += 1
        el.value = b""
        if el.items is not None:
            el.items, el.item_undefined = [], []
        if el.fragments is not None:
            el.fragments = [bytes(len(f)) for f in el.fragments]

    def _zero_pixels(self, el: Element) -> None:
        self.stats.pixels += 1
        if el.fragments is not None:
            el.fragments = el.fragments[:1] + [bytes(len(f)) for f in el.fragments[1:]]
        elif el.items is None:
            el.value = bytes(len(el.value))

    def _deidentified(self, elems: list[Element]) -> list[Element]:
        """Patient Identity Removed, De-identification Method (Code Sequence), Longitudinal Temporal
        Information Modified (PS3.15 E.1.1 6)."""
        opts = self.options
        codes = [CODES["basic"]]
        if opts.retain_uids:
            codes.append(CODES["retain-uids"])
        codes.append(CODES["retain-dates"] if opts.retain_dates else CODES["modified-dates"])
        method = "dicomsniff anonymize: " + "; ".join(meaning for _, meaning in codes)
        items = [[Element(0x00080100, "SH", pad(code.encode(), "SH")),
                  Element(0x00080102, "SH", pad(b"DCM", "SH")),
                  Element(0x00080104, "LO", pad(meaning.encode(), "LO"))] for code, meaning in codes]
        add = {
            0x00120062: Element(0x00120062, "CS", pad(b"YES", "CS")),
            0x00120063: Element(0x00120063, "LO", pad(method[:64].encode(), "LO")),
            0x00120064: Element(0x00120064, "SQ", items=items, item_undefined=[False] * len(items)),
            0x00280303: Element(0x00280303, "CS", pad(b"UNMODIFIED" if opts.retain_dates else b"MODIFIED", "CS")),
        }
        kept = [el for el in elems if el.tag not in add]
        merged = kept + list(add.values())
        merged.sort(key=lambda el: el.tag)
        return merged
