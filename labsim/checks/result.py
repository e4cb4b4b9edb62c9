"""What one check run produced: the verdict, the points, and what a learner needs to read."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class CheckResult:
    check_id: str
    type: str
    passed: bool
    points: float  # awarded; a check may give partial credit (0 <= points <= max_points)
    max_points: float
    message: str = ""  # expected / seen / why, in a sentence or three
    transcript: str = ""  # the protocol dialogue or command output, as the learner would see it
    duration_s: float = 0.0
    error: str | None = None  # a lab error (not the learner's fault): the check could not run

    @classmethod
    def failed(cls, check_id: str, type: str, max_points: float, message: str, **extra: Any) -> CheckResult:
        return cls(
            check_id=check_id,
            type=type,
            passed=False,
            points=0.0,
            max_points=max_points,
            message=message,
            **extra,
        )

    @property
    def status(self) -> str:
        """passed, failed or error (the check could not run)."""
        if self.error is not None:
            return "error"
        return "passed" if self.passed else "failed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            check_id=str(data["check_id"]),
            type=str(data.get("type", "")),
            passed=bool(data.get("passed", False)),
            points=float(data.get("points", 0.0)),
            max_points=float(data.get("max_points", 0.0)),
            message=str(data.get("message", "")),
            transcript=str(data.get("transcript", "")),
            duration_s=float(data.get("duration_s", 0.0)),
            error=None if data.get("error") is None else str(data["error"]),
        )


def message_after(description: str, message: str) -> str:
    """The message without its leading "DESCRIPTION: ", for listings that show the description already."""
    head = f"{description.rstrip('.')}: "
    return message[len(head) :] if description and message.startswith(head) else message
