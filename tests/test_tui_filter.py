"""The TUI filter language (dicomsniff/output/tui/filter.py): parsing, errors, evaluation on real captures."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomsniff.output.tui.filter import (BoolOp, Compare, FilterError, Not, check, filter_associations,
                                          matches_message, message_pairs, parse, tokenize)
from dicomsniff.pipeline import Analyzer
from dicomsniff.reading import read_events

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
_cache: dict[str, list] = {}


def assocs(name: str) -> list:
    """The associations of a real capture (decoded once per test session)."""
    if name not in _cache:
        an = Analyzer(keep_pdus=False, keep_limit=64 << 10)
        for _ in read_events(CAPTURES / name, an):
            pass
        _cache[name] = an.associations
    return _cache[name]


def shown(expr: str, name: str) -> list[int]:
    return [a.number for a in filter_associations(parse(expr), assocs(name))]


# -- parsing -----------------------------------------------------------------------------------

def test_parse_builds_the_expected_tree():
    node = parse('ae == "STORESCP" and (command == C-FIND or not status != success)')
    assert node == BoolOp("and", (
        Compare("ae", "==", "STORESCP"),
        BoolOp("or", (Compare("command", "==", "C-FIND"),
                      Not(Compare("status", "!=", "success")))),
    ))


def test_operators_symbols_and_state_alias():
    assert parse("state == rejected || !ip == 10.0.0.1 && port >= 104") == BoolOp("or", (
        Compare("outcome", "==", "rejected"),
        BoolOp("and", (Not(Compare("ip", "==", "10.0.0.1")), Compare("port", ">=", "104"))),
    ))
    assert parse("sop ~ 'CT Image'") == Compare("sop", "~", "CT Image")
    assert parse('ae == "say \\"hi\\""') == Compare("ae", "==", 'say "hi"')


def test_keywords_and_fields_are_case_insensitive():
    assert parse("AE == X AND NOT State == Released") == BoolOp("and", (
        Compare("ae", "==", "X"), Not(Compare("outcome", "==", "Released"))))


@pytest.mark.parametrize("text, where", [
    ("ae ==", 5),                    # no value
    ("ae", 2),                       # no operator
    ("colour == red", 0),            # unknown field
    ("(ae == X", 8),                 # missing )
    ("ae == X ae == Y", 8),          # missing and/or
    ('ae == "STORE', 6),             # unterminated string
    ("state == happy", 9),           # not a state
    ("status == great", 10),         # not a status
    ("port > abc", 7),               # ordering needs a number
    ("and", 0),
    ("", 0),
])
def test_invalid_expressions_raise_with_position(text, where):
    with pytest.raises(FilterError) as e:
        parse(text)
    assert e.value.position == where
    if text:
        assert check(text) is not None and f"column {where + 1}" in check(text)


def test_check_accepts_valid_and_empty():
    assert check("") is None
    assert check("   ") is None
    assert check("command == C-STORE and status == 0xA700") is None


FIELDS_HINT = "expected a field name"


@pytest.mark.parametrize("text, message, column", [
    ("!!!", FIELDS_HINT, 3),                        # three 'not's, then nothing to negate
    ("&&||", "unknown field 'and'", 0),             # && and || are words for and/or, not a field
    ("((((", FIELDS_HINT, 4),
    ("[red]X", "unknown field '[red]X'", 0),        # markup is not a field name
    ("~~~", FIELDS_HINT, 0),
    ("==", FIELDS_HINT, 0),
    ("ae ~ \"\\", "unterminated string", 5),
    ("sop ~ 'CT", "unterminated string", 6),
])
def test_odd_input_is_a_filter_error_at_its_column(text, message, column):
    with pytest.raises(FilterError) as e:
        parse(text)
    assert message in str(e.value) and e.value.position == column
    assert check(text) == f"{e.value} (at column {column + 1})"


def test_odd_input_tokens_and_values():
    assert [t.text for t in tokenize("!!!")][:3] == ["not", "not", "not"]
    assert [(t.kind, t.text) for t in tokenize("&&||")] == [("word", "and"), ("word", "or"), ("end", "")]
    assert parse("ae==\x1b[31m") == Compare("ae", "==", "\x1b[31m")      # a control character is a value
    with pytest.raises(FilterError) as e:
        tokenize("ae == \"x")
    assert e.value.position == 6


# -- evaluation on real captures ------------------------------------------------------------------

def test_state_rejected_on_reject_pcap():
    assert shown("state == rejected", "reject.pcap") == [1, 2, 3]
    assert shown("state != rejected", "reject.pcap") == []


def test_ae_matches_calling_or_called():
    assert shown('ae == "STORESCP"', "echo.pcap") == [1]
    assert shown('ae == "storescp"', "echo.pcap") == [1]      # case-insensitive
    assert shown('called == "ECHOSCU"', "echo.pcap") == []
    assert shown('calling == "ECHOSCU"', "echo.pcap") == [1]
    assert shown('ae == "WRONGAE"', "reject.pcap") == [1]


def test_command_and_status_on_pynetdicom():
    assert shown("command == C-FIND", "pynetdicom.pcap") == [1]
    assert shown("command == C-MOVE", "pynetdicom.pcap") == []
    assert shown("status == 0xA700", "pynetdicom.pcap") == [1]
    assert shown("status == failure", "pynetdicom.pcap") == [1]
    assert shown("status == failure", "store.pcap") == []
    assert shown("status != success", "store.pcap") == []
    assert shown("command == C-STORE and status == failure", "pynetdicom.pcap") == [1]
    assert shown("command == C-ECHO and status == failure", "pynetdicom.pcap") == []


def test_message_level_matching():
    a = assocs("pynetdicom.pcap")[0]
    node = parse("status == 0xA700")
    hits = [m.name for m, ex in message_pairs(a) if matches_message(node, a, m, ex)]
    # the failing C-STORE-RSP, and its request (whose exchange ended with 0xA700)
    assert hits == ["C-STORE-RQ", "C-STORE-RSP"]
    node = parse("command == C-FIND-RSP and status == pending")
    assert sum(matches_message(node, a, m, ex) for m, ex in message_pairs(a)) == 2


def test_sop_ip_port_and_numbers():
    assert shown('sop ~ "CT Image"', "store.pcap") == [1]
    assert shown('sop ~ "Worklist"', "find_mwl.pcap") == [1]
    assert shown('sop ~ "Worklist"', "store.pcap") == []
    assert shown("ip == 127.0.0.1", "echo.pcap") == [1]
    assert shown("ip == ::1", "pynetdicom_ipv6.pcap") == [1]
    assert shown("port == 104", "echo.pcap") == [1]
    assert shown("port == 105", "echo.pcap") == []
    assert shown("assoc >= 2", "reject.pcap") == [2, 3]
    assert shown("assoc == 2 or assoc == 3", "concurrent.pcap") == [2, 3]


def test_missing_values_make_comparisons_false():
    # rejected associations have no messages, so no status and no command
    assert shown("status != success", "reject.pcap") == []
    assert shown("not command == C-ECHO", "reject.pcap") == [1, 2, 3]


def test_hostile_values_are_just_strings():
    assert parse('ae == "[red]X\\x1b"') == Compare("ae", "==", "[red]Xx1b")
    assert shown('ae ~ "[red]"', "echo.pcap") == []


@pytest.mark.parametrize("text", ["a = b", "ae == X & state == rejected", "port | 4", "=", "&", "|", "ae ==="])
def test_lone_operator_characters_are_errors_not_loops(text):
    # These once made the tokenizer loop forever appending empty words.
    with pytest.raises(FilterError) as e:
        parse(text)
    assert 0 <= e.value.position <= len(text)


from hypothesis import given, settings, strategies as st  # noqa: E402

_ALPHABET = st.sampled_from(list("aestuspoc=!~<>&|()\"' 0x1.-") + ["ae", "==", "and", "or", "not", "C-FIND"])


@settings(max_examples=300, deadline=1000)
@given(st.lists(_ALPHABET, max_size=30).map("".join))
def test_any_text_parses_or_is_a_filter_error(text):
    # check() is what the filter bar calls on every keystroke: it must answer, never raise or hang, and
    # agree with parse(): None exactly when parse() succeeds, else parse()'s FilterError with its column.
    err = check(text)
    if not text.strip():
        assert err is None
        return
    try:
        tree = parse(text)
    except FilterError as e:
        assert 0 <= e.position <= len(text)
        assert err == f"{e} (at column {e.position + 1})"
    else:
        assert err is None
        assert isinstance(tree, (Compare, BoolOp, Not))
