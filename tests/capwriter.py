"""Build test captures in memory: IP/TCP packets, link-layer frames, pcap and pcapng bytes.

Typical use::

    from capwriter import tcp_packet, frame, pcap_bytes, ETHERNET
    pkt = frame(ETHERNET, tcp_packet("10.0.0.1", "10.0.0.2", 40000, 104, seq=1, ack=1,
                                     payload=b"\\x01\\x00..."))
    data = pcap_bytes([(1_000_000_000, pkt)], ETHERNET)      # bytes of a .pcap file
    reader = open_capture(io.BytesIO(data))                  # or open_capture(data)

pcapng: ``pcapng_bytes([(ts_ns, linktype, frame_bytes), ...])`` makes one section
with one interface per distinct link type; concatenate results for several
sections, or compose ``shb()``/``idb()``/``epb()``/``spb()``/``opb()`` by hand
for finer control (timestamp resolution, offsets, byte order).
"""

from __future__ import annotations

import ipaddress
import struct

# Link types (tcpdump.org LINKTYPE_*).
NULL, ETHERNET, RAW, LOOP, SLL, SLL2, IPV4, IPV6 = 0, 1, 101, 108, 113, 276, 228, 229
# TCP flags.
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

NS = 1_000_000_000


def _addr(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def tcp_packet(src: str, dst: str, sport: int, dport: int, seq: int = 0, ack: int = 0,
               flags: int = PSH | ACK, payload: bytes = b"", *, ipv6: bool | None = None,
               options: bytes = b"", ipv6_ext: tuple[int, ...] = (), frag_offset: int = 0,
               more_fragments: bool = False, ttl: int = 64, window: int = 65535) -> bytes:
    """An IPv4 or IPv6 packet (chosen from the addresses unless ``ipv6`` says) holding TCP.

    ``options`` are raw TCP option bytes (padded to 4). ``ipv6_ext`` lists IPv6
    extension header types to insert before TCP (0, 43, 60: 8 empty bytes each;
    44: a fragment header with ``frag_offset``/``more_fragments``). For IPv4,
    ``frag_offset`` (bytes, multiple of 8) and ``more_fragments`` set the fragment field.
    No checksums are computed (zero), as with offloaded captures.
    """
    if ipv6 is None:
        ipv6 = ":" in src
    options += b"\x00" * (-len(options) % 4)
    doff = (20 + len(options)) // 4
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      doff << 4, flags, window, 0, 0) + options + payload
    if not ipv6:
        frag = (0x2000 if more_fragments else 0) | (frag_offset // 8)
        hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0x1234, frag, ttl, 6, 0,
                          _addr(src), _addr(dst))
        return hdr + tcp
    body, nh = tcp, 6
    for ext in reversed(ipv6_ext):
        if ext == 44:
            field = (frag_offset // 8) << 3 | (1 if more_fragments else 0)
            body = struct.pack(">BBHI", nh, 0, field, 0xABCD) + body
        else:
            body = struct.pack(">BB6x", nh, 0) + body
        nh = ext
    return struct.pack(">IHBB16s16s", 6 << 28, len(body), nh, ttl, _addr(src), _addr(dst)) + body


def frame(link: int, ip_packet: bytes, *, vlans: tuple[int, ...] = (), pad: bool = True,
          big_endian: bool = False) -> bytes:
    """Wrap an IP packet in a link-layer header for ``link`` (a LINKTYPE_* number).

    Ethernet: ``vlans`` are 802.1Q tag ids, outermost first (the outermost uses
    802.1ad 0x88a8 when there are several); frames are padded to 60 bytes like
    the wire unless ``pad=False``. NULL: the 4-byte family in little-endian host
    order unless ``big_endian``. Raw link types return the packet unchanged.
    """
    v6 = ip_packet[:1] and ip_packet[0] >> 4 == 6
    etype = 0x86DD if v6 else 0x0800
    if link == ETHERNET:
        hdr = bytes.fromhex("020000000002" "020000000001")
        for i, vid in enumerate(vlans):
            tpid = 0x88A8 if i == 0 and len(vlans) > 1 else 0x8100
            hdr += struct.pack(">HH", tpid, vid & 0xFFF)
        out = hdr + struct.pack(">H", etype) + ip_packet
        return out + b"\x00" * (60 - len(out)) if pad and len(out) < 60 else out
    if link == SLL:
        return struct.pack(">HHH8sH", 0, 1, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00",
                           etype) + ip_packet
    if link == SLL2:
        return struct.pack(">HHIHBB8s", etype, 0, 1, 1, 0, 6,
                           b"\x02\x00\x00\x00\x00\x01\x00\x00") + ip_packet
    if link == NULL:
        family = 30 if v6 else 2
        return struct.pack(">I" if big_endian else "<I", family) + ip_packet
    if link == LOOP:
        return struct.pack(">I", 24 if v6 else 2) + ip_packet
    if link in (RAW, IPV4, IPV6, 12, 14):
        return ip_packet
    raise ValueError(f"capwriter.frame: no writer for link type {link}")


def _record(rec) -> tuple[int, bytes, int]:
    """(ts_ns, data) or (ts_ns, data, orig_len) -> (ts_ns, data, orig_len)."""
    if len(rec) == 2:
        return rec[0], rec[1], len(rec[1])
    return rec[0], rec[1], rec[2]


def pcap_bytes(records, linktype: int = ETHERNET, *, nanos: bool = False,
               big_endian: bool = False, snaplen: int = 262144) -> bytes:
    """A pcap file: ``records`` are (ts_ns, data) or (ts_ns, data, orig_len).

    ``orig_len`` larger than ``len(data)`` makes a snap-length-cut record.
    """
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    div = 1 if nanos else 1000
    for rec in records:
        ts, data, orig = _record(rec)
        out.append(struct.pack(e + "IIII", ts // NS, ts % NS // div, len(data), orig))
        out.append(data)
    return b"".join(out)


def _block(btype: int, body: bytes, e: str) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def _opt(code: int, value: bytes, e: str) -> bytes:
    return struct.pack(e + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def shb(*, big_endian: bool = False) -> bytes:
    """Section Header Block (starts a section; resets the interface list)."""
    e = ">" if big_endian else "<"
    return _block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)


def idb(linktype: int, *, tsresol: int = 6, tsoffset: int = 0, snaplen: int = 0,
        big_endian: bool = False) -> bytes:
    """Interface Description Block. ``tsresol``: if_tsresol byte (n = 10^-n, 0x80|n = 2^-n)."""
    e = ">" if big_endian else "<"
    opts = b""
    if tsresol != 6:
        opts += _opt(9, bytes([tsresol]), e)
    if tsoffset:
        opts += _opt(14, struct.pack(e + "q", tsoffset), e)
    if opts:
        opts += _opt(0, b"", e)
    return _block(1, struct.pack(e + "HHI", linktype, 0, snaplen) + opts, e)


def ts_units(ts_ns: int, tsresol: int = 6, tsoffset: int = 0) -> int:
    """Timestamp units for an interface with this if_tsresol and if_tsoffset (seconds)."""
    ts_ns -= tsoffset * NS
    n = tsresol & 0x7F
    if tsresol & 0x80:
        return (ts_ns << n) // NS
    return ts_ns * 10 ** n // NS


def epb(iface: int, ts_ns: int, data: bytes, *, orig_len: int | None = None, tsresol: int = 6,
        tsoffset: int = 0, big_endian: bool = False) -> bytes:
    """Enhanced Packet Block; give the interface's ``tsresol``/``tsoffset`` to encode ``ts_ns``."""
    e = ">" if big_endian else "<"
    u = ts_units(ts_ns, tsresol, tsoffset)
    hdr = struct.pack(e + "IIIII", iface, u >> 32, u & 0xFFFFFFFF, len(data),
                      len(data) if orig_len is None else orig_len)
    return _block(6, hdr + data, e)


def opb(iface: int, ts_ns: int, data: bytes, *, orig_len: int | None = None, tsresol: int = 6,
        big_endian: bool = False) -> bytes:
    """Obsolete Packet Block (type 2)."""
    e = ">" if big_endian else "<"
    u = ts_units(ts_ns, tsresol)
    hdr = struct.pack(e + "HHIIII", iface, 0, u >> 32, u & 0xFFFFFFFF, len(data),
                      len(data) if orig_len is None else orig_len)
    return _block(2, hdr + data, e)


def spb(data: bytes, *, orig_len: int | None = None, big_endian: bool = False) -> bytes:
    """Simple Packet Block (interface 0, no timestamp)."""
    e = ">" if big_endian else "<"
    return _block(3, struct.pack(e + "I", len(data) if orig_len is None else orig_len) + data, e)


def block(btype: int, body: bytes, *, big_endian: bool = False) -> bytes:
    """Any block, e.g. an unknown type to test skipping."""
    return _block(btype, body, ">" if big_endian else "<")


def pcapng_bytes(records, *, tsresol: int = 6, big_endian: bool = False) -> bytes:
    """One pcapng section: records are (ts_ns, linktype, data) or (ts_ns, linktype, data, orig_len).

    One interface is described per distinct link type, in order of first use.
    Concatenate the results of several calls for a multi-section file.
    """
    ifaces: dict[int, int] = {}
    blocks = [shb(big_endian=big_endian)]
    for rec in records:
        ts, lt, data = rec[:3]
        if lt not in ifaces:
            ifaces[lt] = len(ifaces)
            blocks.append(idb(lt, tsresol=tsresol, big_endian=big_endian))
        blocks.append(epb(ifaces[lt], ts, data, orig_len=rec[3] if len(rec) > 3 else None,
                          tsresol=tsresol, big_endian=big_endian))
    return b"".join(blocks)
