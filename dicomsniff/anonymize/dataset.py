"""Raw DICOM data set codec for rewriting: elements parsed and re-encoded byte for byte (PS3.5 §7).

pydicom would re-encode a data set its own way; the rewriter needs the wire encoding kept (implicit or
explicit VR, either byte order, defined or undefined sequence and item lengths, encapsulated pixel
data) and only the lengths of what changed recomputed, so elements are walked here directly.
:func:`parse` raises :class:`DataSetError` on anything it cannot walk; the caller zeroes that data set.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import lru_cache

from ..uids import load_pydicom

UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
MAX_DEPTH = 64
# Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 Table 7.1-1).
LONG_VRS = frozenset(("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"))
PADDING = {"UI": b"\0", "OB": b"\0", "UN": b"\0"}


class DataSetError(Exception):
    """The bytes are not a data set this codec can walk (one-line reason)."""


@dataclass(slots=True)
class Codec:
    little: bool = True
    implicit: bool = False

    @property
    def bo(self) -> str:
        return "<" if self.little else ">"


IMPLICIT_LE = Codec(True, True)

TS_CODECS = {
    "1.2.840.10008.1.2": Codec(True, True),
    "1.2.840.10008.1.2.2": Codec(False, False),
}


def codec_for(ts: str | None) -> tuple[Codec, bool]:
    """(codec, deflated) for a transfer syntax UID; everything else is explicit VR little endian."""
    if ts in TS_CODECS:
        return TS_CODECS[ts], False
    deflated = ts in ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1")
    return Codec(True, False), deflated


@dataclass(slots=True)
class Element:
    tag: int
    vr: str
    value: bytes = b""
    items: list[list["Element"]] | None = None      # SQ (and UN/implicit undefined-length sequences)
    fragments: list[bytes] | None = None            # encapsulated pixel data: offset table first
    undefined: bool = False
    item_undefined: list[bool] = field(default_factory=list)
    item_codec: Codec | None = None                 # UN sequence items are implicit VR little endian

    @property
    def keyword(self) -> str:
        return keyword_of(self.tag)


@lru_cache(maxsize=4096)
def _dict_entry(tag: int) -> tuple[str, str]:
    load_pydicom()
    from pydicom.datadict import get_entry
    try:
        vr, _vm, _name, _retired, keyword = get_entry(tag)
    except KeyError:
        return "UN", ""
    return vr, keyword


def keyword_of(tag: int) -> str:
    return _dict_entry(tag)[1] if not (tag >> 16) & 1 else ""


def implicit_vr(tag: int) -> str:
    """The VR of ``tag`` from the data dictionary (implicit VR): private and unknown tags are UN."""
    if tag & 0xFFFF == 0:
        return "UL"                               # group length
    if (tag >> 16) & 1:
        return "UN"
    vr = _dict_entry(tag)[0]
    if " or " in vr:
        vr = "OW" if "OW" in vr else vr.split(" or ")[0]
    return vr or "UN"


def parse(buf: bytes, codec: Codec) -> list[Element]:
    elems, pos = _parse(buf, 0, len(buf), codec, 0, False)
    return elems


def _tag(buf, pos, bo) -> int:
    g, e = struct.unpack_from(bo + "HH", buf, pos)
    return (g << 16) | e


def _parse(buf: bytes, pos: int, end: int, codec: Codec, depth: int, in_item: bool) -> tuple[list[Element], int]:
    if depth > MAX_DEPTH:
        raise DataSetError("sequences nested too deep")
    bo = codec.bo
    out: list[Element] = []
    while pos < end:
        if pos + 8 > end:
            raise DataSetError(f"element header cut at byte {pos}")
        tag = _tag(buf, pos, bo)
        if tag == ITEM_END:
            if not in_item:
                raise DataSetError(f"item delimiter outside an item at byte {pos}")
            return out, pos + 8
        if tag in (ITEM, SEQ_END):
            raise DataSetError(f"item tag outside a sequence at byte {pos}")
        if codec.implicit:
            vr = implicit_vr(tag)
            (length,) = struct.unpack_from(bo + "I", buf, pos + 4)
            pos += 8
        else:
            vr = bytes(buf[pos + 4:pos + 6]).decode("latin-1")
            if not (vr.isalpha() and vr.isupper()):
                raise DataSetError(f"bad VR {vr!r} at byte {pos + 4}")
            if vr in LONG_VRS:
                if pos + 12 > end:
                    raise DataSetError(f"element header cut at byte {pos}")
                (length,) = struct.unpack_from(bo + "I", buf, pos + 8)
                pos += 12
            else:
                (length,) = struct.unpack_from(bo + "H", buf, pos + 6)
                pos += 8
        el = Element(tag, vr)
        if length == UNDEFINED:
            el.undefined = True
            if tag == PIXEL_DATA and vr != "SQ":
                el.fragments, pos = _fragments(buf, pos, end, bo)
            elif vr in ("SQ", "UN") or codec.implicit:
                icodec = codec if vr == "SQ" or codec.implicit else IMPLICIT_LE
                if vr != "SQ":
                    el.item_codec = icodec
                    el.vr = "SQ" if codec.implicit else vr
                el.items, el.item_undefined, pos = _items(buf, pos, end, icodec, depth, None)
            else:
                raise DataSetError(f"undefined length on a {vr} element at byte {pos}")
        else:
            if pos + length > end:
                raise DataSetError(f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) runs {pos + length - end} bytes past its data set")
            if vr == "SQ":
                el.items, el.item_undefined, _ = _items(buf, pos, pos + length, codec, depth, pos + length)
            else:
                el.value = bytes(buf[pos:pos + length])
            pos += length
        out.append(el)
    if in_item:
        raise DataSetError("item without its delimiter")
    return out, pos


def _items(buf, pos, end, codec: Codec, depth: int, stop: int | None):
    bo = codec.bo
    items: list[list[Element]] = []
    undef: list[bool] = []
    while stop is None or pos < stop:
        if pos + 8 > end:
            raise DataSetError(f"sequence cut at byte {pos}")
        tag = _tag(buf, pos, bo)
        (length,) = struct.unpack_from(bo + "I", buf, pos + 4)
        pos += 8
        if tag == SEQ_END:
            if stop is not None:
                raise DataSetError("sequence delimiter in a defined-length sequence")
            return items, undef, pos
        if tag != ITEM:
            raise DataSetError(f"expected an item at byte {pos - 8}")
        if length == UNDEFINED:
            elems, pos = _parse(buf, pos, end, codec, depth + 1, True)
            undef.append(True)
        else:
            if pos + length > end:
                raise DataSetError(f"item runs past its sequence at byte {pos}")
            elems, _ = _parse(buf, pos, pos + length, codec, depth + 1, False)
            pos += length
            undef.append(False)
        items.append(elems)
    return items, undef, pos


def _fragments(buf, pos, end, bo) -> tuple[list[bytes], int]:
    frags: list[bytes] = []
    while True:
        if pos + 8 > end:
            raise DataSetError("encapsulated pixel data cut")
        tag = _tag(buf, pos, bo)
        (length,) = struct.unpack_from(bo + "I", buf, pos + 4)
        pos += 8
        if tag == SEQ_END:
            return frags, pos
        if tag != ITEM or length == UNDEFINED or pos + length > end:
            raise DataSetError(f"bad pixel data fragment at byte {pos - 8}")
        frags.append(bytes(buf[pos:pos + length]))
        pos += length


# ---- encoding ----------------------------------------------------------------------------------

def encode(elems: list[Element], codec: Codec) -> bytes:
    out: list[bytes] = []
    _encode(elems, codec, out)
    return b"".join(out)


def _header(tag: int, vr: str, length: int, codec: Codec) -> bytes:
    bo = codec.bo
    if codec.implicit:
        return struct.pack(bo + "HHI", tag >> 16, tag & 0xFFFF, length)
    if vr in LONG_VRS:
        return struct.pack(bo + "HH2s2xI", tag >> 16, tag & 0xFFFF, vr.encode(), length)
    if length > 0xFFFF:
        raise DataSetError(f"value of ({tag >> 16:04X},{tag & 0xFFFF:04X}) too long for VR {vr}")
    return struct.pack(bo + "HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), length)


def _encode(elems: list[Element], codec: Codec, out: list[bytes]) -> None:
    """Encode one level; group lengths (gggg,0000) are recomputed over the rest of their group."""
    parts: list[tuple[Element, bytes, int]] = []
    for el in elems:
        body: list[bytes] = []
        if el.items is not None:
            icodec = el.item_codec or codec
            undefs = el.item_undefined if len(el.item_undefined) == len(el.items) else [True] * len(el.items)
            for item, undef in zip(el.items, undefs):
                ib = encode(item, icodec)
                if undef:
                    body += [_item_tag(ITEM, UNDEFINED, icodec), ib, _item_tag(ITEM_END, 0, icodec)]
                else:
                    body += [_item_tag(ITEM, len(ib), icodec), ib]
            if el.undefined:
                body.append(_item_tag(SEQ_END, 0, icodec))
        elif el.fragments is not None:
            for frag in el.fragments:
                body += [_item_tag(ITEM, len(frag), codec), frag]
            body.append(_item_tag(SEQ_END, 0, codec))
        else:
            body.append(el.value)
        blob = b"".join(body)
        parts.append((el, blob, UNDEFINED if el.undefined else len(blob)))
    sizes = [len(_header(el.tag, el.vr, 0, codec)) + len(blob) for el, blob, _ in parts]
    for i, (el, blob, length) in enumerate(parts):
        if el.tag & 0xFFFF == 0 and len(blob) == 4:
            group = el.tag >> 16
            total = sum(sizes[j] for j in range(i + 1, len(parts)) if parts[j][0].tag >> 16 == group)
            blob = struct.pack(codec.bo + "I", total)
        out.append(_header(el.tag, el.vr, length, codec))
        out.append(blob)


def _item_tag(tag: int, length: int, codec: Codec) -> bytes:
    return struct.pack(codec.bo + "HHI", tag >> 16, tag & 0xFFFF, length)


def pad(value: bytes, vr: str) -> bytes:
    if len(value) % 2:
        value += PADDING.get(vr, b" ")
    return value
