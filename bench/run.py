#!/usr/bin/env python3
"""Benchmark dicomsniff against tshark on large, real DICOM captures (issue 8).

    python bench/run.py [--cache DIR] [--size-gb 1] [--small-pdus 100000]
                        [--only NAME[,NAME]] [--skip-build] [--repeat N] [--list]

1. Builds, once, captures of real DICOM traffic between DCMTK peers and caches
   them outside the repository (default ~/.cache/dicomsniff-bench):

   store-<N>g-mtu1500   >= N GB of C-STORE (storescu -> storescp --ignore), 6
                        associations (some in parallel), objects from 64 KB to
                        30 MB, CT/MR, five transfer syntaxes; loopback MTU 1500
                        with GSO off, so frames look like Ethernet ones.
   store-<N>g-mtu65536  the same traffic on a loopback of MTU 65536 (big frames).
   small-pdus           >= --small-pdus PDUs of C-ECHO and worklist C-FIND
                        (echoscu/findscu --repeat -> wlmscpfs), MTU 1500.

   Every capture is made inside a network namespace created for the purpose
   (its own loopback, so the host's lo and anyone else's traffic are left
   alone; the namespace is deleted afterwards), with
   ``tcpdump -i lo -s 0 -w FILE 'tcp port P'``; a capture with packets dropped
   by the kernel is refused.  FILE.json beside each capture says how it was made.

2. Measures, for each capture, the wall time and the peak RSS
   (``/usr/bin/time -v``) of

   cat                     cat FILE > /dev/null      (after one warm-up read)
   tshark                  tshark -r FILE -d tcp.port==P,dicom -Y dicom
                                  -T fields -e dicom.pdu.type > /dev/null
   dicomsniff summary      dicomsniff summary FILE --port P > /dev/null
   dicomsniff export       dicomsniff export FILE -o /dev/null --jsonl --no-trees --port P
   dicomsniff export-objects  dicomsniff export-objects FILE OUTDIR --port P
                           (only when the command exists; OUTDIR deleted after)

3. Prints a table (MB/s, speed-up over tshark, time relative to cat, peak RSS)
   and writes the results as JSON to the cache directory and to
   bench/results.json.

Needs root (tcpdump, ip netns), DCMTK, tcpdump, tshark, /usr/bin/time
(Debian package ``time``), pydicom and numpy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DCMTK_BIN = Path(os.environ.get("DCMTK_BIN", "/usr/bin"))  # pynetdicom installs scripts with the same names
TCPDUMP = shutil.which("tcpdump", path="/usr/sbin:/usr/bin:/sbin:/bin") or "tcpdump"
TIME = "/usr/bin/time"
RECIPE = 4  # bump when the way captures are made changes: cached ones are then rebuilt

# DCMTK writes a PDU header and its body in two send() calls; with Nagle on, each small PDU
# then waits for a delayed ACK (40 ms).  DCMTK reads TCP_NODELAY from the environment.
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}

STORE_PORT = 11112
SMALL_PORT = 11113
MB = 1_000_000

LOG = print


def dcmtk(tool: str) -> str:
    return str(DCMTK_BIN / tool)


# --------------------------------------------------------------------------
# processes: every wait bounded, every process killed on the way out
# --------------------------------------------------------------------------


class Procs:
    """Processes started for one capture; stop_all() ends them (their whole process group)."""

    def __init__(self, logdir: Path, prefix: list[str]):
        self.logdir = logdir
        self.prefix = prefix  # e.g. ["ip", "netns", "exec", NS]
        self.procs: list[tuple[subprocess.Popen, object]] = []

    def start(self, name: str, argv: list) -> subprocess.Popen:
        argv = self.prefix + [str(a) for a in argv]
        log = open(self.logdir / f"{name}.log", "wb")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, env=DCMTK_ENV)
        self.procs.append((p, log))
        return p

    @staticmethod
    def stop(p: subprocess.Popen, sig=signal.SIGTERM, timeout=10.0) -> None:
        if p.poll() is not None:
            return
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(10)

    def wait_all(self, ps: list[subprocess.Popen], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        for p in ps:
            try:
                rc = p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"{what}: still running after {timeout:.0f} s")
            if rc != 0:
                raise RuntimeError(f"{what}: exit code {rc} (logs in {self.logdir})")

    def stop_all(self) -> None:
        for p, log in reversed(self.procs):
            self.stop(p)
            log.close()
        self.procs.clear()


def run(argv: list, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], check=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, capture_output=True, **kw)


@contextmanager
def namespace(mtu: int):
    """A fresh network namespace whose loopback has this MTU (GSO off below 65536).

    Yields the command prefix that runs a program inside it.  The host's lo is
    never touched; the namespace is deleted on the way out.
    """
    name = f"dsbench{os.getpid()}"
    run(["ip", "netns", "add", name])
    try:
        ns = ["ip", "netns", "exec", name]
        run(ns + ["ip", "link", "set", "dev", "lo", "up", "mtu", mtu])
        if mtu < 65536:
            # Without this the kernel hands tcpdump 64 KB GSO super-frames whatever the MTU.
            run(ns + ["ip", "link", "set", "dev", "lo", "gso_max_segs", "1", "gso_max_size", mtu])
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", name], timeout=30, capture_output=True)


def wait_listening(ns: list[str], port: int, proc: subprocess.Popen, timeout=15.0) -> None:
    """Wait for a listening socket (read from /proc, so no probe connection is captured)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = run(ns + ["cat", "/proc/net/tcp", "/proc/net/tcp6"]).stdout.decode()
        for line in out.splitlines()[1:]:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A" and parts[1].endswith(f":{port:04X}"):
                return
        if proc.poll() is not None:
            raise RuntimeError(f"server for port {port} exited with {proc.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on port {port} after {timeout:.0f} s")


@contextmanager
def tcpdump(procs: Procs, pcap: Path, port: int, stats: dict):
    """Capture 'tcp port P' on the namespace's lo into pcap while the block runs."""
    if pcap.exists():
        pcap.unlink()
    err = procs.logdir / "tcpdump.log"
    # A 1 GiB kernel buffer and the highest priority: on a busy 2-core machine a smaller buffer drops
    # packets of a 1 GB transfer at MTU 1500, and a capture with drops is refused.
    p = procs.start("tcpdump", ["nice", "-n", "-19", TCPDUMP, "-i", "lo", "-n", "-B", "1048576", "-s", "0",
                                "-Z", "root", "-w", pcap, f"tcp port {port}"])
    try:
        deadline = time.monotonic() + 15
        while b"listening on" not in err.read_bytes():
            if p.poll() is not None:
                raise RuntimeError(f"tcpdump exited: {err.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError("tcpdump did not start listening within 15 s")
            time.sleep(0.05)
        time.sleep(0.3)
        yield
        time.sleep(1.0)  # the last FIN/ACKs
        # tcpdump writes what its (1 GiB) buffer holds some time after the peers are done, 64 KB frames above all:
        # stopped before that, the capture ends in the middle of the last associations (no drop is counted)
        size, still, deadline = -1, 0, time.monotonic() + 120
        while still < 5 and time.monotonic() < deadline:
            now = pcap.stat().st_size if pcap.exists() else 0
            still = still + 1 if now == size else 0
            size = now
            time.sleep(0.2)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                Procs.stop(p, signal.SIGKILL)
    text = err.read_text()
    m_cap = re.search(r"(\d+) packets? captured", text)
    m_drop = re.search(r"(\d+) packets? dropped by kernel", text)
    if m_cap is None or m_drop is None:
        raise RuntimeError(f"tcpdump gave no statistics: {text}")
    stats["frames"] = int(m_cap.group(1))
    stats["dropped"] = int(m_drop.group(1))
    if stats["dropped"]:
        raise RuntimeError(f"tcpdump dropped {stats['dropped']} packets; capture refused")


# --------------------------------------------------------------------------
# test objects: pydicom + numpy, deterministic
# --------------------------------------------------------------------------

UID_ROOT = "1.2.826.0.1.3680043.8.498.4243"  # pydicom's org root + an arc used only by the benchmark
KB = 1024


def object_plan(total_bytes: int) -> list[dict]:
    """Sizes log-uniform in [64 KB, 30 MB] (seeded), until their sum reaches total_bytes.

    Transfer syntaxes: mostly explicit/implicit VR little endian, some big
    endian; deflated and RLE only for small objects (their encoders are slow).
    """
    import numpy as np
    from pydicom.uid import (DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian,
                             ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless)
    rng = np.random.default_rng(8)
    plan, total, i = [], 0, 0
    lo, hi = math.log(64 * KB), math.log(30 * KB * KB)
    while total < total_bytes:
        size = int(math.exp(rng.uniform(lo, hi)))
        roll = rng.uniform()
        if size <= 1024 * KB and roll < 0.12:
            ts = RLELossless
        elif size <= 4 * KB * KB and roll < 0.25:
            ts = DeflatedExplicitVRLittleEndian
        elif roll < 0.35:
            ts = ExplicitVRBigEndian
        elif roll < 0.6:
            ts = ImplicitVRLittleEndian
        else:
            ts = ExplicitVRLittleEndian
        if ts == RLELossless:
            size = min(size, 256 * 256 * 2)
        cols = 512 if size < 4 * KB * KB else 2048
        rows = max(16, size // (2 * cols))
        plan.append({"n": i, "modality": "CT" if i % 3 else "MR", "ts": str(ts), "rows": rows, "cols": cols})
        total += rows * cols * 2
        i += 1
    return plan


def write_object(spec: dict, directory: Path) -> Path:
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, RLELossless

    n, rows, cols, ts = spec["n"], spec["rows"], spec["cols"], UID(spec["ts"])
    ct = spec["modality"] == "CT"
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2" if ct else "1.2.840.10008.5.1.4.1.1.4"
    ds.SOPInstanceUID = f"{UID_ROOT}.2.{n + 1}"
    ds.StudyDate = ds.ContentDate = "20240105"
    ds.StudyTime = ds.ContentTime = "120000"
    ds.AccessionNumber = "BENCH0001"
    ds.Modality = spec["modality"]
    ds.Manufacturer = "dicomsniff-bench"
    ds.PatientName = "BENCH^MARK"
    ds.PatientID = "BENCH001"
    ds.StudyInstanceUID = f"{UID_ROOT}.1"
    ds.SeriesInstanceUID = f"{UID_ROOT}.1.{1 if ct else 2}"
    ds.SeriesNumber = 1 if ct else 2
    ds.InstanceNumber = n + 1
    ds.SeriesDescription = f"bench {ts.name}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if ct:
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    # A smooth pattern plus noise: deflate and RLE have something to do, but not everything.
    r = np.arange(rows, dtype=np.uint32).reshape(-1, 1)
    c = np.arange(cols, dtype=np.uint32).reshape(1, -1)
    noise = np.random.default_rng(n).integers(0, 16, size=(rows, cols), dtype=np.uint32)
    arr = ((r * 3 + c * 5 + n * 101 + noise) % 4096).astype(np.uint16)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.ImplementationClassUID = f"{UID_ROOT}.0.1"
    ds.file_meta = meta
    if ts == RLELossless:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = arr.tobytes()
        ds["PixelData"].VR = "OW"
        ds.compress(RLELossless, arr, encoding_plugin="pydicom", generate_instance_uid=False)
    else:
        meta.TransferSyntaxUID = ts
        ds.PixelData = arr.astype(">u2" if ts == ExplicitVRBigEndian else "<u2").tobytes()
        ds["PixelData"].VR = "OW"
    path = directory / f"obj{n:04d}.dcm"
    ts = ds.file_meta.TransferSyntaxUID
    ds.save_as(path, enforce_file_format=True, implicit_vr=ts.is_implicit_VR,
               little_endian=ts.is_little_endian)
    return path


# --------------------------------------------------------------------------
# the captures
# --------------------------------------------------------------------------


STORESCU_CFG = """\
[[TransferSyntaxes]]
[Implicit]
TransferSyntax1 = LittleEndianImplicit
[ExplicitLE]
TransferSyntax1 = LittleEndianExplicit
[ExplicitBE]
TransferSyntax1 = BigEndianExplicit
[Deflated]
TransferSyntax1 = DeflatedLittleEndianExplicit
[RLE]
TransferSyntax1 = RLELossless
[[PresentationContexts]]
[Bench]
""" + "".join(f"PresentationContext{i * 5 + j + 1} = {sop}\\{ts}\n"
              for i, sop in enumerate(["CTImageStorage", "MRImageStorage"])
              for j, ts in enumerate(["Implicit", "ExplicitLE", "ExplicitBE", "Deflated", "RLE"])) + """\
[[Profiles]]
[Bench]
PresentationContexts = Bench
"""


def build_store(pcap: Path, size_gb: float, mtu: int, work: Path) -> dict:
    """>= size_gb GB of C-STORE: 6 storescu associations (waves 1, 2 parallel, 1, 2 parallel)."""
    objdir = work / "objects"
    objdir.mkdir(parents=True, exist_ok=True)
    plan = object_plan(int(size_gb * 1e9 * 1.03))  # headers and PDU overhead are not in the sum
    LOG(f"  writing {len(plan)} objects to {objdir} ...")
    files = [write_object(spec, objdir) for spec in plan]
    sizes = [f.stat().st_size for f in files]
    runs = [files[i::6] for i in range(6)]
    cfg = work / "storescu.cfg"
    cfg.write_text(STORESCU_CFG)
    waves = [[0], [1, 2], [3], [4, 5]]
    pdus = [16384, 16384, 65536, 16384, 131072, 32768]  # storescu's own max PDU (what it receives)
    logdir = work / "logs"
    logdir.mkdir(exist_ok=True)
    commands = []
    stats: dict = {}
    t0 = time.monotonic()
    with namespace(mtu) as ns:
        procs = Procs(logdir, ns)
        try:
            scp = procs.start("storescp", [dcmtk("storescp"), "--fork", "--ignore", "+xa",
                                           "-aet", "BENCHSCP", STORE_PORT])
            commands.append(f"storescp --fork --ignore +xa -aet BENCHSCP {STORE_PORT}")
            wait_listening(ns, STORE_PORT, scp)
            with tcpdump(procs, pcap, STORE_PORT, stats):
                for wave in waves:
                    ps = []
                    for i in wave:
                        argv = [dcmtk("storescu"), "-xf", cfg, "Bench", "-aet", f"BENCHSCU{i + 1}", "-aec", "BENCHSCP",
                                "-pdu", pdus[i], "127.0.0.1", STORE_PORT] + runs[i]
                        commands.append(f"storescu -xf storescu.cfg Bench -aet BENCHSCU{i + 1} -aec BENCHSCP -pdu {pdus[i]} "
                                        f"127.0.0.1 {STORE_PORT} <{len(runs[i])} objects>")
                        ps.append(procs.start(f"storescu{i + 1}", argv))
                    procs.wait_all(ps, 1200, "storescu")
        finally:
            procs.stop_all()
    shutil.rmtree(objdir, ignore_errors=True)
    return {
        "kind": "c-store",
        "port": STORE_PORT,
        "mtu": mtu,
        "objects": len(files),
        "object_bytes": sum(sizes),
        "object_sizes_min_max": [min(sizes), max(sizes)],
        "transfer_syntaxes": sorted({s["ts"] for s in plan}),
        "associations": 6,
        "commands": commands,
        "environment": "TCP_NODELAY=1",
        "storescu_cfg": STORESCU_CFG,
        "build_seconds": round(time.monotonic() - t0, 1),
        **stats,
    }


WORKLIST = [("wl1", "DOE^JOHN", "WL0001", "CT"), ("wl2", "ROE^JANE", "WL0002", "CT"),
            ("wl3", "POE^EDGAR", "WL0003", "MR")]


def make_worklist(db: Path) -> None:
    wl = db / "WLMSCP"
    wl.mkdir(parents=True, exist_ok=True)
    (wl / "lockfile").write_bytes(b"")
    for name, pn, pid, mod in WORKLIST:
        dump = wl / f"{name}.dump"
        dump.write_text(
            f"(0008,0005) CS [ISO_IR 100]\n(0008,0050) SH [ACC{pid}]\n(0008,0090) PN [REF^DOC]\n"
            f"(0010,0010) PN [{pn}]\n(0010,0020) LO [{pid}]\n(0010,0030) DA [19700101]\n"
            f"(0010,0040) CS [O]\n(0020,000d) UI [{UID_ROOT}.9.{pid[-1]}]\n"
            f"(0032,1060) LO [Scheduled {mod} exam]\n"
            "(0040,0100) SQ\n(fffe,e000) -\n"
            f"(0008,0060) CS [{mod}]\n(0040,0001) AE [{mod}01]\n(0040,0002) DA [20240105]\n"
            f"(0040,0003) TM [080000]\n(0040,0006) PN [PERF^PHYS]\n(0040,0007) LO [{mod} step]\n"
            f"(0040,0009) SH [SPS{pid[-1]}]\n(0040,0010) SH [STATION_{mod}01]\n(0040,0011) SH [ROOM1]\n"
            f"(fffe,e00d) -\n(fffe,e0dd) -\n(0040,1001) SH [RP{pid[-1]}]\n(0040,1003) SH [ROUTINE]\n")
        run([dcmtk("dump2dcm"), "-q", "-g", dump, wl / f"{name}.wl"])
        dump.unlink()


def count_pdus(pcap: Path, port: int) -> int:
    """DICOM PDUs in a capture, as tshark counts them (one value per PDU in dicom.pdu.type)."""
    out = subprocess.run(["tshark", "-r", str(pcap), "-d", f"tcp.port=={port},dicom", "-Y", "dicom",
                          "-T", "fields", "-e", "dicom.pdu.type"],
                         capture_output=True, timeout=1800, check=True).stdout.decode()
    return sum(len(line.split(",")) for line in out.splitlines() if line.strip())


def build_small(pcap: Path, n_pdus: int, work: Path) -> dict:
    """>= n_pdus PDUs: echoscu --repeat (2 PDUs each) and findscu -W --repeat (9 PDUs each), on wlmscpfs."""
    db = work / "wlmdb"
    make_worklist(db)
    # Half the PDUs from C-ECHO (2 per echo), half from C-FIND (request command + identifier,
    # 3 matches x (command + identifier), final response: 9 PDUs), 2 associations each, in parallel.
    echoes = math.ceil(n_pdus * 0.5 / 2 / 2 * 1.05)
    finds = math.ceil(n_pdus * 0.5 / 9 / 2 * 1.05)
    keys = ["PatientName", "PatientID", "AccessionNumber", "(0040,0100)[0].Modality",
            "(0040,0100)[0].ScheduledStationAETitle", "(0040,0100)[0].ScheduledProcedureStepStartDate"]
    logdir = work / "logs"
    logdir.mkdir(exist_ok=True)
    stats: dict = {}
    t0 = time.monotonic()
    commands = [f"wlmscpfs -dfp WLMDB {SMALL_PORT}"]
    with namespace(1500) as ns:
        procs = Procs(logdir, ns)
        try:
            scp = procs.start("wlmscpfs", [dcmtk("wlmscpfs"), "-dfp", db, SMALL_PORT])
            wait_listening(ns, SMALL_PORT, scp)
            with tcpdump(procs, pcap, SMALL_PORT, stats):
                ps = []
                for i in range(2):
                    ps.append(procs.start(f"echoscu{i + 1}", [
                        dcmtk("echoscu"), "--repeat", echoes, "-aet", f"ECHOSCU{i + 1}", "-aec", "WLMSCP",
                        "127.0.0.1", SMALL_PORT]))
                    argv = [dcmtk("findscu"), "-W", "--repeat", finds, "-aet", f"FINDSCU{i + 1}", "-aec", "WLMSCP"]
                    for k in keys:
                        argv += ["-k", k]
                    ps.append(procs.start(f"findscu{i + 1}", argv + ["127.0.0.1", SMALL_PORT]))
                    commands.append(f"echoscu --repeat {echoes} -aet ECHOSCU{i + 1} -aec WLMSCP 127.0.0.1 {SMALL_PORT}")
                    commands.append(f"findscu -W --repeat {finds} -aet FINDSCU{i + 1} -aec WLMSCP "
                                    + " ".join(f"-k '{k}'" for k in keys) + f" 127.0.0.1 {SMALL_PORT}")
                procs.wait_all(ps, 1200, "echoscu/findscu")
        finally:
            procs.stop_all()
    shutil.rmtree(db, ignore_errors=True)
    pdus = count_pdus(pcap, SMALL_PORT)
    if pdus < n_pdus:
        raise RuntimeError(f"{pcap.name}: only {pdus} PDUs (wanted {n_pdus})")
    return {
        "kind": "c-echo + c-find",
        "port": SMALL_PORT,
        "mtu": 1500,
        "associations": 4,
        "c_echo": 2 * echoes,
        "c_find": 2 * finds,
        "pdus_tshark": pdus,
        "commands": commands,
        "environment": "TCP_NODELAY=1",
        "build_seconds": round(time.monotonic() - t0, 1),
        **stats,
    }


def capture_specs(args) -> list[dict]:
    g = f"{args.size_gb:g}g"
    return [
        {"name": f"store-{g}-mtu1500", "build": lambda p, w: build_store(p, args.size_gb, 1500, w),
         "recipe": {"size_gb": args.size_gb, "mtu": 1500}},
        {"name": f"store-{g}-mtu65536", "build": lambda p, w: build_store(p, args.size_gb, 65536, w),
         "recipe": {"size_gb": args.size_gb, "mtu": 65536}},
        {"name": f"store-{g}-mtu1500-loss2", "build": lambda p, w: build_lossy(
            cache_of(args) / f"store-{g}-mtu1500.pcap", p, 0.02),
         "recipe": {"size_gb": args.size_gb, "mtu": 1500, "loss": 0.02, "from": f"store-{g}-mtu1500"}},
        {"name": "small-pdus", "build": lambda p, w: build_small(p, args.small_pdus, w),
         "recipe": {"small_pdus": args.small_pdus}},
    ]


def cache_of(args) -> Path:
    return Path(args.cache).expanduser()


def build_lossy(src: Path, pcap: Path, rate: float) -> dict:
    """A copy of ``src`` that lost ``rate`` of its payload segments (tests/losssim.py: a busy SPAN port)."""
    if not src.exists():
        raise RuntimeError(f"{src.name} is needed first (build it: --only {src.stem})")
    sys.path.insert(0, str(REPO / "tests"))
    import losssim
    t0 = time.monotonic()
    report = losssim.drop_segments(src, pcap, rate=rate, seed=1)
    meta = json.loads(src.with_suffix(".json").read_text())
    frames = sum(1 for _ in open_frames(pcap))
    return {"kind": meta.get("kind", "c-store"), "port": meta["port"], "mtu": meta.get("mtu"),
            "derived_from": src.name, "segments_dropped": len(report.dropped), "loss_rate": rate,
            "frames": frames, "dropped": 0, "build_seconds": round(time.monotonic() - t0, 1)}


def open_frames(pcap: Path):
    sys.path.insert(0, str(REPO))
    from dicomsniff.capture.reader import open_capture
    with open_capture(str(pcap)) as r:
        yield from r


def ensure_capture(spec: dict, cache: Path, skip_build: bool) -> dict | None:
    """The capture and its FILE.json (written last, so a half-made capture is never reused)."""
    pcap = cache / f"{spec['name']}.pcap"
    meta_path = pcap.with_suffix(".json")
    recipe = {"recipe": RECIPE, **spec["recipe"]}
    if pcap.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("recipe") == recipe:
            return meta
        LOG(f"  {pcap.name}: made by another recipe, rebuilding")
    if skip_build:
        LOG(f"  {pcap.name}: not in the cache and --skip-build given; skipped")
        return None
    LOG(f"building {pcap} ...")
    work = Path(tempfile.mkdtemp(prefix=f"{spec['name']}-", dir=cache))
    try:
        meta = spec["build"](pcap, work)
    except BaseException:
        LOG(f"  failed; logs were in {work / 'logs'}:")
        for log in sorted((work / "logs").glob("*.log")) if (work / "logs").exists() else []:
            LOG(f"  --- {log.name}\n" + log.read_text(errors="replace")[-1500:])
        pcap.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta.update(recipe=recipe, name=spec["name"], file=str(pcap), bytes=pcap.stat().st_size,
                made=dt.datetime.now().isoformat(timespec="seconds"),
                dcmtk=tool_version([dcmtk("storescu"), "--version"]),
                tcpdump=tool_version([TCPDUMP, "--version"]))
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    LOG(f"  {pcap.name}: {meta['bytes'] / MB:.0f} MB, {meta['frames']} frames, {meta['build_seconds']} s")
    return meta


# --------------------------------------------------------------------------
# measurements
# --------------------------------------------------------------------------


def dicomsniff_argv() -> list[str]:
    """The installed console script, called directly (a pyenv shim would add a bash process)."""
    for cand in (Path(sys.executable).parent / "dicomsniff", shutil.which("dicomsniff")):
        if cand and Path(cand).exists() and "shims" not in str(cand):
            return [str(cand)]
    return [sys.executable, "-m", "dicomsniff"]


def has_command(name: str) -> bool:
    r = subprocess.run(dicomsniff_argv() + ["--help"], capture_output=True, timeout=60)
    return re.search(rf"^\s+{re.escape(name)}\s", r.stdout.decode(), re.M) is not None


def tool_commands(pcap: Path, port: int, outdir: Path, with_objects: bool) -> list[tuple[str, list[str]]]:
    ds = dicomsniff_argv()
    cmds = [
        ("cat", ["cat", str(pcap)]),
        # Out-of-order reassembly on: without it tshark misses PDUs of loopback captures (issue 18).
        ("tshark", ["tshark", "-r", str(pcap), "-o", "tcp.reassemble_out_of_order:TRUE",
                    "-d", f"tcp.port=={port},dicom", "-Y", "dicom", "-T", "fields", "-e", "dicom.pdu.type"]),
        ("dicomsniff summary", ds + ["summary", str(pcap), "--port", str(port)]),
        ("dicomsniff diagnose", ds + ["diagnose", str(pcap), "--port", str(port)]),
        ("dicomsniff export --jsonl", ds + ["export", str(pcap), "-o", "/dev/null", "--jsonl", "--no-trees",
                                            "--port", str(port)]),
    ]
    if with_objects:
        cmds.append(("dicomsniff export-objects", ds + ["export-objects", str(pcap), str(outdir), "--port", str(port)]))
    return cmds


def measure(argv: list[str], timeout: float, errlog: Path, ok_codes: tuple[int, ...] = (0,)) -> dict:
    """One run under /usr/bin/time -v: wall seconds, peak RSS, exit status (stdout to /dev/null)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf, open(errlog, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen([TIME, "-v", "-o", tf.name] + argv, stdout=subprocess.DEVNULL, stderr=err,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            Procs.stop(p, signal.SIGKILL)
            return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
        wall = time.perf_counter() - t0
        text = Path(tf.name).read_text()
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    u = re.search(r"User time \(seconds\): ([\d.]+)", text)
    s = re.search(r"System time \(seconds\): ([\d.]+)", text)
    res = {"ok": rc in ok_codes, "exit": rc, "seconds": round(wall, 3),
           "peak_rss_mb": round(int(m.group(1)) / 1024, 1) if m else None,
           "user_seconds": float(u.group(1)) if u else None, "sys_seconds": float(s.group(1)) if s else None}
    if rc not in ok_codes:
        res["error"] = errlog.read_text(errors="replace")[-500:].strip()
    return res


def compile_package() -> None:
    """Write the byte code of the dicomsniff being measured, as ``pip install .`` does when it installs it.

    An editable install (``pip install -e .``, how the repository is worked on) compiles nothing, and where
    PYTHONDONTWRITEBYTECODE is set (this machine, many CI images) Python writes no ``__pycache__``
    either: every run would compile the package's sources again (~0.08 s), which no installed copy pays.
    """
    probe = subprocess.run([sys.executable, "-c", "import dicomsniff, os; print(os.path.dirname(dicomsniff.__file__))"],
                           capture_output=True, text=True, timeout=120)
    if probe.returncode == 0 and probe.stdout.strip():
        subprocess.run([sys.executable, "-m", "compileall", "-q", probe.stdout.strip()], timeout=600,
                       stdout=subprocess.DEVNULL)


def bench_capture(meta: dict, args, with_objects: bool, logdir: Path) -> list[dict]:
    pcap, port = Path(meta["file"]), meta["port"]
    subprocess.run(["cat", str(pcap)], stdout=subprocess.DEVNULL, timeout=600, check=True)  # warm-up: page cache
    compile_package()
    outdir = Path(tempfile.mkdtemp(prefix="export-objects-", dir=args.cache))
    rows = []
    try:
        for tool, argv in tool_commands(pcap, port, outdir, with_objects):
            if args.tools and not any(t in tool for t in args.tools):
                continue
            best = None
            for i in range(args.repeat):
                LOG(f"  {meta['name']}: {tool} (run {i + 1}/{args.repeat}) ...", flush=True)
                # diagnose exits 1 for warnings, 2 for errors: a finding is not a failed run
                r = measure(argv, args.timeout, logdir / f"{meta['name']}-{tool.replace(' ', '_')}.err",
                            (0, 1, 2) if tool == "dicomsniff diagnose" else (0,))
                if tool == "dicomsniff export-objects":
                    r["objects_written"] = sum(1 for f in outdir.rglob("*") if f.is_file())
                    shutil.rmtree(outdir, ignore_errors=True)
                    outdir.mkdir()
                if not r["ok"]:
                    best = r
                    break
                if best is None or r["seconds"] < best["seconds"]:
                    best = r
            LOG(f"    -> {best}")
            rows.append({"tool": tool, "capture": meta["name"], "bytes": meta["bytes"],
                         "command": " ".join(argv).replace(str(args.cache), "$CACHE"), **best})
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    by = {r["tool"]: r for r in rows if r.get("ok")}
    for r in rows:
        if r.get("ok"):
            r["mb_per_s"] = round(r["bytes"] / MB / r["seconds"], 1)
            if "tshark" in by:
                r["speedup_vs_tshark"] = round(by["tshark"]["seconds"] / r["seconds"], 2)
            if "cat" in by:
                r["time_vs_cat"] = round(r["seconds"] / by["cat"]["seconds"], 1)
    return rows


def table(rows: list[dict]) -> str:
    head = ["tool", "capture", "MB/s", "× tshark", "time / cat", "peak RSS MB", "seconds"]
    lines = [head]
    for r in rows:
        if r.get("ok"):
            vs_tshark = f"{r['speedup_vs_tshark']:.2f}" if "speedup_vs_tshark" in r and r["tool"] != "cat" else ""
            vs_cat = f"{r['time_vs_cat']:.0f}" if "time_vs_cat" in r else ""
            lines.append([r["tool"], r["capture"], f"{r['mb_per_s']:.1f}", vs_tshark, vs_cat,
                          f"{r['peak_rss_mb']:.0f}", f"{r['seconds']:.2f}"])
        else:
            lines.append([r["tool"], r["capture"], "FAILED", "", "", "", (r.get("error") or "")[:60]])
    w = [max(len(str(l[i])) for l in lines) for i in range(len(head))]
    out = ["| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(l)) + " |" for l in lines]
    out.insert(1, "|" + "|".join("-" * (x + 2) for x in w) + "|")
    return "\n".join(out)


def tool_version(argv: list[str]) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, timeout=30)
        return (r.stdout or r.stderr).decode(errors="replace").strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


def machine() -> dict:
    cpu = "?"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                   if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = next((int(l.split()[1]) // 1024 for l in Path("/proc/meminfo").read_text().splitlines()
                if l.startswith("MemTotal")), None)
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True).stdout
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_mb": mem, "kernel": platform.release(),
            "python": platform.python_version(), "tshark": tool_version(["tshark", "--version"]),
            "dicomsniff_git": rev.decode().strip() or "(no commit)"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Captures: store-<N>g-mtu1500, store-<N>g-mtu65536, small-pdus. "
                                        "See bench/README.md.",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "dicomsniff-bench",
                    help="where captures and results are kept (default: %(default)s)")
    ap.add_argument("--size-gb", type=float, default=1.0, help="size of the C-STORE captures (default: 1)")
    ap.add_argument("--small-pdus", type=int, default=100_000, help="PDUs in the small-PDU capture (default: 100000)")
    ap.add_argument("--only", default="", help="comma-separated capture names (or parts of names) to build and measure")
    ap.add_argument("--tools", default="", help="comma-separated tools (or parts: cat,tshark,summary,export) to measure")
    ap.add_argument("--skip-build", action="store_true", help="use only captures already in the cache")
    ap.add_argument("--build-only", action="store_true", help="build the captures, measure nothing")
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool; the fastest counts (default: 1)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds allowed for any one measured run")
    ap.add_argument("--no-record", action="store_true", help="do not copy the results to bench/results.json")
    ap.add_argument("--list", action="store_true", help="list the captures and exit")
    args = ap.parse_args(argv)
    args.tools = [t for t in args.tools.split(",") if t]
    args.cache = args.cache.expanduser().resolve()
    if args.cache == REPO or REPO in args.cache.parents:
        ap.error("--cache must be outside the repository")

    specs = capture_specs(args)
    if args.only:
        wanted = [w for w in args.only.split(",") if w]
        specs = [s for s in specs if any(w in s["name"] for w in wanted)]
    if args.list or not specs:
        for s in capture_specs(args):
            LOG(s["name"])
        return 0 if args.list else 2
    if not args.skip_build and os.geteuid() != 0:
        ap.error("building captures needs root (tcpdump, ip netns); use --skip-build with cached ones")
    if not Path(TIME).exists():
        ap.error(f"{TIME} is missing: apt-get install time")
    args.cache.mkdir(parents=True, exist_ok=True)

    metas = [m for m in (ensure_capture(s, args.cache, args.skip_build) for s in specs) if m]
    if args.build_only or not metas:
        return 0
    with_objects = has_command("export-objects")
    if not with_objects:
        LOG("(dicomsniff has no export-objects command yet: not measured)")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    logdir = args.cache / f"logs-{stamp}"
    logdir.mkdir()
    rows = []
    for meta in metas:
        rows += bench_capture(meta, args, with_objects, logdir)
    print()
    print(table(rows))
    result = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
              "captures": metas, "results": rows,
              "notes": "× tshark = tshark seconds / tool seconds; time / cat = tool seconds / cat seconds; "
                       "MB = 10^6 bytes of capture file; fastest of --repeat runs."}
    out = args.cache / f"results-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    LOG(f"\nresults: {out}")
    if not args.no_record:
        (HERE / "results.json").write_text(json.dumps(result, indent=2).replace(str(args.cache), "$CACHE") + "\n")
        LOG(f"record: {HERE / 'results.json'}")
    return 0 if all(r.get("ok") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
