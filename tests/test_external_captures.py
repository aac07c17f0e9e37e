"""Third-party captures (go-netdicom A-ASSOCIATE-RQs, via virtalabs/tapirx test data) decode as their README says.

The files are GPL-3.0 data and are read from /work/shared/external-captures (or
$DICOMSNIFF_EXTERNAL_CAPTURES); never copied into this repository. Tests skip when absent.
#2 and #4 carry one A-ASSOCIATE-RQ of 16503 bytes split over two TCP segments.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from dicomsniff.capture.reader import open_capture
from dicomsniff.cli import main
from dicomsniff.pipeline import PduSeen, analyze_frames

EXTERNAL = Path(os.environ.get("DICOMSNIFF_EXTERNAL_CAPTURES", "/work/shared/external-captures"))

FOUR_TS = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"]
GO_UID = "1.2.826.0.1.3680043.9.7133.1.1"

# file, calling, called, PDU length, contexts, TCP segments
CASES = [
    ("dicom_arq_1_find_testclient.pcap", "testclient", "testserver", 677, 4, 1),
    ("dicom_arq_2_get_testclient.pcap", "testclient", "testserver", 16503, 123, 2),
    ("dicom_arq_3_find_bogus_local.pcap", "bogus_local", "bogus_remote", 677, 4, 1),
    ("dicom_arq_4_get_bogus_local.pcap", "testclient", "testserver", 16503, 123, 2),
]


def _path(name: str) -> Path:
    p = EXTERNAL / name
    if not p.is_file():
        pytest.skip(f"external capture {p} not available")
    return p


@pytest.mark.parametrize("name,calling,called,length,n_ctx,segments", CASES)
def test_analyzer_decodes_external_rq(name, calling, called, length, n_ctx, segments):
    an, events = analyze_frames(open_capture(_path(name)))
    pdus = [ev.pdu for ev in events if type(ev) is PduSeen]
    assert len(pdus) == 1
    pdu = pdus[0]
    assert pdu.pdu_type == 1 and pdu.complete
    assert pdu.length == length
    assert pdu.spans.length == length + 6
    # the split RQ is reassembled from both segments and shown where it completes
    assert pdu.spans.frames == list(range(1, segments + 1))
    assert [s.length for s in pdu.spans.spans] == ([length + 6] if segments == 1 else [16332, 177])
    (a,) = an.associations
    assert (a.calling_ae, a.called_ae) == (calling, called)
    assert a.server.port == 104
    assert a.outcome == "incomplete" and a.ac is None and a.rj is None and a.abort is None
    assert any(f.code == "association-incomplete" for f in a.findings)
    assert a.max_pdu == {"requestor": 4194304, "acceptor": None}
    assert a.rq.user_info.implementation_class_uid == GO_UID
    assert a.rq.user_info.implementation_version == "GODICOM_1_1"
    assert sorted(a.contexts) == list(range(1, 2 * n_ctx, 2))
    for ctx in a.contexts.values():
        assert ctx.proposed == FOUR_TS
        assert ctx.result is None and ctx.result_text == "not answered"
        assert re.fullmatch(r"1\.2\.840\.10008\.[0-9.]+", ctx.abstract_syntax)
    tree = pdu.tree()
    assert len(tree.find_all("dicom.pctx")) == n_ctx
    assert len(tree.find_all("dicom.pctx.xfer.syntax")) == 4 * n_ctx
    assert not [f for f in tree.all_findings() if f.severity == "error"]
    for _, f in tree.walk():
        assert 0 <= f.offset and f.end <= length + 6


@pytest.mark.parametrize("name,calling,called,length,n_ctx,segments", CASES)
def test_dump_external_rq(name, calling, called, length, n_ctx, segments):
    r = CliRunner().invoke(main, ["dump", str(_path(name))])
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.output.splitlines() if "A-ASSOCIATE" in ln]
    assert len(lines) == 1
    assert lines[0].split()[0] == str(segments)        # shown in the frame where it completes
    assert f"A-ASSOCIATE-RQ {calling} → {called}" in lines[0]
    assert ":104" in lines[0] and "incomplete" not in lines[0]
    rv = CliRunner().invoke(main, ["dump", "-V", str(_path(name))])
    assert rv.exit_code == 0
    assert f"PDU Length: {length}" in rv.output
    assert rv.output.count("Presentation Context (RQ): ID ") == n_ctx
    assert "Maximum Length Received: 4194304" in rv.output
    assert "GODICOM_1_1" in rv.output and GO_UID in rv.output


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_external_contexts_agree_with_tshark(name):
    out = subprocess.run(["tshark", "-r", str(_path(name)), "-d", "tcp.port==104,dicom", "-T", "fields",
                          "-E", "occurrence=a", "-e", "dicom.pctx.id", "-e", "dicom.pctx.abss.syntax",
                          "-Y", "dicom"], capture_output=True, text=True, timeout=60).stdout
    (line,) = [ln for ln in out.splitlines() if ln.strip()]
    ids, abstract = line.split("\t")
    an, _ = analyze_frames(open_capture(_path(name)))
    (a,) = an.associations
    assert [int(x, 0) for x in ids.split(",")] == sorted(a.contexts)
    assert re.findall(r"\(([0-9.]+)\)", abstract) == [a.contexts[i].abstract_syntax for i in sorted(a.contexts)]
