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
import re
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
        self.flushed_frames = 0         # frames handed to the file (the rest are buffered here)
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
        self.flushed_frames = self.frames
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

    def abandon(self) -> None:
        """After a write error (a full disk): drop the buffered records and keep the file as far as it
        was written, renamed into place (a record the error cut is the reader's ``truncated-record``)."""
        if self._f is None:
            return
        self._f = None
        self._pending.clear()
        self._pending_bytes = 0
        out = self._out
        if out is None or out.done:
            return
        try:
            out.file.close()
        except Exception:           # its buffer cannot be written either: what reached the disk stays
            pass
        try:
            os.replace(out.tmp, out.target)
            out.done = True
        except OSError:
            out.discard()

    def __enter__(self) -> "PcapWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(ok=exc_type is None)


# ---- ring buffer (dicomsniff capture --rotate) --------------------------------------------------

SIZE_UNITS = {"B": 1, "kB": 1000, "KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3, "TB": 1000 ** 4,
              "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "TiB": 1024 ** 4}
TIME_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
MIN_ROTATE_BYTES = 1000
DEFAULT_PREFIX = "dicomsniff"
RETRY_SECONDS = 5.0


class RotateError(ValueError):
    """A --rotate value that is neither a size nor a duration; the message says what is accepted."""


def parse_rotate(text: str) -> tuple[str, float]:
    """``"100MB"`` → ("bytes", 100e6); ``"1h"`` → ("seconds", 3600). Sizes need a unit ending in B
    (kB/MB/GB decimal, KiB/MiB/GiB binary); durations end in s, m/min, h or d."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*", text or "")
    if m:
        value, unit = float(m.group(1)), m.group(2)
        if unit in SIZE_UNITS:
            n = int(value * SIZE_UNITS[unit])
            if n < MIN_ROTATE_BYTES:
                raise RotateError(f"'{text}': a file of fewer than {MIN_ROTATE_BYTES} bytes is too small")
            return "bytes", n
        if unit in TIME_UNITS and value > 0:
            return "seconds", value * TIME_UNITS[unit]
    raise RotateError(f"'{text}' is neither a size (e.g. 100MB, 1GiB) nor a duration (e.g. 30s, 15min, 1h, 1d)")


def ring_name(prefix: str, number: int, ts_ns: int, ext: str = ".pcap") -> str:
    """dumpcap's ring-buffer file name: ``PREFIX_NNNNN_YYYYMMDDhhmmss.pcap`` (local time)."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(ts_ns / 1e9))
    return f"{prefix}_{number:05d}_{stamp}{ext}"


class RingWriter:
    """Frames to a ring buffer of pcap files, like dumpcap ``-b filesize:/duration:/files:``.

    ``target`` is a directory (files ``dicomsniff_NNNNN_YYYYMMDDhhmmss.pcap`` in it; created when
    missing) or, when it ends in ``.pcap``/``.pcapng``, a file path ``DIR/NAME.pcap`` (files
    ``DIR/NAME_NNNNN_....pcap``). A new file starts
    when the current one would pass ``max_bytes`` or is ``max_seconds`` old (checked at each frame and
    at :meth:`tick`); a file is opened at its first frame, so an idle link makes no empty files.
    Each file is written as ``.NAME.XXXXXXXX.tmp`` and renamed into place when complete, so a
    directory listing shows complete files only. ``keep``: complete files kept (this run's oldest
    are deleted beyond it; the file being written is extra). A write error (a full disk) never
    stops the capture: the file is closed, the error reported through ``on_error``, and a new file
    tried after a few seconds (the packets in between are counted in ``unsaved``).
    Numbering continues after the highest number already in the directory for this prefix.
    """

    def __init__(self, target: str | os.PathLike, linktype: int, snaplen: int = 262144, *,
                 max_bytes: int | None = None, max_seconds: float | None = None, keep: int | None = None,
                 on_file=None, on_error=None):
        text = os.fsdecode(target)
        stem, ext = os.path.splitext(os.path.basename(text.rstrip(os.sep)))
        if os.path.isdir(text) or ext not in (".pcap", ".pcapng"):
            self.folder, self.prefix, self.ext = text.rstrip(os.sep) or os.sep, DEFAULT_PREFIX, ".pcap"
            os.makedirs(self.folder, exist_ok=True)
        else:                  # DIR/NAME.pcap: NAME_NNNNN_... files (always pcap: this writer writes pcap)
            self.folder = os.path.dirname(text) or "."
            self.prefix, self.ext = stem, ".pcap"
            if not os.path.isdir(self.folder):
                raise FileNotFoundError(2, "No such file or directory", self.folder)
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise PermissionError(13, "cannot create files there (permission denied)", self.folder)
        self.linktype = linktype
        self.snaplen = snaplen
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.keep = keep
        self.on_file = on_file          # on_file(path, frames, bytes, deleted paths)
        self.on_error = on_error        # on_error(text)
        self.frames = 0                 # frames written to files
        self.unsaved = 0                # frames that could not be written
        self.files = 0                  # files completed
        self.deleted = 0
        self.done: list[str] = []      # this run's complete files, oldest first
        self.current: PcapWriter | None = None
        self._current_path: str | None = None
        self._opened = 0.0
        self._retry_at = 0.0
        self._number = self._last_number()

    @property
    def path(self) -> str:
        """What was written, for the capture's last line."""
        kept = len(self.done)
        text = f"{self.folder} ({self.files} file{'s' if self.files != 1 else ''}"
        if self.deleted:
            text += f", {kept} kept, {self.deleted} deleted by --keep"
        if self.unsaved:
            text += f", {self.unsaved} packets not saved"
        return text + ")"

    def _last_number(self) -> int:
        pattern = re.compile(re.escape(self.prefix) + r"_(\d{5,})_\d{14}" + re.escape(self.ext) + "$")
        best = 0
        try:
            for name in os.listdir(self.folder):
                m = pattern.match(name)
                if m:
                    best = max(best, int(m.group(1)))
        except OSError:
            pass
        return best

    def _open(self, ts_ns: int) -> bool:
        now = time.monotonic()
        if now < self._retry_at:
            return False
        self._number += 1
        path = os.path.join(self.folder, ring_name(self.prefix, self._number, ts_ns, self.ext))
        from ..safeio import OutputError
        try:
            self.current = PcapWriter(path, self.linktype, self.snaplen)
        except (OSError, OutputError) as e:     # OutputError: the temporary file cannot be created (full disk)
            self._failed(path, e)
            return False
        self._current_path = path
        self._opened = now
        return True

    def _failed(self, path: str, e: Exception) -> None:
        self.current = None
        self._retry_at = time.monotonic() + RETRY_SECONDS
        if self.on_error is not None:
            why = getattr(e, "strerror", None) or str(e).removeprefix(f"{path}: ")
            self.on_error(f"{path}: {why}: packets are not saved; trying a new file "
                          f"in {RETRY_SECONDS:g} s (decoding goes on)")

    def rotate(self) -> None:
        """Complete the current file (renamed into place) and delete the oldest beyond ``keep``."""
        cur, path = self.current, self._current_path
        if cur is None:
            return
        self.current = None
        try:
            cur.close(ok=True)
        except OSError as e:
            self.current = cur
            self._abandon(cur, e)
            return
        self.files += 1
        self.done.append(path)
        deleted = []
        while self.keep is not None and len(self.done) > self.keep:
            old = self.done.pop(0)
            try:
                os.unlink(old)
            except FileNotFoundError:
                pass
            except OSError:
                continue
            deleted.append(old)
            self.deleted += 1
        if self.on_file is not None:
            self.on_file(path, cur.frames, cur.bytes_written, deleted)

    def write(self, frame: Frame) -> None:
        cur = self.current
        if cur is not None:
            if self.max_bytes is not None and cur.frames and (
                    cur.bytes_written + cur._pending_bytes + 16 + min(len(frame.data), self.snaplen) > self.max_bytes):
                self.rotate()
            elif self.max_seconds is not None and time.monotonic() - self._opened >= self.max_seconds:
                self.rotate()
            cur = self.current
        if cur is None:
            if not self._open(frame.ts_ns):
                self.unsaved += 1
                return
            cur = self.current
        try:
            cur.write(frame)
        except OSError as e:
            self._abandon(cur, e, writing=True)
            return
        self.frames += 1

    def tick(self) -> None:
        """Periodic work while idle: complete a file that is old enough, flush the current one."""
        if self.current is None:
            return
        if self.max_seconds is not None and time.monotonic() - self._opened >= self.max_seconds:
            self.rotate()
        else:
            self.flush()

    def flush(self) -> None:
        if self.current is not None:
            try:
                self.current.flush()
            except OSError as e:
                self._abandon(self.current, e)

    def _abandon(self, cur: PcapWriter, e: OSError, *, writing: bool = False) -> None:
        """A write failed: the frames not yet in the file are lost; the file keeps what it has."""
        lost = cur.frames - cur.flushed_frames
        self.unsaved += lost
        self.frames -= lost - 1 if writing else lost    # the frame being written was not counted yet
        cur.abandon()
        if os.path.exists(self._current_path):
            self.files += 1
            self.done.append(self._current_path)
            if self.on_file is not None:
                self.on_file(self._current_path, cur.flushed_frames, os.path.getsize(self._current_path), [])
        self._failed(self._current_path, e)

    def close(self, ok: bool = True) -> None:
        """Complete the last file (whatever ``ok``: a ring buffer keeps what it captured)."""
        self.rotate()

    def __enter__(self) -> "RingWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(ok=exc_type is None)
