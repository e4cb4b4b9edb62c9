"""From check results to points: partial credit per check, hint penalties, totals.

The scenario is the authority on what a check is worth: a checker reports the
share it awarded (points out of its own max_points), and that share is applied
to the points the scenario declares.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from labsim import __version__
from labsim.checks.result import CheckResult
from labsim.scenario.model import Scenario

NOT_RUN = "not run"


@dataclass
class CheckScore:
    check_id: str
    task_id: str
    type: str
    description: str
    points: float
    max_points: float
    status: str  # passed, failed, error (the lab failed, not the learner) or "not run"
    message: str = ""
    transcript: str = ""
    duration_s: float = 0.0
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class HintTaken:
    task_id: str
    index: int  # 0-based: hints are shown in order
    cost: float


@dataclass
class Score:
    checks: list[CheckScore]
    hints: list[HintTaken] = field(default_factory=list)

    @property
    def earned(self) -> float:
        return sum(check.points for check in self.checks)

    @property
    def max_points(self) -> float:
        return sum(check.max_points for check in self.checks)

    @property
    def penalty(self) -> float:
        return sum(hint.cost for hint in self.hints)

    @property
    def total(self) -> float:
        """Points after hint penalties; never below zero."""
        return max(0.0, round(self.earned - self.penalty, 6))

    @property
    def fraction(self) -> float:
        return self.total / self.max_points if self.max_points else 0.0

    @property
    def all_passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def passed_count(self) -> int:
        return sum(1 for check in self.checks if check.passed)


def _awarded(result: CheckResult, worth: float) -> float:
    if result.error is not None:
        return 0.0
    if result.max_points > 0:
        share = min(max(result.points / result.max_points, 0.0), 1.0)
        return round(worth * share, 6)
    return worth if result.passed else 0.0


def hints_from_counts(scenario: Scenario, counts: Mapping[str, int]) -> list[HintTaken]:
    """Hints are graduated: n hints taken for a task means its first n were shown."""
    taken: list[HintTaken] = []
    for task in scenario.tasks:
        shown = min(max(int(counts.get(task.id, 0)), 0), len(task.hints))
        taken.extend(HintTaken(task.id, i, scenario.hint_cost(task.id, i)) for i in range(shown))
    return taken


def score(
    scenario: Scenario, results: Iterable[CheckResult], hints_taken: Mapping[str, int] | None = None
) -> Score:
    """Score results against the scenario. Checks without a result count as not run (0 points);
    results for checks the scenario does not declare are ignored."""
    by_id = {result.check_id: result for result in results}
    checks: list[CheckScore] = []
    for task in scenario.tasks:
        for spec in task.checks:
            result = by_id.get(spec.id)
            if result is None:
                checks.append(
                    CheckScore(
                        spec.id, task.id, spec.type, spec.description, 0.0, spec.points, NOT_RUN,
                        message="the check did not run",
                    )
                )  # fmt: skip
                continue
            checks.append(
                CheckScore(
                    check_id=spec.id,
                    task_id=task.id,
                    type=spec.type,
                    description=spec.description,
                    points=_awarded(result, spec.points),
                    max_points=spec.points,
                    status=result.status,
                    message=result.message,
                    transcript=result.transcript,
                    duration_s=result.duration_s,
                    error=result.error,
                )
            )
    return Score(checks=checks, hints=hints_from_counts(scenario, hints_taken or {}))


@dataclass
class Grade:
    """One graded attempt: what every report renders."""

    scenario_id: str
    scenario_version: str
    scenario_title: str
    checks_hash: str
    score: Score
    student: str = ""
    time_spent_s: float = 0.0
    backend: str = ""
    labsim_version: str = __version__
    graded_at: str = ""  # ISO 8601, UTC

    @classmethod
    def build(
        cls,
        scenario: Scenario,
        results: Iterable[CheckResult],
        hints_taken: Mapping[str, int] | None = None,
        *,
        student: str = "",
        time_spent_s: float = 0.0,
        backend: str = "",
        graded_at: datetime.datetime | None = None,
    ) -> Grade:
        when = graded_at or datetime.datetime.now(datetime.UTC)
        return cls(
            scenario_id=scenario.id,
            scenario_version=scenario.version,
            scenario_title=scenario.title,
            checks_hash=scenario.checks_hash(),
            score=score(scenario, results, hints_taken),
            student=student,
            time_spent_s=time_spent_s,
            backend=backend,
            graded_at=when.astimezone(datetime.UTC).isoformat(timespec="seconds"),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["score"] = {
            "total": self.score.total,
            "earned": self.score.earned,
            "penalty": self.score.penalty,
            "max_points": self.score.max_points,
            "all_passed": self.score.all_passed,
            "checks": [asdict(check) for check in self.score.checks],
            "hints": [asdict(hint) for hint in self.score.hints],
        }
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grade:
        raw = data["score"]
        sc = Score(
            checks=[CheckScore(**_typed(CheckScore, check)) for check in raw["checks"]],
            hints=[HintTaken(**_typed(HintTaken, hint)) for hint in raw.get("hints", [])],
        )
        fields = {k: v for k, v in data.items() if k != "score" and k in cls.__dataclass_fields__}
        return cls(score=sc, **_typed(cls, fields))


# A saved grade is read back from a file someone may have edited: each field must have its type,
# or rendering it fails far from the cause. Annotations are strings here (postponed evaluation).
_KINDS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "float": (int, float),
    "int": (int,),
    "str | None": (str, type(None)),
}


def _typed(cls: type, values: Mapping[str, Any]) -> Mapping[str, Any]:
    """values, when each one has the type its field declares; a TypeError naming the field otherwise."""
    if not isinstance(values, Mapping):
        raise TypeError(f"{cls.__name__} entries must be objects, found {values!r:.40}")
    fields = getattr(cls, "__dataclass_fields__", {})
    for name, value in values.items():
        kinds = _KINDS.get(str(fields[name].type)) if name in fields else None
        if kinds and (not isinstance(value, kinds) or (isinstance(value, bool) and str not in kinds)):
            raise TypeError(f"{name} must be a {fields[name].type}, found {value!r:.40}")
    return values
