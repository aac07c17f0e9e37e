"""Deterministic DICOM test objects for the capture generator and the tests.

``make_objects(dir)`` writes the same files (same UIDs, same pixel values,
same file meta information) every time it is called, so a test can
regenerate them and compare them element by element with the data sets
decoded from the C-STORE requests in ``captures/*.pcap``.

Only pydicom and numpy are needed (numpy for the RLE Lossless encoder).

    python scripts/testobjects.py OUTDIR [--big]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

# Private test root (pydicom's org root + a fixed arc used only here).
UID_ROOT = "1.2.826.0.1.3680043.8.498.4242"
IMPLEMENTATION_CLASS_UID = UID(UID_ROOT + ".0.1")
IMPLEMENTATION_VERSION_NAME = "DICOMSNIFF_TEST"

CT_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.2")
MR_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.4")

PATIENT_ID = "DSNIFF001"
PATIENT_NAME = "SNIFF^TEST"
STUDY_INSTANCE_UID = UID(UID_ROOT + ".1")


def _uid(*parts: int) -> UID:
    return UID(".".join([UID_ROOT] + [str(p) for p in parts]))


# name, SOP class, modality, transfer syntax, instance number, rows, cols
SMALL_OBJECTS = [
    ("ct_implicit_le", CT_IMAGE_STORAGE, "CT", ImplicitVRLittleEndian, 1, 16, 16),
    ("mr_explicit_le", MR_IMAGE_STORAGE, "MR", ExplicitVRLittleEndian, 2, 16, 16),
    ("ct_explicit_be", CT_IMAGE_STORAGE, "CT", ExplicitVRBigEndian, 3, 16, 16),
    ("mr_deflated_le", MR_IMAGE_STORAGE, "MR", DeflatedExplicitVRLittleEndian, 4, 16, 16),
    ("ct_rle_lossless", CT_IMAGE_STORAGE, "CT", RLELossless, 5, 32, 32),
]
# ~20 MB uncompressed object (3200 x 3200 x 16 bit = 20,480,000 bytes).
BIG_OBJECT = ("ct_big_20mb", CT_IMAGE_STORAGE, "CT", ExplicitVRLittleEndian, 6, 3200, 3200)


def pixel_values(rows: int, cols: int, seed: int) -> np.ndarray:
    """Fixed 12-bit pixel pattern (no RNG: identical on every platform)."""
    r = np.arange(rows, dtype=np.uint32).reshape(-1, 1)
    c = np.arange(cols, dtype=np.uint32).reshape(1, -1)
    return ((r * 37 + c * 11 + seed * 101 + (r * c) % 7) % 4096).astype(np.uint16)


def build_dataset(name, sop_class, modality, ts, number, rows, cols) -> Dataset:
    series = 2 if modality == "MR" else 1
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = _uid(2, series, number)
    ds.StudyDate = "20240102"
    ds.SeriesDate = "20240102"
    ds.ContentDate = "20240102"
    ds.StudyTime = "101500"
    ds.ContentTime = "101500.123456"
    ds.AccessionNumber = "ACC0001"
    ds.Modality = modality
    ds.Manufacturer = "dicomsniff"
    ds.InstitutionName = "Loopback Hospital"
    ds.ReferringPhysicianName = "REF^DOC"
    ds.StudyDescription = "dicomsniff capture test"
    ds.SeriesDescription = f"{name} ({ts.name})"
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = STUDY_INSTANCE_UID
    ds.SeriesInstanceUID = _uid(1, series)
    ds.StudyID = "1"
    ds.SeriesNumber = series
    ds.InstanceNumber = number
    ds.ImagePositionPatient = [0.0, 0.0, float(number)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.FrameOfReferenceUID = _uid(3, 1)
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 1.0
    # A short sequence so decoders see an SQ in every transfer syntax.
    item = Dataset()
    item.CodeValue = "T-D0010"
    item.CodingSchemeDesignator = "SRT"
    item.CodeMeaning = "Entire body"
    ds.AnatomicRegionSequence = Sequence([item])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if modality == "CT":
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
    ds.WindowCenter = 40
    ds.WindowWidth = 400

    arr = pixel_values(rows, cols, number)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.file_meta = meta

    if ts == RLELossless:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = arr.tobytes()
        ds["PixelData"].VR = "OW"
        ds.compress(RLELossless, arr, encoding_plugin="pydicom", generate_instance_uid=False)
        # compress() may touch the meta; make sure ours survives.
        ds.file_meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
        ds.file_meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    else:
        meta.TransferSyntaxUID = ts
        data = arr.astype(">u2").tobytes() if ts == ExplicitVRBigEndian else arr.astype("<u2").tobytes()
        ds.PixelData = data
        ds["PixelData"].VR = "OW"
    return ds


def write_object(spec, directory: Path) -> Path:
    ds = build_dataset(*spec)
    ts = ds.file_meta.TransferSyntaxUID
    path = directory / f"{spec[0]}.dcm"
    ds.save_as(
        path,
        enforce_file_format=True,
        implicit_vr=ts.is_implicit_VR,
        little_endian=ts.is_little_endian,
    )
    return path


def make_objects(directory, big: bool = False) -> list[Path]:
    """Write the small test objects (and the ~20 MB one with big=True).

    Returns the paths in a fixed order (the order storescu sends them).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [write_object(spec, directory) for spec in SMALL_OBJECTS]
    if big:
        paths.append(write_object(BIG_OBJECT, directory))
    return paths


def object_path(directory, name: str) -> Path:
    return Path(directory) / f"{name}.dcm"


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "testobjects")
    for p in make_objects(out, big="--big" in sys.argv):
        print(p, p.stat().st_size)
