"""Events from Upper Layer framing: whole PDUs, streamed PDV fragments, resyncs.

Big P-DATA-TF PDUs are never buffered whole: their PDV values leave the
framer as :class:`PdvChunk` events while the bytes arrive, and the
:class:`PduEvent` that closes the PDU carries only the PDV headers.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from itertools import groupby

from ..field import Field, Finding
from .pdus import P_DATA_TF, DecodedPdu, Pdv, pdu_name

try:        # the compiled walk's helper for SpanMap.freeze (optional, as the walk is)
    from ..capture._walk import narrow as _narrow
except ImportError:         # pragma: no cover - a machine without a C compiler
    _narrow = None

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


class SpanMap:
    """Where the bytes of a reassembled unit (PDU, command set, data set) came from.

    Stored compactly, as one flat list of integers (unit offset, frame, frame
    offset, length per span; an ``array`` once :meth:`freeze` is called), not
    one object per span: a capture of a million frames keeps a million spans.
    ``typed``: an ``array("q")`` from the start (a data set's spans, which may
    be thousands: no integer object each, and the compiled walk appends them as
    machine integers). :attr:`spans` builds :class:`Span` objects on demand for
    views.
    """

    __slots__ = ("flat", "count", "length", "dropped", "limit")

    def __init__(self, limit: int = MAX_SPANS, typed: bool = False):
        # unit_offset, frame, frame_offset, length; repeated
        self.flat: list[int] | array = array("q") if typed else []
        self.count = 0          # spans stored
        self.length = 0
        self.dropped = 0        # spans not remembered past ``limit``
        self.limit = limit

    def add(self, frame: int, frame_offset: int, length: int) -> None:
        fl = self.flat
        if fl and fl[-3] == frame and fl[-2] + fl[-1] == frame_offset:
            fl[-1] += length
            self.length += length
            return
        if self.count < self.limit:
            fl.extend((self.length, frame, frame_offset, length))
            self.count += 1
        else:
            self.dropped += 1
        self.length += length

    def add_new(self, frame: int, frame_offset: int, length: int) -> None:
        """:meth:`add` for bytes that cannot continue the last span (another frame, or a hole between)."""
        if self.count < self.limit:
            self.flat.extend((self.length, frame, frame_offset, length))
            self.count += 1
        else:
            self.dropped += 1
        self.length += length

    def freeze(self) -> None:
        """The unit is complete: keep its spans as a machine-integer array: 4 bytes an integer when
        all fit (a PDU's offsets and frame numbers almost always do), else 8; a list takes ~32."""
        fl = self.flat
        if type(fl) is list:
            try:
                self.flat = array("I", fl)
            except OverflowError:           # an offset or frame number past 2**32 - 1
                self.flat = array("q", fl)
        elif fl.typecode == "q" and _narrow is not None and array("I").itemsize == 4:   # a typed map's
            low = _narrow(fl)
            if low is not None:
                self.flat = array("I", low)
        elif fl.typecode == "q":            # (without the compiled helper: one integer at a time)
            try:
                self.flat = array("I", fl)
            except OverflowError:
                pass

    def trim(self, keep: int) -> None:
        """Forget all but the first ``keep`` spans (counted in ``dropped``), once nobody will re-read the bytes."""
        if self.count > keep:
            self.dropped += self.count - keep
            del self.flat[keep * 4:]
            self.count = keep

    @property
    def spans(self) -> list[Span]:
        fl = self.flat
        return [Span(fl[i], fl[i + 1], fl[i + 2], fl[i + 3]) for i in range(0, len(fl), 4)]

    @property
    def frames(self) -> list[int]:
        """The frames its spans lie in, in order, a frame repeated by consecutive spans once."""
        return [f for f, _ in groupby(self.flat[1::4])]

    @property
    def first_frame(self) -> int:
        return self.flat[1] if self.flat else 0

    @property
    def last_frame(self) -> int:
        return self.flat[-3] if self.flat else 0

    @property
    def end(self) -> tuple[int, int] | None:
        """(frame, frame offset) just past the last byte remembered, or None."""
        fl = self.flat
        return (fl[-3], fl[-2] + fl[-1]) if fl else None

    def locate(self, unit_offset: int) -> tuple[int, int] | None:
        """(frame, frame_offset) of one byte of the unit, if remembered."""
        fl = self.flat
        for i in range(0, len(fl), 4):
            if fl[i] <= unit_offset < fl[i] + fl[i + 3]:
                return fl[i + 1], fl[i + 2] + (unit_offset - fl[i])
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
