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


# -- exact trees: every field's key, label, value, display, offset and length (mutation testing, tests/MUTATION.md) --

# A-ASSOCIATE-RQ (PS3.8 §9.3.2): type 01, reserved, length 170 (bytes 0-5); protocol version 1 (6-7); reserved (8-9);
# called AE (10-25) and calling AE (26-41), 16 bytes space padded; 32 reserved bytes (42-73); then the items at 74:
# application context 0x10 (74, 4 + 21), presentation context 0x20 (99: id at 103, three reserved bytes, abstract
# syntax 0x30 at 107, transfer syntax 0x40 at 128), user information 0x50 (149) with Maximum Length 0x51 (153; the
# 4-byte value at 157, PS3.8 Annex D.1), Implementation Class UID 0x52 (161) and Version Name 0x55 (170).
EXACT_RQ_BASIC = (
    assoc_rq("FINDSCU", "ANY-SCP", contexts=[(1, VERIFICATION, [IMPLICIT_LE])], impl_uid="1.2.3", impl_version="V1"),
    'A-ASSOCIATE-RQ FINDSCU → ANY-SCP',
    [
        (0, 'dicom', 'DICOM', None, 'A-ASSOCIATE-RQ FINDSCU → ANY-SCP', 0, 176, []),
        (1, 'dicom.pdu.type', 'PDU Type', 1, 'A-ASSOCIATE-RQ (0x01)', 0, 1, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 1, 1, []),
        (1, 'dicom.pdu.len', 'PDU Length', 170, '170', 2, 4, []),
        (1, 'dicom.assoc.version', 'Protocol Version', 1, '1', 6, 2, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00\x00', '2 bytes, all zero', 8, 2, []),
        (1, 'dicom.assoc.ae.called', 'Called AE Title', 'ANY-SCP', 'ANY-SCP', 10, 16, []),
        (1, 'dicom.assoc.ae.calling', 'Calling AE Title', 'FINDSCU', 'FINDSCU', 26, 16, []),
        (1, 'dicom.assoc.reserved', 'Reserved', bytes(32), '32 bytes, all zero', 42, 32, []),
        (1, 'dicom.assoc.item.actx', 'Application Context', None, '1.2.840.10008.3.1.1.1 (DICOM Application Context Name)', 74, 25, []),
        (2, 'dicom.assoc.item.type', 'Item Type', 16, 'Application Context (0x10)', 74, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 75, 1, []),
        (2, 'dicom.assoc.item.len', 'Item Length', 21, '21', 76, 2, []),
        (2, 'dicom.actx', 'Application Context Name', '1.2.840.10008.3.1.1.1', '1.2.840.10008.3.1.1.1 (DICOM Application Context Name)', 78, 21, []),
        (1, 'dicom.pctx', 'Presentation Context (RQ)', None, 'ID 1, Verification SOP Class', 99, 50, []),
        (2, 'dicom.assoc.item.type', 'Item Type', 32, 'Presentation Context (RQ) (0x20)', 99, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 100, 1, []),
        (2, 'dicom.assoc.item.len', 'Item Length', 46, '46', 101, 2, []),
        (2, 'dicom.pctx.id', 'Presentation Context ID', 1, '1', 103, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 104, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 105, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 106, 1, []),
        (2, 'dicom.pctx.abss', 'Abstract Syntax', None, '1.2.840.10008.1.1 (Verification SOP Class)', 107, 21, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 48, 'Abstract Syntax (0x30)', 107, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 108, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 17, '17', 109, 2, []),
        (3, 'dicom.pctx.abss.syntax', 'Abstract Syntax', '1.2.840.10008.1.1', '1.2.840.10008.1.1 (Verification SOP Class)', 111, 17, []),
        (2, 'dicom.pctx.xfer', 'Transfer Syntax', None, '1.2.840.10008.1.2 (Implicit VR Little Endian)', 128, 21, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 64, 'Transfer Syntax (0x40)', 128, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 129, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 17, '17', 130, 2, []),
        (3, 'dicom.pctx.xfer.syntax', 'Transfer Syntax', '1.2.840.10008.1.2', '1.2.840.10008.1.2 (Implicit VR Little Endian)', 132, 17, []),
        (1, 'dicom.userinfo', 'User Information', None, '', 149, 27, []),
        (2, 'dicom.assoc.item.type', 'Item Type', 80, 'User Information (0x50)', 149, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 150, 1, []),
        (2, 'dicom.assoc.item.len', 'Item Length', 23, '23', 151, 2, []),
        (2, 'dicom.userinfo.maxlen', 'Maximum Length', None, '16384', 153, 8, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 81, 'Maximum Length (0x51)', 153, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 154, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 4, '4', 155, 2, []),
        (3, 'dicom.max_pdu_len', 'Maximum Length Received', 16384, '16384', 157, 4, []),
        (2, 'dicom.userinfo.impl_uid', 'Implementation Class UID', None, '1.2.3', 161, 9, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 82, 'Implementation Class UID (0x52)', 161, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 162, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 5, '5', 163, 2, []),
        (3, 'dicom.userinfo.uid', 'Implementation Class UID', '1.2.3', '1.2.3', 165, 5, []),
        (2, 'dicom.userinfo.impl_version', 'Implementation Version Name', None, 'V1', 170, 6, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 85, 'Implementation Version Name (0x55)', 170, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 171, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 2, '2', 172, 2, []),
        (3, 'dicom.userinfo.version', 'Implementation Version Name', 'V1', 'V1', 174, 2, []),
    ])


# A-ASSOCIATE-AC (PS3.8 §9.3.3): same fixed part; context 0x21 items carry id, reserved, result (byte 2 of the
# item body), reserved, then one transfer syntax; context 3 is rejected (3 = abstract-syntax-not-supported), so its
# transfer syntax "shall not be tested" (§9.3.3.2). Maximum Length 0 means unlimited (Annex D.1.1).
EXACT_AC_TWO = (
    assoc_ac("FINDSCU", "ANY-SCP", results=[(1, 0, EXPLICIT_LE), (3, 3, IMPLICIT_LE)], max_pdu=0, impl_uid="1.2.3", impl_version="V1"),
    'A-ASSOCIATE-AC FINDSCU ← ANY-SCP',
    [
        (0, 'dicom', 'DICOM', None, 'A-ASSOCIATE-AC FINDSCU ← ANY-SCP', 0, 186, []),
        (1, 'dicom.pdu.type', 'PDU Type', 2, 'A-ASSOCIATE-AC (0x02)', 0, 1, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 1, 1, []),
        (1, 'dicom.pdu.len', 'PDU Length', 180, '180', 2, 4, []),
        (1, 'dicom.assoc.version', 'Protocol Version', 1, '1', 6, 2, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00\x00', '2 bytes, all zero', 8, 2, []),
        (1, 'dicom.assoc.ae.called', 'Called AE Title', 'ANY-SCP', 'ANY-SCP', 10, 16, []),
        (1, 'dicom.assoc.ae.calling', 'Calling AE Title', 'FINDSCU', 'FINDSCU', 26, 16, []),
        (1, 'dicom.assoc.reserved', 'Reserved', bytes(32), '32 bytes, all zero', 42, 32, []),
        (1, 'dicom.assoc.item.actx', 'Application Context', None, '1.2.840.10008.3.1.1.1 (DICOM Application Context Name)', 74, 25, []),
        (2, 'dicom.assoc.item.type', 'Item Type', 16, 'Application Context (0x10)', 74, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 75, 1, []),
        (2, 'dicom.assoc.item.len', 'Item Length', 21, '21', 76, 2, []),
        (2, 'dicom.actx', 'Application Context Name', '1.2.840.10008.3.1.1.1', '1.2.840.10008.3.1.1.1 (DICOM Application Context Name)', 78, 21, []),
        (1, 'dicom.pctx', 'Presentation Context (AC)', None, 'ID 1, acceptance, Explicit VR Little Endian', 99, 31, []),
        (2, 'dicom.assoc.item.type', 'Item Type', 33, 'Presentation Context (AC) (0x21)', 99, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 100, 1, []),
        (2, 'dicom.assoc.item.len', 'Item Length', 27, '27', 101, 2, []),
        (2, 'dicom.pctx.id', 'Presentation Context ID', 1, '1', 103, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 104, 1, []),
        (2, 'dicom.pctx.result', 'Result', 0, 'acceptance (0)', 105, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 106, 1, []),
        (2, 'dicom.pctx.xfer', 'Transfer Syntax', None, '1.2.840.10008.1.2.1 (Explicit VR Little Endian)', 107, 23, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 64, 'Transfer Syntax (0x40)', 107, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 108, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 19, '19', 109, 2, []),
        (3, 'dicom.pctx.xfer.syntax', 'Transfer Syntax', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.1 (Explicit VR Little Endian)', 111, 19, []),
        (1, 'dicom.pctx', 'Presentation Context (AC)', None, 'ID 3, abstract-syntax-not-supported (provider rejection)', 130, 29, []),
        (2, 'dicom.assoc.item.type', 'Item Type', 33, 'Presentation Context (AC) (0x21)', 130, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 131, 1, []),
        (2, 'dicom.assoc.item.len', 'Item Length', 25, '25', 132, 2, []),
        (2, 'dicom.pctx.id', 'Presentation Context ID', 3, '3', 134, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 135, 1, []),
        (2, 'dicom.pctx.result', 'Result', 3, 'abstract-syntax-not-supported (provider rejection) (3)', 136, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 137, 1, []),
        (2, 'dicom.pctx.xfer', 'Transfer Syntax', None, '1.2.840.10008.1.2 (Implicit VR Little Endian) (not significant: context not accepted)', 138, 21, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 64, 'Transfer Syntax (0x40)', 138, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 139, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 17, '17', 140, 2, []),
        (3, 'dicom.pctx.xfer.syntax', 'Transfer Syntax', '1.2.840.10008.1.2', '1.2.840.10008.1.2 (Implicit VR Little Endian) (not significant: context not accepted)', 142, 17, []),
        (1, 'dicom.userinfo', 'User Information', None, '', 159, 27, []),
        (2, 'dicom.assoc.item.type', 'Item Type', 80, 'User Information (0x50)', 159, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 160, 1, []),
        (2, 'dicom.assoc.item.len', 'Item Length', 23, '23', 161, 2, []),
        (2, 'dicom.userinfo.maxlen', 'Maximum Length', None, '0 (unlimited)', 163, 8, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 81, 'Maximum Length (0x51)', 163, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 164, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 4, '4', 165, 2, []),
        (3, 'dicom.max_pdu_len', 'Maximum Length Received', 0, '0 (unlimited)', 167, 4, []),
        (2, 'dicom.userinfo.impl_uid', 'Implementation Class UID', None, '1.2.3', 171, 9, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 82, 'Implementation Class UID (0x52)', 171, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 172, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 5, '5', 173, 2, []),
        (3, 'dicom.userinfo.uid', 'Implementation Class UID', '1.2.3', '1.2.3', 175, 5, []),
        (2, 'dicom.userinfo.impl_version', 'Implementation Version Name', None, 'V1', 180, 6, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 85, 'Implementation Version Name (0x55)', 180, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 181, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 2, '2', 182, 2, []),
        (3, 'dicom.userinfo.version', 'Implementation Version Name', 'V1', 'V1', 184, 2, []),
    ])


# Every PS3.7 Annex D.3.3 sub-item in one request: role selection 0x54 (UID length, UID, SCU role, SCP role),
# asynchronous operations window 0x53 (invoked, performed: 0 = unlimited), SOP class extended negotiation 0x56
# (UID length, UID, application information), common extended negotiation 0x57 (SOP class, service class, related
# SOP classes with their own 2-byte lengths), user identity 0x58 (type 2, response requested, primary and secondary
# fields with 2-byte lengths; the passcode is shown masked).
EXACT_RQ_ALL_SUB_ITEMS = (
    assoc_rq("A", "B", contexts=[(1, CT_STORAGE, [EXPLICIT_LE])], impl_uid="1.2.3", impl_version=None, extra_user_items=role_selection(CT_STORAGE, 1, 0) + async_window(3, 0) + ext_neg(STUDY_ROOT_FIND, b"\x01\x00\x01") + common_ext_neg(CT_STORAGE, STORAGE_SERVICE, ["1.2.3"]) + user_identity_rq(2, b"alice", b"hunter2", 1)),
    'A-ASSOCIATE-RQ A → B',
    [
        (0, 'dicom', 'DICOM', None, 'A-ASSOCIATE-RQ A → B', 0, 338, []),
        (1, 'dicom.pdu.type', 'PDU Type', 1, 'A-ASSOCIATE-RQ (0x01)', 0, 1, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 1, 1, []),
        (1, 'dicom.pdu.len', 'PDU Length', 332, '332', 2, 4, []),
        (1, 'dicom.assoc.version', 'Protocol Version', 1, '1', 6, 2, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00\x00', '2 bytes, all zero', 8, 2, []),
        (1, 'dicom.assoc.ae.called', 'Called AE Title', 'B', 'B', 10, 16, []),
        (1, 'dicom.assoc.ae.calling', 'Calling AE Title', 'A', 'A', 26, 16, []),
        (1, 'dicom.assoc.reserved', 'Reserved', bytes(32), '32 bytes, all zero', 42, 32, []),
        (1, 'dicom.assoc.item.actx', 'Application Context', None, '1.2.840.10008.3.1.1.1 (DICOM Application Context Name)', 74, 25, []),
        (2, 'dicom.assoc.item.type', 'Item Type', 16, 'Application Context (0x10)', 74, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 75, 1, []),
        (2, 'dicom.assoc.item.len', 'Item Length', 21, '21', 76, 2, []),
        (2, 'dicom.actx', 'Application Context Name', '1.2.840.10008.3.1.1.1', '1.2.840.10008.3.1.1.1 (DICOM Application Context Name)', 78, 21, []),
        (1, 'dicom.pctx', 'Presentation Context (RQ)', None, 'ID 1, CT Image Storage', 99, 60, []),
        (2, 'dicom.assoc.item.type', 'Item Type', 32, 'Presentation Context (RQ) (0x20)', 99, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 100, 1, []),
        (2, 'dicom.assoc.item.len', 'Item Length', 56, '56', 101, 2, []),
        (2, 'dicom.pctx.id', 'Presentation Context ID', 1, '1', 103, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 104, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 105, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 106, 1, []),
        (2, 'dicom.pctx.abss', 'Abstract Syntax', None, '1.2.840.10008.5.1.4.1.1.2 (CT Image Storage)', 107, 29, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 48, 'Abstract Syntax (0x30)', 107, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 108, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 25, '25', 109, 2, []),
        (3, 'dicom.pctx.abss.syntax', 'Abstract Syntax', '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.5.1.4.1.1.2 (CT Image Storage)', 111, 25, []),
        (2, 'dicom.pctx.xfer', 'Transfer Syntax', None, '1.2.840.10008.1.2.1 (Explicit VR Little Endian)', 136, 23, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 64, 'Transfer Syntax (0x40)', 136, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 137, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 19, '19', 138, 2, []),
        (3, 'dicom.pctx.xfer.syntax', 'Transfer Syntax', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.1 (Explicit VR Little Endian)', 140, 19, []),
        (1, 'dicom.userinfo', 'User Information', None, '', 159, 179, []),
        (2, 'dicom.assoc.item.type', 'Item Type', 80, 'User Information (0x50)', 159, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 160, 1, []),
        (2, 'dicom.assoc.item.len', 'Item Length', 175, '175', 161, 2, []),
        (2, 'dicom.userinfo.maxlen', 'Maximum Length', None, '16384', 163, 8, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 81, 'Maximum Length (0x51)', 163, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 164, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 4, '4', 165, 2, []),
        (3, 'dicom.max_pdu_len', 'Maximum Length Received', 16384, '16384', 167, 4, []),
        (2, 'dicom.userinfo.impl_uid', 'Implementation Class UID', None, '1.2.3', 171, 9, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 82, 'Implementation Class UID (0x52)', 171, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 172, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 5, '5', 173, 2, []),
        (3, 'dicom.userinfo.uid', 'Implementation Class UID', '1.2.3', '1.2.3', 175, 5, []),
        (2, 'dicom.userinfo.rolesel', 'SCP/SCU Role Selection', None, 'CT Image Storage: SCU support, SCP non-support', 180, 33, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 84, 'SCP/SCU Role Selection (0x54)', 180, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 181, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 29, '29', 182, 2, []),
        (3, 'dicom.userinfo.rolesel.sopclassuid.len', 'SOP Class UID Length', 25, '25', 184, 2, []),
        (3, 'dicom.userinfo.rolesel.sopclassuid', 'SOP Class UID', '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.5.1.4.1.1.2 (CT Image Storage)', 186, 25, []),
        (3, 'dicom.userinfo.rolesel.scurole', 'SCU Role', 1, 'support (1)', 211, 1, []),
        (3, 'dicom.userinfo.rolesel.scprole', 'SCP Role', 0, 'non-support (0)', 212, 1, []),
        (2, 'dicom.userinfo.asyncneg', 'Asynchronous Operations Window', None, 'invoked 3, performed 0 (unlimited)', 213, 8, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 83, 'Asynchronous Operations Window (0x53)', 213, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 214, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 4, '4', 215, 2, []),
        (3, 'dicom.userinfo.asyncneg.maxnumopsinv', 'Maximum Number Operations Invoked', 3, '3', 217, 2, []),
        (3, 'dicom.userinfo.asyncneg.maxnumopsper', 'Maximum Number Operations Performed', 0, '0 (unlimited)', 219, 2, []),
        (2, 'dicom.userinfo.extneg', 'SOP Class Extended Negotiation', None, 'Study Root Query/Retrieve Information Model - FIND', 221, 36, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 86, 'SOP Class Extended Negotiation (0x56)', 221, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 222, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 32, '32', 223, 2, []),
        (3, 'dicom.userinfo.extneg.sopclassuid.len', 'SOP Class UID Length', 27, '27', 225, 2, []),
        (3, 'dicom.userinfo.extneg.sopclassuid', 'SOP Class UID', '1.2.840.10008.5.1.4.1.2.2.1', '1.2.840.10008.5.1.4.1.2.2.1 (Study Root Query/Retrieve Information Model - FIND)', 227, 27, []),
        (3, 'dicom.userinfo.extneg.info', 'Service Class Application Information', b'\x01\x00\x01', '3 bytes: 01 00 01', 254, 3, []),
        (2, 'dicom.userinfo.commonextneg', 'SOP Class Common Extended Negotiation', None, 'CT Image Storage (Storage Service Class)', 257, 59, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 87, 'SOP Class Common Extended Negotiation (0x57)', 257, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 258, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 55, '55', 259, 2, []),
        (3, 'dicom.userinfo.commonextneg.sopclassuid.len', 'SOP Class UID Length', 25, '25', 261, 2, []),
        (3, 'dicom.userinfo.commonextneg.sopclassuid', 'SOP Class UID', '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.5.1.4.1.1.2 (CT Image Storage)', 263, 25, []),
        (3, 'dicom.userinfo.commonextneg.serviceclassuid.len', 'Service Class UID Length', 17, '17', 288, 2, []),
        (3, 'dicom.userinfo.commonextneg.serviceclassuid', 'Service Class UID', '1.2.840.10008.4.2', '1.2.840.10008.4.2 (Storage Service Class)', 290, 17, []),
        (3, 'dicom.userinfo.commonextneg.related.len', 'Related General SOP Class Identification Length', 7, '7', 307, 2, []),
        (3, 'dicom.userinfo.commonextneg.related', 'Related General SOP Classes', None, '', 309, 7, []),
        (4, 'dicom.userinfo.commonextneg.relatedsopclassuid.len', 'Related General SOP Class UID Length', 5, '5', 309, 2, []),
        (4, 'dicom.userinfo.commonextneg.relatedsopclassuid', 'Related General SOP Class UID', '1.2.3', '1.2.3', 311, 5, []),
        (2, 'dicom.userinfo.user_identify', 'User Identity (RQ)', None, 'username and passcode alice, passcode ********', 316, 22, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 88, 'User Identity (RQ) (0x58)', 316, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 317, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 18, '18', 318, 2, []),
        (3, 'dicom.userinfo.user_identify.type', 'User Identity Type', 2, 'username and passcode (2)', 320, 1, []),
        (3, 'dicom.userinfo.user_identify.response_requested', 'Positive Response Requested', 1, 'yes (1)', 321, 1, []),
        (3, 'dicom.userinfo.user_identify.primary_field_length', 'Primary Field Length', 5, '5', 322, 2, []),
        (3, 'dicom.userinfo.user_identify.primary_field', 'Primary Field', 'alice', 'alice', 324, 5, []),
        (3, 'dicom.userinfo.user_identify.secondary_field_length', 'Secondary Field Length', 7, '7', 329, 2, []),
        (3, 'dicom.userinfo.user_identify.secondary_field', 'Secondary Field', None, '********', 331, 7, []),
    ])


# An acceptor's role selection (SCU/SCP roles read accepted/rejected, PS3.7 D.3.3.4) and user identity answer 0x59
# (server response length and value, PS3.7 D.3.3.7.2).
EXACT_AC_ROLE_IDENTITY = (
    assoc_ac("A", "B", results=[(1, 0, EXPLICIT_LE)], impl_uid="1.2.3", impl_version=None, extra_user_items=role_selection(CT_STORAGE, 1, 0) + user_identity_ac(b"tok")),
    'A-ASSOCIATE-AC A ← B',
    [
        (0, 'dicom', 'DICOM', None, 'A-ASSOCIATE-AC A ← B', 0, 193, []),
        (1, 'dicom.pdu.type', 'PDU Type', 2, 'A-ASSOCIATE-AC (0x02)', 0, 1, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 1, 1, []),
        (1, 'dicom.pdu.len', 'PDU Length', 187, '187', 2, 4, []),
        (1, 'dicom.assoc.version', 'Protocol Version', 1, '1', 6, 2, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00\x00', '2 bytes, all zero', 8, 2, []),
        (1, 'dicom.assoc.ae.called', 'Called AE Title', 'B', 'B', 10, 16, []),
        (1, 'dicom.assoc.ae.calling', 'Calling AE Title', 'A', 'A', 26, 16, []),
        (1, 'dicom.assoc.reserved', 'Reserved', bytes(32), '32 bytes, all zero', 42, 32, []),
        (1, 'dicom.assoc.item.actx', 'Application Context', None, '1.2.840.10008.3.1.1.1 (DICOM Application Context Name)', 74, 25, []),
        (2, 'dicom.assoc.item.type', 'Item Type', 16, 'Application Context (0x10)', 74, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 75, 1, []),
        (2, 'dicom.assoc.item.len', 'Item Length', 21, '21', 76, 2, []),
        (2, 'dicom.actx', 'Application Context Name', '1.2.840.10008.3.1.1.1', '1.2.840.10008.3.1.1.1 (DICOM Application Context Name)', 78, 21, []),
        (1, 'dicom.pctx', 'Presentation Context (AC)', None, 'ID 1, acceptance, Explicit VR Little Endian', 99, 31, []),
        (2, 'dicom.assoc.item.type', 'Item Type', 33, 'Presentation Context (AC) (0x21)', 99, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 100, 1, []),
        (2, 'dicom.assoc.item.len', 'Item Length', 27, '27', 101, 2, []),
        (2, 'dicom.pctx.id', 'Presentation Context ID', 1, '1', 103, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 104, 1, []),
        (2, 'dicom.pctx.result', 'Result', 0, 'acceptance (0)', 105, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 106, 1, []),
        (2, 'dicom.pctx.xfer', 'Transfer Syntax', None, '1.2.840.10008.1.2.1 (Explicit VR Little Endian)', 107, 23, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 64, 'Transfer Syntax (0x40)', 107, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 108, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 19, '19', 109, 2, []),
        (3, 'dicom.pctx.xfer.syntax', 'Transfer Syntax', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.1 (Explicit VR Little Endian)', 111, 19, []),
        (1, 'dicom.userinfo', 'User Information', None, '', 130, 63, []),
        (2, 'dicom.assoc.item.type', 'Item Type', 80, 'User Information (0x50)', 130, 1, []),
        (2, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 131, 1, []),
        (2, 'dicom.assoc.item.len', 'Item Length', 59, '59', 132, 2, []),
        (2, 'dicom.userinfo.maxlen', 'Maximum Length', None, '16384', 134, 8, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 81, 'Maximum Length (0x51)', 134, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 135, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 4, '4', 136, 2, []),
        (3, 'dicom.max_pdu_len', 'Maximum Length Received', 16384, '16384', 138, 4, []),
        (2, 'dicom.userinfo.impl_uid', 'Implementation Class UID', None, '1.2.3', 142, 9, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 82, 'Implementation Class UID (0x52)', 142, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 143, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 5, '5', 144, 2, []),
        (3, 'dicom.userinfo.uid', 'Implementation Class UID', '1.2.3', '1.2.3', 146, 5, []),
        (2, 'dicom.userinfo.rolesel', 'SCP/SCU Role Selection', None, 'CT Image Storage: SCU accepted, SCP rejected', 151, 33, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 84, 'SCP/SCU Role Selection (0x54)', 151, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 152, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 29, '29', 153, 2, []),
        (3, 'dicom.userinfo.rolesel.sopclassuid.len', 'SOP Class UID Length', 25, '25', 155, 2, []),
        (3, 'dicom.userinfo.rolesel.sopclassuid', 'SOP Class UID', '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.5.1.4.1.1.2 (CT Image Storage)', 157, 25, []),
        (3, 'dicom.userinfo.rolesel.scurole', 'SCU Role', 1, 'accepted (1)', 182, 1, []),
        (3, 'dicom.userinfo.rolesel.scprole', 'SCP Role', 0, 'rejected (0)', 183, 1, []),
        (2, 'dicom.userinfo.user_identify', 'User Identity (AC)', None, 'server response 3 bytes', 184, 9, []),
        (3, 'dicom.assoc.item.type', 'Item Type', 89, 'User Identity (AC) (0x59)', 184, 1, []),
        (3, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 185, 1, []),
        (3, 'dicom.assoc.item.len', 'Item Length', 5, '5', 186, 2, []),
        (3, 'dicom.userinfo.user_identify.server_response_length', 'Server Response Length', 3, '3', 188, 2, []),
        (3, 'dicom.userinfo.user_identify.server_response', 'Server Response', None, '3 bytes: tok', 190, 3, []),
    ])


# A-ASSOCIATE-RJ (PS3.8 §9.3.4): reserved (6), result 2 transient (7), source 3 provider presentation (8), reason 1.
EXACT_RJ = (
    assoc_rj(2, 3, 1),
    'A-ASSOCIATE-RJ rejected-transient: temporary-congestion (service-provider presentation)',
    [
        (0, 'dicom', 'DICOM', None, 'A-ASSOCIATE-RJ rejected-transient: temporary-congestion (service-provider presentation)', 0, 10, []),
        (1, 'dicom.pdu.type', 'PDU Type', 3, 'A-ASSOCIATE-RJ (0x03)', 0, 1, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 1, 1, []),
        (1, 'dicom.pdu.len', 'PDU Length', 4, '4', 2, 4, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 6, 1, []),
        (1, 'dicom.assoc.reject.result', 'Result', 2, 'rejected-transient (2)', 7, 1, []),
        (1, 'dicom.assoc.reject.source', 'Source', 3, 'service-provider presentation (3)', 8, 1, []),
        (1, 'dicom.assoc.reject.reason', 'Reason', 1, 'temporary-congestion (1)', 9, 1, []),
    ])


# A-RELEASE-RQ/-RP (PS3.8 §9.3.6-9.3.7): four reserved bytes after the header.
EXACT_RELEASE_RQ = (
    release_rq(),
    'A-RELEASE-RQ',
    [
        (0, 'dicom', 'DICOM', None, 'A-RELEASE-RQ', 0, 10, []),
        (1, 'dicom.pdu.type', 'PDU Type', 5, 'A-RELEASE-RQ (0x05)', 0, 1, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 1, 1, []),
        (1, 'dicom.pdu.len', 'PDU Length', 4, '4', 2, 4, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00\x00\x00\x00', '4 bytes, all zero', 6, 4, []),
    ])


EXACT_RELEASE_RP = (
    release_rp(),
    'A-RELEASE-RP',
    [
        (0, 'dicom', 'DICOM', None, 'A-RELEASE-RP', 0, 10, []),
        (1, 'dicom.pdu.type', 'PDU Type', 6, 'A-RELEASE-RP (0x06)', 0, 1, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 1, 1, []),
        (1, 'dicom.pdu.len', 'PDU Length', 4, '4', 2, 4, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00\x00\x00\x00', '4 bytes, all zero', 6, 4, []),
    ])


# A-ABORT (PS3.8 §9.3.8): two reserved bytes, source 2 (service provider), reason 6 (invalid PDU parameter value).
EXACT_ABORT = (
    abort(2, 6),
    'A-ABORT service-provider: invalid-PDU-parameter-value',
    [
        (0, 'dicom', 'DICOM', None, 'A-ABORT service-provider: invalid-PDU-parameter-value', 0, 10, []),
        (1, 'dicom.pdu.type', 'PDU Type', 7, 'A-ABORT (0x07)', 0, 1, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 1, 1, []),
        (1, 'dicom.pdu.len', 'PDU Length', 4, '4', 2, 4, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00\x00', '2 bytes, all zero', 6, 2, []),
        (1, 'dicom.assoc.abort.source', 'Source', 2, 'service-provider (2)', 8, 1, []),
        (1, 'dicom.assoc.abort.reason', 'Reason', 6, 'invalid-PDU-parameter-value (6)', 9, 1, []),
    ])


# P-DATA-TF (PS3.8 §9.3.5, Annex E.2): each PDV is a 4-byte length (context id + control header + value), context id,
# message control header (bit 0 command, bit 1 last fragment), value.
EXACT_PDATA = (
    pdata([(1, COMMAND | LAST, b"c" * 4), (3, DATA, b"dd")]),
    'P-DATA-TF ctx 1 Command, Last; ctx 3 Data, More',
    [
        (0, 'dicom', 'DICOM', None, 'P-DATA-TF ctx 1 Command, Last; ctx 3 Data, More', 0, 24, []),
        (1, 'dicom.pdu.type', 'PDU Type', 4, 'P-DATA-TF (0x04)', 0, 1, []),
        (1, 'dicom.assoc.reserved', 'Reserved', b'\x00', '00', 1, 1, []),
        (1, 'dicom.pdu.len', 'PDU Length', 18, '18', 2, 4, []),
        (1, 'dicom.pdv', 'PDV ctx 1, Command, Last fragment (4 bytes)', None, '', 6, 10, []),
        (2, 'dicom.pdv.len', 'PDV Length', 6, '6', 6, 4, []),
        (2, 'dicom.pdv.ctx', 'Presentation Context ID', 1, '1', 10, 1, []),
        (2, 'dicom.pdv.flags', 'Message Control Header', 3, '0x03', 11, 1, []),
        (3, 'dicom.pdv.flags.command', '.... ...1 = Command', 1, '', 11, 1, []),
        (3, 'dicom.pdv.flags.last', '.... ..1. = Last fragment', 1, '', 11, 1, []),
        (2, 'dicom.pdv.data', 'PDV Data', None, '4 bytes', 12, 4, []),
        (1, 'dicom.pdv', 'PDV ctx 3, Data set, More fragments (2 bytes)', None, '', 16, 8, []),
        (2, 'dicom.pdv.len', 'PDV Length', 4, '4', 16, 4, []),
        (2, 'dicom.pdv.ctx', 'Presentation Context ID', 3, '3', 20, 1, []),
        (2, 'dicom.pdv.flags', 'Message Control Header', 0, '0x00', 21, 1, []),
        (3, 'dicom.pdv.flags.command', '.... ...0 = Data set', 0, '', 21, 1, []),
        (3, 'dicom.pdv.flags.last', '.... ..0. = More fragments', 0, '', 21, 1, []),
        (2, 'dicom.pdv.data', 'PDV Data', None, '2 bytes', 22, 2, []),
    ])


EXACT = {name[6:]: value for name, value in globals().items() if name.startswith("EXACT_")}


def tree_rows(tree: Field) -> list[tuple]:
    return [(d, f.key, f.label, f.value, f.display, f.offset, f.length,
             [(x.severity, x.code, x.message) for x in f.findings]) for d, f in tree.walk()]


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_tree(name):
    data, info, expected = EXACT[name]
    d = dissect_pdu(data)
    assert d.info == info
    got = tree_rows(d.tree)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, (i, g, e)
    assert len(got) == len(expected)


# -- findings exact: severity, code and message of each check (mutation testing) ------------------------------

from tests.pdu_fixtures import (abstract_syntax, app_context, impl_class_uid, max_length,  # noqa: E402
                                transfer_syntax, user_info)


def exact_findings(d) -> list[tuple[str, str, str]]:
    return [(x.severity, x.code, x.message) for x in d.findings]


def test_header_truncated_and_empty_input_exact():
    """PS3.8 §9.3.1: 6 header bytes (type, reserved, 32-bit length); fewer is a truncated header."""
    d = dissect_pdu(b"")
    assert (d.info, d.pdu_type, d.length, d.body) == ("(empty)", 0, 0, None)
    assert exact_findings(d) == [("error", "truncated", "PDU Type: 1 bytes needed, only 0 present")]
    d = dissect_pdu(b"\x01")
    assert d.info == "A-ASSOCIATE-RQ (truncated header)" and d.tree.display == d.info
    assert isinstance(d.body, AssociateRQ) and not d.body.accept
    assert exact_findings(d) == [("error", "truncated", "Reserved: 1 bytes needed, only 0 present")]
    d = dissect_pdu(b"\x02\x00\x00\x00\x00")
    assert d.info == "A-ASSOCIATE-AC (truncated header)" and d.body.accept
    assert exact_findings(d) == [("error", "truncated", "PDU Length: 4 bytes needed, only 3 present")]
    assert [(f.key, f.offset, f.length) for f in d.tree.children] == [
        ("dicom.pdu.type", 0, 1), ("dicom.assoc.reserved", 1, 1), ("dicom.truncated", 2, 3)]
    assert isinstance(dissect_pdu(b"\x06\x00").body, Release) and dissect_pdu(b"\x06\x00").body.reply
    assert dissect_pdu(b"\x09\x00\x00").body is None


def test_dissector_error_is_a_finding_not_an_exception():
    d = dissect_pdu(None)
    assert (d.pdu_type, d.length, d.info) == (0, 0, "Unknown PDU (0x00) (undecoded)")
    assert [(x.severity, x.code) for x in d.findings] == [("error", "dissector-error")]
    assert d.findings[0].message.startswith("internal error while decoding: TypeError(")
    assert (d.tree.key, d.tree.offset, d.tree.length) == ("dicom", 0, 0)


def test_pdu_length_findings_exact():
    assert exact_findings(dissect_pdu(pdu(0x05, bytes(6)))) == [
        ("warning", "bad-pdu-length", "A-RELEASE-RQ length is 6; PS3.8 §9.3 fixes it at 4"),
        ("warning", "pdu-extra-bytes", "2 bytes after the A-RELEASE-RQ fields, inside its length")]
    assert exact_findings(dissect_pdu(pdu(0x07, bytes(3)))) == [
        ("warning", "bad-pdu-length", "A-ABORT length is 3; PS3.8 §9.3 fixes it at 4"),
        ("error", "truncated", "Reason: 1 bytes needed, only 0 present")]
    d = dissect_pdu(pdu(0x01, bytes(20)))
    assert exact_findings(d)[0] == ("error", "bad-pdu-length",
                                    "A-ASSOCIATE-RQ length is 20; the fixed part alone is 68 bytes")
    assert d.info == "A-ASSOCIATE-RQ ? → (empty)"
    # 68 bytes is the fixed part exactly: no length finding (items missing are other findings).
    d = dissect_pdu(pdu(0x02, struct.pack(">HH", 1, 0) + b"B".ljust(16) + b"A".ljust(16) + bytes(32)))
    assert "bad-pdu-length" not in codes(d)
    assert exact_findings(d) == [
        ("error", "no-application-context", "no Application Context item (PS3.8 §9.3.2.1)"),
        ("error", "no-presentation-context", "no presentation context items"),
        ("warning", "no-user-info", "no User Information item (PS3.8 §9.3.2.3)")]
    d = dissect_pdu(release_rq()[:8])
    assert exact_findings(d)[0] == ("error", "truncated", "PDU length is 4 but only 2 bytes are present")
    t = dissect_pdu(release_rq() + b"\x07\x00\x00")
    trailing = t.tree.find("dicom.trailing")
    assert (trailing.offset, trailing.length, trailing.display) == (10, 3, "3 bytes")
    assert exact_findings(t) == [("warning", "trailing-bytes", "3 bytes after the end given by the PDU length")]
    assert t.tree.length == 13
    u = dissect_pdu(pdu(0x0A, b"xyz"))
    assert (u.info, u.body) == ("Unknown PDU (0x0A)", None)
    assert exact_findings(u) == [("error", "unknown-pdu-type", "PDU type 0x0A is not defined by PS3.8 §9.3.1")]
    data = u.tree.find("dicom.pdu.data")
    assert (data.offset, data.length, data.value, data.display) == (6, 3, b"xyz", "3 bytes: 78 79 7a")


def test_reject_and_abort_codes_exact():
    d = dissect_pdu(abort(2, 9))
    assert d.info == "A-ABORT service-provider: Unknown (0x09)"
    assert exact_findings(d) == [("warning", "unknown-value", "abort reason 9 is not defined (PS3.8 §9.3.8)")]
    assert exact_findings(dissect_pdu(abort(0, 9))) == []          # reason not significant for a user abort
    d = dissect_pdu(abort(1, 0))
    assert d.info == "A-ABORT reserved (0x01)"
    assert exact_findings(d) == []                                   # 1 is a reserved source, still defined
    d = dissect_pdu(assoc_rj(1, 9, 1))
    assert d.info == "A-ASSOCIATE-RJ rejected-permanent: Unknown (0x01) (Unknown (0x09))"
    assert exact_findings(d) == [("warning", "unknown-value", "Source 9 is not defined by PS3.8")]
    d = dissect_pdu(assoc_rj(1, 2, 9))
    assert exact_findings(d) == [("warning", "unknown-value",
                                  "reject reason 9 is not defined for source 2 (PS3.8 §9.3.4)")]
    assert dissect_pdu(assoc_rj(3, 1, 1)).findings[0].message == "Result 3 is not defined by PS3.8"
    cut = dissect_pdu(assoc_rj(1, 1, 1)[:7])
    assert cut.info == "A-ASSOCIATE-RJ" and cut.body.result is None
    cut = dissect_pdu(abort(2, 2)[:8])
    assert cut.info == "A-ABORT" and cut.body.source is None


def test_reserved_bytes_display_and_note_exact():
    data = bytearray(assoc_rq())
    data[1] = 0x10                       # reserved byte of the PDU header
    data[44] = 0xAB                      # inside the 32 reserved bytes (42-73)
    d = dissect_pdu(bytes(data))
    res = d.tree.find_all("dicom.assoc.reserved")
    assert (res[0].display, res[0].offset) == ("10", 1)
    assert (res[2].display, res[2].offset, res[2].length) == ("00 00 ab 00 00 00 00 00 00 00 00 00 00 00 00 00 …", 42, 32)
    assert exact_findings(d) == [
        ("note", "reserved-nonzero", "Reserved is 10; PS3.8 §9.3 says send 00H (receivers ignore it)"),
        ("note", "reserved-nonzero", "Reserved is 00 00 ab 00 00 00 00 00 00 00 00 00 00 00 00 00 …;"
                                     " PS3.8 §9.3 says send 00H (receivers ignore it)")]


def test_association_items_findings_exact():
    rq = assoc_rq()
    d = dissect_pdu(pdu(1, rq[6:74] + app_context("1.2.3") + rq[74:]))
    assert d.body.application_context == "1.2.3"                          # the first one counts
    assert exact_findings(d) == [
        ("warning", "unknown-application-context",
         "application context '1.2.3' is not the DICOM one (1.2.840.10008.3.1.1.1)"),
        ("warning", "duplicate-item", "more than one Application Context item")]
    d = dissect_pdu(pdu(1, rq[6:] + user_info(max_pdu=999)))
    assert exact_findings(d) == [("warning", "duplicate-item", "more than one User Information item")]
    assert d.body.user_info.max_pdu_length == 999                          # sub-items of both are read
    assert exact_findings(dissect_pdu(assoc_rq(max_pdu=None, impl_uid=None))) == [
        ("warning", "no-max-length", "no Maximum Length sub-item; it is mandatory (PS3.8 Annex D.1)"),
        ("warning", "no-implementation-uid",
         "no Implementation Class UID sub-item; it is mandatory (PS3.7 §D.3.3.2)")]
    ctx = item(0x20, bytes([1, 0, 0, 0]) + abstract_syntax(VERIFICATION) + abstract_syntax(CT_STORAGE)
               + transfer_syntax(IMPLICIT_LE))
    d = dissect_pdu(pdu(1, rq[6:74] + app_context() + ctx + user_info()))
    assert [(c.id, c.abstract_syntax) for c in d.body.contexts] == [(1, VERIFICATION)]
    assert exact_findings(d) == [("warning", "multiple-abstract-syntax",
                                  "context 1 holds 2 abstract syntax sub-items; one allowed")]
    d = dissect_pdu(assoc_rq(contexts=[(2, None, [])]))
    assert exact_findings(d) == [                   # the context's own findings, then its ID field's
        ("error", "no-abstract-syntax", "context 2 proposes no abstract syntax"),
        ("error", "no-transfer-syntax", "context 2 proposes no transfer syntax"),
        ("warning", "even-context-id", "presentation context ID 2 is even; it must be odd (PS3.8 §9.3.2.2)")]
    assert d.tree.find("dicom.pctx").display == "ID 2, (no abstract syntax)"
    d = dissect_pdu(assoc_rq(version=3))
    assert exact_findings(d) == [("warning", "bad-version",
                                  "protocol version is 0x0003; DICOM defines only version 1 (PS3.8 §9.3.2)")]


def test_acceptance_contexts_exact():
    d = dissect_pdu(assoc_ac(results=[(1, 7, IMPLICIT_LE)]))
    assert exact_findings(d) == [("warning", "unknown-value",
                                  "presentation context result 7 is not defined (PS3.8 §9.3.3.2)")]
    assert d.tree.find("dicom.pctx").display == "ID 1, Unknown (0x07)"
    assert d.body.contexts[0].transfer_syntaxes == [IMPLICIT_LE]
    # A rejected context's empty transfer syntax is not recorded and is not a zero-length finding.
    d = dissect_pdu(assoc_ac(results=[(1, 3, "")]))
    assert exact_findings(d) == [] and d.body.contexts[0].transfer_syntaxes == []
    d = dissect_pdu(assoc_ac(results=[(1, 0, None)]))
    assert exact_findings(d) == [("error", "no-transfer-syntax", "accepted context 1 names no transfer syntax")]
    assert d.tree.find("dicom.pctx").display == "ID 1, acceptance"
    ac = assoc_ac()
    two = item(0x21, bytes([3, 0, 0, 0]) + transfer_syntax(IMPLICIT_LE) + transfer_syntax(EXPLICIT_LE))
    d = dissect_pdu(pdu(0x02, ac[6:] + two))
    assert exact_findings(d) == [("warning", "multiple-transfer-syntax", "context 3 answers 2 transfer syntaxes;"
                                  " an acceptance carries exactly one (PS3.8 §9.3.3.2)")]
    assert d.body.contexts[1].transfer_syntaxes == [IMPLICIT_LE, EXPLICIT_LE]
    # A request-only item in an acceptance: decoded, with a warning naming the PDU.
    d = dissect_pdu(pdu(0x02, ac[6:] + pctx_rq(5, VERIFICATION, [IMPLICIT_LE])))
    assert ("warning", "unexpected-item", "Presentation Context (RQ) is not expected in an A-ASSOCIATE-AC") \
        in exact_findings(d)
    d = dissect_pdu(pdu(0x01, assoc_rq()[6:] + item(0x21, bytes([7, 0, 0, 0]))))
    assert ("warning", "unexpected-item", "Presentation Context (AC) is not expected in an A-ASSOCIATE-RQ") \
        in exact_findings(d)


def test_item_walk_findings_exact():
    rq = assoc_rq(with_user_info=False)
    # Three stray bytes at the end of the PDU: too few for an item header (PS3.8 §9.3.2: 4-byte item header).
    d = dissect_pdu(pdu(0x01, rq[6:] + user_info() + b"\x50\x00\x00"))
    stray = d.tree.children[-1]
    assert (stray.key, stray.label, stray.offset, stray.length) == ("dicom.assoc.item.data", "Stray bytes",
                                                                    len(rq) + len(user_info()), 3)
    assert exact_findings(d) == [("error", "item-header-short",
                                  "3 bytes left in the PDU: too few for an item header")]
    # An item whose length runs past the PDU: clamped to the PDU's end.
    body = rq[6:] + item(0x50, max_length(100) + impl_class_uid(), length=400)
    d = dissect_pdu(pdu(0x01, body))
    ui = d.tree.find("dicom.userinfo")
    assert (ui.offset, ui.length) == (len(rq), len(body) + 6 - len(rq))
    assert ("error", "item-overflow", "User Information length 400 runs 356 bytes past the end of the PDU; clamped") \
        in exact_findings(d)
    assert d.body.user_info.max_pdu_length == 100
    # Unknown item at top level: a note, skipped by its length; unknown user item: length only, recorded.
    d = dissect_pdu(pdu(0x01, assoc_rq()[6:] + item(0x7E, b"abcd")))
    unk = d.tree.find("dicom.assoc.item.unknown")
    assert (unk.label, unk.offset, unk.length) == ("Unknown item (0x7E)", len(assoc_rq()), 8)
    assert unk.find("dicom.assoc.item.data").value == b"abcd"
    assert exact_findings(d) == [("note", "unknown-item",
                                  "item type 0x7E is not defined by PS3.8/PS3.7; skipped by its length")]
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x5F, b"secret")))
    data = d.tree.find("dicom.userinfo.data")
    assert (data.value, data.display) == (None, "6 bytes")
    assert d.body.user_info.unknown_items == [0x5F]
    # A known item type where it does not belong, without a handler there: raw, with a warning.
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x30, VERIFICATION.encode())))
    assert exact_findings(d) == [("warning", "unexpected-item", "Abstract Syntax does not belong in the user"
                                  " information item")]
    assert d.tree.find("dicom.userinfo.unknown").label == "Abstract Syntax"
    assert d.body.user_info.unknown_items == [0x30]
    # Zero-length items warn, except a rejected context's transfer syntax.
    d = dissect_pdu(assoc_rq(impl_version=""))
    assert exact_findings(d) == [("warning", "zero-length-item", "Implementation Version Name is empty"
                                  " (item length 0)")]


def test_too_many_items_is_bounded():
    """More than MAX_ITEMS (1024) items at one level: the rest is one raw field with an error."""
    from dicomsniff.ul.dissect import MAX_ITEMS
    many = b"".join(item(0x7E, b"") for _ in range(MAX_ITEMS + 3))
    d = dissect_pdu(pdu(0x01, assoc_rq(with_user_info=False)[6:] + many))
    last = d.tree.children[-1]
    assert (last.key, last.label, last.length) == ("dicom.assoc.item.data", "Undecoded items", 20)
    assert [f.findings for f in d.tree.children if f.key == "dicom.assoc.item.data"][0][0].message == \
        f"more than {MAX_ITEMS} items in the PDU"
    assert len(d.tree.find_all("dicom.assoc.item.unknown")) == MAX_ITEMS - 2      # actx and the context first


def test_fixed_size_sub_items_exact():
    """Maximum Length (PS3.8 D.1) and Asynchronous Operations Window (PS3.7 D.3.3.3) are 4 bytes."""
    d = dissect_pdu(assoc_rq(max_pdu=None, extra_user_items=item(0x51, struct.pack(">IH", 5000, 7))))
    assert d.body.user_info.max_pdu_length == 5000
    assert exact_findings(d) == [
        ("error", "item-length-invalid", "Maximum Length must be 4 bytes, item holds 6"),
        ("warning", "item-extra-bytes", "2 bytes after the end of the Maximum Length fields")]
    ml = d.tree.find("dicom.userinfo.maxlen")
    base = ml.offset
    assert [(f.key, f.offset - base, f.length, f.display) for f in ml.children] == [
        ("dicom.assoc.item.type", 0, 1, "Maximum Length (0x51)"), ("dicom.assoc.reserved", 1, 1, "00"),
        ("dicom.assoc.item.len", 2, 2, "6"), ("dicom.max_pdu_len", 4, 4, "5000"),
        ("dicom.assoc.item.extra", 8, 2, "2 bytes: 00 07")]
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x53, b"\x00\x01")))
    assert d.body.user_info.async_window is None
    assert exact_findings(d) == [("error", "item-length-invalid",
                                  "Asynchronous Operations Window must be 4 bytes, item holds 2")]
    raw = d.tree.find("dicom.userinfo.asyncneg").find("dicom.assoc.item.data")
    assert (raw.value, raw.length) == (b"\x00\x01", 2)


def test_text_clipping_and_version_length_exact():
    """Wire strings are shown up to 80 characters; a version name over 16 bytes is a warning (PS3.7 D.3.3.2.3)."""
    d = dissect_pdu(assoc_rq(impl_version="V" * 81))
    assert d.tree.find("dicom.userinfo.version").display == "V" * 80 + "… (81 chars)"
    assert d.tree.find("dicom.userinfo.impl_version").display == "V" * 80 + "… (81 chars)"
    assert d.body.user_info.implementation_version == "V" * 81
    assert exact_findings(d) == [("warning", "version-name-too-long",
                                  "implementation version name is 81 bytes; at most 16 (PS3.7 §D.3.3.2)")]
    assert dissect_pdu(assoc_rq(impl_version="V" * 80)).tree.find("dicom.userinfo.version").display == "V" * 80
    assert [f.code for f in dissect_pdu(assoc_rq(impl_version="V" * 17)).findings] == ["version-name-too-long"]
    assert dissect_pdu(assoc_rq(impl_version="V" * 16)).findings == []
    uid90 = "1." + "2" * 88
    d = dissect_pdu(assoc_rq(impl_uid=uid90))
    assert d.tree.find("dicom.userinfo.uid").display == uid90[:80] + "… (90 chars)"
    assert exact_findings(d) == [("warning", "invalid-uid", f"Implementation Class UID '{uid90[:80]}… (90 chars)'"
                                                            " is not a valid UID (PS3.5 §9.1)")]


def test_uid_and_ae_findings_exact():
    d = dissect_pdu(assoc_rq(contexts=[(1, VERIFICATION + " ", [IMPLICIT_LE + "\x00"])]))
    assert exact_findings(d) == [
        ("note", "uid-padded", "Abstract Syntax is padded with space; UIDs are not padded in network negotiation"
                               " (PS3.5 §9.1, PS3.8 Annex F)"),
        ("note", "uid-padded", "Transfer Syntax is padded with NUL; UIDs are not padded in network negotiation"
                               " (PS3.5 §9.1, PS3.8 Annex F)")]
    assert d.body.contexts[0].abstract_syntax == VERIFICATION
    assert exact_findings(dissect_pdu(assoc_rq(contexts=[(1, "1.02.3", [IMPLICIT_LE])]))) == [
        ("warning", "invalid-uid", "Abstract Syntax '1.02.3' is not a valid UID (PS3.5 §9.1)")]
    d = dissect_pdu(assoc_rq(calling="A\\B"))
    assert exact_findings(d) == [("warning", "ae-title-nonprintable",
                                  "Calling AE Title 'A\\\\B' holds control, non-ASCII or backslash characters")]
    assert [f.code for f in dissect_pdu(assoc_rq(calling=b"A\xe9B")).findings] == ["ae-title-nonprintable"]
    assert [f.code for f in dissect_pdu(assoc_rq(calling=b"A~B")).findings] == []       # 0x7E is printable
    d = dissect_pdu(assoc_rq(called=" " * 16))
    called = d.tree.find("dicom.assoc.ae.called")
    assert (called.value, called.display, d.body.called_ae, d.info) == ("", "(empty)", "",
                                                                         "A-ASSOCIATE-RQ FINDSCU → (empty)")
    assert exact_findings(d) == [("warning", "ae-title-empty",
                                  "Called AE Title is all spaces (PS3.5 AE must not be empty)")]
    # Leading spaces are insignificant too (PS3.5 AE); the field keeps its 16-byte span.
    d = dissect_pdu(assoc_rq(calling="  STORESCU"))
    calling = d.tree.find("dicom.assoc.ae.calling")
    assert (calling.value, calling.offset, calling.length) == ("STORESCU", 26, 16)


def test_user_identity_displays_exact():
    """PS3.7 D.3.3.7: identity types, positive-response flag, server response previews (24 characters)."""
    def ident(data):
        return dissect_pdu(data).tree.find("dicom.userinfo.user_identify")
    f = ident(assoc_rq(extra_user_items=user_identity_rq(1, b"bob")))
    assert f.display == "username bob"
    assert [(c.key[len("dicom.userinfo.user_identify."):], c.display) for c in f.children[3:]] == [
        ("type", "username (1)"), ("response_requested", "no (0)"), ("primary_field_length", "3"),
        ("primary_field", "bob"), ("secondary_field_length", "0"), ("secondary_field", "(empty)")]
    f = ident(assoc_rq(extra_user_items=user_identity_rq(3, b"tkt", response_requested=2)))
    assert f.display == "Kerberos service ticket"
    assert [c.display for c in f.children[3:]] == ["Kerberos service ticket (3)", "invalid (2)", "3", "3 bytes: tkt",
                                                   "0", "(empty)"]
    d = dissect_pdu(assoc_rq(extra_user_items=user_identity_rq(2, b"bob", b"pw", 1)))
    assert d.tree.find("dicom.userinfo.user_identify").display == "username and passcode bob, passcode ********"
    assert d.tree.find("dicom.userinfo.user_identify.response_requested").display == "yes (1)"
    for token, shown in [(b"A" * 24, "24 bytes: " + "A" * 24), (b"A" * 25, "25 bytes: " + "A" * 24 + "…"),
                         (b"\x01\x02", "2 bytes: 01 02"), (b"", "0 bytes")]:
        f = ident(assoc_ac(extra_user_items=user_identity_ac(token)))
        assert f.find("dicom.userinfo.user_identify.server_response").display == shown
        assert f.display == f"server response {len(token)} bytes"
    # Stated lengths that do not add up: values hidden, extra bytes shown by length only.
    body = bytes([2, 0]) + struct.pack(">H", 3) + b"bob" + struct.pack(">H", 2) + b"pw" + b"zz"
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x58, body)))
    f = d.tree.find("dicom.userinfo.user_identify")
    assert [(c.key[len("dicom.userinfo.user_identify."):], c.value, c.display, c.length) for c in f.children[5:]] == [
        ("primary_field_length", 3, "3", 2), ("primary_field", None, "3 bytes (hidden)", 3),
        ("secondary_field_length", 2, "2", 2), ("secondary_field", None, "********", 2),
        ("extra", None, "2 bytes (hidden)", 2)]
    assert exact_findings(d) == [
        ("warning", "user-identity-lengths",
         "user identity field lengths do not add up to the item length; values hidden"),
        ("warning", "item-extra-bytes", "2 bytes after the user identity fields")]
    assert d.body.user_info.user_identity.primary == b"" and d.body.user_info.user_identity.secondary == b"pw"


def test_pdata_empty_last_pdv_is_kept():
    """A PDV of length 2 (context id + control header, no value) is valid (PS3.8 §9.3.5): CTN ends data sets so."""
    d = dissect_pdu(pdata([(1, DATA, b"ab"), (1, DATA | LAST, b"")]))
    assert exact_findings(d) == []
    assert [(p.offset, p.length, p.value_offset, p.value_length, p.is_last) for p in d.body.pdvs] == [
        (6, 4, 12, 2, False), (14, 2, 20, 0, True)]
    last = d.tree.find_all("dicom.pdv")[-1]
    assert (last.label, last.offset, last.length) == ("PDV ctx 1, Data set, Last fragment (0 bytes)", 14, 6)
    assert [(c.key, c.offset, c.length) for c in last.children] == [
        ("dicom.pdv.len", 14, 4), ("dicom.pdv.ctx", 18, 1), ("dicom.pdv.flags", 19, 1), ("dicom.pdv.data", 20, 0)]
    assert d.info == "P-DATA-TF ctx 1 Data, More; ctx 1 Data, Last"


def test_pdata_bad_pdvs_exact():
    # PDV length 1 (< 2: no room for context id and control header).
    d = dissect_pdu(pdu(0x04, pdv(1, 3, b"ab") + b"\x00\x00\x00\x01\x01\x03"))
    assert exact_findings(d) == [("error", "pdv-length-invalid",
                                  "PDV length 1 at PDU offset 14 does not fit the 6 bytes left in the PDU")]
    inv = d.tree.find("dicom.pdv.invalid")
    assert (inv.label, inv.offset, inv.length, inv.display) == ("Undecoded PDV bytes", 14, 6, "6 bytes")
    assert len(d.body.pdvs) == 1
    # PDV length that ends exactly at the PDU's end is fine; one byte more is not.
    ok = pdu(0x04, struct.pack(">IBB", 4, 1, 3) + b"ab")
    assert exact_findings(dissect_pdu(ok)) == []
    over = pdu(0x04, struct.pack(">IBB", 5, 1, 3) + b"ab")
    assert exact_findings(dissect_pdu(over)) == [("error", "pdv-length-invalid",
                                                  "PDV length 5 at PDU offset 6 does not fit the 8 bytes left in"
                                                  " the PDU")]
    # The PDU ends inside a PDV header.
    d = dissect_pdu(pdu(0x04, pdv(1, 3, b"ab") + b"\x00\x00\x00"))
    assert exact_findings(d) == [("error", "pdv-truncated", "PDU ends inside a PDV header (3 of 6 bytes)")]
    assert d.tree.find("dicom.pdv.invalid").length == 3
    # The capture ends inside a PDV header: only the truncation of the PDU is reported.
    d = dissect_pdu(pdata([(1, 3, b"ab"), (1, 3, b"cd")])[:17])
    assert exact_findings(d) == [("error", "truncated", "PDU length is 16 but only 11 bytes are present")]
    assert (d.tree.find("dicom.pdv.invalid").offset, d.tree.find("dicom.pdv.invalid").length) == (14, 3)
    # The capture ends inside a PDV value: the PDV is kept, its spans clamped to the bytes present.
    d = dissect_pdu(pdata([(1, 3, b"abcdef")])[:14])
    assert [(f.key, f.offset, f.length, f.display) for _, f in d.tree.walk() if f.key.startswith("dicom.pdv")] == [
        ("dicom.pdv", 6, 8, ""), ("dicom.pdv.len", 6, 4, "8"), ("dicom.pdv.ctx", 10, 1, "1"),
        ("dicom.pdv.flags", 11, 1, "0x03"), ("dicom.pdv.flags.command", 11, 1, ""),
        ("dicom.pdv.flags.last", 11, 1, ""), ("dicom.pdv.data", 12, 2, "6 bytes")]
    # Reserved flag bits and an even context id: exact warnings.
    d = dissect_pdu(pdata([(2, 0x07, b"xy")]))
    assert exact_findings(d) == [
        ("warning", "even-context-id", "PDV context ID 2 is even; it must be odd (PS3.8 §9.3.2.2)"),
        ("warning", "pdv-flags-reserved",
         "reserved bits of the message control header are set (0x07); PS3.8 Annex E.2 says 0")]
    assert exact_findings(dissect_pdu(pdata([(1, 0x04, b"xy")])))[0][1] == "pdv-flags-reserved"


def test_build_pdata_tree_edges_exact():
    """The streaming framer's tree: header from the arguments, no-PDV warning, the bound on PDVs shown."""
    t = build_pdata_tree(0, [], [])
    assert (t.display, t.length) == ("P-DATA-TF (no PDV)", 6)
    assert [(x.severity, x.code, x.message) for x in t.findings] == [
        ("warning", "no-pdv", "P-DATA-TF without a PDV (PS3.8 §9.3.5 requires one or more)")]
    assert (t.key, t.label) == ("dicom", "DICOM")
    t = build_pdata_tree(-5, [], [])
    assert (t.length, t.find("dicom.pdu.len").value) == (6, 0)
    assert [x.code for x in build_pdata_tree(5, [], []).findings] == ["no-pdv"]
    assert build_pdata_tree(6, [], []).findings == []
    from dicomsniff.field import Finding
    f = Finding("error", "pdv-truncated", "x")
    assert build_pdata_tree(3, [], [f]).findings == [f]                # the given finding, not also no-pdv
    t = build_pdata_tree(10, [Pdv(6, 6, 1, 3)], [], reserved=0x1FF)
    assert t.find("dicom.assoc.reserved").value == b"\xff"
    assert [(f.key, f.offset, f.length) for _, f in t.walk()] == [
        ("dicom", 0, 16), ("dicom.pdu.type", 0, 1), ("dicom.assoc.reserved", 1, 1), ("dicom.pdu.len", 2, 4),
        ("dicom.pdv", 6, 10), ("dicom.pdv.len", 6, 4), ("dicom.pdv.ctx", 10, 1), ("dicom.pdv.flags", 11, 1),
        ("dicom.pdv.flags.command", 11, 1), ("dicom.pdv.flags.last", 11, 1), ("dicom.pdv.data", 12, 4)]
    four = [Pdv(6 + i * 6, 2, 1, 0) for i in range(4)]
    assert pdata_info(four) == "P-DATA-TF " + "; ".join(["ctx 1 Data, More"] * 4)
    assert pdata_info(four + [Pdv(30, 2, 3, 3)]).endswith("; ctx 1 Data, More; … (+1 PDVs)")
    # More PDVs than shown: one summary node spanning the rest, exactly.
    from dicomsniff.ul.dissect import MAX_PDVS
    pdvs = [Pdv(6 + i * 8, 4, 1, 0) for i in range(MAX_PDVS + 2)]
    t = build_pdata_tree((MAX_PDVS + 2) * 8, pdvs, [])
    more = t.find("dicom.pdv.more")
    assert (more.label, more.value, more.display) == ("2 more PDVs", 2, "")
    assert (more.offset, more.length) == (6 + MAX_PDVS * 8, 16)
    assert [(x.severity, x.code, x.message) for x in more.findings] == [
        ("note", "too-many-pdvs", f"{MAX_PDVS + 2} PDVs; the first {MAX_PDVS} are shown")]
    assert len(t.find_all("dicom.pdv")) == MAX_PDVS
    t = build_pdata_tree(MAX_PDVS * 8, pdvs[:MAX_PDVS], [])
    assert t.find("dicom.pdv.more") is None
    # Spans clamped to what is available.
    t = build_pdata_tree(100, [Pdv(6, 98, 1, 2)], [], available=20)
    assert [(f.key, f.offset, f.length) for _, f in t.walk()][4:] == [
        ("dicom.pdv", 6, 14), ("dicom.pdv.len", 6, 4), ("dicom.pdv.ctx", 10, 1), ("dicom.pdv.flags", 11, 1),
        ("dicom.pdv.flags.command", 11, 1), ("dicom.pdv.flags.last", 11, 1), ("dicom.pdv.data", 12, 8)]
    assert t.find("dicom.pdv").label == "PDV ctx 1, Data set, Last fragment (96 bytes)"


def _u16_uid(uid: str) -> bytes:
    """A 2-byte length then the UID, as in PS3.7 D.3.3.4-D.3.3.6 sub-items."""
    return struct.pack(">H", len(uid)) + uid.encode()


def test_common_extended_negotiation_related_list_exact():
    """PS3.7 D.3.3.6: the related general SOP class list has its own length; each UID its own 2-byte length."""
    head = _u16_uid(CT_STORAGE) + _u16_uid(STORAGE_SERVICE)
    rel = _u16_uid("1.2") + b"\x00"                      # one UID, then a stray byte: ends inside a UID length
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x57, head + struct.pack(">H", len(rel)) + rel)))
    assert d.body.user_info.common_extended_negotiation == [(CT_STORAGE, STORAGE_SERVICE, ["1.2"])]
    assert exact_findings(d) == [("error", "length-overflow", "related SOP class list ends inside a UID length")]
    f = d.tree.find("dicom.userinfo.commonextneg")
    assert [(c.key.rsplit(".", 1)[-1], c.offset - f.offset, c.length) for _, c in f.walk()][4:] == [
        ("len", 4, 2), ("sopclassuid", 6, 25), ("len", 31, 2), ("serviceclassuid", 33, 17), ("len", 50, 2),
        ("related", 52, 6), ("len", 52, 2), ("relatedsopclassuid", 54, 3), ("extra", 57, 1)]
    # A related UID whose length runs past the list: clamped, with the list's bytes left.
    rel = _u16_uid("1.2")[:3]
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x57, head + struct.pack(">H", len(rel)) + rel)))
    assert d.body.user_info.common_extended_negotiation == [(CT_STORAGE, STORAGE_SERVICE, ["1"])]
    assert exact_findings(d) == [("error", "length-overflow", "Related General SOP Class UID length 3 runs past"
                                                              " the end of its item (1 bytes left)")]
    # The list length itself runs past the item.
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x57, head + struct.pack(">H", 40) + _u16_uid("1.2"))))
    assert d.body.user_info.common_extended_negotiation == [(CT_STORAGE, STORAGE_SERVICE, ["1.2"])]
    assert exact_findings(d) == [("error", "length-overflow", "related general SOP class identification length 40"
                                                              " runs past the end of its item (5 bytes left)")]
    # No related classes at all is fine.
    d = dissect_pdu(assoc_rq(extra_user_items=common_ext_neg(CT_STORAGE, STORAGE_SERVICE, [])))
    assert exact_findings(d) == [] and d.body.user_info.common_extended_negotiation == [
        (CT_STORAGE, STORAGE_SERVICE, [])]


def test_role_and_extended_negotiation_edges_exact():
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x54, struct.pack(">H", 40) + b"1.2" + b"\x01\x00")))
    assert d.body.user_info.roles == []                       # roles cut off: not recorded
    assert exact_findings(d)[0] == ("error", "length-overflow",
                                    "SOP Class UID length 40 runs past the end of its item (5 bytes left)")
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x56, _u16_uid(CT_STORAGE))))
    assert exact_findings(d) == [] and d.body.user_info.extended_negotiation == [(CT_STORAGE, b"")]
    assert d.tree.find("dicom.userinfo.extneg.info").display == "0 bytes"
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x56, _u16_uid(CT_STORAGE) + b"\x00" * 70)))
    info = d.tree.find("dicom.userinfo.extneg.info")
    assert (info.value, info.display, info.length) == (None, "70 bytes: " + "00 " * 15 + "00 …", 70)
    assert d.body.user_info.extended_negotiation == [(CT_STORAGE, b"\x00" * 70)]
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x56, _u16_uid(CT_STORAGE) + b"\x05" * 64)))
    assert d.tree.find("dicom.userinfo.extneg.info").value == b"\x05" * 64


def test_pdata_header_fields_are_the_ones_read():
    """The P-DATA-TF tree shows the header as read, with its findings (a non-zero reserved byte)."""
    d = dissect_pdu(pdu(0x04, pdv(1, 3, b"ab"), reserved=0x10))
    assert [(f.key, f.display) for f in d.tree.children[:3]] == [
        ("dicom.pdu.type", "P-DATA-TF (0x04)"), ("dicom.assoc.reserved", "10"), ("dicom.pdu.len", "8")]
    assert exact_findings(d) == [("note", "reserved-nonzero",
                                  "Reserved is 10; PS3.8 §9.3 says send 00H (receivers ignore it)")]
    d = dissect_pdu(pdata([(1, 3, b"abcdef")])[:14])
    assert d.tree.find("dicom.pdu.len").findings[0].message == "PDU length is 12 but only 8 bytes are present"


def test_inputs_that_are_not_bytes_never_raise():
    """dissect_pdu never raises: a str (a caller's mistake) or a list with a non-byte is an internal-error finding."""
    d = dissect_pdu("abc")
    assert (d.pdu_type, d.info, d.tree.length) == (0, "Unknown PDU (0x00) (undecoded)", 3)
    assert [f.code for f in d.findings] == ["dissector-error"]
    d = dissect_pdu([256, 0])
    assert (d.pdu_type, d.info, d.tree.length) == (256, "Unknown PDU (0x100) (undecoded)", 2)


def test_truncated_inside_item_header_stops_without_judging_the_rest():
    """Cut inside an item's length: the PDU is truncated, and missing items are not reported as absent."""
    d = dissect_pdu(assoc_rq()[:77])
    assert exact_findings(d) == [("error", "truncated", "PDU length is 210 but only 71 bytes are present"),
                                 ("error", "truncated", "Item Length: 2 bytes needed, only 1 present")]
    actx = d.tree.find("dicom.assoc.item.actx")
    assert (actx.offset, actx.length) == (74, 3)
    # Cut inside the asynchronous operations window: no half window in the body.
    rq = assoc_rq(extra_user_items=async_window(3, 2))
    at = rq.find(b"\x53\x00\x00\x04")
    d = dissect_pdu(rq[:at + 7])
    assert d.body.user_info.async_window is None
    assert exact_findings(d)[-1] == ("error", "truncated",
                                     "Maximum Number Operations Performed: 2 bytes needed, only 1 present")


def test_length_overflow_findings_sit_on_the_length_field():
    ui = user_identity_rq(2, b"bob", b"pw")
    d = dissect_pdu(assoc_rq(extra_user_items=ui[:6] + struct.pack(">H", 30) + ui[8:]))
    plen = d.tree.find("dicom.userinfo.user_identify.primary_field_length")
    assert [(x.severity, x.code, x.message) for x in plen.findings] == [
        ("error", "length-overflow", "primary field length 30 runs past the end of its item (7 bytes left)")]
    body = bytes([2, 0]) + struct.pack(">H", 3) + b"bob" + struct.pack(">H", 9) + b"pw"
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x58, body)))
    slen = d.tree.find("dicom.userinfo.user_identify.secondary_field_length")
    assert [(x.severity, x.code, x.message) for x in slen.findings] == [
        ("error", "length-overflow", "secondary field length 9 runs past the end of its item (2 bytes left)")]
    rel = struct.pack(">H", 40) + b"1.2"
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x57, _u16_uid(CT_STORAGE) + _u16_uid(STORAGE_SERVICE) + rel)))
    assert [x.code for x in d.tree.find("dicom.userinfo.commonextneg.related.len").findings] == ["length-overflow"]
    assert d.tree.find("dicom.userinfo.commonextneg").findings == []


def test_raw_fields_keys_and_labels():
    d = dissect_pdu(pdu(0x05, bytes(6)))
    extra = d.tree.find("dicom.pdu.extra")
    assert (extra.label, extra.offset, extra.length, extra.display) == ("Extra bytes", 10, 2, "2 bytes: 00 00")
    d = dissect_pdu(pdu(0x01, assoc_rq()[6:] + item(0x7E, b"abcd")))
    assert d.tree.find("dicom.assoc.item.data").label == "Item data"
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x5F, b"abcd")))
    assert d.tree.find("dicom.userinfo.data").label == "Item data"
    body = bytes([2, 0]) + struct.pack(">H", 3) + b"bob" + struct.pack(">H", 2) + b"pw" + b"zz"
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x58, body)))
    assert d.tree.find("dicom.userinfo.user_identify.extra").label == "Extra bytes"


def test_too_many_items_finding_exact():
    from dicomsniff.ul.dissect import MAX_ITEMS
    many = b"".join(item(0x7E, b"") for _ in range(MAX_ITEMS + 1))
    d = dissect_pdu(pdu(0x01, assoc_rq(with_user_info=False)[6:] + many))
    assert ("error", "too-many-items", f"more than {MAX_ITEMS} items in the PDU") in exact_findings(d)


def test_empty_abstract_syntax_at_the_end_of_a_context_is_counted():
    """The pre-scan counts a 4-byte (empty) abstract syntax sub-item ending exactly at the context's end."""
    ctx = item(0x20, bytes([1, 0, 0, 0]) + abstract_syntax(VERIFICATION) + transfer_syntax(IMPLICIT_LE)
               + item(0x30, b""))
    base = assoc_rq()
    d = dissect_pdu(pdu(0x01, base[6:74] + app_context() + ctx + base[74 + 25 + 50:]))
    assert exact_findings(d) == [
        ("warning", "multiple-abstract-syntax", "context 1 holds 2 abstract syntax sub-items; one allowed"),
        ("warning", "zero-length-item", "Abstract Syntax is empty (item length 0)")]


def test_non_utf8_passcode_is_masked_without_an_internal_error():
    secret = b"\xff\xfeS3cr3t"
    d = dissect_pdu(assoc_rq(extra_user_items=user_identity_rq(2, b"bob", secret)))
    assert exact_findings(d) == []
    dumped = json.dumps(d.tree.to_json()) + d.info
    assert "S3cr3t" not in dumped and secret.hex() not in dumped


@pytest.mark.parametrize("cut,last", [
    (80, "Application Context Name: 21 bytes needed, only 2 present"),
    (120, "Abstract Syntax: 17 bytes needed, only 9 present"),
    (160, "Maximum Length Received: 4 bytes needed, only 3 present"),
])
def test_truncated_inside_an_item_blames_only_the_capture(cut, last):
    """A PDU cut inside an item's value: the truncation is reported, never items "missing" after it
    (no-presentation-context, no-user-info, no-max-length... would blame the peer for the capture's loss)."""
    d = dissect_pdu(assoc_rq()[:cut])
    assert exact_findings(d) == [("error", "truncated", f"PDU length is 210 but only {cut - 6} bytes are present"),
                                 ("error", "truncated", last)]


def test_accepted_context_with_an_empty_transfer_syntax_is_an_error():
    """PS3.8 §9.3.3.2: an accepted context names the transfer syntax it accepted; an empty sub-item names none.
    (Before: only a zero-length warning, and the context shown as "ID 1, acceptance, ".)"""
    d = dissect_pdu(assoc_ac(results=[(1, 0, "")]))
    assert exact_findings(d) == [
        ("error", "no-transfer-syntax", "accepted context 1 names no transfer syntax"),
        ("warning", "zero-length-item", "Transfer Syntax is empty (item length 0)")]
    assert d.tree.find("dicom.pctx").display == "ID 1, acceptance"
    assert d.body.contexts[0].transfer_syntaxes == [""]


def test_blob_cut_by_the_capture_stops_the_judgement_of_its_parents():
    """A raw value (here extended negotiation information) cut by the end of the data: one truncation error,
    and the user information is not said to lack Maximum Length or Implementation Class UID."""
    rq = assoc_rq(max_pdu=None, impl_uid=None, impl_version=None,
                  extra_user_items=ext_neg(STUDY_ROOT_FIND, b"\x01" * 40))
    d = dissect_pdu(rq[:len(rq) - 10])
    assert exact_findings(d) == [
        ("error", "truncated", "PDU length is 220 but only 210 bytes are present"),
        ("error", "truncated", "Service Class Application Information: 40 bytes needed, only 30 present")]
    info = d.tree.find("dicom.userinfo.extneg.info")
    assert (info.length, info.value) == (30, b"\x01" * 30)
    # Values over 64 bytes are not copied into the tree (a preview only).
    d = dissect_pdu(assoc_rq(extra_user_items=ext_neg(STUDY_ROOT_FIND, b"\x01" * 65)))
    info = d.tree.find("dicom.userinfo.extneg.info")
    assert (info.value, info.display) == (None, "65 bytes: " + "01 " * 15 + "01 …")


@pytest.mark.parametrize("title,value,flagged", [
    ("A\t", "A\t", True),             # a tab is a control character, not padding
    ("XSCUX", "XSCUX", False),
    ("A B", "A B", False),            # an inner space is allowed (PS3.5 AE: 0x20 to 0x7E, no backslash)
    ("A\x7f", "A\x7f", True),         # DEL is not
    ("~", "~", False),
])
def test_ae_title_characters(title, value, flagged):
    d = dissect_pdu(assoc_rq(calling=title))
    assert d.body.calling_ae == value
    assert ("ae-title-nonprintable" in codes(d)) is flagged


def test_info_line_names_missing_and_empty_titles():
    assert dissect_pdu(assoc_rq(calling=" " * 16)).info == "A-ASSOCIATE-RQ (empty) → ANY-SCP"
    assert dissect_pdu(assoc_rq()[:12]).info == "A-ASSOCIATE-RQ ? → ?"          # cut before both titles
    assert dissect_pdu(assoc_rq()[:30]).info == "A-ASSOCIATE-RQ ? → ANY-SCP"


def test_user_abort_reason_is_not_significant():
    """PS3.8 §9.3.8: the reason is significant only for source 2; a user abort's reason 0 reads so."""
    assert dissect_pdu(abort(0, 0)).tree.find("dicom.assoc.abort.reason").display == "not significant (0)"


def test_any_bytes_like_input_decodes_the_same():
    data = release_rq()
    for form in (bytearray(data), list(data), memoryview(data)):
        d = dissect_pdu(form)
        assert (d.info, d.findings) == ("A-RELEASE-RQ", []), type(form)


def test_unknown_pdu_type_cut_short_and_trailing_labels():
    d = dissect_pdu(pdu(0x0A, b"xyz")[:7])
    assert exact_findings(d) == [("error", "truncated", "PDU length is 3 but only 1 bytes are present"),
                                 ("error", "unknown-pdu-type", "PDU type 0x0A is not defined by PS3.8 §9.3.1")]
    raw = d.tree.find("dicom.pdu.data")
    assert (raw.label, raw.offset, raw.length, raw.value) == ("PDU data", 6, 1, b"x")
    assert dissect_pdu(release_rq() + b"\x07").tree.find("dicom.trailing").label == "Trailing bytes"


def _cut_user_items(items: bytes, drop: int):
    """A request whose user information holds only ``items``, with its last ``drop`` bytes cut off."""
    rq = assoc_rq(max_pdu=None, impl_uid=None, impl_version=None, extra_user_items=items)
    return dissect_pdu(rq[:len(rq) - drop])



def test_sub_items_cut_by_the_capture_exact():
    # Common extended negotiation cut inside its related list: recorded with what was read.
    rel = _u16_uid("1.2") + _u16_uid("1.3")
    head = _u16_uid(CT_STORAGE) + _u16_uid(STORAGE_SERVICE)
    d = _cut_user_items(item(0x57, head + struct.pack(">H", len(rel)) + rel), 4)
    assert d.body.user_info.common_extended_negotiation == [(CT_STORAGE, STORAGE_SERVICE, ["1.2"])]
    assert exact_findings(d) == [
        ("error", "truncated", "PDU length is 209 but only 205 bytes are present"),
        ("error", "truncated", "Related General SOP Class UID Length: 2 bytes needed, only 1 present")]
    # ... cut inside its SOP class UID: nothing recorded, one truncation (the service class is not read).
    d = _cut_user_items(item(0x57, head + struct.pack(">H", len(rel)) + rel), 41)
    assert d.body.user_info.common_extended_negotiation == []
    assert exact_findings(d) == [("error", "truncated", "PDU length is 209 but only 168 bytes are present"),
                                 ("error", "truncated", "SOP Class UID: 25 bytes needed, only 15 present")]
    # Role selection cut between the SCU and SCP role bytes: no half role in the body.
    d = _cut_user_items(role_selection(CT_STORAGE, 1, 0), 1)
    assert d.body.user_info.roles == []
    assert exact_findings(d)[-1] == ("error", "truncated", "SCP Role: 1 bytes needed, only 0 present")
    # A presentation context cut right after its item header: no ID to show.
    d = dissect_pdu(assoc_rq()[:103])
    assert d.tree.find("dicom.pctx").display == ""
    assert dissect_pdu(assoc_rq()[:104]).tree.find("dicom.pctx").display == "ID 1"       # the ID, nothing more


def test_related_list_edges_exact():
    head = _u16_uid(CT_STORAGE) + _u16_uid(STORAGE_SERVICE)
    rel = _u16_uid("1.2") + b"\x00\x00"                  # a last UID of length 0: two bytes, a whole entry
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x57, head + struct.pack(">H", len(rel)) + rel)))
    assert exact_findings(d) == []
    assert d.body.user_info.common_extended_negotiation == [(CT_STORAGE, STORAGE_SERVICE, ["1.2", ""])]
    rel = _u16_uid("1.2") + b"\x00"
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x57, head + struct.pack(">H", len(rel)) + rel)))
    assert d.tree.find("dicom.userinfo.commonextneg.related.extra").label == "Stray bytes"


def test_more_length_overflows_exact():
    # A UID length with no byte left in its item at all (PS3.7 D.3.3.4).
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x54, struct.pack(">H", 1))))
    assert exact_findings(d)[0] == ("error", "length-overflow",
                                    "SOP Class UID length 1 runs past the end of its item (0 bytes left)")
    # The user identity answer's server response length (PS3.7 D.3.3.7.2), on the length field.
    d = dissect_pdu(assoc_ac(extra_user_items=item(0x59, struct.pack(">H", 9) + b"tok")))
    f = d.tree.find("dicom.userinfo.user_identify.server_response_length")
    assert [(x.severity, x.code, x.message) for x in f.findings] == [
        ("error", "length-overflow", "server response length 9 runs past the end of its item (3 bytes left)")]
    assert d.body.user_info.user_identity.server_response == b"tok"


def test_small_displays_exact():
    d = dissect_pdu(assoc_rq(extra_user_items=async_window(0, 1)))
    assert d.tree.find("dicom.userinfo.asyncneg.maxnumopsinv").display == "0 (unlimited)"
    assert d.tree.find("dicom.userinfo.asyncneg.maxnumopsper").display == "1"
    assert d.tree.find("dicom.userinfo.asyncneg").display == "invoked 0 (unlimited), performed 1"
    d = dissect_pdu(assoc_ac(results=[(1, 0, "")]))
    assert d.tree.find("dicom.pctx.xfer").display == "(empty)"


def test_user_identity_request_findings_exact():
    """PS3.7 D.3.3.7.1: type 2 needs a passcode; only type 2 uses the secondary field; types 1-5 are defined."""
    assert exact_findings(dissect_pdu(assoc_rq(extra_user_items=user_identity_rq(2, b"bob")))) == [
        ("warning", "missing-passcode", "username and passcode identity without a passcode")]
    assert exact_findings(dissect_pdu(assoc_rq(extra_user_items=user_identity_rq(1, b"bob", b"pw")))) == [
        ("note", "unexpected-secondary-field", "identity type 1 carries a secondary field; only type 2 uses it")]
    assert exact_findings(dissect_pdu(assoc_rq(extra_user_items=user_identity_rq(9, b"bob")))) == [
        ("warning", "unknown-value", "user identity type 9 is not defined (PS3.7 §D.3.3.7.1)")]
    # A username that is not UTF-8 is shown with replacement characters, not an internal error.
    d = dissect_pdu(assoc_rq(extra_user_items=user_identity_rq(1, b"bo\xffb")))
    assert exact_findings(d) == []
    assert d.tree.find("dicom.userinfo.user_identify").display == "username bo\ufffdb"
    assert d.tree.find("dicom.userinfo.user_identify.primary_field").value == "bo\ufffdb"


def test_user_identity_cut_by_the_capture_exact():
    rq = assoc_rq(max_pdu=None, impl_uid=None, impl_version=None,
                  extra_user_items=user_identity_rq(2, b"bob", b"hunter2"))
    d = dissect_pdu(rq[:-4])                                   # inside the passcode
    assert exact_findings(d) == [("error", "truncated", "PDU length is 167 but only 163 bytes are present"),
                                 ("error", "truncated", "Secondary Field: 7 bytes needed, only 3 present")]
    assert "hun" not in json.dumps(d.tree.to_json())
    at = rq.find(b"\x58\x00")
    d = dissect_pdu(rq[:at + 5])                               # after the identity type byte
    assert exact_findings(d) == [("error", "truncated", "PDU length is 167 but only 152 bytes are present"),
                                 ("error", "truncated", "Positive Response Requested: 1 bytes needed, only 0 present")]
    assert d.body.user_info.user_identity.type == 2 and d.body.user_info.user_identity.primary == b""


def test_passcode_pattern_inside_other_bytes_is_not_masked():
    """Bytes that only look like an identity sub-item (their lengths do not add up) are not a passcode."""
    info = bytes([0x7E, 0x00, 0x00, 0x40, 0x02, 0x00, 0x00, 0x01]) + b"A" + b"\x00\x05" + b"HELLO"
    d = dissect_pdu(assoc_rq(extra_user_items=ext_neg(STUDY_ROOT_FIND, info)))
    assert d.tree.find("dicom.userinfo.extneg.info").display == \
        "16 bytes: 7e 00 00 40 02 00 00 01 41 00 05 48 45 4c 4c 4f"
    assert exact_findings(d) == []


def test_fixed_size_item_too_short_keeps_its_bytes_as_item_data():
    d = dissect_pdu(assoc_rq(max_pdu=None, extra_user_items=item(0x51, b"\x00\x01")))
    raw = d.tree.find("dicom.userinfo.maxlen").find("dicom.assoc.item.data")
    assert (raw.label, raw.value, raw.length) == ("Item data", b"\x00\x01", 2)


def test_token_preview_printable_range():
    """A server response is previewed as text only if all of its first bytes are 0x20-0x7E."""
    def shown(token):
        d = dissect_pdu(assoc_ac(extra_user_items=user_identity_ac(token)))
        return d.tree.find("dicom.userinfo.user_identify.server_response").display
    assert shown(b"a b") == "3 bytes: a b"
    assert shown(b"a~b") == "3 bytes: a~b"
    assert shown(b"a\x7fb") == "3 bytes: 61 7f 62"
    assert shown(b"a\x1fb") == "3 bytes: 61 1f 62"


@pytest.mark.parametrize("secret", [b"pwd", b"p\x1bzz", b"hunter2"])
def test_passcode_text_is_masked_wherever_it_appears(secret):
    """The passcode is masked in every display, raw or terminal-escaped, from 3 characters on, and exactly."""
    d = dissect_pdu(assoc_rq(calling=secret, extra_user_items=user_identity_rq(2, b"bob", secret)))
    assert d.info == "A-ASSOCIATE-RQ ******** → ANY-SCP"
    assert d.tree.find("dicom.assoc.ae.calling").display == "********"


def test_passcode_masking_stops_at_the_passcode():
    """Fields after the passcode (here the next sub-item) are shown; a field that spans it is hidden, value too."""
    d = dissect_pdu(assoc_rq(extra_user_items=user_identity_rq(2, b"bob", b"hunter2") + async_window(1, 1)))
    a = d.tree.find("dicom.userinfo.asyncneg")
    assert a.display == "invoked 1, performed 1"
    assert [c.display for c in a.children] == ["Asynchronous Operations Window (0x53)", "00", "4", "1", "1"]
    d = dissect_pdu(pdu(0x01, assoc_rq()[6:] + item(0x7E, user_identity_rq(2, b"bob", b"hunter2"))))
    raw = d.tree.find("dicom.assoc.item.data")
    assert (raw.value, raw.display) == (None, "(hidden: overlaps a passcode)")
    assert exact_findings(d) == [("note", "unknown-item", "Unknown item (0x7E): details hidden (overlaps a passcode)")]


def test_many_identity_items_still_mask():
    d = dissect_pdu(assoc_rq(calling="hunter2", extra_user_items=user_identity_rq(2, b"bob", b"hunter2") * 16))
    assert d.info == "A-ASSOCIATE-RQ ******** → ANY-SCP"


def test_passcode_is_masked_in_finding_messages():
    d = dissect_pdu(assoc_rq(app_ctx="hunter2", extra_user_items=user_identity_rq(2, b"bob", b"hunter2")))
    assert ("warning", "unknown-application-context",
            "application context '********' is not the DICOM one (1.2.840.10008.3.1.1.1)") in exact_findings(d)
    assert d.tree.find("dicom.actx").display == "********"      # (its value stays what the wire said)


def test_last_details_exact():
    # The UID length overflow sits on the length field of a role selection (PS3.7 D.3.3.4).
    d = dissect_pdu(assoc_rq(extra_user_items=item(0x54, b"\x00\x28" + b"1.2\x01\x00")))
    assert [x.code for x in d.tree.find("dicom.userinfo.rolesel.sopclassuid.len").findings] == ["length-overflow"]
    assert d.tree.find("dicom.userinfo.rolesel").findings == []
    # Item extra bytes are labelled.
    d = dissect_pdu(assoc_rq(max_pdu=None, extra_user_items=item(0x51, struct.pack(">IH", 5000, 7))))
    assert d.tree.find("dicom.assoc.item.extra").label == "Extra bytes"
    # The internal-error tree is a plain root.
    d = dissect_pdu(None)
    assert (d.tree.key, d.tree.label, d.tree.display) == ("dicom", "DICOM", "")
    # The "more PDVs" node spans from the first PDV not shown to the end of the last one, clamped.
    from dicomsniff.ul.dissect import MAX_PDVS
    pdvs = [Pdv(6 + i * 8, 4, 1, 0) for i in range(MAX_PDVS)]
    end = 6 + MAX_PDVS * 8
    pdvs += [Pdv(end, 4, 1, 0), Pdv(end + 8, 4, 1, 0), Pdv(end + 16, 10, 1, 0)]
    t = build_pdata_tree(MAX_PDVS * 8 + 30, pdvs, [])
    more = t.find("dicom.pdv.more")
    assert (more.label, more.offset, more.length) == ("3 more PDVs", end, 30)
    more = build_pdata_tree(MAX_PDVS * 8 + 30, pdvs, [], available=end).find("dicom.pdv.more")
    assert (more.offset, more.length) == (end, 0)
