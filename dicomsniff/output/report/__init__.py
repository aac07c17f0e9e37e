"""``dicomsniff report``: one self-contained HTML page of a capture, for a support ticket.

The page holds, with no network needed to view it (inline CSS, SVG and a small script allowed by
hash in its Content-Security-Policy): the associations on a time axis, an associations table, the
findings of ``dicomsniff diagnose`` (same grouping and wording, with frames and hints), response-time
statistics (:mod:`dicomsniff.model.timing`), and per association its negotiation table, its ladder as
an SVG sequence diagram (SCU and SCP lifelines, PDUs and DIMSE messages as arrows with time and status,
failures in red, C-MOVE sub-associations linked) and its command/data sets in ``<details>``.

Read in one streaming pass, in bounded memory (PDUs are not kept; each association is rendered to a
temporary file when it ends and forgotten): detail is capped per association (arrows, message sets)
and per capture (associations in detail; associations with errors get extra room), each cap said on the
page with "N more". Everything that came off the wire is HTML-escaped (:func:`h`).
"""

from __future__ import annotations

import html
import random
from array import array
import re
import tempfile
from dataclasses import dataclass, field

from ... import __version__
from ...field import ERROR, NOTE, WARN
from ...textsafe import safe_text
from ...uids import uid_name
from ..text import duration_text, iso_time, size_text, tree_lines
from .assets import CSS, JS, content_security_policy

HELD_SETS = 10      # sets of failing messages an association keeps in memory past the detail cap

__all__ = ["Limits", "PatientCheck", "ReportBuilder", "h", "write_report"]


def h(value: object) -> str:
    """Text from anywhere (the wire above all) as HTML text or attribute value: control characters shown
    as escapes (:func:`~dicomsniff.textsafe.safe_text`), then ``& < > " '`` escaped."""
    s = safe_text(value)
    if not s.isascii():                 # a lone surrogate (undecodable bytes kept by a decoder) cannot be written
        s = s.encode("utf-8", "replace").decode("utf-8")
    return html.escape(s, quote=True)


@dataclass(slots=True)
class Limits:
    """How much detail the page carries (beyond these, counts and "N more")."""

    associations: int = 200          # associations drawn in detail (ladder, negotiation, sets)
    error_associations: int = 100    # further associations with an error finding, drawn in detail too
    arrows: int = 300                # ladder arrows per association
    sets: int = 60                   # messages per association with their command/data set
    set_lines: int = 400             # lines of one command/data set tree
    table_rows: int = 2000           # rows of the associations table
    timeline: int = 300              # bars of the time axis (the first associations by start)
    overview: int = 50               # more associations than this: an overview histogram above the bars
    findings: int = 2000             # finding lines in the capture's findings section
    samples: int = 20000             # response times kept per statistics group (uniform sample beyond)
    peer_groups: int = 1000          # (peer, command) statistics groups; later peers are one "(other peers)" group
    peer_rows: int = 100             # rows of the by-peer table (the groups with the most requests)
    contexts_open: int = 16          # negotiation tables with more contexts start folded


# -- patient data ---------------------------------------------------------------------------------------

# Attributes whose value identifies a patient (a subset of PS3.15 Annex E, the ones any query or object
# carries): a data set with one of them non-empty carries patient data unless it says it was de-identified.
IDENTIFYING = ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs", "OtherPatientNames",
               "OtherPatientIDsSequence", "PatientAddress", "PatientTelephoneNumbers", "PatientMotherBirthName",
               "AccessionNumber", "ReferringPhysicianName", "MedicalRecordLocator", "IssuerOfPatientID")


@dataclass(slots=True)
class PatientCheck:
    """Do the capture's data sets carry patient data that was not de-identified?

    A data set is de-identified when it says so: Patient Identity Removed (0012,0062) = YES, or a
    De-identification Method (0012,0063) / Method Code Sequence (0012,0064) present (what
    ``dicomsniff anonymize`` writes into objects, PS3.15 §E.1.1). Query identifiers and their responses
    carry no such mark (adding keys would change the query): there, identifying values that are all
    ``dicomsniff anonymize``'s dummies (``ANON^0001``, ``ANON0001``; :data:`DUMMY`) or empty count as
    de-identified. Only the first ``limit`` data sets are decoded for this.
    """

    limit: int = 2000
    checked: int = 0
    with_patient_data: int = 0        # identifying attributes and no de-identification mark
    deidentified: int = 0
    first_frame: int = 0
    examples: set = field(default_factory=set)     # attribute keywords seen (never their values)

    def message(self, msg) -> None:
        data = getattr(msg, "data", None)
        if data is None or self.checked >= self.limit:
            return
        try:
            ds = data.dataset
        except Exception:          # a data set that does not decode: its findings say why
            return
        if ds is None:
            return
        self.checked += 1
        try:
            removed = str(ds.get("PatientIdentityRemoved", "") or "").strip().upper() == "YES"
            marked = removed or "DeidentificationMethod" in ds or "DeidentificationMethodCodeSequence" in ds
            present = [kw for kw in IDENTIFYING if kw in ds and _non_empty(ds.get(kw))]
            found = [kw for kw in present if not _dummy(ds.get(kw))]
            dummies = bool(present) and not found
        except Exception:          # a value pydicom cannot convert: judged by what was read
            return
        if marked or dummies:
            self.deidentified += 1
        elif found:
            self.with_patient_data += 1
            self.examples.update(found[:4])
            if not self.first_frame and msg.frames:
                self.first_frame = msg.frames[0]

    @property
    def warning(self) -> str | None:
        """The page's (and stderr's) warning, or None when no data set carries unmarked patient data."""
        if not self.with_patient_data:
            return None
        kws = ", ".join(sorted(self.examples)[:5])
        n = self.with_patient_data
        return (f"this capture contains patient data and was not anonymized: {n} data set{'s' if n != 1 else ''}"
                f" carr{'y' if n != 1 else 'ies'} {kws} without Patient Identity Removed (0012,0062) = YES"
                " or anonymize's dummy values"
                f" (first in frame {self.first_frame}); run `dicomsniff anonymize` on the capture before"
                " sharing it or this report")


# The dummy values ``dicomsniff anonymize`` writes (dicomsniff/anonymize/profile.py): ANON^0001 (PN), ANON0001.
DUMMY = re.compile(r"ANON\^?\d{4,}")


def _dummy(v) -> bool:
    """True when every value of the element is empty or one of ``dicomsniff anonymize``'s dummies."""
    try:
        if hasattr(v, "value"):
            v = v.value
        if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
            return all(_dummy(x) for x in v)
        if type(v).__name__ == "Sequence":
            return False
        text = (v.decode("latin-1") if isinstance(v, bytes) else str(v)).strip("\x00 ")
        return not text or DUMMY.fullmatch(text) is not None
    except Exception:
        return False


def _non_empty(v) -> bool:
    if v is None:
        return False
    try:
        if hasattr(v, "value"):
            v = v.value
        if isinstance(v, (bytes, str)):
            return bool(v.strip(b"\x00 " if isinstance(v, bytes) else "\x00 "))
        if isinstance(v, (list, tuple)) or type(v).__name__ in ("MultiValue", "Sequence"):
            return any(_non_empty(x) for x in v)
        return bool(str(v).strip())
    except Exception:
        return True


# -- response times ----------------------------------------------------------------------------------------

class TimeGroup:
    """Response times (request end → final response) of one group: exact count, min and max; median and
    95th percentile from all values, or from a uniform sample of ``limit`` of them beyond that."""

    __slots__ = ("command", "peer", "values", "count", "lo", "hi", "unanswered", "limit", "_rng")

    def __init__(self, command: str, peer: str, limit: int):
        self.command, self.peer, self.limit = command, peer, limit
        self.values: list[int] = []
        self.count = 0
        self.lo: int | None = None
        self.hi: int | None = None
        self.unanswered = 0
        self._rng = random.Random(0x5EED)

    def add(self, ns: int) -> None:
        self.count += 1
        self.lo = ns if self.lo is None else min(self.lo, ns)
        self.hi = ns if self.hi is None else max(self.hi, ns)
        if len(self.values) < self.limit:
            self.values.append(ns)
        else:                       # reservoir sampling (Algorithm R): every value kept with equal chance
            j = self._rng.randrange(self.count)
            if j < self.limit:
                self.values[j] = ns

    @property
    def sampled(self) -> bool:
        return self.count > len(self.values)

    def row(self) -> dict:
        from ...model.timing import median, percentile
        return {"count": self.count, "min": self.lo, "median": median(self.values),
                "p95": percentile(self.values, 95), "max": self.hi, "unanswered": self.unanswered}


# -- per association, while it is open ------------------------------------------------------------------------

@dataclass(slots=True)
class Arrow:
    """One arrow of a ladder: a PDU (other than P-DATA-TF) or a DIMSE message."""

    ts_ns: int
    direction: int
    label: str
    tip: str
    kind: str                     # "pdu" or "msg"
    cls: str = ""                 # "fail", "warnc", "cut"
    frame: int = 0
    anchor: str = ""              # id of its <details> of command/data set, when kept


@dataclass(slots=True)
class _Open:
    arrows: list = field(default_factory=list)
    arrows_more: int = 0
    more_by_name: dict = field(default_factory=dict)
    sets: list = field(default_factory=list)          # spool extents of its sets (while detail may be drawn)
    held: list = field(default_factory=list)          # sets of failing messages kept in memory past the cap
    sets_more: int = 0
    requests: dict = field(default_factory=dict)      # (direction, message id) -> index of its request arrow
    pdata: int = 0


@dataclass(slots=True)
class _Done:
    number: int
    row: dict                      # the associations-table row and time-axis bar
    extent: list | None            # where its detail lies in the spool, in order (None: not drawn in detail)


# -- the builder ---------------------------------------------------------------------------------------------

class ReportBuilder:
    """Feed it every event of :func:`~dicomsniff.reading.read_events`, then :meth:`write` the page."""

    def __init__(self, capture: str, analyzer, *, slow_s: float = 5.0, idle_s: float = 10.0,
                 limits: Limits | None = None, spool_dir: str | None = None, capture_size: int | None = None):
        from ...model.diagnosis import Diagnoser, PduWatch
        self.capture = capture
        self.an = analyzer
        self.slow_s, self.idle_s = slow_s, idle_s
        self.lim = limits or Limits()
        self.capture_size = capture_size
        self.watch = PduWatch()
        self.diag = Diagnoser(slow_s=slow_s, idle_s=idle_s, watch=self.watch)
        self.findings: list = []
        self.notices: list = []
        self.open: dict[int, _Open] = {}
        self.done: list[_Done] = []
        self.rows_more = 0
        self.detailed = 0
        self.detailed_errors = 0
        self.not_detailed = 0
        self.patients = PatientCheck()
        self.by_cmd: dict[str, TimeGroup] = {}
        self.by_peer: dict[tuple[str, str], TimeGroup] = {}
        self.starts = array("q")          # every association's start and whether it had an error: the overview
        self.erred = bytearray()
        self.t_lo: int | None = None
        self.t_hi: int | None = None
        self.outcomes: dict[str, int] = {}
        self._spool = tempfile.TemporaryFile(dir=spool_dir)
        self._end = 0

    def close(self) -> None:
        self._spool.close()

    # -- events --------------------------------------------------------------------------------------------

    def event(self, ev) -> None:
        from ...notice import Notice
        from ...pipeline import AssociationClosed, MessageSeen, PduSeen
        from ...ul.events import BRIEF_SPANS
        t = type(ev)
        if t is PduSeen:
            self.watch.event(ev)
            self._pdu(ev.association, ev.pdu)
        elif t is MessageSeen:
            self._message(ev.association, ev.message, ev.exchange)
            if ev.message.data_spans is not None:
                ev.message.data_spans.trim(BRIEF_SPANS)
        elif t is AssociationClosed:
            self._closed(ev.association)
        elif t is Notice and ev.where in ("capture", "tcp"):
            if ev.severity in (ERROR, WARN) and len(self.notices) < 1000:
                self.notices.append(ev)

    def _state(self, a) -> _Open:
        st = self.open.get(a.number)
        if st is None:
            st = self.open[a.number] = _Open()
        return st

    def _t(self, ts: int) -> str:
        t0 = self.an.first_ts or 0
        return f"{(ts - t0) / 1e9:.6f}"

    def _add_arrow(self, st: _Open, arrow: Arrow, name: str) -> int | None:
        if len(st.arrows) < self.lim.arrows:
            st.arrows.append(arrow)
            return len(st.arrows) - 1
        st.arrows_more += 1
        st.more_by_name[name] = st.more_by_name.get(name, 0) + 1
        return None

    def _pdu(self, a, pdu) -> None:
        from ...ul.pdus import ABORT, ASSOCIATE_RJ, P_DATA_TF
        st = self._state(a)
        if pdu.pdu_type == P_DATA_TF:
            st.pdata += 1
            if pdu.complete:
                return                      # its messages are the arrows
        cls = "fail" if pdu.pdu_type in (ABORT, ASSOCIATE_RJ) else ""
        if not pdu.complete:
            cls = (cls + " cut").strip()
        info = safe_text(pdu.info)
        if info.startswith(pdu.name):
            label = info
        else:
            label = pdu.name + (f"  {info}" if info and pdu.pdu_type != P_DATA_TF else "")
        if not pdu.complete:
            label += "  (incomplete)"
        tip = f"frame {pdu.frame}, {self._t(pdu.ts_ns)} s, {a.side(pdu.direction)}, {pdu.length + 6} bytes"
        self._add_arrow(st, Arrow(pdu.ts_ns, pdu.direction, label, tip, "pdu", cls, pdu.frame), pdu.name)

    def _message(self, a, msg, ex) -> None:
        from ...dimse.commands import is_request, is_response, service_of
        from ...dimse.status import status_info
        from ...model.timing import exchange_times, responder, since_request_ns
        from ..describe import identifier_keys
        st = self._state(a)
        self.patients.message(msg)
        cmd = msg.command
        cf = cmd.command_field if cmd is not None else None
        parts = [msg.name]
        cls = ""
        if cmd is not None:
            if is_request(cf):
                parts.append(f"#{cmd.message_id}")
                sop = cmd.affected_sop_class_uid or cmd.requested_sop_class_uid
                if sop:
                    parts.append(safe_text(uid_name(sop)))
                if cmd.move_destination:
                    parts.append(f"to {safe_text(cmd.move_destination.strip())}")
            elif is_response(cf):
                parts.append(f"#{cmd.responds_to}")
                sop_rq = ex.request.command.affected_sop_class_uid \
                    if ex is not None and ex.request is not None and ex.request.command is not None else None
                info = status_info(cmd.status, cf, sop_rq) if cmd.status is not None else None
                if info is not None:
                    parts.append(info.display if info.code != 0 else "Success")
                    if info.category == "Failure":
                        cls = "fail"
                    elif info.category in ("Warning", "Cancel"):
                        cls = "warnc"
                if cmd.error_comment:
                    parts.append(f"“{safe_text(cmd.error_comment.strip())}”")
        if msg.data_spans is not None:
            parts.append(f"+ data {size_text(msg.data_length)}")
        if not msg.complete:
            cls = (cls + " cut").strip()
            parts.append(f"(incomplete: {msg.cut or 'cut'})")
        label = " ".join(p for p in parts if p)
        tip = f"frames {', '.join(map(str, msg.frames[:8]))}{' …' if len(msg.frames) > 8 else ''}, " \
              f"{self._t(msg.ts_ns)} s, {a.side(msg.direction)}"
        since = since_request_ns(ex, msg) if ex is not None else None
        if since is not None:
            tip += f", {duration_text(since)} after the request"
        anchor = ""
        kept = len(st.sets) + len(st.held)
        if kept < self.lim.sets and self.detailed < self.lim.associations:
            # written to disk at once: memory does not grow with the open associations' sets
            anchor = f"a{a.number}-m{msg.index}"
            keys = identifier_keys(msg)
            st.sets.append(self._spool_text(self._set_html(anchor, label + (f" ({keys})" if keys else ""), tip,
                                                           msg, cls)))
        elif (("fail" in cls or "cut" in cls) and kept < min(self.lim.sets, HELD_SETS)
              and self.detailed_errors < self.lim.error_associations):
            # past the cap only an association with errors may still be drawn: keep its failing messages' sets
            anchor = f"a{a.number}-m{msg.index}"
            st.held.append(self._set_html(anchor, label, tip, msg, cls))
        else:
            st.sets_more += 1
        i = self._add_arrow(st, Arrow(msg.ts_ns, msg.direction, label, tip, "msg", cls,
                                      msg.frames[0] if msg.frames else 0, anchor), msg.name)
        if cmd is not None and is_request(cf) and i is not None:
            st.requests[(msg.direction, cmd.message_id)] = i
        if cmd is not None and is_response(cf) and "fail" in cls:
            j = st.requests.get((1 - msg.direction, cmd.responds_to))
            if j is not None and "fail" not in st.arrows[j].cls:
                st.arrows[j].cls = (st.arrows[j].cls + " fail").strip()
        # response times: once per exchange, at its final response
        if ex is not None and ex.request is not None and cmd is not None and is_response(cf) \
                and ex.final is msg:
            times = exchange_times(ex)
            if times.final_ns is not None:
                for g in self._time_groups(service_of(ex.command_field), responder(a, ex)):
                    g.add(times.final_ns)

    def _time_groups(self, command: str, peer: str) -> tuple[TimeGroup, TimeGroup]:
        g1 = self.by_cmd.get(command)
        if g1 is None:
            g1 = self.by_cmd[command] = TimeGroup(command, "", self.lim.samples)
        key = (peer, command)
        g2 = self.by_peer.get(key)
        if g2 is None:
            if len(self.by_peer) >= self.lim.peer_groups:     # e.g. C-GET SCUs on ephemeral ports: bounded
                key = ("(other peers)", command)
                g2 = self.by_peer.get(key)
            if g2 is None:
                g2 = self.by_peer[key] = TimeGroup(command, key[0], self.lim.samples)
        return g1, g2

    def _set_html(self, anchor: str, label: str, tip: str, msg, cls: str) -> str:
        out = [f'<details class="msg" id="{anchor}"><summary class="{cls}">{h(label)}'
               f' <span class="muted">({h(tip)})</span></summary>']
        cmd = msg.command
        if cmd is not None:
            out.append("<div>Command set</div>" + self._tree_pre(lambda: cmd.tree))
        if msg.data is not None:
            kept = getattr(msg.data, "kept", None)
            note = ""
            if getattr(msg.data, "truncated", False) and kept is not None:
                note = f" (first {size_text(kept)} of {size_text(msg.data_length)} decoded)"
            ts = safe_text(uid_name(msg.transfer_syntax)) if msg.transfer_syntax else "transfer syntax unknown"
            out.append(f"<div>Data set, {h(ts)}{h(note)}</div>" + self._tree_pre(lambda: msg.data.tree))
        elif msg.data_spans is not None:
            out.append(f"<div>Data set: {h(size_text(msg.data_length))}, not decoded</div>")
        out.append("</details>")
        return "".join(out)

    def _tree_pre(self, tree) -> str:
        try:
            lines = tree_lines(tree(), indent="  ")
        except Exception:         # a tree that cannot be built: say so, never fail the page
            return '<pre class="muted">(could not be decoded)</pre>'
        more = len(lines) - self.lim.set_lines
        lines = [ln if len(ln) <= 300 else ln[:299] + "…" for ln in lines[:self.lim.set_lines]]
        text = "\n".join(h(ln) for ln in lines)
        if more > 0:
            text += f'\n<span class="more">… {more} more lines</span>'
        return f"<pre>{text}</pre>"

    # -- an association ended ----------------------------------------------------------------------------------

    def _closed(self, a) -> None:
        from ...model.timing import responder
        from ...dimse.commands import service_of
        mine = self.diag.association(a, forget=True)
        self.findings.extend(mine)
        st = self.open.pop(a.number, None) or _Open()
        for c in a.closes:            # how the connection ended, drawn even past the arrow cap (two at most)
            if c.how in ("fin", "rst"):
                abrupt = c.how == "rst" or not (a.released or a.abort is not None or a.rj is not None)
                st.arrows.append(Arrow(c.ts_ns, c.direction, f"TCP {c.how.upper()} ({c.side} closes the connection)",
                                       f"frame {c.frame}, {self._t(c.ts_ns)} s, {c.side}", "tcp",
                                       "fail" if c.how == "rst" else ("warnc" if abrupt else ""), c.frame))
        st.arrows.sort(key=lambda ar: ar.ts_ns)       # a message is known after the PDUs that carry it
        for ex in a.open_exchanges:
            if ex.request is not None:
                for g in self._time_groups(service_of(ex.command_field), responder(a, ex)):
                    g.unanswered += 1
        if a.start_ns is not None:
            self.t_lo = a.start_ns if self.t_lo is None else min(self.t_lo, a.start_ns)
        end = a.end_ns if a.end_ns is not None else a.start_ns
        if end is not None:
            self.t_hi = end if self.t_hi is None else max(self.t_hi, end)
        self.outcomes[a.outcome] = self.outcomes.get(a.outcome, 0) + 1
        errors = any(f.severity == ERROR for f in mine)
        if a.start_ns is not None:
            self.starts.append(a.start_ns)
            self.erred.append(1 if errors or a.failures else 0)
        extent = None
        if self.detailed < self.lim.associations or (errors and self.detailed_errors < self.lim.error_associations):
            if self.detailed < self.lim.associations:
                self.detailed += 1
            else:
                self.detailed_errors += 1
            extent = self._association_html(a, st)
        else:
            self.not_detailed += 1
        row = _row(a, mine, self.an.first_ts or 0)
        if len(self.done) < self.lim.table_rows or extent is not None:
            self.done.append(_Done(a.number, row, extent))
        else:
            self.rows_more += 1
        self.an.forget(a)

    def _copy(self, off: int, n: int, write) -> None:
        """Write ``n`` spooled bytes from ``off`` (each extent is whole UTF-8 text), a chunk at a time."""
        import codecs
        decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        self._spool.seek(off)
        while n > 0:
            chunk = self._spool.read(min(n, 1 << 20))
            if not chunk:
                break
            n -= len(chunk)
            text = decode(chunk, final=n <= 0)
            if text:
                write(text)

    def _spool_text(self, text: str) -> tuple[int, int]:
        data = text.encode("utf-8")
        self._spool.seek(self._end)
        self._spool.write(data)
        ext = (self._end, len(data))
        self._end += len(data)
        return ext

    def _association_html(self, a, st: _Open) -> list:
        """Spool the association's detail; its parts' extents, in order (its sets were spooled as they came)."""
        out = ['<div class="detail-body">']
        out.append(_facts_html(a, st))
        out.append(_negotiation_html(a, self.lim.contexts_open))
        out.append("<h3>Ladder</h3>")
        out.append(_ladder_svg(a, st, self._t))
        if st.arrows_more:
            most = sorted(st.more_by_name.items(), key=lambda kv: -kv[1])[:8]
            what = ", ".join(f"{n} × {safe_text(k)}" for k, n in most)
            out.append(f'<p class="more">… {st.arrows_more} more PDUs and messages not drawn ({h(what)});'
                       " the outcomes of every exchange are counted above</p>")
        out.append("<h3>Command and data sets</h3>")
        if not st.sets and not st.held:
            out.append('<p class="muted">none kept</p>')
        parts = [self._spool_text("".join(out))] + st.sets
        tail = list(st.held)
        if st.held:
            tail.insert(0, '<p class="more">Past the report\'s detail cap: the sets of failing messages only</p>')
        if st.sets_more:
            tail.append(f'<p class="more">… {st.sets_more} more messages whose sets are not included</p>')
        tail.append("</div>")
        parts.append(self._spool_text("".join(tail)))
        return parts

    # -- the page ------------------------------------------------------------------------------------------------

    def finish(self) -> None:
        for a in list(self.an.associations):       # never closed (should not happen): rendered anyway
            self._closed(a)
        self.findings.extend(self.diag.finish())

    def write(self, write) -> None:
        """Write the page (after :meth:`finish`)."""
        from ...model.diagnosis import ordered
        from ..diagnose import counts, notice_findings
        every = ordered(self.findings) + notice_findings(self.notices)
        mine: dict[int, list] = {}
        for f in every:
            mine.setdefault(f.association, []).append(f)
        links = _sub_links(every)
        self.done.sort(key=lambda d: d.number)
        known = {d.number for d in self.done if d.extent is not None}
        c = counts(every)
        n_assoc = len(self.done) + self.rows_more
        title = f"dicomsniff report: {safe_text(self.capture)}"
        write("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
              f'<meta http-equiv="Content-Security-Policy" content="{h(content_security_policy())}">\n'
              '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
              f"<title>{h(title)}</title>\n<style>{CSS}</style></head>\n<body>\n")
        write(f"<h1>{h(title)}</h1>\n")
        span = (self.t_hi - self.t_lo) if self.t_lo is not None and self.t_hi is not None else None
        first = iso_time(self.an.first_ts) if self.an.first_ts else "-"
        size = f", {size_text(self.capture_size)}" if self.capture_size is not None else ""
        write(f'<p class="muted" id="capture-facts">{int(self.an.frames)} frames{h(size)}, first frame {h(first)},'
              f" DICOM over {h(duration_text(span))}; made by dicomsniff {h(__version__)}; slow response threshold"
              f" {self.slow_s:g} s, idle gap threshold {self.idle_s:g} s</p>\n")
        outcome = ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items()))
        write(f'<p id="counts"><b><span id="association-count">{n_assoc}</span> association'
              f"{'s' if n_assoc != 1 else ''}</b> ({h(outcome or 'none')}); "
              f'<span class="sev-error">{c[ERROR]} error{"s" if c[ERROR] != 1 else ""}</span>, '
              f'<span class="sev-warning">{c[WARN]} warning{"s" if c[WARN] != 1 else ""}</span>, '
              f'<span class="sev-note">{c[NOTE]} note{"s" if c[NOTE] != 1 else ""}</span></p>\n')
        warn = self.patients.warning
        if warn:
            write(f'<div class="banner warn" id="patient-warning"><b>Patient data.</b> {h(warn)}.</div>\n')
        elif self.patients.deidentified:
            n = self.patients.deidentified
            write(f'<div class="banner ok" id="patient-ok">The {n} data set{"s" if n != 1 else ""} with patient'
                  f" attributes {'are' if n != 1 else 'is'} de-identified (Patient Identity Removed = YES, or"
                  " `dicomsniff anonymize`'s dummy values).</div>\n")
        if self.not_detailed or self.rows_more:
            write(f'<p class="more" id="caps">Detail is drawn for {self.detailed + self.detailed_errors} associations'
                  f" (the first {self.lim.associations}, and up to {self.lim.error_associations} more with errors);"
                  f" the other {self.not_detailed} are summarised only"
                  + (f"; the table lists the first {self.lim.table_rows} and those drawn, the other {self.rows_more}"
                     " are in the counts above only" if self.rows_more else " (in the table)") + ".</p>\n")
        write('<nav class="toolbar"><a href="#timeline">Time axis</a> · <a href="#associations">Associations</a> · '
              '<a href="#findings">Findings</a> · <a href="#timing">Response times</a> · '
              '<a href="#details">Details</a></nav>\n')
        write('<h2 id="timeline">Associations on a time axis</h2>\n')
        if len(self.starts) > self.lim.overview:
            write(_overview_svg(self.starts, self.erred, self.an.first_ts or 0))
        write(_timeline_svg(self.done, self.an.first_ts or 0, links, known, self.lim.timeline, len(self.starts)))
        write('<h2 id="associations">Associations</h2>\n')
        write('<input id="filter" type="search" placeholder="filter rows (AE title, address, outcome…)">\n')
        write(_table_html(self.done, mine))
        if self.rows_more:
            write(f'<p class="more">… {self.rows_more} more associations (counted above)</p>\n')
        write('<h2 id="findings">Findings</h2>\n')
        write(_findings_html(self.done, every, self.lim.findings, known))
        write('<h2 id="timing">Response times</h2>\n')
        write(_timing_html(self.by_cmd, self.by_peer, self.lim.peer_rows))
        write('<h2 id="details">Associations in detail</h2>\n')
        write('<p class="toolbar"><button id="expand-all" type="button">expand all sets</button>'
              '<button id="collapse-all" type="button">collapse all</button></p>\n')
        for d in sorted(self.done, key=lambda d: d.number):
            if d.extent is None:
                continue
            r = d.row
            write(f'<section class="assoc" id="assoc-{d.number}" data-outcome="{h(r["outcome"])}">'
                  f'<h3>Association #{d.number} {h(r["title"])} <span class="mono">({h(r["client"])} → '
                  f'{h(r["server"])})</span> <span class="outcome-{h(r["outcome"])}">{h(r["outcome_text"])}</span>'
                  "</h3>\n")
            if d.number in links:
                write('<p class="links">Linked: ' + ", ".join(
                    (f'<a href="#assoc-{n}">association #{n}</a>' if n in known else f"association #{n}")
                    + f" ({h(why)})" for n, why in links[d.number]) + "</p>\n")
            fs = mine.get(d.number, [])
            if fs:
                write('<div class="findings">' + "".join(_finding_html(f) for f in
                                                          sorted(fs, key=lambda f: (-f.rank, f.first)))
                      + "</div>\n")
            else:
                write('<p class="muted">No findings.</p>\n')
            for off, n in d.extent:
                self._copy(off, n, write)
            write("</section>\n")
        write(f"<script>{JS}</script>\n</body></html>\n")


# -- pieces of the page ------------------------------------------------------------------------------------------

def _row(a, findings: list, t0: int) -> dict:
    from ..describe import association_title, outcome_text
    return {"number": a.number, "start": a.start_ns, "end": a.end_ns, "t0": t0,
            "client": str(a.client), "server": str(a.server), "title": association_title(a),
            "outcome": a.outcome, "outcome_text": outcome_text(a), "messages": a.message_count,
            "failures": a.failures, "duration": a.duration_ns,
            "errors": sum(1 for f in findings if f.severity == ERROR),
            "warnings": sum(1 for f in findings if f.severity == WARN),
            "notes": sum(1 for f in findings if f.severity == NOTE)}


_SUB_RE = re.compile(r"(?:association|associations|sub-association|and) #(\d+)")


def _sub_links(findings: list) -> dict[int, list[tuple[int, str]]]:
    """Association number → [(linked association, why)] from the diagnosis' ``move-sub-association`` findings."""
    out: dict[int, list[tuple[int, str]]] = {}
    for f in findings:
        if f.code != "move-sub-association":
            continue
        for m in _SUB_RE.finditer(f.message):
            n = int(m.group(1))
            if n == f.association:
                continue
            why = "its C-MOVE's sub-association" if f.message.startswith("C-MOVE") else "the C-MOVE it carries"
            lst = out.setdefault(f.association, [])
            if all(x != n for x, _ in lst):
                lst.append((n, why))
    return out


def _finding_html(f) -> str:
    from ..diagnose import _frames
    times = f" ×{f.count}" if f.count > 1 else ""
    hint = f'<div class="hint">→ {h(f.hint)}</div>' if f.hint else ""
    return (f'<div class="finding sev-row-{h(f.severity)}" data-code="{h(f.code)}">'
            f'<span class="sev sev-{h(f.severity)}">{h(f.severity.upper())}</span> '
            f"<b>{h(f.code)}{h(times)}:</b> {h(f.message)}<span class=\"frames\">{h(_frames(f))}</span>{hint}</div>")


def _findings_html(done: list, every: list, cap: int, known: set) -> str:
    from ..diagnose import grouped

    class _A:                       # what grouped() needs of an association: its number
        __slots__ = ("number",)

        def __init__(self, n):
            self.number = n
    rows = {d.number: d.row for d in done}
    numbers = {f.association for f in every if f.association}
    if not every:
        return '<p id="no-findings">No problems found.</p>\n'
    out = []
    shown = 0
    left: dict[str, int] = {}
    for a, fs in grouped([_A(n) for n in numbers], every):
        if a is None:
            head = "<h3>Capture</h3>"
        else:
            r = rows.get(a.number)
            name = f"Association #{a.number}"
            link = f'<a href="#assoc-{a.number}">{name}</a>' if a.number in known else name
            head = f"<h3>{link}" + (f' {h(r["title"])} <span class="mono">({h(r["client"])} → '
                                    f'{h(r["server"])})</span>'
                                    f' <span class="outcome-{h(r["outcome"])}">{h(r["outcome_text"])}</span>'
                                    if r else "") + "</h3>"
        body = []
        for f in fs:
            if shown >= cap:
                left[f.severity] = left.get(f.severity, 0) + 1
                continue
            shown += 1
            body.append(_finding_html(f))
        if body:
            out.append(head + "".join(body))
    if left:
        out.append('<p class="more">… ' + ", ".join(f"{n} more {k}{'s' if n != 1 else ''}" for k, n in left.items())
                   + " (see each association, or `dicomsniff diagnose`)</p>")
    return "\n".join(out) + "\n"


def _table_html(done: list, mine: dict) -> str:
    from ..text import rel_time
    out = ['<table id="assoc-table"><thead><tr><th class="num">#</th><th class="num">Start (s)</th>'
           "<th>Client → Server</th><th>Calling → Called AE</th><th>Outcome</th><th class=\"num\">Msgs</th>"
           '<th class="num">Fail</th><th class="num">Duration</th><th>Findings</th></tr></thead><tbody>']
    for d in done:
        r = d.row
        num = f'<a href="#assoc-{d.number}">{d.number}</a>' if d.extent is not None else str(d.number)
        fc = []
        if r["errors"]:
            fc.append(f'<span class="sev-error">{r["errors"]} err</span>')
        if r["warnings"]:
            fc.append(f'<span class="sev-warning">{r["warnings"]} warn</span>')
        if r["notes"]:
            fc.append(f'<span class="sev-note">{r["notes"]} note</span>')
        start = rel_time(r["start"], r["t0"]) if r["start"] is not None else "-"
        out.append(f'<tr data-assoc="{d.number}"><td class="num">{num}</td><td class="num">{h(start)}</td>'
                   f'<td class="mono">{h(r["client"])} → {h(r["server"])}</td><td>{h(r["title"])}</td>'
                   f'<td class="outcome-{h(r["outcome"])}">{h(r["outcome_text"])}</td>'
                   f'<td class="num">{r["messages"]}</td>'
                   f'<td class="num{" fail" if r["failures"] else ""}">{r["failures"]}</td>'
                   f'<td class="num">{h(duration_text(r["duration"]))}</td><td>{" ".join(fc)}</td></tr>')
    out.append("</tbody></table>\n")
    return "".join(out)


def _overview_svg(starts, erred, t0: int, bins: int = 120) -> str:
    """Every association's start in ``bins`` columns over the capture: how many began when, red where some of
    them had an error (for captures with more associations than the time axis draws)."""
    lo, hi = min(starts), max(starts)
    span = max(hi - lo, 1)
    counts = [0] * bins
    bad = [0] * bins
    for ts, e in zip(starts, erred):
        i = min(bins - 1, (ts - lo) * bins // span)
        counts[i] += 1
        bad[i] += e
    top = max(counts)
    left, width, height = 190, 760, 70
    w = width / bins
    out = [f'<svg id="overview-svg" xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}"'
           f' viewBox="0 0 {left + width + 80} {height}" role="img" aria-label="associations started over time">',
           f'<text x="4" y="30">all {len(starts)} associations</text><text x="4" y="44" class="t">by start, max'
           f" {top} per column</text>",
           f'<text class="t" x="{left}" y="{height - 2}">{(lo - t0) / 1e9:.3f} s</text>'
           f'<text class="t" x="{left + width}" y="{height - 2}" text-anchor="end">{(hi - t0) / 1e9:.3f} s</text>']
    for i, n in enumerate(counts):
        if not n:
            continue
        hh = max(1.0, 50 * n / top)
        x = left + i * w
        t1 = (lo + span * i / bins - t0) / 1e9
        tip = f"<title>from {t1:.3f} s: {n} associations{f', {bad[i]} with errors' if bad[i] else ''}</title>"
        ww = max(w - 0.5, 0.5)
        out.append(f'<rect class="ov" x="{x:.1f}" y="{54 - hh:.1f}" width="{ww:.1f}" height="{hh:.1f}"'
                   f' fill="#90a4ae">{tip}</rect>')
        if bad[i]:                      # the part with errors, red, at the bottom (at least 2 px: never lost)
            hb = max(2.0, hh * bad[i] / n)
            out.append(f'<rect class="ov-err" x="{x:.1f}" y="{54 - hb:.1f}" width="{ww:.1f}" height="{hb:.1f}"'
                       f' fill="#c62828">{tip}</rect>')
    out.append("</svg>\n")
    return "".join(out)


def _timeline_svg(done: list, t0: int, links: dict, known: set, cap: int, total: int) -> str:
    rows = sorted((d for d in done if d.row["start"] is not None), key=lambda d: (d.row["start"], d.number))
    if not rows:
        return '<p class="muted">No associations.</p>\n'
    rows = rows[:cap]
    more = total - len(rows)
    lo = min(d.row["start"] for d in rows)
    hi = max((d.row["end"] or d.row["start"]) for d in rows)
    span = max(hi - lo, 1)
    left, width, row_h = 190, 760, 16
    height = 30 + row_h * len(rows)
    x = lambda ts: left + (ts - lo) * width / span          # noqa: E731
    y_of = {d.number: 24 + i * row_h for i, d in enumerate(rows)}
    out = [f'<svg id="timeline-svg" xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}"'
           f' viewBox="0 0 {left + width + 80} {height}" role="img" aria-label="associations on a time axis">']
    for k in range(6):
        ts = lo + span * k / 5
        xx = x(ts)
        out.append(f'<line class="axis" x1="{xx:.1f}" y1="14" x2="{xx:.1f}" y2="{height}"/>'
                   f'<text class="t" x="{xx:.1f}" y="11" text-anchor="middle">{(ts - t0) / 1e9:.3f} s</text>')
    for d in rows:
        r = d.row
        y = y_of[d.number]
        x1 = x(r["start"])
        x2 = max(x(r["end"] or r["start"]), x1 + 2)
        label = f'#{d.number} {r["title"]}'
        if len(label) > 28:
            label = label[:27] + "…"
        bar = (f'<rect class="bar bar-{h(r["outcome"])}" x="{x1:.1f}" y="{y}" width="{x2 - x1:.1f}"'
               f' height="{row_h - 3}">'
               f'<title>#{d.number} {h(r["title"])} {h(r["client"])} → {h(r["server"])}: {h(r["outcome_text"])},'
               f' {r["messages"]} messages, {r["errors"]} errors</title></rect>')
        if r["errors"] or r["failures"]:
            bar += f'<circle cx="{x2 + 6:.1f}" cy="{y + (row_h - 3) / 2:.1f}" r="4" fill="#c62828"/>'
        text = f'<text x="4" y="{y + row_h - 5}">{h(label)}</text>'
        if d.extent is not None:
            out.append(f'<a href="#assoc-{d.number}" class="tl-row" data-assoc="{d.number}">{text}{bar}</a>')
        else:
            out.append(f'<g class="tl-row" data-assoc="{d.number}">{text}{bar}</g>')
    for n, lst in links.items():
        for m, why in lst:
            if n < m and n in y_of and m in y_of:       # each pair once: from the C-MOVE's association
                dm = next(d for d in rows if d.number == m)
                xm = x(dm.row["start"])
                out.append(f'<path class="link" d="M{xm - 4:.1f},{y_of[n] + row_h / 2:.1f} L{xm:.1f},'
                           f'{y_of[m] + row_h / 2:.1f}"><title>#{n} ↔ #{m}: {h(why)}</title></path>')
    out.append("</svg>\n")
    if more > 0:
        out.append(f'<p class="more">… {more} later associations are not drawn on the axis (the overview above'
                   " counts them all)</p>\n")
    return "".join(out)


def _facts_html(a, st: _Open) -> str:
    from ..describe import exchange_line
    parts = [f"{a.pdu_count} PDUs ({st.pdata} P-DATA-TF)", f"{a.message_count} messages", f"{a.objects} objects",
             f"{size_text(a.bytes[a.client_dir])} from client", f"{size_text(a.bytes[1 - a.client_dir])} from server",
             f"duration {duration_text(a.duration_ns)}"]
    out = [f'<p class="muted">{h(", ".join(parts))}</p>']
    lines = []
    for ex in a.exchanges[:40]:
        info = ex.status_info
        cls = "fail" if info is None or info.category == "Failure" else ("warnc" if info.category == "Warning" else "")
        lines.append(f'<li class="{cls}">{h(exchange_line(ex))}</li>')
    if lines:
        more = len(a.exchanges) - 40 + a.folded_count
        out.append("<details open><summary>Exchanges</summary><ul class=\"mono\">" + "".join(lines)
                   + (f'<li class="more">… {more} more exchanges</li>' if more > 0 else "") + "</ul>")
        if a.folded:
            out.append("<p>Beyond the detail kept, by outcome:</p><ul class=\"mono\">")
            for (name, cat, text), n in sorted(a.folded.items(), key=lambda kv: -kv[1]):
                out.append(f'<li class="{"fail" if cat == "Failure" else ""}">{n} × {h(name)} → {h(text)}</li>')
            out.append("</ul>")
        out.append("</details>")
    return "".join(out)


def _negotiation_html(a, contexts_open: int) -> str:
    from ...ul.tables import user_identity_type_text
    from ..describe import ts_name
    out = ["<h3>Negotiation</h3>"]
    if a.rq is None and a.ac is None:
        out.append('<p class="muted">The capture has neither A-ASSOCIATE-RQ nor -AC of this association.</p>')
    rows = []

    def impl(x):
        if x is None:
            return "-", "-", "-"
        ui = x.user_info
        mp = ui.max_pdu_length
        mp_text = "unlimited (0)" if mp == 0 else (str(mp) if mp is not None else "-")
        cls = ui.implementation_class_uid
        cls_text = f"{cls} ({uid_name(cls)})" if cls and uid_name(cls) != cls else (cls or "-")
        return mp_text, cls_text, ui.implementation_version or "-"
    rq, ac = impl(a.rq), impl(a.ac)
    for i, name in enumerate(("max PDU length", "implementation class UID", "implementation version")):
        rows.append((name, rq[i], ac[i]))
    for side, x in (("requestor", a.rq), ("acceptor", a.ac)):
        if x is None:
            continue
        ui = x.user_info
        if ui.async_window:
            rows.append((f"async operations window ({side})", f"invoked {ui.async_window[0]}, performed"
                         f" {ui.async_window[1]}", "") if side == "requestor" else
                        ("async operations window (acceptor)", "", f"invoked {ui.async_window[0]}, performed"
                         f" {ui.async_window[1]}"))
    if a.rq is not None and a.rq.user_info.user_identity is not None:
        u = a.rq.user_info.user_identity
        who = u.primary.decode("utf-8", "replace") if u.type in (1, 2) else f"{len(u.primary)} bytes"
        pw = ", password present (not shown)" if u.secondary else ""
        answered = bool(a.ac and a.ac.user_info.user_identity and a.ac.user_info.user_identity.server_response)
        rows.append(("user identity", f"{user_identity_type_text(u.type)} {who}{pw}",
                     "server response present" if answered else "-"))
    out.append('<table class="negotiation"><thead><tr><th></th><th>requestor (SCU: '
               f'{h(a.calling_ae or "?")})</th><th>acceptor (SCP: {h(a.called_ae or "?")})</th></tr></thead><tbody>')
    for name, x, y in rows:
        out.append(f"<tr><th>{h(name)}</th><td class=\"mono\">{h(x)}</td><td class=\"mono\">{h(y)}</td></tr>")
    out.append("</tbody></table>")
    roles = []
    for side, x in (("requestor", a.rq), ("acceptor", a.ac)):
        if x is not None:
            for r in x.user_info.roles:
                roles.append(f"<li>{h(side)}: {h(uid_name(r.sop_class_uid))} SCU={r.scu_role} SCP={r.scp_role}</li>")
    if roles:
        out.append("<details><summary>SCP/SCU role selection</summary><ul>" + "".join(roles) + "</ul></details>")
    if a.contexts:
        ctxs = sorted(a.contexts.values(), key=lambda c: c.id)
        acc = sum(1 for c in ctxs if c.accepted)
        out.append(f'<details{" open" if len(ctxs) <= contexts_open else ""}><summary>Presentation contexts:'
                   f" {len(ctxs)} proposed, {acc} accepted</summary>")
        out.append('<table class="contexts"><thead><tr><th class="num">ID</th><th>Abstract syntax</th>'
                   "<th>Proposed transfer syntaxes</th><th>Result</th><th>Accepted transfer syntax</th></tr></thead>"
                   "<tbody>")
        for c in ctxs:
            cls = "" if c.accepted else (' class="fail"' if c.result is not None else ' class="warnc"')
            name = uid_name(c.abstract_syntax) if c.abstract_syntax else "(unknown)"
            uid = f'<br><span class="muted mono">{h(c.abstract_syntax)}</span>' \
                if c.abstract_syntax and name != c.abstract_syntax else ""
            proposed = "<br>".join(h(ts_name(t)) for t in c.proposed) or "-"
            out.append(f'<tr{cls}><td class="num">{c.id}</td><td>{h(name)}{uid}</td><td>{proposed}</td>'
                       f"<td>{h(c.result_text)}</td>"
                       f"<td>{h(ts_name(c.transfer_syntax)) if c.accepted else '-'}</td></tr>")
        out.append("</tbody></table></details>")
    return "".join(out)


def _ladder_svg(a, st: _Open, t) -> str:
    """The ladder: SCU (client) lifeline on the left, SCP (server) on the right, one arrow per row."""
    arrows = st.arrows
    x_time, x_scu, x_scp, width = 8, 150, 900, 960
    top, row_h = 46, 26
    height = top + row_h * max(len(arrows), 1) + 16
    out = [f'<svg class="ladder" data-assoc="{a.number}" xmlns="http://www.w3.org/2000/svg" width="{width}"'
           f' height="{height}" viewBox="0 0 {width} {height}" role="img"'
           f' aria-label="sequence diagram of association {a.number}">',
           '<defs><marker id="ah" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7"'
           ' orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>',
           f'<text x="{x_time}" y="16" class="t">time (s)</text>',
           f'<text x="{x_scu}" y="16" text-anchor="middle"><tspan font-weight="bold">SCU {h(a.calling_ae or "?")}'
           f'</tspan></text><text x="{x_scu}" y="30" text-anchor="middle" class="t">{h(a.client)}</text>',
           f'<text x="{x_scp}" y="16" text-anchor="middle"><tspan font-weight="bold">SCP {h(a.called_ae or "?")}'
           f'</tspan></text><text x="{x_scp}" y="30" text-anchor="middle" class="t">{h(a.server)}</text>',
           f'<line class="lifeline" x1="{x_scu}" y1="36" x2="{x_scu}" y2="{height - 6}"/>',
           f'<line class="lifeline" x1="{x_scp}" y1="36" x2="{x_scp}" y2="{height - 6}"/>']
    if not arrows:
        out.append(f'<text x="{(x_scu + x_scp) // 2}" y="{top + 10}" text-anchor="middle" class="t">no PDUs</text>')
    for i, ar in enumerate(arrows):
        y = top + row_h * i + 14
        to_scp = ar.direction == a.client_dir
        x1, x2 = (x_scu, x_scp) if to_scp else (x_scp, x_scu)
        label = ar.label if len(ar.label) <= 110 else ar.label[:109] + "…"
        cls = " ".join(x for x in ("arrow", ar.kind, ar.cls) if x)
        body = (f'<title>{h(ar.label)} ({h(ar.tip)})</title>'
                f'<text class="t" x="{x_time}" y="{y + 4}">{h(t(ar.ts_ns))}</text>'
                f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" marker-end="url(#ah)"/>'
                f'<text x="{(x_scu + x_scp) // 2}" y="{y - 4}" text-anchor="middle">{h(label)}</text>')
        attrs = f' class="{cls}" data-frame="{ar.frame}" data-dir="{"scu-scp" if to_scp else "scp-scu"}"'
        if ar.anchor:
            out.append(f'<a href="#{ar.anchor}"><g{attrs}>{body}</g></a>')
        else:
            out.append(f"<g{attrs}>{body}</g>")
    out.append("</svg>")
    return "".join(out)


def _timing_html(by_cmd: dict, by_peer: dict, peer_rows: int = 100) -> str:
    if not by_cmd:
        return '<p class="muted">No answered requests.</p>\n'
    out = ['<p class="muted">From the end of each request to its final response'
           " (dicomsniff.model.timing).</p>"]
    sampled = False
    peers = sorted(by_peer)
    hidden = 0
    if len(peers) > peer_rows:           # the busiest groups, then by name
        busiest = set(sorted(peers, key=lambda k: -(by_peer[k].count + by_peer[k].unanswered))[:peer_rows])
        hidden = len(peers) - peer_rows
        peers = [k for k in peers if k in busiest]
    for title, groups, with_peer in (("By command", [by_cmd[k] for k in sorted(by_cmd)], False),
                                     ("By responding peer and command", [by_peer[k] for k in peers], True)):
        out.append(f"<h3>{title}</h3><table class=\"timing\"><thead><tr>"
                   + ("<th>Peer</th>" if with_peer else "")
                   + '<th>Command</th><th class="num">count</th><th class="num">min</th><th class="num">median</th>'
                     '<th class="num">p95</th><th class="num">max</th><th class="num">unanswered</th></tr></thead>'
                     "<tbody>")
        for g in groups:
            r = g.row()
            sampled = sampled or g.sampled

            def d(v):
                return h(duration_text(int(v))) if v is not None else "-"
            out.append("<tr>" + (f'<td class="mono">{h(g.peer)}</td>' if with_peer else "")
                       + f"<td>{h(g.command)}</td><td class=\"num\">{r['count']}</td>"
                       f"<td class=\"num\">{d(r['min'])}</td>"
                       f"<td class=\"num\">{d(r['median'])}</td><td class=\"num\">{d(r['p95'])}</td>"
                       f"<td class=\"num\">{d(r['max'])}</td><td class=\"num\">{r['unanswered']}</td></tr>")
        out.append("</tbody></table>")
    if hidden:
        out.append(f'<p class="more">… {hidden} more (peer, command) groups with fewer requests (in the totals by'
                   " command)</p>")
    if sampled:
        out.append('<p class="more">Median and p95 of the largest groups are from a uniform sample of their'
                   " times; count, min and max are exact.</p>")
    return "".join(out) + "\n"


def write_report(events, write, capture: str, analyzer, *, slow_s: float = 5.0, idle_s: float = 10.0,
                 limits: Limits | None = None, spool_dir: str | None = None,
                 capture_size: int | None = None) -> PatientCheck:
    """Read every event, then write the page with ``write``; returns the patient-data check (for the CLI's warning)."""
    b = ReportBuilder(capture, analyzer, slow_s=slow_s, idle_s=idle_s, limits=limits, spool_dir=spool_dir,
                      capture_size=capture_size)
    try:
        for ev in events:
            b.event(ev)
        b.finish()
        b.write(write)
    finally:
        b.close()
    return b.patients
