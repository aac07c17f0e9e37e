"""The TUI's filter language: small expressions over associations, their messages and elements.

Grammar (keywords are case-insensitive)::

    expr       := or
    or         := and ( ("or" | "||") and )*
    and        := unary ( ("and" | "&&") unary )*
    unary      := ("not" | "!") unary | "(" expr ")" | comparison
    comparison := FIELD OP VALUE | FIELD "exists"
    OP         := "==" | "!=" | "~" | "!~" | "<" | "<=" | ">" | ">="
    VALUE      := "quoted \\"string\\"" | bare word (C-FIND, 127.0.0.1, 0xA700, rejected, 1.5s)
    FIELD      := a name below | a DICOM keyword (PatientID) | a tag (0010,0020)

Fields (each may hold several values; ``==`` and ``~`` hold when one value
matches, ``!=`` and ``!~`` when none does; a field with no value, such as
``status`` of an association without responses, makes every comparison false;
``exists`` holds when the field has a value, or the element is present):

=========  ==================================================================
ae         calling or called AE title          (``calling``, ``called``: one)
state      released, rejected, aborted, incomplete   (``outcome`` is the same)
command    DIMSE command: ``C-FIND`` matches C-FIND-RQ and C-FIND-RSP
status     success, pending, warning, failure, cancel, or a code (``0xA700``)
sop        SOP class UID or name (``sop ~ "CT Image"``); for an association
           also every proposed abstract syntax
ip, port   client or server address / TCP port
assoc      association number;  ``msgid``: message ID (or the one responded to)
rtt        request → final response time of the message's exchange, with a
           unit: ``rtt > 1s``, ``rtt >= 250ms`` (``us``, ``ns``; bare: seconds)
KEYWORD    any element of the command set or data set, at any depth (in
(g,e)      sequences too): ``PatientID == "123456"``, ``(0008,0052) == STUDY``,
           ``ScheduledStationAETitle exists``, ``StudyInstanceUID ~ "1.2.826"``
=========  ==================================================================

Strings compare case-insensitively; ``~`` is "contains". An association is
shown when the expression holds for it together with at least one of its
messages, or for it alone when it has none. What cannot match is an error,
not an empty result: an unknown field or keyword, an unknown command
(``command == C-STOR``), a port or number that is not one; the error names
the nearest valid word. Everything here is pure: no Textual, so it is tested
on its own (tests/test_tui_filter.py).
"""

from __future__ import annotations

import difflib
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from ...capture.frame import ip_text
from ...dimse.commands import COMMAND_FIELDS
from ...dimse.status import status_info
from ...uids import pydicom_table, uid_name

FIELDS = ("ae", "calling", "called", "state", "outcome", "command", "status", "sop", "ip", "port",
          "assoc", "msgid", "rtt")
MESSAGE_FIELDS = frozenset({"command", "status", "msgid", "rtt"})
NUMERIC_FIELDS = frozenset({"port", "assoc", "msgid"})
OPS = ("==", "!=", "~", "!~", "<=", ">=", "<", ">")
ORDER_OPS = ("<", "<=", ">", ">=")
STATUS_WORDS = {"success": "Success", "pending": "Pending", "warning": "Warning", "failure": "Failure",
                "cancel": "Cancel"}
STATES = ("released", "rejected", "aborted", "incomplete")
COMMANDS = tuple(sorted({n for n in COMMAND_FIELDS.values()} | {n.rsplit("-", 1)[0] for n in COMMAND_FIELDS.values()}))
TIME_UNITS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "µs": 1_000, "ns": 1}
TAG_RE = re.compile(r"\(\s*([0-9A-Fa-f]{4})\s*,\s*([0-9A-Fa-f]{4})\s*\)")
ELEMENT_CACHE = 4096           # messages whose element values are kept (a filter re-reads them often)


class FilterError(ValueError):
    """An expression that does not parse; ``position`` is the character offset of the problem."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.position = position


@dataclass(frozen=True, slots=True)
class Compare:
    field: str          # a name of FIELDS, or an element tag as "(GGGG,EEEE)"
    op: str             # one of OPS, or "exists" (value "")
    value: str


@dataclass(frozen=True, slots=True)
class Not:
    operand: Any


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str             # "and" | "or"
    operands: tuple


@dataclass(frozen=True, slots=True)
class Token:
    kind: str           # word, string, op, lparen, rparen, end
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens; raises FilterError on an unterminated string.

    A tag written ``(gggg,eeee)`` is one word, not a parenthesis.
    """
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "(":
            m = TAG_RE.match(text, i)
            if m is not None:
                out.append(Token("word", f"({m.group(1).upper()},{m.group(2).upper()})", i))
                i = m.end()
                continue
        if c in "()":
            out.append(Token("lparen" if c == "(" else "rparen", c, i))
            i += 1
            continue
        if c in "\"'":
            j, buf = i + 1, []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise FilterError("unterminated string", i)
            out.append(Token("string", "".join(buf), i))
            i = j + 1
            continue
        two = text[i:i + 2]
        if two in ("&&", "||"):
            out.append(Token("word", "and" if two == "&&" else "or", i))
            i += 2
            continue
        op = next((o for o in OPS if text.startswith(o, i)), None)
        if op is not None:
            out.append(Token("op", op, i))
            i += len(op)
            continue
        if c == "!":
            out.append(Token("word", "not", i))
            i += 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] not in "()\"'=!~<>&|":
            j += 1
        if j == i:                                  # a lone '=', '&' or '|'
            raise FilterError(f"unexpected {c!r}" + (" (did you mean '==', '&&' or '||'?)" if c in "=&|" else ""), i)
        out.append(Token("word", text[i:j], i))
        i = j
    out.append(Token("end", "", n))
    return out


# -- DICOM keywords ---------------------------------------------------------------------------

_keywords: dict[str, int] | None = None


def keywords() -> dict[str, int]:
    """lower-case DICOM keyword → tag, from pydicom's copy of the PS3.6 dictionary (read once)."""
    global _keywords
    if _keywords is None:
        table = {}
        try:
            for tag, entry in pydicom_table("_dicom_dict", "DicomDictionary").items():
                kw = entry[4] if len(entry) > 4 else ""
                if kw:
                    table[kw.lower()] = tag
        except Exception:              # no dictionary: only tags and our own fields then
            table = {}
        _keywords = table
    return _keywords


def tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def keyword_of(tag: int) -> str | None:
    """The DICOM keyword of a tag (``PatientID``), None if the dictionary has none."""
    try:
        entry = pydicom_table("_dicom_dict", "DicomDictionary").get(tag)
    except Exception:
        return None
    return entry[4] if entry and len(entry) > 4 and entry[4] else None


def _nearest(word: str, choices: Iterable[str]) -> str | None:
    got = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return got[0] if got else None


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    near = _nearest(word, choices)
    return f" (did you mean {near}?)" if near else ""


def _field_name(t: Token) -> str:
    """A field token → a name of FIELDS or an element's "(GGGG,EEEE)"; FilterError when unknown."""
    name = t.text.lower()
    if name in FIELDS:
        return name
    if TAG_RE.fullmatch(t.text):
        return t.text.upper()
    kw = keywords()
    if name in kw:
        return tag_text(kw[name])
    proper = {k.lower(): k for k in _proper_keywords()}
    near = _nearest(name, FIELDS) or _nearest(name, list(proper))       # our own names first
    hint = f" (did you mean {near if near in FIELDS else proper.get(near, near)}?)" if near else \
        f" (fields: {', '.join(FIELDS)}, a DICOM keyword or a tag (gggg,eeee))"
    raise FilterError(f"unknown field {t.text!r}{hint}", t.pos)


def _proper_keywords() -> list[str]:
    try:
        return [e[4] for e in pydicom_table("_dicom_dict", "DicomDictionary").values() if len(e) > 4 and e[4]]
    except Exception:
        return []


def parse_duration(text: str) -> int | None:
    """``1s``, ``250ms``, ``20us``, ``1.5`` (seconds) → nanoseconds; None if not a time."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(s|ms|us|µs|ns)?\s*", text.lower())
    if m is None:
        return None
    return int(round(float(m.group(1)) * TIME_UNITS[m.group(2) or "s"]))


class _Parser:
    def __init__(self, text: str):
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def is_word(self, word: str) -> bool:
        t = self.peek()
        return t.kind == "word" and t.text.lower() == word

    def parse(self):
        if self.peek().kind == "end":
            raise FilterError("empty expression", 0)
        node = self.or_()
        t = self.peek()
        if t.kind != "end":
            raise FilterError(f"unexpected {t.text!r}: expected and/or", t.pos)
        return node

    def or_(self):
        parts = [self.and_()]
        while self.is_word("or"):
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def and_(self):
        parts = [self.unary()]
        while self.is_word("and"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def unary(self):
        t = self.peek()
        if self.is_word("not"):
            self.take()
            return Not(self.unary())
        if t.kind == "lparen":
            self.take()
            node = self.or_()
            close = self.take()
            if close.kind != "rparen":
                raise FilterError("missing ')'", close.pos)
            return node
        return self.comparison()

    def comparison(self) -> Compare:
        t = self.take()
        if t.kind != "word" or not t.text:
            raise FilterError(f"expected a field name ({', '.join(FIELDS)}, a DICOM keyword or a tag)", t.pos)
        name = _field_name(t)
        name = "outcome" if name == "state" else name
        if self.is_word("exists"):
            self.take()
            return Compare(name, "exists", "")
        op = self.take()
        if op.kind != "op":
            raise FilterError(f"expected an operator after {t.text!r} ({' '.join(OPS)}) or 'exists'", op.pos)
        v = self.take()
        if v.kind not in ("word", "string") or (v.kind == "word" and not v.text):
            raise FilterError(f"expected a value after {op.text!r}", v.pos)
        _check_value(name, op.text, v)
        return Compare(name, op.text, v.text)


def _check_value(name: str, op: str, v: Token) -> None:
    """Reject a value the field can never have (so the user sees why, instead of an empty pane)."""
    text, low = v.text, v.text.lower()
    if name == "rtt":
        if parse_duration(text) is None:
            raise FilterError(f"rtt needs a time such as 1s, 250ms or 0.5, not {text!r}", v.pos)
        return
    if name in NUMERIC_FIELDS:
        if _number(text) is None:
            raise FilterError(f"{name} is a number, not {text!r}", v.pos)
        return
    if op in ORDER_OPS and _number(text) is None and _float(text) is None:
        raise FilterError(f"{op!r} needs a number, not {text!r}", v.pos)
    if name == "outcome" and op in ("==", "!=") and low not in STATES:
        raise FilterError(f"state is released, rejected, aborted or incomplete{_did_you_mean(low, STATES)}", v.pos)
    if name == "status" and op in ("==", "!=") and low not in STATUS_WORDS and _number(text) is None:
        raise FilterError("status is success, pending, warning, failure, cancel or a code"
                          f"{_did_you_mean(low, STATUS_WORDS)}", v.pos)
    if name == "command" and op in ("==", "!=") and text.upper() not in COMMANDS:
        raise FilterError(f"unknown command {text!r}{_did_you_mean(text.upper(), COMMANDS)}", v.pos)


def parse(text: str):
    """Parse a filter expression into a small AST; raises :class:`FilterError`."""
    return _Parser(text).parse()


def check(text: str) -> str | None:
    """None if ``text`` is a valid expression (or empty), else the error message with its column."""
    if not text.strip():
        return None
    try:
        parse(text)
    except FilterError as e:
        return f"{e} (at column {e.position + 1})"
    return None


def _number(s: str) -> int | None:
    try:
        return int(s, 0)
    except (ValueError, TypeError):
        return None


def _float(s: str) -> float | None:
    try:
        return float(s)
    except (ValueError, TypeError):
        return None


def field_for(f) -> tuple[str, str] | None:
    """(field, value) of a filter that matches a decoded field as it is (apply-as-filter), or None.

    An element gives its keyword (or tag) and its value; a few decoded PDU fields map to ours.
    """
    children = getattr(f, "children", None) or []
    if children and children[0].key == "dicom.tag" and isinstance(children[0].value, tuple):
        group, elem = children[0].value
        tag = (group << 16) | elem
        name = keyword_of(tag) if not group & 1 else None
        return name or tag_text(tag), _value_text(f.value)
    return None


def _value_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return "\\".join(str(x) for x in v) if not (len(v) == 2 and all(isinstance(x, int) for x in v)) \
            else tag_text((v[0] << 16) | v[1])
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def filter_text(f) -> str | None:
    """The filter expression "apply as filter" makes of a field: ``PatientID == "123456"``,
    ``ScheduledProcedureStepSequence exists`` for a sequence or a value that cannot be quoted."""
    got = field_for(f)
    if got is None:
        return None
    name, value = got
    if f.value is None or isinstance(f.value, bytes) or (value == "" and f.display not in ("", "(empty)")):
        return f"{name} exists"
    if isinstance(f.value, int) and not isinstance(f.value, bool):
        return f"{name} == {f.value}"
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name} == "{quoted}"'


# -- values of fields ------------------------------------------------------------------------

def _sop_values(uid: str | None) -> list[str]:
    if not uid:
        return []
    name = uid_name(uid)
    return [uid, name] if name and name != uid else [uid]


def _message_status(msg, exchange) -> tuple[int | None, str | None]:
    """(status code, category) of a response, or of a request's final response."""
    cmd = getattr(msg, "command", None)
    code = cmd.status if cmd is not None else None
    if code is not None:
        cf = cmd.command_field
        sop = cmd.affected_sop_class_uid
        if exchange is not None and exchange.request is not None and exchange.request.command is not None:
            sop = sop or exchange.request.command.affected_sop_class_uid
        info = status_info(code, cf, sop)
        return code, info.category if info is not None else None
    if exchange is not None:
        info = exchange.status_info
        if info is not None:
            return info.code, info.category
    return None, None


_element_cache: "OrderedDict[int, tuple[Any, dict]]" = OrderedDict()


def element_values(msg, need_data: bool = True) -> dict[int, list]:
    """tag → values of every element of a message's command set and data set (sequences included).

    Decoding a kept data set is not free, so the last ``ELEMENT_CACHE`` messages' values are kept;
    ``need_data=False``: the command set alone (an expression about group 0000 only), not cached.
    """
    key = id(msg)
    hit = _element_cache.get(key)
    if hit is not None and hit[0] is msg:
        _element_cache.move_to_end(key)
        return hit[1]
    out: dict[int, list] = {}
    roots = []
    try:
        if msg.command is not None:
            roots.append(msg.command.tree)
        if need_data and msg.data is not None:
            roots.append(msg.data.tree)
    except Exception:                  # a view must not fail on one odd message
        roots = roots
    for root in roots:
        for _, f in root.walk():
            ch = f.children
            if not ch or ch[0].key != "dicom.tag" or not isinstance(ch[0].value, tuple):
                continue
            group, elem = ch[0].value
            vals = out.setdefault((group << 16) | elem, [])
            v = f.value
            if isinstance(v, list):
                vals.extend(x for x in v if x is not None)
                if len(v) > 1:              # the whole value as DICOM writes it too: ORIGINAL\PRIMARY\AXIAL
                    vals.append("\\".join(str(x) for x in v))
            elif v is not None:
                vals.append(v)
            else:
                vals.append("")          # present, empty (or a sequence): exists, equals ""
    if not need_data:
        return out
    _element_cache[key] = (msg, out)
    if len(_element_cache) > ELEMENT_CACHE:
        _element_cache.popitem(last=False)
    return out


def _element_field(name: str, msg) -> list:
    """The values of element ``name`` ("(GGGG,EEEE)") in a message; the data set is decoded only when
    the element can be in it (its tag's bytes occur in the kept bytes)."""
    m = TAG_RE.fullmatch(name)
    if m is None:
        return []
    tag = (int(m.group(1), 16) << 16) | int(m.group(2), 16)
    hit = _element_cache.get(id(msg))
    if hit is not None and hit[0] is msg:
        return hit[1].get(tag, [])
    data = getattr(msg, "data", None)
    need_data = tag >> 16 != 0 and data is not None
    if need_data:
        may_hold = getattr(data, "may_hold", None)
        try:
            need_data = may_hold is None or may_hold((tag,))
        except Exception:
            need_data = True
    return element_values(msg, need_data).get(tag, [])


def field_values(name: str, assoc, msg=None, exchange=None) -> list:
    """The values a field has for an association (and one of its messages); [] when none."""
    a = assoc
    if name.startswith("("):
        if msg is None:
            return []
        return _element_field(name, msg)
    if name == "ae":
        return [x for x in (a.calling_ae, a.called_ae) if x is not None]
    if name == "calling":
        return [a.calling_ae] if a.calling_ae is not None else []
    if name == "called":
        return [a.called_ae] if a.called_ae is not None else []
    if name == "outcome":
        return [a.outcome]
    if name == "ip":
        return [ip_text(a.client.ip), ip_text(a.server.ip)]
    if name == "port":
        return [a.client.port, a.server.port]
    if name == "assoc":
        return [a.number]
    if name == "sop":
        if msg is not None and msg.command is not None:
            cmd = msg.command
            uid = cmd.affected_sop_class_uid or getattr(cmd, "requested_sop_class_uid", None)
            if uid is None and exchange is not None and exchange.request is not None \
                    and exchange.request.command is not None:
                uid = exchange.request.command.affected_sop_class_uid
            return _sop_values(uid)
        return [v for ctx in a.contexts.values() for v in _sop_values(ctx.abstract_syntax)]
    if msg is None:
        return []
    cmd = msg.command
    if name == "command":
        n = msg.name
        base = n.rsplit("-", 1)[0] if n.endswith(("-RQ", "-RSP")) else n
        return [n, base]
    if name == "msgid":
        if cmd is None:
            return []
        v = cmd.message_id if cmd.message_id is not None else cmd.responds_to
        return [v] if v is not None else []
    if name == "status":
        code, category = _message_status(msg, exchange)
        out: list = []
        if code is not None:
            out.append(code)
        if category:
            out.append(category.lower())
        return out
    if name == "rtt":
        if exchange is None:
            return []
        from ...model.timing import rtt_ns
        v = rtt_ns(exchange)
        return [v] if v is not None else []
    return []


def _equal(have, want: str) -> bool:
    if isinstance(have, bool):
        return str(have).lower() == want.lower()
    if isinstance(have, int):
        n = _number(want)
        return n is not None and n == have
    if isinstance(have, float):
        n = _float(want)
        return n is not None and n == have
    if isinstance(have, tuple) and len(have) == 2:                   # an AT value: (group, element)
        return tag_text((have[0] << 16) | have[1]) == want.upper().replace(" ", "")
    return str(have).strip().lower() == want.strip().lower()


def _ordered(values: list, want: str, field: str) -> tuple[list, float | None]:
    """(comparable values, wanted number) for <, <=, >, >=."""
    if field == "rtt":
        return [v for v in values if isinstance(v, int)], parse_duration(want)
    n = _number(want)
    target = float(n) if n is not None else _float(want)
    nums = []
    for v in values:
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)):
            nums.append(v)
        elif isinstance(v, str):                  # IS/DS/DA/TM text: a number if it reads as one
            f = _float(v.strip())
            if f is not None:
                nums.append(f)
    return nums, target


def _compare(node: Compare, assoc, msg, exchange) -> bool:
    values = field_values(node.field, assoc, msg, exchange)
    if node.op == "exists":
        return bool(values)
    if not values:
        return False
    op, want = node.op, node.value
    if node.field == "rtt" and op in ("==", "!="):
        ns = parse_duration(want)
        hit = ns is not None and ns in values
        return hit if op == "==" else not hit
    if op == "==":
        return any(_equal(v, want) for v in values)
    if op == "!=":
        if node.field == "status" and want.lower() in STATUS_WORDS:
            return not any(_equal(v, want) for v in values if isinstance(v, str))
        return not any(_equal(v, want) for v in values)
    if op in ("~", "!~"):
        hit = any(want.lower() in (f"0x{v:04x}" if isinstance(v, int) and node.field == "status"
                                   else str(v)).lower() for v in values)
        return hit if op == "~" else not hit
    nums, n = _ordered(values, want, node.field)
    if n is None or not nums:
        return False
    if op == "<":
        return any(v < n for v in nums)
    if op == "<=":
        return any(v <= n for v in nums)
    if op == ">":
        return any(v > n for v in nums)
    return any(v >= n for v in nums)


def evaluate(node, assoc, msg=None, exchange=None) -> bool:
    """Whether ``node`` holds for this association and (optionally) one of its messages."""
    t = type(node)
    if t is Compare:
        return _compare(node, assoc, msg, exchange)
    if t is Not:
        return not evaluate(node.operand, assoc, msg, exchange)
    if node.op == "and":
        return all(evaluate(x, assoc, msg, exchange) for x in node.operands)
    return any(evaluate(x, assoc, msg, exchange) for x in node.operands)


def uses_messages(node) -> bool:
    """Whether the expression mentions a message-level field (command, status, msgid, rtt, sop, elements)."""
    t = type(node)
    if t is Compare:
        return node.field in MESSAGE_FIELDS or node.field == "sop" or node.field.startswith("(")
    if t is Not:
        return uses_messages(node.operand)
    return any(uses_messages(x) for x in node.operands)


def message_pairs(assoc) -> Iterator[tuple]:
    """(message, exchange) for every message of an association, exchange None when unpaired."""
    seen: set[int] = set()
    for ex in assoc.exchanges:
        for m in (ex.request, *ex.responses, ex.cancel):
            if m is not None:
                seen.add(id(m))
                yield m, ex
    for m in assoc.messages:
        if id(m) not in seen:
            yield m, None


def matches_association(node, assoc) -> bool:
    """An association matches when the expression holds with one of its messages (or alone, with none)."""
    if node is None:
        return True
    if not uses_messages(node):
        return evaluate(node, assoc)
    any_message = False
    for m, ex in message_pairs(assoc):
        any_message = True
        if evaluate(node, assoc, m, ex):
            return True
    if not any_message or "sop" in _fields(node):
        return evaluate(node, assoc)
    return False


def _fields(node) -> set[str]:
    t = type(node)
    if t is Compare:
        return {node.field}
    if t is Not:
        return _fields(node.operand)
    out: set[str] = set()
    for x in node.operands:
        out |= _fields(x)
    return out


def matches_message(node, assoc, msg, exchange=None) -> bool:
    """Whether one message of ``assoc`` matches (the ladder dims those that do not)."""
    return node is None or evaluate(node, assoc, msg, exchange)


_closed_results: "OrderedDict[int, tuple[Any, Any, bool]]" = OrderedDict()
CLOSED_CACHE = 100_000


def filter_associations(node, assocs: Iterable) -> list:
    """The associations a parsed expression keeps, in order.

    The viewer asks again at every loading batch; an association that is closed cannot change,
    so its answer for this expression is remembered (bounded).
    """
    out = []
    for a in assocs:
        hit = _closed_results.get(id(a))
        if hit is not None and hit[0] is a and hit[1] is node:
            keep = hit[2]
        else:
            keep = matches_association(node, a)
            if getattr(a, "closed", False) is True:
                _closed_results[id(a)] = (a, node, keep)
                if len(_closed_results) > CLOSED_CACHE:
                    _closed_results.popitem(last=False)
        if keep:
            out.append(a)
    return out


def matches_item(node, assoc, item) -> bool:
    """Whether a ladder row is shown under the filter: a message that matches; a PDU row (an
    A-ASSOCIATE, a P-DATA-TF) when the expression is about the association alone and holds."""
    if node is None:
        return True
    if item.message is not None:
        return evaluate(node, assoc, item.message, item.exchange)
    return not uses_messages(node) and evaluate(node, assoc)


HELP = """Display filter (/ to type one, esc to close the input)
  Rows that do not match are hidden, and associations with no matching
  row leave the list, as in Wireshark. m shows every row again with the
  non-matching ones dimmed; m again hides them. An expression that
  cannot match (an unknown field, keyword or command, a port that is not
  a number) is an error under the input, with the nearest valid name.

  status != success                 failed, warning, cancelled responses
  command == C-FIND                 C-FIND requests and responses
  state == rejected                 rejected associations
  ae == STORESCP or port == 104     by AE title (calling or called), port
  PatientID == "123456"             any element of a command or data
  (0008,0052) == STUDY                set, by keyword or by tag
  ScheduledStationAETitle exists    the element is there (empty or not)
  StudyInstanceUID ~ "1.2.826"      ~ contains, !~ does not contain
  rtt > 1s                          request to final response over 1 s
  sop ~ "CT Image" and not status == success

  Fields: ae (calling, called), state (released, rejected, aborted,
  incomplete), command (C-STORE, C-FIND-RSP, ...), status (success,
  pending, warning, failure, cancel, or a code such as 0xA700), sop
  (SOP class UID or name), ip, port, assoc (association number), msgid,
  rtt (a time: 1s, 250ms, 20us; a bare number is seconds), and any DICOM
  keyword or tag of the command or data set, inside sequences too.
  Operators: == != ~ !~ < <= > >= and exists; and, or, not (&& || !)
  and parentheses. Text compares case-insensitively; quote values that
  have spaces.
  Apply as filter: a on an element in the field tree (or "Apply as
  filter" in the command palette) filters on its value, for example
  PatientID == "WL0001".
"""
