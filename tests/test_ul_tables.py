"""Tests for dicomsniff.ul.tables, dicomsniff.uids and dicomsniff.textsafe."""

from __future__ import annotations

import pytest

from dicomsniff.textsafe import safe_markup, safe_text
from dicomsniff.uids import is_valid_uid, uid_display, uid_name
from dicomsniff.ul import tables as T


@pytest.mark.parametrize("table,code,text", [
    (T.ITEM_TYPES, 0x10, "Application Context"),
    (T.ITEM_TYPES, 0x59, "User Identity (AC)"),
    (T.ITEM_TYPES, 0x5A, "Unknown (0x5A)"),
    (T.PDU_TYPES, 0x04, "P-DATA-TF"),
    (T.PDU_TYPES, 0x09, "Unknown (0x09)"),
    (T.CONTEXT_RESULTS, 3, "abstract-syntax-not-supported (provider rejection)"),
    (T.ABORT_SOURCES, 1, "reserved (0x01)"),
    (T.USER_IDENTITY_TYPES, 5, "JSON Web Token"),
    (T.USER_IDENTITY_TYPES, None, "(missing)"),
])
def test_describe(table, code, text):
    assert T.describe(table, code) == text


def test_describe_never_raises():
    for code in (None, -1, 1 << 40, "x", 1.5, b"\x01", [1]):
        assert isinstance(T.describe(T.ITEM_TYPES, code), str)


def test_reject_texts():
    assert T.reject_reason_text(1, 3) == "calling-AE-title-not-recognized"
    assert T.reject_reason_text(1, 7) == "called-AE-title-not-recognized"
    assert T.reject_reason_text(1, 4) == "reserved (0x04)"
    assert T.reject_reason_text(2, 2) == "protocol-version-not-supported"
    assert T.reject_reason_text(3, 0) == "reserved (0x00)"
    assert T.reject_reason_text(3, 2) == "local-limit-exceeded"
    assert T.reject_reason_text(9, 1) == "Unknown (0x01)"
    assert T.reject_text(1, 1, 7) == "rejected-permanent: called-AE-title-not-recognized (service-user)"
    assert T.reject_reason_plain(1, 3).startswith("Calling AE title not recognized")
    assert "service-user" in T.reject_reason_plain(1, 9)
    assert T.reject_result_text(2) == "rejected-transient"
    assert T.reject_source_text(3) == "service-provider presentation"


def test_abort_texts():
    assert T.abort_text(2, 2) == "service-provider: unexpected-PDU"
    assert T.abort_text(0, 0) == "service-user"
    assert T.abort_reason_text(0, 0) == "not significant"
    assert T.abort_reason_text(2, 3) == "reserved (0x03)"
    assert T.abort_reason_text(2, 9) == "Unknown (0x09)"
    assert T.abort_reason_plain(0, 0) == T.ABORT_USER_PLAIN
    assert "did not expect" in T.abort_reason_plain(2, 2)


def test_context_and_role_texts():
    assert T.context_result_text(0) == "acceptance"
    assert T.context_result_text(7) == "Unknown (0x07)"
    assert T.context_result_plain(4).startswith("Rejected")
    assert T.role_text(1, accept=False) == "support"
    assert T.role_text(0, accept=True) == "rejected"


def test_uid_names():
    assert uid_name("1.2.840.10008.1.1") == "Verification SOP Class"
    assert uid_name("1.2.3.4") == "1.2.3.4"
    assert uid_name("\x1b[31m") == "\x1b[31m"
    assert uid_name(None) == ""
    assert uid_name(["not", "hashable"]) == "['not', 'hashable']"
    assert uid_name("1." * 5000) == "1." * 5000
    assert uid_display("1.2.840.10008.1.1") == "1.2.840.10008.1.1 (Verification SOP Class)"
    assert uid_display("1.2.3") == "1.2.3"
    assert uid_display("1.2\x1b") == "1.2\\x1b"
    assert uid_display("") == "(empty)"


@pytest.mark.parametrize("uid,ok", [
    ("1.2.840.10008.1.1", True), ("0", True), ("1.0.2", True), ("1.2.03", False), ("1..2", False),
    (".1.2", False), ("1.2.", False), ("1.2.a", False), ("", False), ("1." * 32 + "1", False),
    ("1" * 64, True), ("1" * 65, False), (None, False), ("1.2.840.10008.1.2\x00", False),
])
def test_is_valid_uid(uid, ok):
    assert is_valid_uid(uid) is ok


def test_safe_text():
    assert safe_text("ANY-SCP") == "ANY-SCP"
    assert safe_text("\x1b[31mred") == "\\x1b[31mred"
    assert safe_text("a\x00b\x7fc\x9bd\te\n") == "a\\x00b\\x7fc\\x9bd\\x09e\\x0a"
    assert safe_text("é ü 日本") == "é ü 日本"
    assert safe_text("x\u202ey") == "x\\u202ey"
    assert safe_text(safe_text("\x1b")) == safe_text("\x1b")          # idempotent
    assert safe_text(None) == ""
    assert safe_text(12) == "12"
    assert safe_markup("[red]x\x1b") == "\\[red]x\\x1b"


# -- every lookup's text for odd inputs, exact (mutation testing, tests/MUTATION.md) ----------------------------

@pytest.mark.parametrize("call,text", [
    (lambda: T.describe(T.ITEM_TYPES, "x"), "Unknown ('x')"),
    (lambda: T.describe({"x": "named"}, "x"), "named"),                       # a non-int key the table has
    (lambda: T.describe(T.ITEM_TYPES, [1]), "Unknown ([1])"),                 # unhashable: no TypeError
    (lambda: T.describe(T.ITEM_TYPES, 0x1FF), "Unknown (0x1FF)"),
    (lambda: T.pdu_type_text(4), "P-DATA-TF"),
    (lambda: T.pdu_type_text(None), "(missing)"),
    (lambda: T.item_type_text(0x21), "Presentation Context (AC)"),
    (lambda: T.item_type_text(0x99), "Unknown (0x99)"),
    (lambda: T.context_result_plain(4), "Rejected: the called system supports none of the proposed transfer syntaxes"),
    (lambda: T.context_result_plain(1), "Rejected by the called application"),
    (lambda: T.context_result_plain(9), "Unknown (0x09)"),
    (lambda: T.context_result_plain(None), "(missing)"),
    (lambda: T.context_result_plain("x"), "Unknown ('x')"),
    (lambda: T.reject_reason_text("1", 3), "Unknown (0x03)"),                # source not a number: no table
    (lambda: T.reject_reason_text(None, 3), "Unknown (0x03)"),
    (lambda: T.reject_reason_plain(1, 9), "Rejected (reserved (0x09), source service-user)"),
    (lambda: T.reject_reason_plain(None, 3), "Rejected (Unknown (0x03), source (missing))"),
    (lambda: T.reject_reason_plain(3, "1"), "Rejected (Unknown ('1'), source service-provider presentation)"),
    (lambda: T.reject_reason_plain(2, 2), "The called system does not support the proposed protocol version"),
    (lambda: T.reject_text(None, None, None), "(missing): (missing) ((missing))"),
    (lambda: T.abort_reason_text(1, 0), "not significant"),                   # reason significant for source 2 only
    (lambda: T.abort_reason_text(1, 5), "not significant (0x05)"),
    (lambda: T.abort_reason_text(0, "x"), "Unknown ('x')"),
    (lambda: T.abort_reason_text(2, 0), "reason-not-specified"),
    (lambda: T.abort_reason_text(None, 2), "unexpected-PDU"),
    (lambda: T.abort_reason_plain(0, 5), "The application aborted the association (A-ABORT by the service-user)"),
    (lambda: T.abort_reason_plain(2, 9), "Aborted (service-provider: Unknown (0x09))"),
    (lambda: T.abort_reason_plain(2, "x"), "Aborted (service-provider: Unknown ('x'))"),
    (lambda: T.abort_reason_plain(2, 1), "The DICOM stack received a PDU of a type it does not know"),
    (lambda: T.abort_text(1, 0), "reserved (0x01)"),
    (lambda: T.abort_text(1, 3), "reserved (0x01): not significant (0x03)"),
    (lambda: T.abort_text(0, 2), "service-user: not significant (0x02)"),
    (lambda: T.abort_text(2, 0), "service-provider: reason-not-specified"),
    (lambda: T.abort_text(None, None), "(missing): (missing)"),
    (lambda: T.user_identity_type_text(2), "username and passcode"),
    (lambda: T.user_identity_type_text(0), "Unknown (0x00)"),
    (lambda: T.role_text(0, False), "non-support"),
    (lambda: T.role_text(1, True), "accepted"),
    (lambda: T.role_text(2, True), "Unknown (0x02)"),
])
def test_lookup_texts_exact(call, text):
    assert call() == text


def test_lookups_with_unhashable_values_never_raise():
    """Values that did not decode as numbers may be anything; the lookups answer, they never raise."""
    assert T.abort_reason_plain(2, [1]) == "Aborted (service-provider: Unknown ([1]))"
    assert T.context_result_plain([1]) == "Unknown ([1])"
    assert T.reject_reason_plain(1, [1]) == "Rejected (Unknown ([1]), source service-user)"
    assert T.reject_reason_text([1], 3) == "Unknown (0x03)"
    # A reason that is not significant keeps saying so in the plain text (source 1 is reserved, not 2).
    assert T.abort_reason_plain(1, 9) == "Aborted (reserved (0x01): not significant (0x09))"
