"""The one decoded-field representation shared by every view.

A :class:`Field` is what Wireshark calls a proto_tree item: a key (reusing
Wireshark's ``dicom.*`` names where they exist, DICOM keywords for elements),
a label, a typed value, a display string, and where its bytes are
(``offset``/``length`` inside the decoded unit's bytes), with children and
expert findings. The TUI tree, the hex highlight, ``dump -V`` and the JSON
export are all walks of it.

Fields are built through a :class:`Cursor`, so offsets cannot drift from
parsing, and reading past the end never raises: it yields a partial field
and a finding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

# Severities, ordered like Wireshark's expert levels.
CHAT, NOTE, WARN, ERROR = "chat", "note", "warning", "error"
SEVERITY_RANK = {CHAT: 0, NOTE: 1, WARN: 2, ERROR: 3}


@dataclass(slots=True, frozen=True)
class Finding:
    """An expert finding attached to a field: severity, stable code, plain message."""

    severity: str
    code: str
    message: str

    def to_json(self) -> dict:
        return {"severity": self.severity, "code": self.code, "message": self.message}


@dataclass(slots=True)
class Field:
    """One decoded field: key, label, value, display text, byte span, children."""

    key: str
    label: str
    value: Any = None
    display: str = ""
    offset: int = 0
    length: int = 0
    children: list["Field"] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.offset + self.length

    def add(self, child: "Field") -> "Field":
        self.children.append(child)
        return child

    def walk(self, depth: int = 0) -> Iterator[tuple[int, "Field"]]:
        """Depth-first (depth, field) pairs, this field first (a stack, not one generator per level: data set
        trees are walked for their findings on every diagnosis)."""
        stack = [(depth, self)]
        pop = stack.pop
        push = stack.extend
        while stack:
            d, f = pop()
            yield d, f
            ch = f.children
            if ch:
                d += 1
                push([(d, c) for c in reversed(ch)])

    def find(self, key: str) -> "Field | None":
        """First descendant (or self) with this key."""
        for _, f in self.walk():
            if f.key == key:
                return f
        return None

    def find_all(self, key: str) -> list["Field"]:
        return [f for _, f in self.walk() if f.key == key]

    def all_findings(self) -> list[Finding]:
        """Every finding of this field and its descendants, in :meth:`walk` order."""
        out: list[Finding] = []
        stack = [self]
        pop = stack.pop
        while stack:
            f = pop()
            if f.findings:
                out.extend(f.findings)
            ch = f.children
            if ch:
                stack.extend(reversed(ch))
        return out

    def text(self) -> str:
        """The one-line text of this field, as the tree views show it."""
        return f"{self.label}: {self.display}" if self.display != "" else self.label

    def shifted(self, delta: int) -> "Field":
        """Move this tree's spans by ``delta`` bytes (in place); returns self."""
        for _, f in self.walk():
            f.offset += delta
        return self

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "value": json_value(self.value),
            "display": self.display,
            "offset": self.offset,
            "length": self.length,
        }
        if self.children:
            out["children"] = [c.to_json() for c in self.children]
        if self.findings:
            out["findings"] = [x.to_json() for x in self.findings]
        return out


def json_value(value: Any) -> Any:
    """A JSON-safe form of a field value (bytes as hex, tuples as lists)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value[:64]).hex()
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return str(value)


class Cursor:
    """Reads big- or little-endian values from a buffer while building fields.

    Every ``u8``/``u16``/... call adds a child field to the current parent and
    advances; a short read adds a finding and returns ``None`` instead of
    raising. ``base`` is added to every offset so that a cursor over a slice
    reports offsets in the enclosing unit.
    """

    __slots__ = ("buf", "pos", "end", "base", "stack", "truncated")

    def __init__(self, buf: bytes | memoryview, root: Field, *, start: int = 0,
                 end: int | None = None, base: int = 0):
        self.buf = buf
        self.pos = start
        self.end = len(buf) if end is None else min(end, len(buf))
        self.base = base
        self.stack = [root]
        self.truncated = False

    @property
    def parent(self) -> Field:
        return self.stack[-1]

    @property
    def remaining(self) -> int:
        return max(0, self.end - self.pos)

    def abs(self, pos: int | None = None) -> int:
        return self.base + (self.pos if pos is None else pos)

    def finding(self, severity: str, code: str, message: str, on: Field | None = None) -> None:
        (on or self.parent).findings.append(Finding(severity, code, message))

    def _short(self, label: str, need: int) -> None:
        self.truncated = True
        have = self.remaining
        f = Field("dicom.truncated", label, None, f"truncated: need {need} bytes, have {have}",
                  self.abs(), have)
        f.findings.append(Finding(ERROR, "truncated", f"{label}: {need} bytes needed, only {have} present"))
        self.parent.add(f)
        self.pos = self.end

    def _num(self, fmt: str, size: int, key: str, label: str,
             fmt_display: Callable[[int], str] | None) -> int | None:
        if self.remaining < size:
            self._short(label, size)
            return None
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        disp = fmt_display(v) if fmt_display else str(v)
        self.parent.add(Field(key, label, v, disp, self.abs(), size))
        self.pos += size
        return v

    def u8(self, key: str, label: str, display: Callable[[int], str] | None = None) -> int | None:
        return self._num(">B", 1, key, label, display)

    def u16(self, key: str, label: str, display: Callable[[int], str] | None = None) -> int | None:
        return self._num(">H", 2, key, label, display)

    def u32(self, key: str, label: str, display: Callable[[int], str] | None = None) -> int | None:
        return self._num(">I", 4, key, label, display)

    def raw(self, key: str, label: str, size: int, display: str | None = None) -> bytes | None:
        """A run of bytes kept as bytes (shown as hex unless told otherwise)."""
        if self.remaining < size:
            self._short(label, size)
            return None
        v = bytes(self.buf[self.pos:self.pos + size])
        shown = display if display is not None else hex_preview(v)
        self.parent.add(Field(key, label, v, shown, self.abs(), size))
        self.pos += size
        return v

    def text(self, key: str, label: str, size: int,
             display: Callable[[str], str] | None = None) -> str | None:
        """An ASCII text field (AE titles, UIDs), decoded leniently, trailing pad stripped."""
        if self.remaining < size:
            self._short(label, size)
            return None
        raw = bytes(self.buf[self.pos:self.pos + size])
        v = raw.decode("latin-1").rstrip("\x00 ")
        self.parent.add(Field(key, label, v, display(v) if display else v, self.abs(), size))
        self.pos += size
        return v

    def skip(self, size: int) -> None:
        self.pos = min(self.end, self.pos + size)

    def subtree(self, key: str, label: str, length: int | None = None,
                value: Any = None, display: str = "") -> "_Subtree":
        """Open a child field; its length is fixed at ``length`` or measured on exit."""
        return _Subtree(self, Field(key, label, value, display, self.abs(), length or 0), length)


class _Subtree:
    __slots__ = ("cur", "field", "fixed")

    def __init__(self, cur: Cursor, f: Field, fixed: int | None):
        self.cur, self.field, self.fixed = cur, f, fixed

    def __enter__(self) -> Field:
        self.cur.parent.add(self.field)
        self.cur.stack.append(self.field)
        return self.field

    def __exit__(self, *exc) -> None:
        self.cur.stack.pop()
        if self.fixed is None:
            self.field.length = self.cur.abs() - self.field.offset


def hex_preview(data: bytes, limit: int = 16) -> str:
    shown = data[:limit].hex(" ")
    return shown + (" …" if len(data) > limit else "")
