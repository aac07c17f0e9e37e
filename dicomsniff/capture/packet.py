"""Fast path from a captured frame to its TCP segment: link layer, IP, TCP.

Plain ``struct.unpack_from`` on the frame bytes, no per-layer objects. Link
types follow the tcpdump.org LINKTYPE registry; IPv4 is RFC 791, IPv6 and its
extension headers RFC 8200 §4, TCP RFC 9293 §3.1. IP fragments are not
reassembled: a first fragment yields its TCP header with ``truncated=True``,
later fragments yield None. Anything that is not TCP, or too short to be, is
None; this module never raises.
"""

from __future__ import annotations

import struct

from ..field import NOTE, Finding
from ..notice import Notice
from .frame import Frame, TcpSegment

# Link types (https://www.tcpdump.org/linktypes.html).
LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP = 0, 1, 101, 108
LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_IPV4, LINKTYPE_IPV6 = 113, 276, 228, 229

LINK_NAMES = {
    0: "BSD loopback (NULL)",
    1: "Ethernet",
    9: "PPP",
    12: "Raw IP",
    14: "Raw IP",
    101: "Raw IP",
    105: "IEEE 802.11",
    108: "OpenBSD loopback (LOOP)",
    113: "Linux cooked capture (SLL)",
    127: "IEEE 802.11 radiotap",
    50: "PPP in HDLC-like framing",
    51: "PPPoE",
    228: "Raw IPv4",
    229: "Raw IPv6",
    276: "Linux cooked capture v2 (SLL2)",
}

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
ETH_VLAN_TAGS = frozenset((0x8100, 0x88A8, 0x9100, 0x9200))
# BSD AF_INET / AF_INET6 (AF_INET6 differs: 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS).
BSD_FAMILY_IP = {2: 4, 24: 6, 28: 6, 30: 6}
PROTO_TCP = 6
# IPv6 extension headers we walk through (RFC 8200 §4.1): hop-by-hop, routing,
# destination options, and fragment (44) handled apart; AH (51) counts 4-byte units.
IPV6_EXT = frozenset((0, 43, 60, 51, 135, 139, 140))
IPV6_FRAGMENT = 44
MAX_IPV6_EXT = 8

_H = struct.Struct(">H").unpack_from
_TCP = struct.Struct(">HHIIBB").unpack_from
_IPV4 = struct.Struct(">H2xHxB").unpack_from   # total length, flags+fragment, protocol
# An IPv4 header without options and the fixed TCP header after it, in one unpack (the common case):
# version/IHL, total length, flags+fragment, protocol, source, destination; ports, seq, ack, offset, flags.
_IPV4_TCP = struct.Struct(">BxH2xHxB2x4s4sHHIIBB")
_IPV4_TCP_LEN = _IPV4_TCP.size
_IPV4_TCP_UNPACK = _IPV4_TCP.unpack_from


def link_name(linktype: int) -> str:
    """Human name of a pcap link type; never raises."""
    name = LINK_NAMES.get(linktype)
    return name if name is not None else f"Unknown ({linktype})"


def _ether_type(data: bytes, pos: int) -> int:
    """Offset of the IP header after an EtherType at ``pos`` (skipping VLAN tags), or -1."""
    etype = _H(data, pos)[0]
    pos += 2
    while etype in ETH_VLAN_TAGS:
        etype = _H(data, pos + 2)[0]
        pos += 4
    return pos if etype == ETH_IPV4 or etype == ETH_IPV6 else -1


def _ethernet(data: bytes) -> int:
    return _ether_type(data, 12)


def _sll(data: bytes) -> int:
    return _ether_type(data, 14)


def _sll2(data: bytes) -> int:
    etype = _H(data, 0)[0]
    return 20 if etype == ETH_IPV4 or etype == ETH_IPV6 else -1


def _null(data: bytes) -> int:
    # Host byte order: the family is in byte 0 (little-endian host) or byte 3.
    family = data[0] or data[3]
    return 4 if family in BSD_FAMILY_IP else -1


def _loop(data: bytes) -> int:
    return 4 if struct.unpack_from(">I", data)[0] in BSD_FAMILY_IP else -1


def _raw(data: bytes) -> int:
    return 0


LINK_DECODERS = {
    LINKTYPE_NULL: _null,
    LINKTYPE_ETHERNET: _ethernet,
    LINKTYPE_LOOP: _loop,
    LINKTYPE_LINUX_SLL: _sll,
    LINKTYPE_LINUX_SLL2: _sll2,
    LINKTYPE_RAW: _raw,
    12: _raw,
    14: _raw,
    LINKTYPE_IPV4: _raw,
    LINKTYPE_IPV6: _raw,
}


def decode_tcp(frame: Frame, notices: list[Notice] | None = None) -> TcpSegment | None:
    """The TCP segment in ``frame``, or None if it holds none (or too little to tell).

    ``notices``, if given, receives a NOTE for IP fragments (never reassembled).
    Link layers and encapsulations this fast path does not know (PPP, 802.11,
    MPLS, PPPoE, GRE/ERSPAN, VXLAN, Geneve, IP in IP) go to :mod:`.encap` (dpkt).
    """
    try:
        data = frame.data
        lt = frame.linktype
        if lt == LINKTYPE_ETHERNET and data[12] == 8 and data[13] == 0:
            ip = 14
        else:
            link = LINK_DECODERS.get(lt)
            if link is None:
                return _slow(frame, notices, -1)
            ip = link(data)
            if ip < 0:
                return _slow(frame, notices, -1) if lt == LINKTYPE_ETHERNET and _encap_ether(data) else None
        avail = len(data)
        if data[ip] == 0x45 and lt != LINKTYPE_IPV6 and avail >= ip + _IPV4_TCP_LEN:
            # IPv4 without options carrying TCP, not a fragment: one unpack, no further call
            # (what _ip_tcp does for this case, inline; everything else goes there).
            _, total, frag, proto, src, dst, sport, dport, seq, ack, doff, flags = _IPV4_TCP_UNPACK(data, ip)
            if proto == PROTO_TCP and not frag & 0x3FFF:
                truncated = False
                if total < 20:                   # TSO: length unknown, trust the capture
                    end = avail
                    truncated = frame.orig_len > avail
                else:
                    end = ip + total
                    if end > avail:
                        end = avail
                        truncated = True
                tcp = ip + 20
                start = tcp + ((doff >> 4) << 2)
                if tcp + 20 > end or start < tcp + 20 or start > end:
                    return None
                return TcpSegment(frame.number, frame.ts_ns, src, dst, sport, dport, seq, ack, flags,
                                  memoryview(data)[start:end], start, truncated)
        seg = _ip_tcp(frame, data, ip, lt, notices)
        if seg is _TUNNEL:
            return _slow(frame, notices, ip)
        return seg
    except (struct.error, IndexError, ValueError, TypeError):
        return None


# Returned by _ip_tcp for IP packets that may carry TCP one layer further in (GRE, UDP tunnels, IP in IP).
_TUNNEL = object()
TUNNEL_PROTOS = frozenset((4, 41, 47))            # IP in IP, IPv6 in IP, GRE
TUNNEL_UDP_PORTS = frozenset((4789, 6081))        # VXLAN, Geneve
PROTO_UDP = 17


def _tunnel(data, at: int, proto: int):
    """_TUNNEL if the IP payload at ``at`` (protocol ``proto``) may be a tunnel, else None."""
    if proto in TUNNEL_PROTOS:
        return _TUNNEL
    if proto == PROTO_UDP:
        sport, dport = struct.unpack_from(">HH", data, at)
        if dport in TUNNEL_UDP_PORTS or sport in TUNNEL_UDP_PORTS:
            return _TUNNEL
    return None


# EtherTypes (after any VLAN tags) worth the slow path: MPLS unicast/multicast, PPPoE session.
ETH_ENCAP = frozenset((0x8847, 0x8848, 0x8864))


def _encap_ether(data) -> bool:
    pos = 12
    etype = _H(data, pos)[0]
    while etype in ETH_VLAN_TAGS:
        pos += 4
        etype = _H(data, pos)[0]
    return etype in ETH_ENCAP


def _slow(frame: Frame, notices: list[Notice] | None, outer_ip: int) -> TcpSegment | None:
    """Encapsulations through dpkt (:mod:`.encap`), from the link layer or from an outer IP header
    the fast path found (``outer_ip``, else -1); the fast path reads IP and TCP at the offset found."""
    from .encap import ip_offset
    data = frame.data
    if not isinstance(data, bytes):
        data = bytes(data)

    def same(at: int, tcp) -> bool:
        seg = _ip_tcp(frame, data, at, None, None)
        return (isinstance(seg, TcpSegment) and seg.sport == tcp.sport and seg.dport == tcp.dport
                and seg.seq == tcp.seq)

    at = ip_offset(frame.linktype, data, same, outer_ip)
    if at < 0:
        return None
    seg = _ip_tcp(frame, data, at, None, notices)
    return seg if isinstance(seg, TcpSegment) else None


def _ip_tcp(frame: Frame, data, ip: int, lt: int | None, notices: list[Notice] | None):
    """The TCP segment of the IP packet at ``ip`` in ``data``; None; or _TUNNEL."""
    try:
        avail = len(data)
        vb = data[ip]
        truncated = False
        if vb >> 4 == 4:
            ihl = (vb & 0x0F) << 2
            total, frag, proto = _IPV4(data, ip + 2)
            if proto != PROTO_TCP or ihl < 20 or lt == LINKTYPE_IPV6:
                if ihl >= 20 and lt != LINKTYPE_IPV6 and not frag & 0x3FFF:
                    return _tunnel(data, ip + ihl, proto)
                return None
            if frag & 0x3FFF:
                _fragment(frame, notices, frag & 0x1FFF)
                if frag & 0x1FFF:
                    return None
                truncated = True
            src = data[ip + 12:ip + 16]
            dst = data[ip + 16:ip + 20]
            tcp = ip + ihl
            # Total length 0 is what TSO-offloaded outgoing packets show; use the capture.
            end = ip + total if total >= ihl else -1
        elif vb >> 4 == 6:
            if lt == LINKTYPE_IPV4 or ip + 40 > avail:
                return None
            plen = _H(data, ip + 4)[0]
            nh = data[ip + 6]
            src = data[ip + 8:ip + 24]
            dst = data[ip + 24:ip + 40]
            end = ip + 40 + plen if plen else -1
            tcp = ip + 40
            for _ in range(MAX_IPV6_EXT):
                if nh == PROTO_TCP:
                    break
                if nh == IPV6_FRAGMENT:
                    fo = _H(data, tcp + 2)[0]
                    _fragment(frame, notices, fo >> 3)
                    if fo & 0xFFF8:
                        return None
                    truncated = truncated or bool(fo & 1)
                    nh, tcp = data[tcp], tcp + 8
                elif nh in IPV6_EXT:
                    size = (data[tcp + 1] + 2) * 4 if nh == 51 else (data[tcp + 1] + 1) * 8
                    nh, tcp = data[tcp], tcp + size
                else:
                    return _tunnel(data, tcp, nh) if not truncated else None
            else:
                return None
        else:
            return None
        if end < 0:
            # Length unknown (TSO / jumbogram): trust the capture, cut if it was snapped.
            end = avail
            truncated = truncated or frame.orig_len > avail
        elif end > avail:
            end = avail
            truncated = True
        if tcp + 20 > end:
            return None
        sport, dport, seq, ack, doff, flags = _TCP(data, tcp)
        start = tcp + ((doff >> 4) << 2)
        if start < tcp + 20 or start > end:
            return None
        return TcpSegment(frame.number, frame.ts_ns, src, dst, sport, dport, seq, ack, flags,
                          memoryview(data)[start:end], start, truncated)
    except (struct.error, IndexError, ValueError, TypeError):
        return None


def _fragment(frame: Frame, notices: list[Notice] | None, offset_units: int) -> None:
    if notices is not None:
        where = "first fragment" if offset_units == 0 else f"fragment at offset {offset_units * 8}"
        notices.append(Notice("capture", Finding(
            NOTE, "ip-fragment",
            f"frame {frame.number}: IP {where}; fragments are not reassembled"), frame.number))
