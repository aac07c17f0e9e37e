"""Every record's file offset, length and time, also for the records the compiled walk takes.

The analyzer's compiled walk (``capture/_walk.c``, issue 18) consumes the records nobody reads inside the
reader, so a consumer that keeps something of *every* record (the viewer's frame index and frame times)
never sees them. It gives the analyzer a :class:`RecordSink` (``Analyzer.walk_sink``): the walk appends
each record it takes to three bytearrays, in the widths the consumer's arrays have now, and
:meth:`RecordSink.flush` moves them into those arrays after each walk (one ``frombytes`` each). A record
whose offset or length does not fit those widths stops the walk, and the consumer widens its arrays
as it does for any record.
"""

from __future__ import annotations

from array import array
from typing import Callable


class RecordSink:
    """``arrays()`` returns the consumer's current (offsets, lengths, times) arrays: offsets of 4 or 8
    bytes, lengths of 2 or 4, times of 8 (ns); they may be replaced by wider ones between walks."""

    __slots__ = ("arrays", "_o", "_n", "_t")

    def __init__(self, arrays: Callable[[], tuple[array, array, array]]):
        self.arrays = arrays
        self._o, self._n, self._t = bytearray(), bytearray(), bytearray()

    def args(self, base: int) -> tuple | None:
        """What the walk takes: the bytearrays, the offset and length widths, the buffer's file offset."""
        o, n, t = self.arrays()
        if o.itemsize not in (4, 8) or n.itemsize not in (2, 4) or t.itemsize != 8:
            return None             # widths the walk does not write: it takes no record for this sink
        return self._o, self._n, self._t, o.itemsize, n.itemsize, base

    def flush(self) -> None:
        """Append what the last walk took to the consumer's arrays."""
        if self._t:
            o, n, t = self.arrays()
            o.frombytes(self._o)
            n.frombytes(self._n)
            t.frombytes(self._t)
            del self._o[:], self._n[:], self._t[:]
