"""Events from TCP reassembly: in-order stream bytes, gaps and closes, per direction."""

from __future__ import annotations

from dataclasses import dataclass

# Directions within a stream: 0 is the side that opened it (SYN sender) when the
# handshake was seen, otherwise the sender of the first segment seen.
A_TO_B, B_TO_A = 0, 1


@dataclass(slots=True, frozen=True)
class StreamKey:
    """Identifies a TCP connection: endpoint a is direction 0's sender."""

    a_ip: bytes
    a_port: int
    b_ip: bytes
    b_port: int


@dataclass(slots=True)
class StreamData:
    """In-order bytes of one direction, all from one frame.

    ``stream_offset`` counts bytes from the first byte seen in this direction;
    ``frame_offset`` is where ``data`` starts inside that frame's bytes.
    """

    stream: int            # stream index, in order of first appearance (like tcp.stream)
    direction: int
    stream_offset: int
    data: bytes | memoryview
    frame: int
    frame_offset: int
    ts_ns: int


@dataclass(slots=True, frozen=True)
class StreamGap:
    """Bytes missing from a direction (never zero-filled): ``length`` bytes at ``stream_offset``."""

    stream: int
    direction: int
    stream_offset: int
    length: int
    after_frame: int       # last frame before the hole (0 if none)
    before_frame: int      # first frame after it (0 if the stream ended)
    ts_ns: int


@dataclass(slots=True, frozen=True)
class StreamOpened:
    stream: int
    key: StreamKey
    handshake_seen: bool
    frame: int
    ts_ns: int


@dataclass(slots=True, frozen=True)
class StreamClosed:
    """A direction ended: ``how`` is "fin", "rst" or "eof" (capture ended)."""

    stream: int
    direction: int
    how: str
    frame: int
    ts_ns: int
