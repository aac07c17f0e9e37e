"""Export the data sets seen on the wire as Part-10 files, streamed to disk (``export-objects``).

Every C-STORE-RQ data set (sub-operations of C-GET and C-MOVE included) and,
with ``all_data_sets``, every other data set (C-FIND/C-GET/C-MOVE identifiers,
C-FIND responses, N-* data sets) becomes a Part-10 file whose data set is byte
for byte what the peer sent (PS3.10 §7.1; :mod:`dicomsniff.output.part10`).

The :class:`ObjectExporter` reads the analyzer's streaming events
(``DataStarted``/``DataChunk``/``DataEnded``): the file meta and each chunk
go to a temporary file in the output directory as they arrive, and the file
is given its name only when the data set ended complete, so no object is held
in memory and no cut object ever looks complete (it is dropped, or kept with a
``.partial`` suffix when asked). Names never leave the directory, links there
are never followed, and nothing is overwritten without ``force``.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..dimse.assembler import DataChunk, DataEnded, DataStarted
from ..dimse.commands import C_STORE, command_name, request_of, service_of
from ..pipeline import AssociationClosed, DataSeen
from ..safeio import same_file
from ..textsafe import safe_text
from ..uids import uid_name
from .part10 import (MAX_NAME, FileMeta, UnsafePath, clean_uid, derived_uid, file_meta_bytes, inside,
                     object_file_name)

PARTIAL = ".partial"
SUMMARY_NAMES = 10          # file names listed per summary group (every skip is also reported as it happens)
# Data sets stream to files concurrently (one per association and direction at most): at most MAX_OPEN
# stay open, each with a BUFFER-byte write buffer; the least recently written is closed and reopened
# when its next chunk comes, so thousands of concurrent transfers neither exhaust file descriptors
# nor multiply buffers.
MAX_OPEN = 64
BUFFER = 256 << 10
_REOPEN = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
_UID_LIKE = re.compile(r"[0-9.]+")
# A UID a file meta can carry: digit components joined by single dots, at most 64 characters (PS3.5 §9.1).
# Leading zeros are tolerated (some devices send them): the meta then repeats the data set's own UID.
_UI_CHARS = re.compile(r"(?=.{1,64}\Z)[0-9]+(?:\.[0-9]+)*")

WRITTEN, WOULD_WRITE, PARTIAL_WRITTEN = "written", "would write", "written as .partial"
INCOMPLETE, EXISTS, NO_TS, UNSAFE = "incomplete", "exists", "no transfer syntax", "unsafe name"
LINK, IN_THE_WAY = "symbolic link", "in the way"
NO_COMMAND = "no command set decoded before them (which object they are is unknown)"
SKIPPED = frozenset({EXISTS, NO_TS, UNSAFE, LINK, IN_THE_WAY})
EXISTS_WHY = "already exists (use --force to overwrite)"
# os.link errors meaning "no hard links here" (some FUSE, SMB, FAT file systems): fall back to rename.
_NO_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS})


@dataclass(slots=True)
class ExportOptions:
    """What to export and how (the ``export-objects`` options)."""

    all_data_sets: bool = False
    associations: frozenset[int] = frozenset()
    aes: tuple[str, ...] = ()
    sop_classes: tuple[str, ...] = ()
    list_only: bool = False
    incomplete: bool = False
    force: bool = False


@dataclass(slots=True)
class ExportedObject:
    """One selected data set: where it came from, its file name, and what became of it.

    ``index`` is the data set's position among all data sets of the capture (whatever the
    filters), so a file keeps its name from one run to the next.
    """

    index: int
    association: int
    command: str
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str | None
    source_ae: str | None
    name: str
    size: int = 0
    status: str = ""
    reason: str = ""
    path: Path | None = None

    @property
    def sop_class_name(self) -> str:
        return uid_name(self.sop_class_uid) if self.sop_class_uid else "(none)"


@dataclass(slots=True)
class _Open:
    """A data set being streamed: its record and, unless listing or skipping, its temporary file."""

    record: ExportedObject
    association: object
    gaps: int
    file: object = None
    tmp: str | None = None


def _file_mode() -> int:
    """The mode an ordinary new file gets under the current umask (mkstemp would make it 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _ae_text(value: str | None) -> str:
    return (value or "").strip(" \x00")


def _data_kind(cf: int | None) -> str:
    """How a non-C-STORE data set is named: the identifier of a query/retrieve, else a data set."""
    service = service_of(request_of(cf)) if cf is not None else ""
    return "identifier" if service in ("C-FIND", "C-GET", "C-MOVE") else "dataset"


def _cut_reason(msg) -> str:
    """Why a data set ended incomplete: the assembler's finding when it left one (names the gap), else generic."""
    for f in reversed(getattr(msg, "findings", None) or ()):
        if f.code in ("dataset-incomplete", "dataset-missing"):
            return f.message
    return "cut short (gap, abort or end of capture)"


class ObjectExporter:
    """Turns the streaming data-set events of an :class:`~dicomsniff.pipeline.Analyzer` into files.

    Feed every event to :meth:`on_event`; call :meth:`close` at the end (it also
    runs on errors and removes temporary files). ``say`` receives one-line
    messages for the user (the output folder, when it had to be created). The directory is created on
    the first file unless only listing.
    """

    def __init__(self, directory: str | os.PathLike, options: ExportOptions,
                 say: Callable[[str], None] = lambda line: None):
        self.directory = Path(directory)
        self.options = options
        self.say = say
        self.records: list[ExportedObject] = []
        self._open: dict[int, _Open] = {}
        self._files: OrderedDict[int, _Open] = OrderedDict()     # those with an open file, oldest write first
        self._taken: set[str] = set()
        self._index = 0                         # position of the data set being started, in its numbering
        self._objects = 0                       # C-STORE data sets seen (objects: NNNN-<uid>.dcm)
        self._others = 0                        # other data sets seen (identifiers etc., --all: dsNNNN-….dcm)
        self._dir_ready = False
        self._mode = _file_mode()
        self.written = 0                        # files written so far (for the progress bar)
        self.protect: tuple = ()                # input files that no object may replace, even with --force
        self.unselected: dict[str, int] = {}    # data sets left out: "C-FIND-RQ identifier" (no --all), "filters"

    # -- selection ------------------------------------------------------------

    def _selected(self, assoc, msg) -> bool:
        cmd = msg.command
        cf = cmd.command_field if cmd is not None else None
        if cf != C_STORE and not self.options.all_data_sets:
            self._left_out(f"{command_name(cf)} {_data_kind(cf)}")
            return False
        o = self.options
        if o.associations and assoc.number not in o.associations:
            return self._left_out("filters")
        if o.aes:
            titles = {_ae_text(assoc.calling_ae).upper(), _ae_text(assoc.called_ae).upper()}
            if not any(_ae_text(t).upper() in titles for t in o.aes):
                return self._left_out("filters")
        if o.sop_classes:
            uid = self._sop_class(assoc, msg)
            name = uid_name(uid).lower() if uid else ""
            if not any(f == uid if _UID_LIKE.fullmatch(f) else f.lower() in name for f in o.sop_classes):
                return self._left_out("filters")
        return True

    def _left_out(self, why: str) -> bool:
        self.unselected[why] = self.unselected.get(why, 0) + 1
        return False

    @staticmethod
    def _sop_class(assoc, msg) -> str:
        """Affected (else Requested) SOP Class UID, else (absent or no UID) the context's abstract syntax."""
        uid = clean_uid(msg.command.sop_class_uid if msg.command is not None else None)
        if not _UI_CHARS.fullmatch(uid):
            ctx = assoc.contexts.get(msg.context_id)
            uid = clean_uid(ctx.abstract_syntax if ctx is not None else None) or uid
        return uid

    # -- naming ---------------------------------------------------------------

    def _unique(self, name: str) -> str:
        """``name``, or ``name`` with ``-2``, ``-3``… before the extension if this run already used it."""
        stem, ext = name[:-4], name[-4:]
        candidate, n = name, 1
        while candidate.lower() in self._taken:
            n += 1
            tail = f"-{n}"
            candidate = stem[:MAX_NAME - len(PARTIAL) - len(ext) - len(tail)] + tail + ext
        self._taken.add(candidate.lower())
        return candidate

    def _record(self, assoc, msg) -> ExportedObject:
        cmd = msg.command
        cf = cmd.command_field
        sop_class = self._sop_class(assoc, msg)
        source = assoc.calling_ae if msg.direction == assoc.client_dir else assoc.called_ae
        reserve = len(PARTIAL)
        if cf == C_STORE:
            instance = clean_uid(cmd.affected_sop_instance_uid)
            label = instance
        else:
            instance = clean_uid(cmd.affected_sop_instance_uid or cmd.requested_sop_instance_uid)
            mid = cmd.message_id if cmd.message_id is not None else cmd.responds_to
            label = f"assoc{assoc.number}-{command_name(cf)}-msg{mid if mid is not None else 'none'}-{_data_kind(cf)}"
        if not _UI_CHARS.fullmatch(instance):      # no UID a conformant file meta can carry (PS3.5 §9.1)
            instance = derived_uid(assoc.number, msg.stream, msg.direction, msg.context_id, msg.ts_ns, self._index)
        name = self._unique(object_file_name(self._index, label, ".dcm", reserve, "" if cf == C_STORE else "ds"))
        return ExportedObject(self._index, assoc.number, command_name(cf), sop_class, instance,
                              msg.transfer_syntax, _ae_text(source) or None, name)

    # -- events ---------------------------------------------------------------

    def on_event(self, ev) -> ExportedObject | None:
        """Handle one analyzer event; returns the record of an object that just finished, else None."""
        if type(ev) is not DataSeen:
            return None
        d = ev.event
        t = type(d)
        if t is DataChunk:
            o = self._open.get(id(d.message))
            if o is not None and o.tmp is not None:
                if o.file is None:
                    self._reopen(o)
                else:
                    self._files.move_to_end(id(o))
                o.file.write(d.data)
            return None
        if t is DataStarted:
            self._start(ev.association, d.message)
            return None
        if t is DataEnded:
            o = self._open.pop(id(d.message), None)
            if o is not None:
                self._end(o, d.message, d.complete, d.reason)
                return o.record
        return None

    def _start(self, assoc, msg) -> None:
        # Objects are numbered among the capture's C-STORE data sets, other data sets apart; every one
        # counts, selected or not, so names do not depend on the filters.
        if msg.command is not None and msg.command.command_field == C_STORE:
            self._objects += 1
            self._index = self._objects
        else:
            self._others += 1
            self._index = self._others
        if msg.command is None:
            self._left_out(NO_COMMAND)
            return
        if not self._selected(assoc, msg):
            return
        rec = self._record(assoc, msg)
        self.records.append(rec)
        o = self._open[id(msg)] = _Open(rec, assoc, assoc.gaps)
        if rec.transfer_syntax is None:
            rec.status, rec.reason = NO_TS, (f"transfer syntax of presentation context {msg.context_id} unknown"
                                             " (association negotiation not captured)")
            return
        try:
            target = inside(self.directory, rec.name)
        except UnsafePath:
            rec.status, rec.reason = UNSAFE, "not a plain file name inside the output directory"
            return
        obstacle = self._obstacle(target)
        if obstacle is not None:            # known now: do not stream the object for nothing
            rec.status, rec.reason = obstacle
            return
        if self.options.list_only:
            return
        self._ensure_dir()
        self._make_room()
        fd, o.tmp = tempfile.mkstemp(prefix=".dicomsniff-", suffix=".tmp", dir=self.directory)
        o.file = os.fdopen(fd, "wb", buffering=BUFFER)
        self._files[id(o)] = o
        os.chmod(o.tmp, self._mode)
        o.file.write(file_meta_bytes(FileMeta(rec.sop_class_uid, rec.sop_instance_uid, rec.transfer_syntax,
                                              rec.source_ae)))

    def _make_room(self) -> None:
        """Close the least recently written files until one more may be opened (see :data:`MAX_OPEN`)."""
        while len(self._files) >= MAX_OPEN:
            _, old = self._files.popitem(last=False)
            old.file.close()
            old.file = None

    def _reopen(self, o: _Open) -> None:
        """Open a closed temporary file again to append (never through a link swapped in meanwhile)."""
        self._make_room()
        o.file = os.fdopen(os.open(o.tmp, _REOPEN), "ab", buffering=BUFFER)
        self._files[id(o)] = o

    def _close_file(self, o: _Open) -> None:
        if o.file is not None:
            self._files.pop(id(o), None)
            o.file.close()
            o.file = None

    def _ensure_dir(self) -> None:
        if not self._dir_ready:
            if not self.directory.is_dir():
                self.directory.mkdir(parents=True, exist_ok=True)
                self.say(f"created folder {safe_text(os.fspath(self.directory))}")
            self._dir_ready = True

    def _end(self, o: _Open, msg, complete: bool, reason: str = "") -> None:
        rec = o.record
        rec.size = msg.data_length
        try:
            self._close_file(o)             # flushes: may fail (disk full) and must not leave the file behind
        except BaseException:
            o.file = None
            self._drop(o)
            raise
        if rec.status:                      # decided at the start: nothing was written
            self._drop(o)
            return
        why = reason or _cut_reason(msg)
        if complete and o.association.gaps != o.gaps:
            # A gap that fell between two PDUs leaves no trace in the PDVs: trust no byte of it.
            complete, why = False, "bytes missing: a TCP gap on the association while it was received"
        if not complete:
            if not self.options.incomplete:
                rec.status, rec.reason = INCOMPLETE, why
                self._drop(o)
                return
            rec.name += PARTIAL
        if self.options.list_only:
            rec.status = WOULD_WRITE if complete else f"would write as {PARTIAL}"
            return
        try:
            target = inside(self.directory, rec.name)
        except UnsafePath:
            rec.status, rec.reason = UNSAFE, "not a plain file name inside the output directory"
            self._drop(o)
            return
        obstacle = self._place(o.tmp, target)
        if obstacle is not None:
            rec.status, rec.reason = obstacle
            self._drop(o)
            return
        o.tmp = None
        rec.path = target
        rec.status = WRITTEN if complete else PARTIAL_WRITTEN
        self.written += 1

    def _obstacle(self, target: Path) -> tuple[str, str] | None:
        """(status, reason) if what is at ``target`` now forbids writing there; links are looked at, not followed."""
        try:
            mode = os.lstat(target).st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(mode):
            return LINK, "a symbolic link has this name (links are never followed nor replaced)"
        if stat.S_ISDIR(mode):
            return IN_THE_WAY, "a directory has this name"
        if any(same_file(p, target) for p in self.protect):
            return IN_THE_WAY, "the input capture has this name (it is never overwritten)"
        if not self.options.force:
            return EXISTS, EXISTS_WHY
        return None

    def _place(self, tmp: str, target: Path) -> tuple[str, str] | None:
        """Give the finished temporary file its name; returns why not, if it could not be.

        Without ``--force`` the name is taken with ``os.link``, which fails if anything
        appeared there since the check (no overwrite, even racing another writer); with
        ``--force``, ``os.replace`` swaps the directory entry atomically. Neither follows
        a symbolic link at ``target``.
        """
        obstacle = self._obstacle(target)
        if obstacle is not None:
            return obstacle
        if not self.options.force:
            try:
                os.link(tmp, target)
            except FileExistsError:
                return self._obstacle(target) or (EXISTS, EXISTS_WHY)
            except OSError as e:
                if e.errno not in _NO_LINKS:
                    raise
            else:
                os.unlink(tmp)
                return None
        os.replace(tmp, target)
        return None

    @staticmethod
    def _drop(o: _Open) -> None:
        if o.tmp is not None:
            try:
                os.unlink(o.tmp)
            except FileNotFoundError:
                pass
            o.tmp = None

    def close(self) -> None:
        """Close and remove every temporary file still open (end of input, error or interrupt)."""
        for o in self._open.values():
            try:
                self._close_file(o)
            except OSError:                 # e.g. the disk is full: the file goes anyway
                o.file = None
            self._drop(o)
        self._open.clear()
        self._files.clear()


def _size_text(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def list_lines(records: Iterable[ExportedObject]) -> list[str]:
    """The ``--list`` table: index, association, command, SOP class, size, file name, what would happen."""
    records = list(records)
    if not records:
        return []
    rows = [("#", "assoc", "command", "SOP class", "size", "file", "status")]
    for r in records:
        status = f"skip: {r.reason}" if r.reason else r.status
        rows.append((str(r.index), str(r.association), safe_text(r.command), safe_text(r.sop_class_name),
                     _size_text(r.size), safe_text(r.name), safe_text(status)))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    return ["  ".join(c.ljust(widths[i]) if i < 6 else c for i, c in enumerate(row)).rstrip() for row in rows]


def _names(group: list[ExportedObject], received: bool = False) -> list[str]:
    """Indented file names of a summary group, the first :data:`SUMMARY_NAMES` of them."""
    lines = [f"  {safe_text(r.name)}" + (f" ({_size_text(r.size)} received)" if received else "")
             for r in group[:SUMMARY_NAMES]]
    if len(group) > SUMMARY_NAMES:
        lines.append(f"  … and {len(group) - SUMMARY_NAMES} more")
    return lines


def _left_out_lines(left_out: dict[str, int], options: ExportOptions) -> list[str]:
    """Data sets not selected: other kinds (without --all) by command, and those the filters dropped."""
    lines = []
    kinds = {k: n for k, n in left_out.items() if k not in ("filters", NO_COMMAND)}
    if kinds:
        what = ", ".join(k if n == 1 else f"{k} ×{n}" for k, n in kinds.items())
        lines.append(f"{sum(kinds.values())} other data set(s) not exported ({safe_text(what)}; --all writes them)")
    if left_out.get("filters"):
        lines.append(f"{left_out['filters']} data set(s) left out by --association/--ae/--sop-class")
    if left_out.get(NO_COMMAND):
        lines.append(f"{left_out[NO_COMMAND]} data set(s) not exported: {NO_COMMAND}")
    return lines


def summary_lines(records: list[ExportedObject], directory: str | os.PathLike, options: ExportOptions,
                  left_out: dict[str, int] | None = None) -> list[str]:
    """The closing summary: objects written (and their size), skipped (with why), incomplete, left out."""
    where = safe_text(os.fspath(directory))
    if options.list_only:
        n = sum(1 for r in records if r.status.startswith("would write"))
        lines = [f"{len(records)} object(s) found; {n} would be written to {where} (nothing written: --list)"]
    else:
        written = [r for r in records if r.status == WRITTEN]
        partial = [r for r in records if r.status == PARTIAL_WRITTEN]
        size = f" ({_size_text(sum(r.size for r in written))} of data sets)" if written else ""
        lines = [f"{len(written)} object(s) written to {where}{size}"]
        if partial:
            lines.append(f"{len(partial)} incomplete object(s) written with the {PARTIAL} suffix")
    skipped: dict[str, list[ExportedObject]] = {}
    for r in records:
        if r.status in SKIPPED:
            skipped.setdefault(r.reason, []).append(r)
    for reason, group in skipped.items():
        lines.append(f"{len(group)} skipped: {safe_text(reason)}")
        lines += _names(group)
    incomplete = [r for r in records if r.status == INCOMPLETE]
    if incomplete:
        lines.append(f"{len(incomplete)} incomplete, not written (cut by a gap, an abort or the end of the capture;"
                     f" --incomplete keeps them as {PARTIAL}):")
        lines += _names(incomplete, received=True)
    if not records:
        if options.associations or options.aes or options.sop_classes:
            lines.append("no data sets matched")
        elif options.all_data_sets:
            lines.append("no data sets found")
        elif not left_out:
            lines.append("no data sets found in C-STORE requests (--all also exports identifiers and N-* data sets)")
        else:
            lines.append("no data sets found in C-STORE requests")
    return lines + _left_out_lines(left_out or {}, options)


@dataclass(slots=True)
class _Progress:
    """A rich progress bar on stderr (bytes read of the capture size), updated a few times a second."""

    reader_box: list
    bar: object = None
    task: object = None
    last: float = 0.0
    console: object = field(default=None)

    def start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
        self.console = Console(stderr=True, highlight=False, markup=False, emoji=False)
        self.bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(),
                            TimeRemainingColumn(), console=self.console, transient=True)
        self.bar.start()
        self.task = self.bar.add_task("reading capture", total=None)

    def tick(self, written: int = 0, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        if self.reader_box:
            r = self.reader_box[0]
            self.bar.update(self.task, completed=r.bytes_read, total=r.size,
                            description=f"reading capture, {written} written")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def export_objects(events: Iterable, directory: str | os.PathLike, options: ExportOptions, *,
                   say: Callable[[str], None], reader_box: list | None = None, progress: bool = False,
                   forget: Callable | None = None, left_out: dict[str, int] | None = None,
                   protect: tuple = ()) -> list[ExportedObject]:
    """Run ``events`` (from :func:`dicomsniff.reading.read_events`) through an :class:`ObjectExporter`.

    ``progress`` shows a progress bar on stderr (``reader_box`` holds the open
    reader); ``forget`` is called with each closed association so memory stays
    bounded; ``left_out``, if given, receives the count of data sets not selected,
    by why (for :func:`summary_lines`). Temporary files are removed whatever happens. ``protect``: input
    files (the capture) that an object must never replace.
    """
    bar = _Progress(reader_box if reader_box is not None else []) if progress else None
    message = say
    if bar is not None:
        bar.start()
        message = lambda line: bar.console.print(line)  # noqa: E731
    exporter = ObjectExporter(directory, options, message)
    exporter.protect = tuple(p for p in protect if isinstance(p, (str, os.PathLike)) and p != "-")
    try:
        for ev in events:
            exporter.on_event(ev)
            if forget is not None and type(ev) is AssociationClosed:
                forget(ev.association)
            if bar is not None:
                bar.tick(exporter.written)
    finally:
        exporter.close()
        if bar is not None:
            bar.stop()
        if left_out is not None:
            left_out.update(exporter.unselected)
    return exporter.records
