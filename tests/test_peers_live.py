"""Live runs of the other DICOM stacks on loopback: Orthanc (SCP and SCU), CTN, gdcmscu and Odil (issue 12).

Each test runs one scenario of scripts/make_peer_captures.py now, on free ports, with tcpdump on ``lo``
(the same code that made the committed ``captures/peer_*.pcap``), then checks the fresh capture: every
association the peers made is there, with the commands and statuses the scenario reports from the peers
(their exit codes, REST answers and logs), every message is complete, and ``dicomsniff diagnose`` exits 0
with no error or warning. Servers are stopped in every case (Procs.stop_all); every wait and every SCU
run is bounded. Skipped, with the reason, without root, tcpdump or a stack's binaries.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from dicomsniff.capture.reader import open_capture
from dicomsniff.cli import main
from dicomsniff.dimse.commands import command_name
from dicomsniff.pipeline import analyze_frames

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import make_peer_captures as P  # noqa: E402

HAVE = P.available()

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="capturing on lo needs root"),
    pytest.mark.skipif(not HAVE["tcpdump"], reason="tcpdump not installed"),
    pytest.mark.skipif(not HAVE["dcmtk"], reason="DCMTK not in /usr/bin"),
]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Test objects and the worklist database (make_captures.Work), shared by the scenarios."""
    w = P.M.Work(tmp_path_factory.mktemp("peers-live"), False)
    w.prepare(move_dest_port=P.free_port())
    return w


def run_live(work, name: str, tmp_path: Path) -> tuple[dict, Path]:
    missing = [n for n in P.SCENARIOS[name]["needs"] if not HAVE.get(n)]
    if missing:
        pytest.skip(f"{name}: not installed: {', '.join(missing)} (scripts/test-deps.sh installs them)")
    ports = []
    while len(ports) < len(P.SCENARIOS[name]["ports"]):
        p = P.free_port()
        if p not in ports:
            ports.append(p)
    pcap = tmp_path / f"{name}.pcap"
    facts = P.run_scenario(name, work, pcap, ports)
    return facts, pcap


def check_decode(facts: dict, pcap: Path) -> None:
    an, _ = analyze_frames(open_capture(pcap), ports=set(facts["ports"]))
    got = sorted(an.associations, key=lambda a: a.start_ns or 0)
    want = facts["associations"]
    assert [(a.calling_ae, a.called_ae) for a in got] == [(e["calling_ae"], e["called_ae"]) for e in want]
    for a, e in zip(got, want):
        assert a.ac is not None and a.outcome == "released" and a.gaps == 0
        assert all(m.complete and m.command is not None for m in a.messages)
        if "commands" in e:
            assert Counter(command_name(m.command.command_field) for m in a.messages) == Counter(e["commands"])
        if "statuses" in e:
            assert [m.command.status for m in a.messages if m.command.status is not None] == e["statuses"]
    every = Counter(command_name(m.command.command_field) for a in got for m in a.messages)
    assert every == Counter(facts["commands"])


def check_healthy(pcap: Path) -> None:
    r = CliRunner().invoke(main, ["diagnose", "--json", str(pcap)])
    doc = json.loads(r.output)
    bad = [(f["association"], f["severity"], f["code"], f["message"]) for f in doc["findings"]
           if f["severity"] != "note"]
    assert bad == [] and r.exit_code == 0


@pytest.mark.parametrize("name", ["peer_orthanc_scp", "peer_orthanc_scu", "peer_ctn_scp", "peer_ctn_scu",
                                  "peer_gdcm", "peer_odil"])
def test_live_peer_scenario(work, tmp_path, name):
    facts, pcap = run_live(work, name, tmp_path)
    assert facts["healthy"]
    check_decode(facts, pcap)
    check_healthy(pcap)


def test_live_orthanc_worklist(work, tmp_path):
    facts, pcap = run_live(work, "peer_orthanc_mwl", tmp_path)
    check_decode(facts, pcap)
    an, _ = analyze_frames(open_capture(pcap), ports=set(facts["ports"]))
    (a,) = an.associations
    names = sorted(str(m.data.dataset.PatientName) for m in a.messages
                   if m.data is not None and command_name(m.command.command_field) == "C-FIND-RSP")
    assert names == sorted(x["PatientName"] for x in facts["matches"])
    check_healthy(pcap)


def test_live_orthanc_refusals(work, tmp_path):
    """Strict Orthanc: two associations rejected, a C-FIND answered by A-ABORT, C-MOVE 0xC000, C-STORE 0xA700."""
    facts, pcap = run_live(work, "peer_orthanc_fail", tmp_path)
    an, _ = analyze_frames(open_capture(pcap), ports=set(facts["ports"]))
    got = sorted(an.associations, key=lambda a: a.start_ns or 0)
    assert [(a.calling_ae, a.called_ae, a.outcome) for a in got] == \
        [(e["calling_ae"], e["called_ae"], {"rejected": "rejected", "abort": "aborted", "release": "released"}
          [e["result"] if e["result"] == "rejected" else e["end"]]) for e in facts["associations"]]
    assert [(a.rj.result, a.rj.source, a.rj.reason) for a in got[:2]] == [(1, 1, 3), (1, 1, 7)]
    assert [m.command.status for a in got[3:] for m in a.messages if m.command.status is not None] == [0xC000, 0xA700]
    r = CliRunner().invoke(main, ["diagnose", "--json", str(pcap)])
    doc = json.loads(r.output)
    assert r.exit_code == 2
    assert {f["association"] for f in doc["findings"] if f["severity"] == "error"} == {1, 2, 3, 4, 5}
