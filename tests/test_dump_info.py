"""``dicomsniff dump`` reads like Wireshark's packet list (issue 13 item 2).

The Info text of P-DATA-TF lines names the DIMSE command, message ID, SOP class and
status, and data-set fragments their message, role and size; lines come in frame
order, also when a PDU cut by a reset is reported after the A-ABORT that followed it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

import dimse_fixtures as D
import evidence_fixtures as E
import pdu_fixtures as P
from capwriter import ACK, ETHERNET, RST
from dicomsniff.capture.frame import Frame
from dicomsniff.cli import main
from dicomsniff.output.dump import DumpWriter, write_dump
from dicomsniff.pipeline import Analyzer
from dicomsniff.reading import read_events

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
# DICOM over TLS without its key log has no PDU to dump (issue 15: tests/test_tls_*.py check those captures)
TLS_FILES = {i["file"] for i in __import__("json").loads((CAPTURES / "manifest.json").read_text())
             .get("tls_captures", {}).values()}
LINE = re.compile(r"^\s*(\d+)\s+\S+\s+#(\d+)\s+(\S+) → (\S+)  (.*)$")


def dump_lines(source, *, stream_data: bool = False, window: int | None = None, verbose: bool = False) -> list[str]:
    an = Analyzer(keep_pdus=False, decode_data=verbose, stream_data=stream_data)
    out: list[str] = []
    write_dump(read_events(source, an), out.append, verbose=verbose, t0=lambda: an.first_ts or 0, window=window)
    return out


def info_by_frame(lines: list[str]) -> list[tuple[int, str]]:
    rows = []
    for line in lines:
        m = LINE.match(line)
        if m:
            rows.append((int(m.group(1)), m.group(5)))
    return rows


def test_store_info_names_command_sop_class_status_and_data_size():
    rows = info_by_frame(dump_lines(CAPTURES / "store.pcap"))
    assert rows[2:5] == [
        (10, "P-DATA-TF C-STORE-RQ ID=1 CT Image Storage (Command, Last)"),
        (10, "P-DATA-TF C-STORE-RQ ID=1 Data (Last) 1.4 KiB"),
        (14, "P-DATA-TF C-STORE-RSP ID=1 Success (Command, Last)"),
    ]
    assert (34, "P-DATA-TF C-STORE-RQ ID=4 Data (Last) 1004 B") in rows
    assert (18, "P-DATA-TF C-STORE-RQ ID=2 MR Image Storage (Command, Last)") in rows
    assert rows[0] == (4, "A-ASSOCIATE-RQ STORESCU → STORESCP")
    assert rows[-1] == (49, "A-RELEASE-RP")


def test_find_mwl_info_shows_pending_status_with_meaning():
    rows = info_by_frame(dump_lines(CAPTURES / "find_mwl.pcap"))
    infos = [i for f, i in rows if f in (10, 14)]
    assert infos == [
        "P-DATA-TF C-FIND-RQ ID=1 Modality Worklist Information Model - FIND (Command, Last)",
        "P-DATA-TF C-FIND-RQ ID=1 Data (Last) 114 B",
        "P-DATA-TF C-FIND-RSP ID=1 0xFF00 Matches are continuing: current match supplied,"
        " Optional Keys supported (Command, Last)",
        "P-DATA-TF C-FIND-RSP ID=1 Data (Last) 182 B",
        "P-DATA-TF C-FIND-RSP ID=1 0xFF00 Matches are continuing: current match supplied,"
        " Optional Keys supported (Command, Last)",
        "P-DATA-TF C-FIND-RSP ID=1 Data (Last) 182 B",
        "P-DATA-TF C-FIND-RSP ID=1 Success (Command, Last)",
    ]


def test_move_info_shows_destination_sub_operations_and_failure_meaning():
    rows = {}
    for f, i in info_by_frame(dump_lines(CAPTURES / "move.pcap")):
        rows.setdefault(f, i)
    assert rows[10] == ("P-DATA-TF C-MOVE-RQ ID=1 Study Root Query/Retrieve Information Model - MOVE"
                        " to STORESCP (Command, Last)")
    # tshark: "C-MOVE-RSP ID=1 C=1 R=2"
    assert rows[32] == "P-DATA-TF C-MOVE-RSP ID=1 R=2 C=1 0xFF00 Sub-operations are continuing (Command, Last)"
    assert rows[62] == "P-DATA-TF C-MOVE-RSP ID=1 C=3 Success (Command, Last)"
    assert rows[83] == "P-DATA-TF C-MOVE-RSP ID=1 0xA801 Refused: Move Destination unknown (Command, Last)"


def test_data_set_over_many_pdus_counts_its_fragments():
    lines = info_by_frame(dump_lines(CAPTURES / "close_scp_killed.pcap"))
    data = [i for _, i in lines if "Data" in i]
    assert data[-1].endswith("  [incomplete]")
    assert all(i.removesuffix("  [incomplete]") == "P-DATA-TF C-STORE-RQ ID=1 Data (More) 16.0 KiB" for i in data)
    # CTN ends each data set with an empty PDV: the last one gives the data set's total.
    ctn = [i for _, i in info_by_frame(dump_lines(CAPTURES / "peer_ctn_scu.pcap")) if "Data (Last)" in i]
    assert ctn and all(re.fullmatch(r"P-DATA-TF C-STORE-RQ ID=\d Data \(Last\) 0 B, data set \d\.\d KiB", i)
                       for i in ctn), ctn


@pytest.mark.parametrize("name", ["store.pcap", "move.pcap", "get.pcap", "pynetdicom.pcap", "close_scp_killed.pcap"])
def test_same_lines_whether_data_is_streamed_or_not_and_whatever_the_window(name):
    """The command is known from DataStarted (streamed) or from MessageSeen (after the data set)."""
    base = dump_lines(CAPTURES / name)
    assert dump_lines(CAPTURES / name, stream_data=True) == base
    assert dump_lines(CAPTURES / name, window=0) == base


def _monotonic(lines: list[str]) -> list[int]:
    return [f for f, _ in info_by_frame(lines)]


@pytest.mark.parametrize("path", sorted(CAPTURES.glob("*.pcap")), ids=lambda p: p.name)
def test_frame_order_is_monotonic_for_every_shipped_capture(path):
    frames = _monotonic(dump_lines(path))
    assert frames or path.name in TLS_FILES, path
    assert frames == sorted(frames)


def cut_by_abort() -> bytes:
    """C-STORE #1 answered; C-STORE #2's PDU is half sent when the server sends A-ABORT and resets."""
    c = E.established([(1, E.CT)])
    c.send(0, E.cmd(1, D.store_rq(1, "1.2.3.1")) + E.data(1, E.ct_object("1.2.3.1")))
    c.send(1, E.cmd(1, E.store_rsp(1, 0, "1.2.3.1")))
    pdu = E.cmd(1, D.store_rq(2, "1.2.3.2")) + E.data(1, E.ct_object("1.2.3.2", pixels=20_000))
    c.send(0, pdu[:len(pdu) // 2])
    c.send(1, P.abort(2, 0))
    c.close(1, RST | ACK)
    return E.pcap_of(c)


@pytest.mark.parametrize("stream_data", [False, True])
def test_pdu_cut_by_abort_is_printed_at_its_frame_before_the_abort(stream_data):
    lines = dump_lines(cut_by_abort(), stream_data=stream_data)
    rows = info_by_frame(lines)
    frames = [f for f, _ in rows]
    assert frames == sorted(frames)
    cut = next(k for k, line in enumerate(lines) if line.endswith("[incomplete]"))
    abort = next(k for k, line in enumerate(lines) if "A-ABORT" in line)
    assert cut == abort - 1
    assert "C-STORE-RQ ID=2 Data (More) 15.6 KiB" in lines[cut]


def test_without_the_window_the_cut_pdu_would_come_after_the_abort():
    """What the window is for: the cut PDU is reported when the stream closes, after the A-ABORT."""
    frames = _monotonic(dump_lines(cut_by_abort(), stream_data=True, window=0))
    assert frames != sorted(frames)


def test_cli_dump_prints_info(tmp_path):
    res = CliRunner().invoke(main, ["dump", str(CAPTURES / "echo.pcap")])
    assert res.exit_code == 0, res.output
    rows = info_by_frame(res.output.splitlines())
    assert [i for _, i in rows if i.startswith("P-DATA")] == [
        "P-DATA-TF C-ECHO-RQ ID=1 Verification SOP Class (Command, Last)",
        "P-DATA-TF C-ECHO-RSP ID=1 Success (Command, Last)",
    ]


def test_verbose_keeps_trees_under_their_line():
    lines = dump_lines(CAPTURES / "echo.pcap", verbose=True)
    i = next(k for k, line in enumerate(lines) if "C-ECHO-RQ ID=1" in line)
    assert lines[i + 1].startswith("    DICOM: P-DATA-TF") or lines[i + 1].startswith("    ")
    assert any(line.startswith("    DIMSE C-ECHO-RQ") for line in lines[i + 1:])


def test_lines_are_not_held_back_more_than_a_second_of_capture_time():
    """A live pipe sees a line once the capture clock is a second past it, association still open."""
    c = E.established([(1, P.VERIFICATION)])
    c.send(0, E.cmd(1, D.echo_rq(1)))
    c.send(1, E.cmd(1, D.echo_rsp(1)))
    c.at(c.clock + 2_000_000_000)
    c.send(0, E.cmd(1, D.echo_rq(2)))
    an = Analyzer(keep_pdus=False)
    out: list[str] = []
    w = DumpWriter(out.append, verbose=False, t0=lambda: an.first_ts or 0)
    for n, (ts, data) in enumerate(c.records(), 1):
        for ev in an.feed(Frame(n, ts, ETHERNET, data, len(data))):
            w.feed(ev)
    assert any("C-ECHO-RSP ID=1 Success" in line for line in out)
    assert not any("ID=2" in line for line in out)       # the newest line is still kept back
    for ev in an.finish():
        w.feed(ev)
    w.finish()
    assert "C-ECHO-RQ ID=2" in out[-1]


def test_lines_waiting_for_a_command_are_bounded(monkeypatch):
    """Without streamed data a C-STORE's command is known only after its data set: past MAX_HELD
    waiting lines, the oldest is written with what is known (context, role, size), in order."""
    import dicomsniff.output.dump as dump
    monkeypatch.setattr(dump, "MAX_HELD", 2)
    lines = dump_lines(CAPTURES / "close_scp_killed.pcap")
    rows = info_by_frame(lines)
    assert [f for f, _ in rows] == sorted(f for f, _ in rows)
    assert len(rows) == len(info_by_frame(dump_lines(CAPTURES / "close_scp_killed.pcap", stream_data=True)))
    assert (8, "P-DATA-TF ctx 1 Command (Last) 134 B") in rows
    assert any(i == "P-DATA-TF ctx 1 Data (More) 16.0 KiB" for _, i in rows)


TSHARK_CASES = {"store.pcap": [11112], "find_mwl.pcap": [4242], "move.pcap": [5678, 5679], "get.pcap": [5680],
                "pynetdicom.pcap": [7000]}
TSHARK_CMD = re.compile(r"\b(C-[A-Z]+-(?:RQ|RSP)) ID=(\d+)")


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name", sorted(TSHARK_CASES))
def test_every_command_tshark_names_is_on_our_line_of_that_frame(name):
    """Second opinion: where tshark's Info names a DIMSE command and message ID, so does ours, same frame."""
    decode = [a for p in TSHARK_CASES[name] for a in ("-d", f"tcp.port=={p},dicom")]
    out = subprocess.run(["tshark", "-r", str(CAPTURES / name), *decode, "-Y", "dicom",
                          "-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    ours: dict[int, list[str]] = {}
    for f, info in info_by_frame(dump_lines(CAPTURES / name)):
        ours.setdefault(f, []).append(info)
    checked = 0
    for row in out.stdout.splitlines():
        frame_no, _, info = row.partition("\t")
        for cmd, mid in TSHARK_CMD.findall(info):
            mine = ours.get(int(frame_no), [])
            assert any(f"{cmd} ID={mid}" in i for i in mine), (frame_no, info, mine)
            checked += 1
    assert checked >= 3
