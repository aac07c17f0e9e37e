"""``dicomsniff anonymize`` on the real captures: the proof of issue 16 part 1.

For each capture in ``captures/`` (scripts/make_captures.py, make_diag_captures.py, make_peer_captures.py,
make_close_captures.py): ``dicomsniff diff IN OUT`` differs only inside data sets, identifiers and the
command sets' instance UIDs (same associations, contexts, commands, statuses); tshark decodes OUT with
no expert error or warning IN does not have and the same DICOM PDU sequence; no PN, LO/SH ID, DA, DT or
instance UI value of IN (decoded by dicomsniff's own decoder) occurs anywhere in OUT's bytes;
``export-objects`` on OUT gives files that pass ``dcmftest`` and carry the De-identification Method
attributes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from dicomsniff.anonymize import Options, anonymize
from dicomsniff.pipeline import Analyzer, MessageSeen
from dicomsniff.reading import read_events

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
MANIFEST = json.loads((CAPTURES / "manifest.json").read_text())


def _ports(name: str) -> list[int]:
    for group in ("captures", "peer_incomplete_captures"):
        entry = MANIFEST.get(group, {}).get(name)
        if isinstance(entry, dict) and entry.get("ports"):
            return entry["ports"]
    return []


ALL = sorted(p.stem for p in CAPTURES.glob("*.pcap"))
SECRET = bytes(range(32))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Each capture anonymized once (basic profile), shared by the checks below."""
    folder = tmp_path_factory.mktemp("anon")
    done = {}
    for name in ALL:
        out = folder / f"{name}.pcap"
        report = anonymize(CAPTURES / f"{name}.pcap", out, Options(secret=SECRET),
                           map_path=folder / f"{name}.json")
        done[name] = (out, report)
    return done


def _dicomsniff(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dicomsniff", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


ALLOWED_COMMAND_ITEMS = {"AffectedSOPInstanceUID", "RequestedSOPInstanceUID"}


@pytest.mark.parametrize("name", ALL)
def test_diff_shows_only_anonymized_values(outputs, name):
    out, _ = outputs[name]
    res = _dicomsniff("diff", "--json", CAPTURES / f"{name}.pcap", out)
    assert res.returncode in (0, 1), res.stderr
    doc = json.loads(res.stdout)
    for note in doc["notes"]:
        m = re.match(r"A has (\d+) associations?, B has (\d+)", note)
        assert m is None or m.group(1) == m.group(2), note
    for pair in doc["pairs"]:
        assert pair["a"] == pair["b"]
        for row in pair["rows"]:
            section, item = row["section"], row["item"]
            if re.fullmatch(r"exchange \d+ (data set|identifier)", section):
                continue
            if re.fullmatch(r"exchange \d+ command set", section) and item in ALLOWED_COMMAND_ITEMS:
                continue
            pytest.fail(f"#{pair['a']}: a difference outside data sets: {row}")


def _messages(path) -> list:
    analyzer = Analyzer(keep_pdus=False)
    return [ev.message for ev in read_events(path, analyzer) if isinstance(ev, MessageSeen)]


def _walk(ds, out: set) -> None:
    from dicomsniff.anonymize.profile import ID_KEYWORD, KEEP_UID_KEYWORDS, standard_uid
    for el in ds:
        if el.VR == "SQ":
            for item in el.value or []:
                _walk(item, out)
            continue
        kw = el.keyword or ""
        if el.VR in ("PN", "DA", "DT") or (el.VR in ("LO", "SH") and ID_KEYWORD.search(kw)) or (
                el.VR == "UI" and not KEEP_UID_KEYWORDS.search(kw)):
            raw = el.value
            values = raw if isinstance(raw, (list, tuple)) or type(raw).__name__ == "MultiValue" else [raw]
            for v in values:
                text = str(v).strip()
                if len(text) >= 3 and not (el.VR == "UI" and standard_uid(text)):
                    out.add(text.encode("latin-1", "replace"))


def _sensitive(path) -> set[bytes]:
    """PN, DA, DT, ID-like LO/SH and instance UI values of the capture's data sets and command sets."""
    found: set[bytes] = set()
    for m in _messages(path):
        if m.command is not None:
            for kw in ("AffectedSOPInstanceUID", "RequestedSOPInstanceUID"):
                v = m.command.elements.get(kw)
                if v:
                    found.add(str(v).encode())
        if m.data is not None:
            ds = m.data.dataset
            if ds is not None:
                _walk(ds, found)
    return found


@pytest.mark.parametrize("name", ALL)
def test_no_original_value_left(outputs, name):
    out, _ = outputs[name]
    values = _sensitive(CAPTURES / f"{name}.pcap")
    blob = out.read_bytes()
    leaked = sorted(v for v in values if v in blob)
    assert not leaked, f"{len(leaked)} of {len(values)} original values still in the output: {leaked[:5]}"


def _tshark(path: Path, ports: list[int]) -> tuple[list[str], Counter]:
    decode = [a for p in ports for a in ("-d", f"tcp.port=={p},dicom")]
    pdus = subprocess.run(["tshark", "-r", str(path), *decode, "-Y", "dicom", "-T", "fields", "-e",
                           "dicom.pdu.type"], capture_output=True, text=True, timeout=300).stdout.split()
    expert = subprocess.run(["tshark", "-r", str(path), *decode, "-q", "-z", "expert,warn"],
                            capture_output=True, text=True, timeout=300).stdout
    rows = Counter()
    for line in expert.splitlines():
        m = re.match(r"\s+(\d+)\s+(\S+)\s+(\S+)\s+(.*)$", line)
        if m and m.group(1).isdigit():
            rows[(m.group(2), m.group(3), m.group(4).strip())] += int(m.group(1))
    return pdus, rows


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name", ALL)
def test_tshark_decodes_the_output_as_the_input(outputs, name):
    out, _ = outputs[name]
    ports = _ports(name)
    pdus_in, expert_in = _tshark(CAPTURES / f"{name}.pcap", ports)
    pdus_out, expert_out = _tshark(out, ports)
    assert pdus_out == pdus_in
    new = {k: n for k, n in expert_out.items() if n > expert_in.get(k, 0)}
    assert not new, f"tshark finds on the output what it does not on the input: {new}"


@pytest.mark.skipif(shutil.which("dcmftest") is None, reason="DCMTK not installed")
@pytest.mark.parametrize("name", ["store", "move", "get", "pynetdicom", "peer_orthanc_scp", "peer_gdcm"])
def test_exported_objects_are_deidentified(outputs, name, tmp_path):
    import pydicom
    out, _ = outputs[name]
    res = _dicomsniff("export-objects", out, tmp_path / "objs")
    assert res.returncode == 0, res.stderr
    files = sorted((tmp_path / "objs").glob("*.dcm"))
    assert files
    check = subprocess.run(["dcmftest", *map(str, files)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "no:" not in check.stdout, check.stdout
    for f in files:
        ds = pydicom.dcmread(f)
        assert ds.PatientIdentityRemoved == "YES"
        codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
        assert codes[0] == "113100" and "113107" in codes
        assert ds.DeidentificationMethod.startswith("dicomsniff anonymize")
        if "PixelData" in ds and ds.file_meta.TransferSyntaxUID != "1.2.840.10008.1.2.5":
            assert not any(ds.PixelData)


def test_uids_consistent_across_associations(outputs):
    """The same original UID is one replacement everywhere: C-MOVE's study UID, the sub-association's objects."""
    out, report = outputs["move"]
    orig = _messages(CAPTURES / "move.pcap")
    new = _messages(out)
    study = report.table["uids"]["1.2.826.0.1.3680043.8.498.4242.1"]
    seen = []
    for a, b in zip(orig, new):
        if b.data is not None and b.data.dataset is not None and "StudyInstanceUID" in b.data.dataset:
            seen.append(b.data.dataset.StudyInstanceUID)
        if a.command is not None and a.command.affected_sop_instance_uid:
            assert b.command.affected_sop_instance_uid == report.table["uids"][a.command.affected_sop_instance_uid]
    assert seen and set(seen) == {study}
