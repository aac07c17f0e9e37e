"""Events from Upper Layer framing: whole PDUs, streamed PDV fragments, resyncs.

Big P-DATA-TF PDUs are never buffered whole: their PDV values leave the
framer as :class:`PdvChunk` events while the bytes arrive, and the
:class:`PduEvent` that closes the PDU carries only the PDV headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..field import Field, Finding
from .pdus import P_DATA_TF, DecodedPdu, Pdv, pdu_name

# At most this many (frame, offset) spans are remembered for one unit; a
# 2 GB PDU over a million frames keeps the first ones and a count.
MAX_SPANS = 4096
BRIEF_SPANS = 64     # what views that never re-read a unit's bytes keep: the first frames, as evidence


@dataclass(slots=True)
class Span:
    """``length`` bytes of a reassembled unit, at ``unit_offset``, came from ``frame`` at ``frame_offset``."""

    unit_offset: int
    frame: int
    frame_offset: int
    length: int


@dataclass(slots=True)
class SpanMap:
    """Where the bytes of a reassembled unit (PDU, command set, data set) came from."""

    spans: list[Span] = field(default_factory=list)
    length: int = 0
    dropped: int = 0   # spans not remembered past ``limit``
    limit: int = MAX_SPANS

    def add(self, frame: int, frame_offset: int, length: int) -> None:
        spans = self.spans
        if spans:
            last = spans[-1]
            if last.frame == frame and last.frame_offset + last.length == frame_offset:
                last.length += length
                self.length += length
                return
        if len(spans) < self.limit:
            spans.append(Span(self.length, frame, frame_offset, length))
        else:
            self.dropped += 1
        self.length += length

    def trim(self, keep: int) -> None:
        """Forget all but the first ``keep`` spans (counted in ``dropped``), once nobody will re-read the bytes."""
        if len(self.spans) > keep:
            self.dropped += len(self.spans) - keep
            del self.spans[keep:]

    @property
    def frames(self) -> list[int]:
        seen: list[int] = []
        for s in self.spans:
            if not seen or seen[-1] != s.frame:
                seen.append(s.frame)
        return seen

    @property
    def first_frame(self) -> int:
        return self.spans[0].frame if self.spans else 0

    def locate(self, unit_offset: int) -> tuple[int, int] | None:
        """(frame, frame_offset) of one byte of the unit, if remembered."""
        for s in self.spans:
            if s.unit_offset <= unit_offset < s.unit_offset + s.length:
                return s.frame, s.frame_offset + (unit_offset - s.unit_offset)
        return None


@dataclass(slots=True)
class PduEvent:
    """One whole PDU of one direction of a stream.

    ``decoded`` holds the dissection for all PDU types but P-DATA-TF, whose
    tree is built on demand from ``pdvs`` (see :meth:`tree`), since P-DATA
    are most of any capture. ``complete`` is False when a TCP gap or the end
    of the capture cut the PDU; ``lost`` then lists the byte ranges the capture
    lacks (stream offset, length) when a gap fell inside it.
    """

    stream: int
    direction: int
    pdu_type: int
    length: int                 # the PDU length field
    stream_offset: int
    ts_ns: int
    end_ts_ns: int
    spans: SpanMap
    decoded: DecodedPdu | None = None
    pdvs: list[Pdv] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    complete: bool = True
    lost: list[tuple[int, int]] = field(default_factory=list)   # (stream offset, length) missing from the capture

    @property
    def name(self) -> str:
        return pdu_name(self.pdu_type)

    @property
    def frame(self) -> int:
        return self.spans.first_frame

    @property
    def info(self) -> str:
        if self.decoded is not None:
            return self.decoded.info
        from .dissect import pdata_info
        return pdata_info(self.pdvs)

    def tree(self) -> Field:
        if self.decoded is not None:
            return self.decoded.tree
        from .dissect import build_pdata_tree
        # a PDU cut by a gap or the capture's end: spans only over the bytes present
        return build_pdata_tree(self.length, self.pdvs, list(self.findings),
                                available=None if self.complete else self.spans.length)

    def all_findings(self) -> list[Finding]:
        if self.pdu_type == P_DATA_TF or self.decoded is None:
            return list(self.findings)
        return self.decoded.findings + [f for f in self.findings if f not in self.decoded.findings]


@dataclass(slots=True)
class PdvChunk:
    """Part of a PDV value, in stream order. ``first``/``done`` mark the PDV's first and last bytes.

    ``pdv`` is the PDV header (context id, control header); a PDV cut by a gap
    or the end of the stream ends with ``broken`` set (``lost`` too when the
    capture lost bytes of it: a gap, not the end of the stream).
    """

    stream: int
    direction: int
    pdv: Pdv
    data: bytes | memoryview
    value_offset: int           # offset of data within the PDV value
    frame: int
    frame_offset: int
    ts_ns: int
    first: bool
    done: bool
    broken: bool = False
    lost: bool = False


@dataclass(slots=True)
class PdvLoss:
    """PDV fragments of any presentation context may be in ``length`` bytes lost at ``stream_offset``.

    Emitted when a gap swallowed a PDU or PDV header, so the framer cannot say
    which contexts lost fragments: the assembler closes every message open in
    that direction as cut by capture loss. A gap inside a PDV whose header was
    seen gives a ``broken`` :class:`PdvChunk` instead (that context only).
    """

    stream: int
    direction: int
    stream_offset: int
    length: int
    frame: int
    ts_ns: int
