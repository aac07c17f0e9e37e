"""decode_tcp: link layers, VLANs, IPv4/IPv6 (extension headers, fragments), TCP, truncation."""

from __future__ import annotations

import random

import pytest

from capwriter import (ACK, ETHERNET, IPV4, IPV6, LOOP, NULL, PSH, RAW, SLL, SLL2, SYN,
                       frame, tcp_packet)
from dicomsniff.capture.frame import Frame
from dicomsniff.capture.packet import decode_tcp, link_name
from dicomsniff.notice import Notice

PAYLOAD = bytes(range(1, 40))
V4 = ("192.168.1.10", "10.20.30.40")
V6 = ("2001:db8::1", "fe80::abcd:2")


def mk(link: int, pkt: bytes, *, orig_len: int | None = None, cut: int | None = None,
       **kw) -> Frame:
    data = frame(link, pkt, **kw)
    full = len(data)
    if cut is not None:
        data = data[:cut]
    return Frame(7, 123_000_000_001, link, data, orig_len or full, 0, 0)


def check(seg, frm: Frame, src: bytes, dst: bytes, payload: bytes = PAYLOAD) -> None:
    assert seg is not None
    assert (seg.src_ip, seg.dst_ip) == (src, dst)
    assert (seg.sport, seg.dport, seg.seq, seg.ack, seg.flags) == (40001, 104, 1000, 2000, PSH | ACK)
    assert bytes(seg.payload) == payload
    assert frm.data[seg.payload_offset:seg.payload_offset + len(payload)] == payload
    assert (seg.frame, seg.ts_ns) == (7, 123_000_000_001)
    assert seg.truncated is False


def packed(text: str) -> bytes:
    import ipaddress
    return ipaddress.ip_address(text).packed


@pytest.mark.parametrize("link", [ETHERNET, SLL, SLL2, NULL, LOOP, RAW, 12, 14, IPV4])
def test_ipv4_every_link_type(link):
    f = mk(link, tcp_packet(*V4, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD))
    check(decode_tcp(f), f, packed(V4[0]), packed(V4[1]))


@pytest.mark.parametrize("link", [ETHERNET, SLL, SLL2, NULL, LOOP, RAW, IPV6])
def test_ipv6_every_link_type(link):
    f = mk(link, tcp_packet(*V6, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD))
    check(decode_tcp(f), f, packed(V6[0]), packed(V6[1]))


@pytest.mark.parametrize("v6", [False, True])
def test_null_big_endian_family(v6):
    addrs = V6 if v6 else V4
    f = mk(NULL, tcp_packet(*addrs, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD), big_endian=True)
    assert f.data[:4] == (b"\x00\x00\x00\x1e" if v6 else b"\x00\x00\x00\x02")
    check(decode_tcp(f), f, packed(addrs[0]), packed(addrs[1]))


@pytest.mark.parametrize("family", [24, 28, 30])
def test_null_all_bsd_inet6_values(family):
    pkt = tcp_packet(*V6, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD)
    f = Frame(7, 123_000_000_001, NULL, family.to_bytes(4, "little") + pkt, 4 + len(pkt))
    check(decode_tcp(f), f, packed(V6[0]), packed(V6[1]))


def test_raw_ipv4_link_rejects_ipv6_and_vice_versa():
    v6 = tcp_packet(*V6, 1, 2, payload=b"x")
    v4 = tcp_packet(*V4, 1, 2, payload=b"x")
    assert decode_tcp(Frame(1, 0, IPV4, v6, len(v6))) is None
    assert decode_tcp(Frame(1, 0, IPV6, v4, len(v4))) is None


@pytest.mark.parametrize("vlans", [(100,), (100, 200), (1, 2, 3)])
def test_vlan_tags_stacked(vlans):
    f = mk(ETHERNET, tcp_packet(*V4, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD), vlans=vlans)
    seg = decode_tcp(f)
    check(seg, f, packed(V4[0]), packed(V4[1]))
    assert seg.payload_offset == 14 + 4 * len(vlans) + 20 + 20


def test_ethernet_padding_stripped():
    f = mk(ETHERNET, tcp_packet(*V4, 40001, 104, 1000, 2000, PSH | ACK, b"ab"))
    assert len(f.data) == 60            # 14 + 20 + 20 + 2 = 56, padded to 60
    seg = decode_tcp(f)
    assert bytes(seg.payload) == b"ab"
    bare = mk(ETHERNET, tcp_packet(*V4, 40001, 104, 1000, 2000, ACK))
    assert bytes(decode_tcp(bare).payload) == b""


def test_ipv4_options_and_tcp_options_honoured():
    pkt = bytearray(tcp_packet(*V4, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD,
                               options=b"\x02\x04\x05\xb4\x01\x01\x08\x0a" + b"\x00" * 8))
    # Grow the IPv4 header to IHL=6 with one NOP-padded option word.
    pkt = bytes([0x46]) + pkt[1:2] + (len(pkt) + 4).to_bytes(2, "big") + pkt[4:20] + \
        b"\x01\x01\x01\x00" + pkt[20:]
    f = mk(ETHERNET, pkt)
    seg = decode_tcp(f)
    check(seg, f, packed(V4[0]), packed(V4[1]))
    assert seg.payload_offset == 14 + 24 + 36


def test_ipv6_extension_headers_walked():
    pkt = tcp_packet(*V6, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD, ipv6_ext=(0, 43, 60))
    f = mk(ETHERNET, pkt)
    seg = decode_tcp(f)
    check(seg, f, packed(V6[0]), packed(V6[1]))
    assert seg.payload_offset == 14 + 40 + 24 + 20


def test_ipv6_fragments():
    notes: list[Notice] = []
    first = mk(RAW, tcp_packet(*V6, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD,
                               ipv6_ext=(0, 44), more_fragments=True))
    seg = decode_tcp(first, notes)
    assert seg is not None and seg.truncated and bytes(seg.payload) == PAYLOAD
    later = mk(RAW, tcp_packet(*V6, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD,
                               ipv6_ext=(44,), frag_offset=1480))
    assert decode_tcp(later, notes) is None
    assert [n.finding.code for n in notes] == ["ip-fragment", "ip-fragment"]
    assert "not reassembled" in notes[0].message and notes[1].frame == 7


def test_ipv4_fragments():
    notes: list[Notice] = []
    first = mk(ETHERNET, tcp_packet(*V4, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD,
                                    more_fragments=True))
    seg = decode_tcp(first, notes)
    assert seg.truncated and seg.sport == 40001
    later = mk(ETHERNET, tcp_packet(*V4, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD,
                                    frag_offset=64))
    assert decode_tcp(later, notes) is None
    assert len(notes) == 2 and "offset 64" in notes[1].message
    assert decode_tcp(later) is None    # no notices list: still fine


def test_snaplen_cut_payload_flagged():
    pkt = tcp_packet(*V4, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD)
    f = mk(ETHERNET, pkt, cut=14 + 40 + 10)
    seg = decode_tcp(f)
    assert seg.truncated and bytes(seg.payload) == PAYLOAD[:10]
    whole = mk(ETHERNET, pkt)
    assert decode_tcp(whole).truncated is False


def test_cut_inside_tcp_header_is_none():
    pkt = tcp_packet(*V4, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD)
    assert decode_tcp(mk(ETHERNET, pkt, cut=14 + 20 + 12)) is None
    opts = tcp_packet(*V4, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD, options=b"\x01" * 12)
    assert decode_tcp(mk(ETHERNET, opts, cut=14 + 20 + 24)) is None


def test_tso_zero_total_length_uses_capture():
    pkt = bytearray(tcp_packet(*V4, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD))
    pkt[2:4] = b"\x00\x00"
    f = mk(ETHERNET, bytes(pkt), pad=False)
    seg = decode_tcp(f)
    assert bytes(seg.payload) == PAYLOAD and not seg.truncated
    cut = Frame(1, 0, ETHERNET, f.data[:-5], len(f.data))
    assert decode_tcp(cut).truncated


def test_non_tcp_and_unknown_are_none():
    udp = bytearray(tcp_packet(*V4, 1, 2, payload=b"xx"))
    udp[9] = 17
    assert decode_tcp(mk(ETHERNET, bytes(udp))) is None
    arp = bytes(12) + b"\x08\x06" + bytes(28)
    assert decode_tcp(Frame(1, 0, ETHERNET, arp, len(arp))) is None
    tcp = tcp_packet(*V4, 1, 2, payload=b"xx")
    assert decode_tcp(Frame(1, 0, 147, tcp, len(tcp))) is None
    assert decode_tcp(Frame(1, 0, NULL, b"\x07\x00\x00\x00" + tcp, 4 + len(tcp))) is None
    v6_no_next = bytearray(tcp_packet(*V6, 1, 2, payload=b"xx"))
    v6_no_next[6] = 59
    assert decode_tcp(mk(RAW, bytes(v6_no_next))) is None


def test_bad_header_lengths_are_none():
    pkt = bytearray(tcp_packet(*V4, 40001, 104, 1000, 2000, PSH | ACK, PAYLOAD))
    bad_ihl = bytes([0x43]) + pkt[1:]
    assert decode_tcp(mk(RAW, bad_ihl)) is None
    bad_doff = bytearray(pkt)
    bad_doff[32] = 0x20                  # TCP data offset 2 words < 5
    assert decode_tcp(mk(RAW, bytes(bad_doff))) is None
    huge_doff = bytearray(tcp_packet(*V4, 1, 2, SYN))
    huge_doff[32] = 0xF0                 # 60-byte header in a 20-byte segment
    assert decode_tcp(mk(RAW, bytes(huge_doff))) is None


def test_every_prefix_and_random_bytes_never_raise():
    rng = random.Random(7)
    samples = [frame(ETHERNET, tcp_packet(*V6, 1, 2, payload=b"abc", ipv6_ext=(0, 44, 60)),
                     vlans=(3, 4)),
               frame(SLL2, tcp_packet(*V4, 1, 2, payload=b"abc")),
               frame(NULL, tcp_packet(*V6, 1, 2, payload=b"abc"))]
    for link, data in zip((ETHERNET, SLL2, NULL), samples):
        for n in range(len(data) + 1):
            decode_tcp(Frame(1, 0, link, data[:n], len(data)))
        for _ in range(300):
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 6)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            decode_tcp(Frame(1, 0, link, bytes(mutated), len(mutated)))
    for _ in range(500):
        junk = rng.randbytes(rng.randrange(80))
        for link in (0, 1, 12, 101, 108, 113, 228, 229, 276):
            decode_tcp(Frame(1, 0, link, junk, len(junk)))


def test_link_name():
    assert link_name(1) == "Ethernet"
    assert link_name(276) == "Linux cooked capture v2 (SLL2)"
    assert link_name(0) == "BSD loopback (NULL)"
    assert link_name(9999) == "Unknown (9999)"


def test_fast_path_link_types_never_reach_dpkt():
    """Ethernet/SLL/NULL/raw IP stay on the struct fast path: the dpkt slow path is not even imported."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    code = ("import sys, glob\n"
            "from dicomsniff.capture import open_capture\n"
            "from dicomsniff.capture.packet import decode_tcp\n"
            "n = sum(decode_tcp(f) is not None for p in sorted(glob.glob('captures/*.pcap')) for f in open_capture(p))\n"
            "assert n > 1000, n\n"
            "assert 'dicomsniff.capture.encap' not in sys.modules and 'dpkt' not in sys.modules, sorted(sys.modules)\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr


def test_tunnel_protocols_go_to_the_slow_path_and_others_do_not():
    from dicomsniff.capture import packet
    ip = tcp_packet(*V4, 40000, 104, payload=PAYLOAD)
    udp_dns = bytes.fromhex("4500001c00000000401100000a0000010a000002") + bytes.fromhex("c000003500080000")
    assert decode_tcp(Frame(1, 0, RAW, udp_dns, len(udp_dns))) is None
    outer = bytes([0x45, 0, 0, 20 + 4 + len(ip), 0, 0, 0, 0, 64, 47, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2])
    gre = outer + bytes.fromhex("00000800") + ip     # IPv4 / GRE (protocol 0x0800) / the packet
    seg = decode_tcp(Frame(1, 0, RAW, gre, len(gre)))
    assert seg is not None and seg.dport == 104 and bytes(seg.payload) == PAYLOAD
    assert packet._tunnel(udp_dns, 20, 17) is None
