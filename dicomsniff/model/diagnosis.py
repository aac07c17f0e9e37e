"""Diagnosis: from a capture's associations to findings with evidence and a hint.

:func:`diagnose` reads finished :class:`~.association.Association` objects
(it does not change what they recorded, except to add a hint or sharpen the
message of a finding the model already raised) and returns every finding: the
model's own, refined, plus the ones the registered rules add. The rules live in
:mod:`dicomsniff.model.rules`, one module per family (negotiation, statuses,
termination, protocol, performance, sub-associations, capture), each code
declared once in the catalogue (:mod:`dicomsniff.model.rules.registry`, which
says how to add a rule). The framework around them enforces the severity
discipline, folds findings that rest on bytes the capture lost into one
``capture-loss`` line per direction, and groups repeats of one cause into one
finding with a count.

It is the one source of findings for every view (``diagnose``, ``summary``,
``export``, the TUI): they show its list, never the model's raw
``Association.findings`` beside it. It runs after the capture is read, because
some rules need every association at once; :class:`Diagnoser` does the same
association by association for streaming consumers (``export --jsonl``),
keeping only a small :class:`Digest` of each for the rules across associations.
"""

from __future__ import annotations

import os

from ..field import SEVERITY_RANK
from . import rules as _rules  # noqa: F401  (imports and registers every rule module)
from .association import Association
from .findings import Finding
from .rules.base import Options, PduFacts, PduWatch, facts_from_pdus  # noqa: F401  (public API)
from .rules.model import refine_model
from .rules.registry import DIGEST_HOOKS, POST, association_rules, capture_rules, finalize, group
from .rules.subassoc import Digest, MoveDigest  # noqa: F401  (public API)

__all__ = ["Diagnoser", "Digest", "MoveDigest", "Options", "PduFacts", "PduWatch", "diagnose", "facts_from_pdus",
           "ordered", "worst"]


def _debug() -> bool:
    return bool(os.environ.get("DICOMSNIFF_DEBUG"))


def diagnose(associations: list[Association], *, slow_s: float = 5.0, idle_s: float = 10.0,
             tiny_pdu: int = 8192, per_object_min: int = 5, watch: "PduWatch | None" = None) -> list[Finding]:
    """Every finding of these associations, ordered by association then severity (most severe first).

    PDU-level rules read ``watch`` (filled while the capture was read) or, without
    one, the PDUs the associations kept. Never raises on odd input: a rule that
    fails on one association is skipped for it.
    """
    d = Diagnoser(slow_s=slow_s, idle_s=idle_s, tiny_pdu=tiny_pdu, per_object_min=per_object_min, watch=watch)
    out: list[Finding] = []
    for a in associations:
        out.extend(d.association(a))
    out.extend(d.finish())
    order = {a.number: i for i, a in enumerate(associations)}
    return ordered(out, order)


def ordered(findings: list[Finding], order: dict[int, int] | None = None) -> list[Finding]:
    """Findings by association (``order``: number → position; default by number), most severe first."""
    key = (lambda n: order.get(n, -1)) if order is not None else (lambda n: n)
    return sorted(findings, key=lambda f: (key(f.association), -f.rank, f.frames[0] if f.frames else 0))


class Diagnoser:
    """The same diagnosis, association by association, for consumers that cannot keep them all.

    Call :meth:`association` when an association has ended (before it is dropped),
    then :meth:`finish` once for the rules across associations (C-MOVE
    sub-associations, one association per object), which read a small digest
    kept per association. ``diagnose()`` is this, run over a list.
    """

    def __init__(self, *, slow_s: float = 5.0, idle_s: float = 10.0, tiny_pdu: int = 8192,
                 per_object_min: int = 5, watch: "PduWatch | None" = None):
        self.opts = Options(slow_s, idle_s, tiny_pdu, per_object_min)
        self.watch = watch
        self.digests: list[Digest] = []

    def association(self, a: Association, *, forget: bool = False) -> list[Finding]:
        """This association's findings (the model's, refined, plus the rules'), folded and grouped.

        ``forget`` drops what was kept for it (its PduFacts, in the watch too) once read.
        """
        opts = self.opts
        if self.watch is not None and a.number in self.watch.facts:
            opts.facts[a.number] = self.watch.facts[a.number]
        try:
            out = list(refine_model(a, opts))
        except Exception:
            if _debug():
                raise
            out = list(a.findings)
        for r in association_rules():
            try:
                out.extend(r.fn(a, opts))
            except Exception:           # one broken association must not hide the others' diagnosis
                if _debug():
                    raise
                continue
        for p in POST:
            try:
                out = list(p(a, out, opts))
            except Exception:
                if _debug():
                    raise
                continue
        try:
            dg = Digest.of(a)
            self.digests.append(dg)
            for h in DIGEST_HOOKS:
                h(a, opts, dg)
        except Exception:
            if _debug():
                raise
        if forget:
            opts.facts.pop(a.number, None)
            if self.watch is not None:
                self.watch.facts.pop(a.number, None)
        return finalize(out)

    def finish(self) -> list[Finding]:
        """Findings of the rules across associations (call once, after the last association)."""
        out: list[Finding] = []
        for r in capture_rules():
            try:
                out.extend(r.fn(self.digests, self.opts))
            except Exception:
                if _debug():
                    raise
                continue
        return finalize(out)


def worst(findings: list[Finding]) -> str | None:
    """The most severe severity among ``findings`` (None when empty)."""
    best = None
    for f in findings:
        if best is None or SEVERITY_RANK.get(f.severity, 0) > SEVERITY_RANK.get(best, 0):
            best = f.severity
    return best


def regroup(findings: list[Finding]) -> list[Finding]:
    """Group an already finalized list again (e.g. after appending capture notices): idempotent."""
    return group(findings)
