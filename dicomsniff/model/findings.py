"""Association-level findings: what went wrong, with evidence (frames) and a hint."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..field import SEVERITY_RANK


@dataclass(slots=True)
class Finding:
    """One diagnosis line: severity, stable code, plain message, association number, frames, hint."""

    severity: str
    code: str
    message: str
    association: int
    frames: list[int] = field(default_factory=list)
    hint: str = ""

    @property
    def rank(self) -> int:
        return SEVERITY_RANK.get(self.severity, 0)

    def to_json(self) -> dict:
        return {"severity": self.severity, "code": self.code, "message": self.message,
                "association": self.association, "frames": self.frames, "hint": self.hint}
