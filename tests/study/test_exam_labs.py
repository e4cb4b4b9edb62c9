"""A study session's exam view and its memory of the last run, on real local labs and the real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labsim.checks.result import CheckResult
from labsim.grading.progress import ProgressStore
from labsim.scenario.model import Scenario
from labsim.study.errors import ServiceError
from labsim.study.session import StudySession

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "scenarios" / "_example"


def session(home: Path) -> StudySession:
    return StudySession(scenarios_dir=EXAMPLE, home=home, backend="local")


def results(passed: bool) -> list[CheckResult]:
    """What a run of _example's checks could say (the lab's real checks are tested elsewhere)."""
    worth = {"mail-location": 1.0, "alice-inbox": 2.0, "imap-answers": 1.0, "no-pop3": 2.0, "alice-imap": 1.0}
    return [
        CheckResult(cid, "setting", passed, pts if passed else 0.0, pts, f"{cid} said so", f"$ probe {cid}")
        for cid, pts in worth.items()
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, StudySession, Scenario]]:
    """One practice lab of _example, passed in practice (the run recorded), left running."""
    home = tmp_path_factory.mktemp("study") / "home"
    study = session(home)
    (row,) = study.scenarios()
    study.open_lab(row.scenario)
    study.record_run(row.scenario, results(True))
    yield home, study, row.scenario
    for lab in study.labs.list():
        lab.stop()


def test_the_last_run_is_remembered_per_check(world: tuple[Path, StudySession, Scenario]) -> None:
    home, study, example = world
    for who in (study, session(home)):  # this session, and the next `labsim`
        last = who.last_results(example)
        assert [(r.check_id, r.passed, r.points) for r in last] == [
            (r.check_id, True, r.points) for r in results(True)
        ]
        assert last[0].transcript == "$ probe mail-location" and last[0].message == "mail-location said so"


def test_a_scenario_never_run_has_no_last_results(tmp_path: Path) -> None:
    study = session(tmp_path / "home")
    (row,) = study.scenarios()
    assert study.last_results(row.scenario) == []


def test_an_exam_works_in_a_fresh_lab_of_its_own(world: tuple[Path, StudySession, Scenario]) -> None:
    home, study, example = world
    practice_lab = study.lab(example).lab_id
    exam = study.for_exam("exam-test-1")
    assert exam.lab_info(example) is None  # the practice lab is not the exam's
    assert exam.last_results(example) == []  # nor is the practice run
    info = exam.open_lab(example)
    assert info.lab_id != practice_lab and info.running
    assert exam.lab(example).state["exam"] == "exam-test-1"

    # Practice never picks the exam's lab, though it is the newest: not this session, nor the next.
    assert study.lab(example).lab_id == practice_lab
    assert session(home).lab(example).lab_id == practice_lab
    assert session(home).for_exam("exam-test-2").lab_info(example) is None  # another exam: fresh again

    # The exam's grade stays out of practice progress.
    with ProgressStore(home / "progress.db") as store:
        before = [(a.id, a.run_count, a.best_score) for a in store.attempts("_example")]
    grade = exam.record_run(example, results(False))
    assert grade.score.total == 0.0
    with ProgressStore(home / "progress.db") as store:
        assert [(a.id, a.run_count, a.best_score) for a in store.attempts("_example")] == before
    assert [r.passed for r in exam.last_results(example)] == [False] * 5
    assert all(r.passed for r in study.last_results(example))
    assert session(home).progress(example).completed  # what home shows: practice's pass only

    with pytest.raises(ServiceError, match="hints are not available during the exam"):
        exam.next_hint(example, "maildir")
    with pytest.raises(ServiceError, match="solution is not available during the exam"):
        exam.reveal_solution(example)
    assert exam.hints_taken(example) == {}

    # Quitting lists every running lab of this home, the exam's marked as such.
    exam_lab = info.lab_id
    assert sorted(session(home).running_labs()) == sorted(
        [f"{practice_lab} (_example)", f"{exam_lab} (_example, exam)"]
    )

    assert exam.end_exam() == [exam_lab]
    assert [lab.lab_id for lab in study.labs.list()] == [practice_lab]
    assert session(home).running_labs() == [f"{practice_lab} (_example)"]
    assert study.end_exam() == []  # practice has no exam labs to remove
