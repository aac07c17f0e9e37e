"""Exports started from the viewer: one association's C-STORE objects to ``.dcm`` files.

Knows nothing of Textual; the app runs :func:`export_association_objects` in a
thread worker. The TUI's own analyzer keeps no data-set bytes, so the capture
file is read again through a streaming analyzer and the
:class:`~dicomsniff.output.export_objects.ObjectExporter` (the ``export-objects``
machinery), keeping only the chosen association. Association numbers agree
because both analyzers see the same frames with the same ports.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable

from ...capture.reader import open_capture
from ...pipeline import Analyzer
from ...textsafe import safe_text
from ..export_objects import INCOMPLETE, PARTIAL_WRITTEN, WRITTEN, ExportOptions, export_objects


def fresh_directory(base: str | os.PathLike, number: int) -> Path:
    """``base/dicomsniff-objects-N``, or ``…-N-2``, ``…-N-3`` if that exists already."""
    base = Path(base)
    candidate = base / f"dicomsniff-objects-{number}"
    n = 1
    while candidate.exists():
        n += 1
        candidate = base / f"dicomsniff-objects-{number}-{n}"
    return candidate


def export_association_objects(path: str, number: int, directory: str | os.PathLike, *, ports=(),
                               last_frame: int | None = None, stop: threading.Event | None = None,
                               say: Callable[[str], None] = lambda line: None) -> tuple[list, str]:
    """Write association ``number``'s C-STORE data sets under ``directory``; (records, one-line summary).

    ``last_frame`` (the association's last frame, when it is closed) lets reading stop
    there instead of at the end of a big capture.
    """
    reader = open_capture(path)
    an = Analyzer(ports=set(ports), keep_pdus=False, stream_data=True, decode_data=False)

    def events():
        try:
            for frame in reader:
                evs = an.feed(frame)
                if evs:
                    yield from evs
                if (last_frame and frame.number >= last_frame) or (stop is not None and stop.is_set()):
                    break
            yield from an.finish()
        finally:
            reader.close()

    records = export_objects(events(), directory, ExportOptions(associations=frozenset({number})), say=say,
                             forget=an.forget, protect=(path,))
    written = sum(1 for r in records if r.status == WRITTEN)
    partial = sum(1 for r in records if r.status == PARTIAL_WRITTEN)
    incomplete = sum(1 for r in records if r.status == INCOMPLETE)
    skipped = len(records) - written - partial - incomplete
    where = safe_text(os.path.abspath(directory))
    if not records:
        return records, f"association #{number}: no C-STORE objects to export"
    text = f"association #{number}: {written} object{'s' if written != 1 else ''} written to {where}"
    if incomplete:
        text += f"; {incomplete} incomplete (cut short), not written"
    if skipped:
        text += f"; {skipped} skipped"
    return records, text
