"""Typed bodies of the seven Upper Layer PDUs (PS3.8 §9.3), as the model reads them.

The field tree (:mod:`dicomsniff.field`) is for people; these small records are
for code: the association model, JSON and diagnosis read them instead of
walking trees. Every attribute may be None when the PDU was truncated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..field import Field, Finding

# PDU types, PS3.8 §9.3.1.
ASSOCIATE_RQ, ASSOCIATE_AC, ASSOCIATE_RJ = 0x01, 0x02, 0x03
P_DATA_TF, RELEASE_RQ, RELEASE_RP, ABORT = 0x04, 0x05, 0x06, 0x07

PDU_NAMES = {
    ASSOCIATE_RQ: "A-ASSOCIATE-RQ",
    ASSOCIATE_AC: "A-ASSOCIATE-AC",
    ASSOCIATE_RJ: "A-ASSOCIATE-RJ",
    P_DATA_TF: "P-DATA-TF",
    RELEASE_RQ: "A-RELEASE-RQ",
    RELEASE_RP: "A-RELEASE-RP",
    ABORT: "A-ABORT",
}


def pdu_name(pdu_type: int) -> str:
    return PDU_NAMES.get(pdu_type, f"Unknown PDU (0x{pdu_type:02X})")


@dataclass(slots=True)
class PresentationContext:
    """Item 0x20 (RQ) or 0x21 (AC). ``result`` is None in a request."""

    id: int | None
    abstract_syntax: str | None = None
    transfer_syntaxes: list[str] = field(default_factory=list)
    result: int | None = None


@dataclass(slots=True)
class RoleSelection:
    """Sub-item 0x54, PS3.7 §D.3.3.4."""

    sop_class_uid: str
    scu_role: int
    scp_role: int


@dataclass(slots=True)
class UserIdentity:
    """Sub-item 0x58 (RQ) or 0x59 (AC), PS3.7 §D.3.3.7. The secondary field (password) is kept
    only so views can say it was present; every view masks it."""

    type: int | None = None
    response_requested: int | None = None
    primary: bytes = b""
    secondary: bytes = b""
    server_response: bytes | None = None   # AC only


@dataclass(slots=True)
class UserInfo:
    """Item 0x50 and its sub-items 0x51-0x59."""

    max_pdu_length: int | None = None
    implementation_class_uid: str | None = None
    implementation_version: str | None = None
    async_window: tuple[int, int] | None = None          # (invoked, performed)
    roles: list[RoleSelection] = field(default_factory=list)
    extended_negotiation: list[tuple[str, bytes]] = field(default_factory=list)
    common_extended_negotiation: list[tuple[str, str, list[str]]] = field(default_factory=list)
    user_identity: UserIdentity | None = None
    unknown_items: list[int] = field(default_factory=list)


@dataclass(slots=True)
class AssociateRQ:
    """A-ASSOCIATE-RQ (0x01) or, with ``accept`` set, A-ASSOCIATE-AC (0x02)."""

    protocol_version: int | None = None
    called_ae: str | None = None
    calling_ae: str | None = None
    application_context: str | None = None
    contexts: list[PresentationContext] = field(default_factory=list)
    user_info: UserInfo = field(default_factory=UserInfo)
    accept: bool = False


@dataclass(slots=True)
class AssociateRJ:
    result: int | None = None
    source: int | None = None
    reason: int | None = None


@dataclass(slots=True)
class Pdv:
    """One presentation data value item: span of its value inside the PDU, context, control header."""

    offset: int            # offset of the PDV item (its length field) inside the PDU
    length: int            # item length field (context id + control header + value)
    context_id: int
    control: int           # message control header: bit 0 command, bit 1 last fragment

    @property
    def is_command(self) -> bool:
        return bool(self.control & 0x01)

    @property
    def is_last(self) -> bool:
        return bool(self.control & 0x02)

    @property
    def value_offset(self) -> int:
        return self.offset + 6

    @property
    def value_length(self) -> int:
        return max(0, self.length - 2)


@dataclass(slots=True)
class PData:
    pdvs: list[Pdv] = field(default_factory=list)


@dataclass(slots=True)
class Abort:
    source: int | None = None
    reason: int | None = None


@dataclass(slots=True)
class Release:
    reply: bool = False


@dataclass(slots=True)
class DecodedPdu:
    """What :func:`dicomsniff.ul.dissect.dissect_pdu` returns for one PDU's bytes.

    ``body`` is one of the records above (None for an unknown PDU type);
    ``info`` is the one-line summary in the spirit of Wireshark's Info column.
    """

    pdu_type: int
    length: int            # the PDU length field
    tree: Field
    info: str
    body: object | None = None

    @property
    def name(self) -> str:
        return pdu_name(self.pdu_type)

    @property
    def findings(self) -> list[Finding]:
        return self.tree.all_findings()
