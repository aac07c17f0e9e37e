"""dicomsniff tables: Parquet rows equal the JSON export's records, incremental indexing by content hash,
associations cut at a file's end completed when the next file arrives, traffic values kept as data."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("duckdb")

from click.testing import CliRunner  # noqa: E402

from dicomsniff.cli import main  # noqa: E402
from dicomsniff.tables.build import STATE, build  # noqa: E402
from dicomsniff.tables.schema import SCHEMA_VERSION, TABLES  # noqa: E402

CAPS = Path(__file__).resolve().parent.parent / "captures"
EXPORTED = ["pynetdicom.pcap", "abort.pcap", "reject.pcap", "move.pcap", "diag_more.pcap", "store.pcap",
            "close_scp_killed.pcap", "peer_orthanc_fail.pcap", "get.pcap"]


def cli(*args):
    return CliRunner().invoke(main, list(args))


def rows(out: Path, table: str) -> list[dict]:
    files = sorted((out / table).glob("date=*/part-*.parquet"))
    got = []
    for f in files:
        for r in pq.read_table(f).to_pylist():
            r["date"] = f.parent.name[5:]
            got.append(r)
    return got


def export_json(capture: Path, tmp: Path) -> dict:
    out = tmp / (capture.stem + ".json")
    res = cli("export", str(capture), "-o", str(out), "--no-trees")
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text())


def iso_us(t) -> str | None:
    """A Parquet timestamp as the JSON export writes times (ISO 8601 UTC, microseconds)."""
    if t is None:
        return None
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tables")
    out = tmp / "t"
    rep = build([str(CAPS / c) for c in EXPORTED], str(out), workers=0)
    assert rep.errors == []
    return tmp, out


MESSAGE_KEYS = ["index", "command", "direction", "message_id", "responds_to", "context_id",
                "affected_sop_class_uid", "affected_sop_instance_uid", "status", "status_text",
                "status_category", "frames", "complete", "cut", "transfer_syntax", "data_set_length"]
FINDING_KEYS = [("severity", "severity"), ("code", "code"), ("rule_group", "group"), ("message", "message"),
                ("frames", "frames"), ("count", "count"), ("first_frame", "first_frame"),
                ("last_frame", "last_frame"), ("hint", "hint"), ("association", "association")]


@pytest.mark.parametrize("name", EXPORTED)
def test_rows_equal_json_export(indexed, name):
    """Messages and findings row by row, associations and contexts field by field, as `export -o` has them."""
    tmp, out = indexed
    doc = export_json(CAPS / name, tmp)
    path = str(CAPS / name)
    files = [f for f in rows(out, "files") if f["path"] == path]
    assert len(files) == 1
    gid = files[0]["group_id"]
    msgs = sorted((r for r in rows(out, "messages") if r["group_id"] == gid),
                  key=lambda r: (r["association"], r["index"]))
    want = [(a["number"], m) for a in doc["associations"] for m in a["messages"]]
    assert len(msgs) == len(want) > 0 or name == "reject.pcap"
    for got, (number, m) in zip(msgs, want):
        assert got["association"] == number
        assert {k: got[k] for k in MESSAGE_KEYS} == {k: m[k] for k in MESSAGE_KEYS}
        assert iso_us(got["time"]) == m["time"]
        assert got["file"] == path and got["file_frame"] == m["frames"][0]
    finds = [r for r in rows(out, "findings") if r["group_id"] == gid]
    assert len(finds) == len(doc["findings"])
    for got, f in zip(sorted(finds, key=lambda r: doc_order(doc, r)), doc["findings"]):
        assert {k: got[k] for k, _ in FINDING_KEYS} == {k: f[j] for k, j in FINDING_KEYS}
    assocs = {r["association"]: r for r in rows(out, "associations") if r["group_id"] == gid}
    assert sorted(assocs) == [a["number"] for a in doc["associations"]]
    ctx = [r for r in rows(out, "contexts") if r["group_id"] == gid]
    for a in doc["associations"]:
        r = assocs[a["number"]]
        assert (r["calling_ae"], r["called_ae"], r["state"], r["client_port"], r["server_port"]) == \
            (a["calling_ae"], a["called_ae"], a["state"], a["client"]["port"], a["server"]["port"])
        assert iso_us(r["start"]) == a["start"] and iso_us(r["end"]) == a["end"]
        assert (r["abort_source"], r["abort_reason"]) == ((a["abort"] or {}).get("source"),
                                                          (a["abort"] or {}).get("reason"))
        assert r["reject_reason"] == (a["reject"] or {}).get("reason")
        assert (r["messages"], r["pdus"], r["objects"], r["failures"]) == \
            (a["counts"]["messages"], a["counts"]["pdus"], a["counts"]["objects"], a["counts"]["failures"])
        assert r["date"] == a["start"][:10]
        mine = sorted((c for c in ctx if c["association"] == a["number"]), key=lambda c: c["context_id"])
        assert [(c["context_id"], c["abstract_syntax"], c["transfer_syntaxes"], c["result"], c["transfer_syntax"])
                for c in mine] == [(c["id"], c["abstract_syntax"], c["transfer_syntaxes"], c["result"],
                                    c["transfer_syntax"]) for c in a["contexts"]]


def doc_order(doc, row):
    """Findings rows come in the export's order; rows of different dates are re-sorted back to it."""
    for i, f in enumerate(doc["findings"]):
        if (f["code"], f["association"], f["message"]) == (row["code"], row["association"], row["message"]):
            return i
    return len(doc["findings"])


def test_objects_and_latency(indexed):
    """C-STORE objects with their response status; a request carries its final response's latency."""
    _, out = indexed
    path = str(CAPS / "pynetdicom.pcap")
    gid = next(f["group_id"] for f in rows(out, "files") if f["path"] == path)
    objs = sorted((o for o in rows(out, "objects") if o["group_id"] == gid), key=lambda o: o["message_index"])
    # 2 C-STORE from the SCU (CT 0x0000, MR 0xA700), 2 C-GET sub-operations from the SCP
    assert [o["status"] for o in objs] == [0x0000, 0xA700, 0x0000, 0x0000]
    assert [o["source_ae"] for o in objs] == ["PYNETSCU", "PYNETSCU", "PYNETSCP", "PYNETSCP"]
    assert all(o["size"] > 0 and o["complete"] for o in objs)
    msgs = [m for m in rows(out, "messages") if m["group_id"] == gid]
    for rq in (m for m in msgs if m["message_id"] is not None and m["responds_to"] is None):
        finals = [m for m in msgs if m["responds_to"] == rq["message_id"] and m["context_id"] == rq["context_id"]
                  and m["direction"] != rq["direction"] and m["status_category"] != "Pending"]
        assert finals, rq
        assert rq["response_time"] == finals[0]["time"] or rq["response_time"] >= finals[0]["time"]
        assert rq["latency_ms"] == pytest.approx((rq["response_time"] - rq["time"]).total_seconds() * 1000, abs=0.01)


def test_files_table_and_rerun_indexes_nothing(indexed):
    tmp, out = indexed
    files = rows(out, "files")
    assert sorted(f["name"] for f in files) == sorted(EXPORTED)
    import hashlib
    for f in files:
        assert f["sha256"] == hashlib.sha256(Path(f["path"]).read_bytes()).hexdigest()
        assert f["schema_version"] == SCHEMA_VERSION
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")}
    rep = build([str(CAPS / c) for c in EXPORTED], str(out), workers=0)
    assert (rep.files_new, rep.files_skipped, rep.groups_written) == (0, len(EXPORTED), 0)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")} == before
    # the same content under another name is not indexed again either
    copy = tmp / "renamed.pcap"
    shutil.copyfile(CAPS / "abort.pcap", copy)
    rep = build([str(copy)], str(out), workers=0)
    assert (rep.files_new, rep.files_skipped) == (0, 1)


def test_schema_matches_written_columns(indexed):
    _, out = indexed
    for t, cols in TABLES.items():
        parts = sorted((out / t).glob("date=*/part-*.parquet"))
        assert parts, t
        schema = pq.read_schema(parts[0])
        assert schema.names == [c for c, _, _ in cols]
        assert schema.metadata[b"dicomsniff.schema_version"] == str(SCHEMA_VERSION).encode()
    res = cli("tables", "x", "-o", str(out), "--schema")
    assert res.exit_code == 0 and "### messages" in res.output and "`latency_ms`" in res.output


def editcap_split(src: Path, dst: Path, n: int) -> list[Path]:
    if not shutil.which("editcap"):
        pytest.skip("editcap (wireshark-common) not installed")
    dst.mkdir()
    subprocess.run(["editcap", "-c", str(n), str(src), str(dst / "part.pcap")], check=True, capture_output=True)
    return sorted(dst.iterdir(), key=lambda p: int(p.name.split("_")[1]))


STABLE = {"associations": ("association_id", "association", "calling_ae", "called_ae", "client_port", "state",
                           "start", "end", "abort_source", "reject_reason", "messages", "pdus", "objects",
                           "bytes_client", "bytes_server", "failures", "gaps", "open_at_end", "date"),
          "messages": ("association_id", "association", "index", "command", "message_id", "responds_to", "status",
                       "frames", "complete", "cut", "data_set_length", "time", "request_time", "response_time",
                       "latency_ms", "date"),
          "findings": ("association_id", "association", "severity", "code", "message", "frames", "count"),
          "objects": ("association_id", "message_index", "sop_instance_uid", "size", "complete", "status"),
          "contexts": ("association_id", "context_id", "abstract_syntax", "result", "transfer_syntax")}


def snapshot(out: Path) -> dict:
    return {t: sorted(json.dumps({c: r[c] for c in cols}, default=str, sort_keys=True) for r in rows(out, t))
            for t, cols in STABLE.items()}


def test_incremental_cut_association_completed(tmp_path):
    """pynetdicom.pcap split every 17 frames (inside the association): indexed as the files arrive, the
    association cut at the end of the last file is provisional, and completed by the next file; at the end the
    tables are those of the unsplit capture."""
    parts = editcap_split(CAPS / "pynetdicom.pcap", tmp_path / "split", 17)
    assert len(parts) == 3
    ring = tmp_path / "ring"
    ring.mkdir()
    out = tmp_path / "t"
    whole = tmp_path / "whole"
    build([str(CAPS / "pynetdicom.pcap")], str(whole), workers=0)

    shutil.copy(parts[0], ring)
    rep = build([str(ring)], str(out), workers=0)
    assert (rep.files_new, rep.groups_written) == (1, 1)
    [a] = rows(out, "associations")
    assert a["open_at_end"] and a["state"] == "incomplete"
    state = json.loads((out / STATE).read_text())
    assert state["groups"][0]["files"][0]["open_at_end"]

    shutil.copy(parts[1], ring)
    rep = build([str(ring)], str(out), workers=0)
    assert (rep.files_new, rep.files_skipped, rep.groups_reopened) == (1, 1, 1)
    [a] = rows(out, "associations")
    assert a["open_at_end"] and len(rows(out, "files")) == 2
    assert len({f["group_id"] for f in rows(out, "files")}) == 1

    shutil.copy(parts[2], ring)
    rep = build([str(ring)], str(out), workers=0)
    assert (rep.files_new, rep.files_skipped, rep.groups_reopened) == (1, 2, 1)
    [a] = rows(out, "associations")
    assert a["state"] == "released" and not a["open_at_end"]
    assert snapshot(out) == snapshot(whole)
    # every part is named by a group the state knows; the reopened groups' parts are gone
    gids = {g["id"] for g in json.loads((out / STATE).read_text())["groups"]}
    assert {p.name[5:-8] for p in out.rglob("part-*.parquet")} == gids
    # the messages say which file holds their first frame, and where in it
    from dicomsniff.capture.reader import open_capture
    sizes = {}
    for p in parts:
        with open_capture(str(p)) as r:
            sizes[p.name] = sum(1 for _ in r)
    before = {p.name: sum(sizes[q.name] for q in parts[:i]) for i, p in enumerate(parts)}
    for m in rows(out, "messages"):
        name = Path(m["file"]).name
        assert m["file_frame"] == m["frames"][0] - before[name]
        assert 1 <= m["file_frame"] <= sizes[name]


def test_split_inside_pdus_one_run_equals_whole(tmp_path):
    """store.pcap split every 7 frames (boundaries inside PDUs and data sets), indexed in one run: one group,
    tables equal to the unsplit capture's."""
    parts = editcap_split(CAPS / "store.pcap", tmp_path / "split", 7)
    assert len(parts) > 3
    out, whole = tmp_path / "t", tmp_path / "whole"
    rep = build([str(tmp_path / "split")], str(out), workers=0)
    assert rep.files_new == len(parts) and rep.groups_written == 1
    build([str(CAPS / "store.pcap")], str(whole), workers=0)
    assert snapshot(out) == snapshot(whole)


HOSTILE = "../../x'; DROP TABLE messages; --"


def test_traffic_values_stay_data(tmp_path):
    """AE titles that look like paths and SQL are stored verbatim, queried through bound values, and name
    no file: part files are named by hex group ids and partitions by computed dates only."""
    from capwriter import ETHERNET, frame, pcap_bytes, tcp_packet, ACK, PSH, SYN
    from pdu_fixtures import assoc_rq
    rq = assoc_rq(calling=HOSTILE[:16], called="date=../../evil")
    pkts = [frame(ETHERNET, tcp_packet("10.0.0.1", "10.0.0.2", 40000, 104, seq=0, flags=SYN)),
            frame(ETHERNET, tcp_packet("10.0.0.2", "10.0.0.1", 104, 40000, seq=0, ack=1, flags=SYN | ACK)),
            frame(ETHERNET, tcp_packet("10.0.0.1", "10.0.0.2", 40000, 104, seq=1, ack=1, flags=PSH | ACK,
                                       payload=rq))]
    cap = tmp_path / "in" / "hostile.pcap"
    cap.parent.mkdir()
    cap.write_bytes(pcap_bytes([(1_700_000_000_000_000_000 + i * 1000, p) for i, p in enumerate(pkts)], ETHERNET))
    out = tmp_path / "t"
    rep = build([str(cap)], str(out), workers=0)
    assert rep.errors == []
    [a] = rows(out, "associations")
    assert (a["calling_ae"], a["called_ae"]) == (HOSTILE[:16], "date=../../evil")
    made = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    for p in made:
        assert p.startswith("in/") or p.startswith("t/"), p
        if p.endswith(".parquet"):
            table, date, part = p.split("/")[1:]
            assert table in TABLES and date == "date=2023-11-14"
            assert part[5:-8].isalnum() and all(c in "0123456789abcdef" for c in part[5:-8])
    res = cli("query", str(out), "select calling_ae, called_ae from associations")
    assert res.exit_code == 0 and HOSTILE[:16] in res.output
    res = cli("query", str(out), "select count(*) as n from messages")
    assert res.exit_code == 0 and "0" in res.output.split()      # the table is still there


def test_missing_extra_is_one_line(monkeypatch, tmp_path):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "duckdb" else real(name, *a))
    for args in (["tables", str(CAPS / "echo.pcap"), "-o", str(tmp_path / "t")], ["query", str(tmp_path), "select 1"]):
        res = cli(*args)
        assert res.exit_code == 2
        assert res.output.strip().splitlines() == [
            "dicomsniff: the tables need pyarrow, duckdb and dask: pip install 'dicomsniff[tables]'"]


def test_bad_inputs_one_line(tmp_path):
    res = cli("tables", str(tmp_path / "nothing.pcap"), "-o", str(tmp_path / "t"))
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "nothing.pcap" in res.output
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("x")
    res = cli("tables", str(CAPS / "echo.pcap"), "-o", str(busy))
    assert res.exit_code == 2 and "not empty and not a dicomsniff tables folder" in res.output
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all")
    res = cli("tables", str(junk), str(CAPS / "echo.pcap"), "-o", str(tmp_path / "t2"))
    assert res.exit_code == 1
    assert "junk.pcap" in res.output and "skipped" in res.output
    assert [f["name"] for f in rows(tmp_path / "t2", "files")] == ["echo.pcap"]


DOCS = CAPS.parent / "docs" / "tables.md"


def docs_example(name: str) -> str:
    """The ```python block after ``<!-- tested: NAME -->`` in docs/tables.md."""
    text = DOCS.read_text()
    at = text.index(f"<!-- tested: {name} -->")
    start = text.index("```python\n", at) + len("```python\n")
    return text[start:text.index("```", start)]


def test_docs_schema_is_the_code():
    from dicomsniff.tables.schema import schema_text
    text = DOCS.read_text()
    assert text.endswith(schema_text())


def test_scan_facts_equal_full_decode(tmp_path):
    """The light scan that decides the groups finds the edges the full decode finds (split pieces too)."""
    from dicomsniff.tables.index import file_meta, index_group, scan_file
    parts = editcap_split(CAPS / "concurrent.pcap", tmp_path / "split", 13)
    files = parts + [CAPS / n for n in ("close_crash.pcap", "close_scp_killed.pcap", "diag_status.pcap")]
    edges = set()
    for p in files:
        m = file_meta(str(p))
        facts, err = scan_file(m)
        assert err is None
        assert facts == index_group([m]).facts[0]
        edges.add((facts.open_at_start, facts.open_at_end))
    assert {(True, True), (False, True), (False, False)} <= edges


def test_group_size_cap_cuts_and_says_so(tmp_path):
    """Beyond --max-group a new group starts: the association open across that boundary is cut there, and
    the rows say so (open_at_end on one side, started mid-association on the other)."""
    parts = editcap_split(CAPS / "store.pcap", tmp_path / "split", 7)
    cap = sum(p.stat().st_size for p in parts[:2]) + 1
    out = tmp_path / "t"
    rep = build([str(tmp_path / "split")], str(out), workers=0, max_group_bytes=cap)
    assert rep.groups_written > 1
    state = json.loads((out / STATE).read_text())
    assert all(sum(f["size"] for f in g["files"]) <= cap for g in state["groups"])
    assocs = rows(out, "associations")
    assert any(a["open_at_end"] for a in assocs) and any(a["started_mid_association"] for a in assocs)
    res = cli("tables", str(tmp_path / "split"), "-o", str(tmp_path / "t2"), "--workers", "0", "--max-group", "1")
    assert res.exit_code == 0 and "1 group(s) written" in res.output       # 1 MB holds the whole split set
    res = cli("tables", str(tmp_path / "split"), "-o", str(tmp_path / "t3"), "--max-group", "0")
    assert res.exit_code == 2 and "--max-group" in res.output


def test_file_still_being_written_is_replaced(tmp_path):
    """A ring buffer's newest file indexed while written (here: its first frames), then complete: its rows
    are replaced, not added to."""
    if not shutil.which("editcap"):
        pytest.skip("editcap (wireshark-common) not installed")
    ring = tmp_path / "ring"
    ring.mkdir()
    live = ring / "current.pcap"
    subprocess.run(["editcap", "-r", str(CAPS / "pynetdicom.pcap"), str(live), "1-20"], check=True,
                   capture_output=True)
    out = tmp_path / "t"
    build([str(ring)], str(out), workers=0)
    assert [a["state"] for a in rows(out, "associations")] == ["incomplete"]
    shutil.copyfile(CAPS / "pynetdicom.pcap", live)
    rep = build([str(ring)], str(out), workers=0)
    assert (rep.groups_replaced, rep.files_new) == (1, 1)
    assert [a["state"] for a in rows(out, "associations")] == ["released"]
    assert len(rows(out, "files")) == 1 and len(json.loads((out / STATE).read_text())["groups"]) == 1


def test_unrelated_mid_association_start_does_not_join(tmp_path):
    """A file beginning with an association under way on a connection no earlier file left open (the capture
    simply started late on it) is a group of its own; one continuing an open connection joins."""
    if not shutil.which("editcap"):
        pytest.skip("editcap (wireshark-common) not installed")
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(CAPS / "echo.pcap", d / "a.pcap")
    subprocess.run(["editcap", "-r", str(CAPS / "pynetdicom.pcap"), str(d / "b.pcap"), "20-50"], check=True,
                   capture_output=True)
    rep = build([str(d)], str(tmp_path / "t"), workers=0)
    assert rep.groups_written == 2
    mid = [a for a in rows(tmp_path / "t", "associations") if a["started_mid_association"]]
    assert len(mid) == 1 and not mid[0]["open_at_end"]
    subprocess.run(["editcap", "-r", str(CAPS / "pynetdicom.pcap"), str(d / "a.pcap"), "1-19"], check=True,
                   capture_output=True)
    rep = build([str(d)], str(tmp_path / "t2"), workers=0)
    assert rep.groups_written == 1
    assert [a["state"] for a in rows(tmp_path / "t2", "associations")] == ["released"]
