"""The analysis pipeline: frames in, association/PDU/message events out (sans-I/O).

capture frames → :func:`decode_tcp` → :class:`TcpReassembler` → DICOM
detection per stream → :class:`PduFramer` per direction →
:class:`MessageAssembler` → :class:`Association`. The same :class:`Analyzer`
serves files, live capture, the TUI worker and the tests: feed it frames,
read the events it returns, call :meth:`Analyzer.finish` at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

from .capture.frame import Frame
from .capture.packet import decode_tcp
from .dimse.assembler import DataChunk, DataEnded, DataStarted, MessageAssembler, MessageDone, OrphanData
from .model.association import Association, Endpoint, Exchange
from .notice import Notice
from .tcp.events import StreamClosed, StreamData, StreamGap, StreamOpened
from .tcp.reassembly import TcpReassembler
from .ul.detect import classify_stream_start, plausible_pdu_header
from .ul.events import MAX_SPANS, PduEvent, PdvChunk, PdvLoss
from .ul.pdus import ASSOCIATE_AC, AssociateRQ
from .ul.framer import LOOKAHEAD, PduFramer
from .tls.tables import looks_like_tls_hello, looks_like_tls_records

# How many bytes of a direction are looked at before deciding a stream is not DICOM.
DETECT_LIMIT = 64 << 10


@dataclass(slots=True)
class AssociationOpened:
    association: Association


@dataclass(slots=True)
class AssociationClosed:
    association: Association


@dataclass(slots=True)
class PduSeen:
    association: Association
    pdu: PduEvent


@dataclass(slots=True)
class MessageSeen:
    association: Association
    message: object            # dimse.assembler.Message
    exchange: Exchange | None


@dataclass(slots=True)
class DataSeen:
    """Data-set streaming events (DataStarted/DataChunk/DataEnded) of an association."""

    association: Association
    event: object


class _Pending:
    """A stream not yet known to be DICOM: its first bytes, per direction, bounded."""

    __slots__ = ("events", "sizes", "opened")

    def __init__(self, opened: StreamOpened):
        self.events: list = []
        self.sizes = [0, 0]
        self.opened = opened


class _Dicom:
    __slots__ = ("assoc", "framers", "assembler", "closed", "held")

    def __init__(self, assoc: Association, framers: list[PduFramer], assembler: MessageAssembler):
        self.assoc = assoc
        self.framers = framers
        self.assembler = assembler
        self.closed = [False, False]
        self.held: list = [[], []]     # message events waiting for their PDU's event


def find_pdu_run(buf: bytes, limit: int = DETECT_LIMIT) -> int:
    """Offset of the first run of two plausible consecutive PDUs in ``buf``, or -1.

    Used for streams whose start is not in the capture: the first bytes are the
    middle of some PDU, and framing resumes at the next PDU header.
    """
    n = min(len(buf), limit)
    for first in (b"\x04\x00", b"\x05\x00", b"\x06\x00", b"\x07\x00"):
        i = buf.find(first, 0, n)
        while i >= 0:
            if plausible_pdu_header(buf, i):
                nxt = i + 6 + int.from_bytes(buf[i + 2:i + 6], "big")
                if nxt + 6 <= len(buf) and plausible_pdu_header(buf, nxt):
                    return i
            i = buf.find(first, i + 1, n)
    return -1


class Analyzer:
    """Frames in, events out. ``ports`` forces DICOM on those TCP ports."""

    def __init__(self, *, ports: set[int] | frozenset[int] = frozenset(), keep_pdus: bool = True,
                 stream_data: bool = False, decode_data: bool = True, keep_limit: int = 1 << 20,
                 keep_exchanges: int | None = None, data_span_limit: int = MAX_SPANS, tls_keylog=None):
        self.ports = set(ports)
        self.keep_pdus = keep_pdus
        self.stream_data = stream_data
        self.decode_data = decode_data
        self.keep_limit = keep_limit
        self.keep_exchanges = keep_exchanges
        # Spans (frame, offset) remembered per data set: views that re-read data-set bytes
        # (hex pane, bulk-data URIs) need them all; summaries only the first frames.
        self.data_span_limit = data_span_limit
        self.tcp = TcpReassembler()
        self.pending: dict[int, _Pending] = {}
        self.dicom: dict[int, _Dicom] = {}
        self.associations: list[Association] = []
        self.count = 0
        self.frames = 0
        self.first_ts: int | None = None
        self.last_ts = 0
        # TLS hook (issue 15): TLS streams by stream index; the key log (None: --tls-keylog/SSLKEYLOGFILE, read
        # when the first TLS stream appears); the reader's pcapng Decryption Secrets (set by whoever reads).
        self.tls: dict = {}
        self.tls_keylog = tls_keylog
        self.tls_secrets: list | None = None

    # -- public ---------------------------------------------------------------

    def feed(self, frame: Frame) -> list:
        self.frames += 1
        if self.first_ts is None:
            self.first_ts = frame.ts_ns
        self.last_ts = frame.ts_ns
        seg = decode_tcp(frame)
        if seg is None:
            return []
        evs = self.tcp.feed(seg)
        if not evs:
            return evs
        out: list = []
        for ev in evs:
            self._tcp_event(ev, out)
        return out

    def finish(self) -> list:
        out: list = []
        for ev in self.tcp.finish():
            self._tcp_event(ev, out)
        for stream in list(self.pending):
            self._decide(stream, out, final=True)
        for stream, d in list(self.dicom.items()):
            self._close_stream(stream, d, "eof", self.last_ts, out)
        return out

    def forget(self, assoc: Association) -> None:
        """Drop a closed association (streaming exports keep memory bounded this way)."""
        try:
            self.associations.remove(assoc)
        except ValueError:
            pass

    # -- TCP events -----------------------------------------------------------

    def _tcp_event(self, ev, out: list, plain: bool = False) -> None:
        if self.tls and not plain:      # TLS hook (issue 15): a TLS stream's bytes become decrypted bytes
            conn = self.tls.get(getattr(ev, "stream", None))
            if conn is not None:
                for pev in conn.events(ev):
                    self._tcp_event(pev, out, True)
                return
        if type(ev) is StreamData:
            d = self.dicom.get(ev.stream)
            if d is not None:
                other = d.framers[1 - ev.direction]
                if other.rbuf:          # searching for a PDU: this direction's answer settles it
                    self._route(d, 1 - ev.direction, other.settle(), out)
                self._route(d, ev.direction, d.framers[ev.direction].feed(ev), out)
                return
            p = self.pending.get(ev.stream)
            if p is not None:
                p.events.append(ev)
                p.sizes[ev.direction] += len(ev.data)
                self._decide(ev.stream, out)
            return
        if isinstance(ev, StreamOpened):
            self.pending[ev.stream] = _Pending(ev)
            return
        if isinstance(ev, StreamGap):
            d = self.dicom.get(ev.stream)
            if d is not None:
                d.assoc.note_gap(ev.length, ev.before_frame, ev.direction, ev.ts_ns)
                # The framer knows, by arithmetic, which units the hole cut; it tells the assembler.
                self._route(d, ev.direction, d.framers[ev.direction].gap(ev), out)
                held = d.held[ev.direction]
                out.extend(held)
                held.clear()
            elif ev.stream in self.pending:
                self.pending[ev.stream].events.append(ev)
            return
        if isinstance(ev, StreamClosed):
            if ev.stream in self.pending:
                self.pending[ev.stream].events.append(ev)
                self._decide(ev.stream, out, final=self._both_closed(self.pending[ev.stream]))
                return
            d = self.dicom.get(ev.stream)
            if d is not None:
                self._route(d, ev.direction, d.framers[ev.direction].finish(ev.ts_ns), out)
                d.closed[ev.direction] = True
                d.assoc.note_close(ev.direction, ev.how, ev.frame, ev.ts_ns)
                if all(d.closed) or ev.how == "rst":
                    self._close_stream(ev.stream, d, ev.how, ev.ts_ns, out)
            return
        if isinstance(ev, Notice):
            out.append(ev)

    @staticmethod
    def _both_closed(p: _Pending) -> bool:
        dirs = {e.direction for e in p.events if isinstance(e, StreamClosed)}
        return len(dirs) == 2 or any(isinstance(e, StreamClosed) and e.how == "rst" for e in p.events)

    # -- detection ------------------------------------------------------------

    def _prefix(self, p: _Pending, direction: int, limit: int) -> bytes:
        """The first contiguous bytes of a direction; when the capture lost its first bytes, those after the hole."""
        parts, n = [], 0
        for e in p.events:
            if type(e) is StreamData and e.direction == direction:
                parts.append(bytes(e.data[:limit - n]))
                n += len(parts[-1])
                if n >= limit:
                    break
            elif isinstance(e, StreamGap) and e.direction == direction:
                if parts:
                    break
        return b"".join(parts)

    @staticmethod
    def _runs(p: _Pending, direction: int, limit: int) -> list[bytes]:
        """The contiguous runs of bytes (between holes) of a direction, ``limit`` bytes in all."""
        runs: list[list[bytes]] = [[]]
        n = 0
        for e in p.events:
            if n >= limit:
                break
            if type(e) is StreamData and e.direction == direction:
                runs[-1].append(bytes(e.data[:limit - n]))
                n += len(runs[-1][-1])
            elif isinstance(e, StreamGap) and e.direction == direction and runs[-1]:
                runs.append([])
        return [b"".join(r) for r in runs if r]

    def _decide(self, stream: int, out: list, final: bool = False) -> None:
        p = self.pending[stream]
        key = self.tcp.stream_key(stream)
        forced = bool(self.ports) and (key.a_port in self.ports or key.b_port in self.ports)
        verdict: tuple[int, bool] | None = None     # (client direction, start in resync)
        undecided = False
        for direction in (0, 1):
            if p.sizes[direction] == 0:
                undecided = True
                continue
            head = self._prefix(p, direction, 1024)
            hello = looks_like_tls_hello(head)
            if hello:                   # TLS hook (issue 15): a ClientHello/ServerHello makes a TLS stream
                self._start_tls(stream, p, key, direction if hello == 1 else 1 - direction, out)
                return
            kind = classify_stream_start(head)
            if kind == "associate":
                verdict = (direction, False)
                break
            if kind == "accept":            # the A-ASSOCIATE-AC's sender is the server
                verdict = (1 - direction, False)
                break
            if kind == "midstream":
                verdict = (self._guess_client(key, p), False)
                break
            if kind is None and head[:1] in (b"\x14", b"\x15", b"\x17") and head[1:2] == b"\x03" \
                    and looks_like_tls_records(self._prefix(p, direction, 40 << 10)):
                # TLS hook (issue 15): TLS records whose handshake the capture missed
                self._start_tls(stream, p, key, self._guess_client(key, p), out, midstream=True)
                return
            if len(head) < 80 and not final:
                undecided = True
        if verdict is None and (forced or final or p.sizes[0] >= DETECT_LIMIT or p.sizes[1] >= DETECT_LIMIT):
            for direction in (0, 1):
                if any(find_pdu_run(buf) >= 0 for buf in self._runs(p, direction, DETECT_LIMIT)):
                    verdict = (self._guess_client(key, p), True)
                    break
            if verdict is None and forced:
                verdict = (self._guess_client(key, p), False)
        if verdict is None:
            if final or (not undecided and (p.sizes[0] >= DETECT_LIMIT or p.sizes[1] >= DETECT_LIMIT)) \
                    or p.sizes[0] + p.sizes[1] >= 2 * DETECT_LIMIT:
                del self.pending[stream]
                self.tcp.ignore(stream)
            return
        client_dir, resync = verdict
        del self.pending[stream]
        self._start(stream, p, key, client_dir, resync, out)

    def _start_tls(self, stream: int, p: _Pending, key, client_dir: int, out: list, midstream: bool = False) -> None:
        """TLS hook (issue 15): the stream's bytes go through a TlsConnection; its plaintext is framed as DICOM."""
        from .tls.keylog import default_keylog
        from .tls.record import TlsConnection
        from .tls.tables import client_hello_alpn, other_application

        if other_application(client_hello_alpn(self._prefix(p, client_dir, 16 << 10))):
            del self.pending[stream]            # HTTPS and the like (ALPN): not DICOM, left alone
            self.tcp.ignore(stream)
            return
        if self.tls_keylog is None:
            self.tls_keylog = default_keylog()
        self.tls_keylog.take_secrets(self.tls_secrets)
        conn = TlsConnection(stream, client_dir, self.tls_keylog, midstream=midstream)
        self.tls[stream] = conn
        del self.pending[stream]
        self._start(stream, p, key, client_dir, False, out, tls=conn.info)

    def _guess_client(self, key, p: _Pending) -> int:
        if p.opened.handshake_seen:
            return 0
        if self.ports:
            if key.a_port in self.ports:
                return 1
            if key.b_port in self.ports:
                return 0
        return 0 if key.a_port > key.b_port else 1

    def _start(self, stream: int, p: _Pending, key, client_dir: int, resync: bool, out: list, tls=None) -> None:
        a = Endpoint(key.a_ip, key.a_port)
        b = Endpoint(key.b_ip, key.b_port)
        client, server = (a, b) if client_dir == 0 else (b, a)
        self.count += 1
        assoc = Association(self.count, stream, client, server, client_dir,
                            handshake_seen=p.opened.handshake_seen, keep_pdus=self.keep_pdus,
                            keep_exchanges=self.keep_exchanges)
        if tls is not None:             # TLS hook (issue 15)
            assoc.tls = tls
        self.associations.append(assoc)
        framers = [PduFramer(stream, 0), PduFramer(stream, 1)]
        for direction, f in enumerate(framers):
            # Without the handshake a direction may begin inside a PDU (even when the
            # other one begins at a PDU header): frame it from the first plausible header.
            if resync or (not p.opened.handshake_seen
                          and not plausible_pdu_header(self._prefix(p, direction, LOOKAHEAD))):
                f._enter_resync(0)
        assembler = MessageAssembler(assoc.transfer_syntax_of, stream_data=self.stream_data,
                                     decode_data=self.decode_data, keep_limit=self.keep_limit,
                                     data_span_limit=self.data_span_limit)
        d = self.dicom[stream] = _Dicom(assoc, framers, assembler)
        out.append(AssociationOpened(assoc))
        for ev in p.events:
            self._tcp_event(ev, out)
            if stream not in self.dicom:
                break

    # -- routing upward -------------------------------------------------------

    def _route(self, d: _Dicom, direction: int, evs: list, out: list) -> None:
        assoc = d.assoc
        held = d.held[direction]
        for ev in evs:
            t = type(ev)
            if t is PdvChunk:
                for m in d.assembler.feed(ev):
                    self._message_event(d, m, held, out)
            elif t is PduEvent:
                assoc.on_pdu(ev)
                if ev.pdu_type <= 2 and ev.complete:
                    self._negotiated(d, ev)
                out.append(PduSeen(assoc, ev))
                if held:
                    out.extend(held)
                    held.clear()
            elif t is PdvLoss:
                for m in d.assembler.gap(direction, f"TCP gap of {ev.length} bytes before frame {ev.frame}"):
                    self._message_event(d, m, held, out)
            elif t is Notice:
                assoc.add_finding(ev.severity, ev.finding.code, ev.message, [ev.frame] if ev.frame else [])
                out.append(ev)

    @staticmethod
    def _negotiated(d: _Dicom, pdu: PduEvent) -> None:
        """Bound what the framers may accept when searching for a PDU: the receiver's max PDU, context IDs.

        Only a whole A-ASSOCIATE-RQ/AC is used (a cut one lists only some contexts); the AC answers
        every proposed context, so either gives the IDs a P-DATA-TF may carry.
        """
        body = pdu.decoded.body if pdu.decoded is not None else None
        if not isinstance(body, AssociateRQ):
            return
        client_dir = d.assoc.client_dir
        ids = frozenset(c.id for c in body.contexts if isinstance(c.id, int))
        if ids:
            for f in d.framers:
                f.contexts = ids if f.contexts is None else f.contexts | ids
        # Maximum Length Received bounds what the other side sends to the one that announced it.
        receiver = client_dir if pdu.pdu_type == ASSOCIATE_AC else 1 - client_dir
        d.framers[receiver].max_pdu = body.user_info.max_pdu_length or None

    def _message_event(self, d: _Dicom, m, held: list, out: list) -> None:
        assoc = d.assoc
        t = type(m)
        if t is MessageDone:
            ex = assoc.on_message(m.message)
            held.append(MessageSeen(assoc, m.message, ex))
        elif t in (DataChunk, DataStarted, DataEnded):
            out.append(DataSeen(assoc, m))
        elif t is OrphanData:
            assoc.add_finding(m.finding.severity, m.finding.code, m.finding.message, [m.frame])

    def _close_stream(self, stream: int, d: _Dicom, how: str, ts: int, out: list) -> None:
        for direction in (0, 1):
            if not d.closed[direction]:
                self._route(d, direction, d.framers[direction].finish(ts), out)
                d.closed[direction] = True
                if how == "eof":
                    d.assoc.note_close(direction, "eof", 0, ts)
        held: list = []
        for m in d.assembler.finish():
            self._message_event(d, m, held, out)
        for h in d.held:
            out.extend(h)
            h.clear()
        out.extend(held)
        if self.tls and stream in self.tls:         # TLS hook (issue 15): times of an encrypted association
            self.tls.pop(stream).finish(d.assoc)
        d.assoc.close(how, ts)
        out.append(AssociationClosed(d.assoc))
        del self.dicom[stream]


def analyze_frames(frames, **options) -> tuple[Analyzer, list]:
    """Convenience for tests and small captures: run frames through and collect every event."""
    an = Analyzer(**options)
    events: list = []
    for fr in frames:
        events.extend(an.feed(fr))
    events.extend(an.finish())
    return an, events

