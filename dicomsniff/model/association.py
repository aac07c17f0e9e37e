"""The association model: what two DICOM peers negotiated and said (PS3.8 §7, PS3.7 §9-10).

An :class:`Association` is fed the PDUs and DIMSE messages of one TCP stream
and keeps the negotiation outcome (requested versus accepted presentation
contexts, max PDU, implementation, roles, user identity), the state
(released, rejected, aborted, incomplete), and the request/response
exchanges with their statuses. Every view reads this model; none re-decodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..capture.frame import endpoint_text, ip_text
from ..dimse.assembler import Message
from ..dimse.commands import is_request, is_response
from ..dimse.status import status_info
from ..field import ERROR, NOTE, WARN
from ..ul.events import PduEvent
from ..ul.pdus import (ABORT, ASSOCIATE_AC, ASSOCIATE_RJ, ASSOCIATE_RQ, P_DATA_TF, RELEASE_RP, RELEASE_RQ,
                       Abort, AssociateRJ, AssociateRQ, PresentationContext, pdu_name)
from ..ul.tables import abort_reason_text, abort_source_text, context_result_text, reject_text
from .findings import Finding

# PduFacts reports an idle gap between two PDUs of an association longer than this.
IDLE_GAP_NS = 1_000_000_000
# The capture-loss findings of quiet cut P-DATA-TFs kept for PduFacts (count_quiet_cut): PduFacts keeps the first
# this many findings of a code (rules.base.MAX_EXPERT is this), so the others need only be counted.
MAX_CUTS_KEPT = 50
MAX_FINDINGS = 1000     # findings kept per association (add_finding); past it, holes and cut PDUs only count
_P_DATA_TF_NAME = pdu_name(P_DATA_TF)

C_CANCEL_RQ = 0x0FFF
PENDING = {0xFF00, 0xFF01}

REQUESTED, ESTABLISHED, RELEASING = "requested", "established", "releasing"
RELEASED, REJECTED, ABORTED, INCOMPLETE = "released", "rejected", "aborted", "incomplete"


@dataclass(slots=True, frozen=True)
class Endpoint:
    ip: bytes
    port: int

    def __str__(self) -> str:
        return endpoint_text(self.ip, self.port)

    def to_json(self) -> dict:
        return {"ip": ip_text(self.ip), "port": self.port}


@dataclass(slots=True)
class LossTally:
    """Bytes of one direction the capture lost (TCP gaps): what the capture-loss finding rests on."""

    gaps: int = 0
    bytes: int = 0
    first_frame: int = 0          # first frame after the first hole
    last_frame: int = 0           # first frame after the last hole
    first_ts: int = 0
    last_ts: int = 0
    at_end: bool = False          # bytes lost after the last captured segment (no frame follows the hole)

    def add(self, length: int, frame: int, ts: int) -> None:
        if not frame:
            self.at_end = True
        if not self.gaps or not self.first_frame:
            self.first_frame, self.first_ts = frame, ts
        self.gaps += 1
        self.bytes += length
        if frame:
            self.last_frame = frame
        if ts:
            self.last_ts = ts


@dataclass(slots=True, frozen=True)
class CloseEvent:
    """One direction of the TCP connection ended: ``how`` is fin, rst or eof (capture ended)."""

    direction: int
    side: str                     # "client" or "server" (the sender of the FIN/RST)
    how: str
    frame: int
    ts_ns: int


@dataclass(slots=True)
class ContextInfo:
    """A presentation context as proposed and as answered."""

    id: int
    abstract_syntax: str | None
    proposed: list[str]
    result: int | None = None            # None: no answer seen
    transfer_syntax: str | None = None   # accepted one

    @property
    def accepted(self) -> bool:
        return self.result == 0

    @property
    def result_text(self) -> str:
        return "not answered" if self.result is None else context_result_text(self.result)


@dataclass(slots=True)
class Exchange:
    """A request and its responses, paired by Message ID (PS3.7 §9.1.1)."""

    request: Message | None
    responses: list[Message] = field(default_factory=list)
    cancel: Message | None = None
    folded: bool = False        # beyond the association's detail cap: counted, not kept
    extra_pending: int = 0      # pending responses counted but not kept (folded exchanges)

    @property
    def final(self) -> Message | None:
        for r in reversed(self.responses):
            st = r.command.status if r.command else None
            if st is None or st not in PENDING:
                return r
        return None

    @property
    def pending(self) -> int:
        return self.extra_pending + sum(1 for r in self.responses if r.command and r.command.status in PENDING)

    @property
    def status(self) -> int | None:
        f = self.final
        return f.command.status if f is not None and f.command is not None else None

    @property
    def command_field(self) -> int | None:
        m = self.request or (self.responses[0] if self.responses else None)
        return m.command.command_field if m is not None and m.command is not None else None

    @property
    def status_info(self):
        st = self.status
        if st is None:
            return None
        sop = self.request.command.affected_sop_class_uid if self.request and self.request.command else None
        return status_info(st, self.command_field, sop)

    @property
    def duration_ns(self) -> int | None:
        f = self.final
        if self.request is None or f is None:
            return None
        return f.end_ts_ns - self.request.ts_ns

    @property
    def message_id(self) -> int | None:
        if self.request is not None and self.request.command is not None:
            return self.request.command.message_id
        if self.responses and self.responses[0].command is not None:
            return self.responses[0].command.responds_to
        return None


class Association:
    """One association (one TCP stream carrying DICOM), built from its PDUs and messages."""

    def __init__(self, number: int, stream: int, client: Endpoint, server: Endpoint, client_dir: int,
                 *, handshake_seen: bool, keep_pdus: bool = True, keep_exchanges: int | None = None):
        self.number = number
        self.stream = stream
        self.client = client
        self.server = server
        self.client_dir = client_dir
        self.handshake_seen = handshake_seen
        self.keep_pdus = keep_pdus
        # With a cap, only the first exchanges (and their messages) are kept in
        # detail; later ones are counted in ``folded`` so memory stays bounded.
        self.keep_exchanges = keep_exchanges
        self.folded: dict[tuple[str, str, str], int] = {}
        self.message_count = 0
        self.state = REQUESTED
        self.rq: AssociateRQ | None = None
        self.ac: AssociateRQ | None = None
        self.rq_complete = True               # False: the A-ASSOCIATE-RQ / AC was cut (lost bytes): what it
        self.ac_complete = True               # lacks is unknown, so RQ and AC are not compared
        self.rj: AssociateRJ | None = None
        self.abort: Abort | None = None
        self.abort_by: str | None = None      # "client" or "server"
        self.release_by: str | None = None
        self.released = False
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        self.end_how: str | None = None       # fin, rst, eof
        self.pdus: list[PduEvent] = []
        self.pdu_count = 0
        self.messages: list[Message] = []
        self.exchanges: list[Exchange] = []
        self._open: dict[tuple[int, int], Exchange] = {}
        # Responses that matched no request: (request direction, ID) → (exchange, its finding). A request cut by
        # lost bytes is emitted when the loss is seen, which can be after its response: it is paired then.
        self._late: dict[tuple[int, int], tuple[Exchange, Finding | None]] = {}
        self.contexts: dict[int, ContextInfo] = {}
        self.findings: list[Finding] = []
        self.bytes = [0, 0]
        self.pdus_by_dir = [0, 0]
        self.objects = 0
        self.gaps = 0
        self.loss = [LossTally(), LossTally()]    # per direction
        self.closes: list[CloseEvent] = []        # per direction, in the order they happened
        # Per direction: the last frame of the last complete PDU so far, and (frozen at the first gap)
        # the frame from which findings on that direction's bytes may rest on lost bytes (0: no loss).
        self.pdu_end_frame = [0, 0]
        self.loss_from = [0, 0]
        # The latest end time of its PDUs so far (what PduFacts' ``last`` holds), and per direction the quiet
        # P-DATA-TFs since PduFacts last looked (:meth:`count_quiet`): [count, context, first frame and start
        # of the first, first frame of the second, first frame and end of the last, 2 if this direction's were
        # counted last else 1 (:meth:`_counted_last`), the capture losses of those a loss cut (:meth:`count_quiet_cut`:
        # (frame, holes, length), the first MAX_CUTS_KEPT), how many those are].
        self.max_end_ts = 0
        self.quiet: list = [None, None]
        self.first_frame = 0
        self.last_frame = 0
        self.closed = False

    # -- names ----------------------------------------------------------------

    def side(self, direction: int) -> str:
        return "client" if direction == self.client_dir else "server"

    @property
    def calling_ae(self) -> str | None:
        return self.rq.calling_ae if self.rq else (self.ac.calling_ae if self.ac else None)

    @property
    def called_ae(self) -> str | None:
        return self.rq.called_ae if self.rq else (self.ac.called_ae if self.ac else None)

    @property
    def started_mid(self) -> bool:
        return self.rq is None

    @property
    def outcome(self) -> str:
        return self.state if self.state in (RELEASED, REJECTED, ABORTED, INCOMPLETE) else INCOMPLETE

    @property
    def duration_ns(self) -> int | None:
        if self.start_ns is None or self.end_ns is None:
            return None
        return self.end_ns - self.start_ns

    @property
    def max_pdu(self) -> dict:
        return {"requestor": self.rq.user_info.max_pdu_length if self.rq else None,
                "acceptor": self.ac.user_info.max_pdu_length if self.ac else None}

    @property
    def failures(self) -> int:
        n = sum(c for (_, cat, _), c in self.folded.items() if cat == "Failure")
        for ex in self.exchanges:
            info = ex.status_info
            if info is not None and info.category == "Failure":
                n += 1
        return n

    @property
    def throughput(self) -> float | None:
        """Bytes per second over the association's life, both directions."""
        d = self.duration_ns
        if not d:
            return None
        return (self.bytes[0] + self.bytes[1]) * 1e9 / d

    @property
    def folded_count(self) -> int:
        return sum(self.folded.values())

    @property
    def open_exchanges(self) -> list[Exchange]:
        """Requests still waiting for their final response (kept and folded ones)."""
        return list(self._open.values())

    def _full(self) -> bool:
        return self.keep_exchanges is not None and len(self.exchanges) >= self.keep_exchanges

    def transfer_syntax_of(self, direction: int, context_id: int) -> str | None:
        """The accepted transfer syntax of a context; without a captured A-ASSOCIATE-AC, the only one proposed."""
        ctx = self.contexts.get(context_id)
        if ctx is not None and ctx.result is None and self.ac is None and self.rj is None \
                and len(ctx.proposed) == 1:
            return ctx.proposed[0]
        return ctx.transfer_syntax if ctx is not None and ctx.accepted else None

    def reject_text(self) -> str | None:
        if self.rj is None:
            return None
        return reject_text(self.rj.result, self.rj.source, self.rj.reason)

    def abort_text(self) -> str | None:
        if self.abort is None:
            return None
        return f"{abort_source_text(self.abort.source)}: {abort_reason_text(self.abort.source, self.abort.reason)}"

    # -- feeding --------------------------------------------------------------

    def _touch(self, ts: int, frame: int) -> None:
        if self.start_ns is None or ts < self.start_ns:
            self.start_ns = ts
        if self.end_ns is None or ts > self.end_ns:
            self.end_ns = ts
        if frame:
            if not self.first_frame:
                self.first_frame = frame
            self.last_frame = max(self.last_frame, frame)

    def _touch_both(self, t0: int, f0: int, t1: int, f1: int) -> None:
        """:meth:`_touch` (``t0``, ``f0``), then (``t1``, ``f1``), in one call (the quiet counts run it per cut
        P-DATA-TF and per batch of quiet PDUs)."""
        early, late = (t0, t1) if t0 <= t1 else (t1, t0)
        if self.start_ns is None or early < self.start_ns:
            self.start_ns = early
        if self.end_ns is None or late > self.end_ns:
            self.end_ns = late
        if f0 or f1:
            if not self.first_frame:
                self.first_frame = f0 or f1
            top = f0 if f0 > f1 else f1
            if top > self.last_frame:
                self.last_frame = top

    def quiet_ok(self, d: int, ctx: int, length: int, start_ts: int, end_ts: int) -> bool:
        """Whether a complete middle P-DATA-TF of direction ``d`` on ``ctx`` (one data PDV, not the last), of
        ``length``, that began at ``start_ts`` and ended at ``end_ts`` may be counted (:meth:`count_quiet`)
        instead of emitted: it leaves no trace in PduFacts but what :meth:`PduFacts.catch_up` restores — it is
        within the receiver's Maximum Length Received, ends last so far, after no idle gap, on the context of
        the quiet PDUs PduFacts has not seen yet."""
        m = self.max_end_ts
        if end_ts < m or start_ts - m > IDLE_GAP_NS or self.state == REQUESTED:
            return False
        q = self.quiet[d]
        if q is not None and q[1] != ctx:
            return False
        limit = self.receive_limit(d)
        return not limit or length <= limit

    def take_quiet(self, d: int, ctx: int, first_len: int, start_ts: int, end_ts: int, longest: int, count: int,
                   nbytes: int, first: int, frame: int, last: int) -> bool:
        """The ``count`` P-DATA-TFs one segment (frame ``frame``) ends at ``end_ts``, counted
        (:meth:`count_quiet`) if they all may be (:meth:`quiet_ok` for the first, of ``first_len``, begun at
        ``start_ts`` in frame ``first``; the others, begun in ``frame``, the ``longest`` of them within the
        receiver's limit: once the first is counted they end last, after no gap), and True; False (nothing
        counted) otherwise. ``last``: the frame of the first one's last bytes (``frame`` if there are more)."""
        if not self.quiet_ok(d, ctx, first_len, start_ts, end_ts):
            return False
        if count > 1:
            limit = self.receive_limit(d)
            if limit and longest > limit:
                return False
        second = frame if count > 1 else 0
        lead = first or second
        self.count_quiet(d, count, nbytes, first, start_ts, second, second or first, lead,
                         max(first, second, last) if lead else 0, last, min(start_ts, end_ts),
                         max(start_ts, end_ts), end_ts, ctx)
        return True

    def quiet_state(self, d: int) -> tuple[int, bool, int, int, int, int, bool]:
        """What :meth:`quiet_ok` and :meth:`quiet_cut_ok` read, for the compiled walk (which counts quiet PDUs
        itself and hands them over with :meth:`count_quiet`, and holes with :meth:`note_gaps`): the latest PDU end
        so far, whether the association is past its request, the context of direction ``d``'s quiet PDUs PduFacts
        has not seen (-1: none), the receiver's Maximum Length Received (0: none; -1: not an int the walk
        compares), how many of those PDUs a capture loss cut, how many more such cuts they may keep
        (MAX_CUTS_KEPT), and whether a hole of ``d`` and a cut PDU would make no finding and change only counts
        (the findings' bound reached; a hole before this one with its frame: LossTally.add's usual branch)."""
        q = self.quiet[d]
        limit = self.receive_limit(d) or 0
        if type(limit) is not int or not 0 <= limit < 1 << 62:
            limit = -1
        t = self.loss[d]
        cuts, kept = (0, 0) if q is None else (q[9], len(q[8] or ()))
        return self.max_end_ts, self.state != REQUESTED, -1 if q is None else q[1], limit, cuts, \
            MAX_CUTS_KEPT - kept, len(self.findings) >= MAX_FINDINGS and t.gaps > 0 and t.first_frame > 0

    def receive_limit(self, d: int) -> int | None:
        """The Maximum Length Received the receiver of direction ``d`` negotiated (PduFacts' limit: 0 or None
        when unknown or unlimited)."""
        peer = self.ac if d == self.client_dir else self.rq
        return peer.user_info.max_pdu_length if peer is not None and peer.user_info is not None else None

    def count_quiet(self, d: int, count: int, nbytes: int, first: int, start_ts: int, second: int,
                    last_first: int, lead: int, hi: int, last: int, tmin: int, tmax: int, end_ts: int,
                    ctx: int, cuts: int = 0, kept: list | None = None) -> None:
        """``count`` P-DATA-TFs of direction ``d`` on ``ctx``, ``nbytes`` with their headers, that :meth:`quiet_ok`
        allowed one after another, counted as :meth:`on_pdu` counts them one by one and noted for PduFacts
        (:meth:`PduFacts.catch_up`). Their first began at ``start_ts`` in frame ``first`` (0: its spans were
        not kept), the second in ``second`` (0: one PDU), the last in ``last_first``; ``lead`` is the first of
        their nonzero first frames, ``hi`` the largest first or last frame of those, ``last`` the largest last
        frame; ``tmin`` and ``tmax`` bound their start and end times; the last ended at ``end_ts``, the latest
        PDU end so far. ``cuts`` of them are P-DATA-TFs a capture loss cut that :meth:`count_quiet_cut` would have
        counted where they came (once no finding is made: the walk's; their last frames not in ``last``), ``kept``
        what it would have kept of them (its (frame, holes, length), at most as many as there is room for)."""
        self.pdu_count += count
        self.pdus_by_dir[d] += count
        self.bytes[d] += nbytes
        if last > self.pdu_end_frame[d]:
            self.pdu_end_frame[d] = last
        self.max_end_ts = end_ts
        self._touch_both(tmin, lead, tmax, hi)
        q = self.quiet[d]
        if q is None:
            self.quiet[d] = [count, ctx, first, start_ts, second, last_first, end_ts, 2, None, 0]
        else:
            if q[0] == 1:
                q[4] = first
            q[0] += count
            q[5] = last_first
            q[6] = end_ts
        self._counted_last(d)
        if cuts:
            q = self.quiet[d]
            if q[8] is None:
                q[8] = []
            if kept:
                q[8] += kept[:MAX_CUTS_KEPT - len(q[8])]
            q[9] += cuts

    def note_gaps(self, d: int, count: int, nbytes: int, frame: int, ts: int) -> None:
        """``count`` holes of direction ``d``, ``nbytes`` in all, the last before ``frame`` (at ``ts``, 0: none
        known), that :meth:`note_gap` would have noted one by one where each came: as it does once the findings'
        bound is reached and the direction had a hole before (the walk's: :meth:`quiet_state`)."""
        self.gaps += count
        t = self.loss[d]
        t.gaps += count
        t.bytes += nbytes
        t.last_frame = frame
        if ts:
            t.last_ts = ts

    def _counted_last(self, d: int) -> None:
        """Direction ``d``'s quiet PDUs were counted last: which of the two PduFacts.catch_up takes as ending last
        (however the counts were handed over: the compiled walk hands several over in one call)."""
        self.quiet[d][7] = 2
        other = self.quiet[1 - d]
        if other is not None:
            other[7] = 1

    def quiet_cut_ok(self, d: int, ctx: int, length: int, start_ts: int, end_ts: int) -> bool:
        """Whether a middle P-DATA-TF of direction ``d`` on ``ctx`` that a capture loss cut may be counted
        (:meth:`count_quiet_cut`): :meth:`quiet_ok` allows it, and the other direction's quiet PDUs PduFacts has not
        seen carry no capture-loss finding (so that those findings stay in the order of their PDUs)."""
        other = self.quiet[1 - d]
        return (other is None or not other[9]) and self.quiet_ok(d, ctx, length, start_ts, end_ts)

    def count_quiet_cut(self, d: int, ctx: int, length: int, start_ts: int, end_ts: int, captured: int, first: int,
                        last: int, lost: list) -> None:
        """A middle P-DATA-TF of direction ``d`` on ``ctx`` (one data PDV, not the last), of ``length``, that a
        capture loss cut and :meth:`quiet_cut_ok` allows (``captured`` of its bytes were seen, from frame ``first``
        to ``last``, between ``start_ts`` and ``end_ts``): counted as :meth:`on_pdu` counts it (and its
        "pdu-incomplete" finding) and noted for PduFacts (:meth:`PduFacts.catch_up`) with what its capture-loss
        finding says (the holes ``lost``, (stream offset, length), a list no longer changed: the first few are
        kept, all are counted)."""
        self.pdu_count += 1
        self.pdus_by_dir[d] += 1
        self.bytes[d] += captured
        self.max_end_ts = end_ts
        self._touch_both(start_ts, first, end_ts, last)
        if len(self.findings) < MAX_FINDINGS:
            self.add_finding(WARN, "pdu-incomplete", f"{_P_DATA_TF_NAME} in frame {first} is incomplete", [first],
                             direction=d, last=last or first)
        q = self.quiet[d]
        if q is None:
            q = self.quiet[d] = [1, ctx, first, start_ts, 0, first, end_ts, 2, [], 0]
        else:
            if q[0] == 1:
                q[4] = first
            q[0] += 1
            q[5] = first
            q[6] = end_ts
            if q[8] is None:
                q[8] = []
        self._counted_last(d)
        if len(q[8]) < MAX_CUTS_KEPT:
            q[8].append((first, lost, length))
        q[9] += 1

    def on_pdu(self, pdu: PduEvent) -> None:
        if pdu.pdu_type == P_DATA_TF and pdu.complete and self.state != REQUESTED:
            # Most PDUs of any capture: only the counters and the time span move (as below, inline).
            self.pdu_count += 1
            d = pdu.direction
            self.pdus_by_dir[d] += 1
            self.bytes[d] += 6 + pdu.length
            fl = pdu.spans.flat
            first, last = (fl[1], fl[-3]) if fl else (0, 0)
            if last > self.pdu_end_frame[d]:
                self.pdu_end_frame[d] = last
            if pdu.end_ts_ns > self.max_end_ts:
                self.max_end_ts = pdu.end_ts_ns
            for ts in (pdu.ts_ns, pdu.end_ts_ns):
                if self.start_ns is None or ts < self.start_ns:
                    self.start_ns = ts
                if self.end_ns is None or ts > self.end_ns:
                    self.end_ns = ts
            if first:               # (frames of one PDU may come out of order: the larger of both)
                if not self.first_frame:
                    self.first_frame = first
                hi = first if first > last else last
                if hi > self.last_frame:
                    self.last_frame = hi
            if self.keep_pdus:
                self.pdus.append(pdu)
            return
        self.pdu_count += 1
        self.pdus_by_dir[pdu.direction] += 1
        self.bytes[pdu.direction] += 6 + pdu.length if pdu.complete else pdu.spans.length
        if pdu.end_ts_ns > self.max_end_ts:
            self.max_end_ts = pdu.end_ts_ns
        if pdu.complete:
            end = pdu.spans.last_frame or pdu.frame
            self.pdu_end_frame[pdu.direction] = max(self.pdu_end_frame[pdu.direction], end)
        self._touch(pdu.ts_ns, pdu.frame)
        self._touch(pdu.end_ts_ns, pdu.spans.last_frame)
        if self.keep_pdus:
            self.pdus.append(pdu)
        body = pdu.decoded.body if pdu.decoded is not None else None
        who = self.side(pdu.direction)
        t = pdu.pdu_type
        if t == ASSOCIATE_RQ and isinstance(body, AssociateRQ):
            self.rq = body
            self.rq_complete = pdu.complete
            if pdu.direction != self.client_dir:
                self._swap_sides()
            for pc in body.contexts:
                if pc.id is None:
                    continue
                ctx = self.contexts.get(pc.id)
                if ctx is None:
                    self.contexts[pc.id] = ContextInfo(pc.id, pc.abstract_syntax, list(pc.transfer_syntaxes))
                else:                 # an RQ cut by lost bytes is framed after its AC: keep the answer
                    ctx.abstract_syntax, ctx.proposed = pc.abstract_syntax, list(pc.transfer_syntaxes)
        elif t == ASSOCIATE_AC and isinstance(body, AssociateRQ):
            self.ac = body
            self.ac_complete = pdu.complete
            self.state = ESTABLISHED
            self._answer_contexts(body.contexts, pdu)
        elif t == ASSOCIATE_RJ and isinstance(body, AssociateRJ):
            self.rj = body
            self.state = REJECTED
            self.add_finding(ERROR, "association-rejected",
                             f"association rejected: {self.reject_text()}", [pdu.frame])
        elif t == RELEASE_RQ:
            if self.state not in (ABORTED, REJECTED):
                self.state = RELEASING
            self.release_by = self.release_by or who
        elif t == RELEASE_RP:
            if self.state not in (ABORTED, REJECTED):
                self.state = RELEASED
                self.released = True
        elif t == ABORT and isinstance(body, Abort):
            self.abort = body
            self.abort_by = who
            self.state = ABORTED
            inflight = [ex for ex in self._open.values() if ex.request is not None]
            what = ""
            if inflight:
                ex = inflight[-1]
                what = f" during {ex.request.name} #{ex.message_id}"
            self.add_finding(ERROR, "association-aborted",
                             f"association aborted by the {who}{what}: {self.abort_text()}", [pdu.frame])
        elif t == P_DATA_TF and self.state == REQUESTED:
            self.state = ESTABLISHED     # capture began mid-association, or its A-ASSOCIATE-AC was not captured
        if not pdu.complete:
            last = pdu.spans.last_frame or pdu.frame
            self.add_finding(WARN, "pdu-incomplete", f"{pdu.name} in frame {pdu.frame} is incomplete", [pdu.frame],
                             direction=pdu.direction, last=last)

    def _swap_sides(self) -> None:
        self.client, self.server = self.server, self.client
        self.client_dir = 1 - self.client_dir

    def _answer_contexts(self, answers: list[PresentationContext], pdu: PduEvent) -> None:
        for pc in answers:
            if pc.id is None:
                continue
            ctx = self.contexts.get(pc.id)
            if ctx is None:
                ctx = self.contexts[pc.id] = ContextInfo(pc.id, None, [])
                if self.rq is not None and self.rq_complete and self.ac_complete:
                    self.add_finding(WARN, "context-not-proposed",
                                     f"A-ASSOCIATE-AC answers presentation context {pc.id}, which the RQ did"
                                     " not propose", [pdu.frame])
            ctx.result = pc.result
            if pc.result == 0:
                ctx.transfer_syntax = pc.transfer_syntaxes[0] if pc.transfer_syntaxes else None

    def on_message(self, msg: Message) -> Exchange | None:
        full = self._full()
        ex = self._pair(msg)
        # Messages of kept exchanges are kept, even a response arriving after the cap is reached.
        if (not ex.folded) if ex is not None else not full:
            self.messages.append(msg)
        return ex

    def _pair(self, msg: Message) -> Exchange | None:
        self.message_count += 1
        msg.index = self.message_count
        self._touch(msg.ts_ns, msg.command_spans.first_frame)
        cmd = msg.command
        for f in msg.findings:
            self.add_finding(f.severity, f.code, f.message, msg.first_frames(3), direction=msg.direction,
                             last=msg.last_frame)
        if cmd is None or cmd.command_field is None:
            return None
        cf = cmd.command_field
        if cf == 0x0001 and msg.data_spans is not None:
            self.objects += 1
        ctx = self.contexts.get(msg.context_id)
        judged = self.rq_complete and self.ac_complete or (ctx is not None and ctx.result is not None)
        if self.ac is not None and (ctx is None or not ctx.accepted) and judged:
            self.add_finding(ERROR, "context-not-accepted",
                             f"{msg.name} sent on presentation context {msg.context_id}, which was not accepted",
                             msg.frames[:3], direction=msg.direction)
        if cf == C_CANCEL_RQ:
            ex = self._open.get((msg.direction, cmd.responds_to or 0))
            if ex is not None:
                ex.cancel = msg
                return ex
            return None
        if is_request(cf):
            late = self._late.pop((msg.direction, cmd.message_id or 0), None) if not msg.complete else None
            if late is not None:
                ex, found = late
                ex.request = msg
                if found is not None and found in self.findings:
                    self.findings.remove(found)
                if ex.final is None:
                    self._open[(msg.direction, cmd.message_id or 0)] = ex
                return ex
            ex = Exchange(msg)
            if self._full():
                ex.folded = True
            else:
                self.exchanges.append(ex)
            self._open[(msg.direction, cmd.message_id or 0)] = ex
            return ex
        if is_response(cf):
            key = (1 - msg.direction, cmd.responds_to or 0)
            ex = self._open.get(key)
            if ex is None:
                ex = Exchange(None, [msg])
                if not self._full():
                    self.exchanges.append(ex)
                else:
                    ex.folded = True
                    self._fold(ex)
                n = len(self.findings)
                self.add_finding(WARN, "response-unmatched",
                                 f"{msg.name} responds to message ID {cmd.responds_to}, which no request used",
                                 msg.frames[:3], direction=msg.direction)
                if len(self._late) < 256:
                    self._late[key] = (ex, self.findings[n] if len(self.findings) > n else None)
                return ex
            if ex.folded and cmd.status in PENDING:
                ex.extra_pending += 1
            else:
                ex.responses.append(msg)
            if cmd.status not in PENDING:
                del self._open[key]
                if ex.folded:
                    self._fold(ex)
            return ex
        return None

    def _fold(self, ex: Exchange) -> None:
        """Count an exchange beyond the detail cap by command and outcome."""
        info = ex.status_info
        name = ex.request.name if ex.request is not None else "?"
        key = (name, info.category if info else "No response", info.display if info else "no response")
        self.folded[key] = self.folded.get(key, 0) + 1

    def add_finding(self, severity: str, code: str, message: str, frames: list[int], hint: str = "", *,
                    direction: int | None = None, last: int = 0, key: str = "") -> None:
        """Record a finding (bounded: the first MAX_FINDINGS); ``direction``: whose bytes it rests on; ``last``: the
        evidence's last frame when ``frames`` shows only its start."""
        if len(self.findings) < MAX_FINDINGS:
            f = Finding(severity, code, message, self.number, list(frames), hint, key=key, direction=direction)
            if last and last > max(f.frames, default=0):
                f.first_frame, f.last_frame = min(f.frames, default=last), last
            self.findings.append(f)

    def note_gap(self, length: int, frame: int, direction: int = 0, ts_ns: int = 0) -> None:
        """The capture lost ``length`` bytes of ``direction`` before ``frame``."""
        self.gaps += 1
        if not self.loss[direction].gaps:
            self.loss_from[direction] = self.pdu_end_frame[direction] or 1
        self.loss[direction].add(length, frame, ts_ns)
        if len(self.findings) < MAX_FINDINGS:   # add_finding's bound, checked first: gaps come in thousands
            self.add_finding(WARN, "tcp-gap", f"{self.side(direction)} → {self.side(1 - direction)}: {length} bytes"
                             f" missing from the capture before frame {frame}", [frame], direction=direction,
                             key=str(direction))

    def note_close(self, direction: int, how: str, frame: int, ts_ns: int) -> None:
        """One direction ended (FIN, RST, or the capture's end): who closed first is in ``closes``."""
        if all(c.direction != direction for c in self.closes):
            self.closes.append(CloseEvent(direction, self.side(direction), how, frame, ts_ns))

    def close(self, how: str, ts: int) -> None:
        """Both directions ended (FIN, RST or end of capture)."""
        if self.closed:
            return
        self.closed = True
        self.end_how = how
        if ts and (self.end_ns is None or ts > self.end_ns):
            self.end_ns = ts
        if self.state in (REQUESTED, ESTABLISHED, RELEASING):
            self.state = INCOMPLETE
            why = {"rst": "the TCP connection was reset", "fin": "the TCP connection was closed",
                   "eof": "the capture ended"}.get(how, how)
            self.add_finding(WARN, "association-incomplete",
                             f"association did not end with A-RELEASE or A-ABORT: {why}", [self.last_frame])
        for ex in self._open.values():
            if ex.folded:
                self._fold(ex)
            if ex.request is not None:
                self.add_finding(WARN, "no-response",
                                 f"{ex.request.name} #{ex.message_id} got no final response",
                                 ex.request.frames[:1], direction=ex.request.direction)
        if self.started_mid:
            self.add_finding(NOTE, "started-mid-association",
                             "the capture began after this association was negotiated: contexts unknown",
                             [self.first_frame])

    def title(self) -> str:
        return f"{self.calling_ae or '?'} → {self.called_ae or '?'}"
