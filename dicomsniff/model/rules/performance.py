"""Performance smells: slow responses (``--slow``), long idle gaps (``--idle``), tiny max PDU lengths,
one association per object. Slow or wasteful, never wrong: WARNING at most."""

from __future__ import annotations

from collections import defaultdict

from ...field import WARN
from ...textsafe import safe_text
from ...ul.pdus import ASSOCIATE_AC, ASSOCIATE_RQ
from ..association import Association
from ..findings import Finding
from .base import Options, _f, _facts, _message_names, _req_label, _secs
from .subassoc import Digest
from .registry import rule


@rule(code="tiny-max-pdu", severity=WARN, group="performance",
      summary="a peer announces a max PDU length below --tiny-pdu (8 KiB): per-PDU overhead on large objects",
      evidence="A-ASSOCIATE-RQ/AC Maximum Length sub-item", test="tests/test_model_diagnosis.py")
def tiny_max_pdu(a: Association, opts: Options) -> list[Finding]:
    out: list[Finding] = []
    facts = _facts(a, opts)
    for who, rq in (("client", a.rq), ("server", a.ac)):
        if rq is None:
            continue
        n = rq.user_info.max_pdu_length
        if n and n < opts.tiny_pdu:
            frame = facts.frame_of(ASSOCIATE_RQ if who == "client" else ASSOCIATE_AC)
            out.append(_f(a, WARN, "tiny-max-pdu",
                          f"the {who} announces a max PDU length of {n} bytes (below {opts.tiny_pdu})", [frame],
                          "small PDUs multiply per-PDU overhead on large objects: raise the max PDU"
                          " (16 KiB to 1 MiB are usual) in this peer's network settings"))
    return out


def _slow_waits(a: Association, opts: Options) -> list[tuple]:
    """(exchange, request sent, first response) for each request that waited longer than --slow."""
    limit = int(opts.slow_s * 1e9)
    out = []
    for ex in a.exchanges:
        if ex.request is not None and ex.responses:
            sent = ex.request.end_ts_ns or ex.request.ts_ns
            if ex.responses[0].ts_ns - sent > limit:
                out.append((ex, sent, ex.responses[0].ts_ns))
    return out


@rule(code="slow-response", severity=WARN, group="performance",
      summary="a request waited longer than --slow (5 s) for its first response",
      evidence="request end and first response timestamps", test="tests/test_model_diagnosis.py")
def slow(a: Association, opts: Options) -> list[Finding]:
    out: list[Finding] = []
    for ex, sent, answered in _slow_waits(a, opts):
        first = ex.responses[0]
        out.append(_f(a, WARN, "slow-response",
                      f"{_req_label(ex)} waited {_secs(answered - sent)} for its first response (threshold"
                      f" {opts.slow_s:g} s)", [ex.request.frames[-1] if ex.request.frames else 0,
                                               first.frames[0] if first.frames else 0],
                      "the responder is slow: check its load, database or storage latency, and that the"
                      " requester's DIMSE timeout is longer than this"))
    return out


@rule(code="idle-gap", severity=WARN, group="performance",
      summary="no PDU for longer than --idle (10 s) inside an association (not explained by a slow response)",
      evidence="PDU timestamps", test="tests/test_model_diagnosis.py")
def idle(a: Association, opts: Options) -> list[Finding]:
    out: list[Finding] = []
    limit = int(opts.idle_s * 1e9)
    waits = [(sent, answered) for _ex, sent, answered in _slow_waits(a, opts)]
    gaps = [g for g in _facts(a, opts).gaps if g[0] > limit]
    named = _message_names(a, {g[2] for g in gaps} | {g[5] for g in gaps}) if gaps else {}
    for gap, prev_name, prev_frame, prev_end, name, frame, ts in sorted(gaps, key=lambda g: g[5]):
        if any(s <= prev_end + 1 and ts <= e + 1 for s, e in waits):
            continue                  # explained by a slow-response finding
        before = named[prev_frame][1] if prev_frame in named else prev_name
        after = named[frame][0] if frame in named else name
        out.append(_f(a, WARN, "idle-gap",
                      f"no PDU for {_secs(gap)} inside the association, between {before} (frame {prev_frame})"
                      f" and {after} (frame {frame})", [prev_frame, frame],
                      "an association held open while idle: the application waits (user, database) between"
                      " operations, and idle timeouts or firewalls may cut it"))
    return out


@rule(code="association-per-object", severity=WARN, group="performance", scope="capture",
      summary="the same peers opened one association per C-STORE, many times over",
      evidence="associations between the same AE titles and hosts with one C-STORE each",
      test="tests/test_model_diagnosis.py")
def association_per_object(assocs: list[Digest], opts: Options) -> list[Finding]:
    groups: dict[tuple, list[Digest]] = defaultdict(list)
    for a in assocs:
        if a.single_store:
            groups[(a.client_ip, a.server_ip, a.server_port, a.calling, a.called)].append(a)
    out: list[Finding] = []
    for key, group in groups.items():
        if len(group) >= opts.per_object_min:
            first = group[0]
            nums = ", ".join(f"#{g.number}" for g in group[:10]) + (" …" if len(group) > 10 else "")
            out.append(Finding(WARN, "association-per-object",
                               f"{len(group)} associations '{safe_text(key[3])}' → '{safe_text(key[4])}' each"
                               f" carried a single C-STORE ({nums})", first.number,
                               [g.first_frame for g in group[:10]],
                               "the sender opens one association per object: configure it to send a study (or"
                               " a batch) per association; negotiation per object costs time and SCP slots"))
    return out
