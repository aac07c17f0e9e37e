"""Association-level findings: what went wrong, with evidence (frames) and a hint.

Each code is declared once in the catalogue (:mod:`dicomsniff.model.rules.registry`);
repeats of one cause (association, code, key) are grouped there into one finding
with a ``count`` and its first and last frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..field import SEVERITY_RANK


@dataclass(slots=True)
class Finding:
    """One diagnosis line: severity, stable code, plain message, association number, frames, hint.

    ``key`` names the cause within the code (e.g. the DIMSE status), ``count`` how many
    occurrences this line stands for, ``direction`` the direction whose bytes it rests on
    (None when unknown or both).
    """

    severity: str
    code: str
    message: str
    association: int
    frames: list[int] = field(default_factory=list)
    hint: str = ""
    key: str = ""
    count: int = 1
    first_frame: int = 0
    last_frame: int = 0
    direction: int | None = None

    @property
    def rank(self) -> int:
        return SEVERITY_RANK.get(self.severity, 0)

    @property
    def first(self) -> int:
        """The first frame of the evidence (0 when none)."""
        return self.first_frame or min(self.frames, default=0)

    @property
    def last(self) -> int:
        return self.last_frame or max(self.frames, default=0)

    def to_json(self) -> dict:
        from .rules.registry import group_of
        return {"severity": self.severity, "code": self.code, "group": group_of(self.code),
                "message": self.message, "association": self.association, "frames": self.frames[:100],
                "count": self.count, "first_frame": self.first or None, "last_frame": self.last or None,
                "hint": self.hint}
