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


# -- boundaries of every check (mutation testing, tests/MUTATION.md) ------------------------------------------

import struct  # noqa: E402

from tests.pdu_fixtures import ae, item  # noqa: E402


def _rq_with(uid: bytes, *, length: int | None = None, version: int = 1) -> bytes:
    """A-ASSOCIATE-RQ fixed part (PS3.8 §9.3.2: version, reserved, called, calling, 32 reserved) and one
    application context item 0x10 holding ``uid``; ``length`` overrides the PDU length."""
    body = struct.pack(">HH", version, 0) + ae("SCP") + ae("SCU") + bytes(32) + item(0x10, uid)
    return pdu(0x01, body, length=length)


def test_associate_rq_boundaries():
    full = assoc_rq()
    assert looks_like_associate_rq(full[:79]) and not looks_like_associate_rq(full[:78])  # one UID byte needed
    assert looks_like_associate_rq(_rq_with(b"1"))                      # 73 = 68 + item header + 1: the least
    assert looks_like_associate_rq(_rq_with(b"1", length=1 << 20))      # 1 MiB: the most
    assert not looks_like_associate_rq(_rq_with(b"1", length=(1 << 20) + 1))
    assert looks_like_associate_rq(_rq_with(b"1", version=3))           # bit 0 of the version is what counts
    assert not looks_like_associate_rq(_rq_with(b"1", version=0x0100))
    uid64 = b"1." + b"2" * 62
    assert looks_like_associate_rq(_rq_with(uid64)) and not looks_like_associate_rq(_rq_with(uid64 + b"3"))
    assert not looks_like_associate_rq(_rq_with(b""))                   # item length 0
    # The application context item must fit in the PDU length.
    assert looks_like_associate_rq(_rq_with(b"1.2", length=68 + 4 + 3))
    assert not looks_like_associate_rq(_rq_with(b"1.2", length=68 + 4 + 2))
    # UID text: NUL padding allowed, a leading digit, only digits and dots.
    assert looks_like_associate_rq(_rq_with(b"1.2\x00"))
    assert not looks_like_associate_rq(_rq_with(b".1.2"))
    assert not looks_like_associate_rq(_rq_with(b"1.2a"))
    assert not looks_like_associate_rq(_rq_with(b"\x00\x00"))
    # AE titles of NUL padding only are empty too; one character is enough.
    body = bytearray(_rq_with(b"1.2"))
    body[10:26] = bytes(16)
    assert not looks_like_associate_rq(bytes(body))
    body[10:26] = b"\x00" * 15 + b"A"
    assert looks_like_associate_rq(bytes(body))
    # The same shape as an A-ASSOCIATE-AC only when asked for.
    ac = assoc_ac()
    assert looks_like_associate_rq(ac, pdu_type=0x02) and not looks_like_associate_rq(ac)
    assert not looks_like_associate_rq(None)                            # never raises


def test_plausible_header_boundaries():
    assert plausible_pdu_header(b"\x04\x00\x00\x00\x00\x06")             # 6 bytes: the header alone
    assert not plausible_pdu_header(b"\x04\x00\x00\x00\x00")
    assert plausible_pdu_header(b"\x04\x00\x00\x00\x00\x06", max_len=6)
    assert not plausible_pdu_header(b"\x04\x00\x00\x00\x00\x07", max_len=6)
    assert not plausible_pdu_header(b"\x04\x00\x00\x00\x00\x05")
    assert plausible_pdu_header(b"xx\x04\x00\x00\x00\x00\x06", 2)
    # A-ASSOCIATE: length 68 (fixed part) is the least; the version bit is checked once 8 bytes are there.
    assert plausible_pdu_header(pdu(0x01, bytes(68), length=68)[:6])
    assert plausible_pdu_header(b"\x01\x00\x00\x00\x00\x44\x00")
    assert not plausible_pdu_header(b"\x01\x00\x00\x00\x00\x43")
    assert not plausible_pdu_header(b"\x02\x00\x00\x00\x00\x44\x00\x02")
    assert plausible_pdu_header(b"\x02\x00\x00\x00\x00\x44\x00\x01")
    assert plausible_pdu_header(b"\x01\x00\x00\x10\x00\x00\x00\x01")      # 1 MiB
    assert not plausible_pdu_header(b"\x01\x00\x00\x10\x00\x01\x00\x01")
    assert not plausible_pdu_header(b"\x01\x00\x00\x00\x01\x00\x00\x01", max_len=255)
    # A-ASSOCIATE-RJ and A-ABORT fields are checked once all 10 bytes are there.
    assert plausible_pdu_header(pdu(0x03, bytes([0, 2, 3, 9])))
    assert not plausible_pdu_header(pdu(0x03, bytes([0, 0, 1, 1])))
    assert not plausible_pdu_header(pdu(0x03, bytes([0, 1, 4, 1])))
    assert not plausible_pdu_header(pdu(0x03, bytes([0, 1, 0, 1])))
    assert plausible_pdu_header(pdu(0x03, bytes([0, 9, 9, 9]))[:9])
    assert plausible_pdu_header(pdu(0x07, bytes([0, 0, 1, 6])))
    assert not plausible_pdu_header(pdu(0x07, bytes([0, 0, 2, 7])))
    assert not plausible_pdu_header(pdu(0x07, bytes([0, 0, 3, 0])))
    assert plausible_pdu_header(pdu(0x07, bytes([0, 0, 9, 9]))[:9])
    assert plausible_pdu_header(pdu(0x06, bytes([1, 2, 3, 4])))          # release: reserved bytes not checked
    # P-DATA-TF: the first PDV must fit exactly; its context id and control bits once present.
    assert plausible_pdu_header(pdu(0x04, pdv(1, 3, b"ab")))
    assert plausible_pdu_header(pdu(0x04, pdv(1, 3, b"ab", length=4)))
    assert not plausible_pdu_header(pdu(0x04, pdv(1, 3, b"ab", length=5)))
    assert plausible_pdu_header(pdu(0x04, pdv(1, 3, b"", length=2)))
    assert plausible_pdu_header(pdu(0x04, pdv(2, 3, b"ab"))[:10])       # context id not yet seen
    assert plausible_pdu_header(pdu(0x04, pdv(1, 9, b"ab"))[:11])       # control header not yet seen
    assert not plausible_pdu_header(pdu(0x04, pdv(1, 9, b"ab"))[:12])
    assert plausible_pdu_header(pdu(0x04, pdv(255, 0, b"ab")))


def test_classify_boundaries():
    two = release_rq() + release_rp()
    assert classify_stream_start(two) == "midstream"
    assert classify_stream_start(two[:16]) == "midstream"                # the second header is enough
    assert classify_stream_start(two[:15]) is None
    assert classify_stream_start(assoc_ac()) == "accept"                # an AC alone: its RQ was lost
    assert classify_stream_start(assoc_ac()[:79]) == "accept"
    assert classify_stream_start(release_rq() + b"\x05\x00\x00\x00\x00\x05") is None


def test_detection_checks_exactly_the_bytes_they_name():
    """Each check reads its own bytes: the calling AE is bytes 26-41 (not the reserved byte 42), the UID's
    padding is NUL only, the PDV length is checked with 10 bytes and the context id with 11."""
    body = bytearray(_rq_with(b"1.2"))
    body[26:42] = b" " * 16
    body[42] = 0x01                                          # first reserved byte set, calling AE empty
    assert not looks_like_associate_rq(bytes(body))
    body = bytearray(_rq_with(b"1.2"))
    body[10:26] = b"X" * 16                                  # an AE title of X's is a title
    assert looks_like_associate_rq(bytes(body))
    assert not looks_like_associate_rq(_rq_with(b"1.2X"))
    assert not plausible_pdu_header(pdu(0x04, pdv(1, 3, b"ab", length=50))[:10])
    assert not plausible_pdu_header(pdu(0x04, pdv(2, 3, b"ab"))[:11])
    assert plausible_pdu_header(pdu(0x03, bytes([0, 1, 2, 2])))          # source 2 (ACSE) is defined
    assert not plausible_pdu_header(release_rq(), pos=-10)               # a negative position is never a header
    assert not plausible_pdu_header(None)
