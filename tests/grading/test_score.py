"""Partial credit, hint penalties and totals."""

from __future__ import annotations

from pathlib import Path

import pytest

from labsim import __version__
from labsim.checks import CheckResult
from labsim.grading.score import Grade, score
from labsim.scenario import load_scenario
from labsim.scenario.model import Scenario

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "scenarios" / "_example"


@pytest.fixture(scope="module")
def example() -> Scenario:
    # checks: mail-location 1, alice-inbox 2, imap-answers 1 | no-pop3 2, alice-imap 1; hint_penalty 0.5,
    # the third hint of task "maildir" costs 1.
    return load_scenario(EXAMPLE)


def result(check_id: str, passed: bool, points: float, max_points: float = 1.0, **kw: object) -> CheckResult:
    return CheckResult(check_id, "t", passed, points, max_points, **kw)  # type: ignore[arg-type]


def test_all_passed_gives_full_marks(example: Scenario) -> None:
    results = [result(c.id, True, 1.0) for c in example.checks()]
    sc = score(example, results)
    assert (sc.earned, sc.max_points, sc.penalty, sc.total) == (7.0, 7.0, 0.0, 7.0)
    assert sc.all_passed
    assert sc.fraction == 1.0
    assert [c.points for c in sc.checks] == [1.0, 2.0, 1.0, 2.0, 1.0]


def test_partial_credit_is_a_share_of_the_declared_points(example: Scenario) -> None:
    results = [
        result("mail-location", True, 1.0),
        result("alice-inbox", False, 1.0, 4.0),  # a quarter of the way there: 0.5 of 2 points
        result("imap-answers", False, 0.0),
        result("no-pop3", True, 3.0, 2.0),  # a checker overshooting is capped at the declared points
        result("alice-imap", True, 0.0, 0.0),  # no scale from the checker: passed means full
    ]
    sc = score(example, results)
    assert [(c.check_id, c.points, c.status) for c in sc.checks] == [
        ("mail-location", 1.0, "passed"),
        ("alice-inbox", 0.5, "failed"),
        ("imap-answers", 0.0, "failed"),
        ("no-pop3", 2.0, "passed"),
        ("alice-imap", 1.0, "passed"),
    ]
    assert sc.total == 4.5
    assert not sc.all_passed
    assert sc.passed_count == 3


def test_hint_penalties_use_the_scenario_default_and_per_hint_costs(example: Scenario) -> None:
    results = [result(c.id, True, 1.0) for c in example.checks()]
    sc = score(example, results, {"maildir": 3, "imap-only": 1})
    assert [(h.task_id, h.index, h.cost) for h in sc.hints] == [
        ("maildir", 0, 0.5),
        ("maildir", 1, 0.5),
        ("maildir", 2, 1.0),
        ("imap-only", 0, 0.5),
    ]
    assert (sc.penalty, sc.total) == (2.5, 4.5)


def test_hints_beyond_the_list_and_unknown_tasks_cost_nothing(example: Scenario) -> None:
    sc = score(example, [result(c.id, True, 1.0) for c in example.checks()], {"maildir": 99, "nope": 4})
    assert len(sc.hints) == 3
    assert sc.penalty == 2.0


def test_the_total_never_goes_below_zero(example: Scenario) -> None:
    sc = score(example, [result("mail-location", True, 1.0)], {"maildir": 3, "imap-only": 2})
    assert (sc.earned, sc.penalty, sc.total) == (1.0, 3.0, 0.0)


def test_missing_results_lab_errors_and_unknown_results(example: Scenario) -> None:
    results = [
        result("mail-location", True, 1.0, error="the lab stopped"),  # a lab error never earns points
        result("not-in-scenario", True, 5.0),
    ]
    sc = score(example, results)
    statuses = {c.check_id: (c.status, c.points, c.message) for c in sc.checks}
    assert statuses["mail-location"] == ("error", 0.0, "")
    assert statuses["alice-inbox"] == ("not run", 0.0, "the check did not run")
    assert "not-in-scenario" not in statuses
    assert sc.max_points == 7.0


def test_grade_records_versions_and_roundtrips(example: Scenario) -> None:
    results = [result("alice-inbox", False, 0.0, 2.0, message="expected 3, saw 0", transcript="a OK\r\n")]
    grade = Grade.build(example, results, {"maildir": 1}, student="ann", time_spent_s=90.0, backend="local")
    assert (grade.labsim_version, grade.scenario_id, grade.scenario_version) == (__version__, "_example", "1")
    assert grade.checks_hash == example.checks_hash()
    again = Grade.from_dict(grade.to_dict())
    assert again == grade
    assert again.score.total == 0.0
    assert grade.to_dict()["score"]["penalty"] == 0.5
