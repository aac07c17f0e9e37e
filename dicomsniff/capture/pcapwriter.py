"""Write frames to a classic pcap file with nanosecond timestamps (draft-ietf-opsawg-pcap).

Magic 0xA1B23C4D (nanosecond resolution, native byte order written as
little-endian), version 2.4. Records are buffered and flushed at least every
``FLUSH_SECONDS``, always whole. The file is written beside its target
(``.NAME.XXXXXXXX.tmp``, see :mod:`dicomsniff.safeio`) and renamed into place by
:meth:`PcapWriter.close`, so an existing file of that name is replaced only by
a complete capture; a capture killed outright leaves the temporary file, which
tshark, Wireshark and dicomsniff read up to the last flush.
"""

from __future__ import annotations

import os
import struct
import time

from .frame import Frame

PCAP_NS_MAGIC = 0xA1B23C4D
FLUSH_SECONDS = 0.5
FLUSH_BYTES = 4 << 20

_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


class PcapWriter:
    """``PcapWriter(path, linktype, snaplen)``; :meth:`write` frames, then :meth:`close`.

    Frames longer than ``snaplen`` are cut to it (``orig_len`` keeps the wire
    length). ``path`` may be ``"-"`` for standard output.
    """

    def __init__(self, path: str | os.PathLike, linktype: int, snaplen: int = 262144):
        self.path = path
        self.linktype = linktype
        self.snaplen = snaplen
        self.frames = 0
        self.bytes_written = 0
        self._out = None
        self.writing_to = path
        if path == "-":
            import sys
            self._f = sys.stdout.buffer
            self._own = False
        else:
            from ..safeio import open_output
            self._out = open_output(path)
            self.writing_to = self._out.tmp       # where the packets are until close() renames the file
            self._f = self._out            # its write/flush errors name the target, not the temporary file
            self._own = True
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._last_flush = time.monotonic()
        header = _FILE_HEADER.pack(PCAP_NS_MAGIC, 2, 4, 0, 0, snaplen, linktype)
        try:
            self._f.write(header)
        except BaseException:
            if self._out is not None:
                self._out.discard()
            raise
        self.bytes_written = len(header)

    def write(self, frame: Frame) -> None:
        """Append one frame (its ``ts_ns``, ``data`` and ``orig_len``)."""
        data = frame.data
        if len(data) > self.snaplen:
            data = data[:self.snaplen]
        sec, nsec = divmod(frame.ts_ns, 1_000_000_000)
        self._pending.append(_RECORD.pack(sec & 0xFFFFFFFF, nsec, len(data), max(frame.orig_len, len(data))))
        self._pending.append(bytes(data))
        self._pending_bytes += 16 + len(data)
        self.frames += 1
        if self._pending_bytes >= FLUSH_BYTES or time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the buffered records to the file (whole records only)."""
        if self._f is None:
            return
        if self._pending:
            blob = b"".join(self._pending)
            self._pending.clear()
            self._pending_bytes = 0
            view = memoryview(blob)
            while view:
                n = self._f.write(view)
                view = view[n if n is not None else len(view):]
            self.bytes_written += len(blob)
        self._f.flush()
        self._last_flush = time.monotonic()

    def close(self, ok: bool = True) -> None:
        """Flush, close and rename the file into place; safe to call twice.

        ``ok=False`` (the capture failed): a file that was already at the path is kept as it was and
        the new one dropped; with nothing there before, the packets captured so far are kept.
        """
        if self._f is None:
            return
        out = self._out
        if out is None:                     # standard output
            try:
                self.flush()
            finally:
                self._f = None
            return
        if not ok and out.existed:
            self._f = None
            out.discard()
            return
        try:
            self.flush()
        except BaseException:
            self._f = None
            out.discard()
            raise
        self._f = None
        out.commit()

    def __enter__(self) -> "PcapWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(ok=exc_type is None)
