"""Tests for dicomsniff.ul.dissect: every PDU type, every user-information sub-item, malformed input."""

from __future__ import annotations

import json
import pathlib
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dicomsniff.field import Field
from dicomsniff.textsafe import safe_markup
from dicomsniff.ul.dissect import build_pdata_tree, dissect_pdu, pdata_info
from dicomsniff.ul.pdus import Abort, AssociateRJ, AssociateRQ, PData, Pdv, Release
from tests.pdu_fixtures import (APP_CONTEXT, COMMAND, CT_STORAGE, DATA, DEFLATED_LE, EXPLICIT_BE, EXPLICIT_LE,
                                IMPLICIT_LE, LAST, PYNETDICOM_ASSOC_AC_ZERO_TS, PYNETDICOM_ASSOC_RJ,
                                PYNETDICOM_ASSOC_RQ, PYNETDICOM_ASSOC_RQ_USER_ASYNC, PYNETDICOM_P_ABORT,
                                PYNETDICOM_P_DATA_TF, STORAGE_SERVICE, STUDY_ROOT_FIND, VERIFICATION, abort,
                                assoc_ac, assoc_rj, assoc_rq, async_window, common_ext_neg, ext_neg, item,
                                pctx_rq, pdata, pdu, pdv, release_rp, release_rq, role_selection, user_identity_ac,
                                user_identity_rq)

EXTERNAL = pathlib.Path("/work/shared/external-captures/dicom_arq_1_find_testclient.pcap")


def check_tree(tree: Field, n: int) -> None:
    """Generic invariants: every span inside the data, children inside parents, JSON-serialisable."""
    assert tree.offset == 0 and tree.length == n
    for _, f in tree.walk():
        assert 0 <= f.offset and f.length >= 0 and f.end <= n, (f.key, f.label, f.offset, f.length, n)
        for ch in f.children:
            assert f.offset <= ch.offset and ch.end <= f.end, (f.key, ch.key, f.offset, f.end, ch.offset, ch.end)
    json.loads(json.dumps(tree.to_json()))


def codes(d) -> set[str]:
    return {f.code for f in d.findings}


def full_user_items() -> bytes:
    return (role_selection(CT_STORAGE, 0, 1) + async_window(3, 2) + ext_neg(STUDY_ROOT_FIND, b"\x01\x00\x01")
            + common_ext_neg(CT_STORAGE, STORAGE_SERVICE, [CT_STORAGE + ".1", "1.2.3"])
            + user_identity_rq(2, b"alice", b"hunter2", 1))


WELL_FORMED = {
    "rq": assoc_rq(),
    "rq-full": assoc_rq(contexts=[(1, VERIFICATION, [IMPLICIT_LE]), (3, CT_STORAGE, [EXPLICIT_LE, IMPLICIT_LE])],
                        extra_user_items=full_user_items()),
    "ac": assoc_ac(results=[(1, 0, IMPLICIT_LE), (3, 3, IMPLICIT_LE)], extra_user_items=user_identity_ac(b"tok")),
    "rj": assoc_rj(1, 1, 7),
    "pdata": pdata([(1, COMMAND | LAST, b"c" * 20), (1, DATA, b"d" * 9)]),
    "release-rq": release_rq(),
    "release-rp": release_rp(),
    "abort": abort(2, 2),
    "pyn-rq": PYNETDICOM_ASSOC_RQ,
    "pyn-rq-user": PYNETDICOM_ASSOC_RQ_USER_ASYNC,
    "pyn-ac": PYNETDICOM_ASSOC_AC_ZERO_TS,
    "pyn-rj": PYNETDICOM_ASSOC_RJ,
    "pyn-abort": PYNETDICOM_P_ABORT,
    "pyn-pdata": PYNETDICOM_P_DATA_TF,
}


# -- well-formed PDUs -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(WELL_FORMED))
def test_well_formed_has_no_errors_and_valid_spans(name):
    data = WELL_FORMED[name]
    d = dissect_pdu(data)
    check_tree(d.tree, len(data))
    assert d.pdu_type == data[0]
    assert d.length == len(data) - 6
    assert not [f for f in d.findings if f.severity in ("warning", "error")], d.findings
    assert d.tree.find("dicom.pdu.type").value == data[0]
    assert d.tree.find("dicom.pdu.len").value == len(data) - 6


def test_associate_rq_fields_and_body():
    d = dissect_pdu(assoc_rq("FINDSCU", "ANY-SCP",
                             contexts=[(1, STUDY_ROOT_FIND, [EXPLICIT_LE, IMPLICIT_LE]),
                                       (3, VERIFICATION, [IMPLICIT_LE])],
                             max_pdu=32768))
    assert d.info == "A-ASSOCIATE-RQ FINDSCU → ANY-SCP"
    assert d.tree.display == d.info
    t = d.tree
    assert t.find("dicom.assoc.version").value == 1
    assert t.find("dicom.assoc.ae.calling").value == "FINDSCU"
    assert t.find("dicom.assoc.ae.called").value == "ANY-SCP"
    assert t.find("dicom.actx").value == APP_CONTEXT
    assert [f.value for f in t.find_all("dicom.pctx.id")] == [1, 3]
    assert [f.value for f in t.find_all("dicom.pctx.abss.syntax")] == [STUDY_ROOT_FIND, VERIFICATION]
    abss = t.find("dicom.pctx.abss.syntax")
    assert abss.display == "1.2.840.10008.5.1.4.1.2.2.1 (Study Root Query/Retrieve Information Model - FIND)"
    assert t.find("dicom.max_pdu_len").value == 32768
    b = d.body
    assert isinstance(b, AssociateRQ) and not b.accept
    assert (b.calling_ae, b.called_ae, b.protocol_version) == ("FINDSCU", "ANY-SCP", 1)
    assert [(c.id, c.abstract_syntax, c.transfer_syntaxes) for c in b.contexts] == [
        (1, STUDY_ROOT_FIND, [EXPLICIT_LE, IMPLICIT_LE]), (3, VERIFICATION, [IMPLICIT_LE])]
    assert b.user_info.max_pdu_length == 32768
    # Spans: the called AE title is bytes 10..25 of the PDU.
    called = t.find("dicom.assoc.ae.called")
    assert (called.offset, called.length) == (10, 16)
    assert t.find("dicom.actx").offset == 74 + 4


def test_associate_ac_results_and_not_significant_transfer_syntax():
    data = assoc_ac("FINDSCU", "ANY-SCP", results=[(1, 0, EXPLICIT_LE), (3, 4, IMPLICIT_LE), (5, 1, None)])
    d = dissect_pdu(data)
    assert d.info == "A-ASSOCIATE-AC FINDSCU ← ANY-SCP"
    b = d.body
    assert b.accept
    assert [(c.id, c.result) for c in b.contexts] == [(1, 0), (3, 4), (5, 1)]
    assert b.contexts[0].transfer_syntaxes == [EXPLICIT_LE]
    results = d.tree.find_all("dicom.pctx.result")
    assert [r.display for r in results] == ["acceptance (0)",
                                            "transfer-syntaxes-not-supported (provider rejection) (4)",
                                            "user-rejection (1)"]
    ts = d.tree.find_all("dicom.pctx.xfer.syntax")
    assert "not significant" not in ts[0].display
    assert "not significant" in ts[1].display
    assert not [f for f in d.findings if f.severity in ("warning", "error")]


def test_associate_ac_zero_length_ts_in_rejected_context_is_fine():
    d = dissect_pdu(PYNETDICOM_ASSOC_AC_ZERO_TS)
    assert [(c.id, c.result, c.transfer_syntaxes) for c in d.body.contexts] == [
        (1, 0, [EXPLICIT_LE]), (3, 3, [])]
    assert "zero-length-item" not in codes(d)
    assert d.body.user_info.implementation_version == "MergeCOM3_390IB2"
    assert d.body.user_info.max_pdu_length == 28672


@pytest.mark.parametrize("result,source,reason,info", [
    (1, 1, 7, "A-ASSOCIATE-RJ rejected-permanent: called-AE-title-not-recognized (service-user)"),
    (1, 1, 3, "A-ASSOCIATE-RJ rejected-permanent: calling-AE-title-not-recognized (service-user)"),
    (2, 3, 1, "A-ASSOCIATE-RJ rejected-transient: temporary-congestion (service-provider presentation)"),
    (1, 2, 2, "A-ASSOCIATE-RJ rejected-permanent: protocol-version-not-supported (service-provider ACSE)"),
    (1, 1, 5, "A-ASSOCIATE-RJ rejected-permanent: reserved (0x05) (service-user)"),
])
def test_associate_rj(result, source, reason, info):
    d = dissect_pdu(assoc_rj(result, source, reason))
    assert d.info == info
    assert isinstance(d.body, AssociateRJ)
    assert (d.body.result, d.body.source, d.body.reason) == (result, source, reason)
    assert d.tree.find("dicom.assoc.reject.reason").value == reason


def test_associate_rj_unknown_codes():
    d = dissect_pdu(assoc_rj(9, 8, 0x33))
    assert "Unknown (0x09)" in d.info and "Unknown (0x08)" in d.info and "Unknown (0x33)" in d.info
    assert "unknown-value" in codes(d)


@pytest.mark.parametrize("data,info,body", [
    (release_rq(), "A-RELEASE-RQ", Release(reply=False)),
    (release_rp(), "A-RELEASE-RP", Release(reply=True)),
    (abort(2, 2), "A-ABORT service-provider: unexpected-PDU", Abort(2, 2)),
    (abort(2, 6), "A-ABORT service-provider: invalid-PDU-parameter-value", Abort(2, 6)),
    (abort(0, 0), "A-ABORT service-user", Abort(0, 0)),
    (PYNETDICOM_P_ABORT, "A-ABORT service-provider: unrecognized-PDU-parameter", Abort(2, 4)),
])
def test_release_and_abort(data, info, body):
    d = dissect_pdu(data)
    assert d.info == info
    assert d.body == body


def test_pdata_tree_and_info():
    data = pdata([(1, COMMAND | LAST, b"c" * 74), (3, DATA, b"d" * 10), (3, DATA | LAST, b"e")])
    d = dissect_pdu(data)
    assert d.info == "P-DATA-TF ctx 1 Command, Last; ctx 3 Data, More; ctx 3 Data, Last"
    assert isinstance(d.body, PData)
    assert [(p.context_id, p.control, p.value_length) for p in d.body.pdvs] == [(1, 3, 74), (3, 0, 10), (3, 2, 1)]
    first = d.tree.find("dicom.pdv")
    assert first.label == "PDV ctx 1, Command, Last fragment (74 bytes)"
    assert [c.key for c in first.children] == ["dicom.pdv.len", "dicom.pdv.ctx", "dicom.pdv.flags", "dicom.pdv.data"]
    flags = first.find("dicom.pdv.flags")
    assert [c.label for c in flags.children] == [".... ...1 = Command", ".... ..1. = Last fragment"]
    dv = first.find("dicom.pdv.data")
    assert dv.value is None and dv.display == "74 bytes" and (dv.offset, dv.length) == (12, 74)
    second_flags = d.tree.find_all("dicom.pdv.flags")[1]
    assert [c.label for c in second_flags.children] == [".... ...0 = Data set", ".... ..0. = More fragments"]


def test_pdata_tree_from_headers_matches_dissect():
    data = pdata([(1, COMMAND | LAST, b"c" * 40), (1, DATA, b"d" * 7)])
    d = dissect_pdu(data)
    streamed = build_pdata_tree(d.length, d.body.pdvs, [])
    assert streamed.to_json() == d.tree.to_json()
    assert pdata_info(d.body.pdvs) == d.info


def test_build_pdata_tree_attaches_findings_and_bounds_many_pdvs():
    from dicomsniff.field import Finding
    pdvs = [Pdv(6 + i * 7, 3, 1, 0) for i in range(5000)]
    tree = build_pdata_tree(5000 * 7, pdvs, [Finding("error", "pdv-length-invalid", "x")])
    assert len(tree.find_all("dicom.pdv")) == 4096
    assert tree.find("dicom.pdv.more").value == 904
    assert "pdv-length-invalid" in {f.code for f in tree.findings}
    check_tree(tree, 6 + 5000 * 7)
    assert pdata_info(pdvs).endswith("(+4996 PDVs)")


def test_pdata_reserved_flag_bits_and_even_context():
    d = dissect_pdu(pdata([(2, 0x07, b"xy")]))
    assert {"pdv-flags-reserved", "even-context-id"} <= codes(d)


@pytest.mark.parametrize("body,code", [
    (pdv(1, 3, b"abc", length=1), "pdv-length-invalid"),        # PDV length < 2
    (pdv(1, 3, b"abc", length=50), "pdv-length-invalid"),       # runs past the PDU
    (pdv(1, 3, b"abc") + b"\x00\x00", "pdv-truncated"),         # PDU ends inside a PDV header
])
def test_pdata_bad_pdv_lengths(body, code):
    data = pdu(0x04, body)
    d = dissect_pdu(data)
    assert code in codes(d)
    check_tree(d.tree, len(data))


def test_pdata_without_pdv():
    d = dissect_pdu(pdu(0x04, b""))
    assert d.info == "P-DATA-TF (no PDV)" and "no-pdv" in codes(d)


# -- user information sub-items ---------------------------------------------------------------------------------

def test_user_info_all_sub_items():
    d = dissect_pdu(assoc_rq(extra_user_items=full_user_items(), impl_version="VER_1"))
    ui = d.body.user_info
    assert ui.implementation_version == "VER_1"
    assert ui.async_window == (3, 2)
    assert [(r.sop_class_uid, r.scu_role, r.scp_role) for r in ui.roles] == [(CT_STORAGE, 0, 1)]
    assert ui.extended_negotiation == [(STUDY_ROOT_FIND, b"\x01\x00\x01")]
    assert ui.common_extended_negotiation == [(CT_STORAGE, STORAGE_SERVICE, [CT_STORAGE + ".1", "1.2.3"])]
    assert (ui.user_identity.type, ui.user_identity.response_requested, ui.user_identity.primary) == (2, 1, b"alice")
    assert ui.user_identity.secondary == b"hunter2"
    t = d.tree
    assert t.find("dicom.userinfo.asyncneg.maxnumopsinv").value == 3
    assert t.find("dicom.userinfo.asyncneg.maxnumopsper").value == 2
    assert t.find("dicom.userinfo.rolesel.sopclassuid").value == CT_STORAGE
    assert t.find("dicom.userinfo.rolesel.scurole").display == "non-support (0)"
    assert t.find("dicom.userinfo.rolesel.scprole").display == "support (1)"
    assert t.find("dicom.userinfo.extneg.sopclassuid").value == STUDY_ROOT_FIND
    assert t.find("dicom.userinfo.commonextneg.serviceclassuid").value == STORAGE_SERVICE
    assert [f.value for f in t.find_all("dicom.userinfo.commonextneg.relatedsopclassuid")] == [CT_STORAGE + ".1",
                                                                                              "1.2.3"]
    assert t.find("dicom.userinfo.user_identify.type").display == "username and passcode (2)"
    assert t.find("dicom.userinfo.user_identify.primary_field").value == "alice"
    assert t.find("dicom.userinfo.version").value == "VER_1"


def test_role_selection_in_ac_reads_accepted_rejected():
    d = dissect_pdu(assoc_ac(extra_user_items=role_selection(CT_STORAGE, 0, 1)))
    assert d.tree.find("dicom.userinfo.rolesel.scurole").display == "rejected (0)"
    assert d.tree.find("dicom.userinfo.rolesel.scprole").display == "accepted (1)"


def test_password_never_in_tree_json_or_info():
    secret = b"Pa55w0rd-XYZ"
    data = assoc_rq(extra_user_items=user_identity_rq(2, b"alice", secret, 1))
    d = dissect_pdu(data)
    dumped = json.dumps(d.tree.to_json())
    assert secret.decode() not in dumped
    assert secret.hex() not in dumped
    assert secret.decode() not in d.info
    sec = d.tree.find("dicom.userinfo.user_identify.secondary_field")
    assert sec.value is None and sec.display == "********"
    assert d.body.user_info.user_identity.secondary == secret       # typed body keeps it for "present" checks
    # Truncated inside the password: still no password characters in the tree.
    cut = dissect_pdu(data[:-4])
    assert secret[:8].decode() not in json.dumps(cut.tree.to_json())
    assert cut.tree.find("dicom.userinfo.user_identify.secondary_field").value is None


@pytest.mark.parametrize("id_type", [3, 4, 5])
def test_token_identities_show_length_and_preview_only(id_type):
    token = b"eyJhbGciOiJIUzI1NiJ9." + b"A" * 500
    d = dissect_pdu(assoc_rq(extra_user_items=user_identity_rq(id_type, token)))
    prim = d.tree.find("dicom.userinfo.user_identify.primary_field")
    assert prim.value is None
    assert prim.display.startswith(f"{len(token)} bytes: eyJhbGci")
    assert len(prim.display) < 60
    assert "A" * 100 not in json.dumps(d.tree.to_json())


def test_user_identity_ac_server_response():
    d = dissect_pdu(assoc_ac(extra_user_items=user_identity_ac(b"Accepted")))
    ident = d.body.user_info.user_identity
    assert ident.server_response == b"Accepted"
    f = d.tree.find("dicom.userinfo.user_identify.server_response")
    assert f.display == "8 bytes: Accepted" and f.value is None


def test_user_identity_findings():
    assert "missing-passcode" in codes(dissect_pdu(assoc_rq(extra_user_items=user_identity_rq(2, b"bob"))))
    d = dissect_pdu(assoc_rq(extra_user_items=user_identity_rq(1, b"bob", b"pw")))
    assert "unexpected-secondary-field" in codes(d)
    assert d.tree.find("dicom.userinfo.user_identify.secondary_field").display == "********"
    assert "unknown-value" in codes(dissect_pdu(assoc_rq(extra_user_items=user_identity_rq(9, b"x"))))


def test_max_pdu_zero_is_unlimited():
    d = dissect_pdu(assoc_rq(max_pdu=0))
    f = d.tree.find("dicom.max_pdu_len")
    assert f.value == 0 and f.display == "0 (unlimited)"


def test_unknown_user_info_sub_item_is_raw_and_decoding_goes_on():
    data = assoc_rq(extra_user_items=item(0x5A, b"\x01\x02\x03") + async_window(1, 1))
    d = dissect_pdu(data)
    unk = d.tree.find("dicom.userinfo.unknown")
    assert unk.label == "Unknown item (0x5A)"
    assert unk.find("dicom.userinfo.data").display == "3 bytes"
    assert d.body.user_info.unknown_items == [0x5A]
    assert d.body.user_info.async_window == (1, 1)      # decoded after the unknown one
    assert "unknown-item" in codes(d)
    check_tree(d.tree, len(data))


def test_unknown_top_level_item_and_misplaced_item():
    rq = assoc_rq()
    body = rq[6:] + item(0x5A, b"zz") + pctx_rq(5, VERIFICATION, [IMPLICIT_LE])
    d = dissect_pdu(pdu(0x01, body))
    unk = d.tree.find("dicom.assoc.item.unknown")
    assert unk.label == "Unknown item (0x5A)" and unk.find("dicom.assoc.item.data").value == b"zz"
    assert [c.id for c in d.body.contexts] == [1, 5]
    # A presentation context AC item (0x21) inside a request: decoded, with a warning.
    d2 = dissect_pdu(pdu(0x01, rq[6:] + item(0x21, bytes([7, 0, 0, 0]) + item(0x40, IMPLICIT_LE.encode()))))
    assert "unexpected-item" in codes(d2)
    # An abstract syntax sub-item at top level is not decodable there: raw + warning.
    d3 = dissect_pdu(pdu(0x01, rq[6:] + item(0x30, VERIFICATION.encode())))
    assert "unexpected-item" in codes(d3)


# -- malformed fields ---------------------------------------------------------------------------------------------

def test_bad_protocol_version():
    d = dissect_pdu(assoc_rq(version=2))
    assert "bad-version" in codes(d)
    assert d.body.protocol_version == 2


def test_even_context_id_and_missing_syntaxes():
    d = dissect_pdu(assoc_rq(contexts=[(2, VERIFICATION, [IMPLICIT_LE]), (3, None, [IMPLICIT_LE]),
                                       (5, CT_STORAGE, [])]))
    c = codes(d)
    assert {"even-context-id", "no-abstract-syntax", "no-transfer-syntax"} <= c


def test_ac_with_two_transfer_syntaxes():
    ac = assoc_ac()
    extra = item(0x21, bytes([3, 0, 0, 0]) + item(0x40, IMPLICIT_LE.encode()) + item(0x40, EXPLICIT_LE.encode()))
    d = dissect_pdu(pdu(0x02, ac[6:] + extra))
    assert "multiple-transfer-syntax" in codes(d)
    assert "no-transfer-syntax" in codes(dissect_pdu(assoc_ac(results=[(1, 0, None)])))


def test_reserved_nonzero_is_a_note():
    data = bytearray(assoc_rq())
    data[8] = 0x7F                      # reserved bytes after the protocol version
    d = dissect_pdu(bytes(data))
    notes = [f for f in d.findings if f.code == "reserved-nonzero"]
    assert notes and all(f.severity == "note" for f in notes)
    d2 = dissect_pdu(PYNETDICOM_ASSOC_RQ.replace(b"\x2e\x01\x00\x00\x00", b"\x2e\x01\x00\xff\x00"))
    assert "reserved-nonzero" in codes(d2)


def test_zero_length_items():
    d = dissect_pdu(assoc_rq(contexts=[(1, "", [IMPLICIT_LE])], impl_version=""))
    assert "zero-length-item" in codes(d)


def test_item_overflow_is_clamped():
    ui = item(0x50, item(0x51, struct.pack(">I", 16384)) + item(0x55, b"VERSION", length=200))
    rq = assoc_rq(with_user_info=False)
    data = pdu(0x01, rq[6:] + ui)
    d = dissect_pdu(data)
    assert "item-overflow" in codes(d)
    assert d.body.user_info.max_pdu_length == 16384
    check_tree(d.tree, len(data))


def test_fixed_size_item_with_wrong_length():
    d = dissect_pdu(assoc_rq(max_pdu=None, extra_user_items=item(0x51, b"\x00\x01")))
    assert "item-length-invalid" in codes(d)
    assert d.body.user_info.max_pdu_length is None


def test_ae_title_all_spaces_and_escaping():
    d = dissect_pdu(assoc_rq(calling="                ", called="ANY-SCP"))
    assert "ae-title-empty" in codes(d)
    evil = b"\x1b[31mEVIL[red]"
    d = dissect_pdu(assoc_rq(calling=evil, called="ANY\x07SCP"))
    calling = d.tree.find("dicom.assoc.ae.calling")
    for text in (calling.display, d.info):
        assert "\x1b" not in text and "\x07" not in text
        assert "\\x1b[31mEVIL" in text
    assert "\\x07" in d.info
    assert "\\[red]" in safe_markup(d.info)
    assert calling.value == evil.decode()                 # the value stays what the wire said
    assert "ae-title-nonprintable" in codes(d)


def test_invalid_and_padded_uids():
    d = dissect_pdu(assoc_rq(contexts=[(1, "1.2.03.x", [IMPLICIT_LE + "\x00"])]))
    c = codes(d)
    assert "invalid-uid" in c and "uid-padded" in c
    assert d.body.contexts[0].transfer_syntaxes == [IMPLICIT_LE]


def test_unknown_application_context():
    assert "unknown-application-context" in codes(dissect_pdu(assoc_rq(app_ctx="1.2.3.4")))
    assert "no-application-context" in codes(dissect_pdu(assoc_rq(app_ctx=None)))


def test_trailing_bytes_and_bad_fixed_length():
    data = release_rq() + b"\x07\x00"
    d = dissect_pdu(data)
    assert "trailing-bytes" in codes(d)
    check_tree(d.tree, len(data))
    d2 = dissect_pdu(pdu(0x05, bytes(6)))
    assert {"bad-pdu-length", "pdu-extra-bytes"} <= codes(d2)


def test_unknown_pdu_type():
    data = pdu(0x09, b"\x01\x02\x03")
    d = dissect_pdu(data)
    assert d.body is None and "unknown-pdu-type" in codes(d)
    assert d.tree.find("dicom.pdu.type").display == "Unknown (0x09)"
    check_tree(d.tree, len(data))


# -- hostile and truncated input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(WELL_FORMED))
def test_truncated_at_every_byte(name):
    data = WELL_FORMED[name]
    for cut in range(len(data)):
        d = dissect_pdu(data[:cut])
        check_tree(d.tree, cut)
        assert "truncated" in codes(d), (name, cut)


@pytest.mark.parametrize("name", ["rq-full", "ac", "pyn-rq-user", "pyn-ac"])
@pytest.mark.parametrize("bad", [0xFFFF, 0, 1, 3])
def test_every_item_length_rewritten(name, bad):
    """Each item length field in turn set to a hostile value: never raises, spans stay inside."""
    data = WELL_FORMED[name]
    offsets = [f.offset for f in dissect_pdu(data).tree.find_all("dicom.assoc.item.len")]
    assert offsets
    for off in offsets:
        mutated = data[:off] + struct.pack(">H", bad) + data[off + 2:]
        d = dissect_pdu(mutated)
        check_tree(d.tree, len(mutated))
        if bad == 0xFFFF:
            assert "item-overflow" in codes(d)


def test_pdu_length_ffffffff_with_short_data():
    data = b"\x01\x00\xff\xff\xff\xff" + assoc_rq()[6:]
    d = dissect_pdu(data)
    assert d.length == 0xFFFFFFFF
    assert "truncated" in codes(d)
    check_tree(d.tree, len(data))
    d2 = dissect_pdu(b"\x04\x00\xff\xff\xff\xff" + pdv(1, 3, b"x" * 10))
    assert "truncated" in codes(d2)
    check_tree(d2.tree, 6 + 16)


def test_memoryview_input():
    data = WELL_FORMED["rq-full"]
    assert dissect_pdu(memoryview(data)).tree.to_json() == dissect_pdu(data).tree.to_json()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes(data):
    d = dissect_pdu(data)
    check_tree(d.tree, len(data))
    assert isinstance(d.info, str)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 7), st.binary(max_size=200), st.booleans())
def test_random_bodies_with_plausible_headers(pdu_type, body, honest):
    data = pdu(pdu_type, body) if honest else pdu(pdu_type, body, length=len(body) + 37)
    d = dissect_pdu(data)
    check_tree(d.tree, len(data))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 255))
def test_random_byte_flips_in_full_rq(pos, value):
    data = bytearray(WELL_FORMED["rq-full"])
    data[pos % len(data)] = value
    d = dissect_pdu(bytes(data))
    check_tree(d.tree, len(data))
    dumped = json.dumps(d.tree.to_json())
    for part in ("hunter2", "hunte", "unter", "68756e74"):
        assert part not in dumped


# -- cross-checks against other implementations ------------------------------------------------------------------

def test_external_capture_go_netdicom_rq():
    if not EXTERNAL.exists():
        pytest.skip("external capture not present")
    raw = EXTERNAL.read_bytes()
    i = raw.find(b"\x01\x00\x00\x00\x02\xa5")
    assert i >= 0
    d = dissect_pdu(raw[i:i + 683])
    b = d.body
    assert (b.calling_ae, b.called_ae, d.length) == ("testclient", "testserver", 677)
    assert len(b.contexts) == 4
    assert all(len(c.transfer_syntaxes) == 4 for c in b.contexts)
    assert set(b.contexts[0].transfer_syntaxes) == {IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE, DEFLATED_LE}
    assert b.user_info.max_pdu_length == 4194304
    assert b.user_info.implementation_version == "GODICOM_1_1"
    assert b.user_info.implementation_class_uid == "1.2.826.0.1.3680043.9.7133.1.1"
    assert d.info == "A-ASSOCIATE-RQ testclient → testserver"


def _pynetdicom_rq() -> bytes:
    from pynetdicom.pdu import A_ASSOCIATE_RQ
    from pynetdicom.pdu_primitives import (A_ASSOCIATE, AsynchronousOperationsWindowNegotiation,
                                           ImplementationClassUIDNotification,
                                           ImplementationVersionNameNotification, MaximumLengthNotification,
                                           SCP_SCU_RoleSelectionNegotiation, SOPClassCommonExtendedNegotiation,
                                           SOPClassExtendedNegotiation, UserIdentityNegotiation)
    from pynetdicom.presentation import build_context
    p = A_ASSOCIATE()
    p.application_context_name = APP_CONTEXT
    p.calling_ae_title, p.called_ae_title = "STORESCU", "PACS"
    c1 = build_context(VERIFICATION, [IMPLICIT_LE])
    c1.context_id = 1
    c3 = build_context(CT_STORAGE, [EXPLICIT_LE, IMPLICIT_LE])
    c3.context_id = 3
    p.presentation_context_definition_list = [c1, c3]
    m = MaximumLengthNotification()
    m.maximum_length_received = 32768
    i = ImplementationClassUIDNotification()
    i.implementation_class_uid = "1.2.3.4"
    v = ImplementationVersionNameNotification()
    v.implementation_version_name = "X_1"
    r = SCP_SCU_RoleSelectionNegotiation()
    r.sop_class_uid, r.scu_role, r.scp_role = CT_STORAGE, False, True
    a = AsynchronousOperationsWindowNegotiation()
    a.maximum_number_operations_invoked, a.maximum_number_operations_performed = 3, 2
    u = UserIdentityNegotiation()
    u.user_identity_type, u.primary_field, u.secondary_field = 2, b"alice", b"hunter2"
    u.positive_response_requested = True
    e = SOPClassExtendedNegotiation()
    e.sop_class_uid, e.service_class_application_information = STUDY_ROOT_FIND, b"\x01\x00\x01"
    ce = SOPClassCommonExtendedNegotiation()
    ce.sop_class_uid, ce.service_class_uid = CT_STORAGE, STORAGE_SERVICE
    ce.related_general_sop_class_identification = [CT_STORAGE + ".1"]
    p.user_information = [m, i, v, r, a, u, e, ce]
    rq = A_ASSOCIATE_RQ()
    rq.from_primitive(p)
    return rq.encode()


def test_pynetdicom_encoded_rq_decodes_to_same_values():
    pytest.importorskip("pynetdicom")
    data = _pynetdicom_rq()
    d = dissect_pdu(data)
    check_tree(d.tree, len(data))
    assert not [f for f in d.findings if f.severity in ("warning", "error")]
    b = d.body
    assert (b.calling_ae, b.called_ae, b.application_context) == ("STORESCU", "PACS", APP_CONTEXT)
    assert [(c.id, c.abstract_syntax, c.transfer_syntaxes) for c in b.contexts] == [
        (1, VERIFICATION, [IMPLICIT_LE]), (3, CT_STORAGE, [EXPLICIT_LE, IMPLICIT_LE])]
    ui = b.user_info
    assert (ui.max_pdu_length, ui.implementation_class_uid, ui.implementation_version) == (32768, "1.2.3.4", "X_1")
    assert [(x.sop_class_uid, x.scu_role, x.scp_role) for x in ui.roles] == [(CT_STORAGE, 0, 1)]
    assert ui.async_window == (3, 2)
    assert (ui.user_identity.type, ui.user_identity.primary, ui.user_identity.response_requested) == (2, b"alice", 1)
    assert ui.extended_negotiation == [(STUDY_ROOT_FIND, b"\x01\x00\x01")]
    assert ui.common_extended_negotiation == [(CT_STORAGE, STORAGE_SERVICE, [CT_STORAGE + ".1"])]
    assert "hunter2" not in json.dumps(d.tree.to_json())


def test_pynetdicom_decodes_our_builders_the_same():
    """Our fixtures, decoded by pynetdicom and by us, agree (guards the builders and the dissector)."""
    pytest.importorskip("pynetdicom")
    from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ, P_DATA_TF
    data = assoc_rq("FINDSCU", "ANY-SCP", contexts=[(1, STUDY_ROOT_FIND, [EXPLICIT_LE, IMPLICIT_LE])],
                    extra_user_items=role_selection(CT_STORAGE, 1, 0))
    theirs = A_ASSOCIATE_RQ()
    theirs.decode(data)
    ours = dissect_pdu(data).body
    assert theirs.calling_ae_title.strip() == ours.calling_ae
    assert theirs.called_ae_title.strip() == ours.called_ae
    ctx = theirs.presentation_context[0]
    assert (ctx.context_id, ctx.abstract_syntax, ctx.transfer_syntax) == (
        ours.contexts[0].id, ours.contexts[0].abstract_syntax, ours.contexts[0].transfer_syntaxes)

    ac = assoc_ac(results=[(1, 0, EXPLICIT_LE), (3, 3, IMPLICIT_LE)])
    t_ac = A_ASSOCIATE_AC()
    t_ac.decode(ac)
    o_ac = dissect_pdu(ac).body
    assert [(c.context_id, c.result) for c in t_ac.presentation_context] == [(c.id, c.result) for c in o_ac.contexts]

    rj = assoc_rj(2, 3, 2)
    t_rj = A_ASSOCIATE_RJ()
    t_rj.decode(rj)
    o_rj = dissect_pdu(rj).body
    assert (t_rj.result, t_rj.source, t_rj.reason_diagnostic) == (o_rj.result, o_rj.source, o_rj.reason)

    pd = pdata([(1, COMMAND | LAST, b"abc"), (3, DATA, b"defg")])
    t_pd = P_DATA_TF()
    t_pd.decode(pd)
    o_pd = dissect_pdu(pd).body
    assert [(x.presentation_context_id, x.item_length, x.presentation_data_value[0])
            for x in t_pd.presentation_data_value_items] == [(p.context_id, p.length, p.control) for p in o_pd.pdvs]


def test_corrupt_identity_lengths_hide_values():
    """A primary length that swallows the passcode must not show the passcode as the user name."""
    good = user_identity_rq(2, b"alice", b"hunter2")
    bad = good[:6] + struct.pack(">H", 14) + good[8:]       # primary length 5 -> 14
    d = dissect_pdu(assoc_rq(extra_user_items=bad))
    assert "user-identity-lengths" in codes(d)
    assert "hunter2" not in json.dumps(d.tree.to_json())
    assert d.body.user_info.user_identity.primary == b""


def test_no_passcode_leak_under_single_byte_damage():
    """Every byte of the identity-bearing user information, set to a few telling values: no passcode text."""
    data = WELL_FORMED["rq-full"]
    start = data.find(b"\x50\x00")
    for pos in range(start, len(data)):
        for v in {0x00, 0x01, 0x02, 0x51, 0x52, 0x58, 0xFF, (data[pos] + 1) & 0xFF, (data[pos] - 1) & 0xFF}:
            m = data[:pos] + bytes([v]) + data[pos + 1:]
            d = dissect_pdu(m)
            dumped = json.dumps(d.tree.to_json()) + d.info
            assert not any(x in dumped for x in ("hunte", "unter", "nter2", "68756e74", "756e7465")), (pos, v)
