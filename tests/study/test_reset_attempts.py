"""A reset is a new attempt: the honest pass before it stays in the progress, the solution revealed after
it marks only the new attempt, and the runs from before it are not shown for the fresh lab.

Real local labs of _example, real checks, the real progress store, and the learner's commands in-process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labsim.cli import main
from labsim.grading.progress import ProgressStore
from labsim.lab.from_scenario import apply_solution
from labsim.scenario.model import Scenario
from labsim.study.rows import progress_state
from labsim.study.session import StudySession

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "scenarios" / "_example"


def session(home: Path) -> StudySession:
    return StudySession(scenarios_dir=EXAMPLE, home=home, backend="local")


def solve_honestly(study: StudySession, example: Scenario) -> None:
    """What the learner does in the lab shell (the reference's edits, not `labsim solve`), then checks."""
    for done in apply_solution(study.lab(example), example):
        assert done.ok, done.output
    results = list(study.run_checks(example))
    assert all(r.passed for r in results), [(r.check_id, r.message) for r in results if not r.passed]
    grade = study.record_run(example, results)
    assert grade.score.all_passed


@pytest.fixture(scope="module")
def passed_then_reset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Scenario]]:
    """_example solved honestly, reset, then its solution revealed: what the walkthrough did."""
    home = tmp_path_factory.mktemp("reset") / "home"
    study = session(home)
    (row,) = study.scenarios()
    example = row.scenario
    study.open_lab(example)
    solve_honestly(study, example)
    assert len(study.last_results(example)) == len(example.checks())
    study.reset(example)
    assert study.last_results(example) == []  # the fresh lab has not been checked
    study.reveal_solution(example)
    yield home, example
    for lab in study.labs.list():
        lab.stop()


def test_the_honest_pass_survives_a_reset_and_the_solution_after_it(
    passed_then_reset: tuple[Path, Scenario],
) -> None:
    home, example = passed_then_reset
    with ProgressStore(home / "progress.db") as store:
        before, after = store.attempts(example.id)
        assert before.finished_at is not None and before.all_passed and not before.solved_by_solution
        assert before.best_score == before.max_score == 7.0
        assert after.finished_at is None and after.solved_by_solution and after.run_count == 0
    (row,) = session(home).scenarios()  # the home list, as the next `labsim` shows it
    assert progress_state(row.progress) == "passed"
    assert (row.progress.best_score, row.progress.max_score) == (7.0, 7.0)


def test_the_next_session_shows_no_run_from_before_the_reset(
    passed_then_reset: tuple[Path, Scenario],
) -> None:
    home, example = passed_then_reset
    again = session(home)
    again.open_lab(example)  # the app opening the scenario after a restart
    assert again.last_results(example) == []
    with ProgressStore(home / "progress.db") as store:
        assert len(store.attempts(example.id)) == 2  # opening goes on with the open attempt


def test_a_reset_elsewhere_closes_the_attempt_this_session_works_in(tmp_path: Path) -> None:
    """The app stays open while `labsim reset` runs in another terminal: its next run is the new attempt's."""
    home = tmp_path / "home"
    app, cli = session(home), session(home)
    (row,) = app.scenarios()
    example = row.scenario
    app.open_lab(example)
    try:
        app.next_hint(example, "maildir")
        assert app.hints_taken(example) == {"maildir": 1}
        cli.reset(example)
        assert app.hints_taken(example) == {} and app.last_results(example) == []
        results = list(app.run_checks(example))
        app.record_run(example, results)
        with ProgressStore(home / "progress.db") as store:
            first, second = store.attempts(example.id)
            assert (first.run_count, second.run_count) == (0, 1)
            assert store.hints_taken(first.id) == {"maildir": 1} and store.hints_taken(second.id) == {}
    finally:
        for lab in app.labs.list():
            lab.stop()


def test_labsim_reset_then_solve_keeps_the_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    for name, value in {"LABSIM_HOME": home, "LABSIM_SCENARIOS": EXAMPLE, "LABSIM_BACKEND": "local"}.items():
        monkeypatch.setenv(name, str(value))
    study = session(home)
    (row,) = study.scenarios()
    example = row.scenario
    try:
        assert main(["start", example.id, "--quiet"]) == 0
        solve_honestly(study, example)
        assert main(["reset", example.id, "--yes"]) == 0
        assert main(["solve", example.id, "--yes"]) == 0
        with ProgressStore(home / "progress.db") as store:
            before, after = store.attempts(example.id)
        assert before.all_passed and not before.solved_by_solution and before.finished_at is not None
        assert after.solved_by_solution and after.finished_at is None
        (row,) = session(home).scenarios()
        assert progress_state(row.progress) == "passed" and row.progress.best_score == 7.0
    finally:
        for lab in study.labs.list():
            lab.stop()
