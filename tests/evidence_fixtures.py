"""Byte fixtures for the termination and failure-evidence tests (issue 12 items 5 and 6).

Each builder returns a :class:`Timed` conversation list or pcap bytes whose story is in its
docstring. Frames carry explicit timestamps so tests can say "0.3 ms after", "within 2 ms".

Typical use::

    data = store_missing_study_uid()          # pcap bytes
    assocs, findings = analyse(data)
"""

from __future__ import annotations

from pydicom.dataset import Dataset

import dimse_fixtures as D
import pdu_fixtures as P
from capwriter import ACK, ETHERNET, FIN, RST, pcap_bytes
from dicomsniff.pipeline import Analyzer
from dicomsniff.reading import read_events

COMMAND, LAST = 0x01, 0x02
T0 = 1_700_000_000_000_000_000
MS = 1_000_000
CT = P.CT_STORAGE
MOVE = P.STUDY_ROOT_MOVE
FIND = P.STUDY_ROOT_FIND


class Timed(D.Conv):
    """A Conv whose frames each get a timestamp: ``at(ts)`` sets the clock for the next frames, each
    later frame 10 µs after the previous one."""

    def __init__(self, *args, t: int = T0, **kw):
        self.clock = t
        self.stamps: list[int] = []
        super().__init__(*args, **kw)

    def _pkt(self, d, flags, payload):
        super()._pkt(d, flags, payload)
        self.stamps.append(self.clock)
        self.clock += 10_000

    def at(self, ts: int) -> "Timed":
        self.clock = ts
        return self

    def close(self, d: int, flags: int = FIN | ACK) -> "Timed":
        """One direction's FIN (or RST with ``flags=RST | ACK``) only."""
        self._pkt(d, flags, b"")
        if flags & FIN:
            self.seq[d] += 1
        return self

    def records(self) -> list[tuple[int, bytes]]:
        return list(zip(self.stamps, self.frames))


def pcap_of(*convs: Timed) -> bytes:
    """One pcap of these conversations' frames, ordered by timestamp."""
    recs = sorted((r for c in convs for r in c.records()), key=lambda r: r[0])
    return pcap_bytes(recs, ETHERNET)


def analyse(data: bytes, **diag):
    """(associations, findings) through the real reader, pipeline and diagnosis."""
    from dicomsniff.model.diagnosis import diagnose
    an = Analyzer(keep_pdus=True)
    for _ in read_events(data, an):
        pass
    return an.associations, diagnose(an.associations, **diag)


def cmd(ctx: int, payload: bytes) -> bytes:
    return P.pdata([(ctx, COMMAND | LAST, payload)])


def data(ctx: int, payload: bytes, max_pdv: int = 16000) -> bytes:
    """A data set as P-DATA-TF PDUs of one PDV each, at most ``max_pdv`` bytes (under the 16384 max PDU)."""
    parts = [payload[i:i + max_pdv] for i in range(0, len(payload), max_pdv)] or [b""]
    return b"".join(P.pdata([(ctx, LAST if i == len(parts) - 1 else 0, p)]) for i, p in enumerate(parts))


def established(contexts, *, client=("10.0.0.1", 40000), server=("10.0.0.2", 104), calling="SCU",
                called="SCP", t: int = T0) -> Timed:
    """A-ASSOCIATE-RQ/AC done, every context accepted in Implicit VR Little Endian."""
    c = Timed(client, server, t=t)
    c.send(0, P.assoc_rq(calling, called, contexts=[(i, uid, [P.IMPLICIT_LE]) for i, uid in contexts]))
    c.send(1, P.assoc_ac(calling, called, results=[(i, 0, P.IMPLICIT_LE) for i, _ in contexts]))
    return c


def ct_object(iuid: str = "1.2.3.4", *, study: str | None = "1.2.3", series: str | None = "1.2.3.1",
              modality: str | None = "CT", sop_class: str | None = CT, pixels: int = 0) -> bytes:
    """A small CT data set (Implicit VR LE); ``None`` leaves an attribute out, ``""`` sends it empty."""
    ds = Dataset()
    if sop_class is not None:
        ds.SOPClassUID = sop_class
    if iuid is not None:
        ds.SOPInstanceUID = iuid
    if modality is not None:
        ds.Modality = modality
    ds.PatientName = "DOE^JANE"
    ds.PatientID = "PID7"
    if study is not None:
        ds.StudyInstanceUID = study
    if series is not None:
        ds.SeriesInstanceUID = series
    if pixels:
        ds.Rows, ds.Columns, ds.BitsAllocated = 1, pixels // 2, 16
        ds.PixelData = b"\x01\x02" * (pixels // 2)
    return D.encode(ds)


def store_rsp(mid: int, status: int, iuid: str = "1.2.3.4", **more) -> bytes:
    return D.command(AffectedSOPClassUID=CT, CommandField=0x8001, MessageIDBeingRespondedTo=mid,
                     CommandDataSetType=D.NO_DATA, Status=status, AffectedSOPInstanceUID=iuid, **more)


def move_rq(mid: int, dest: str) -> bytes:
    return D.command(AffectedSOPClassUID=MOVE, CommandField=0x0021, MessageID=mid, Priority=0,
                     CommandDataSetType=D.HAS_DATA, MoveDestination=dest)


def move_rsp(mid: int, status: int, **more) -> bytes:
    return D.command(AffectedSOPClassUID=MOVE, CommandField=0x8021, MessageIDBeingRespondedTo=mid,
                     CommandDataSetType=D.NO_DATA, Status=status, **more)


def study_key(uid: str = "1.2.3") -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = uid
    return D.encode(ds)


def released(c: Timed) -> Timed:
    c.send(0, P.release_rq())
    c.send(1, P.release_rp())
    return c.fin()


# -- the stories ---------------------------------------------------------------------------


def store_missing_study_uid(*, comment: str = "Missing Study Instance UID", offending=(0x0020000D,),
                            dataset: bytes | None = None, status: int = 0xA700) -> bytes:
    """C-STORE CT #1 whose data set lacks Study Instance UID, answered 0xA700 with an Error Comment and
    an Offending Element (0020,000D); released."""
    c = established([(1, CT)])
    c.send(0, cmd(1, D.store_rq(1)) + data(1, ct_object(study=None) if dataset is None else dataset))
    more = {}
    if comment is not None:
        more["ErrorComment"] = comment
    if offending:
        more["OffendingElement"] = list(offending)
    c.send(1, cmd(1, store_rsp(1, status, **more)))
    return pcap_of(released(c))


def move_unknown_destination(*, status: int = 0xC000, comment: str | None = "Unknown modality: UNKNOWNAE",
                             dest: str = "UNKNOWNAE") -> bytes:
    """C-MOVE #1 to UNKNOWNAE answered 0xC000 with an Error Comment naming it (Orthanc's answer to a move
    destination it does not know is 0xC000 Unable to process); released."""
    c = established([(1, MOVE)], calling="MOVESCU", called="ORTHANC")
    c.send(0, cmd(1, move_rq(1, dest)) + data(1, study_key()))
    more = {"ErrorComment": comment} if comment is not None else {}
    c.send(1, cmd(1, move_rsp(1, status, **more)))
    return pcap_of(released(c))


def server_reset_mid_store(size: int = 60_000) -> bytes:
    """C-STORE CT #3 whose data set (``size`` bytes of pixels) is cut: the server resets the connection
    (RST) 0.3 ms after the client's last segment; #1 and #2 went through."""
    c = established([(1, CT)])
    for mid in (1, 2):
        c.send(0, cmd(1, D.store_rq(mid, f"1.2.3.{mid}")) + data(1, ct_object(f"1.2.3.{mid}")))
        c.send(1, cmd(1, store_rsp(mid, 0, f"1.2.3.{mid}")))
    obj = ct_object("1.2.3.3", pixels=size)
    pdu = cmd(1, D.store_rq(3, "1.2.3.3")) + data(1, obj)
    c.send(0, pdu[:len(pdu) // 2])
    c.at(c.clock + 300_000 - 10_000).close(1, RST | ACK)
    return pcap_of(c)


def client_fin_after_request() -> bytes:
    """C-ECHO #1 answered; C-STORE CT #2 sent complete; the client closes (FIN) 0.3 ms later with no
    A-RELEASE and no response to #2; the server's side never closes in the capture."""
    c = established([(1, P.VERIFICATION), (3, CT)])
    c.send(0, cmd(1, D.echo_rq(1)))
    c.send(1, cmd(1, D.echo_rsp(1)))
    c.send(0, cmd(3, D.store_rq(2)) + data(3, ct_object()))
    c.at(c.clock + 300_000 - 10_000).close(0)
    return pcap_of(c)


def client_fin_when_idle() -> bytes:
    """C-ECHO #1 answered, then the client closes (FIN) 2 ms later without A-RELEASE; the server follows."""
    c = established([(1, P.VERIFICATION)])
    c.send(0, cmd(1, D.echo_rq(1)))
    c.send(1, cmd(1, D.echo_rsp(1)))
    c.at(c.clock + 2 * MS).close(0).close(1)
    return pcap_of(c)


def client_crash(gap_ns: int = 1_500_000) -> bytes:
    """Two associations from the client host 10.0.0.1 (STORESCU: C-STORE #5 sent, no response; FINDSCU:
    C-FIND #1 sent, one pending response) to one server; both close from the client ``gap_ns`` apart
    (FIN, then RST), no A-RELEASE: the client process was killed."""
    a = established([(1, CT)], client=("10.0.0.1", 40000), calling="STORESCU", t=T0)
    b = established([(1, FIND)], client=("10.0.0.1", 40001), calling="FINDSCU", t=T0 + 5 * MS)
    a.at(T0 + 20 * MS)
    a.send(0, cmd(1, D.store_rq(5, "1.2.3.5")) + data(1, ct_object("1.2.3.5")))
    b.at(T0 + 21 * MS)
    b.send(0, cmd(1, D.find_rq(1)) + data(1, study_key("")))
    b.send(1, cmd(1, D.find_rsp(1, 0xFF00)) + data(1, study_key("1.2.3")))
    a.at(T0 + 40 * MS).close(0)
    b.at(T0 + 40 * MS + gap_ns).close(0, RST | ACK)
    a.close(1)
    return pcap_of(a, b)


def two_clients_close_apart() -> bytes:
    """The same two associations, but their FINs 2 s apart: not one process ending."""
    return client_crash(gap_ns=2_000_000_000)


def capture_ends_mid_association() -> bytes:
    """C-STORE CT #1 answered; C-STORE #2 sent complete; the capture ends 50 ms later, the association open."""
    c = established([(1, CT)])
    c.send(0, cmd(1, D.store_rq(1)) + data(1, ct_object()))
    c.send(1, cmd(1, store_rsp(1, 0)))
    c.send(0, cmd(1, D.store_rq(2, "1.2.3.9")) + data(1, ct_object("1.2.3.9")))
    return pcap_of(c)


def move_scu_crash() -> bytes:
    """10.0.0.1 is both a C-MOVE SCU (MOVESCU → QRSCP at 10.0.0.2) and the move destination's storage SCP
    (QRSCP → MOVESCU on 10.0.0.1:11113). With C-MOVE #1 and the sub-association's C-STORE #1 waiting, its
    process dies: it closes the sub-association as server (FIN), 0.4 ms later the C-MOVE association as
    client (RST)."""
    a = established([(1, MOVE)], client=("10.0.0.1", 40000), server=("10.0.0.2", 104), calling="MOVESCU",
                    called="QRSCP", t=T0)
    a.send(0, cmd(1, move_rq(1, "MOVESCU")) + data(1, study_key()))
    b = established([(1, CT)], client=("10.0.0.2", 50000), server=("10.0.0.1", 11113), calling="QRSCP",
                    called="MOVESCU", t=T0 + 5 * MS)
    b.send(0, cmd(1, D.store_rq(1, "1.2.3.1")) + data(1, ct_object("1.2.3.1")))
    b.at(T0 + 10 * MS).close(1)
    a.at(T0 + 10 * MS + 400_000).close(0, RST | ACK)
    return pcap_of(a, b)


def server_idle_close(idle_s: int = 30) -> bytes:
    """C-ECHO #1 answered, then nothing; the server closes (FIN) ``idle_s`` later, the client follows."""
    c = established([(1, P.VERIFICATION)])
    c.send(0, cmd(1, D.echo_rq(1)))
    c.send(1, cmd(1, D.echo_rsp(1)))
    c.at(c.clock + idle_s * 1_000_000_000).close(1).close(0)
    return pcap_of(c)
