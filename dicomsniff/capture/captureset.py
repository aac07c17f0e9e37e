"""Capture sets: several files (a ring buffer, a split capture, a directory) read as one capture.

``tcpdump -C``/``-G``, dumpcap ``-b`` and ``editcap -c``/``-i`` cut one capture into files; a
TCP stream and its DICOM association often cross a file boundary. :func:`expand_inputs` turns
command-line arguments (files, directories, globs) into the member files, and
:func:`open_capture_set` reads them as one capture in time order, exactly as ``mergecap`` (its
default, chronological merge) would join them: the frame with the earliest timestamp among the
files' next frames comes next (ties go to the file that starts first), and frames are numbered
1, 2, 3 ... across the set.

Memory is bounded: each member is streamed by its own :class:`~dicomsniff.capture.reader.CaptureReader`,
and a file is opened only when the merge reaches its first timestamp, so a ring buffer of
thousands of files keeps one or two open, each holding one pending frame.

What the set itself says (as ``capture`` notices, never an exception once open): files given out
of time order, the same file given twice, files that overlap in time, and frames present in two
files (same time, same bytes: read once, as the unsplit capture had them once). A member's own
notices (a truncated record, an unknown block) are prefixed with its file name; frame numbers
inside those messages are the member file's own.
"""

from __future__ import annotations

import glob as _glob
import os
import re
import stat
from dataclasses import dataclass
from heapq import heappop, heappush, heapreplace
from pathlib import Path
from typing import Iterable, Iterator

from ..field import NOTE, WARN, Finding
from ..notice import Notice
from .frame import Frame
from .reader import PCAP_MAGICS, PCAPNG_SHB, CaptureFormatError, CaptureReader, open_capture

__all__ = ["CaptureList", "CaptureSet", "InputError", "input_arg", "input_files", "input_name", "expand_inputs", "is_capture_file", "natural_key",
           "open_capture_set", "open_inputs"]

GLOB_CHARS = re.compile(r"[*?\[]")
# Frames sharing one timestamp that are remembered to recognise a frame present in two files.
GROUP_MAX = 4096
# The dumpcap ring-buffer name: PREFIX_NNNNN_YYYYMMDDhhmmss.EXT (also editcap -c/-i output).
DUMPCAP_NAME = re.compile(r"^(?P<prefix>.*)_(?P<n>\d{5,})_(?P<stamp>\d{14})(?P<ext>\.[^/]*)?$")


class InputError(CaptureFormatError):
    """An argument names no capture (missing, a glob matching nothing, an empty directory); one line."""


def natural_key(path: str | os.PathLike) -> tuple:
    """Sort key that orders ``x.pcap2`` before ``x.pcap10`` (tcpdump -C numbering) and dumpcap names by number."""
    name = os.fsdecode(path)
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", name) if part != "")


def is_capture_file(path: str | os.PathLike) -> bool:
    """True when the file starts with a pcap or pcapng magic number (read: 4 bytes)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    if len(head) < 4:
        return False
    magic = int.from_bytes(head, "little")
    return magic in PCAP_MAGICS or magic == PCAPNG_SHB


def _found(candidates: Iterable[str], skipped: list | None, why_dir: str) -> list[Path]:
    """The capture files among ``candidates`` (hidden files, non-files and non-captures left out)."""
    out = []
    for c in sorted(candidates, key=natural_key):
        name = os.path.basename(c)
        if name.startswith("."):          # our own temporary files (.NAME.XXXXXXXX.tmp), dot files
            continue
        try:
            st = os.stat(c)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        if not is_capture_file(c):
            if skipped is not None:
                skipped.append((Path(c), f"not a pcap or pcapng file ({why_dir})"))
            continue
        out.append(Path(c))
    return out


def expand_inputs(args: Iterable[str | os.PathLike], skipped: list | None = None) -> list[Path]:
    """Capture files named by ``args``, in the order given: files as they are, a directory's capture
    files and a glob's matches each in natural name order (``x.pcap2`` before ``x.pcap10``).

    Files inside a directory or matched by a glob that are not captures (by content), hidden files
    (such as a capture still being written, ``.NAME.XXXXXXXX.tmp``) and sub-directories are left
    out; the non-captures are appended to ``skipped`` as ``(path, why)`` when a list is given. A file
    named explicitly is kept whatever it holds (opening it says what is wrong). ``"-"`` (standard
    input) is kept as ``Path("-")``. Raises :class:`InputError` for a name that does not exist, a
    glob that matches nothing, or a directory without captures.
    """
    out: list[Path] = []
    for arg in args:
        text = os.fsdecode(arg)
        if text == "-":
            out.append(Path("-"))
            continue
        if os.path.isdir(text):
            names = [os.path.join(text, n) for n in os.listdir(text)]
            got = _found(names, skipped, f"in directory {text}")
            if not got:
                raise InputError(f"{text}: Is a directory with no pcap or pcapng file in it")
            out.extend(got)
        elif os.path.lexists(text):
            out.append(Path(text))
        elif GLOB_CHARS.search(text):
            got = _found(_glob.glob(text), skipped, f"matched by {text}")
            if not got:
                raise InputError(f"{text}: no capture file matches")
            out.extend(got)
        else:
            raise InputError(f"{text}: No such file or directory")
    return out


@dataclass(slots=True, eq=False)
class _Member:
    path: Path
    name: str
    order: int                     # position in the given list
    first_ts: int = 0
    size: int | None = None
    linktype: int | None = None
    reader: CaptureReader | None = None
    it: Iterator[Frame] | None = None
    rank: int = 0                  # position in time order (the merge's tie-break)
    local: int = 0                 # frames read from it so far
    base: int | None = None        # global number of its first frame minus one, while it is not interleaved
    interleaved: bool = False      # its frames were merged with another file's
    seen_notices: int = 0
    dups: int = 0
    dup_of: set | None = None
    done: bool = False


class CaptureSet:
    """Frames of several capture files, merged by time and numbered across the set.

    The same shape as :class:`~dicomsniff.capture.reader.CaptureReader`: iterable of
    :class:`Frame`, ``notices``, ``bytes_read``/``size`` (progress), ``frames``, ``close()``,
    a context manager. ``paths`` (time order), ``name`` (for headers), and ``current`` (the
    path of the file the last frame came from; its ``file_offset`` is an offset in that file).
    """

    def __init__(self, paths: Iterable[str | os.PathLike], *, skipped: Iterable = ()):
        skipped = list(skipped) + list(getattr(paths, "skipped", ()))
        self.notices: list[Notice] = []
        self.format = "set"
        self.frames = 0
        self.linktype: int | None = None
        self.current: Path | None = None
        self.current_rank = 0          # position of ``current`` in ``paths``
        self._members: list[_Member] = []
        self._open_members: set = set()
        self._closed_bytes = 0
        for path, why in skipped:
            self._note(NOTE, "capture-set-skipped", f"{os.fsdecode(path)}: skipped: {why}")
        given = [Path(os.fsdecode(p)) for p in paths]
        if not given:
            raise InputError("no capture files given")
        if any(str(p) == "-" for p in given):
            raise InputError("-: standard input cannot be part of a capture set")
        seen: dict[tuple, _Member] = {}
        members: list[_Member] = []
        for i, path in enumerate(given):
            m = _Member(path, str(path), i)
            key = _identity(path)
            if key is not None and key in seen:
                self._note(WARN, "capture-set-duplicate-file",
                           f"{m.name} is given twice (the same file as {seen[key].name}): read once")
                continue
            if key is not None:
                seen[key] = m
            try:
                self._probe(m)
            except CaptureFormatError as e:
                if not is_capture_file(path):
                    raise
                # a capture cut before its first packet (a ring buffer's file just started): no frames
                self._note(WARN, "capture-set-unreadable", f"{e}: left out of the set")
                continue
            members.append(m)
        if not members:
            raise InputError(f"{given[0]}: no readable capture among the {len(given)} files")
        self.size = None if any(m.size is None for m in members) else sum(m.size for m in members)
        self._check_order(members)
        members.sort(key=lambda m: (m.first_ts, m.order))
        for rank, m in enumerate(members):
            m.rank = rank
        self._members = members
        self.paths = [m.path for m in members]
        self.name = members[0].name if len(members) == 1 else f"{members[0].name} (+{len(members) - 1} files)"
        kinds = {m.linktype for m in members if m.linktype is not None}
        self.linktype = kinds.pop() if len(kinds) == 1 else None
        self._gen = self._merge()
        if isinstance(paths, CaptureList):
            paths.opened = self            # the viewer's frame index re-reads frames through it

    # ---- opening -------------------------------------------------------------

    def _probe(self, m: _Member) -> None:
        """Check the member is a capture and read its first timestamp and link type, reading only
        its first few KiB (the reader's 4 MiB chunks would read a ring buffer's every file)."""
        f = open(m.path, "rb", buffering=0)
        try:
            reader = CaptureReader(_Small(f), m.name)     # CaptureFormatError names the file
            m.size = reader.size
            first = next(iter(reader), None)
            m.linktype = first.linktype if first is not None else reader.linktype
            reader.close()
        finally:
            f.close()
        m.first_ts = first.ts_ns if first is not None else 1 << 126
        m.done = first is None

    def _check_order(self, members: list[_Member]) -> None:
        timed = [m for m in members if not m.done]
        by_time = sorted(timed, key=lambda m: (m.first_ts, m.order))
        if [m.order for m in by_time] != [m.order for m in timed]:
            shown = ", ".join(m.name for m in by_time[:5]) + (", ..." if len(by_time) > 5 else "")
            self._note(NOTE, "capture-set-order",
                       f"the {len(timed)} files were not given in time order: read by time ({shown})")

    def _open(self, m: _Member) -> Frame | None:
        """Open a member for the merge; its first frame (None when it has none)."""
        m.reader = open_capture(m.path)
        m.it = iter(m.reader)
        self._open_members.add(m)
        return self._next(m)

    def _release(self, m: _Member) -> None:
        r = m.reader
        if r is None:
            return
        self._collect_notices(m)
        self._closed_bytes += r.size if r.size is not None else r.bytes_read
        r.close()
        m.reader = m.it = None
        self._open_members.discard(m)

    def _next(self, m: _Member) -> Frame | None:
        f = next(m.it, None)
        if f is not None:
            m.local += 1
        if len(m.reader.notices) > m.seen_notices:
            self._collect_notices(m)
        return f

    # ---- notices -----------------------------------------------------------------

    def _note(self, severity: str, code: str, message: str, frame: int = 0) -> None:
        self.notices.append(Notice("capture", Finding(severity, code, message), frame))

    def _collect_notices(self, m: _Member) -> None:
        new = m.reader.notices[m.seen_notices:]
        m.seen_notices += len(new)
        for n in new:
            frame = 0
            if n.frame and m.base is not None and not m.interleaved:
                frame = m.base + n.frame
            one = len(self._members) == 1
            text = n.message if one else f"{m.name}: {n.message}"
            self.notices.append(Notice(n.where, Finding(n.finding.severity, n.finding.code, text),
                                       n.frame if one else frame))

    # ---- merging -------------------------------------------------------------------

    def _merge(self) -> Iterator[Frame]:
        """mergecap's chronological merge, streamed; frames numbered across the set.

        The heap holds one pending frame per open file. While one file alone is open (a ring buffer:
        nearly always), its frames are passed on directly until one is later than the next file's
        first frame, or shares its time with frames of another file (a possible duplicate).
        """
        waiting = [m for m in self._members if not m.done]      # time order; opened when reached
        heap: list[tuple] = []      # (ts, rank, seq, frame, member)
        seq = 0
        wi = 0
        number = 0
        never = 1 << 126
        # The frames given at the latest timestamp, to recognise the same frame in another file:
        # [member, data, members that matched it]; ``owner`` is the member they all came from (None: mixed).
        group_ts = None
        group: list = []
        owner = None
        try:
            while True:
                # Open every file that starts before the earliest pending frame (ties: the open file wins).
                while wi < len(waiting) and (not heap or waiting[wi].first_ts < heap[0][0]):
                    m = waiting[wi]
                    wi += 1
                    if heap:
                        self._overlap(m, [e[4] for e in heap])
                    try:
                        f = self._open(m)
                    except (OSError, CaptureFormatError) as e:     # deleted (a ring's --keep) or changed since
                        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
                        self._note(WARN, "capture-set-unreadable",
                                   f"{m.name}: could not be read any more ({why}): left out of the set")
                        m.reader = m.it = None
                        continue
                    if f is None:
                        self._release(m)
                        continue
                    seq += 1
                    heappush(heap, (f.ts_ns, m.rank, seq, f, m))
                if not heap:
                    break
                ts, _, _, frame, m = heap[0]
                if len(heap) > 1:
                    for e in heap:
                        e[4].interleaved = True
                dup = False
                if ts == group_ts:
                    if owner is not m and len(group) < GROUP_MAX:
                        data = frame.data
                        for entry in group:
                            if entry[0] is not m and entry[1] == data and (entry[2] is None or m not in entry[2]):
                                if entry[2] is None:
                                    entry[2] = set()
                                entry[2].add(m)
                                dup = True
                                m.dups += 1
                                if m.dup_of is None:
                                    m.dup_of = set()
                                m.dup_of.add(entry[0].name)
                                break
                    if not dup and len(group) < GROUP_MAX:
                        group.append([m, frame.data, None])
                        if owner is not m:
                            owner = None
                else:
                    group_ts, group, owner = ts, [[m, frame.data, None]], m
                if not dup:
                    number += 1
                    if m.base is None:
                        m.base = number - 1
                    frame.number = number
                    self.frames = number
                    self.current, self.current_rank = m.path, m.rank
                    yield frame
                pending = None
                if len(heap) == 1:
                    # Fast path: only this file is open.
                    limit = waiting[wi].first_ts if wi < len(waiting) else never
                    notes = m.reader.notices
                    self.current, self.current_rank = m.path, m.rank
                    for f in m.it:
                        m.local += 1
                        if len(notes) > m.seen_notices:
                            self._collect_notices(m)
                        t = f.ts_ns
                        if t > limit or (t == group_ts and owner is not m):
                            pending = f
                            break
                        if t != group_ts:
                            group_ts, group, owner = t, [[m, f.data, None]], m
                        elif len(group) < GROUP_MAX:
                            group.append([m, f.data, None])
                        number += 1
                        f.number = number
                        self.frames = number
                        yield f
                else:
                    pending = self._next(m)
                if pending is None:
                    heappop(heap)
                    self._finish_member(m)
                else:
                    seq += 1
                    heapreplace(heap, (pending.ts_ns, m.rank, seq, pending, m))
        finally:
            for m in self._members:
                if m.reader is not None:
                    self._release(m)

    def _overlap(self, m: _Member, others: list[_Member]) -> None:
        names = ", ".join(sorted({o.name for o in others}, key=natural_key))
        self._note(NOTE, "capture-set-overlap",
                   f"{m.name} overlaps {names} in time: their frames are merged by time (as mergecap does)")

    def _finish_member(self, m: _Member) -> None:
        self._release(m)
        if m.dups:
            of = ", ".join(sorted(m.dup_of or (), key=natural_key))
            if m.dups == m.local:
                text = f"{m.name} is a copy of {of}: all its {m.dups} frames are there too; read once"
            else:
                text = (f"{m.dups} of the {m.local} frames of {m.name} are also in {of} "
                        f"(same time, same bytes): read once")
            self._note(WARN, "capture-set-duplicate-frames", text)

    # ---- the reader interface --------------------------------------------------------

    @property
    def bytes_read(self) -> int:
        return self._closed_bytes + sum(m.reader.bytes_read for m in self._open_members if m.reader is not None)

    def __iter__(self) -> Iterator[Frame]:
        return self._gen

    def records(self) -> Iterator[tuple]:
        """The frames as :meth:`CaptureReader.records` gives them (numbered across the set)."""
        for f in self._gen:
            yield (f.number, f.ts_ns, f.linktype, f.data, 0, len(f.data), f.orig_len, f.file_offset, f.interface)

    def close(self) -> None:
        self._gen.close()
        for m in self._members:
            if m.reader is not None:
                m.reader.close()
                m.reader = m.it = None

    def __enter__(self) -> "CaptureSet":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


PROBE = 4 << 10


class _Small:
    """A file whose reads return at most PROBE bytes (for the probe of a member's first frame: a ring
    buffer of thousands of files is not read 4 MiB a file before the merge starts)."""

    def __init__(self, f):
        self._f = f
        self.name = f.name

    def read(self, n: int = -1) -> bytes:
        return self._f.read(PROBE if n is None or n < 0 else min(n, PROBE))

    def fileno(self) -> int:
        return self._f.fileno()

    def tell(self) -> int:
        return self._f.tell()


def _identity(path: Path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def open_capture_set(paths: Iterable[str | os.PathLike], *, skipped: Iterable = ()) -> CaptureSet:
    """Read ``paths`` as one capture (see the module docstring). Each file is opened once at once, to
    check it is a capture and read its first timestamp, then again when the merge reaches it.

    Raises :class:`CaptureFormatError` (naming the file) when one is empty or no capture, ``OSError``
    when one cannot be opened, :class:`InputError` for an empty list.
    """
    return CaptureSet(paths, skipped=skipped)


def open_inputs(args: Iterable[str | os.PathLike]):
    """Command-line arguments (files, directories, globs) to one reader: a plain
    :class:`CaptureReader` for one file or ``-``, a :class:`CaptureSet` otherwise."""
    skipped: list = []
    paths = expand_inputs(args, skipped)
    if len(paths) == 1 and not skipped:
        return open_capture(str(paths[0]))
    return open_capture_set(paths, skipped=skipped)


class CaptureList(list):
    """The member paths of a capture set as the command line named them: a list of :class:`Path`
    (what :func:`dicomsniff.reading.read_events` reads as a set), with ``name`` (the arguments as
    given, for headers) and ``skipped`` (non-captures found in a directory or glob)."""

    def __init__(self, paths: Iterable[Path], name: str, skipped: Iterable = ()):
        super().__init__(paths)
        self.name = name
        self.skipped = list(skipped)
        self.opened: CaptureSet | None = None     # the set last opened from this list

    def __str__(self) -> str:
        return self.name


def input_arg(args: Iterable[str]) -> "str | CaptureList":
    """A command's CAPTURE arguments as the readers take them: one file (or ``-``, or a name that does not
    exist and is no glob, so the usual error names it) as the string given; anything else (several
    files, a directory, a glob) as a :class:`CaptureList`. Raises :class:`InputError` as
    :func:`expand_inputs` does."""
    args = [os.fsdecode(a) for a in args]
    if len(args) == 1:
        one = args[0]
        if one == "-" or os.path.isfile(one) or (not os.path.lexists(one) and not GLOB_CHARS.search(one)):
            return one
    skipped: list = []
    paths = expand_inputs(args, skipped)
    if len(paths) == 1 and not skipped:
        return str(paths[0])
    return CaptureList(paths, " ".join(args), skipped)


def input_name(capture) -> str:
    """What to call a command's input in headers and messages: the path, or the arguments of a set."""
    return capture if isinstance(capture, str) else str(capture)


def input_files(capture) -> list:
    """The files a command reads (for the check that an output is not one of its inputs)."""
    return list(capture) if isinstance(capture, CaptureList) else [capture]
