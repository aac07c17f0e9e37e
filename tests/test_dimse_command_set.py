"""Command sets (PS3.7 §6.3.1, §9.3, §10.3) encoded by pynetdicom and pydicom, decoded element by element."""

import json
from io import BytesIO

import pytest
from hypothesis import given, settings, strategies as st
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pynetdicom import dimse_messages as dm, dimse_primitives as dp
from pynetdicom.dsutils import encode

from dicomsniff.dimse.command_set import CommandSet, command_set_json, decode_command_set

MWL = "1.2.840.10008.5.1.4.31"
CT = "1.2.840.10008.5.1.4.1.1.2"


def pynetdicom_bytes(msg_cls, primitive) -> bytes:
    msg = msg_cls()
    msg.primitive_to_message(primitive)
    msg._set_command_group_length()
    return encode(msg.command_set, True, True)


def implicit(ds: Dataset, group_length: bool = True) -> bytes:
    def enc(d):
        fp = DicomBytesIO()
        fp.is_implicit_VR, fp.is_little_endian = True, True
        write_dataset(fp, d)
        return fp.getvalue()
    if group_length:
        ds.CommandGroupLength = 0
        ds.CommandGroupLength = len(enc(ds)) - 12
    return enc(ds)


def find_rq() -> bytes:
    p = dp.C_FIND()
    p.MessageID, p.AffectedSOPClassUID, p.Priority = 7, MWL, 2
    p.Identifier = BytesIO(b"\x00")
    return pynetdicom_bytes(dm.C_FIND_RQ, p)


def test_c_find_rq_from_pynetdicom():
    data = find_rq()
    cs = decode_command_set(data)
    assert cs.name == "C-FIND-RQ" and cs.command_field == 0x0020
    assert cs.message_id == 7 and cs.priority == 2 and cs.has_data_set
    assert cs.affected_sop_class_uid == MWL
    assert cs.findings == []
    t = cs.tree
    assert t.key == "dicom.command" and t.label == "Command Set: C-FIND-RQ" and t.display == "MessageID=7"
    assert t.find("CommandField").display == "C-FIND-RQ (0x0020)"
    assert t.find("CommandField").label == "(0000,0100) US [2] CommandField"
    assert t.find("Priority").display == "LOW (0x0002)"
    assert t.find("AffectedSOPClassUID").display == \
        "1.2.840.10008.5.1.4.31 (Modality Worklist Information Model - FIND)"
    assert t.length == len(data)
    # element spans tile the command set exactly
    pos = 0
    for f in t.children:
        assert f.offset == pos
        pos = f.end
    assert pos == len(data)


def test_c_store_rq_and_rsp():
    p = dp.C_STORE()
    p.MessageID, p.AffectedSOPClassUID, p.AffectedSOPInstanceUID = 3, CT, "1.2.3.4"
    p.Priority, p.MoveOriginatorApplicationEntityTitle, p.MoveOriginatorMessageID = 1, "MOVER", 9
    p.DataSet = BytesIO(b"\x00")
    cs = decode_command_set(pynetdicom_bytes(dm.C_STORE_RQ, p))
    assert (cs.name, cs.affected_sop_instance_uid, cs.move_originator_ae, cs.move_originator_message_id) == \
        ("C-STORE-RQ", "1.2.3.4", "MOVER", 9)
    assert cs.findings == []
    r = dp.C_STORE()
    r.MessageIDBeingRespondedTo, r.AffectedSOPClassUID, r.AffectedSOPInstanceUID = 3, CT, "1.2.3.4"
    r.Status, r.ErrorComment = 0xA700, "disk full"
    cs = decode_command_set(pynetdicom_bytes(dm.C_STORE_RSP, r))
    assert cs.status == 0xA700 and cs.responds_to == 3 and not cs.has_data_set
    assert cs.tree.find("Status").display == "0xA700 Refused: Out of Resources"
    assert cs.error_comment == "disk full"
    assert cs.tree.find("CommandDataSetType").display == "0x0101 (no data set)"


def test_c_move_rsp_counts():
    r = dp.C_MOVE()
    r.MessageIDBeingRespondedTo, r.AffectedSOPClassUID, r.Status = 5, "1.2.840.10008.5.1.4.1.2.2.2", 0xFF00
    r.NumberOfRemainingSuboperations, r.NumberOfCompletedSuboperations = 4, 2
    r.NumberOfFailedSuboperations, r.NumberOfWarningSuboperations = 1, 0
    cs = decode_command_set(pynetdicom_bytes(dm.C_MOVE_RSP, r))
    assert (cs.remaining, cs.completed, cs.failed, cs.warning) == (4, 2, 1, 0)
    assert cs.tree.find("Status").display == "0xFF00 Sub-operations are continuing"
    p = dp.C_MOVE()
    p.MessageID, p.AffectedSOPClassUID, p.Priority, p.MoveDestination = 5, "1.2.840.10008.5.1.4.1.2.2.2", 0, "DEST"
    p.Identifier = BytesIO(b"\x00")
    cs = decode_command_set(pynetdicom_bytes(dm.C_MOVE_RQ, p))
    assert cs.move_destination == "DEST" and cs.findings == []


@pytest.mark.parametrize("cf", [0x0001, 0x8001, 0x0010, 0x8010, 0x0020, 0x8020, 0x0021, 0x8021, 0x0030, 0x8030,
                                0x0100, 0x8100, 0x0110, 0x8110, 0x0120, 0x8120, 0x0130, 0x8130, 0x0140, 0x8140,
                                0x0150, 0x8150, 0x0FFF])
def test_every_command_field_decodes(cf):
    ds = Dataset()
    ds.AffectedSOPClassUID = CT
    ds.CommandField = cf
    if cf & 0x8000 or cf == 0x0FFF:
        ds.MessageIDBeingRespondedTo = 11
    else:
        ds.MessageID = 11
    ds.CommandDataSetType = 0x0101
    if cf & 0x8000:
        ds.Status = 0
    cs = decode_command_set(implicit(ds))
    assert cs.command_field == cf
    assert cs.elements["AffectedSOPClassUID"] == CT
    assert (cs.message_id if cs.message_id is not None else cs.responds_to) == 11
    assert not cs.has_data_set


def test_n_action_requested_and_at_values():
    ds = Dataset()
    ds.CommandField, ds.MessageIDBeingRespondedTo, ds.CommandDataSetType = 0x8120, 1, 0x0101
    ds.Status, ds.OffendingElement = 0x0106, [0x00100010, 0x00100020]
    ds.RequestedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
    cs = decode_command_set(implicit(ds))
    assert cs.elements["OffendingElement"] == [(0x0010, 0x0010), (0x0010, 0x0020)]
    assert cs.tree.find("OffendingElement").display == "(0010,0010), (0010,0020)"
    assert cs.requested_sop_class_uid == "1.2.840.10008.3.1.2.3.3"
    js = command_set_json(cs)
    assert js["00000901"] == {"vr": "AT", "Value": ["00100010", "00100020"]}
    assert js["00000100"] == {"vr": "US", "Value": [0x8120]}


def test_json_matches_pydicom():
    data = find_rq()
    cs = decode_command_set(data)
    from pydicom.filereader import read_dataset
    ref = read_dataset(BytesIO(data), True, True).to_json_dict()
    assert cs.json == ref
    json.dumps(cs.json)


def test_group_length_mismatch_and_missing():
    ds = Dataset()
    ds.CommandField, ds.MessageID, ds.CommandDataSetType = 0x0030, 1, 0x0101
    ds.AffectedSOPClassUID = "1.2.840.10008.1.1"
    data = bytearray(implicit(ds))
    data[8:12] = (999).to_bytes(4, "little")
    cs = decode_command_set(bytes(data))
    assert [f.code for f in cs.findings] == ["command-group-length"]
    ds2 = Dataset()
    ds2.CommandField = 0x0001
    cs = decode_command_set(implicit(ds2))
    missing = {f.message.split("mandatory ")[1].split(" ")[0] for f in cs.findings if f.code == "command-missing-element"}
    assert {"MessageID", "AffectedSOPInstanceUID", "Priority"} <= missing
    assert decode_command_set(b"").findings[0].code == "command-missing-element"


def test_order_and_foreign_group():
    el = lambda g, e, v: g.to_bytes(2, "little") + e.to_bytes(2, "little") + len(v).to_bytes(4, "little") + v
    data = el(0, 0x0110, b"\x01\x00") + el(0, 0x0100, b"\x30\x00") + el(0x0008, 0x0016, b"1.2\x00")
    cs = decode_command_set(data)
    codes = [f.code for f in cs.findings]
    assert "command-element-order" in codes and "command-not-group-0000" in codes
    assert cs.command_field == 0x0030 and cs.message_id == 1


def test_unknown_tag_kept_raw():
    data = (0).to_bytes(2, "little") + (0x7777).to_bytes(2, "little") + (3).to_bytes(4, "little") + b"abc"
    cs = decode_command_set(data)
    f = cs.tree.children[0]
    assert f.key == "Unknown (0000,7777)" and f.value == b"abc"


def test_every_cut_point():
    data = find_rq()
    for cut in range(len(data)):
        cs = decode_command_set(data[:cut])
        assert isinstance(cs, CommandSet)
        for _, f in cs.tree.walk():
            assert 0 <= f.offset and f.end <= cut, (cut, f)
        if cut < len(data):
            assert cs.findings


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_garbage_never_raises(data):
    cs = decode_command_set(data)
    for _, f in cs.tree.walk():
        assert 0 <= f.offset and f.end <= len(data)
    json.dumps(cs.json)
    cs.name, cs.has_data_set, cs.status


# -- exact decoding: every field, offset and finding (mutation testing, tests/MUTATION.md) -----------------------

import struct  # noqa: E402

from dicomsniff.field import Field, Finding  # noqa: E402

PRINTER = "1.2.840.10008.5.1.1.16"            # Printer SOP Class (print status table)


def el(group: int, elem: int, value: bytes, vl: int | None = None) -> bytes:
    """One Implicit VR Little Endian element (PS3.5 §7.1.3): tag (group, element), 32-bit length, value."""
    return struct.pack("<HHI", group, elem, len(value) if vl is None else vl) + value


def us(v: int) -> bytes:
    return struct.pack("<H", v)


def with_group_length(body: bytes) -> bytes:
    """(0000,0000) Command Group Length UL = bytes after it (PS3.7 §6.3.1), then the body."""
    return el(0, 0x0000, struct.pack("<I", len(body))) + body


def rows(tree: Field) -> list[tuple]:
    """Every field as (depth, key, label, value, display, offset, length, findings) in tree order."""
    return [(d, f.key, f.label, f.value, f.display, f.offset, f.length,
             [(x.severity, x.code, x.message) for x in f.findings]) for d, f in tree.walk()]


# A C-STORE-RSP as DCMTK sends one for a full disk (PS3.7 §9.3.1.2, PS3.4 Table B.2-1):
#   0   (0000,0000) UL 4  = 120                                 group length: bytes 12..131
#   12  (0000,0002) UI 26 = CT Image Storage, NUL padded to even length
#   46  (0000,0100) US 2  = 0x8001 C-STORE-RSP
#   56  (0000,0120) US 2  = 7 (Message ID Being Responded To)
#   66  (0000,0800) US 2  = 0x0101 (no data set)
#   76  (0000,0900) US 2  = 0xA700 Refused: Out of Resources
#   86  (0000,0901) AT 4  = (0010,0020) Offending Element, one tag
#   98  (0000,0902) LO 10 = "disk full " (space padded)
#   116 (0000,1000) UI 8  = "1.2.3.4\0"
STORE_RSP_FULL = with_group_length(
    el(0, 0x0002, CT.encode() + b"\x00") + el(0, 0x0100, us(0x8001)) + el(0, 0x0120, us(7))
    + el(0, 0x0800, us(0x0101)) + el(0, 0x0900, us(0xA700)) + el(0, 0x0901, struct.pack("<HH", 0x0010, 0x0020))
    + el(0, 0x0902, b"disk full ") + el(0, 0x1000, b"1.2.3.4\x00"))


def test_store_rsp_every_field_exact():
    cs = decode_command_set(STORE_RSP_FULL)
    ct = "1.2.840.10008.5.1.4.1.1.2 (CT Image Storage)"
    a700 = "0xA700 Refused: Out of Resources"
    assert rows(cs.tree) == [
        (0, "dicom.command", "Command Set: C-STORE-RSP", 0x8001, f"MessageIDBeingRespondedTo=7, Status={a700}",
         0, 132, []),
        (1, "CommandGroupLength", "(0000,0000) UL [4] CommandGroupLength", 120, "120", 0, 12, []),
        (2, "dicom.tag", "Tag", (0, 0), "(0000,0000) Command Group Length", 0, 4, []),
        (2, "dicom.tag.vl", "Length", 4, "4", 4, 4, []),
        (2, "dicom.tag.value.32u", "Value", 120, "120", 8, 4, []),
        (1, "AffectedSOPClassUID", "(0000,0002) UI [26] AffectedSOPClassUID", CT, ct, 12, 34, []),
        (2, "dicom.tag", "Tag", (0, 2), "(0000,0002) Affected SOP Class UID", 12, 4, []),
        (2, "dicom.tag.vl", "Length", 26, "26", 16, 4, []),
        (2, "dicom.tag.value.uid", "Value", CT, ct, 20, 26, []),
        (1, "CommandField", "(0000,0100) US [2] CommandField", 0x8001, "C-STORE-RSP (0x8001)", 46, 10, []),
        (2, "dicom.tag", "Tag", (0, 0x0100), "(0000,0100) Command Field", 46, 4, []),
        (2, "dicom.tag.vl", "Length", 2, "2", 50, 4, []),
        (2, "dicom.tag.value.16u", "Value", 0x8001, "C-STORE-RSP (0x8001)", 54, 2, []),
        (1, "MessageIDBeingRespondedTo", "(0000,0120) US [2] MessageIDBeingRespondedTo", 7, "7", 56, 10, []),
        (2, "dicom.tag", "Tag", (0, 0x0120), "(0000,0120) Message ID Being Responded To", 56, 4, []),
        (2, "dicom.tag.vl", "Length", 2, "2", 60, 4, []),
        (2, "dicom.tag.value.16u", "Value", 7, "7", 64, 2, []),
        (1, "CommandDataSetType", "(0000,0800) US [2] CommandDataSetType", 0x0101, "0x0101 (no data set)", 66, 10, []),
        (2, "dicom.tag", "Tag", (0, 0x0800), "(0000,0800) Command Data Set Type", 66, 4, []),
        (2, "dicom.tag.vl", "Length", 2, "2", 70, 4, []),
        (2, "dicom.tag.value.16u", "Value", 0x0101, "0x0101 (no data set)", 74, 2, []),
        (1, "Status", "(0000,0900) US [2] Status", 0xA700, a700, 76, 10, []),
        (2, "dicom.tag", "Tag", (0, 0x0900), "(0000,0900) Status", 76, 4, []),
        (2, "dicom.tag.vl", "Length", 2, "2", 80, 4, []),
        (2, "dicom.tag.value.16u", "Value", 0xA700, a700, 84, 2, []),
        (1, "OffendingElement", "(0000,0901) AT [4] OffendingElement", (0x0010, 0x0020), "(0010,0020)", 86, 12, []),
        (2, "dicom.tag", "Tag", (0, 0x0901), "(0000,0901) Offending Element", 86, 4, []),
        (2, "dicom.tag.vl", "Length", 4, "4", 90, 4, []),
        (2, "dicom.tag.value.byte", "Value", (0x0010, 0x0020), "(0010,0020)", 94, 4, []),
        (1, "ErrorComment", "(0000,0902) LO [10] ErrorComment", "disk full", "disk full", 98, 18, []),
        (2, "dicom.tag", "Tag", (0, 0x0902), "(0000,0902) Error Comment", 98, 4, []),
        (2, "dicom.tag.vl", "Length", 10, "10", 102, 4, []),
        (2, "dicom.tag.value.str", "Value", "disk full", "disk full", 106, 10, []),
        (1, "AffectedSOPInstanceUID", "(0000,1000) UI [8] AffectedSOPInstanceUID", "1.2.3.4", "1.2.3.4", 116, 16, []),
        (2, "dicom.tag", "Tag", (0, 0x1000), "(0000,1000) Affected SOP Instance UID", 116, 4, []),
        (2, "dicom.tag.vl", "Length", 8, "8", 120, 4, []),
        (2, "dicom.tag.value.uid", "Value", "1.2.3.4", "1.2.3.4", 124, 8, []),
    ]
    assert (cs.command_field, cs.responds_to, cs.message_id, cs.status, cs.data_set_type) == (0x8001, 7, None,
                                                                                              0xA700, 0x0101)
    assert (cs.sop_class_uid, cs.affected_sop_instance_uid, cs.error_comment) == (CT, "1.2.3.4", "disk full")
    assert cs.raw_length == 132 and repr(cs) == "CommandSet(C-STORE-RSP, 132 bytes)"
    assert cs.json == {
        "00000000": {"vr": "UL", "Value": [120]}, "00000002": {"vr": "UI", "Value": [CT]},
        "00000100": {"vr": "US", "Value": [0x8001]}, "00000120": {"vr": "US", "Value": [7]},
        "00000800": {"vr": "US", "Value": [0x0101]}, "00000900": {"vr": "US", "Value": [0xA700]},
        "00000901": {"vr": "AT", "Value": ["00100020"]}, "00000902": {"vr": "LO", "Value": ["disk full"]},
        "00001000": {"vr": "UI", "Value": ["1.2.3.4"]}}


def test_four_byte_status_is_command_bad_status_error():
    """Issue 12's known survivor: Status (0000,0900) is US, VM 1 (PS3.7 §9.3.1.2); a 4-byte value is an ERROR."""
    body = (el(0, 0x0002, CT.encode() + b"\x00") + el(0, 0x0100, us(0x8001)) + el(0, 0x0120, us(7))
            + el(0, 0x0800, us(0x0101)) + el(0, 0x0900, us(0xA700) + us(0)) + el(0, 0x1000, b"1.2.3.4\x00"))
    cs = decode_command_set(with_group_length(body))
    assert [(f.severity, f.code, f.message) for f in cs.findings] == [
        ("error", "command-bad-status", "Status value is not a 2-byte US")]
    assert cs.status is None                                 # not a number the model could pair
    st = cs.tree.find("Status")
    assert st.value == [0xA700, 0] and st.display == "42752, 0" and st.length == 12
    assert cs.json["00000900"] == {"vr": "US", "Value": [0xA700, 0]}
    # One byte: raw bytes, still command-bad-status; shown as hex, exported as InlineBinary of VR UN.
    body1 = body.replace(el(0, 0x0900, us(0xA700) + us(0)), el(0, 0x0900, b"\xa7"))
    cs1 = decode_command_set(with_group_length(body1))
    assert [f.code for f in cs1.findings] == ["command-bad-status"]
    assert cs1.tree.find("Status").value == b"\xa7" and cs1.tree.find("Status").display == "a7"
    assert cs1.json["00000900"] == {"vr": "UN", "InlineBinary": "pw=="}
    # Empty Status: no value, still not a usable status.
    body0 = body.replace(el(0, 0x0900, us(0xA700) + us(0)), el(0, 0x0900, b""))
    cs0 = decode_command_set(with_group_length(body0))
    assert [f.code for f in cs0.findings] == ["command-bad-status"]
    assert cs0.tree.find("Status").value is None and cs0.tree.find("Status").display == "(empty)"
    assert cs0.json["00000900"] == {"vr": "US"}
    # A good 2-byte Status, and a request carrying a 4-byte Status (not a response): no command-bad-status.
    assert decode_command_set(STORE_RSP_FULL).findings == []
    rq = (el(0, 0x0002, b"1.2.840.10008.1.1\x00") + el(0, 0x0100, us(0x0030)) + el(0, 0x0110, us(1))
          + el(0, 0x0800, us(0x0101)) + el(0, 0x0900, us(1) + us(2)))
    assert [f.code for f in decode_command_set(with_group_length(rq)).findings] == []
    # A response without Status: a missing mandatory element, not a bad status.
    no_status = body.replace(el(0, 0x0900, us(0xA700) + us(0)), b"")
    assert [(f.severity, f.code, f.message) for f in decode_command_set(with_group_length(no_status)).findings] == [
        ("error", "command-missing-element", "C-STORE-RSP without mandatory Status (PS3.7 §9.3/§10.3)")]


def test_status_meaning_uses_the_sop_class_of_the_command_set():
    """0xB600 is a Print Management warning (PS3.4 H.4): the SOP class, Affected or Requested, selects it."""
    base = el(0, 0x0100, us(0x8120)) + el(0, 0x0120, us(2)) + el(0, 0x0800, us(0x0101)) + el(0, 0x0900, us(0xB600))
    for kw in (0x0002, 0x0003):         # Affected SOP Class UID, Requested SOP Class UID
        cs = decode_command_set(with_group_length(el(0, kw, PRINTER.encode()) + base))
        assert cs.tree.find("Status").display == "0xB600 Memory allocation not supported"
        assert cs.tree.find("Status").children[-1].display == "0xB600 Memory allocation not supported"
        assert cs.tree.display == "MessageIDBeingRespondedTo=2, Status=0xB600 Memory allocation not supported"
    cs = decode_command_set(with_group_length(base))
    assert cs.tree.find("Status").display == "0xB600 Warning"
    assert cs.tree.display == "MessageIDBeingRespondedTo=2, Status=0xB600 Warning"


def test_values_by_vr_and_their_displays():
    """US/UL/AT multiplicity, odd lengths, empty values, long text; the value key per VR (Wireshark's names)."""
    long_comment = b"E" * 70
    data = (el(0, 0x0100, us(0x8030)) + el(0, 0x0120, us(3) + us(4)) + el(0, 0x0800, b"\x01")
            + el(0, 0x0900, us(0)) + el(0, 0x0901, b"") + el(0, 0x0902, long_comment)
            + el(0, 0x1001, b"\x10\x00\x10\x00\x10\x00\x20") + el(0, 0x1005, b"\x10\x00"))
    cs = decode_command_set(data)
    t = cs.tree
    mid = t.find("MessageIDBeingRespondedTo")
    assert mid.value == [3, 4] and mid.display == "3, 4" and cs.responds_to is None
    dst = t.find("CommandDataSetType")
    assert dst.value == b"\x01" and dst.display == "01" and cs.data_set_type is None and not cs.has_data_set
    off = t.find("OffendingElement")
    assert off.value is None and off.display == "(empty)" and off.children[-1].key == "dicom.tag.value.byte"
    ec = t.find("ErrorComment")
    assert ec.value == "E" * 70 and ec.display == "E" * 64 + "…"
    assert ec.children[-1].key == "dicom.tag.value.str"
    # (0000,1001) Requested SOP Instance UID is UI: the text as read (latin-1), trailing NUL/space stripped.
    assert t.find("RequestedSOPInstanceUID").value == "\x10\x00\x10\x00\x10"
    at_short = t.find("AttributeIdentifierList")              # (0000,1005) AT with 2 bytes: raw
    assert at_short.value == b"\x10\x00" and at_short.display == "(empty)"
    assert cs.json["00001005"] == {"vr": "UN", "InlineBinary": "EAA="}
    assert cs.json["00000901"] == {"vr": "AT"}
    assert cs.json["00000120"] == {"vr": "US", "Value": [3, 4]}
    # Exactly 64 characters: no ellipsis.
    cs64 = decode_command_set(el(0, 0x0902, b"F" * 64))
    assert cs64.tree.find("ErrorComment").display == "F" * 64


def test_value_keys_for_signed_and_unsigned_and_byte_vrs():
    """Elements outside group 0000 (flagged) reach the other VR families; dictionary VR "US or SS" reads as US."""
    data = (el(0x0018, 0x9219, struct.pack("<h", -2))             # SS Tag Angle Second Axis
            + el(0x0018, 0x6020, struct.pack("<i", -70000))       # SL Reference Pixel X0
            + el(0x0028, 0x0106, us(65535))                       # "US or SS" Smallest Image Pixel Value
            + el(0x0028, 0x1201, b"\x01\x02\x03")                 # OW Red Palette Color LUT Data
            + el(0x7FE0, 0x0010, b"\x00" * 17)                    # "OB or OW" Pixel Data, 17 bytes
            + el(0x0008, 0x0202, b"xy"))                          # dictionary entry without a keyword
    cs = decode_command_set(data)
    t = cs.tree
    got = [(f.key, f.value, f.display, f.children[-1].key) for f in t.children]
    assert got == [
        ("TagAngleSecondAxis", -2, "-2", "dicom.tag.value.16s"),
        ("ReferencePixelX0", -70000, "-70000", "dicom.tag.value.32s"),
        ("SmallestImagePixelValue", 65535, "65535", "dicom.tag.value.16u"),
        ("RedPaletteColorLookupTableData", b"\x01\x02\x03", "01 02 03", "dicom.tag.value.byte"),
        ("PixelData", b"\x00" * 17, "00 " * 15 + "00 …", "dicom.tag.value.byte"),
        ("Unknown (0008,0202)", b"xy", "78 79", "dicom.tag.value.byte"),
    ]
    assert [f.label for f in t.children] == [
        "(0018,9219) SS [2] TagAngleSecondAxis", "(0018,6020) SL [4] ReferencePixelX0",
        "(0028,0106) US [2] SmallestImagePixelValue", "(0028,1201) OW [3] RedPaletteColorLookupTableData",
        "(7FE0,0010) OB [17] PixelData", "(0008,0202) OB [2] Unknown"]
    assert [f.children[0].display for f in t.children] == [
        "(0018,9219) Tag Angle Second Axis", "(0018,6020) Reference Pixel X0",
        "(0028,0106) Smallest Image Pixel Value", "(0028,1201) Red Palette Color Lookup Table Data",
        "(7FE0,0010) Pixel Data", "(0008,0202) Retired-blank"]
    assert all(f.findings[0].code == "command-not-group-0000" for f in t.children)
    assert t.children[0].findings == [
        Finding("warning", "command-not-group-0000",
            "(0018,9219) Tag Angle Second Axis: element of group 0018 in a command set (PS3.7 §6.3.1)")]
    assert [f.code for f in t.children[1].findings] == ["command-not-group-0000", "command-element-order"]
    js = cs.json
    assert js["00189219"] == {"vr": "SS", "Value": [-2]}
    assert js["00281201"] == {"vr": "OW", "InlineBinary": "AQID"}
    assert js["7FE00010"] == {"vr": "OB", "InlineBinary": "AAAAAAAAAAAAAAAAAAAAAAA="}
    assert list(js) == sorted(js)                                  # tag order, whatever the VRs
    assert cs.elements["Unknown (0008,0202)"] == b"xy"
    # 16 bytes of Pixel Data: all shown, no ellipsis.
    assert decode_command_set(el(0x7FE0, 0x0010, b"\x01" * 16)).tree.children[0].display == "01 " * 15 + "01"


def test_at_values_signed_range_and_stray_bytes():
    """AT is two unsigned 16-bit numbers (PS3.5 §6.2); a value that is not a multiple of 4 keeps whole tags."""
    data = el(0, 0x0901, struct.pack("<HH", 0x8010, 0xFFFE) + struct.pack("<HH", 0x0010, 0x0010) + b"\x09")
    cs = decode_command_set(data)
    assert cs.elements["OffendingElement"] == [(0x8010, 0xFFFE), (0x0010, 0x0010)]
    assert cs.tree.find("OffendingElement").display == "(8010,FFFE), (0010,0010)"


def test_text_values_strip_only_nul_and_space_padding():
    data = el(0, 0x0600, b"DESTX ") + el(0, 0x0902, b"X\x00")
    cs = decode_command_set(data)
    assert cs.move_destination == "DESTX" and cs.error_comment == "X"
    assert cs.json["00000600"] == {"vr": "AE", "Value": ["DESTX"]}
    # Backslash separates values in the JSON model (PS3.18 §F.2.5); empty text has no Value.
    cs2 = decode_command_set(el(0, 0x0902, b"A\\B ") + el(0, 0x0600, b"  "))
    assert cs2.json["00000902"] == {"vr": "LO", "Value": ["A", "B"]}
    assert cs2.json["00000600"] == {"vr": "AE"}


def test_last_element_with_empty_value_is_decoded_not_truncated():
    """An element of length 0 at the very end is 8 header bytes: complete (PS3.5 §7.1.3)."""
    data = el(0, 0x0100, us(0x0030)) + el(0, 0x0110, us(5)) + el(0, 0x0800, us(0x0101)) + el(0, 0x0002, b"")
    cs = decode_command_set(data)
    assert "AffectedSOPClassUID" in cs.elements and cs.elements["AffectedSOPClassUID"] == ""
    f = cs.tree.children[-1]
    assert (f.key, f.offset, f.length, f.display) == ("AffectedSOPClassUID", 30, 8, "(empty)")
    assert [f.code for f in cs.findings] == ["command-missing-element", "command-element-order"]


def test_truncated_header_and_overrun_exact():
    """Element header cut short (8 bytes needed) and a value length past the end (PS3.7 §6.3.1)."""
    head = el(0, 0x0100, us(0x0030)) + el(0, 0x0110, us(5))
    cs = decode_command_set(head + b"\x00\x00\x00")
    last = cs.tree.children[-1]
    assert (last.key, last.label, last.value, last.display, last.offset, last.length) == (
        "dicom.truncated", "Element header", b"\x00\x00\x00", "truncated: 3 of 8 bytes", 20, 3)
    assert [(x.severity, x.code, x.message) for x in last.findings] == [
        ("error", "command-truncated", "element header cut short at offset 20: 3 of 8 bytes")]
    assert "MessageID" in cs.elements                       # what came before is kept

    over = head + el(0, 0x0800, us(0x0101), vl=20) + el(0, 0x0002, b"1.2\x00")      # 14 bytes after the header
    cs = decode_command_set(over)
    f = cs.tree.children[-1]
    assert (f.key, f.offset, f.length, f.value) == ("CommandDataSetType", 20, 8 + 14, None)
    assert f.display == "truncated: value length 20 runs past the end of the command set (14 bytes left)"
    assert [(x.severity, x.code, x.message) for x in f.findings] == [
        ("error", "command-element-overrun", "(0000,0800) Command Data Set Type: value length 20 runs past the end"
                                             " of the command set (14 bytes left)")]
    assert [c.key for c in f.children] == ["dicom.tag", "dicom.tag.vl"]
    assert "CommandDataSetType" not in cs.elements and "AffectedSOPClassUID" not in cs.elements
    assert cs.data_set_type is None

    undef = head + el(0, 0x0800, b"", vl=0xFFFFFFFF)
    f = decode_command_set(undef).tree.children[-1]
    assert f.display == "truncated: undefined length (0xFFFFFFFF) is not allowed in a command set"
    assert f.findings[0].message == ("(0000,0800) Command Data Set Type: undefined length (0xFFFFFFFF)"
                                     " is not allowed in a command set")
    # An overrun by fewer than 8 bytes, not in first position, is still an overrun in the value map.
    short = el(0, 0x0100, us(0x0030)) + el(0, 0x0110, us(5), vl=4)
    cs = decode_command_set(short)
    assert cs.message_id is None and "MessageID" not in cs.elements and cs.command_field == 0x0030


def test_unknown_tag_value_is_exactly_its_bytes_when_not_last():
    data = el(0, 0x7777, b"abc") + el(0, 0x0100, us(0x0030))
    cs = decode_command_set(data)
    assert cs.elements["Unknown (0000,7777)"] == b"abc" and cs.command_field == 0x0030
    f = cs.tree.children[0]
    assert (f.label, f.value, f.display, f.length) == ("(0000,7777) UN [3] Unknown", b"abc", "61 62 63", 11)
    assert f.children[0].display == "(0000,7777) Unknown"
    assert cs.json["00007777"] == {"vr": "UN", "InlineBinary": "YWJj"}


def test_order_duplicate_and_group_length_findings_exact():
    # Duplicate Message ID: the first value is kept; the duplicate is named as such (PS3.5 §7.1).
    data = el(0, 0x0100, us(0x0030)) + el(0, 0x0110, us(5)) + el(0, 0x0110, us(6)) + el(0, 0x0100, us(0x0001))
    cs = decode_command_set(data)
    assert cs.message_id == 5 and cs.command_field == 0x0030
    assert [(x.severity, x.code, x.message) for _, f in cs.tree.walk() for x in f.findings
            if x.code == "command-element-order"] == [
        ("warning", "command-element-order", "(0000,0110) Message ID: duplicate element"),
        ("warning", "command-element-order", "(0000,0100) Command Field: out of ascending tag order (PS3.5 §7.1)")]
    # Group length that matches, given twice: the first one is checked (and it is right).
    body = el(0, 0x0100, us(0x0030)) + el(0, 0x0110, us(5)) + el(0, 0x0800, us(0x0101))
    gl = el(0, 0x0000, struct.pack("<I", len(body)))
    cs = decode_command_set(gl + el(0, 0x0000, struct.pack("<I", 999)) + body)
    gl_findings = [(x.severity, x.code, x.message) for x in cs.findings if x.code == "command-group-length"]
    assert gl_findings == [("warning", "command-group-length",
                            "Command Group Length says 30 bytes, the group has 42")]
    # A group length of 0 with nothing after it is right: no finding.
    cs = decode_command_set(el(0, 0x0000, struct.pack("<I", 0)))
    assert [x.code for x in cs.findings] == ["command-missing-element"]
    # Elements of another group after group 0000 do not count in its length.
    cs = decode_command_set(with_group_length(body) + el(0x0008, 0x0016, b"1.2\x00"))
    assert [x.code for x in cs.findings] == ["command-missing-element", "command-not-group-0000"]


def test_required_elements_findings_exact():
    cs = decode_command_set(el(0, 0x0100, us(0x0030)) + el(0, 0x0110, us(1)) + el(0, 0x0800, us(0x0101)))
    assert [(x.severity, x.code, x.message) for x in cs.findings] == [
        ("warning", "command-missing-element",
         "C-ECHO-RQ without mandatory CommandGroupLength (PS3.7 §9.3/§10.3)"),
        ("error", "command-missing-element",
         "C-ECHO-RQ without mandatory AffectedSOPClassUID (PS3.7 §9.3/§10.3)")]
    cs = decode_command_set(el(0, 0x0100, us(0x1234)))
    assert [(x.severity, x.code, x.message) for x in cs.findings] == [
        ("warning", "command-unknown", "unknown Command Field 0x1234 (PS3.7 Annex E)")]
    # A one-byte Command Field is no Command Field at all.
    cs = decode_command_set(el(0, 0x0100, b"\x30"))
    assert cs.command_field is None and cs.name == "Unknown (no Command Field)"
    assert cs.tree.label == "Command Set: Unknown (no Command Field)" and cs.tree.value is None
    assert [(x.severity, x.code, x.message) for x in cs.findings] == [
        ("error", "command-missing-element", "no Command Field (0000,0100): not a decodable command set")]
    assert decode_command_set(b"").tree.label == "Command Set: Unknown (no Command Field)"


def test_one_byte_priority_and_ids_are_not_numbers():
    cs = decode_command_set(el(0, 0x0100, us(0x0020)) + el(0, 0x0110, b"\x07") + el(0, 0x0700, b"\x02"))
    assert cs.priority is None and cs.message_id is None
    assert cs.tree.find("Priority").display == "02"
    assert cs.tree.display == ""
