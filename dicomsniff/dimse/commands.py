"""DIMSE Command Field, Priority and Command Data Set Type codes (PS3.7 §9.3, §10.3, Annex E).

Wire codes live in tables; every lookup is total: an unknown code reads as
``"Unknown (0x1234)"`` and never raises.
"""

from __future__ import annotations

# PS3.7 Annex E, Table E.1-1: Command Field (0000,0100) values.
COMMAND_FIELDS: dict[int, str] = {
    0x0001: "C-STORE-RQ", 0x8001: "C-STORE-RSP",
    0x0010: "C-GET-RQ", 0x8010: "C-GET-RSP",
    0x0020: "C-FIND-RQ", 0x8020: "C-FIND-RSP",
    0x0021: "C-MOVE-RQ", 0x8021: "C-MOVE-RSP",
    0x0030: "C-ECHO-RQ", 0x8030: "C-ECHO-RSP",
    0x0100: "N-EVENT-REPORT-RQ", 0x8100: "N-EVENT-REPORT-RSP",
    0x0110: "N-GET-RQ", 0x8110: "N-GET-RSP",
    0x0120: "N-SET-RQ", 0x8120: "N-SET-RSP",
    0x0130: "N-ACTION-RQ", 0x8130: "N-ACTION-RSP",
    0x0140: "N-CREATE-RQ", 0x8140: "N-CREATE-RSP",
    0x0150: "N-DELETE-RQ", 0x8150: "N-DELETE-RSP",
    0x0FFF: "C-CANCEL-RQ",
}

C_STORE, C_GET, C_FIND, C_MOVE, C_ECHO = 0x0001, 0x0010, 0x0020, 0x0021, 0x0030
N_EVENT_REPORT, N_GET, N_SET, N_ACTION, N_CREATE, N_DELETE = 0x0100, 0x0110, 0x0120, 0x0130, 0x0140, 0x0150
C_CANCEL = 0x0FFF
RESPONSE_BIT = 0x8000

# PS3.7 §9.3.1.1 (Table 9.3-1 etc.): Priority (0000,0700).
PRIORITIES: dict[int, str] = {0x0000: "MEDIUM", 0x0001: "HIGH", 0x0002: "LOW"}

# PS3.7 §E.1: Command Data Set Type (0000,0800) 0x0101 means "no data set";
# any other value means a data set follows.
NO_DATA_SET = 0x0101


def _valid(cf: object) -> bool:
    return isinstance(cf, int) and not isinstance(cf, bool)


def command_name(cf: int | None) -> str:
    """``"C-FIND-RQ"`` for 0x0020; ``"Unknown (0x1234)"`` for anything unlisted (PS3.7 Annex E)."""
    if not _valid(cf):
        return "Unknown (none)" if cf is None else f"Unknown ({cf!r})"
    name = COMMAND_FIELDS.get(cf)
    return name if name is not None else f"Unknown (0x{cf & 0xFFFFFFFF:04X})"


def command_display(cf: int | None) -> str:
    """``"C-FIND-RQ (0x0020)"``, as the command-set tree shows Command Field."""
    if not _valid(cf):
        return command_name(cf)
    name = COMMAND_FIELDS.get(cf)
    return f"{name} (0x{cf:04X})" if name else f"Unknown (0x{cf & 0xFFFFFFFF:04X})"


def is_request(cf: int | None) -> bool:
    """True for a known request command field (-RQ), C-CANCEL-RQ included (PS3.7 Annex E)."""
    return _valid(cf) and cf in COMMAND_FIELDS and not cf & RESPONSE_BIT


def is_response(cf: int | None) -> bool:
    """True for a known response command field (-RSP): the request code with bit 15 set."""
    return _valid(cf) and cf in COMMAND_FIELDS and bool(cf & RESPONSE_BIT)


def request_of(cf: int | None) -> int | None:
    """The request command field a response answers (0x8020 → 0x0020); None if unknown."""
    if not _valid(cf) or cf not in COMMAND_FIELDS:
        return None
    return cf & ~RESPONSE_BIT


def service_of(cf: int | None) -> str:
    """The DIMSE service a command belongs to: ``"C-FIND"`` for 0x0020 and 0x8020; ``"Unknown (0x..)"``."""
    name = command_name(cf)
    if name.startswith("Unknown"):
        return name
    return name.rsplit("-", 1)[0]


def priority_name(value: int | None) -> str:
    """``"MEDIUM"``/``"HIGH"``/``"LOW"`` (PS3.7 §9.1.1.1.7 Priority); ``"Unknown (0x0007)"`` otherwise."""
    if not _valid(value):
        return "Unknown (none)" if value is None else f"Unknown ({value!r})"
    name = PRIORITIES.get(value)
    return name if name is not None else f"Unknown (0x{value & 0xFFFFFFFF:04X})"


def priority_display(value: int | None) -> str:
    """``"MEDIUM (0x0000)"``."""
    if not _valid(value):
        return priority_name(value)
    name = PRIORITIES.get(value)
    return f"{name} (0x{value:04X})" if name else f"Unknown (0x{value & 0xFFFFFFFF:04X})"


def has_data_set(value: int | None) -> bool:
    """True unless Command Data Set Type is 0x0101 (PS3.7 §E.1); an absent value means no data set."""
    return _valid(value) and value != NO_DATA_SET


def data_set_type_display(value: int | None) -> str:
    """``"0x0101 (no data set)"`` or ``"0x0001 (data set present)"``."""
    if not _valid(value):
        return "Unknown (none)" if value is None else f"Unknown ({value!r})"
    return f"0x{value & 0xFFFFFFFF:04X} ({'data set present' if has_data_set(value) else 'no data set'})"
