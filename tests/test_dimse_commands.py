"""Command Field / Priority / Command Data Set Type tables (PS3.7 Annex E)."""

import pytest

from dicomsniff.dimse.commands import (COMMAND_FIELDS, command_display, command_name, has_data_set,
                                       is_request, is_response, priority_display, priority_name,
                                       request_of, service_of)

EXPECTED = {
    0x0001: "C-STORE-RQ", 0x8001: "C-STORE-RSP", 0x0010: "C-GET-RQ", 0x8010: "C-GET-RSP",
    0x0020: "C-FIND-RQ", 0x8020: "C-FIND-RSP", 0x0021: "C-MOVE-RQ", 0x8021: "C-MOVE-RSP",
    0x0030: "C-ECHO-RQ", 0x8030: "C-ECHO-RSP", 0x0100: "N-EVENT-REPORT-RQ", 0x8100: "N-EVENT-REPORT-RSP",
    0x0110: "N-GET-RQ", 0x8110: "N-GET-RSP", 0x0120: "N-SET-RQ", 0x8120: "N-SET-RSP",
    0x0130: "N-ACTION-RQ", 0x8130: "N-ACTION-RSP", 0x0140: "N-CREATE-RQ", 0x8140: "N-CREATE-RSP",
    0x0150: "N-DELETE-RQ", 0x8150: "N-DELETE-RSP", 0x0FFF: "C-CANCEL-RQ",
}


@pytest.mark.parametrize("cf,name", sorted(EXPECTED.items()))
def test_every_command_field(cf, name):
    assert command_name(cf) == name
    assert command_display(cf) == f"{name} (0x{cf:04X})"
    assert is_request(cf) == name.endswith("-RQ")
    assert is_response(cf) == name.endswith("-RSP")
    assert service_of(cf) == name.rsplit("-", 1)[0]


def test_table_is_complete():
    assert COMMAND_FIELDS == EXPECTED


def test_pairs():
    assert request_of(0x8020) == 0x0020 and request_of(0x0021) == 0x0021
    assert request_of(0x1234) is None
    assert service_of(0x0020) == service_of(0x8020) == "C-FIND"
    assert service_of(0x0FFF) == "C-CANCEL"


@pytest.mark.parametrize("bad", [0x1234, 0x8FFF, -1, 1 << 40, None, "x", 1.5])
def test_unknown_never_raises(bad):
    name = command_name(bad)
    assert name.startswith("Unknown")
    assert not is_request(bad) and not is_response(bad)
    assert service_of(bad).startswith("Unknown")
    command_display(bad)


def test_unknown_hex():
    assert command_name(0x1234) == "Unknown (0x1234)"


def test_priority():
    assert priority_name(0) == "MEDIUM" and priority_name(1) == "HIGH" and priority_name(2) == "LOW"
    assert priority_display(0) == "MEDIUM (0x0000)"
    assert priority_name(7) == "Unknown (0x0007)"
    assert priority_name(None).startswith("Unknown")


def test_data_set_type():
    assert has_data_set(0x0101) is False
    assert has_data_set(0x0001) is True and has_data_set(0x0000) is True and has_data_set(0xFEFE) is True
    assert has_data_set(None) is False


# -- exact texts for unknown, absent and odd values (mutation testing, tests/MUTATION.md) ----------------------

@pytest.mark.parametrize("value,name,display", [
    (None, "Unknown (none)", "Unknown (none)"),              # element absent
    ("x", "Unknown ('x')", "Unknown ('x')"),                 # not a number (a value that did not decode as US)
    (True, "Unknown (True)", "Unknown (True)"),              # bool is not a code
    (b"\x30", "Unknown (b'0')", "Unknown (b'0')"),           # one byte of a US: raw bytes
    (0x1234, "Unknown (0x1234)", "Unknown (0x1234)"),
    (-1, "Unknown (0xFFFFFFFF)", "Unknown (0xFFFFFFFF)"),    # shown as the 32-bit pattern
    ((1 << 32) + 0x30, "Unknown (0x0030)", "Unknown (0x0030)"),
    (0x0030, "C-ECHO-RQ", "C-ECHO-RQ (0x0030)"),
])
def test_command_name_and_display_exact(value, name, display):
    assert command_name(value) == name
    assert command_display(value) == display


@pytest.mark.parametrize("value,name,display", [
    (None, "Unknown (none)", "Unknown (none)"),
    ("x", "Unknown ('x')", "Unknown ('x')"),
    (7, "Unknown (0x0007)", "Unknown (0x0007)"),
    (-2, "Unknown (0xFFFFFFFE)", "Unknown (0xFFFFFFFE)"),
    ((1 << 32) + 1, "Unknown (0x0001)", "Unknown (0x0001)"),
    (1, "HIGH", "HIGH (0x0001)"),
    (2, "LOW", "LOW (0x0002)"),
])
def test_priority_name_and_display_exact(value, name, display):
    assert priority_name(value) == name
    assert priority_display(value) == display


@pytest.mark.parametrize("value,display", [
    (None, "Unknown (none)"),
    ("x", "Unknown ('x')"),
    (0x0101, "0x0101 (no data set)"),
    (0x0001, "0x0001 (data set present)"),
    (0x0000, "0x0000 (data set present)"),
    (0xFEFE, "0xFEFE (data set present)"),
    (-1, "0xFFFFFFFF (data set present)"),
])
def test_data_set_type_display_exact(value, display):
    from dicomsniff.dimse.commands import data_set_type_display
    assert data_set_type_display(value) == display


def test_service_of_unknown_keeps_the_whole_text():
    """An unknown code is named whole, even when its text holds a dash (a service name is cut at the last one)."""
    assert service_of("x-y") == "Unknown ('x-y')"
    assert service_of(0x8130) == "N-ACTION" and service_of(0x0100) == "N-EVENT-REPORT"
