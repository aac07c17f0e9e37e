"""Streaming pcap and pcapng reader yielding :class:`Frame` objects.

Formats: libpcap (micro- and nanosecond magics, either byte order; see
draft-ietf-opsawg-pcap) and pcapng (draft-ietf-opsawg-pcapng: every section,
every Interface Description Block with its own link type, ``if_tsresol`` and
``if_tsoffset``; Enhanced, Simple and obsolete Packet Blocks). The format is
chosen by magic number, never by file name.

The file is read in large chunks and records are sliced out with
``struct.unpack_from``, so memory does not depend on the file size and a
non-seekable stream (a pipe) works the same way. Malformed input never raises
during iteration: the reader stops or skips and appends a :class:`Notice`.
"""

from __future__ import annotations

import io
import mmap
import os
import stat
import struct
import sys
from typing import BinaryIO, Iterator

from ..field import ERROR, NOTE, WARN, Finding
from ..notice import Notice
from ..timefmt import in_calendar, raw_seconds
from .frame import Frame

CHUNK = 4 << 20
# A regular file is mapped this much at a time: the compiled walk's records stay in one window four times
# longer than in a read's chunk (bytes it holds after a capture's hole are copied out at a window's end); the
# mapped pages count in the resident set while the window is mapped (~12 MB more than a chunk's).
WINDOW = 16 << 20
# No real record is this large; a bigger claim means a corrupt file, so we
# stop instead of trying to allocate it.
MAX_RECORD = 256 << 20

# 1970-01-01 .. 2200-01-01 in ns: inside the calendar for certain, so a packet stamped in it costs
# no call to timefmt.in_calendar (which decides the rest).
SURELY_IN_CALENDAR = 7_258_118_400 * 1_000_000_000

PCAP_MAGICS = {
    # magic as read little-endian -> (struct byte order, ns per fraction, record header size)
    0xA1B2C3D4: ("<", 1000, 16),
    0xD4C3B2A1: (">", 1000, 16),
    0xA1B23C4D: ("<", 1, 16),
    0x4D3CB2A1: (">", 1, 16),
    0xA1B2CD34: ("<", 1000, 24),   # Kuznetzov "modified" pcap (extra ifindex/protocol/type)
    0x34CDB2A1: (">", 1000, 24),
}
PCAPNG_SHB = 0x0A0D0D0A
BOM_LE, BOM_BE = b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"

# pcapng block types (draft-ietf-opsawg-pcapng §4, §11.1).
B_IDB, B_PB, B_SPB, B_NRB, B_ISB, B_EPB = 1, 2, 3, 4, 5, 6
B_DSB = 0x0000000A
DSB_TLS_KEYLOG = 0x544C534B        # "TLSK": NSS key log text (issue 15)
BLOCK_NAMES = {
    PCAPNG_SHB: "Section Header", B_IDB: "Interface Description", B_PB: "Packet (obsolete)",
    B_SPB: "Simple Packet", B_NRB: "Name Resolution", B_ISB: "Interface Statistics",
    B_EPB: "Enhanced Packet", 9: "systemd Journal Export", 10: "Decryption Secrets",
    0x101: "Hone Project Machine Info", 0x102: "Hone Project Connection Event",
    0x201: "Sysdig Machine Info", 0x202: "Sysdig Process Info v1", 0x204: "Sysdig Event",
    0x205: "Sysdig Event with flags", 0xBAD: "Custom (copyable)",
    0x40000BAD: "Custom (not copyable)",
}
OPT_ENDOFOPT, OPT_IF_TSRESOL, OPT_IF_TSOFFSET = 0, 9, 14


class CaptureFormatError(Exception):
    """The input is not a pcap/pcapng capture (or is empty); the message is one line."""


def _name_of(obj) -> str:
    name = getattr(obj, "name", None)
    if isinstance(name, (str, bytes, os.PathLike)):
        return os.fsdecode(name)
    return "<stdin>" if name == 0 else "<stream>"


def _stream_size(f) -> int | None:
    """Bytes left in a regular file or seekable buffer, None for a pipe."""
    try:
        st = os.fstat(f.fileno())
        if stat.S_ISREG(st.st_mode):
            return max(0, st.st_size - f.tell())
        return None
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        pass
    try:
        if f.seekable():
            cur = f.tell()
            end = f.seek(0, io.SEEK_END)
            f.seek(cur)
            return end - cur
    except (OSError, AttributeError, ValueError):
        pass
    return None


_guarded = False


def _guard_mapped() -> None:
    """Once a process maps a capture file: a SIGBUS (the file cut short under the mapping) ends it with one line
    and status 2, not "Bus error (core dumped)" (the compiled walk's handler; without it, the signal's default)."""
    global _guarded
    if not _guarded:
        _guarded = True
        try:
            from . import _walk
            _walk.guard_mapped()
        except (ImportError, AttributeError, OSError):
            pass


def _regular(f) -> bool:
    try:
        return stat.S_ISREG(os.fstat(f.fileno()).st_mode) and f.tell() == 0
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        return False


def open_capture(path_or_fileobj) -> "CaptureReader":
    """Open a pcap or pcapng capture: a path, ``"-"`` for stdin, a binary file object
    (pipes welcome), or the capture's contents as bytes.

    Raises :class:`CaptureFormatError` if it is empty or not a capture, and
    ``OSError`` if it cannot be opened.
    """
    src = path_or_fileobj
    if isinstance(src, (bytes, bytearray, memoryview)):
        return CaptureReader(io.BytesIO(bytes(src)), "<bytes>", own=True)
    if isinstance(src, str) and src == "-":
        return CaptureReader(sys.stdin.buffer, "<stdin>", own=False)
    if isinstance(src, (str, os.PathLike)):
        f = open(src, "rb", buffering=0)
        try:
            return CaptureReader(f, os.fsdecode(src), own=True)
        except BaseException:
            f.close()
            raise
    if isinstance(src, io.TextIOBase):
        src = src.buffer
    return CaptureReader(src, _name_of(src), own=False)


class CaptureReader:
    """Iterable of :class:`Frame`; problems with the file go to ``notices``.

    ``bytes_read`` (bytes consumed from the file so far, chunk-granular) and
    ``size`` (total bytes, None for a pipe) drive progress bars. Iterating
    twice continues where the first iteration stopped: the file is streamed.
    """

    def __init__(self, f: BinaryIO, name: str, *, own: bool = False):
        self.name = name
        self.notices: list[Notice] = []
        self.size = _stream_size(f)
        self.bytes_read = 0
        self.format = ""
        self.frames = 0
        self.linktype: int | None = None   # pcap: the file's link type; pcapng: per frame
        self._f = f
        self._own = own
        # A regular file this reader opened is mapped a window at a time (mmap, _map): the page cache's own
        # pages, where read() copies every byte (0.3 s of CPU a gigabyte, most of the bytes never looked at).
        # Anything else, a file once a window cannot be mapped, and every file with DICOMSNIFF_NO_MMAP set,
        # is read: a mapped file that another program truncates while it is read ends the run (SIGBUS,
        # _guard_mapped), where reading it gives a truncation notice.
        self._fd = (f.fileno() if own and self.size is not None and _regular(f)
                    and not os.environ.get("DICOMSNIFF_NO_MMAP") else None)
        self._buf = b""
        self._pos = 0
        self._base = 0          # file offset of self._buf[0]
        self._eof = False
        self._cut = 0
        self._first_cut = 0
        self._snaplen = 0
        self._unknown_blocks: set[int] = set()
        # TLS key log text from pcapng Decryption Secrets Blocks (type "TLSK"), in file order (issue 15).
        self.secrets: list[bytes] = []
        # The analyzer's compiled walk (issue 18, Analyzer.connect): a record it finished asks, by an
        # entry in this list, that the records after it be offered to ``_walk_hook(buf, pos, number,
        # big, fmt, a, b, c, base)``, which returns where reading resumes and the last record's number.
        self._walk_req: list = []
        self._walk_hook = None
        self._raw = self._start()
        self._gen = self._frames()

    # ---- buffering ---------------------------------------------------------

    def _fill(self, need: int) -> bool:
        """Make ``need`` bytes available from ``self._pos``; False at end of input.

        A record that straddles two chunks is completed by a read of just its missing bytes, so
        only that record is copied; the next fill, with nothing left over, starts a fresh chunk
        instead of joining a few leftover bytes to 4 MiB (that join was a third of reading time).
        """
        have = len(self._buf) - self._pos
        if have >= need:
            return True
        if self._fd is not None:
            if self._map(need):
                return True
            self._fd = None             # read from here on (the file ends, or will not be mapped)
            self._f.seek(self._base + len(self._buf))
        parts = [self._buf[self._pos:]] if have else []
        self._base += self._pos
        self._pos = 0
        while have < need and not self._eof:
            try:
                chunk = self._f.read(min(need - have, CHUNK) if have else CHUNK)
            except (OSError, ValueError) as exc:
                self._note(ERROR, "read-error", f"read error after {self._base + have} bytes: {exc}")
                chunk = b""
            if not chunk:
                self._eof = True
                break
            self.bytes_read += len(chunk)
            parts.append(chunk)
            have += len(chunk)
        self._buf = parts[0] if len(parts) == 1 else b"".join(parts)
        return have >= need

    def _map(self, need: int) -> bool:
        """Map the window of the file from ``self._pos`` on: at least ``need`` bytes, :data:`WINDOW` if the file
        has them (from the page boundary before; ``_pos`` keeps its place). False when the file has fewer
        than ``need`` bytes there now (a file being written may have more later; a cut one never will: the
        read path says which) or will not be mapped. Only bytes the file has when the window is mapped are
        mapped: reading a mapped page a truncation has since removed raises SIGBUS (_guard_mapped)."""
        start = self._base + self._pos
        try:
            size = os.fstat(self._fd).st_size
            if size - start < need:
                return False
            at = start - start % mmap.ALLOCATIONGRANULARITY
            m = mmap.mmap(self._fd, min(size, start + max(need, WINDOW)) - at, offset=at, access=mmap.ACCESS_READ)
        except (OSError, ValueError, OverflowError):
            return False
        self._buf, self._base, self._pos = m, at, start - at
        self.bytes_read = at + len(m)
        _guard_mapped()
        return True

    def _note(self, severity: str, code: str, message: str, frame: int = 0) -> None:
        self.notices.append(Notice("capture", Finding(severity, code, message), frame))

    def _remaining(self) -> int:
        return len(self._buf) - self._pos

    # ---- format detection --------------------------------------------------

    def _start(self) -> Iterator[Frame]:
        """Detect the format (eagerly, from __init__) and return its record generator."""
        self._fill(4)
        head = self._buf[:4]
        if not head:
            raise CaptureFormatError(f"{self.name}: empty file (not a pcap or pcapng file)")
        if len(head) == 4:
            (magic,) = struct.unpack("<I", head)
            if magic in PCAP_MAGICS:
                return self._pcap_header(*PCAP_MAGICS[magic])
            if magic == PCAPNG_SHB:
                self.format = "pcapng"
                return self._iter_pcapng()
        raise CaptureFormatError(
            f"{self.name}: not a pcap or pcapng file (starts with {head.hex(' ')})")

    def _pcap_header(self, endian: str, tick: int, hdr: int) -> Iterator[Frame]:
        """Parse the 24-byte pcap file header (draft-ietf-opsawg-pcap §4)."""
        if not self._fill(24):
            raise CaptureFormatError(
                f"{self.name}: pcap file header truncated ({self._remaining()} of 24 bytes)")
        _, major, minor, _, _, snaplen, network = struct.unpack_from(endian + "IHHiIII", self._buf, 0)
        self._pos = 24
        self._snaplen = snaplen
        self.format = "pcap-ns" if tick == 1 else "pcap"
        self.linktype = network & 0xFFFF
        return self._iter_pcap(endian, tick, hdr, network & 0xFFFF)

    # ---- iteration -----------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        return self._gen

    def records(self) -> Iterator[tuple]:
        """The records without a :class:`Frame` each: ``(number, ts_ns, linktype, buf, start, end,
        orig_len, file_offset, interface)``, the frame's bytes being ``buf[start:end]`` of a chunk
        buffer shared by many records (the analyzer's fast path reads headers in place).
        Shares its position with iteration over frames."""
        return self._raw

    def _frames(self) -> Iterator[Frame]:
        for number, ts, linktype, buf, start, end, orig, offset, iface in self._raw:
            yield Frame(number, ts, linktype, buf[start:end], orig, offset, iface)

    def close(self) -> None:
        """Stop iterating and close the file if this reader opened it."""
        self._gen.close()
        self._raw.close()
        if self._own:
            self._f.close()

    def __enter__(self) -> "CaptureReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _end_notes(self) -> None:
        if self._cut:
            snap = f" (snap length {self._snaplen})" if self._snaplen else ""
            self._note(WARN, "snaplen-cut",
                       f"{self._cut} frame(s) cut short by the capture snap length{snap}, "
                       f"first is frame {self._first_cut}; their payloads are incomplete",
                       self._first_cut)
            self._cut = 0

    def _truncated(self, number: int, claim: int, what: str = "record") -> None:
        self._note(WARN, "truncated-record",
                   f"capture ends inside frame {number}: {what} claims {claim} bytes, "
                   f"{self._remaining()} present", number)

    def _iter_pcap(self, endian: str, tick: int, hdr: int, linktype: int) -> Iterator[Frame]:
        """Records: ts_sec, ts_frac, caplen, orig_len (draft-ietf-opsawg-pcap §5)."""
        unpack = struct.Struct(endian + "IIII").unpack_from
        req = self._walk_req
        big = endian == ">"
        buf, pos, base = self._buf, self._pos, self._base
        size = len(buf)
        number = 0
        cut = 0
        try:
            while True:
                dstart = pos + hdr
                if dstart > size:
                    self._pos = pos
                    if not self._fill(hdr):
                        if self._remaining():
                            self._truncated(number + 1, hdr, "record header")
                        break
                    buf, pos, base = self._buf, self._pos, self._base
                    size = len(buf)
                    dstart = pos + hdr
                sec, frac, caplen, orig = unpack(buf, pos)
                dend = dstart + caplen
                if dend > size:
                    if caplen > MAX_RECORD:
                        self._note(ERROR, "absurd-record",
                                   f"frame {number + 1} at offset {base + pos}: record length "
                                   f"{caplen} is absurd; file is corrupt, stopped reading",
                                   number + 1)
                        break
                    self._pos = pos
                    if not self._fill(hdr + caplen):
                        self._pos += hdr
                        self._truncated(number + 1, caplen)
                        break
                    buf, pos, base = self._buf, self._pos, self._base
                    size = len(buf)
                    dstart = pos + hdr
                    dend = dstart + caplen
                number += 1
                if caplen < orig:
                    cut += 1
                    if cut == 1:
                        self._first_cut = number
                yield (number, sec * 1_000_000_000 + frac * tick, linktype, buf, dstart, dend, orig,
                       base + dstart, 0)
                pos = dend
                if req:             # the compiled walk takes the records the analyzer would only count
                    pos, number = self._walk_hook(buf, pos, number, big, 0, tick, hdr, linktype, base)
        finally:
            self._pos = pos
            self.frames = number
            self._cut += cut
            self._end_notes()

    def _iter_pcapng(self) -> Iterator[Frame]:
        """Blocks: type, total length, body, total length (draft-ietf-opsawg-pcapng §3.1)."""
        number = 0
        cut = 0
        ifaces: list[tuple] = []   # (linktype, mul, shift, div, offset_ns, snaplen)
        odd_time: set[int] = set()   # interfaces (of this section) already reported for a time off the calendar
        endian = "<"
        u32x2 = struct.Struct("<II").unpack_from
        epb = struct.Struct("<IIIII").unpack_from
        # Block type and length with, if it is an Enhanced Packet Block, its fixed fields: one unpack.
        head = struct.Struct("<IIIIIII").unpack_from
        req = self._walk_req
        buf, pos, base = self._buf, self._pos, self._base
        size = len(buf)
        try:
            while True:
                if pos + 28 <= size:
                    btype, blen, iface, hi, lo, caplen, orig = head(buf, pos)
                else:
                    if pos + 12 > size:
                        self._pos = pos
                        if not self._fill(12):
                            if self._remaining():
                                self._truncated(number + 1, 12, "block header")
                            break
                        buf, pos, base = self._buf, self._pos, self._base
                        size = len(buf)
                    btype, blen = u32x2(buf, pos)
                    iface = -1                       # the EPB fields are read below, once the block is in
                if btype == PCAPNG_SHB:
                    bom = buf[pos + 8:pos + 12]
                    endian = "<" if bom == BOM_LE else ">" if bom == BOM_BE else ""
                    if not endian:
                        self._note(ERROR, "pcapng-bad-bom",
                                   f"section header at offset {base + pos} has a bad byte-order "
                                   f"magic ({bom.hex(' ')}); stopped reading")
                        break
                    u32x2 = struct.Struct(endian + "II").unpack_from
                    epb = struct.Struct(endian + "IIIII").unpack_from
                    head = struct.Struct(endian + "IIIIIII").unpack_from
                    btype, blen = u32x2(buf, pos)
                    ifaces = []
                    odd_time = set()
                if blen < 12 or blen & 3 or blen > MAX_RECORD:
                    self._note(ERROR, "pcapng-bad-block",
                               f"block at offset {base + pos} claims length {blen}; "
                               f"file is corrupt, stopped reading", number + 1)
                    break
                if pos + blen > size:
                    self._pos = pos
                    if not self._fill(blen):
                        self._truncated(number + 1, blen, f"{BLOCK_NAMES.get(btype, 'unknown')} block")
                        break
                    buf, pos, base = self._buf, self._pos, self._base
                    size = len(buf)
                if btype == B_EPB or btype == B_PB:
                    if blen < 32:
                        self._bad_block(btype, base + pos, blen, number + 1)
                        pos += blen
                        continue
                    if btype == B_EPB:
                        if iface < 0:
                            iface, hi, lo, caplen, orig = epb(buf, pos + 8)
                    else:
                        iface, _, hi, lo, caplen, orig = struct.unpack_from(
                            endian + "HHIIII", buf, pos + 8)
                    dstart = pos + 28
                    try:                                 # iface >= 0: read unsigned
                        linktype, mul, shift, div, off, _ = ifaces[iface]
                    except IndexError:
                        self._note(WARN, "pcapng-no-interface",
                                   f"packet block at offset {base + pos} names interface {iface}, "
                                   f"but only {len(ifaces)} are described; skipped", number + 1)
                        pos += blen
                        continue
                    units = hi << 32 | lo
                    ts = (units * mul >> shift) // div + off
                    if not 0 <= ts < SURELY_IN_CALENDAR and iface not in odd_time and not in_calendar(ts):
                        odd_time.add(iface)
                        self._odd_time(number + 1, ts, iface)
                elif btype == B_SPB:
                    if not ifaces:
                        self._note(WARN, "pcapng-no-interface",
                                   f"simple packet block at offset {base + pos} before any "
                                   f"interface description; skipped", number + 1)
                        pos += blen
                        continue
                    linktype, _, _, _, _, snaplen = ifaces[0]
                    (orig,) = struct.unpack_from(endian + "I", buf, pos + 8)
                    caplen = min(orig, blen - 16, snaplen or orig)
                    dstart = pos + 12
                    iface = 0
                    ts = 0
                else:
                    if btype == B_IDB:
                        ifaces.append(self._idb(buf, pos, blen, endian, len(ifaces)))
                    elif btype == B_DSB:
                        self._dsb(buf, pos, blen, endian)
                    elif btype not in BLOCK_NAMES and btype not in self._unknown_blocks:
                        self._unknown_blocks.add(btype)
                        self._note(NOTE, "pcapng-unknown-block",
                                   f"skipped block(s) of unknown type 0x{btype:08x} "
                                   f"(first at offset {base + pos})")
                    pos += blen
                    continue
                dend = dstart + caplen
                if dend > pos + blen - 4:
                    self._bad_block(btype, base + pos, blen, number + 1, caplen)
                    dend = pos + blen - 4
                number += 1
                if dend - dstart < orig:
                    cut += 1
                    if cut == 1:
                        self._first_cut = number
                yield (number, ts, linktype, buf, dstart, dend, orig, base + dstart, iface)
                pos += blen
                if req:             # the compiled walk takes the records the analyzer would only count
                    pos, number = self._walk_hook(buf, pos, number, endian == ">", 1, ifaces, 0, 0, base)
        finally:
            self._pos = pos
            self.frames = number
            self._cut += cut
            self._end_notes()

    def _dsb(self, buf: bytes, pos: int, blen: int, endian: str) -> None:
        """A Decryption Secrets Block: keep TLS key log secrets ("TLSK"), bounded (pcapng §4.7)."""
        if blen < 20:
            return
        stype, slen = struct.unpack_from(endian + "II", buf, pos + 8)
        if stype == DSB_TLS_KEYLOG and slen <= blen - 20 and sum(map(len, self.secrets)) + slen <= MAX_RECORD:
            self.secrets.append(bytes(buf[pos + 16:pos + 16 + slen]))

    def _odd_time(self, number: int, ts: int, iface: int) -> None:
        """Once per interface: a timestamp no calendar can show (a wild if_tsoffset/if_tsresol or stamp)."""
        self._note(WARN, "timestamp-out-of-range",
                   f"frame {number}: timestamp {raw_seconds(ts)[1:]} s since 1970 (interface {iface}) is "
                   f"outside the calendar (years 1-9999): its times are shown as raw seconds "
                   f"(@seconds), not as dates", number)

    def _bad_block(self, btype: int, offset: int, blen: int, number: int, caplen: int = -1) -> None:
        what = f"captured length {caplen} does not fit" if caplen >= 0 else "too short"
        self._note(WARN, "pcapng-bad-block",
                   f"{BLOCK_NAMES.get(btype, 'unknown')} block at offset {offset} "
                   f"(length {blen}): {what}", number)

    def _idb(self, buf: bytes, pos: int, blen: int, endian: str, index: int) -> tuple:
        """Interface Description Block: link type, snap length, if_tsresol, if_tsoffset (§4.2)."""
        if blen < 20:
            self._note(WARN, "pcapng-bad-block",
                       f"interface description block {index} is too short ({blen} bytes)")
            return (-1, 1000, 0, 1, 0, 0)
        linktype, _, snaplen = struct.unpack_from(endian + "HHI", buf, pos + 8)
        resol, offset_s = 6, 0
        p, end = pos + 16, pos + blen - 4
        while p + 4 <= end:
            code, olen = struct.unpack_from(endian + "HH", buf, p)
            if code == OPT_ENDOFOPT:
                break
            val = p + 4
            if val + olen > end:
                self._note(WARN, "pcapng-bad-option",
                           f"interface {index}: option {code} overruns its block")
                break
            if code == OPT_IF_TSRESOL and olen >= 1:
                resol = buf[val]
            elif code == OPT_IF_TSOFFSET and olen >= 8:
                (offset_s,) = struct.unpack_from(endian + "q", buf, val)
            p = val + ((olen + 3) & ~3)
        mul, shift, div = _resolution(resol)
        return (linktype, mul, shift, div, offset_s * 1_000_000_000, snaplen)


def _resolution(resol: int) -> tuple[int, int, int]:
    """(mul, shift, div) turning if_tsresol units into ns: ``(u * mul >> shift) // div``."""
    n = resol & 0x7F
    if resol & 0x80:
        return 1_000_000_000, n, 1
    if n <= 9:
        return 10 ** (9 - n), 0, 1
    return 1, 0, 10 ** (n - 9)
