"""Re-read frame bytes by frame number, so views need not keep every frame in memory.

A :class:`FrameIndex` records, as frames are read, where each frame's data lies
in the capture file (two compact arrays: 4-byte offsets and 2-byte lengths, 6 bytes
a frame, each widened to 8 and 4 bytes once a file passes 4 GiB or a frame 64 KiB). The TUI's hex pane then reads a PDU's or data set's bytes
back through its :class:`~dicomsniff.ul.events.SpanMap`. Live frames have no
file: :class:`MemoryFrames` keeps the most recent ones up to a byte budget.
"""

from __future__ import annotations

import os
import threading
from array import array
from collections import OrderedDict

from .frame import Frame


class FrameIndex:
    """Frame number → (file offset, length) of its data in one capture file."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = path
        self.offsets = array("I")           # widened to "Q" by the first offset past 4 GiB
        self.lengths = array("H")           # widened to "I" by the first frame past 64 KiB
        # A capture set (capture/captureset.py's CaptureList, read through the CaptureSet it opened):
        # each frame's file too, as its position in the set's ``paths``.
        self._members = array("I") if isinstance(path, list) else None
        self._f_path = None
        self._f = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, bytes] = OrderedDict()

    def add(self, frame: Frame) -> None:
        """Record a frame as it is read (frames arrive numbered 1, 2, 3, ...)."""
        self.add_record(frame.number, frame.file_offset or 0, len(frame.data))

    def add_record(self, number: int, offset: int, length: int) -> None:
        """Record a frame from its number, file offset and length (``CaptureReader.records`` gives them
        without a Frame)."""
        if number != len(self.offsets) + 1:
            while len(self.offsets) < number - 1:
                self.offsets.append(0)
                self.lengths.append(0)
                if self._members is not None:
                    self._members.append(0)
            if len(self.offsets) >= number:
                return
        try:
            self.offsets.append(offset)
        except OverflowError:
            self.offsets = array("Q", self.offsets)
            self.offsets.append(offset)
        try:
            self.lengths.append(length)
        except OverflowError:
            self.lengths = array("I", self.lengths)
            self.lengths.append(length)
        if self._members is not None:
            self._members.append(getattr(getattr(self.path, "opened", None), "current_rank", 0))

    def __len__(self) -> int:
        return len(self.offsets)

    def read(self, number: int) -> bytes | None:
        """The data of frame ``number`` from the file, None if unknown or unreadable."""
        if self.path is None or not 1 <= number <= len(self.offsets):
            return None
        with self._lock:
            hit = self._cache.get(number)
            if hit is not None:
                self._cache.move_to_end(number)
                return hit
            try:
                path = self.path
                if self._members is not None:
                    path = self.path.opened.paths[self._members[number - 1]]
                if self._f is not None and self._f_path != path:
                    self._f.close()
                    self._f = None
                if self._f is None:
                    self._f = open(path, "rb")
                    self._f_path = path
                self._f.seek(self.offsets[number - 1])
                data = self._f.read(self.lengths[number - 1])
            except (OSError, ValueError, AttributeError, IndexError):
                return None
            self._cache[number] = data
            if len(self._cache) > 64:
                self._cache.popitem(last=False)
            return data

    def close(self) -> None:
        with self._lock:
            if self._f is not None:
                self._f.close()
                self._f = None


class MemoryFrames:
    """The most recent live frames kept in memory, at most ``budget`` bytes of them."""

    def __init__(self, budget: int = 64 << 20):
        self.budget = budget
        self.size = 0
        self._frames: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, frame: Frame) -> None:
        data = bytes(frame.data)
        with self._lock:
            self._frames[frame.number] = data
            self.size += len(data)
            while self.size > self.budget and self._frames:
                _, old = self._frames.popitem(last=False)
                self.size -= len(old)

    def __len__(self) -> int:
        return len(self._frames)

    def read(self, number: int) -> bytes | None:
        with self._lock:
            return self._frames.get(number)

    def close(self) -> None:
        with self._lock:
            self._frames.clear()
            self.size = 0
