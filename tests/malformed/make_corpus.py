"""Generate the malformed-capture corpus in this directory (deterministic; each committed file < 20 KB).

    python tests/malformed/make_corpus.py            # (re)write the committed corpus
    python tests/malformed/make_corpus.py --big DIR  # also the big ones (10,000 contexts, 100,000 PDVs)

Shapes follow Wireshark's DICOM dissector CVEs and fuzz findings (CVE-2011-1957 item
loops, CVE-2016-5353/CVE-2017-9349 length overflows and endless loops, CVE-2018-16057
PDV lengths): zero-length items and tags that could loop, lengths that overflow offsets,
truncated files, deep nesting, absurd counts, hostile text. README.md has one line per file.
The builders are importable by tests (``conversation_pcap``, ``command_set``, ...).
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import capwriter as cw  # noqa: E402
import pdu_fixtures as P  # noqa: E402

CLIENT, SERVER = ("10.1.0.1", 50000), ("10.1.0.2", 104)
T0 = 1_700_000_000 * cw.NS
SEG = 16000          # payload bytes per TCP segment for long PDUs
VERIFICATION, CT = P.VERIFICATION, P.CT_STORAGE
IMPLICIT, EXPLICIT, DEFLATED = P.IMPLICIT_LE, P.EXPLICIT_LE, P.DEFLATED_LE


# -- builders ---------------------------------------------------------------------------------------


def conversation_pcap(pdus: list[tuple[int, bytes]], *, fin: bool = True, handshake: bool = True,
                      seg: int = SEG) -> bytes:
    """A pcap of one TCP connection: ``pdus`` are (direction 0 = client / 1 = server, bytes)."""
    ends = [(CLIENT, SERVER), (SERVER, CLIENT)]
    isn = [1000, 5000]
    sent = [0, 0]
    frames: list[bytes] = []

    def pkt(d: int, flags: int, payload: bytes = b"", seq: int | None = None):
        (sip, sp), (dip, dp) = ends[d]
        s = isn[d] + 1 + sent[d] if seq is None else seq
        ack = isn[1 - d] + 1 + sent[1 - d] if flags & cw.ACK else 0
        frames.append(cw.frame(cw.ETHERNET, cw.tcp_packet(sip, dip, sp, dp, seq=s, ack=ack, flags=flags,
                                                          payload=payload)))
        sent[d] += len(payload)

    if handshake:
        pkt(0, cw.SYN, seq=isn[0])
        pkt(1, cw.SYN | cw.ACK, seq=isn[1])
        pkt(0, cw.ACK)
    for d, data in pdus:
        for i in range(0, max(len(data), 1), seg):
            pkt(d, cw.PSH | cw.ACK, data[i:i + seg])
    if fin:
        pkt(0, cw.FIN | cw.ACK)
        sent[0] += 1
        pkt(1, cw.FIN | cw.ACK)
        sent[1] += 1
        pkt(0, cw.ACK)
    return cw.pcap_bytes([(T0 + i * 1000, f) for i, f in enumerate(frames)])


def element(group: int, elem: int, value: bytes, *, length: int | None = None) -> bytes:
    """Implicit VR little endian element; ``length`` overrides the true length."""
    return struct.pack("<HHI", group, elem, len(value) if length is None else length) + value


def _pad(b: bytes, pad: bytes = b"\x00") -> bytes:
    return b + pad if len(b) % 2 else b


def command_set(command: int, message_id: int = 1, *, sop_class: str = VERIFICATION, responds_to: int | None = None,
                status: int | None = None, has_data: bool = False, extra: bytes = b"",
                instance: str | None = None) -> bytes:
    """A command set (implicit VR LE, PS3.7 §E) with a correct group length."""
    body = element(0, 0x0002, _pad(sop_class.encode()))
    body += element(0, 0x0100, struct.pack("<H", command))
    if responds_to is None:
        body += element(0, 0x0110, struct.pack("<H", message_id))
    else:
        body += element(0, 0x0120, struct.pack("<H", responds_to))
    if command == 0x0001:
        body += element(0, 0x0700, struct.pack("<H", 0))
    body += element(0, 0x0800, struct.pack("<H", 0x0000 if has_data else 0x0101))
    if status is not None:
        body += element(0, 0x0900, struct.pack("<H", status))
    if instance is not None:
        body += element(0, 0x1000, _pad(instance.encode()))
    body += extra
    return element(0, 0x0000, struct.pack("<I", len(body))) + body


def assoc(calling="SCU", called="SCP", contexts=((1, VERIFICATION, [IMPLICIT]),), results=((1, 0, IMPLICIT),)):
    return [(0, P.assoc_rq(calling, called, list(contexts))), (1, P.assoc_ac(calling, called, list(results)))]


def release():
    return [(0, P.release_rq()), (1, P.release_rp())]


def echo(ctx: int = 1) -> list[tuple[int, bytes]]:
    return [(0, P.pdata([(ctx, P.COMMAND | P.LAST, command_set(0x0030))])),
            (1, P.pdata([(ctx, P.COMMAND | P.LAST, command_set(0x8030, responds_to=1, status=0))]))]


def store_rq(data: bytes, ctx: int = 1, *, instance: str = "1.2.3.4", sop: str = CT) -> list[tuple[int, bytes]]:
    return [(0, P.pdata([(ctx, P.COMMAND | P.LAST, command_set(0x0001, sop_class=sop, has_data=True,
                                                               extra=element(0, 0x1000, _pad(instance.encode()))))])),
            (0, P.pdata([(ctx, P.LAST, data)])),
            (1, P.pdata([(ctx, P.COMMAND | P.LAST, command_set(0x8001, sop_class=sop, responds_to=1, status=0))]))]


def store_session(data: bytes, ts: str = IMPLICIT, **kw) -> bytes:
    return conversation_pcap(assoc(contexts=((1, CT, [ts]),), results=((1, 0, ts),))
                             + store_rq(data, **kw) + release())


def nested_sequences(levels: int) -> bytes:
    """``levels`` nested sequences of defined length (implicit LE), innermost holding PatientID."""
    inner = element(0x0010, 0x0020, b"DEEP")
    for _ in range(levels):
        item = struct.pack("<HHI", 0xFFFE, 0xE000, len(inner)) + inner
        inner = element(0x0008, 0x1115, item)   # ReferencedSeriesSequence
    return inner


# -- the corpus --------------------------------------------------------------------------------------

ANSI_AE = "\x1b[31mRED\x1b[0m"
MARKUP_AE = "[bold red]X[/]"


def corpus() -> dict[str, tuple[bytes, str]]:
    """name -> (file bytes, README line)."""
    c: dict[str, tuple[bytes, str]] = {}

    def add(name, data, why):
        c[name] = (data, why)

    ok = assoc()
    # --- length overflows -------------------------------------------------------------------
    add("pdu_len_ffffffff.pcap", conversation_pcap(ok + [(0, struct.pack(">BBI", 4, 0, 0xFFFFFFFF) + b"\x00" * 64)]),
        "P-DATA-TF whose PDU length is 0xFFFFFFFF (4 GiB) after a good association: bounded buffer, incomplete PDU")
    add("pdu_len_ffffffff_rq.pcap", conversation_pcap([(0, struct.pack(">BBI", 1, 0, 0xFFFFFFFF) + bytes(200))]),
        "A-ASSOCIATE-RQ claiming 0xFFFFFFFF bytes")
    add("pdu_len_short_rq.pcap", conversation_pcap([(0, P.pdu(1, bytes(10))), (1, P.abort(2, 2))]),
        "A-ASSOCIATE-RQ of 10 bytes: shorter than its fixed fields (68 bytes)")
    rq = P.assoc_rq("SCU", "SCP")
    add("item_len_ffff.pcap",
        conversation_pcap([(0, P._assoc(1, "SCU", "SCP", P.app_context() + P.item(0x20, bytes(8), length=0xFFFF)
                                        + P.user_info(), 1))]),
        "presentation context item claiming 0xFFFF bytes (past the PDU end)")
    add("subitem_len_ffff.pcap",
        conversation_pcap([(0, P._assoc(1, "SCU", "SCP", P.app_context() + P.item(0x50, P.item(0x51, b"\0\0@\0",
                                                                                              length=0xFFFF)), 1))]),
        "user information sub-item (max length) claiming 0xFFFF bytes")
    add("pdv_len_ffffffff.pcap", conversation_pcap(ok + [(0, P.pdu(4, P.pdv(1, 3, command_set(0x30), length=0xFFFFFFFF)))]
                                                   + release()),
        "PDV length 0xFFFFFFFF inside a small P-DATA-TF")
    add("pdv_len_small.pcap", conversation_pcap(ok + [(0, P.pdu(4, P.pdv(1, 3, b"", length=0) + P.pdv(1, 3, b"", length=1)
                                                               + P.pdv(1, 3, b"")))] + release()),
        "PDVs of length 0, 1 and 2 (no room for context id and flags, empty value)")
    add("cmd_elem_len_ffffffff.pcap",
        conversation_pcap(ok + [(0, P.pdata([(1, 3, command_set(0x30)[:12] + element(0, 0x0100, b"\x30\x00",
                                                                                    length=0xFFFFFFFF))]))] + release()),
        "command set element with length 0xFFFFFFFF")
    add("cmd_group_len_huge.pcap",
        conversation_pcap(ok + [(0, P.pdata([(1, 3, element(0, 0, struct.pack("<I", 0xFFFFFFF0))
                                                + command_set(0x30)[12:])]))] + release()),
        "command group length 0xFFFFFFF0")
    add("data_elem_len_ffffffff.pcap",
        store_session(element(0x0008, 0x0016, _pad(CT.encode())) + element(0x0010, 0x0010, b"AB", length=0xFFFFFFFF)
                      + bytes(32)),
        "C-STORE data set with a non-SQ element of undefined length 0xFFFFFFFF")
    add("data_elem_len_overflow_explicit.pcap",
        store_session(b"\x10\x00\x10\x00PN\xff\xff" + b"A" * 16 + b"\xe0\x7f\x10\x00OW\x00\x00\xf0\xff\xff\xff"
                      + bytes(16), EXPLICIT),
        "explicit VR LE data set: 16-bit length 0xFFFF past the end, then Pixel Data claiming 0xFFFFFFF0 bytes")
    # --- zero lengths, loops --------------------------------------------------------------------
    add("items_zero_len.pcap",
        conversation_pcap([(0, P._assoc(1, "SCU", "SCP", P.item(0x10, b"") + P.item(0x20, b"") * 300
                                        + P.item(0x50, P.item(0x51, b"") * 300), 1)),
                           (1, P.assoc_rj(1, 1, 1))]),
        "A-ASSOCIATE-RQ of 600 zero-length items and sub-items (loop shapes), then a reject")
    add("data_zero_len_items_loop.pcap",
        store_session(struct.pack("<HHI", 0x0008, 0x1115, 0xFFFFFFFF)
                      + struct.pack("<HHI", 0xFFFE, 0xE000, 0) * 500 + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)),
        "undefined-length sequence of 500 zero-length items (tags that do not advance)")
    add("data_delimiters_only.pcap",
        store_session(struct.pack("<HHI", 0xFFFE, 0xE00D, 0) * 300 + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0) * 300),
        "data set made of 600 stray item/sequence delimiters")
    add("unknown_pdu_types.pcap",
        conversation_pcap(ok + [(0, P.pdu(0x5A, b"hello")), (0, P.pdu(0x00, b"")), (1, P.pdu(0xFF, bytes(3)))]
                          + echo() + release()),
        "PDU types 0x5A, 0x00, 0xFF between good PDUs (Unknown, framing continues)")
    add("garbage_after_rq.pcap",
        conversation_pcap([(0, rq + bytes(range(256)) * 8)] + [(1, P.abort(2, 0))]),
        "2 KB of non-PDU bytes after the A-ASSOCIATE-RQ (resynchronisation)")
    # --- deep nesting, counts -------------------------------------------------------------------
    add("nested_sq_1000.pcap", store_session(nested_sequences(1000)),
        "C-STORE data set with 1000 nested sequences (defined lengths)")
    add("nested_sq_undefined_600.pcap",
        store_session(b"".join(struct.pack("<HHIHHI", 0x0008, 0x1115, 0xFFFFFFFF, 0xFFFE, 0xE000, 0xFFFFFFFF)
                               for _ in range(600))),
        "600 nested undefined-length sequences never closed (delimiters missing)")
    many = [(1 + 2 * (i % 128), VERIFICATION, [IMPLICIT]) for i in range(300)]
    add("contexts_300.pcap", conversation_pcap([(0, P.assoc_rq("SCU", "SCP", many))]),
        "A-ASSOCIATE-RQ with 300 presentation contexts (ids repeat); the 10,000 case is generated (--big)")
    add("pdvs_2000.pcap", conversation_pcap(ok + [(0, P.pdata([(1, 0, b"")] * 2000))] + release()),
        "P-DATA-TF of 2000 PDVs of 2 bytes (no value); the 100,000 case is generated (--big)")
    # --- hostile text ---------------------------------------------------------------------------
    find_id = (element(0x0008, 0x0052, b"PATIENT ") + element(0x0010, 0x0010, _pad(f"{ANSI_AE}^{MARKUP_AE}".encode()))
               + element(0x0010, 0x0020, _pad(b"\x1b]0;pwned\x07[link=file:///etc]x[/link]")))
    find = [(0, P.pdata([(1, 3, command_set(0x0020, sop_class="1.2.840.10008.5.1.4.1.2.1.1", has_data=True))])),
            (0, P.pdata([(1, 2, find_id)])),
            (1, P.pdata([(1, 3, command_set(0x8020, sop_class="1.2.840.10008.5.1.4.1.2.1.1",
                                            responds_to=1, status=0xA700))]))]
    add("ansi_markup_text.pcap",
        conversation_pcap(assoc(ANSI_AE, MARKUP_AE, ((1, "1.2.840.10008.5.1.4.1.2.1.1", [IMPLICIT]),))
                          + find + release()),
        "AE titles with an ANSI colour escape and Rich markup; C-FIND values with OSC/BEL and [link] markup")
    evil_uid = "../../../../tmp/evil/..\\x"
    add("uid_path_separators.pcap",
        store_session(element(0x0008, 0x0016, _pad(CT.encode())) + element(0x0008, 0x0018, _pad(evil_uid.encode()))
                      + element(0x0010, 0x0020, b"P1"), instance=evil_uid, sop="1.2/../../x"),
        "C-STORE whose SOP class/instance UIDs hold '/', '..' and '\\' (export-objects path traversal shape)")
    add("deflate_bomb.pcap",
        store_session(zlib.compress(b"\x10\x00\x20\x00LO\x02\x00XX" + b"\x09\x00\x00\x10OB\x00\x00"
                                    + struct.pack("<I", 8_000_000) + bytes(8_000_000), 9)[2:-4], DEFLATED),
        "deflated data set inflating to 8 MB of zeros (bounded inflation)")
    add("deflate_sequence_past_kept.pcap",
        store_session(zlib.compress(b"\x08\x00\x18\x22SQ\x00\x00" + struct.pack("<I", 3_000_000)
                                    + struct.pack("<HHI", 0xFFFE, 0xE000, 2_999_992)
                                    + b"\x09\x00\x00\x10OB\x00\x00" + struct.pack("<I", 2_999_980)
                                    + bytes(2_999_980), 9)[2:-4], DEFLATED),
        "deflated data set whose 3 MB sequence runs past the 1 MiB kept for decoding (found by atheris)")
    pixel = b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff"
    add("encapsulated_fragment_overflow.pcap",
        store_session(b"\x10\x00\x20\x00LO\x02\x00P1" + pixel + struct.pack("<HHI", 0xFFFE, 0xE000, 0)
                      + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFF0) + b"\x01" * 32, P.EXPLICIT_LE),
        "encapsulated Pixel Data whose second fragment claims 0xFFF0 bytes, past the data set's end")
    add("encapsulated_no_items.pcap",
        store_session(pixel + b"\x10\x00\x20\x00LO\x02\x00P1", P.EXPLICIT_LE),
        "undefined-length Pixel Data followed by an ordinary element instead of fragment items")
    add("deflate_garbage.pcap", store_session(bytes(range(256)) * 4, DEFLATED),
        "deflated transfer syntax with bytes that are not deflate data")
    # --- broken files -----------------------------------------------------------------------------
    good = conversation_pcap(ok + echo() + release())
    add("truncated_in_record.pcap", good[:-30], "pcap cut in the middle of the last record")
    add("truncated_in_header.pcap", good[:60], "pcap cut inside the first record header")
    add("truncated_global_header.pcap", good[:12], "12 bytes: a pcap global header cut short")
    ng = cw.pcapng_bytes([(T0 + i, cw.ETHERNET, cw.frame(cw.ETHERNET, cw.tcp_packet(
        CLIENT[0], SERVER[0], CLIENT[1], SERVER[1], seq=1 + 10 * i, ack=1, payload=p)))
        for i, p in enumerate([P.assoc_rq("NG", "SCP")])])
    add("truncated.pcapng", ng[:-20], "pcapng whose only packet block is cut short")
    add("pcapng_bad_block_len.pcapng", ng[:28 + 20] + struct.pack("<II", 6, 0xFFFFFFF0) + ng[28 + 28:],
        "pcapng packet block claiming 0xFFFFFFF0 bytes")
    add("pcap_record_len_huge.pcap", good[:24] + struct.pack("<IIII", 1, 0, 0x7FFFFFF0, 0x7FFFFFF0) + good[40:200],
        "pcap record header claiming a 2 GB packet")
    add("snaplen_cut.pcap", cw.pcap_bytes([(T0, cw.frame(cw.ETHERNET, cw.tcp_packet(
        CLIENT[0], SERVER[0], CLIENT[1], SERVER[1], seq=1, ack=1, payload=rq))[:80], 400)]),
        "A-ASSOCIATE-RQ in a frame cut by the snap length")
    add("no_dicom_http.pcap", conversation_pcap([(0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                                                 (1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")]),
        "HTTP on port 104 only: no DICOM in the capture")
    add("not_a_capture.pcap", b"This is not a capture file at all.\n", "text with a .pcap name")
    add("empty.pcap", b"", "empty file")
    return c


def big_corpus() -> dict[str, tuple[bytes, str]]:
    """The absurd counts, too big to commit: generated by the tests into a temporary directory."""
    ctx = [(1 + 2 * (i % 128), VERIFICATION, [IMPLICIT]) for i in range(10_000)]
    rq = P.assoc_rq("SCU", "SCP", ctx)
    return {
        "contexts_10000.pcap": (conversation_pcap([(0, rq)]), "A-ASSOCIATE-RQ with 10,000 presentation contexts"),
        "pdvs_100000.pcap": (conversation_pcap(assoc() + [(0, P.pdata([(1, 0, b"")] * 100_000))] + release()),
                             "P-DATA-TF of 100,000 PDVs of 2 bytes"),
    }


def write(directory: Path, files: dict[str, tuple[bytes, str]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, (data, _) in files.items():
        (directory / name).write_bytes(data)


def readme(files: dict[str, tuple[bytes, str]]) -> str:
    lines = ["# Malformed captures (fuzz corpus)", "",
             "Generated by `python tests/malformed/make_corpus.py` (deterministic; do not edit by hand).",
             "`tests/test_fuzz_pipeline.py` runs `dump -V`, `summary` and `export` on every file: exit 0 or 2,",
             "never 3 (internal error), no traceback, bounded time. `--big DIR` also writes the two big",
             "count cases (generated by the tests, not committed).", "",
             "| file | bytes | what is wrong with it |", "| --- | --- | --- |"]
    for name, (data, why) in sorted(files.items()):
        lines.append(f"| {name} | {len(data)} | {why} |")
    for name, (_, why) in sorted(big_corpus().items()):
        lines.append(f"| ({name}, generated) | - | {why} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    files = corpus()
    for name, (data, _) in files.items():
        assert len(data) < 20_000, (name, len(data))
    write(HERE, files)
    (HERE / "README.md").write_text(readme(files))
    if len(argv) > 2 and argv[1] == "--big":
        write(Path(argv[2]), big_corpus())
    print(f"wrote {len(files)} files to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
