"""MessageAssembler: the paths mutation testing found unasserted (tests/MUTATION.md, ``dimse/assembler.py``).

PDV fragments are built directly (one chunk per PDV unless a test says otherwise), so each test pins the
exact findings (severity, code, message), the cut reason and the orphan reports.
"""

from __future__ import annotations

from dicomsniff.dimse.assembler import MAX_COMMAND, MessageAssembler, MessageDone, OrphanData
from dicomsniff.field import ERROR, NOTE, WARN
from dicomsniff.ul.events import PdvChunk
from dicomsniff.ul.pdus import Pdv
from dimse_fixtures import echo_rq, patient, store_rq
from pdu_fixtures import COMMAND, DATA, IMPLICIT_LE, LAST


def ts_of(direction: int, ctx: int) -> str | None:
    return IMPLICIT_LE if ctx == 1 else None


class Feed:
    def __init__(self, stream: int = 3):
        self.asm = MessageAssembler(ts_of)
        self.stream = stream
        self.frame = 0

    def chunk(self, ctx: int, control: int, data: bytes, *, first: bool = True, done: bool = True,
              broken: bool = False, lost: bool = False, direction: int = 0, offset: int = 0) -> list:
        self.frame += 1
        pdv = Pdv(0, len(data) + 2, ctx, control)
        return self.asm.feed(PdvChunk(self.stream, direction, pdv, data, offset, self.frame, 60, self.frame * 10,
                                      first, done, broken, lost))


def messages(evs) -> list:
    return [e.message for e in evs if type(e) is MessageDone]


def findings(msg) -> list:
    return [(f.severity, f.code, f.message) for f in msg.findings]


def orphans(evs) -> list:
    return [(o.stream, o.direction, o.context_id, o.frame, o.finding.severity, o.finding.message)
            for o in evs if type(o) is OrphanData]


def test_orphan_data_with_no_command_names_its_stream_and_context():
    fd = Feed(stream=7)
    evs = fd.chunk(5, DATA | LAST, b"abcd")
    assert orphans(evs) == [(7, 0, 5, 1, WARN, "data fragment on context 5 with no command set announcing it")]


def test_orphan_data_before_the_command_set_is_complete():
    fd = Feed()
    fd.chunk(1, COMMAND, store_rq(1)[:20])
    evs = fd.chunk(1, DATA | LAST, b"abcd")
    assert orphans(evs) == [(3, 0, 1, 2, WARN, "data fragment on context 1 before its command set was complete")]


def test_no_transfer_syntax_is_said_with_the_context():
    fd = Feed()
    fd.chunk(9, COMMAND | LAST, store_rq(1))
    (m,) = messages(fd.chunk(9, DATA | LAST, patient()))
    assert findings(m) == [(WARN, "no-transfer-syntax",
                            "no accepted transfer syntax known for context 9: data set not decoded")]


def test_new_command_before_the_data_set_is_dataset_missing():
    fd = Feed()
    fd.chunk(1, COMMAND | LAST, store_rq(1))
    (m, n) = messages(fd.chunk(1, COMMAND | LAST, echo_rq(2)))
    assert findings(m) == [(ERROR, "dataset-missing",
                            "a new command set began before the announced data set was complete")]
    assert m.complete is False and n.complete and n.command.message_id == 2


def test_command_set_cut_by_the_end_of_the_stream():
    fd = Feed()
    fd.chunk(1, COMMAND, echo_rq(1)[:10], done=False)
    (m,) = messages(fd.chunk(1, COMMAND, b"", first=False, broken=True, offset=10))
    assert findings(m) == [(ERROR, "command-incomplete", "command set cut short (end of the stream)")]
    assert m.cut == "end-of-stream" and m.complete is False


def test_command_set_cut_by_a_gap_then_the_next_data_is_an_orphan_of_the_loss():
    fd = Feed()
    fd.chunk(1, COMMAND, store_rq(1)[:10], done=False)
    (m,) = messages(fd.chunk(1, COMMAND, b"", first=False, broken=True, lost=True, offset=10))
    assert findings(m) == [(WARN, "command-incomplete", "capture-loss: command set cut by a gap in the capture")]
    assert m.cut == "capture-loss"
    evs = fd.chunk(1, DATA, b"xx", done=False) + fd.chunk(1, DATA | LAST, b"yy", first=False, offset=2)
    assert orphans(evs) == [(3, 0, 1, 3, NOTE, "data fragment on context 1 after a gap in the capture"
                                               " (its command set was not captured)")]
    assert fd.asm.orphans_after_loss == [1, 0]


def test_command_set_longer_than_the_bound_is_decoded_from_its_first_bytes():
    fd = Feed()
    cmd = echo_rq(1)
    filler = b"\x00" * 40_000
    fd.chunk(1, COMMAND, cmd + filler, done=True)
    (m,) = messages(fd.chunk(1, COMMAND | LAST, filler))
    assert len(m.command.raw) == MAX_COMMAND
    assert m.command.raw == (cmd + filler + filler)[:MAX_COMMAND]
    assert (ERROR, "command-too-long",
            f"command set of {len(cmd) + 80_000} bytes; decoded the first {MAX_COMMAND}") in findings(m)


def test_command_set_of_exactly_the_bound_is_not_too_long():
    fd = Feed()
    cmd = echo_rq(1)
    (m,) = messages(fd.chunk(1, COMMAND | LAST, cmd + b"\x00" * (MAX_COMMAND - len(cmd))))
    assert "command-too-long" not in [f.code for f in m.findings]


def test_data_set_cut_by_the_end_of_the_stream():
    fd = Feed()
    fd.chunk(1, COMMAND | LAST, store_rq(1))
    data = patient()
    fd.chunk(1, DATA, data[:20], done=False)
    (m,) = messages(fd.chunk(1, DATA, b"", first=False, broken=True, offset=20))
    assert findings(m) == [(ERROR, "dataset-incomplete", "data set cut short (end of the stream)")]
    assert m.cut == "end-of-stream" and m.complete is False


def test_data_set_with_one_hole_says_one_gap():
    fd = Feed()
    fd.chunk(1, COMMAND | LAST, store_rq(1))
    data = patient()
    fd.chunk(1, DATA, data[:20], done=False)
    assert messages(fd.chunk(1, DATA, b"", first=False, broken=True, lost=True, offset=20)) == []
    (m,) = messages(fd.chunk(1, DATA | LAST, data[40:]))
    assert findings(m) == [(WARN, "dataset-incomplete", "capture-loss: 1 gap(s) in the data set")]
    assert m.cut == "capture-loss"


def test_finish_with_a_hole_and_without():
    fd = Feed()
    fd.chunk(1, COMMAND | LAST, store_rq(1))
    fd.chunk(1, DATA, b"abcd", done=False)
    fd.chunk(1, DATA, b"", first=False, broken=True, lost=True, offset=4)
    fd.chunk(3, COMMAND | LAST, store_rq(2), direction=1)
    fd.chunk(3, DATA, b"efgh", done=False, direction=1)
    (a, b) = messages(fd.asm.finish())
    assert findings(a) == [(WARN, "dataset-incomplete", "capture-loss: 1 gap(s) in the data set, and the stream ended"
                                                        " before its last fragment")]
    assert a.cut == "capture-loss"
    assert findings(b) == [(WARN, "no-transfer-syntax",
                            "no accepted transfer syntax known for context 3: data set not decoded"),
                           (ERROR, "message-incomplete", "the stream ended before the message was complete")]
    assert b.cut == "end-of-stream"


def test_gap_cuts_command_and_data_sets_with_their_own_words():
    fd = Feed()
    fd.chunk(1, COMMAND, echo_rq(1)[:10], done=False)
    fd.chunk(3, COMMAND | LAST, store_rq(2))
    fd.chunk(5, COMMAND | LAST, store_rq(3), direction=1)
    (a, b) = messages(fd.asm.gap(0, "gap of 99 bytes"))
    assert findings(a) == [(WARN, "command-incomplete", "capture-loss: command set cut by a gap of 99 bytes")]
    assert findings(b)[-1] == (WARN, "dataset-incomplete", "capture-loss: data set cut by a gap of 99 bytes")
    assert a.cut == b.cut == "capture-loss" and not a.complete and not b.complete
    # The other direction is untouched; the cut contexts take a new command normally.
    (c,) = messages(fd.chunk(1, COMMAND | LAST, echo_rq(4)))
    assert c.complete and c.command.message_id == 4 and c.findings == []
