"""The diagnosis rules, one module per family, registered in :mod:`.registry` (read its docstring to add one).

Importing this package imports every rule module, in this order (the order rules run in and the
catalogue's declaration order): declared codes first, then the families.
"""

from __future__ import annotations

from . import declared, model  # noqa: F401  (declarations and the model's refinement)
from . import negotiation, statuses, termination, closing, protocol, performance, subassoc, capture  # noqa: F401
from . import tls  # noqa: F401  (DICOM over TLS, issue 15)
from .registry import CATALOGUE, RULES, catalogue_rows, emit, finalize, post, register, rule  # noqa: F401
