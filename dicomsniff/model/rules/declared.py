"""Codes raised outside the rules — by the decoder (``ul/``, ``dimse/``, ``tcp/``, ``capture/``) and the
association model — declared here once, with their group, default severity and meaning.

``fragile`` codes rest on one direction's bytes being all there: after that direction
lost bytes they are not raised but counted in the association's ``capture-loss``.
"""

from __future__ import annotations

from ...field import ERROR, NOTE, WARN
from .registry import declare


def _d(code, severity, group, summary, evidence="", source="decoder", fragile=None):
    if fragile is None:
        fragile = source == "decoder" and group in ("malformed", "protocol", "capture", "info")
    declare(code, severity, group, summary, evidence=evidence, source=source, fragile=fragile)


# -- the capture file (reader, live capture): association 0 ------------------------
_d("read-error", ERROR, "input", "the capture file could not be read to its end", "reader", "capture", False)
_d("absurd-record", ERROR, "input", "a pcap record claims an impossible length: the rest is unreadable",
   "pcap record header", "capture", False)
_d("pcapng-bad-bom", ERROR, "input", "a pcapng section header has an unknown byte-order magic",
   "pcapng SHB", "capture", False)
_d("pcapng-bad-block", ERROR, "input", "a pcapng block is malformed (length, trailer)", "pcapng block",
   "capture", False)
_d("pcapng-no-interface", WARN, "input", "a pcapng packet names an interface that was never described",
   "pcapng EPB/IDB", "capture", False)
_d("pcapng-bad-option", WARN, "input", "a pcapng option is malformed", "pcapng options", "capture", False)
_d("pcapng-unknown-block", NOTE, "info", "a pcapng block type this reader skips", "pcapng block", "capture",
   False)
_d("truncated-record", WARN, "capture", "the capture file ends inside a record (cut short)",
   "pcap record header", "capture", False)
_d("snaplen-cut", WARN, "capture", "packets were captured shorter than on the wire (snap length)",
   "record caplen < len", "capture", False)
_d("timestamp-out-of-range", WARN, "capture", "a timestamp no calendar can show: shown as raw seconds",
   "record timestamp", "capture", False)
_d("pcap-ns", NOTE, "info", "the capture has nanosecond timestamps", "pcap magic", "capture", False)
_d("capture-error", WARN, "input", "the live capture reported an error", "capture socket", "capture", False)
_d("small-capture-buffer", WARN, "capture", "the live capture buffer is small: the kernel may drop packets",
   "socket buffer size", "capture", False)
_d("ip-fragment", NOTE, "capture", "IP fragments are not reassembled: their payload is skipped", "IP header",
   "capture", False)
# capture sets (capture/captureset.py) and ring buffers (capture --rotate)
_d("capture-set-order", NOTE, "info", "the files of a capture set were not given in time order: read by time",
   "first timestamp of each file", "capture", False)
_d("capture-set-skipped", NOTE, "info", "a file in a directory or glob is no capture: left out of the set",
   "file magic number", "capture", False)
_d("capture-set-overlap", NOTE, "info", "files of a capture set overlap in time: merged by time, as mergecap does",
   "file time ranges", "capture", False)
_d("capture-set-duplicate-file", WARN, "input", "the same file was given twice in a capture set: read once",
   "device and inode", "capture", False)
_d("capture-set-duplicate-frames", WARN, "input", "frames present in two files of a set (same time, same bytes):"
   " read once", "frame timestamp and bytes", "capture", False)
_d("capture-set-unreadable", WARN, "input", "a file of a capture set vanished or changed after the set was opened:"
   " left out", "open/read error", "capture", False)
_d("capture-write-error", ERROR, "input", "a ring-buffer file could not be written (e.g. a full disk): packets"
   " not saved, decoding went on", "write error", "capture", False)

# -- TCP --------------------------------------------------------------------------
_d("tcp-gap", WARN, "capture", "bytes of a TCP stream are missing from the capture (kept as a fact, shown as"
   " capture-loss)", "TCP sequence numbers / ACKs above a hole", "decoder", True)
_d("tcp-bad-segment", ERROR, "input", "a TCP segment that does not parse", "TCP header", "decoder", False)
_d("tcp-stream-evicted", WARN, "capture", "too many TCP streams open at once: one was closed early",
   "stream table bound", "decoder", False)
_d("tcp-buffer-limit", NOTE, "capture", "out-of-order bytes over the reassembly bound were dropped",
   "reassembly buffer bound", "decoder", False)
_d("tcp-port-reuse", NOTE, "info", "a new connection reused the ports of a finished one", "SYN after FIN",
   "decoder", False)
_d("tcp-overlap-conflict", WARN, "capture", "retransmitted bytes differ from the first copy",
   "overlapping segments", "decoder", False)

# -- Upper Layer framing (ul/framer.py) ---------------------------------------------
_d("resync", WARN, "capture", "after lost bytes the framer searched for the next PDU header",
   "TCP gap, PDU header validation")
_d("resync-failed", WARN, "capture", "after lost bytes no valid PDU header was found",
   "TCP gap, PDU header validation")
_d("pdu-truncated", WARN, "capture", "the stream ends inside a PDU (end of capture, reset or loss)",
   "PDU length versus bytes present")
_d("pdu-length-implausible", ERROR, "malformed", "a PDU claims a length over the decoder's bound",
   "PDU length field")
_d("pdu-too-long", ERROR, "malformed", "a PDU body over the decode bound: the rest is not decoded",
   "PDU length field")
_d("pdv-truncated", ERROR, "malformed", "a PDU ends inside a PDV header or value", "PDV item lengths")
_d("pdv-length-invalid", ERROR, "malformed", "a PDV length does not fit its PDU", "PDV item length")
_d("framer-stalled", WARN, "capture", "the framer made no progress on these bytes and skipped them (a safety"
   " stop)", "framer state")

# -- Upper Layer PDUs (ul/dissect.py) --------------------------------------------------
for _code, _sev, _sum in (
        ("truncated", ERROR, "a field needs more bytes than its PDU holds"),
        ("bad-pdu-length", ERROR, "a PDU length that its type does not allow"),
        ("unknown-pdu-type", ERROR, "a PDU type not defined by PS3.8 §9.3.1"),
        ("pdu-extra-bytes", WARN, "bytes after the end of a PDU's items"),
        ("trailing-bytes", WARN, "bytes after the last item"),
        ("too-many-items", ERROR, "more items than the decoder's bound"),
        ("item-header-short", ERROR, "an item header cut short"),
        ("item-overflow", ERROR, "an item longer than what holds it"),
        ("item-length-invalid", ERROR, "an item of a fixed size with another length"),
        ("item-extra-bytes", WARN, "bytes after an item's fields"),
        ("length-overflow", ERROR, "a length field points past its item"),
        ("dissector-error", ERROR, "the dissector failed on these bytes (partial tree shown)"),
        ("pdv-flags-reserved", WARN, "reserved bits set in a PDV message control header"),
        ("no-pdv", WARN, "a P-DATA-TF without a PDV (PS3.8 §9.3.5)"),
        ("too-many-pdvs", NOTE, "more PDVs than shown"),
):
    _d(_code, _sev, "malformed" if _sev != NOTE else "info", _sum, "PDU bytes (PS3.8 §9.3)", fragile=True)
for _code, _sev, _sum in (
        ("zero-length-item", WARN, "an empty item"),
        ("unexpected-item", WARN, "an item that does not belong where it is"),
        ("unknown-item", NOTE, "an item type this decoder does not know"),
        ("duplicate-item", WARN, "an item that must appear once appears twice"),
        ("unknown-application-context", WARN, "an application context other than DICOM's"),
        ("even-context-id", WARN, "a presentation context ID that is even (PS3.8 §9.3.2.2: odd)"),
        ("unknown-value", WARN, "a value PS3.8 does not define (result, reason, identity type)"),
        ("no-transfer-syntax", ERROR, "a presentation context without transfer syntax / data set without one"),
        ("multiple-transfer-syntax", WARN, "an accepted context answering more than one transfer syntax"),
        ("no-abstract-syntax", ERROR, "a proposed context without abstract syntax"),
        ("no-application-context", ERROR, "an A-ASSOCIATE-RQ/AC without an Application Context item"),
        ("no-presentation-context", ERROR, "an A-ASSOCIATE-RQ/AC without presentation context items"),
        ("no-user-info", WARN, "an A-ASSOCIATE-RQ/AC without a User Information item (PS3.8 §9.3.2.3)"),
        ("multiple-abstract-syntax", WARN, "a proposed context with more than one abstract syntax"),
        ("no-max-length", WARN, "no Maximum Length sub-item in the user information"),
        ("no-implementation-uid", WARN, "no Implementation Class UID (required by PS3.7 Annex D)"),
        ("version-name-too-long", WARN, "an implementation version name over 16 characters"),
        ("user-identity-lengths", WARN, "user identity field lengths do not add up"),
        ("missing-passcode", WARN, "username-and-passcode identity without a passcode"),
        ("unexpected-secondary-field", NOTE, "a user identity secondary field where none is expected"),
        ("bad-version", WARN, "a protocol version without bit 0 set"),
        ("invalid-uid", WARN, "a UID that is not valid (PS3.5 §9.1)"),
        ("uid-padded", NOTE, "a UID padded with NUL or space"),
        ("ae-title-empty", WARN, "an AE title that is all spaces"),
        ("ae-title-nonprintable", WARN, "an AE title with characters outside the default repertoire"),
        ("reserved-nonzero", NOTE, "a reserved field that is not zero (not to be tested, PS3.8)"),
):
    _d(_code, _sev, "protocol" if _sev != NOTE else "info", _sum, "A-ASSOCIATE/A-ABORT/P-DATA fields",
       fragile=True)

# -- DIMSE assembly (dimse/assembler.py), command sets and data sets -----------------------
_d("message-incomplete", WARN, "capture", "a message without its last fragment (cut by an abort, a reset,"
   " the end of the capture or lost bytes)", "PDV last-fragment flags")
_d("command-incomplete", WARN, "capture", "a command set cut short (lost bytes, reset or end of capture)",
   "PDV last-fragment flags")
_d("dataset-incomplete", WARN, "capture", "a data set cut short (lost bytes, reset or end of capture)",
   "PDV last-fragment flags")
_d("dataset-missing", ERROR, "protocol", "a new command set began before the announced data set ended"
   " (PS3.8 Annex E)", "PDV sequence")
_d("orphan-data", WARN, "protocol", "a data fragment without a command set before it (PS3.8 Annex E)",
   "PDV sequence")
_d("command-too-long", ERROR, "malformed", "a command set over the decode bound", "command PDVs")
for _code, _sev in (("command-bad-status", ERROR), ("command-element-order", WARN),
                    ("command-element-overrun", ERROR), ("command-group-length", WARN),
                    ("command-missing-element", ERROR), ("command-not-group-0000", ERROR),
                    ("command-truncated", ERROR), ("command-unknown", ERROR)):
    _d(_code, _sev, "malformed", "the command set breaks PS3.7 §6.3.1 / §9.3 (" + _code[8:].replace("-", " ")
       + ")", "command set elements")
for _code, _sev in (("dataset-bad-charset", WARN), ("dataset-bad-value", WARN),
                    ("dataset-duplicate-element", WARN), ("dataset-element-order", WARN),
                    ("dataset-inflate", ERROR), ("dataset-parse", ERROR), ("dataset-pydicom-warning", WARN),
                    ("dataset-too-deep", WARN), ("dataset-too-many-elements", WARN),
                    ("dataset-truncated", ERROR), ("dataset-unknown-ts", WARN)):
    _d(_code, _sev, "malformed", "the data set does not decode in its transfer syntax ("
       + _code[8:].replace("-", " ") + ")", "data set bytes, accepted transfer syntax")

# -- the association model (model/association.py) -------------------------------------
_d("association-rejected", ERROR, "response", "A-ASSOCIATE-RJ: the association was refused (who, why)",
   "A-ASSOCIATE-RJ source/reason", "model", False)
declare("association-aborted", ERROR, "response", "A-ABORT: who aborted, why, and what was in flight (the"
        " requests it left without a response are named there, not listed again)",
        evidence="A-ABORT source/reason, open exchanges", source="model", supersedes=("no-response",))
_d("association-incomplete", WARN, "capture", "the association ended without A-RELEASE or A-ABORT (FIN, RST"
   " or end of capture)", "TCP close events", "model", False)
_d("pdu-incomplete", WARN, "capture", "a PDU with bytes missing (lost, reset or end of capture)",
   "PDU length versus bytes present", "model", True)
_d("context-not-accepted", ERROR, "protocol", "a message sent on a presentation context the SCP did not accept",
   "A-ASSOCIATE-AC results, PDV context ID", "model", True)
_d("context-not-proposed", WARN, "protocol", "the A-ASSOCIATE-AC answers a context the RQ did not propose",
   "A-ASSOCIATE-RQ/AC context IDs", "model", False)
_d("no-response", WARN, "response", "a request that got no final response before the association ended",
   "Message ID pairing", "model", False)
_d("response-unmatched", WARN, "protocol", "a response to a Message ID no request used",
   "Message ID Being Responded To", "model", True)
_d("started-mid-association", NOTE, "capture", "the capture began after the negotiation: contexts unknown",
   "no A-ASSOCIATE-RQ", "model", False)
