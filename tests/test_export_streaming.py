"""``export-objects`` with many transfers at once: every object exact, file descriptors bounded (issue 6 §3)."""

from __future__ import annotations

import json
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


# -- export -o: the document is spooled, not kept (issue 12 item 8) ---------------------------------------


def _traced_peak(fn) -> int:
    import gc
    import tracemalloc
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _export_peaks(path) -> tuple[int, int, str]:
    """Traced peak bytes of the -o document and of --jsonl on one capture, and the document's text."""
    import io

    from dicomsniff.cli import STREAM_EXCHANGES
    from dicomsniff.output import json_export as J
    from dicomsniff.pipeline import Analyzer
    from dicomsniff.reading import read_events

    def analyzer():
        return Analyzer(keep_pdus=False, keep_exchanges=STREAM_EXCHANGES, keep_limit=256 << 10)

    doc = io.StringIO()
    sink = []

    def run_doc():
        an = analyzer()
        J.write_document_stream(read_events(str(path), an), doc.write, str(path), an)

    def run_jsonl():
        an = analyzer()
        J.write_jsonl(read_events(str(path), an), lambda line: sink.append(len(line)), str(path), an)

    return _traced_peak(run_doc), _traced_peak(run_jsonl), doc.getvalue()


def test_document_memory_is_that_of_the_line_stream(tmp_path):
    """1,500 unanswered C-ECHO-RQs: writing the -o document costs no more memory than --jsonl, which keeps no
    per-message list (a document built in memory, as before, cost ~7 KB more per message: +10 MB here)."""
    import json

    from floodcap import write_echo_flood
    path = tmp_path / "flood.pcap"
    write_echo_flood(path, 1500)
    doc_peak, jsonl_peak, text = _export_peaks(path)
    doc = json.loads(text)
    assert len(doc["associations"]) == 1 and len(doc["associations"][0]["messages"]) == 1500
    assert [m["message_id"] for m in doc["associations"][0]["messages"]] == list(range(1, 1501))
    assert len(doc["associations"][0]["pdus"]) == 1500 + 3
    assert doc_peak <= jsonl_peak * 1.25 + (2 << 20), (doc_peak, jsonl_peak)


def test_document_of_interleaved_associations(tmp_path):
    """Records of associations open at the same time go to the right association, in order."""
    import json

    from click.testing import CliRunner

    from dicomsniff.cli import main
    cap, _ = concurrent_capture(7)
    path = tmp_path / "c.pcap"
    path.write_bytes(cap)
    out = tmp_path / "c.json"
    r = CliRunner().invoke(main, ["export", str(path), "-o", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    r = CliRunner().invoke(main, ["export", str(path), "-o", "-", "--jsonl"])
    records = [json.loads(x) for x in r.output.splitlines()]
    assert [a["number"] for a in doc["associations"]] == list(range(1, 8))
    for a in doc["associations"]:
        for kind in ("pdu", "message"):
            want = [{k: v for k, v in x.items() if k not in ("record", "association")}
                    for x in records if x["record"] == kind and x["association"] == a["number"]]
            assert a[kind + "s"] == want
        assert [m["command"] for m in a["messages"]] == ["C-STORE-RQ"]
        assert len(a["pdus"]) == 8


def test_spool_keeps_lists_apart_and_characters_whole():
    """Records of interleaved lists come back per list, in order, comma-separated; reading in chunks
    that end inside a multi-byte character loses nothing."""
    from array import array

    from dicomsniff.output.json_export import _Spool
    spool = _Spool()
    a, b = array("q"), array("q")
    want_a, want_b = [], []
    for i in range(50):
        ta, tb = json.dumps({"n": i, "t": "→µ€" * (i % 4)}, ensure_ascii=False), json.dumps([i, "é"])
        spool.add(a, ta)
        want_a.append(ta)
        if i % 3:
            spool.add(b, tb)
            want_b.append(tb)
        if i % 7 == 0:
            spool.add(a, ta + " ")
            want_a.append(ta + " ")
    assert len(a) < 2 * len(want_a)                     # consecutive records share an extent
    for chunk in (1, 2, 3, 1 << 20):
        for ext, want in ((a, want_a), (b, want_b)):
            out: list[str] = []
            spool.copy(ext, out.append, chunk=chunk)
            assert "".join(out) == ",\n".join(want)
    spool.close()
