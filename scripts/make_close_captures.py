#!/usr/bin/env python3
"""Make the real captures of peers that end without A-RELEASE (run as root: tcpdump on lo).

    python scripts/make_close_captures.py [--out captures/] [--only NAME[,NAME]] [--work DIR]

Reuses scripts/make_captures.py (process handling, tcpdump, test objects). Scenarios:

- close_crash: a pynetdicom SCU process (CRASHSCU, its own Python process) opens two associations to a
  pynetdicom SCP (CLOSESCP, port 7600, in this process) whose C-STORE and C-FIND handlers take 2 s; while
  both requests wait, the SCU process is killed with SIGKILL: its kernel closes both connections within
  microseconds (FIN), no A-RELEASE; the SCP's late answers are then refused (RST).
- close_scp_killed: pynetdicom SCU (CLOSESCU) → DCMTK storescp (port 7610). After negotiation storescp
  is stopped (SIGSTOP) so it reads nothing, the SCU starts a ~16 MB C-STORE CT that fills the socket
  buffers, and storescp is killed (SIGKILL) with data unread: its kernel resets the connection (RST)
  in the middle of the data set.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_captures as M  # noqa: E402

CT = "1.2.840.10008.5.1.4.1.1.2"
STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
HANDLER_S = 2.0

# The SCU that gets killed: a separate process, so that SIGKILL ends it as a crash would.
CRASH_SCU = r"""
import sys, threading, time, logging
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
logging.getLogger("pynetdicom").setLevel(logging.WARNING)
port, obj = int(sys.argv[1]), sys.argv[2]
ae = AE(ae_title="CRASHSCU")
ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2", ["1.2.840.10008.1.2"])
ae.add_requested_context("1.2.840.10008.5.1.4.1.2.2.1", ["1.2.840.10008.1.2"])
a1 = ae.associate("127.0.0.1", port, ae_title="CLOSESCP")
a2 = ae.associate("127.0.0.1", port, ae_title="CLOSESCP")
assert a1.is_established and a2.is_established
ds = dcmread(obj)
q = Dataset()
q.QueryRetrieveLevel = "STUDY"
q.StudyInstanceUID = ""
threading.Thread(target=lambda: a1.send_c_store(ds), daemon=True).start()
threading.Thread(target=lambda: list(a2.send_c_find(q, "1.2.840.10008.5.1.4.1.2.2.1")), daemon=True).start()
print("sent", flush=True)
time.sleep(60)
"""


def sc_close_crash(work: M.Work, procs: M.Procs, pcap: Path, ports):
    from pydicom.dataset import Dataset
    from pynetdicom import AE, evt

    M.pynet_quiet()
    port = ports[0]
    entered = {"store": threading.Event(), "find": threading.Event()}

    def on_store(event):
        entered["store"].set()
        time.sleep(HANDLER_S)
        return 0x0000

    def on_find(event):
        entered["find"].set()
        time.sleep(HANDLER_S)
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.StudyInstanceUID = "1.2.3"
        yield 0xFF00, ds

    scp = AE(ae_title="CLOSESCP")
    scp.add_supported_context(CT, ["1.2.840.10008.1.2"])
    scp.add_supported_context(STUDY_FIND, ["1.2.840.10008.1.2"])
    server = scp.start_server(("127.0.0.1", port), block=False,
                              evt_handlers=[(evt.EVT_C_STORE, on_store), (evt.EVT_C_FIND, on_find)])
    try:
        M.wait_listening(port)
        with M.tcpdump(pcap, ports, procs.logdir):
            scu = procs.start("crashscu", [sys.executable, "-c", CRASH_SCU, str(port),
                                           str(work.objects["ct_implicit_le"])])
            for name, ev in entered.items():
                if not ev.wait(20):
                    raise RuntimeError(f"the SCP's {name} handler was never entered")
            time.sleep(0.2)
            M.LOG(f"    kill -KILL {scu.pid}")
            os.killpg(scu.pid, signal.SIGKILL)
            scu.wait(5)
            time.sleep(HANDLER_S + 0.5)       # the SCP's answers go out to closed sockets (RST)
    finally:
        server.shutdown()
    return {"killed": "CRASHSCU (SIGKILL) while C-STORE #1 and C-FIND #1 waited"}


def big_ct(work: M.Work) -> Path:
    """A ~16 MB CT (2048 × 4096 × 16 bit) made from the small CT test object."""
    import pydicom

    out = work.root / "objects" / "ct_16mb.dcm"
    if out.exists():
        return out
    ds = pydicom.dcmread(work.objects["ct_implicit_le"])
    ds.Rows, ds.Columns = 2048, 4096
    ds.PixelData = (bytes(range(256)) * (2048 * 4096 * 2 // 256))
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".16"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(out)
    return out


def sc_close_scp_killed(work: M.Work, procs: M.Procs, pcap: Path, ports):
    import pydicom
    from pynetdicom import AE

    M.pynet_quiet()
    port = ports[0]
    obj = pydicom.dcmread(big_ct(work))
    scp = procs.start("storescp", [M.dcmtk("storescp"), "-aet", "STORESCP", "-od", work.incoming, port])
    M.wait_listening(port, scp)
    res: dict = {}
    with M.tcpdump(pcap, ports, procs.logdir):
        ae = AE(ae_title="CLOSESCU")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
        ae.add_requested_context(CT, ["1.2.840.10008.1.2"])
        assoc = ae.associate("127.0.0.1", port, ae_title="STORESCP")
        if not assoc.is_established:
            raise RuntimeError("storescp did not accept the association")
        M.LOG(f"    kill -STOP {scp.pid}")
        os.killpg(scp.pid, signal.SIGSTOP)

        def send():
            try:
                res["status"] = assoc.send_c_store(obj)
            except Exception as e:  # noqa: BLE001
                res["error"] = repr(e)

        t = threading.Thread(target=send, daemon=True)
        t.start()
        time.sleep(1.5)                   # the socket buffers fill; storescp reads nothing
        M.LOG(f"    kill -KILL {scp.pid}")
        os.killpg(scp.pid, signal.SIGKILL)
        scp.wait(5)
        t.join(10)
        if assoc.is_alive():
            assoc.abort()
    return res


SCENARIOS = {
    "close_crash": (sc_close_crash, [7600]),
    "close_scp_killed": (sc_close_scp_killed, [7610]),
}


def _resume(procs) -> None:
    """A process stopped on purpose (SIGSTOP) must be resumed before it can be stopped for good."""
    for _n, p, _log in procs.procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def main(argv=None) -> int:
    return M.run_scenarios(SCENARIOS, argv, script="make_close_captures.py", doc=__doc__,
                           work_default="/tmp/dicomsniff-close-work", after=_resume)


if __name__ == "__main__":
    sys.exit(main())
