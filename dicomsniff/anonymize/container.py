"""Capture files rewritten record by record in their own format (pcap or pcapng, either byte order).

Everything but the packet bytes and their two lengths is copied as it was: the file header, every
pcapng block that is not a packet (section and interface descriptions, statistics, comments and
options of packet blocks), timestamps. ``drop_names`` leaves out pcapng Name Resolution Blocks (they
map addresses to host names; ``--ips`` drops them). Packets are numbered from 1 in file order, as
:mod:`dicomsniff.capture.reader` numbers frames.
"""

from __future__ import annotations

import struct
from typing import Callable

PCAP_MAGICS = {0xA1B2C3D4: "<", 0xD4C3B2A1: ">", 0xA1B23C4D: "<", 0x4D3CB2A1: ">",
               0xA1B2CD34: "<", 0x34CDB2A1: ">"}
SHB, IDB, PB, SPB, NRB, EPB, DSB = 0x0A0D0D0A, 1, 2, 3, 4, 6, 10

# transform(number, linktype, data, orig_len) -> (data, orig_len) or None to keep the packet
Transform = Callable[[int, int, bytes, int], "tuple[bytes, int] | None"]


class ContainerError(Exception):
    pass


def _read_exact(f, n: int) -> bytes:
    b = f.read(n)
    if len(b) != n:
        raise EOFError
    return b


def rewrite_file(src, out, transform: Transform, *, drop_names: bool = False,
                 dropped: list | None = None) -> str:
    """Copy capture ``src`` (binary file) to ``out`` (writable) through ``transform``; returns the format.

    pcapng Decryption Secrets Blocks are always left out (their types are appended to ``dropped``)."""
    dropped = [] if dropped is None else dropped
    head = src.read(4)
    if len(head) < 4:
        raise ContainerError("not a pcap or pcapng file")
    (magic,) = struct.unpack("<I", head)
    if magic in PCAP_MAGICS:
        _pcap(src, out, head, PCAP_MAGICS[magic], magic in (0xA1B2CD34, 0x34CDB2A1), transform)
        return "pcap"
    if magic == SHB:
        _pcapng(src, out, head, transform, drop_names, dropped)
        return "pcapng"
    raise ContainerError("not a pcap or pcapng file")


def _pcap(src, out, head: bytes, bo: str, kuznetzov: bool, transform: Transform) -> None:
    rest = _read_exact(src, 20)
    out.write(head + rest)
    linktype = struct.unpack(bo + "I", rest[16:20])[0] & 0xFFFF
    hdr = 24 if kuznetzov else 16
    number = 0
    while True:
        rh = src.read(hdr)
        if len(rh) < hdr:
            if rh:
                out.write(rh)
            return
        sec, frac, caplen, orig = struct.unpack_from(bo + "IIII", rh, 0)
        data = src.read(caplen)
        number += 1
        if len(data) < caplen:              # a cut last record: kept cut, its bytes zeroed
            out.write(rh + bytes(len(data)))
            return
        new = transform(number, linktype, data, orig)
        if new is not None:
            data, orig = new
        out.write(struct.pack(bo + "IIII", sec, frac, len(data), orig) + rh[16:] + data)


def _pcapng(src, out, head: bytes, transform: Transform, drop_names: bool, dropped: list) -> None:
    bo = "<"
    links: list[int] = []
    number = 0
    first = head
    while True:
        start = first if first is not None else src.read(4)
        first = None
        if len(start) < 4:
            return
        rest8 = src.read(8)
        if len(rest8) < 8:
            out.write(bytes(len(start) + len(rest8)))
            return
        btype_raw = start
        if struct.unpack("<I", btype_raw)[0] == SHB:
            bom = rest8[4:8]
            bo = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        btype = struct.unpack(bo + "I", btype_raw)[0]
        total = struct.unpack(bo + "I", rest8[:4])[0]
        if total < 12 or total % 4:
            raise ContainerError(f"pcapng block of bad length {total}")
        body = rest8[4:] + src.read(total - 12)
        if len(body) < total - 8:
            out.write(bytes(8 + len(body)))          # a cut block at the end: zeroed
            return
        block = btype_raw + rest8[:4] + body          # whole block
        if btype == IDB:
            links.append(struct.unpack_from(bo + "H", block, 8)[0])
        if btype == NRB and drop_names:
            continue
        if btype == DSB:                              # TLS keys: they would decrypt what is kept encrypted
            dropped.append(btype)
            continue
        if btype == EPB:
            iface, th, tl, caplen, orig = struct.unpack_from(bo + "IIIII", block, 8)
            data = block[28:28 + caplen]
            opts = block[28 + ((caplen + 3) & ~3):total - 4]
            number += 1
            new = transform(number, links[iface] if iface < len(links) else 1, data, orig)
            if new is not None:
                data, orig = new
                padded = data + bytes(-len(data) % 4)
                size = 28 + len(padded) + len(opts) + 4
                block = (struct.pack(bo + "IIIIIII", EPB, size, iface, th, tl, len(data), orig)
                         + padded + opts + struct.pack(bo + "I", size))
        elif btype == SPB:
            (orig,) = struct.unpack_from(bo + "I", block, 8)
            caplen = min(orig, total - 16)
            data = block[12:12 + caplen]
            number += 1
            new = transform(number, links[0] if links else 1, data, orig)
            if new is not None:
                data, orig = new
                padded = data + bytes(-len(data) % 4)
                size = 16 + len(padded)
                block = struct.pack(bo + "III", SPB, size, orig) + padded + struct.pack(bo + "I", size)
        elif btype == PB:
            iface, drops, th, tl, caplen, orig = struct.unpack_from(bo + "HHIIII", block, 8)
            data = block[28:28 + caplen]
            opts = block[28 + ((caplen + 3) & ~3):total - 4]
            number += 1
            new = transform(number, links[iface] if iface < len(links) else 1, data, orig)
            if new is not None:
                data, orig = new
                padded = data + bytes(-len(data) % 4)
                size = 28 + len(padded) + len(opts) + 4
                block = (struct.pack(bo + "II", PB, size) + struct.pack(bo + "HHIIII", iface, drops, th, tl,
                                                                         len(data), orig)
                         + padded + opts + struct.pack(bo + "I", size))
        out.write(block)
