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


# -- elements of command and data sets, exists, rtt (issue 14 item 2) -----------------------------

from dicomsniff.output.tui.filter import (element_values, filter_text, matches_item,  # noqa: E402
                                          parse_duration, tag_text)


def test_elements_by_keyword_or_tag_and_exists_parse():
    assert parse('PatientID == "123456"') == Compare("(0010,0020)", "==", "123456")
    assert parse("patientid == 1") == Compare("(0010,0020)", "==", "1")           # keywords: any case
    assert parse("(0008,0052) == STUDY") == Compare("(0008,0052)", "==", "STUDY")
    assert parse("( 0008 , 005a ) exists") == Compare("(0008,005A)", "exists", "")
    assert parse("not ScheduledStationAETitle exists and (0008,0052) == STUDY") == BoolOp("and", (
        Not(Compare("(0040,0001)", "exists", "")), Compare("(0008,0052)", "==", "STUDY")))
    assert parse("((0008,0052) == STUDY)") == Compare("(0008,0052)", "==", "STUDY")  # a tag inside parentheses
    assert parse("rtt > 1s") == Compare("rtt", ">", "1s")
    assert parse("MoveDestination == STORESCP") == Compare("(0000,0600)", "==", "STORESCP")


@pytest.mark.parametrize("text, message, column", [
    ("command == C-STOR", "unknown command 'C-STOR' (did you mean C-STORE?)", 11),
    ("command != C-FINDRQ", "(did you mean C-FIND-RQ?)", 11),
    ("PatientIDD == 1", "unknown field 'PatientIDD' (did you mean PatientID?)", 0),
    ("staus == success", "(did you mean status?)", 0),
    ("port == abc", "port is a number, not 'abc'", 8),
    ("port ~ http", "port is a number", 7),
    ("msgid == one", "msgid is a number", 9),
    ("rtt > fast", "rtt needs a time such as 1s, 250ms or 0.5", 6),
    ("state == rejectd", "(did you mean rejected?)", 9),
    ("Rows > many", "'>' needs a number", 7),
    ("PatientID exist", "expected an operator after 'PatientID'", 10),
])
def test_what_cannot_match_is_an_error_with_the_nearest_name(text, message, column):
    with pytest.raises(FilterError) as e:
        parse(text)
    assert message in str(e.value) and e.value.position == column, (str(e.value), e.value.position)


def test_durations():
    assert parse_duration("1s") == 1_000_000_000
    assert parse_duration("250ms") == 250_000_000
    assert parse_duration("20us") == parse_duration("20µs") == 20_000
    assert parse_duration("1.5") == 1_500_000_000 and parse_duration(".5s") == 500_000_000
    assert parse_duration("7ns") == 7
    assert parse_duration("fast") is None and parse_duration("1h") is None and parse_duration("") is None


def rows_matching(expr: str, name: str, number: int = 1) -> list[str]:
    a = next(x for x in assocs(name) if x.number == number)
    node = parse(expr)
    return [m.name for m, ex in message_pairs(a) if matches_message(node, a, m, ex)]


def test_data_set_elements_on_a_worklist_query():
    """find_mwl.pcap: a C-FIND-RQ with empty keys and a sequence, two matches, a final Success."""
    assert rows_matching('PatientID == "WL0001"', "find_mwl.pcap") == ["C-FIND-RSP"]
    assert rows_matching('patientname == "doe^john"', "find_mwl.pcap") == ["C-FIND-RSP"]
    # inside the Scheduled Procedure Step Sequence's item, in the request and both matches
    assert rows_matching("ScheduledStationAETitle exists", "find_mwl.pcap") == ["C-FIND-RQ", "C-FIND-RSP",
                                                                                "C-FIND-RSP"]
    assert rows_matching("(0040,0001) == ct01", "find_mwl.pcap") == ["C-FIND-RQ", "C-FIND-RSP", "C-FIND-RSP"]
    # an empty key exists and equals ""; ~ on a UID prefix finds the matches only
    assert rows_matching('PatientID == ""', "find_mwl.pcap") == ["C-FIND-RQ"]
    assert rows_matching('StudyInstanceUID ~ "1.2.826"', "find_mwl.pcap") == ["C-FIND-RSP", "C-FIND-RSP"]
    assert rows_matching("ScheduledProcedureStepStartTime > 090000", "find_mwl.pcap") == ["C-FIND-RSP"]
    # command set elements too, by keyword and by tag
    assert rows_matching("MessageIDBeingRespondedTo == 1", "find_mwl.pcap") == ["C-FIND-RSP"] * 3
    assert rows_matching("(0000,0100) == 0x0020", "find_mwl.pcap") == ["C-FIND-RQ"]
    assert shown('PatientID == "WL0001"', "find_mwl.pcap") == [1]
    assert shown('PatientID == "nobody"', "find_mwl.pcap") == []


def test_query_retrieve_level_by_tag_across_associations():
    assert shown("(0008,0052) == STUDY", "move.pcap") == [1, 3]
    assert shown("Modality == MR", "move.pcap") == [2]
    assert shown("MoveDestination exists", "move.pcap") == [1, 3]
    assert shown("not (0008,0052) exists", "reject.pcap") == [1, 2, 3]      # no messages at all
    a = assocs("move.pcap")[0]
    done = [m.name for m, _ in message_pairs(a) if (m.command.completed or 0) >= 2]
    assert done and rows_matching("NumberOfCompletedSuboperations >= 2", "move.pcap") == done
    assert rows_matching('ImageType == "ORIGINAL\\\\PRIMARY\\\\AXIAL"', "move.pcap", 2) == ["C-STORE-RQ"] * 3
    assert rows_matching("ImageType == AXIAL", "move.pcap", 2) == ["C-STORE-RQ"] * 3


def test_element_values_are_those_of_the_field_tree():
    """The filter reads the same Fields the tree and dump -V show (one representation)."""
    a = assocs("find_mwl.pcap")[0]
    m = [m for m, _ in message_pairs(a)][1]
    vals = element_values(m)
    for _, f in m.data.tree.walk():
        if f.children and f.children[0].key == "dicom.tag":
            g, e = f.children[0].value
            assert ((g << 16) | e) in vals, tag_text((g << 16) | e)
    assert vals[0x00100010] == ["ROE^JANE"] and vals[0x00000900] == [0xFF00]
    assert element_values(m) is vals                            # kept while the message is recent


def test_apply_as_filter_text_matches_the_message_it_came_from():
    """Every element of every message of a capture, made a filter, parses and holds for its message."""
    checked = 0
    for name in ("find_mwl.pcap", "move.pcap"):
        for a in assocs(name):
            for m, ex in message_pairs(a):
                for root in (m.command.tree, m.data.tree if m.data is not None else None):
                    if root is None:
                        continue
                    for _, f in root.walk():
                        text = filter_text(f)
                        if f.children and f.children[0].key == "dicom.tag":
                            assert text is not None, f.label
                        if text is None:
                            continue
                        assert check(text) is None, text
                        assert matches_message(parse(text), a, m, ex), (text, m.name)
                        checked += 1
    assert checked > 150
    a = assocs("find_mwl.pcap")[0]
    rsp = [m for m, _ in message_pairs(a)][1]
    tree = rsp.data.tree
    assert filter_text(tree.find("PatientName")) == 'PatientName == "ROE^JANE"'
    assert filter_text(tree.find("ScheduledProcedureStepSequence")) == "ScheduledProcedureStepSequence exists"
    assert filter_text(rsp.command.tree.find("Status")) == "Status == 65280"
    assert filter_text(tree) is None                                  # the Data Set itself is no element


def test_ladder_rows_pdus_match_association_filters_only():
    from dicomsniff.output.tui.session import LadderItem
    a = assocs("find_mwl.pcap")[0]

    class Pdu:                      # an A-ASSOCIATE-RQ row: what matches_item reads of a PDU row
        pdu_type = 1
    row = LadderItem(pdu=Pdu())
    assert matches_item(parse("ae == FINDSCU"), a, row)
    assert not matches_item(parse("ae == NOBODY"), a, row)
    assert not matches_item(parse("command == C-FIND"), a, row)       # a message filter: PDU rows go
    assert matches_item(None, a, row)
