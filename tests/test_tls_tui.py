"""The viewer on DICOM over TLS: the association list says what TLS showed, and with keys the ladder and
the hex pane show the DICOM inside (the hex pane's bytes decrypted, not the ciphertext of the frames)."""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path

from dicomsniff.output.tui.app import ViewerApp
from dicomsniff.tls import keylog

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def run_async(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return wrapper


async def loaded(app, pilot, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not (app.progress is not None and app.progress.done) and app.error is None:
        assert time.monotonic() < end, "capture did not load"
        await pilot.pause(0.02)
    await pilot.pause()


def screen_text(widget) -> list[str]:
    return [widget.render_line(y).text for y in range(widget.scrollable_content_region.height)]


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
