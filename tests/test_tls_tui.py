"""The viewer on DICOM over TLS: the association list says what TLS showed, and with keys the ladder and
the hex pane show the DICOM inside (the hex pane's bytes decrypted, not the ciphertext of the frames)."""

from __future__ import annotations

from pathlib import Path

from dicomsniff.output.tui.app import ViewerApp
from dicomsniff.tls import keylog
from tui_helpers import loaded, run_async, screen_text

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


@run_async
async def test_encrypted_association_is_listed_with_its_tls_status(monkeypatch):
    monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    monkeypatch.setattr(keylog, "_CONFIGURED", None)
    app = ViewerApp(str(CAPTURES / "tls13_store.pcap"), show_timing=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await loaded(app, pilot)
        assert app.assoc_list.count == 1
        a = app.session.associations[0]
        assert a.tls.status_text() == "TLS 1.3, encrypted — give --tls-keylog"
        assert any("TLS 1.3, encrypted: --tls-keylog" in line for line in screen_text(app.assoc_list))


@run_async
async def test_decrypted_pdu_bytes_in_the_hex_pane(monkeypatch):
    monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    monkeypatch.setattr(keylog, "_CONFIGURED", [str(CAPTURES / "tls13_store.keys")])
    try:
        app = ViewerApp(str(CAPTURES / "tls13_store.pcap"), show_timing=False)
        async with app.run_test(size=(200, 50)) as pilot:
            await loaded(app, pilot)
            assert app.session.associations[0].tls.decrypted
            assert app.ladder.count > 5
            assert app.ladder.selected.pdu.name == "A-ASSOCIATE-RQ"
            await pilot.pause()
            head = app.hex.source.read(0, 26)
            assert head[0] == 0x01 and bytes(head[10:26]) == b"TLSSCP          "    # called AE, in clear
    finally:
        monkeypatch.setattr(keylog, "_CONFIGURED", None)
