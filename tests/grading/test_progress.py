"""The progress store: a roundtrip, concurrency, and crash safety with real processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labsim.checks import CheckResult
from labsim.grading.progress import SCHEMA_VERSION, ProgressError, ProgressStore, default_path
from labsim.grading.score import Grade
from labsim.scenario import load_scenario
from labsim.scenario.model import Scenario

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLE = REPO / "scenarios" / "_example"


@pytest.fixture(scope="module")
def example() -> Scenario:
    return load_scenario(EXAMPLE)


def grade_with(example: Scenario, passing: set[str], hints: dict[str, int] | None = None) -> Grade:
    results = [
        CheckResult(c.id, c.type, c.id in passing, float(c.id in passing), 1.0) for c in example.checks()
    ]
    return Grade.build(example, results, hints)


def test_default_path_is_under_the_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABSIM_HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / "progress.db"
    with ProgressStore() as store:
        assert store.path == tmp_path / "home" / "progress.db"
        assert store.schema_version == SCHEMA_VERSION == 1
    assert (tmp_path / "home" / "progress.db").is_file()


def test_roundtrip(tmp_path: Path, example: Scenario) -> None:
    db = tmp_path / "progress.db"
    with ProgressStore(db) as store:
        first = store.start_attempt("_example", "1", example.checks_hash(), "local", now=1000.0)
        assert store.record_hint(first, "maildir", 0, now=1010.0) is True
        assert store.record_hint(first, "maildir", 0, now=1011.0) is False  # shown again: not counted twice
        assert store.record_hint(first, "maildir", 1, now=1012.0) is True
        store.record_grade(first, grade_with(example, {"mail-location"}), now=1100.0)
        store.record_grade(
            first, grade_with(example, {"mail-location", "alice-inbox", "no-pop3"}), now=1200.0
        )
        store.record_grade(first, grade_with(example, set()), now=1300.0)
        store.add_time(first, 300.0)
        store.finish_attempt(first, now=1400.0)
        second = store.start_attempt("_example", "1", example.checks_hash(), "docker", now=2000.0)
        store.record_grade(second, grade_with(example, {c.id for c in example.checks()}), now=2100.0)
        store.mark_solved(second)
        other = store.start_attempt("dovecot-pam", "2", now=3000.0)
        store.add_time(other, 60.0)

    with ProgressStore(db) as store:  # everything survives closing and reopening
        attempt = store.attempt(first)
        assert (attempt.run_count, attempt.last_score, attempt.best_score, attempt.max_score) == (
            3,
            0.0,
            5.0,
            7.0,
        )
        assert (attempt.finished_at, attempt.time_spent_s, attempt.backend) == (1400.0, 300.0, "local")
        assert not attempt.all_passed and not attempt.solved_by_solution
        assert store.hints_taken(first) == {"maildir": 2}
        assert [g.score.total for g in store.runs(first)] == [1.0, 5.0, 0.0]
        assert store.attempt(second).solved_by_solution
        summary = store.summary("_example")
        assert (summary.attempts, summary.runs, summary.best_score, summary.max_score) == (2, 4, 5.0, 7.0)
        assert summary.best_fraction == pytest.approx(5 / 7)
        assert (summary.completed, summary.solved_by_solution) == (
            False,
            True,
        )  # solved only with the solution
        assert (summary.hints_taken, summary.time_spent_s, summary.last_activity) == (2, 300.0, 2000.0)
        assert sorted(store.summaries()) == ["_example", "dovecot-pam"]
        assert store.summary("dovecot-pam").best_score is None
        assert store.summary("never-tried").attempts == 0
        assert [a.id for a in store.attempts("_example")] == [first, second]
        latest = store.latest_attempt("_example")
        assert latest is not None and latest.id == second
        assert store.check_integrity() == []


def test_unknown_attempts_are_refused(tmp_path: Path) -> None:
    with ProgressStore(tmp_path / "p.db") as store, pytest.raises(ProgressError, match="no attempt 42 in"):
        store.record_hint(42, "t", 0)


def test_a_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    ProgressStore(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 9")
    before = db.read_bytes()
    with pytest.raises(ProgressError) as caught:
        ProgressStore(db)
    assert str(caught.value) == (
        f"the progress database {db} has schema version 9, "
        "newer than this labsim understands (1); upgrade labsim"
    )
    assert db.read_bytes() == before


def test_a_file_that_is_not_a_database_is_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    db.write_bytes(b"this is not sqlite, it is someone's notes\n" * 200)
    before = db.read_bytes()
    with pytest.raises(
        ProgressError, match=r"cannot be read \(file is not a database\); it was left untouched"
    ):
        ProgressStore(db)
    assert db.read_bytes() == before


def test_readers_see_whole_changes_while_a_writer_holds_its_transaction(
    tmp_path: Path, example: Scenario
) -> None:
    db = tmp_path / "p.db"
    writer = ProgressStore(db)
    attempt = writer.start_attempt("_example")
    reader = ProgressStore(db, timeout=1.0)
    writer._conn.execute("BEGIN IMMEDIATE")  # a write in progress, not yet committed
    writer._conn.execute("UPDATE attempts SET run_count = 99 WHERE id = ?", (attempt,))
    assert reader.attempt(attempt).run_count == 0  # WAL: readers are not blocked and see the last commit
    writer._conn.execute("ROLLBACK")
    writer.record_grade(attempt, grade_with(example, {"no-pop3"}))
    assert reader.attempt(attempt).run_count == 1
    reader.close()
    writer.close()


CRASH_MID_TRANSACTION = """
import os, sys
from labsim.checks import CheckResult
from labsim.grading.progress import ProgressStore
from labsim.grading.score import Grade
from labsim.scenario import load_scenario

scenario = load_scenario(sys.argv[2])
store = ProgressStore(__import__("pathlib").Path(sys.argv[1]))
attempt = store.latest_attempt("_example").id
grade = Grade.build(scenario, [CheckResult(c.id, c.type, True, 1, 1) for c in scenario.checks()])
# Die the moment the second statement of record_grade starts: the run row is written, the attempt not.
store._conn.set_trace_callback(lambda sql: os._exit(3) if sql.startswith("UPDATE attempts") else None)
store.record_grade(attempt, grade)
"""


def test_a_writer_killed_mid_transaction_loses_only_its_own_change(tmp_path: Path, example: Scenario) -> None:
    db = tmp_path / "p.db"
    with ProgressStore(db) as store:
        attempt = store.start_attempt("_example")
        store.record_grade(attempt, grade_with(example, {"mail-location"}))
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_MID_TRANSACTION, str(db), str(EXAMPLE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert Path(str(db) + "-wal").exists()  # the crash left the write-ahead log behind
    with ProgressStore(db) as store:
        assert store.check_integrity() == []
        a = store.attempt(attempt)
        assert (a.run_count, a.best_score) == (1, 1.0)
        assert len(store.runs(attempt)) == 1  # the half-written run is gone with its transaction
        store.record_grade(attempt, grade_with(example, {"mail-location", "no-pop3"}))  # and writing goes on
        assert store.attempt(attempt).run_count == 2


HAMMER = """
import sys, pathlib
from labsim.checks import CheckResult
from labsim.grading.progress import ProgressStore
from labsim.grading.score import Grade
from labsim.scenario import load_scenario

scenario = load_scenario(sys.argv[2])
grade = Grade.build(scenario, [CheckResult(c.id, c.type, True, 1, 1) for c in scenario.checks()])
store = ProgressStore(pathlib.Path(sys.argv[1]))
attempt = store.start_attempt("_example")
print("ready", flush=True)
while True:
    store.record_hint(attempt, "maildir", 0)
    store.record_grade(attempt, grade)
"""


def test_sigkill_during_a_stream_of_writes_leaves_a_consistent_database(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    ProgressStore(db).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", HAMMER, str(db), str(EXAMPLE)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    with ProgressStore(db) as reader:  # a concurrent reader is never refused and never sees a half write
        deadline = time.monotonic() + 5
        runs = 0
        while time.monotonic() < deadline and (runs := reader.summary("_example").runs) < 20:
            assert reader.check_integrity() == []
            time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    with ProgressStore(db) as store:
        assert store.check_integrity() == []
        (attempt,) = store.attempts("_example")
        assert attempt.run_count == len(store.runs(attempt.id)) >= runs > 0
        assert store.hints_taken(attempt.id) == {"maildir": 1}


def test_a_writer_that_cannot_get_the_lock_gets_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    holder = ProgressStore(db)
    attempt = holder.start_attempt("_example")
    holder._conn.execute("BEGIN IMMEDIATE")  # someone else is writing and does not let go
    with ProgressStore(db, timeout=0.1) as other:
        with pytest.raises(ProgressError) as caught:
            other.add_time(attempt, 5.0)
        assert str(caught.value) == f"cannot write the progress database {db}: database is locked"
        assert other.attempt(attempt).time_spent_s == 0.0  # reading still works
    holder._conn.execute("ROLLBACK")
    holder.close()
