"""Units of ``dicomsniff anonymize``: the raw data set codec, the profile's choices, the mappings, checksums."""

from __future__ import annotations

import io
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence

from dicomsniff.anonymize import Options, anonymize
from dicomsniff.anonymize.dataset import Codec, DataSetError, codec_for, encode, parse
from dicomsniff.anonymize.profile import Cleaner, Mapper

ROOT = Path(__file__).resolve().parent.parent
SECRET = bytes(32)
UID_RE = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


def _body(name: str) -> tuple[bytes, str]:
    raw = Path(get_testdata_file(name)).read_bytes()
    fp = pydicom.filebase.DicomBytesIO(raw)
    read_preamble(fp, False)
    meta = _read_file_meta_info(fp)
    return raw[fp.tell():], meta.TransferSyntaxUID


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_bigendian.dcm", "rtplan.dcm", "MR_small_implicit.dcm",
                                  "SC_rgb_rle.dcm"])
def test_codec_round_trips_byte_for_byte(name):
    """Parse and encode give back the very bytes (implicit/explicit VR, both byte orders, sequences,
    encapsulated pixel data)."""
    body, ts = _body(name)
    codec, _ = codec_for(ts)
    assert encode(parse(body, codec), codec) == body


def _encode(ds: Dataset, *, implicit: bool = False, little: bool = True) -> bytes:
    fp = pydicom.filebase.DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = little, implicit
    write_dataset(fp, ds)
    return fp.getvalue()


def _read(blob: bytes, *, implicit: bool = False, little: bool = True) -> Dataset:
    from pydicom.filereader import read_dataset
    return read_dataset(io.BytesIO(blob), implicit, little)


def _object() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.99.1"
    ds.StudyDate = "20240102"
    ds.StudyTime = "101500"
    ds.PatientName = "DOE^JOHN"
    ds.PatientID = "MRN12345"
    ds.PatientSex = "M"
    ds.PatientBirthDate = "19700101"
    ds.InstitutionName = "General Hospital"
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.99.2"
    item.EvaluatorName = "WHO^DR"          # a PN the table does not list
    ds.ReferencedImageSequence = Sequence([item])
    ds.ReferencedImageSequence.is_undefined_length = True
    ds.add_new(0x00090010, "LO", "ACME private")
    ds.add_new(0x00091001, "LO", "secret")
    ds.add_new(0x00101001, "UN", b"OTHER^NAME")      # Other Patient Names (X), sent as UN
    ds.add_new(0x00100040, "UN", b"M ")                # Patient's Sex, as UN
    ds.add_new(0x00140104, "UN", b"WHO^ELSE")          # Secondary Reviewer Name (PN, not in the table), as UN
    ds.PixelData = b"\x01\x02" * 8
    ds["PixelData"].VR = "OW"
    return ds


@pytest.mark.parametrize("implicit,little", [(True, True), (False, True), (False, False)])
def test_object_profile(implicit, little):
    codec = Codec(little, implicit)
    mapper = Mapper(Options(secret=SECRET))
    out = encode(Cleaner(mapper).dataset(parse(_encode(_object(), implicit=implicit, little=little), codec),
                                         "object"), codec)
    ds = _read(out, implicit=implicit, little=little)
    assert str(ds.PatientName) == mapper.texts[("PN", "DOE^JOHN")] == "ANON^0002"     # after the item's PN
    assert ds.PatientID == "ANON0001" and ds.PatientSex == ""
    assert "InstitutionName" not in ds and 0x00091001 not in ds and 0x00090010 not in ds
    assert ds.StudyDate == mapper.date("20240102", "DA") != "20240102" and ds.StudyTime == ""
    assert ds.SOPInstanceUID == mapper.uids["1.2.826.0.1.3680043.8.498.99.1"]
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    item = ds.ReferencedImageSequence[0]
    assert item.ReferencedSOPInstanceUID == mapper.uids["1.2.826.0.1.3680043.8.498.99.2"]
    assert str(item.EvaluatorName).startswith("ANON^")
    assert ds.PixelData == bytes(16)
    if not implicit:
        assert 0x00101001 not in ds and ds[0x00100040].VR in ("UN", "CS")
        assert b"WHO^ELSE" not in out and b"OTHER^NAME" not in out
    assert ds.PatientIdentityRemoved == "YES" and ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == ["113100", "113107"]
    assert list(ds.keys()) == sorted(ds.keys())


def test_identifier_keeps_its_keys_empty():
    """In a query identifier an X key is kept with an empty value: the key set survives."""
    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    q.PatientName = "DOE*"
    q.StudyDescription = "CHEST"
    q.InstitutionName = ""
    mapper = Mapper(Options(secret=SECRET))
    out = _read(encode(Cleaner(mapper).dataset(parse(_encode(q), Codec()), "identifier"), Codec()))
    assert sorted(out.keys()) == sorted(q.keys())
    assert out.StudyDescription == "" and out.InstitutionName == "" and str(out.PatientName) == "ANON^0001"
    assert "PatientIdentityRemoved" not in out


def test_retain_options():
    ds = _object()
    uids = Cleaner(Mapper(Options("retain-uids", secret=SECRET)))
    a = _read(encode(uids.dataset(parse(_encode(ds), Codec()), "object"), Codec()))
    assert a.SOPInstanceUID == ds.SOPInstanceUID and a.StudyDate != ds.StudyDate
    assert [i.CodeValue for i in a.DeidentificationMethodCodeSequence] == ["113100", "113110", "113107"]
    dates = Cleaner(Mapper(Options("retain-dates", secret=SECRET, keep_pixels=True)))
    b = _read(encode(dates.dataset(parse(_encode(ds), Codec()), "object"), Codec()))
    assert b.StudyDate == "20240102" and b.StudyTime == "101500" and b.PatientBirthDate == "19700101"
    assert b.SOPInstanceUID != ds.SOPInstanceUID and b.PixelData == ds.PixelData
    assert b.LongitudinalTemporalInformationModified == "UNMODIFIED"


def test_uid_mapping_is_consistent_valid_and_keeps_length():
    m = Mapper(Options(secret=SECRET))
    for old in ["1.2.3", "1.2.826.0.1.3680043.8.498.4242.2.1.1", "1.2.826.0.1.3680043.10.543." + "9" * 36]:
        new = m.uid(old)
        assert UID_RE.fullmatch(new) and len(new) <= 64 and new.startswith("2.25.")
        assert m.uid(old) == new
        assert len(new) == max(len(old), 44)
    assert len(set(m.uids.values())) == 3
    assert Mapper(Options(secret=SECRET)).uid("1.2.3") == m.uid("1.2.3")
    assert Mapper(Options(secret=bytes(range(32)))).uid("1.2.3") != m.uid("1.2.3")


def test_dates_shift_by_whole_weeks():
    m = Mapper(Options(secret=SECRET, date_shift_days=-14))
    assert m.date("20240102", "DA") == "20231219"
    assert m.date("20240101-20240131", "DA") == "20231218-20240117"
    assert m.date("-20240102", "DA") == "-20231219"
    assert m.date("20240102\\20240103", "DA") == "20231219\\20231220"
    assert m.date("20240102101500.5+0100", "DT") == "20231219101500.5+0100"
    assert m.date("2024", "DT") == "2023"
    assert m.date("garbage", "DA") == ""
    assert Mapper(Options(secret=SECRET)).options.date_shift_days % 7 == 0


def test_group_length_and_defined_lengths_are_recomputed():
    """A defined-length sequence and a (retired) group length follow the new value lengths."""
    ds = Dataset()
    ds.PatientName = "A^VERY^LONG^PATIENT^NAME^INDEED"
    ds.PatientID = "1"
    item = Dataset()
    item.PatientName = "X"
    ds.OtherPatientIDsSequence = Sequence([item])
    blob = _encode(ds)
    blob = struct.pack("<HH2sHI", 0x0010, 0, b"UL", 4, len(blob)) + blob    # pydicom writes none
    m = Mapper(Options(secret=SECRET))
    out = encode(Cleaner(m).dataset(parse(bytes(blob), Codec()), "identifier"), Codec())
    back = _read(out)
    assert back[0x00100000].value == len(out) - 12 != len(blob) - 12
    assert str(back.PatientName) == "ANON^0001" and len(back.OtherPatientIDsSequence) == 0


def test_codec_refuses_what_it_cannot_walk():
    with pytest.raises(DataSetError):
        parse(b"\x10\x00\x10\x00PN\x10\x00abc", Codec())          # value runs past the data set
    with pytest.raises(DataSetError):
        parse(b"\x10\x00\x10\x00\x01\x02\x02\x00ab", Codec())     # not a VR
    with pytest.raises(DataSetError):
        parse(b"\xfe\xff\x00\xe0\x00\x00\x00\x00", Codec())       # an item outside a sequence


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_checksums_recomputed_where_they_were_right(tmp_path):
    """Loopback captures carry offloaded (wrong) TCP checksums; with them made right first, every IPv4
    header and TCP checksum of the anonymized copy is right (tshark checks them)."""
    import capwriter as cw
    from dicomsniff.anonymize.packets import _tcp_sum, checksum, find_headers
    from dicomsniff.capture.reader import open_capture
    records = []
    with open_capture(str(ROOT / "captures" / "store.pcap")) as reader:
        for fr in reader:
            data = bytearray(fr.data)
            h = find_headers(fr.linktype, data)
            if h is not None:
                struct.pack_into("!H", data, h.tcp + 16, 0)
                struct.pack_into("!H", data, h.tcp + 16, _tcp_sum(bytes(data[h.ip + 12:h.ip + 16]),
                                                                   bytes(data[h.ip + 16:h.ip + 20]),
                                                                   data[h.tcp:h.ip_end]))
                struct.pack_into("!H", data, h.ip + 10, 0)
                struct.pack_into("!H", data, h.ip + 10, checksum(data[h.ip:h.ip + 20]))
            records.append((fr.ts_ns, bytes(data)))
    src = tmp_path / "good.pcap"
    src.write_bytes(cw.pcap_bytes(records, fr.linktype))
    out = tmp_path / "out.pcap"
    anonymize(src, out, Options(secret=SECRET), ips=True)

    def bad(path):
        res = subprocess.run(["tshark", "-r", str(path), "-o", "tcp.check_checksum:TRUE", "-o",
                              "ip.check_checksum:TRUE", "-Y", "tcp.checksum.status == 0 || ip.checksum.status == 0",
                              "-T", "fields", "-e", "frame.number"], capture_output=True, text=True, timeout=120)
        return res.stdout.split()
    assert bad(src) == [] and bad(out) == []
    assert len(subprocess.run(["tshark", "-r", str(out), "-Y", "tcp.checksum.status == 1", "-o",
                               "tcp.check_checksum:TRUE"], capture_output=True, text=True).stdout.splitlines()) > 40
