"""The TUI's filter language: small expressions over associations and their messages.

Grammar (keywords are case-insensitive)::

    expr       := or
    or         := and ( ("or" | "||") and )*
    and        := unary ( ("and" | "&&") unary )*
    unary      := ("not" | "!") unary | "(" expr ")" | comparison
    comparison := FIELD OP VALUE
    OP         := "==" | "!=" | "~" | "!~" | "<" | "<=" | ">" | ">="
    VALUE      := "quoted \\"string\\"" | bare word (C-FIND, 127.0.0.1, 0xA700, rejected)

Fields (each may hold several values; ``==`` and ``~`` hold when one value
matches, ``!=`` and ``!~`` when none does; a field with no value, such as
``status`` of an association without responses, makes every comparison false):

=========  ==================================================================
ae         calling or called AE title          (``calling``, ``called``: one)
state      released, rejected, aborted, incomplete   (``outcome`` is the same)
command    DIMSE command: ``C-FIND`` matches C-FIND-RQ and C-FIND-RSP
status     success, pending, warning, failure, cancel, or a code (``0xA700``)
sop        SOP class UID or name (``sop ~ "CT Image"``); for an association
           also every proposed abstract syntax
ip, port   client or server address / TCP port
assoc      association number;  ``msgid``: message ID (or the one responded to)
=========  ==================================================================

Strings compare case-insensitively; ``~`` is "contains". An association is
shown when the expression holds for it together with at least one of its
messages, or for it alone when it has none. Everything here is pure: no
Textual, so it is tested on its own (tests/test_tui_filter.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from ...capture.frame import ip_text
from ...dimse.status import status_info
from ...uids import uid_name

FIELDS = ("ae", "calling", "called", "state", "outcome", "command", "status", "sop", "ip", "port",
          "assoc", "msgid")
MESSAGE_FIELDS = frozenset({"command", "status", "msgid"})
OPS = ("==", "!=", "~", "!~", "<=", ">=", "<", ">")
STATUS_WORDS = {"success": "Success", "pending": "Pending", "warning": "Warning", "failure": "Failure",
                "cancel": "Cancel"}


class FilterError(ValueError):
    """An expression that does not parse; ``position`` is the character offset of the problem."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.position = position


@dataclass(frozen=True, slots=True)
class Compare:
    field: str
    op: str
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
    """Split an expression into tokens; raises FilterError on an unterminated string."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
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
            raise FilterError(f"expected a field name ({', '.join(FIELDS)})", t.pos)
        name = t.text.lower()
        if name not in FIELDS:
            raise FilterError(f"unknown field {t.text!r} (fields: {', '.join(FIELDS)})", t.pos)
        op = self.take()
        if op.kind != "op":
            raise FilterError(f"expected an operator after {t.text!r} ({' '.join(OPS)})", op.pos)
        v = self.take()
        if v.kind not in ("word", "string") or (v.kind == "word" and not v.text):
            raise FilterError(f"expected a value after {op.text!r}", v.pos)
        if op.text in ("<", "<=", ">", ">=") and _number(v.text) is None:
            raise FilterError(f"{op.text!r} needs a number, not {v.text!r}", v.pos)
        if name == "state" and v.kind == "word" and op.text in ("==", "!=") and \
                v.text.lower() not in ("released", "rejected", "aborted", "incomplete"):
            raise FilterError("state is released, rejected, aborted or incomplete", v.pos)
        if name == "status" and op.text in ("==", "!=") and v.text.lower() not in STATUS_WORDS \
                and _number(v.text) is None:
            raise FilterError("status is success, pending, warning, failure, cancel or a code", v.pos)
        return Compare("outcome" if name == "state" else name, op.text, v.text)


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


def field_values(name: str, assoc, msg=None, exchange=None) -> list:
    """The values a field has for an association (and one of its messages); [] when none."""
    a = assoc
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
    return []


def _equal(have, want: str) -> bool:
    if isinstance(have, int):
        n = _number(want)
        return n is not None and n == have
    return str(have).lower() == want.lower()


def _compare(node: Compare, assoc, msg, exchange) -> bool:
    values = field_values(node.field, assoc, msg, exchange)
    if not values:
        return False
    op, want = node.op, node.value
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
    n = _number(want)
    nums = [v for v in values if isinstance(v, int)]
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
    """Whether the expression mentions a message-level field (command, status, msgid, sop)."""
    t = type(node)
    if t is Compare:
        return node.field in MESSAGE_FIELDS or node.field == "sop"
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


def filter_associations(node, assocs: Iterable) -> list:
    """The associations a parsed expression keeps, in order."""
    return [a for a in assocs if matches_association(node, a)]
