"""The viewer while it loads (issue 14 item 8): keys answer mid-load; compact indexes re-read bytes.

The mid-load test holds the loader thread busy inside a real capture (a reader that spins, holding
the GIL as decoding does, after the second association's first records) so that the order is
certain without timing: the key's effect is seen while the capture is still loading, and loading
then completes with every row. The others check the compact stores: the frame index's arrays widen
past 4 GiB / 64 KiB, span maps freeze to 4-byte integers when the values fit, and the throughput
plot's records, built when the plot opens, are the same however often it opens.
"""

from __future__ import annotations

import sys
import threading
import time
from array import array
from pathlib import Path

from textual import events

from dicomsniff.capture.index import FrameIndex
from dicomsniff.capture.reader import open_capture
from dicomsniff.output.tui.app import ViewerApp
from dicomsniff.output.tui.keymap import Keys
from dicomsniff.output.tui.session import Loader, new_analyzer, new_session
from dicomsniff.ul.events import SpanMap

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tui_helpers import loaded, run_async  # noqa: E402

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


class HeldReader:
    """A real capture reader whose records stop flowing (the thread spinning, as a busy loader does)
    once the UI lists two associations, until ``release`` is set."""

    def __init__(self, path, app):
        self._reader = open_capture(path)
        self.app = app
        self.release = threading.Event()
        self.held = threading.Event()

    def __getattr__(self, name):
        return getattr(self._reader, name)

    def records(self):
        for rec in self._reader.records():
            if not self.release.is_set() and len(self.app.session.associations) >= 2:
                self.held.set()
                end = time.monotonic() + 30
                while not self.release.is_set() and time.monotonic() < end:
                    self.app.loader._maybe_post(self)     # progress as the loader posts it, every 0.2 s
                    for _ in range(2000):                 # pure Python work: the GIL is taken, not waited for
                        pass
            yield rec


class Turn(threading.Event):
    """The loader's ``ui_turn`` event, saying in ``said`` when the UI took and gave back its turn."""

    def __init__(self, said: list):
        super().__init__()
        self.set()
        self.said = said

    def clear(self):
        self.said.append("loader waits")
        super().clear()

    def set(self):
        if hasattr(self, "said"):
            self.said.append("loader goes on")
        super().set()


@run_async
async def test_a_key_is_handled_while_the_capture_is_still_loading():
    """The key is handled mid-load, the loader waiting for it (ui_turn) and going on after it."""
    events_seen: list[str] = []
    app = ViewerApp(str(CAPTURES / "move.pcap"), show_timing=False, keys=Keys())
    app.reader = held = HeldReader(CAPTURES / "move.pcap", app)
    async with app.run_test(size=(120, 40)) as pilot:
        end = time.monotonic() + 30
        while len(app.assoc_list.shown) < 2:
            assert time.monotonic() < end, "the first two associations were not listed"
            await pilot.pause(0.02)
        assert held.held.is_set() and app.loaded_at is None and not app.session.done
        app.loader.ui_turn = Turn(events_seen)
        lst = app.assoc_list
        assert lst.cursor == 0
        key = events.Key("j", "j")
        key.set_sender(app)
        app._driver.send_message(key)             # as a terminal delivers it (pilot.press waits for an idle CPU)
        while not (lst.cursor == 1 and app.ladder.assoc is lst.selected):
            assert time.monotonic() < end, "the key was not handled while loading"
            await pilot.pause(0.01)
        events_seen.append("key handled" if not app.session.done else "key handled after loading")
        while not app.loader.ui_turn.is_set():
            assert time.monotonic() < end, "the loader was left waiting after the key"
            await pilot.pause(0.01)
        held.release.set()
        await loaded(app, pilot)
        events_seen.append("loaded")
        first = events_seen.index("loader waits")
        assert first < events_seen.index("key handled") < events_seen.index("loaded")
        assert "loader goes on" in events_seen[first:events_seen.index("loaded")]
        assert len(app.session.associations) == 3
        assert app.ladder.assoc is app.session.associations[1]
        assert app.ladder.count == len(app.session.items_of(app.ladder.assoc))


def test_frame_index_widens_past_4_gib_and_64_kib(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)) * 4)
    index = FrameIndex(path)
    index.add_record(1, 10, 5)
    assert (index.offsets.typecode, index.lengths.typecode) == ("I", "H")
    index.add_record(2, 5 << 30, 70_000)          # a frame past 4 GiB in the file, longer than 64 KiB
    index.add_record(4, 20, 3)                    # frame 3 missing: a hole read as nothing
    assert (index.offsets.typecode, index.lengths.typecode) == ("Q", "I")
    assert list(index.offsets) == [10, 5 << 30, 0, 20] and list(index.lengths) == [5, 70_000, 0, 3]
    assert index.read(1) == bytes(range(10, 15)) and index.read(4) == bytes(range(20, 23))
    assert index.read(2) == b""                   # past the file's end: nothing, no error
    index.close()


def test_span_maps_freeze_to_4_byte_integers_when_they_fit():
    small = SpanMap()
    small.add(7, 54, 1448)
    small.add(8, 54, 1448)
    small.freeze()
    assert small.flat.typecode == "I" and small.flat.itemsize == 4
    assert [(s.frame, s.frame_offset, s.length) for s in small.spans] == [(7, 54, 1448), (8, 54, 1448)]
    big = SpanMap()
    big.add(1, 5 << 30, 10)                       # a frame offset past 2**32 - 1 keeps 8-byte integers
    big.freeze()
    assert big.flat.typecode == "q" and list(big.flat) == [0, 1, 5 << 30, 10]
    assert isinstance(big.flat, array)
    # a data set's span map (typed: an array("q") while it grows) freezes the same way
    typed, typed_big = SpanMap(typed=True), SpanMap(typed=True)
    typed.add(7, 54, 1448)
    typed.add(8, 54, 1448)
    typed_big.add(1, 5 << 30, 10)
    assert typed.flat.typecode == "q"
    typed.freeze()
    typed_big.freeze()
    assert typed.flat.typecode == "I" and list(typed.flat) == list(small.flat)
    assert typed_big.flat.typecode == "q" and list(typed_big.flat) == [0, 1, 5 << 30, 10]
    # the compiled helper (capture._walk.narrow) and the pure conversion agree, negative values kept too
    import dicomsniff.ul.events as events
    for values in ([3, 4, 5, 6], [0, (1 << 32) - 1, 7, 8], [0, 1 << 32, 7, 8], [-1, 2, 3, 4]):
        got = []
        for helper in (events._narrow, None):
            saved, events._narrow = events._narrow, helper
            try:
                m = SpanMap(typed=True)
                m.flat.extend(values)
                m.freeze()
            finally:
                events._narrow = saved
            got.append((m.flat.typecode, list(m.flat)))
        assert got[0] == got[1] and got[0][1] == values


def test_the_viewer_keeps_data_set_spans_as_4_byte_integers():
    """Once a message is complete, where its data set's bytes lie is kept in 4-byte integers (the viewer keeps
    thousands of spans per object)."""
    session = new_session("store", path=CAPTURES / "store.pcap")
    Loader(session, new_analyzer(), lambda p: None).run_file(open_capture(CAPTURES / "store.pcap"))
    kinds = [m.data_spans.flat.typecode for a in session.associations for m in a.messages
             if m.complete and m.data_spans is not None]
    assert kinds and set(kinds) == {"I"}


def test_throughput_records_are_built_once_from_the_ladder_rows():
    """The plot's span records come from the ladder's PDUs when asked, each PDU once, and
    sum to the bytes of every PDU (header included) per direction."""
    session = new_session("move", path=CAPTURES / "move.pcap")
    loader = Loader(session, new_analyzer(), lambda p: None)
    loader.run_file(open_capture(CAPTURES / "move.pcap"))
    traffic = session.traffic
    assert len(traffic) == 0                      # nothing recorded while loading
    assert len(traffic.frame_ts) == len(session.frames)
    t0, t1 = session.t0, session.last_ts
    traffic.catch_up(session.associations, session.items)
    first = traffic.series(t0, t1, 1_000_000)
    n = len(traffic)
    traffic.catch_up(session.associations, session.items)
    assert len(traffic) == n and traffic.series(t0, t1, 1_000_000) == first
    pdus = [(a, it.pdu) for a in session.associations for it in session.items_of(a) if it.pdu is not None]
    up = sum(p.spans.length for a, p in pdus if p.direction == a.client_dir)
    down = sum(p.spans.length for a, p in pdus if p.direction != a.client_dir)
    assert (sum(first[1]), sum(first[2])) == (up, down) and up and down


def test_the_loader_over_a_capture_set_indexes_every_frame_in_its_file(tmp_path):
    """A set of files (editcap -c 7) takes the loader's general path (add_record, not the inline
    appends): every frame is re-read from its own file, and the frame times are all there."""
    import subprocess

    from dicomsniff.capture.captureset import input_arg, open_capture_set
    subprocess.run(["editcap", "-c", "7", str(CAPTURES / "move.pcap"), str(tmp_path / "part.pcap")],
                   check=True, capture_output=True, timeout=60)
    capture = input_arg([str(tmp_path)])
    session = new_session("set", path=capture)
    Loader(session, new_analyzer(), lambda p: None).run_file(open_capture_set(capture))
    whole = new_session("whole", path=CAPTURES / "move.pcap")
    Loader(whole, new_analyzer(), lambda p: None).run_file(open_capture(CAPTURES / "move.pcap"))
    n = len(whole.frames)
    assert len(session.frames) == n and n > 7
    assert all(session.read_frame(i) == whole.read_frame(i) for i in range(1, n + 1))
    assert list(session.traffic.frame_ts) == list(whole.traffic.frame_ts)
    assert len(session.associations) == len(whole.associations) == 3


def test_the_loader_indexes_the_records_the_compiled_walk_takes(tmp_path):
    """The analyzer's compiled walk (issue 18) takes the records nobody reads inside the reader; the viewer
    gives it a record sink, so every frame is still indexed: each is re-read from the file as the capture
    holds it, with its time, and the model is the one the pure path gives."""
    from dicomsniff.pipeline import _cwalk
    from storecap import big_store

    path = tmp_path / "big-store.pcap"
    path.write_bytes(big_store(4 << 20))
    runs = {}
    for walk in (True, False):
        session = new_session("big", path=str(path))
        an = new_analyzer()
        an.walk = an.walk and walk
        Loader(session, an, lambda p: None).run_file(open_capture(str(path)))
        runs[walk] = (session, an)
    session, an = runs[True]
    if _cwalk is not None:
        assert an.walked > 1000
    want = []
    with open_capture(str(path)) as r:
        for rec in r.records():
            want.append((bytes(rec[3][rec[4]:rec[5]]), rec[1]))
    assert len(session.frames) == len(want)
    assert all(session.read_frame(i + 1) == data for i, (data, _) in enumerate(want))
    assert list(session.traffic.frame_ts) == [ts for _, ts in want]
    pure = runs[False][0]
    assert (session.first_ts, session.last_ts) == (pure.first_ts, pure.last_ts)
    assert [len(session.items_of(a)) for a in session.associations] == \
        [len(pure.items_of(a)) for a in pure.associations]
