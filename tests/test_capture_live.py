"""Live capture on the loopback interface (needs root or CAP_NET_RAW), and the pcap writer."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from dicomsniff.capture.frame import Frame
from dicomsniff.capture.live import LiveCaptureError, build_program, capture_permitted, open_live
from dicomsniff.capture.packet import decode_tcp
from dicomsniff.capture.pcapwriter import PcapWriter
from dicomsniff.capture.reader import open_capture

HAVE_LO = any(name == "lo" for _, name in socket.if_nameindex())
live = pytest.mark.skipif(not (capture_permitted() and HAVE_LO),
                          reason="live capture needs Linux, an 'lo' interface and root or CAP_NET_RAW")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def capture_during(source, action, settle: float = 0.3) -> list[Frame]:
    """Iterate ``source`` in a thread while ``action`` runs, then close it from this thread."""
    frames: list[Frame] = []
    t = threading.Thread(target=lambda: frames.extend(source), daemon=True)
    t.start()
    try:
        action()
        time.sleep(settle)
    finally:
        started = time.monotonic()
        source.close()
        t.join(timeout=5)
    assert not t.is_alive(), "iteration did not end after close()"
    assert time.monotonic() - started < 2
    return frames


def tcp_exchange(port: int, messages: list[tuple[int, bytes]]) -> None:
    """A TCP connection on 127.0.0.1:port; messages are (0 client→server | 1 server→client, bytes)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    cli = socket.create_connection(("127.0.0.1", port), timeout=5)
    acc, _ = srv.accept()
    acc.settimeout(5)
    try:
        for direction, data in messages:
            tx, rx = (cli, acc) if direction == 0 else (acc, cli)
            tx.sendall(data)
            got = b""
            while len(got) < len(data):
                got += rx.recv(65536)
    finally:
        cli.close()
        acc.close()
        srv.close()


@live
def test_loopback_frames_seen_once_with_payload():
    port = free_port()
    big = bytes(range(256)) * 1000
    messages = [(0, b"hello server"), (1, b"hello client"), (0, big)]
    source = open_live("lo", f"tcp port {port}")
    assert source.linktype == 1 and source.size is None
    frames = capture_during(source, lambda: tcp_exchange(port, messages))
    segs = [decode_tcp(f) for f in frames]
    assert all(s is not None and port in (s.sport, s.dport) for s in segs)
    assert [f.number for f in frames] == list(range(1, len(frames) + 1))
    # Loopback's outgoing copies are gone: they would be byte-identical frames (the IP ID differs otherwise).
    assert len({f.data for f in frames}) == len(frames)
    to_server = b"".join(bytes(s.payload) for s in segs if s.dport == port)
    to_client = b"".join(bytes(s.payload) for s in segs if s.sport == port)
    assert to_server == b"hello server" + big
    assert to_client == b"hello client"
    assert sum(1 for s in segs if s.flags & 0x02) == 2          # SYN, SYN-ACK
    assert source.stats() == (len(frames), 0)
    assert source.bytes_read == sum(len(f.data) for f in frames)
    now = time.time_ns()
    assert all(now - 60_000_000_000 < f.ts_ns <= now for f in frames)


@live
def test_filter_keeps_other_traffic_out_and_snaplen_cuts():
    port, other = free_port(), free_port()
    source = open_live("lo", f"tcp port {port}", snaplen=100)

    def action():
        tcp_exchange(other, [(0, b"x" * 500)])
        tcp_exchange(port, [(0, b"y" * 500)])

    frames = capture_during(source, action)
    segs = [decode_tcp(f) for f in frames]
    assert frames and all(port in (s.sport, s.dport) for s in segs)
    assert all(len(f.data) <= 100 for f in frames)
    assert any(f.orig_len > 500 for f in frames)


@live
def test_close_from_another_thread_without_traffic():
    source = open_live("lo", "tcp port 9")
    frames = capture_during(source, lambda: None, settle=0.05)
    assert frames == []
    source.close()       # twice is fine


@live
def test_stop_event_and_idle_ticks():
    source = open_live("lo", "tcp port 9")
    stop = threading.Event()
    ticks = 0
    for item in source.iter_frames(stop, idle=True):
        assert item is None
        ticks += 1
        if ticks == 2:
            stop.set()
    source.close()
    assert ticks == 2


@live
def test_unknown_interface_lists_available():
    with pytest.raises(LiveCaptureError) as e:
        open_live("nosuch0")
    msg = str(e.value)
    assert "nosuch0" in msg and "lo" in msg and "\n" not in msg


@live
def test_bad_filter_message():
    with pytest.raises(LiveCaptureError) as e:
        open_live("lo", "tcp prt 104")
    assert str(e.value).startswith("filter 'tcp prt 104' does not compile: ")
    assert "\n" not in str(e.value)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to drop privileges")
def test_permission_message():
    code = ("from dicomsniff.capture.live import open_live, LiveCaptureError\n"
            "try:\n    open_live('lo')\nexcept LiveCaptureError as e:\n    print(e)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
              "--bounding-set=-all", "env", f"PYTHONPATH={root}"]
    # An interpreter the unprivileged user may run and that imports the package from this tree
    # (a pyenv or venv Python under /root is out of its reach; the distribution's usually is not).
    usable = [exe for exe in (sys.executable, "/usr/bin/python3") if os.path.exists(exe) and subprocess.run(
        [*nobody, exe, "-c", "import dicomsniff.capture.live"], capture_output=True, cwd="/", timeout=30).returncode == 0]
    if not usable:
        pytest.skip("no Python interpreter and source tree the unprivileged user can read")
    run = subprocess.run([*nobody, usable[0], "-c", code], capture_output=True, text=True, timeout=30, cwd="/")
    assert run.stdout.startswith("capturing on lo needs root or CAP_NET_RAW"), run.stderr


def test_program_rewrites_snaplen_and_skips_outgoing():
    user = [(0x28, 0, 0, 12), (0x15, 0, 1, 0x800), (0x06, 0, 0, 65535), (0x06, 0, 0, 0)]
    prog = build_program(user, 1000, 0)
    assert prog[:3] == [(0x20, 0, 0, 0xFFFFF004), (0x15, 0, 1, 4), (0x06, 0, 0, 0)]
    assert prog[3:] == [(0x28, 0, 0, 12), (0x15, 0, 1, 0x800), (0x06, 0, 0, 1000), (0x06, 0, 0, 0)]
    assert build_program(None, 1000, None) == [(0x06, 0, 0, 1000)]


def sample_frames() -> list[Frame]:
    from capwriter import ETHERNET, frame, tcp_packet
    out = []
    for i, payload in enumerate([b"", b"abc", bytes(3000)]):
        data = frame(ETHERNET, tcp_packet("10.0.0.1", "10.0.0.2", 40000, 104, seq=1 + i, ack=1,
                                          payload=payload))
        out.append(Frame(i + 1, 1_700_000_000_123_456_789 + i * 1000, ETHERNET, data, len(data)))
    return out


def test_pcap_writer_round_trip(tmp_path):
    path = tmp_path / "out.pcap"
    frames = sample_frames()
    with PcapWriter(path, 1, 2000) as w:
        for f in frames:
            w.write(f)
    with open_capture(str(path)) as r:
        back = list(r)
        assert r.format == "pcap-ns" and r.linktype == 1
        assert [n.finding.code for n in r.notices] == ["snaplen-cut"]
    assert [(f.ts_ns, f.data, f.orig_len) for f in back] == \
        [(f.ts_ns, f.data[:2000], f.orig_len) for f in frames]


def test_pcap_writer_flushes_whole_records_before_close(tmp_path):
    path = tmp_path / "partial.pcap"
    w = PcapWriter(path, 1, 262144)
    frames = sample_frames()
    w.write(frames[0])
    w.flush()
    w.write(frames[1])
    with open_capture(str(w.writing_to)) as r:  # as seen by a reader while capturing
        assert len(list(r)) == 1 and not r.notices
    assert not path.exists()                     # renamed into place by close() only
    w.close()
    w.close()
    assert len(list(open_capture(str(path)))) == 2 and not path.with_name(os.path.basename(w.writing_to)).exists()


@pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")
def test_pcap_writer_output_read_by_tshark(tmp_path):
    path = tmp_path / "t.pcap"
    with PcapWriter(path, 1, 262144) as w:
        for f in sample_frames():
            w.write(f)
    run = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch",
                          "-e", "tcp.len"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    rows = [line.split("\t") for line in run.stdout.split("\n") if line]
    assert [r[1] for r in rows] == ["0", "3", "3000"]
    assert rows[0][0].startswith("1700000000.123456789")


@live
def test_any_interface_gives_cooked_frames_once(tmp_path):
    port = free_port()
    source = open_live("any", f"tcp port {port}")
    assert source.linktype == 113
    frames = capture_during(source, lambda: tcp_exchange(port, [(0, b"ping"), (1, b"pong")]))
    segs = [decode_tcp(f) for f in frames]
    assert all(s is not None for s in segs)
    assert b"".join(bytes(s.payload) for s in segs) == b"pingpong"
    assert len({f.data for f in frames}) == len(frames)
    if shutil.which("tshark"):
        path = tmp_path / "any.pcap"
        with PcapWriter(path, source.linktype, 262144) as w:
            for f in frames:
                w.write(f)
        run = subprocess.run(["tshark", "-r", str(path), "-c", "1", "-T", "fields", "-e", "tcp.dstport"],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0 and run.stdout.strip() == str(port), run.stderr


def drain(srv: socket.socket) -> None:
    conn, _ = srv.accept()
    with conn:
        conn.settimeout(5)
        while conn.recv(1 << 20):
            pass


@live
def test_kernel_drops_are_counted_and_accumulated():
    port = free_port()
    source = open_live("lo", f"tcp port {port}", buffer_size=256 << 10)   # tiny, and nobody reads
    try:
        srv = socket.create_server(("127.0.0.1", port))
        sink = threading.Thread(target=lambda: drain(srv), daemon=True)
        sink.start()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            for _ in range(20):
                c.sendall(bytes(1 << 20))
        sink.join(timeout=10)
        srv.close()
        received, dropped = source.stats()
        assert received == 0 and dropped > 0
        assert source.stats()[1] >= dropped         # the kernel resets its counters; we do not
    finally:
        source.close()
    assert source.stats()[1] >= dropped
