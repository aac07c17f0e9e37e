"""Regressions from mutation testing (issue 12, tests/MUTATION.md): structural properties of the decoded trees
that hold for every PDU and command set, and the behaviours whose loss no other test noticed.

Two properties catch most offset and length mutants at once:

* every field's children tile it: they start at its first byte, follow each other without gap or overlap
  and end at its last byte (the message control header's two bit fields share its byte and are exempt);
* every numeric field's bytes are its value: big-endian in the Upper Layer (PS3.8 §9.3: "all fields are
  big endian"), little-endian in the command set (PS3.7 §6.3.1: Implicit VR Little Endian), and every text
  field's bytes are its text.
"""

from __future__ import annotations

import struct

import pytest

from dicomsniff.dimse.command_set import decode_command_set
from dicomsniff.field import Field
from dicomsniff.ul.dissect import dissect_pdu
from tests.dimse_fixtures import cancel_rq, command, echo_rq, echo_rsp, find_rq, find_rsp, store_rq, store_rsp
from tests.pdu_fixtures import CT_STORAGE, IMPLICIT_LE, VERIFICATION, assoc_ac, assoc_rq, item, pdata, pdu
from tests.test_ul_dissect import EXACT, WELL_FORMED

PDUS = {**WELL_FORMED, **{f"exact-{k.lower()}": v[0] for k, v in EXACT.items()}}
COMMANDS = {
    "echo-rq": echo_rq(1), "echo-rsp": echo_rsp(1), "store-rq": store_rq(7, "1.2.3.4.5"),
    "store-rsp-a700": store_rsp(7, 0xA700), "find-rq": find_rq(3), "find-rsp-pending": find_rsp(3, 0xFF00),
    "cancel": cancel_rq(3),
}
BIT_FIELDS = ("dicom.pdv.flags.command", "dicom.pdv.flags.last")


def assert_children_tile(tree: Field) -> None:
    for _, f in tree.walk():
        if not f.children or f.key == "dicom.pdv.flags":
            continue
        pos = f.offset
        for c in f.children:
            assert c.offset == pos, (f.key, f.label, c.key, c.label, c.offset, pos)
            pos = c.end
        assert pos == f.end, (f.key, f.label, pos, f.end)


def assert_bytes_are_values(tree: Field, data: bytes, byteorder: str) -> int:
    """Leaf fields read back from their span: numbers of 1, 2 or 4 bytes, tags (group, element), text.
    Returns how many were checked."""
    checked = 0
    for _, f in tree.walk():
        raw = data[f.offset:f.end]
        if f.key in BIT_FIELDS or f.children:
            continue
        if isinstance(f.value, tuple) and f.length == 4:
            fmt = "<HH" if byteorder == "little" else ">HH"
            assert struct.unpack(fmt, raw) == f.value, (f.key, f.label, f.offset, raw)
            checked += 1
        elif isinstance(f.value, int) and not isinstance(f.value, bool) and f.length in (1, 2, 4):
            signed = f.key.endswith(("16s", "32s"))
            assert int.from_bytes(raw, byteorder, signed=signed) == f.value, (f.key, f.label, f.offset, raw)
            checked += 1
        elif isinstance(f.value, str) and f.length:
            assert raw.decode("latin-1").strip(" \x00") == f.value, (f.key, f.label, raw)
            checked += 1
    return checked


@pytest.mark.parametrize("name", sorted(PDUS))
def test_pdu_fields_tile_and_read_back(name):
    data = PDUS[name]
    tree = dissect_pdu(data).tree
    assert_children_tile(tree)
    assert assert_bytes_are_values(tree, data, "big") >= 2          # at least the PDU type and length


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_set_fields_tile_and_read_back(name):
    data = COMMANDS[name]
    tree = decode_command_set(data).tree
    assert_children_tile(tree)
    assert tree.end == len(data)
    assert assert_bytes_are_values(tree, data, "little") == 3 * len(tree.children)     # tag, length, value


def test_max_pdu_length_value_offset():
    """The Maximum Length Received value: 4 bytes at the user information item + 4 + sub-item header 4
    (PS3.8 Annex D.1.1), here after the 68-byte fixed part, the application context and one context."""
    data = assoc_rq(contexts=[(1, VERIFICATION, [IMPLICIT_LE])], max_pdu=0x00012345)
    d = dissect_pdu(data)
    ui = d.tree.find("dicom.userinfo")
    ml = d.tree.find("dicom.max_pdu_len")
    assert ui.offset == 6 + 68 + 25 + 50
    assert (ml.offset, ml.length, ml.value) == (ui.offset + 8, 4, 0x12345)
    assert data[ml.offset:ml.end] == b"\x00\x01\x23\x45"
    ac = assoc_ac(results=[(1, 0, IMPLICIT_LE), (3, 3, IMPLICIT_LE)], max_pdu=32768)
    ml = dissect_pdu(ac).tree.find("dicom.max_pdu_len")
    assert struct.unpack(">I", ac[ml.offset:ml.end]) == (32768,)
    assert ml.offset == 6 + 68 + 25 + 29 + 29 + 8          # two 0x21 items of 4 + 4 + (4 + 17) bytes


def test_four_byte_status_keeps_command_bad_status():
    """Issue 12: a Status (0000,0900) of 4 bytes (VM 2) in a response is an ERROR, command-bad-status."""
    data = command(AffectedSOPClassUID=CT_STORAGE, CommandField=0x8001, MessageIDBeingRespondedTo=7,
                   CommandDataSetType=0x0101, Status=[0xA700, 0x0000], AffectedSOPInstanceUID="1.2.3")
    cs = decode_command_set(data)
    assert cs.status is None
    assert [(f.severity, f.code) for f in cs.findings] == [("error", "command-bad-status")]
    assert [(f.severity, f.code) for f in decode_command_set(store_rsp(7, 0xA700)).findings] == []


def test_empty_last_pdv_survives_dissection():
    """Issue 12: "an empty last PDV disappears" (CTN ends a data set with one)."""
    d = dissect_pdu(pdata([(1, 0x00, b"x" * 10), (1, 0x02, b"")]))
    assert [(p.value_length, p.is_last) for p in d.body.pdvs] == [(10, False), (0, True)]
    assert d.findings == []


def test_unknown_item_inside_presentation_context_is_skipped_by_its_length():
    """A sub-item the context does not know is skipped by its length; the transfer syntax after it is read."""
    ctx = item(0x20, bytes([1, 0, 0, 0]) + item(0x30, VERIFICATION.encode()) + item(0x7A, b"??")
               + item(0x40, IMPLICIT_LE.encode()))
    base = assoc_rq()
    data = pdu(0x01, base[6:74] + item(0x10, b"1.2.840.10008.3.1.1.1") + ctx + base[74 + 25 + 50:])
    d = dissect_pdu(data)
    assert [(c.id, c.abstract_syntax, c.transfer_syntaxes) for c in d.body.contexts] == [
        (1, VERIFICATION, [IMPLICIT_LE])]
    assert [f.code for f in d.findings] == ["unknown-item"]
    assert_children_tile(d.tree)
