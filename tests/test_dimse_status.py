"""Status tables per service class (PS3.7 Annex C, PS3.4)."""

import pytest
from hypothesis import given, strategies as st

from dicomsniff.dimse.status import (CATEGORIES, FAILURE, PENDING, SERVICE_TABLES, StatusInfo, category_of,
                                     service_table, status_info)

MWL = "1.2.840.10008.5.1.4.31"
QR_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
MPPS = "1.2.840.10008.3.1.2.3.3"


def test_storage():
    assert status_info(0xA700, 0x8001).meaning == "Refused: Out of Resources"
    assert status_info(0xA7FF, 0x8001).category == "Failure"
    assert status_info(0xA923, 0x8001).meaning == "Error: Data Set does not match SOP Class"
    info = status_info(0xC123, 0x8001)
    assert info.category == "Failure" and "Cannot understand" in info.meaning
    assert status_info(0xB000, 0x8001).meaning == "Coercion of Data Elements"
    assert status_info(0xB007, 0x8001).category == "Warning"
    assert status_info(0xB006, 0x0001).meaning == "Elements Discarded"      # request code works too


def test_find():
    assert status_info(0xFF00, 0x8020).category == PENDING
    assert status_info(0xFF01, 0x8020, QR_FIND).category == PENDING
    assert status_info(0xFE00, 0x8020).category == "Cancel"
    assert status_info(0xA900, 0x8020).meaning == "Error: Identifier does not match SOP Class"
    assert status_info(0xC001, 0x8020).meaning == "Error: Unable to process"


def test_worklist_selected_by_sop_class():
    assert service_table(0x8020, MWL) == "worklist"
    assert "Optional Keys supported" in status_info(0xFF00, 0x8020, MWL).meaning
    assert service_table(0x8020, QR_FIND) == "qr-find"


def test_move_and_get():
    assert status_info(0xA801, 0x8021).meaning == "Refused: Move Destination unknown"
    assert status_info(0xA701, 0x8021).category == FAILURE
    assert status_info(0xA702, 0x8010).meaning.startswith("Refused: Out of Resources")
    assert "Cancel" in status_info(0xFE00, 0x8021).meaning
    assert status_info(0xB000, 0x8021).category == "Warning"
    assert status_info(0xFF00, 0x8010).meaning == "Sub-operations are continuing"
    # GET has no Move Destination; falls back to the range category
    assert status_info(0xA801, 0x8010).meaning == "Failure"


def test_general_and_n_services():
    assert status_info(0x0000).category == "Success"
    assert status_info(0x0122, 0x8030).meaning == "Refused: SOP class not supported"
    assert status_info(0x0107, 0x8120).category == "Warning"
    assert status_info(0x0001, 0x8140).category == "Warning"
    assert status_info(0x0213).meaning == "Resource limitation"
    assert "may no longer be updated" in status_info(0x0110, 0x8120, MPPS).meaning
    assert status_info(0x0110, 0x8120).meaning == "Processing failure"
    assert status_info(0xC600, 0x8130, "1.2.840.10008.5.1.1.1").category == FAILURE   # print
    assert status_info(0xC309, 0x8130, "1.2.840.10008.5.1.4.34.6.1").category == FAILURE  # UPS


def test_every_table_is_well_formed():
    for name, table in SERVICE_TABLES.items():
        for low, high, cat, meaning in table:
            assert 0 <= low <= high <= 0xFFFF, name
            assert cat in CATEGORIES and meaning


def test_unknown_is_failure_and_says_so():
    info = status_info(0x1234, 0x8001)
    assert info == StatusInfo(0x1234, "Failure", "Unknown status (0x1234)")
    assert info.display == "0x1234 Unknown status (0x1234)"
    assert status_info(0xB123, 0x8020).category == "Warning"     # by range
    assert status_info(0xAF00).category == "Failure"


def test_category_of():
    assert category_of(0xFF00) == "Pending" and category_of(0) == "Success"
    assert category_of(0xB000) == "Warning" and category_of(0xC000) == "Failure"


@given(st.one_of(st.integers(-10, 1 << 20), st.none(), st.text(max_size=3)),
       st.one_of(st.integers(-5, 0x10000), st.none()),
       st.one_of(st.none(), st.text(max_size=80), st.sampled_from([MWL, MPPS, QR_FIND])))
def test_never_raises(code, cf, sop):
    info = status_info(code, cf, sop)
    assert info.category in CATEGORIES
    assert isinstance(info.display, str)


# -- table selection and range lookup, exact (mutation testing, tests/MUTATION.md) -----------------------------
# _scan is called directly: status_info's cached _lookup would answer from a cache filled by earlier tests.

from dicomsniff.dimse.status import BY_RANGE, GENERAL, STORAGE, _scan, _sop_table  # noqa: E402


def test_range_lookup_is_inclusive_at_both_ends():
    assert _scan(STORAGE, 0xA700)[3] == "Refused: Out of Resources"
    assert _scan(STORAGE, 0xA7FF)[3] == "Refused: Out of Resources"
    assert _scan(STORAGE, 0xA800) is None and _scan(STORAGE, 0xA6FF) is None
    assert _scan(STORAGE, 0xB006)[3] == "Elements Discarded"               # a single code: low == high
    assert _scan(STORAGE, 0xB005) is None
    assert _scan(GENERAL, 0x0000)[2:] == ("Success", "Success")
    assert _scan(BY_RANGE, 0xB000)[2] == "Warning" and _scan(BY_RANGE, 0xBFFF)[2] == "Warning"
    assert _scan(BY_RANGE, 0x02FF)[2] == "Failure" and _scan(BY_RANGE, 0x0300) is None
    assert _scan(BY_RANGE, 0xFF01)[2] == "Pending" and _scan(BY_RANGE, 0xFF02) is None
    assert _scan((), 0x0000) is None


@pytest.mark.parametrize("uid,table", [
    ("1.2.840.10008.5.1.4.31", "worklist"),
    ("1.2.840.10008.5.1.4.31\x00", "worklist"),                     # NUL padding (PS3.5 §9.1) ignored
    ("1.2.840.10008.5.1.4.31 ", "worklist"),
    ("1.2.840.10008.5.1.4.31X", None),                              # not the UID
    ("\x001.2.840.10008.5.1.4.31", None),                           # leading bytes are not padding
    ("1.2.840.10008.5.1.4.310", None),                              # an exact entry is not a prefix
    ("1.2.840.10008.5.1.4.31.1", "worklist"),                       # ... but its sub-arcs are its family
    ("1.2.840.10008.5.1.4.37.1", "relevant-patient"),               # a family entry (ends with ".")
    ("1.2.840.10008.5.1.4.37", None),
    ("1.2.840.10008.5.1.1.33", "media-creation"),                   # longest prefix wins over print's family
    ("1.2.840.10008.5.1.1.330", "print"),
    ("1.2.840.10008.5.1.1.9", "print"),
    ("1.2.840.10008.5.1.4.31." + "1" * 41, "worklist"),             # 64 characters: still a UID
    ("1.2.840.10008.5.1.4.31." + "1" * 42, None),                   # 65: not a UID
    (None, None), (31, None),
])
def test_sop_class_table(uid, table):
    assert _sop_table(uid) == table


@pytest.mark.parametrize("cf,uid,table", [
    (0x8001, MWL, "storage"),            # C-STORE, C-MOVE, C-GET statuses do not depend on the SOP class
    (0x0021, MWL, "qr-move"),
    (0x8010, MWL, "qr-get"),
    (0x8020, MWL, "worklist"),           # C-FIND: the worklist, relevant patient, substance and UPS tables
    (0x8020, "1.2.840.10008.5.1.4.37.1", "relevant-patient"),
    (0x8020, "1.2.840.10008.5.1.4.41", "substance-admin"),
    (0x8020, "1.2.840.10008.5.1.4.34.6.4", "ups"),
    (0x8020, "1.2.840.10008.5.1.1.9", "qr-find"),      # a print SOP class does not make C-FIND print
    (0x8020, None, "qr-find"),
    (0x8130, "1.2.840.10008.5.1.1.9", "print"),        # N-services: the SOP class decides
    (0x8130, None, "general"),
    (0x8030, None, "general"),
    (None, None, "general"),
    (True, MWL, "worklist"),             # a bool is no command field
])
def test_service_table_selection(cf, uid, table):
    assert service_table(cf, uid) == table


def test_status_info_of_a_value_that_is_not_a_number():
    assert status_info("x") == StatusInfo(-1, "Failure", "Unknown status ('x')")
    assert status_info(True) == StatusInfo(-1, "Failure", "Unknown status (True)")
    assert status_info(None, 0x8001) == StatusInfo(-1, "Failure", "Unknown status (None)")
    long = status_info(b"\x00" * 100)
    assert len(long.meaning) == 80 and long.meaning.startswith("Unknown status (b'\\x00")
    assert status_info([0xA700, 0]).display == "-1 Unknown status ([42752, 0])"
