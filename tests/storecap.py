"""A synthetic C-STORE of one big object at MSS 1448, as a SPAN port or an MTU-1500 host sees it.

``big_store(size)`` returns pcap bytes: handshake, A-ASSOCIATE-RQ/AC (CT Image Storage, Implicit
VR Little Endian, maximum PDU 16384 both ways), a C-STORE-RQ whose data set is a patient module
followed by ``size`` bytes of Pixel Data in P-DATA-TF PDUs of 16384 bytes (one PDV each, as
DCMTK sends them), the server ACKing every second segment, the C-STORE-RSP, release and FIN. ``max_pdu`` and ``mss``
change the PDU and segment sizes (a loopback's 64 KiB segments hold several whole PDUs).
Used by the per-packet call budget of the fast path (tests/test_capture_fastpath.py) and
bench/calls_per_packet.py when no bench capture exists.
"""

from __future__ import annotations

import struct

from capwriter import ACK, ETHERNET, FIN, PSH, SYN, frame, pcap_bytes, tcp_packet
from dimse_fixtures import patient, store_rq, store_rsp
from pdu_fixtures import CT_STORAGE, IMPLICIT_LE, assoc_ac, assoc_rq, pdata, release_rp, release_rq

COMMAND, LAST = 1, 2
MSS = 1448


def big_store_records(size: int, *, max_pdu: int = 16384, mss: int = MSS, split_headers: bool = False,
                      ack_every: int = 2):
    """``split_headers``: each P-DATA-TF of the data set is written as its 12 header bytes (PDU and PDV
    headers), then its value, as DCMTK does: on a TCP_NODELAY socket the headers are a segment of their own."""
    client, server = ("10.0.0.1", 40000), ("10.0.0.2", 104)
    seq = [1000, 900000]
    ts = [1_700_000_000_000_000_000]
    out = []

    def pkt(d: int, flags: int, payload: bytes = b"") -> None:
        (sip, sp), (dip, dp) = (client, server) if d == 0 else (server, client)
        ts[0] += 20_000
        out.append((ts[0], frame(ETHERNET, tcp_packet(sip, dip, sp, dp, seq[d], seq[1 - d], flags, payload))))
        seq[d] += len(payload) + (1 if flags & (SYN | FIN) else 0)

    def send(d: int, data: bytes) -> None:
        for n, i in enumerate(range(0, len(data), mss)):
            pkt(d, PSH | ACK, data[i:i + mss])
            if n % ack_every == ack_every - 1:       # the receiver acknowledges every ack_every segments
                pkt(1 - d, ACK)

    pkt(0, SYN)
    pkt(1, SYN | ACK)
    pkt(0, ACK)
    ctx = [(1, CT_STORAGE, [IMPLICIT_LE])]
    send(0, assoc_rq("STORESCU", "STORESCP", contexts=ctx, max_pdu=max_pdu))
    send(1, assoc_ac("STORESCU", "STORESCP", results=[(1, 0, IMPLICIT_LE)], max_pdu=max_pdu))
    send(0, pdata([(1, COMMAND | LAST, store_rq(1, "1.2.3.4.5"))]))
    data = patient("BIG1", "Big^Object") + struct.pack("<HHI", 0x7FE0, 0x0010, size) + bytes(size)
    room = max_pdu - 6
    pdus = []
    for i in range(0, len(data), room):
        part = data[i:i + room]
        pdus.append(pdata([(1, LAST if i + room >= len(data) else 0, part)]))
    if split_headers:
        for p in pdus:
            send(0, p[:12])
            send(0, p[12:])
    else:
        send(0, b"".join(pdus))
    send(1, pdata([(1, COMMAND | LAST, store_rsp(1, 0, "1.2.3.4.5"))]))
    send(0, release_rq())
    send(1, release_rp())
    pkt(0, FIN | ACK)
    pkt(1, FIN | ACK)
    return out


def big_store(size: int, **kw) -> bytes:
    return pcap_bytes(big_store_records(size, **kw), ETHERNET)
