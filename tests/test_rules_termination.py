"""Rules dicomsniff.model.rules.closing: peer-closed, open-at-capture-end, peer-ended — through diagnose() and
the CLI, on byte fixtures (tests/evidence_fixtures.py) and the real captures."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import evidence_fixtures as X
from dicomsniff.cli import main
from dicomsniff.model.diagnosis import Digest
from dicomsniff.model.rules.registry import CATALOGUE, discipline_errors

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
CLOSE_CODES = ("peer-closed", "peer-ended")


def codes(findings, number=None):
    return [f.code for f in findings if number is None or f.association == number]


def one(findings, code):
    hits = [f for f in findings if f.code == code]
    assert len(hits) == 1, (code, [(f.code, f.message) for f in findings])
    return hits[0]


def test_codes_are_declared_with_their_groups():
    assert {c: (CATALOGUE[c].group, CATALOGUE[c].severity) for c in CLOSE_CODES} == {
        "peer-closed": ("response", "warning"), "peer-ended": ("response", "error")}
    assert (CATALOGUE["association-incomplete"].group, CATALOGUE["association-incomplete"].severity) == \
        ("capture", "warning")
    assert not [e for e in discipline_errors() if e.split(":")[0] in CLOSE_CODES]


def test_server_reset_mid_store_is_one_error_naming_the_server():
    _assocs, fs = X.analyse(X.server_reset_mid_store())
    f = one(fs, "peer-closed")
    assert f.severity == "error"
    assert f.message.startswith("the server reset the connection (RST, frame 31) while the client was sending"
                                " C-STORE-RQ #3 (")
    # one line, not three: the cut PDU / message / missing response are in it
    assert codes(fs) == ["peer-closed"], [(x.code, x.message) for x in fs]


def test_client_fin_after_request_is_an_error_on_the_client():
    _assocs, fs = X.analyse(X.client_fin_after_request())
    assert codes(fs) == ["peer-closed"]
    (f,) = fs
    assert f.severity == "error" and f.frames == [8, 9]
    assert f.message == ("the client closed the connection (FIN, frame 9) 0.3 ms after its C-STORE-RQ #2 with no"
                         " A-RELEASE; C-STORE-RQ #2 got no response")


def test_fin_with_nothing_outstanding_is_a_warning():
    _assocs, fs = X.analyse(X.client_fin_when_idle())
    (f,) = fs
    assert (f.code, f.severity) == ("peer-closed", "warning")
    assert "no request was outstanding" in f.message


def test_capture_end_is_a_capture_warning_that_blames_no_peer():
    _assocs, fs = X.analyse(X.capture_ends_mid_association())
    (f,) = fs
    assert (f.code, f.severity) == ("association-incomplete", "warning")
    assert "still open when the capture ended" in f.message and "C-STORE-RQ #2 had no response yet" in f.message
    assert "closed" not in f.message and "reset" not in f.message
    assert f.hint.startswith("capture longer") and "not at fault" in f.hint


def test_released_and_aborted_captures_get_no_close_line():
    for name in ("store.pcap", "pynetdicom.pcap", "abort.pcap", "move.pcap", "concurrent.pcap"):
        _a, fs = X.analyse((CAPTURES / name).read_bytes())
        assert not set(codes(fs)) & {*CLOSE_CODES, "association-incomplete"}, name


def test_real_abort_keeps_its_abort_line():
    _a, fs = X.analyse((CAPTURES / "abort.pcap").read_bytes())
    assert codes(fs) == ["association-aborted"]


def test_diagnose_exit_status_follows_the_severity(tmp_path):
    r = CliRunner()
    cases = ((X.client_fin_after_request, 2), (X.client_fin_when_idle, 1), (X.capture_ends_mid_association, 1))
    for build, status in cases:
        cap = tmp_path / f"{build.__name__}.pcap"
        cap.write_bytes(build())
        res = r.invoke(main, ["diagnose", str(cap)])
        assert res.exit_code == status, (build.__name__, res.output)
        assert "peer-closed" in res.output or "still open when the capture ended" in res.output


@pytest.mark.skipif("closing" not in getattr(Digest, "__dataclass_fields__", {}),
                    reason="Digest does not carry the close facts yet (evidence.close_facts): see the report")
def test_peer_crash_across_associations():
    _assocs, fs = X.analyse(X.client_crash())
    f = one(fs, "peer-ended")
    assert f.severity == "error" and f.association == 1
    assert f.message.startswith("peer process ended (crash or kill) while C-STORE-RQ #5 on #1 and C-FIND-RQ #1 on"
                                " #2 were waiting for a response")
    assert codes(fs).count("peer-closed") == 2
    _assocs, fs = X.analyse(X.two_clients_close_apart())
    assert "peer-ended" not in codes(fs)


# -- real peers killed (scripts/make_close_captures.py) ----------------------------------------


@pytest.mark.skipif("closing" not in getattr(Digest, "__dataclass_fields__", {}),
                    reason="Digest does not carry the close facts yet (evidence.close_facts): see the report")
def test_real_scu_process_killed_mid_requests():
    """close_crash.pcap: CRASHSCU killed (SIGKILL) while its C-STORE and C-FIND wait on two associations."""
    assocs, fs = X.analyse((CAPTURES / "close_crash.pcap").read_bytes())
    assert [a.calling_ae.strip() for a in assocs] == ["CRASHSCU", "CRASHSCU"]
    closed = [f for f in fs if f.code == "peer-closed"]
    assert [(f.association, f.severity) for f in closed] == [(1, "error"), (2, "error")]
    assert all(f.message.startswith("the client closed the connection (FIN, frame ") for f in closed)
    assert "C-STORE-RQ #1 got no response" in closed[0].message
    assert "C-FIND-RQ #1 got no response" in closed[1].message
    f = one(fs, "peer-ended")
    assert f.association == 1 and f.severity == "error"
    assert f.message.startswith("peer process ended (crash or kill) while C-STORE-RQ #1 on #1 and C-FIND-RQ #1 on"
                                " #2 were waiting for a response: the client 127.0.0.1 ('CRASHSCU') closed both of"
                                " its connections (associations #1 and #2, FIN) within ")
    assert not {"association-incomplete", "no-response"} & set(codes(fs))


def test_real_scp_killed_mid_data_set():
    """close_scp_killed.pcap: storescp stopped, then killed with data unread: RST from the server."""
    (a,), fs = X.analyse((CAPTURES / "close_scp_killed.pcap").read_bytes())
    assert (a.closes[0].side, a.closes[0].how) == ("server", "rst")
    f = one(fs, "peer-closed")
    assert f.severity == "error"
    assert f.message.startswith(f"the server reset the connection (RST, frame {a.closes[0].frame}) while the client"
                                " was sending C-STORE-RQ #1 (")
    assert "KB of its data set sent), with no A-RELEASE" in f.message
    assert codes(fs) == ["peer-closed"], [(x.code, x.message) for x in fs]


@pytest.mark.skipif("closing" not in getattr(Digest, "__dataclass_fields__", {}),
                    reason="Digest does not carry the close facts yet (evidence.close_facts): see the report")
def test_peer_crash_of_a_process_that_is_client_and_server():
    """A C-MOVE SCU that is also the move destination dies: one host, one connection as client, one as server."""
    _assocs, fs = X.analyse(X.move_scu_crash())
    f = one(fs, "peer-ended")
    assert f.message == ("peer process ended (crash or kill) while C-MOVE-RQ #1 on #1 and C-STORE-RQ #1 on #2 were"
                         " waiting for a response: the peer at 10.0.0.1 ('MOVESCU') closed both of its connections"
                         " (associations #1 as client and #2 as server; FIN/RST) within 0.4 ms, with no A-RELEASE")
    by = {x.association: x for x in fs if x.code == "peer-closed"}
    assert by[1].message.startswith("the client reset the connection (RST")
    assert by[2].message.startswith("the server closed the connection (FIN")
    assert "instead of answering the client's C-STORE-RQ #1" in by[2].hint


@pytest.mark.skipif(not (CAPTURES / "peer_gdcm_move_crash.pcap").exists(), reason="peer capture not made")
def test_real_gdcmscu_dying_mid_move():
    """peer_gdcm_move_crash.pcap (scripts/make_peer_captures.py): gdcmscu, C-MOVE SCU and its own move
    destination, dies (SIGABRT) when Orthanc's sub-association sends the first C-STORE."""
    if "closing" not in getattr(Digest, "__dataclass_fields__", {}):
        pytest.skip("Digest does not carry the close facts yet")
    _assocs, fs = X.analyse((CAPTURES / "peer_gdcm_move_crash.pcap").read_bytes())
    f = one(fs, "peer-ended")
    assert "the peer at 127.0.0.1 ('GDCMSCU') closed both of its connections (associations #1 as client and" \
           " #2 as server; FIN/RST)" in f.message
    assert "C-MOVE-RQ #1 on #1 and C-STORE-RQ #1 on #2 were waiting for a response" in f.message


def _prefixes(data: bytes):
    """The capture cut after each record (the capture ending earlier and earlier)."""
    import struct
    pos, ends = 24, []
    while pos + 16 <= len(data):
        incl = struct.unpack_from("<I", data, pos + 8)[0]
        pos += 16 + incl
        ends.append(pos)
    return [data[:e] for e in ends]


def test_a_capture_ending_earlier_never_blames_a_peer():
    """Every prefix of every close story: no internal error; an association still open at the capture's end gets no
    peer-closed line, and what the capture's end cut is never an ERROR of ours."""
    stories = (X.server_reset_mid_store, X.client_fin_after_request, X.client_fin_when_idle, X.client_crash,
               X.move_scu_crash, X.capture_ends_mid_association)
    for build in stories:
        for cut in _prefixes(build()):
            assocs, fs = X.analyse(cut)
            for a in assocs:
                mine = [f for f in fs if f.association == a.number and f.code in CLOSE_CODES]
                if not any(c.how in ("fin", "rst") for c in a.closes):
                    assert not [f for f in mine if f.code == "peer-closed"], (build.__name__, len(cut), mine)
                    incomplete = [f for f in fs if f.association == a.number and f.code == "association-incomplete"]
                    assert all(f.severity == "warning" for f in incomplete)


def test_an_abort_that_cut_nothing_is_a_warning_one_that_cut_a_request_an_error():
    """abort.pcap: storescu --abort after both C-STOREs succeeded; Orthanc aborting a C-FIND it refuses."""
    import json
    r = CliRunner().invoke(main, ["diagnose", "--json", str(CAPTURES / "abort.pcap")])
    assert r.exit_code == 1
    (f,) = [f for f in json.loads(r.output)["findings"] if f["code"] == "association-aborted"]
    assert f["severity"] == "warning" and "with no request outstanding" in f["message"]
    assert f["hint"].startswith("nothing was lost")
    r = CliRunner().invoke(main, ["diagnose", "--json", str(CAPTURES / "peer_orthanc_fail.pcap")])
    (g,) = [f for f in json.loads(r.output)["findings"] if f["code"] == "association-aborted"]
    assert g["severity"] == "error" and "during C-FIND-RQ #1" in g["message"]
