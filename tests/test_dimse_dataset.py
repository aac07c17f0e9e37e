"""Data sets under each transfer syntax (PS3.5 §7, §A), streamed with bounded memory."""

import json
import zlib

import pytest
from hypothesis import given, settings, strategies as st
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from dicomsniff.dimse.dataset import (DEFAULT_KEEP, EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE, DataSetCollector,
                                      DataSetInfo, decode_data_set)

DEFLATED = "1.2.840.10008.1.2.1.99"
JPEG = "1.2.840.10008.1.2.4.50"


def enc(ds: Dataset, implicit: bool = True, little: bool = True) -> bytes:
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    write_dataset(fp, ds)
    return fp.getvalue()


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def sample() -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller^Hans"
    ds.PatientID = "ID\\2"
    ds.Rows, ds.Columns, ds.BitsAllocated = 2, 2, 16
    ds.PixelSpacing = [0.5, 0.25]
    inner = Dataset()
    inner.CodeMeaning = "inner"
    item = Dataset()
    item.CodeValue = "X1"
    item.ConceptNameCodeSequence = [inner]
    ds.ProcedureCodeSequence = [item, Dataset()]
    ds.add_new(0x00090010, "LO", "ACME")
    ds.add_new(0x00091001, "LO", "private value")
    ds.PixelData = b"\x01\x02" * 2000
    return ds


def check_spans(info: DataSetInfo, size: int) -> None:
    for _, f in info.tree.walk():
        assert 0 <= f.offset and f.end <= size, f
        for c in f.children:
            assert f.offset <= c.offset and c.end <= f.end, (f, c)


@pytest.mark.parametrize("ts,implicit,little", [(IMPLICIT_LE, True, True), (EXPLICIT_LE, False, True),
                                                 (EXPLICIT_BE, False, False)])
def test_round_trip(ts, implicit, little):
    ds = sample()
    data = enc(ds, implicit, little)
    info = decode_data_set(data, ts)
    assert info.findings == [] and not info.truncated and info.length == len(data)
    out = info.dataset
    assert str(out.PatientName) == "Müller^Hans"
    assert list(out.PatientID) == ["ID", "2"]
    assert [float(x) for x in out.PixelSpacing] == [0.5, 0.25]
    assert out.Rows == 2
    assert out.ProcedureCodeSequence[0].ConceptNameCodeSequence[0].CodeMeaning == "inner"
    assert len(out.ProcedureCodeSequence) == 2
    # implicit VR: an unregistered private tag has no known VR, so it stays UN bytes (PS3.5 §6.2.2)
    assert out[0x00091001].value == (b"private value " if implicit else "private value")
    # tree: keys, labels, exact spans
    t = info.tree
    assert t.key == "dicom.dataset"
    pid = t.find("PatientID")
    # one row as DICOM tools print it (tag, VR, length, keyword), the value as its display
    assert pid.label == "(0010,0020) LO [4] PatientID" and pid.display == "ID\\2"
    assert data[pid.offset:pid.offset + 4] == (b"\x10\x00\x20\x00" if little else b"\x00\x10\x00\x20")
    # its header and value bytes as children that tile it (the hex pane highlights each)
    subs = [(c.key, c.label, c.display, c.offset - pid.offset, c.length) for c in pid.children]
    head = [("dicom.tag", "Tag", "(0010,0020) Patient ID", 0, 4)]
    head += [("dicom.tag.vl", "Length", "4", 4, 4)] if implicit else [("dicom.tag.vr", "VR", "LO", 4, 2),
                                                                       ("dicom.tag.vl", "Length", "4", 6, 2)]
    assert subs == head + [("dicom.tag.value.str", "Value", "ID\\2", 8, 4)]
    priv = t.find("Private (0009,1001)")
    assert priv.label.startswith("(0009,1001) ") and priv.label.endswith(" [14] PrivateTagData [ACME]")
    assert priv.children[0].display == "(0009,1001) Private tag data [ACME]"
    seq = t.find("ProcedureCodeSequence")
    assert seq.label.startswith("(0008,1032) SQ [") and seq.display == "2 items"
    assert [c.key for c in seq.children][:2] == ["dicom.tag", "dicom.tag.vl" if implicit else "dicom.tag.vr"]
    for _, f in t.walk():                       # every element's children tile it, header first
        if f.children and f.children[0].key == "dicom.tag":
            pos = f.offset
            for c in f.children:
                assert c.offset == pos, (f.label, c.label)
                pos = c.end
            assert pos == f.end, f.label
    assert [c.label for c in t.find("ProcedureCodeSequence").children if c.key == "dicom.item"] == ["Item 1", "Item 2"]
    top = [c for c in t.children]
    assert top[0].offset == 0 and top[-1].end == len(data)
    for a, b in zip(top, top[1:]):
        assert a.end == b.offset
    check_spans(info, len(data))
    # bulk pixel data: referenced, not kept
    (tag, off, ln), = info.bulk
    assert tag == 0x7FE00010 and ln == 4000 and data[off:off + ln] == b"\x01\x02" * 2000
    assert out.PixelData == b""
    js = info.json
    assert js["7FE00010"]["BulkDataURI"] == f"dataset-offset:{off};length=4000"
    assert js["00100020"]["Value"] == ["ID", "2"]
    assert info.json_with(lambda o, n: f"x:{o}:{n}")["7FE00010"]["BulkDataURI"] == f"x:{off}:4000"
    json.dumps(js)


def test_json_equals_pydicom_for_small_sets():
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.QueryRetrieveLevel, ds.StudyInstanceUID = "A^B", "1", "STUDY", "1.2.3"
    info = decode_data_set(enc(ds, False), EXPLICIT_LE)
    assert info.json == ds.to_json_dict()


def test_deflated():
    ds = sample()
    raw = enc(ds, False, True)
    z = deflate(raw)
    info = decode_data_set(z, DEFLATED)
    assert info.findings == []
    assert info.length == len(z) and info.kept == len(raw) and info.inflated
    assert "inflated" in info.tree.display
    assert str(info.dataset.PatientName) == "Müller^Hans"
    off = info.bulk[0][1]
    assert raw[off:off + 4000] == b"\x01\x02" * 2000
    assert info.json["7FE00010"]["BulkDataURI"].startswith("inflated-offset:")
    col = DataSetCollector(DEFLATED)
    for i in range(0, len(z), 7):
        col.feed(memoryview(z)[i:i + 7])
    assert col.finish().dataset.ProcedureCodeSequence[0].CodeValue == "X1"


def test_deflate_bomb_is_bounded():
    z = deflate(b"\x00" * (64 << 20))          # 64 MiB of zeros, ~64 KiB compressed
    col = DataSetCollector(DEFLATED, keep_limit=1 << 20)
    for i in range(0, len(z), 16384):
        col.feed(z[i:i + 16384])
        assert col.kept <= 1 << 20
    info = col.finish()
    assert info.truncated and info.kept == 1 << 20 and info.length == len(z)


def test_bad_deflate_stream():
    info = decode_data_set(b"\xff" * 50, DEFLATED)
    assert any(f.code == "dataset-inflate" for f in info.findings)


def test_encapsulated_pixel_data():
    ds = Dataset()
    ds.PatientID = "1"
    ds.BitsAllocated = 8
    ds.PixelData = encapsulate([b"\xff\xd8" + b"a" * 3000, b"b" * 10])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    data = enc(ds, False, True)
    info = decode_data_set(data, JPEG)
    assert info.findings == []
    px = info.tree.find("PixelData")
    assert px.end == len(data)
    frags = [c for c in px.children if c.key == "dicom.fragment"]
    assert [c.label for c in frags] == ["Basic Offset Table", "Fragment 1", "Fragment 2"]
    assert data[frags[1].offset + 8:frags[1].offset + 10] == b"\xff\xd8"
    (tag, off, ln), = info.bulk
    assert off == frags[0].offset and off + ln == len(data)
    assert info.json["7FE00010"]["BulkDataURI"]
    check_spans(info, len(data))


def test_big_store_streamed_with_bounded_memory():
    ds = Dataset()
    ds.PatientID, ds.SOPInstanceUID, ds.BitsAllocated = "BIG", "1.2.3", 8
    ds.PixelData = b"\x00" * (20 << 20)
    data = enc(ds, False, True)
    limit = 1 << 20
    col = DataSetCollector(EXPLICIT_LE, keep_limit=limit)
    for i in range(0, len(data), 16384):
        col.feed(data[i:i + 16384])
        assert col.kept <= limit
    info = col.finish()
    assert info.truncated and info.length == len(data) and info.kept == limit
    assert info.dataset.PatientID == "BIG" and info.dataset.SOPInstanceUID == "1.2.3"
    assert info.bulk[0][2] == 20 << 20
    assert [f.severity for f in info.findings] == ["note"]
    assert info.tree.length == len(data)
    check_spans(info, len(data))


def test_truncated_prefix_via_total_length():
    data = enc(sample(), False, True)
    cut = data[:len(data) // 5]
    info = decode_data_set(cut, EXPLICIT_LE, total_length=len(data))
    assert info.truncated and all(f.severity == "note" for f in info.findings)
    assert info.dataset.SpecificCharacterSet == "ISO_IR 100"


def test_every_cut_point_never_raises():
    data = enc(sample(), False, True)
    boundaries = {f.end for f in decode_data_set(data, EXPLICIT_LE).tree.children}
    for cut in range(len(data)):
        info = decode_data_set(data[:cut], EXPLICIT_LE)
        check_spans(info, cut)
        if cut in boundaries:       # a cut between top-level elements is itself a valid, shorter data set
            assert info.findings == [], cut
        elif cut:
            assert any(f.severity == "error" for f in info.findings), cut


def test_deep_nesting_bounded():
    ds = Dataset()
    cur = ds
    for _ in range(80):
        child = Dataset()
        cur.ProcedureCodeSequence = [child]
        cur = child
    cur.CodeValue = "deep"
    info = decode_data_set(enc(ds, False), EXPLICIT_LE)
    assert any(f.code == "dataset-too-deep" for f in info.findings)


def test_undefined_length_sequence_and_items():
    ds = Dataset()
    item = Dataset()
    item.CodeValue = "U"
    ds.ProcedureCodeSequence = [item]
    ds["ProcedureCodeSequence"].is_undefined_length = True
    item.is_undefined_length_sequence_item = True
    data = enc(ds, True)
    info = decode_data_set(data, IMPLICIT_LE)
    assert info.findings == []
    assert info.dataset.ProcedureCodeSequence[0].CodeValue == "U"
    seq = info.tree.find("ProcedureCodeSequence")
    assert seq.end == len(data) and seq.children[-1].key == "dicom.seq.delim"


def test_bad_charset_is_a_finding():
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 999"
    ds.PatientName = "Abc"
    with pytest.warns(UserWarning, match="ISO_IR 999"):      # pydicom, writing the fixture
        data = enc(ds, False)
    info = decode_data_set(data, EXPLICIT_LE)
    assert any(f.code == "dataset-bad-charset" for f in info.findings)
    assert info.tree.find("PatientName").display == "Abc"


@pytest.mark.parametrize("ts", [IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE, JPEG, "1.2.3.4.5"])
def test_garbage_gives_finding(ts):
    info = decode_data_set(b"garbage!" * 10, ts)
    assert any("does not parse as" in f.message for f in info.findings)


def test_unknown_transfer_syntax_noted():
    info = decode_data_set(enc(sample(), False), "1.2.3.4.5")
    assert [f.code for f in info.findings] == ["dataset-unknown-ts"]
    assert list(info.dataset.PatientID) == ["ID", "2"]


def test_collector_equals_whole_decode_and_finish_is_idempotent():
    data = enc(sample(), True)
    col = DataSetCollector(IMPLICIT_LE)
    for i in range(0, len(data), 100):
        col.feed(data[i:i + 100])
    a = col.finish()
    assert a is col.finish()
    b = decode_data_set(data, IMPLICIT_LE)
    assert [(f.key, f.offset, f.length, f.display) for _, f in a.tree.walk()] == \
           [(f.key, f.offset, f.length, f.display) for _, f in b.tree.walk()]
    assert DEFAULT_KEEP == 8 << 20


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE, DEFLATED]))
def test_random_bytes_never_raise(data, ts):
    info = decode_data_set(data, ts)
    json.dumps(info.json)
    json.dumps(info.tree.to_json())
    if ts != DEFLATED:
        check_spans(info, len(data))


def _nested_sequences(depth: int, tail: int) -> bytes:
    """Implicit VR LE: ``depth`` defined-length ReferencedSeriesSequence items nested in each other."""
    import struct
    inner = struct.pack("<HHI", 0x0010, 0x0020, tail) + b"P" * tail
    for _ in range(depth):
        item = struct.pack("<HHI", 0xFFFE, 0xE000, len(inner)) + inner
        inner = struct.pack("<HHI", 0x0008, 0x1115, len(item)) + item
    return inner


@pytest.mark.parametrize("cut", [40, 200, 1000, 1500, 1700])
def test_nested_sequences_cut_short_stay_inside_their_parents(cut):
    # Found by atheris: a data set cut by a gap (total length unknown) whose nested items all claim
    # lengths past the cut; every field must stay inside its parent for the hex pane.
    data = _nested_sequences(80, 600)      # deeper than MAX_DEPTH: the walk skips the innermost by claim
    c = DataSetCollector(IMPLICIT_LE)
    c.feed(data[:cut])
    info = c.keep(cut=True).decode()
    assert info.truncated
    stack = [info.tree]
    while stack:
        f = stack.pop()
        for ch in f.children:
            assert f.offset <= ch.offset and ch.offset + ch.length <= f.offset + f.length, (f.key, ch.key)
            stack.append(ch)
    assert info.tree.length == cut


# ---- the element conversion against pydicom's own Dataset.__getitem__ -------------------------------

def _getitem_element(self, ds, raw):
    """What ``_Walker.element`` stands in for: the raw element put in the Dataset and read back."""
    ds._dict[raw.tag] = raw
    return ds[raw.tag]


def _everything(info: DataSetInfo) -> tuple:
    """All a view, the JSON export or the diagnosis reads of a decoded data set."""
    rows = [(depth, f.key, f.label, repr(f.value), f.display, f.offset, f.length,
             [(x.severity, x.code, x.message) for x in f.findings]) for depth, f in info.tree.walk()]
    elems = [(repr(e.tag), e.VR, repr(e.value), getattr(e, "private_creator", None)) for e in info.dataset.iterall()]
    return rows, json.dumps(info.json, sort_keys=True, default=repr), elems


def _charset_cases() -> list[tuple[bytes, str]]:
    """Data sets whose conversion depends on what pydicom's __getitem__ does besides converting."""
    out = []
    latin = Dataset()
    latin.SpecificCharacterSet = "ISO_IR 100"
    latin.PatientName = "Müller^Hans"
    latin.add_new(0x00090010, "LO", "ACME")
    latin.add_new(0x00091001, "LO", "Grüße")                  # private: its creator named
    latin.PixelRepresentation = 1
    latin.add_new(0x00280106, "SS", -5)                       # US or SS, read by Pixel Representation
    latin.add_new(0x00280107, "SS", 300)
    item = Dataset()
    item.CodeMeaning = "Größe"                                  # inherits ISO_IR 100
    item2 = Dataset()
    item2.SpecificCharacterSet = "ISO_IR 192"                  # its own, in an item
    item2.CodeMeaning = "日本"
    latin.ProcedureCodeSequence = [item, item2]
    utf8 = Dataset()
    utf8.add_new(0x00080001, "UL", 0)                           # converted before (0008,0005) is known
    utf8.SpecificCharacterSet = "ISO_IR 192"
    utf8.PatientName = "Ärger"
    utf8.StudyDescription = "Ünïcode"
    for ds in (latin, utf8):
        for implicit, little, ts in ((True, True, IMPLICIT_LE), (False, True, EXPLICIT_LE), (False, False, EXPLICIT_BE)):
            out.append((enc(ds, implicit, little), ts))
    bad = Dataset()
    bad.SpecificCharacterSet = ["ISO 2022 IR 6", "ISO 2022 IR 87"]
    bad.PatientName = "Yamada^Tarou=山田^太郎"
    bad.add_new(0x00081030, "LO", "x")
    out.append((enc(bad, False), EXPLICIT_LE))
    # a Specific Character Set pydicom does not know (each later element converts with a warning),
    # values it warns about (an IS of letters, a DS of "x") and one it refuses (a US of 3 bytes)
    raw = (b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 999" + b"\x08\x00\x20\x00DA\x08\x0020240101"
           + b"\x10\x00\x10\x00PN\x04\x00Abcd" + b"\x20\x00\x13\x00IS\x04\x00abcd"
           + b"\x28\x00\x09\x00AT\x04\x00\x08\x00\x18\x00" + b"\x28\x00\x10\x00US\x03\x00\x01\x02\x03"
           + b"\x28\x00\x30\x00DS\x04\x001\\x ")
    out.append((raw, EXPLICIT_LE))
    return out


def test_element_conversion_equals_pydicom_getitem(monkeypatch):
    """The walker converts each element itself (its encoding asked once per data set): trees, values,
    JSON model, pydicom elements and findings equal those of ``ds[tag]``, on crafted data sets whose
    conversion needs the character set, a private creator or an ambiguous VR, and on every data set of
    every shipped capture."""
    from pathlib import Path
    from dicomsniff.dimse import dataset as dsmod
    from dicomsniff.pipeline import Analyzer, MessageSeen
    from dicomsniff.reading import read_events

    cases = _charset_cases()
    root = Path(__file__).resolve().parent.parent / "captures"
    kept = []
    for path in sorted(root.glob("*.pcap")):
        for ev in read_events(path, Analyzer(keep_pdus=False)):
            if isinstance(ev, MessageSeen) and ev.message.data is not None:
                kept.append(ev.message.data)
    assert len(kept) > 50
    fast = [_everything(decode_data_set(b, ts)) for b, ts in cases]
    fast += [_everything(k.decode()) for k in kept]
    monkeypatch.setattr(dsmod._Walker, "element", _getitem_element)
    slow = [_everything(decode_data_set(b, ts)) for b, ts in cases]
    slow += [_everything(k.decode()) for k in kept]
    assert fast == slow
    # the crafted cases do reach what they are for
    text = json.dumps([f[0] for f in fast[:len(cases)]], default=repr, ensure_ascii=False)
    for needle in ("Müller", "Größe", "日本", "Ünïcode", "dataset-bad-value", "dataset-pydicom-warning", "ACME"):
        assert needle in text, needle
