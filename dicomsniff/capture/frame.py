"""The units that leave the capture layer: frames and the TCP segments in them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(slots=True)
class Frame:
    """One captured record, as read from a file or a live socket.

    ``number`` is 1-based like Wireshark's frame number. ``file_offset`` is the
    offset of ``data`` in the capture file (None for live frames), so views can
    re-read the bytes of a frame without keeping them.
    """

    number: int
    ts_ns: int
    linktype: int
    data: bytes
    orig_len: int
    file_offset: int | None = None
    interface: int = 0


@dataclass(slots=True)
class TcpSegment:
    """The TCP facts of one frame. ``payload_offset`` is where the payload starts in frame.data."""

    frame: int
    ts_ns: int
    src_ip: bytes          # packed, 4 or 16 bytes
    dst_ip: bytes
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int             # TCP flags byte (FIN=1 SYN=2 RST=4 PSH=8 ACK=16)
    payload: bytes | memoryview
    payload_offset: int
    truncated: bool = False  # the frame was cut by the snap length inside the payload


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def ip_text(packed: bytes) -> str:
    """Printable form of a packed IPv4/IPv6 address."""
    try:
        return str(ipaddress.ip_address(bytes(packed)))
    except ValueError:
        return packed.hex()


def endpoint_text(packed: bytes, port: int) -> str:
    ip = ip_text(packed)
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
