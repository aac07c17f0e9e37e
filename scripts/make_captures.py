#!/usr/bin/env python3
"""Make real DICOM network captures on loopback, reproducibly.

Run as root (tcpdump needs it):

    python scripts/make_captures.py [--out captures/] [--only NAME[,NAME]] [--big]
                                    [--work DIR] [--keep-work] [--list] [--no-verify]

For every scenario it
  1. starts the SCP(s) (DCMTK or pynetdicom) and waits until they listen
     (read from /proc/net/tcp*, so no probe connection ends up in the capture),
  2. starts ``tcpdump -i lo -U -s 0 -w FILE 'tcp port P [or ...]'`` and waits
     until it prints "listening on",
  3. runs the SCU(s),
  4. stops tcpdump with SIGINT (pcap flushed) and then the SCPs.
Every wait has a timeout and every process is killed on any failure.

Needs: DCMTK (storescu, storescp, echoscu, findscu, movescu, getscu, dcmqrscp,
dcmqridx, wlmscpfs, dump2dcm), tcpdump, pydicom, pynetdicom, numpy.
DCMTK binaries are called by absolute path (/usr/bin) because pynetdicom
installs console scripts with the same names (storescu, echoscu, ...).

Test objects come from scripts/testobjects.py (deterministic).  Facts about
each capture (AE titles, commands, statuses, query keys, objects) are written
to OUT/manifest.json; scripts/verify_captures.py checks them with tshark.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import testobjects  # noqa: E402

DCMTK_BIN = Path(os.environ.get("DCMTK_BIN", "/usr/bin"))
TCPDUMP = shutil.which("tcpdump", path="/usr/sbin:/usr/bin:/sbin:/bin") or "tcpdump"

PROC_TIMEOUT = 60  # seconds for any SCU run
LISTEN_TIMEOUT = 10

LOG = print


def dcmtk(tool: str) -> str:
    return str(DCMTK_BIN / tool)


# --------------------------------------------------------------------------
# process handling
# --------------------------------------------------------------------------


class Procs:
    """Background processes of one scenario; all are stopped in stop_all()."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.procs: list[tuple[str, subprocess.Popen, object]] = []

    def start(self, name: str, argv: list[str], cwd=None) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "wb")
        LOG(f"    $ {' '.join(map(str, argv))} &")
        p = subprocess.Popen(
            [str(a) for a in argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
        )
        self.procs.append((name, p, log))
        return p

    @staticmethod
    def stop(p: subprocess.Popen, sig=signal.SIGTERM, timeout=5.0) -> None:
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)

    def stop_all(self) -> None:
        for _name, p, log in reversed(self.procs):
            self.stop(p)
            log.close()
        self.procs.clear()

    def run(self, name: str, argv: list[str], timeout=PROC_TIMEOUT, ok_codes=(0,), cwd=None) -> int:
        """Run an SCU in the foreground (bounded); returns its exit code."""
        LOG(f"    $ {' '.join(map(str, argv))}")
        with open(self.logdir / f"{name}.log", "wb") as log:
            p = subprocess.Popen(
                [str(a) for a in argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                start_new_session=True,
            )
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.stop(p, signal.SIGKILL)
                raise RuntimeError(f"{name}: timed out after {timeout}s")
        if ok_codes is not None and rc not in ok_codes:
            raise RuntimeError(
                f"{name}: exit code {rc}, see {self.logdir / (name + '.log')}"
            )
        return rc


def listening_ports() -> set[int]:
    ports = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(f).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A":
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


def wait_listening(port: int, proc: subprocess.Popen | None = None, timeout=LISTEN_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port in listening_ports():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server for port {port} exited with {proc.returncode}")
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout}s")


def wait_closed(port: int, timeout=5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and port in listening_ports():
        time.sleep(0.05)


@contextmanager
def tcpdump(pcap: Path, ports: list[int], logdir: Path):
    """Capture 'tcp port P or ...' on lo into pcap while the block runs."""
    pcap.parent.mkdir(parents=True, exist_ok=True)
    if pcap.exists():
        pcap.unlink()
    flt = " or ".join(f"tcp port {p}" for p in ports)
    errlog = logdir / f"tcpdump-{pcap.stem}.log"
    argv = [TCPDUMP, "-i", "lo", "-n", "--immediate-mode", "-B", "131072", "-U", "-s", "0", "-Z", "root", "-w", str(pcap), flt]
    LOG(f"    $ {' '.join(argv[:-1])} '{flt}' &")
    with open(errlog, "wb") as err:
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while b"listening on" not in errlog.read_bytes():
            if p.poll() is not None:
                raise RuntimeError(f"tcpdump exited: {errlog.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError("tcpdump did not start listening within 10 s")
            time.sleep(0.05)
        time.sleep(0.2)
        yield
        time.sleep(1.0)  # let the last FIN/ACKs through
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                Procs.stop(p, signal.SIGKILL)
    if p.returncode not in (0, -signal.SIGINT):
        raise RuntimeError(f"tcpdump exit code {p.returncode}: {errlog.read_text()}")
    m = re.search(r"(\d+) packets? dropped by kernel", errlog.read_text())
    if m is None or int(m.group(1)) != 0:
        raise RuntimeError(f"tcpdump dropped packets (or no statistics): {errlog.read_text()}")


# --------------------------------------------------------------------------
# work directory: objects, worklist DB, Q/R DB, configs
# --------------------------------------------------------------------------

WL_AE = "WLMSCP"
QR_AE = "QRSCP"

# Worklist entries: (file, patient name, patient id, accession, modality, station AE,
#                    SPS start date, SPS start time, SPS id, requested procedure id, study uid suffix)
WORKLIST = [
    ("wl1", "DOE^JOHN", "WL0001", "ACCWL1", "CT", "CT01", "20240102", "080000", "SPS1", "RP1", 1),
    ("wl2", "ROE^JANE", "WL0002", "ACCWL2", "CT", "CT01", "20240102", "093000", "SPS2", "RP2", 2),
    ("wl3", "POE^EDGAR", "WL0003", "ACCWL3", "MR", "MR01", "20240102", "110000", "SPS3", "RP3", 3),
]


def worklist_dump(entry) -> str:
    (_f, name, pid, acc, mod, station, date, tm, spsid, rpid, suffix) = entry
    study = f"{testobjects.UID_ROOT}.9.{suffix}"
    return f"""\
(0008,0005) CS [ISO_IR 100]
(0008,0050) SH [{acc}]
(0008,0090) PN [REF^DOC]
(0010,0010) PN [{name}]
(0010,0020) LO [{pid}]
(0010,0030) DA [19700101]
(0010,0040) CS [O]
(0020,000d) UI [{study}]
(0032,1060) LO [Scheduled {mod} exam]
(0040,0100) SQ
(fffe,e000) -
(0008,0060) CS [{mod}]
(0040,0001) AE [{station}]
(0040,0002) DA [{date}]
(0040,0003) TM [{tm}]
(0040,0006) PN [PERF^PHYS]
(0040,0007) LO [{mod} scheduled step]
(0040,0009) SH [{spsid}]
(0040,0010) SH [STATION_{station}]
(0040,0011) SH [ROOM1]
(fffe,e00d) -
(fffe,e0dd) -
(0040,1001) SH [{rpid}]
(0040,1003) SH [ROUTINE]
"""


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
[Store]
PresentationContext1 = CTImageStorage\\Implicit
PresentationContext2 = MRImageStorage\\ExplicitLE
PresentationContext3 = CTImageStorage\\ExplicitBE
PresentationContext4 = MRImageStorage\\Deflated
PresentationContext5 = CTImageStorage\\RLE
[CtxReject]
PresentationContext1 = CTImageStorage\\Implicit
PresentationContext2 = CTImageStorage\\RLE
PresentationContext3 = MRImageStorage\\ExplicitLE
[[Profiles]]
[Store]
PresentationContexts = Store
[CtxReject]
PresentationContexts = CtxReject
"""


def dcmqrscp_cfg(db: Path, move_dest_port: int) -> str:
    return f"""\
# dcmqrscp configuration for dicomsniff captures (generated)
NetworkTCPPort  = 5678
MaxPDUSize      = 16384
MaxAssociations = 16

HostTable BEGIN
storescp = (STORESCP, 127.0.0.1, {move_dest_port})
HostTable END

VendorTable BEGIN
VendorTable END

AETable BEGIN
{QR_AE}   {db}   RW (100, 1024mb)   ANY
AETable END
"""


class Work:
    def __init__(self, root: Path, big: bool):
        self.root = root
        self.big = big
        self.objects_dir = root / "objects"
        self.logs = root / "logs"
        self.wlmdb = root / "WLMDB"
        self.qrdb = root / "qrdb" / QR_AE
        self.qrcfg = root / "dcmqrscp.cfg"
        self.scucfg = root / "storescu.cfg"
        self.incoming = root / "incoming"
        self.objects: dict[str, Path] = {}

    def prepare(self, move_dest_port: int) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
        for d in (self.objects_dir, self.logs, self.incoming):
            d.mkdir(parents=True)
        paths = testobjects.make_objects(self.objects_dir, big=self.big)
        self.objects = {p.stem: p for p in paths}
        self.scucfg.write_text(STORESCU_CFG)
        # worklist database WLMDB/WLMSCP/*.wl
        wl = self.wlmdb / WL_AE
        wl.mkdir(parents=True)
        (wl / "lockfile").write_bytes(b"")
        for entry in WORKLIST:
            dump = wl / f"{entry[0]}.dump"
            dump.write_text(worklist_dump(entry))
            subprocess.run([dcmtk("dump2dcm"), "-q", "-g", str(dump), str(wl / f"{entry[0]}.wl")],
                           check=True, timeout=30)
            dump.unlink()
        # Q/R database: three uncompressed objects (dcmqrscp cannot transcode RLE)
        self.qrdb.mkdir(parents=True)
        self.qrcfg.write_text(dcmqrscp_cfg(self.qrdb, move_dest_port))
        files = []
        for name in QR_OBJECTS:
            dst = self.qrdb / f"{name}.dcm"
            shutil.copy(self.objects[name], dst)
            files.append(str(dst))
        subprocess.run([dcmtk("dcmqridx"), "-q", str(self.qrdb)] + files, check=True, timeout=30)

    def log_dir(self, scenario: str) -> Path:
        d = self.logs / scenario
        d.mkdir(parents=True, exist_ok=True)
        return d


# objects held by dcmqrscp (C-MOVE / C-GET)
QR_OBJECTS = ["ct_implicit_le", "mr_explicit_le", "ct_explicit_be"]
STORE_ORDER = ["ct_implicit_le", "mr_explicit_le", "ct_explicit_be", "mr_deflated_le", "ct_rle_lossless"]


def obj_info(work: Work, name: str) -> dict:
    import pydicom

    ds = pydicom.dcmread(work.objects[name], stop_before_pixels=True)
    return {
        "name": name,
        "file": f"{name}.dcm",
        "sop_class_uid": str(ds.SOPClassUID),
        "sop_instance_uid": str(ds.SOPInstanceUID),
        "transfer_syntax_uid": str(ds.file_meta.TransferSyntaxUID),
    }


# --------------------------------------------------------------------------
# pynetdicom helpers (peers running in threads of this process)
# --------------------------------------------------------------------------


def pynet_quiet():
    import logging

    logging.getLogger("pynetdicom").setLevel(logging.WARNING)


# --------------------------------------------------------------------------
# scenarios
# --------------------------------------------------------------------------

SCENARIOS: dict[str, dict] = {}


def scenario(name: str, ports: list[int], big: bool = False):
    def deco(fn):
        SCENARIOS[name] = {"fn": fn, "ports": ports, "big": big}
        return fn

    return deco


@scenario("echo", [104])
def sc_echo(work: Work, procs: Procs, pcap: Path, ports):
    port = ports[0]
    scp = procs.start("storescp", [dcmtk("storescp"), "-v", "-aet", "STORESCP", "-od", work.incoming, port])
    wait_listening(port, scp)
    with tcpdump(pcap, ports, procs.logdir):
        procs.run("echoscu", [dcmtk("echoscu"), "-v", "-aet", "ECHOSCU", "-aec", "STORESCP", "127.0.0.1", port])
    return {
        "description": "DCMTK echoscu -> storescp (default DICOM port 104): one C-ECHO, released",
        "peers": "echoscu -> storescp (DCMTK 3.6.7)",
        "commands_run": [f"storescp -aet STORESCP -od DIR {port}", f"echoscu -aet ECHOSCU -aec STORESCP 127.0.0.1 {port}"],
        "calling_ae": "ECHOSCU", "called_ae": "STORESCP",
        "associations": [{"calling_ae": "ECHOSCU", "called_ae": "STORESCP", "result": "accepted", "end": "release"}],
        "commands": {"C-ECHO-RQ": 1, "C-ECHO-RSP": 1},
        "statuses": [0],
    }


@scenario("store", [11112])
def sc_store(work: Work, procs: Procs, pcap: Path, ports):
    port = ports[0]
    scp = procs.start("storescp", [dcmtk("storescp"), "-v", "+xa", "-aet", "STORESCP", "-od", work.incoming, port])
    wait_listening(port, scp)
    files = [work.objects[n] for n in STORE_ORDER]
    with tcpdump(pcap, ports, procs.logdir):
        procs.run("storescu", [dcmtk("storescu"), "-v", "-xf", work.scucfg, "Store",
                               "-aet", "STORESCU", "-aec", "STORESCP", "127.0.0.1", port] + files)
    return {
        "description": "DCMTK storescu -> storescp +xa: 5 C-STORE on one association, each object in "
                       "its own transfer syntax (implicit LE, explicit LE, explicit BE, deflated, RLE)",
        "peers": "storescu -> storescp (DCMTK 3.6.7)",
        "commands_run": [f"storescp +xa -aet STORESCP -od DIR {port}",
                         f"storescu -xf storescu.cfg Store -aet STORESCU -aec STORESCP 127.0.0.1 {port} "
                         + " ".join(f"{n}.dcm" for n in STORE_ORDER)],
        "storescu_cfg": STORESCU_CFG,
        "calling_ae": "STORESCU", "called_ae": "STORESCP",
        "associations": [{"calling_ae": "STORESCU", "called_ae": "STORESCP", "result": "accepted", "end": "release",
                          "presentation_contexts": [
                              {"id": 1, "abstract_syntax": "1.2.840.10008.5.1.4.1.1.2", "transfer_syntax": "1.2.840.10008.1.2", "result": 0},
                              {"id": 3, "abstract_syntax": "1.2.840.10008.5.1.4.1.1.4", "transfer_syntax": "1.2.840.10008.1.2.1", "result": 0},
                              {"id": 5, "abstract_syntax": "1.2.840.10008.5.1.4.1.1.2", "transfer_syntax": "1.2.840.10008.1.2.2", "result": 0},
                              {"id": 7, "abstract_syntax": "1.2.840.10008.5.1.4.1.1.4", "transfer_syntax": "1.2.840.10008.1.2.1.99", "result": 0},
                              {"id": 9, "abstract_syntax": "1.2.840.10008.5.1.4.1.1.2", "transfer_syntax": "1.2.840.10008.1.2.5", "result": 0},
                          ]}],
        "commands": {"C-STORE-RQ": 5, "C-STORE-RSP": 5},
        "statuses": [0, 0, 0, 0, 0],
        "tshark_known_issues": {
            "malformed": 2, "missing_commands": {"C-STORE-RSP": 2},
            "note": "tshark 4.0 mis-decodes the C-STORE-RSP command sets on the deflated and RLE presentation "
                    "contexts (reports them as malformed 'Command' PDVs); the bytes are a valid implicit-LE "
                    "C-STORE-RSP (status 0x0000), checked by verify_captures.py's own decoder"},
        "objects_sent": [obj_info(work, n) for n in STORE_ORDER],
    }


@scenario("store_big", [11113], big=True)
def sc_store_big(work: Work, procs: Procs, pcap: Path, ports):
    port = ports[0]
    scp = procs.start("storescp", [dcmtk("storescp"), "-v", "-aet", "STORESCP", "-od", work.incoming, port])
    wait_listening(port, scp)
    with tcpdump(pcap, ports, procs.logdir):
        procs.run("storescu", [dcmtk("storescu"), "-v", "-xe", "-R", "-aet", "STORESCU", "-aec", "STORESCP",
                               "127.0.0.1", port, work.objects["ct_big_20mb"]], timeout=120)
    return {
        "description": "DCMTK storescu -> storescp: one ~20 MB CT object (explicit VR LE), many P-DATA PDUs",
        "peers": "storescu -> storescp (DCMTK 3.6.7)",
        "commands_run": [f"storescp -aet STORESCP -od DIR {port}",
                         f"storescu -xe -R -aet STORESCU -aec STORESCP 127.0.0.1 {port} ct_big_20mb.dcm"],
        "calling_ae": "STORESCU", "called_ae": "STORESCP",
        "associations": [{"calling_ae": "STORESCU", "called_ae": "STORESCP", "result": "accepted", "end": "release"}],
        "commands": {"C-STORE-RQ": 1, "C-STORE-RSP": 1},
        "statuses": [0],
        "objects_sent": [obj_info(work, "ct_big_20mb")],
    }


MWL_KEYS = [
    "PatientName", "PatientID", "AccessionNumber", "StudyInstanceUID",
    "(0040,0100)[0].Modality={mod}",
    "(0040,0100)[0].ScheduledStationAETitle={station}",
    "(0040,0100)[0].ScheduledProcedureStepStartDate=20240102",
    "(0040,0100)[0].ScheduledProcedureStepStartTime",
    "(0040,0100)[0].ScheduledProcedureStepID",
    "RequestedProcedureID",
]


def mwl(work: Work, procs: Procs, pcap: Path, ports, mod: str, station: str):
    port = ports[0]
    scp = procs.start("wlmscpfs", [dcmtk("wlmscpfs"), "-v", "--single-process", "-dfp", work.wlmdb, port])
    wait_listening(port, scp)
    keys = [k.format(mod=mod, station=station) for k in MWL_KEYS]
    argv = [dcmtk("findscu"), "-v", "-W", "-aet", "FINDSCU", "-aec", WL_AE]
    for k in keys:
        argv += ["-k", k]
    argv += ["127.0.0.1", port]
    with tcpdump(pcap, ports, procs.logdir):
        procs.run("findscu", argv)
    return keys, argv


@scenario("find_mwl", [4242])
def sc_find_mwl(work: Work, procs: Procs, pcap: Path, ports):
    keys, argv = mwl(work, procs, pcap, ports, "CT", "CT01")
    matches = [e for e in WORKLIST if e[4] == "CT" and e[5] == "CT01"]
    return {
        "description": f"DCMTK findscu -W -> wlmscpfs: modality worklist C-FIND, {len(matches)} matches",
        "peers": "findscu -> wlmscpfs (DCMTK 3.6.7)",
        "commands_run": [f"wlmscpfs --single-process -dfp WLMDB {ports[0]}",
                         "findscu -W -aet FINDSCU -aec WLMSCP " + " ".join(f"-k '{k}'" for k in keys) + f" 127.0.0.1 {ports[0]}"],
        "calling_ae": "FINDSCU", "called_ae": WL_AE,
        "associations": [{"calling_ae": "FINDSCU", "called_ae": WL_AE, "result": "accepted", "end": "release"}],
        "sop_class": "1.2.840.10008.5.1.4.31",
        "query_keys": keys,
        "commands": {"C-FIND-RQ": 1, "C-FIND-RSP": len(matches) + 1},
        "statuses": [0xFF00] * len(matches) + [0],
        "matches": [{"PatientName": e[1], "PatientID": e[2], "AccessionNumber": e[3]} for e in matches],
        "worklist": [worklist_dump(e) for e in WORKLIST],
    }


@scenario("find_mwl_empty", [4243])
def sc_find_mwl_empty(work: Work, procs: Procs, pcap: Path, ports):
    keys, argv = mwl(work, procs, pcap, ports, "NM", "NM01")
    return {
        "description": "DCMTK findscu -W -> wlmscpfs: worklist C-FIND matching nothing (only the final success)",
        "peers": "findscu -> wlmscpfs (DCMTK 3.6.7)",
        "commands_run": [f"wlmscpfs --single-process -dfp WLMDB {ports[0]}",
                         "findscu -W -aet FINDSCU -aec WLMSCP " + " ".join(f"-k '{k}'" for k in keys) + f" 127.0.0.1 {ports[0]}"],
        "calling_ae": "FINDSCU", "called_ae": WL_AE,
        "associations": [{"calling_ae": "FINDSCU", "called_ae": WL_AE, "result": "accepted", "end": "release"}],
        "sop_class": "1.2.840.10008.5.1.4.31",
        "query_keys": keys,
        "commands": {"C-FIND-RQ": 1, "C-FIND-RSP": 1},
        "statuses": [0],
        "matches": [],
    }


@scenario("move", [5678, 5679])
def sc_move(work: Work, procs: Procs, pcap: Path, ports):
    port, dest = ports
    qr = procs.start("dcmqrscp", [dcmtk("dcmqrscp"), "-v", "-c", work.qrcfg, port])
    st = procs.start("storescp", [dcmtk("storescp"), "-v", "-aet", "STORESCP", "-od", work.incoming, dest])
    wait_listening(port, qr)
    wait_listening(dest, st)
    study = str(testobjects.STUDY_INSTANCE_UID)
    keys = ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"]
    kargs = sum((["-k", k] for k in keys), [])
    with tcpdump(pcap, ports, procs.logdir):
        procs.run("movescu", [dcmtk("movescu"), "-v", "-S", "-aet", "MOVESCU", "-aec", QR_AE, "-aem", "STORESCP"]
                  + kargs + ["127.0.0.1", port])
        time.sleep(0.3)
        procs.run("movescu-unknown", [dcmtk("movescu"), "-v", "-S", "-aet", "MOVESCU", "-aec", QR_AE, "-aem", "NOWHERE"]
                  + kargs + ["127.0.0.1", port], ok_codes=None)
    n = len(QR_OBJECTS)
    return {
        "description": f"DCMTK movescu -> dcmqrscp: C-MOVE of a study ({n} objects) to storescp (sub-association "
                       f"dcmqrscp -> storescp on port {dest}), then a C-MOVE to unknown AE NOWHERE (0xA801)",
        "peers": "movescu -> dcmqrscp -> storescp (DCMTK 3.6.7)",
        "commands_run": [f"dcmqrscp -c dcmqrscp.cfg {port}",
                         f"storescp -aet STORESCP -od DIR {dest}",
                         f"movescu -S -aet MOVESCU -aec QRSCP -aem STORESCP -k {keys[0]} -k {keys[1]} 127.0.0.1 {port}",
                         f"movescu -S -aet MOVESCU -aec QRSCP -aem NOWHERE -k {keys[0]} -k {keys[1]} 127.0.0.1 {port}"],
        "dcmqrscp_cfg": dcmqrscp_cfg(Path("QRDB"), dest),
        "calling_ae": "MOVESCU", "called_ae": QR_AE,
        "query_keys": keys,
        "associations": [
            {"port": port, "calling_ae": "MOVESCU", "called_ae": QR_AE, "result": "accepted", "end": "release",
             "commands": {"C-MOVE-RQ": 1, "C-MOVE-RSP": n + 1}, "statuses": [0xFF00] * n + [0]},
            {"port": dest, "calling_ae": QR_AE, "called_ae": "STORESCP", "result": "accepted", "end": "release",
             "commands": {"C-STORE-RQ": n, "C-STORE-RSP": n}, "statuses": [0] * n},
            {"port": port, "calling_ae": "MOVESCU", "called_ae": QR_AE, "result": "accepted", "end": "release",
             "commands": {"C-MOVE-RQ": 1, "C-MOVE-RSP": 1}, "statuses": [0xA801]},
        ],
        "commands": {"C-MOVE-RQ": 2, "C-MOVE-RSP": n + 2, "C-STORE-RQ": n, "C-STORE-RSP": n},
        "statuses_by_command": {"C-MOVE-RSP": [0xFF00] * n + [0, 0xA801], "C-STORE-RSP": [0] * n},
        "objects_moved": [obj_info(work, x) for x in QR_OBJECTS],
    }


@scenario("get", [5680])
def sc_get(work: Work, procs: Procs, pcap: Path, ports):
    port = ports[0]
    qr = procs.start("dcmqrscp", [dcmtk("dcmqrscp"), "-v", "-c", work.qrcfg, port])
    wait_listening(port, qr)
    study = str(testobjects.STUDY_INSTANCE_UID)
    keys = ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"]
    kargs = sum((["-k", k] for k in keys), [])
    outdir = work.root / "get-out"
    outdir.mkdir(exist_ok=True)
    with tcpdump(pcap, ports, procs.logdir):
        procs.run("getscu", [dcmtk("getscu"), "-v", "-S", "-aet", "GETSCU", "-aec", QR_AE, "-od", outdir]
                  + kargs + ["127.0.0.1", port])
    n = len(QR_OBJECTS)
    return {
        "description": f"DCMTK getscu -> dcmqrscp: C-GET of a study, {n} C-STORE sub-operations on the same "
                       "association (SCP/SCU role selection for the storage SOP classes)",
        "peers": "getscu -> dcmqrscp (DCMTK 3.6.7)",
        "commands_run": [f"dcmqrscp -c dcmqrscp.cfg {port}",
                         f"getscu -S -aet GETSCU -aec QRSCP -od DIR -k {keys[0]} -k {keys[1]} 127.0.0.1 {port}"],
        "calling_ae": "GETSCU", "called_ae": QR_AE,
        "query_keys": keys,
        "associations": [{"calling_ae": "GETSCU", "called_ae": QR_AE, "result": "accepted", "end": "release"}],
        "commands": {"C-GET-RQ": 1, "C-GET-RSP": n + 1, "C-STORE-RQ": n, "C-STORE-RSP": n},
        "responses": [("C-STORE-RSP", 0), ("C-GET-RSP", 0xFF00)] * n + [("C-GET-RSP", 0)],
        "objects_retrieved": [obj_info(work, x) for x in QR_OBJECTS],
    }


@scenario("reject", [6100])
def sc_reject(work: Work, procs: Procs, pcap: Path, ports):
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    pynet_quiet()
    port = ports[0]
    qr = procs.start("dcmqrscp", [dcmtk("dcmqrscp"), "-v", "-c", work.qrcfg, port])
    wait_listening(port, qr)
    with tcpdump(pcap, ports, procs.logdir):
        # 1. DCMTK dcmqrscp: called AE title not recognised
        procs.run("echoscu", [dcmtk("echoscu"), "-v", "-aet", "ECHOSCU", "-aec", "WRONGAE", "127.0.0.1", port],
                  ok_codes=None)
        time.sleep(0.3)
        Procs.stop(qr)
        wait_closed(port)
        # 2. pynetdicom SCP accepting only calling AE "ALLOWED"
        scp = AE(ae_title="PYNETSCP")
        scp.add_supported_context(Verification)
        scp.require_calling_aet = ["ALLOWED"]
        server = scp.start_server(("127.0.0.1", port), block=False)
        try:
            scu = AE(ae_title="INTRUDER")
            scu.add_requested_context(Verification)
            scu.acse_timeout = scu.network_timeout = 10
            assoc = scu.associate("127.0.0.1", port, ae_title="PYNETSCP")
            assert assoc.is_rejected, "pynetdicom association was not rejected"
            time.sleep(0.3)
        finally:
            server.shutdown()
        wait_closed(port)
        # 3. DCMTK wlmscpfs --refuse
        wl = procs.start("wlmscpfs", [dcmtk("wlmscpfs"), "-v", "--single-process", "--refuse", "-dfp", work.wlmdb, port])
        wait_listening(port, wl)
        procs.run("findscu", [dcmtk("findscu"), "-v", "-W", "-aet", "FINDSCU", "-aec", WL_AE,
                              "-k", "PatientName", "127.0.0.1", port], ok_codes=None)
    return {
        "description": "three rejected associations on one port: echoscu -> dcmqrscp with unknown called AE "
                       "(rejected-permanent, service-user, reason 7), pynetdicom SCU INTRUDER -> pynetdicom SCP "
                       "requiring calling AE ALLOWED (permanent, service-user, reason 3), findscu -> wlmscpfs "
                       "--refuse (rejected, service-user, reason 1 no-reason-given)",
        "peers": "echoscu -> dcmqrscp; pynetdicom 3.0.4 -> pynetdicom; findscu -> wlmscpfs",
        "commands_run": [f"dcmqrscp -c dcmqrscp.cfg {port}",
                         f"echoscu -aet ECHOSCU -aec WRONGAE 127.0.0.1 {port}",
                         "pynetdicom AE('PYNETSCP', require_calling_aet=['ALLOWED']) <- AE('INTRUDER')",
                         f"wlmscpfs --single-process --refuse -dfp WLMDB {port}",
                         f"findscu -W -aet FINDSCU -aec WLMSCP -k PatientName 127.0.0.1 {port}"],
        "calling_ae": "ECHOSCU", "called_ae": "WRONGAE",
        "associations": [
            {"calling_ae": "ECHOSCU", "called_ae": "WRONGAE", "result": "rejected",
             "reject": {"result": 1, "source": 1, "reason": 7}},
            {"calling_ae": "INTRUDER", "called_ae": "PYNETSCP", "result": "rejected",
             "reject": {"result": 1, "source": 1, "reason": 3}},
            {"calling_ae": "FINDSCU", "called_ae": WL_AE, "result": "rejected",
             "reject": {"result": 1, "source": 1, "reason": 1}},
        ],
        "commands": {},
        "statuses": [],
    }


@scenario("abort", [6200])
def sc_abort(work: Work, procs: Procs, pcap: Path, ports):
    port = ports[0]
    scp = procs.start("storescp", [dcmtk("storescp"), "-v", "-aet", "STORESCP", "-od", work.incoming, port])
    wait_listening(port, scp)
    names = ["ct_implicit_le", "mr_explicit_le"]
    with tcpdump(pcap, ports, procs.logdir):
        procs.run("storescu", [dcmtk("storescu"), "-v", "-R", "--abort", "-aet", "STORESCU", "-aec", "STORESCP",
                               "127.0.0.1", port] + [work.objects[n] for n in names])
    return {
        "description": "DCMTK storescu --abort -> storescp: 2 C-STORE, then A-ABORT (source 0 service-user) "
                       "instead of A-RELEASE",
        "peers": "storescu -> storescp (DCMTK 3.6.7)",
        "commands_run": [f"storescp -aet STORESCP -od DIR {port}",
                         f"storescu -R --abort -aet STORESCU -aec STORESCP 127.0.0.1 {port} "
                         + " ".join(f"{n}.dcm" for n in names)],
        "calling_ae": "STORESCU", "called_ae": "STORESCP",
        "associations": [{"calling_ae": "STORESCU", "called_ae": "STORESCP", "result": "accepted", "end": "abort",
                          "abort": {"source": 0, "reason": 0}}],
        "commands": {"C-STORE-RQ": 2, "C-STORE-RSP": 2},
        "statuses": [0, 0],
        "objects_sent": [obj_info(work, n) for n in names],
    }


@scenario("concurrent", [6300])
def sc_concurrent(work: Work, procs: Procs, pcap: Path, ports):
    """Three associations held open at the same time, messages interleaved."""
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage, MRImageStorage, Verification
    import pydicom

    pynet_quiet()
    port = ports[0]
    scp = procs.start("storescp", [dcmtk("storescp"), "-v", "--fork", "-aet", "STORESCP", "-od", work.incoming, port])
    wait_listening(port, scp)
    ct = pydicom.dcmread(work.objects["ct_implicit_le"])
    mr = pydicom.dcmread(work.objects["mr_explicit_le"])
    log = []
    with tcpdump(pcap, ports, procs.logdir):
        assocs = []
        try:
            for i in (1, 2, 3):
                ae = AE(ae_title=f"SCU{i}")
                ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
                ae.add_requested_context(Verification)
                ae.add_requested_context(CTImageStorage, "1.2.840.10008.1.2")
                ae.add_requested_context(MRImageStorage, "1.2.840.10008.1.2.1")
                a = ae.associate("127.0.0.1", port, ae_title="STORESCP")
                assert a.is_established, f"SCU{i} not established"
                assocs.append(a)
                time.sleep(0.1)
            a1, a2, a3 = assocs
            log.append(("SCU3", "C-ECHO", a3.send_c_echo().Status))
            log.append(("SCU1", "C-STORE", a1.send_c_store(ct).Status))
            log.append(("SCU2", "C-STORE", a2.send_c_store(mr).Status))
            log.append(("SCU1", "C-ECHO", a1.send_c_echo().Status))
            log.append(("SCU3", "C-STORE", a3.send_c_store(mr).Status))
            for a in (a2, a1, a3):
                a.release()
        finally:
            for a in assocs:
                if a.is_alive():
                    a.abort()
        time.sleep(0.3)
    assert all(s == 0 for *_x, s in log), log
    return {
        "description": "3 concurrent associations (pynetdicom SCUs SCU1..SCU3 -> DCMTK storescp --fork), all "
                       "opened before any DIMSE message, messages interleaved: SCU3 C-ECHO, SCU1 C-STORE CT, "
                       "SCU2 C-STORE MR, SCU1 C-ECHO, SCU3 C-STORE MR; released in order SCU2, SCU1, SCU3",
        "peers": "pynetdicom 3.0.4 x3 -> storescp --fork (DCMTK 3.6.7)",
        "commands_run": [f"storescp --fork -aet STORESCP -od DIR {port}", "pynetdicom (in make_captures.py)"],
        "calling_ae": "SCU1", "called_ae": "STORESCP",
        "associations": [
            {"calling_ae": "SCU1", "called_ae": "STORESCP", "result": "accepted", "end": "release",
             "commands": {"C-STORE-RQ": 1, "C-STORE-RSP": 1, "C-ECHO-RQ": 1, "C-ECHO-RSP": 1}},
            {"calling_ae": "SCU2", "called_ae": "STORESCP", "result": "accepted", "end": "release",
             "commands": {"C-STORE-RQ": 1, "C-STORE-RSP": 1}},
            {"calling_ae": "SCU3", "called_ae": "STORESCP", "result": "accepted", "end": "release",
             "commands": {"C-STORE-RQ": 1, "C-STORE-RSP": 1, "C-ECHO-RQ": 1, "C-ECHO-RSP": 1}},
        ],
        "commands": {"C-ECHO-RQ": 2, "C-ECHO-RSP": 2, "C-STORE-RQ": 3, "C-STORE-RSP": 3},
        "responses": [("C-ECHO-RSP", 0), ("C-STORE-RSP", 0), ("C-STORE-RSP", 0), ("C-ECHO-RSP", 0),
                      ("C-STORE-RSP", 0)],
        "message_order": [f"{a} {c}" for a, c, _s in log],
        "objects_sent": [obj_info(work, "ct_implicit_le"), obj_info(work, "mr_explicit_le")],
    }


PYNET_USER = ("dicomsniff", "s3cret")
PYNET_SERVER_RESPONSE = b"welcome dicomsniff"
# not a real token: header {"alg":"none"} . payload {"sub":"dicomsniff"} . no signature
PYNET_JWT = b"eyJhbGciOiJub25lIn0.eyJzdWIiOiJkaWNvbXNuaWZmIn0."


def pynet_scp(work: Work, ae_title: str):
    """pynetdicom SCP with echo, store (0xA700 for MR), find (2 pending), get (2 sub-ops)."""
    from pynetdicom import AE, evt, StoragePresentationContexts  # noqa: F401
    from pynetdicom.sop_class import (
        CTImageStorage, MRImageStorage, PatientRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelGet, Verification,
    )
    from pydicom.dataset import Dataset
    import pydicom

    mr_uid = pydicom.dcmread(work.objects["mr_explicit_le"], stop_before_pixels=True).SOPInstanceUID
    get_objs = [pydicom.dcmread(work.objects[n]) for n in ("ct_implicit_le", "mr_explicit_le")]

    def on_user_id(event):
        # PS3.7 / pynetdicom: a server response is only sent for types 3, 4, 5
        if event.user_id_type == 2:
            ok = (event.primary_field == PYNET_USER[0].encode() and event.secondary_field == PYNET_USER[1].encode())
            return ok, None
        if event.user_id_type == 5:
            ok = event.primary_field == PYNET_JWT
            return ok, (PYNET_SERVER_RESPONSE if ok else None)
        return False, None

    def on_store(event):
        return 0xA700 if event.request.AffectedSOPInstanceUID == mr_uid else 0x0000

    def on_find(event):
        for name, pid in (("FIND^FIRST", "F001"), ("FIND^SECOND", "F002")):
            if event.is_cancelled:
                return
            ds = Dataset()
            ds.QueryRetrieveLevel = "PATIENT"
            ds.PatientName = name
            ds.PatientID = pid
            yield 0xFF00, ds

    def on_get(event):
        yield len(get_objs)
        for ds in get_objs:
            yield 0xFF00, ds

    ae = AE(ae_title=ae_title)
    ae.add_supported_context(Verification)
    ae.add_supported_context(CTImageStorage, ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"], scu_role=True, scp_role=True)
    ae.add_supported_context(MRImageStorage, ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"], scu_role=True, scp_role=True)
    ae.add_supported_context(PatientRootQueryRetrieveInformationModelFind)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
    handlers = [(evt.EVT_USER_ID, on_user_id), (evt.EVT_C_STORE, on_store),
                (evt.EVT_C_FIND, on_find), (evt.EVT_C_GET, on_get)]
    return ae, handlers


@scenario("pynetdicom", [7000])
def sc_pynetdicom(work: Work, procs: Procs, pcap: Path, ports):
    from pynetdicom import AE, build_role, evt
    from pynetdicom.pdu_primitives import UserIdentityNegotiation
    from pynetdicom.sop_class import (
        CTImageStorage, MRImageStorage, PatientRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelGet, Verification,
    )
    from pydicom.dataset import Dataset
    import pydicom

    pynet_quiet()
    port = ports[0]
    scp, handlers = pynet_scp(work, "PYNETSCP")
    server = scp.start_server(("127.0.0.1", port), block=False, evt_handlers=handlers)
    got = []

    def on_store_scu(event):
        got.append(str(event.request.AffectedSOPInstanceUID))
        return 0x0000

    res = {}
    try:
        wait_listening(port)
        with tcpdump(pcap, ports, procs.logdir):
            ae = AE(ae_title="PYNETSCU")
            ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
            ae.add_requested_context(Verification)
            ae.add_requested_context(CTImageStorage, ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
            ae.add_requested_context(MRImageStorage, ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
            ae.add_requested_context(PatientRootQueryRetrieveInformationModelFind)
            ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
            uid = UserIdentityNegotiation()
            uid.user_identity_type = 2
            uid.primary_field = PYNET_USER[0].encode()
            uid.secondary_field = PYNET_USER[1].encode()
            uid.positive_response_requested = True
            roles = [build_role(CTImageStorage, scu_role=True, scp_role=True),
                     build_role(MRImageStorage, scu_role=True, scp_role=True)]
            assoc = ae.associate("127.0.0.1", port, ae_title="PYNETSCP", ext_neg=roles + [uid],
                                 evt_handlers=[(evt.EVT_C_STORE, on_store_scu)])
            assert assoc.is_established, "pynetdicom association failed"
            try:
                res["echo"] = assoc.send_c_echo().Status
                res["store_ct"] = assoc.send_c_store(work.objects["ct_implicit_le"]).Status
                res["store_mr"] = assoc.send_c_store(work.objects["mr_explicit_le"]).Status
                q = Dataset()
                q.QueryRetrieveLevel = "PATIENT"
                q.PatientName = "FIND*"
                q.PatientID = ""
                res["find"] = [s.Status for s, _i in assoc.send_c_find(q, PatientRootQueryRetrieveInformationModelFind)]
                g = Dataset()
                g.QueryRetrieveLevel = "STUDY"
                g.StudyInstanceUID = str(testobjects.STUDY_INSTANCE_UID)
                res["get"] = [s.Status for s, _i in assoc.send_c_get(g, StudyRootQueryRetrieveInformationModelGet)]
                assoc.release()
            finally:
                if assoc.is_alive():
                    assoc.abort()
            time.sleep(0.3)
    finally:
        server.shutdown()
    LOG(f"    pynetdicom results: {res}")
    assert res["echo"] == 0 and res["store_ct"] == 0 and res["store_mr"] == 0xA700, res
    assert res["find"] == [0xFF00, 0xFF00, 0], res
    assert res["get"] == [0xFF00, 0xFF00, 0], res
    return {
        "description": "pynetdicom SCU -> pynetdicom SCP on one association: user identity (type 2 "
                       "username+password, positive response requested -> server response), SCP/SCU role "
                       "selection for CT+MR storage; C-ECHO, C-STORE CT (0x0000), C-STORE MR (0xA700 out of "
                       "resources), C-FIND patient root (2 pending + success), C-GET study (2 C-STORE "
                       "sub-operations SCP->SCU, pending, pending, success)",
        "peers": "pynetdicom 3.0.4 SCU -> pynetdicom 3.0.4 SCP",
        "commands_run": ["pynetdicom (in make_captures.py)"],
        "calling_ae": "PYNETSCU", "called_ae": "PYNETSCP",
        "user_identity": {"type": 2, "primary_field": PYNET_USER[0], "secondary_field": PYNET_USER[1],
                          "positive_response_requested": True,
                          "server_response": None},
        "role_selection": [{"sop_class": str(CTImageStorage), "scu_role": 1, "scp_role": 1},
                           {"sop_class": str(MRImageStorage), "scu_role": 1, "scp_role": 1}],
        "associations": [{"calling_ae": "PYNETSCU", "called_ae": "PYNETSCP", "result": "accepted", "end": "release"}],
        "commands": {"C-ECHO-RQ": 1, "C-ECHO-RSP": 1, "C-STORE-RQ": 4, "C-STORE-RSP": 4,
                     "C-FIND-RQ": 1, "C-FIND-RSP": 3, "C-GET-RQ": 1, "C-GET-RSP": 3},
        "responses": [("C-ECHO-RSP", 0), ("C-STORE-RSP", 0), ("C-STORE-RSP", 0xA700),
                      ("C-FIND-RSP", 0xFF00), ("C-FIND-RSP", 0xFF00), ("C-FIND-RSP", 0),
                      ("C-STORE-RSP", 0), ("C-GET-RSP", 0xFF00), ("C-STORE-RSP", 0), ("C-GET-RSP", 0xFF00),
                      ("C-GET-RSP", 0)],
        "find_query": {"QueryRetrieveLevel": "PATIENT", "PatientName": "FIND*", "PatientID": ""},
        "find_matches": [{"PatientName": "FIND^FIRST", "PatientID": "F001"},
                         {"PatientName": "FIND^SECOND", "PatientID": "F002"}],
        "get_query": {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": str(testobjects.STUDY_INSTANCE_UID)},
        "objects_sent": [obj_info(work, "ct_implicit_le"), obj_info(work, "mr_explicit_le")],
        "objects_retrieved": [obj_info(work, "ct_implicit_le"), obj_info(work, "mr_explicit_le")],
        "retrieved_by_scu": got,
    }


@scenario("pynetdicom_ipv6", [7001])
def sc_pynetdicom_ipv6(work: Work, procs: Procs, pcap: Path, ports):
    from pynetdicom import AE
    from pynetdicom.pdu_primitives import UserIdentityNegotiation
    from pynetdicom.sop_class import CTImageStorage, Verification

    pynet_quiet()
    port = ports[0]
    scp, handlers = pynet_scp(work, "PYNETSCP6")
    server = scp.start_server(("::1", port), block=False, evt_handlers=handlers)
    res = {}
    try:
        wait_listening(port)
        with tcpdump(pcap, ports, procs.logdir):
            ae = AE(ae_title="PYNETSCU6")
            ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
            ae.add_requested_context(Verification)
            ae.add_requested_context(CTImageStorage, "1.2.840.10008.1.2")
            jwt = UserIdentityNegotiation()
            jwt.user_identity_type = 5
            jwt.primary_field = PYNET_JWT
            jwt.positive_response_requested = True
            assoc = ae.associate("::1", port, ae_title="PYNETSCP6", ext_neg=[jwt])
            assert assoc.is_established, "IPv6 association failed"
            try:
                res["echo"] = assoc.send_c_echo().Status
                res["store"] = assoc.send_c_store(work.objects["ct_implicit_le"]).Status
                assoc.release()
            finally:
                if assoc.is_alive():
                    assoc.abort()
            time.sleep(0.3)
    finally:
        server.shutdown()
    assert res == {"echo": 0, "store": 0}, res
    return {
        "description": "pynetdicom over IPv6 (::1): user identity type 5 (JWT, positive response requested, "
                       "server response in the A-ASSOCIATE-AC), C-ECHO and one C-STORE (CT, implicit VR LE)",
        "peers": "pynetdicom 3.0.4 SCU -> pynetdicom 3.0.4 SCP, IPv6 loopback",
        "commands_run": ["pynetdicom (in make_captures.py)"],
        "ip_version": 6,
        "calling_ae": "PYNETSCU6", "called_ae": "PYNETSCP6",
        "associations": [{"calling_ae": "PYNETSCU6", "called_ae": "PYNETSCP6", "result": "accepted", "end": "release"}],
        "user_identity": {"type": 5, "primary_field": PYNET_JWT.decode(), "secondary_field": "",
                          "positive_response_requested": True,
                          "server_response": PYNET_SERVER_RESPONSE.decode()},
        "commands": {"C-ECHO-RQ": 1, "C-ECHO-RSP": 1, "C-STORE-RQ": 1, "C-STORE-RSP": 1},
        "responses": [("C-ECHO-RSP", 0), ("C-STORE-RSP", 0)],
        "objects_sent": [obj_info(work, "ct_implicit_le")],
    }


@scenario("context_rejected", [7100])
def sc_context_rejected(work: Work, procs: Procs, pcap: Path, ports):
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import CTImageStorage

    pynet_quiet()
    port = ports[0]
    scp = AE(ae_title="CTONLYSCP")
    scp.add_supported_context(CTImageStorage, ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
    server = scp.start_server(("127.0.0.1", port), block=False,
                              evt_handlers=[(evt.EVT_C_STORE, lambda event: 0x0000)])
    names = ["ct_implicit_le", "mr_explicit_le"]
    try:
        wait_listening(port)
        with tcpdump(pcap, ports, procs.logdir):
            rc = procs.run("storescu", [dcmtk("storescu"), "-v", "-nh", "-xf", work.scucfg, "CtxReject",
                                        "-aet", "STORESCU", "-aec", "CTONLYSCP", "127.0.0.1", port]
                           + [work.objects[n] for n in names], ok_codes=None)
            time.sleep(0.3)
    finally:
        server.shutdown()
    return {
        "description": "DCMTK storescu -> pynetdicom SCP supporting only CT Image Storage (implicit/explicit LE): "
                       "3 contexts proposed, CT/implicit accepted, CT/RLE rejected (4 transfer syntaxes not "
                       "supported), MR rejected (3 abstract syntax not supported); the CT object is stored, "
                       "the MR object is never sent (no accepted context)",
        "peers": "storescu (DCMTK 3.6.7) -> pynetdicom 3.0.4 SCP",
        "commands_run": ["pynetdicom AE('CTONLYSCP') supporting CTImageStorage [implicit LE, explicit LE]",
                         f"storescu -nh -xf storescu.cfg CtxReject -aet STORESCU -aec CTONLYSCP 127.0.0.1 {port} "
                         "ct_implicit_le.dcm mr_explicit_le.dcm"],
        "storescu_exit_code": rc,
        "calling_ae": "STORESCU", "called_ae": "CTONLYSCP",
        "associations": [{"calling_ae": "STORESCU", "called_ae": "CTONLYSCP", "result": "accepted", "end": "release",
                          "presentation_contexts": [
                              {"id": 1, "abstract_syntax": "1.2.840.10008.5.1.4.1.1.2", "transfer_syntax": "1.2.840.10008.1.2", "result": 0},
                              {"id": 3, "abstract_syntax": "1.2.840.10008.5.1.4.1.1.2", "transfer_syntax": "1.2.840.10008.1.2.5", "result": 4},
                              {"id": 5, "abstract_syntax": "1.2.840.10008.5.1.4.1.1.4", "transfer_syntax": "1.2.840.10008.1.2.1", "result": 3},
                          ]}],
        "commands": {"C-STORE-RQ": 1, "C-STORE-RSP": 1},
        "statuses": [0],
        "objects_sent": [obj_info(work, "ct_implicit_le")],
    }


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(HERE.parent / "captures"))
    ap.add_argument("--only", action="append", default=[], help="scenario name(s), comma separated")
    ap.add_argument("--big", action="store_true", help="also the ~20 MB store_big capture")
    ap.add_argument("--work", default="/tmp/dicomsniff-capture-work")
    ap.add_argument("--keep-work", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--no-verify", action="store_true", help="skip the verify_captures.py check at the end")
    args = ap.parse_args(argv)

    if args.list:
        for n, s in SCENARIOS.items():
            print(n, s["ports"], "(--big)" if s["big"] else "")
        return 0
    if os.geteuid() != 0:
        print("make_captures.py must run as root (tcpdump)", file=sys.stderr)
        return 2
    only = [x for o in args.only for x in o.split(",") if x]
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        print(f"unknown scenario(s): {sorted(unknown)}", file=sys.stderr)
        return 2
    names = only or [n for n, s in SCENARIOS.items() if args.big or not s["big"]]
    if "store_big" in names and not args.big:
        args.big = True

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = {"captures": {}}
    if manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text())
        except ValueError:
            pass
    manifest.setdefault("captures", {})

    work = Work(Path(args.work), args.big)
    work.prepare(move_dest_port=SCENARIOS["move"]["ports"][1])
    LOG(f"work dir {work.root}: objects {sorted(work.objects)}")

    failed = []
    for name in names:
        sc = SCENARIOS[name]
        LOG(f"== {name} (ports {sc['ports']})")
        procs = Procs(work.log_dir(name))
        pcap_tmp = work.root / "pcap" / f"{name}.pcap"
        try:
            facts = sc["fn"](work, procs, pcap_tmp, sc["ports"])
        except Exception as e:  # noqa: BLE001
            LOG(f"   FAILED: {e!r}")
            failed.append(name)
            continue
        finally:
            procs.stop_all()
            for p in sc["ports"]:
                wait_closed(p)
        shutil.copy(pcap_tmp, out / f"{name}.pcap")
        entry = {"file": f"{name}.pcap", "port": sc["ports"][0], "ports": sc["ports"]}
        entry.update(normalise_statuses(facts))
        entry["size"] = (out / f"{name}.pcap").stat().st_size
        manifest["captures"][name] = entry
        LOG(f"   ok: {out / (name + '.pcap')} ({entry['size']} bytes)")

    manifest["generator"] = "scripts/make_captures.py"
    manifest["objects_module"] = "scripts/testobjects.py (make_objects(dir))"
    manifest["tools"] = tool_versions()
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    done = [n for n in names if n not in failed]
    if done and not args.no_verify:
        import verify_captures

        LOG("== verifying with scripts/verify_captures.py")
        if verify_captures.main(["--dir", str(out)] + done) != 0:
            failed.append("verification")
    if not args.keep_work:
        shutil.rmtree(work.root, ignore_errors=True)
    if failed:
        LOG(f"FAILED scenarios: {failed}")
        return 1
    return 0


def normalise_statuses(facts: dict) -> dict:
    """Fill 'statuses' (all response statuses in capture order) and
    'statuses_by_command' (per response type, in order) from 'responses'."""
    rsp_types = [c for c in facts.get("commands", {}) if c.endswith("-RSP")]
    if "responses" in facts:
        resp = [(c, int(st)) for c, st in facts.pop("responses")]
        facts["responses"] = [[c, st] for c, st in resp]
        facts["statuses"] = [st for _c, st in resp]
        by = {}
        for c, st in resp:
            by.setdefault(c, []).append(st)
        facts["statuses_by_command"] = by
    elif "statuses_by_command" not in facts and len(rsp_types) == 1:
        facts["statuses_by_command"] = {rsp_types[0]: list(facts.get("statuses", []))}
    elif "statuses_by_command" not in facts:
        facts["statuses_by_command"] = {}
    return facts


def tool_versions() -> dict:
    import pydicom
    import pynetdicom

    v = {"pydicom": pydicom.__version__, "pynetdicom": pynetdicom.__version__}
    try:
        out = subprocess.run([dcmtk("storescu"), "--version"], capture_output=True, text=True, timeout=10).stdout
        v["dcmtk"] = out.split()[2] if out.startswith("$dcmtk") else out.splitlines()[0]
    except Exception:  # noqa: BLE001
        pass
    try:
        out = subprocess.run([TCPDUMP, "--version"], capture_output=True, text=True, timeout=10)
        v["tcpdump"] = (out.stdout or out.stderr).splitlines()[0]
    except Exception:  # noqa: BLE001
        pass
    return v


def run_scenarios(scenarios: dict, argv, *, script: str, doc: str, work_default: str, after=None) -> int:
    """The main of a capture script whose scenarios are ``name → (fn(work, procs, pcap, ports), ports)``.

    Runs the chosen scenarios (``--only``, default all) as root, each under its own process group
    set, stops every process and waits for its ports to close, and copies each pcap into ``--out``.
    ``after(procs)`` runs before the processes are stopped (e.g. to resume a stopped one).
    """
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--out", default=str(HERE.parent / "captures"))
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--work", default=work_default)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print(f"{script} must run as root (tcpdump)", file=sys.stderr)
        return 2
    only = [x for o in args.only for x in o.split(",") if x] or list(scenarios)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Work(Path(args.work), False)
    work.prepare(move_dest_port=5679)
    failed = []
    for name in only:
        fn, ports = scenarios[name]
        LOG(f"== {name} (ports {ports})")
        procs = Procs(work.log_dir(name))
        tmp = work.root / "pcap" / f"{name}.pcap"
        try:
            said = fn(work, procs, tmp, ports)
            if said:
                LOG(f"   {said}")
        except Exception as e:  # noqa: BLE001
            LOG(f"   FAILED: {e!r}")
            failed.append(name)
            continue
        finally:
            if after is not None:
                after(procs)
            procs.stop_all()
            for p in ports:
                wait_closed(p)
        shutil.copy(tmp, out / f"{name}.pcap")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
