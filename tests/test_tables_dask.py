"""Indexing on a real Dask LocalCluster with 2 worker processes gives the serial run's tables (TLS decrypted
with the run's key log included)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("distributed")

from dicomsniff.tables.build import Executor, build  # noqa: E402
from dicomsniff.tls.keylog import configure  # noqa: E402

from test_tables import CAPS, rows, snapshot  # noqa: E402


def test_local_cluster_equals_serial(tmp_path):
    """≥ 20 captures: the shipped ones, and store.pcap and concurrent.pcap split inside their associations
    (groups of several files are decoded again together on a worker)."""
    if not shutil.which("editcap"):
        pytest.skip("editcap (wireshark-common) not installed")
    src = tmp_path / "in"
    src.mkdir()
    for name in ("echo", "store", "reject", "abort", "pynetdicom", "move", "get", "find_mwl", "diag_status",
                 "diag_more", "peer_orthanc_fail", "peer_gdcm", "close_crash", "peer_odil", "context_rejected",
                 "pynetdicom_ipv6", "peer_ctn_scu"):
        shutil.copy(CAPS / f"{name}.pcap", src)
    for name, n in (("store", 9), ("concurrent", 11)):
        subprocess.run(["editcap", "-c", str(n), str(CAPS / f"{name}.pcap"), str(src / f"split-{name}.pcap")],
                       check=True, capture_output=True)
    # DICOM over TLS, decrypted with --tls-keylog: the key log must reach the workers too.
    shutil.copy(CAPS / "tls13_store.pcap", src)
    files = sorted(src.iterdir())
    assert len(files) >= 20
    configure([str(CAPS / "tls13_store.keys")])          # what --tls-keylog does
    try:
        serial = build([str(src)], str(tmp_path / "serial"), workers=0)
        ex = Executor(workers=2)
        try:
            assert len(ex.client.scheduler_info()["workers"]) == 2
            par = build([str(src)], str(tmp_path / "dask"), executor=ex)
        finally:
            ex.close()
    finally:
        configure([])
    tls = [r for r in rows(tmp_path / "dask", "messages") if r["command"] == "C-STORE-RQ"
           and r["association_id"] in {a["association_id"] for a in rows(tmp_path / "dask", "associations")
                                       if a["server_port"] == 2762}]
    assert tls, "the TLS association's C-STORE was not decrypted on the workers"
    assert serial.errors == par.errors == []
    assert par.files_new == serial.files_new == len(files)
    assert par.groups_written == serial.groups_written < len(files)      # split files were grouped
    assert snapshot(tmp_path / "dask") == snapshot(tmp_path / "serial")
    for t in ("files",):
        key = lambda r: r["sha256"]  # noqa: E731
        a = sorted(rows(tmp_path / "dask", t), key=key)
        b = sorted(rows(tmp_path / "serial", t), key=key)
        strip = lambda r: {k: v for k, v in r.items() if k != "indexed_at"}  # noqa: E731
        assert [strip(r) for r in a] == [strip(r) for r in b]
