"""MessageAssembler (PS3.7 §6.3, PS3.8 Annex E): PDV fragments in, DIMSE messages out."""

import pytest

from dicomsniff.dimse.assembler import (DataChunk, DataEnded, DataStarted, MessageAssembler, MessageDone,
                                        OrphanData)
from dicomsniff.tcp.events import StreamData, StreamGap
from dicomsniff.ul.events import PdvChunk, PdvLoss
from dicomsniff.ul.framer import PduFramer
from dimse_fixtures import echo_rq, echo_rsp, find_rq, patient, store_rq, store_rsp
from pdu_fixtures import COMMAND, DATA, EXPLICIT_LE, IMPLICIT_LE, LAST, pdata

EXPLICIT_CTX = 5


def ts_of(direction: int, ctx: int) -> str | None:
    return {1: IMPLICIT_LE, 3: IMPLICIT_LE, EXPLICIT_CTX: EXPLICIT_LE}.get(ctx)


def frags(ctx: int, flag: int, data: bytes, size: int) -> list[tuple[int, int, bytes]]:
    """``data`` as PDVs of at most ``size`` bytes; ``flag`` (COMMAND or DATA) plus LAST on the final one."""
    parts = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
    return [(ctx, flag | (LAST if i == len(parts) - 1 else 0), p) for i, p in enumerate(parts)]


class Wire:
    """Runs P-DATA PDUs through the real framer (one direction per framer) into an assembler."""

    def __init__(self, **options):
        self.asm = MessageAssembler(ts_of, **options)
        self.framers = [PduFramer(0, 0), PduFramer(0, 1)]
        self.frame = 0
        self.pos = [0, 0]

    def send(self, direction: int, data: bytes, piece: int = 1 << 30, *, skip: bool = False) -> list:
        out = []
        f = self.framers[direction]
        for i in range(0, len(data), piece):
            part = data[i:i + piece]
            self.frame += 1
            if skip:
                evs = f.gap(StreamGap(0, direction, self.pos[direction], len(part), self.frame - 1,
                                      self.frame + 1, 0))
            else:
                evs = f.feed(StreamData(0, direction, self.pos[direction], part, self.frame, 0, self.frame))
            self.pos[direction] += len(part)
            for ev in evs:
                if type(ev) is PdvChunk:
                    out += self.asm.feed(ev)
                elif type(ev) is PdvLoss:          # the framer says fragments of any context may be lost
                    out += self.asm.gap(direction, f"gap of {ev.length} bytes")
        return out

    def finish(self) -> list:
        out = []
        for f in self.framers:
            for ev in f.finish():
                if type(ev) is PdvChunk:
                    out += self.asm.feed(ev)
        return out + self.asm.finish()


def done(evs) -> list:
    return [e.message for e in evs if type(e) is MessageDone]


def test_command_and_data_over_many_fragments_and_pdus():
    cmd, data = store_rq(7), patient("P7", PatientComments="x" * 3000)
    pdvs = frags(1, COMMAND, cmd, 10) + frags(1, DATA, data, 100)
    w = Wire()
    evs = []
    for i in range(0, len(pdvs), 4):
        evs += w.send(0, pdata(pdvs[i:i + 4]), piece=37)
    msgs = done(evs)
    assert len(msgs) == 1 and not [e for e in evs if type(e) is not MessageDone]
    m = msgs[0]
    assert m.complete and not m.findings
    assert m.name == "C-STORE-RQ" and m.command.message_id == 7 and m.context_id == 1
    assert m.command_spans.length == len(cmd) and m.data_length == len(data)
    assert m.transfer_syntax == IMPLICIT_LE
    assert m.data.length == len(data) and m.data.dataset.PatientID == "P7"
    assert len(m.frames) > 10
    assert w.finish() == []


def test_command_only_message():
    w = Wire()
    evs = w.send(0, pdata([(1, COMMAND | LAST, echo_rq(1))]))
    (m,) = done(evs)
    assert m.complete and m.name == "C-ECHO-RQ" and m.data_spans is None and m.data is None
    assert m.command.data_set_type == 0x0101
    # A data fragment after a command-only message belongs to nothing.
    evs = w.send(0, pdata([(1, DATA | LAST, b"\x00" * 8)]))
    assert [type(e) for e in evs] == [OrphanData]


def test_data_without_a_command_is_orphan():
    w = Wire()
    evs = w.send(1, pdata([(3, DATA, b"a" * 10), (3, DATA | LAST, b"b" * 10)]))
    assert [type(e) for e in evs] == [OrphanData, OrphanData]      # one per PDV
    o = evs[0]
    assert (o.direction, o.context_id, o.finding.code) == (1, 3, "orphan-data")
    assert "no command set" in o.finding.message
    # Then a proper message on the same context still works.
    evs = w.send(1, pdata([(3, COMMAND | LAST, echo_rsp(1))]))
    assert [m.name for m in done(evs)] == ["C-ECHO-RSP"]


def test_data_before_the_command_set_is_complete_is_orphan():
    cmd = store_rq(2)
    w = Wire()
    evs = w.send(0, pdata([(1, COMMAND, cmd[:20]), (1, DATA | LAST, b"zz")]))
    assert [type(e) for e in evs] == [OrphanData] and "before its command set" in evs[0].finding.message
    evs = w.send(0, pdata([(1, COMMAND | LAST, cmd[20:])]) + pdata([(1, DATA | LAST, patient())]))
    (m,) = done(evs)
    assert m.complete and m.command.message_id == 2 and m.data.dataset.PatientName == "Doe^John"


def test_new_command_while_data_set_incomplete():
    w = Wire()
    data = patient()
    evs = w.send(0, pdata([(1, COMMAND | LAST, store_rq(1)), (1, DATA, data[:10])]))
    assert done(evs) == []
    evs = w.send(0, pdata([(1, COMMAND | LAST, echo_rq(2))]))
    first, second = done(evs)
    assert first.complete is False and [f.code for f in first.findings] == ["dataset-missing"]
    assert first.command.message_id == 1 and first.data_length == 10
    assert second.complete and second.command.message_id == 2


def test_interleaved_contexts():
    a_cmd, a_data = store_rq(1, "1.1"), patient("A")
    b_cmd, b_data = store_rq(2, "2.2"), patient("B", implicit=False)
    pa = frags(1, COMMAND, a_cmd, 30) + frags(1, DATA, a_data, 7)
    pb = frags(EXPLICIT_CTX, COMMAND, b_cmd, 30) + frags(EXPLICIT_CTX, DATA, b_data, 5)
    mixed = []
    for i in range(max(len(pa), len(pb))):
        mixed += pa[i:i + 1] + pb[i:i + 1]
    w = Wire()
    evs = w.send(0, pdata(mixed), piece=50)
    msgs = {m.context_id: m for m in done(evs)}
    assert set(msgs) == {1, EXPLICIT_CTX}
    assert msgs[1].complete and msgs[1].data.dataset.PatientID == "A" and msgs[1].transfer_syntax == IMPLICIT_LE
    b = msgs[EXPLICIT_CTX]
    assert b.complete and b.transfer_syntax == EXPLICIT_LE and b.data.dataset.PatientID == "B"
    assert b.command.affected_sop_instance_uid == "2.2"
    # Same context, opposite directions, are separate too.
    w = Wire()
    evs = w.send(0, pdata([(1, COMMAND | LAST, store_rq(9)), (1, DATA, a_data[:5])]))
    evs += w.send(1, pdata([(1, COMMAND | LAST, store_rsp(8))]))
    evs += w.send(0, pdata([(1, DATA | LAST, a_data[5:])]))
    assert [(m.direction, m.name, m.complete) for m in done(evs)] == [(1, "C-STORE-RSP", True),
                                                                        (0, "C-STORE-RQ", True)]


def test_broken_chunk_gives_incomplete_message():
    data = patient(PatientComments="y" * 500)
    w = Wire()
    p = pdata([(1, COMMAND | LAST, store_rq(4)), (1, DATA | LAST, data)])
    evs = w.send(0, p[:200])
    evs += w.send(0, p[200:300], skip=True)
    (m,) = done(evs)
    assert m.complete is False and [f.code for f in m.findings] == ["dataset-incomplete"]
    assert m.command.message_id == 4 and 0 < m.data_length < len(data)
    # Broken command set.
    w = Wire()
    p = pdata([(1, COMMAND | LAST, echo_rq(5))])
    evs = w.send(0, p[:30]) + w.send(0, p[30:40], skip=True)
    (m,) = done(evs)
    assert m.complete is False and [f.code for f in m.findings] == ["command-incomplete"]


def test_data_set_cut_by_a_gap_decodes_as_a_prefix():
    data = patient(PatientComments="y" * 500)
    w = Wire()
    p = pdata([(1, COMMAND | LAST, store_rq(4)), (1, DATA | LAST, data)])
    (m,) = done(w.send(0, p[:200]) + w.send(0, p[200:300], skip=True))
    assert m.data.truncated
    assert [f.code for f in m.data.findings] == ["dataset-truncated"]


def test_stream_data_events_concatenate_to_the_data_set():
    data = patient(PatientComments="z" * 4000)
    w = Wire(stream_data=True)
    evs = w.send(0, pdata(frags(1, COMMAND, store_rq(3), 40) + frags(1, DATA, data, 333)), piece=512)
    kinds = [type(e) for e in evs]
    assert kinds[0] is DataStarted and kinds[-2:] == [DataEnded, MessageDone]
    assert set(kinds[1:-2]) == {DataChunk}
    chunks = [e for e in evs if type(e) is DataChunk]
    pos = 0
    for c in chunks:
        assert c.offset == pos
        pos += len(c.data)
    assert b"".join(bytes(c.data) for c in chunks) == data
    assert evs[0].message is evs[-1].message and evs[-2].complete
    # Chunk locations point into the frames: the data set's span map agrees.
    m = evs[-1].message
    assert [(c.frame, c.frame_offset, len(c.data)) for c in chunks][0] == \
        (m.data_spans.spans[0].frame, m.data_spans.spans[0].frame_offset, len(chunks[0].data))


def test_no_stream_events_unless_asked():
    w = Wire()
    evs = w.send(0, pdata([(1, COMMAND | LAST, store_rq(3)), (1, DATA | LAST, patient())]))
    assert [type(e) for e in evs] == [MessageDone]


def test_data_set_decoded_with_the_context_transfer_syntax():
    ds = patient("EXP", implicit=False)
    w = Wire()
    (m,) = done(w.send(0, pdata([(EXPLICIT_CTX, COMMAND | LAST, store_rq(1)), (EXPLICIT_CTX, DATA | LAST, ds)])))
    assert m.transfer_syntax == EXPLICIT_LE and m.data.dataset.PatientID == "EXP" and not m.findings
    # A context with no accepted transfer syntax: kept undecoded, said why.
    w = Wire()
    (m,) = done(w.send(0, pdata([(11, COMMAND | LAST, store_rq(1)), (11, DATA | LAST, ds)])))
    assert m.complete and m.transfer_syntax is None and m.data is None and m.data_length == len(ds)
    assert [f.code for f in m.findings] == ["no-transfer-syntax"]
    # decode_data=False keeps nothing to decode.
    w = Wire(decode_data=False)
    (m,) = done(w.send(0, pdata([(1, COMMAND | LAST, store_rq(1)), (1, DATA | LAST, patient())])))
    assert m.complete and m.data is None


def test_finish_closes_open_messages_as_incomplete():
    w = Wire()
    evs = w.send(0, pdata([(1, COMMAND | LAST, find_rq(1)), (1, DATA, b"\x08\x00")]))
    evs += w.send(1, pdata([(3, COMMAND, echo_rsp(1)[:50])]))
    assert done(evs) == []
    msgs = done(w.finish())
    assert sorted((m.name, m.complete) for m in msgs) == [("C-ECHO-RSP", False), ("C-FIND-RQ", False)]
    assert all("message-incomplete" in [f.code for f in m.findings] for m in msgs)
    assert w.asm.finish() == []


def test_unknown_transfer_syntax_is_said_once_per_context():
    # Context 9 has no accepted transfer syntax (capture started after the negotiation):
    # the first message says so, the following ones on the same context do not repeat it.
    w = Wire(stream_data=True)
    data = patient(PatientID="X")
    evs = []
    for mid in (1, 2, 3):
        evs += w.send(0, pdata([(9, COMMAND | LAST, store_rq(mid)), (9, DATA | LAST, data)]))
    msgs = done(evs)
    assert [[f.code for f in m.findings] for m in msgs] == [["no-transfer-syntax"], [], []]
    ends = [e for e in evs if type(e) is DataEnded]
    assert [(e.complete, e.reason) for e in ends] == [(True, "")] * 3


def test_data_ended_says_why_it_was_cut():
    w = Wire(stream_data=True)
    p = pdata([(1, COMMAND | LAST, store_rq(4)), (1, DATA | LAST, patient(PatientComments="y" * 500))])
    evs = w.send(0, p[:200]) + w.send(0, p[200:300], skip=True)
    (end,) = [e for e in evs if type(e) is DataEnded]
    assert end.complete is False and "capture-loss" in end.reason and end.message.cut == "capture-loss"


def test_data_span_limit_bounds_what_a_message_remembers():
    # summary/diagnose keep only the first frames of each data set: memory must not grow with object size.
    data = patient(PatientComments="z" * 4000)
    p = pdata([(1, COMMAND | LAST, store_rq(3))] + frags(1, DATA, data, 100))
    w = Wire(data_span_limit=3)
    (m,) = done(w.send(0, p, piece=120))
    assert m.complete and m.data_length == len(data)
    assert len(m.data_spans.spans) == 3 and m.data_spans.dropped > 0
    assert m.data.dataset.PatientComments == "z" * 4000       # decoding does not need the spans
    m.data_spans.trim(1)
    assert len(m.data_spans.spans) == 1 and m.data_spans.length == len(data)


@pytest.mark.parametrize("piece", [1, 7, 1 << 30])
def test_empty_last_pdv_ends_the_data_set(piece):
    # CTN ends every data set with an empty PDV (length 2, last-fragment bit set): the data set
    # ends there, the message is complete and decodes.
    data = patient(PatientComments="ctn")
    p = pdata([(1, COMMAND | LAST, store_rq(8)), (1, DATA, data)]) + pdata([(1, DATA | LAST, b"")])
    w = Wire(stream_data=True)
    evs = w.send(0, p, piece=piece)
    (m,) = done(evs)
    assert m.complete and m.name == "C-STORE-RQ" and m.data_length == len(data)
    assert m.data is not None and m.data.dataset.PatientComments == "ctn"
    assert [(e.complete, e.reason) for e in evs if type(e) is DataEnded] == [(True, "")]
    assert done(w.finish()) == []


def test_cut_command_is_an_incomplete_message_with_its_frames():
    # A command set cut by a gap: named from what decoded (CommandField comes first), with its frames.
    p = pdata([(1, COMMAND | LAST, echo_rq(12))])
    w = Wire()
    evs = w.send(0, p[:-4]) + w.send(0, p[-4:], skip=True)
    (m,) = done(evs)
    assert not m.complete and m.cut == "capture-loss" and m.frames == [1]
    assert m.name == "C-ECHO-RQ"
    assert [f.code for f in m.findings] == ["command-incomplete"] and "capture-loss" in m.findings[0].message
    # cut before anything decodes: still an incomplete message with its frame, and named as such
    w = Wire()
    (m,) = done(w.send(0, p[:14]) + w.send(0, p[14:], skip=True))
    assert m.name == "incomplete command set" and m.frames == [1] and not m.complete
    # not one value byte captured: the frame of its PDV header still names it
    w = Wire()
    (m,) = done(w.send(0, p[:12]) + w.send(0, p[12:], skip=True))
    assert m.name == "incomplete command set" and m.frames == [1] and m.command_spans.length == 0


def test_first_frames_and_last_frame_read_only_the_ends_of_the_frame_list():
    # (what Association._pair reads of a message with findings: frames[:3] and frames[-1], without listing all)
    cmd, data = store_rq(7), patient("P7", PatientComments="x" * 3000)
    p = pdata(frags(1, COMMAND, cmd, 10)) + b"".join(pdata([f]) for f in frags(1, DATA, data, 100))
    w = Wire()
    (m,) = done(w.send(0, p, 60))
    assert len(m.frames) > 10
    for k in (1, 2, 3, len(m.frames) + 5):
        assert m.first_frames(k) == m.frames[:k]
    assert m.last_frame == m.frames[-1]
    w = Wire()                                      # a command only, cut: no data spans
    c = pdata([(1, COMMAND | LAST, echo_rq(12))])
    (m,) = done(w.send(0, c[:-4]) + w.send(0, c[-4:], skip=True))
    assert m.data_spans is None and m.first_frames(3) == m.frames == [1] and m.last_frame == 1


def test_data_set_with_a_hole_ends_at_its_last_fragment():
    data = patient(PatientComments="h" * 400)
    frs = frags(1, DATA, data, 100)
    p = pdata([(1, COMMAND | LAST, store_rq(9))]) + b"".join(pdata([f]) for f in frs)
    w = Wire(stream_data=True)
    hole_at = len(pdata([(1, COMMAND | LAST, store_rq(9))])) + 12 + 50     # inside the first data PDV
    evs = w.send(0, p[:hole_at]) + w.send(0, p[hole_at:hole_at + 20], skip=True) + w.send(0, p[hole_at + 20:])
    (m,) = done(evs)
    assert not m.complete and m.cut == "capture-loss" and m.name == "C-STORE-RQ"
    # 50 bytes of the first PDV before the hole; the rest of that PDV (20 lost, 30 passed over) is not in it
    assert m.data_length == len(data) - 50 and m.frames == [1, 3]
    assert [type(e).__name__ for e in evs if type(e) is OrphanData] == []
    (end,) = [e for e in evs if type(e) is DataEnded]
    assert not end.complete and "capture-loss" in end.reason


def test_orphans_after_a_lost_command_are_reported_once():
    data = patient(PatientComments="o" * 400)
    cmd = pdata([(1, COMMAND | LAST, store_rq(10))])
    rest = b"".join(pdata([f]) for f in frags(1, DATA, data, 100))
    w = Wire()
    evs = w.send(0, cmd, skip=True) + w.send(0, rest) + w.send(0, pdata([(1, COMMAND | LAST, echo_rq(11))]))
    orphans = [e for e in evs if type(e) is OrphanData]
    assert len(orphans) == 1 and orphans[0].frame and "gap in the capture" in orphans[0].finding.message
    assert w.asm.orphans_after_loss[0] == 5
    assert [m.name for m in done(evs)] == ["C-ECHO-RQ"]
