#!/usr/bin/env python3
"""Does ``dicomsniff export-objects`` keep memory bounded on one huge object? (issue 6)

Builds, once, a capture holding one association with one C-STORE of a data set
of SIZE bytes (implicit VR LE, pixel data sent in P-DATA PDUs of ``--pdu`` bytes,
the TCP stream cut into ``--mss``-byte segments regardless of PDU boundaries, as
on a real link), cached outside the repository with the data set's SHA-256 beside
it. Then runs ``dicomsniff export-objects`` under ``/usr/bin/time -v``, prints
wall time and peak RSS, and checks the exported data set's SHA-256.

    python bench/export_big_object.py                        # 2 GiB, MSS 65483 (loopback)
    python bench/export_big_object.py --sizes-mb 256,2048 --mss 1448
    python bench/export_big_object.py --delete                # remove the capture afterwards

Several sizes show whether the peak grows with the object (it should not).
The capture is synthetic (tests/capwriter.py packets, tests/pdu_fixtures.py PDUs):
making a 2 GB one with DCMTK needs a 2 GB file and tcpdump with no drops, and
the exporter sees the same bytes either way.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from capwriter import ACK, ETHERNET, FIN, PSH, SYN, frame, pcap_bytes, tcp_packet  # noqa: E402
from pdu_fixtures import (COMMAND, CT_STORAGE, DATA, IMPLICIT_LE, LAST, assoc_ac, assoc_rq, pdata,  # noqa: E402
                          release_rp, release_rq)

RECIPE = 2                  # bump when the capture layout changes: cached captures are rebuilt
PORT = 11112
INSTANCE = "1.2.826.0.1.3680043.8.498.4242.77.1"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dicomsniff-bench"


def element(group: int, elem: int, value: bytes) -> bytes:
    """An Implicit VR Little Endian element, padded to even length (PS3.5 §7.1.3)."""
    value += b"\x00" * (len(value) % 2)
    return struct.pack("<HHI", group, elem, len(value)) + value


def store_rq() -> bytes:
    """C-STORE-RQ command set (PS3.7 §9.3.1.1), implicit VR LE like every command set."""
    body = (element(0, 0x0002, CT_STORAGE.encode()) + element(0, 0x0100, b"\x01\x00")
            + element(0, 0x0110, b"\x01\x00") + element(0, 0x0700, b"\x00\x00")
            + element(0, 0x0800, b"\x00\x00") + element(0, 0x1000, INSTANCE.encode()))
    return element(0, 0, struct.pack("<I", len(body))) + body


def store_rsp() -> bytes:
    """C-STORE-RSP, status Success (PS3.7 §9.3.1.2)."""
    body = (element(0, 0x0002, CT_STORAGE.encode()) + element(0, 0x0100, b"\x01\x80")
            + element(0, 0x0120, b"\x01\x00") + element(0, 0x0800, b"\x01\x01")
            + element(0, 0x0900, b"\x00\x00") + element(0, 0x1000, INSTANCE.encode()))
    return element(0, 0, struct.pack("<I", len(body))) + body


class Writer:
    """One TCP conversation appended to an open pcap file, segment by segment."""

    def __init__(self, f, mss: int):
        self.f, self.mss = f, mss
        self.c, self.s = ("10.0.0.1", 40000), ("10.0.0.2", PORT)
        self.seq = {True: 1000, False: 5000}
        self.ts = 1_700_000_000 * 10**9
        self.frames = 0
        self.pending = bytearray()          # client bytes not yet cut into segments
        self._packet(True, SYN, b"")
        self.seq[True] += 1
        self._packet(False, SYN | ACK, b"")
        self.seq[False] += 1
        self._packet(True, ACK, b"")

    def _packet(self, from_client: bool, flags: int, payload: bytes) -> None:
        (src, sport), (dst, dport) = (self.c, self.s) if from_client else (self.s, self.c)
        pkt = frame(ETHERNET, tcp_packet(src, dst, sport, dport, seq=self.seq[from_client],
                                         ack=self.seq[not from_client], flags=flags, payload=payload))
        self.ts += 10_000
        self.f.write(struct.pack("<IIII", self.ts // 10**9, self.ts % 10**9 // 1000, len(pkt), len(pkt)))
        self.f.write(pkt)
        self.seq[from_client] += len(payload)
        self.frames += 1

    def client(self, data: bytes, flush: bool = False) -> None:
        """Queue client bytes; full segments go out now, the rest when ``flush``."""
        self.pending += data
        n = len(self.pending) if flush else len(self.pending) - len(self.pending) % self.mss
        view = memoryview(self.pending)
        for i in range(0, n, self.mss):
            self._packet(True, PSH | ACK, bytes(view[i:min(i + self.mss, n)]))
        view.release()
        del self.pending[:n]

    def server(self, data: bytes) -> None:
        self.client(b"", flush=True)
        for i in range(0, len(data), self.mss):
            self._packet(False, PSH | ACK, data[i:i + self.mss])

    def close(self) -> None:
        self.client(b"", flush=True)
        for side in (True, False):
            self._packet(side, FIN | ACK, b"")
            self.seq[side] += 1


def build(cap: Path, size: int, mss: int, pdu: int) -> dict:
    """Write the capture; returns its facts (the data set's SHA-256 among them)."""
    block = random.Random(6).randbytes(1 << 20)         # deterministic, incompressible pixels
    head = (element(0x0008, 0x0016, CT_STORAGE.encode()) + element(0x0008, 0x0018, INSTANCE.encode())
            + element(0x0010, 0x0010, b"BIG^OBJECT") + element(0x0028, 0x0010, struct.pack("<H", 1))
            + struct.pack("<HHI", 0x7FE0, 0x0010, size))
    digest = hashlib.sha256(head)
    room = pdu - 6                                       # PDV value per PDU (item header: 4 + 2)
    tmp = cap.with_suffix(".tmp")
    t0 = time.monotonic()
    with tmp.open("wb", buffering=1 << 20) as f:
        f.write(pcap_bytes([], ETHERNET))
        w = Writer(f, mss)
        w.client(assoc_rq("BIGSCU", "BIGSCP", [(1, CT_STORAGE, [IMPLICIT_LE])], max_pdu=pdu), flush=True)
        w.server(assoc_ac("BIGSCU", "BIGSCP", [(1, 0, IMPLICIT_LE)], max_pdu=pdu))
        w.client(pdata([(1, COMMAND | LAST, store_rq())]), flush=True)
        w.client(pdata([(1, DATA, head)]))
        sent, pos, pdus = 0, 0, 1
        while sent < size:
            n = min(room, size - sent)
            chunk = block[pos:pos + n]
            if len(chunk) < n:
                chunk += block[:n - len(chunk)]
            pos = (pos + n + 4099) % len(block)          # shift so blocks do not repeat exactly
            digest.update(chunk)
            sent += n
            w.client(pdata([(1, DATA | (LAST if sent == size else 0), chunk)]))
            pdus += 1
        w.server(pdata([(1, COMMAND | LAST, store_rsp())]))
        w.client(release_rq(), flush=True)
        w.server(release_rp())
        w.close()
    tmp.replace(cap)
    return {"recipe": RECIPE, "size": size, "mss": mss, "pdu": pdu, "pdus": pdus, "frames": w.frames,
            "capture_bytes": cap.stat().st_size, "sha256": digest.hexdigest(),
            "build_seconds": round(time.monotonic() - t0, 1)}


def cached(size: int, mss: int, pdu: int, cache: Path) -> tuple[Path, dict]:
    cache.mkdir(parents=True, exist_ok=True)
    cap = cache / f"export-big-{size >> 20}m-mss{mss}-pdu{pdu}.pcap"
    facts_path = cap.with_suffix(".json")
    if cap.exists() and facts_path.exists():
        facts = json.loads(facts_path.read_text())
        if facts.get("recipe") == RECIPE:
            return cap, facts
    print(f"building {cap} ({size >> 20} MiB object) ...", file=sys.stderr, flush=True)
    facts = build(cap, size, mss, pdu)
    facts_path.write_text(json.dumps(facts, indent=1) + "\n")
    return cap, facts


def data_set_sha256(path: Path) -> str:
    """SHA-256 of what follows the file meta (its length is in (0002,0000) at offset 140)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        head = f.read(144)
        f.seek(144 + struct.unpack_from("<I", head, 140)[0])
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def measure(cap: Path, facts: dict, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    exe = shutil.which("dicomsniff") or sys.exit("dicomsniff not on PATH (pip install -e .)")
    argv = ["/usr/bin/time", "-v", exe, "export-objects", str(cap), str(out), "--port", str(PORT)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        sys.exit(f"export-objects failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", proc.stderr).group(1)
    seconds = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall.split(":"))))
    files = sorted(out.iterdir())
    ok = len(files) == 1 and data_set_sha256(files[0]) == facts["sha256"]
    return {"object_mib": facts["size"] >> 20, "mss": facts["mss"], "frames": facts["frames"],
            "capture_mb": facts["capture_bytes"] / 1e6, "seconds": seconds, "peak_rss_mb": rss_kb / 1024,
            "mb_per_s": facts["capture_bytes"] / 1e6 / seconds, "sha256_ok": ok,
            "summary": proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes-mb", default="2048", help="object sizes in MiB, comma-separated (default 2048)")
    ap.add_argument("--mss", type=int, default=65483, help="TCP payload per frame (65483: loopback; 1448: Ethernet)")
    ap.add_argument("--pdu", type=int, default=16384, help="P-DATA-TF PDU size (DCMTK's default max PDU)")
    ap.add_argument("--cache", type=Path, default=CACHE, help=f"where captures are kept (default {CACHE})")
    ap.add_argument("--delete", action="store_true", help="delete each capture after measuring it")
    args = ap.parse_args()
    rows = []
    for mb in (int(s) for s in args.sizes_mb.split(",")):
        cap, facts = cached(mb << 20, args.mss, args.pdu, args.cache)
        out = args.cache / "export-big-out"
        try:
            rows.append(measure(cap, facts, out))
        finally:
            shutil.rmtree(out, ignore_errors=True)
            if args.delete:
                cap.unlink(missing_ok=True)
                cap.with_suffix(".json").unlink(missing_ok=True)
        r = rows[-1]
        print(f"{r['object_mib']:>6} MiB object, MSS {r['mss']}, {r['frames']:,} frames, {r['capture_mb']:.0f} MB "
              f"capture: {r['seconds']:.1f} s ({r['mb_per_s']:.0f} MB/s), peak RSS {r['peak_rss_mb']:.0f} MB, "
              f"SHA-256 {'ok' if r['sha256_ok'] else 'MISMATCH'}", flush=True)
    return 0 if all(r["sha256_ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
