"""A capture of one association flooded with unanswered C-ECHO-RQs (memory tests and bench/export_memory.py).

``echo_flood(n)`` returns pcap bytes: handshake, A-ASSOCIATE-RQ/AC, then ``n`` C-ECHO-RQ P-DATA-TF PDUs
(message IDs 1, 2, … 65535, 1, …, never answered), A-ABORT, FIN. 100,000 requests make a ~20 MB capture.
"""

from __future__ import annotations

import os
import struct

from capwriter import ACK, ETHERNET, FIN, PSH, SYN, frame, tcp_packet
from dimse_fixtures import echo_rq
from pdu_fixtures import COMMAND, LAST, abort, assoc_ac, assoc_rq, pdata


def echo_flood_records(n: int, *, calling: str = "ECHOSCU", called: str = "ANY-SCP"):
    """(ts_ns, frame bytes) of the flooded association, 100 µs apart."""
    client, server = ("10.0.0.1", 40000), ("10.0.0.2", 104)
    seq = [1000, 900000]
    ts = [1_700_000_000_000_000_000]

    def pkt(d: int, flags: int, payload: bytes = b""):
        (sip, sp), (dip, dp) = (client, server) if d == 0 else (server, client)
        ts[0] += 100_000
        rec = (ts[0], frame(ETHERNET, tcp_packet(sip, dip, sp, dp, seq[d], seq[1 - d], flags, payload)))
        seq[d] += len(payload) + (1 if flags & (SYN | FIN) else 0)
        return rec

    yield pkt(0, SYN)
    yield pkt(1, SYN | ACK)
    yield pkt(0, ACK)
    yield pkt(0, PSH | ACK, assoc_rq(calling, called))
    yield pkt(1, PSH | ACK, assoc_ac(calling, called))
    for i in range(n):
        yield pkt(0, PSH | ACK, pdata([(1, COMMAND | LAST, echo_rq(i % 0xFFFF + 1))]))
    yield pkt(0, PSH | ACK, abort(0, 0))
    yield pkt(0, FIN | ACK)
    yield pkt(1, FIN | ACK)


def write_echo_flood(path, n: int) -> None:
    """Write the flood as a pcap file at ``path``, streaming (no list of frames in memory)."""
    tmp = f"{path}.part"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, ETHERNET))
        for ts, data in echo_flood_records(n):
            sec, ns = divmod(ts, 1_000_000_000)
            f.write(struct.pack("<IIII", sec, ns, len(data), len(data)) + data)
    os.replace(tmp, path)
