"""Captures from any sensor open (issue 13 item 4): link layers and encapsulations the fast path
does not know are decoded with dpkt (``dicomsniff/capture/encap.py``).

Each test wraps the IP packets of the real ``captures/echo.pcap`` (DCMTK echoscu → storescp,
port 104) in one encapsulation, as a sensor would deliver them, and checks that the same PDUs
and messages decode as from the original, at the same frames, that the TCP payload offsets
point at the same bytes, and that tshark agrees the file is well formed (it finds the PDUs).
"""

from __future__ import annotations

import ipaddress
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from capwriter import ETHERNET, SLL, frame, pcap_bytes
from dicomsniff.capture import open_capture
from dicomsniff.capture.encap import innermost_ip
from dicomsniff.capture.frame import Frame
from dicomsniff.capture.packet import decode_tcp
from dicomsniff.output.dump import write_dump
from dicomsniff.pipeline import Analyzer
from dicomsniff.reading import read_events

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
ECHO = CAPTURES / "echo.pcap"
MAC_A, MAC_B = bytes.fromhex("0200000000aa"), bytes.fromhex("0200000000bb")


def echo_packets() -> list[tuple[int, bytes]]:
    """(ts_ns, IP packet) of every frame of echo.pcap (Ethernet)."""
    out = []
    for fr in open_capture(ECHO):
        assert fr.linktype == ETHERNET
        out.append((fr.ts_ns, bytes(fr.data[14:])))
    return out


def eth(etype: int, payload: bytes) -> bytes:
    return MAC_B + MAC_A + struct.pack(">H", etype) + payload


def ipv4(proto: int, payload: bytes, src: str = "192.0.2.1", dst: str = "192.0.2.2") -> bytes:
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 7, 0, 64, proto, 0,
                       ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed) + payload


def ipv6(nh: int, payload: bytes) -> bytes:
    return struct.pack(">IHBB16s16s", 6 << 28, len(payload), nh, 64, ipaddress.ip_address("2001:db8::1").packed,
                       ipaddress.ip_address("2001:db8::2").packed) + payload


def udp(dport: int, payload: bytes, sport: int = 49152) -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def ip_eth(ip: bytes) -> bytes:
    return eth(0x0800 if ip[0] >> 4 == 4 else 0x86DD, ip)


# -- the encapsulations: name -> (linktype, wrap(ip packet) -> frame bytes) ----------------------

def ppp(ip):            # LINKTYPE_PPP with RFC 1662 address/control
    return b"\xff\x03\x00\x21" + ip


def ppp_bare(ip):       # LINKTYPE_PPP without address/control (RFC 1661 framing)
    return b"\x00\x21" + ip


def pppoe(ip):
    body = b"\x00\x21" + ip
    return eth(0x8864, struct.pack(">BBHH", 0x11, 0, 0x1234, len(body)) + body)


SNAP_IP = b"\xaa\xaa\x03\x00\x00\x00\x08\x00"


def wlan(ip, *, qos=False):
    """An 802.11 data frame to the AP (To DS), LLC/SNAP, optionally QoS data."""
    fc = bytes([0x88 if qos else 0x08, 0x01])
    hdr = fc + b"\x00\x00" + MAC_B + MAC_A + MAC_B + b"\x10\x00"
    if qos:
        hdr += b"\x00\x00"
    return hdr + SNAP_IP + ip


def radiotap(ip):
    return struct.pack("<BBHI", 0, 0, 8, 0) + wlan(ip, qos=True)


def radiotap_fcs(ip):
    """Radiotap with the Flags field saying the 802.11 frame ends with its FCS (4 bytes)."""
    return struct.pack("<BBHIB", 0, 0, 9, 0x2, 0x10) + wlan(ip) + b"\xde\xad\xbe\xef"


def mpls(ip):
    labels = struct.pack(">II", (100 << 12) | 64, (200 << 12) | 0x100 | 64)
    return eth(0x8847, labels + ip)


def mpls_pseudowire(ip):
    """Ethernet over MPLS (RFC 4448) with the control word."""
    return eth(0x8847, struct.pack(">I", (300 << 12) | 0x100 | 64) + b"\x00\x00\x00\x00" + ip_eth(ip))


def gre(ip):
    return ip_eth(ipv4(47, struct.pack(">HH", 0, 0x0800) + ip))


def gre_key_seq(ip):
    return ip_eth(ipv4(47, struct.pack(">HHII", 0x3000, 0x0800, 42, 7) + ip))


def gre_teb(ip):
    return ip_eth(ipv4(47, struct.pack(">HH", 0, 0x6558) + ip_eth(ip)))


def erspan2(ip):
    """ERSPAN type II: GRE with sequence number, protocol 0x88BE, 8-byte ERSPAN header."""
    hdr = struct.pack(">HHI", 0x1000, 0x88BE, 5) + struct.pack(">HHI", 0x1000 | 10, 0, 0)
    return ip_eth(ipv4(47, hdr + ip_eth(ip)))


def erspan3(ip):
    """ERSPAN type III (protocol 0x22EB) with the optional platform-specific subheader."""
    hdr = struct.pack(">HHI", 0x1000, 0x22EB, 5)
    er = struct.pack(">HHII", 0x2000 | 10, 0, 0x12345678, 0x00000001) + b"\x00" * 8
    return ip_eth(ipv4(47, hdr + er + ip_eth(ip)))


def vxlan(ip):
    """VXLAN (UDP 4789), as AWS VPC Traffic Mirroring delivers it."""
    return ip_eth(ipv4(17, udp(4789, struct.pack(">II", 0x08000000, 0x123456 << 8) + ip_eth(ip))))


def vxlan_v6(ip):
    return ip_eth(ipv6(17, udp(4789, struct.pack(">II", 0x08000000, 77 << 8) + ip_eth(ip))))


def vxlan_vlan(ip):
    """VXLAN whose inner frame carries a VLAN tag."""
    inner = MAC_B + MAC_A + struct.pack(">HHH", 0x8100, 20, 0x0800) + ip
    return ip_eth(ipv4(17, udp(4789, struct.pack(">II", 0x08000000, 5 << 8) + inner)))


def geneve(ip):
    return ip_eth(ipv4(17, udp(6081, struct.pack(">BBHI", 0, 0, 0x6558, 9 << 8) + ip_eth(ip))))


def ipip(ip):
    return ip_eth(ipv4(4, ip))


def qinq(ip):
    return frame(ETHERNET, ip, vlans=(100, 200))


def sll_vxlan(ip):
    """VXLAN captured with ``tcpdump -i any`` (Linux cooked)."""
    return frame(SLL, ipv4(17, udp(4789, struct.pack(">II", 0x08000000, 1 << 8) + ip_eth(ip))))


CASES = {
    "ppp": (9, ppp),
    "ppp-no-address-control": (9, ppp_bare),
    "ppp-hdlc": (50, ppp),
    "pppoe": (ETHERNET, pppoe),
    "802.11": (105, wlan),
    "802.11-radiotap": (127, radiotap),
    "802.11-radiotap-fcs": (127, radiotap_fcs),
    "mpls": (ETHERNET, mpls),
    "mpls-ethernet-pseudowire": (ETHERNET, mpls_pseudowire),
    "gre": (ETHERNET, gre),
    "gre-key-seq": (ETHERNET, gre_key_seq),
    "gre-ethernet": (ETHERNET, gre_teb),
    "erspan-ii": (ETHERNET, erspan2),
    "erspan-iii": (ETHERNET, erspan3),
    "vxlan": (ETHERNET, vxlan),
    "vxlan-ipv6": (ETHERNET, vxlan_v6),
    "vxlan-inner-vlan": (ETHERNET, vxlan_vlan),
    "geneve": (ETHERNET, geneve),
    "ip-in-ip": (ETHERNET, ipip),
    "qinq": (ETHERNET, qinq),
    "sll-vxlan": (SLL, sll_vxlan),
}


def wrapped(name: str) -> bytes:
    lt, wrap = CASES[name]
    return pcap_bytes([(ts, wrap(ip)) for ts, ip in echo_packets()], lt)


def dump_lines(source) -> list[str]:
    an = Analyzer(keep_pdus=False, decode_data=True)
    out: list[str] = []
    write_dump(read_events(source, an), out.append, verbose=True, t0=lambda: an.first_ts or 0)
    return out


def payloads(frames) -> list[bytes]:
    out = []
    for fr in frames:
        seg = decode_tcp(fr)
        out.append(b"" if seg is None else bytes(fr.data[seg.payload_offset:seg.payload_offset + len(seg.payload)]))
    return out


@pytest.fixture(scope="module")
def original() -> list[str]:
    lines = dump_lines(ECHO)
    assert any("C-ECHO-RSP ID=1 Success" in line for line in lines)
    return lines


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_pdus_and_messages_as_the_original(name, original):
    assert dump_lines(wrapped(name)) == original


@pytest.mark.parametrize("name", sorted(CASES))
def test_payload_offsets_point_at_the_same_bytes(name):
    """Spans (hex pane, export) rest on payload_offset in the frame's own bytes."""
    assert payloads(open_capture(wrapped(name))) == payloads(open_capture(ECHO))


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name", sorted(CASES))
def test_tshark_finds_the_same_pdus(name, tmp_path):
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(wrapped(name))
    # Wireshark takes what follows an MPLS label for a pseudowire only when told which.
    extra = ["-d", "mpls.label==300,pwethcw"] if name == "mpls-ethernet-pseudowire" else []
    out = subprocess.run(["tshark", "-r", str(path), *extra, "-d", "tcp.port==104,dicom", "-Y", "dicom",
                          "-T", "fields", "-e", "frame.number", "-e", "dicom.pdu.type"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    ref = subprocess.run(["tshark", "-r", str(ECHO), "-d", "tcp.port==104,dicom", "-Y", "dicom",
                          "-T", "fields", "-e", "frame.number", "-e", "dicom.pdu.type"],
                         capture_output=True, text=True, timeout=120)
    assert rows == [line.split("\t") for line in ref.stdout.splitlines()]
    assert len(rows) >= 6


def test_not_tcp_and_garbage_give_nothing_and_never_raise():
    ip = echo_packets()[3][1]
    udp_dns = ip_eth(ipv4(17, udp(53, b"\x00" * 20)))
    for lt, data in [(9, b""), (9, b"\xff"), (127, b"\x00\x00\xff\xff"), (105, b"\x08\x01" + b"\x00" * 5),
                     (ETHERNET, udp_dns), (ETHERNET, vxlan(ip)[:60]), (ETHERNET, erspan3(ip)[:50]),
                     (ETHERNET, gre(ip)[:37]), (147, ip), (127, radiotap(ip)[:30]),
                     (ETHERNET, eth(0x8847, b"\x00" * 3))]:
        assert decode_tcp(Frame(1, 0, lt, data, len(data))) is None


def test_tunnel_inside_tunnel():
    """VXLAN carrying GRE carrying the packet: the innermost TCP, at its own offset."""
    ts, ip = next((ts, ip) for ts, ip in echo_packets() if len(ip) > 60)
    fr = Frame(1, ts, ETHERNET, vxlan(gre(ip)[14:]), 0)
    seg = decode_tcp(fr)
    plain = decode_tcp(Frame(1, ts, 101, ip, len(ip)))
    assert seg is not None and plain is not None and len(plain.payload) > 0
    assert (seg.sport, seg.dport, seg.seq) == (plain.sport, plain.dport, plain.seq)
    assert bytes(fr.data[seg.payload_offset:seg.payload_offset + len(seg.payload)]) == bytes(plain.payload)


def test_dpkt_sees_the_inner_tcp():
    ip = echo_packets()[3][1]
    found = innermost_ip(ETHERNET, vxlan(ip))
    assert found is not None and found[1].dport == 104


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_cut_and_flipped_byte_is_safe(name):
    """Truncations and single-byte damage of a wrapped frame: a segment or None, never an exception."""
    import random
    lt, wrap = CASES[name]
    ts, ip = next((ts, ip) for ts, ip in echo_packets() if len(ip) > 60)
    good = wrap(ip)
    rng = random.Random(name)
    for cut in range(len(good)):
        decode_tcp(Frame(1, ts, lt, good[:cut], len(good)))
    for _ in range(300):
        bad = bytearray(good)
        bad[rng.randrange(min(len(bad), 120))] = rng.randrange(256)
        seg = decode_tcp(Frame(1, ts, lt, bytes(bad), len(bad)))
        if seg is not None:
            assert 0 <= seg.payload_offset <= len(bad)


def test_pcapng_with_interfaces_of_different_link_types():
    """One conversation seen through several sensors of one pcapng: 802.11 radiotap, PPP, VXLAN."""
    from capwriter import pcapng_bytes
    kinds = [(127, radiotap), (9, ppp), (ETHERNET, vxlan)]
    records = []
    for n, (ts, ip) in enumerate(echo_packets()):
        lt, wrap = kinds[n % len(kinds)]
        records.append((ts, lt, wrap(ip)))
    assert dump_lines(pcapng_bytes(records)) == dump_lines(ECHO)
