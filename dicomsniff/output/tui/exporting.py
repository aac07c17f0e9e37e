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


MAX_TRIES = 1000
_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))


def export_stem(kind: str, a) -> str:
    """``dicomsniff-KIND-N-frames-FIRST-LAST``: the association number and its frame range, nothing from the wire."""
    first, last = a.first_frame or 0, max(a.last_frame or 0, a.first_frame or 0)
    return f"dicomsniff-{kind}-{a.number}-frames-{first}-{last}"


def _candidates(base: Path, stem: str, ext: str):
    yield base / f"{stem}{ext}"
    for n in range(2, MAX_TRIES + 1):
        yield base / f"{stem}-{n}{ext}"


def create_file(base: str | os.PathLike, stem: str, ext: str, data: bytes) -> Path:
    """Write ``data`` to ``base/STEM.EXT``, else ``STEM-2.EXT``, ``STEM-3.EXT``…: the first name that is free.

    Created exclusively and never through a symbolic link (as :mod:`dicomsniff.safeio` does), so an
    existing file is never replaced, nor a name taken by someone else at the same moment. Raises OSError.
    """
    for path in _candidates(Path(base), stem, ext):
        try:
            fd = os.open(path, _FLAGS, 0o644)
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except BaseException:
            try:
                os.unlink(path)
            except OSError:
                pass
            raise
        return path
    raise FileExistsError(f"{Path(base) / stem}{ext}: no free name up to -{MAX_TRIES}")


def create_directory(base: str | os.PathLike, stem: str) -> Path:
    """Make ``base/STEM``, else ``STEM-2``, ``STEM-3``…: the first name that is free (mkdir is exclusive)."""
    for path in _candidates(Path(base), stem, ""):
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{Path(base) / stem}: no free name up to -{MAX_TRIES}")


def fresh_directory(base: str | os.PathLike, number: int) -> Path:
    """``base/dicomsniff-objects-N``, or ``…-N-2``, ``…-N-3`` if that exists already (not created)."""
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
