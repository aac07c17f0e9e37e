"""Association model (PS3.8 §7, PS3.7 §9-10): outcome, contexts, exchanges, findings, the detail cap.

Each test builds a TCP conversation from PDU bytes (``pdu_fixtures``, ``dimse_fixtures``) and runs
it through the real capture reader and pipeline, so the model sees what it sees in production.
"""

from dicomsniff.dimse.status import status_info
from dicomsniff.model.association import ABORTED, INCOMPLETE, REJECTED, RELEASED
from dicomsniff.pipeline import MessageSeen
from dimse_fixtures import (Conv, cancel_rq, echo_rq, echo_rsp, find_rq, find_rsp, patient, run, store_rq,
                            store_rsp)
from pdu_fixtures import (COMMAND, CT_STORAGE, DATA, EXPLICIT_LE, IMPLICIT_LE, LAST, STUDY_ROOT_FIND, VERIFICATION,
                          abort, assoc_ac, assoc_rj, assoc_rq, pdata, release_rp, release_rq)

CONTEXTS = [(1, VERIFICATION, [IMPLICIT_LE]), (3, CT_STORAGE, [EXPLICIT_LE, IMPLICIT_LE]),
            (5, STUDY_ROOT_FIND, [IMPLICIT_LE])]
RESULTS = [(1, 0, IMPLICIT_LE), (3, 0, EXPLICIT_LE), (5, 3, None)]


def established(**kw) -> Conv:
    c = Conv(**kw)
    c.send(0, assoc_rq("STORESCU", "ARCHIVE", contexts=CONTEXTS))
    c.send(1, assoc_ac("STORESCU", "ARCHIVE", results=RESULTS))
    return c


def cmd(ctx: int, command: bytes) -> bytes:
    return pdata([(ctx, COMMAND | LAST, command)])


def store(c: Conv, mid: int, status: int = 0, ctx: int = 3) -> None:
    c.send(0, cmd(ctx, store_rq(mid, f"1.2.{mid}")) + pdata([(ctx, DATA | LAST, patient(f"P{mid}", implicit=False))]))
    c.send(1, cmd(ctx, store_rsp(mid, status, f"1.2.{mid}")))


def released(c: Conv) -> Conv:
    c.send(0, release_rq())
    c.send(1, release_rp())
    return c.fin()


def only(an):
    assert len(an.associations) == 1
    return an.associations[0]


def codes(a) -> list[str]:
    return [f.code for f in a.findings]


def test_released_association_and_contexts():
    c = established()
    c.send(0, cmd(1, echo_rq(1)))
    c.send(1, cmd(1, echo_rsp(1)))
    a = only(run(released(c))[0])
    assert a.state == RELEASED and a.outcome == RELEASED and a.released and a.release_by == "client"
    assert (a.calling_ae, a.called_ae) == ("STORESCU", "ARCHIVE") and a.title() == "STORESCU → ARCHIVE"
    assert not a.started_mid and a.end_how == "fin" and codes(a) == []
    assert str(a.client) == "10.0.0.1:40000" and a.server.port == 104
    ctx = {i: (x.abstract_syntax, x.proposed, x.accepted, x.transfer_syntax) for i, x in a.contexts.items()}
    assert ctx == {1: (VERIFICATION, [IMPLICIT_LE], True, IMPLICIT_LE),
                   3: (CT_STORAGE, [EXPLICIT_LE, IMPLICIT_LE], True, EXPLICIT_LE),
                   5: (STUDY_ROOT_FIND, [IMPLICIT_LE], False, None)}
    assert a.contexts[5].result_text != "not answered" and a.transfer_syntax_of(0, 5) is None
    assert a.max_pdu == {"requestor": 16384, "acceptor": 16384}
    assert a.pdu_count == 6 and a.pdus_by_dir == [3, 3] and a.message_count == 2


def test_rejected_association():
    c = Conv()
    c.send(0, assoc_rq())
    c.send(1, assoc_rj(1, 1, 7))
    a = only(run(c.fin())[0])
    assert a.state == REJECTED and a.outcome == REJECTED and a.ac is None
    assert (a.rj.result, a.rj.source, a.rj.reason) == (1, 1, 7)
    text = a.reject_text()
    assert "permanent" in text.lower() and "called" in text.lower()
    assert codes(a) == ["association-rejected"] and text in a.findings[0].message


def test_aborted_association_names_the_request_in_flight():
    c = established()
    c.send(0, cmd(3, store_rq(9)) + pdata([(3, DATA | LAST, patient(implicit=False))]))
    c.send(1, abort(2, 6))
    a = only(run(c.rst(1))[0])
    assert a.state == ABORTED and a.outcome == ABORTED and a.abort_by == "server"
    assert (a.abort.source, a.abort.reason) == (2, 6)
    assert a.abort_text() and "provider" in a.abort_text().lower()
    (f,) = [f for f in a.findings if f.code == "association-aborted"]
    assert "by the server during C-STORE-RQ #9" in f.message and a.abort_text() in f.message
    assert "no-response" in codes(a)


def test_incomplete_association():
    c = established()
    c.send(0, cmd(1, echo_rq(1)))
    a = only(run(c)[0])
    assert a.state == INCOMPLETE and a.end_how == "eof"
    assert {"association-incomplete", "no-response"} <= set(codes(a))
    c = established()
    a = only(run(c.rst(0))[0])
    assert a.state == INCOMPLETE and a.end_how == "rst"
    assert "reset" in [f for f in a.findings if f.code == "association-incomplete"][0].message


def test_request_response_pairing_with_pending_and_cancel():
    c = established()
    c.send(0, cmd(1, echo_rq(1)))
    c.send(0, cmd(5, find_rq(2)) + pdata([(5, DATA | LAST, patient("*"))]))
    for _ in range(3):
        c.send(1, cmd(5, find_rsp(2, 0xFF00)) + pdata([(5, DATA | LAST, patient("X"))]))
    c.send(0, cmd(5, cancel_rq(2)))
    c.send(1, cmd(1, echo_rsp(1, 0x0110)))        # responses out of order: paired by ID, not position
    c.send(1, cmd(5, find_rsp(2, 0xFE00)))
    store(c, 3, 0xA700)
    an, events = run(released(c))
    a = only(an)
    by_id = {ex.message_id: ex for ex in a.exchanges}
    assert list(by_id) == [1, 2, 3]
    echo, find, st = by_id[1], by_id[2], by_id[3]
    assert echo.request.name == "C-ECHO-RQ" and echo.status == 0x0110 and echo.pending == 0
    assert find.pending == 3 and find.status == 0xFE00 and len(find.responses) == 4
    assert find.cancel is not None and find.cancel.name == "C-CANCEL-RQ"
    assert find.status_info.category == "Cancel"
    assert st.status == 0xA700 and st.status_info.category == "Failure"
    assert echo.status_info.category == "Failure" and a.failures == 2
    assert a.objects == 1 and echo.duration_ns > 0
    # Message events carry their exchange; the cancel is linked to the C-FIND's.
    seen = [(e.message.name, e.exchange) for e in events if type(e) is MessageSeen]
    assert [n for n, _ in seen].count("C-FIND-RSP") == 4
    assert [ex for n, ex in seen if n == "C-CANCEL-RQ"] == [find]
    assert "context-not-accepted" in codes(a)          # the C-FIND went on refused context 5


def test_response_to_unknown_message_id():
    c = established()
    c.send(1, cmd(1, echo_rsp(42)))
    a = only(run(released(c))[0])
    (ex,) = a.exchanges
    assert ex.request is None and ex.message_id == 42 and ex.status == 0
    (f,) = [f for f in a.findings if f.code == "response-unmatched"]
    assert "42" in f.message


def test_message_on_a_context_not_accepted():
    c = established()
    c.send(0, cmd(5, find_rq(1)) + pdata([(5, DATA | LAST, patient())]))
    c.send(1, cmd(5, find_rsp(1, 0)))
    c.send(0, cmd(7, echo_rq(2)))                  # never proposed at all
    c.send(1, cmd(7, echo_rsp(2)))
    a = only(run(released(c))[0])
    bad = [f for f in a.findings if f.code == "context-not-accepted"]
    assert len(bad) == 4 and "context 5" in bad[0].message and "context 7" in bad[2].message
    assert [ex.status for ex in a.exchanges] == [0, 0]
    # The refused context has no transfer syntax: the identifier is kept undecoded.
    assert a.messages[0].transfer_syntax is None and a.messages[0].data is None


def test_keep_exchanges_cap_folds_the_rest():
    c = established()
    statuses = [0, 0xA700, 0, 0xB000, 0xA700, 0, 0xC000]
    for mid, status in enumerate(statuses, 1):
        store(c, mid, status)
    c.send(0, cmd(5, find_rq(20)) + pdata([(5, DATA | LAST, patient())]))
    c.send(1, cmd(5, find_rsp(20, 0xFF00)) + pdata([(5, DATA | LAST, patient())]))
    c.send(1, cmd(5, find_rsp(20, 0xFF00)) + pdata([(5, DATA | LAST, patient())]))
    c.send(1, cmd(5, find_rsp(20, 0)))
    c.send(1, cmd(1, echo_rsp(99)))                # answers nothing
    c.send(0, cmd(1, echo_rq(21)))                 # never answered: open at the end
    an, _ = run(released(c), keep_exchanges=3)
    a = only(an)
    assert [ex.message_id for ex in a.exchanges] == [1, 2, 3]
    assert [ex.status for ex in a.exchanges] == statuses[:3]
    # The kept exchanges keep all their messages, the third one's response too.
    assert [(m.name, m.command.message_id or m.command.responds_to) for m in a.messages] == \
        [("C-STORE-RQ", 1), ("C-STORE-RSP", 1), ("C-STORE-RQ", 2), ("C-STORE-RSP", 2),
         ("C-STORE-RQ", 3), ("C-STORE-RSP", 3)]
    assert a.message_count == 2 * len(statuses) + 6
    assert a.folded == {("C-STORE-RQ", "Warning", _display(0xB000)): 1,
                        ("C-STORE-RQ", "Failure", _display(0xA700)): 1,
                        ("C-STORE-RQ", "Success", _display(0)): 1,
                        ("C-STORE-RQ", "Failure", _display(0xC000)): 1,
                        ("C-FIND-RQ", "Success", _display(0, find=True)): 1,
                        ("?", "Success", status_info(0, 0x8030, None).display): 1,
                        ("C-ECHO-RQ", "No response", "no response"): 1}
    assert a.folded_count == 7
    assert a.failures == 3                         # 0xA700 kept, 0xA700 and 0xC000 folded
    assert a.objects == len(statuses)
    assert "no-response" in codes(a) and "response-unmatched" in codes(a)     # still reported past the cap


def _display(status: int, find: bool = False) -> str:
    return status_info(status, 0x0020 if find else 0x0001, STUDY_ROOT_FIND if find else CT_STORAGE).display


def test_capture_starting_mid_association():
    c = Conv(handshake=False, server=("10.0.0.2", 11112))
    store(c, 5, 0)
    c.send(0, cmd(1, echo_rq(6)))
    c.send(1, cmd(1, echo_rsp(6)))
    c.send(0, release_rq())
    c.send(1, release_rp())
    an, _ = run(c, ports={11112})
    a = only(an)
    assert a.started_mid and a.rq is None and a.state == RELEASED
    assert a.server.port == 11112 and a.client.port == 40000
    assert [(ex.request.name, ex.status) for ex in a.exchanges] == [("C-STORE-RQ", 0), ("C-ECHO-RQ", 0)]
    # Without negotiation the transfer syntax is unknown: said so, not guessed.
    assert a.messages[0].transfer_syntax is None
    assert "started-mid-association" in codes(a) and "context-not-accepted" not in codes(a)


def test_a_request_cut_by_loss_and_emitted_after_its_response_is_paired_with_it():
    """The data set of C-STORE-RQ #2 loses its last PDU; the loss is seen only when the client sends again,
    after the server's C-STORE-RSP #2: the response is not 'unmatched' and the request not 'unanswered'."""
    import dimse_fixtures as D
    import pdu_fixtures as P
    from dicomsniff.pipeline import Analyzer
    from dicomsniff.reading import read_events
    c = D.Conv()
    c.send(0, P.assoc_rq("SCU", "SCP", [(1, P.CT_STORAGE, [P.IMPLICIT_LE])]))
    c.send(1, P.assoc_ac("SCU", "SCP", [(1, 0, P.IMPLICIT_LE)]))
    c.send(0, P.pdata([(1, 0x03, D.store_rq(2))]))
    c.send(0, P.pdata([(1, 0x00, D.patient())]))
    c.send(0, P.pdata([(1, 0x02, bytes(4000))]), skip=True)
    c.send(1, P.pdata([(1, 0x03, D.store_rsp(2))]))
    c.send(0, P.release_rq()).send(1, P.release_rp()).fin()
    an = Analyzer(keep_pdus=True)
    for _ in read_events(D.pcap(c), an):
        pass
    (a,) = an.associations
    assert a.loss[0].gaps == 1
    (ex,) = a.exchanges
    assert ex.request is not None and not ex.request.complete and ex.status == 0
    assert {f.code for f in a.findings} & {"response-unmatched", "no-response"} == set()
