"""Output files that are never destroyed: written beside the target, renamed into place on success.

``dicomsniff export -o FILE`` used to empty FILE before the capture was even
opened, so a typo in the capture path wiped an existing export, and
``export x.pcap -o x.pcap`` destroyed the capture. :class:`AtomicOutput` writes
to ``.NAME.XXXXXXXX.tmp`` in the target's directory (created with ``O_EXCL``
and ``O_NOFOLLOW``: never through a link, never over anything), and only
:meth:`AtomicOutput.commit` renames it over the target, atomically; any
failure (an unreadable capture, a full disk, Ctrl-C, an exception) removes the
temporary file and leaves the target as it was, byte for byte.
:func:`refuse_same_file` stops an output that is the input itself (same inode,
whatever the spelling or link).
"""

from __future__ import annotations

import io
import os
import secrets
import stat

_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
          | getattr(os, "O_BINARY", 0))


class OutputError(Exception):
    """An output path that cannot or must not be written; the message is one line, ``<path>: <why>``."""


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when both paths name one existing file (same device and inode; links and spellings resolved)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def refuse_same_file(inputs, output: str | os.PathLike) -> None:
    """Raise :class:`OutputError` if ``output`` is one of the ``inputs`` (``"-"`` is never a file here)."""
    if output == "-":
        return
    for src in inputs:
        if isinstance(src, (str, os.PathLike)) and src != "-" and same_file(src, output):
            raise OutputError(f"{os.fsdecode(output)}: is the input capture {os.fsdecode(src)}: "
                              "refusing to overwrite it (choose another output file)")


def check_target(path: str | os.PathLike) -> None:
    """Raise :class:`OutputError` now if ``path`` cannot become a regular file (so no work is wasted)."""
    text = os.fsdecode(path)
    folder = os.path.dirname(os.path.abspath(text))
    try:
        st = os.stat(text)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise OutputError(f"{text}: {e.strerror or e}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{text}: Is a directory")
    if st is not None and stat.S_ISREG(st.st_mode) and not os.access(text, os.W_OK):
        raise OutputError(f"{text}: Permission denied (the file is read-only)")   # as open() would say
    if not os.path.isdir(folder):
        raise OutputError(f"{text}: directory {folder} does not exist" if not os.path.exists(folder)
                          else f"{text}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{text}: cannot create files in {folder} (permission denied)")


class _Output:
    """An output as a context manager: committed when the block ends normally, discarded on any exception."""

    def commit(self) -> None:
        raise NotImplementedError

    def discard(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


class AtomicOutput(_Output):
    """A file written beside ``target`` and renamed over it only by :meth:`commit`.

    As a context manager it commits when the block ends normally and discards on any exception
    (KeyboardInterrupt included). ``binary=False`` gives a UTF-8 text file. An existing target's
    permission bits are kept; a new file gets the usual ``0o666 & ~umask``.
    """

    def __init__(self, target: str | os.PathLike, *, binary: bool = True):
        self.target = os.fsdecode(target)
        check_target(self.target)
        folder = os.path.dirname(os.path.abspath(self.target))
        base = os.path.basename(self.target)
        mode = 0o666
        self.existed = os.path.lexists(self.target)
        try:
            st = os.stat(self.target)
            if stat.S_ISREG(st.st_mode):
                mode = stat.S_IMODE(st.st_mode)
        except OSError:
            pass
        for _ in range(100):
            tmp = os.path.join(folder, f".{base[:200]}.{secrets.token_hex(4)}.tmp")
            try:
                fd = os.open(tmp, _FLAGS, mode)
                break
            except FileExistsError:
                continue
            except OSError as e:
                raise OutputError(f"{self.target}: cannot create a file beside it: {e.strerror or e}") from None
        else:
            raise OutputError(f"{self.target}: cannot create a temporary file beside it")
        self.tmp = tmp
        self.folder = folder            # where the target is (and scratch files may go, on the same disk)
        if mode != 0o666:
            try:
                os.fchmod(fd, mode)
            except (OSError, AttributeError):
                pass
        raw = os.fdopen(fd, "wb", buffering=1 << 16)
        self.file = raw if binary else io.TextIOWrapper(raw, encoding="utf-8", newline="\n", write_through=False)
        self.done = False

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except OSError as e:
            raise self._named(e) from None

    def flush(self) -> None:
        try:
            self.file.flush()
        except OSError as e:
            raise self._named(e) from None

    def _named(self, e: OSError) -> OSError:
        """The error, naming the target (not the temporary file): 'out.json: No space left on device'."""
        return OSError(e.errno, e.strerror or str(e), self.target) if e.errno else e

    def commit(self) -> None:
        """Flush, sync and rename the finished file over the target (atomic on one file system)."""
        if self.done:
            return
        try:
            self.file.flush()
            try:
                os.fsync(self.file.fileno())
            except OSError:
                pass
            self.file.close()
            os.replace(self.tmp, self.target)
        except OSError as e:
            self.discard()
            raise self._named(e) from None
        except BaseException:
            self.discard()
            raise
        self.done = True

    def discard(self) -> None:
        """Drop the temporary file; the target stays as it was. Safe to call twice."""
        if self.done:
            return
        self.done = True
        try:
            self.file.close()
        except Exception:       # e.g. the flush at close hits a full disk: the file goes anyway
            pass
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


class DirectOutput(_Output):
    """A target that is no regular file (``/dev/null``, ``/dev/stdout``, a FIFO, ``>(cmd)``): written in
    place, since renaming over it would replace the device or pipe entry itself (and nothing there can be
    destroyed by writing). Same interface as :class:`AtomicOutput`."""

    def __init__(self, target: str | os.PathLike, *, binary: bool = True):
        self.target = os.fsdecode(target)
        self.existed = True
        self.tmp = self.target
        try:
            raw = open(self.target, "wb", buffering=1 << 16)
        except OSError as e:
            raise OutputError(f"{self.target}: {e.strerror or e}") from None
        self.file = raw if binary else io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
        self.done = False

    def write(self, data) -> int:
        return self.file.write(data)

    def flush(self) -> None:
        self.file.flush()

    def commit(self) -> None:
        if not self.done:
            self.done = True
            self.file.close()

    def discard(self) -> None:
        if not self.done:
            self.done = True
            try:
                self.file.close()
            except Exception:
                pass


_IN_PLACE = ("/dev/", "/proc/")        # /dev/stdout, /dev/fd/N, /proc/self/fd/N: the caller's own descriptors


def open_output(target: str | os.PathLike, *, binary: bool = True) -> "AtomicOutput | DirectOutput":
    """The output for ``target``: :class:`AtomicOutput` for a file (a symbolic link there is replaced, not
    followed); :class:`DirectOutput` for an existing device, FIFO or socket, and for any existing path
    under /dev or /proc (``/dev/stdout`` is a link there even when standard output is a file)."""
    text = os.fsdecode(target)
    try:
        st = os.stat(text)
    except OSError:
        st = None
    if st is not None and not stat.S_ISDIR(st.st_mode) and (
            not stat.S_ISREG(st.st_mode) or os.path.abspath(text).startswith(_IN_PLACE)):
        return DirectOutput(text, binary=binary)
    return AtomicOutput(text, binary=binary)
