"""DICOM bytes over time, per association and direction: what the throughput plot (``i``) draws.

The loader records, as frames are read, only each frame's timestamp (8 bytes a frame).
When the plot opens, :meth:`Traffic.catch_up` walks the PDUs the session holds anyway
(its ladder rows, each with the SpanMap of where its bytes came from) and records
one entry per span (time, length, association and direction; 16 bytes), from where
the last call stopped; :meth:`Traffic.series` bins them into intervals. Doing this
on demand keeps ~12 MB and ~10 % of the load time off a 1 GB capture that is never
plotted (issue 14). Bytes count where they were captured (each frame's own time),
not when the PDU they belong to completed. Pure Python, no Textual.
"""

from __future__ import annotations

from array import array

NICE = (1, 2, 5)
_LO, _HI = -(1 << 63), (1 << 63) - 1


def _clamp(ts: int) -> int:
    """A timestamp that fits the arrays (a pcapng interface's wild if_tsoffset can exceed 64 bits)."""
    return _LO if ts < _LO else _HI if ts > _HI else ts


def nice_interval(span_ns: int, bins: int = 100) -> int:
    """The smallest of 1, 2, 5 × 10^k nanoseconds (at least 1 ms) that cuts ``span_ns`` into ≤ ``bins`` bins."""
    target = max(1, span_ns // max(1, bins))
    step = 1_000_000
    while True:
        for m in NICE:
            if step * m >= target:
                return step * m
        step *= 10


class Traffic:
    """Compact records of DICOM bytes: per frame its time, per PDU span (time, bytes, association, direction)."""

    def __init__(self):
        self.frame_ts = array("q")          # frame number - 1 -> timestamp (ns)
        self.ts = array("q")                # per span: timestamp of the frame that carried it
        self.nbytes = array("I")            # per span: bytes
        self.who = array("I")               # per span: association number * 2 + (1 if client → server)
        self._done: dict[int, int] = {}     # association number -> its ladder rows already recorded

    def frame(self, number: int, ts_ns: int) -> None:
        ts_ns = _clamp(ts_ns)
        ft = self.frame_ts
        if number == len(ft) + 1:
            ft.append(ts_ns)
        elif number > len(ft):
            last = ft[-1] if ft else ts_ns
            while len(ft) < number - 1:
                ft.append(last)
            ft.append(ts_ns)

    def pdu(self, pdu, association) -> None:
        """Record a PDU's bytes (its spans, each at its frame's time)."""
        up = 1 if pdu.direction == association.client_dir else 0
        tag = association.number * 2 + up
        ft = self.frame_ts
        nft = len(ft)
        fallback = _clamp(pdu.end_ts_ns)
        seen = 0
        ts, nb, who = self.ts, self.nbytes, self.who
        fl = pdu.spans.flat                     # unit offset, frame, frame offset, length; repeated
        for i in range(1, len(fl), 4):
            f = fl[i]
            n = fl[i + 2]
            t = ft[f - 1] if 0 < f <= nft else fallback
            seen += n
            if who and who[-1] == tag and ts[-1] == t and nb[-1] + n <= 0xFFFFFFFF:
                nb[-1] += n                   # the same frame, the same direction: one record
                continue
            ts.append(t)
            nb.append(min(n, 0xFFFFFFFF))
            who.append(tag)
        rest = pdu.spans.length - seen          # spans past the SpanMap's limit: at the PDU's end
        if rest > 0:
            ts.append(fallback)
            nb.append(min(rest, 0xFFFFFFFF))
            who.append(tag)

    def catch_up(self, associations, items) -> None:
        """Record the PDUs of ``items`` (association number -> ladder rows, which only grow) not
        recorded yet; the UI thread calls it before :meth:`series` while the loader may be appending."""
        for a in list(associations):
            rows = items.get(a.number)
            if not rows:
                continue
            start = self._done.get(a.number, 0)
            end = len(rows)
            for i in range(start, end):
                pdu = rows[i].pdu
                if pdu is None:
                    continue
                try:
                    self.pdu(pdu, a)
                except (OverflowError, ValueError, TypeError, AttributeError):   # the plot is a help, never a stop
                    pass
            self._done[a.number] = end

    def __len__(self) -> int:
        return len(self.ts)

    def series(self, t0: int, t1: int, interval: int, association: int | None = None
               ) -> tuple[list[float], list[int], list[int]]:
        """(bin start in seconds since ``t0``, client → server bytes, server → client bytes) per interval.

        ``association``: only that association's bytes (None: every association).
        """
        n = max(1, (max(t1, t0) - t0) // interval + 1)
        up = [0] * n
        down = [0] * n
        ts, nb, who = self.ts, self.nbytes, self.who
        for i in range(min(len(ts), len(nb), len(who))):      # the loader may be appending (live)
            w = who[i]
            if association is not None and w >> 1 != association:
                continue
            b = (ts[i] - t0) // interval
            if 0 <= b < n:
                (up if w & 1 else down)[b] += nb[i]
        return [b * interval / 1e9 for b in range(n)], up, down
