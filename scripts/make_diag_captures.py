#!/usr/bin/env python3
"""Make the small real-peer captures the diagnosis and diff tests use (run as root: tcpdump on lo).

    python scripts/make_diag_captures.py [--out captures/] [--only NAME[,NAME]] [--work DIR]

Reuses scripts/make_captures.py (process handling, tcpdump, test objects,
worklist database). Scenarios:

- diag_status: pynetdicom DIAGSCU → pynetdicom DIAGSCP (port 7300). Association 1: C-ECHO answered
  after 1.5 s, C-STORE CT → 0xC000, C-STORE Secondary Capture → 0x0122, MR context rejected.
  Association 2: the SCU sends a C-STORE MR on the rejected MR context (pynetdicom's DIMSE layer
  driven by hand), then releases.
- diag_per_object: DCMTK storescu --max-pdu 4096 run 5 times → storescp (port 7400): five
  associations with one C-STORE each, tiny max PDU.
- diag_more: pynetdicom DIAG2SCU → pynetdicom DIAG2SCP (port 7310). Association 1: C-ECHO, 2.5 s idle,
  C-ECHO, C-STORE CT → 0xB000 (warning), MWL C-FIND → 0xA900 (failure), MWL C-FIND cancelled by
  C-CANCEL after its first pending response (→ 0xFE00). Association 2 (DIMSE driven by hand): a
  C-STORE Secondary Capture on the CT context (SC has its own accepted context) and a C-STORE MR
  (never proposed) on the CT context; the SCP answers both 0x0000.
- diag_move_nosub: DCMTK movescu → dcmqrscp (port 7500) with tcpdump on that port only: the
  C-MOVE succeeds with 3 sub-operations, but its sub-association to storescp (port 5679) is not
  in the capture.
- mwl_dcmtk / mwl_pynetdicom: the same worklist (wlmscpfs, ports 4244 / 4245) queried by
  DCMTK findscu and by pynetdicom with known differences (see QUERY_DIFF).
"""

from __future__ import annotations

import sys
import time
from io import BytesIO
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_captures as M  # noqa: E402

SC_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
MWL = "1.2.840.10008.5.1.4.31"

# What the pynetdicom worklist query does differently from findscu's (asserted by tests/test_diff.py).
QUERY_DIFF = {
    "removed": ["PatientID"],                                                   # findscu sends it, pynetdicom not
    "added": ["AccessionNumber"],                                               # pynetdicom only
    "changed": ["ScheduledProcedureStepSequence[0].ScheduledStationAETitle"],   # CT01 → CT1
    "vr": ["PatientName"],                                                      # PN → LO
}


def sc_diag_status(work: M.Work, procs: M.Procs, pcap: Path, ports):
    from pydicom import dcmread
    from pynetdicom import AE, evt
    from pynetdicom.dimse_primitives import C_STORE
    from pynetdicom.dsutils import encode
    from pynetdicom.sop_class import CTImageStorage, MRImageStorage, Verification

    M.pynet_quiet()
    port = ports[0]
    ct = dcmread(work.objects["ct_implicit_le"])
    sc = dcmread(work.objects["ct_implicit_le"])
    sc.SOPClassUID = SC_STORAGE
    sc.SOPInstanceUID = ct.SOPInstanceUID + ".7"
    sc.file_meta.MediaStorageSOPClassUID = SC_STORAGE
    sc.file_meta.MediaStorageSOPInstanceUID = sc.SOPInstanceUID
    mr = dcmread(work.objects["mr_explicit_le"])

    def on_echo(event):
        time.sleep(1.5)
        return 0x0000

    def on_store(event):
        return 0x0122 if event.request.AffectedSOPClassUID == SC_STORAGE else 0xC000

    scp = AE(ae_title="DIAGSCP")
    for uid in (Verification, CTImageStorage, SC_STORAGE):
        scp.add_supported_context(uid, ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
    server = scp.start_server(("127.0.0.1", port), block=False,
                              evt_handlers=[(evt.EVT_C_ECHO, on_echo), (evt.EVT_C_STORE, on_store)])
    res: dict = {}
    try:
        M.wait_listening(port)
        with M.tcpdump(pcap, ports, procs.logdir):
            ae = AE(ae_title="DIAGSCU")
            ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
            for uid in (Verification, CTImageStorage, SC_STORAGE, MRImageStorage):
                ae.add_requested_context(uid, ["1.2.840.10008.1.2"])
            assoc = ae.associate("127.0.0.1", port, ae_title="DIAGSCP")
            assert assoc.is_established
            try:
                res["echo"] = assoc.send_c_echo().Status
                res["store_ct"] = assoc.send_c_store(ct).Status
                res["store_sc"] = assoc.send_c_store(sc).Status
                assoc.release()
            finally:
                if assoc.is_alive():
                    assoc.abort()
            # Association 2: a C-STORE MR on the MR context the SCP rejected.
            assoc = ae.associate("127.0.0.1", port, ae_title="DIAGSCP")
            assert assoc.is_established
            try:
                ctx = [c for c in assoc.rejected_contexts if c.abstract_syntax == MRImageStorage][0]
                req = C_STORE()
                req.MessageID = 1
                req.AffectedSOPClassUID = MRImageStorage
                req.AffectedSOPInstanceUID = mr.SOPInstanceUID
                req.Priority = 2
                req.DataSet = BytesIO(encode(mr, True, True))
                assoc._reactor_checkpoint.clear()
                while not assoc._is_paused:
                    time.sleep(0.0001)
                assoc.dimse.send_msg(req, ctx.context_id)
                _cx, rsp = assoc.dimse.get_msg(block=True)
                assoc._reactor_checkpoint.set()
                res["store_mr_rejected_ctx"] = getattr(rsp, "Status", None)
                if assoc.is_established:
                    assoc.release()
            finally:
                if assoc.is_alive():
                    assoc.abort()
            time.sleep(0.3)
    finally:
        server.shutdown()
    M.LOG(f"    results: {res}")
    assert res["echo"] == 0 and res["store_ct"] == 0xC000 and res["store_sc"] == 0x0122, res


def _send_by_hand(assoc, req, context_id: int):
    """Send one DIMSE request on a chosen context, bypassing pynetdicom's own context choice; its response."""
    assoc._reactor_checkpoint.clear()
    while not assoc._is_paused:
        time.sleep(0.0001)
    try:
        assoc.dimse.send_msg(req, context_id)
        _cx, rsp = assoc.dimse.get_msg(block=True)
    finally:
        assoc._reactor_checkpoint.set()
    return getattr(rsp, "Status", None)


def sc_diag_more(work: M.Work, procs: M.Procs, pcap: Path, ports):
    from pydicom import dcmread
    from pydicom.dataset import Dataset
    from pynetdicom import AE, evt
    from pynetdicom.dimse_primitives import C_STORE
    from pynetdicom.dsutils import encode
    from pynetdicom.sop_class import CTImageStorage, MRImageStorage, Verification

    M.pynet_quiet()
    port = ports[0]
    ct = dcmread(work.objects["ct_implicit_le"])
    sc = dcmread(work.objects["ct_implicit_le"])
    sc.SOPClassUID = SC_STORAGE
    sc.SOPInstanceUID = ct.SOPInstanceUID + ".8"
    mr = dcmread(work.objects["mr_explicit_le"])

    def on_store(event):
        return 0xB000 if event.request.AffectedSOPClassUID == CTImageStorage and \
            event.context.abstract_syntax == CTImageStorage and \
            event.request.AffectedSOPInstanceUID == ct.SOPInstanceUID else 0x0000

    def on_find(event):
        if event.identifier.get("PatientID") == "CANCELME":
            for _ in range(50):
                if event.is_cancelled:
                    yield 0xFE00, None
                    return
                match = Dataset()
                match.PatientID = "CANCELME"
                yield 0xFF00, match
                time.sleep(0.1)
            yield 0x0000, None
            return
        yield 0xA900, None

    scp = AE(ae_title="DIAG2SCP")
    for uid in (Verification, CTImageStorage, SC_STORAGE, MWL):
        scp.add_supported_context(uid, ["1.2.840.10008.1.2"])
    server = scp.start_server(("127.0.0.1", port), block=False,
                              evt_handlers=[(evt.EVT_C_STORE, on_store), (evt.EVT_C_FIND, on_find)])
    res: dict = {}
    try:
        M.wait_listening(port)
        with M.tcpdump(pcap, ports, procs.logdir):
            ae = AE(ae_title="DIAG2SCU")
            ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
            for uid in (Verification, CTImageStorage, SC_STORAGE, MWL):
                ae.add_requested_context(uid, ["1.2.840.10008.1.2"])
            assoc = ae.associate("127.0.0.1", port, ae_title="DIAG2SCP")
            assert assoc.is_established
            try:
                res["echo1"] = assoc.send_c_echo(msg_id=1).Status
                time.sleep(2.5)
                res["echo2"] = assoc.send_c_echo(msg_id=2).Status
                res["store_ct"] = assoc.send_c_store(ct, msg_id=3).Status
                q = Dataset()
                q.PatientName = ""
                q.Modality = "XX"
                res["find_fail"] = [s.Status for s, _i in assoc.send_c_find(q, MWL, msg_id=4)]
                q = Dataset()
                q.PatientID = "CANCELME"
                mwl_cx = [c for c in assoc.accepted_contexts if c.abstract_syntax == MWL][0].context_id
                got = []
                for status, _ident in assoc.send_c_find(q, MWL, msg_id=5):
                    got.append(status.Status)
                    if status.Status == 0xFF00 and len(got) == 1:
                        assoc.send_c_cancel(5, mwl_cx)
                res["find_cancel"] = got
                assoc.release()
            finally:
                if assoc.is_alive():
                    assoc.abort()
            time.sleep(0.2)
            # Association 2: SOP classes on the wrong (accepted) context.
            assoc = ae.associate("127.0.0.1", port, ae_title="DIAG2SCP")
            assert assoc.is_established
            try:
                ct_cx = [c for c in assoc.accepted_contexts if c.abstract_syntax == CTImageStorage][0].context_id
                for mid, ds in ((1, sc), (2, mr)):
                    req = C_STORE()
                    req.MessageID = mid
                    req.AffectedSOPClassUID = ds.SOPClassUID
                    req.AffectedSOPInstanceUID = ds.SOPInstanceUID
                    req.Priority = 2
                    req.DataSet = BytesIO(encode(ds, True, True))
                    res[f"store_wrong_ctx_{mid}"] = _send_by_hand(assoc, req, ct_cx)
                if assoc.is_established:
                    assoc.release()
            finally:
                if assoc.is_alive():
                    assoc.abort()
            time.sleep(0.3)
    finally:
        server.shutdown()
    M.LOG(f"    results: {res}")
    assert res["store_ct"] == 0xB000 and res["find_fail"] == [0xA900], res
    assert res["find_cancel"][0] == 0xFF00 and res["find_cancel"][-1] == 0xFE00, res


def sc_diag_move_nosub(work: M.Work, procs: M.Procs, pcap: Path, ports):
    port = ports[0]
    dest = 5679                      # STORESCP's port in work.qrcfg; deliberately not captured
    qr = procs.start("dcmqrscp", [M.dcmtk("dcmqrscp"), "-v", "-c", work.qrcfg, port])
    st = procs.start("storescp", [M.dcmtk("storescp"), "-v", "-aet", "STORESCP", "-od", work.incoming, dest])
    M.wait_listening(port, qr)
    M.wait_listening(dest, st)
    keys = ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={M.testobjects.STUDY_INSTANCE_UID}"]
    with M.tcpdump(pcap, ports, procs.logdir):
        procs.run("movescu", [M.dcmtk("movescu"), "-v", "-S", "-aet", "MOVESCU", "-aec", M.QR_AE, "-aem",
                              "STORESCP"] + sum((["-k", k] for k in keys), []) + ["127.0.0.1", port])
        time.sleep(0.3)


def sc_diag_per_object(work: M.Work, procs: M.Procs, pcap: Path, ports):
    port = ports[0]
    scp = procs.start("storescp", [M.dcmtk("storescp"), "-v", "-aet", "STORESCP", "-od", work.incoming, port])
    M.wait_listening(port, scp)
    with M.tcpdump(pcap, ports, procs.logdir):
        for i in range(5):
            procs.run(f"storescu{i}", [M.dcmtk("storescu"), "-v", "--max-pdu", "4096", "-aet", "ONEBYONE",
                                       "-aec", "STORESCP", "127.0.0.1", port, work.objects["ct_implicit_le"]])


def _wlm(procs: M.Procs, work: M.Work, port: int):
    scp = procs.start("wlmscpfs", [M.dcmtk("wlmscpfs"), "-v", "--single-process", "-dfp", work.wlmdb, port])
    M.wait_listening(port, scp)


def sc_mwl_dcmtk(work: M.Work, procs: M.Procs, pcap: Path, ports):
    port = ports[0]
    _wlm(procs, work, port)
    keys = ["PatientName", "PatientID", "(0040,0100)[0].Modality=CT",
            "(0040,0100)[0].ScheduledStationAETitle=CT01",
            "(0040,0100)[0].ScheduledProcedureStepStartDate=20240102"]
    argv = [M.dcmtk("findscu"), "-v", "-W", "-aet", "FINDSCU", "-aec", M.WL_AE]
    for k in keys:
        argv += ["-k", k]
    with M.tcpdump(pcap, ports, procs.logdir):
        procs.run("findscu", argv + ["127.0.0.1", port])


def sc_mwl_pynetdicom(work: M.Work, procs: M.Procs, pcap: Path, ports):
    from pydicom.dataset import Dataset
    from pynetdicom import AE

    M.pynet_quiet()
    port = ports[0]
    _wlm(procs, work, port)
    q = Dataset()
    q.add_new(0x00100010, "LO", "")            # PatientName, but as LO instead of PN
    q.AccessionNumber = ""
    sps = Dataset()
    sps.Modality = "CT"
    sps.ScheduledStationAETitle = "CT1"
    sps.ScheduledProcedureStepStartDate = "20240102"
    q.ScheduledProcedureStepSequence = [sps]
    res = []
    with M.tcpdump(pcap, ports, procs.logdir):
        ae = AE(ae_title="FINDSCU")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
        ae.add_requested_context(MWL, ["1.2.840.10008.1.2.1"])
        assoc = ae.associate("127.0.0.1", port, ae_title=M.WL_AE)
        assert assoc.is_established
        try:
            res = [s.Status for s, _i in assoc.send_c_find(q, MWL)]
            assoc.release()
        finally:
            if assoc.is_alive():
                assoc.abort()
        time.sleep(0.3)
    M.LOG(f"    statuses: {res}")


SCENARIOS = {
    "diag_status": (sc_diag_status, [7300]),
    "diag_per_object": (sc_diag_per_object, [7400]),
    "diag_more": (sc_diag_more, [7310]),
    "diag_move_nosub": (sc_diag_move_nosub, [7500]),
    "mwl_dcmtk": (sc_mwl_dcmtk, [4244]),
    "mwl_pynetdicom": (sc_mwl_pynetdicom, [4245]),
}


def main(argv=None) -> int:
    return M.run_scenarios(SCENARIOS, argv, script="make_diag_captures.py", doc=__doc__,
                           work_default="/tmp/dicomsniff-diag-work")


if __name__ == "__main__":
    sys.exit(main())
