"""DIMSE data sets decoded under the negotiated transfer syntax (PS3.5 §7, §A; PS3.7 §6.3.1).

Two entry points:

* :class:`DataSetCollector` — streaming: ``feed()`` per PDV fragment (cheap: an
  append while under ``keep_limit``, a count beyond it), ``finish()`` decodes.
  Deflated data sets (PS3.5 §A.5) are inflated incrementally and the inflated
  size is bounded by ``keep_limit`` too, so a deflate bomb cannot grow memory.
* :func:`decode_data_set` — on demand, for bytes already held.

Our own element walker gives exact offsets (PS3.5 §7.1 element encodings, §7.5
items and delimiters, §A.4 encapsulated fragments); pydicom converts values
(``RawDataElement`` → ``DataElement``, honouring Specific Character Set).

Bulk values (binary VRs OB/OD/OF/OL/OV/OW/UN over 1 KiB, and encapsulated Pixel
Data) are never copied into the Dataset: the element is kept with an empty
value and listed in ``bulk`` as (tag, offset, length) of its value bytes; the
JSON model shows ``{"vr": .., "BulkDataURI": ..}`` where the URI is made by a
caller-supplied function of (offset, length) — by default
``"dataset-offset:{offset};length={length}"`` (``inflated-offset:`` for deflated
data sets, whose offsets are in the inflated stream).

A data set bigger than ``keep_limit`` is normal (a large C-STORE): the prefix is
decoded up to the first element that runs past it and a NOTE says so. Nothing
here raises on bad input; malformed data gives a partial tree and findings.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from functools import lru_cache
from typing import Any, Callable

from ..field import ERROR, NOTE, WARN, Field, Finding
from ..textsafe import safe_text
from ..uids import load_pydicom, pydicom_table
from .command_set import value_key

# pydicom is imported by _pydicom(), on the first data set decoded, not with this module: its
# import costs ~0.1 s of start-up (pixel handlers; numpy is hidden: uids.load_pydicom) that commands
# reading no data set skip.
# Before that no pydicom value exists, so MultiValue's stand-in never matches one.
python_encoding = get_entry = private_dictionary_VR = DataElement = RawDataElement = None
Dataset = Sequence = BaseTag = convert_raw_data_element = default_encoding = None
MultiValue: type = tuple
_GETITEM_VRS: frozenset = frozenset()


def _pydicom() -> None:
    """Bind the pydicom names this module uses (once)."""
    global python_encoding, get_entry, private_dictionary_VR, DataElement, RawDataElement
    global Dataset, MultiValue, Sequence, BaseTag, convert_raw_data_element, default_encoding, _GETITEM_VRS
    if Dataset is not None:
        return
    load_pydicom()
    from pydicom.charset import default_encoding, python_encoding
    from pydicom.dataelem import convert_raw_data_element
    from pydicom.valuerep import AMBIGUOUS_VR, VR
    _GETITEM_VRS = frozenset(AMBIGUOUS_VR) | {VR.SQ}
    from pydicom.datadict import get_entry, private_dictionary_VR
    from pydicom.dataelem import DataElement, RawDataElement
    from pydicom.multival import MultiValue
    from pydicom.sequence import Sequence
    from pydicom.tag import BaseTag
    from pydicom.dataset import Dataset

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = frozenset({"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.95"})   # PS3.5 §A.5; JPIP deflate §A.7

DEFAULT_KEEP = 8 << 20
BULK_THRESHOLD = 1024
MAX_DEPTH = 64
MAX_ELEMENTS = 200_000
MAX_DISPLAY = 64
MAX_PYDICOM_NOTES = 8

VALID_VRS = frozenset("AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM "
                      "UC UI UL UN UR US UT UV".split())
LONG_VRS = frozenset("OB OD OF OL OV OW SQ UC UN UR UT SV UV".split())     # PS3.5 §7.1.2, Table 7.1-1
BULK_VRS = frozenset("OB OD OF OL OV OW UN".split())

ITEM, ITEM_DELIM, SEQ_DELIM = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
UNDEFINED = 0xFFFFFFFF

UriFn = Callable[[int, int], str]


def ts_encoding(uid: str | None) -> tuple[bool, bool, bool, str, bool]:
    """(implicit VR, little endian, deflated, name, known) for a transfer syntax UID (PS3.5 §10).

    Unknown UIDs are read as Explicit VR Little Endian (every encapsulated syntax is), known=False.
    """
    uid = (uid or "").rstrip("\x00 ")
    entry = pydicom_table("_uid_dict", "UID_dictionary").get(uid)
    known = entry is not None and entry[1] == "Transfer Syntax"
    name = entry[0] if known else (uid or "no transfer syntax")
    if uid == IMPLICIT_LE:
        return True, True, False, name, True
    if uid == EXPLICIT_BE:
        return False, False, False, name, True
    return False, True, uid in DEFLATED, name, known


def _encoding_name(implicit: bool, little: bool) -> str:
    return ("Implicit" if implicit else "Explicit") + " VR " + ("Little" if little else "Big") + " Endian"


@lru_cache(maxsize=8192)
def _public(tag: int) -> tuple[str, str, str] | None:
    """(VR, keyword, name) from the PS3.6 dictionary (repeaters included), or None."""
    try:
        vr, _vm, name, _ret, keyword = get_entry(tag)
    except Exception:
        return None
    return vr, keyword, name


def _describe(tag: int, creator: str | None) -> tuple[str, str, str | None, str]:
    """(key, name, dictionary VR or None, keyword) of a tag; private tags keyed "Private (gggg,eeee)".

    ``name`` is the tag and the dictionary's name (``(0010,0010) Patient's Name``), as findings quote
    it; ``keyword`` is what the element's row shows after tag, VR and length (``PatientName``).
    """
    group, elem = tag >> 16, tag & 0xFFFF
    text = f"({group:04X},{elem:04X})"
    if group & 1:
        if elem == 0:
            return f"Private {text}", f"{text} Private Group Length", "UL", "PrivateGroupLength"
        if 0x10 <= elem <= 0xFF:
            return f"Private {text}", f"{text} Private Creator", "LO", "PrivateCreator"
        vr = None
        if creator:
            try:
                vr = private_dictionary_VR(tag, creator)
            except Exception:
                vr = None
        owner = f" [{safe_text(creator)[:64]}]" if creator else ""
        return f"Private {text}", f"{text} Private tag data{owner}", vr, f"PrivateTagData{owner}"
    entry = _public(tag)
    if entry is None:
        if elem == 0:
            return f"GroupLength {text}", f"{text} Group Length", "UL", "GroupLength"
        return f"Unknown {text}", f"{text} Unknown", None, "Unknown"
    vr, keyword, name = entry
    return keyword or f"Unknown {text}", f"{text} {name}", vr, keyword or "Unknown"


def element_label(tag: int, vr: str, length: int, keyword: str) -> str:
    """An element's row as DICOM tools print it: ``(0010,0010) PN [8] PatientName`` (``[u/l]``: undefined)."""
    size = "u/l" if length == UNDEFINED else str(length)
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {vr} [{size}] {keyword}"


def _header_fields(f: Field, pos: int, tag: int, explicit_vr: str | None, vl: int, hdr: int, name: str) -> None:
    """The element's header bytes as children (PS3.5 §7.1): Tag, VR and Reserved (explicit), Length."""
    group, elem = tag >> 16, tag & 0xFFFF
    f.add(Field("dicom.tag", "Tag", (group, elem), name, pos, 4))
    if explicit_vr is not None:
        f.add(Field("dicom.tag.vr", "VR", explicit_vr, explicit_vr, pos + 4, 2))
        if hdr == 12:
            f.add(Field("dicom.tag.vr.reserved", "Reserved", 0, "2 bytes", pos + 6, 2))
    size = 4 if hdr == 12 or explicit_vr is None else 2
    shown = "undefined (0xFFFFFFFF)" if vl == UNDEFINED else str(vl)
    f.add(Field("dicom.tag.vl", "Length", vl, shown, pos + hdr - size, size))


def _name_of(f: Field) -> str:
    """The tag and dictionary name of an element field (its Tag child), for messages."""
    return f.children[0].display if f.children and f.children[0].key == "dicom.tag" else f.label


def _json_friendly(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str, bytes)):
        return v
    if isinstance(v, (MultiValue, list, tuple)):
        return [_json_friendly(x) for x in v]
    return str(v)


def _show(v: Any) -> str:
    if v is None or v == "":
        return "(empty)"
    if isinstance(v, (bytes, bytearray)):
        s = bytes(v[:16]).hex(" ") + (" …" if len(v) > 16 else "")
    elif isinstance(v, (MultiValue, list, tuple)):
        s = "\\".join(str(x) for x in list(v)[:32])
    else:
        s = str(v)
    s = safe_text(s)
    return s if len(s) <= MAX_DISPLAY else s[:MAX_DISPLAY] + "…"


class _Stop(Exception):
    """Internal: abandon the walk (the reason is already recorded)."""


class _Walker:
    """Walks elements with exact offsets and builds the Field tree and the pydicom Dataset."""

    def __init__(self, buf: bytes, implicit: bool, little: bool, ts_name: str,
                 truncated: bool, total: int | None, root: Field):
        self.buf = buf
        self.avail = len(buf)
        self.implicit, self.little = implicit, little
        self.ts_name = ts_name
        self.truncated = truncated
        self.total = total
        self.root = root
        self.bulk: list[tuple[int, int, int]] = []
        self.bulk_ids: dict[int, tuple[int, int]] = {}
        self.count = 0
        self.cut_at: int | None = None
        self.charsets: dict[int, Any] = {}      # id(Dataset) → its text encoding, while the walk holds it

    # -- outcomes ----------------------------------------------------------------

    def fail(self, on: Field, pos: int, reason: str) -> None:
        on.findings.append(Finding(ERROR, "dataset-parse",
                                   f"data set does not parse as {self.ts_name}: {reason} at offset {pos}"))
        raise _Stop

    def past_prefix(self, pos: int, what: str) -> None:
        """An element runs past the kept bytes: a NOTE when the prefix was cut on purpose."""
        if self.truncated:
            self.cut_at = pos
            raise _Stop
        self.fail(self.root, pos, what)

    # -- low level -----------------------------------------------------------------

    def tag_len(self, pos: int, implicit: bool, little: bool) -> tuple[int, str | None, int, int]:
        """(tag, explicit VR or None, value length, header size) at pos; caller checks 8 bytes exist."""
        e = "<" if little else ">"
        group, elem = struct.unpack_from(e + "HH", self.buf, pos)
        tag = (group << 16) | elem
        if implicit or group == 0xFFFE:
            (vl,) = struct.unpack_from(e + "I", self.buf, pos + 4)
            return tag, None, vl, 8
        vrb = self.buf[pos + 4:pos + 6]
        vr = vrb.decode("latin-1")
        if vr not in VALID_VRS:
            self.fail(self.root, pos, f"invalid VR {vrb!r} for ({group:04X},{elem:04X})")
        if vr in LONG_VRS:
            if self.avail - pos < 12:
                self.past_prefix(pos, "element header cut short")
            (vl,) = struct.unpack_from(e + "I", self.buf, pos + 8)
            return tag, vr, vl, 12
        (vl,) = struct.unpack_from(e + "H", self.buf, pos + 6)
        return tag, vr, vl, 8

    # -- data sets, sequences, items -------------------------------------------------

    def elements(self, ds: Dataset, parent: Field, pos: int, end: int | None, depth: int,
                 implicit: bool, little: bool, in_item: bool) -> int:
        """Elements from pos until end (defined length) or an Item Delimitation (undefined); returns the new pos."""
        last = -1
        creators: dict[tuple[int, int], str] = {}
        while end is None or pos < end:
            if pos >= self.avail:
                if end is None and not in_item and not self.truncated:
                    return pos                                   # the whole top level was read
                self.past_prefix(pos, "data set ends inside an item or sequence")
            if self.avail - pos < 8:
                self.past_prefix(pos, f"element header cut short ({self.avail - pos} of 8 bytes)")
            tag, vr, vl, hdr = self.tag_len(pos, implicit, little)
            if tag == ITEM_DELIM and in_item:
                parent.add(Field("dicom.item.delim", "Item Delimitation Item", None, "", pos, 8))
                return pos + 8
            if tag >> 16 == 0xFFFE:
                self.fail(parent, pos, f"unexpected ({tag >> 16:04X},{tag & 0xFFFF:04X}) delimiter")
            self.count += 1
            if self.count > MAX_ELEMENTS:
                self.root.findings.append(Finding(WARN, "dataset-too-many-elements",
                                                  f"more than {MAX_ELEMENTS} elements: decoding stopped"))
                raise _Stop
            key, label, dict_vr, keyword = _describe(tag, creators.get((tag >> 16, (tag >> 8) & 0xFF)))
            explicit_vr = vr
            if vr is None:
                vr = (dict_vr or "UN").split(" or ")[0]
                if vr == "UN" and vl == UNDEFINED:
                    vr = "SQ"                                    # PS3.5 §6.2.2: UN of undefined length is a sequence
            f = Field(key, element_label(tag, vr, vl, keyword), None, "", pos, hdr)
            _header_fields(f, pos, tag, explicit_vr, vl, hdr, label)
            parent.add(f)
            if tag < last:
                f.findings.append(Finding(WARN, "dataset-element-order",
                                          f"{label}: out of ascending tag order (PS3.5 §7.1)"))
            elif tag == last:
                f.findings.append(Finding(WARN, "dataset-duplicate-element", f"{label}: duplicate element"))
            last = max(last, tag)
            vs = pos + hdr
            if vl == UNDEFINED:
                if vr in ("SQ", "UN"):
                    sub_implicit, sub_little = (True, True) if vr == "UN" else (implicit, little)
                    pos = self.sequence(ds, tag, f, vs, None, depth, sub_implicit, sub_little)
                elif tag == PIXEL_DATA or vr in ("OB", "OW"):
                    pos = self.encapsulated(ds, tag, vr, f, vs, little)
                else:
                    self.fail(f, pos, f"undefined length on {label} (VR {vr})")
                f.length = pos - f.offset
                continue
            if end is not None and vs + vl > end:
                f.length = max(0, min(end, self.avail) - pos)
                self.fail(f, pos, f"{label} length {vl} runs past its item or sequence")
            if self.total is not None and vs + vl > self.total:
                f.length = max(0, min(self.total, self.avail) - pos)
                self.fail(f, pos, f"{label} length {vl} runs past the end of the data set")
            f.length = hdr + vl if vs + vl <= self.avail else self.avail - pos   # only the bytes we have
            if vr == "SQ":
                self.sequence(ds, tag, f, vs, vs + vl, depth, implicit, little)
                pos = vs + vl
                continue
            if (vr in BULK_VRS and vl > BULK_THRESHOLD) or tag == PIXEL_DATA:
                self.add_bulk(ds, tag, vr, f, vs, vl)
                f.add(Field(value_key(vr), "Value", None, f.display, vs, max(0, min(vl, self.avail - vs))))
                if vs + vl > self.avail:
                    f.length = self.avail - pos                   # the field covers the bytes we have
                    self.past_prefix(vs + vl, f"{label} value cut short")
                pos = vs + vl
                continue
            if vs + vl > self.avail:
                f.length = self.avail - pos
                self.past_prefix(pos, f"{label} value cut short ({self.avail - vs} of {vl} bytes)")
            raw = RawDataElement(BaseTag(tag), None if implicit else vr, vl, self.buf[vs:vs + vl], vs,
                                 implicit, little)
            self.convert(ds, raw, f, label)
            f.add(Field(value_key(vr), "Value", f.value, f.display, vs, vl))
            if tag >> 16 & 1 and 0x10 <= (tag & 0xFFFF) <= 0xFF and isinstance(f.value, str):
                creators[(tag >> 16, tag & 0xFF)] = f.value
            if tag == 0x00080005:
                self.check_charset(f)
            pos = vs + vl
        return pos

    def convert(self, ds: Dataset, raw: RawDataElement, f: Field, label: str) -> None:
        tag = raw.tag
        try:
            value = self.element(ds, raw).value
            f.value = _json_friendly(value)
            f.display = _show(value)
        except Exception as exc:                                 # pydicom refused the value: keep bytes
            ds._dict[tag] = DataElement(tag, "UN", bytes(raw.value or b""))
            f.value = bytes(raw.value or b"")
            f.display = _show(f.value)
            f.findings.append(Finding(WARN, "dataset-bad-value",
                                      f"{label}: value not convertible ({type(exc).__name__}: {exc})"[:200]))
        finally:
            if tag == 0x00080005:
                self.charsets.pop(id(ds), None)

    def element(self, ds: Dataset, raw: RawDataElement) -> DataElement:
        """The raw element converted and put in ``ds``, as ``ds._dict[tag] = raw; ds[tag]`` would.

        ``Dataset.__getitem__`` asks the data set's character set again for every element (a lookup
        of (0008,0005) and its conversion: a third of the decode); :meth:`encoding` asks once per
        data set and again after (0008,0005). Private elements (``__setitem__`` names their creator)
        and the VRs ``__getitem__`` corrects after converting (the ambiguous ones, SQ) take
        ``ds[tag]`` itself, so every value is pydicom's own.
        """
        tag = raw.tag
        if not tag >> 16 & 1:
            elem = convert_raw_data_element(raw, encoding=self.encoding(ds, tag), ds=ds)
            if elem.VR not in _GETITEM_VRS:
                ds._dict[tag] = elem
                return elem
        ds._dict[tag] = raw
        return ds[tag]

    def encoding(self, ds: Dataset, tag: int) -> Any:
        """The encoding ``ds[tag]`` would convert the element with (remembered; a failure is not)."""
        if tag == 0x00080005:
            return default_encoding
        cs = self.charsets.get(id(ds))
        if cs is None:
            cs = ds.original_character_set or ds._character_set
            self.charsets[id(ds)] = cs
        return cs

    def check_charset(self, f: Field) -> None:
        """PS3.3 §C.12.1.1.2 defined terms; pydicom falls back to ASCII for others, we say so."""
        vals = f.value if isinstance(f.value, list) else [f.value]
        bad = [v for v in vals if isinstance(v, str) and v.strip() not in python_encoding]
        if bad:
            f.findings.append(Finding(WARN, "dataset-bad-charset",
                                      f"unknown Specific Character Set {safe_text(bad)[:80]}; text decoded as ASCII"))

    def add_bulk(self, ds: Dataset, tag: int, vr: str, f: Field, offset: int, length: int) -> None:
        elem = DataElement(BaseTag(tag), vr, b"")
        ds._dict[BaseTag(tag)] = elem
        self.bulk.append((tag, offset, length))
        self.bulk_ids[id(elem)] = (offset, length)
        f.value = None
        f.display = f"bulk data, {length} bytes at offset {offset}"

    def sequence(self, ds: Dataset, tag: int, f: Field, pos: int, end: int | None, depth: int,
                 implicit: bool, little: bool) -> int:
        """Items of a sequence (PS3.5 §7.5); returns the position after it (and its delimiter)."""
        items: list[Dataset] = []
        elem = DataElement(BaseTag(tag), "SQ", Sequence())
        ds._dict[BaseTag(tag)] = elem
        f.display = "0 items"
        if depth >= MAX_DEPTH:
            f.findings.append(Finding(ERROR, "dataset-too-deep", f"sequences nested deeper than {MAX_DEPTH}"))
            if end is None:
                raise _Stop
            return end
        charset = ds._character_set
        try:
            while end is None or pos < end:
                if self.avail - pos < 8:
                    self.past_prefix(pos, "sequence cut short")
                itag, _vr, ivl, _ = self.tag_len(pos, True, little)
                if itag == SEQ_DELIM and end is None:
                    f.add(Field("dicom.seq.delim", "Sequence Delimitation Item", None, "", pos, 8))
                    pos += 8
                    break
                if itag != ITEM:
                    self.fail(f, pos, f"expected an Item in {_name_of(f)}, found ({itag >> 16:04X},{itag & 0xFFFF:04X})")
                item = Field("dicom.item", f"Item {len(items) + 1}", None, "", pos, 8)
                f.add(item)
                ids = Dataset()
                ids._parent_encoding = charset
                items.append(ids)
                ipos = pos + 8
                if ivl == UNDEFINED:
                    pos = self.elements(ids, item, ipos, None, depth + 1, implicit, little, True)
                else:
                    if end is not None and ipos + ivl > end:
                        self.fail(item, pos, f"item length {ivl} runs past its sequence")
                    pos = self.elements(ids, item, ipos, ipos + ivl, depth + 1, implicit, little, True)
                item.length = pos - item.offset
                item.display = f"{len(ids._dict)} element{'s' if len(ids._dict) != 1 else ''}"
        finally:
            if f.children:
                last = f.children[-1]
                if last.key == "dicom.item" and last.length <= 8:
                    last.length = max(8, min(self._deepest_end(last), self.avail) - last.offset)
                f.length = max(f.length, min(self._deepest_end(f), self.avail) - f.offset)
            elem.value = Sequence(items)
            f.display = f"{len(items)} item{'s' if len(items) != 1 else ''}"
            f.value = None
        return pos

    @staticmethod
    def _deepest_end(f: Field) -> int:
        end = f.end
        while f.children:
            f = f.children[-1]
            end = max(end, f.end)
        return end

    def encapsulated(self, ds: Dataset, tag: int, vr: str, f: Field, pos: int, little: bool) -> int:
        """Encapsulated Pixel Data fragments (PS3.5 §A.4): kept as one bulk span, never decompressed."""
        start = pos
        n = 0
        try:
            while True:
                if self.avail - pos < 8:
                    self.past_prefix(pos, "encapsulated pixel data cut short")
                itag, _vr, ivl, _ = self.tag_len(pos, True, little)
                if itag == SEQ_DELIM:
                    f.add(Field("dicom.seq.delim", "Sequence Delimitation Item", None, "", pos, 8))
                    pos += 8
                    break
                if itag != ITEM or ivl == UNDEFINED:
                    self.fail(f, pos, f"expected a fragment Item, found ({itag >> 16:04X},{itag & 0xFFFF:04X})")
                label = "Basic Offset Table" if n == 0 else f"Fragment {n}"
                f.add(Field("dicom.fragment", label, None, f"{ivl} bytes", pos, min(8 + ivl, self.avail - pos)))
                n += 1
                if self.total is not None and pos + 8 + ivl > self.total:
                    self.fail(f, pos, f"fragment length {ivl} runs past the end of the data set")
                if pos + 8 + ivl > self.avail:
                    pos += 8 + ivl
                    self.past_prefix(pos, "fragment cut short")
                pos += 8 + ivl
        finally:
            self.add_bulk(ds, tag, vr, f, start, max(0, min(pos, self.avail) - start))
            f.length = max(f.length, min(self._deepest_end(f), self.avail) - f.offset)
            f.display = f"encapsulated, {max(0, n - 1)} fragment{'s' if n != 2 else ''}" \
                        f" + offset table, {pos - start} bytes"
        return pos


class DataSetInfo:
    """A decoded data set: field tree, pydicom Dataset, bulk spans, findings and JSON model."""

    __slots__ = ("length", "transfer_syntax", "dataset", "tree", "bulk", "truncated", "inflated",
                 "kept", "_bulk_ids", "_json")

    def __init__(self, length: int, transfer_syntax: str, dataset: Dataset | None, tree: Field,
                 bulk: list[tuple[int, int, int]], truncated: bool, inflated: bool, kept: int,
                 bulk_ids: dict[int, tuple[int, int]] | None = None):
        self.length = length                    # bytes on the wire (compressed, for deflated)
        self.transfer_syntax = transfer_syntax
        self.dataset = dataset
        self.tree = tree
        self.bulk = bulk                        # (tag, value offset, value length)
        self.truncated = truncated
        self.inflated = inflated                # offsets refer to the inflated stream
        self.kept = kept                        # bytes decoded (inflated bytes for deflated)
        self._bulk_ids = bulk_ids or {}
        self._json: dict | None = None

    @property
    def findings(self) -> list[Finding]:
        return self.tree.all_findings()

    def default_uri(self, offset: int, length: int) -> str:
        where = "inflated-offset" if self.inflated else "dataset-offset"
        return f"{where}:{offset};length={length}"

    @property
    def json(self) -> dict:
        """The DICOM JSON model (PS3.18 §F.2), bulk values as ``BulkDataURI`` (default URIs)."""
        if self._json is None:
            self._json = self.json_with(self.default_uri)
        return self._json

    def json_with(self, uri: UriFn) -> dict:
        """The DICOM JSON model with bulk values as ``{"BulkDataURI": uri(offset, length)}``; never raises."""
        if self.dataset is None:
            return {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = self.dataset.to_json_dict(bulk_data_threshold=BULK_THRESHOLD,
                                                bulk_data_element_handler=lambda e: uri(-1, len(e.value or b"")),
                                                suppress_invalid_tags=True)
            _patch_bulk(out, self.dataset, self._bulk_ids, uri)
            if ts_encoding(self.transfer_syntax)[0]:
                _implicit_vrs(out)
            return out
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"[:200]}

    def __repr__(self) -> str:
        return f"DataSetInfo({self.tree.display})"


def _implicit_vrs(js: dict) -> None:
    """In Implicit VR Little Endian, Pixel Data and Overlay Data are OW (PS3.5 §A.1, §8.1.2), not OB.

    The data set carries no VR, and the dictionary's "OB or OW" would otherwise be exported as OB.
    """
    for key, el in js.items():
        if isinstance(el, dict) and el.get("vr") in ("OB", "OB or OW", "OW or OB") and (
                key == "7FE00010" or (key.startswith("60") and key.endswith("3000"))):
            el["vr"] = "OW"


def _patch_bulk(js: dict, ds: Dataset, ids: dict[int, tuple[int, int]], uri: UriFn) -> None:
    _pydicom()
    for tag, elem in ds._dict.items():
        key = f"{int(tag):08X}"
        if id(elem) in ids:
            off, ln = ids[id(elem)]
            js[key] = {"vr": elem.VR, "BulkDataURI": uri(off, ln)}
        elif isinstance(elem, DataElement) and elem.VR == "SQ" and key in js:
            for ijs, ids_ in zip(js[key].get("Value", []), elem.value):
                _patch_bulk(ijs, ids_, ids, uri)


def _clamp(root: Field) -> None:
    """Keep every field inside its parent, whatever lengths a malformed data set claimed.

    The walk already stops at what it can prove; this is the guarantee the views
    (hex highlighting, spans in JSON) rely on when claims nest inconsistently,
    e.g. an undefined-length item running past its defined-length sequence.
    """
    stack = [root]
    while stack:
        f = stack.pop()
        lo, hi = f.offset, f.offset + f.length
        for c in f.children:
            if c.offset < lo or c.offset > hi:
                c.offset = min(max(c.offset, lo), hi)
            if c.offset + c.length > hi or c.length < 0:
                c.length = max(0, hi - c.offset)
            if c.children:
                stack.append(c)


def _decode(buf: bytes, transfer_syntax_uid: str, *, wire_length: int, truncated: bool,
            total: int | None, inflated: bool, extra: list[Finding]) -> DataSetInfo:
    _pydicom()
    implicit, little, _deflated, name, known = ts_encoding(transfer_syntax_uid)
    enc = _encoding_name(implicit, little)
    root = Field("dicom.dataset", "Data Set", None, "", 0, max(len(buf), total or 0))
    root.findings.extend(extra)
    if not known:
        root.findings.append(Finding(WARN, "dataset-unknown-ts",
                                     f"unknown transfer syntax {safe_text(transfer_syntax_uid)[:70]}:"
                                     " read as Explicit VR Little Endian"))
    ds = Dataset()
    ds.set_original_encoding(implicit, little, None)
    w = _Walker(buf, implicit, little, enc, truncated, total, root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            w.elements(ds, root, 0, None, 0, implicit, little, False)
        except _Stop:
            pass
        except Exception as exc:                                # a walker bug must not escape either
            root.findings.append(Finding(ERROR, "dataset-parse",
                                         f"data set does not parse as {enc}: {type(exc).__name__}: {exc}"[:200]))
    _clamp(root)
    seen: set[str] = set()
    for wm in caught:
        msg = str(wm.message)
        if msg not in seen and len(seen) < MAX_PYDICOM_NOTES:
            seen.add(msg)
            root.findings.append(Finding(NOTE, "dataset-pydicom-warning", f"pydicom: {msg}"[:200]))
    if w.cut_at is not None:
        root.findings.append(Finding(NOTE, "dataset-truncated",
                                     f"only the first {len(buf)} bytes were kept or received; elements decoded up to"
                                     f" offset {w.cut_at}"))
    parts = [name, f"{wire_length} bytes", f"{w.count} elements"]
    if inflated:
        parts.append(f"{len(buf)} bytes inflated; offsets in the inflated stream")
    if truncated:
        parts.append(f"truncated: first {len(buf)} bytes kept")
    root.display = ", ".join(parts)
    return DataSetInfo(wire_length, transfer_syntax_uid, ds, root, w.bulk, truncated, inflated, len(buf),
                       w.bulk_ids)


class _Inflater:
    """Bounded incremental raw-deflate (PS3.5 §A.5): at most ``limit`` inflated bytes are ever held."""

    __slots__ = ("d", "out", "limit", "over", "error")

    def __init__(self, limit: int):
        self.d = zlib.decompressobj(-15)
        self.out = bytearray()
        self.limit = limit
        self.over = False
        self.error: str | None = None

    def feed(self, chunk: bytes | memoryview) -> None:
        if self.over or self.error is not None or self.d.eof:
            return
        room = self.limit - len(self.out)
        try:
            got = self.d.decompress(chunk, room + 1)
        except zlib.error as exc:
            self.error = str(exc)
            return
        if len(got) > room:
            self.out += got[:room]
            self.over = True
        else:
            self.out += got

    def findings(self) -> list[Finding]:
        if self.error is not None:
            return [Finding(ERROR, "dataset-inflate", f"deflated data set does not inflate: {self.error}"
                                                      f" (after {len(self.out)} bytes)")]
        if not self.over and not self.d.eof and self.out:
            return [Finding(WARN, "dataset-inflate", "deflate stream ended without its final block")]
        return []


# What a one-line description of a stored object shows (a few short strings per message, kept).
IDENTITY_KEYS = ("PatientID", "Modality", "InstanceNumber")


def _identity(ds) -> dict[str, str]:
    out: dict[str, str] = {}
    if ds is None:
        return out
    try:
        for kw in IDENTITY_KEYS:
            v = ds.get(kw)
            if v not in (None, ""):
                out[kw] = str(v)
    except Exception:       # a value pydicom cannot convert: what was read so far
        pass
    return out


class KeptDataSet:
    """A collected data set kept as its (bounded) bytes and decoded on each access.

    The association model holds one per message of a capture that may have
    millions, so nothing decoded is kept: ``dataset``, ``tree``, ``bulk``,
    ``findings`` and the JSON model are computed again when a view asks.
    """

    __slots__ = ("length", "transfer_syntax", "truncated", "inflated", "kept", "_buf", "_total", "_extra",
                 "_findings", "_identity")

    def __init__(self, buf: bytes, transfer_syntax: str, *, length: int, truncated: bool, inflated: bool,
                 total: int | None, extra: list[Finding]):
        self.length = length
        self.transfer_syntax = transfer_syntax
        self.truncated = truncated
        self.inflated = inflated
        self.kept = len(buf)
        self._buf = buf
        self._total = total
        self._extra = extra
        self._findings: list[Finding] | None = None    # remembered: small, and every diagnosis asks
        self._identity: dict[str, str] | None = None    # IDENTITY_KEYS' values, remembered likewise

    def decode(self) -> DataSetInfo:
        info = _decode(self._buf, self.transfer_syntax, wire_length=self.length, truncated=self.truncated,
                       total=self._total, inflated=self.inflated, extra=list(self._extra))
        if self._findings is None:      # any view's decode spares the diagnosis another one
            self._findings = info.findings
        if self._identity is None:      # and the summary line's keys another one
            self._identity = _identity(info.dataset)
        return info

    def identity(self) -> dict[str, str]:
        """The object's identity (:data:`IDENTITY_KEYS` present, as text), for summary lines."""
        if self._identity is None:
            self.decode()
        return self._identity or {}

    def may_hold(self, tags) -> bool:
        """False only when none of ``tags`` can be an element here: their bytes occur nowhere in the kept
        data set (a cheap test before a full decode, for filters over many messages)."""
        order = "little" if ts_encoding(self.transfer_syntax)[1] else "big"
        buf = self._buf
        return any((t >> 16).to_bytes(2, order) + (t & 0xFFFF).to_bytes(2, order) in buf for t in tags)

    @property
    def dataset(self) -> Dataset | None:
        return self.decode().dataset

    @property
    def tree(self) -> Field:
        return self.decode().tree

    @property
    def bulk(self) -> list[tuple[int, int, int]]:
        return self.decode().bulk

    @property
    def findings(self) -> list[Finding]:
        if self._findings is None:
            self._findings = self.decode().findings
        return list(self._findings)

    @property
    def json(self) -> dict:
        return self.decode().json

    def json_with(self, uri: UriFn) -> dict:
        return self.decode().json_with(uri)

    def __repr__(self) -> str:
        return f"KeptDataSet({self.length} bytes, {self.kept} kept)"


class DataSetCollector:
    """Collects a data set PDV by PDV with bounded memory; ``finish()`` decodes it (PS3.7 §6.3.1)."""

    __slots__ = ("transfer_syntax_uid", "keep_limit", "length", "_buf", "_inflater", "_result")

    def __init__(self, transfer_syntax_uid: str, keep_limit: int = DEFAULT_KEEP):
        self.transfer_syntax_uid = transfer_syntax_uid
        self.keep_limit = max(0, int(keep_limit))
        self.length = 0
        self._buf = bytearray()
        self._inflater = _Inflater(self.keep_limit) if ts_encoding(transfer_syntax_uid)[2] else None
        self._result: DataSetInfo | None = None

    def feed(self, chunk: bytes | memoryview) -> None:
        """Take one fragment: kept while under ``keep_limit``, only counted beyond it."""
        n = len(chunk)
        self.length += n
        if self._inflater is not None:
            self._inflater.feed(chunk)
            return
        room = self.keep_limit - len(self._buf)
        if room > 0:
            self._buf += chunk if n <= room else chunk[:room]

    @property
    def kept(self) -> int:
        return len(self._inflater.out) if self._inflater is not None else len(self._buf)

    @property
    def saturated(self) -> bool:
        """Nothing more will be kept: further fragments only add to ``length``."""
        inf = self._inflater
        if inf is not None:
            return inf.over or inf.error is not None or inf.d.eof
        return len(self._buf) >= self.keep_limit

    def finish(self) -> DataSetInfo:
        """Decode what was kept; repeated calls return the same result."""
        if self._result is None:
            self._result = self.keep().decode()
        return self._result

    def keep(self, cut: bool = False) -> KeptDataSet:
        """What was collected, to be decoded on demand (the model's bounded form).

        ``cut``: the data set ended early (TCP gap, abort, end of capture), so what
        was collected is a prefix of unknown total length and decodes as one.
        """
        inf = self._inflater
        if inf is not None:
            return KeptDataSet(bytes(inf.out), self.transfer_syntax_uid, length=self.length,
                               truncated=inf.over or cut, inflated=True, total=None, extra=inf.findings())
        return KeptDataSet(bytes(self._buf), self.transfer_syntax_uid, length=self.length,
                           truncated=cut or self.length > len(self._buf), inflated=False,
                           total=None if cut else self.length, extra=[])


def decode_data_set(data: bytes | bytearray | memoryview, transfer_syntax_uid: str,
                    total_length: int | None = None, keep_limit: int = DEFAULT_KEEP) -> DataSetInfo:
    """Decode a data set (or its first bytes, when ``total_length`` says there were more); never raises."""
    if ts_encoding(transfer_syntax_uid)[2]:
        c = DataSetCollector(transfer_syntax_uid, keep_limit)
        c.feed(data)
        info = c.finish()
        if total_length is not None and total_length > len(data):
            info.length = total_length
            info.truncated = True
        return info
    buf = bytes(data)
    total = max(len(buf), total_length) if isinstance(total_length, int) else len(buf)
    return _decode(buf, transfer_syntax_uid, wire_length=total, truncated=total > len(buf), total=total,
                   inflated=False, extra=[])
