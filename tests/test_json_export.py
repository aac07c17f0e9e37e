"""``dicomsniff export``: schema-valid JSON for every capture, DICOM JSON model data sets, no passwords.

Checks the document against ``dicomsniff/schema/session-v1.json`` (jsonschema), the keys
consumers rely on, that ``--jsonl`` association records equal the document's
associations, that command and data sets round-trip through pydicom's
``Dataset.from_json``, that bulk data is referenced (BulkDataURI), never inlined, and
that the user-identity password of pynetdicom.pcap appears nowhere.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from pydicom.dataset import Dataset

from dicomsniff.cli import main

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
MANIFEST = json.loads((CAPTURES / "manifest.json").read_text())["captures"]
NAMES = sorted(MANIFEST)
SCHEMA = json.loads((ROOT / "dicomsniff" / "schema" / "session-v1.json").read_text())
V = jsonschema.Draft202012Validator


def _user_identity_schema(schema: dict) -> dict:
    return schema["$defs"]["association"]["properties"]["user_identity"]


PASSWORD = MANIFEST["pynetdicom"]["user_identity"]["secondary_field"]      # "s3cret" (scripts/make_captures.py)
BULK_URI = re.compile(r"^(deflated:)?frame:\d+;offset=\d+;length=\d+$")


def _export(name: str, tmp: Path, *extra: str) -> str:
    out = tmp / (name + ("l" if "--jsonl" in extra else "") + ".json")
    r = CliRunner().invoke(main, ["export", str(CAPTURES / MANIFEST[name]["file"]), "-o", str(out), *extra])
    assert r.exit_code == 0, r.output
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("export")


@lru_cache(maxsize=None)
def _cache() -> dict:
    return {}


def document(name: str, tmp: Path) -> dict:
    c = _cache()
    if name not in c:
        c[name] = json.loads(_export(name, tmp))
    return c[name]


@pytest.mark.parametrize("name", NAMES)
def test_document_validates_against_schema(name, tmp):
    doc = document(name, tmp)
    jsonschema.validate(doc, SCHEMA, cls=V)
    assert len(doc["associations"]) == len(MANIFEST[name]["associations"])


def test_schema_accepts_null_user_identity():
    assert V({"$defs": {}, **_user_identity_schema(SCHEMA)}).is_valid(None)


def test_schema_rejects_a_password_key():
    assert not V(_user_identity_schema(SCHEMA)).is_valid({"type": 2, "password": "x"})


ASSOC_KEYS = ["calling_ae", "called_ae", "client", "server", "state", "start", "end", "reject", "abort", "max_pdu",
              "contexts", "messages", "pdus"]
CTX_KEYS = ["id", "abstract_syntax", "transfer_syntaxes", "result", "result_text", "transfer_syntax"]
MSG_KEYS = ["command", "message_id", "responds_to", "context_id", "affected_sop_class_uid", "status", "status_text",
            "frames", "command_set", "data_set"]
PDU_KEYS = ["frame", "time", "direction", "type", "length", "tree"]


@pytest.mark.parametrize("name", NAMES)
def test_required_keys(name, tmp):
    doc = document(name, tmp)
    for a, e in zip(doc["associations"], MANIFEST[name]["associations"]):
        for k in ASSOC_KEYS:
            assert k in a, k
        assert (a["calling_ae"], a["called_ae"]) == (e["calling_ae"], e["called_ae"])
        assert {"ip", "port"} <= set(a["client"]) and {"ip", "port"} <= set(a["server"])
        for c in a["contexts"]:
            assert all(k in c for k in CTX_KEYS), c
        for m in a["messages"]:
            assert all(k in m for k in MSG_KEYS), m.keys()
            assert m["frames"] and all(isinstance(f, int) for f in m["frames"])
            assert m["command_set"]["00000100"]["vr"] == "US"
        assert a["pdus"]
        for p in a["pdus"]:
            assert all(k in p for k in PDU_KEYS), p.keys()
            assert p["tree"]["length"] == p["length"] + 6 or not p.get("complete", True) or p["type"] == "P-DATA-TF"
        if e["result"] == "rejected":
            assert a["state"] == "rejected" and a["reject"]["reason"] == e["reject"]["reason"]
        elif e["end"] == "abort":
            assert a["state"] == "aborted" and a["abort"]["source"] == e["abort"]["source"]
        else:
            assert a["state"] == "released" and a["reject"] is None and a["abort"] is None


def _jsonl_records(text: str) -> list[dict]:
    records = [json.loads(line) for line in text.splitlines()]
    assert records[0]["record"] == "header" and records[-1]["record"] == "end"
    return records


def _jsonl_associations(text: str) -> list[dict]:
    """Association records of a --jsonl export, with streamed pdu/message/finding records folded back in."""
    pdus: dict[int, list] = {}
    msgs: dict[int, list] = {}
    out = []
    records = _jsonl_records(text)
    for r in records:
        kind = r.pop("record")
        if kind == "pdu":
            pdus.setdefault(r.pop("association"), []).append(r)
        elif kind == "message":
            msgs.setdefault(r.pop("association"), []).append(r)
        elif kind == "association":
            if r.pop("streamed", False):
                # as the schema says: its messages, PDUs and findings went out as records of their own
                assert r["pdus"] == [] and r["messages"] == [] and r["findings"] == []
                r["pdus"] = pdus.pop(r["number"], [])
                r["messages"] = msgs.pop(r["number"], [])
                r.pop("exchange_outcomes", None)
            out.append(r)
    by_number = {a["number"]: a for a in out}
    for r in records:
        if r.get("record", "finding") == "finding" and "severity" in r and r["association"] in by_number:
            by_number[r["association"]]["findings"].append({k: v for k, v in r.items() if k != "record"})
    return out


@pytest.mark.parametrize("name", NAMES)
def test_jsonl_associations_equal_document(name, tmp):
    doc = document(name, tmp)
    got = _jsonl_associations(_export(name, tmp, "--jsonl"))
    key = lambda a: a["number"]  # noqa: E731
    want = sorted(doc["associations"], key=key)
    for a in want:
        a.pop("exchange_outcomes", None)
    assert sorted(got, key=key) == want


FINDING_KEYS = ["severity", "code", "group", "message", "association", "frames", "count", "first_frame", "last_frame",
                "hint"]


def _diagnose_json(path: Path) -> dict:
    r = CliRunner().invoke(main, ["diagnose", "--json", str(path)])
    assert r.exit_code in (0, 1, 2), r.output
    return json.loads(r.output)


@pytest.mark.parametrize("name", NAMES)
def test_findings_are_the_diagnosis_in_one_place(name, tmp):
    """Top-level findings[] = `dicomsniff diagnose --json`; associations[].findings = its part per association;
    --jsonl: the same as "finding" records at the end, and association records carry none themselves."""
    doc = document(name, tmp)
    want = _diagnose_json(CAPTURES / MANIFEST[name]["file"])["findings"]
    assert doc["findings"] == want
    for f in doc["findings"]:
        assert list(f) == FINDING_KEYS
    for a in doc["associations"]:
        assert a["findings"] == [f for f in want if f["association"] == a["number"]]
    records = _jsonl_records(_export(name, tmp, "--jsonl"))
    kinds = [r["record"] for r in records]
    tail = kinds[kinds.index("finding"):-1] if "finding" in kinds else []
    assert set(tail) <= {"finding"}                      # finding records come last, before "end"
    assert [{k: v for k, v in r.items() if k != "record"} for r in records if r["record"] == "finding"] == want
    assert all(r["findings"] == [] for r in records if r["record"] == "association")


def test_findings_in_the_document_name_causes(tmp):
    doc = document("move", tmp)
    codes = {(f["association"], f["code"]) for f in doc["findings"]}
    assert {(1, "move-sub-association"), (2, "move-sub-association"), (3, "dimse-failure")} <= codes
    fail = [f for f in doc["findings"] if f["code"] == "dimse-failure"][0]
    assert "0xA801" in fail["message"] and "NOWHERE" in fail["hint"] and fail["frames"]
    # the model's own finding is refined, not listed twice
    doc = document("reject", tmp)
    assert [f["code"] for f in doc["findings"]] == ["association-rejected"] * 3
    assert "AE configuration" in doc["findings"][0]["hint"]


def test_jsonl_exchange_outcomes_count_every_exchange(tmp):
    records = _jsonl_records(_export("pynetdicom", tmp, "--jsonl"))
    (a,) = [r for r in records if r["record"] == "association"]
    counts = {(o["command"], o["status_text"]): o["count"] for o in a["exchange_outcomes"]}
    assert counts[("C-STORE-RQ", "0xA700 Refused: Out of Resources")] == 1
    assert sum(counts.values()) == 7       # C-ECHO, 2 C-STORE, C-FIND, C-GET and its 2 C-STORE sub-operations


def test_schema_finding_keys_are_required():
    fdef = SCHEMA["$defs"]["finding"]
    assert fdef["required"] == ["severity", "code", "message", "association", "frames", "hint"]
    assert set(FINDING_KEYS) <= set(fdef["properties"])            # grouping fields: declared, optional
    assert not V(fdef).is_valid({"severity": "error", "code": "x", "message": "m", "association": 1, "frames": []})


def _datasets(doc: dict):
    for a in doc["associations"]:
        for m in a["messages"]:
            yield m, "command_set", m["command_set"]
            if m["data_set"] is not None:
                yield m, "data_set", m["data_set"]


def _bulk_values(js: dict):
    for tag, el in js.items():
        if "BulkDataURI" in el:
            yield tag, el
        for item in el.get("Value", []) if el.get("vr") == "SQ" else []:
            yield from _bulk_values(item)


@pytest.mark.parametrize("name", NAMES)
def test_data_sets_use_dicom_json_model(name, tmp):
    doc = document(name, tmp)
    n = 0
    for m, which, js in _datasets(doc):
        ds = Dataset.from_json(js, bulk_data_uri_handler=lambda tag, vr, uri: b"")
        back = ds.to_json_dict(bulk_data_threshold=1 << 30, bulk_data_element_handler=None)
        assert set(back) == {k for k in js if "BulkDataURI" not in js[k]} | \
            {k for k in js if "BulkDataURI" in js[k]}
        if which == "command_set":
            assert ds.CommandField is not None
            assert m["message_id"] == ds.get("MessageID") and m["responds_to"] == ds.get("MessageIDBeingRespondedTo")
            assert m["status"] == ds.get("Status")
        n += 1
    assert n == 2 * sum(MANIFEST[name]["commands"].values()) - sum(
        1 for a in doc["associations"] for m in a["messages"] if m["data_set"] is None) or not n


STORE_CAPTURES = [n for n in NAMES if MANIFEST[n]["commands"].get("C-STORE-RQ")]


BULK_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}


def _inlined_bulk(js: dict, limit: int):
    """Binary values of more than ``limit`` bytes written inline."""
    import base64
    for tag, el in js.items():
        if el.get("vr") in BULK_VRS and "InlineBinary" in el and len(base64.b64decode(el["InlineBinary"])) > limit:
            yield tag
        for item in el.get("Value", []) if el.get("vr") == "SQ" else []:
            yield from _inlined_bulk(item, limit)


@pytest.mark.parametrize("name", STORE_CAPTURES)
def test_big_binary_values_are_bulk(name, tmp):
    doc = document(name, tmp)
    for _, _, js in _datasets(doc):
        assert not list(_inlined_bulk(js, 1024))
        for _, el in _bulk_values(js):
            assert "Value" not in el and "InlineBinary" not in el
            assert BULK_URI.match(el["BulkDataURI"]), el


def test_rle_pixel_data_carries_bulk_uri(tmp):
    """store.pcap's RLE object (32x32, encapsulated) has its Pixel Data as a BulkDataURI into a frame."""
    doc = document("store", tmp)
    m = [m for m in doc["associations"][0]["messages"] if m["command"] == "C-STORE-RQ"][-1]
    pix = m["data_set"]["7FE00010"]
    assert BULK_URI.match(pix["BulkDataURI"]), pix
    frame, _, length = map(int, re.findall(r"\d+", pix["BulkDataURI"]))
    assert frame in m["frames"] and length > 0


@pytest.mark.parametrize("name", ["pynetdicom", "abort"])
def test_small_pixel_data_is_bulk(name, tmp):
    doc = document(name, tmp)
    for m in (m for a in doc["associations"] for m in a["messages"] if m["command"] == "C-STORE-RQ"):
        assert "BulkDataURI" in m["data_set"]["7FE00010"]


def test_no_password_anywhere(tmp):
    assert PASSWORD and PASSWORD.encode() in (CAPTURES / "pynetdicom.pcap").read_bytes()
    for extra in ((), ("--jsonl",), ("--no-trees",)):
        text = _export("pynetdicom", tmp, *extra)
        assert PASSWORD not in text
        assert PASSWORD.encode().hex() not in text
        assert "s3cr" not in text.lower()
    doc = document("pynetdicom", tmp)
    ident = doc["associations"][0]["user_identity"]
    assert ident["type"] == 2 and ident["password_present"] is True and ident["user"] == "dicomsniff"


# -- control characters: one encoder escapes C0 and C1 in every JSON writer (issue 12 item 8) ----------

EVIL_AE = "EVIL\x9b31m\x85X"            # U+009B is a terminal's CSI: ESC [ in one character
EVIL_NAME = "Doe\x9b2J^\x90John"


def _control_capture(path: Path, calling: str = EVIL_AE) -> None:
    from dimse_fixtures import HAS_DATA, Conv, command, echo_rq, echo_rsp, encode, pcap
    from pdu_fixtures import (COMMAND, DATA, IMPLICIT_LE, LAST, STUDY_ROOT_FIND, VERIFICATION, assoc_ac,
                              assoc_rq, pdata, release_rp, release_rq)
    ctx = [(1, VERIFICATION, [IMPLICIT_LE]), (3, STUDY_ROOT_FIND, [IMPLICIT_LE])]
    ident = Dataset()
    ident.SpecificCharacterSet = "ISO_IR 100"
    ident.QueryRetrieveLevel = "PATIENT"
    ident.PatientName = EVIL_NAME
    c = Conv()
    c.send(0, assoc_rq(calling.encode("latin-1"), "ANY-SCP", ctx))
    c.send(1, assoc_ac(calling.encode("latin-1"), "ANY-SCP", [(1, 0, IMPLICIT_LE), (3, 0, IMPLICIT_LE)]))
    c.send(0, pdata([(1, COMMAND | LAST, echo_rq(1))]))
    c.send(1, pdata([(1, COMMAND | LAST, echo_rsp(1))]))
    c.send(0, pdata([(3, COMMAND | LAST, command(AffectedSOPClassUID=STUDY_ROOT_FIND, CommandField=0x0020,
                                                 MessageID=2, Priority=0, CommandDataSetType=HAS_DATA))]))
    c.send(0, pdata([(3, DATA | LAST, encode(ident))]))
    c.send(0, release_rq())
    c.send(1, release_rp())
    c.fin()
    path.write_bytes(pcap(c))


def _no_raw_controls(text: str) -> None:
    bad = sorted({f"U+{ord(ch):04X}" for ch in text if ord(ch) < 0x20 and ch != "\n" or 0x7F <= ord(ch) <= 0x9F})
    assert bad == [], bad


def test_every_json_writer_escapes_c0_and_c1(tmp):
    cap, other = tmp / "evil.pcap", tmp / "plain.pcap"
    _control_capture(cap)
    _control_capture(other, "PLAIN")
    runner = CliRunner()
    out = tmp / "evil.json"
    r = runner.invoke(main, ["export", str(cap), "-o", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    _no_raw_controls(text)
    doc = json.loads(text)
    assert doc["associations"][0]["calling_ae"] == EVIL_AE                  # escaped, not altered
    find = [m for m in doc["associations"][0]["messages"] if m["command"] == "C-FIND-RQ"][0]
    assert find["data_set"]["00100010"]["Value"][0]["Alphabetic"] == EVIL_NAME
    assert "\\u009b" in text
    outputs = {"--jsonl": runner.invoke(main, ["export", str(cap), "-o", "-", "--jsonl"]),
               "diagnose": runner.invoke(main, ["diagnose", str(cap), "--json"]),
               "diff": runner.invoke(main, ["diff", str(cap), str(other), "--json"])}
    for name, r in outputs.items():
        assert r.exit_code in (0, 1, 2) and r.output.strip(), (name, r.output)
        _no_raw_controls(r.output)
    assert EVIL_AE in [json.loads(x).get("calling_ae") for x in outputs["--jsonl"].output.splitlines()]
    assert "EVIL\\u009b31m" in outputs["diff"].output and "EVIL\\u009b31m" in outputs["diagnose"].output


def test_live_jsonl_escapes_c0_and_c1(tmp):
    from dicomsniff.capture.reader import open_capture
    from dicomsniff.output.live_text import run_live
    from dicomsniff.pipeline import Analyzer
    cap = tmp / "evil.pcap"
    _control_capture(cap)

    class Source:
        linktype, snaplen, notices = 1, 262144, []

        def iter_frames(self, stop, idle=False):
            for f in open_capture(str(cap)):
                f.file_offset = None
                yield f

        def stats(self):
            return (0, 0)

        def close(self):
            pass

    lines: list[str] = []
    run_live(Source(), Analyzer(keep_pdus=False), lines.append, jsonl=True)
    _no_raw_controls("\n".join(lines))
    records = [json.loads(x) for x in lines]
    assert EVIL_AE in [r.get("calling_ae") for r in records]


def test_deflated_pixel_data_uri_says_its_offset_is_in_the_inflated_bytes(tmp):
    """store.pcap's MR object is deflated: no frame holds its inflated bytes, and the URI says so."""
    doc = document("store", tmp)
    stores = [m for m in doc["associations"][0]["messages"] if m["command"] == "C-STORE-RQ"]
    uris = [m["data_set"]["7FE00010"]["BulkDataURI"] for m in stores]
    deflated = [(m, u) for m, u in zip(stores, uris) if u.startswith("deflated:")]
    assert len(deflated) == 1 and all(u.startswith("frame:") for u in uris if not u.startswith("deflated:"))
    m, uri = deflated[0]
    frame, offset, length = map(int, re.findall(r"\d+", uri))
    assert frame in m["frames"]                                    # the frame where the data set starts
    ds = m["data_set"]
    rows, cols, bits = (ds[t]["Value"][0] for t in ("00280010", "00280011", "00280100"))
    assert length == rows * cols * bits // 8 and offset > 0        # native pixels, inside the inflated stream


def test_cut_messages_and_lost_pdu_bytes_are_in_the_document(tmp_path):
    """A segment lost inside a C-STORE's P-DATA-TF: the PDU lists the lost range, the message says the capture cut it."""
    import losssim as L
    client = next(s.flow for s in L.segments(CAPTURES / "store.pcap") if s.length and s.offset == 0)
    lossy = tmp_path / "lossy.pcap"
    # store.pcap's first C-STORE data set is bytes 474…2018 of the client's stream: lose 200 bytes inside it
    rep = L.drop_segments(CAPTURES / "store.pcap", lossy, mss=200,
                          only=lambda s: s.flow == client and 800 <= s.offset < 1000)
    (lost,) = rep.lost_ranges(client)
    out = tmp_path / "doc.json"
    assert CliRunner().invoke(main, ["export", str(lossy), "-o", str(out)]).exit_code == 0
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA, cls=V)
    (a,) = doc["associations"]
    cut_pdus = [p for p in a["pdus"] if "lost" in p]
    assert [p["lost"] for p in cut_pdus] == [[list(lost)]] and cut_pdus[0]["complete"] is False
    cut = [m for m in a["messages"] if m["cut"] is not None]
    assert [(m["command"], m["message_id"], m["cut"]) for m in cut] == [("C-STORE-RQ", 1, "capture-loss")]
    assert all(m["cut"] is None for m in a["messages"] if m["complete"])
    # the other four objects and all five responses are whole
    assert sum(1 for m in a["messages"] if m["complete"]) == 9


def test_pixel_data_of_an_implicit_vr_data_set_is_ow(tmp):
    """Implicit VR Little Endian carries no VR: Pixel Data is OW there (PS3.5 §A.1), not pydicom's OB guess."""
    doc = document("store", tmp)
    vrs = {m["transfer_syntax"]: m["data_set"]["7FE00010"]["vr"]
           for m in doc["associations"][0]["messages"] if m["command"] == "C-STORE-RQ"}
    assert vrs["1.2.840.10008.1.2"] == "OW"                 # implicit VR LE, 16-bit CT
    assert vrs["1.2.840.10008.1.2.1"] == "OW"               # explicit: as sent
    assert vrs["1.2.840.10008.1.2.5"] == "OB"               # RLE: encapsulated, OB as sent


@pytest.mark.parametrize("name", ["store", "move", "peer_orthanc_scp", "close_scp_killed"])
def test_pdata_records_written_directly_equal_the_generic_encoder(name):
    """``--jsonl --no-trees`` writes whole P-DATA-TF records (most of any capture) directly: each line must be
    byte for byte what the generic encoder makes of pdu_json, on real captures and a lossy copy."""
    import losssim
    from dicomsniff.output.json_export import jsonl_record, pdata_jsonl, pdu_json
    from dicomsniff.pipeline import Analyzer, PduSeen
    from dicomsniff.reading import read_events

    paths = [CAPTURES / f"{name}.pcap"]
    if name == "store":
        lossy = Path(__import__("tempfile").mkdtemp()) / "store-loss.pcap"
        losssim.drop_segments(paths[0], lossy, rate=0.05, seed=7, mss=300)
        paths.append(lossy)
    direct = 0
    for path in paths:
        an = Analyzer(keep_pdus=False)
        for ev in read_events(str(path), an):
            if type(ev) is not PduSeen:
                continue
            line = pdata_jsonl(ev.association, ev.pdu)
            if line is None:
                continue
            direct += 1
            assert line == jsonl_record("pdu", {"association": ev.association.number,
                                                **pdu_json(ev.association, ev.pdu, trees=False)})
    assert direct > 0
