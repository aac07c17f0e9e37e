"""DIMSE command sets decoded element by element (PS3.7 §6.3.1, §9.3, §10.3, Annex E).

A command set is always Implicit VR Little Endian group 0000 elements: tag (4),
value length (4), value. Each element becomes one :class:`~dicomsniff.field.Field`
keyed by its DICOM keyword, with children for tag, length and value (Wireshark's
``dicom.tag``, ``dicom.tag.vl``, ``dicom.tag.value.*``). VRs and keywords come
from pydicom's copy of the PS3.6 data dictionary. Malformed input gives a
partial set with findings, never an exception.
"""

from __future__ import annotations

import base64
import functools
import struct
from typing import Any

from ..field import ERROR, WARN, Field, Finding
from ..textsafe import safe_text
from ..uids import load_pydicom, pydicom_table, uid_display
from .commands import (command_display, command_name, data_set_type_display, has_data_set as _has_ds,
                       is_response, priority_display)
from .status import status_info

_HDR = struct.Struct("<HHI")
_INT_VRS = {"US": ("<H", 2), "UL": ("<I", 4), "SS": ("<h", 2), "SL": ("<i", 4)}
_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM",
                       "UC", "UI", "UR", "UT"})
MAX_TEXT_DISPLAY = 64

_COMMON_RQ = ("CommandGroupLength", "CommandField", "MessageID", "CommandDataSetType")
_COMMON_RSP = ("CommandGroupLength", "CommandField", "MessageIDBeingRespondedTo", "CommandDataSetType", "Status")
_N_REQUESTED = ("RequestedSOPClassUID", "RequestedSOPInstanceUID")

# Mandatory elements per command (PS3.7 §9.3 C-service and §10.3 N-service command tables).
REQUIRED: dict[int, tuple[str, ...]] = {
    0x0001: _COMMON_RQ + ("AffectedSOPClassUID", "Priority", "AffectedSOPInstanceUID"),
    0x0010: _COMMON_RQ + ("AffectedSOPClassUID", "Priority"),
    0x0020: _COMMON_RQ + ("AffectedSOPClassUID", "Priority"),
    0x0021: _COMMON_RQ + ("AffectedSOPClassUID", "Priority", "MoveDestination"),
    0x0030: _COMMON_RQ + ("AffectedSOPClassUID",),
    0x0100: _COMMON_RQ + ("AffectedSOPClassUID", "AffectedSOPInstanceUID", "EventTypeID"),
    0x0110: _COMMON_RQ + _N_REQUESTED,
    0x0120: _COMMON_RQ + _N_REQUESTED,
    0x0130: _COMMON_RQ + _N_REQUESTED + ("ActionTypeID",),
    0x0140: _COMMON_RQ + ("AffectedSOPClassUID",),
    0x0150: _COMMON_RQ + _N_REQUESTED,
    0x0FFF: ("CommandGroupLength", "CommandField", "MessageIDBeingRespondedTo", "CommandDataSetType"),
    **{cf: _COMMON_RSP for cf in (0x8001, 0x8010, 0x8020, 0x8021, 0x8030, 0x8100, 0x8110, 0x8120,
                                  0x8130, 0x8140, 0x8150)},
}

# Elements whose absence is tolerated with a warning (they carry no meaning a peer relies on).
_SOFT = frozenset({"CommandGroupLength"})


@functools.lru_cache(maxsize=512)
def _entry(tag: int) -> tuple[str, str, str] | None:
    """(VR, keyword, name) from the PS3.6 dictionary, or None for an unknown tag.

    pydicom's table is read without importing pydicom (start-up); only a tag not in it (a repeating
    group, or none at all) asks ``pydicom.datadict.get_entry``.
    """
    try:
        entry = pydicom_table("_dicom_dict", "DicomDictionary").get(tag)
        if entry is None:
            load_pydicom()
            from pydicom.datadict import get_entry
            entry = get_entry(tag)
        vr, _vm, name, _ret, keyword = entry
    except Exception:
        return None
    return vr, keyword, name


@functools.lru_cache(maxsize=512)
def _vr_keyword(tag: int) -> tuple[str, str]:
    """(VR, keyword) of a command element, with the fallbacks the tree uses."""
    entry = _entry(tag)
    group, elem = tag >> 16, tag & 0xFFFF
    if entry is None:
        return "UN", f"Unknown {_tag_text(group, elem)}"
    vr, keyword, _name = entry
    return (vr.split(" or ")[0] if vr else "UN"), (keyword or f"Unknown {_tag_text(group, elem)}")


def _tag_text(group: int, elem: int) -> str:
    return f"({group:04X},{elem:04X})"


def _convert(vr: str, raw: bytes) -> Any:
    """A command element value in Python form: ints for US/UL/SS/SL, (group, element) for AT,
    stripped text for string VRs, the raw bytes otherwise. Multi-valued → list."""
    if vr in _INT_VRS:
        fmt, size = _INT_VRS[vr]
        n = len(raw) // size
        if n == 0:
            return None if not raw else bytes(raw)
        vals = [v[0] for v in struct.iter_unpack(fmt, raw[:n * size])]
        return vals[0] if n == 1 else vals
    if vr == "AT":
        n = len(raw) // 4
        if n == 0:
            return None if not raw else bytes(raw)
        vals = [tuple(v) for v in struct.iter_unpack("<HH", raw[:n * 4])]
        return vals[0] if n == 1 else vals
    if vr in _TEXT_VRS:
        return raw.decode("latin-1").rstrip("\x00 ")
    return bytes(raw)


def _display_value(vr: str, value: Any) -> str:
    if value is None:
        return "(empty)"
    if vr == "AT":
        vals = value if isinstance(value, list) else [value]
        return ", ".join(_tag_text(*t) for t in vals if isinstance(t, tuple)) or "(empty)"
    if vr == "UI" and isinstance(value, str):
        return uid_display(value)
    if isinstance(value, bytes):
        return value[:16].hex(" ") + (" …" if len(value) > 16 else "")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    text = safe_text(value)
    return text if len(text) <= MAX_TEXT_DISPLAY else text[:MAX_TEXT_DISPLAY] + "…"


def value_key(vr: str) -> str:
    """Wireshark's key for an element's Value bytes (``dicom.tag.value.16u``, ``.uid``, ``.str``, …)."""
    if vr in ("US", "SS"):
        return "dicom.tag.value.16u" if vr == "US" else "dicom.tag.value.16s"
    if vr in ("UL", "SL"):
        return "dicom.tag.value.32u" if vr == "UL" else "dicom.tag.value.32s"
    if vr == "UI":
        return "dicom.tag.value.uid"
    if vr in _TEXT_VRS:
        return "dicom.tag.value.str"
    return "dicom.tag.value.byte"


class CommandSet:
    """A decoded command set: keyword → value map, and (on demand) its field tree and findings.

    The model keeps one of these per message of captures with millions, so
    only the raw bytes (a few hundred) and the values pairing needs are held;
    the other values, the tree and the JSON model are decoded again from
    ``raw`` whenever asked for, and not kept.
    """

    __slots__ = ("raw", "command_field", "message_id", "responds_to", "status", "data_set_type")

    def __init__(self, raw: bytes):
        self.raw = raw
        el = self.elements
        self.command_field = _as_int(el.get("CommandField"))
        self.message_id = _as_int(el.get("MessageID"))
        self.responds_to = _as_int(el.get("MessageIDBeingRespondedTo"))
        self.status = _as_int(el.get("Status"))
        self.data_set_type = _as_int(el.get("CommandDataSetType"))

    @property
    def elements(self) -> dict[str, Any]:
        """Keyword → value of every element (first occurrence of a duplicate)."""
        return _scan(self.raw)[0]

    @property
    def vrs(self) -> dict[str, tuple[int, str]]:
        """Keyword → (tag, VR), for the JSON model."""
        return _scan(self.raw)[1]

    @property
    def raw_length(self) -> int:
        return len(self.raw)

    @property
    def tree(self) -> Field:
        """The field tree with validation findings, decoded from ``raw`` (not cached)."""
        return _decode_tree(self.raw)

    def _int(self, keyword: str) -> int | None:
        v = self.elements.get(keyword)
        return v if isinstance(v, int) else None

    def _str(self, keyword: str) -> str | None:
        v = self.elements.get(keyword)
        return v if isinstance(v, str) else None


    @property
    def name(self) -> str:
        return command_name(self.command_field) if self.command_field is not None else "Unknown (no Command Field)"




    @property
    def affected_sop_class_uid(self) -> str | None:
        return self._str("AffectedSOPClassUID")

    @property
    def requested_sop_class_uid(self) -> str | None:
        return self._str("RequestedSOPClassUID")

    @property
    def sop_class_uid(self) -> str | None:
        """Affected SOP Class UID, else Requested SOP Class UID."""
        return self.affected_sop_class_uid or self.requested_sop_class_uid

    @property
    def affected_sop_instance_uid(self) -> str | None:
        return self._str("AffectedSOPInstanceUID")

    @property
    def requested_sop_instance_uid(self) -> str | None:
        return self._str("RequestedSOPInstanceUID")


    @property
    def has_data_set(self) -> bool:
        return _has_ds(self.data_set_type)

    @property
    def move_destination(self) -> str | None:
        return self._str("MoveDestination")

    @property
    def priority(self) -> int | None:
        return self._int("Priority")

    @property
    def remaining(self) -> int | None:
        return self._int("NumberOfRemainingSuboperations")

    @property
    def completed(self) -> int | None:
        return self._int("NumberOfCompletedSuboperations")

    @property
    def failed(self) -> int | None:
        return self._int("NumberOfFailedSuboperations")

    @property
    def warning(self) -> int | None:
        return self._int("NumberOfWarningSuboperations")

    @property
    def error_comment(self) -> str | None:
        return self._str("ErrorComment")

    @property
    def move_originator_ae(self) -> str | None:
        return self._str("MoveOriginatorApplicationEntityTitle")

    @property
    def move_originator_message_id(self) -> int | None:
        return self._int("MoveOriginatorMessageID")

    @property
    def findings(self) -> list[Finding]:
        return self.tree.all_findings()

    @property
    def json(self) -> dict:
        """The command set in the DICOM JSON model (PS3.18 §F.2)."""
        return command_set_json(self)

    def __repr__(self) -> str:
        return f"CommandSet({self.name}, {len(self.raw)} bytes)"


def decode_command_set(data: bytes | bytearray | memoryview) -> CommandSet:
    """Decode a whole command set (Implicit VR Little Endian, PS3.7 §6.3.1); never raises.

    This is the per-message fast path: values only. ``CommandSet.tree`` builds
    the fields (and the validation findings) when a view needs them.
    """
    return CommandSet(bytes(data))


def _as_int(v: Any) -> int | None:
    return v if isinstance(v, int) else None


# The last command set scanned and its values: a message's JSON or line asks a dozen values of one command
# set in a row (each a property that scans ``raw``). One tuple, rebound whole (threads: the viewer's).
_last_scan: tuple = (None, None)


def _scan(buf: bytes) -> tuple[dict[str, Any], dict[str, tuple[int, str]]]:
    """Values (and tags/VRs) of the elements, stopping at the first one that overruns (callers only read them)."""
    global _last_scan
    last = _last_scan
    if last[0] is buf:
        return last[1]
    end = len(buf)
    elements: dict[str, Any] = {}
    vrs: dict[str, tuple[int, str]] = {}
    pos = 0
    unpack = _HDR.unpack_from
    while end - pos >= 8:
        group, elem, vl = unpack(buf, pos)
        if vl > end - pos - 8:
            break
        tag = (group << 16) | elem
        vr, keyword = _vr_keyword(tag)
        if keyword not in elements:
            elements[keyword] = _convert(vr, buf[pos + 8:pos + 8 + vl])
            vrs[keyword] = (tag, vr)
        pos += 8 + vl
    _last_scan = (buf, (elements, vrs))
    return elements, vrs


def _decode_tree(buf: bytes) -> Field:
    """The field tree of a command set, element by element, with validation findings."""
    end = len(buf)
    root = Field("dicom.command", "Command Set", None, "", 0, end)
    elements: dict[str, Any] = {}
    vrs: dict[str, tuple[int, str]] = {}
    fields_by_kw: dict[str, Field] = {}
    pos = 0
    last_tag = -1
    group_len: tuple[int, int, Field] | None = None      # (declared, end of the group length element, field)
    group_end = 0
    while pos < end:
        if end - pos < 8:
            f = Field("dicom.truncated", "Element header", bytes(buf[pos:]), f"truncated: {end - pos} of 8 bytes",
                      pos, end - pos)
            f.findings.append(Finding(ERROR, "command-truncated",
                                      f"element header cut short at offset {pos}: {end - pos} of 8 bytes"))
            root.add(f)
            break
        group, elem, vl = _HDR.unpack_from(buf, pos)
        tag = (group << 16) | elem
        entry = _entry(tag)
        if entry is None:
            vr, keyword, name = "UN", f"Unknown {_tag_text(group, elem)}", "Unknown"
        else:
            vr, keyword, name = entry
            vr = vr.split(" or ")[0] if vr else "UN"
            keyword = keyword or f"Unknown {_tag_text(group, elem)}"
        label = f"{_tag_text(group, elem)} {name}"           # how findings name it
        avail = end - pos - 8
        size = "u/l" if vl == 0xFFFFFFFF else str(vl)
        word = "Unknown" if keyword.startswith("Unknown (") else keyword
        f = Field(keyword, f"{_tag_text(group, elem)} {vr} [{size}] {word}", None, "", pos, 8 + min(vl, avail))
        f.children.append(Field("dicom.tag", "Tag", (group, elem), label, pos, 4))
        f.children.append(Field("dicom.tag.vl", "Length", vl, str(vl), pos + 4, 4))
        root.add(f)
        if vl > avail:
            what = "undefined length (0xFFFFFFFF) is not allowed in a command set" if vl == 0xFFFFFFFF \
                else f"value length {vl} runs past the end of the command set ({avail} bytes left)"
            f.display = f"truncated: {what}"
            f.findings.append(Finding(ERROR, "command-element-overrun", f"{label}: {what}"))
            break
        raw = buf[pos + 8:pos + 8 + vl]
        value = _convert(vr, raw)
        f.value = value
        f.display = _display_value(vr, value)
        f.children.append(Field(value_key(vr), "Value", value, f.display, pos + 8, vl))
        if group != 0x0000:
            f.findings.append(Finding(WARN, "command-not-group-0000",
                                      f"{label}: element of group {group:04X} in a command set (PS3.7 §6.3.1)"))
        else:
            group_end = pos + 8 + vl
        if tag <= last_tag:
            f.findings.append(Finding(WARN, "command-element-order",
                                      f"{label}: out of ascending tag order (PS3.5 §7.1)"
                                      if tag < last_tag else f"{label}: duplicate element"))
        last_tag = max(last_tag, tag)
        if keyword not in elements:       # a duplicate keeps the first value, flagged above
            elements[keyword] = value
            vrs[keyword] = (tag, vr)
            fields_by_kw[keyword] = f
        if tag == 0x00000000 and group_len is None and isinstance(value, int):
            group_len = (value, pos + 8 + vl, f)
        pos += 8 + vl

    _annotate(root, elements, fields_by_kw)
    if group_len is not None:
        declared, start, gf = group_len
        actual = max(0, group_end - start)
        if declared != actual:
            gf.findings.append(Finding(WARN, "command-group-length",
                                       f"Command Group Length says {declared} bytes, the group has {actual}"))
    _check_required(root, elements)
    return root


def _annotate(root: Field, elements: dict[str, Any], by_kw: dict[str, Field]) -> None:
    """Display strings that need other elements (Status needs the command field), and the root line."""
    cf = elements.get("CommandField")
    cf = cf if isinstance(cf, int) else None
    sop = elements.get("AffectedSOPClassUID") or elements.get("RequestedSOPClassUID")
    sop = sop if isinstance(sop, str) else None
    shown = {
        "CommandField": lambda v: command_display(v),
        "Priority": lambda v: priority_display(v),
        "CommandDataSetType": lambda v: data_set_type_display(v),
        "Status": lambda v: status_info(v, cf, sop).display,
    }
    for kw, fmt in shown.items():
        f = by_kw.get(kw)
        if f is not None and isinstance(f.value, int):
            f.display = fmt(f.value)
            if f.children:
                f.children[-1].display = f.display
    root.label = f"Command Set: {command_name(cf) if cf is not None else 'Unknown (no Command Field)'}"
    parts = []
    if isinstance(elements.get("MessageID"), int):
        parts.append(f"MessageID={elements['MessageID']}")
    if isinstance(elements.get("MessageIDBeingRespondedTo"), int):
        parts.append(f"MessageIDBeingRespondedTo={elements['MessageIDBeingRespondedTo']}")
    if isinstance(elements.get("Status"), int):
        parts.append(f"Status={status_info(elements['Status'], cf, sop).display}")
    root.value = cf
    root.display = ", ".join(parts)


def _check_required(tree: Field, elements: dict[str, Any]) -> None:
    cf = elements.get("CommandField")
    cf = cf if isinstance(cf, int) else None
    if cf is None:
        tree.findings.append(Finding(ERROR, "command-missing-element",
                                        "no Command Field (0000,0100): not a decodable command set"))
        return
    required = REQUIRED.get(cf)
    if required is None:
        tree.findings.append(Finding(WARN, "command-unknown", f"unknown Command Field 0x{cf:04X} (PS3.7 Annex E)"))
        return
    for kw in required:
        if kw not in elements:
            sev = WARN if kw in _SOFT else ERROR
            tree.findings.append(Finding(sev, "command-missing-element",
                                            f"{command_name(cf)} without mandatory {kw} (PS3.7 §9.3/§10.3)"))
    if is_response(cf) and not isinstance(elements.get("Status"), int) and "Status" in elements:
        tree.findings.append(Finding(ERROR, "command-bad-status", "Status value is not a 2-byte US"))


def _json_value(vr: str, value: Any) -> dict:
    if value is None:
        return {"vr": vr}
    if isinstance(value, (bytes, bytearray)):
        return {"vr": vr if vr in ("OB", "OW", "UN") else "UN",
                "InlineBinary": base64.b64encode(bytes(value)).decode("ascii")}
    if vr == "AT":
        vals = value if isinstance(value, list) else [value]
        return {"vr": vr, "Value": [f"{g:04X}{e:04X}" for g, e in vals]}
    if isinstance(value, list):
        return {"vr": vr, "Value": list(value)}
    if isinstance(value, int):
        return {"vr": vr, "Value": [value]}
    if value == "":
        return {"vr": vr}
    return {"vr": vr, "Value": [v for v in str(value).split("\\")]}


def command_set_json(cs: CommandSet) -> dict:
    """The DICOM JSON model (PS3.18 §F.2) of a command set: ``{"00000100": {"vr": "US", "Value": [32]}}``."""
    out: dict[str, dict] = {}
    for kw, (tag, vr) in sorted(cs.vrs.items(), key=lambda kv: kv[1][0]):
        out[f"{tag:08X}"] = _json_value(vr, cs.elements.get(kw))
    return out
