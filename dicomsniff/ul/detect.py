"""Is this DICOM? Heuristics on the first bytes of a TCP direction, for DICOM on any port (PS3.8 §9.3).

An A-ASSOCIATE-RQ is recognised by its fixed part (PS3.8 §9.3.2) and its first
item, the application context. A stream picked up in the middle is recognised
by a run of consecutive PDU headers that each make sense for their type. All
functions take any bytes and never raise.
"""

from __future__ import annotations

import struct

from .pdus import ABORT, ASSOCIATE_AC, ASSOCIATE_RJ, ASSOCIATE_RQ, RELEASE_RP, RELEASE_RQ

ASSOC_MAX = 1 << 20        # an A-ASSOCIATE of 1 MiB would hold thousands of contexts
PDATA_MAX = 1 << 26        # default bound for a P-DATA-TF length (max PDU is negotiated, 0 = unlimited)
ASSOC_MIN = 68 + 4 + 1     # fixed part + an application context item with at least one character
_UID_CHARS = frozenset(b"0123456789.")
_U16, _U32 = struct.Struct(">H"), struct.Struct(">I")
# PDU types whose length is fixed at 4 (PS3.8 §9.3.4, §9.3.6-9.3.8).
_FIXED4 = frozenset((ASSOCIATE_RJ, RELEASE_RQ, RELEASE_RP, ABORT))


def _ae_ok(field: bytes) -> bool:
    """A 16-byte AE title that is not all padding.

    Its characters are not checked here: a peer sending control characters or
    a backslash (invalid in PS3.5 AE) is still DICOM, and exactly what users
    need to see (the diagnosis reports ``ae-title-invalid``); the rest of the
    header and the application context UID make detection specific enough.
    """
    return bool(field.strip(b"\x00 "))


def looks_like_associate_rq(buf: bytes | memoryview, pdu_type: int = ASSOCIATE_RQ) -> bool:
    """True if ``buf`` starts with what can only be an A-ASSOCIATE-RQ (PS3.8 §9.3.2).

    Needs the 74-byte fixed part and the first item header (78 bytes); the
    application context UID is checked as far as ``buf`` holds it. With
    ``pdu_type=ASSOCIATE_AC`` the same for an A-ASSOCIATE-AC (PS3.8 §9.3.3),
    whose fixed part has the same shape.
    """
    try:
        if len(buf) < 78 or buf[0] != pdu_type or buf[1] != 0:
            return False
        length = _U32.unpack_from(buf, 2)[0]
        if not ASSOC_MIN <= length <= ASSOC_MAX:
            return False
        if not _U16.unpack_from(buf, 6)[0] & 0x0001:
            return False
        if not (_ae_ok(bytes(buf[10:26])) and _ae_ok(bytes(buf[26:42]))):
            return False
        if buf[74] != 0x10:
            return False
        ulen = _U16.unpack_from(buf, 76)[0]
        if not 1 <= ulen <= 64 or 4 + ulen > length - 68:
            return False
        uid = bytes(buf[78:78 + ulen]).rstrip(b"\x00")
        return bool(uid) and uid[:1].isdigit() and all(b in _UID_CHARS for b in uid)
    except Exception:
        return False


def plausible_pdu_header(buf: bytes | memoryview, pos: int = 0, max_len: int = PDATA_MAX) -> bool:
    """True if a PDU header at ``buf[pos:]`` makes sense for its type (PS3.8 §9.3.1).

    A-ASSOCIATE lengths are bounded by 1 MiB, the fixed-length PDUs must say 4,
    and a P-DATA-TF must be at least 6 long with a first PDV that fits, an odd
    context ID and only the two defined control bits, checked as far as ``buf``
    holds it (12 bytes see the whole first PDV header). ``max_len`` bounds P-DATA.
    """
    try:
        if pos < 0 or len(buf) - pos < 6:
            return False
        t, reserved = buf[pos], buf[pos + 1]
        if reserved != 0 or not ASSOCIATE_RQ <= t <= ABORT:
            return False
        length = _U32.unpack_from(buf, pos + 2)[0]
        have = len(buf) - pos
        if t in (ASSOCIATE_RQ, ASSOCIATE_AC):
            if not 68 <= length <= min(ASSOC_MAX, max_len):
                return False
            return have < 8 or bool(_U16.unpack_from(buf, pos + 6)[0] & 0x0001)
        if t in _FIXED4:
            if length != 4:
                return False
            if t == ASSOCIATE_RJ and have >= 10:
                return buf[pos + 7] in (1, 2) and buf[pos + 8] in (1, 2, 3)
            if t == ABORT and have >= 10:
                return buf[pos + 8] in (0, 1, 2) and buf[pos + 9] <= 6
            return True
        # P-DATA-TF (PS3.8 §9.3.5): PDV items of length, context ID, control header.
        if not 6 <= length <= max_len:
            return False
        if have >= 10:
            pdv_len = _U32.unpack_from(buf, pos + 6)[0]
            if pdv_len < 2 or pdv_len > length - 4:
                return False
        if have >= 11 and buf[pos + 10] % 2 == 0:
            return False
        if have >= 12 and buf[pos + 11] > 3:
            return False
        return True
    except Exception:
        return False


def classify_stream_start(buf: bytes | memoryview) -> str | None:
    """"associate" if ``buf`` opens with an A-ASSOCIATE-RQ, "accept" if with an A-ASSOCIATE-AC (its
    A-ASSOCIATE-RQ not captured), "midstream" if it opens with at least two plausible consecutive
    PDUs (a capture that began mid-association), else None."""
    if looks_like_associate_rq(buf):
        return "associate"
    pos, run = 0, 0
    try:
        while run < 2 and plausible_pdu_header(buf, pos):
            run += 1
            pos += 6 + _U32.unpack_from(buf, pos + 2)[0]
            if pos + 6 > len(buf):
                break
    except Exception:
        return None
    if run >= 2:
        return "midstream"
    return "accept" if looks_like_associate_rq(buf, ASSOCIATE_AC) else None
