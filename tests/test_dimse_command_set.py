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
    assert t.find("CommandField").label == "(0000,0100) Command Field"
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
