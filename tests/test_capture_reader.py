"""open_capture: pcap/pcapng detection, records, timestamps, offsets, damage, streams."""

from __future__ import annotations

import glob
import io
import os
import random
import shutil
import socket
import struct
import sys
import subprocess
import threading
import time
from pathlib import Path

import pytest

import dicomsniff.capture.reader as reader_mod
from capwriter import (ETHERNET, NULL, RAW, SLL, SLL2, block, epb, frame, idb, opb,
                       pcap_bytes, pcapng_bytes, shb, spb, tcp_packet)
from dicomsniff.capture.packet import decode_tcp
from dicomsniff.capture.reader import CaptureFormatError, open_capture
from dicomsniff.field import ERROR, WARN

NS = 1_000_000_000
EXTERNAL = Path("/work/shared/external-captures")


def pkts(n: int, link: int = ETHERNET, size: int = 30) -> list[bytes]:
    return [frame(link, tcp_packet("10.0.0.1", "10.0.0.2", 5000 + i, 104, i, 0,
                                   payload=bytes([i % 256]) * (size + i)))
            for i in range(n)]


def read_all(data: bytes):
    r = open_capture(data)
    return r, list(r)


def assert_offsets(frames, data: bytes) -> None:
    for f in frames:
        assert data[f.file_offset:f.file_offset + len(f.data)] == f.data


@pytest.mark.parametrize("nanos", [False, True])
@pytest.mark.parametrize("big_endian", [False, True])
def test_pcap_variants(nanos, big_endian):
    packets = pkts(5)
    stamps = [1_700_000_000 * NS + i * 1_234_567_891 for i in range(5)]
    data = pcap_bytes(list(zip(stamps, packets)), ETHERNET, nanos=nanos, big_endian=big_endian)
    r, frames = read_all(data)
    assert [f.number for f in frames] == [1, 2, 3, 4, 5]
    assert [f.data for f in frames] == packets
    want = stamps if nanos else [t // 1000 * 1000 for t in stamps]
    assert [f.ts_ns for f in frames] == want
    assert all(f.linktype == ETHERNET and f.orig_len == len(f.data) for f in frames)
    assert frames[0].file_offset == 24 + 16
    assert_offsets(frames, data)
    assert r.notices == [] and r.format == ("pcap-ns" if nanos else "pcap")
    assert r.bytes_read == r.size == len(data)


def test_pcap_header_only_is_empty_capture():
    r, frames = read_all(pcap_bytes([], SLL))
    assert frames == [] and r.notices == [] and r.linktype == SLL


def test_truncated_last_record():
    packets = pkts(4)
    data = pcap_bytes([(i * NS, p) for i, p in enumerate(packets)])
    r, frames = read_all(data[:-7])
    assert [f.data for f in frames] == packets[:3]
    (n,) = r.notices
    assert n.severity == WARN and n.frame == 4
    assert n.message == (f"capture ends inside frame 4: record claims {len(packets[3])} bytes, "
                         f"{len(packets[3]) - 7} present")


def test_truncated_inside_record_header():
    data = pcap_bytes([(0, p) for p in pkts(2)])
    r, frames = read_all(data + b"\x01\x02\x03")
    assert len(frames) == 2
    assert len(r.notices) == 1 and "inside frame 3" in r.notices[0].message


def test_snaplen_cut_noted_once_with_count():
    packets = pkts(6)
    recs = [(i, p[:40], len(p)) if i % 2 else (i, p) for i, p in enumerate(packets)]
    r, frames = read_all(pcap_bytes(recs, snaplen=40))
    assert [len(f.data) < f.orig_len for f in frames] == [False, True] * 3
    (n,) = r.notices
    assert n.finding.code == "snaplen-cut" and n.frame == 2
    assert "3 frame(s)" in n.message and "snap length 40" in n.message


def test_absurd_record_length_stops_without_allocating():
    good = pcap_bytes([(0, p) for p in pkts(2)])
    data = good + struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 0x7FFFFFFF) + b"x" * 100
    r, frames = read_all(data)
    assert len(frames) == 2
    (n,) = r.notices
    assert n.severity == ERROR and n.frame == 3 and "absurd" in n.message


def test_garbage_file_rejected_with_one_line_message(tmp_path):
    p = tmp_path / "x.txt"
    p.write_bytes(b"<html><body>not a capture</body></html>")
    with pytest.raises(CaptureFormatError) as e:
        open_capture(p)
    assert str(e.value) == f"{p}: not a pcap or pcapng file (starts with 3c 68 74 6d)"
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"\xd4\xc3")
    with pytest.raises(CaptureFormatError, match="starts with d4 c3"):
        open_capture(tiny)


def test_empty_file_rejected(tmp_path):
    p = tmp_path / "empty.pcap"
    p.write_bytes(b"")
    with pytest.raises(CaptureFormatError, match="empty"):
        open_capture(str(p))


def test_truncated_pcap_header_rejected():
    with pytest.raises(CaptureFormatError, match="header truncated"):
        open_capture(pcap_bytes([])[:20])


def test_detection_ignores_file_name(tmp_path):
    p = tmp_path / "capture.txt"
    p.write_bytes(pcapng_bytes([(5 * NS, RAW, b"\x45" + bytes(19))]))
    with open_capture(p) as r:
        assert r.format == "pcapng" and len(list(r)) == 1


def test_pcapng_two_interfaces_link_types_and_resolutions():
    eth, sll = pkts(1, ETHERNET)[0], pkts(1, SLL)[0]
    t1, t2 = 1_600_000_000 * NS + 123_456_789, 1_600_000_001 * NS + 987_654_321
    data = (shb() + idb(ETHERNET) + idb(SLL, tsresol=9, tsoffset=3600)
            + epb(0, t1, eth) + epb(1, t2, sll, tsresol=9, tsoffset=3600)
            + epb(0, t2, eth))
    r, frames = read_all(data)
    assert [(f.number, f.interface, f.linktype) for f in frames] == [
        (1, 0, ETHERNET), (2, 1, SLL), (3, 0, ETHERNET)]
    assert [f.ts_ns for f in frames] == [t1 // 1000 * 1000, t2, t2 // 1000 * 1000]
    assert [decode_tcp(f).dport for f in frames] == [104, 104, 104]
    assert_offsets(frames, data)
    assert r.notices == []


@pytest.mark.parametrize("resol,ts,want", [
    (0x80 | 20, 1_500_000_000 * NS + NS // 3, 1_500_000_000 * NS + 333_333_015),  # 349525 / 2**20 s,
    (0x80 | 1, 3 * NS + NS // 2, 3 * NS + NS // 2),
    (3, 1_500_000_000 * NS + 123_456_789, 1_500_000_000 * NS + 123_000_000),
    (12, 4_000 * NS + 123_456_789, 4_000 * NS + 123_456_789),
])
def test_pcapng_tsresol_forms(resol, ts, want):
    data = shb() + idb(RAW, tsresol=resol) + epb(0, ts, b"\x45" + bytes(19), tsresol=resol)
    (f,) = list(open_capture(data))
    assert f.ts_ns == want


def test_pcapng_sections_reset_interfaces_and_switch_byte_order():
    a = pkts(2, ETHERNET)
    b = pkts(2, SLL2)
    data = (pcapng_bytes([(NS, ETHERNET, a[0]), (2 * NS, ETHERNET, a[1])])
            + pcapng_bytes([(3 * NS, SLL2, b[0]), (4 * NS, SLL2, b[1])], big_endian=True))
    r, frames = read_all(data)
    assert [(f.linktype, f.interface, f.ts_ns) for f in frames] == [
        (ETHERNET, 0, NS), (ETHERNET, 0, 2 * NS), (SLL2, 0, 3 * NS), (SLL2, 0, 4 * NS)]
    assert [f.data for f in frames] == a + b
    assert_offsets(frames, data)
    assert all(decode_tcp(f) is not None for f in frames)


def test_pcapng_simple_and_obsolete_packet_blocks():
    p = pkts(3, NULL)
    data = (shb(big_endian=True) + idb(NULL, snaplen=50, big_endian=True)
            + spb(p[0][:50], orig_len=len(p[0]), big_endian=True)
            + opb(0, 7 * NS, p[1], big_endian=True) + spb(p[2][:2] + b"\0\0", orig_len=2,
                                                      big_endian=True))
    r, frames = read_all(data)
    assert [f.data for f in frames] == [p[0][:50], p[1], p[2][:2]]
    assert [f.ts_ns for f in frames] == [0, 7 * NS, 0]
    assert frames[0].orig_len == len(p[0]) and decode_tcp(frames[1]).dport == 104
    assert [n.finding.code for n in r.notices] == ["snaplen-cut"]
    assert_offsets(frames, data)


def test_pcapng_unknown_blocks_skipped_once_noted():
    p = pkts(2, RAW)
    data = (shb() + idb(RAW) + block(0x7777, b"abcd") + epb(0, NS, p[0])
            + block(4, b"\0" * 4) + block(5, b"\0" * 8) + block(0x7777, b"")
            + epb(0, 2 * NS, p[1]))
    r, frames = read_all(data)
    assert [f.data for f in frames] == p
    (n,) = r.notices
    assert n.finding.code == "pcapng-unknown-block" and "0x00007777" in n.message


def test_pcapng_packet_on_undescribed_interface_skipped():
    p = pkts(2, RAW)
    data = shb() + idb(RAW) + epb(3, NS, p[0]) + epb(0, NS, p[1])
    r, frames = read_all(data)
    assert [(f.number, f.data) for f in frames] == [(1, p[1])]
    assert [n.finding.code for n in r.notices] == ["pcapng-no-interface"]


def test_pcapng_damage():
    p = pkts(3, RAW)
    good = shb() + idb(RAW) + b"".join(epb(0, NS, x) for x in p)
    r, frames = read_all(good[:-10])
    assert len(frames) == 2 and r.notices[0].finding.code == "truncated-record"
    assert "inside frame 3" in r.notices[0].message
    bad_len = good + struct.pack("<II", 6, 13) + bytes(20)
    r, frames = read_all(bad_len)
    assert len(frames) == 3 and r.notices[-1].severity == ERROR
    huge = good + struct.pack("<II", 6, 0x40000000) + bytes(20)
    r, frames = read_all(huge)
    assert len(frames) == 3 and "corrupt" in r.notices[-1].message
    overlong = shb() + idb(RAW) + block(6, struct.pack("<IIIII", 0, 0, 0, 500, 500) + p[0])
    r, frames = read_all(overlong)
    assert frames[0].data == p[0] + b"\0" * (-len(p[0]) % 4)
    assert r.notices[0].finding.code == "pcapng-bad-block"
    bad_bom = good + block(0x0A0D0D0A, b"\x00\x01\x02\x03" + bytes(12))
    r, frames = read_all(bad_bom)
    assert len(frames) == 3 and r.notices[-1].finding.code == "pcapng-bad-bom"


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_tiny_chunks_give_identical_frames(monkeypatch, chunk):
    packets = pkts(40, ETHERNET, size=90)
    for data in (pcap_bytes([(i * NS, p) for i, p in enumerate(packets)]),
                 pcapng_bytes([(i * NS, ETHERNET if i % 3 else SLL, p)
                               for i, p in enumerate(packets)])):
        want = [(f.number, f.ts_ns, f.data, f.file_offset, f.interface)
                for f in open_capture(data)]
        monkeypatch.setattr(reader_mod, "CHUNK", chunk)
        got = [(f.number, f.ts_ns, f.data, f.file_offset, f.interface)
               for f in open_capture(data)]
        monkeypatch.undo()
        assert got == want and len(got) == 40


def test_record_bigger_than_chunk(monkeypatch):
    monkeypatch.setattr(reader_mod, "CHUNK", 1000)
    big = frame(ETHERNET, tcp_packet("10.0.0.1", "10.0.0.2", 1, 104, payload=b"z" * 50_000))
    data = pcap_bytes([(0, b"a" * 10), (1, big), (2, b"b" * 10)])
    r, frames = read_all(data)
    assert [len(f.data) for f in frames] == [10, len(big), 10]
    assert len(decode_tcp(frames[1]).payload) == 50_000


class ShortReads(io.RawIOBase):
    """A non-seekable stream returning at most ``n`` bytes per read, like a pipe."""

    def __init__(self, data: bytes, n: int):
        self.data, self.n, self.pos = data, n, 0

    def readable(self):
        return True

    def read(self, size=-1):
        out = self.data[self.pos:self.pos + min(self.n, size if size >= 0 else self.n)]
        self.pos += len(out)
        return out


def test_non_seekable_stream_counts_offsets():
    packets = pkts(10)
    data = pcapng_bytes([(i * NS, ETHERNET, p) for i, p in enumerate(packets)])
    r = open_capture(ShortReads(data, 33))
    assert r.size is None
    frames = list(r)
    assert [f.data for f in frames] == packets
    assert_offsets(frames, data)
    assert r.bytes_read == len(data)


def test_real_pipe():
    data = pcap_bytes([(i * NS, p) for i, p in enumerate(pkts(200))])
    rfd, wfd = os.pipe()

    def writer():
        with os.fdopen(wfd, "wb") as w:
            w.write(data)

    t = threading.Thread(target=writer)
    t.start()
    with os.fdopen(rfd, "rb") as rf:
        r = open_capture(rf)
        assert r.size is None
        frames = list(r)
    t.join()
    assert len(frames) == 200
    assert_offsets(frames, data)


def test_context_manager_closes_file(tmp_path):
    p = tmp_path / "a.pcap"
    p.write_bytes(pcap_bytes([(0, p_) for p_ in pkts(3)]))
    with open_capture(str(p)) as r:
        first = next(iter(r))
        assert first.number == 1 and r.size == p.stat().st_size
    assert r._f.closed
    assert list(r) == []


def test_fuzzed_captures_never_raise():
    rng = random.Random(11)
    packets = pkts(6)
    seeds = [pcap_bytes([(i, p) for i, p in enumerate(packets)]),
             pcapng_bytes([(i, ETHERNET if i % 2 else SLL, p) for i, p in enumerate(packets)])]
    for seed in seeds:
        for _ in range(400):
            data = bytearray(seed)
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(4, len(data))] = rng.randrange(256)
            data = bytes(data[:rng.randrange(4, len(data) + 1)])
            try:
                r = open_capture(data)
            except CaptureFormatError:
                continue
            for f in r:
                assert data[f.file_offset:f.file_offset + len(f.data)] == f.data
                decode_tcp(f)


@pytest.mark.skipif(not glob.glob(str(EXTERNAL / "*.pcap")), reason="external captures absent")
def test_external_captures():
    r = open_capture(EXTERNAL / "dicom_arq_1_find_testclient.pcap")
    frames = list(r)
    assert r.format == "pcapng" and len(frames) == 1 and frames[0].linktype == NULL
    seg = decode_tcp(frames[0])
    assert seg.dport == 104 and len(seg.payload) == 683 and bytes(seg.payload[:2]) == b"\x01\x00"
    assert seg.src_ip == seg.dst_ip == b"\x7f\x00\x00\x01"
    assert frames[0].ts_ns == 1542403616_208085000     # tshark frame.time_epoch
    r = open_capture(EXTERNAL / "dicom_arq_2_get_testclient.pcap")
    segs = [decode_tcp(f) for f in r]
    assert [len(s.payload) for s in segs] == [16332, 177]
    assert segs[1].seq == (segs[0].seq + 16332) & 0xFFFFFFFF
    assert r.notices == []


def _tcpdump_ok() -> bool:
    return shutil.which("tcpdump") is not None and hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.mark.skipif(not _tcpdump_ok(), reason="needs tcpdump and root")
def test_real_tcpdump_loopback(tmp_path):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    out = tmp_path / "lo.pcap"
    proc = subprocess.Popen(["tcpdump", "-i", "lo", "--immediate-mode", "-U", "-Z", "root",
                             "-w", str(out), f"tcp port {port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        line = proc.stderr.readline()
        assert b"listening" in line, line
        time.sleep(0.5)
        cli = socket.create_connection(("127.0.0.1", port))
        conn, _ = srv.accept()
        cli.sendall(b"\x01\x00hello dicom")
        assert conn.recv(100) == b"\x01\x00hello dicom"
        conn.sendall(b"reply")
        cli.recv(100)
        cli.close()
        conn.close()
        time.sleep(1.0)
    finally:
        proc.terminate()
        proc.wait(5)
        srv.close()
    with open_capture(out) as r:
        segs = [s for s in map(decode_tcp, r) if s is not None]
    assert r.notices == []
    payloads = [bytes(s.payload) for s in segs if s.payload]
    assert payloads == [b"\x01\x00hello dicom", b"reply"]
    syn = segs[0]
    assert syn.flags & 0x02 and syn.dport == port and syn.dst_ip == b"\x7f\x00\x00\x01"
    assert all(a.ts_ns <= b.ts_ns for a, b in zip(segs, segs[1:]))
    assert any(s.flags & 0x01 for s in segs)


def _read_back(r) -> tuple:
    frames = [(f.number, f.ts_ns, f.linktype, f.data, f.orig_len, f.file_offset, f.interface) for f in r]
    return frames, [(n.frame, n.finding.severity, n.finding.code, n.finding.message) for n in r.notices], r.frames


@pytest.mark.parametrize("chunk", [1, 7, 4096, 5000, 4 << 20])
def test_a_mapped_file_reads_as_reading_it_does(tmp_path, monkeypatch, chunk):
    """A capture file opened by its path is mapped a window at a time (mmap): its frames, offsets, notices and
    count are those read() gives of the same file, whole and cut at many places, pcap and pcapng, with windows
    of every size (a record running past a window begins the next one, mapped from the page before it)."""
    monkeypatch.setattr(reader_mod, "WINDOW", chunk)
    packets = pkts(50, ETHERNET, size=1400)
    rng = random.Random(chunk)
    mapped = 0
    real_map = reader_mod.CaptureReader._map

    def counting_map(self, need):
        nonlocal mapped
        ok = real_map(self, need)
        mapped += ok
        return ok
    monkeypatch.setattr(reader_mod.CaptureReader, "_map", counting_map)
    for data in (pcap_bytes([(i * NS, p) for i, p in enumerate(packets)]),
                 pcapng_bytes([(i * NS, ETHERNET if i % 3 else SLL, p) for i, p in enumerate(packets)])):
        for cut in [len(data), 3, 30, 1000] + rng.sample(range(40, len(data)), 8):
            path = tmp_path / "c.pcap"
            path.write_bytes(data[:cut])
            with open(path, "rb", buffering=0) as f:        # a file object: read, not mapped
                try:
                    want = _read_back(open_capture(f))
                except CaptureFormatError as exc:
                    want = str(exc)
            try:
                r = open_capture(str(path))
                got = _read_back(r)
                r.close()
            except CaptureFormatError as exc:
                got = str(exc)
            assert got == want, cut
    assert mapped >= 2 * 8 * (1 + (chunk < 10_000))        # (small windows: several a file)


def test_a_file_still_being_written_is_read_to_its_end(tmp_path, monkeypatch):
    """Windows are mapped up to the file's size when mapped: what a writer appends meanwhile is read too."""
    monkeypatch.setattr(reader_mod, "WINDOW", 4096)
    packets = pkts(100, ETHERNET, size=400)
    data = pcap_bytes([(i * NS, p) for i, p in enumerate(packets)])
    path = tmp_path / "growing.pcap"
    path.write_bytes(data[:len(data) * 3 // 5])
    r = open_capture(str(path))
    it = iter(r)
    first = [next(it) for _ in range(20)]
    with open(path, "ab") as f:
        f.write(data[len(data) * 3 // 5:])
    frames = first + list(it)
    assert [f.data for f in frames] == packets and not r.notices
    assert_offsets(frames, data)


def test_no_mmap_reads_the_file(tmp_path, monkeypatch):
    path = tmp_path / "c.pcap"
    data = pcap_bytes([(i * NS, p) for i, p in enumerate(pkts(10))])
    path.write_bytes(data)
    assert open_capture(str(path))._fd is not None
    monkeypatch.setenv("DICOMSNIFF_NO_MMAP", "1")
    r = open_capture(str(path))
    assert r._fd is None and [f.data for f in r] == pkts(10)


TRUNCATE_WHILE_READING = """
import os, sys
from dicomsniff.capture.reader import open_capture
path = sys.argv[1]
r = open_capture(path)
frames = iter(r)
next(frames)
os.truncate(path, 100)                  # another program cuts the file while it is read
print("frames", 1 + sum(1 for _ in frames), [n.finding.code for n in r.notices])
"""


@pytest.mark.skipif(not hasattr(reader_mod, "_guard_mapped"), reason="no mapped reading")
def test_a_mapped_file_cut_short_while_read_ends_with_one_line(tmp_path):
    """The pages past a mapped file's new end raise SIGBUS when read: with the compiled walk's handler, one line
    and exit status 2 instead of "Bus error (core dumped)"; DICOMSNIFF_NO_MMAP=1 reads the file instead, and
    the cut shows as a truncated record."""
    from dicomsniff import pipeline
    if pipeline._cwalk is None:
        pytest.skip("the compiled walk (its SIGBUS handler) is not built")
    packets = [frame(ETHERNET, tcp_packet("10.0.0.1", "10.0.0.2", 1, 104, i, 0, payload=bytes(1400)))
               for i in range(4000)]           # 6 MB: read() has not read it all either when it is cut
    data = pcap_bytes([(i * NS, p) for i, p in enumerate(packets)])
    root = str(Path(__file__).resolve().parent.parent)
    for env, code in (({}, 2), ({"DICOMSNIFF_NO_MMAP": "1"}, 0)):
        path = tmp_path / "cut.pcap"
        path.write_bytes(data)
        run = subprocess.run([sys.executable, "-c", TRUNCATE_WHILE_READING, str(path)], capture_output=True,
                             text=True, timeout=120, cwd=root, env={**os.environ, **env, "PYTHONPATH": root})
        assert run.returncode == code, (run.returncode, run.stderr)
        if code:
            assert run.stderr.splitlines() == ["dicomsniff: a capture file was cut short while it was read (SIGBUS "
                                               "on its mapped pages); DICOMSNIFF_NO_MMAP=1 reads capture files "
                                               "without mapping them"]
        else:
            assert run.stdout.startswith("frames ") and "truncated-record" in run.stdout, run.stdout
