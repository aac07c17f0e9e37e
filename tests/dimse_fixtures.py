"""DIMSE command sets and data sets (PS3.7 §9.3, §10.3) and whole TCP conversations, for tests.

Typical use::

    from dimse_fixtures import Conv, run, command, echo_rq
    c = Conv()                                        # 10.0.0.1:40000 -> 10.0.0.2:104, with handshake
    c.send(0, assoc_rq()); c.send(1, assoc_ac())
    c.send(0, pdata([(1, COMMAND | LAST, echo_rq(1))]))
    c.fin()
    an, events = run(c)                               # pcap bytes -> open_capture -> analyze_frames
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from capwriter import ACK, ETHERNET, FIN, PSH, RST, SYN, frame, pcap_bytes, tcp_packet
from dicomsniff.capture.reader import open_capture
from dicomsniff.pipeline import analyze_frames
from pdu_fixtures import CT_STORAGE, STUDY_ROOT_FIND, VERIFICATION

NO_DATA, HAS_DATA = 0x0101, 0x0000


def encode(ds: Dataset, implicit: bool = True, little: bool = True) -> bytes:
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    write_dataset(fp, ds)
    return fp.getvalue()


def command(**elements) -> bytes:
    """A command set (always Implicit VR Little Endian, PS3.7 §6.3.1) with its group length."""
    ds = Dataset()
    ds.CommandGroupLength = 0
    for k, v in elements.items():
        setattr(ds, k, v)
    ds.CommandGroupLength = len(encode(ds)) - 12
    return encode(ds)


def echo_rq(mid: int) -> bytes:
    return command(AffectedSOPClassUID=VERIFICATION, CommandField=0x0030, MessageID=mid,
                   CommandDataSetType=NO_DATA)


def echo_rsp(mid: int, status: int = 0) -> bytes:
    return command(AffectedSOPClassUID=VERIFICATION, CommandField=0x8030, MessageIDBeingRespondedTo=mid,
                   CommandDataSetType=NO_DATA, Status=status)


def store_rq(mid: int, iuid: str = "1.2.3.4") -> bytes:
    return command(AffectedSOPClassUID=CT_STORAGE, CommandField=0x0001, MessageID=mid, Priority=0,
                   CommandDataSetType=HAS_DATA, AffectedSOPInstanceUID=iuid)


def store_rsp(mid: int, status: int = 0, iuid: str = "1.2.3.4") -> bytes:
    return command(AffectedSOPClassUID=CT_STORAGE, CommandField=0x8001, MessageIDBeingRespondedTo=mid,
                   CommandDataSetType=NO_DATA, Status=status, AffectedSOPInstanceUID=iuid)


def find_rq(mid: int) -> bytes:
    return command(AffectedSOPClassUID=STUDY_ROOT_FIND, CommandField=0x0020, MessageID=mid, Priority=0,
                   CommandDataSetType=HAS_DATA)


def find_rsp(mid: int, status: int) -> bytes:
    pending = status in (0xFF00, 0xFF01)
    return command(AffectedSOPClassUID=STUDY_ROOT_FIND, CommandField=0x8020, MessageIDBeingRespondedTo=mid,
                   CommandDataSetType=HAS_DATA if pending else NO_DATA, Status=status)


def cancel_rq(mid: int) -> bytes:
    return command(CommandField=0x0FFF, MessageIDBeingRespondedTo=mid, CommandDataSetType=NO_DATA)


def patient(pid: str = "PID1", name: str = "Doe^John", implicit: bool = True, **more) -> bytes:
    ds = Dataset()
    ds.PatientName = name
    ds.PatientID = pid
    for k, v in more.items():
        setattr(ds, k, v)
    return encode(ds, implicit=implicit)


class Conv:
    """One TCP connection as Ethernet frames: direction 0 is client → server."""

    def __init__(self, client: tuple[str, int] = ("10.0.0.1", 40000), server: tuple[str, int] = ("10.0.0.2", 104),
                 *, handshake: bool = True, mss: int = 1460, isn: tuple[int, int] = (1000, 900000)):
        self.ends = (client, server)
        self.mss = mss
        self.seq = list(isn)
        self.frames: list[bytes] = []
        if handshake:
            self._pkt(0, SYN, b"")
            self.seq[0] += 1
            self._pkt(1, SYN | ACK, b"")
            self.seq[1] += 1
            self._pkt(0, ACK, b"")

    def _pkt(self, d: int, flags: int, payload: bytes) -> None:
        (sip, sport), (dip, dport) = self.ends[d], self.ends[1 - d]
        self.frames.append(frame(ETHERNET, tcp_packet(sip, dip, sport, dport, self.seq[d], self.seq[1 - d],
                                                      flags, payload)))

    def send(self, d: int, payload: bytes, *, skip: bool = False) -> "Conv":
        """Segments of at most ``mss`` bytes; ``skip`` leaves them out of the capture (a gap)."""
        for i in range(0, len(payload), self.mss):
            part = payload[i:i + self.mss]
            if not skip:
                self._pkt(d, PSH | ACK, part)
            self.seq[d] += len(part)
        return self

    def fin(self) -> "Conv":
        for d in (0, 1):
            self._pkt(d, FIN | ACK, b"")
            self.seq[d] += 1
        return self

    def rst(self, d: int = 0) -> "Conv":
        self._pkt(d, RST | ACK, b"")
        return self


def pcap(*convs: Conv) -> bytes:
    """One pcap of the conversations' frames, interleaved round robin, 1 ms apart."""
    merged, i = [], 0
    queues = [list(c.frames) for c in convs]
    while any(queues):
        for q in queues:
            if q:
                merged.append((1_700_000_000_000_000_000 + i * 1_000_000, q.pop(0)))
                i += 1
    return pcap_bytes(merged, ETHERNET)


def run(*convs: Conv, **options):
    """(Analyzer, events) for these conversations, through the real capture reader and pipeline."""
    return analyze_frames(open_capture(pcap(*convs)), **options)
