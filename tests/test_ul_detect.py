"""Tests for dicomsniff.ul.detect: recognising DICOM from the first bytes of a TCP direction."""

from __future__ import annotations

import pathlib
import random

import pytest

from dicomsniff.ul.detect import classify_stream_start, looks_like_associate_rq, plausible_pdu_header
from tests.pdu_fixtures import (COMMAND, DATA, LAST, PYNETDICOM_ASSOC_RQ, PYNETDICOM_ASSOC_RQ_USER_ASYNC, abort,
                                assoc_ac, assoc_rj, assoc_rq, pdata, pdu, pdv, release_rp, release_rq)

EXTERNAL = pathlib.Path("/work/shared/external-captures")

HTTP = b"GET /wado?requestType=WADO HTTP/1.1\r\nHost: pacs.example\r\nAccept: */*\r\n\r\n" * 3
TLS_HELLO = bytes.fromhex("16030100f4010000f00303") + bytes(range(32)) + b"\x00" * 200
SSH = b"SSH-2.0-OpenSSH_9.6\r\n" + bytes(100)


@pytest.mark.parametrize("data", [
    assoc_rq(), assoc_rq("A", "B"), assoc_rq(calling="STORESCU  ", called="PACS", max_pdu=0),
    PYNETDICOM_ASSOC_RQ, PYNETDICOM_ASSOC_RQ_USER_ASYNC,
])
def test_associate_rq_detected(data):
    assert looks_like_associate_rq(data)
    assert looks_like_associate_rq(data[:80])           # the first segment's worth is enough
    assert classify_stream_start(data) == "associate"
    assert plausible_pdu_header(data)


def test_external_go_netdicom_requests_detected():
    files = sorted(EXTERNAL.glob("dicom_arq_*.pcap")) if EXTERNAL.exists() else []
    if not files:
        pytest.skip("external captures not present")
    for f in files:
        raw = f.read_bytes()
        i = raw.find(b"\x01\x00\x00\x00")
        while i >= 0 and not looks_like_associate_rq(raw[i:]):
            i = raw.find(b"\x01\x00\x00\x00", i + 1)
        assert i >= 0, f.name
        assert classify_stream_start(raw[i:i + 1024]) == "associate"


@pytest.mark.parametrize("data", [
    b"", b"\x01\x00", assoc_rq()[:77],                               # too short to tell
    assoc_ac(),                                                      # an answer, not a request
    HTTP, TLS_HELLO, SSH, b"\x00" * 200, b"\xff" * 200,
    assoc_rq(version=2),                                             # version bit 0 clear
    assoc_rq(calling=" " * 16),                                      # empty AE title
    assoc_rq(app_ctx="hello.world"),                                 # not a UID
    assoc_rq(app_ctx=None),                                          # first item is not 0x10
    pdu(0x01, assoc_rq()[6:], length=5 << 20),                       # 5 MiB A-ASSOCIATE-RQ
    pdu(0x01, assoc_rq()[6:], reserved=1),
])
def test_not_associate_rq(data):
    assert not looks_like_associate_rq(data)
    assert classify_stream_start(data) != "associate"


def test_hostile_ae_title_is_still_detected():
    # Control characters in an AE title are invalid (PS3.5), but the request is DICOM and the user
    # must see it (escaped); the header and application context UID are what make detection specific.
    data = assoc_rq(calling=b"\x1b[31mX")
    assert looks_like_associate_rq(data) and classify_stream_start(data) == "associate"


def test_random_bytes_are_not_dicom():
    rng = random.Random(1234)
    for _ in range(3000):
        buf = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
        assert classify_stream_start(buf) is None
    for head in (HTTP, TLS_HELLO, SSH):
        assert classify_stream_start(head) is None


@pytest.mark.parametrize("data", [
    release_rq(), release_rp(), abort(0, 0), abort(2, 6), assoc_rj(1, 1, 7), assoc_rj(2, 3, 1),
    pdata([(1, COMMAND | LAST, b"x" * 40)]), pdata([(255, DATA, b"")]), assoc_rq(), assoc_ac(),
])
def test_plausible_headers(data):
    assert plausible_pdu_header(data)
    assert plausible_pdu_header(b"junk" + data, 4)


@pytest.mark.parametrize("data", [
    pdu(0x05, bytes(5)),                                   # release length must be 4
    pdu(0x07, bytes(8)),                                   # abort length must be 4
    pdu(0x03, bytes([0, 1, 1, 1]), length=6),              # reject length must be 4
    pdu(0x03, bytes([0, 3, 1, 1])),                        # reject result 3 undefined
    pdu(0x07, bytes([0, 0, 5, 0])),                        # abort source 5 undefined
    pdu(0x04, pdv(2, 3, b"abc")),                          # even context id
    pdu(0x04, pdv(1, 4, b"abc")),                          # undefined control bits
    pdu(0x04, pdv(1, 3, b"abc", length=1)),                # PDV length < 2
    pdu(0x04, pdv(1, 3, b"abc", length=100)),              # PDV longer than the PDU
    pdu(0x04, b"\x00\x00"),                                # P-DATA too short for a PDV
    pdu(0x04, pdv(1, 3, b"abc"), reserved=1),              # reserved byte set
    pdu(0x08, bytes(4)), pdu(0x00, bytes(4)),              # no such PDU type
    pdu(0x01, bytes(10)),                                  # A-ASSOCIATE shorter than its fixed part
    b"\x05\x00\x00\x00",                                   # not even a header
])
def test_implausible_headers(data):
    assert not plausible_pdu_header(data)


def test_pdata_max_len_bound():
    big = b"\x04\x00" + (100 << 20).to_bytes(4, "big") + pdv(1, 0, b"")[:6]
    assert not plausible_pdu_header(big)
    assert plausible_pdu_header(big, max_len=200 << 20)
    assert plausible_pdu_header(b"\x04\x00\x00\x00\x01\x00")          # PDV header not yet seen: header only
    assert not plausible_pdu_header(release_rq(), pos=-1)
    assert not plausible_pdu_header(release_rq(), pos=100)


def test_midstream_runs():
    assert classify_stream_start(pdata([(1, DATA, b"x" * 30)]) + pdata([(1, DATA | LAST, b"y")])) == "midstream"
    assert classify_stream_start(release_rq() + release_rp()) == "midstream"
    assert classify_stream_start(pdata([(3, COMMAND | LAST, b"c" * 10)]) + release_rq()) == "midstream"
    assert classify_stream_start(assoc_ac() + pdata([(1, COMMAND | LAST, b"c")])) == "midstream"
    # One PDU alone, or one followed by junk, is not enough.
    assert classify_stream_start(pdata([(1, DATA, b"x" * 30)])) is None
    assert classify_stream_start(release_rq() + b"GET / HTTP/1.1\r\n") is None
    # A run that starts after the first byte is not "the start" of the stream.
    assert classify_stream_start(b"\x00" + release_rq() + release_rp()) is None
