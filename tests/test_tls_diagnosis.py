"""Why a DICOM-over-TLS connection failed, from real failure captures (scripts/make_tls_captures.py).

Each capture was made by real peers (pynetdicom with Python ``ssl`` contexts, DCMTK storescp) with a
throwaway PKI; the findings must name the cause, who sent the alert, and the evidence (certificate
dates and issuer, offered versions and suites) with frames — without any key log.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomsniff.field import ERROR, NOTE, WARN
from dicomsniff.model.diagnosis import diagnose
from dicomsniff.pipeline import Analyzer
from dicomsniff.reading import read_events
from dicomsniff.tls.keylog import KeyLog

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def run(name: str, keys: str | None = None):
    kl = KeyLog()
    if keys:
        kl.add_file(CAPTURES / keys)
    an = Analyzer(keep_pdus=True, tls_keylog=kl)
    for _ in read_events(CAPTURES / name, an):
        pass
    return an.associations, diagnose(an.associations)


def only(findings, code):
    hits = [f for f in findings if f.code == code]
    assert len(hits) == 1, (code, [(f.code, f.message) for f in findings])
    return hits[0]


def codes(findings):
    return sorted(f.code for f in findings)


def test_untrusted_server_certificate_tls12_names_issuer_and_sender():
    assocs, fs = run("tls_untrusted_server.pcap")
    assert len(assocs) == 1 and assocs[0].tls.version == 0x0303
    f = only(fs, "tls-handshake-failed")
    assert f.severity == ERROR
    assert "client sent fatal unknown_ca" in f.message and "does not trust the server's certificate" in f.message
    assert "other test CA (not trusted)" in f.message and "client" in f.hint
    assert 8 in f.frames                                           # the alert's frame
    # the model's misreadings of an association without PDUs are gone
    assert codes(fs) == ["tls-handshake-failed"]


def test_untrusted_server_tls13_without_keys_says_certificate_unreadable_then_reads_it_with_keys():
    _a, fs = run("tls13_untrusted_server.pcap")
    f = only(fs, "tls-handshake-failed")
    assert "unknown_ca" in f.message and "TLS 1.3 sends it encrypted" in f.message
    assocs, fs = run("tls13_untrusted_server.pcap", "tls13_untrusted_server.keys")
    f = only(fs, "tls-handshake-failed")
    assert "other test CA (not trusted)" in f.message
    assert [c.sender for c in assocs[0].tls.certificates] == ["server"]


def test_untrusted_client_certificate_blames_the_server_side_trust():
    _a, fs = run("tls_untrusted_client.pcap")
    f = only(fs, "tls-handshake-failed")
    assert "server sent fatal unknown_ca" in f.message and "the client's certificate" in f.message
    assert "OTHERSCU" in f.message


def test_missing_client_certificate():
    _a, fs = run("tls_no_client_cert.pcap")
    f = only(fs, "tls-handshake-failed")
    assert "requires a client certificate and the client sent none" in f.message


def test_expired_certificate_names_its_dates_from_the_certificate_itself():
    _a, fs = run("tls_expired.pcap")
    f = only(fs, "tls-handshake-failed")
    assert "certificate_expired" in f.message and "2019-01-01" in f.message and "2020-01-01" in f.message
    d = only(fs, "tls-certificate-date")
    assert d.severity == WARN and "expired" in d.message and "2020-01-01" in d.message


def test_version_mismatch_lists_the_client_offer():
    _a, fs = run("tls_version.pcap")
    f = only(fs, "tls-handshake-failed")
    assert "protocol_version" in f.message and "client offered TLS 1.2" in f.message
    assert "server sent" in f.message


def test_disjoint_cipher_suites_list_the_client_offer():
    _a, fs = run("tls_cipher.pcap")
    f = only(fs, "tls-handshake-failed")
    assert "no shared cipher suite" in f.message
    assert "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" in f.message and "CHACHA20" in f.message


def test_plain_dicom_to_a_tls_port():
    assocs, fs = run("tls_plain_to_tls.pcap")
    assert getattr(assocs[0], "tls", None) is None and assocs[0].rq is not None
    f = only(fs, "tls-plain-to-tls")
    assert "may expect TLS" in f.message and "RST" in f.message


def test_tls_client_hello_to_a_plain_dicom_port():
    _a, fs = run("tls_tls_to_plain.pcap")
    f = only(fs, "tls-not-tls")
    assert f.severity == ERROR and "never answered" in f.message and "server closed" in f.message


@pytest.mark.parametrize("name", ["tls13_store.pcap", "tls12_dcmtk.pcap", "tls12_suites.pcap", "tls13_suites.pcap"])
def test_working_tls_without_keys_is_one_note_per_association_with_record_sizes(name):
    assocs, fs = run(name)
    assert assocs and all(a.tls.handshake_complete and not a.tls.decrypted for a in assocs)
    assert all("encrypted — give --tls-keylog" in a.tls.status_text() for a in assocs)
    assert {f.code for f in fs} == {"tls-encrypted"}
    assert all(f.severity == NOTE and "records" in f.message for f in fs)
    assert len(fs) == len(assocs)


def test_working_tls_with_keys_has_no_tls_finding():
    assocs, fs = run("tls13_store.pcap", "tls13_store.keys")
    assert assocs[0].tls.decrypted and assocs[0].outcome == "released"
    assert not [f for f in fs if f.code.startswith("tls-")]


def test_wrong_key_log_is_reported_once_per_direction_never_guessed():
    # tls13_suites' keys are another session's: no secrets for this one, so it is "encrypted" (no error);
    # a key log whose secrets are for this client random but wrong must fail authentication, once per side.
    text = (CAPTURES / "tls13_store.keys").read_text()
    bad = "\n".join(" ".join(p[:2] + ["00" * (len(p[2]) // 2)]) if len(p := ln.split()) == 3 else ln
                    for ln in text.splitlines())
    kl = KeyLog()
    kl.add_text(bad)
    an = Analyzer(keep_pdus=True, tls_keylog=kl)
    for _ in read_events(CAPTURES / "tls13_store.pcap", an):
        pass
    fs = diagnose(an.associations)
    failed = [f for f in fs if f.code == "tls-decrypt-failed"]
    assert sorted(f.message.split(":")[0] for f in failed) == ["client → server", "server → client"]
    assert an.associations[0].pdu_count == 0


def test_tls13_server_alert_sealed_without_keys_is_recognised_by_its_size_then_read_with_keys():
    assocs, fs = run("tls13_untrusted_client.pcap")
    f = only(fs, "tls-encrypted-alert")
    assert f.severity == WARN and "19-byte encrypted record" in f.message and "server" in f.message
    assert "tls-handshake-incomplete" not in codes(fs) and "tls-encrypted" not in codes(fs)
    assert "handshake failed: server sent an encrypted alert" in assocs[0].tls.status_text()
    assocs, fs = run("tls13_untrusted_client.pcap", "tls13_untrusted_client.keys")
    f = only(fs, "tls-handshake-failed")
    assert "server sent fatal unknown_ca" in f.message and "read with the key log" in f.message
    assert "OTHERSCU" in f.message
    assert "tls-encrypted-alert" not in codes(fs)


def test_hello_retry_request_is_shown_and_the_session_still_decrypts():
    assocs, fs = run("tls13_hrr.pcap")
    t = assocs[0].tls
    assert t.hrr and t.hrr_frame and t.server_hello_frame > t.hrr_frame and t.client_hellos == 2
    assert codes(fs) == ["tls-encrypted"]
    assocs, fs = run("tls13_hrr.pcap", "tls13_hrr.keys")
    assert assocs[0].tls.decrypted and assocs[0].outcome == "released"


def test_tls_whose_handshake_is_not_in_the_capture_is_listed_and_said_undecryptable():
    from capwriter import pcap_bytes
    from dicomsniff.capture.reader import open_capture

    frames = list(open_capture(CAPTURES / "tls13_store.pcap"))
    late = pcap_bytes([(f.ts_ns, bytes(f.data)) for f in frames if f.number > 12], frames[0].linktype)
    kl = KeyLog()
    kl.add_file(CAPTURES / "tls13_store.keys")
    an = Analyzer(keep_pdus=True, tls_keylog=kl)
    for _ in read_events(late, an):
        pass
    a, = an.associations
    assert a.tls.midstream and not a.tls.decrypted and a.server.port == 2762
    f = only(diagnose(an.associations), "tls-encrypted")
    assert "began before the capture" in f.message and f.severity == NOTE
