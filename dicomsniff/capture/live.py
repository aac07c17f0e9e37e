"""Live capture from a Linux interface: raw frames from an AF_PACKET socket, no dissection.

Why AF_PACKET and not scapy's sniffer: scapy builds a packet object per frame,
which costs far more than the analysis itself; here each frame is one
``recvmsg_into`` into a preallocated buffer and one copy (packet(7)). The BPF
filter is compiled by libpcap through scapy (``compile_filter`` on a "dead"
handle, so its error messages are libpcap's) or, without libpcap, by
``tcpdump -ddd``, and attached with SO_ATTACH_FILTER.

On the loopback interface Linux hands a packet socket every packet twice
(as sent, PACKET_OUTGOING, and as received); like tcpdump we keep one copy.
The outgoing copy is refused by the kernel filter itself, so it costs no
buffer space and does not count in the drop statistics.

A :class:`LiveSource` can be iterated in one thread while :meth:`LiveSource.close`
is called from another: every wait is bounded by a short socket timeout.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from typing import Iterator

from ..field import WARN, Finding
from ..notice import Notice
from .frame import Frame

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35               # also SCM_TIMESTAMPNS
# BPF ancillary loads (linux/filter.h): SKF_AD_OFF + SKF_AD_PKTTYPE / SKF_AD_IFINDEX.
SKF_AD_PKTTYPE = 0xFFFFF000 + 4
SKF_AD_IFINDEX = 0xFFFFF000 + 8
BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06

ARPHRD_ETHER, ARPHRD_LOOPBACK = 1, 772
LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL = 1, 113
DLT_EN10MB, DLT_RAW = 1, 12

DEFAULT_SNAPLEN = 262144
DEFAULT_RCVBUF = 64 << 20
POLL_TIMEOUT = 0.2

_SLL = struct.Struct(">HHH8sH")       # LINKTYPE_LINUX_SLL header (16 bytes)
_TIMESPEC = struct.Struct("@qq")

PERMISSION_TEXT = ("capturing on {iface} needs root or CAP_NET_RAW (and CAP_NET_ADMIN for the buffer "
                   "size): run with sudo or setcap cap_net_raw,cap_net_admin=eip $(which python3)")


class LiveCaptureError(Exception):
    """Live capture cannot start; the message is one line meant for the user."""


def interface_names() -> list[str]:
    """Names of this host's network interfaces, in index order."""
    try:
        return [name for _, name in sorted(socket.if_nameindex())]
    except OSError:
        return []


def _arphrd(interface: str) -> int | None:
    """The interface's hardware type (include/uapi/linux/if_arp.h), None when unknown."""
    try:
        with open(f"/sys/class/net/{interface}/type", encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _compile_with_libpcap(bpf: str, dlt: int) -> list[tuple[int, int, int, int]]:
    from scapy.arch.common import compile_filter
    from scapy.error import Scapy_Exception
    try:
        prog = compile_filter(bpf, linktype=dlt)
    except Scapy_Exception as e:
        msg = str(e)
        if "(" in msg and msg.endswith(")"):
            msg = msg[msg.index("(") + 1:-1]
        raise LiveCaptureError(f"filter '{bpf}' does not compile: {msg}") from None
    try:
        return [(prog.bf_insns[i].code, prog.bf_insns[i].jt, prog.bf_insns[i].jf, prog.bf_insns[i].k)
                for i in range(prog.bf_len)]
    finally:
        try:
            from scapy.arch.common import free_filter   # newer scapy frees libpcap's buffer
            free_filter(prog)
        except (ImportError, OSError):
            pass


def _compile_with_tcpdump(bpf: str, dlt: int) -> list[tuple[int, int, int, int]]:
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        raise LiveCaptureError(f"filter '{bpf}' cannot be compiled: neither libpcap (for scapy) "
                               "nor tcpdump is installed")
    link = {DLT_EN10MB: "EN10MB", DLT_RAW: "RAW"}[dlt]
    try:
        run = subprocess.run([tcpdump, "-ddd", "-y", link, bpf], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise LiveCaptureError(f"filter '{bpf}' cannot be compiled: tcpdump failed ({e})") from None
    if run.returncode != 0:
        why = (run.stderr.strip().splitlines() or ["tcpdump refused it"])[-1]
        why = why.removeprefix("tcpdump: ")
        raise LiveCaptureError(f"filter '{bpf}' does not compile: {why}")
    lines = run.stdout.split("\n")
    return [tuple(int(x) for x in line.split()) for line in lines[1:] if line.strip()]


def compile_bpf(bpf: str, dlt: int = DLT_EN10MB) -> list[tuple[int, int, int, int]]:
    """Compile a tcpdump-style filter to classic BPF instructions (code, jt, jf, k).

    Raises :class:`LiveCaptureError` with libpcap's reason when it does not compile.
    """
    try:
        return _compile_with_libpcap(bpf, dlt)
    except ImportError:
        return _compile_with_tcpdump(bpf, dlt)


def build_program(user: list[tuple[int, int, int, int]] | None, snaplen: int,
                  skip_outgoing_ifindex: int | None) -> list[tuple[int, int, int, int]]:
    """The socket filter: optionally refuse loopback's outgoing copies, then the user's filter.

    Every accepting ``ret #k`` is rewritten to return ``snaplen``: the
    compiler's snap length is not ours. The caller passes the largest snap
    length, not the user's, because a packet the kernel cuts loses its wire
    length (as libpcap does without its ring, we cut in user space).
    """
    prog: list[tuple[int, int, int, int]] = []
    if skip_outgoing_ifindex is not None:
        if skip_outgoing_ifindex == 0:
            prog += [(BPF_LD_W_ABS, 0, 0, SKF_AD_PKTTYPE),
                     (BPF_JEQ_K, 0, 1, PACKET_OUTGOING),
                     (BPF_RET_K, 0, 0, 0)]
        else:
            prog += [(BPF_LD_W_ABS, 0, 0, SKF_AD_PKTTYPE),
                     (BPF_JEQ_K, 0, 3, PACKET_OUTGOING),
                     (BPF_LD_W_ABS, 0, 0, SKF_AD_IFINDEX),
                     (BPF_JEQ_K, 0, 1, skip_outgoing_ifindex),
                     (BPF_RET_K, 0, 0, 0)]
    body = user if user else [(BPF_RET_K, 0, 0, snaplen)]
    prog += [(c, jt, jf, snaplen if c == BPF_RET_K and k else k) for c, jt, jf, k in body]
    return prog


def attach_program(sock: socket.socket, prog: list[tuple[int, int, int, int]]) -> None:
    """SO_ATTACH_FILTER with a ``struct sock_fprog`` (linux/filter.h); the kernel copies it."""
    insns = (ctypes.c_ubyte * (8 * len(prog)))()
    struct.pack_into("=" + "HBBI" * len(prog), insns, 0, *(v for ins in prog for v in ins))
    fprog = struct.pack("@HP", len(prog), ctypes.addressof(insns))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def open_live(interface: str, bpf: str | None = None, snaplen: int = DEFAULT_SNAPLEN, *,
              buffer_size: int = DEFAULT_RCVBUF) -> "LiveSource":
    """Start capturing on ``interface`` ("any" for all). Raises :class:`LiveCaptureError`."""
    return LiveSource(interface, bpf, snaplen, buffer_size)


class LiveSource:
    """Frames from a live interface, as :class:`Frame` objects numbered from 1.

    The same shape as :class:`~dicomsniff.capture.reader.CaptureReader`
    (iterable, ``notices``, ``bytes_read``, ``size`` which is None, ``close()``),
    plus :meth:`stats` and ``linktype``. Iteration ends once :meth:`close` is
    called (from any thread) or its ``stop`` event is set.
    """

    def __init__(self, interface: str, bpf: str | None, snaplen: int, buffer_size: int):
        self.interface = interface
        self.bpf = bpf
        self.snaplen = max(64, int(snaplen))
        self.notices: list[Notice] = []
        self.bytes_read = 0
        self.size = None
        self.frames = 0
        self._drops = 0
        self.kernel_packets = 0       # packets the kernel filter passed, dropped ones included
        self._closed = threading.Event()
        self._io = threading.Lock()
        self._stats_lock = threading.Lock()
        self._buf = bytearray(self.snaplen)
        self._view = memoryview(self._buf)
        self._sock: socket.socket | None = None
        if not hasattr(socket, "AF_PACKET"):
            raise LiveCaptureError("live capture works on Linux only (it reads an AF_PACKET socket); "
                                   "elsewhere capture with tcpdump or Wireshark and open the file")
        if interface != "any":
            if interface not in interface_names():
                available = ", ".join(interface_names()) or "none found"
                raise LiveCaptureError(f"no interface named '{interface}' (available: {available}, any)")
        hw = _arphrd(interface) if interface != "any" else None
        # Ethernet-like interfaces give their frames as they are; others (and "any",
        # which mixes them) are read without link header and get a Linux cooked header.
        self.cooked = hw not in (ARPHRD_ETHER, ARPHRD_LOOPBACK)
        self.linktype = LINKTYPE_LINUX_SLL if self.cooked else LINKTYPE_ETHERNET
        if interface == "any":
            lo = [i for i, n in socket.if_nameindex() if _arphrd(n) == ARPHRD_LOOPBACK]
            skip = lo[0] if lo else None
        else:
            skip = 0 if hw == ARPHRD_LOOPBACK else None
        # The kernel filter already refuses these; this check also covers a filter
        # the kernel could not run (it then fails open).
        self._skip_out = {n for _, n in socket.if_nameindex()
                          if _arphrd(n) == ARPHRD_LOOPBACK and interface in (n, "any")}
        user = compile_bpf(bpf, DLT_RAW if self.cooked else DLT_EN10MB) if bpf else None
        prog = build_program(user, max(self.snaplen, DEFAULT_SNAPLEN), skip)
        self._sock = self._open_socket(prog, buffer_size)

    def _open_socket(self, prog: list, buffer_size: int) -> socket.socket:
        kind = socket.SOCK_DGRAM if self.cooked else socket.SOCK_RAW
        try:
            s = socket.socket(socket.AF_PACKET, kind, socket.htons(ETH_P_ALL))
        except PermissionError:
            raise LiveCaptureError(PERMISSION_TEXT.format(iface=self.interface)) from None
        except OSError as e:
            raise LiveCaptureError(f"cannot open a packet socket: {e.strerror}") from None
        try:
            # Filter first, then bind, so nothing unfiltered is queued in between.
            attach_program(s, prog)
            self._set_buffer(s, buffer_size)
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            if self.interface != "any":          # an unbound packet socket hears every interface
                s.bind((self.interface, ETH_P_ALL))
            s.settimeout(POLL_TIMEOUT)
            s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)   # reset the counters
        except OSError as e:
            s.close()
            if e.errno == errno.ENODEV:
                raise LiveCaptureError(f"interface '{self.interface}' went away") from None
            if e.errno == errno.ENETDOWN:
                raise LiveCaptureError(f"interface '{self.interface}' is down") from None
            raise LiveCaptureError(f"cannot capture on '{self.interface}': {e.strerror or e}") from None
        return s

    def _set_buffer(self, s: socket.socket, size: int) -> None:
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
        except PermissionError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            got = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            if got < size:
                self.notices.append(Notice("capture", Finding(
                    WARN, "small-capture-buffer",
                    f"capture buffer is {got >> 10} KiB, not {size >> 20} MiB (no CAP_NET_ADMIN; "
                    f"raise net.core.rmem_max): bursts may be dropped")))

    # -- iteration ----------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        return self.iter_frames()

    def iter_frames(self, stop: threading.Event | None = None, *, idle: bool = False) -> Iterator[Frame | None]:
        """Frames as they arrive, until :meth:`close` or ``stop``.

        With ``idle=True`` a None is yielded whenever no frame came for
        ``POLL_TIMEOUT`` seconds, so a single-threaded caller can do periodic work.
        """
        closed = self._closed
        recv = self._recv
        while not closed.is_set() and not (stop is not None and stop.is_set()):
            with self._io:
                if closed.is_set():
                    break
                frame = recv()
            if frame is not None:
                yield frame
            elif idle:
                yield None

    def _recv(self) -> Frame | None:
        """One frame, or None after the poll timeout; a socket error ends the capture."""
        s = self._sock
        if s is None:
            return None
        while True:
            try:
                n, anc, _, addr = s.recvmsg_into([self._view], 64, socket.MSG_TRUNC)
            except TimeoutError:
                return None
            except InterruptedError:
                continue
            except OSError as e:
                if not self._closed.is_set():
                    self.notices.append(Notice("capture", Finding(
                        WARN, "capture-error", f"capture on {self.interface} stopped: {e.strerror or e}")))
                    self._closed.set()
                return None
            if addr[2] == PACKET_OUTGOING and addr[0] in self._skip_out:
                continue
            break
        ts = 0
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                sec, nsec = _TIMESPEC.unpack_from(data)
                ts = sec * 1_000_000_000 + nsec
        if not ts:
            ts = time.time_ns()
        caplen = min(n, self.snaplen)
        if self.cooked:
            hw = addr[4] if len(addr) > 4 else b""
            head = _SLL.pack(addr[2], addr[3], len(hw), hw[:8], addr[1])
            data = head + self._view[:caplen].tobytes()
            orig = n + len(head)
        else:
            data = self._view[:caplen].tobytes()
            orig = n
        self.frames += 1
        self.bytes_read += len(data)
        return Frame(self.frames, ts, self.linktype, data, orig, None, 0)

    # -- statistics and closing ------------------------------------------------------

    def stats(self) -> tuple[int, int]:
        """(frames received, frames dropped by the kernel) since the capture started."""
        with self._stats_lock:
            s = self._sock
            if s is not None:
                try:
                    raw = s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
                    packets, drops = struct.unpack("@II", raw)
                    self.kernel_packets += packets    # reading resets them
                    self._drops += drops
                except OSError:
                    pass
            return self.frames, self._drops

    def close(self) -> None:
        """Stop capturing; safe from any thread and more than once."""
        if self._closed.is_set() and self._sock is None:
            return
        self._closed.set()
        with self._io:
            self.stats()
            s, self._sock = self._sock, None
            if s is not None:
                s.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __enter__(self) -> "LiveSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> str:
        """e.g. 'lo (Ethernet), filter: tcp port 104'."""
        link = "Linux cooked" if self.cooked else "Ethernet"
        return f"{self.interface} ({link})" + (f", filter: {self.bpf}" if self.bpf else "")


def capture_permitted() -> bool:
    """Whether this process may open packet sockets (root or CAP_NET_RAW)."""
    if os.geteuid() == 0:
        return True
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
        return True
    except OSError:
        return False


__all__ = ["LiveCaptureError", "LiveSource", "capture_permitted", "compile_bpf", "interface_names",
           "open_live"]
