"""What every rule shares: thresholds (:class:`Options`), PDU facts gathered as the capture is read
(:class:`PduFacts`, :class:`PduWatch`, bounded memory), and small text helpers."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...dimse.commands import command_name
from ...field import ERROR, WARN
from ...textsafe import safe_text
from ...uids import uid_name
from ...ul.framer import loss_message
from ...ul.pdus import P_DATA_TF, RELEASE_RP, RELEASE_RQ, pdu_name
from ..association import IDLE_GAP_NS, MAX_CUTS_KEPT, Association, Exchange
from ..findings import Finding

C_STORE, C_FIND, C_MOVE, C_GET = 0x0001, 0x0020, 0x0021, 0x0010
DICOM_APP_CONTEXT = "1.2.840.10008.3.1.1.1"
MAX_EXPERT = MAX_CUTS_KEPT     # decoder findings kept per code and association (all are counted): 50


@dataclass(slots=True)
class Options:
    """Thresholds of the performance rules."""

    slow_s: float = 5.0              # a response later than this is slow
    idle_s: float = 10.0             # no PDU for this long inside an association
    tiny_pdu: int = 8192             # a max PDU length below this is tiny
    per_object_min: int = 5          # this many one-C-STORE associations between the same peers
    dataset_budget: int = 2000       # data sets decoded for checking, per capture (decoding costs ~1 ms each)
    command_cache: dict = field(default_factory=dict)
    dataset_cache: dict = field(default_factory=dict)
    facts: dict = field(default_factory=dict)            # association number → PduFacts


def _f(a: Association, severity: str, code: str, message: str, frames, hint: str = "", *, key: str = "",
       direction: int | None = None, last=()) -> Finding:
    """A finding of ``a``; ``last``: the evidence's last frame when ``frames`` shows only its start."""
    fr = [x for x in frames if x][:20]
    f = Finding(severity, code, message, a.number, fr, hint, key=key, direction=direction)
    end = max([x for x in last if x] + fr, default=0)
    if end and end != max(fr, default=0):
        f.first_frame, f.last_frame = min(fr, default=end), end
    return f


def _sop(uid: str | None) -> str:
    return safe_text(uid_name(uid)) if uid else "an unknown SOP class"


def _strip(uid: str | None) -> str | None:
    return uid.rstrip("\x00 ") if isinstance(uid, str) else uid


def _size(n: int) -> str:
    for unit, k in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= k:
            return f"{n / k:.1f} {unit}"
    return f"{n} bytes"


def _secs(ns: int) -> str:
    return f"{ns / 1e9:.2f} s"


class PduFacts:
    """What the rules need from one association's PDUs, gathered as they pass (bounded memory).

    Feed it every PDU in stream order with :meth:`observe`; the ``dicomsniff diagnose``
    command does so from PduSeen events, so the analyzer need not keep the PDUs.
    """

    MAX_KEPT = 50

    __slots__ = ("first", "over", "over_count", "over_max", "pdv_open", "pdv_issues", "gaps", "_last",
                 "expert", "expert_counts")

    def __init__(self):
        self.first: dict[int, tuple[int, int]] = {}          # PDU type → (frame, ts) of its first PDU
        self.over: dict[int, list[tuple[int, int]]] = {}     # direction → [(frame, length)] over the limit
        self.over_count: dict[int, int] = {}
        self.over_max: dict[int, tuple[int, int]] = {}       # direction → (largest length, limit)
        self.pdv_open: dict[tuple[int, int], tuple[str, int]] = {}
        self.pdv_issues: list[tuple] = []
        self.gaps: list[tuple] = []                          # (gap ns, prev name, prev frame, prev end, next name, frame, ts)
        self._last: tuple[int, int, int] | None = None       # (PDU type, frame, end ts) of the latest PDU
        self.expert: list[tuple[str, str, str, int, int]] = []  # (severity, code, message, frame, direction)
        self.expert_counts: dict[str, int] = {}               # code → occurrences (all, kept or not)

    def frame_of(self, pdu_type: int) -> int:
        return self.first.get(pdu_type, (0, 0))[0]

    @property
    def last(self) -> tuple[str, int, int] | None:
        """(name, frame, end ts) of the PDU that ended last."""
        x = self._last
        return None if x is None else (pdu_name(x[0]), x[1], x[2])

    def catch_up(self, a: Association, sealed: list | None = None) -> None:
        """Take in the P-DATA-TFs the analyzer counted without emitting them (``Analyzer(quiet_pdus=True)``,
        :meth:`Association.count_quiet`), as :meth:`observe` one by one would have: each was a complete PDU of
        one data PDV, not the last, on one context, within the receiver's maximum length, ending last so far
        and after no idle gap, so that only the first two can change ``pdv_open`` and the last is ``last``.
        ``sealed``: those a PDU event carried (``PduSeen.quiet``) instead of the association's."""
        src = a.quiet if sealed is None else sealed
        latest = None
        for d in (0, 1):
            q = src[d]
            if q is None:
                continue
            src[d] = None
            n, ctx, first, ts, second, frame, end, seq, cuts, ncut = q
            if P_DATA_TF not in self.first:
                self.first[P_DATA_TF] = (first, ts)
            self._data_pdv(d, ctx, first)
            if n > 1:
                self._data_pdv(d, ctx, second)
            if ncut:                # those a capture loss cut: their loss findings, as observe takes them
                self._cut_findings(d, cuts, ncut)
            if latest is None or seq > latest[0]:      # the direction counted last ended last
                latest = (seq, frame, end)
        if latest is not None:
            self._last = (P_DATA_TF, latest[1], latest[2])

    def _cut_findings(self, d: int, cuts: list, count: int) -> None:
        """The capture-loss findings of ``count`` quiet P-DATA-TFs a loss cut (Association.count_quiet_cut), the
        first of them kept as (frame, holes, length): what :meth:`observe` takes of each such PDU's one finding."""
        code = "tcp-gap"
        seen = self.expert_counts.get(code, 0)
        self.expert_counts[code] = seen + count
        name = pdu_name(P_DATA_TF)
        for frame, lost, length in cuts[:max(0, MAX_EXPERT - seen)]:
            self.expert.append((WARN, code, f"{name} in frame {frame}: {loss_message(lost, length)}", frame, d))

    def _data_pdv(self, d: int, ctx: int, frame: int) -> None:
        """:meth:`_pdata` for a data PDV that is not the last one of its message."""
        key = (d, ctx)
        prev = self.pdv_open.get(key)
        if prev is None:
            self.pdv_open[key] = ("data", frame)
        elif prev[0] != "data":
            if len(self.pdv_issues) < self.MAX_KEPT:
                self.pdv_issues.append(("sequence", "data", ctx, frame, prev[0], prev[1], d))
            del self.pdv_open[key]

    def observe(self, a: Association, p, sealed: list | None = None) -> None:
        """One PDU, in stream order; ``sealed``: the quiet P-DATA-TFs before it, when its event carried them
        (``PduSeen.quiet``: those in the association came after it)."""
        if sealed is not None:
            if sealed[0] is not None or sealed[1] is not None:
                self.catch_up(a, sealed)
        elif a.quiet[0] is not None or a.quiet[1] is not None:
            self.catch_up(a)
        t = p.pdu_type
        fl = p.spans.flat
        frame = fl[1] if fl else 0          # p.frame
        if t not in self.first:
            self.first[t] = (frame, p.ts_ns)
        last = self._last
        if last is not None:
            gap = p.ts_ns - last[2]
            if gap > IDLE_GAP_NS:             # idle gaps over 1 s; the longest MAX_KEPT are kept
                self.gaps.append((gap, pdu_name(last[0]), last[1], last[2], p.name, frame, p.ts_ns))
                if len(self.gaps) > self.MAX_KEPT:
                    self.gaps.remove(min(self.gaps))
        if last is None or p.end_ts_ns >= last[2]:
            self._last = (t, frame, p.end_ts_ns)
        if t == P_DATA_TF:
            self._pdata(a, p)
            if not p.findings:
                return
        elif t in (RELEASE_RQ, RELEASE_RP):
            for (d, ctx), (kind, frame) in list(self.pdv_open.items()):
                if d == p.direction:
                    self.pdv_issues.append(("last-missing", a.side(d), p.name, p.frame, kind, ctx, frame, d))
                    del self.pdv_open[(d, ctx)]
        try:
            found = p.all_findings()
        except Exception:
            found = []
        for x in found:
            if x.severity in (ERROR, WARN) and not x.code.startswith("ae-title"):
                n = self.expert_counts[x.code] = self.expert_counts.get(x.code, 0) + 1
                if n <= MAX_EXPERT:
                    self.expert.append((x.severity, x.code, f"{p.name} in frame {p.frame}: {x.message}", p.frame,
                                        p.direction))

    def _pdata(self, a: Association, p) -> None:
        d = p.direction
        peer = a.ac if d == a.client_dir else a.rq       # the receiver's negotiated Maximum Length Received
        limit = peer.user_info.max_pdu_length if peer is not None else None
        if limit and p.length > limit:
            self.over_count[d] = self.over_count.get(d, 0) + 1
            self.over.setdefault(d, [])
            if len(self.over[d]) < 5:
                self.over[d].append((p.frame, p.length))
            if p.length > self.over_max.get(d, (0, 0))[0]:
                self.over_max[d] = (p.length, limit)
        for v in p.pdvs:
            key = (d, v.context_id)
            kind = "command" if v.is_command else "data"
            prev = self.pdv_open.get(key)
            if prev is not None and prev[0] != kind:
                if len(self.pdv_issues) < self.MAX_KEPT:
                    self.pdv_issues.append(("sequence", kind, v.context_id, p.frame, prev[0], prev[1], d))
                self.pdv_open.pop(key, None)
                continue
            if v.is_last:
                self.pdv_open.pop(key, None)
            elif prev is None:
                self.pdv_open[key] = (kind, p.frame)


def facts_from_pdus(a: Association) -> PduFacts:
    """PduFacts from the PDUs an association kept (``Analyzer(keep_pdus=True)``)."""
    f = PduFacts()
    for p in a.pdus:
        f.observe(a, p)
    return f


class PduWatch:
    """Feeds PduFacts from pipeline events: ``watch.event(ev)`` for every event of a capture."""

    def __init__(self):
        self.facts: dict[int, PduFacts] = {}

    def event(self, ev) -> None:
        pdu = getattr(ev, "pdu", None)
        a = getattr(ev, "association", None)
        if pdu is None or a is None:
            return
        f = self.facts.get(a.number)
        if f is None:
            f = self.facts[a.number] = PduFacts()
        f.observe(a, pdu, getattr(ev, "quiet", None))


def _facts(a: Association, opts: Options) -> PduFacts:
    f = opts.facts.get(a.number)
    if f is None:
        f = opts.facts[a.number] = facts_from_pdus(a)
    if a.quiet[0] is not None or a.quiet[1] is not None:
        f.catch_up(a)
    return f


def _values(a: Association) -> dict:
    return {"calling": safe_text(a.calling_ae or "?"), "called": safe_text(a.called_ae or "?"),
            "client_ip": str(a.client).rsplit(":", 1)[0]}


def _req_label(ex: Exchange) -> str:
    m = ex.request or (ex.responses[0] if ex.responses else None)
    name = command_name(ex.command_field) if ex.command_field is not None else "message"
    if ex.request is None and m is not None:
        name = m.name
    return f"{name} #{ex.message_id}"


def _message_names(a: Association, frames: set[int]) -> dict[int, tuple[str, str]]:
    """Frame → (the message that starts in it, the message that ends in it), for the frames asked."""
    out: dict[int, tuple[str | None, str | None]] = {}
    for m in a.messages:
        fr = m.frames
        if not fr or not (frames & {fr[0], fr[-1]}):
            continue
        cmd = m.command
        label = m.name + (f" #{cmd.message_id}" if cmd is not None and cmd.message_id is not None else
                          f" #{cmd.responds_to}" if cmd is not None and cmd.responds_to is not None else "")
        if fr[0] in frames:
            first, last = out.get(fr[0], (None, None))
            out[fr[0]] = (first or label, last)
        if fr[-1] in frames:
            first, last = out.get(fr[-1], (None, None))
            out[fr[-1]] = (first, label)
    return {k: (v[0] or v[1] or "", v[1] or v[0] or "") for k, v in out.items()}


def _command_findings(cmd, cache: dict) -> list:
    """A command set's findings, cached by its bytes with the Message ID values masked (they vary, the
    findings do not)."""
    raw = bytes(cmd.raw)
    key = raw
    for tag in (b"\x00\x00\x10\x01\x02\x00\x00\x00", b"\x00\x00\x20\x01\x02\x00\x00\x00"):
        i = key.find(tag)
        if i >= 0 and i % 2 == 0:
            key = key[:i + 8] + b"\x00\x00" + key[i + 10:]
    hit = cache.get(key)
    if hit is None:
        try:
            hit = cache[key] = [x for x in cmd.findings if x.severity in (ERROR, WARN)]
        except Exception:
            hit = cache[key] = []
        if len(cache) > 10000:
            cache.clear()
    return hit


def _dataset_findings(data, opts: Options) -> list | None:
    """A data set's findings (None when the decoding budget is spent); identical small ones decode once."""
    buf = getattr(data, "_buf", None)
    key = (data.transfer_syntax, buf) if isinstance(buf, (bytes, bytearray)) and len(buf) <= 4096 else None
    if key is not None and key in opts.dataset_cache:
        return opts.dataset_cache[key]
    if opts.dataset_budget <= 0:
        return None
    opts.dataset_budget -= 1
    try:
        found = [x for x in data.findings if x.severity in (ERROR, WARN)]
    except Exception:
        found = []
    if key is not None and len(opts.dataset_cache) < 10000:
        opts.dataset_cache[key] = found
    return found


