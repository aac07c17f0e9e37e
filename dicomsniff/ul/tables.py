"""Upper Layer wire codes as tables, with lookups that never raise (PS3.8 §9.3, PS3.7 Annex D.3.3).

Every lookup takes whatever the wire said (or None when it was not there) and
returns a string: the standard's term, ``"reserved (0x04)"`` for a reserved
code, ``"Unknown (0x5A)"`` for a code the standard does not define.
"""

from __future__ import annotations

from typing import Mapping

from .pdus import PDU_NAMES

MISSING = "(missing)"

# PDU types, PS3.8 §9.3.1 (the names live with the typed bodies).
PDU_TYPES: Mapping[int, str] = PDU_NAMES

# Item types of the A-ASSOCIATE variable part and of User Information, PS3.8 §9.3.2-9.3.3, PS3.7 D.3.3.
APPLICATION_CONTEXT, PCTX_RQ, PCTX_AC = 0x10, 0x20, 0x21
ABSTRACT_SYNTAX, TRANSFER_SYNTAX, USER_INFO = 0x30, 0x40, 0x50
MAX_LENGTH, IMPL_CLASS_UID, ASYNC_WINDOW, ROLE_SELECTION = 0x51, 0x52, 0x53, 0x54
IMPL_VERSION, EXT_NEG, COMMON_EXT_NEG, USER_IDENTITY_RQ, USER_IDENTITY_AC = 0x55, 0x56, 0x57, 0x58, 0x59

ITEM_TYPES: Mapping[int, str] = {
    APPLICATION_CONTEXT: "Application Context",
    PCTX_RQ: "Presentation Context (RQ)",
    PCTX_AC: "Presentation Context (AC)",
    ABSTRACT_SYNTAX: "Abstract Syntax",
    TRANSFER_SYNTAX: "Transfer Syntax",
    USER_INFO: "User Information",
    MAX_LENGTH: "Maximum Length",
    IMPL_CLASS_UID: "Implementation Class UID",
    ASYNC_WINDOW: "Asynchronous Operations Window",
    ROLE_SELECTION: "SCP/SCU Role Selection",
    IMPL_VERSION: "Implementation Version Name",
    EXT_NEG: "SOP Class Extended Negotiation",
    COMMON_EXT_NEG: "SOP Class Common Extended Negotiation",
    USER_IDENTITY_RQ: "User Identity (RQ)",
    USER_IDENTITY_AC: "User Identity (AC)",
}

# Field keys of each item's subtree: Wireshark's where it has one (dicom.userinfo.*), ours otherwise.
ITEM_KEYS: Mapping[int, str] = {
    APPLICATION_CONTEXT: "dicom.assoc.item.actx",
    PCTX_RQ: "dicom.pctx",
    PCTX_AC: "dicom.pctx",
    ABSTRACT_SYNTAX: "dicom.pctx.abss",
    TRANSFER_SYNTAX: "dicom.pctx.xfer",
    USER_INFO: "dicom.userinfo",
    MAX_LENGTH: "dicom.userinfo.maxlen",
    IMPL_CLASS_UID: "dicom.userinfo.impl_uid",
    ASYNC_WINDOW: "dicom.userinfo.asyncneg",
    ROLE_SELECTION: "dicom.userinfo.rolesel",
    IMPL_VERSION: "dicom.userinfo.impl_version",
    EXT_NEG: "dicom.userinfo.extneg",
    COMMON_EXT_NEG: "dicom.userinfo.commonextneg",
    USER_IDENTITY_RQ: "dicom.userinfo.user_identify",
    USER_IDENTITY_AC: "dicom.userinfo.user_identify",
}

# Presentation context result/reason, PS3.8 §9.3.3.2 (Table 9-18).
CONTEXT_RESULTS: Mapping[int, str] = {
    0: "acceptance",
    1: "user-rejection",
    2: "no-reason (provider rejection)",
    3: "abstract-syntax-not-supported (provider rejection)",
    4: "transfer-syntaxes-not-supported (provider rejection)",
}
CONTEXT_RESULTS_PLAIN: Mapping[int, str] = {
    0: "Accepted",
    1: "Rejected by the called application",
    2: "Rejected by the called system, no reason given",
    3: "Rejected: the called system does not support this SOP class (abstract syntax)",
    4: "Rejected: the called system supports none of the proposed transfer syntaxes",
}

# A-ASSOCIATE-RJ, PS3.8 §9.3.4 (Table 9-21).
REJECT_RESULTS: Mapping[int, str] = {1: "rejected-permanent", 2: "rejected-transient"}
REJECT_SOURCES: Mapping[int, str] = {
    1: "service-user",
    2: "service-provider ACSE",
    3: "service-provider presentation",
}
REJECT_REASONS: Mapping[int, Mapping[int, str]] = {
    1: {1: "no-reason-given", 2: "application-context-name-not-supported",
        3: "calling-AE-title-not-recognized", 4: "reserved", 5: "reserved", 6: "reserved",
        7: "called-AE-title-not-recognized", 8: "reserved", 9: "reserved", 10: "reserved"},
    2: {1: "no-reason-given", 2: "protocol-version-not-supported"},
    3: {0: "reserved", 1: "temporary-congestion", 2: "local-limit-exceeded",
        3: "reserved", 4: "reserved", 5: "reserved", 6: "reserved", 7: "reserved"},
}
REJECT_REASONS_PLAIN: Mapping[tuple[int, int], str] = {
    (1, 1): "The called application rejected the association without giving a reason",
    (1, 2): "The called application does not support the proposed application context name",
    (1, 3): "Calling AE title not recognized: the called system does not know this calling AE title"
            " (add it to the peer's list of known AEs)",
    (1, 7): "Called AE title not recognized: the called system does not answer to this AE title"
            " (check the called AE title configured on the calling side)",
    (2, 1): "The called system's DICOM stack rejected the association without giving a reason",
    (2, 2): "The called system does not support the proposed protocol version",
    (3, 1): "The called system is temporarily congested: retry later",
    (3, 2): "A local limit was exceeded on the called system (e.g. too many simultaneous associations)",
}

# A-ABORT, PS3.8 §9.3.8 (Table 9-26). The reason is significant only when the source is 2.
ABORT_SOURCES: Mapping[int, str] = {0: "service-user", 1: "reserved", 2: "service-provider"}
ABORT_REASONS: Mapping[int, str] = {
    0: "reason-not-specified",
    1: "unrecognized-PDU",
    2: "unexpected-PDU",
    3: "reserved",
    4: "unrecognized-PDU-parameter",
    5: "unexpected-PDU-parameter",
    6: "invalid-PDU-parameter-value",
}
ABORT_REASONS_PLAIN: Mapping[int, str] = {
    0: "The DICOM stack aborted without saying why",
    1: "The DICOM stack received a PDU of a type it does not know",
    2: "The DICOM stack received a PDU it did not expect in its current state",
    4: "The DICOM stack received a PDU with an item or parameter it does not know",
    5: "The DICOM stack received a PDU with an item or parameter it did not expect",
    6: "The DICOM stack received a PDU with an invalid parameter value",
}
ABORT_USER_PLAIN = "The application aborted the association (A-ABORT by the service-user)"

# User Identity type, PS3.7 §D.3.3.7.1 (Table D.3-14).
USER_IDENTITY_TYPES: Mapping[int, str] = {
    1: "username",
    2: "username and passcode",
    3: "Kerberos service ticket",
    4: "SAML assertion",
    5: "JSON Web Token",
}

# SCP/SCU Role Selection values, PS3.7 §D.3.3.4 (Tables D.3-9 and D.3-10).
ROLE_RQ: Mapping[int, str] = {0: "non-support", 1: "support"}
ROLE_AC: Mapping[int, str] = {0: "rejected", 1: "accepted"}


def describe(table: Mapping, code: object) -> str:
    """The table's name for ``code``, ``"reserved (0x04)"``, ``"Unknown (0x05)"`` or ``"(missing)"``."""
    if code is None:
        return MISSING
    try:
        name = table.get(code)
    except TypeError:
        name = None
    if not isinstance(code, int):
        return f"Unknown ({code!r})" if name is None else name
    if name is None:
        return f"Unknown (0x{code:02X})"
    if name == "reserved":
        return f"reserved (0x{code:02X})"
    return name


def pdu_type_text(code: int | None) -> str:
    return describe(PDU_TYPES, code)


def item_type_text(code: int | None) -> str:
    return describe(ITEM_TYPES, code)


def context_result_text(result: int | None) -> str:
    """PS3.8 §9.3.3.2 term for a presentation context result, e.g. "user-rejection"."""
    return describe(CONTEXT_RESULTS, result)


def context_result_plain(result: int | None) -> str:
    return CONTEXT_RESULTS_PLAIN.get(result, context_result_text(result)) if isinstance(result, int) \
        else context_result_text(result)


def reject_result_text(result: int | None) -> str:
    return describe(REJECT_RESULTS, result)


def reject_source_text(source: int | None) -> str:
    return describe(REJECT_SOURCES, source)


def reject_reason_text(source: int | None, reason: int | None) -> str:
    """PS3.8 Table 9-21 term for an A-ASSOCIATE-RJ reason, which depends on the source."""
    table = REJECT_REASONS.get(source, {}) if isinstance(source, int) else {}
    return describe(table, reason)


def reject_reason_plain(source: int | None, reason: int | None) -> str:
    """Plain-language explanation of an A-ASSOCIATE-RJ reason, e.g. "Calling AE title not recognized: …"."""
    plain = REJECT_REASONS_PLAIN.get((source, reason)) if isinstance(source, int) and isinstance(reason, int) \
        else None
    return plain or f"Rejected ({reject_reason_text(source, reason)}, source {reject_source_text(source)})"


def reject_text(result: int | None, source: int | None, reason: int | None) -> str:
    """One line: "rejected-permanent: called-AE-title-not-recognized (service-user)"."""
    return (f"{reject_result_text(result)}: {reject_reason_text(source, reason)}"
            f" ({reject_source_text(source)})")


def abort_source_text(source: int | None) -> str:
    return describe(ABORT_SOURCES, source)


def abort_reason_text(source: int | None, reason: int | None) -> str:
    """PS3.8 Table 9-26 term for an A-ABORT reason; "not significant" unless the source is 2."""
    if source in (0, 1) and isinstance(reason, int):
        return "not significant" if reason == 0 else f"not significant (0x{reason:02X})"
    return describe(ABORT_REASONS, reason)


def abort_reason_plain(source: int | None, reason: int | None) -> str:
    if source == 0:
        return ABORT_USER_PLAIN
    plain = ABORT_REASONS_PLAIN.get(reason) if isinstance(reason, int) else None
    return plain or f"Aborted ({abort_source_text(source)}: {abort_reason_text(source, reason)})"


def abort_text(source: int | None, reason: int | None) -> str:
    """One line: "service-provider: unexpected-PDU", or "service-user" alone (its reason is not significant)."""
    if source in (0, 1) and reason == 0:
        return abort_source_text(source)
    return f"{abort_source_text(source)}: {abort_reason_text(source, reason)}"


def user_identity_type_text(code: int | None) -> str:
    return describe(USER_IDENTITY_TYPES, code)


def role_text(value: int | None, accept: bool) -> str:
    """SCU/SCP role value: support/non-support in a request, accepted/rejected in an acceptance."""
    return describe(ROLE_AC if accept else ROLE_RQ, value)
