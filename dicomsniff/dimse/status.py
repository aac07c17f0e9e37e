"""DIMSE Status (0000,0900) values: category and meaning per service class.

Tables, not branches: each service class has a tuple of ``(low, high, category,
meaning)`` ranges (PS3.4 service-class annexes), looked up first; then the
general statuses of PS3.7 Annex C; then the category by range alone (PS3.7
§C.1-C.5: 0x0000 Success, 0xFF00-0xFF01 Pending, 0xFE00 Cancel, 0x0001 and
0xBxxx Warning, 0xAxxx, 0xCxxx and 0x01xx/0x02xx Failure).

A code that falls in none of those is reported as category ``"Failure"`` with
meaning ``"Unknown status (0x1234)"``: PS3.7 §C defines no other class, an SCU
cannot treat such a response as success, and counting it as a failure makes it
visible in summaries rather than silently absent. Lookups never raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .commands import C_ECHO, C_FIND, C_GET, C_MOVE, C_STORE, RESPONSE_BIT

SUCCESS, PENDING, CANCEL, WARNING, FAILURE = "Success", "Pending", "Cancel", "Warning", "Failure"
CATEGORIES = (SUCCESS, PENDING, CANCEL, WARNING, FAILURE)

Range = tuple[int, int, str, str]


@dataclass(slots=True, frozen=True)
class StatusInfo:
    """A status code with its category (Success/Pending/Cancel/Warning/Failure) and meaning."""

    code: int
    category: str
    meaning: str

    @property
    def display(self) -> str:
        """``"0xA700 Refused: Out of Resources"``."""
        code = f"0x{self.code:04X}" if isinstance(self.code, int) and self.code >= 0 else str(self.code)
        return f"{code} {self.meaning}"

    @property
    def is_pending(self) -> bool:
        return self.category == PENDING

    @property
    def is_failure(self) -> bool:
        return self.category == FAILURE

    def __str__(self) -> str:
        return self.display


def _one(code: int, category: str, meaning: str) -> Range:
    return (code, code, category, meaning)


# PS3.7 Annex C: statuses not specific to a service class.
GENERAL: tuple[Range, ...] = (
    _one(0x0000, SUCCESS, "Success"),
    _one(0x0001, WARNING, "Requested optional Attributes are not supported"),
    _one(0x0105, FAILURE, "No such attribute"),
    _one(0x0106, FAILURE, "Invalid attribute value"),
    _one(0x0107, WARNING, "Attribute list error"),
    _one(0x0110, FAILURE, "Processing failure"),
    _one(0x0111, FAILURE, "Duplicate SOP instance"),
    _one(0x0112, FAILURE, "No such SOP instance"),
    _one(0x0113, FAILURE, "No such event type"),
    _one(0x0114, FAILURE, "No such argument"),
    _one(0x0115, FAILURE, "Invalid argument value"),
    _one(0x0116, WARNING, "Attribute value out of range"),
    _one(0x0117, FAILURE, "Invalid object instance"),
    _one(0x0118, FAILURE, "No such SOP class"),
    _one(0x0119, FAILURE, "Class-instance conflict"),
    _one(0x0120, FAILURE, "Missing attribute"),
    _one(0x0121, FAILURE, "Missing attribute value"),
    _one(0x0122, FAILURE, "Refused: SOP class not supported"),
    _one(0x0123, FAILURE, "No such action"),
    _one(0x0124, FAILURE, "Refused: not authorized"),
    _one(0x0210, FAILURE, "Duplicate invocation"),
    _one(0x0211, FAILURE, "Unrecognized operation"),
    _one(0x0212, FAILURE, "Mistyped argument"),
    _one(0x0213, FAILURE, "Resource limitation"),
    _one(0xFE00, CANCEL, "Cancel: operation terminated"),
)

# PS3.4 §B.2.3 Storage Service Class (also Non-Patient Object Storage, PS3.4 §GG.4.2).
STORAGE: tuple[Range, ...] = (
    (0xA700, 0xA7FF, FAILURE, "Refused: Out of Resources"),
    (0xA900, 0xA9FF, FAILURE, "Error: Data Set does not match SOP Class"),
    (0xC000, 0xCFFF, FAILURE, "Error: Cannot understand"),
    _one(0xB000, WARNING, "Coercion of Data Elements"),
    _one(0xB006, WARNING, "Elements Discarded"),
    _one(0xB007, WARNING, "Data Set does not match SOP Class"),
)

# PS3.4 §C.4.1.1.4 Query/Retrieve C-FIND (also Hanging Protocol, Color Palette, Implant Template, DPP).
QR_FIND: tuple[Range, ...] = (
    _one(0xA700, FAILURE, "Refused: Out of Resources"),
    _one(0xA710, FAILURE, "Invalid Prior Record Key"),
    _one(0xA900, FAILURE, "Error: Identifier does not match SOP Class"),
    (0xC000, 0xCFFF, FAILURE, "Error: Unable to process"),
    _one(0xB001, WARNING, "Matching reached response limit; subsequent request may return more matches"),
    _one(0xFE00, CANCEL, "Matching terminated due to Cancel request"),
    _one(0xFF00, PENDING, "Matches are continuing: current match supplied"),
    _one(0xFF01, PENDING, "Matches are continuing: warning, one or more Optional Keys not supported"),
)

# PS3.4 §C.4.2.1.5 Query/Retrieve C-MOVE (also composite instance retrieve, PS3.4 §Y.4.1.1.4).
QR_MOVE: tuple[Range, ...] = (
    _one(0xA701, FAILURE, "Refused: Out of Resources, unable to calculate number of matches"),
    _one(0xA702, FAILURE, "Refused: Out of Resources, unable to perform sub-operations"),
    _one(0xA801, FAILURE, "Refused: Move Destination unknown"),
    _one(0xA900, FAILURE, "Error: Identifier does not match SOP Class"),
    _one(0xAA00, FAILURE, "None of the frames requested were found in the SOP Instance"),
    _one(0xAA01, FAILURE, "Unable to create new object for this SOP Class"),
    _one(0xAA02, FAILURE, "Unable to extract frames"),
    _one(0xAA03, FAILURE, "Time-based request received for a non-time-based original SOP Instance"),
    _one(0xAA04, FAILURE, "Invalid request"),
    (0xC000, 0xCFFF, FAILURE, "Error: Unable to process"),
    _one(0xFE00, CANCEL, "Sub-operations terminated due to Cancel indication"),
    _one(0xB000, WARNING, "Sub-operations complete: one or more failures or warnings"),
    _one(0xFF00, PENDING, "Sub-operations are continuing"),
)

# PS3.4 §C.4.3.1.4 Query/Retrieve C-GET: as C-MOVE without Move Destination unknown.
QR_GET: tuple[Range, ...] = tuple(r for r in QR_MOVE if r[0] != 0xA801)

# PS3.4 §K.4.1.1.4 Modality Worklist C-FIND.
WORKLIST: tuple[Range, ...] = (
    _one(0xA700, FAILURE, "Refused: Out of Resources"),
    _one(0xA900, FAILURE, "Error: Identifier does not match SOP Class"),
    (0xC000, 0xCFFF, FAILURE, "Error: Unable to process"),
    _one(0xFE00, CANCEL, "Matching terminated due to Cancel request"),
    _one(0xFF00, PENDING, "Matches are continuing: current match supplied, Optional Keys supported"),
    _one(0xFF01, PENDING, "Matches are continuing: warning, one or more Optional Keys not supported"),
)

# PS3.4 §Q.4.1.1.4 Relevant Patient Information Query.
RELEVANT_PATIENT: tuple[Range, ...] = (
    _one(0xA700, FAILURE, "Refused: Out of Resources"),
    _one(0xA900, FAILURE, "Error: Identifier does not match SOP Class"),
    _one(0xC000, FAILURE, "Error: Unable to process"),
    _one(0xC100, FAILURE, "Error: More than one match found"),
    _one(0xC200, FAILURE, "Error: Unable to support requested template"),
    _one(0xFF00, PENDING, "Current match is supplied"),
)

# PS3.4 §V.4.1.1.4 Substance Administration Query.
SUBSTANCE_ADMIN: tuple[Range, ...] = (
    _one(0xA700, FAILURE, "Refused: Out of Resources"),
    _one(0xA900, FAILURE, "Error: Data Set does not match SOP Class"),
    (0xC000, 0xCFFF, FAILURE, "Error: Unable to process"),
    _one(0xFF00, PENDING, "Matches are continuing: current match supplied"),
    _one(0xFF01, PENDING, "Matches are continuing: warning, one or more Optional Keys not supported"),
)

# PS3.4 §F.7 Modality Performed Procedure Step (N-CREATE/N-SET).
PROCEDURE_STEP: tuple[Range, ...] = (
    _one(0x0110, FAILURE, "Processing failure: Performed Procedure Step Object may no longer be updated"),
)

# PS3.4 Annex H Print Management.
PRINT: tuple[Range, ...] = (
    _one(0xB600, WARNING, "Memory allocation not supported"),
    _one(0xB601, WARNING, "Film session printing (collation) is not supported"),
    _one(0xB602, WARNING, "Film Session SOP Instance hierarchy does not contain Image Box SOP Instances (empty page)"),
    _one(0xB603, WARNING, "Film Box SOP Instance hierarchy does not contain Image Box SOP Instances (empty page)"),
    _one(0xB604, WARNING, "Image size is larger than image box size, the image has been demagnified"),
    _one(0xB605, WARNING, "Requested min or max density outside of printer's operating range"),
    _one(0xB609, WARNING, "Image size is larger than the image box size, the image has been cropped to fit"),
    _one(0xB60A, WARNING, "Image size or Combined Print Image size is larger than the image box size,"
                          " image has been decimated to fit"),
    _one(0xC600, FAILURE, "Film Session SOP Instance hierarchy does not contain Film Box SOP Instances"),
    _one(0xC601, FAILURE, "Unable to create Print Job SOP Instance; print queue is full"),
    _one(0xC602, FAILURE, "Unable to create Print Job SOP Instance; print queue is full"),
    _one(0xC603, FAILURE, "Image size is larger than image box size"),
    _one(0xC605, FAILURE, "Insufficient memory in printer to store the image"),
    _one(0xC613, FAILURE, "Combined Print Image size is larger than the image box size"),
    _one(0xC616, FAILURE, "There is an existing film box that has not been printed"),
)

# PS3.4 Annex P Application Event Logging.
EVENT_LOGGING: tuple[Range, ...] = (
    _one(0xB101, WARNING, "Specified Synchronization Frame of Reference UID does not match SCP's"),
    _one(0xB102, WARNING, "Study Instance UID coercion; event logged under a different Study Instance UID"),
    _one(0xB104, WARNING, "IDs inconsistent in matching a current study; event logged"),
    _one(0xC101, FAILURE, "Procedural logging not available for specified Study Instance UID"),
    _one(0xC102, FAILURE, "Event Information does not match template"),
    _one(0xC103, FAILURE, "Cannot match event to a current study"),
    _one(0xC104, FAILURE, "IDs inconsistent in matching a current study; event not logged"),
    _one(0xC10E, FAILURE, "Operator not authorized to add entry to Medication Administration Record"),
    _one(0xC110, FAILURE, "Patient cannot be identified from Patient ID or Admission ID"),
    _one(0xC111, FAILURE, "Update of Medication Administration Record failed"),
)

# PS3.4 Annex S Media Creation Management.
MEDIA_CREATION: tuple[Range, ...] = (
    _one(0xA510, FAILURE, "Initiate Media Creation action already received for this SOP Instance"),
    _one(0xC201, FAILURE, "Media creation request already completed"),
    _one(0xC202, FAILURE, "Media creation request already in progress and cannot be interrupted"),
    _one(0xC203, FAILURE, "Cancellation denied for unspecified reason"),
)

# PS3.4 Annex CC Unified Procedure Step.
UPS: tuple[Range, ...] = (
    _one(0xA700, FAILURE, "Refused: Out of Resources"),
    _one(0xA900, FAILURE, "Error: Identifier does not match SOP Class"),
    _one(0xB300, WARNING, "The UPS was created with modifications"),
    _one(0xB301, WARNING, "Deletion Lock not granted"),
    _one(0xB304, WARNING, "The UPS is already in the requested state of CANCELED"),
    _one(0xB305, WARNING, "Coerced invalid values to valid values"),
    _one(0xB306, WARNING, "The UPS is already in the requested state of COMPLETED"),
    _one(0xC300, FAILURE, "The UPS may no longer be updated"),
    _one(0xC301, FAILURE, "The correct Transaction UID was not provided"),
    _one(0xC302, FAILURE, "The UPS is already IN PROGRESS"),
    _one(0xC303, FAILURE, "The UPS may only become SCHEDULED via N-CREATE, not N-SET or N-ACTION"),
    _one(0xC304, FAILURE, "The UPS has not met final state requirements for the requested state change"),
    _one(0xC307, FAILURE, "Specified SOP Instance UID does not exist or is not a UPS Instance managed by this SCP"),
    _one(0xC308, FAILURE, "Receiving AE-TITLE is Unknown to this SCP"),
    _one(0xC309, FAILURE, "The provided value of UPS State was not SCHEDULED"),
    _one(0xC310, FAILURE, "The UPS is not yet in the IN PROGRESS state"),
    _one(0xC311, FAILURE, "The UPS is already COMPLETED"),
    _one(0xC312, FAILURE, "The performer cannot be contacted"),
    _one(0xC313, FAILURE, "Performer chooses not to cancel"),
    _one(0xC314, FAILURE, "Specified action not appropriate for specified instance"),
    _one(0xC315, FAILURE, "SCP does not support Event Reports"),
    (0xC000, 0xCFFF, FAILURE, "Error: Unable to process"),
    _one(0xFF00, PENDING, "Matches are continuing: current match supplied"),
    _one(0xFF01, PENDING, "Matches are continuing: warning, one or more Optional Keys not supported"),
)

# PS3.4 Annex DD RT Machine Verification.
RT_MACHINE_VERIFICATION: tuple[Range, ...] = (
    _one(0xC112, FAILURE, "No such object instance: applicable Machine Verification instance not found"),
    _one(0xC221, FAILURE, "The Referenced Fraction Group Number does not exist in the referenced plan"),
    _one(0xC222, FAILURE, "No beams exist within the referenced fraction group"),
    _one(0xC223, FAILURE, "SCU already verifying and cannot currently process this request"),
    _one(0xC224, FAILURE, "Referenced Beam Number not found within the referenced Fraction Group"),
    _one(0xC225, FAILURE, "Referenced device or accessory not supported"),
    _one(0xC226, FAILURE, "Referenced device or accessory not found within the referenced beam"),
    _one(0xC227, FAILURE, "No such object instance: Referenced RT Plan not found"),
)

# PS3.4 Annex II Storage Management (Inventory).
STORAGE_MANAGEMENT: tuple[Range, ...] = (
    _one(0xB010, WARNING, "Attribute list error: one or more Key Attributes not supported for matching"),
)

SERVICE_TABLES: dict[str, tuple[Range, ...]] = {
    "general": (), "storage": STORAGE, "qr-find": QR_FIND, "qr-move": QR_MOVE, "qr-get": QR_GET,
    "worklist": WORKLIST, "relevant-patient": RELEVANT_PATIENT, "substance-admin": SUBSTANCE_ADMIN,
    "procedure-step": PROCEDURE_STEP, "print": PRINT, "event-logging": EVENT_LOGGING,
    "media-creation": MEDIA_CREATION, "ups": UPS, "rt-machine-verification": RT_MACHINE_VERIFICATION,
    "storage-management": STORAGE_MANAGEMENT,
}

# Service table by the request's command field (responses map by clearing bit 15).
BY_COMMAND: dict[int, str] = {
    C_STORE: "storage", C_FIND: "qr-find", C_MOVE: "qr-move", C_GET: "qr-get", C_ECHO: "general",
}

# SOP Class UID prefixes (PS3.4, UIDs from PS3.6 Annex A) that select a more specific table;
# longest prefix wins. An entry ending in "." matches a family; otherwise the UID exactly.
BY_SOP_CLASS: tuple[tuple[str, str], ...] = (
    ("1.2.840.10008.5.1.4.31", "worklist"),
    ("1.2.840.10008.5.1.4.37.", "relevant-patient"),
    ("1.2.840.10008.5.1.4.41", "substance-admin"),
    ("1.2.840.10008.5.1.4.42", "substance-admin"),
    ("1.2.840.10008.5.1.4.34.6.", "ups"),
    ("1.2.840.10008.5.1.4.34.8", "rt-machine-verification"),
    ("1.2.840.10008.5.1.4.34.9", "rt-machine-verification"),
    ("1.2.840.10008.3.1.2.3.3", "procedure-step"),
    ("1.2.840.10008.5.1.1.33", "media-creation"),
    ("1.2.840.10008.5.1.1.", "print"),
    ("1.2.840.10008.1.40", "event-logging"),
    ("1.2.840.10008.5.1.4.1.1.201.", "storage-management"),
)

# Category by range alone (PS3.7 §C), the last resort before "Unknown status".
BY_RANGE: tuple[Range, ...] = (
    (0x0000, 0x0000, SUCCESS, "Success"),
    (0xFF00, 0xFF01, PENDING, "Pending"),
    (0xFE00, 0xFE00, CANCEL, "Cancel"),
    (0x0001, 0x0001, WARNING, "Warning"),
    (0xB000, 0xBFFF, WARNING, "Warning"),
    (0xA000, 0xAFFF, FAILURE, "Failure"),
    (0xC000, 0xCFFF, FAILURE, "Failure"),
    (0x0100, 0x02FF, FAILURE, "Failure"),
)


def _sop_table(sop_class_uid: object) -> str | None:
    if not isinstance(sop_class_uid, str) or len(sop_class_uid) > 64:
        return None
    uid = sop_class_uid.rstrip("\x00 ")
    best: tuple[int, str] | None = None
    for prefix, table in BY_SOP_CLASS:
        hit = uid.startswith(prefix) if prefix.endswith(".") else (uid == prefix or uid.startswith(prefix + "."))
        if hit and (best is None or len(prefix) > best[0]):
            best = (len(prefix), table)
    return best[1] if best else None


def service_table(command_field: int | None = None, sop_class_uid: str | None = None) -> str:
    """Name of the status table for a command (request or response) and SOP Class; ``"general"`` if none."""
    by_sop = _sop_table(sop_class_uid)
    cf = command_field & ~0x8000 if isinstance(command_field, int) and not isinstance(command_field, bool) else None
    by_cf = BY_COMMAND.get(cf) if cf is not None else None
    if by_cf == "storage" or by_cf in ("qr-move", "qr-get"):
        return by_cf                    # the SOP class does not change C-STORE/C-MOVE/C-GET statuses
    if by_cf == "qr-find":
        return by_sop if by_sop in ("worklist", "relevant-patient", "substance-admin", "ups") else "qr-find"
    if by_sop is not None:
        return by_sop
    return by_cf or "general"


def _scan(table: tuple[Range, ...], code: int) -> Range | None:
    for r in table:
        if r[0] <= code <= r[1]:
            return r
    return None


@lru_cache(maxsize=2048)
def _lookup(code: int, table: str) -> StatusInfo:
    hit = _scan(SERVICE_TABLES.get(table, ()), code) or _scan(GENERAL, code)
    if hit is not None:
        return StatusInfo(code, hit[2], hit[3])
    rng = _scan(BY_RANGE, code)
    if rng is not None:
        return StatusInfo(code, rng[2], rng[3])
    return StatusInfo(code, FAILURE, f"Unknown status (0x{code & 0xFFFFFFFF:04X})")


def status_info(code: int | None, command_field: int | None = None,
                sop_class_uid: str | None = None) -> StatusInfo:
    """Category and meaning of a Status (PS3.7 Annex C, PS3.4) for the given command and SOP Class; never raises."""
    if not isinstance(code, int) or isinstance(code, bool):
        return StatusInfo(-1, FAILURE, f"Unknown status ({code!r})"[:80])
    return _lookup(code, service_table(command_field, sop_class_uid))


def category_of(code: int | None) -> str:
    """The category of a status code by the general table and PS3.7 §C ranges alone."""
    return status_info(code).category
