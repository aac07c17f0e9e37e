"""Every real capture in ``captures/`` decodes to the facts in ``captures/manifest.json``.

Associations (AE titles, outcome, rejects, aborts, contexts, user identity, role
selection), counts of each DIMSE command, statuses in order, the C-FIND/C-MOVE/C-GET
identifiers the SCUs sent, the C-STORE data sets (element by element against
``scripts/testobjects.py:make_objects``, pixel data excepted), and the summary text.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner
from pydicom.dataset import Dataset
from pydicom.datadict import tag_for_keyword
from pydicom.sequence import Sequence

from dicomsniff.capture.reader import open_capture
from dicomsniff.cli import main
from dicomsniff.dimse.commands import command_name
from dicomsniff.pipeline import MessageSeen, analyze_frames

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
MANIFEST = json.loads((CAPTURES / "manifest.json").read_text())["captures"]
NAMES = sorted(MANIFEST)
PIXEL_DATA = 0x7FE00010


@lru_cache(maxsize=None)
def decoded(name: str):
    info = MANIFEST[name]
    return analyze_frames(open_capture(CAPTURES / info["file"]), ports=set(info["ports"]))


def messages(name: str) -> list:
    """(association, message) in the order the analyzer reported them (capture order)."""
    _, events = decoded(name)
    return [(ev.association, ev.message) for ev in events if type(ev) is MessageSeen]


def ordered_assocs(name: str) -> list:
    an, _ = decoded(name)
    return sorted(an.associations, key=lambda a: a.start_ns or 0)


def _cmd(m) -> str:
    return command_name(m.command.command_field)


@pytest.mark.parametrize("name", NAMES)
def test_associations(name):
    info = MANIFEST[name]
    assocs = ordered_assocs(name)
    expected = info["associations"]
    assert len(assocs) == len(expected)
    for a, e in zip(assocs, expected):
        assert (a.calling_ae, a.called_ae) == (e["calling_ae"], e["called_ae"])
        if "port" in e:
            assert a.server.port == e["port"]
        if e["result"] == "rejected":
            assert a.outcome == "rejected"
            assert (a.rj.result, a.rj.source, a.rj.reason) == \
                (e["reject"]["result"], e["reject"]["source"], e["reject"]["reason"])
            assert a.ac is None and a.abort is None
            continue
        assert a.ac is not None and a.rj is None
        if e["end"] == "release":
            assert a.outcome == "released" and a.abort is None
        elif e["end"] == "abort":
            assert a.outcome == "aborted"
            assert (a.abort.source, a.abort.reason) == (e["abort"]["source"], e["abort"]["reason"])
        assert a.gaps == 0
        if "commands" in e:
            got = Counter(_cmd(m) for m in a.messages if m.command is not None)
            assert got == Counter(e["commands"])
        if "statuses" in e:
            assert [m.command.status for m in a.messages
                    if m.command is not None and m.command.status is not None] == e["statuses"]
        for pc in e.get("presentation_contexts", []):
            ctx = a.contexts[pc["id"]]
            assert ctx.abstract_syntax == pc["abstract_syntax"]
            assert ctx.result == pc["result"]
            if pc["result"] == 0:
                assert ctx.transfer_syntax == pc["transfer_syntax"]
            else:
                assert ctx.transfer_syntax is None and pc["transfer_syntax"] in ctx.proposed


@pytest.mark.parametrize("name", NAMES)
def test_commands_and_statuses(name):
    info = MANIFEST[name]
    msgs = messages(name)
    assert all(m.command is not None and m.complete for _, m in msgs)
    assert Counter(_cmd(m) for _, m in msgs) == Counter(info["commands"])
    by_cmd: dict[str, list[int]] = {}
    for _, m in msgs:
        if m.command.status is not None:
            by_cmd.setdefault(_cmd(m), []).append(m.command.status)
    assert by_cmd == info["statuses_by_command"]
    if "responses" in info:
        assert [[_cmd(m), m.command.status] for _, m in msgs if m.command.status is not None] == info["responses"]
    if "statuses" in info:
        assert [m.command.status for _, m in msgs if m.command.status is not None] == info["statuses"]
    if "message_order" in info:
        rqs = [f"{a.calling_ae} {_cmd(m)[:-3]}" for a, m in msgs if _cmd(m).endswith("-RQ")]
        assert rqs == info["message_order"]


def test_user_identity_and_roles():
    for name in ("pynetdicom", "pynetdicom_ipv6"):
        info = MANIFEST[name]
        (a,) = ordered_assocs(name)
        u = a.rq.user_info.user_identity
        e = info["user_identity"]
        assert u.type == e["type"]
        assert u.primary.decode() == e["primary_field"]
        assert bool(u.response_requested) == e["positive_response_requested"]
        srv = a.ac.user_info.user_identity
        if e["server_response"] is None:
            assert srv is None or not srv.server_response
        else:
            assert srv.server_response.decode() == e["server_response"]
    (a,) = ordered_assocs("pynetdicom")
    want = [(r["sop_class"], r["scu_role"], r["scp_role"]) for r in MANIFEST["pynetdicom"]["role_selection"]]
    assert [(r.sop_class_uid, r.scu_role, r.scp_role) for r in a.rq.user_info.roles] == want
    (g,) = ordered_assocs("get")
    assert g.rq.user_info.roles, "getscu proposes SCP/SCU role selection for storage"


def test_ipv6_endpoints():
    (a,) = ordered_assocs("pynetdicom_ipv6")
    assert "::1" in str(a.client) and a.server.port == 7001


# -- identifiers -----------------------------------------------------------------------------------

KEY = re.compile(r"^(?:\((?P<g>[0-9A-Fa-f]{4}),(?P<e>[0-9A-Fa-f]{4})\)\[(?P<i>\d+)\]\.)?(?P<kw>\w+)(?:=(?P<v>.*))?$")


def identifier_from_keys(keys: list[str]) -> Dataset:
    """The data set findscu/movescu build from ``-k`` keys (one sequence level is enough here)."""
    ds = Dataset()
    for k in keys:
        m = KEY.match(k)
        assert m, k
        target = ds
        if m["g"]:
            tag = int(m["g"] + m["e"], 16)
            if tag not in ds:
                ds.add_new(tag, "SQ", Sequence([Dataset()]))
            target = ds[tag].value[int(m["i"])]
        setattr(target, m["kw"], m["v"] or "")
    return ds


def flat(ds: Dataset, prefix: str = "") -> dict[str, str]:
    out = {}
    for el in ds:
        if el.VR == "SQ":
            for i, item in enumerate(el.value):
                out.update(flat(item, f"{prefix}{el.tag:08X}[{i}]."))
        else:
            v = el.value
            out[f"{prefix}{el.tag:08X}"] = "" if v is None else str(v)
    return out


def _requests(name: str, kind: str) -> list:
    return [m for _, m in messages(name) if _cmd(m) == kind]


@pytest.mark.parametrize("name", ["find_mwl", "find_mwl_empty"])
def test_mwl_find_identifier(name):
    (rq,) = _requests(name, "C-FIND-RQ")
    assert rq.command.affected_sop_class_uid == MANIFEST[name]["sop_class"]
    assert flat(rq.data.dataset) == flat(identifier_from_keys(MANIFEST[name]["query_keys"]))


def test_mwl_find_matches():
    rsps = [m for m in _requests("find_mwl", "C-FIND-RSP") if m.data is not None]
    got = [{k: str(m.data.dataset.get(k, "")) for k in ("PatientName", "PatientID", "AccessionNumber")}
           for m in rsps]
    assert sorted(got, key=str) == sorted(MANIFEST["find_mwl"]["matches"], key=str)
    assert not [m for m in _requests("find_mwl_empty", "C-FIND-RSP") if m.data is not None]


@pytest.mark.parametrize("name,kind", [("move", "C-MOVE-RQ"), ("get", "C-GET-RQ")])
def test_retrieve_identifier(name, kind):
    want = flat(identifier_from_keys(MANIFEST[name]["query_keys"]))
    for rq in _requests(name, kind):
        assert flat(rq.data.dataset) == want


def test_pynetdicom_identifiers():
    info = MANIFEST["pynetdicom"]
    (find,) = _requests("pynetdicom", "C-FIND-RQ")
    assert flat(find.data.dataset) == flat(identifier_from_keys([f"{k}={v}" for k, v in info["find_query"].items()]))
    (get,) = _requests("pynetdicom", "C-GET-RQ")
    assert flat(get.data.dataset) == flat(identifier_from_keys([f"{k}={v}" for k, v in info["get_query"].items()]))
    matches = [m for m in _requests("pynetdicom", "C-FIND-RSP") if m.data is not None]
    assert [{k: str(m.data.dataset[k].value) for k in ("PatientName", "PatientID")} for m in matches] \
        == info["find_matches"]


# -- C-STORE data sets ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_objects(tmp_path_factory) -> dict[str, Dataset]:
    spec = importlib.util.spec_from_file_location("testobjects", ROOT / "scripts" / "testobjects.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = {}
    for p in mod.make_objects(tmp_path_factory.mktemp("objects")):
        ds = pydicom.dcmread(p)
        out[str(ds.SOPInstanceUID)] = ds
    return out | derived_objects(out)


def derived_objects(reference: dict[str, Dataset]) -> dict[str, Dataset]:
    """Objects a capture script made from a test object by removing elements (manifest ``derived_from_uid``,
    ``removed``, new ``sop_instance_uid``), e.g. the CT without Study Instance UID Orthanc refuses."""
    out = {}
    for info in MANIFEST.values():
        for o in info.get("objects_sent", []):
            if "derived_from_uid" in o:
                ds = copy.deepcopy(reference[o["derived_from_uid"]])
                for kw in o["removed"]:
                    delattr(ds, kw)
                ds.SOPInstanceUID = o["sop_instance_uid"]
                out[o["sop_instance_uid"]] = ds
    return out


def _values_equal(a, b) -> bool:
    if a.VR == "SQ" or b.VR == "SQ":
        return len(a.value) == len(b.value) and all(
            _datasets_equal(x, y) for x, y in zip(a.value, b.value))
    va, vb = a.value, b.value
    if isinstance(va, bytes) and isinstance(vb, bytes):
        return va == vb
    return va == vb or str(va) == str(vb)


def _datasets_equal(got: Dataset, want: Dataset) -> bool:
    tags_got = {t for t in got.keys() if t != PIXEL_DATA}
    tags_want = {t for t in want.keys() if t != PIXEL_DATA}
    if tags_got != tags_want:
        return False
    return all(_values_equal(got[t], want[t]) for t in tags_want)


STORE_CAPTURES = [n for n in NAMES if MANIFEST[n]["commands"].get("C-STORE-RQ")]


@pytest.mark.parametrize("name", STORE_CAPTURES)
def test_store_data_sets_equal_objects_sent(name, reference_objects):
    rqs = _requests(name, "C-STORE-RQ")
    assert len(rqs) == MANIFEST[name]["commands"]["C-STORE-RQ"]
    for rq in rqs:
        ds = rq.data.dataset
        assert ds is not None, f"{name}: data set of {rq.command.affected_sop_instance_uid} not decoded"
        uid = str(ds.SOPInstanceUID)
        assert uid == rq.command.affected_sop_instance_uid
        want = reference_objects[uid]
        assert str(ds.SOPClassUID) == rq.command.affected_sop_class_uid == str(want.SOPClassUID)
        assert PIXEL_DATA in ds
        missing = sorted(set(want.keys()) ^ set(ds.keys()))
        assert not missing, f"{name} {uid}: elements differ {[f'{t:08X}' for t in missing]}"
        bad = [f"{int(t):08X}" for t in want.keys() if t != PIXEL_DATA and not _values_equal(ds[t], want[t])]
        assert not bad, f"{name} {uid}: values differ in {bad}"
    sent = MANIFEST[name].get("objects_sent", []) + MANIFEST[name].get("objects_moved", []) \
        + MANIFEST[name].get("objects_retrieved", [])
    if sent:
        assert {rq.command.affected_sop_instance_uid for rq in rqs} <= {o["sop_instance_uid"] for o in sent} \
            | set(MANIFEST[name].get("retrieved_by_scu", []))


def test_store_transfer_syntaxes():
    rqs = _requests("store", "C-STORE-RQ")
    assert [rq.transfer_syntax for rq in rqs] == \
        [o["transfer_syntax_uid"] for o in MANIFEST["store"]["objects_sent"]]


# -- summary -----------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def summary_text(name: str) -> str:
    r = CliRunner().invoke(main, ["summary", "--no-color", str(CAPTURES / MANIFEST[name]["file"])],
                           env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    return r.output


@pytest.mark.parametrize("name", NAMES)
def test_summary_names_every_association(name):
    text = summary_text(name)
    for i, e in enumerate(MANIFEST[name]["associations"], 1):
        assert re.search(rf"Association #{i}\s+{re.escape(e['calling_ae'])} → {re.escape(e['called_ae'])}", text), \
            text
    assert "Traceback" not in text


def test_summary_failure_texts():
    assert "0xA700" in summary_text("pynetdicom")
    assert "Out of Resources" in summary_text("pynetdicom")
    assert "0xA801" in summary_text("move")
    assert "Move Destination unknown" in summary_text("move")
    rej = summary_text("reject")
    for why in ("called-AE-title-not-recognized", "calling-AE-title-not-recognized", "no-reason-given"):
        assert why in rej
    assert "aborted" in summary_text("abort")
    ctx = summary_text("context_rejected")
    assert "transfer-syntaxes-not-supported" in ctx.replace(" ", "-").lower() or "transfer syntax" in ctx.lower()
