"""Slow path: link layers and encapsulations the fast path does not know, decoded with dpkt.

:func:`dicomsniff.capture.packet.decode_tcp` reads Ethernet (with VLAN tags),
SLL/SLL2, NULL/LOOP and raw IP itself, with ``struct``, because those are
nearly every capture and speed matters there. Whatever it does not recognise
comes here, so a capture from any sensor opens:

- PPP (LINKTYPE_PPP 9, with or without the RFC 1662 address/control bytes;
  LINKTYPE_PPP_HDLC 50) and PPPoE sessions over Ethernet (RFC 2516);
- IEEE 802.11 data frames, plain (LINKTYPE_IEEE802_11 105) or behind radiotap
  (127), with QoS headers and LLC/SNAP (FCS dropped when radiotap says so);
- MPLS label stacks over Ethernet (RFC 3032), with IP or an Ethernet pseudowire
  under the bottom label;
- GRE (RFC 2784/2890) carrying IP or Ethernet (transparent Ethernet bridging),
  and ERSPAN type I, II and III as delivered by port mirroring;
- VXLAN (RFC 7348, UDP 4789: AWS VPC Traffic Mirroring, Azure vTAP) and Geneve
  (RFC 8926, UDP 6081: AWS Gateway Load Balancer), each carrying Ethernet;
- IP in IP (4 and 41).

The result is the offset of the innermost IP header whose payload is TCP, in
the frame's own bytes, so the hex pane and byte spans stay exact: dpkt keeps no
byte offsets, so the header it decoded is looked up in the frame and the fast
path checks that it finds the same TCP segment there. Never raises.
"""

from __future__ import annotations

import struct

import dpkt
from dpkt.ethernet import Ethernet
from dpkt.gre import GRE
from dpkt.ieee80211 import IEEE80211
from dpkt.ip import IP
from dpkt.ip6 import IP6
from dpkt.llc import LLC
from dpkt.ppp import PPP
from dpkt.radiotap import Radiotap
from dpkt.tcp import TCP
from dpkt.udp import UDP

LINKTYPE_PPP, LINKTYPE_PPP_HDLC, LINKTYPE_IEEE802_11, LINKTYPE_IEEE802_11_RADIOTAP = 9, 50, 105, 127
LINKTYPE_PPP_ETHER = 51      # PPPoE session frames without the Ethernet header
VXLAN_PORT, VXLAN_GPE_PORT, GENEVE_PORT = 4789, 4790, 6081
GRE_ERSPAN_2, GRE_ERSPAN_3, GRE_TEB = 0x88BE, 0x22EB, 0x6558
GRE_SEQ = 0x1000
# Layers walked at most (an encapsulation inside an encapsulation inside …).
MAX_DEPTH = 12

_ERRORS = (dpkt.UnpackError, dpkt.NeedData, struct.error, IndexError, ValueError, TypeError,
           AttributeError, KeyError, OverflowError)


def _top(linktype: int, data: bytes):
    """The dpkt object of the outermost layer for ``linktype``, or None."""
    if linktype == 1:
        return Ethernet(data)
    if linktype in (LINKTYPE_PPP, LINKTYPE_PPP_HDLC):
        # LINKTYPE_PPP: the RFC 1662 address/control bytes (0xFF 0x03) may be absent; dpkt wants them.
        return PPP(data if data[:2] == b"\xff\x03" else b"\xff\x03" + data)
    if linktype == LINKTYPE_IEEE802_11_RADIOTAP:
        rt = Radiotap(data)
        fcs = bool(getattr(rt, "flags_present", 0)) and bool(getattr(getattr(rt, "flags", None), "fcs", 0))
        return _wlan(data[rt.length:], fcs)
    if linktype == LINKTYPE_IEEE802_11:
        return _wlan(data, False)
    return None


def _wlan(buf: bytes, fcs: bool):
    """An 802.11 data frame's payload (LLC/SNAP) as a dpkt object, or None."""
    w = IEEE80211(buf, fcs=fcs)
    if w.type != 2 or not isinstance(w.data, (bytes, bytearray)):
        return None
    return LLC(w.data)


def _inner_ethernet(buf: bytes):
    return Ethernet(buf) if len(buf) >= 14 else None


def _udp_tunnel(udp: UDP):
    """The Ethernet frame inside VXLAN or Geneve, or None."""
    payload = udp.data if isinstance(udp.data, (bytes, bytearray)) else bytes(udp.data)
    if VXLAN_PORT in (udp.dport, udp.sport) and len(payload) >= 8 and payload[0] & 0x08:
        return _inner_ethernet(payload[8:])
    if GENEVE_PORT in (udp.dport, udp.sport) and len(payload) >= 8 and payload[0] >> 6 == 0:
        opt_len = (payload[0] & 0x3F) * 4
        if struct.unpack_from(">H", payload, 2)[0] == GRE_TEB:
            return _inner_ethernet(payload[8 + opt_len:])
    return None


def _gre_payload(gre: GRE):
    """What a GRE packet carries when dpkt did not decode it itself: ERSPAN, or None."""
    if not isinstance(gre.data, (bytes, bytearray)):
        return gre.data
    buf = bytes(gre.data)
    if gre.p == GRE_ERSPAN_2:
        # Type I has no GRE sequence number and no ERSPAN header; type II has both (8 bytes).
        return _inner_ethernet(buf[8:] if gre.flags & GRE_SEQ else buf)
    if gre.p == GRE_ERSPAN_3 and len(buf) >= 12:
        platform = buf[11] & 0x01          # O flag: an 8-byte platform-specific subheader follows
        return _inner_ethernet(buf[12 + 8 * platform:])
    if gre.p == GRE_TEB:
        return _inner_ethernet(buf)
    return None


def _next(node):
    """The layer inside ``node`` on the way to TCP, or None."""
    if isinstance(node, (IP, IP6)):
        p = node.data
        if isinstance(p, GRE):
            return _gre_payload(p)
        if isinstance(p, UDP):
            return _udp_tunnel(p)
        if isinstance(p, (IP, IP6)):
            return p
        return None
    inner = getattr(node, "data", None)
    if isinstance(inner, (bytes, bytearray)) or inner is None:
        return None
    return inner


def innermost_ip(linktype: int, data: bytes, outer_ip: int = -1) -> tuple | None:
    """(IP or IP6, TCP) dpkt objects of the first IP header found carrying TCP, or None; never raises.

    ``outer_ip``: offset of an IP header the caller already found (a tunnel's outer header), else -1.
    """
    try:
        if outer_ip >= 0:
            node = IP(data[outer_ip:]) if data[outer_ip] >> 4 == 4 else IP6(data[outer_ip:])
        else:
            node = _top(linktype, data)
        for _ in range(MAX_DEPTH):
            if node is None:
                return None
            if isinstance(node, (IP, IP6)) and isinstance(node.data, TCP):
                return node, node.data
            node = _next(node)
    except _ERRORS:
        return None
    except Exception:       # dpkt raises what it likes on hostile bytes; this layer never does
        return None
    return None


def ip_offset(linktype: int, data: bytes, check, outer_ip: int = -1) -> int:
    """Offset in ``data`` of the innermost IP header carrying TCP, or -1.

    ``check(offset, tcp)`` says whether the fast path reads the same TCP segment
    (ports and sequence number) as dpkt at that offset: the frame is searched
    from its end for the IP header dpkt decoded, and the first that checks wins.
    """
    found = innermost_ip(linktype, data, outer_ip)
    if found is None:
        return -1
    ip, tcp = found
    try:
        head = ip.pack_hdr()
    except Exception:
        return -1
    end = len(data)
    for _ in range(8):
        at = data.rfind(head, 0, end)
        if at < 0:
            return -1
        if check(at, tcp):
            return at
        end = at + len(head) - 1
    return -1
