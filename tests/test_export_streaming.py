"""``export-objects`` with many transfers at once: every object exact, file descriptors bounded (issue 6 §3)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from capwriter import ETHERNET, pcap_bytes
from dicomsniff.output import export_objects as X
from tests.pdu_fixtures import (COMMAND, CT_STORAGE, DATA, IMPLICIT_LE, LAST, assoc_ac, assoc_rq, pdata, release_rp,
                                release_rq)
from tests.test_export_objects import Conversation, meta_end, run, small_dataset, store_rq


def concurrent_capture(n: int) -> tuple[bytes, list[bytes]]:
    """``n`` associations, each sending one C-STORE in three fragments, all interleaved: every transfer
    is open while every other is. Returns the capture and each association's data set."""
    convs = [Conversation(client=("10.0.0.1", 20000 + i)) for i in range(n)]
    data = [small_dataset(f"1.2.3.{i}") + bytes([i % 251]) * (1000 + i) for i in range(n)]
    data = [d + b"\x00" * (len(d) % 2) for d in data]
    for c in convs:
        c.send(True, assoc_rq("SCU", "SCP", [(1, CT_STORAGE, [IMPLICIT_LE])], max_pdu=0))
        c.send(False, assoc_ac("SCU", "SCP", [(1, 0, IMPLICIT_LE)], max_pdu=0))
    for i, c in enumerate(convs):
        c.send(True, pdata([(1, COMMAND | LAST, store_rq(CT_STORAGE, f"1.2.3.{i}"))]))
    thirds = [(0, 300), (300, 700), (700, None)]
    for k, (a, b) in enumerate(thirds):
        for i, c in enumerate(convs):
            c.send(True, pdata([(1, DATA | (LAST if k == 2 else 0), data[i][a:b])]))
    for c in convs:
        c.send(True, release_rq())
        c.send(False, release_rp())
        c.close()
    records = sorted((r for c in convs for r in c.take()), key=lambda r: r[0])
    return pcap_bytes(records, ETHERNET), data


def check(out, data) -> None:
    files = sorted(out.iterdir())
    assert len(files) == len(data)
    for f in files:
        raw = f.read_bytes()
        i = int(f.name.split("-1.2.3.")[1][:-4])
        assert raw[meta_end(f):] == data[i], f.name
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_more_concurrent_transfers_than_open_files(tmp_path, monkeypatch):
    """With room for 3 open files, 40 interleaved transfers are closed and reopened in turn, byte-exact."""
    monkeypatch.setattr(X, "MAX_OPEN", 3)
    cap, data = concurrent_capture(40)
    (tmp_path / "c.pcap").write_bytes(cap)
    result = run(tmp_path / "c.pcap", tmp_path / "out")
    assert result.exit_code == 0 and "40 object(s) written" in result.stdout
    check(tmp_path / "out", data)


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("dicomsniff") is None
                    or shutil.which("sh") is None, reason="needs the installed CLI and ulimit")
def test_file_descriptor_limit_is_not_reached(tmp_path):
    """300 transfers open at once under ``ulimit -n 100``: no 'Too many open files'."""
    cap, data = concurrent_capture(300)
    (tmp_path / "c.pcap").write_bytes(cap)
    out = tmp_path / "out"
    proc = subprocess.run(["sh", "-c", 'ulimit -n 100 && exec dicomsniff export-objects "$0" "$1"',
                           str(tmp_path / "c.pcap"), str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("300 object(s) written")
    check(out, data)
