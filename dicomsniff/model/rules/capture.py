"""What the capture limits: lost segments, a capture cut short, a connection reset mid-PDU, an
A-ASSOCIATE-AC that was not captured.

Loss is the capture's fault, never a peer's. Findings that rest on one direction's
bytes (declared ``fragile``, and the incomplete-unit codes) are not raised once
that direction lost bytes before them: they are counted in one ``capture-loss``
WARNING per association and direction, with the totals (gaps, bytes, frames,
time span) and what is incomplete. The same holds at the end of a direction cut
by the end of the capture (``capture-ended``); a direction cut by a TCP reset is
``peer-closed``'s (``rules/closing.py``), which names the peer that reset. The facts these rest on
are the association's: ``loss[d]`` (LossTally), ``loss_from[d]``, ``closes`` and
each message's ``complete`` flag — not the framer's wording.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from ...field import ERROR, NOTE, WARN
from ..association import Association
from ..findings import Finding
from .base import Options, _f, _size
from .registry import CATALOGUE, declare, post, rule

# Codes that say "a unit was cut": the capture's (or a reset's) doing when that direction lost bytes or ended.
CUT = frozenset({"pdu-incomplete", "pdu-truncated", "message-incomplete", "command-incomplete",
                 "dataset-incomplete", "tcp-gap", "resync", "resync-failed", "pdv-truncated"})
# Rest on the other direction's bytes (a response lost) rather than on their own.
ANSWERS = frozenset({"no-response", "release-no-reply"})

LOSS_HINT = ("the capture lost packets (busy host, SPAN port, capture buffer too small): capture with a larger"
             " buffer (tcpdump -B), -s 0, or on one of the peers; what is missing is not the peers' fault")

declare("capture-loss", WARN, "capture",
        "the capture lost bytes of one direction: totals, what is incomplete, and the findings not judged"
        " because they would rest on the lost bytes", evidence="Association.loss (TCP gaps), messages' complete"
        " flags", source="rule", rule="fold_capture", test="tests/test_capture_loss_diagnosis.py",
        supersedes=("tcp-gap",))
declare("capture-ended", WARN, "capture",
        "the capture ended in the middle of a PDU or message: what was being sent, how much was captured",
        evidence="end of capture (eof close) with an incomplete PDU or message", source="rule",
        rule="fold_capture", test="tests/test_capture_loss_diagnosis.py", supersedes=("association-incomplete",))


def _label(m) -> str:
    c = m.command
    if c is not None and c.command_field is not None:
        n = c.message_id if c.message_id is not None else c.responds_to
        return f"{m.name} #{n}" if n is not None else m.name
    return m.name


@dataclass
class _Bucket:
    """What one direction's loss (or its cut end) swallowed."""

    codes: Counter = field(default_factory=Counter)
    unanswered: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)


def _folds(a: Association, f: Finding, lossy: dict[int, int]) -> int | None:
    """The direction whose lost bytes ``f`` rests on, or None when it stands."""
    c = CATALOGUE.get(f.code)
    if f.code in ANSWERS:
        d = f.direction
        for other in ((1 - d,) if d is not None else (0, 1)):
            if other in lossy and (a.loss[other].last_frame >= f.first or a.loss[other].at_end):
                return other
        return None
    if f.code == "response-unmatched":
        d = f.direction
        other = 1 - d if d is not None else None
        for x in ((other,) if other is not None else (0, 1)):
            if x in lossy and f.last >= lossy[x]:
                return x
        return None
    if f.code not in CUT and (c is None or not c.fragile):
        return None
    dirs = (f.direction,) if f.direction is not None else tuple(lossy)
    for d in dirs:
        if d in lossy and (f.last >= lossy[d] or (not f.last and f.code in CUT)):
            return d
    return None


def _tail(a: Association) -> dict[int, tuple[str, object]]:
    """Directions whose last unit was cut by the end of the capture or a reset: d → (how, close event)."""
    out = {}
    rst = next((c for c in a.closes if c.how == "rst"), None)
    for d in (0, 1):
        ended = next((c for c in a.closes if c.direction == d), None)
        if rst is None and (ended is None or ended.how != "eof"):
            continue
        cut = any(not m.complete and m.direction == d for m in a.messages[-4:]) or \
            any(f.code in ("pdu-incomplete", "pdu-truncated") and f.direction == d
                and f.last >= a.pdu_end_frame[d] for f in a.findings)
        if cut:
            out[d] = ("rst", rst) if rst is not None else ("eof", ended)
    return out


@post
def fold_capture(a: Association, findings: list[Finding], opts: Options) -> list[Finding]:
    """Fold findings that rest on lost or cut bytes into capture-loss / capture-ended / connection-reset."""
    lossy = {d: a.loss_from[d] or 1 for d in (0, 1) if a.loss[d].gaps}
    tails = _tail(a)
    tail_from = {d: (a.pdu_end_frame[d] or 1) for d in tails}
    if not lossy and not tails:
        return findings
    buckets: dict[int, _Bucket] = {d: _Bucket() for d in lossy}
    tail_buckets: dict[int, _Bucket] = {d: _Bucket() for d in tails}
    out = []
    for f in findings:
        d = _folds(a, f, lossy) if lossy else None
        if d is not None:
            b = buckets[d]
            if f.code in ANSWERS:
                b.unanswered.append(f.message.split(" got no")[0].split(" from the")[0])
            elif f.code == "response-unmatched":
                m = re.match(r"(\S+) responds to message ID (\S+),", f.message)
                b.unmatched.append(f"{m.group(1)} #{m.group(2)}" if m else f.message)
            elif f.code != "tcp-gap":
                b.codes[f.code] += f.count
            continue
        td = None
        if tails:
            # the capture's end or the reset leaves every open request without a response: said once there
            td = next(iter(tails)) if f.code in ANSWERS else _folds(a, f, tail_from)
        if td is not None:
            tail_buckets[td].codes[f.code] += f.count
            if f.code in ANSWERS:
                tail_buckets[td].unanswered.append(f.message.split(" got no")[0])
            continue
        out.append(f)
    for d, b in buckets.items():
        out.append(_loss_finding(a, d, b))
    for d, (how, ev) in tails.items():
        if how == "rst":
            continue             # peer-closed (rules/closing.py) says once who reset and what was cut
        out.append(_tail_finding(a, d, ev, tail_buckets[d]))
    return out


def _incomplete(a: Association, d: int, since: int) -> tuple[list[str], list[str]]:
    """(C-STORE data sets, other messages) of direction d cut after frame ``since``."""
    objs, msgs = [], []
    for m in a.messages:
        if m.direction != d or m.complete or (m.frames and m.frames[-1] < since):
            continue
        c = m.command
        if c is not None and c.command_field == 0x0001 and m.data_spans is not None:
            objs.append(f"#{c.message_id}")
        else:
            msgs.append(_label(m))
    return objs, msgs


def _bytes(n: int) -> str:
    return f"{n} bytes" if n < 10240 else _size(n)


def _list(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f", … ({len(items) - n} more)" if len(items) > n else "")


def _loss_finding(a: Association, d: int, b: _Bucket) -> Finding:
    t = a.loss[d]
    sender, receiver = a.side(d), a.side(1 - d)
    span = (t.last_ts - t.first_ts) / 1e9 if t.last_ts and t.first_ts else 0.0
    if t.gaps == 1:
        where = f"before frame {t.first_frame}" if t.first_frame else "at the end of the stream"
    elif t.last_frame > t.first_frame:
        where = f"between frames {t.first_frame} and {t.last_frame}" + (" and at the end" if t.at_end else "") + \
            f" over {span:.1f} s"
    else:
        where = f"from frame {t.first_frame} to the end of the stream over {span:.1f} s"
    parts = [f"{sender} → {receiver}: {t.gaps} gap{'s' if t.gaps != 1 else ''}, {_bytes(t.bytes)} lost {where}"]
    cut_negotiation = [n for n, ok, dd in (("A-ASSOCIATE-RQ", a.rq_complete, a.client_dir),
                                            ("A-ASSOCIATE-AC", a.ac_complete, 1 - a.client_dir)) if not ok and dd == d]
    if cut_negotiation:
        parts.append(f"the {cut_negotiation[0]} is incomplete, so the negotiation is not judged")
    objs, msgs = _incomplete(a, d, a.loss_from[d] or 1)
    if objs:
        parts.append(f"{len(objs)} C-STORE data set{'s' if len(objs) != 1 else ''} incomplete ({_list(objs)})")
    if msgs:
        parts.append(f"{len(msgs)} message{'s' if len(msgs) != 1 else ''} incomplete ({_list(msgs)})")
    if b.unanswered:
        parts.append(f"no response captured for {_list(b.unanswered)} (the capture lost {_bytes(t.bytes)} of the"
                     f" {sender}'s bytes)")
    if b.unmatched:
        parts.append(f"the request{'s' if len(b.unmatched) > 1 else ''} of {_list(b.unmatched, 3)} not captured")
    judged = [(c, n) for c, n in b.codes.most_common() if c not in CUT]
    if judged:
        parts.append("not judged, as they would rest on lost bytes: "
                     + ", ".join(f"{c} ×{n}" if n > 1 else c for c, n in judged))
    frames = [x for x in dict.fromkeys((t.first_frame, t.last_frame)) if x]
    f = _f(a, WARN, "capture-loss", "; ".join(parts), frames, LOSS_HINT, key=str(d), direction=d)
    return f


def _tail_finding(a: Association, d: int, ev, b: _Bucket) -> Finding:
    """The capture ended while direction ``d`` was in the middle of a unit: the capture's limit, not a peer's fault."""
    sender = a.side(d)
    cut = [m for m in a.messages if m.direction == d and not m.complete]
    what = f" in the middle of a PDU from the {sender}"
    if cut:
        m = cut[-1]
        what = f" while the {sender} was sending {_label(m)}"
        if m.data_spans is not None:
            what += f" ({_size(m.data_length)} of its data set captured)"
    return _f(a, WARN, "capture-ended", f"the capture ended{what}: the rest was not captured",
              [ev.frame or a.last_frame], "capture longer (or stop the capture after the association"
              " ends): the peers are not at fault for what is missing", key=str(d), direction=d)


@rule(code="ac-not-captured", severity=NOTE, group="capture",
      summary="the A-ASSOCIATE-AC was not captured: accepted contexts inferred from the traffic, and no context"
              " rule judged on it", evidence="A-ASSOCIATE-RQ without AC/RJ, responses per context",
      test="tests/test_capture_loss_diagnosis.py")
def ac_not_captured(a: Association, opts: Options) -> list[Finding]:
    if a.rq is None or a.ac is not None or a.rj is not None or not a.message_count:
        return []
    answered: dict[int, set[str]] = {}
    for ex in a.exchanges:
        if ex.request is None or not ex.responses:
            continue
        info = ex.status_info
        answered.setdefault(ex.request.context_id, set()).add(info.category if info else "?")
    if answered:
        ids = ", ".join(str(i) for i in sorted(answered))
        how = "a response with Success arrived on each" if all(v == {"Success"} for v in answered.values()) \
            else "a response arrived on each"
        text = f"accepted contexts inferred from the traffic: {ids} ({how})"
    else:
        text = "no response arrived, so which contexts were accepted is unknown"
    return [_f(a, NOTE, "ac-not-captured", f"A-ASSOCIATE-AC not captured: {text}; contexts, transfer syntaxes and"
               " the acceptor's max PDU are not judged", [a.first_frame],
               "the capture lost the A-ASSOCIATE-AC: data sets are decoded with the only transfer syntax"
               " proposed where there was one")]


@post
def drop_unknown_negotiation(a: Association, findings: list[Finding], opts: Options) -> list[Finding]:
    """Without a (complete) A-ASSOCIATE-AC, nothing is judged on it (no transfer syntax known is the capture's)."""
    if a.rq is None or a.rj is not None or (a.ac is not None and a.ac_complete and a.rq_complete):
        return findings
    return [f for f in findings if f.code not in ("no-transfer-syntax", "context-not-accepted",
                                                  "context-not-answered")]


CLOSE_CODES = frozenset({"peer-closed", "association-incomplete"})


@post
def close_after_loss(a: Association, findings: list[Finding], opts: Options) -> list[Finding]:
    """How an association ended is unknown when the capture lost what a side sent last.

    A side's direction that lost bytes after its last complete PDU, or after a request it had to
    answer, may have carried the response, an A-ABORT or an A-RELEASE: a finding about the close
    then says so and is at most a WARNING (the intact capture may well show an orderly end).
    """
    lossy = [d for d in (0, 1) if a.loss[d].gaps]
    if not lossy:
        return findings
    open_req = [ex.request for ex in a.exchanges if ex.request is not None and ex.final is None]
    tails = []
    for d in lossy:
        t = a.loss[d]
        waiting = [m for m in open_req if m.direction == 1 - d and m.frames and t.last_frame >= m.frames[0]]
        if t.at_end or t.last_frame >= (a.pdu_end_frame[d] or 0) or waiting:
            tails.append(d)
    if not tails:
        return findings
    who = " and ".join(f"the {a.side(d)}" for d in tails)
    out = []
    unknown_end = False
    for f in findings:
        if f.code == "association-incomplete":
            unknown_end = True         # said in capture-loss: the end may well have been an orderly release
            continue
        if f.code in CLOSE_CODES and f.severity == ERROR:
            f.severity = WARN
            f.message += (f" (the capture lost bytes {who} sent at the end: a response, A-ABORT or A-RELEASE may"
                          " be among them)")
        out.append(f)
    if unknown_end:
        for f in out:
            if f.code == "capture-loss" and f.direction == tails[0]:
                f.message += (f"; how the association ended is unknown: the capture lost bytes {who} sent at the"
                              " end (an A-RELEASE or A-ABORT may be among them)")
                break
    return out
