"""The learner's progress: attempts, check runs, hints and time, per scenario, in SQLite.

Every change is one transaction in WAL mode with synchronous=FULL: a crash (or a
kill) in the middle of a write leaves the database as it was before that write,
and readers (the TUI, a second terminal) never block the writer or see half a change.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from labsim.grading.score import Grade

SCHEMA_VERSION = 1
DB_NAME = "progress.db"

_SCHEMA_V1 = """
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    scenario_id TEXT NOT NULL,
    scenario_version TEXT NOT NULL DEFAULT '',
    checks_hash TEXT NOT NULL DEFAULT '',
    backend TEXT NOT NULL DEFAULT '',
    started_at REAL NOT NULL,
    finished_at REAL,
    time_spent_s REAL NOT NULL DEFAULT 0,
    run_count INTEGER NOT NULL DEFAULT 0,
    last_score REAL,
    best_score REAL,
    max_score REAL,
    all_passed INTEGER NOT NULL DEFAULT 0,
    solved_by_solution INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX attempts_by_scenario ON attempts(scenario_id);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
    at REAL NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    all_passed INTEGER NOT NULL,
    grade_json TEXT NOT NULL
);
CREATE INDEX runs_by_attempt ON runs(attempt_id);
CREATE TABLE hints (
    attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
    task_id TEXT NOT NULL,
    hint_index INTEGER NOT NULL,
    taken_at REAL NOT NULL,
    PRIMARY KEY (attempt_id, task_id, hint_index)
);
"""


class ProgressError(Exception):
    """The progress store cannot be used; the message says which file and why."""


@dataclass
class Attempt:
    id: int
    scenario_id: str
    scenario_version: str
    checks_hash: str
    backend: str
    started_at: float
    finished_at: float | None
    time_spent_s: float
    run_count: int
    last_score: float | None
    best_score: float | None
    max_score: float | None
    all_passed: bool
    solved_by_solution: bool


@dataclass
class ScenarioProgress:
    scenario_id: str
    attempts: int = 0
    runs: int = 0
    best_score: float | None = None  # over attempts not solved by the reference solution
    max_score: float | None = None
    completed: bool = False  # all checks passed in an attempt the learner solved
    solved_by_solution: bool = False  # some attempt used `labsim solve`
    hints_taken: int = 0
    time_spent_s: float = 0.0
    last_activity: float | None = None

    @property
    def best_fraction(self) -> float | None:
        if self.best_score is None or not self.max_score:
            return None
        return self.best_score / self.max_score


def default_path() -> Path:
    from labsim.paths import data_home

    return data_home() / DB_NAME


def _attempt(row: sqlite3.Row) -> Attempt:
    return Attempt(
        id=row["id"],
        scenario_id=row["scenario_id"],
        scenario_version=row["scenario_version"],
        checks_hash=row["checks_hash"],
        backend=row["backend"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        time_spent_s=row["time_spent_s"],
        run_count=row["run_count"],
        last_score=row["last_score"],
        best_score=row["best_score"],
        max_score=row["max_score"],
        all_passed=bool(row["all_passed"]),
        solved_by_solution=bool(row["solved_by_solution"]),
    )


class ProgressStore:
    def __init__(self, path: Path | None = None, *, timeout: float = 10.0) -> None:
        self.path = path if path is not None else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: every write below opens its own explicit transaction.
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ProgressError(f"cannot open the progress database {self.path}: {exc}") from None
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except ProgressError:
            self._conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ProgressError(
                f"the progress database {self.path} cannot be read ({exc}); it was left untouched"
            ) from None

    # --- plumbing ----------------------------------------------------------

    def _migrate(self) -> None:
        # Only a new database needs the write lock; opening a current one must work while another
        # process is writing (the TUI open next to `labsim check`).
        if self.schema_version == SCHEMA_VERSION:
            return
        with self._write():
            version = self.schema_version
            if version > SCHEMA_VERSION:
                raise ProgressError(
                    f"the progress database {self.path} has schema version {version}, newer than this "
                    f"labsim understands ({SCHEMA_VERSION}); upgrade labsim"
                )
            if version == 0:
                for statement in _SCHEMA_V1.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so two writers queue instead of failing mid-way.
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise ProgressError(f"cannot write the progress database {self.path}: {exc}") from None
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        try:
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._conn.execute("ROLLBACK")
            raise ProgressError(f"cannot write the progress database {self.path}: {exc}") from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ProgressStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    # --- writes ------------------------------------------------------------

    def start_attempt(
        self,
        scenario_id: str,
        scenario_version: str = "",
        checks_hash: str = "",
        backend: str = "",
        *,
        now: float | None = None,
    ) -> int:
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO attempts (scenario_id, scenario_version, checks_hash, backend, started_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (scenario_id, scenario_version, checks_hash, backend, time.time() if now is None else now),
            )
            return int(cursor.lastrowid or 0)

    def record_hint(self, attempt_id: int, task_id: str, index: int, *, now: float | None = None) -> bool:
        """Record that hint `index` of a task was shown; False when it had been shown before."""
        with self._write() as db:
            self._require(attempt_id)
            cursor = db.execute(
                "INSERT OR IGNORE INTO hints (attempt_id, task_id, hint_index, taken_at) VALUES (?, ?, ?, ?)",
                (attempt_id, task_id, index, time.time() if now is None else now),
            )
            return cursor.rowcount == 1

    def record_grade(self, attempt_id: int, grade: Grade, *, now: float | None = None) -> None:
        """Store one check run and fold it into the attempt's last and best score."""
        sc = grade.score
        payload = json.dumps(grade.to_dict(), ensure_ascii=False)
        with self._write() as db:
            self._require(attempt_id)
            db.execute(
                "INSERT INTO runs (attempt_id, at, score, max_score, all_passed, grade_json)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    attempt_id,
                    time.time() if now is None else now,
                    sc.total,
                    sc.max_points,
                    sc.all_passed,
                    payload,
                ),
            )
            db.execute(
                "UPDATE attempts SET run_count = run_count + 1, last_score = ?, max_score = ?,"
                " best_score = max(coalesce(best_score, ?), ?), all_passed = max(all_passed, ?),"
                " checks_hash = ? WHERE id = ?",
                (
                    sc.total,
                    sc.max_points,
                    sc.total,
                    sc.total,
                    int(sc.all_passed),
                    grade.checks_hash,
                    attempt_id,
                ),
            )

    def mark_solved(self, attempt_id: int) -> None:
        """The learner applied the reference solution: the attempt no longer counts for the best score."""
        with self._write() as db:
            self._require(attempt_id)
            db.execute("UPDATE attempts SET solved_by_solution = 1 WHERE id = ?", (attempt_id,))

    def add_time(self, attempt_id: int, seconds: float) -> None:
        with self._write() as db:
            self._require(attempt_id)
            db.execute(
                "UPDATE attempts SET time_spent_s = time_spent_s + ? WHERE id = ?",
                (max(seconds, 0.0), attempt_id),
            )

    def finish_attempt(self, attempt_id: int, *, now: float | None = None) -> None:
        with self._write() as db:
            self._require(attempt_id)
            db.execute(
                "UPDATE attempts SET finished_at = ? WHERE id = ? AND finished_at IS NULL",
                (time.time() if now is None else now, attempt_id),
            )

    def _require(self, attempt_id: int) -> None:
        if self._conn.execute("SELECT 1 FROM attempts WHERE id = ?", (attempt_id,)).fetchone() is None:
            raise ProgressError(f"no attempt {attempt_id} in {self.path}")

    # --- reads -------------------------------------------------------------

    def attempt(self, attempt_id: int) -> Attempt:
        row = self._conn.execute("SELECT * FROM attempts WHERE id = ?", (attempt_id,)).fetchone()
        if row is None:
            raise ProgressError(f"no attempt {attempt_id} in {self.path}")
        return _attempt(row)

    def attempts(self, scenario_id: str | None = None) -> list[Attempt]:
        if scenario_id is None:
            rows = self._conn.execute("SELECT * FROM attempts ORDER BY id").fetchall()
        else:
            rows = self._conn.execute(
                "SELECT * FROM attempts WHERE scenario_id = ? ORDER BY id", (scenario_id,)
            ).fetchall()
        return [_attempt(row) for row in rows]

    def latest_attempt(self, scenario_id: str) -> Attempt | None:
        row = self._conn.execute(
            "SELECT * FROM attempts WHERE scenario_id = ? ORDER BY id DESC LIMIT 1", (scenario_id,)
        ).fetchone()
        return _attempt(row) if row is not None else None

    def hints_taken(self, attempt_id: int) -> dict[str, int]:
        """Per task, how many hints were shown (graduated hints: the highest index shown + 1)."""
        rows = self._conn.execute(
            "SELECT task_id, max(hint_index) + 1 AS n FROM hints WHERE attempt_id = ? GROUP BY task_id",
            (attempt_id,),
        ).fetchall()
        return {row["task_id"]: int(row["n"]) for row in rows}

    def runs(self, attempt_id: int) -> list[Grade]:
        rows = self._conn.execute(
            "SELECT grade_json FROM runs WHERE attempt_id = ? ORDER BY id", (attempt_id,)
        ).fetchall()
        return [Grade.from_dict(json.loads(row["grade_json"])) for row in rows]

    def summary(self, scenario_id: str) -> ScenarioProgress:
        return self.summaries([scenario_id]).get(scenario_id) or ScenarioProgress(scenario_id)

    def summaries(self, scenario_ids: list[str] | None = None) -> dict[str, ScenarioProgress]:
        # One read transaction, so the figures agree with each other while a writer is busy.
        self._conn.execute("BEGIN")
        try:
            rows = self._conn.execute(
                """
                SELECT a.scenario_id,
                       count(*) AS attempts,
                       sum(a.run_count) AS runs,
                       max(CASE WHEN a.solved_by_solution = 0 THEN a.best_score END) AS best,
                       max(a.max_score) AS max_score,
                       max(CASE WHEN a.solved_by_solution = 0 THEN a.all_passed ELSE 0 END) AS completed,
                       max(a.solved_by_solution) AS solved,
                       sum(a.time_spent_s) AS time_spent,
                       max(coalesce(a.finished_at, a.started_at)) AS last_activity,
                       (SELECT count(*) FROM hints h JOIN attempts b ON h.attempt_id = b.id
                         WHERE b.scenario_id = a.scenario_id) AS hints
                  FROM attempts a GROUP BY a.scenario_id ORDER BY a.scenario_id
                """
            ).fetchall()
        finally:
            self._conn.execute("COMMIT")
        out: dict[str, ScenarioProgress] = {}
        for row in rows:
            if scenario_ids is not None and row["scenario_id"] not in scenario_ids:
                continue
            out[row["scenario_id"]] = ScenarioProgress(
                scenario_id=row["scenario_id"],
                attempts=int(row["attempts"]),
                runs=int(row["runs"] or 0),
                best_score=row["best"],
                max_score=row["max_score"],
                completed=bool(row["completed"]),
                solved_by_solution=bool(row["solved"]),
                hints_taken=int(row["hints"] or 0),
                time_spent_s=float(row["time_spent"] or 0.0),
                last_activity=row["last_activity"],
            )
        return out

    def check_integrity(self) -> list[str]:
        """Problems found: SQLite's own integrity check plus our invariants (empty when all is well)."""
        problems = [
            str(row[0]) for row in self._conn.execute("PRAGMA integrity_check").fetchall() if row[0] != "ok"
        ]
        problems += [
            f"attempt {row['id']} counts {row['run_count']} runs but has {row['n']}"
            for row in self._conn.execute(
                "SELECT a.id, a.run_count, (SELECT count(*) FROM runs r WHERE r.attempt_id = a.id) AS n"
                " FROM attempts a WHERE a.run_count != n"
            ).fetchall()
        ]
        return problems
