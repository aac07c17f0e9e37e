"""Pass 2 of the rewriter: each frame re-emitted with its new TCP payload, sequence and ack numbers.

Link layers rewritten: Ethernet (802.1Q/QinQ tags), Linux SLL/SLL2, BSD NULL/LOOP, raw IP; IPv4 (with
options) and IPv6 (with extension headers). IPv4 total length / IPv6 payload length follow the payload;
the IPv4 header checksum and the TCP checksum are recomputed when the original was right (a wrong one,
as checksum offloading leaves, stays as it was); SACK blocks are mapped like ack numbers. Frames in
other encapsulations keep their headers and get a zeroed payload of the same length (listed).
``--ips``: IPv4/IPv6 addresses and MAC addresses replaced consistently (ARP too).
"""

from __future__ import annotations

import struct

from ..capture.frame import ACK, SYN
from ..capture.packet import LINK_DECODERS

_M = 0xFFFFFFFF
_HALF = 1 << 31
LINKTYPE_ETHERNET, LINKTYPE_SLL, LINKTYPE_SLL2 = 1, 113, 276


def checksum(data) -> int:
    if len(data) % 2:
        data = bytes(data) + b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _tcp_sum(src: bytes, dst: bytes, segment) -> int:
    if len(src) == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(segment))
    else:
        pseudo = src + dst + struct.pack("!I3xB", len(segment), 6)
    return checksum(pseudo + bytes(segment))


class AddressMap:
    """Consistent replacements for IP and MAC addresses (``--ips``)."""

    def __init__(self):
        self.ips: dict[bytes, bytes] = {}
        self.macs: dict[bytes, bytes] = {}

    def ip(self, a: bytes) -> bytes:
        a = bytes(a)
        if a in (b"\0" * 4, b"\xff" * 4, b"\0" * 16) or (len(a) == 4 and a[0] >= 224) or (len(a) == 16 and a[0] == 0xFF):
            return a
        new = self.ips.get(a)
        if new is None:
            n = sum(1 for k in self.ips if len(k) == len(a)) + 1
            new = bytes((10, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF)) if len(a) == 4 else \
                b"\xfd" + bytes(11) + n.to_bytes(4, "big")
            self.ips[a] = new
        return new

    def mac(self, a: bytes) -> bytes:
        a = bytes(a)
        if a[0] & 1 or a == bytes(6):            # broadcast, multicast, zero
            return a
        new = self.macs.get(a)
        if new is None:
            n = len(self.macs) + 1
            new = b"\x02\x00" + n.to_bytes(4, "big")
            self.macs[a] = new
        return new

    def table(self) -> dict:
        import ipaddress
        return {"ips": {str(ipaddress.ip_address(k)): str(ipaddress.ip_address(v)) for k, v in self.ips.items()},
                "macs": {k.hex(":"): v.hex(":") for k, v in self.macs.items()}}


def _ip_offset(linktype: int, data: bytes) -> int:
    link = LINK_DECODERS.get(linktype)
    if link is None:
        return -1
    try:
        return link(data)
    except (IndexError, struct.error, ValueError):
        return -1


def remap_link(linktype: int, data: bytearray, amap: AddressMap) -> None:
    """MAC addresses of the link header (and ARP bodies) replaced in place."""
    try:
        if linktype == LINKTYPE_ETHERNET and len(data) >= 14:
            data[0:6] = amap.mac(data[0:6])
            data[6:12] = amap.mac(data[6:12])
            pos = 12
            etype = struct.unpack_from("!H", data, pos)[0]
            while etype in (0x8100, 0x88A8, 0x9100, 0x9200):
                pos += 4
                etype = struct.unpack_from("!H", data, pos)[0]
            if etype == 0x0806:
                _arp(data, pos + 2, amap)
        elif linktype == LINKTYPE_SLL and len(data) >= 16:
            alen = struct.unpack_from("!H", data, 4)[0]
            if alen == 6:
                data[6:12] = amap.mac(data[6:12])
            if struct.unpack_from("!H", data, 14)[0] == 0x0806:
                _arp(data, 16, amap)
        elif linktype == LINKTYPE_SLL2 and len(data) >= 20:
            if data[11] == 6:
                data[12:18] = amap.mac(data[12:18])
            if struct.unpack_from("!H", data, 0)[0] == 0x0806:
                _arp(data, 20, amap)
    except (IndexError, struct.error):
        pass


def _arp(data: bytearray, at: int, amap: AddressMap) -> None:
    htype, ptype, hlen, plen = struct.unpack_from("!HHBB", data, at)
    if hlen != 6 or plen != 4:
        return
    p = at + 8
    data[p:p + 6] = amap.mac(data[p:p + 6])
    data[p + 6:p + 10] = amap.ip(data[p + 6:p + 10])
    data[p + 10:p + 16] = amap.mac(data[p + 10:p + 16])
    data[p + 16:p + 20] = amap.ip(data[p + 16:p + 20])


class Headers:
    """Offsets of one frame's IP and TCP headers (fast-path link layers only)."""

    __slots__ = ("ip", "version", "tcp", "payload", "ip_end", "no_length")

    def __init__(self, ip, version, tcp, payload, ip_end, no_length=False):
        self.ip, self.version, self.tcp, self.payload, self.ip_end = ip, version, tcp, payload, ip_end
        self.no_length = no_length      # IP length 0 (TSO, as captured on the sending host): left 0


def find_headers(linktype: int, data: bytes) -> Headers | None:
    ip = _ip_offset(linktype, data)
    if ip < 0 or ip >= len(data):
        return None
    try:
        v = data[ip] >> 4
        if v == 4:
            ihl = (data[ip] & 0x0F) * 4
            total, frag, proto = struct.unpack_from("!H2xHxB", data, ip + 2)
            if proto != 6 or ihl < 20 or frag & 0x3FFF or 0 < total < ihl:
                return None
            tcp = ip + ihl
            ip_end = ip + total if total else len(data)
        elif v == 6:
            plen = struct.unpack_from("!H", data, ip + 4)[0]
            nh = data[ip + 6]
            tcp = ip + 40
            for _ in range(8):
                if nh == 6:
                    break
                if nh in (0, 43, 60, 51):
                    size = (data[tcp + 1] + 2) * 4 if nh == 51 else (data[tcp + 1] + 1) * 8
                    nh, tcp = data[tcp], tcp + size
                else:
                    return None
            else:
                return None
            ip_end = ip + 40 + plen if plen else len(data)
        else:
            return None
        if tcp + 20 > len(data):
            return None
        doff = (data[tcp + 12] >> 4) * 4
        if doff < 20 or tcp + doff > ip_end:
            return None
        no_length = (v == 4 and total == 0) or (v == 6 and plen == 0)
        return Headers(ip, v, tcp, tcp + doff, ip_end, no_length)
    except (IndexError, struct.error):
        return None


def rewrite_frame(linktype: int, data: bytes, orig_len: int, where, amap: AddressMap | None):
    """New (data, orig_len) of one frame; ``where`` is (Direction, peer Direction) for a TCP frame of a
    known stream, or None. Returns None when the frame is kept as it was."""
    h = find_headers(linktype, data)
    if where is None and amap is None:
        return None
    if h is None:
        if where is None:
            if amap is None:
                return None
            buf = bytearray(data)
            remap_link(linktype, buf, amap)
            _remap_other_ip(linktype, buf, amap)
            return bytes(buf), orig_len
        return "unsupported"
    buf = bytearray(data)
    ip, tcp, pstart = h.ip, h.tcp, h.payload
    full_end = h.ip_end
    have_end = min(full_end, len(buf))
    trailer = bytes(buf[full_end:]) if full_end < len(buf) else b""
    old_payload_len = full_end - pstart
    captured = max(0, have_end - pstart)
    complete = have_end == full_end
    old_ip_ok = h.version != 4 or checksum(buf[ip:ip + (buf[ip] & 0x0F) * 4]) == 0
    src = bytes(buf[ip + 12:ip + 16]) if h.version == 4 else bytes(buf[ip + 8:ip + 24])
    dst = bytes(buf[ip + 16:ip + 20]) if h.version == 4 else bytes(buf[ip + 24:ip + 40])
    old_tcp_ok = complete and _tcp_sum(src, dst, buf[tcp:full_end]) == 0
    header = bytearray(buf[:pstart])
    new_payload = bytes(buf[pstart:have_end])
    new_full = old_payload_len
    if where is not None:
        d, peer = where
        seq, ack = struct.unpack_from("!II", header, tcp + 4)
        flags = header[tcp + 13]
        if d.base is not None:
            first = (seq + (1 if flags & SYN else 0)) & _M
            off = ((first - d.base + _HALF) & _M) - _HALF
            a = d.map(off)
            b = d.map(off + old_payload_len)
            c = d.map(off + captured)
            new_full = b - a
            new_payload = d.new_bytes(a, c) if off >= 0 else bytes(max(0, c - a))
            if not flags & SYN:
                struct.pack_into("!I", header, tcp + 4, (d.base + a) & _M)
        else:
            new_payload = bytes(captured)
        if flags & ACK and peer is not None and peer.base is not None:
            pa = ((ack - peer.base + _HALF) & _M) - _HALF
            struct.pack_into("!I", header, tcp + 8, (peer.base + peer.map(pa)) & _M)
            _sack(header, tcp, peer)
    if amap is not None:
        remap_link(linktype, header, amap)
        if h.version == 4:
            header[ip + 12:ip + 16] = amap.ip(header[ip + 12:ip + 16])
            header[ip + 16:ip + 20] = amap.ip(header[ip + 16:ip + 20])
        else:
            header[ip + 8:ip + 24] = amap.ip(header[ip + 8:ip + 24])
            header[ip + 24:ip + 40] = amap.ip(header[ip + 24:ip + 40])
    delta = new_full - old_payload_len
    if h.version == 4:
        ihl = (header[ip] & 0x0F) * 4
        total = struct.unpack_from("!H", header, ip + 2)[0] + delta
        if total > 0xFFFF and not h.no_length:
            return "too-big"
        if not h.no_length:
            struct.pack_into("!H", header, ip + 2, total)
        if old_ip_ok:
            struct.pack_into("!H", header, ip + 10, 0)
            struct.pack_into("!H", header, ip + 10, checksum(header[ip:ip + ihl]))
        src, dst = bytes(header[ip + 12:ip + 16]), bytes(header[ip + 16:ip + 20])
    else:
        plen = struct.unpack_from("!H", header, ip + 4)[0] + delta
        if plen > 0xFFFF and not h.no_length:
            return "too-big"
        if not h.no_length:
            struct.pack_into("!H", header, ip + 4, plen)
        src, dst = bytes(header[ip + 8:ip + 24]), bytes(header[ip + 24:ip + 40])
    if old_tcp_ok and len(new_payload) == new_full:
        struct.pack_into("!H", header, tcp + 16, 0)
        struct.pack_into("!H", header, tcp + 16, _tcp_sum(src, dst, bytes(header[tcp:]) + new_payload))
    out = bytes(header) + new_payload + (trailer if complete else b"")
    return out, orig_len + delta


def _sack(header: bytearray, tcp: int, peer) -> None:
    """Map SACK blocks (TCP option 5, RFC 2018), which name the peer's sequence numbers."""
    end = tcp + (header[tcp + 12] >> 4) * 4
    pos = tcp + 20
    while pos < end:
        kind = header[pos]
        if kind == 0:
            break
        if kind == 1:
            pos += 1
            continue
        if pos + 1 >= end:
            break
        size = header[pos + 1]
        if size < 2:
            break
        if kind == 5:
            for b in range(pos + 2, pos + size - 7, 8):
                for at in (b, b + 4):
                    v = struct.unpack_from("!I", header, at)[0]
                    o = ((v - peer.base + _HALF) & _M) - _HALF
                    struct.pack_into("!I", header, at, (peer.base + peer.map(o)) & _M)
        pos += size


def _remap_other_ip(linktype: int, buf: bytearray, amap: AddressMap) -> None:
    """Addresses of non-TCP IP packets (UDP, ICMP…): header fields only, checksums fixed where simple."""
    ip = _ip_offset(linktype, buf)
    if ip < 0 or ip >= len(buf):
        return
    try:
        if buf[ip] >> 4 == 4:
            ihl = (buf[ip] & 0x0F) * 4
            ok = checksum(buf[ip:ip + ihl]) == 0
            buf[ip + 12:ip + 16] = amap.ip(buf[ip + 12:ip + 16])
            buf[ip + 16:ip + 20] = amap.ip(buf[ip + 16:ip + 20])
            if ok:
                struct.pack_into("!H", buf, ip + 10, 0)
                struct.pack_into("!H", buf, ip + 10, checksum(buf[ip:ip + ihl]))
        elif buf[ip] >> 4 == 6:
            buf[ip + 8:ip + 24] = amap.ip(buf[ip + 8:ip + 24])
            buf[ip + 24:ip + 40] = amap.ip(buf[ip + 24:ip + 40])
    except (IndexError, struct.error):
        pass
