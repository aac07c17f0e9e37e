"""dicomsniff: a Wireshark-style analyzer for DICOM network traffic."""

__version__ = "0.1.0"
