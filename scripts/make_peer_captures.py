#!/usr/bin/env python3
"""Captures of DICOM stacks other than DCMTK and pynetdicom: Orthanc, GDCM, CTN and Odil (issue 12).

Run as root (tcpdump on ``lo``):

    python scripts/make_peer_captures.py [--out captures/] [--only NAME[,NAME]] [--work DIR] [--list]
                                         [--keep-work] [--no-verify]

Debian 12 packages (installed by scripts/test-deps.sh): ``orthanc`` 1.10.1 (with its
ModalityWorklists sample plugin), ``libgdcm-tools`` 3.0.21 (``gdcmscu``), ``ctn`` 3.2.0
(``simple_storage``, ``send_image``), ``odil`` / ``python3-odil`` 0.12.2 (the ``odil`` command
runs on Debian's /usr/bin/python3, which is where the bindings are), and DCMTK 3.6.7 for the
other side of each conversation. Orthanc is started by hand with a configuration written here
(no systemd service). Process handling, tcpdump, the test objects and the worklist database
come from scripts/make_captures.py. Every capture is ``peer_<name>.pcap`` with its facts in
``captures/manifest.json`` (entries added or replaced, the others kept).

tests/test_peers_live.py runs the same scenario functions on free ports during the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_captures as M  # noqa: E402
import testobjects  # noqa: E402

ORTHANC = Path("/usr/sbin/Orthanc")
WORKLIST_PLUGIN = Path("/usr/share/orthanc/plugins/libModalityWorklists.so")
GDCMSCU = Path("/usr/bin/gdcmscu")
SIMPLE_STORAGE = Path("/usr/bin/simple_storage")
SEND_IMAGE = Path("/usr/bin/send_image")
ODIL = Path("/usr/bin/odil")
DEBIAN_PYTHON = Path("/usr/bin/python3")   # python3-odil is built for it, not for a pyenv python3

STUDY = str(testobjects.STUDY_INSTANCE_UID)
PAIR = ["ct_implicit_le", "mr_explicit_le"]     # the objects most scenarios send
# gdcmscu 3.0.21 (Debian 12) aborts with SIGABRT ("ProtocolStream as nullptr is invalid") when it tears
# down its connection after a complete A-RELEASE: the wire is healthy, the process dies of SIGABRT (-6 from Popen, 134 from a shell).
GDCM_EXIT_CODES = (0, -6, 134)
# Orthanc's DicomModalities: AE titles it knows (C-FIND/C-MOVE need a known calling AE) and the
# destinations it can C-MOVE to or C-STORE to from its REST API.
KNOWN_SCUS = ["ECHOSCU", "STORESCU", "FINDSCU", "MOVESCU", "GDCMSCU", "ODILSCU"]


def available() -> dict[str, bool]:
    """Which of the peer stacks are installed (tests skip the missing ones by name)."""
    return {
        "orthanc": ORTHANC.exists(),
        "worklist-plugin": WORKLIST_PLUGIN.exists(),
        "gdcmscu": GDCMSCU.exists(),
        "ctn": SIMPLE_STORAGE.exists() and SEND_IMAGE.exists(),
        "odil": ODIL.exists() and DEBIAN_PYTHON.exists(),
        "dcmtk": Path(M.dcmtk("storescu")).exists(),
        "tcpdump": shutil.which("tcpdump", path="/usr/sbin:/usr/bin:/sbin:/bin") is not None,
    }


# --------------------------------------------------------------------------
# Orthanc
# --------------------------------------------------------------------------


class PeerProcs(M.Procs):
    """make_captures.Procs, but Orthanc is killed outright: its graceful shutdown takes ~2.5 s and its
    database is thrown away anyway (the tests run five Orthancs)."""

    def stop_all(self) -> None:
        for name, p, log in reversed(self.procs):
            self.stop(p, signal.SIGKILL if name.startswith("orthanc-") else signal.SIGTERM)
            log.close()
        self.procs.clear()


def orthanc_config(root: Path, dicom_port: int, http_port: int, modalities: dict[str, tuple[str, int]],
                   strict: bool = False, worklists: Path | None = None, extra: dict | None = None) -> Path:
    """Write an Orthanc configuration under root: its own storage, HTTP on loopback only.

    strict: only AEs listed in DicomModalities may associate (every DicomAlwaysAllow* off), and the
    called AE must be ORTHANC; otherwise echo and store are open to anyone.
    """
    root.mkdir(parents=True, exist_ok=True)
    db = root / "db"
    db.mkdir(exist_ok=True)
    cfg = {
        "Name": "dicomsniff-peer", "StorageDirectory": str(db), "IndexDirectory": str(db),
        "HttpServerEnabled": True, "HttpPort": http_port, "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "HttpDescribeErrors": True,
        "DicomServerEnabled": True, "DicomAet": "ORTHANC", "DicomPort": dicom_port,
        "DicomCheckCalledAet": True, "DicomCheckModalityHost": False,
        "DicomAlwaysAllowEcho": not strict, "DicomAlwaysAllowStore": not strict,
        "DicomAlwaysAllowFind": False, "DicomAlwaysAllowMove": False,
        "DicomScuTimeout": 10, "DicomAssociationCloseDelay": 0, "ConcurrentJobs": 1,
        "SaveJobs": False, "StorageCompression": False,
        "DicomModalities": {ae.lower(): [ae, host, port] for ae, (host, port) in modalities.items()},
    }
    if worklists is not None and WORKLIST_PLUGIN.exists():
        cfg["Plugins"] = [str(WORKLIST_PLUGIN)]
        cfg["Worklists"] = {"Enable": True, "Database": str(worklists)}
    cfg.update(extra or {})
    path = root / "orthanc.json"
    path.write_text(json.dumps(cfg, indent=1))
    return path


class Orthanc:
    """One Orthanc process started by hand (no service), with its REST API on loopback."""

    def __init__(self, procs: M.Procs, root: Path, dicom_port: int, http_port: int,
                 modalities: dict[str, tuple[str, int]], strict: bool = False, worklists: Path | None = None,
                 extra: dict | None = None):
        self.dicom_port, self.http_port = dicom_port, http_port
        self.config = orthanc_config(root, dicom_port, http_port, modalities, strict, worklists, extra)
        self.proc = procs.start(f"orthanc-{dicom_port}", [ORTHANC, self.config])
        M.wait_listening(dicom_port, self.proc, timeout=20)
        M.wait_listening(http_port, self.proc, timeout=20)

    def rest(self, method: str, path: str, body: bytes | dict | None = None, timeout: float = 30):
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def upload(self, files: list[Path]) -> list[str]:
        """Store objects through REST (not DICOM, so nothing of it is on the captured ports)."""
        return [self.rest("POST", "/instances", f.read_bytes())["ID"] for f in files]

    def version(self) -> str:
        return self.rest("GET", "/system")["Version"]


def free_port(preferred: int | None = None) -> int:
    """`preferred` if nothing listens there and it can be bound on loopback, else a free ephemeral port."""
    import socket

    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free TCP port on 127.0.0.1")


def config_facts(o: Orthanc, work: M.Work) -> dict:
    """Orthanc's configuration for the manifest, paths relative to the work directory ("WORK/...")."""
    return json.loads(o.config.read_text().replace(str(work.root), "WORK"))


def http_port_for(dicom_port: int) -> int:
    """Orthanc's REST port (never captured): DICOM port + 1000 when free (stable for the committed captures)."""
    return free_port(dicom_port + 1000 if dicom_port + 1000 < 65536 else None)


def obj_info(work: M.Work, name: str) -> dict:
    return M.obj_info(work, name)


def storescp(procs: M.Procs, work: M.Work, port: int, aet: str = "STORESCP", name: str = "storescp"):
    p = procs.start(name, [M.dcmtk("storescp"), "-v", "-aet", aet, "-od", work.incoming, port])
    M.wait_listening(port, p)
    return p


def qr_keys() -> list[str]:
    return ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={STUDY}"]


def kargs(keys: list[str]) -> list[str]:
    return sum((["-k", k] for k in keys), [])


# --------------------------------------------------------------------------
# scenarios: fn(work, procs, pcap, ports) -> facts for the manifest
# --------------------------------------------------------------------------

SCENARIOS: dict[str, dict] = {}


def scenario(name: str, ports: list[int], needs: list[str], section: str = "captures"):
    """section: the manifest key its facts go under; "peer_incomplete_captures" for captures whose
    messages are cut by a peer's crash (the whole-decode checks of tests/test_integration_captures.py
    do not apply to them; tests/test_peers.py checks them)."""
    def deco(fn):
        SCENARIOS[name] = {"fn": fn, "ports": ports, "needs": needs, "section": section}
        return fn

    return deco


FIND_KEYS = ["QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientName", "PatientID", "StudyDate"]


@scenario("peer_orthanc_scp", [8104, 8105], ["orthanc", "dcmtk", "tcpdump"])
def sc_orthanc_scp(work: M.Work, procs: M.Procs, pcap: Path, ports):
    port, dest = ports
    storescp(procs, work, dest)
    o = Orthanc(procs, work.root / f"orthanc-{port}", port, http_port_for(port),
                {ae: ("127.0.0.1", 1) for ae in KNOWN_SCUS} | {"STORESCP": ("127.0.0.1", dest)})
    files = [work.objects[n] for n in PAIR]
    with M.tcpdump(pcap, ports, procs.logdir):
        procs.run("echoscu", [M.dcmtk("echoscu"), "-v", "-aet", "ECHOSCU", "-aec", "ORTHANC", "127.0.0.1", port])
        procs.run("storescu", [M.dcmtk("storescu"), "-v", "-aet", "STORESCU", "-aec", "ORTHANC",
                               "127.0.0.1", port] + files)
        procs.run("findscu", [M.dcmtk("findscu"), "-v", "-S", "-aet", "FINDSCU", "-aec", "ORTHANC"]
                  + kargs(FIND_KEYS) + ["127.0.0.1", port])
        procs.run("movescu", [M.dcmtk("movescu"), "-v", "-S", "-aet", "MOVESCU", "-aec", "ORTHANC",
                              "-aem", "STORESCP"] + kargs(qr_keys()) + ["127.0.0.1", port])
        time.sleep(0.3)
    n = len(PAIR)
    return {
        "description": f"DCMTK SCUs -> Orthanc {o.version()} as SCP: C-ECHO; C-STORE of {n} objects (storescu "
                       "proposes every storage SOP class); study-root C-FIND (1 match); C-MOVE of the study to "
                       f"storescp, declared in Orthanc's DicomModalities: Orthanc answers one pending and the final "
                       f"success, and opens one sub-association to storescp (port {dest}) per SOP class ({n}), each "
                       "proposing ~126 contexts (the object's SOP class first, then every storage class it knows)",
        "peers": f"echoscu/storescu/findscu/movescu (DCMTK 3.6.7) -> Orthanc {o.version()} -> storescp",
        "commands_run": [f"Orthanc orthanc.json (DicomAet ORTHANC, DicomPort {port}, DicomModalities incl. "
                         f"STORESCP 127.0.0.1:{dest})", f"storescp -aet STORESCP -od DIR {dest}",
                         f"echoscu -aet ECHOSCU -aec ORTHANC 127.0.0.1 {port}",
                         f"storescu -aet STORESCU -aec ORTHANC 127.0.0.1 {port} " + " ".join(f"{x}.dcm" for x in PAIR),
                         "findscu -S -aet FINDSCU -aec ORTHANC " + " ".join(f"-k {k}" for k in FIND_KEYS)
                         + f" 127.0.0.1 {port}",
                         "movescu -S -aet MOVESCU -aec ORTHANC -aem STORESCP "
                         + " ".join(f"-k {k}" for k in qr_keys()) + f" 127.0.0.1 {port}"],
        "orthanc_config": config_facts(o, work),
        "calling_ae": "ECHOSCU", "called_ae": "ORTHANC",
        "query_keys": qr_keys(), "find_keys": FIND_KEYS,
        "associations": [
            {"port": port, "calling_ae": "ECHOSCU", "called_ae": "ORTHANC", "result": "accepted", "end": "release",
             "commands": {"C-ECHO-RQ": 1, "C-ECHO-RSP": 1}, "statuses": [0]},
            {"port": port, "calling_ae": "STORESCU", "called_ae": "ORTHANC", "result": "accepted",
             "end": "release", "commands": {"C-STORE-RQ": n, "C-STORE-RSP": n}, "statuses": [0] * n},
            {"port": port, "calling_ae": "FINDSCU", "called_ae": "ORTHANC", "result": "accepted", "end": "release",
             "commands": {"C-FIND-RQ": 1, "C-FIND-RSP": 2}, "statuses": [0xFF00, 0]},
            {"port": port, "calling_ae": "MOVESCU", "called_ae": "ORTHANC", "result": "accepted", "end": "release",
             "commands": {"C-MOVE-RQ": 1, "C-MOVE-RSP": n}, "statuses": [0xFF00] * (n - 1) + [0]},
        ] + [
            {"port": dest, "calling_ae": "ORTHANC", "called_ae": "STORESCP", "result": "accepted",
             "end": "release", "commands": {"C-STORE-RQ": 1, "C-STORE-RSP": 1}, "statuses": [0]}
            for _ in PAIR
        ],
        "commands": {"C-ECHO-RQ": 1, "C-ECHO-RSP": 1, "C-STORE-RQ": 2 * n, "C-STORE-RSP": 2 * n,
                     "C-FIND-RQ": 1, "C-FIND-RSP": 2, "C-MOVE-RQ": 1, "C-MOVE-RSP": n},
        "statuses_by_command": {"C-ECHO-RSP": [0], "C-STORE-RSP": [0] * (2 * n), "C-FIND-RSP": [0xFF00, 0],
                                "C-MOVE-RSP": [0xFF00] * (n - 1) + [0]},
        "find_matches": [{"PatientName": testobjects.PATIENT_NAME, "PatientID": testobjects.PATIENT_ID,
                          "StudyInstanceUID": STUDY}],
        "objects_sent": [obj_info(work, x) for x in PAIR],
        "objects_moved": [obj_info(work, x) for x in PAIR],
        "healthy": True,
    }


@scenario("peer_orthanc_mwl", [8110], ["orthanc", "worklist-plugin", "dcmtk", "tcpdump"])
def sc_orthanc_mwl(work: M.Work, procs: M.Procs, pcap: Path, ports):
    port = ports[0]
    o = Orthanc(procs, work.root / f"orthanc-{port}", port, http_port_for(port),
                {ae: ("127.0.0.1", 1) for ae in KNOWN_SCUS}, worklists=work.wlmdb / M.WL_AE)
    keys = [k.format(mod="CT", station="CT01") for k in M.MWL_KEYS]
    with M.tcpdump(pcap, ports, procs.logdir):
        procs.run("findscu", [M.dcmtk("findscu"), "-v", "-W", "-aet", "FINDSCU", "-aec", "ORTHANC"]
                  + kargs(keys) + ["127.0.0.1", port])
    matches = [e for e in M.WORKLIST if e[4] == "CT" and e[5] == "CT01"]
    return {
        "description": f"DCMTK findscu -W -> Orthanc {o.version()} with its ModalityWorklists sample plugin "
                       f"(worklist files of make_captures.py): {len(matches)} matches",
        "peers": f"findscu (DCMTK 3.6.7) -> Orthanc {o.version()} + libModalityWorklists",
        "commands_run": ["Orthanc orthanc.json (Plugins libModalityWorklists.so, Worklists.Database WLMDB/WLMSCP)",
                         "findscu -W -aet FINDSCU -aec ORTHANC " + " ".join(f"-k '{k}'" for k in keys)
                         + f" 127.0.0.1 {port}"],
        "calling_ae": "FINDSCU", "called_ae": "ORTHANC",
        "associations": [{"calling_ae": "FINDSCU", "called_ae": "ORTHANC", "result": "accepted", "end": "release"}],
        "sop_class": "1.2.840.10008.5.1.4.31",
        "query_keys": keys,
        "commands": {"C-FIND-RQ": 1, "C-FIND-RSP": len(matches) + 1},
        "statuses": [0xFF00] * len(matches) + [0],
        "matches": [{"PatientName": e[1], "PatientID": e[2], "AccessionNumber": e[3]} for e in matches],
        "healthy": True,
    }


@scenario("peer_orthanc_scu", [8111], ["orthanc", "dcmtk", "tcpdump"])
def sc_orthanc_scu(work: M.Work, procs: M.Procs, pcap: Path, ports):
    port = ports[0]
    storescp(procs, work, port)
    oport = free_port(port + 100 if port + 100 < 65536 else None)   # Orthanc's own DICOM port, not captured
    o = Orthanc(procs, work.root / f"orthanc-{oport}", oport, http_port_for(oport), {"STORESCP": ("127.0.0.1", port)})
    o.upload([work.objects[n] for n in PAIR])
    (study_id,) = o.rest("GET", "/studies")
    with M.tcpdump(pcap, ports, procs.logdir):
        o.rest("POST", "/modalities/storescp/echo", {})
        job = o.rest("POST", "/modalities/storescp/store", {"Resources": [study_id], "Synchronous": True})
        time.sleep(0.3)
    n = len(PAIR)
    assert job["InstancesCount"] == n and job["FailedInstancesCount"] == 0, job
    return {
        "description": f"Orthanc {o.version()} as SCU, triggered through its REST API: C-ECHO to storescp (Orthanc "
                       "proposes Verification and 4 query/retrieve contexts, storescp rejects the 4), then "
                       f"C-STORE of a study ({n} objects, CT and MR): one association per SOP class, each proposing "
                       "~126 contexts (the object's class first, then every storage class Orthanc knows)",
        "peers": f"Orthanc {o.version()} -> storescp (DCMTK 3.6.7)",
        "commands_run": [f"storescp -aet STORESCP -od DIR {port}",
                         f"Orthanc orthanc.json (DicomModalities storescp = STORESCP 127.0.0.1:{port})",
                         "POST /instances (x2, REST upload of the objects)",
                         "POST /modalities/storescp/echo {}",
                         'POST /modalities/storescp/store {"Resources": [<study>], "Synchronous": true}'],
        "orthanc_store_job": job,
        "calling_ae": "ORTHANC", "called_ae": "STORESCP",
        "associations": [
            {"calling_ae": "ORTHANC", "called_ae": "STORESCP", "result": "accepted", "end": "release",
             "commands": {"C-ECHO-RQ": 1, "C-ECHO-RSP": 1}, "statuses": [0]},
        ] + [
            {"calling_ae": "ORTHANC", "called_ae": "STORESCP", "result": "accepted", "end": "release",
             "commands": {"C-STORE-RQ": 1, "C-STORE-RSP": 1}, "statuses": [0]} for _ in PAIR
        ],
        "commands": {"C-ECHO-RQ": 1, "C-ECHO-RSP": 1, "C-STORE-RQ": n, "C-STORE-RSP": n},
        "statuses_by_command": {"C-ECHO-RSP": [0], "C-STORE-RSP": [0] * n},
        "objects_sent": [obj_info(work, x) for x in PAIR],
        "healthy": True,
    }


NO_STUDY_UID = f"{testobjects.UID_ROOT}.2.1.1.99"


def object_without_study_uid(work: M.Work) -> Path:
    """ct_implicit_le without Study Instance UID (Type 1), new SOP Instance UID: Orthanc refuses it."""
    import pydicom

    path = work.root / "ct_no_study_uid.dcm"
    ds = pydicom.dcmread(work.objects["ct_implicit_le"])
    del ds.StudyInstanceUID
    ds.SOPInstanceUID = NO_STUDY_UID
    ds.file_meta.MediaStorageSOPInstanceUID = NO_STUDY_UID
    ds.save_as(path, enforce_file_format=True)
    return path


@scenario("peer_orthanc_fail", [8114], ["orthanc", "dcmtk", "tcpdump"])
def sc_orthanc_fail(work: M.Work, procs: M.Procs, pcap: Path, ports):
    port = ports[0]
    nofind = {"AET": "NOFIND", "Host": "127.0.0.1", "Port": 1, "AllowFind": False}
    o = Orthanc(procs, work.root / f"orthanc-{port}", port, http_port_for(port),
                {"MOVESCU": ("127.0.0.1", 1), "STORESCU": ("127.0.0.1", 1)}, strict=True,
                extra={"DicomModalities": {"movescu": ["MOVESCU", "127.0.0.1", 1],
                                           "storescu": ["STORESCU", "127.0.0.1", 1], "nofind": nofind}})
    o.upload([work.objects[n] for n in PAIR])
    bad = object_without_study_uid(work)
    with M.tcpdump(pcap, ports, procs.logdir):
        rc_intruder = procs.run("echoscu-intruder", [M.dcmtk("echoscu"), "-v", "-aet", "INTRUDER", "-aec", "ORTHANC",
                                                     "127.0.0.1", port], ok_codes=None)
        rc_wrongae = procs.run("echoscu-wrongae", [M.dcmtk("echoscu"), "-v", "-aet", "MOVESCU", "-aec", "WRONGAE",
                                                   "127.0.0.1", port], ok_codes=None)
        rc_nofind = procs.run("findscu-nofind", [M.dcmtk("findscu"), "-v", "-S", "-aet", "NOFIND", "-aec", "ORTHANC",
                                                 "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID",
                                                 "127.0.0.1", port], ok_codes=None)
        rc_move = procs.run("movescu-nowhere", [M.dcmtk("movescu"), "-v", "-S", "-aet", "MOVESCU", "-aec", "ORTHANC",
                                                "-aem", "NOWHERE"] + kargs(qr_keys()) + ["127.0.0.1", port],
                            ok_codes=None)
        rc_store = procs.run("storescu-nostudy", [M.dcmtk("storescu"), "-v", "-R", "-aet", "STORESCU", "-aec",
                                                  "ORTHANC", "127.0.0.1", port, bad], ok_codes=None)
        time.sleep(0.3)
    return {
        "description": f"Orthanc {o.version()} refusing, with strict settings (every DicomAlwaysAllow* off, "
                       "DicomCheckCalledAet on): #1 unknown calling AE INTRUDER -> A-ASSOCIATE-RJ (1,1,3); "
                       "#2 called AE WRONGAE -> A-ASSOCIATE-RJ (1,1,7); #3 C-FIND from NOFIND, a modality with "
                       "AllowFind false -> Orthanc answers with A-ABORT (source 0); #4 C-MOVE to NOWHERE, not in "
                       "DicomModalities -> C-MOVE-RSP 0xC000 (Orthanc: 'Unknown modality for AET: NOWHERE'); "
                       "#5 C-STORE of a CT without Study Instance UID -> 0xA700 (Orthanc: 'required tags "
                       "(StudyInstanceUID) are missing')",
        "peers": f"echoscu/findscu/movescu/storescu (DCMTK 3.6.7) -> Orthanc {o.version()}",
        "commands_run": ["Orthanc orthanc.json (strict: DicomAlwaysAllowEcho/Store/Find/Move false, "
                         "DicomModalities MOVESCU, STORESCU, NOFIND with AllowFind false)",
                         f"echoscu -aet INTRUDER -aec ORTHANC 127.0.0.1 {port}",
                         f"echoscu -aet MOVESCU -aec WRONGAE 127.0.0.1 {port}",
                         f"findscu -S -aet NOFIND -aec ORTHANC -k QueryRetrieveLevel=STUDY -k StudyInstanceUID "
                         f"127.0.0.1 {port}",
                         "movescu -S -aet MOVESCU -aec ORTHANC -aem NOWHERE "
                         + " ".join(f"-k {k}" for k in qr_keys()) + f" 127.0.0.1 {port}",
                         f"storescu -R -aet STORESCU -aec ORTHANC 127.0.0.1 {port} ct_no_study_uid.dcm"],
        "orthanc_config": config_facts(o, work),
        "scu_exit_codes": {"echoscu-intruder": rc_intruder, "echoscu-wrongae": rc_wrongae,
                           "findscu-nofind": rc_nofind, "movescu-nowhere": rc_move, "storescu-nostudy": rc_store},
        "calling_ae": "INTRUDER", "called_ae": "ORTHANC",
        "query_keys": qr_keys(),
        "associations": [
            {"calling_ae": "INTRUDER", "called_ae": "ORTHANC", "result": "rejected",
             "reject": {"result": 1, "source": 1, "reason": 3}},
            {"calling_ae": "MOVESCU", "called_ae": "WRONGAE", "result": "rejected",
             "reject": {"result": 1, "source": 1, "reason": 7}},
            {"calling_ae": "NOFIND", "called_ae": "ORTHANC", "result": "accepted", "end": "abort",
             "abort": {"source": 0, "reason": 0}, "commands": {"C-FIND-RQ": 1}, "statuses": []},
            {"calling_ae": "MOVESCU", "called_ae": "ORTHANC", "result": "accepted", "end": "release",
             "commands": {"C-MOVE-RQ": 1, "C-MOVE-RSP": 1}, "statuses": [0xC000]},
            {"calling_ae": "STORESCU", "called_ae": "ORTHANC", "result": "accepted", "end": "release",
             "commands": {"C-STORE-RQ": 1, "C-STORE-RSP": 1}, "statuses": [0xA700]},
        ],
        "commands": {"C-FIND-RQ": 1, "C-MOVE-RQ": 1, "C-MOVE-RSP": 1, "C-STORE-RQ": 1, "C-STORE-RSP": 1},
        "statuses_by_command": {"C-MOVE-RSP": [0xC000], "C-STORE-RSP": [0xA700]},
        "objects_sent": [{"name": "ct_no_study_uid", "derived_from": "ct_implicit_le",
                          "derived_from_uid": obj_info(work, "ct_implicit_le")["sop_instance_uid"],
                          "removed": ["StudyInstanceUID"], "sop_instance_uid": NO_STUDY_UID,
                          "sop_class_uid": str(testobjects.CT_IMAGE_STORAGE),
                          "transfer_syntax_uid": "1.2.840.10008.1.2"}],
        "healthy": False,
        "causes": {"1": "calling AE INTRUDER not recognised (A-ASSOCIATE-RJ reason 3)",
                   "2": "called AE WRONGAE not recognised (A-ASSOCIATE-RJ reason 7)",
                   "3": "Orthanc aborts the association on a C-FIND it does not allow for NOFIND",
                   "4": "C-MOVE destination NOWHERE unknown to Orthanc: 0xC000",
                   "5": "C-STORE refused 0xA700: the data set has no Study Instance UID"},
    }


@scenario("peer_ctn_scp", [8108], ["ctn", "dcmtk", "tcpdump"])
def sc_ctn_scp(work: M.Work, procs: M.Procs, pcap: Path, ports):
    port = ports[0]
    store = work.root / f"ctn-{port}"
    store.mkdir(parents=True, exist_ok=True)
    # stdbuf: CTN writes its log with stdio; line-buffered, nothing is lost when it is stopped
    scp = procs.start("simple_storage", ["stdbuf", "-oL", SIMPLE_STORAGE, "-c", "CTNSCP", "-s", "-x", store, port],
                      cwd=store)
    M.wait_listening(port, scp)
    files = [work.objects[n] for n in PAIR]
    with M.tcpdump(pcap, ports, procs.logdir):
        procs.run("storescu", [M.dcmtk("storescu"), "-v", "-aet", "STORESCU", "-aec", "CTNSCP",
                               "127.0.0.1", port] + files)
        time.sleep(0.3)
    stored = sorted(p.name for p in store.rglob("*") if p.is_file())
    rejected = sorted({line.split("UID:", 1)[1].strip()
                       for line in (procs.logdir / "simple_storage.log").read_text(errors="replace").splitlines()
                       if "rejects SOP Class with UID:" in line})
    n = len(PAIR)
    return {
        "description": f"DCMTK storescu (proposes every storage SOP class it knows) -> CTN simple_storage: "
                       f"{len(rejected)} SOP classes rejected by CTN (its log names them), {n} C-STORE accepted",
        "peers": "storescu (DCMTK 3.6.7) -> simple_storage (CTN 3.2.0)",
        "commands_run": [f"simple_storage -c CTNSCP -s -x DIR {port}",
                         f"storescu -aet STORESCU -aec CTNSCP 127.0.0.1 {port} " + " ".join(f"{x}.dcm" for x in PAIR)],
        "calling_ae": "STORESCU", "called_ae": "CTNSCP",
        "associations": [{"calling_ae": "STORESCU", "called_ae": "CTNSCP", "result": "accepted", "end": "release"}],
        "commands": {"C-STORE-RQ": n, "C-STORE-RSP": n},
        "statuses": [0] * n,
        "ctn_rejected_sop_classes": rejected,
        "ctn_stored": stored,
        "objects_sent": [obj_info(work, x) for x in PAIR],
        "healthy": True,
    }


@scenario("peer_ctn_scu", [8109], ["ctn", "dcmtk", "tcpdump"])
def sc_ctn_scu(work: M.Work, procs: M.Procs, pcap: Path, ports):
    port = ports[0]
    storescp(procs, work, port)
    files = [work.objects[n] for n in PAIR]
    with M.tcpdump(pcap, ports, procs.logdir):
        procs.run("send_image", [SEND_IMAGE, "-q", "-a", "CTNSCU", "-c", "STORESCP", "127.0.0.1", port] + files)
        time.sleep(0.3)
    n = len(PAIR)
    return {
        "description": f"CTN send_image -> storescp: one association per object ({n}), each C-STORE data set "
                       "sent in several PDVs ending with an empty one (PDV length 2: context ID and flags "
                       "'data, last'), all 0x0000",
        "peers": "send_image (CTN 3.2.0) -> storescp (DCMTK 3.6.7)",
        "commands_run": [f"storescp -aet STORESCP -od DIR {port}",
                         f"send_image -q -a CTNSCU -c STORESCP 127.0.0.1 {port} " + " ".join(f"{x}.dcm" for x in PAIR)],
        "calling_ae": "CTNSCU", "called_ae": "STORESCP",
        "associations": [{"calling_ae": "CTNSCU", "called_ae": "STORESCP", "result": "accepted", "end": "release",
                          "commands": {"C-STORE-RQ": 1, "C-STORE-RSP": 1}, "statuses": [0]} for _ in PAIR],
        "commands": {"C-STORE-RQ": n, "C-STORE-RSP": n},
        "statuses": [0] * n,
        "objects_sent": [obj_info(work, x) for x in PAIR],
        "tshark_known_issues": {
            "malformed": 2, "missing_commands": {"C-STORE-RSP": 1},
            "note": "tshark 4.0 does not close a data set on CTN's empty last PDV (length 2, flags 0x02): it "
                    "shows the C-STORE-RQ as 'PDV Fragment' and, on the second association, decodes the "
                    "C-STORE-RSP as a malformed 'Command'; send_image's own log prints that response "
                    "(Message ID Resp 2, Status 0000)"},
        "healthy": True,
    }


def dcmqrscp_config(work: M.Work, port: int, dest_ae: str, dest_port: int) -> Path:
    """A dcmqrscp holding PAIR on `port`, moving to dest_ae at dest_port."""
    db = work.root / f"qrdb-{port}" / M.QR_AE
    if db.exists():
        shutil.rmtree(db)
    db.mkdir(parents=True)
    files = []
    for n in PAIR:
        shutil.copy(work.objects[n], db / f"{n}.dcm")
        files.append(str(db / f"{n}.dcm"))
    subprocess.run([M.dcmtk("dcmqridx"), "-q", str(db)] + files, check=True, timeout=30)
    cfg = M.dcmqrscp_cfg(db, dest_port).replace("NetworkTCPPort  = 5678", f"NetworkTCPPort  = {port}")
    cfg = cfg.replace(f"storescp = (STORESCP, 127.0.0.1, {dest_port})",
                      f"{dest_ae.lower()} = ({dest_ae}, 127.0.0.1, {dest_port})")
    path = work.root / f"dcmqrscp-{port}.cfg"
    path.write_text(cfg)
    return path


@scenario("peer_gdcm", [8120, 8121, 8122], ["gdcmscu", "orthanc", "dcmtk", "tcpdump"])
def sc_gdcm(work: M.Work, procs: M.Procs, pcap: Path, ports):
    port, gport, qport = ports
    o = Orthanc(procs, work.root / f"orthanc-{port}", port, http_port_for(port),
                {ae: ("127.0.0.1", 1) for ae in KNOWN_SCUS})
    qr = procs.start("dcmqrscp", [M.dcmtk("dcmqrscp"), "-v", "-c", dcmqrscp_config(work, qport, "GDCMSCU", gport),
                                  qport])
    M.wait_listening(qport, qr)
    out = work.root / f"gdcm-out-{port}"
    out.mkdir(parents=True, exist_ok=True)
    base = [GDCMSCU, "--aetitle", "GDCMSCU"]
    rc = {}
    with M.tcpdump(pcap, ports, procs.logdir):
        rc["echo"] = procs.run("gdcmscu-echo", base + ["--echo", "--call", "ORTHANC", "127.0.0.1", port],
                               ok_codes=GDCM_EXIT_CODES)
        rc["store"] = procs.run("gdcmscu-store", base + ["--store", "--call", "ORTHANC", "-i",
                                                         work.objects["ct_explicit_be"], "127.0.0.1", port],
                                ok_codes=GDCM_EXIT_CODES)
        rc["find"] = procs.run("gdcmscu-find", base + ["--find", "--studyroot", "--study", "--call", "ORTHANC",
                                                       "--key", "20,d=", "--key", "10,10=", "--key", "10,20=",
                                                       "127.0.0.1", port], ok_codes=GDCM_EXIT_CODES)
        rc["move"] = procs.run("gdcmscu-move", base + ["--move", "--studyroot", "--study", "--call", M.QR_AE,
                                                       "--port-scp", gport, "-o", out, "--key", f"20,d={STUDY}",
                                                       "127.0.0.1", qport], ok_codes=GDCM_EXIT_CODES)
        time.sleep(0.3)
    moved = sorted(p.name for p in out.iterdir())
    assert len(moved) == len(PAIR), moved
    n = len(PAIR)
    return {
        "description": f"GDCM gdcmscu 3.0.21 as SCU: C-ECHO, C-STORE (CT explicit VR big endian) and study-root "
                       f"C-FIND against Orthanc {o.version()}; C-MOVE of the study from dcmqrscp (port {qport}) to "
                       f"gdcmscu's own storage SCP (port {gport}, {n} objects). gdcmscu exits 134 (SIGABRT) after "
                       "each complete A-RELEASE (a teardown bug of the Debian build; the wire is healthy)",
        "peers": f"gdcmscu (GDCM 3.0.21) -> Orthanc {o.version()}; gdcmscu -> dcmqrscp -> gdcmscu (DCMTK 3.6.7)",
        "commands_run": [f"Orthanc orthanc.json (DicomAet ORTHANC, DicomPort {port})",
                         f"dcmqrscp -c dcmqrscp.cfg {qport} (GDCMSCU = 127.0.0.1:{gport})",
                         f"gdcmscu --aetitle GDCMSCU --echo --call ORTHANC 127.0.0.1 {port}",
                         f"gdcmscu --aetitle GDCMSCU --store --call ORTHANC -i ct_explicit_be.dcm 127.0.0.1 {port}",
                         "gdcmscu --aetitle GDCMSCU --find --studyroot --study --call ORTHANC --key 20,d= "
                         f"--key 10,10= --key 10,20= 127.0.0.1 {port}",
                         f"gdcmscu --aetitle GDCMSCU --move --studyroot --study --call QRSCP --port-scp {gport} "
                         f"-o DIR --key 20,d={STUDY} 127.0.0.1 {qport}"],
        "gdcmscu_exit_codes": rc,
        "gdcmscu_moved_files": moved,
        "calling_ae": "GDCMSCU", "called_ae": "ORTHANC",
        "associations": [
            {"port": port, "calling_ae": "GDCMSCU", "called_ae": "ORTHANC", "result": "accepted", "end": "release",
             "commands": {"C-ECHO-RQ": 1, "C-ECHO-RSP": 1}, "statuses": [0]},
            {"port": port, "calling_ae": "GDCMSCU", "called_ae": "ORTHANC", "result": "accepted", "end": "release",
             "commands": {"C-STORE-RQ": 1, "C-STORE-RSP": 1}, "statuses": [0]},
            {"port": port, "calling_ae": "GDCMSCU", "called_ae": "ORTHANC", "result": "accepted", "end": "release",
             "commands": {"C-FIND-RQ": 1, "C-FIND-RSP": 2}, "statuses": [0xFF00, 0]},
            {"port": qport, "calling_ae": "GDCMSCU", "called_ae": M.QR_AE, "result": "accepted", "end": "release",
             "commands": {"C-MOVE-RQ": 1, "C-MOVE-RSP": n + 1}, "statuses": [0xFF00] * n + [0]},
            {"port": gport, "calling_ae": M.QR_AE, "called_ae": "GDCMSCU", "result": "accepted", "end": "release",
             "commands": {"C-STORE-RQ": n, "C-STORE-RSP": n}, "statuses": [0] * n},
        ],
        "commands": {"C-ECHO-RQ": 1, "C-ECHO-RSP": 1, "C-STORE-RQ": 1 + n, "C-STORE-RSP": 1 + n,
                     "C-FIND-RQ": 1, "C-FIND-RSP": 2, "C-MOVE-RQ": 1, "C-MOVE-RSP": n + 1},
        "statuses_by_command": {"C-ECHO-RSP": [0], "C-STORE-RSP": [0] * (1 + n), "C-FIND-RSP": [0xFF00, 0],
                                "C-MOVE-RSP": [0xFF00] * n + [0]},
        "objects_sent": [obj_info(work, "ct_explicit_be")],
        "objects_moved": [obj_info(work, x) for x in PAIR],
        "healthy": True,
    }


@scenario("peer_gdcm_move_crash", [8123, 8124], ["gdcmscu", "orthanc", "tcpdump"], section="peer_incomplete_captures")
def sc_gdcm_move_crash(work: M.Work, procs: M.Procs, pcap: Path, ports):
    port, gport = ports
    o = Orthanc(procs, work.root / f"orthanc-{port}", port, http_port_for(port),
                {"GDCMSCU": ("127.0.0.1", gport)})
    o.upload([work.objects[n] for n in PAIR])
    out = work.root / f"gdcm-crash-out-{port}"
    out.mkdir(parents=True, exist_ok=True)
    with M.tcpdump(pcap, ports, procs.logdir):
        rc = procs.run("gdcmscu-move", [GDCMSCU, "--aetitle", "GDCMSCU", "--move", "--studyroot", "--study",
                                        "--call", "ORTHANC", "--port-scp", gport, "-o", out,
                                        "--key", f"20,d={STUDY}", "127.0.0.1", port], ok_codes=None)
        time.sleep(0.5)
    log = (procs.logdir / "gdcmscu-move.log").read_text(errors="replace")
    cut = reset_cut_segment(pcap, port)
    return {
        "description": f"gdcmscu C-MOVE from Orthanc {o.version()} to itself: Orthanc opens the sub-association "
                       "to gdcmscu's storage SCP and sends the first C-STORE; gdcmscu dies (SIGABRT, "
                       "'Should not happen (imp)') before answering, so both of its connections close at once "
                       "with a C-STORE and the C-MOVE in flight (gdcmscu moves from dcmqrscp fine: see peer_gdcm)",
        "peers": f"gdcmscu (GDCM 3.0.21) -> Orthanc {o.version()} -> gdcmscu",
        "commands_run": [f"Orthanc orthanc.json (DicomModalities GDCMSCU = 127.0.0.1:{gport})",
                         f"gdcmscu --aetitle GDCMSCU --move --studyroot --study --call ORTHANC --port-scp {gport} "
                         f"-o DIR --key 20,d={STUDY} 127.0.0.1 {port}"],
        "gdcmscu_exit_code": rc,
        "gdcmscu_error": [line for line in log.splitlines() if "what()" in line or "Should not" in line][-2:],
        "cut_by_reset": cut,
        # tshark shows no PDU in a segment whose PDU never completes; we show it, marked incomplete.
        "tshark_ul_only_ours": [cut["frame"]] if cut else [],
        "calling_ae": "GDCMSCU", "called_ae": "ORTHANC",
        "healthy": False,
        "causes": {"1": "gdcmscu's process ended with the C-MOVE in flight",
                   "2": "gdcmscu's storage SCP ended without answering the C-STORE"},
    }


def reset_cut_segment(pcap: Path, port: int) -> dict | None:
    """The server's last data segment on `port` if the client then reset the connection (tshark's view):
    the start of a PDU that the reset cut."""
    tshark = shutil.which("tshark")
    if tshark is None:
        return None
    r = subprocess.run([tshark, "-r", str(pcap), "-Y", f"tcp.port=={port}", "-T", "fields", "-e", "frame.number",
                        "-e", "tcp.srcport", "-e", "tcp.len", "-e", "tcp.flags.reset"],
                       capture_output=True, text=True, timeout=60)
    last = None
    for line in r.stdout.splitlines():
        frame, src, length, rst = (line.split("\t") + ["", "", "", ""])[:4]
        if int(src) == port and int(length or 0) > 0:
            last = {"frame": int(frame), "bytes": int(length), "from_port": port}
        elif last and int(src) != port and rst in ("1", "True"):
            return last | {"reset_frame": int(frame)}
    return None


@scenario("peer_odil", [8125], ["odil", "orthanc", "tcpdump"])
def sc_odil(work: M.Work, procs: M.Procs, pcap: Path, ports):
    port = ports[0]
    o = Orthanc(procs, work.root / f"orthanc-{port}", port, http_port_for(port),
                {ae: ("127.0.0.1", 1) for ae in KNOWN_SCUS})
    odil = [DEBIAN_PYTHON, ODIL]
    files = [work.objects[n] for n in PAIR]
    find_keys = ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=", "PatientName=", "PatientID="]
    with M.tcpdump(pcap, ports, procs.logdir):
        procs.run("odil-echo", odil + ["echo", "127.0.0.1", port, "ODILSCU", "ORTHANC"])
        procs.run("odil-store", odil + ["store", "127.0.0.1", port, "ODILSCU", "ORTHANC"] + files)
        procs.run("odil-find", odil + ["find", "127.0.0.1", port, "ODILSCU", "ORTHANC", "study"] + find_keys)
        time.sleep(0.3)
    found = (procs.logdir / "odil-find.log").read_text(errors="replace")
    assert STUDY in found, found
    n = len(PAIR)
    return {
        "description": f"Odil 0.12.2 (odil CLI on Debian's python3 with python3-odil) as SCU against Orthanc "
                       f"{o.version()}: C-ECHO; C-STORE of {n} objects; study-root C-FIND (1 match)",
        "peers": f"odil (Odil 0.12.2) -> Orthanc {o.version()}",
        "commands_run": [f"Orthanc orthanc.json (DicomAet ORTHANC, DicomPort {port})",
                         f"/usr/bin/python3 /usr/bin/odil echo 127.0.0.1 {port} ODILSCU ORTHANC",
                         f"/usr/bin/python3 /usr/bin/odil store 127.0.0.1 {port} ODILSCU ORTHANC "
                         + " ".join(f"{x}.dcm" for x in PAIR),
                         f"/usr/bin/python3 /usr/bin/odil find 127.0.0.1 {port} ODILSCU ORTHANC study "
                         + " ".join(find_keys)],
        "calling_ae": "ODILSCU", "called_ae": "ORTHANC",
        "associations": [
            {"calling_ae": "ODILSCU", "called_ae": "ORTHANC", "result": "accepted", "end": "release",
             "commands": {"C-ECHO-RQ": 1, "C-ECHO-RSP": 1}, "statuses": [0]},
            {"calling_ae": "ODILSCU", "called_ae": "ORTHANC", "result": "accepted", "end": "release",
             "commands": {"C-STORE-RQ": n, "C-STORE-RSP": n}, "statuses": [0] * n},
            {"calling_ae": "ODILSCU", "called_ae": "ORTHANC", "result": "accepted", "end": "release",
             "commands": {"C-FIND-RQ": 1, "C-FIND-RSP": 2}, "statuses": [0xFF00, 0]},
        ],
        "commands": {"C-ECHO-RQ": 1, "C-ECHO-RSP": 1, "C-STORE-RQ": n, "C-STORE-RSP": n,
                     "C-FIND-RQ": 1, "C-FIND-RSP": 2},
        "statuses_by_command": {"C-ECHO-RSP": [0], "C-STORE-RSP": [0] * n, "C-FIND-RSP": [0xFF00, 0]},
        "objects_sent": [obj_info(work, x) for x in PAIR],
        "healthy": True,
    }


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def run_scenario(name: str, work: M.Work, out_pcap: Path, ports: list[int] | None = None) -> dict:
    """Run one scenario (on its own ports unless given), copy its pcap to out_pcap, return its facts."""
    sc = SCENARIOS[name]
    ports = list(ports or sc["ports"])
    procs = PeerProcs(work.log_dir(f"{name}-{ports[0]}"))
    tmp = work.root / "pcap" / f"{name}-{ports[0]}.pcap"
    try:
        facts = sc["fn"](work, procs, tmp, ports)
    finally:
        procs.stop_all()
        for p in ports:
            M.wait_closed(p)
    out_pcap.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp, out_pcap)
    entry = {"file": out_pcap.name, "port": ports[0], "ports": ports}
    entry.update(M.normalise_statuses(facts))
    entry["size"] = out_pcap.stat().st_size
    return entry


def tool_versions() -> dict:
    v = {}
    for pkg in ("orthanc", "libgdcm-tools", "ctn", "odil", "python3-odil", "dcmtk", "tcpdump"):
        try:
            r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True,
                               timeout=10)
            if r.returncode == 0:
                v[pkg] = r.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return v


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(HERE.parent / "captures"))
    ap.add_argument("--only", action="append", default=[], help="scenario name(s), comma separated")
    ap.add_argument("--work", default="/tmp/dicomsniff-peer-work")
    ap.add_argument("--keep-work", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--no-verify", action="store_true", help="skip the verify_captures.py check at the end")
    args = ap.parse_args(argv)
    if args.list:
        for n, s in SCENARIOS.items():
            print(n, s["ports"], "needs", ",".join(s["needs"]))
        return 0
    if os.geteuid() != 0:
        print("make_peer_captures.py must run as root (tcpdump)", file=sys.stderr)
        return 2
    only = [x for o in args.only for x in o.split(",") if x] or list(SCENARIOS)
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        print(f"unknown scenario(s): {sorted(unknown)}", file=sys.stderr)
        return 2
    have = available()
    out = Path(args.out)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"captures": {}}
    work = M.Work(Path(args.work), False)
    work.prepare(move_dest_port=5679)
    failed = []
    for name in only:
        missing = [n for n in SCENARIOS[name]["needs"] if not have.get(n)]
        if missing:
            M.LOG(f"== {name}: skipped, not installed: {missing}")
            failed.append(name)
            continue
        M.LOG(f"== {name} (ports {SCENARIOS[name]['ports']})")
        try:
            entry = run_scenario(name, work, out / f"{name}.pcap")
        except Exception as e:  # noqa: BLE001
            M.LOG(f"   FAILED: {e!r}")
            failed.append(name)
            continue
        manifest.setdefault(SCENARIOS[name]["section"], {})[name] = entry
        M.LOG(f"   ok: {out / (name + '.pcap')} ({entry['size']} bytes)")
    manifest["peer_generator"] = "scripts/make_peer_captures.py"
    manifest["peer_tools"] = tool_versions()
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    # the independent decoder of verify_captures.py (and tshark) as a second opinion on the facts
    checked = [n for n in only if n not in failed and SCENARIOS[n]["section"] == "captures"]
    if checked and not args.no_verify:
        import verify_captures

        M.LOG("== verifying with scripts/verify_captures.py")
        if verify_captures.main(["--dir", str(out)] + checked) != 0:
            failed.append("verification")
    if not args.keep_work:
        shutil.rmtree(work.root, ignore_errors=True)
    if failed:
        M.LOG(f"FAILED scenarios: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
