"""Capture layer: frames from pcap/pcapng files and streams, and the TCP fast path.

The only package that touches capture formats and link/IP/TCP headers.
"""

from .frame import Frame, TcpSegment
from .packet import decode_tcp, link_name
from .reader import CaptureFormatError, CaptureReader, open_capture

__all__ = ["CaptureFormatError", "CaptureReader", "Frame", "TcpSegment", "decode_tcp",
           "link_name", "open_capture"]
