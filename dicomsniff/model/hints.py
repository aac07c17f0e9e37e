"""What to check, per wire code: the hint half of a diagnosis (PS3.8 §9.3.4, §9.3.3.2; PS3.7 Annex C; PS3.4).

Tables, not branches: (source, reason) of an A-ASSOCIATE-RJ, presentation
context results, DIMSE statuses (exact code or range, per command), and the
findings the model raises itself. Lookups never raise; placeholders in
braces are filled by :func:`fill` with what the capture says (AE titles,
SOP classes), and a missing value leaves a readable text.
"""

from __future__ import annotations

from typing import Mapping

# A-ASSOCIATE-RJ (source, reason) → hint. PS3.8 Table 9-21.
REJECT_HINTS: Mapping[tuple[int, int], str] = {
    (1, 1): "the SCP gave no reason: look in its log at this time; usual causes are an unknown calling AE or"
            " host, a service that is switched off, or a refusal configured on purpose",
    (1, 2): "the SCP does not support application context {app_context}: the SCU must propose the DICOM"
            " application context 1.2.840.10008.3.1.1.1",
    (1, 3): "add the calling AE '{calling}' (host {client_ip}) to the SCP's known peers / allowed AE list",
    (1, 7): "check the SCP's AE configuration for this calling/called pair: it does not answer to called AE"
            " '{called}' (set the SCU's called AE to the SCP's own AE title, or add '{called}' on the SCP)",
    (2, 1): "the SCP's DICOM stack gave no reason: look in its log at this time",
    (2, 2): "the SCP does not support protocol version {version}: the SCU must propose version 1",
    (3, 1): "the SCP is temporarily congested: retry later",
    (3, 2): "the SCP reached a local limit (its maximum number of simultaneous associations): retry later,"
            " close idle associations, or raise the SCP's max associations",
}

REJECT_WHO: Mapping[int, str] = {
    1: "the called application (service-user)",
    2: "the called system's DICOM stack (service-provider, ACSE)",
    3: "the called system's DICOM stack (service-provider, presentation)",
}

# Presentation context result → hint. PS3.8 Table 9-18.
CONTEXT_HINTS: Mapping[int, str] = {
    1: "the SCP's application refused {sop}: check which SOP classes and transfer syntaxes it is configured"
       " to accept for calling AE '{calling}'",
    2: "the SCP refused {sop} without a reason: check its conformance statement and log",
    3: "the SCP does not support {sop}: enable this SOP class on the SCP, or send it to a system that"
       " supports it",
    4: "the SCP accepts none of the proposed transfer syntaxes ({proposed}): have the SCU also propose"
       " Implicit VR Little Endian (every SCP must accept it), or enable one of these on the SCP",
}

# DIMSE statuses: (low, high, command fields or None for any, hint). First match wins. PS3.7 Annex C, PS3.4.
C_STORE, C_FIND, C_MOVE, C_GET = 0x0001, 0x0020, 0x0021, 0x0010
STATUS_HINTS: tuple[tuple[int, int, frozenset[int] | None, str], ...] = (
    (0xA801, 0xA801, None, "the C-MOVE destination AE '{dest}' is not configured on the SCP: add it (AE title,"
                           " host, port) to the SCP's list of move destinations"),
    (0xA701, 0xA702, None, "the SCP ran out of resources for the retrieve (memory, disk, or its limit on"
                           " sub-operations): check the SCP's log and free resources"),
    (0xA700, 0xA7FF, frozenset({C_STORE}), "out of resources: the SCP is probably out of disk space or storage"
                                           " quota: check free space on the SCP's storage"),
    (0xA700, 0xA7FF, None, "out of resources: the SCP could not run the request (memory, database or"
                           " configured limits): check the SCP's log"),
    (0xA900, 0xA9FF, None, "the data set does not match the SOP class: the SCP found attributes missing or"
                           " wrong for {sop}; compare the object with the IOD"),
    (0xC000, 0xCFFF, frozenset({C_STORE}), "cannot understand: the SCP could not parse or store the object:"
                                           " check the data set (VRs, character set, required attributes)"
                                           " against the SCP's conformance statement and its log"),
    (0xC000, 0xCFFF, None, "unable to process: the SCP could not handle the request: check the query keys"
                           " (levels, VRs, unsupported keys) against its conformance statement and its log"),
    (0x0122, 0x0122, None, "the SCP accepted the presentation context but does not implement {sop}: check"
                           " its conformance statement / enabled services"),
    (0x0124, 0x0124, None, "not authorized: the SCP refused this AE or user for this operation: check its"
                           " access rules for '{calling}'"),
    (0x0111, 0x0111, None, "the SCP already has this SOP instance and refuses duplicates: check whether it"
                           " was sent before, or the SCP's duplicate policy"),
    (0x0210, 0x0210, None, "duplicate invocation: the SCU reused a Message ID still in use"),
    (0x0211, 0x0211, None, "the SCP does not recognise this operation"),
    (0x0212, 0x0212, None, "mistyped argument: a command element has the wrong type or VR"),
    (0x0213, 0x0213, None, "resource limitation on the SCP: retry later or check its limits"),
    (0x0106, 0x0106, None, "an attribute value was refused: see the Error Comment and the SCP's log"),
    (0x0110, 0x0110, None, "processing failure on the SCP: see its log"),
    (0xB000, 0xB000, frozenset({C_MOVE, C_GET}), "some sub-operations failed or had warnings: look at the"
                                                  " sub-association's C-STORE statuses"),
    (0xB000, 0xB0FF, None, "the SCP stored the object but changed or dropped elements: check what it"
                           " coerced if exact values matter"),
    (0xB001, 0xB001, None, "the SCP stopped at its match limit: narrow the query"),
    (0xFE00, 0xFE00, None, "the operation was cancelled (C-CANCEL)"),
    (0x0001, 0x0001, None, "some optional keys were not supported by the SCP"),
    (0x0107, 0x0107, None, "attribute list error: the SCP ignored some attributes"),
)

# Findings the model raises itself → hint.
MODEL_HINTS: Mapping[str, str] = {
    "context-not-accepted": "a message may only use an accepted presentation context: fix the SCU's context"
                            " selection, or have the SCP accept this SOP class / transfer syntax",
    "context-not-proposed": "the A-ASSOCIATE-AC must answer exactly the contexts of the RQ: the SCP's DICOM"
                            " stack is faulty",
    "no-response": "the peer never answered this request: check the peer's log and DIMSE timeout; a long"
                   " C-MOVE/C-FIND may still have been running when the association ended",
    "response-unmatched": "a response must carry the Message ID of an outstanding request: the responder"
                          " answers the wrong ID, or the request is not in the capture",
    "association-incomplete": "if the capture stopped early, capture longer; otherwise one side dropped the"
                              " connection (crash, firewall or idle timeout)",
    "tcp-gap": "the capture missed packets (capture buffer too small, snaplen, or started mid-stream):"
               " capture with -s 0 and a larger buffer; decoding after the gap may be partial",
    "started-mid-association": "start the capture before the association opens to see its negotiation",
    "pdu-incomplete": "the PDU was cut by a TCP gap or the end of the capture",
    "message-incomplete": "the last fragment of this message never arrived: the sender stopped mid-message"
                          " (abort, crash) or the capture ended",
    "command-incomplete": "the command set was cut by a TCP gap or the end of the capture",
    "dataset-incomplete": "the data set was cut by a TCP gap or the end of the capture",
    "dataset-missing": "the sender started a new message before the last fragment of the data set: its"
                       " PDV fragmentation is broken (PS3.8 Annex E)",
    "orphan-data": "a data fragment must follow a complete command set on the same context (PS3.8 Annex E)",
    "no-transfer-syntax": "the data set travelled on a context with no accepted transfer syntax",
}

DEFAULT_STATUS_HINT = "see the SCP's log at this time for why it answered '{meaning}'"


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def fill(template: str, **values: object) -> str:
    """``template`` with {names} replaced; unknown names become '?' (never raises)."""
    try:
        return template.format_map(_Missing({k: ("?" if v is None else v) for k, v in values.items()}))
    except (ValueError, IndexError):
        return template


def status_hint(code: int, command_field: int | None, **values: object) -> str:
    """The hint for a DIMSE status of a given command (request or response field)."""
    cf = (command_field or 0) & 0x7FFF
    for low, high, cmds, hint in STATUS_HINTS:
        if low <= code <= high and (cmds is None or cf in cmds):
            return fill(hint, **values)
    return fill(DEFAULT_STATUS_HINT, **values)
