#!/usr/bin/env python3
"""Make the real-peer capture the viewer's findings and timing tests use (run as root: tcpdump on lo).

    python scripts/make_viewer_captures.py [--out captures/] [--work DIR]

Reuses scripts/make_captures.py (process handling, tcpdump, test objects). Scenario:

- viewer_repeats: pynetdicom VIEWSCU → pynetdicom VIEWSCP (port 7700), one association: five C-ECHO
  answered after 10, 20, 30, 40 and 50 ms (the handler sleeps), then six C-STORE CT, the 2nd, 4th
  and 6th refused 0xA700 (Out of Resources, the same cause three times: one grouped finding with a
  count of 3), the others 0x0000; released.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_captures as M  # noqa: E402

ECHO_DELAYS_S = (0.010, 0.020, 0.030, 0.040, 0.050)
STORE_STATUSES = (0x0000, 0xA700, 0x0000, 0xA700, 0x0000, 0xA700)


def sc_viewer_repeats(work: M.Work, procs: M.Procs, pcap: Path, ports):
    from pydicom import dcmread
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import CTImageStorage, Verification

    M.pynet_quiet()
    port = ports[0]
    ct = dcmread(work.objects["ct_implicit_le"])
    echoes = iter(ECHO_DELAYS_S)
    stores = iter(STORE_STATUSES)

    def on_echo(event):
        time.sleep(next(echoes, 0.0))
        return 0x0000

    def on_store(event):
        return next(stores, 0x0000)

    scp = AE(ae_title="VIEWSCP")
    for uid in (Verification, CTImageStorage):
        scp.add_supported_context(uid, ["1.2.840.10008.1.2"])
    server = scp.start_server(("127.0.0.1", port), block=False,
                              evt_handlers=[(evt.EVT_C_ECHO, on_echo), (evt.EVT_C_STORE, on_store)])
    res: dict = {"echo": [], "store": []}
    try:
        M.wait_listening(port)
        with M.tcpdump(pcap, ports, procs.logdir):
            ae = AE(ae_title="VIEWSCU")
            ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
            for uid in (Verification, CTImageStorage):
                ae.add_requested_context(uid, ["1.2.840.10008.1.2"])
            assoc = ae.associate("127.0.0.1", port, ae_title="VIEWSCP")
            assert assoc.is_established
            try:
                for _ in ECHO_DELAYS_S:
                    res["echo"].append(assoc.send_c_echo().Status)
                for i in range(len(STORE_STATUSES)):
                    ds = ct.copy()
                    ds.SOPInstanceUID = f"{ct.SOPInstanceUID}.{i + 1}"
                    res["store"].append(assoc.send_c_store(ds).Status)
                assoc.release()
            finally:
                if assoc.is_alive():
                    assoc.abort()
            time.sleep(0.3)
    finally:
        server.shutdown()
    M.LOG(f"    results: {res}")
    assert res["echo"] == [0] * 5 and res["store"] == list(STORE_STATUSES), res


SCENARIOS = {
    "viewer_repeats": (sc_viewer_repeats, [7700]),
}


def main(argv=None) -> int:
    return M.run_scenarios(SCENARIOS, argv, script="make_viewer_captures.py", doc=__doc__,
                           work_default="/tmp/dicomsniff-viewer-work")


if __name__ == "__main__":
    sys.exit(main())
