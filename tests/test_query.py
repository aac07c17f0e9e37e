"""dicomsniff query: the named queries give the shipped captures' known answers (captures/manifest.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

from click.testing import CliRunner  # noqa: E402

from dicomsniff.cli import main  # noqa: E402
from dicomsniff.tables import query as Q  # noqa: E402
from dicomsniff.tables.build import build  # noqa: E402

CAPS = Path(__file__).resolve().parent.parent / "captures"
MANIFEST = json.loads((CAPS / "manifest.json").read_text())["captures"]
NAMES = ["reject", "abort", "pynetdicom", "move", "peer_orthanc_fail", "store", "concurrent", "get"]


def cli(*args):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    out = tmp_path_factory.mktemp("q") / "t"
    rep = build([str(CAPS / f"{n}.pcap") for n in NAMES] + [str(CAPS / "diag_status.pcap")], str(out), workers=0)
    assert rep.errors == []
    return str(out)


def manifest_assocs():
    return [a for n in NAMES for a in MANIFEST[n]["associations"]]


def as_dicts(cols, rows):
    return [dict(zip(cols, r)) for r in rows]


def test_aborts(tables):
    got = as_dicts(*Q.run(tables, named="aborts"))
    want = sorted((a["calling_ae"], a["called_ae"], a["abort"]["source"], a["abort"]["reason"])
                  for a in manifest_assocs() if a.get("end") == "abort")
    want.append(("DIAGSCU", "DIAGSCP", 0, 0))          # diag_status.pcap #2: the SCP aborts (captures/README.md)
    assert sorted((r["calling_ae"], r["called_ae"], r["abort_source"], r["abort_reason"]) for r in got) == sorted(want)
    by = {(r["calling_ae"], r["called_ae"]): r["abort_by"] for r in got}
    assert by[("STORESCU", "STORESCP")] == "client" and by[("NOFIND", "ORTHANC")] == "server"


def test_failures_by_ae(tables):
    got = as_dicts(*Q.run(tables, named="failures-by-ae"))
    rejected = sorted((a["calling_ae"], a["called_ae"]) for a in manifest_assocs() if a["result"] == "rejected")
    assert sorted((r["calling_ae"], r["called_ae"]) for r in got if r["command"] == "A-ASSOCIATE-RJ") == rejected
    statuses = {(r["calling_ae"], r["called_ae"], r["command"], r["status"]): r["count"]
                for r in got if r["command"] != "A-ASSOCIATE-RJ"}
    assert statuses == {
        ("PYNETSCU", "PYNETSCP", "C-STORE-RSP", "0xA700"): 1,     # pynetdicom.pcap: MR refused, out of resources
        ("MOVESCU", "QRSCP", "C-MOVE-RSP", "0xA801"): 1,          # move.pcap: destination unknown
        ("MOVESCU", "ORTHANC", "C-MOVE-RSP", "0xC000"): 1,        # peer_orthanc_fail #4
        ("STORESCU", "ORTHANC", "C-STORE-RSP", "0xA700"): 1,      # peer_orthanc_fail #5
        ("DIAGSCU", "DIAGSCP", "C-STORE-RSP", "0xC000"): 1,       # diag_status #1 (0x0122 too:)
        ("DIAGSCU", "DIAGSCP", "C-STORE-RSP", "0x0122"): 1,
    }


def test_slow_responses_and_threshold(tables):
    got = as_dicts(*Q.run(tables, named="slow-responses", params={"slow": 1.0}))
    assert [(r["calling_ae"], r["command"], r["message_id"]) for r in got] == [("DIAGSCU", "C-ECHO-RQ", 1)]
    assert 1500 <= got[0]["latency_ms"] < 1600               # the SCP's handler sleeps 1.5 s
    assert Q.run(tables, named="slow-responses", params={"slow": 5.0})[1] == []


def test_latency_by_scp_counts_answered_requests(tables):
    got = as_dicts(*Q.run(tables, named="latency-by-scp"))
    row = {(r["server"].rsplit(":", 1)[1], r["called_ae"], r["command"]): r["count"] for r in got}
    assert row[("11112", "STORESCP", "C-STORE-RQ")] == 5      # store.pcap
    # pynetdicom.pcap: 2 from the SCU + 2 C-GET sub-operations from the SCP, on one association
    assert row[("7000", "PYNETSCP", "C-STORE-RQ")] == 4
    assert row[("5680", "QRSCP", "C-GET-RQ")] == 1            # get.pcap
    assert row[("5678", "QRSCP", "C-MOVE-RQ")] == 2           # move.pcap: the study, then NOWHERE
    for r in got:
        assert r["p50_ms"] <= r["p95_ms"] <= r["max_ms"]


def test_busiest_hours_count_every_association(tables):
    got = as_dicts(*Q.run(tables, named="busiest-hours"))
    total = Q.run(tables, "select count(*) from associations")[1][0][0]
    assert sum(r["associations"] for r in got) == total == len(manifest_assocs()) + 2   # + diag_status' 2


def test_cli_formats(tables):
    res = cli("query", tables, "--named", "aborts", "--format", "json")
    assert res.exit_code == 0
    doc = json.loads(res.output)
    assert {r["calling_ae"] for r in doc} == {"STORESCU", "NOFIND", "DIAGSCU"}
    assert all(r["start"].endswith("Z") for r in doc)
    res = cli("query", tables, "select calling_ae, count(*) as n from associations where state = 'rejected' "
                               "group by all order by calling_ae", "--format", "csv")
    assert res.exit_code == 0
    assert res.output.splitlines() == ["calling_ae,n", "ECHOSCU,1", "FINDSCU,1", "INTRUDER,2", "MOVESCU,1"]
    res = cli("query", tables, "--named", "busiest-hours")
    assert res.exit_code == 0 and res.output.rstrip().endswith("rows)")
    res = cli("query", tables, "--list")
    assert res.exit_code == 0 and all(n in res.output for n in Q.NAMED)


def test_cli_errors_one_line(tables, tmp_path):
    res = cli("query", tables, "select nope from nowhere")
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1 and "nowhere" in res.output
    res = cli("query", str(tmp_path), "select 1")
    assert res.exit_code == 2 and "not a dicomsniff tables folder" in res.output
    res = cli("query", tables)
    assert res.exit_code == 2 and "give either SQL or --named" in res.output


def test_hive_glob_reads_the_dataset(tables):
    """What docs/tables.md shows: DuckDB over a file:// style glob with hive partitioning, no dicomsniff."""
    import duckdb
    con = duckdb.connect()
    n = con.execute("SELECT count(*), count(DISTINCT date) FROM read_parquet(?, hive_partitioning = true)",
                    [tables + "/messages/*/*.parquet"]).fetchone()
    assert n[0] == Q.run(tables, "select count(*) from messages")[1][0][0] and n[1] >= 2


def test_docs_duckdb_example(tables, capsys):
    """docs/tables.md's DuckDB example, on a file:// URL of the dataset."""
    from test_tables import docs_example
    code = docs_example("duckdb")
    assert 'tables = "file:///var/lib/dicomsniff-tables"' in code
    exec(code.replace("file:///var/lib/dicomsniff-tables", "file://" + tables), {})
    got = capsys.readouterr().out
    for ae, status in (("PYNETSCU", "C-STORE-RSP"), ("MOVESCU", "C-MOVE-RSP"), ("DIAGSCU", "C-STORE-RSP")):
        assert f"('{ae}'," in got and status in got
