"""Reassembles PDV fragments into DIMSE messages (PS3.7 §6.3, PS3.8 Annex E).

A message is a command set (PDVs with the command bit set, until the one
flagged last) optionally followed by a data set on the same presentation
context. Fragments are tracked per direction and context. Command sets are
small and buffered (bounded); data sets stream into a
:class:`~dicomsniff.dimse.dataset.DataSetCollector` and, when asked, out as
:class:`DataChunk` events for exporters, so a 2 GB object is never held.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain, groupby, islice
from typing import Callable

from ..field import ERROR, NOTE, WARN, Finding
from ..ul.events import MAX_SPANS, PdvChunk, SpanMap
from .command_set import CommandSet, decode_command_set
from .commands import command_name
from .dataset import DataSetCollector, KeptDataSet

MAX_COMMAND = 1 << 16
CAPTURE_LOSS = "capture-loss"     # the reason given when the capture, not the sender, cut a message      # command sets are a few hundred bytes; anything bigger is broken


@dataclass(slots=True)
class Message:
    """One DIMSE message: its command set, its data set (if any), and where they came from."""

    stream: int
    direction: int
    context_id: int
    ts_ns: int
    end_ts_ns: int = 0
    command: CommandSet | None = None
    command_spans: SpanMap = field(default_factory=SpanMap)
    transfer_syntax: str | None = None
    data: KeptDataSet | None = None
    data_spans: SpanMap | None = None
    complete: bool = False
    findings: list[Finding] = field(default_factory=list)
    index: int = 0              # order within the association, set by the model
    cut: str = ""               # why an incomplete message is incomplete: "capture-loss" (the capture lost
                                # bytes of it), "end-of-stream", "protocol" (the sender broke it off)

    @property
    def name(self) -> str:
        if self.command is None or self.command.command_field is None:
            return "Unknown message" if self.complete else "incomplete command set"
        return command_name(self.command.command_field)

    @property
    def frames(self) -> list[int]:
        """The frames of its command set's spans, then of its data set's, a frame repeated by consecutive spans
        once (SpanMap.frames)."""
        if self.data_spans is None:
            return self.command_spans.frames
        cmd = self.command_spans.flat[1::4]
        data = self.data_spans.flat[1::4]
        return [f for f, _ in groupby(chain(cmd, data))]

    def first_frames(self, k: int) -> list[int]:
        """``frames[:k]``, without listing the rest."""
        cmd = islice(self.command_spans.flat, 1, None, 4)
        if self.data_spans is not None:
            cmd = chain(cmd, islice(self.data_spans.flat, 1, None, 4))
        return [f for f, _ in islice(groupby(cmd), k)]

    @property
    def last_frame(self) -> int:
        """``frames[-1]`` (0 with no span)."""
        flat = self.data_spans.flat if self.data_spans is not None and self.data_spans.flat else \
            self.command_spans.flat
        return flat[-3] if flat else 0

    @property
    def data_length(self) -> int:
        return self.data_spans.length if self.data_spans is not None else 0


@dataclass(slots=True)
class DataChunk:
    """Bytes of a message's data set as they arrive (only emitted when asked for)."""

    message: Message
    data: bytes | memoryview
    offset: int
    frame: int
    frame_offset: int


@dataclass(slots=True)
class DataStarted:
    message: Message


@dataclass(slots=True)
class DataEnded:
    message: Message
    complete: bool
    reason: str = ""          # why an incomplete data set ended early, in words ("" when complete)


@dataclass(slots=True)
class MessageDone:
    """A message is complete (or ended broken: see ``message.complete``)."""

    message: Message


class _Slot:
    """Fragment state of one (direction, context). ``hole``: the capture lost bytes of the data set."""

    __slots__ = ("cmd", "msg", "collector", "hole")

    def __init__(self):
        self.cmd: bytearray | None = None
        self.msg: Message | None = None
        self.collector: DataSetCollector | None = None
        self.hole = 0


class MessageAssembler:
    """Sans-I/O: ``feed(PdvChunk)`` → Message events; ``finish()`` closes what is open.

    ``transfer_syntax_of(direction, context_id)`` answers the transfer syntax
    accepted for a context (None if unknown); ``stream_data`` asks for
    DataStarted/DataChunk/DataEnded events; ``keep_limit`` bounds what a
    data set keeps for decoding.
    """

    def __init__(self, transfer_syntax_of: Callable[[int, int], str | None], *,
                 stream_data: bool = False, keep_limit: int = 1 << 20, decode_data: bool = True,
                 data_span_limit: int = MAX_SPANS):
        self.ts_of = transfer_syntax_of
        self.stream_data = stream_data
        self.keep_limit = keep_limit
        self.decode_data = decode_data
        self.data_span_limit = data_span_limit      # where a data set's bytes lie: frames remembered
        self.slots: dict[tuple[int, int], _Slot] = {}
        self._no_ts_said: set[int] = set()
        # Data fragments whose command set the capture lost: counted per direction, one OrphanData per loss.
        self.orphans_after_loss = [0, 0]
        self._loss_state = [0, 0]       # 0 no loss yet, 1 loss not yet followed by an orphan, 2 orphan reported

    def loss_reported(self, direction: int) -> bool:
        """True when data fragments of ``direction`` with no message are, from now on, only counted
        (a capture loss came before them and its first orphan was reported)."""
        return self._loss_state[direction] == 2

    def feed(self, ch: PdvChunk) -> list:
        key = (ch.direction, ch.pdv.context_id)
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = _Slot()
        out: list = []
        if ch.pdv.is_command:
            self._command(slot, ch, out)
        else:
            self._data(slot, ch, out)
        return out

    def finish(self) -> list:
        out: list = []
        for slot in self.slots.values():
            if slot.msg is not None:
                if slot.hole:
                    why = Finding(WARN, "dataset-incomplete", f"{CAPTURE_LOSS}: {slot.hole} gap(s) in the data set,"
                                  " and the stream ended before its last fragment")
                else:
                    why = Finding(ERROR, "message-incomplete", "the stream ended before the message was complete")
                if not slot.msg.cut:
                    slot.msg.cut = CAPTURE_LOSS if slot.hole else "end-of-stream"
                self._close(slot, out, why, complete=False)
            elif slot.cmd:
                slot.cmd = None
        return out

    def gap(self, direction: int, message: str) -> list:
        """Bytes of ``direction`` are missing: every message open there is cut.

        The framer closes a PDU that the gap cut, but a gap that falls exactly
        between PDUs cuts no PDU; the messages then open would otherwise go on
        collecting the fragments after the gap as if nothing were missing.
        """
        out: list = []
        self._loss_state[direction] = 1
        for (d, _ctx), slot in self.slots.items():
            if d != direction:
                continue
            if slot.msg is not None:
                what = "command set" if slot.cmd is not None else "data set"
                code = "command-incomplete" if slot.cmd is not None else "dataset-incomplete"
                slot.msg.cut = CAPTURE_LOSS
                self._close(slot, out, Finding(WARN, code, f"{CAPTURE_LOSS}: {what} cut by a {message}"),
                            complete=False)
            slot.cmd = None
        return out

    # -- command fragments ----------------------------------------------------

    def _command(self, slot: _Slot, ch: PdvChunk, out: list) -> None:
        if slot.msg is not None and slot.cmd is None:
            # A new command while the previous message still waits for its data set.
            self._close(slot, out, Finding(
                ERROR, "dataset-missing",
                "a new command set began before the announced data set was complete"), complete=False)
        if slot.msg is None:
            slot.msg = Message(ch.stream, ch.direction, ch.pdv.context_id, ch.ts_ns)
            slot.cmd = bytearray()
        msg = slot.msg
        cmd = slot.cmd
        if len(cmd) < MAX_COMMAND:
            cmd += ch.data[:MAX_COMMAND - len(cmd)]
        if ch.data or (ch.frame and not msg.command_spans.count):
            msg.command_spans.add(ch.frame, ch.frame_offset, len(ch.data))   # a cut command keeps its frame
        msg.end_ts_ns = ch.ts_ns
        if ch.broken:
            msg.command = decode_command_set(bytes(cmd))
            if ch.lost:
                msg.cut = CAPTURE_LOSS
                self._loss_state[ch.direction] = 1
                why = Finding(WARN, "command-incomplete", f"{CAPTURE_LOSS}: command set cut by a gap in the capture")
            else:
                msg.cut = "end-of-stream"
                why = Finding(ERROR, "command-incomplete", "command set cut short (end of the stream)")
            self._close(slot, out, why, complete=False)
            return
        if not (ch.done and ch.pdv.is_last):
            return
        if msg.command_spans.length > MAX_COMMAND:
            msg.findings.append(Finding(ERROR, "command-too-long",
                                        f"command set of {msg.command_spans.length} bytes; decoded the first {MAX_COMMAND}"))
        msg.command = decode_command_set(bytes(cmd))
        slot.cmd = None
        if msg.command.has_data_set:
            msg.transfer_syntax = self.ts_of(ch.direction, ch.pdv.context_id)
            msg.data_spans = SpanMap(limit=self.data_span_limit, typed=True)
            if self.decode_data and msg.transfer_syntax:
                slot.collector = DataSetCollector(msg.transfer_syntax, keep_limit=self.keep_limit)
            if msg.transfer_syntax is None and ch.pdv.context_id not in self._no_ts_said:
                self._no_ts_said.add(ch.pdv.context_id)     # once per context, not once per message
                msg.findings.append(Finding(WARN, "no-transfer-syntax",
                                            f"no accepted transfer syntax known for context {ch.pdv.context_id}:"
                                            " data set not decoded"))
            if self.stream_data:
                out.append(DataStarted(msg))
        else:
            msg.complete = True
            out.append(MessageDone(msg))
            slot.msg = None

    # -- data fragments -------------------------------------------------------

    def _data(self, slot: _Slot, ch: PdvChunk, out: list) -> None:
        msg = slot.msg
        if msg is None or slot.cmd is not None or msg.data_spans is None:
            state = self._loss_state[ch.direction]
            if msg is None and state:
                # Its command set is in a hole of the capture: counted, reported once per loss.
                if ch.first:
                    self.orphans_after_loss[ch.direction] += 1
                if state == 1 and ch.first:
                    self._loss_state[ch.direction] = 2
                    out.append(_orphan(ch, "after a gap in the capture (its command set was not captured)",
                                       NOTE))
                return
            if ch.first:
                what = "before its command set was complete" if (msg is not None and slot.cmd is not None) \
                    else "with no command set announcing it"
                out.append(_orphan(ch, what))
            return
        if ch.data:
            offset = msg.data_spans.length
            msg.data_spans.add(ch.frame, ch.frame_offset, len(ch.data))
            if not slot.hole:
                if slot.collector is not None:
                    slot.collector.feed(ch.data)
                if self.stream_data:
                    out.append(DataChunk(msg, ch.data, offset, ch.frame, ch.frame_offset))
        msg.end_ts_ns = ch.ts_ns
        if ch.broken and ch.lost:
            # The capture lost bytes inside this PDV; its end is known, the data set goes on after it.
            slot.hole += 1
            msg.cut = CAPTURE_LOSS
            if ch.pdv.is_last:
                self._close(slot, out, Finding(WARN, "dataset-incomplete",
                                               f"{CAPTURE_LOSS}: data set cut by a gap in the capture"),
                            complete=False)
        elif ch.broken:
            msg.cut = msg.cut or "end-of-stream"
            self._close(slot, out, Finding(ERROR, "dataset-incomplete",
                                           "data set cut short (end of the stream)"), complete=False)
        elif ch.done and ch.pdv.is_last:
            if slot.hole:
                self._close(slot, out, Finding(WARN, "dataset-incomplete",
                                               f"{CAPTURE_LOSS}: {slot.hole} gap(s) in the data set"),
                            complete=False)
            else:
                self._close(slot, out, None, complete=True)

    def _close(self, slot: _Slot, out: list, why: Finding | None, *, complete: bool) -> None:
        msg = slot.msg
        if msg is None:
            return
        if why is not None:
            msg.findings.append(why)
        if msg.command is None and slot.cmd is not None:
            msg.command = decode_command_set(bytes(slot.cmd))
        if slot.collector is not None:
            msg.data = slot.collector.keep(cut=not complete)
        msg.complete = complete
        if self.stream_data and msg.data_spans is not None:
            out.append(DataEnded(msg, complete, "" if complete or why is None else why.message))
        out.append(MessageDone(msg))
        slot.msg = None
        slot.cmd = None
        slot.collector = None
        slot.hole = 0


@dataclass(slots=True, frozen=True)
class OrphanData:
    """A data PDV that belongs to no message (protocol violation or capture started mid-message)."""

    stream: int
    direction: int
    context_id: int
    frame: int
    finding: Finding


def _orphan(ch: PdvChunk, what: str, severity: str = WARN) -> OrphanData:
    return OrphanData(ch.stream, ch.direction, ch.pdv.context_id, ch.frame,
                      Finding(severity, "orphan-data", f"data fragment on context {ch.pdv.context_id} {what}"))
