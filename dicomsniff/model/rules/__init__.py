"""The diagnosis rules, one module per family, registered in :mod:`.registry` (read its docstring to add one).

Importing this package imports every rule module, in this order (the order rules run in and the
catalogue's declaration order): declared codes first, then the families. ``RULE_MODULES`` also
lists modules outside the package that register rules through the same API; each is imported
when it exists, so a rule family can land without touching this file again.
"""

from __future__ import annotations

import importlib
import os
import importlib.util

from . import declared, model  # noqa: F401  (declarations and the model's refinement)
from . import negotiation, statuses, termination, protocol, performance, subassoc, capture  # noqa: F401
from .registry import CATALOGUE, RULES, catalogue_rows, emit, finalize, post, register, rule  # noqa: F401

RULE_MODULES = ("dicomsniff.model.evidence", "dicomsniff.model.rules.evidence_rules",
                "dicomsniff.model.rules.closing", "dicomsniff.model.rules.failure_hints")

IMPORT_ERRORS: dict[str, str] = {}     # module → error, for modules of RULE_MODULES that failed to import


def _load(name: str) -> None:
    try:
        if importlib.util.find_spec(name) is None:
            return
        importlib.import_module(name)
    except Exception as exc:            # a rule family being written must not take the whole diagnosis down
        if os.environ.get("DICOMSNIFF_DEBUG"):
            raise
        IMPORT_ERRORS[name] = repr(exc)


for _name in RULE_MODULES:
    _load(_name)
