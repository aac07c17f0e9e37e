"""Start-up imports only what the command needs (issue 18, item 3): no Textual outside the viewer,
no pydicom (nor numpy, which pydicom's import pulls in) for ``--version`` or for a capture whose
summary needs only pydicom's dictionaries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pydicom", "numpy", "textual")


def loaded_after(code: str) -> dict:
    """Which of HEAVY are in sys.modules after running ``code`` in a fresh interpreter."""
    probe = code + f"\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_cli(*args: str) -> str:
    """Run the command line in-process of a fresh interpreter; keep its stdout apart from the probe."""
    return ("import contextlib, io, sys\n"
            "from dicomsniff.cli import main\n"
            "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n"
            "    try:\n"
            f"        main({list(args)!r})\n"
            "    except SystemExit as e:\n"
            "        assert not e.code, e.code\n"
            "sys.stderr.write(buf.getvalue())\n")


def test_importing_the_cli_loads_no_textual_nor_pydicom():
    assert loaded_after("import dicomsniff.cli") == {m: False for m in HEAVY}


def test_version_loads_no_pydicom_nor_textual():
    out = subprocess.run([sys.executable, "-c", run_cli("--version")], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert "version" in out.stderr                  # the command did run
    assert loaded_after(run_cli("--version")) == {m: False for m in HEAVY}


def test_summary_of_an_echo_names_its_sop_class_without_importing_pydicom():
    out = subprocess.run([sys.executable, "-c", run_cli("summary", "captures/echo.pcap")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert "Verification SOP Class" in out.stderr and "C-ECHO-RQ" in out.stderr, out.stderr
    assert loaded_after(run_cli("summary", "captures/echo.pcap")) == {m: False for m in HEAVY}


def test_pydicom_tables_are_pydicoms_own():
    """The tables read without importing pydicom equal the ones pydicom itself loads (in a fresh
    process: other libraries, pynetdicom for one, add UIDs to pydicom's table when imported)."""
    code = ("import sys\n"
            "from dicomsniff.uids import pydicom_table\n"
            "u = pydicom_table('_uid_dict', 'UID_dictionary')\n"
            "d = pydicom_table('_dicom_dict', 'DicomDictionary')\n"
            "assert 'pydicom' not in sys.modules\n"
            "from pydicom.datadict import DicomDictionary\n"
            "from pydicom.uid import UID_dictionary\n"
            "print(u is not UID_dictionary, u == UID_dictionary, d == DicomDictionary, len(u) > 400, len(d) > 4000,\n"
            "      u['1.2.840.10008.5.1.4.1.1.2'][0] == 'CT Image Storage', d[0x00000100][4] == 'CommandField')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True"] * 7, out.stderr


def test_a_data_set_still_decodes_with_pydicom_imported_on_demand():
    code = ("import sys\n"
            "from dicomsniff.dimse.dataset import decode_data_set, IMPLICIT_LE\n"
            "assert 'pydicom' not in sys.modules\n"
            "info = decode_data_set(bytes.fromhex('10001000 06000000') + b'DOE^J ', IMPLICIT_LE)\n"
            "print(info.dataset.PatientName, 'pydicom' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["DOE^J", "True"], out.stderr


def test_pydicom_loads_without_numpy_and_values_decode_the_same():
    """numpy is hidden while pydicom loads (uids.load_pydicom): pydicom guards every use of it, and its
    values decode the same (a DS, an IS, a US and a PN here) whether numpy was there or not; when
    something imported numpy first (Dask, Arrow), pydicom gets it as usual."""
    data = ("bytes.fromhex('10001000 06000000') + b'DOE^J ' + bytes.fromhex('18005000 04000000') + b'2.5 '"
            " + bytes.fromhex('20001300 02000000') + b'7 ' + bytes.fromhex('28001000 02000000 0002')")
    code = ("import sys\n{pre}"
            "from dicomsniff.dimse.dataset import decode_data_set, IMPLICIT_LE\n"
            f"info = decode_data_set({data}, IMPLICIT_LE)\n"
            "import pydicom.config\n"
            "ds = info.dataset\n"
            "print(repr([ds.Rows, str(ds.PatientName), ds.SliceThickness, ds.InstanceNumber]),"
            " 'numpy' in sys.modules, pydicom.config.have_numpy)\n")
    plain, first = (subprocess.run([sys.executable, "-c", code.format(pre=pre)], cwd=ROOT, capture_output=True,
                                   text=True, timeout=120) for pre in ("", "import numpy\n"))
    assert plain.returncode == 0 and first.returncode == 0, plain.stderr + first.stderr
    values, *flags = plain.stdout.rsplit(maxsplit=2)
    assert flags == ["False", "False"]                  # pydicom loaded, numpy not
    assert values == "[512, 'DOE^J', '2.5', '7']"
    assert first.stdout.split()[-2:] == ["True", "True"]
    assert first.stdout.rsplit(maxsplit=2)[0] == values
