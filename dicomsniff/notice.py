"""Notices: things the decoder tells the user about the input itself (not a field)."""

from __future__ import annotations

from dataclasses import dataclass

from .field import Finding


@dataclass(slots=True, frozen=True)
class Notice:
    """A capture- or stream-level message, e.g. a truncated record or a TCP gap.

    ``frame`` is the frame number it concerns (0 when none); ``where`` names the
    layer ("capture", "tcp", "ul", "dimse").
    """

    where: str
    finding: Finding
    frame: int = 0

    @property
    def severity(self) -> str:
        return self.finding.severity

    @property
    def message(self) -> str:
        return self.finding.message
