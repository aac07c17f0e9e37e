"""Upper Layer PDU bytes for tests: small builders (PS3.8 §9.3, PS3.7 Annex D.3.3) and verbatim fixtures.

Reuse them from any test::

    from tests.pdu_fixtures import assoc_rq, assoc_ac, pdata, release_rq, VERIFICATION, IMPLICIT_LE

Builders take what the wire carries and nothing checks it, so tests can build
malformed PDUs too (odd lengths, bad codes) by passing odd values or by
composing :func:`item`/:func:`pdu` by hand.
"""

from __future__ import annotations

import struct

# Well-known UIDs (PS3.6 Annex A).
APP_CONTEXT = "1.2.840.10008.3.1.1.1"            # DICOM Application Context Name
VERIFICATION = "1.2.840.10008.1.1"               # Verification SOP Class
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"         # CT Image Storage
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Q/R Information Model - FIND
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"  # Study Root Q/R Information Model - MOVE
STORAGE_SERVICE = "1.2.840.10008.4.2"            # Storage Service Class
IMPLICIT_LE = "1.2.840.10008.1.2"                # Implicit VR Little Endian
EXPLICIT_LE = "1.2.840.10008.1.2.1"              # Explicit VR Little Endian
EXPLICIT_BE = "1.2.840.10008.1.2.2"              # Explicit VR Big Endian (retired)
DEFLATED_LE = "1.2.840.10008.1.2.1.99"           # Deflated Explicit VR Little Endian
IMPL_UID = "1.2.826.0.1.3680043.9.3811.2.0.0"    # an implementation class UID (pynetdicom's root)
IMPL_VERSION = "DICOMSNIFF_TEST"

# PDV message control header bits, PS3.8 Annex E.2.
DATA, COMMAND, LAST = 0x00, 0x01, 0x02


def _b(s: str | bytes) -> bytes:
    return s if isinstance(s, bytes) else s.encode("latin-1")


def ae(title: str | bytes) -> bytes:
    """A 16-byte AE title field, space padded (longer input is cut at 16)."""
    return _b(title)[:16].ljust(16, b" ")


def pdu(pdu_type: int, body: bytes, *, reserved: int = 0, length: int | None = None) -> bytes:
    """PDU header (type, reserved, 32-bit length) + body; ``length`` overrides the true length."""
    return struct.pack(">BBI", pdu_type, reserved, len(body) if length is None else length) + body


def item(item_type: int, body: bytes, *, reserved: int = 0, length: int | None = None) -> bytes:
    """An item or sub-item: type, reserved, 16-bit length, body; ``length`` overrides the true length."""
    return struct.pack(">BBH", item_type, reserved, len(body) if length is None else length) + body


def app_context(uid: str = APP_CONTEXT) -> bytes:
    """Item 0x10: the application context name (always the DICOM one in practice)."""
    return item(0x10, _b(uid))


def abstract_syntax(uid: str) -> bytes:
    """Sub-item 0x30: the SOP class proposed in a presentation context."""
    return item(0x30, _b(uid))


def transfer_syntax(uid: str) -> bytes:
    """Sub-item 0x40: one proposed (RQ) or the accepted (AC) transfer syntax."""
    return item(0x40, _b(uid))


def pctx_rq(ctx_id: int, abstract: str | None, syntaxes: list[str]) -> bytes:
    """Item 0x20: presentation context proposal: id, 3 reserved bytes, abstract syntax, transfer syntaxes."""
    body = bytes([ctx_id, 0, 0, 0])
    if abstract is not None:
        body += abstract_syntax(abstract)
    return item(0x20, body + b"".join(transfer_syntax(t) for t in syntaxes))


def pctx_ac(ctx_id: int, result: int, syntax: str | None) -> bytes:
    """Item 0x21: presentation context answer: id, reserved, result (0 = accepted), reserved, one TS."""
    body = bytes([ctx_id, 0, result, 0])
    return item(0x21, body + (transfer_syntax(syntax) if syntax is not None else b""))


def max_length(n: int) -> bytes:
    """Sub-item 0x51: the largest P-DATA-TF PDU length the sender will receive (0 = unlimited)."""
    return item(0x51, struct.pack(">I", n))


def impl_class_uid(uid: str = IMPL_UID) -> bytes:
    """Sub-item 0x52: the implementation class UID of the sender's DICOM stack."""
    return item(0x52, _b(uid))


def impl_version(name: str = IMPL_VERSION) -> bytes:
    """Sub-item 0x55: the implementation version name (1-16 chars)."""
    return item(0x55, _b(name))


def async_window(invoked: int, performed: int) -> bytes:
    """Sub-item 0x53: asynchronous operations window (max operations invoked / performed, 0 = unlimited)."""
    return item(0x53, struct.pack(">HH", invoked, performed))


def role_selection(sop_class: str, scu: int, scp: int) -> bytes:
    """Sub-item 0x54: SCP/SCU role selection for one SOP class (e.g. C-GET needs scp=1)."""
    uid = _b(sop_class)
    return item(0x54, struct.pack(">H", len(uid)) + uid + bytes([scu, scp]))


def ext_neg(sop_class: str, info: bytes) -> bytes:
    """Sub-item 0x56: SOP class extended negotiation with its service-class application information."""
    uid = _b(sop_class)
    return item(0x56, struct.pack(">H", len(uid)) + uid + info)


def common_ext_neg(sop_class: str, service_class: str, related: list[str] = ()) -> bytes:
    """Sub-item 0x57: SOP class common extended negotiation: SOP class, its service class, related SOP classes."""
    sop, svc = _b(sop_class), _b(service_class)
    rel = b"".join(struct.pack(">H", len(_b(r))) + _b(r) for r in related)
    return item(0x57, struct.pack(">H", len(sop)) + sop + struct.pack(">H", len(svc)) + svc
                + struct.pack(">H", len(rel)) + rel)


def user_identity_rq(id_type: int, primary: bytes, secondary: bytes = b"", response_requested: int = 0) -> bytes:
    """Sub-item 0x58: user identity (1 username, 2 username+passcode, 3 Kerberos, 4 SAML, 5 JWT)."""
    return item(0x58, bytes([id_type, response_requested]) + struct.pack(">H", len(primary)) + primary
                + struct.pack(">H", len(secondary)) + secondary)


def user_identity_ac(server_response: bytes) -> bytes:
    """Sub-item 0x59: user identity answer carrying the server response (ticket, assertion or token)."""
    return item(0x59, struct.pack(">H", len(server_response)) + server_response)


def user_info(max_pdu: int | None = 16384, impl_uid: str | None = IMPL_UID, impl_ver: str | None = IMPL_VERSION,
              extra: bytes = b"") -> bytes:
    """Item 0x50: user information holding max length, implementation UID/version and ``extra`` sub-items."""
    body = b""
    if max_pdu is not None:
        body += max_length(max_pdu)
    if impl_uid is not None:
        body += impl_class_uid(impl_uid)
    if impl_ver is not None:
        body += impl_version(impl_ver)
    return item(0x50, body + extra)


def _assoc(pdu_type: int, calling: str | bytes, called: str | bytes, items: bytes, version: int) -> bytes:
    fixed = struct.pack(">HH", version, 0) + ae(called) + ae(calling) + bytes(32)
    return pdu(pdu_type, fixed + items)


def assoc_rq(calling: str | bytes = "FINDSCU", called: str | bytes = "ANY-SCP",
             contexts: list[tuple[int, str | None, list[str]]] = ((1, VERIFICATION, [IMPLICIT_LE]),),
             max_pdu: int | None = 16384, impl_uid: str | None = IMPL_UID, impl_version: str | None = IMPL_VERSION,
             extra_user_items: bytes = b"", *, version: int = 1, app_ctx: str | None = APP_CONTEXT,
             with_user_info: bool = True) -> bytes:
    """A-ASSOCIATE-RQ (0x01): ``calling`` asks ``called`` for an association with these presentation contexts."""
    items = app_context(app_ctx) if app_ctx is not None else b""
    items += b"".join(pctx_rq(i, a, ts) for i, a, ts in contexts)
    if with_user_info:
        items += user_info(max_pdu, impl_uid, impl_version, extra_user_items)
    return _assoc(0x01, calling, called, items, version)


def assoc_ac(calling: str | bytes = "FINDSCU", called: str | bytes = "ANY-SCP",
             results: list[tuple[int, int, str | None]] = ((1, 0, IMPLICIT_LE),),
             max_pdu: int | None = 16384, impl_uid: str | None = IMPL_UID, impl_version: str | None = IMPL_VERSION,
             extra_user_items: bytes = b"", *, version: int = 1) -> bytes:
    """A-ASSOCIATE-AC (0x02): the acceptor's answer, one (id, result, transfer syntax) per context."""
    items = app_context() + b"".join(pctx_ac(i, r, ts) for i, r, ts in results)
    items += user_info(max_pdu, impl_uid, impl_version, extra_user_items)
    return _assoc(0x02, calling, called, items, version)


def assoc_rj(result: int, source: int, reason: int) -> bytes:
    """A-ASSOCIATE-RJ (0x03): reserved, result (1 permanent, 2 transient), source, reason."""
    return pdu(0x03, bytes([0, result, source, reason]))


def pdv(ctx_id: int, flags: int, payload: bytes, *, length: int | None = None) -> bytes:
    """One PDV item: 32-bit length (ctx + flags + value), context id, message control header, value."""
    n = len(payload) + 2 if length is None else length
    return struct.pack(">IBB", n, ctx_id, flags) + payload


def pdata(pdvs: list[tuple[int, int, bytes]]) -> bytes:
    """P-DATA-TF (0x04) holding one PDV per (context id, flags, payload); flags: COMMAND | LAST bits."""
    return pdu(0x04, b"".join(pdv(c, f, p) for c, f, p in pdvs))


def release_rq() -> bytes:
    """A-RELEASE-RQ (0x05): four reserved bytes."""
    return pdu(0x05, bytes(4))


def release_rp() -> bytes:
    """A-RELEASE-RP (0x06): four reserved bytes."""
    return pdu(0x06, bytes(4))


def abort(source: int = 0, reason: int = 0) -> bytes:
    """A-ABORT (0x07): two reserved bytes, source (0 user, 2 provider), reason (significant if source 2)."""
    return pdu(0x07, bytes([0, 0, source, reason]))


# --- Verbatim fixtures in the style of pynetdicom's tests/encoded_pdu_items.py (MIT licence) -------------

# A-ASSOCIATE-RQ, from pynetdicom tests/encoded_pdu_items.py ``a_associate_rq``:
# Called AET: ANY-SCP; Calling AET: ECHOSCU; Application Context Name: 1.2.840.10008.3.1.1.1
# Presentation Context ID 1: Verification SOP Class, Implicit VR Little Endian
# User Information: Max Length 16382, Implementation Class UID 1.2.826.0.1.3680043.9.3811.0.9.0,
#   Implementation Version Name PYNETDICOM_090
PYNETDICOM_ASSOC_RQ = (
    b"\x01\x00\x00\x00\x00\xd1\x00\x01\x00\x00\x41\x4e\x59\x2d"
    b"\x53\x43\x50\x20\x20\x20\x20\x20\x20\x20\x20\x20\x45\x43"
    b"\x48\x4f\x53\x43\x55\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x10\x00\x00\x15\x31\x2e\x32\x2e\x38\x34"
    b"\x30\x2e\x31\x30\x30\x30\x38\x2e\x33\x2e\x31\x2e\x31\x2e"
    b"\x31\x20\x00\x00\x2e\x01\x00\x00\x00\x30\x00\x00\x11\x31"
    b"\x2e\x32\x2e\x38\x34\x30\x2e\x31\x30\x30\x30\x38\x2e\x31"
    b"\x2e\x31\x40\x00\x00\x11\x31\x2e\x32\x2e\x38\x34\x30\x2e"
    b"\x31\x30\x30\x30\x38\x2e\x31\x2e\x32\x50\x00\x00\x3e\x51"
    b"\x00\x00\x04\x00\x00\x3f\xfe\x52\x00\x00\x20\x31\x2e\x32"
    b"\x2e\x38\x32\x36\x2e\x30\x2e\x31\x2e\x33\x36\x38\x30\x30"
    b"\x34\x33\x2e\x39\x2e\x33\x38\x31\x31\x2e\x30\x2e\x39\x2e"
    b"\x30\x55\x00\x00\x0e\x50\x59\x4e\x45\x54\x44\x49\x43\x4f"
    b"\x4d\x5f\x30\x39\x30"
)

# A-ASSOCIATE-RQ, from pynetdicom ``a_associate_rq_user_async``: as above, plus
# User Identity (type 1 username "pynetdicom", response requested, no secondary field)
# and Asynchronous Operations Window (5 invoked, 5 performed).
PYNETDICOM_ASSOC_RQ_USER_ASYNC = (
    b"\x01\x00\x00\x00\x00\xed\x00\x01\x00\x00\x41\x4e\x59\x2d\x53\x43"
    b"\x50\x20\x20\x20\x20\x20\x20\x20\x20\x20\x45\x43\x48\x4f\x53\x43"
    b"\x55\x20\x20\x20\x20\x20\x20\x20\x20\x20\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x15\x31\x2e"
    b"\x32\x2e\x38\x34\x30\x2e\x31\x30\x30\x30\x38\x2e\x33\x2e\x31\x2e"
    b"\x31\x2e\x31\x20\x00\x00\x2e\x01\x00\x00\x00\x30\x00\x00\x11\x31"
    b"\x2e\x32\x2e\x38\x34\x30\x2e\x31\x30\x30\x30\x38\x2e\x31\x2e\x31"
    b"\x40\x00\x00\x11\x31\x2e\x32\x2e\x38\x34\x30\x2e\x31\x30\x30\x30"
    b"\x38\x2e\x31\x2e\x32\x50\x00\x00\x5a\x51\x00\x00\x04\x00\x00\x3f"
    b"\xfe\x52\x00\x00\x20\x31\x2e\x32\x2e\x38\x32\x36\x2e\x30\x2e\x31"
    b"\x2e\x33\x36\x38\x30\x30\x34\x33\x2e\x39\x2e\x33\x38\x31\x31\x2e"
    b"\x30\x2e\x39\x2e\x30\x55\x00\x00\x0e\x50\x59\x4e\x45\x54\x44\x49"
    b"\x43\x4f\x4d\x5f\x30\x39\x30\x58\x00\x00\x10\x01\x01\x00\x0a\x70"
    b"\x79\x6e\x65\x74\x64\x69\x63\x6f\x6d\x00\x00\x53\x00\x00\x04\x00"
    b"\x05\x00\x05"
)

# A-ASSOCIATE-AC, from pynetdicom ``a_associate_ac_zero_ts`` (pynetdicom issue 342, a MergeCOM3 peer):
# Called AET: ANY-SCP; Calling AET: PYNETDICOM
# Context 1: accepted, Explicit VR Little Endian
# Context 3: abstract-syntax-not-supported, with a zero-length transfer syntax sub-item
# User Information: Max Length 28672, Implementation Class UID 2.16.840.1, Version MergeCOM3_390IB2
PYNETDICOM_ASSOC_AC_ZERO_TS = (
    b"\x02\x00\x00\x00\x00\xb6\x00\x01\x00\x00\x41\x4e\x59\x2d\x53\x43"
    b"\x50\x20\x20\x20\x20\x20\x20\x20\x20\x20\x50\x59\x4e\x45\x54\x44"
    b"\x49\x43\x4f\x4d\x20\x20\x20\x20\x20\x20\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x15\x31\x2e"
    b"\x32\x2e\x38\x34\x30\x2e\x31\x30\x30\x30\x38\x2e\x33\x2e\x31\x2e"
    b"\x31\x2e\x31\x21\x00\x00\x1b\x01\x00\x00\x00\x40\x00\x00\x13\x31"
    b"\x2e\x32\x2e\x38\x34\x30\x2e\x31\x30\x30\x30\x38\x2e\x31\x2e\x32"
    b"\x2e\x31\x21\x00\x00\x08\x03\x00\x03\x00\x40\x00\x00\x00\x50\x00"
    b"\x00\x2a\x51\x00\x00\x04\x00\x00\x70\x00\x52\x00\x00\x0a\x32\x2e"
    b"\x31\x36\x2e\x38\x34\x30\x2e\x31\x55\x00\x00\x10\x4d\x65\x72\x67"
    b"\x65\x43\x4f\x4d\x33\x5f\x33\x39\x30\x49\x42\x32"
)

# A-ASSOCIATE-RJ, from pynetdicom ``a_associate_rj``: rejected-permanent, service-user, no-reason-given.
PYNETDICOM_ASSOC_RJ = b"\x03\x00\x00\x00\x00\x04\x00\x01\x01\x01"

# A-ABORT, from pynetdicom ``a_p_abort``: service-provider, unrecognized-PDU-parameter.
PYNETDICOM_P_ABORT = b"\x07\x00\x00\x00\x00\x04\x00\x00\x02\x04"

# P-DATA-TF, from pynetdicom ``p_data_tf``: one PDV, context 1, command + last fragment (0x03),
# holding a C-ECHO-RSP command set (78 value bytes).
PYNETDICOM_P_DATA_TF = (
    b"\x04\x00\x00\x00\x00\x54\x00\x00\x00\x50\x01\x03\x00\x00\x00"
    b"\x00\x04\x00\x00\x00\x42\x00\x00\x00\x00\x00\x02\x00\x12\x00"
    b"\x00\x00\x31\x2e\x32\x2e\x38\x34\x30\x2e\x31\x30\x30\x30\x38"
    b"\x2e\x31\x2e\x31\x00\x00\x00\x00\x01\x02\x00\x00\x00\x30\x80"
    b"\x00\x00\x20\x01\x02\x00\x00\x00\x01\x00\x00\x00\x00\x08\x02"
    b"\x00\x00\x00\x01\x01\x00\x00\x00\x09\x02\x00\x00\x00\x00\x00"
)
