"""Runs a capture file through the analyzer: the one place file reading meets the core."""

from __future__ import annotations

from typing import Iterator

from .capture.captureset import CaptureSet, open_capture_set
from .capture.reader import CaptureFormatError, open_capture
from .pipeline import Analyzer

__all__ = ["CaptureFormatError", "read_events"]


def read_events(path, analyzer: Analyzer, *, reader_out: list | None = None) -> Iterator:
    """Yield every event of the capture at ``path``: reader notices, then analyzer events, in order.

    Raises CaptureFormatError (before yielding anything) when the file is no capture.
    ``reader_out``, if given, receives the open reader (for progress: ``bytes_read``/``size``).
    """
    # A list or tuple of paths (or an open CaptureSet) is a capture set, read as one capture.
    reader = (path if isinstance(path, CaptureSet) else open_capture_set(path)
              if isinstance(path, (list, tuple)) else open_capture(path))
    if reader_out is not None:
        reader_out.append(reader)
    analyzer.tls_secrets = getattr(reader, "secrets", None)    # TLS hook (issue 15): pcapng Decryption Secrets
    analyzer.connect(reader)        # the compiled record walk (issue 18), when built and not turned off
    try:
        seen = 0
        feed = analyzer.feed_record
        stashed = analyzer.stashed
        notices = reader.notices
        for rec in reader.records():
            held = stashed()    # (events of the last record the compiled walk took: before this record is read)
            if held:
                yield from held
            evs = feed(rec)
            if evs:
                yield from evs
            if notices and len(notices) > seen:
                yield from notices[seen:]
                seen = len(notices)
        yield from analyzer.stashed()   # (the last record's, when the walk took it: before the reader's last notices)
        if len(notices) > seen:
            yield from notices[seen:]
        yield from analyzer.finish()
    finally:
        reader.close()
