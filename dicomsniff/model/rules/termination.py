"""How associations end (PS3.8 §7.2-7.3): releases without a reply. Aborts, rejections and associations
that end without either are raised by the model (see ``declared.py``) and worded in ``model.py``."""

from __future__ import annotations

from ...field import WARN
from ...ul.pdus import RELEASE_RP, RELEASE_RQ
from .. import evidence as E
from ..association import Association
from ..findings import Finding
from .base import Options, _f, _facts
from .registry import digest_hook, rule


@rule(code="release-no-reply", severity=WARN, group="protocol",
      summary="an A-RELEASE-RQ that got no A-RELEASE-RP", evidence="A-RELEASE-RQ/RP, TCP close",
      test="tests/test_model_diagnosis.py")
def releases(a: Association, opts: Options) -> list[Finding]:
    facts = _facts(a, opts)
    if RELEASE_RQ not in facts.first and not a.release_by:
        return []
    if a.released or a.abort is not None or RELEASE_RP in facts.first:
        return []
    frame = facts.frame_of(RELEASE_RQ) or a.last_frame
    return [_f(a, WARN, "release-no-reply",
               f"A-RELEASE-RQ from the {a.release_by or '?'} got no A-RELEASE-RP", [frame],
               "the peer closed the connection or stopped answering instead of confirming the release:"
               " usually harmless for the data, but check the peer's log and its release timeout",
               direction=a.client_dir if a.release_by != "server" else 1 - a.client_dir)]


@digest_hook
def closing_facts(a: Association, opts: Options, digest) -> None:
    """The close facts of ``model/evidence.py`` on the digest, for the peer-ended rule across associations."""
    digest.closing = E.close_facts(a, _facts(a, opts).last)
