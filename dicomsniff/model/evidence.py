"""Evidence for the diagnosis: who closed a connection and what was lost, what a failing request carried.

Pure functions over the model (an :class:`~.association.Association`, an
:class:`~.association.Exchange`) returning small facts and texts; the rules
in the diagnosis decide what to raise. Two families:

* **Termination** (issue 12 item 5): for an association that ended without
  A-RELEASE or A-ABORT, :func:`close_facts` says which side sent FIN or RST
  first (or that the capture ended), how long after the last PDU, and what
  was in flight (requests without a final response, a message cut while being
  sent). :func:`termination` words it as one line; :func:`ended_together`
  finds the connections of one host that closed within milliseconds of each
  other while requests were outstanding — what a peer process that crashed or
  was killed looks like. ``eof`` (the capture ended first) is the capture's
  limit and never blames a peer.
* **Failure evidence** (item 6): :func:`response_evidence` quotes the failing
  response's Error Comment (0000,0902) and Offending Element (0000,0901);
  :func:`store_problems` checks a C-STORE data set for missing or empty Type 1
  identity attributes (PS3.3 §C.7, §C.12.1) and for a SOP Class/Instance UID
  that differs from the command's (PS3.4 §B.2.2: the data set's must equal
  the command's Affected SOP Class/Instance UID); :func:`failure_evidence`
  combines them into the text to append and the hint, keeping the status
  table's generic cause only when the data set gives no better one.

Nothing here raises on odd input: undecodable data sets give no attribute
claims, missing values read as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..field import ERROR, WARN
from ..textsafe import safe_text
from ..uids import load_pydicom, uid_name
from .association import INCOMPLETE, Association, Exchange

C_STORE, C_MOVE, C_GET = 0x0001, 0x0021, 0x0010
CRASH_WINDOW_NS = 5_000_000      # "within a few milliseconds": connections of one host closing this close together
MAX_LISTED = 3                   # requests named in a line; the rest are counted


# -- small formatting helpers ----------------------------------------------------------


def size_text(n: int) -> str:
    """``1.2 MB``, ``512 bytes``."""
    for unit, k in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= k:
            return f"{n / k:.1f} {unit}"
    return f"{n} byte" + ("" if n == 1 else "s")


def delay_text(ns: int) -> str:
    """A short duration in the unit a person reads best: ``40 µs``, ``0.3 ms``, ``12 ms``, ``2.50 s``."""
    ns = max(0, int(ns))
    if ns < 100_000:
        return f"{ns / 1000:.0f} µs"
    if ns < 10_000_000:
        return f"{ns / 1e6:.1f} ms"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.0f} ms"
    return f"{ns / 1e9:.2f} s"


def _list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def message_label(m) -> str:
    """``C-STORE-RQ #7`` (requests by Message ID, responses by the ID they answer)."""
    cmd = m.command
    if cmd is None or cmd.command_field is None:
        return "a message"
    ident = cmd.message_id if cmd.message_id is not None else cmd.responds_to
    return f"{m.name} #{ident}" if ident is not None else m.name


# -- termination ------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class InFlight:
    """A request left without a final response, or a message cut while being sent."""

    label: str                  # "C-STORE-RQ #7"
    side: str                   # who sent it: "client" or "server"
    frame: int                  # its first frame
    complete: bool              # False: the message itself was cut
    data_seen: int              # data set bytes in the capture (0: none)
    pending: int                # pending responses it got (C-FIND/C-MOVE/C-GET)
    end_ts_ns: int = 0          # when its last byte (or its last pending response) was seen


@dataclass(slots=True, frozen=True)
class CloseFacts:
    """How an association without A-RELEASE ended: small, kept after the association is gone (a digest)."""

    number: int
    outcome: str
    side: str | None            # who closed first: "client"/"server"; None when unknown
    how: str                    # fin, rst or eof (the capture ended first)
    frame: int                  # the FIN/RST frame (0 for eof)
    ts_ns: int
    host: bytes                 # IP address of the side that closed first
    host_text: str
    calling: str
    called: str
    last_label: str | None      # "the client's C-STORE-RQ #7", or a PDU name
    last_frame: int
    last_ts_ns: int | None
    outstanding: tuple[InFlight, ...]    # first MAX_LISTED requests without a final response
    outstanding_count: int
    cut: InFlight | None        # the message being sent when it ended (incomplete), if any
    lost_bytes: bool            # the capture missed bytes of this association (TCP gaps)

    @property
    def lost_operation(self) -> bool:
        """An operation was lost: a request got no final response, or a message was cut."""
        return bool(self.outstanding_count or self.cut is not None)

    @property
    def delay_ns(self) -> int | None:
        if self.last_ts_ns is None or not self.ts_ns:
            return None
        return max(0, self.ts_ns - self.last_ts_ns)


def _open_exchanges(a: Association) -> list[Exchange]:
    """Requests still waiting for their final response (kept and folded), in the order they were sent."""
    seen: set[int] = set()
    out: list[Exchange] = []
    for ex in list(a.exchanges) + a.open_exchanges:
        if id(ex) in seen or ex.request is None or ex.final is not None:
            continue
        seen.add(id(ex))
        out.append(ex)
    out.sort(key=lambda ex: ex.request.ts_ns)
    return out


def _inflight(a: Association, m, pending: int = 0, last_ts: int = 0) -> InFlight:
    return InFlight(message_label(m), a.side(m.direction), m.frames[0] if m.frames else 0, bool(m.complete),
                    m.data_length, pending, max(m.end_ts_ns or m.ts_ns, last_ts))


def close_facts(a: Association, last_pdu: tuple[str, int, int] | None = None) -> CloseFacts | None:
    """How this association ended, when it ended without A-RELEASE or A-ABORT (None otherwise).

    ``last_pdu`` is the diagnosis' ``PduFacts.last`` (name, frame, end ts) when it has one;
    without it the last PDU the association kept is used. An association whose
    release was begun (A-RELEASE-RQ sent) is left to the release rule.
    """
    if a.outcome != INCOMPLETE or a.release_by:
        return None
    closes = list(getattr(a, "closes", []) or [])
    first = closes[0] if closes else None
    how = first.how if first is not None else (a.end_how or "eof")
    side = first.side if first is not None else None
    frame = first.frame if first is not None else 0
    ts = first.ts_ns if first is not None else (a.end_ns or 0)
    ep = a.client if side == "client" else a.server
    if side is None:
        ep = a.server
    # The last thing said before the close: the last message, unless a later PDU (negotiation) came after it.
    last_label, last_frame, last_ts, last_side = None, 0, None, None
    msgs = [m for m in a.messages if (m.end_ts_ns or m.ts_ns) <= ts or not ts]
    if msgs:
        m = max(msgs, key=lambda m: m.end_ts_ns or m.ts_ns)
        fr = m.frames
        last_label = f"the {a.side(m.direction)}'s {message_label(m)}"
        last_side = a.side(m.direction)
        last_frame, last_ts = (fr[-1] if fr else 0), (m.end_ts_ns or m.ts_ns)
    if last_pdu is None and a.pdus:
        p = max(a.pdus, key=lambda p: p.end_ts_ns)
        last_pdu = (p.name, p.frame, p.end_ts_ns)
        pdu_side = a.side(p.direction)
    else:
        pdu_side = None
    if last_pdu is not None and (last_ts is None or last_pdu[2] > last_ts) and last_pdu[0] != "P-DATA-TF":
        name, pframe, pts = last_pdu
        if not ts or pts <= ts:
            last_label = f"the {pdu_side}'s {name}" if pdu_side else name
            last_frame, last_ts, last_side = pframe, pts, pdu_side
    if last_label and last_side and last_side == side and how != "eof":
        last_label = "its" + last_label[len(f"the {last_side}'s"):]      # "after its C-STORE-RQ #7"
    # A message cut by the end: the last message of its direction, incomplete (one cut earlier by a TCP gap
    # and followed by others is the capture's loss, not what the close interrupted).
    last_of: dict[int, object] = {}
    for m in a.messages:
        last_of[m.direction] = m
    ends = [m for m in last_of.values() if not m.complete]
    cut_msg = max(ends, key=lambda m: m.end_ts_ns or m.ts_ns) if ends else None
    cut = _inflight(a, cut_msg) if cut_msg is not None else None
    open_ex = [ex for ex in _open_exchanges(a) if ex.request is not cut_msg]   # named as cut, not "no response"
    outstanding = tuple(_inflight(a, ex.request, ex.pending,
                                  max((r.end_ts_ns or r.ts_ns for r in ex.responses), default=0))
                        for ex in open_ex[:MAX_LISTED])
    return CloseFacts(a.number, a.outcome, side, how, frame, ts, ep.ip, str(ep).rsplit(":", 1)[0],
                      safe_text((a.calling_ae or "").strip()), safe_text((a.called_ae or "").strip()),
                      last_label, last_frame, last_ts, outstanding, len(open_ex), cut, bool(a.gaps))


def _outstanding_text(f: CloseFacts, *, eof: bool) -> str:
    """``C-STORE-RQ #7 got no response`` / ``C-FIND-RQ #2 got 3 pending responses but no final one``."""
    if not f.outstanding_count:
        return ""
    labels = [x.label for x in f.outstanding]
    more = f.outstanding_count - len(labels)
    if more > 0:
        labels.append(f"{more} more")
    verb = "had" if eof else "got"
    if f.outstanding_count == 1:
        x = f.outstanding[0]
        if x.pending:
            return (f"{x.label} {verb} {x.pending} pending response{'s' if x.pending != 1 else ''} but no final"
                    f" one{' yet' if eof else ''}")
        return f"{x.label} {verb} no response{' yet' if eof else ''}"
    return f"{_list(labels)} {verb} no final response{' yet' if eof else ''}"


def _cut_text(f: CloseFacts, closer_is_sender: bool) -> str:
    c = f.cut
    seen = "seen" if f.lost_bytes else "sent"
    size = f" ({size_text(c.data_seen)} of its data set {seen})" if c.data_seen else \
        " (its command set cut short)" if c.label == "a message" else ""
    if closer_is_sender:
        return f"while sending {c.label}{size}"
    return f"while the {c.side} was sending {c.label}{size}"


def termination(f: CloseFacts) -> tuple[str, str, str, list[int]]:
    """(severity, message, hint, frames) of one association that ended without A-RELEASE.

    ERROR when an operation was lost to a FIN or RST (a request without its final
    response, a message cut); WARNING otherwise, and always when the capture ended
    first (``eof``: the capture's limit, no peer is blamed).
    """
    frames = []
    for x in (f.cut.frame if f.cut is not None else 0, f.last_frame, f.frame):
        if x and x not in frames:
            frames.append(x)
    after = f" {delay_text(f.delay_ns)} after {f.last_label}" if f.delay_ns is not None and f.last_label else \
        f" after {f.last_label}" if f.last_label else ""
    pending = _outstanding_text(f, eof=f.how == "eof")
    if f.how == "eof":
        if f.cut is not None:
            what = f"the capture ended while the {f.cut.side} was sending {f.cut.label}" + (
                f" ({size_text(f.cut.data_seen)} of its data set captured)" if f.cut.data_seen else "")
            msg = f"association still open when the capture ended: {what}"
        else:
            msg = "association still open when the capture ended" + (
                f", {delay_text(f.delay_ns)} after {f.last_label}" if f.delay_ns and f.delay_ns >= 1_000_000
                and f.last_label else f" right after {f.last_label}" if f.last_label else "")
        if pending:
            msg += f"; {pending}"
        hint = ("capture longer (until the peers release): the capture stopped before the association ended, so"
                " how it ended is unknown; the peers are not at fault for what is missing")
        return WARN, msg, hint, frames
    verb = "reset" if f.how == "rst" else "closed"
    who = f"the {f.side}" if f.side else "one side"
    tag = "RST" if f.how == "rst" else "FIN"
    head = f"{who} {verb} the connection ({tag}{', frame ' + str(f.frame) if f.frame else ''})"
    if f.cut is not None:
        msg = f"{head} {_cut_text(f, f.cut.side == f.side)}, with no A-RELEASE"
    else:
        msg = f"{head}{after} with no A-RELEASE"
    if pending:
        msg += f"; {pending}"
    elif f.cut is None:
        msg += "; no request was outstanding"
    other = {"client": "server", "server": "client"}.get(f.side or "", "other side")
    if not f.lost_operation and f.delay_ns is not None and f.delay_ns >= 1_000_000_000 and f.side:
        hint = (f"the {f.side} closed {delay_text(f.delay_ns)} after the last PDU with nothing outstanding: an idle"
                f" timeout of about {round(f.delay_ns / 1e9)} s on the {f.side} is likely; the {other} should"
                " release the association (or send) before then")
        return WARN, msg, hint, frames
    if not f.lost_operation:
        hint = (f"the {f.side or 'peer'} dropped the connection instead of releasing the association (PS3.8"
                " §7.2): usually harmless for the data, but the other side may log an error; configure it to"
                " release")
        return WARN, msg, hint, frames
    hint = _lost_hint(f, other)
    if f.how == "rst":
        hint += ("; a reset comes from a process that exited or was killed with data unread, or from a firewall"
                 " or load balancer cutting the connection")
    return ERROR, msg, hint, frames


def _lost_hint(f: CloseFacts, other: str) -> str:
    """What to check when an operation was lost, from who closed and how long after the request."""
    if f.side is None:
        return "look in both peers' logs at this time for why the connection ended"
    if f.cut is not None:
        if f.cut.side == f.side:
            return (f"the {f.side} stopped in the middle of sending its {f.cut.label}: look in the {f.side}'s log"
                    " at this time (an error reading the object, a cancel, an exit)")
        what = f"the {other}'s {f.cut.label}" if f.cut.label != "a message" else f"a message from the {other}"
        return (f"the {f.side} dropped the connection in the middle of {what}: look in the {f.side}'s log at this"
                " time (crash, restart, a refused object or an internal error)")
    x = f.outstanding[-1] if f.outstanding else None
    if x is None:
        return "look in both peers' logs at this time for why the connection ended"
    if x.side != f.side:
        return (f"the {f.side} dropped the connection instead of answering the {other}'s {x.label}: look in the"
                f" {f.side}'s log at this time (crash, restart, a refused object or an internal error)")
    wait = f.ts_ns - x.end_ts_ns if f.ts_ns and x.end_ts_ns else None
    if wait is not None and wait >= 1_000_000_000:
        since = f"the last pending response to its {x.label}" if x.pending else f"its {x.label}"
        return (f"the {f.side} gave up {delay_text(wait)} after {since} without a final answer: a {f.side}-side"
                f" DIMSE or network timeout of about {round(wait / 1e9)} s is likely, and the {other} took longer"
                f" to answer: check the {other}'s load and log, or raise the {f.side}'s timeout")
    if wait is not None:
        since = f"the last pending response to its {x.label}" if x.pending else f"its {x.label}"
        return (f"the {f.side} closed only {delay_text(wait)} after {since}, too soon for a timeout: look"
                f" in the {f.side}'s log for an error or an exit at this time")
    return f"the {f.side} gave up on its own request: check the {f.side}'s log and the {other}'s response time"


def ended_together(facts: Iterable[CloseFacts], window_ns: int = CRASH_WINDOW_NS) -> list[list[CloseFacts]]:
    """Groups of ≥ 2 associations whose closing side is one host that closed them within ``window_ns``
    while requests were outstanding (or a message was being sent): a peer process ending (crash or kill).

    Only FIN/RST count (``eof`` is the capture's end, not a peer's act).
    """
    by_host: dict[bytes, list[CloseFacts]] = {}
    for f in facts:
        if f.how in ("fin", "rst") and f.ts_ns and f.side:
            by_host.setdefault(f.host, []).append(f)      # one process may be client of one, server of another
    groups: list[list[CloseFacts]] = []
    for members in by_host.values():
        members.sort(key=lambda f: f.ts_ns)
        run: list[CloseFacts] = []
        for f in members:
            if run and f.ts_ns - run[0].ts_ns > window_ns:
                if len(run) >= 2 and any(x.lost_operation for x in run):
                    groups.append(run)
                run = []
            run.append(f)
        if len(run) >= 2 and any(x.lost_operation for x in run):
            groups.append(run)
    return groups


def peer_ended(group: list[CloseFacts]) -> tuple[str, str, str, list[int]]:
    """(severity, message, hint, frames) for connections of one host that closed together mid-request."""
    span = group[-1].ts_ns - group[0].ts_ns
    group = sorted(group, key=lambda f: f.number)      # named in association order
    first = group[0]
    cut = [f"{f.cut.label} on #{f.number}" for f in group if f.cut is not None and f.cut.side == f.side]
    waiting = []
    for f in group:
        waiting += [f"{x.label} on #{f.number}" for x in f.outstanding]
        more = f.outstanding_count - len(f.outstanding)
        if more > 0:
            waiting.append(f"{more} more on #{f.number}")
    n_wait = sum(f.outstanding_count for f in group)
    parts = []
    if cut:
        parts.append(f"{_list(cut)} {'was' if len(cut) == 1 else 'were'} being sent")
    if waiting:
        parts.append(f"{_list(waiting)} {'was' if n_wait == 1 else 'were'} waiting for a response")
    hows = "/".join(sorted({"RST" if f.how == "rst" else "FIN" for f in group}))
    aes = []
    for f in group:
        ae = f.calling if f.side == "client" else f.called
        if ae and ae not in aes:
            aes.append(ae)
    named = f" ({', '.join(repr(x) for x in aes)})" if aes else ""
    count = "both" if len(group) == 2 else f"all {len(group)}"
    if len({f.side for f in group}) == 1:
        who = f"the {first.side} {first.host_text}{named}"
        which = f"associations {_list([f'#{f.number}' for f in group])}, {hows}"
    else:
        who = f"the peer at {first.host_text}{named}"
        which = f"associations {_list([f'#{f.number} as {f.side}' for f in group])}; {hows}"
    msg = (f"peer process ended (crash or kill) while {' and '.join(parts)}: {who} closed {count} of its"
           f" connections ({which}) within {delay_text(span)}, with no A-RELEASE")
    hint = (f"connections of one process closing within {delay_text(span)} of each other in the middle of requests"
            f" is what a crash or a kill looks like: look for a crash, an out-of-memory kill or a service restart"
            f" on {first.host_text} at this time (system log, service manager, core dumps)")
    frames = sorted(f.frame for f in group if f.frame)
    return ERROR, msg, hint, frames


# -- failure evidence -----------------------------------------------------------------


def _tag_text(tag) -> str | None:
    if isinstance(tag, tuple) and len(tag) == 2 and all(isinstance(x, int) for x in tag):
        return f"({tag[0]:04X},{tag[1]:04X})"
    if isinstance(tag, int):
        return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    return None


def response_evidence(ex: Exchange) -> str:
    """`` — Error Comment "…"; Offending Element (0020,000D)`` from the final response ('' when it has neither)."""
    final = ex.final
    cmd = final.command if final is not None else None
    if cmd is None:
        return ""
    try:
        el = cmd.elements
    except Exception:
        return ""
    parts = []
    comment = el.get("ErrorComment")
    if isinstance(comment, str) and comment.strip():
        parts.append(f'Error Comment "{safe_text(comment.strip())}"')
    off = el.get("OffendingElement")
    if off is not None:
        tags = off if isinstance(off, list) else [off]
        texts = [t for t in (_tag_text(x) for x in tags) if t]
        if texts:
            parts.append("Offending Element " + ", ".join(texts))
        elif isinstance(off, (bytes, bytearray)) and off:
            parts.append(f"Offending Element {safe_text(off.hex(' '))}")
    error_id = el.get("ErrorID")
    if isinstance(error_id, int):
        parts.append(f"Error ID 0x{error_id:04X}")
    return (" — " + "; ".join(parts)) if parts else ""


# Type 1 attributes identifying a composite object (PS3.3: SOP Common §C.12.1, General Study §C.7.2.1,
# General Series §C.7.3.1 — Modality is Type 1 there and in the other series modules of image IODs).
TYPE1_IDENTITY: tuple[tuple[int, str, str, bool], ...] = (
    (0x00080016, "SOPClassUID", "SOP Class UID", False),
    (0x00080018, "SOPInstanceUID", "SOP Instance UID", False),
    (0x00080060, "Modality", "Modality", True),            # True: only checked for image IODs
    (0x0020000D, "StudyInstanceUID", "Study Instance UID", False),
    (0x0020000E, "SeriesInstanceUID", "Series Instance UID", False),
)


def _strip(v) -> str:
    return str(v).rstrip("\x00 ").strip() if v is not None else ""


def _is_image(sop_class: str | None) -> bool:
    name = uid_name(sop_class) if sop_class else ""
    return isinstance(name, str) and "Image Storage" in name


def store_problems(ex: Exchange) -> list[str] | None:
    """What is wrong with a C-STORE request's data set, as phrases; None when it cannot be said.

    None: no data set, or it does not decode. A data set cut short (a large object
    kept only in part, or a cut message) is checked only for attributes that come
    before the last element decoded (data sets are in ascending tag order).
    """
    req = ex.request
    if req is None or req.command is None or req.data is None:
        return None
    try:
        info = req.data.decode()
        ds = info.dataset
    except Exception:
        return None
    if ds is None or len(ds) == 0:
        return None
    try:
        if any(x.severity == ERROR for x in info.findings):
            return None          # malformed: what is "missing" may be unreadable, not absent
        tags = [int(t) for t in ds.keys()]
    except Exception:
        return None
    truncated = bool(getattr(req.data, "truncated", False)) or not req.complete
    horizon = max(tags) if truncated else 0xFFFFFFFF
    cmd = req.command
    sop = _strip(cmd.affected_sop_class_uid)
    image = _is_image(sop or _strip(ds.get("SOPClassUID")))
    absent, empty = [], []
    for tag, keyword, name, image_only in TYPE1_IDENTITY:
        if image_only and not image:
            continue
        if tag > horizon:
            continue
        label = f"{name} {_tag_text(tag)}"
        if tag not in ds:
            absent.append(label)
            continue
        try:
            value = ds[tag].value
        except Exception:
            continue
        if value is None or _strip(value) == "":
            empty.append(label)
    out = []
    if absent:
        out.append("has no " + _list(absent))
    if empty:
        out.append("has an empty " + _list(empty))
    n = len(absent) + len(empty)
    if n:
        out[-1] += ", a Type 1 attribute" if n == 1 else ", Type 1 attributes"
    for tag, keyword, cmd_value, cmd_name in (
            (0x00080016, "SOP Class UID", sop, "Affected SOP Class UID"),
            (0x00080018, "SOP Instance UID", _strip(cmd.affected_sop_instance_uid), "Affected SOP Instance UID")):
        if tag in ds and cmd_value:
            try:
                v = _strip(ds[tag].value)
            except Exception:
                continue
            if v and v != cmd_value:
                out.append(f"its {keyword} {_tag_text(tag)} '{safe_text(v)}' differs from the command's"
                           f" {cmd_name} '{safe_text(cmd_value)}'")
    return out


def _move_hint(ex: Exchange, code: int, dest: str, generic: str) -> str | None:
    comment = ""
    final = ex.final
    if final is not None and final.command is not None:
        comment = _strip(final.command.error_comment)
    d = safe_text(dest)
    named = bool(dest) and dest.upper() in comment.upper()
    if code == 0xA801:
        return None                                  # the status itself says "move destination unknown"
    if 0xC000 <= code <= 0xCFFF:
        if named:
            return (f"the Error Comment names the move destination '{d}': it is probably not configured on the"
                    f" SCP: add it (AE title, host, port) to the SCP's list of move destinations; if it is,"
                    f" {generic}")
        return (f"either the move destination '{d}' is not configured on the SCP (some SCPs, e.g. Orthanc,"
                f" answer 0xC000 rather than 0xA801 for an unknown destination: check its list of move"
                f" destinations), or {generic}")
    return None


def _offending_tags(ex: Exchange) -> list[int]:
    final = ex.final
    cmd = final.command if final is not None else None
    try:
        off = cmd.elements.get("OffendingElement") if cmd is not None else None
    except Exception:
        return []
    out = []
    for t in (off if isinstance(off, list) else [off]):
        if isinstance(t, tuple) and len(t) == 2 and all(isinstance(x, int) for x in t):
            out.append(t[0] << 16 | t[1])
    return out[:4]


def offending_values(ex: Exchange) -> str:
    """What the request's data set holds for the response's Offending Element(s), as words ('' when unknown):
    ``(0010,0020) Patient ID, which the data set has as 'PID7'``."""
    tags = _offending_tags(ex)
    req = ex.request
    if not tags or req is None or req.data is None:
        return ""
    try:
        ds = req.data.dataset
    except Exception:
        return ""
    if ds is None:
        return ""
    parts = []
    for tag in tags:
        if tag >> 16 == 0:
            continue                           # a command element: the message already shows it
        try:
            load_pydicom()
            from pydicom.datadict import dictionary_description   # only here: pydicom costs start-up
            name = f" {dictionary_description(tag)}"
        except Exception:
            name = ""
        label = f"{_tag_text(tag)}{name}"
        if tag not in ds:
            parts.append(f"{label}, which the data set does not have")
            continue
        try:
            value = ds[tag].value
        except Exception:
            continue
        text = safe_text(_strip(value))
        if not text:
            parts.append(f"{label}, which the data set has empty")
        else:
            parts.append(f"{label}, which the data set has as '{text[:64]}{'…' if len(text) > 64 else ''}'")
    return "; ".join(parts)


def failure_evidence(ex: Exchange, generic_hint: str) -> tuple[str, str]:
    """(text to append to the failure's message, hint) for a failed exchange, from what the request carried.

    The text quotes the response's Error Comment / Offending Element verbatim (escaped). The hint
    names missing or empty Type 1 attributes of a refused C-STORE's data set, or the destination
    of a refused C-MOVE; otherwise ``generic_hint`` (the status table's cause) is kept.
    """
    extra = response_evidence(ex)
    hint = generic_hint
    info = ex.status_info
    code = info.code if info is not None else None
    cf = (ex.command_field or 0) & 0x7FFF
    if info is None or info.category != "Failure" or not isinstance(code, int):
        return extra, hint
    req = ex.request
    if cf == C_STORE:
        problems = store_problems(ex)
        if problems:
            why = "not for lack of disk space" if 0xA700 <= code <= 0xA7FF else None
            said = "; ".join(problems)
            said = f"the data set's {said[4:]}" if said.startswith("its ") else f"the data set {said}"
            hint = (f"{said}: the SCP probably refused it for that"
                    + (f", {why}" if why else "") + "; fix the sending application's object")
        elif problems is not None and 0xA700 <= code <= 0xA7FF:
            hint = generic_hint + " (the data set's Type 1 identity attributes are present and match the command)"
        if not problems:
            named = offending_values(ex)
            if named:
                hint += f"; the SCP names {named}"
    elif cf == C_MOVE and req is not None and req.command is not None:
        dest = _strip(req.command.move_destination)
        refined = _move_hint(ex, code, dest, _lower_first(generic_hint))
        if refined:
            hint = refined
    return extra, hint


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:] if s else s

