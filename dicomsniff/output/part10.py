"""DICOM Part-10 files from data sets seen on the wire (PS3.10 §7.1, PS3.7 §6.3.1).

A Part-10 file is a 128-byte preamble, ``DICM``, the File Meta Information
(group 0002, always Explicit VR Little Endian, PS3.10 §7.1 Table 7.1-1) and
then the data set in the transfer syntax the meta names. The data set bytes
are never re-encoded: they are written exactly as the peer sent them, so the
meta carries the transfer syntax accepted for the presentation context.

Also here: turning a wire-controlled UID into a harmless file name, and
checking a final path stays inside the output directory.
"""

from __future__ import annotations

import os
import re
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

# Constant Implementation Class UID of dicomsniff (PS3.5 §B.2: a 2.25 UID from a UUID):
# "2.25." + uuid5(NAMESPACE_URL, "https://dicomsniff.invalid/implementation-class").int
IMPLEMENTATION_CLASS_UID = "2.25." + str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                    "https://dicomsniff.invalid/implementation-class").int)
IMPLEMENTATION_VERSION_NAME = "DICOMSNIFF_010"
PREAMBLE = b"\x00" * 128
MAGIC = b"DICM"

# Explicit VR Little Endian element headers (PS3.5 §7.1.2): VRs with a 4-byte length
# (OB, OW, SQ, UN, UT, ...) take 2 reserved bytes first; the rest a 2-byte length.
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"})
_AE_RE = re.compile(r"[\x20-\x5B\x5D-\x7E]{1,16}")      # PS3.5 §6.2 AE: default repertoire, no backslash
MAX_NAME = 100
_UNSAFE = re.compile(r"[^0-9A-Za-z._-]+")


@dataclass(slots=True, frozen=True)
class FileMeta:
    """What a Part-10 file meta group says about the data set that follows (PS3.10 Table 7.1-1)."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    source_ae: str | None = None


def _element(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
    if vr in _LONG_VRS:
        return struct.pack("<HH2s2xI", group, elem, vr, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr, len(value)) + value


def _text(value: str, pad: bytes) -> bytes:
    """A wire string as even-length bytes (UI pads with NUL, text VRs with space: PS3.5 §6.2)."""
    raw = value.encode("ascii", "replace")
    return raw + pad if len(raw) % 2 else raw


def clean_uid(value: str | None) -> str:
    """A UID as carried in a command set, without the NUL/space padding a peer may have left."""
    return (value or "").strip("\x00 ")


def clean_ae(value: str | None) -> str | None:
    """An AE title usable in (0002,0016): stripped, 1-16 printable characters without backslash; else None."""
    if value is None:
        return None
    v = value.strip(" \x00")
    return v if _AE_RE.fullmatch(v) else None


def file_meta_bytes(meta: FileMeta) -> bytes:
    """Preamble, ``DICM`` and the whole group 0002 with a correct (0002,0000) group length (PS3.10 §7.1)."""
    body = b"".join((
        _element(0x0002, 0x0001, b"OB", b"\x00\x01"),
        _element(0x0002, 0x0002, b"UI", _text(clean_uid(meta.sop_class_uid), b"\x00")),
        _element(0x0002, 0x0003, b"UI", _text(clean_uid(meta.sop_instance_uid), b"\x00")),
        _element(0x0002, 0x0010, b"UI", _text(clean_uid(meta.transfer_syntax_uid), b"\x00")),
        _element(0x0002, 0x0012, b"UI", _text(IMPLEMENTATION_CLASS_UID, b"\x00")),
        _element(0x0002, 0x0013, b"SH", _text(IMPLEMENTATION_VERSION_NAME, b" ")),
    ))
    ae = clean_ae(meta.source_ae)
    if ae is not None:
        body += _element(0x0002, 0x0016, b"AE", _text(ae, b" "))
    group_length = _element(0x0002, 0x0000, b"UL", struct.pack("<I", len(body)))
    return PREAMBLE + MAGIC + group_length + body


def derived_uid(*parts: object) -> str:
    """A stable 2.25 UID for a data set that has no instance UID of its own (e.g. a C-FIND identifier)."""
    return "2.25." + str(uuid.uuid5(uuid.NAMESPACE_OID, "dicomsniff:" + "/".join(map(str, parts))).int)


def safe_component(text: str | None, limit: int = MAX_NAME) -> str:
    """``text`` reduced to ``[0-9A-Za-z._-]``: runs of anything else become one ``_``, no ``..``,
    no leading dots or dashes, at most ``limit`` characters; may be empty."""
    s = _UNSAFE.sub("_", text or "")
    while ".." in s:
        s = s.replace("..", ".")
    s = s.strip("._-")
    return s[:limit].rstrip("._-")


def object_file_name(index: int, label: str | None, suffix: str = ".dcm", reserve: int = 0,
                     prefix: str = "") -> str:
    """``0001-1.2.3.4.dcm``: the position, then the sanitised label (the index alone if nothing is left).

    The whole name stays within ``MAX_NAME - reserve`` characters (``reserve`` leaves room for ``.partial``).
    ``prefix`` (e.g. ``ds``) sets apart a numbering of its own.
    """
    head = f"{prefix}{index:04d}"
    room = MAX_NAME - reserve - len(head) - 1 - len(suffix)
    part = safe_component(label, room)
    return f"{head}-{part}{suffix}" if part else f"{head}{suffix}"


class UnsafePath(Exception):
    """A file name that is not one plain entry of the output directory."""


def inside(directory: Path, name: str) -> Path:
    """The entry ``name`` of ``directory`` (the directory itself resolved, the entry never).

    The last component is left unresolved on purpose: a symbolic link already
    there is seen as a link (``os.path.islink``) rather than followed, and
    ``os.replace``/``os.link`` act on the entry, not on what it points to.
    Raises :class:`UnsafePath` unless ``name`` is one plain component.
    """
    if (not name or name in (".", "..") or "/" in name or "\x00" in name or os.sep in name
            or (os.altsep and os.altsep in name)):
        raise UnsafePath(name)
    base = directory.resolve()
    target = base / name
    if target.parent != base or target.name != name:
        raise UnsafePath(name)
    return target
