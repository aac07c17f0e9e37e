"""``dicomsniff diff``: two captures or two associations side by side (PS3.8 negotiation, PS3.7 exchanges).

Compares what two associations negotiated (AE titles, application context,
presentation contexts and transfer syntaxes, max PDU, implementation, user
information items, roles, user identity type) and the DIMSE exchanges
aligned by their command sequence: command set elements, data set /
identifier elements (added, removed, changed, empty versus absent, VR) and
statuses. Built for "this worklist query works from A but not from B".
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field

from rich.console import Console
from rich.text import Text

from ..model.association import Association, Exchange
from ..textsafe import safe_text
from ..uids import uid_name
from ..ul.tables import context_result_text, reject_text, user_identity_type_text

class TargetError(ValueError):
    """A ``FILE#N`` argument whose N is not an association number; the message is one line."""


def split_target(target: str, exists=os.path.exists) -> tuple[str, int | None]:
    """``FILE#N`` → (FILE, N); ``FILE`` → (FILE, None). A file whose own name has a '#' still works
    when it exists. ``FILE#abc`` for an existing FILE raises :class:`TargetError` (one line)."""
    path, sep, num = target.rpartition("#")
    if not sep or exists(target):
        return target, None
    if num.isdigit():
        return path, int(num)
    if path and exists(path):
        what = f"association number '{safe_text(num)}' is not a number" if num else "no association number after '#'"
        raise TargetError(f"{safe_text(target)}: {what} (FILE#N, N as in `dicomsniff summary`)")
    return target, None


# Command set elements whose difference says nothing about behaviour.
COMMAND_NOISE = frozenset({"CommandGroupLength", "MessageID", "MessageIDBeingRespondedTo"})
MAX_VALUE = 64


@dataclass(slots=True)
class Row:
    """One compared item: a label and the two sides' display values (None = absent)."""

    section: str
    label: str
    a: str | None
    b: str | None
    kind: str = ""            # equal, changed, added, removed, vr

    @property
    def equal(self) -> bool:
        return self.kind == "equal"

    def to_json(self) -> dict:
        return {"section": self.section, "item": self.label, "a": self.a, "b": self.b, "kind": self.kind}


@dataclass(slots=True)
class Pair:
    a: Association | None
    b: Association | None
    rows: list[Row] = field(default_factory=list)

    @property
    def differences(self) -> int:
        return sum(1 for r in self.rows if not r.equal)


def _kind(a: str | None, b: str | None) -> str:
    if a == b:
        return "equal"
    if a is None:
        return "added"
    if b is None:
        return "removed"
    return "changed"


def _row(section: str, label: str, a, b) -> Row:
    a = None if a is None else str(a)
    b = None if b is None else str(b)
    return Row(section, label, a, b, _kind(a, b))


def _short(v: str) -> str:
    v = safe_text(v)
    return v if len(v) <= MAX_VALUE else v[:MAX_VALUE - 1] + "…"


# -- negotiation -------------------------------------------------------------------


def _negotiation(a: Association, b: Association) -> list[Row]:
    S = "negotiation"
    rows = [_row(S, "calling AE", _ae(a.calling_ae), _ae(b.calling_ae)),
            _row(S, "called AE", _ae(a.called_ae), _ae(b.called_ae)),
            _row(S, "outcome", _outcome(a), _outcome(b))]
    for label, get in (("application context", lambda r: uid_name(r.application_context)
                        if r.application_context else None),
                       ("protocol version", lambda r: r.protocol_version)):
        rows.append(_row(S, label, get(a.rq) if a.rq else None, get(b.rq) if b.rq else None))
    for who, attr in (("requestor", "rq"), ("acceptor", "ac")):
        ra, rb = getattr(a, attr), getattr(b, attr)
        ua = ra.user_info if ra is not None else None
        ub = rb.user_info if rb is not None else None
        for label, get in (("max PDU length", lambda u: u.max_pdu_length),
                           ("implementation class UID", lambda u: u.implementation_class_uid),
                           ("implementation version", lambda u: u.implementation_version),
                           ("async operations window", lambda u: u.async_window),
                           ("user identity type", lambda u: user_identity_type_text(u.user_identity.type)
                            if u.user_identity is not None and who == "requestor" else None),
                           ("user identity server response", lambda u: "present"
                            if u.user_identity is not None and u.user_identity.server_response else None),
                           ("unknown user information items", lambda u: ", ".join(f"0x{x:02X}"
                                                                                  for x in u.unknown_items) or None)):
            rows.append(_row(S, f"{label} ({who})", get(ua) if ua else None, get(ub) if ub else None))
        ra_roles = _roles(ua)
        rb_roles = _roles(ub)
        for sop in sorted(set(ra_roles) | set(rb_roles)):
            rows.append(_row(S, f"role selection {uid_name(sop)} ({who})", ra_roles.get(sop), rb_roles.get(sop)))
        ca, cb = _common_extneg(ua), _common_extneg(ub)
        for sop in sorted(set(ca) | set(cb)):
            rows.append(_row(S, f"common extended negotiation {uid_name(sop)} ({who})", ca.get(sop), cb.get(sop)))
        ea, eb = _extneg(ua), _extneg(ub)
        for sop in sorted(set(ea) | set(eb)):
            rows.append(_row(S, f"extended negotiation {uid_name(sop)} ({who})", ea.get(sop), eb.get(sop)))
    return [r for r in rows if not (r.a is None and r.b is None)]


def _ae(v: str | None) -> str | None:
    return None if v is None else f"'{v.strip()}'"


def _outcome(a: Association) -> str:
    if a.rj is not None:
        return f"rejected ({reject_text(a.rj.result, a.rj.source, a.rj.reason)})"
    return a.outcome


def _roles(u) -> dict[str, str]:
    if u is None:
        return {}
    return {r.sop_class_uid: f"SCU={r.scu_role} SCP={r.scp_role}" for r in u.roles}


def _common_extneg(u) -> dict[str, str]:
    if u is None:
        return {}
    return {sop: f"service class {uid_name(svc)}" + (f", related {', '.join(rel)}" if rel else "")
            for sop, svc, rel in u.common_extended_negotiation}


def _extneg(u) -> dict[str, str]:
    if u is None:
        return {}
    return {uid: info.hex() for uid, info in u.extended_negotiation}


def _contexts(a: Association, b: Association) -> list[Row]:
    """Presentation contexts aligned by abstract syntax (the n-th context of a SOP class with the n-th)."""
    S = "contexts"

    def keyed(x: Association) -> dict[tuple[str, int], object]:
        out, seen = {}, {}
        for ctx in sorted(x.contexts.values(), key=lambda c: c.id):
            sop = ctx.abstract_syntax or "?"
            n = seen[sop] = seen.get(sop, 0) + 1
            out[(sop, n)] = ctx
        return out

    ka, kb = keyed(a), keyed(b)
    rows: list[Row] = []
    for key in list(ka) + [k for k in kb if k not in ka]:
        ca, cb = ka.get(key), kb.get(key)
        name = uid_name(key[0]) + (f" (#{key[1]})" if key[1] > 1 else "")
        rows.append(_row(S, f"{name}: proposed transfer syntaxes",
                         ", ".join(uid_name(t) for t in ca.proposed) if ca else None,
                         ", ".join(uid_name(t) for t in cb.proposed) if cb else None))
        rows.append(_row(S, f"{name}: result",
                         _ctx_result(ca) if ca else None, _ctx_result(cb) if cb else None))
    return rows


def _ctx_result(ctx) -> str:
    if ctx.accepted:
        return f"accepted, {uid_name(ctx.transfer_syntax) if ctx.transfer_syntax else '?'}"
    return "not answered" if ctx.result is None else context_result_text(ctx.result)


# -- exchanges ---------------------------------------------------------------------


def _ex_name(ex: Exchange) -> str:
    m = ex.request or (ex.responses[0] if ex.responses else None)
    return m.name if m is not None else "?"


def _ex_label(ex: Exchange) -> str:
    return f"{_ex_name(ex)} #{ex.message_id}"


def flatten(ds, prefix: str = "", out: dict | None = None, depth: int = 0) -> dict[str, tuple[str, str]]:
    """Data set → {path: (VR, display value)}; sequences recurse as Name[i].Child. Never raises."""
    out = {} if out is None else out
    if ds is None or depth > 8:
        return out
    try:
        elems = list(ds)
    except Exception:
        return out
    for e in elems:
        try:
            kw = e.keyword or f"({e.tag.group:04X},{e.tag.element:04X})"
            path = f"{prefix}{kw}"
            if e.VR == "SQ":
                items = e.value or []
                out[path] = ("SQ", f"{len(items)} item{'s' if len(items) != 1 else ''}")
                for i, item in enumerate(items):
                    flatten(item, f"{path}[{i}].", out, depth + 1)
                continue
            v = e.value
            if v is None or v == "" or v == b"":
                text = "(empty)"
            elif isinstance(v, (bytes, bytearray)):
                text = f"{len(v)} bytes" if len(v) > 32 else bytes(v).hex(" ")
            else:
                text = repr(str(v)) if not isinstance(v, (int, float)) else str(v)
            out[path] = (str(e.VR), _short(text))
        except Exception:
            continue
    return out


def _elements_rows(section: str, a: dict[str, tuple[str, str]], b: dict[str, tuple[str, str]]) -> list[Row]:
    rows: list[Row] = []
    for path in list(a) + [p for p in b if p not in a]:
        va, vb = a.get(path), b.get(path)
        if va is not None and vb is not None and va[0] != vb[0]:
            rows.append(Row(section, f"{path} VR", va[0], vb[0], "vr"))
            if va[1] != vb[1]:
                rows.append(Row(section, path, va[1], vb[1], "changed"))
            continue
        da = None if va is None else f"{va[1]} ({va[0]})"
        db = None if vb is None else f"{vb[1]} ({vb[0]})"
        rows.append(Row(section, path, da, db, _kind(da, db)))
    return rows


def _status_text(ex: Exchange) -> str | None:
    info = ex.status_info
    if info is None:
        return "no final response" if ex.request is not None else None
    pend = f"{ex.pending} pending, " if ex.pending else ("0 pending, " if (ex.command_field or 0) & 0x7FFF in
                                                        (0x0020, 0x0021, 0x0010) else "")
    return f"{pend}{info.display}"


def _exchange_rows(i: int, ea: Exchange | None, eb: Exchange | None) -> list[Row]:
    S = f"exchange {i}"
    rows = [_row(S, "command", _ex_label(ea) if ea else None, _ex_label(eb) if eb else None)]
    if ea is None or eb is None:
        rows[0].kind = "removed" if eb is None else "added"
        return rows
    rows[0].kind = "equal"
    ca = {k: v for k, v in (ea.request.command.elements.items() if ea.request and ea.request.command else [])
          if k not in COMMAND_NOISE}
    cb = {k: v for k, v in (eb.request.command.elements.items() if eb.request and eb.request.command else [])
          if k not in COMMAND_NOISE}
    for k in list(ca) + [k for k in cb if k not in ca]:
        rows.append(_row(S + " command set", k, _cmd_value(ca.get(k)), _cmd_value(cb.get(k))))
    ta = ea.request.transfer_syntax if ea.request else None
    tb = eb.request.transfer_syntax if eb.request else None
    if ta or tb:
        rows.append(_row(S + " data set", "transfer syntax", uid_name(ta) if ta else None,
                         uid_name(tb) if tb else None))
    da = flatten(_dataset(ea.request))
    db = flatten(_dataset(eb.request))
    what = "identifier" if (ea.command_field or 0) in (0x0020, 0x0021, 0x0010) else "data set"
    rows.extend(_elements_rows(f"{S} {what}", da, db))
    rows.append(_row(S, "status", _status_text(ea), _status_text(eb)))
    return rows


def _cmd_value(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.hex(" ")
    return _short(str(v)) if v != "" else "(empty)"


def _dataset(msg):
    if msg is None or msg.data is None:
        return None
    try:
        return msg.data.dataset
    except Exception:
        return None


def compare(a: Association, b: Association) -> Pair:
    pair = Pair(a, b)
    pair.rows.extend(_negotiation(a, b))
    pair.rows.extend(_contexts(a, b))
    na = [_ex_name(x) for x in a.exchanges]
    nb = [_ex_name(x) for x in b.exchanges]
    sm = difflib.SequenceMatcher(a=na, b=nb, autojunk=False)
    i = 0
    for tag, a0, a1, b0, b1 in sm.get_opcodes():
        if tag == "equal":
            for k in range(a1 - a0):
                i += 1
                pair.rows.extend(_exchange_rows(i, a.exchanges[a0 + k], b.exchanges[b0 + k]))
            continue
        for k in range(a0, a1):
            i += 1
            pair.rows.extend(_exchange_rows(i, a.exchanges[k], None))
        for k in range(b0, b1):
            i += 1
            pair.rows.extend(_exchange_rows(i, None, b.exchanges[k]))
    return pair


def pair_up(aa: list[Association], bb: list[Association]) -> tuple[list[Pair], list[str]]:
    """Associations paired in order; notes say how (and what stayed unpaired)."""
    notes: list[str] = []
    if len(aa) != 1 or len(bb) != 1:
        notes.append(f"A has {len(aa)} association{'s' if len(aa) != 1 else ''}, B has {len(bb)}:"
                     " comparing association by association in order (use FILE#N to pick one)")
    pairs = [compare(x, y) for x, y in zip(aa, bb)]
    for x in aa[len(bb):]:
        pairs.append(Pair(x, None, [Row("association", "association", _title(x), None, "removed")]))
        notes.append(f"A #{x.number} has no counterpart in B")
    for y in bb[len(aa):]:
        pairs.append(Pair(None, y, [Row("association", "association", None, _title(y), "added")]))
        notes.append(f"B #{y.number} has no counterpart in A")
    return pairs, notes


def _title(a: Association | None) -> str:
    if a is None:
        return "-"
    return f"#{a.number} {safe_text(a.calling_ae or '?')} → {safe_text(a.called_ae or '?')} ({a.client} → {a.server})"


# -- output --------------------------------------------------------------------------

MARK = {"equal": " ", "changed": "~", "added": "+", "removed": "-", "vr": "~"}
STYLE = {"changed": "yellow", "added": "green", "removed": "red", "vr": "magenta", "equal": "dim"}


def print_diff(console: Console, label_a: str, label_b: str, pairs: list[Pair], notes: list[str],
               show_all: bool) -> None:
    console.print(Text(f"A: {safe_text(label_a)}\nB: {safe_text(label_b)}", style="bold"))
    for n in notes:
        console.print(Text(n, style="cyan"))
    total = sum(p.differences for p in pairs)
    for p in pairs:
        console.print()
        console.print(Text(f"A {_title(p.a)}\nB {_title(p.b)}  —  {p.differences} difference"
                           f"{'s' if p.differences != 1 else ''}", style="bold"))
        for line in glance_lines(p):
            console.print(line)
        section = None
        for r in p.rows:
            if r.equal and not show_all and not (r.label == "command" and _section_has_diff(p, r.section)):
                continue
            top = " ".join(r.section.split(" ")[:2]) if r.section.startswith("exchange") else r.section
            if top != section:
                section = top
                console.print(Text(f"  {section}", style="bold"))
            line = Text(f"   {MARK.get(r.kind, '?')} ", style=STYLE.get(r.kind, ""))
            sub = r.section.split(" ", 2)[2] + ": " if r.section.count(" ") >= 2 else ""
            line.append(f"{sub}{safe_text(r.label)}: ")
            if r.kind == "equal":
                line.append(_show(r.a))
            else:
                line.append(f"A {_show(r.a)}", style=STYLE["removed"] if r.kind != "added" else "")
                line.append("  |  ")
                line.append(f"B {_show(r.b)}", style=STYLE["added"] if r.kind != "removed" else "")
            console.print(line)
    console.print()
    console.print(Text("No differences." if total == 0 else f"{total} difference{'s' if total != 1 else ''}"
                       " in total.", style="bold"))


def _elements(v: str | None) -> tuple[str, str] | None:
    """'value (VR)' → (value, VR); None stays None."""
    if v is None:
        return None
    value, sep, vr = v.rpartition(" (")
    return (value, vr.rstrip(")")) if sep else (v, "")


def _said(v: tuple[str, str] | None) -> str:
    if v is None:
        return "absent"
    value, vr = v
    shown = "empty" if value == "(empty)" else value
    return f"{shown} ({vr})" if vr else shown


def glance_lines(p: Pair) -> list[Text]:
    """What changes behaviour, first and in words: data set / identifier keys (added, removed, changed,
    VR, empty versus absent), its transfer syntax, command set elements and the outcome of each exchange."""
    rows = [r for r in p.rows if not r.equal and r.section.startswith("exchange ")]
    if not rows:
        return []
    vr_paths = {r.label[:-3] for r in rows if r.kind == "vr"}
    changed = {r.label for r in rows if r.kind == "changed"}
    order = {"identifier": 0, "data set": 0, "command set": 1, "": 2}
    rows.sort(key=lambda r: (int(r.section.split(" ")[1]), order.get(r.section.split(" ", 2)[2]
                                                                   if r.section.count(" ") >= 2 else "", 2)))
    several = len({r.section.split(" ")[1] for r in rows}) > 1
    out = [Text("  key differences:", style="bold")]
    for r in rows:
        where = r.section.split(" ", 2)
        what = where[2] if len(where) > 2 else ""
        head = f"   {MARK.get(r.kind, '?')} "
        line = Text(head, style=STYLE.get(r.kind, ""))
        ex = f"exchange {where[1]}"
        ex_of = f"{ex}: " if several else ""
        if r.label == "status":
            line.append(f"{ex} outcome: A {_show(r.a)}  |  B {_show(r.b)}")
        elif r.label == "command" and not what:
            line.append(f"{ex}: A {_show(r.a)}  |  B {_show(r.b)}")
        elif what in ("identifier", "data set") and r.label != "transfer syntax":
            a, b = _elements(r.a), _elements(r.b)
            if r.kind == "vr":
                same = "" if r.label[:-3] in changed else ", same value"
                line.append(f"{ex_of}{what} key {r.label[:-3]}: encoded as VR {r.a} by A, VR {r.b} by B{same}")
            elif r.kind == "removed":
                line.append(f"{ex_of}{what} key {r.label}: A sends it {_said(a)}; B leaves it out (absent)")
            elif r.kind == "added":
                line.append(f"{ex_of}{what} key {r.label}: A leaves it out (absent); B sends it {_said(b)}")
            else:
                va = a[0] if r.label in vr_paths and a else _said(a)
                vb = b[0] if r.label in vr_paths and b else _said(b)
                line.append(f"{ex_of}{what} key {r.label}: A {va}  →  B {vb}")
        else:
            line.append(f"{ex_of}{what + ' ' if what else ''}{r.label}: A {_show(r.a)}  |  B {_show(r.b)}")
        out.append(line)
    return out


def _section_has_diff(p: Pair, section: str) -> bool:
    return any(not r.equal and (r.section == section or r.section.startswith(section + " ")) for r in p.rows)


def _show(v: str | None) -> str:
    return "absent" if v is None else safe_text(v)


def diff_json(label_a: str, label_b: str, pairs: list[Pair], notes: list[str], show_all: bool) -> dict:
    return {
        "a": label_a, "b": label_b, "notes": notes,
        "differences": sum(p.differences for p in pairs),
        "pairs": [{"a": p.a.number if p.a else None, "b": p.b.number if p.b else None,
                   "differences": p.differences,
                   "rows": [r.to_json() for r in p.rows if show_all or not r.equal]} for p in pairs],
    }
