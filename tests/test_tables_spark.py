"""docs/tables.md's Spark SQL example runs on the dataset (when pyspark and a Java runtime are installed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("pyspark")
if not shutil.which("java"):
    pytest.skip("no Java runtime: the Spark example is documented, not run", allow_module_level=True)

from dicomsniff.tables.build import build  # noqa: E402

from test_tables import CAPS, docs_example  # noqa: E402


def test_spark_sql_reads_the_dataset(tmp_path, capsys):
    out = tmp_path / "t"
    build([str(CAPS / n) for n in ("abort.pcap", "peer_orthanc_fail.pcap", "echo.pcap")], str(out), workers=0)
    code = docs_example("spark")
    assert 'tables = "/var/lib/dicomsniff-tables"' in code
    code = code.replace("/var/lib/dicomsniff-tables", str(out))
    try:
        exec(code, {})
    finally:
        from pyspark.sql import SparkSession
        s = SparkSession.getActiveSession()
        if s is not None:
            s.stop()
    got = capsys.readouterr().out
    assert "Row(calling_ae='STORESCU', called_ae='STORESCP', abort_by='client', messages=4)" in got
    assert "Row(calling_ae='NOFIND', called_ae='ORTHANC', abort_by='server', messages=1)" in got
    assert got.index("STORESCU") < got.index("NOFIND")          # ordered by start
