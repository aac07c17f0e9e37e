"""The finding catalogue: every code declared once, the rules that raise them, and the framework around them.

A finding is a claim about someone's system, so each kind is declared here once
(code, default severity, group, one-line meaning, the evidence it rests on, its
test), like Wireshark's registered expert fields or ruff's rule docs, and the
rest of the code refers to that declaration. ``dicomsniff diagnose --list-rules``
prints this catalogue.

Groups (after Wireshark's expert groups) keep "the capture is incomplete" apart
from "a peer is wrong":

- ``capture``: the capture lost or never saw bytes; never blames a peer, at most WARNING;
- ``input``: the capture file itself is damaged (unreadable records);
- ``protocol``: a peer broke the standard (PS3.7, PS3.8) or is misconfigured;
- ``malformed``: a peer sent bytes that do not decode;
- ``response``: the outcome of an operation (rejections, statuses, aborts);
- ``performance``: slow or wasteful, not wrong;
- ``info``: worth knowing.

Severity discipline, checked in one place (:func:`discipline_errors`, and
enforced on every finding by :func:`finalize`): a ``capture`` finding is at most
a WARNING; an ERROR needs a peer that broke the protocol or a failed operation as
its subject (group ``protocol``, ``malformed``, ``response``, or ``input`` for a
file that cannot be read).

How to add a rule
-----------------
Write one function in a module of :mod:`dicomsniff.model.rules` (or in your own
module listed in ``RULE_MODULES`` in ``rules/__init__.py``) and decorate it once
per code it raises::

    from dicomsniff.field import WARN
    from dicomsniff.model.rules.registry import rule

    @rule(code="peer-closed", severity=WARN, group="response",
          summary="one side closed the TCP connection without A-RELEASE",
          evidence="Association.closes (FIN/RST frames), open exchanges",
          test="tests/test_rules_termination.py")
    def peer_closed(a, opts):                 # a: Association, opts: Options (thresholds, caches)
        yield emit(a, "peer-closed", "the server closed …", [frame], hint="…", key="server")

- ``emit(a, code, message, frames, hint="", key="", severity=None)`` builds the
  Finding with the declared default severity (pass ``severity`` to choose
  another one for this instance, e.g. ERROR only when an operation was lost).
- ``key`` names the cause: findings with the same (association, code, key) are
  grouped into one line with a count and first/last frames by the framework
  (so 0xA700 and 0xC000 failures stay two lines when the key is the status).
- ``scope="capture"`` registers a rule across associations: it is called once
  with the list of per-association ``Digest`` objects instead.
- ``supersedes=(codes…)``: when this code is raised in an association, findings
  of those codes in the same association are dropped (one clear line instead
  of three, e.g. a connection reset versus pdu-incomplete / no-response).
- ``fragile=True``: the finding rests on the bytes of one direction; when that
  direction lost bytes at or before the finding's frames, it is not raised but
  counted in the association's ``capture-loss`` finding.

Codes raised outside the rules (the decoder, the model) are declared with
:func:`declare` (see ``rules/declared.py``); a test asserts that every code the
source can emit is in the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

from ...field import ERROR, NOTE, SEVERITY_RANK, WARN
from ..findings import Finding

GROUPS: dict[str, str] = {
    "capture": "the capture is incomplete (lost segments, started late, ended early): never a peer's fault",
    "input": "the capture file itself is damaged",
    "protocol": "a peer broke the DICOM standard or is misconfigured",
    "malformed": "a peer sent bytes that do not decode",
    "response": "the outcome of an operation: rejection, failure status, abort",
    "performance": "slow or wasteful, not wrong",
    "info": "worth knowing",
}
ERROR_GROUPS = frozenset({"protocol", "malformed", "response", "input"})
MAX_FRAMES = 100          # frames kept per grouped finding (first and last are always exact)


@dataclass(frozen=True, slots=True)
class Code:
    """One finding code as declared: what it means, how bad by default, and what it rests on."""

    code: str
    severity: str
    group: str
    summary: str
    evidence: str = ""
    source: str = "rule"              # rule (a registered rule), model (association.py), decoder (ul/, dimse/, tcp/), capture
    rule: str = ""                    # the rule function's name, for rule codes
    test: str = ""
    supersedes: tuple[str, ...] = ()
    fragile: bool = False             # rests on one direction's bytes: folded into capture-loss after loss


@dataclass(slots=True)
class Rule:
    """A registered rule: a function raising some codes, per association or across associations."""

    name: str
    fn: Callable
    scope: str                        # "association" or "capture"
    codes: list[str] = field(default_factory=list)
    module: str = ""


CATALOGUE: dict[str, Code] = {}
RULES: dict[str, Rule] = {}           # by function qualified name, in registration order
POST: list[Callable] = []             # association-level passes run after every rule, before grouping
DIGEST_HOOKS: list[Callable] = []     # fn(a, opts, digest): add facts to an association's Digest


def declare(code: str, severity: str, group: str, summary: str, *, evidence: str = "", source: str = "decoder",
            rule: str = "", test: str = "", supersedes: Iterable[str] = (), fragile: bool = False) -> Code:
    """Declare a code (idempotent for an identical declaration; a conflicting one raises at import)."""
    if group not in GROUPS:
        raise ValueError(f"finding code {code!r}: unknown group {group!r}")
    if severity not in SEVERITY_RANK:
        raise ValueError(f"finding code {code!r}: unknown severity {severity!r}")
    c = Code(code, severity, group, summary, evidence, source, rule, test, tuple(supersedes), fragile)
    old = CATALOGUE.get(code)
    if old is not None and old != c:
        raise ValueError(f"finding code {code!r} declared twice, differently: {old} / {c}")
    CATALOGUE[code] = c
    return c


def rule(*, code: str, severity: str, group: str, summary: str, evidence: str = "", test: str = "",
         scope: str = "association", supersedes: Iterable[str] = (), fragile: bool = False):
    """Register the decorated function as a rule raising ``code`` (stack the decorator for more codes)."""
    if scope not in ("association", "capture"):
        raise ValueError(f"rule scope must be 'association' or 'capture', not {scope!r}")

    def deco(fn: Callable) -> Callable:
        name = f"{fn.__module__}.{fn.__qualname__}"
        r = RULES.get(name)
        if r is None:
            r = RULES[name] = Rule(fn.__name__, fn, scope, [], fn.__module__)
        elif r.scope != scope:
            raise ValueError(f"rule {name}: declared with two scopes")
        declare(code, severity, group, summary, evidence=evidence, source="rule", rule=fn.__name__, test=test,
                supersedes=supersedes, fragile=fragile)
        if code not in r.codes:
            r.codes.insert(0, code)      # decorators apply bottom-up: keep the written order
        return fn
    return deco


def register(fn: Callable | None = None, *, scope: str = "association"):
    """Register a rule that raises only codes declared elsewhere (e.g. the decoder's, re-raised per PDU)."""
    def deco(f: Callable) -> Callable:
        name = f"{f.__module__}.{f.__qualname__}"
        RULES.setdefault(name, Rule(f.__name__, f, scope, [], f.__module__))
        return f
    return deco(fn) if fn is not None else deco


def post(fn: Callable) -> Callable:
    """Register an association-level pass ``fn(a, findings, opts) -> findings`` run after every rule."""
    if fn not in POST:
        POST.append(fn)
    return fn


def digest_hook(fn: Callable) -> Callable:
    """Register ``fn(a, opts, digest)``, called when an association's Digest is made: it may set facts on it
    that a rule across associations (``scope="capture"``) reads later."""
    if fn not in DIGEST_HOOKS:
        DIGEST_HOOKS.append(fn)
    return fn


def association_rules() -> list[Rule]:
    return [r for r in RULES.values() if r.scope == "association"]


def capture_rules() -> list[Rule]:
    return [r for r in RULES.values() if r.scope == "capture"]


def lookup(code: str) -> Code | None:
    """The declaration of ``code`` (None when undeclared; never raises)."""
    return CATALOGUE.get(code)


def group_of(code: str) -> str:
    c = CATALOGUE.get(code)
    return c.group if c is not None else "protocol"


def emit(a, code: str, message: str, frames: Iterable[int] = (), hint: str = "", *, key: str = "",
         severity: str | None = None, direction: int | None = None) -> Finding:
    """A finding of association ``a`` with the declared default severity (or ``severity``)."""
    c = CATALOGUE.get(code)
    sev = severity or (c.severity if c is not None else WARN)
    number = a if isinstance(a, int) else a.number
    return Finding(sev, code, message, number, [x for x in frames if x][:20], hint, key=key, direction=direction)


# -- the discipline ------------------------------------------------------------


def allowed(code: str, severity: str) -> str:
    """``severity`` clamped to what the code's group allows (capture at most WARNING, ERROR needs a subject)."""
    c = CATALOGUE.get(code)
    group = c.group if c is not None else "protocol"
    if severity == ERROR and group not in ERROR_GROUPS:
        return WARN
    return severity


def discipline_errors() -> list[str]:
    """Declarations that break the severity discipline (empty when the catalogue is sound)."""
    bad = []
    for c in CATALOGUE.values():
        if allowed(c.code, c.severity) != c.severity:
            bad.append(f"{c.code}: default {c.severity} not allowed in group {c.group}")
        if not c.summary:
            bad.append(f"{c.code}: no summary")
        for s in c.supersedes:
            if s not in CATALOGUE:
                bad.append(f"{c.code}: supersedes undeclared {s}")
    return bad


# -- the framework: suppression and grouping ---------------------------------------


def supersede(findings: list[Finding]) -> list[Finding]:
    """Drop, per association, findings whose code is superseded by another code raised there."""
    present: dict[int, set[str]] = {}
    for f in findings:
        present.setdefault(f.association, set()).add(f.code)
    dropped: dict[int, set[str]] = {}
    for num, codes in present.items():
        for code in codes:
            c = CATALOGUE.get(code)
            if c is not None and c.supersedes:
                dropped.setdefault(num, set()).update(c.supersedes)
    if not dropped:
        return findings
    return [f for f in findings if f.code not in dropped.get(f.association, ())]


def group(findings: list[Finding]) -> list[Finding]:
    """Repeats of one cause — (association, code, key) — collapsed into one finding with a count.

    The first finding keeps its message and hint; the group takes the worst
    severity, the total count, every frame (capped at MAX_FRAMES, with exact
    first/last frames) and keeps the first occurrence's place in the list.
    """
    out: list[Finding] = []
    by: dict[tuple[int, str, str], Finding] = {}
    for f in findings:
        k = (f.association, f.code, f.key)
        g = by.get(k)
        if g is None:
            g = by[k] = replace(f, frames=list(f.frames))
            g.first_frame = min(f.frames, default=0) if not f.first_frame else f.first_frame
            g.last_frame = max(f.frames, default=0) if not f.last_frame else f.last_frame
            out.append(g)
            continue
        g.count += f.count
        if f.rank > g.rank:
            g.severity = f.severity
        for x in f.frames:
            if len(g.frames) >= MAX_FRAMES:
                break
            if x not in g.frames:
                g.frames.append(x)
        fr = [x for x in (f.first_frame, f.last_frame, *f.frames) if x]
        if fr:
            g.first_frame = min([x for x in (g.first_frame,) if x] + fr)
            g.last_frame = max([g.last_frame] + fr)
    return out


def finalize(findings: list[Finding]) -> list[Finding]:
    """The discipline on every finding, then suppression and grouping: what every view shows."""
    for f in findings:
        f.severity = allowed(f.code, f.severity)
    return group(supersede(findings))


def catalogue_rows() -> list[Code]:
    """The catalogue sorted by group, then code (``--list-rules``)."""
    order = {g: i for i, g in enumerate(GROUPS)}
    return sorted(CATALOGUE.values(), key=lambda c: (order.get(c.group, 99), c.code))


__all__ = ["CATALOGUE", "Code", "ERROR", "GROUPS", "NOTE", "POST", "RULES", "Rule", "WARN", "allowed",
           "association_rules", "capture_rules", "catalogue_rows", "declare", "discipline_errors", "emit",
           "finalize", "group", "group_of", "lookup", "post", "register", "rule", "supersede"]
