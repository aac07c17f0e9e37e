"""TLS decryption: the key schedules against RFC 8448, real captures decrypted into DICOM, random segment
splits, damaged records, pcapng Decryption Secrets Blocks and SSLKEYLOGFILE.

Captures: scripts/make_tls_captures.py (pynetdicom with Python ssl contexts writing key logs, DCMTK
storescu +tls against a pynetdicom server whose context writes the keys).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dicomsniff.capture.packet import decode_tcp
from dicomsniff.capture.reader import open_capture
from dicomsniff.pipeline import Analyzer, MessageSeen, PduSeen
from dicomsniff.reading import read_events
from dicomsniff.tcp.events import StreamData
from dicomsniff.tcp.reassembly import TcpReassembler
from dicomsniff.tls import keys as K
from dicomsniff.tls.keylog import KeyLog, load_keylogs
from dicomsniff.tls.record import TlsConnection
from dicomsniff.tls.tables import SUITES, looks_like_tls_hello

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
H = bytes.fromhex


# -- RFC 8448 §3 (simple 1-RTT handshake, TLS_AES_128_GCM_SHA256): byte-exact key schedule ----------------

def test_rfc8448_key_schedule_byte_exact():
    early = K.hkdf_extract("sha256", b"", bytes(32))
    assert early == H("33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a")
    derived = K.derive_secret("sha256", early, "derived", b"")
    assert derived == H("6f2615a108c702c5678f54fc9dbab69716c076189c48250cebeac3576c3611ba")
    dhe = H("8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d")
    hs = K.hkdf_extract("sha256", derived, dhe)
    assert hs == H("1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac")
    hello_hash = H("860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8")
    chts = K.hkdf_expand_label("sha256", hs, "c hs traffic", hello_hash, 32)
    shts = K.hkdf_expand_label("sha256", hs, "s hs traffic", hello_hash, 32)
    assert chts == H("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21")
    assert shts == H("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
    master = K.hkdf_extract("sha256", K.derive_secret("sha256", hs, "derived", b""), bytes(32))
    assert master == H("18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919")
    fin_hash = H("9608102a0f1ccc6db6250b7b7e417b1a000eaada3daae4777a7686c9ff83df13")
    cap = K.hkdf_expand_label("sha256", master, "c ap traffic", fin_hash, 32)
    sap = K.hkdf_expand_label("sha256", master, "s ap traffic", fin_hash, 32)
    assert cap == H("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5")
    assert sap == H("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643")
    suite = SUITES[0x1301]
    assert K.traffic_keys13(suite, shts) == (H("3fce516009c21727d0f2e4e86ee403bc"), H("5d313eb2671276ee13000b30"))
    assert K.traffic_keys13(suite, chts) == (H("dbfaa693d1762c5b666af5d950258d01"), H("5bd3c71b836e0b76bb73265f"))
    assert K.traffic_keys13(suite, sap) == (H("9f02283b6c9c07efc26bb9f2ac92e356"), H("cf782b88dd83549aadf1e984"))
    assert K.traffic_keys13(suite, cap)[0] == H("17422dda596ed5d9acd890e3c63f5051")


def test_tls12_prf_rfc5246_style_vector():
    # The widely used TLS 1.2 PRF (SHA-256) test vector (IETF TLS WG mailing list, Joseph Birr-Pixton's set).
    secret = H("9bbe436ba940f017b17652849a71db35")
    seed = H("a0ba9f936cda311827a6f796ffd5198c")
    out = K.prf12("sha256", secret, b"test label", seed, 100)
    assert out[:16] == H("e3f229ba727be17b8d122620557cd453")
    assert len(out) == 100


# -- real captures ---------------------------------------------------------------------------------------

def decode(name: str, keys: str | None = None, **kw):
    kl = KeyLog()
    if keys:
        kl.add_file(CAPTURES / keys)
    an = Analyzer(keep_pdus=True, tls_keylog=kl, **kw)
    events = list(read_events(CAPTURES / name, an))
    return an, events


def commands(events) -> list[str]:
    return [ev.message.name for ev in events if type(ev) is MessageSeen]


@pytest.mark.parametrize("name,suites,stores", [
    ("tls13_store", ["TLS_AES_256_GCM_SHA384"], 1),
    ("tls13_suites", ["TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"], 2),
    ("tls12_dcmtk", ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"], 2),
    ("tls12_suites", ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                      "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
                      "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
                      "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"], 7),
])
def test_decrypts_to_released_associations_with_their_messages(name, suites, stores):
    an, events = decode(f"{name}.pcap", f"{name}.keys")
    assert [a.tls.suite_text for a in an.associations] == suites
    for a in an.associations:
        assert a.tls.decrypted and not a.tls.decrypt_errors
        assert a.outcome == "released", (a.number, a.findings)
        assert a.calling_ae and a.called_ae
    assert commands(events).count("C-STORE-RSP") == stores
    assert all(ex.status == 0 for a in an.associations for ex in a.exchanges)


def test_cbc_suites_use_encrypt_then_mac_as_negotiated_and_macs_verify():
    an, _ = decode("tls12_suites.pcap", "tls12_suites.keys")
    cbc = [a for a in an.associations if "CBC" in a.tls.suite_text]
    assert len(cbc) == 4 and all(a.tls.encrypt_then_mac for a in cbc)        # OpenSSL's default
    assert all(a.tls.decrypted for a in cbc)


def test_tls13_key_updates_are_followed():
    an, events = decode("tls13_suites.pcap", "tls13_suites.keys")
    assert [a.tls.key_updates for a in an.associations] == [2, 2]           # client's request + server's answer
    # the C-STORE after the key update decoded
    assert commands(events).count("C-STORE-RQ") == 2


def test_dcmtk_pdus_across_several_records_and_records_across_segments():
    """DCMTK writes each P-DATA-TF header in its own record: PDUs spanning records reassemble."""
    an, events = decode("tls12_dcmtk.pcap", "tls12_dcmtk.keys")
    a = an.associations[0]
    assert a.tls.tally[a.client_dir].app_records > a.pdus_by_dir[a.client_dir]
    assert commands(events) == ["C-STORE-RQ", "C-STORE-RSP", "C-STORE-RQ", "C-STORE-RSP"]


def test_decrypted_bytes_map_to_the_frames_that_carried_the_ciphertext():
    an, events = decode("tls12_dcmtk.pcap", "tls12_dcmtk.keys")
    frames = {fr.number: fr for fr in open_capture(CAPTURES / "tls12_dcmtk.pcap")}
    seen = 0
    for ev in events:
        if type(ev) is PduSeen:
            for span in ev.pdu.spans.spans:
                data = frames[span.frame].data
                assert 0 <= span.frame_offset and span.frame_offset + span.length <= len(data), span
                # AEAD (GCM): each plaintext byte sits at its ciphertext byte's place in that frame
                assert data[span.frame_offset:span.frame_offset + 1], span
                seen += 1
    assert seen


def test_pcapng_with_decryption_secrets_block_needs_no_option(monkeypatch):
    monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    an = Analyzer(keep_pdus=True, tls_keylog=KeyLog())
    events = list(read_events(CAPTURES / "tls12_dcmtk_dsb.pcapng", an))
    assert an.associations[0].tls.decrypted
    assert commands(events).count("C-STORE-RSP") == 2


def test_sslkeylogfile_is_the_fallback(monkeypatch):
    monkeypatch.setenv("SSLKEYLOGFILE", str(CAPTURES / "tls13_store.keys"))
    assert len(load_keylogs()) == 1
    assert len(load_keylogs([CAPTURES / "tls12_suites.keys"])) == 7          # a file given wins
    from dicomsniff.tls import keylog
    monkeypatch.setattr(keylog, "_CONFIGURED", None)
    an = Analyzer(keep_pdus=True)
    list(read_events(CAPTURES / "tls13_store.pcap", an))
    assert an.associations[0].tls.decrypted


def test_cli_tls_keylog_option_on_dump(monkeypatch):
    from click.testing import CliRunner

    from dicomsniff.cli import main
    from dicomsniff.tls import keylog
    monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    monkeypatch.setattr(keylog, "_CONFIGURED", None)
    r = CliRunner().invoke(main, ["dump", str(CAPTURES / "tls13_store.pcap"), "--tls-keylog",
                                  str(CAPTURES / "tls13_store.keys")])
    assert r.exit_code == 0, r.output
    assert "A-ASSOCIATE-RQ TLSSCU → TLSSCP" in r.output and "C-STORE-RSP" in r.output
    monkeypatch.setattr(keylog, "_CONFIGURED", None)


def test_keylog_reader_skips_bad_lines():
    kl = KeyLog()
    n = kl.add_text("# comment\nCLIENT_RANDOM zz 00\nCLIENT_RANDOM " + "ab" * 32 + " " + "cd" * 48 + "\nJUNK\n")
    assert n == 1 and kl.bad_lines == 2


# -- random splits and damage ----------------------------------------------------------------------------

def stream_events(name: str) -> list[StreamData]:
    tcp = TcpReassembler()
    out = []
    for fr in open_capture(CAPTURES / name):
        seg = decode_tcp(fr)
        if seg is not None:
            out.extend(ev for ev in tcp.feed(seg) if type(ev) is StreamData and ev.stream == 0)
    return out


def run_conn(evs, keylog, client: int | None = None) -> tuple[list[bytes], list[tuple[int, int]], TlsConnection]:
    if client is None:
        client = evs[0].direction if looks_like_tls_hello(bytes(evs[0].data[:6])) == 1 else 1 - evs[0].direction
    conn = TlsConnection(0, client, keylog)
    plain = [bytearray(), bytearray()]
    fmap: list[tuple[int, int]] = []
    for ev in evs:
        for p in conn.feed(ev):
            plain[p.direction] += p.data
            fmap.extend((p.direction, p.frame) for _ in range(len(p.data)))
    return [bytes(x) for x in plain], fmap, conn


def split(evs: list[StreamData], rnd: random.Random) -> list[StreamData]:
    out = []
    for ev in evs:
        data = bytes(ev.data)
        pos = 0
        while pos < len(data):
            n = rnd.randint(1, max(1, min(len(data) - pos, rnd.choice([1, 3, 5, 7, 64, 1500]))))
            out.append(StreamData(ev.stream, ev.direction, ev.stream_offset + pos, data[pos:pos + n], ev.frame,
                                  ev.frame_offset + pos, ev.ts_ns))
            pos += n
    return out


KEYS13 = KeyLog()
KEYS13.add_file(CAPTURES / "tls13_suites.keys")
KEYS12 = KeyLog()
KEYS12.add_file(CAPTURES / "tls12_dcmtk.keys")
EVS13 = stream_events("tls13_suites.pcap")
EVS12 = stream_events("tls12_dcmtk.pcap")
WHOLE13 = run_conn(EVS13, KEYS13)
WHOLE12 = run_conn(EVS12, KEYS12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_random_segment_splits_give_the_same_decrypted_stream_and_frames(seed):
    for evs, kl, whole in ((EVS13, KEYS13, WHOLE13), (EVS12, KEYS12, WHOLE12)):
        plain, fmap, conn = run_conn(split(evs, random.Random(seed)), kl, evs[0].direction)
        assert plain == whole[0] and fmap == whole[1]
        assert not conn.info.decrypt_errors


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_damaged_records_are_reported_once_never_raise(seed):
    rnd = random.Random(seed)
    evs = [StreamData(e.stream, e.direction, e.stream_offset, bytearray(e.data), e.frame, e.frame_offset, e.ts_ns)
           for e in EVS13]
    victim = rnd.randrange(len(evs))
    pos = rnd.randrange(len(evs[victim].data))
    evs[victim].data[pos] ^= 1 << rnd.randrange(8)
    plain, _fmap, conn = run_conn(evs, KEYS13)
    errors = conn.info.decrypt_errors
    assert len(errors) <= 2 and len({side for side, _f, _w in errors}) == len(errors)
    for d in (0, 1):                # what was decrypted is a prefix of the true stream: nothing guessed
        assert WHOLE13[0][d].startswith(plain[d])


def test_flipped_application_byte_is_one_authentication_failure():
    evs = [StreamData(e.stream, e.direction, e.stream_offset, bytearray(e.data), e.frame, e.frame_offset, e.ts_ns)
           for e in EVS13]
    last = max(i for i, e in enumerate(evs) if e.direction == evs[0].direction)
    evs[last].data[-1] ^= 0xFF
    _plain, _fmap, conn = run_conn(evs, KEYS13)
    assert [(side, why.split(" (")[0]) for side, _f, why in conn.info.decrypt_errors] == \
        [("client", "authentication failed")]


@pytest.mark.parametrize("name", ["tls12_dcmtk", "tls12_suites", "tls13_suites"])
def test_hex_pane_reader_shows_each_pdu_decrypted_in_the_frames_that_carried_it(name):
    """Read every PDU back through its spans with ``TlsInfo.frame_reader``: the bytes are the PDU itself."""
    an, events = decode(f"{name}.pcap", f"{name}.keys")
    frames = {fr.number: bytes(fr.data) for fr in open_capture(CAPTURES / f"{name}.pcap")}
    readers = {a.number: a.tls.frame_reader(frames.get) for a in an.associations}
    checked = 0
    for ev in events:
        if type(ev) is not PduSeen or not ev.pdu.complete:
            continue
        read = readers[ev.association.number]
        got = b"".join(read(s.frame)[s.frame_offset:s.frame_offset + s.length] for s in ev.pdu.spans.spans)
        assert got[0] == ev.pdu.pdu_type and int.from_bytes(got[2:6], "big") == len(got) - 6
        raw = b"".join(frames[s.frame][s.frame_offset:s.frame_offset + s.length] for s in ev.pdu.spans.spans)
        assert raw != got                                          # the capture itself holds ciphertext
        checked += 1
    assert checked >= 6


def test_json_export_has_a_tls_object_that_fits_the_schema(tmp_path, monkeypatch):
    import json

    import jsonschema
    from click.testing import CliRunner

    from dicomsniff.cli import main
    from dicomsniff.tls import keylog
    monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    schema = json.loads((Path(__file__).resolve().parent.parent / "dicomsniff/schema/session-v1.json").read_text())
    for name, keys in (("tls12_dcmtk.pcap", "tls12_dcmtk.keys"), ("tls_expired.pcap", None)):
        monkeypatch.setattr(keylog, "_CONFIGURED", None)
        out = tmp_path / f"{name}.json"
        args = ["export", str(CAPTURES / name), "-o", str(out)] + (["--tls-keylog", str(CAPTURES / keys)] if keys else [])
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
        doc = json.loads(out.read_text())
        jsonschema.validate(doc, schema)
        tls = doc["associations"][0]["tls"]
        if keys:
            assert tls["decrypted"] and tls["version"] == "TLS 1.2" and tls["keys_found"]
            assert [c["sender"] for c in tls["certificates"]] == ["server", "server", "client", "client"]
        else:
            assert not tls["decrypted"] and tls["alerts"] == [
                {"sender": "client", "frame": 8, "level": "fatal", "description": "certificate_expired",
                 "encrypted": False}]
            assert tls["certificates"][0]["not_after"].startswith("2020-01-01")
    monkeypatch.setattr(keylog, "_CONFIGURED", None)


def test_export_objects_from_decrypted_tls(tmp_path, monkeypatch):
    import pydicom
    from click.testing import CliRunner

    from dicomsniff.cli import main
    from dicomsniff.tls import keylog
    monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    monkeypatch.setattr(keylog, "_CONFIGURED", None)
    r = CliRunner().invoke(main, ["export-objects", str(CAPTURES / "tls12_dcmtk.pcap"), str(tmp_path / "out"),
                                  "--tls-keylog", str(CAPTURES / "tls12_dcmtk.keys")])
    monkeypatch.setattr(keylog, "_CONFIGURED", None)
    assert r.exit_code == 0, r.output
    files = sorted((tmp_path / "out").rglob("*.dcm"))
    assert len(files) == 2
    sops = sorted(str(pydicom.dcmread(f).SOPClassUID) for f in files)
    assert sops == ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"]
