"""What the TUI shows, loaded in a background thread: associations, ladder items, frame bytes.

Knows nothing of Textual (as toolong keeps its model apart): a :class:`Loader`
feeds frames from a capture file or a live source through the
:class:`~dicomsniff.pipeline.Analyzer` and appends to a :class:`Session`,
calling ``post(progress)`` at most every ``BATCH_SECONDS`` (``FILE_BATCH_SECONDS``
for a file, whose every batch redraw is time the loader waits for the GIL; and as
soon as the first association appears). The UI thread only reads the session's lists,
which only grow.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ...capture.index import FrameIndex, MemoryFrames
from ...capture.recordsink import RecordSink
from ...field import ERROR, WARN
from ...notice import Notice
from ...pipeline import Analyzer, AssociationOpened, MessageSeen, PduSeen
from .traffic import Traffic

BATCH_SECONDS = 0.2
FILE_BATCH_SECONDS = 0.5
KEEP_LIMIT = 64 << 10
UI_TURN_SECONDS = 0.25          # the longest a file's loader waits while the UI handles a key (Loader.ui_turn)
LIVE_DIAGNOSIS_SECONDS = 5.0     # live: re-diagnose at most this often (and when the findings pane opens)


class LadderItem:
    """One row of an association's ladder: a PDU, or a DIMSE message with its exchange."""

    __slots__ = ("pdu", "message", "exchange")

    def __init__(self, pdu=None, message=None, exchange=None):
        self.pdu = pdu
        self.message = message
        self.exchange = exchange

    @property
    def is_message(self) -> bool:
        return self.message is not None

    @property
    def direction(self) -> int:
        return self.message.direction if self.message is not None else self.pdu.direction

    @property
    def ts_ns(self) -> int:
        if self.message is not None:
            return self.message.end_ts_ns or self.message.ts_ns
        return self.pdu.end_ts_ns

    @property
    def frame(self) -> int:
        if self.message is not None:
            frames = self.message.frames
            return frames[-1] if frames else 0
        spans = self.pdu.spans.spans
        return spans[-1].frame if spans else 0

    @property
    def frames(self) -> list[int]:
        return self.message.frames if self.message is not None else self.pdu.spans.frames


@dataclass
class Diagnosis:
    """The diagnosis rules' findings, indexed for the panes (computed off the UI thread).

    ``marked`` maps an association number to the sorted frames that an error or
    warning names, with the worst severity of each; ``counts`` to its number of
    (errors, warnings). ``capture`` holds findings of no association (reader and TCP).
    """

    findings: list = field(default_factory=list)
    by_association: dict = field(default_factory=dict)
    capture: list = field(default_factory=list)
    marked: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    elapsed: float = 0.0
    final: bool = False
    error: str | None = None
    numbers: set = field(default_factory=set)
    notes: dict = field(default_factory=dict)         # association number -> notes (and less) count
    parent: dict = field(default_factory=dict)        # sub-association number -> (its C-MOVE's association, msg ID)
    children: dict = field(default_factory=dict)      # association number -> sub-associations of its C-MOVEs
    links: list = field(default_factory=list)         # (association, C-MOVE message ID, [sub-associations])

    def totals(self) -> tuple[int, int, int]:
        """(errors, warnings, notes) over the whole capture, grouped lines as ``diagnose`` prints them."""
        err = sum(1 for f in self.findings if f.severity == ERROR)
        warn = sum(1 for f in self.findings if f.severity == WARN)
        return err, warn, len(self.findings) - err - warn

    def of(self, number: int) -> list:
        return self.by_association.get(number, [])

    def count(self, number: int) -> tuple[int, int] | None:
        """(errors, warnings) of an association; None if it was not diagnosed (live, too new)."""
        return self.counts.get(number, (0, 0)) if number in self.numbers else None

    def frame_marks(self, number: int) -> tuple[list[int], dict[int, str]]:
        """(sorted frames, frame → worst severity) named by errors and warnings of an association."""
        return self.marked.get(number, ([], {}))


def diagnose_session(associations: list, notices: list, *, slow_s: float = 5.0, idle_s: float = 10.0,
                     final: bool = True) -> Diagnosis:
    """Run :func:`~dicomsniff.model.diagnosis.diagnose` and index its findings for the TUI.

    Call it from the thread that feeds the analyzer (the loader), so that no
    association changes while the rules read it.
    """
    from ...model.diagnosis import diagnose
    from ..diagnose import notice_findings
    t0 = time.monotonic()
    assocs = list(associations)
    found = diagnose(assocs, slow_s=slow_s, idle_s=idle_s)
    capture = notice_findings([n for n in notices if getattr(n, "where", None) in ("capture", "tcp")])
    d = Diagnosis(found + capture, capture=capture, final=final, numbers={a.number for a in assocs})
    marks: dict[int, dict[int, str]] = {}
    for f in found:
        d.by_association.setdefault(f.association, []).append(f)
        if f.severity not in (ERROR, WARN):
            d.notes[f.association] = d.notes.get(f.association, 0) + 1
            continue
        err, warn = d.counts.get(f.association, (0, 0))
        d.counts[f.association] = (err + (f.severity == ERROR), warn + (f.severity == WARN))
        m = marks.setdefault(f.association, {})
        for frame in f.frames:
            if m.get(frame) != ERROR:
                m[frame] = f.severity
    d.marked = {n: (sorted(m), m) for n, m in marks.items()}
    try:
        from ...model.rules.base import Options
        from ...model.rules.subassoc import Digest, sub_associations
        links: list = []
        sub_associations([Digest.of(a) for a in assocs], Options(slow_s, idle_s), links)
        d.links = links
        for parent, move_id, subs in links:
            for b in subs:
                d.parent[b] = (parent, move_id)
                d.children.setdefault(parent, []).append(b)
    except Exception:               # the tree is a convenience: without links the list stays flat
        d.parent, d.children, d.links = {}, {}, []
    d.elapsed = time.monotonic() - t0
    return d


@dataclass
class Progress:
    """A batch notice from the loader: how far it got."""

    bytes_read: int
    size: int | None
    frames: int
    associations: int
    done: bool = False
    error: str | None = None
    elapsed: float = 0.0
    drops: int = 0


@dataclass
class Session:
    """Everything loaded so far; lists only grow, so the UI reads them without locks."""

    name: str
    live: bool = False
    associations: list = field(default_factory=list)
    items: dict = field(default_factory=dict)        # association number -> list[LadderItem]
    notices: list = field(default_factory=list)
    frames: FrameIndex | MemoryFrames | None = None
    first_ts: int | None = None
    last_ts: int = 0
    done: bool = False
    diagnosis: Diagnosis | None = None
    traffic: Traffic = field(default_factory=Traffic)   # bytes over time, for the throughput plot

    def items_of(self, assoc) -> list[LadderItem]:
        return self.items.get(assoc.number, [])

    @property
    def t0(self) -> int:
        return self.first_ts or 0

    def read_frame(self, number: int) -> bytes | None:
        return self.frames.read(number) if self.frames is not None else None


class Loader:
    """Runs frames through an Analyzer into a Session; ``stop`` ends it early (from any thread)."""

    def __init__(self, session: Session, analyzer: Analyzer, post: Callable[[Progress], None],
                 post_diagnosis: Callable[[Diagnosis], None] | None = None, slow_s: float = 5.0,
                 idle_s: float = 10.0):
        self.session = session
        self.analyzer = analyzer
        self.post = post
        self.post_diagnosis = post_diagnosis
        self.slow_s = slow_s
        self.idle_s = idle_s
        self.stop = threading.Event()
        self.want_diagnosis = threading.Event()     # set from the UI: diagnose soon (live)
        # Cleared by the UI while it handles a key or click: a file's loader then waits (at most
        # UI_TURN_SECONDS, checked every 256 records) instead of sharing the GIL with it, so a key
        # costs the time of its own redraw, not twice that (issue 14: a key answers within 0.2 s).
        self.ui_turn = threading.Event()
        self.ui_turn.set()
        self.diagnosis_interval = LIVE_DIAGNOSIS_SECONDS
        self._last_diagnosis = time.monotonic()
        self.started = time.monotonic()
        self._last_post = 0.0
        self._assocs_posted = 0
        self.batch_seconds = BATCH_SECONDS

    def _event(self, ev) -> None:
        s = self.session
        t = type(ev)
        if t is PduSeen:
            s.items.setdefault(ev.association.number, []).append(LadderItem(pdu=ev.pdu))
        elif t is MessageSeen:
            s.items.setdefault(ev.association.number, []).append(
                LadderItem(message=ev.message, exchange=ev.exchange))
        elif t is AssociationOpened:
            s.items.setdefault(ev.association.number, [])
            s.associations.append(ev.association)
        elif t is Notice:
            s.notices.append(ev)

    def _progress(self, source, done: bool = False, error: str | None = None) -> Progress:
        an = self.analyzer
        drops = 0
        stats = getattr(source, "stats", None)
        if callable(stats):
            try:
                drops = stats()[1]
            except (OSError, TypeError, IndexError, ValueError):
                drops = 0
        return Progress(getattr(source, "bytes_read", 0) or 0, getattr(source, "size", None), an.frames,
                        len(self.session.associations), done, error, time.monotonic() - self.started, drops)

    def _maybe_post(self, source, force: bool = False) -> bool:
        """Post a progress if one is due; True if posted."""
        now = time.monotonic()
        fresh = len(self.session.associations) > self._assocs_posted and self._assocs_posted == 0
        if force or fresh or now - self._last_post >= self.batch_seconds:
            self._last_post = now
            self._assocs_posted = len(self.session.associations)
            self.post(self._progress(source))
            return True
        return False

    def diagnose(self, final: bool = True) -> None:
        """Diagnose what was read so far (in the loader thread) and hand it to ``post_diagnosis``."""
        if self.post_diagnosis is None:
            return
        s = self.session
        try:
            d = diagnose_session(s.associations, s.notices, slow_s=self.slow_s, idle_s=self.idle_s, final=final)
        except Exception as e:        # the viewer works without a diagnosis; say why there is none
            d = Diagnosis(final=final, error=f"{type(e).__name__}: {e}")
        s.diagnosis = d
        self._last_diagnosis = time.monotonic()
        # a slow diagnosis (a big live capture) runs less often, so capture keeps up
        self.diagnosis_interval = max(LIVE_DIAGNOSIS_SECONDS, 20 * d.elapsed)
        self.post_diagnosis(d)

    def _maybe_diagnose(self) -> None:
        if self.post_diagnosis is None:
            return
        due = time.monotonic() - self._last_diagnosis >= self.diagnosis_interval
        if self.want_diagnosis.is_set() or (due and self.session.associations):
            self.want_diagnosis.clear()
            self.diagnose(final=False)

    def _frame(self, frame, index, writer) -> None:
        s = self.session
        if index is not None:
            index.add(frame)
        s.traffic.frame(frame.number, frame.ts_ns)
        if writer is not None:
            writer.write(frame)
        for ev in self.analyzer.feed(frame):
            self._event(ev)
        if s.first_ts is None:
            s.first_ts = frame.ts_ns
        s.last_ts = max(s.last_ts, frame.ts_ns)

    def run_file(self, reader) -> None:
        """Read a whole capture file (``reader`` from open_capture); posts a final ``done`` progress."""
        s = self.session
        index = s.frames
        seen = 0
        error = None
        self.batch_seconds = FILE_BATCH_SECONDS
        self.analyzer.tls_secrets = getattr(reader, "secrets", None)   # TLS hook (issue 15): pcapng secrets
        feed, event, add, traffic = self.analyzer.feed_record, self._event, index.add_record, s.traffic.frame
        # The frame index and the frame times grow by one entry a record: appended here, inline (a
        # method call a record is ~10 % of the load), while numbers follow on and values fit the
        # arrays; anything else (a gap, a capture set, a 4 GiB offset, a 64 KiB frame, a wild
        # timestamp) goes through add_record and Traffic.frame, which widen or fill.
        inline = type(index) is FrameIndex and index._members is None
        ts_lo, ts_hi = -(1 << 63), (1 << 63) - 1
        an = self.analyzer
        if inline:
            # The compiled walk (issue 18) takes the records nobody reads inside the reader: it appends
            # their offsets, lengths and times to the same arrays, so every frame is still indexed.
            an.walk_sink = RecordSink(lambda: (index.offsets, index.lengths, s.traffic.frame_ts))
            an.connect(reader)

        def arrays():
            o, n = index.offsets, index.lengths
            return (len(o) + 1, o.append, n.append, s.traffic.frame_ts.append,
                    (1 << (8 * o.itemsize)) - 1, (1 << (8 * n.itemsize)) - 1)

        nxt, o_add, n_add, t_add, o_max, n_max = arrays()
        first, last = s.first_ts, s.last_ts      # locals in the loop, the session's at each progress
        rnotices = reader.notices                # a list the reader appends to
        try:
            for rec in reader.records():     # the analyzer's fast path: no Frame per record
                number, ts, off, length = rec[0], rec[1], rec[7], rec[5] - rec[4]
                if number != nxt and inline:
                    nxt = len(index.offsets) + 1    # the compiled walk indexed the records before this one
                if inline and number == nxt and off <= o_max and length <= n_max and ts_lo <= ts <= ts_hi:
                    o_add(off)
                    n_add(length)
                    t_add(ts)
                    nxt += 1
                else:
                    add(number, off, length)
                    traffic(number, ts)
                    if inline:
                        nxt, o_add, n_add, t_add, o_max, n_max = arrays()
                evs = feed(rec)
                if evs:
                    for ev in evs:
                        event(ev)
                if first is None:
                    first = ts
                if ts > last:
                    last = ts
                if len(rnotices) > seen:
                    s.notices.extend(rnotices[seen:])
                    seen = len(rnotices)
                if evs or not number & 255:     # progress and stop: on news, else every 256 records
                    if s.first_ts is None:
                        s.first_ts = first
                    if an.last_ts > last:       # the time of records the walk took
                        last = an.last_ts
                    s.last_ts = last            # what the UI reads when the progress arrives
                    if self._maybe_post(reader):
                        # What was read so far stays (the session holds it): out of the collector's
                        # full passes, which otherwise rescan it all, up to 90 ms each on 1 GB, a key
                        # waiting behind them. Unfrozen once loaded, so cycles are collected again.
                        gc.freeze()
                    if self.stop.is_set():
                        break
                    if not number & 255:
                        if not self.ui_turn.is_set():   # the UI handles a key: wait, rather than share the GIL
                            self.ui_turn.wait(UI_TURN_SECONDS)
                        elif not number & 1023:
                            # let the threads that carry a key (terminal input, UI) take the GIL and a
                            # core: in tmux on a busy machine keys took 0.06-0.2 s with it, 0.08-0.24 s
                            # without. Each costs ~0.1 ms, so every 1,024 records (~2 % of the load)
                            time.sleep(0)
            s.notices.extend(reader.notices[seen:])
            for ev in self.analyzer.finish():
                self._event(ev)
        except Exception as e:          # never let the worker's failure become a traceback
            error = f"{type(e).__name__}: {e}"
        finally:
            reader.close()
            gc.unfreeze()
        if s.first_ts is None:
            s.first_ts = first
        s.last_ts = max(s.last_ts, last, an.last_ts)
        s.done = True
        self.post(self._progress(reader, done=True, error=error))
        if not self.stop.is_set():
            self.diagnose()

    def run_live(self, source, writer=None) -> None:
        """Read a live source until ``stop`` (or the source closes); then finish the analysis."""
        s = self.session
        error = None
        seen = 0
        try:
            for frame in source.iter_frames(self.stop, idle=True):
                if frame is not None:
                    self._frame(frame, s.frames, writer)
                if len(source.notices) > seen:
                    s.notices.extend(source.notices[seen:])
                    seen = len(source.notices)
                self._maybe_post(source)
                self._maybe_diagnose()
                if self.stop.is_set():
                    break
            for ev in self.analyzer.finish():
                self._event(ev)
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
        finally:
            source.close()
            if writer is not None:
                try:
                    writer.close(ok=error is None)
                except OSError as e:
                    error = error or f"saving the capture failed: {e}"
        s.done = True
        self.post(self._progress(source, done=True, error=error))
        if not self.stop.is_set():
            self.diagnose()


def new_session(name: str, *, live: bool = False, path=None) -> Session:
    """A session with the right frame store: a file index, or recent frames in memory when live."""
    return Session(name, live=live, frames=MemoryFrames() if live else FrameIndex(path))


def new_analyzer(ports=()) -> Analyzer:
    return Analyzer(ports=set(ports), keep_pdus=True, keep_limit=KEEP_LIMIT)
