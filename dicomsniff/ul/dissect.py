"""Dissects one whole Upper Layer PDU into a Field tree and a typed body (PS3.8 §9.3, PS3.7 Annex D.3.3).

Input is the PDU's bytes from its 6-byte header on; they may be shorter than the
header's length (a truncated capture) or longer (trailing bytes). Items and
sub-items are walked by their lengths through tables of handlers; an item that
is unknown, misplaced or malformed becomes a raw field with a finding, and
decoding goes on by the item length. Nothing here raises to the caller.

The P-DATA-TF tree is built from PDV headers alone (:func:`build_pdata_tree`),
so the streaming framer, which never buffers P-DATA values, builds the same tree.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Callable

from ..field import ERROR, NOTE, WARN, Cursor, Field, Finding, hex_preview
from ..textsafe import safe_text
from ..uids import MAX_UID_LEN, is_valid_uid, uid_display, uid_name
from . import tables as T
from .pdus import (ABORT, ASSOCIATE_AC, ASSOCIATE_RJ, ASSOCIATE_RQ, P_DATA_TF, RELEASE_RP, RELEASE_RQ, Abort,
                   AssociateRJ, AssociateRQ, DecodedPdu, PData, Pdv, PresentationContext, Release, RoleSelection,
                   UserIdentity, pdu_name)

DICOM_APP_CONTEXT = "1.2.840.10008.3.1.1.1"     # PS3.7 Annex A.2.1
HEADER_LEN = 6
ASSOC_FIXED = 68                                 # PS3.8 §9.3.2: bytes 7-74 before the variable items
MAX_ITEMS = 1024                                 # per level; 128 contexts is the protocol's limit
MAX_PDVS = 4096                                  # PDV subtrees shown per P-DATA-TF
INFO_PDVS = 4                                    # PDVs described in the Info line
TEXT_CLIP = 80                                   # characters of a wire string shown in a display
MASK = "********"
_U16 = struct.Struct(">H")
_PDV = struct.Struct(">IBB")


def _clip(s: str, limit: int = TEXT_CLIP) -> str:
    """Terminal-safe and bounded display of a wire string."""
    if len(s) > limit:
        return f"{safe_text(s[:limit])}… ({len(s)} chars)"
    return safe_text(s)


def _uid_text(v: str) -> str:
    return uid_display(v) if len(v) <= MAX_UID_LEN else _clip(v)


def _preview(data: bytes) -> str:
    """Length and a short preview of an opaque value (token, ticket, assertion)."""
    head = data[:24]
    if all(0x20 <= b < 0x7F for b in head):
        shown = safe_text(head.decode("ascii")) + ("…" if len(data) > len(head) else "")
    else:
        shown = hex_preview(data)
    return f"{len(data)} bytes: {shown}" if data else "0 bytes"


def _hex_code(table: dict, v: int) -> str:
    """"A-ASSOCIATE-RQ (0x01)" for a known code, "Unknown (0x09)" for another."""
    return f"{table[v]} (0x{v:02X})" if v in table else T.describe(table, v)


# -- small readers on top of the Cursor ---------------------------------------------------------------------

def _reserved(c: Cursor, size: int, label: str = "Reserved") -> None:
    """Reserved bytes: shown, and a note when not zero (PS3.8 §9.3: sent as 00H, not tested)."""
    v = c.raw("dicom.assoc.reserved", label, size, display="")
    if v is None:
        return
    f = c.parent.children[-1]
    if any(v):
        f.display = hex_preview(v)
        f.findings.append(Finding(NOTE, "reserved-nonzero",
                                  f"{label} is {hex_preview(v)}; PS3.8 §9.3 says send 00H (receivers ignore it)"))
    else:
        f.display = "00" if size == 1 else f"{size} bytes, all zero"


def _blob(c: Cursor, key: str, label: str, size: int) -> Field | None:
    """A run of bytes shown by size and a hex preview, not copied beyond 64 bytes."""
    size = max(0, size)
    have = min(size, c.remaining)
    data = bytes(c.buf[c.pos:c.pos + min(have, 64)])
    f = c.parent.add(Field(key, label, data if size <= 64 else None,
                           f"{size} bytes" + (f": {hex_preview(data)}" if data else ""), c.abs(), have))
    c.pos += have
    if have < size:
        c.truncated = True
        f.findings.append(Finding(ERROR, "truncated", f"{label}: {size} bytes needed, only {have} present"))
    return f


def _fit(c: Cursor, limit: int, n: int, what: str, on: Field | None) -> int:
    """Clamp an inner length ``n`` to the enclosing item's end ``limit``, with a finding if it ran over."""
    room = max(0, limit - c.pos)
    if n > room:
        (on or c.parent).findings.append(Finding(
            ERROR, "length-overflow", f"{what} length {n} runs past the end of its item ({room} bytes left)"))
        return room
    return n


def _last(c: Cursor) -> Field:
    return c.parent.children[-1]


def _uid(c: Cursor, key: str, label: str, size: int) -> str | None:
    """A UID field: name from the registry, findings for an invalid UID or padding (PS3.5 §9.1)."""
    start = c.pos
    v = c.text(key, label, size, display=_uid_text)
    if v is None:
        return None
    f = _last(c)
    raw = bytes(c.buf[start:start + size])
    if v and not is_valid_uid(v):
        f.findings.append(Finding(WARN, "invalid-uid", f"{label} {_clip(v)!r} is not a valid UID (PS3.5 §9.1)"))
    if raw[-1:] in (b"\x00", b" ") and v:
        pad = "NUL" if raw[-1] == 0 else "space"
        f.findings.append(Finding(NOTE, "uid-padded", f"{label} is padded with {pad};"
                                  " UIDs are not padded in network negotiation (PS3.5 §9.1, PS3.8 Annex F)"))
    return v


def _ae(c: Cursor, key: str, label: str) -> str | None:
    """A 16-byte AE title (PS3.8 §9.3.2), leading/trailing spaces insignificant, shown terminal-safe."""
    v = c.text(key, label, 16)
    if v is None:
        return None
    f = _last(c)
    v = v.strip(" ")
    f.value = v
    f.display = _clip(v) if v else "(empty)"
    if not v:
        f.findings.append(Finding(WARN, "ae-title-empty", f"{label} is all spaces (PS3.5 AE must not be empty)"))
    elif any(not (0x20 <= ord(ch) < 0x7F) or ch == "\\" for ch in v):
        f.findings.append(Finding(WARN, "ae-title-nonprintable",
                                  f"{label} {safe_text(v)!r} holds control, non-ASCII or backslash characters"))
    return v


# -- item walking ---------------------------------------------------------------------------------------------

@dataclass(slots=True)
class _State:
    """What the item handlers fill in while walking one A-ASSOCIATE PDU."""

    body: AssociateRQ
    accept: bool
    ctx: PresentationContext | None = None
    seen_actx: int = 0
    seen_user_info: int = 0


Handler = Callable[[Cursor, _State, Field, int, int], None]

TOP, PCTX, USER = "top", "pctx", "user"
# Item types a level expects, per PS3.8 §9.3.2-9.3.3 and PS3.7 D.3.3 (False: request, True: acceptance).
_EXPECTED = {
    (TOP, False): {T.APPLICATION_CONTEXT, T.PCTX_RQ, T.USER_INFO},
    (TOP, True): {T.APPLICATION_CONTEXT, T.PCTX_AC, T.USER_INFO},
    (PCTX, False): {T.ABSTRACT_SYNTAX, T.TRANSFER_SYNTAX},
    (PCTX, True): {T.TRANSFER_SYNTAX},
    (USER, False): {T.MAX_LENGTH, T.IMPL_CLASS_UID, T.ASYNC_WINDOW, T.ROLE_SELECTION, T.IMPL_VERSION,
                    T.EXT_NEG, T.COMMON_EXT_NEG, T.USER_IDENTITY_RQ},
    (USER, True): {T.MAX_LENGTH, T.IMPL_CLASS_UID, T.ASYNC_WINDOW, T.ROLE_SELECTION, T.IMPL_VERSION,
                   T.EXT_NEG, T.USER_IDENTITY_AC},
}
_UNKNOWN_KEY = {TOP: "dicom.assoc.item.unknown", PCTX: "dicom.assoc.item.unknown", USER: "dicom.userinfo.unknown"}
_UNKNOWN_DATA_KEY = {TOP: "dicom.assoc.item.data", PCTX: "dicom.assoc.item.data", USER: "dicom.userinfo.data"}
_WHERE = {TOP: "the PDU", PCTX: "its presentation context", USER: "the user information item"}


def _walk_items(c: Cursor, st: _State, level: str, limit: int) -> int:
    """Walk the items of one level from ``c.pos`` to ``limit`` (the claimed end); returns items seen."""
    handlers = _HANDLERS[level]
    count = 0
    while c.pos < c.end:
        start = c.pos
        if count >= MAX_ITEMS:
            f = _blob(c, _UNKNOWN_DATA_KEY[level], "Undecoded items", c.end - start)
            f.findings.append(Finding(ERROR, "too-many-items", f"more than {MAX_ITEMS} items in {_WHERE[level]}"))
            break
        if limit - start < 4:
            f = _blob(c, _UNKNOWN_DATA_KEY[level], "Stray bytes", c.end - start)
            f.findings.append(Finding(ERROR, "item-header-short",
                                      f"{limit - start} bytes left in {_WHERE[level]}: too few for an item header"))
            break
        count += 1
        t = c.buf[start]
        handler = handlers.get(t)
        misplaced = t not in _EXPECTED[(level, st.accept)]
        if handler is None:
            key = _UNKNOWN_KEY[level]
            label = T.describe(T.ITEM_TYPES, t) if t in T.ITEM_TYPES else f"Unknown item (0x{t:02X})"
        else:
            key, label = T.ITEM_KEYS[t], T.ITEM_TYPES[t]
        f = c.parent.add(Field(key, label, None, "", c.abs(start), 0))
        sub = Cursor(c.buf, f, start=start, end=c.end)
        sub.u8("dicom.assoc.item.type", "Item Type", lambda v: _hex_code(T.ITEM_TYPES, v))
        _reserved(sub, 1)
        ilen = sub.u16("dicom.assoc.item.len", "Item Length")
        if ilen is None:
            f.length = sub.pos - start
            c.pos = c.end
            c.truncated = True
            break
        item_limit = start + 4 + ilen
        if item_limit > limit:
            f.findings.append(Finding(ERROR, "item-overflow",
                                      f"{label} length {ilen} runs {item_limit - limit} bytes past the end of"
                                      f" {_WHERE[level]}; clamped"))
            item_limit = limit
        sub.end = min(item_limit, len(c.buf))
        f.length = sub.end - start
        if ilen == 0 and not (t == T.TRANSFER_SYNTAX and st.accept and st.ctx is not None
                              and st.ctx.result not in (0, None)):
            f.findings.append(Finding(WARN, "zero-length-item", f"{label} is empty (item length 0)"))
        if handler is None:
            if misplaced and t in T.ITEM_TYPES:
                f.findings.append(Finding(WARN, "unexpected-item", f"{label} does not belong in {_WHERE[level]}"))
            else:
                f.findings.append(Finding(NOTE, "unknown-item",
                                          f"item type 0x{t:02X} is not defined by PS3.8/PS3.7; skipped by its length"))
            if level == USER:
                st.body.user_info.unknown_items.append(t)
            data = _blob(sub, _UNKNOWN_DATA_KEY[level], "Item data", item_limit - sub.pos)
            if level == USER:      # may be a credential of a future identity scheme: length only
                data.value, data.display = None, f"{item_limit - start - 4} bytes"
        else:
            if misplaced:
                f.findings.append(Finding(WARN, "unexpected-item",
                                          f"{label} is not expected in an {pdu_name(2 if st.accept else 1)}"))
            handler(sub, st, f, t, item_limit)
            if sub.pos < sub.end:
                extra = _blob(sub, "dicom.assoc.item.extra", "Extra bytes", sub.end - sub.pos)
                extra.findings.append(Finding(WARN, "item-extra-bytes",
                                              f"{extra.length} bytes after the end of the {label} fields"))
        if sub.truncated:
            c.truncated = True
        c.pos = sub.end
    return count


def _need(c: Cursor, f: Field, limit: int, size: int, label: str) -> bool:
    """A fixed-size item body: check its length, else show it raw with a finding."""
    body = limit - c.pos
    if body != size:
        f.findings.append(Finding(ERROR, "item-length-invalid", f"{label} must be {size} bytes, item holds {body}"))
        if body < size:
            _blob(c, "dicom.assoc.item.data", "Item data", body)
            return False
    return True


# -- A-ASSOCIATE items (PS3.8 §9.3.2.1-9.3.3.3) ----------------------------------------------------------------

def _h_app_context(c: Cursor, st: _State, f: Field, t: int, limit: int) -> None:
    v = _uid(c, "dicom.actx", "Application Context Name", limit - c.pos)
    st.seen_actx += 1
    if st.seen_actx > 1:
        f.findings.append(Finding(WARN, "duplicate-item", "more than one Application Context item"))
    if v is None:
        return
    st.body.application_context = st.body.application_context or v
    f.display = _uid_text(v)
    if v != DICOM_APP_CONTEXT:
        f.findings.append(Finding(WARN, "unknown-application-context",
                                  f"application context {_clip(v)!r} is not the DICOM one ({DICOM_APP_CONTEXT})"))


def _h_pctx(c: Cursor, st: _State, f: Field, t: int, limit: int) -> None:
    accept = t == T.PCTX_AC
    ctx_id = c.u8("dicom.pctx.id", "Presentation Context ID")
    ctx = PresentationContext(ctx_id)
    st.body.contexts.append(ctx)
    if ctx_id is not None and ctx_id % 2 == 0:
        _last(c).findings.append(Finding(WARN, "even-context-id",
                                         f"presentation context ID {ctx_id} is even; it must be odd (PS3.8 §9.3.2.2)"))
    _reserved(c, 1)
    if accept:
        ctx.result = c.u8("dicom.pctx.result", "Result", lambda v: f"{T.context_result_text(v)} ({v})")
        if ctx.result is not None and ctx.result not in T.CONTEXT_RESULTS:
            _last(c).findings.append(Finding(WARN, "unknown-value", f"presentation context result {ctx.result}"
                                                                     " is not defined (PS3.8 §9.3.3.2)"))
    else:
        _reserved(c, 1)
    _reserved(c, 1)
    abstract_items = _count_abstract(c, limit)
    _walk_items(c, _State(st.body, accept, ctx), PCTX, limit)
    if c.truncated:
        f.display = f"ID {ctx_id}" if ctx_id is not None else ""
        return
    if accept:
        if ctx.result == 0 and not any(ctx.transfer_syntaxes):       # none, or an empty one
            f.findings.append(Finding(ERROR, "no-transfer-syntax",
                                      f"accepted context {ctx_id} names no transfer syntax"))
        if len(ctx.transfer_syntaxes) > 1:
            f.findings.append(Finding(WARN, "multiple-transfer-syntax",
                                      f"context {ctx_id} answers {len(ctx.transfer_syntaxes)} transfer syntaxes;"
                                      " an acceptance carries exactly one (PS3.8 §9.3.3.2)"))
        f.display = f"ID {ctx_id}, {T.context_result_text(ctx.result)}"
        if ctx.result == 0 and ctx.transfer_syntaxes and ctx.transfer_syntaxes[0]:
            f.display += f", {_clip(uid_name(ctx.transfer_syntaxes[0]))}"
        return
    if ctx.abstract_syntax is None:
        f.findings.append(Finding(ERROR, "no-abstract-syntax", f"context {ctx_id} proposes no abstract syntax"))
    elif abstract_items > 1:
        f.findings.append(Finding(WARN, "multiple-abstract-syntax",
                                  f"context {ctx_id} holds {abstract_items} abstract syntax sub-items; one allowed"))
    if not ctx.transfer_syntaxes:
        f.findings.append(Finding(ERROR, "no-transfer-syntax", f"context {ctx_id} proposes no transfer syntax"))
    name = _clip(uid_name(ctx.abstract_syntax)) if ctx.abstract_syntax else "(no abstract syntax)"
    f.display = f"ID {ctx_id}, {name}"


def _count_abstract(c: Cursor, limit: int) -> int:
    """How many abstract syntax sub-items a context holds (a light pre-scan of its sub-item headers)."""
    pos, end, n = c.pos, min(limit, len(c.buf)), 0
    for _ in range(MAX_ITEMS):
        if pos + 4 > end:
            break
        if c.buf[pos] == T.ABSTRACT_SYNTAX:
            n += 1
        pos += 4 + _U16.unpack_from(c.buf, pos + 2)[0]
    return n


def _h_abstract(c: Cursor, st: _State, f: Field, t: int, limit: int) -> None:
    v = _uid(c, "dicom.pctx.abss.syntax", "Abstract Syntax", limit - c.pos)
    if v is None:
        return
    f.display = _uid_text(v)
    if st.ctx is not None and st.ctx.abstract_syntax is None:
        st.ctx.abstract_syntax = v


def _h_transfer(c: Cursor, st: _State, f: Field, t: int, limit: int) -> None:
    v = _uid(c, "dicom.pctx.xfer.syntax", "Transfer Syntax", limit - c.pos)
    if v is None:
        return
    rejected = st.accept and st.ctx is not None and st.ctx.result not in (0, None)
    f.display = _uid_text(v) if v else "(empty)"
    if rejected:
        # PS3.8 §9.3.3.2: in a context that is not accepted, this sub-item "shall not be tested".
        f.display += " (not significant: context not accepted)"
        _last(c).display = f.display
    if st.ctx is not None and (v or not rejected):
        st.ctx.transfer_syntaxes.append(v)


def _h_user_info(c: Cursor, st: _State, f: Field, t: int, limit: int) -> None:
    st.seen_user_info += 1
    if st.seen_user_info > 1:
        f.findings.append(Finding(WARN, "duplicate-item", "more than one User Information item"))
    _walk_items(c, st, USER, limit)
    if c.truncated:
        return
    ui = st.body.user_info
    if ui.max_pdu_length is None:
        f.findings.append(Finding(WARN, "no-max-length",
                                  "no Maximum Length sub-item; it is mandatory (PS3.8 Annex D.1)"))
    if ui.implementation_class_uid is None:
        f.findings.append(Finding(WARN, "no-implementation-uid",
                                  "no Implementation Class UID sub-item; it is mandatory (PS3.7 §D.3.3.2)"))


# -- User Information sub-items (PS3.8 Annex D.1, PS3.7 Annex D.3.3) -----------------------------------------

def _max_text(v: int) -> str:
    return "0 (unlimited)" if v == 0 else str(v)


def _h_max_length(c: Cursor, st: _State, f: Field, t: int, limit: int) -> None:
    if not _need(c, f, limit, 4, "Maximum Length"):
        return
    v = c.u32("dicom.max_pdu_len", "Maximum Length Received", _max_text)
    if v is not None:
        st.body.user_info.max_pdu_length = v
        f.display = _max_text(v)


def _h_impl_uid(c: Cursor, st: _State, f: Field, t: int, limit: int) -> None:
    v = _uid(c, "dicom.userinfo.uid", "Implementation Class UID", limit - c.pos)
    if v is not None:
        st.body.user_info.implementation_class_uid = v
        f.display = _uid_text(v)


def _h_impl_version(c: Cursor, st: _State, f: Field, t: int, limit: int) -> None:
    size = limit - c.pos
    v = c.text("dicom.userinfo.version", "Implementation Version Name", size, display=_clip)
    if v is None:
        return
    st.body.user_info.implementation_version = v
    f.display = _clip(v)
    if size > 16:
        f.findings.append(Finding(WARN, "version-name-too-long",
                                  f"implementation version name is {size} bytes; at most 16 (PS3.7 §D.3.3.2)"))


def _h_async(c: Cursor, st: _State, f: Field, t: int, limit: int) -> None:
    if not _need(c, f, limit, 4, "Asynchronous Operations Window"):
        return
    inv = c.u16("dicom.userinfo.asyncneg.maxnumopsinv", "Maximum Number Operations Invoked", _max_text)
    per = c.u16("dicom.userinfo.asyncneg.maxnumopsper", "Maximum Number Operations Performed", _max_text)
    if inv is not None and per is not None:
        st.body.user_info.async_window = (inv, per)
        f.display = f"invoked {_max_text(inv)}, performed {_max_text(per)}"


def _uid_prefixed(c: Cursor, limit: int, key: str, label: str) -> str | None:
    """A 2-byte length then a UID, the length clamped to the item (PS3.7 §D.3.3.4-D.3.3.6)."""
    n = c.u16(key + ".len", f"{label} Length")
    if n is None:
        return None
    return _uid(c, key, label, _fit(c, limit, n, label, _last(c)))


def _h_role(c: Cursor, st: _State, f: Field, t: int, limit: int) -> None:
    uid = _uid_prefixed(c, limit, "dicom.userinfo.rolesel.sopclassuid", "SOP Class UID")
    scu = c.u8("dicom.userinfo.rolesel.scurole", "SCU Role", lambda v: f"{T.role_text(v, st.accept)} ({v})")
    scp = c.u8("dicom.userinfo.rolesel.scprole", "SCP Role", lambda v: f"{T.role_text(v, st.accept)} ({v})")
    if uid is None or scu is None or scp is None:
        return
    st.body.user_info.roles.append(RoleSelection(uid, scu, scp))
    f.display = (f"{_clip(uid_name(uid))}: SCU {T.role_text(scu, st.accept)},"
                 f" SCP {T.role_text(scp, st.accept)}")


def _h_ext_neg(c: Cursor, st: _State, f: Field, t: int, limit: int) -> None:
    uid = _uid_prefixed(c, limit, "dicom.userinfo.extneg.sopclassuid", "SOP Class UID")
    if uid is None:
        return
    start = c.pos
    _blob(c, "dicom.userinfo.extneg.info", "Service Class Application Information", limit - c.pos)
    st.body.user_info.extended_negotiation.append((uid, bytes(c.buf[start:c.pos])))
    f.display = _clip(uid_name(uid))


def _h_common_ext_neg(c: Cursor, st: _State, f: Field, t: int, limit: int) -> None:
    key = "dicom.userinfo.commonextneg"
    sop = _uid_prefixed(c, limit, key + ".sopclassuid", "SOP Class UID")
    svc = _uid_prefixed(c, limit, key + ".serviceclassuid", "Service Class UID") if sop is not None else None
    if svc is None:
        return
    n = c.u16(key + ".related.len", "Related General SOP Class Identification Length")
    if n is None:
        return
    rel_end = c.pos + _fit(c, limit, n, "related general SOP class identification", _last(c))
    related: list[str] = []
    with c.subtree(key + ".related", "Related General SOP Classes"):
        for _ in range(MAX_ITEMS):
            if c.pos >= min(rel_end, c.end):
                break
            if rel_end - c.pos < 2:
                _blob(c, key + ".related.extra", "Stray bytes", rel_end - c.pos).findings.append(
                    Finding(ERROR, "length-overflow", "related SOP class list ends inside a UID length"))
                break
            uid = _uid_prefixed(c, rel_end, key + ".relatedsopclassuid", "Related General SOP Class UID")
            if uid is None:
                break
            related.append(uid)
    st.body.user_info.common_extended_negotiation.append((sop, svc, related))
    f.display = f"{_clip(uid_name(sop))} ({_clip(uid_name(svc))})"


def _h_user_identity_rq(c: Cursor, st: _State, f: Field, t: int, limit: int) -> None:
    key = "dicom.userinfo.user_identify"
    ident = UserIdentity()
    st.body.user_info.user_identity = ident
    ident.type = c.u8(key + ".type", "User Identity Type", lambda v: f"{T.user_identity_type_text(v)} ({v})")
    ident.response_requested = c.u8(key + ".response_requested", "Positive Response Requested",
                                    lambda v: f"{'yes' if v == 1 else 'no' if v == 0 else 'invalid'} ({v})")
    if ident.type is None or ident.response_requested is None:
        return
    if ident.type not in T.USER_IDENTITY_TYPES:
        f.findings.append(Finding(WARN, "unknown-value", f"user identity type {ident.type} is not defined"
                                                        " (PS3.7 §D.3.3.7.1)"))
    plen = c.u16(key + ".primary_field_length", "Primary Field Length")
    if plen is None:
        return
    plen = _fit(c, limit, plen, "primary field", _last(c))
    shown = "name" if ident.type in (1, 2) else "preview"
    if not _identity_layout_ok(c, limit, plen):
        # A wrong length could pull the passcode into the primary field: show neither.
        f.findings.append(Finding(WARN, "user-identity-lengths", "user identity field lengths do not add up to"
                                                                 " the item length; values hidden"))
        shown = "hidden"
    primary = _opaque(c, key + ".primary_field", "Primary Field", plen, shown=shown)
    ident.primary = b"" if shown == "hidden" else primary       # views print it for types 1 and 2
    slen = c.u16(key + ".secondary_field_length", "Secondary Field Length")
    if slen is None:
        return
    slen = _fit(c, limit, slen, "secondary field", _last(c))
    ident.secondary = _opaque(c, key + ".secondary_field", "Secondary Field", slen, shown="mask")
    if c.pos < c.end:       # bytes past the stated fields may be the rest of a passcode: length only
        extra = _opaque(c, key + ".extra", "Extra bytes", c.end - c.pos, shown="hidden")
        f.findings.append(Finding(WARN, "item-extra-bytes", f"{len(extra)} bytes after the user identity fields"))
    if ident.type == 2 and not slen:
        f.findings.append(Finding(WARN, "missing-passcode", "username and passcode identity without a passcode"))
    elif ident.type != 2 and slen:
        f.findings.append(Finding(NOTE, "unexpected-secondary-field",
                                  f"identity type {ident.type} carries a secondary field; only type 2 uses it"))
    f.display = T.user_identity_type_text(ident.type)
    if shown == "name":
        f.display += f" {_clip(ident.primary.decode('utf-8', 'replace'))}"
    if ident.secondary:
        f.display += f", passcode {MASK}"


def _identity_layout_ok(c: Cursor, limit: int, plen: int) -> bool:
    """True if primary length, secondary length and the item length agree (PS3.7 Table D.3-14)."""
    at = c.pos + plen
    if at + 2 > len(c.buf):
        return False
    slen = _U16.unpack_from(c.buf, at)[0]
    return at + 2 + slen == limit


def _h_user_identity_ac(c: Cursor, st: _State, f: Field, t: int, limit: int) -> None:
    key = "dicom.userinfo.user_identify"
    n = c.u16(key + ".server_response_length", "Server Response Length")
    if n is None:
        return
    n = _fit(c, limit, n, "server response", _last(c))
    ident = UserIdentity()
    ident.server_response = _opaque(c, key + ".server_response", "Server Response", n, shown="preview")
    st.body.user_info.user_identity = ident
    f.display = f"server response {len(ident.server_response)} bytes"


def _opaque(c: Cursor, key: str, label: str, size: int, *, shown: str) -> bytes:
    """A user identity value: kept as bytes for the typed body only, never as the field value.

    ``shown`` is "name" (a username, shown), "preview" (token or ticket: length and
    a short preview), "mask" (passcode: ********) or "hidden" (length only).
    """
    have = min(size, c.remaining)
    data = bytes(c.buf[c.pos:c.pos + have])
    if shown == "mask":
        value, display = None, (MASK if size else "(empty)")
    elif shown == "hidden":
        value, display = None, f"{size} bytes (hidden)"
    elif shown == "name":
        value = data.decode("utf-8", "replace")
        display = _clip(value)
    else:
        value, display = None, _preview(data)
    f = c.parent.add(Field(key, label, value, display, c.abs(), have))
    c.pos += have
    if have < size:
        c.truncated = True
        f.findings.append(Finding(ERROR, "truncated", f"{label}: {size} bytes needed, only {have} present"))
    return data


_HANDLERS: dict[str, dict[int, Handler]] = {
    TOP: {T.APPLICATION_CONTEXT: _h_app_context, T.PCTX_RQ: _h_pctx, T.PCTX_AC: _h_pctx,
          T.USER_INFO: _h_user_info},
    PCTX: {T.ABSTRACT_SYNTAX: _h_abstract, T.TRANSFER_SYNTAX: _h_transfer},
    USER: {T.MAX_LENGTH: _h_max_length, T.IMPL_CLASS_UID: _h_impl_uid, T.ASYNC_WINDOW: _h_async,
           T.ROLE_SELECTION: _h_role, T.IMPL_VERSION: _h_impl_version, T.EXT_NEG: _h_ext_neg,
           T.COMMON_EXT_NEG: _h_common_ext_neg, T.USER_IDENTITY_RQ: _h_user_identity_rq,
           T.USER_IDENTITY_AC: _h_user_identity_ac},
}


# -- PDU bodies (PS3.8 §9.3.2-9.3.8) ---------------------------------------------------------------------------

def _assoc_body(c: Cursor, pdu_type: int, limit: int) -> tuple[AssociateRQ, str]:
    """A-ASSOCIATE-RQ / -AC: fixed part (PS3.8 §9.3.2, §9.3.3) then items."""
    accept = pdu_type == ASSOCIATE_AC
    body = AssociateRQ(accept=accept)
    body.protocol_version = c.u16("dicom.assoc.version", "Protocol Version")
    if body.protocol_version is not None and body.protocol_version != 1:
        _last(c).findings.append(Finding(WARN, "bad-version", f"protocol version is 0x{body.protocol_version:04X};"
                                                              " DICOM defines only version 1 (PS3.8 §9.3.2)"))
    _reserved(c, 2)
    body.called_ae = _ae(c, "dicom.assoc.ae.called", "Called AE Title")
    body.calling_ae = _ae(c, "dicom.assoc.ae.calling", "Calling AE Title")
    _reserved(c, 32)
    st = _State(body, accept)
    if not c.truncated:
        _walk_items(c, st, TOP, limit)
    if not c.truncated:
        if body.application_context is None:
            c.finding(ERROR, "no-application-context", "no Application Context item (PS3.8 §9.3.2.1)")
        if not body.contexts:
            c.finding(ERROR, "no-presentation-context", "no presentation context items")
        if not st.seen_user_info:
            c.finding(WARN, "no-user-info", "no User Information item (PS3.8 §9.3.2.3)")
    calling = _clip(body.calling_ae, 16) if body.calling_ae else ("(empty)" if body.calling_ae == "" else "?")
    called = _clip(body.called_ae, 16) if body.called_ae else ("(empty)" if body.called_ae == "" else "?")
    arrow = "←" if accept else "→"
    return body, f"{pdu_name(pdu_type)} {calling} {arrow} {called}"


def _code(c: Cursor, key: str, label: str, table: dict, text: Callable[[int], str]) -> int | None:
    v = c.u8(key, label, lambda x: f"{text(x)} ({x})")
    if v is not None and v not in table:
        _last(c).findings.append(Finding(WARN, "unknown-value", f"{label} {v} is not defined by PS3.8"))
    return v


def _reject_body(c: Cursor, pdu_type: int, limit: int) -> tuple[AssociateRJ, str]:
    """A-ASSOCIATE-RJ (PS3.8 §9.3.4): reserved, result, source, reason."""
    _reserved(c, 1)
    body = AssociateRJ()
    body.result = _code(c, "dicom.assoc.reject.result", "Result", T.REJECT_RESULTS, T.reject_result_text)
    body.source = _code(c, "dicom.assoc.reject.source", "Source", T.REJECT_SOURCES, T.reject_source_text)
    body.reason = c.u8("dicom.assoc.reject.reason", "Reason",
                       lambda x: f"{T.reject_reason_text(body.source, x)} ({x})")
    if body.reason is not None and body.source in T.REJECT_REASONS \
            and body.reason not in T.REJECT_REASONS[body.source]:
        _last(c).findings.append(Finding(WARN, "unknown-value", f"reject reason {body.reason} is not defined"
                                                                 f" for source {body.source} (PS3.8 §9.3.4)"))
    if body.result is None:
        return body, pdu_name(pdu_type)
    return body, f"{pdu_name(pdu_type)} {T.reject_text(body.result, body.source, body.reason)}"


def _release_body(c: Cursor, pdu_type: int, limit: int) -> tuple[Release, str]:
    """A-RELEASE-RQ / -RP (PS3.8 §9.3.6, §9.3.7): four reserved bytes."""
    _reserved(c, 4)
    return Release(reply=pdu_type == RELEASE_RP), pdu_name(pdu_type)


def _abort_body(c: Cursor, pdu_type: int, limit: int) -> tuple[Abort, str]:
    """A-ABORT (PS3.8 §9.3.8): two reserved bytes, source, reason (significant for source 2 only)."""
    _reserved(c, 2)
    body = Abort()
    body.source = _code(c, "dicom.assoc.abort.source", "Source", T.ABORT_SOURCES, T.abort_source_text)
    body.reason = c.u8("dicom.assoc.abort.reason", "Reason",
                       lambda x: f"{T.abort_reason_text(body.source, x)} ({x})")
    if body.source == 2 and body.reason is not None and body.reason not in T.ABORT_REASONS:
        _last(c).findings.append(Finding(WARN, "unknown-value", f"abort reason {body.reason} is not defined"
                                                                 " (PS3.8 §9.3.8)"))
    if body.source is None:
        return body, pdu_name(pdu_type)
    return body, f"{pdu_name(pdu_type)} {T.abort_text(body.source, body.reason)}"


_BODIES = {
    ASSOCIATE_RQ: _assoc_body, ASSOCIATE_AC: _assoc_body, ASSOCIATE_RJ: _reject_body,
    RELEASE_RQ: _release_body, RELEASE_RP: _release_body, ABORT: _abort_body,
}
_EMPTY_BODIES: dict[int, Callable[[], object]] = {
    ASSOCIATE_RQ: AssociateRQ, ASSOCIATE_AC: lambda: AssociateRQ(accept=True), ASSOCIATE_RJ: AssociateRJ,
    P_DATA_TF: PData, RELEASE_RQ: Release, RELEASE_RP: lambda: Release(reply=True), ABORT: Abort,
}
# PDU lengths fixed by PS3.8 §9.3.4-9.3.8, and the minimum for the A-ASSOCIATE fixed part.
_FIXED_LENGTH = {ASSOCIATE_RJ: 4, RELEASE_RQ: 4, RELEASE_RP: 4, ABORT: 4}


# -- P-DATA-TF (PS3.8 §9.3.5, Annex E.2) -----------------------------------------------------------------------

def _pdv_label(p: Pdv) -> str:
    kind = "Command" if p.is_command else "Data set"
    frag = "Last fragment" if p.is_last else "More fragments"
    return f"PDV ctx {p.context_id}, {kind}, {frag} ({p.value_length} bytes)"


def _pdv_tree(p: Pdv, limit: int) -> Field:
    """The subtree of one PDV from its header record alone; spans clamped to ``limit``."""
    def span(off: int, n: int) -> tuple[int, int]:
        off = min(off, limit)
        return off, max(0, min(n, limit - off))

    o, n = span(p.offset, 6 + p.value_length)
    node = Field("dicom.pdv", _pdv_label(p), None, "", o, n)
    node.add(Field("dicom.pdv.len", "PDV Length", p.length, str(p.length), *span(p.offset, 4)))
    ctx = node.add(Field("dicom.pdv.ctx", "Presentation Context ID", p.context_id, str(p.context_id),
                         *span(p.offset + 4, 1)))
    if p.context_id % 2 == 0:
        ctx.findings.append(Finding(WARN, "even-context-id",
                                    f"PDV context ID {p.context_id} is even; it must be odd (PS3.8 §9.3.2.2)"))
    flags = node.add(Field("dicom.pdv.flags", "Message Control Header", p.control, f"0x{p.control:02X}",
                           *span(p.offset + 5, 1)))
    bit = flags.offset, flags.length
    flags.add(Field("dicom.pdv.flags.command", ".... ...1 = Command" if p.is_command else ".... ...0 = Data set",
                    int(p.is_command), "", *bit))
    flags.add(Field("dicom.pdv.flags.last", ".... ..1. = Last fragment" if p.is_last else ".... ..0. = More fragments",
                    int(p.is_last), "", *bit))
    if p.control & 0xFC:
        flags.findings.append(Finding(WARN, "pdv-flags-reserved",
                                      f"reserved bits of the message control header are set (0x{p.control:02X});"
                                      " PS3.8 Annex E.2 says 0"))
    dv = span(p.value_offset, p.value_length)
    node.add(Field("dicom.pdv.data", "PDV Data", None, f"{p.value_length} bytes", *dv))
    return node


def _header_fields(root: Field, buf: bytes | memoryview) -> tuple[int | None, int | None]:
    """PDU type, reserved byte and length (PS3.8 §9.3.1) as fields of ``root``."""
    c = Cursor(buf, root, end=HEADER_LEN)
    t = c.u8("dicom.pdu.type", "PDU Type", lambda v: _hex_code(T.PDU_TYPES, v))
    if t is not None:
        _reserved(c, 1)
    length = c.u32("dicom.pdu.len", "PDU Length") if not c.truncated else None
    return t, length


def build_pdata_tree(pdu_length: int, pdvs: list[Pdv], findings: list[Finding], *,
                     reserved: int = 0, available: int | None = None) -> Field:
    """The P-DATA-TF tree from the PDU length and PDV header records only (PS3.8 §9.3.5).

    Used by :func:`dissect_pdu` and by the streaming framer, which never holds the
    PDV values. ``findings`` go on the root; ``available`` clamps spans to the
    bytes actually present.
    """
    pdu_length = max(0, int(pdu_length))
    limit = HEADER_LEN + pdu_length if available is None else available
    root = Field("dicom", "DICOM", None, "", 0, limit)
    _header_fields(root, struct.pack(">BBI", P_DATA_TF, reserved & 0xFF, pdu_length & 0xFFFFFFFF))
    for p in pdvs[:MAX_PDVS]:
        root.add(_pdv_tree(p, limit))
    if len(pdvs) > MAX_PDVS:
        rest = pdvs[MAX_PDVS:]
        start = min(rest[0].offset, limit)
        node = root.add(Field("dicom.pdv.more", f"{len(rest)} more PDVs", len(rest), "", start,
                              max(0, min(rest[-1].value_offset + rest[-1].value_length, limit) - start)))
        node.findings.append(Finding(NOTE, "too-many-pdvs", f"{len(pdvs)} PDVs; the first {MAX_PDVS} are shown"))
    if pdu_length < 6 and not pdvs and not findings:
        root.findings.append(Finding(WARN, "no-pdv", "P-DATA-TF without a PDV (PS3.8 §9.3.5 requires one or more)"))
    root.findings.extend(findings)
    root.display = pdata_info(pdvs)
    return root


def pdata_info(pdvs: list[Pdv]) -> str:
    """Info line: "P-DATA-TF ctx 1 Command, Last; ctx 1 Data, More" (first few PDVs)."""
    parts = [f"ctx {p.context_id} {'Command' if p.is_command else 'Data'}, {'Last' if p.is_last else 'More'}"
             for p in pdvs[:INFO_PDVS]]
    if len(pdvs) > INFO_PDVS:
        parts.append(f"… (+{len(pdvs) - INFO_PDVS} PDVs)")
    return f"{pdu_name(P_DATA_TF)} " + "; ".join(parts) if parts else f"{pdu_name(P_DATA_TF)} (no PDV)"


def _scan_pdvs(buf: bytes | memoryview, pdu_length: int) -> tuple[list[Pdv], list[Finding], int]:
    """PDV headers of a whole (or truncated) P-DATA-TF; returns records, findings, offset where decoding stopped."""
    limit = HEADER_LEN + pdu_length
    end = min(limit, len(buf))
    pos = HEADER_LEN
    pdvs: list[Pdv] = []
    findings: list[Finding] = []
    while pos < end:
        if limit - pos < 6:
            findings.append(Finding(ERROR, "pdv-truncated",
                                    f"PDU ends inside a PDV header ({limit - pos} of 6 bytes)"))
            return pdvs, findings, pos
        if end - pos < 6:
            return pdvs, findings, pos          # capture ends here; the root says so
        length, ctx, control = _PDV.unpack_from(buf, pos)
        if length < 2 or pos + 4 + length > limit:
            findings.append(Finding(ERROR, "pdv-length-invalid",
                                    f"PDV length {length} at PDU offset {pos} does not fit the"
                                    f" {limit - pos} bytes left in the PDU"))
            return pdvs, findings, pos
        pdvs.append(Pdv(pos, length, ctx, control))
        pos += 4 + length
    return pdvs, findings, min(pos, end)


# -- passcode scrubbing (PS3.7 §D.3.3.7) ----------------------------------------------------------------------

# Fields that may legitimately span a passcode: the PDU, user information, the identity item, the masked field.
_PASSCODE_CONTAINERS = frozenset(("dicom", "dicom.userinfo", "dicom.userinfo.user_identify",
                                  "dicom.userinfo.user_identify.secondary_field"))


# Item header (type, 00, length) then identity type 2, response flag, primary length: PS3.7 Table D.3-14.
_IDENTITY_SHAPE = re.compile(rb"(?=.\x00..\x02[\x00\x01]..)", re.S)


def _passcodes(buf: bytes | memoryview) -> list[tuple[int, bytes]]:
    """(offset, bytes) of the secondary field of every consistent-looking type 2 user identity sub-item.

    Found by pattern, not by the walk, so a corrupted length elsewhere that
    swallowed the sub-item into another field still has its passcode masked.
    """
    data = bytes(buf)
    found = []
    for m in _IDENTITY_SHAPE.finditer(data):      # any item type: the type byte itself may be the damage
        i = m.start()
        ilen, plen = _U16.unpack_from(data, i + 2)[0], _U16.unpack_from(data, i + 6)[0]
        at = i + 8 + plen
        if at + 2 <= len(data):
            slen = _U16.unpack_from(data, at)[0]
            if ilen == 6 + plen + slen and slen:
                found.append((at + 2, data[at + 2:at + 2 + slen]))
                if len(found) >= 16:
                    break
    return found


def _scrub(tree: Field, buf: bytes | memoryview, info: str) -> str:
    """Hide any field overlapping a passcode's bytes and mask passcode text anywhere; returns ``info`` masked."""
    secrets = _passcodes(buf)
    if not secrets:
        return info
    forms = set()
    for _, p in secrets:
        text = p.decode("latin-1")
        forms.update({text, safe_text(text), p.decode("utf-8", "replace"), p.hex(), p.hex(" ")})
    forms = {x for x in forms if len(x) >= 3}

    def clean(v):
        if isinstance(v, str):
            for x in forms:
                v = v.replace(x, MASK)
        return v

    for _, f in tree.walk():
        if f.key not in _PASSCODE_CONTAINERS and any(
                f.offset < off + len(p) and off < f.end for off, p in secrets):
            if isinstance(f.value, (str, bytes, bytearray)):
                f.value = None
            if f.display:
                f.display = "(hidden: overlaps a passcode)"
            f.findings[:] = [Finding(x.severity, x.code, f"{f.label}: details hidden (overlaps a passcode)")
                             for x in f.findings]
        f.display, f.label = clean(f.display), clean(f.label)
        f.findings[:] = [Finding(x.severity, x.code, clean(x.message)) for x in f.findings]
    return clean(info)


# -- entry point -----------------------------------------------------------------------------------------------

def dissect_pdu(data: bytes | memoryview) -> DecodedPdu:
    """Decode one PDU (header + body) into a Field tree, typed body and Info line; never raises."""
    try:
        return _dissect(data)
    except Exception as exc:        # a bug here must not stop the analysis of a whole capture
        n = len(data) if hasattr(data, "__len__") else 0
        root = Field("dicom", "DICOM", None, "", 0, n)
        root.findings.append(Finding(ERROR, "dissector-error", f"internal error while decoding: {exc!r}"))
        t = data[0] if n and isinstance(data[0], int) else 0     # a str would make pdu_name raise here
        return DecodedPdu(t, 0, root, f"{pdu_name(t)} (undecoded)")


def _dissect(data: bytes | memoryview) -> DecodedPdu:
    buf = data if isinstance(data, (bytes, memoryview)) else bytes(data)
    n = len(buf)
    root = Field("dicom", "DICOM", None, "", 0, n)
    t, length = _header_fields(root, buf)
    if t is None or length is None:
        pdu_type = t or 0
        info = f"{pdu_name(pdu_type)} (truncated header)" if n else "(empty)"
        root.display = info
        body = _EMPTY_BODIES.get(pdu_type, lambda: None)()
        return DecodedPdu(pdu_type, 0, root, info, body)
    limit = HEADER_LEN + length
    len_field = root.find("dicom.pdu.len")
    if n < limit:
        len_field.findings.append(Finding(ERROR, "truncated", f"PDU length is {length} but only {n - HEADER_LEN}"
                                                              " bytes are present"))
    if t in _FIXED_LENGTH and length != _FIXED_LENGTH[t]:
        len_field.findings.append(Finding(WARN, "bad-pdu-length", f"{pdu_name(t)} length is {length};"
                                                                  f" PS3.8 §9.3 fixes it at {_FIXED_LENGTH[t]}"))
    elif t in (ASSOCIATE_RQ, ASSOCIATE_AC) and length < ASSOC_FIXED:
        len_field.findings.append(Finding(ERROR, "bad-pdu-length", f"{pdu_name(t)} length is {length}; the fixed"
                                                                   f" part alone is {ASSOC_FIXED} bytes"))

    if t == P_DATA_TF:
        pdvs, findings, stop = _scan_pdvs(buf, length)
        tree = build_pdata_tree(length, pdvs, [], reserved=buf[1], available=n)
        tree.children[:3] = root.children[:3]          # the header fields as read, with their findings
        end = min(limit, n)
        if stop < end:
            tree.add(Field("dicom.pdv.invalid", "Undecoded PDV bytes", None, f"{end - stop} bytes", stop, end - stop))
        tree.findings.extend(findings)
        root, body, info = tree, PData(pdvs), pdata_info(pdvs)
    elif t in _BODIES:
        c = Cursor(buf, root, start=HEADER_LEN, end=limit)
        body, info = _BODIES[t](c, t, limit)
        if t in (ASSOCIATE_RQ, ASSOCIATE_AC):
            info = _scrub(root, buf, info)
        if c.pos < c.end:
            extra = _blob(c, "dicom.pdu.extra", "Extra bytes", c.end - c.pos)
            extra.findings.append(Finding(WARN, "pdu-extra-bytes", f"{extra.length} bytes after the {pdu_name(t)}"
                                                                   " fields, inside its length"))
    else:
        c = Cursor(buf, root, start=HEADER_LEN, end=limit)
        f = _blob(c, "dicom.pdu.data", "PDU data", min(length, n - HEADER_LEN))
        f.findings.append(Finding(ERROR, "unknown-pdu-type", f"PDU type 0x{t:02X} is not defined by PS3.8 §9.3.1"))
        body, info = None, pdu_name(t)
    if n > limit:
        trailing = root.add(Field("dicom.trailing", "Trailing bytes", None, f"{n - limit} bytes", limit, n - limit))
        trailing.findings.append(Finding(WARN, "trailing-bytes",
                                         f"{n - limit} bytes after the end given by the PDU length"))
    root.offset, root.length = 0, n
    root.display = info
    return DecodedPdu(t, length, root, info, body)
