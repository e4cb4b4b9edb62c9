"""A learner's session over the scenarios: their labs, check runs, hints, solutions and progress.

`StudySession` calls the scenario registry, labs, the checks runner and the
progress store. The app and the learner's commands both drive it. Every
method may raise `LabError` (or `ServiceError`, a kind of it): its message is
one sentence for the learner.
"""

from __future__ import annotations

import copy
import importlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from labsim.checks.result import CheckResult
from labsim.grading.progress import ProgressError, ProgressStore, ScenarioProgress
from labsim.grading.score import NOT_RUN, Grade
from labsim.lab.model import ExecResult, Lab, LabError
from labsim.scenario.model import Hint, Scenario
from labsim.study.errors import ChecksUnavailable, ServiceError, UnknownTask
from labsim.study.follow import LogFollower, ThreadFollower
from labsim.study.lookup import find_scenario, single_folder
from labsim.study.rows import ScenarioRow
from labsim.study.solution import Solution, solution_markdown

# What open_lab() reports while it works: one short phrase per step ("creating the lab ...").
StepCallback = Callable[[str], None]


@dataclass
class LabInfo:
    lab_id: str
    backend: str
    running: bool  # the mail server answers
    detail: str = ""  # why this backend, or what the start said
    start_output: str = ""  # what starting the services printed (a refusal is the learner's clue)
    start_failed: bool = False


@dataclass
class HintShown:
    task_id: str
    index: int  # 0-based
    total: int
    hint: Hint
    cost: float


def find_runner() -> Callable[[Lab, Scenario], Iterable[CheckResult]] | None:
    """labsim.checks.runner.run_scenario, or None when the checks are not installed."""
    try:
        module = importlib.import_module("labsim.checks.runner")
    except ImportError:
        return None
    fn = getattr(module, "run_scenario", None)
    return fn if callable(fn) else None


def _no_step(step: str) -> None:
    return None


class StudySession:
    def __init__(
        self,
        scenarios_dir: Path | None = None,
        home: Path | None = None,
        backend: str | None = None,
        shell_launcher: Callable[[Lab], int] | None = None,
        exam: str | None = None,
    ) -> None:
        from labsim.lab.registry import LabRegistry
        from labsim.scenario.registry import ScenarioRegistry

        self.scenario_registry = ScenarioRegistry(scenarios_dir)
        self.labs = LabRegistry(home)
        self._home = home
        self.wanted_backend = backend or os.environ.get("LABSIM_BACKEND", "auto") or "auto"
        self._backend: tuple[str, str] | None = None
        self._open: dict[str, Lab] = {}  # scenario id -> lab used this session
        self._attempts: dict[str, int] = {}
        self._lock = threading.RLock()
        self.shell_launcher = shell_launcher or (lambda lab: lab.shell())
        self._single = single_folder(self.scenario_registry)
        # An exam's own view (for_exam): its labs are marked with this id in their state, practice
        # never picks them up, and its runs are kept here, not in the progress store.
        self.exam = exam
        self._exam_runs: dict[str, list[CheckResult]] = {}

    def for_exam(self, exam_id: str) -> StudySession:
        """The same learner in an exam: fresh labs of the exam's own, grades kept out of practice progress."""
        view = copy.copy(self)  # the registries are shared; what a view owns is made anew below
        view.exam = exam_id
        view._open = {}
        view._attempts = {}
        view._exam_runs = {}
        view._lock = threading.RLock()
        return view

    def _exam_refusal(self, what: str) -> ServiceError:
        return ServiceError(f"{what} not available during the exam")

    # --- plumbing ---
    @contextmanager
    def _progress(self) -> Iterator[ProgressStore]:
        """A connection per use: workers run in threads, and sqlite3 connections stay in theirs."""
        path = None if self._home is None else self._home / "progress.db"
        try:
            store = ProgressStore(path)
        except ProgressError as exc:
            raise ServiceError(str(exc)) from None
        try:
            yield store
        except ProgressError as exc:
            raise ServiceError(str(exc)) from None
        finally:
            store.close()

    def backend(self) -> tuple[str, str]:
        """(backend, reason) labs will be created on."""
        from labsim.lab.registry import choose_backend

        with self._lock:
            if self._backend is None:
                self._backend = choose_backend(self.wanted_backend)
            return self._backend

    def _all_scenarios(self) -> list[Scenario]:
        if self._single is not None:
            from labsim.scenario.loader import validate_scenario

            scenario, _ = validate_scenario(self._single, str(self._single / "scenario.yaml"))
            return [scenario] if scenario is not None else []
        return self.scenario_registry.scenarios()

    def scenario(self, scenario_id: str) -> Scenario:
        """The scenario with this id; UnknownScenario names the nearest ids."""
        return find_scenario(self.scenario_registry, scenario_id)

    def scenarios(self) -> list[ScenarioRow]:
        scenarios = self._all_scenarios()
        with self._progress() as store:
            summaries = store.summaries([s.id for s in scenarios])
        return [ScenarioRow(s, summaries.get(s.id) or ScenarioProgress(s.id)) for s in scenarios]

    def progress(self, scenario: Scenario) -> ScenarioProgress:
        with self._progress() as store:
            return store.summary(scenario.id)

    def find_lab(self, scenario: Scenario) -> Lab | None:
        """The scenario's newest lab (on the asked-for backend, when one was asked for).

        Practice never takes a lab an exam made (state "exam"), and an exam takes only its own.
        """
        if scenario.id in self._open:
            return self._open[scenario.id]
        mine = [
            lab
            for lab in self.labs.list()
            if lab.spec.name == scenario.id and lab.state.get("exam") == self.exam
        ]
        if self.wanted_backend != "auto":
            mine = [lab for lab in mine if lab.backend_name == self.wanted_backend]
        mine.sort(key=lambda lab: float(lab.state.get("created", 0.0)))
        if not mine:
            return None if self.exam else self._salvaged_lab(scenario)
        return mine[-1] if mine else None

    def _salvaged_lab(self, scenario: Scenario) -> Lab | None:
        """The scenario's lab whose state.json was damaged, usable again, rather than a new empty lab
        beside it that would look as if the learner's work were gone."""
        from labsim.lab.from_scenario import lab_spec
        from labsim.lab.model import made_for

        for damaged in self.labs.damaged():
            if not made_for(damaged.lab_dir.name, scenario.id):
                continue
            if self.wanted_backend not in ("auto", "local" if damaged.local else "docker"):
                continue  # a lab on the other backend than the one asked for
            try:
                return self.labs.salvage(damaged, lab_spec(scenario), scenario.id)
            except LabError as exc:
                raise ServiceError(
                    f"{damaged}, and it cannot be rebuilt ({exc}); "
                    f"remove it with: labsim lab destroy {damaged.lab_dir.name} --yes"
                ) from None
        return None

    def lab(self, scenario: Scenario) -> Lab:
        lab = self.find_lab(scenario)
        if lab is None:
            raise ServiceError(f"scenario {scenario.id} has no lab yet; open it to start one")
        return lab

    _lab = lab  # the name the app's tests know it by

    def _backend_for(self, scenario: Scenario) -> str:
        chosen, reason = self.backend()
        if chosen in scenario.backends:
            return chosen
        if "local" in scenario.backends and self.wanted_backend != "docker":
            return "local"
        if chosen == "docker":
            raise ServiceError(f"scenario {scenario.id} runs only on the local backend, not in Docker")
        raise ServiceError(f"scenario {scenario.id} needs a Docker lab, and {reason}")

    @staticmethod
    def _current_attempt(store: ProgressStore, scenario_id: str) -> int | None:
        """The scenario's open attempt (the newest, unless a reset closed it), or None.

        Asked of the store every time, not remembered: a `labsim reset` in another terminal closes
        the attempt this session was working in, and its runs must not be shown or added to.
        """
        latest = store.latest_attempt(scenario_id)
        return latest.id if latest is not None and latest.finished_at is None else None

    def _attempt(self, scenario: Scenario, backend: str) -> int:
        """The open attempt, or a new one when there is none (the first time, or after a reset)."""
        with self._progress() as store:
            attempt_id = self._current_attempt(store, scenario.id)
            if attempt_id is None:
                attempt_id = store.start_attempt(
                    scenario.id, scenario.version, scenario.checks_hash(), backend
                )
        self._attempts[scenario.id] = attempt_id
        return attempt_id

    def _new_attempt(self, scenario: Scenario, backend: str) -> int:
        """Close the open attempt (its runs and best score stay in the progress) and start another:
        a reset lab is a new try, and what is done in it (a pass, the solution revealed) is its own."""
        with self._lock, self._progress() as store:
            current = self._current_attempt(store, scenario.id)
            if current is not None:
                store.finish_attempt(current)
            attempt_id = store.start_attempt(scenario.id, scenario.version, scenario.checks_hash(), backend)
        self._attempts[scenario.id] = attempt_id
        return attempt_id

    def _info(self, lab: Lab) -> LabInfo:
        status = lab.status()
        if status.state == "missing":
            raise ServiceError(f"lab {lab.lab_id} has lost its files ({status.detail}); reset it to rebuild")
        return LabInfo(
            lab_id=lab.lab_id,
            backend=status.backend,
            running=status.server_running,
            detail=str(lab.state.get("backend_reason", status.detail)),
        )

    # --- labs ---
    def open_lab(self, scenario: Scenario, on_step: StepCallback | None = None) -> LabInfo:
        """Find the scenario's lab (creating it the first time) and make sure it runs."""
        from labsim.lab.from_scenario import lab_spec

        step = on_step or _no_step
        with self._lock:
            lab = self.find_lab(scenario)
            if lab is None:
                backend = self._backend_for(scenario)
                step(f"creating a lab for {scenario.id} on the {backend} backend")
                lab = self.labs.create(lab_spec(scenario), backend=backend)
                lab.state["scenario"] = scenario.id  # what `labsim lab list` shows
                if self.exam:
                    lab.state["exam"] = self.exam
                lab.save_state()
            self._open[scenario.id] = lab
            if not self.exam:  # an exam is no practice attempt
                self._attempt(scenario, lab.backend_name)
        info = self._info(lab)
        if not info.running and lab.spec.services:
            step(f"starting {', '.join(lab.spec.services)} in lab {lab.lab_id}")
            result = lab.start()
            info = self._info(lab)
            info.start_output = result.output.strip()
            info.start_failed = not result.ok
        return info

    def lab_info(self, scenario: Scenario) -> LabInfo | None:
        """The lab's state now, without starting anything; None when there is no lab."""
        lab = self.find_lab(scenario)
        return None if lab is None else self._info(lab)

    def reset(self, scenario: Scenario) -> Path | None:
        """Back to the fresh lab (started again); returns where edited /etc files were saved."""
        return self.reset_and_start(scenario)[0]

    def reset_and_start(self, scenario: Scenario) -> tuple[Path | None, ExecResult | None]:
        """reset(), and what starting the fresh lab's services said (None: it has none)."""
        lab = self.lab(scenario)
        backup = lab.reset(confirm=True)
        if self.exam:
            self._exam_runs.pop(scenario.id, None)  # the fresh lab has not been checked
        else:
            self._new_attempt(scenario, lab.backend_name)
        started = lab.start() if lab.spec.services else None
        return backup, started

    def stop(self, scenario: Scenario) -> None:
        self.lab(scenario).stop()

    def shell(self, scenario: Scenario) -> int:
        """Hand the terminal to a shell in the lab."""
        return self.shell_launcher(self.lab(scenario))

    def follow_log(self, scenario: Scenario, on_line: Callable[[str], None]) -> LogFollower:
        """Call on_line for each mail-log line (the existing ones, then new ones) until stopped."""
        return ThreadFollower(self.lab(scenario).logs(follow=True), on_line)

    def running_labs(self) -> list[str]:
        """Every lab of this data home that is still running (not only this session's), as
        "lab-id (scenario)", or "lab-id (scenario, exam)" for a lab an exam made."""
        out = []
        for lab in self.labs.list():
            try:
                status = lab.status()
            except LabError:
                continue
            if status.server_running or (status.backend == "docker" and status.state == "running"):
                scenario_id = str(lab.state.get("scenario") or lab.spec.name)
                exam = ", exam" if lab.state.get("exam") else ""
                out.append(f"{lab.lab_id} ({scenario_id}{exam})")
        return out

    def end_exam(self) -> list[str]:
        """Destroy the labs this exam made (an exam's view only); returns their ids."""
        if not self.exam:
            return []
        gone, kept = [], []
        for lab in self.labs.list():
            if lab.state.get("exam") != self.exam:
                continue
            try:
                lab.destroy()
            except LabError as exc:  # the others still go; this one is named below
                kept.append(f"{lab.lab_id} ({exc})")
                continue
            gone.append(lab.lab_id)
        self._open.clear()
        if kept:
            raise ServiceError(
                f"the exam's lab {', '.join(kept)} could not be removed; "
                "remove it with: labsim lab destroy LAB_ID --yes"
            )
        return gone

    # --- checks and grades ---
    def run_checks(self, scenario: Scenario) -> Iterator[CheckResult]:
        """Results in order, each as soon as it is known."""
        runner = find_runner()
        if runner is None:
            raise ChecksUnavailable()
        yield from runner(self.lab(scenario), scenario)

    def record_run(self, scenario: Scenario, results: list[CheckResult], student: str = "") -> Grade:
        lab = self.lab(scenario)
        if self.exam:
            # The progress store has no place for exam results: they stay with the exam (its report),
            # and practice progress is not touched.
            self._exam_runs[scenario.id] = list(results)
            return Grade.build(scenario, results, {}, student=student, backend=lab.backend_name)
        with self._lock, self._progress() as store:
            attempt = self._attempt(scenario, lab.backend_name)
            grade = Grade.build(
                scenario,
                results,
                store.hints_taken(attempt),
                student=student,
                backend=lab.backend_name,
                time_spent_s=store.attempt(attempt).time_spent_s,
            )
            store.record_grade(attempt, grade)
        return grade

    def last_results(self, scenario: Scenario) -> list[CheckResult]:
        """The per-check results of the scenario's last recorded run (its current attempt), or []."""
        if self.exam:
            return list(self._exam_runs.get(scenario.id, []))
        with self._lock, self._progress() as store:
            # Only the open attempt's: after a reset the fresh lab has not been checked yet.
            attempt_id = self._current_attempt(store, scenario.id)
            runs = [] if attempt_id is None else store.runs(attempt_id)
        if not runs:
            return []
        return [
            CheckResult(
                check_id=check.check_id,
                type=check.type,
                passed=check.passed,
                points=check.points,
                max_points=check.max_points,
                message=check.message,
                transcript=check.transcript,
                duration_s=check.duration_s,
                error=check.error,
            )
            for check in runs[-1].score.checks
            if check.status != NOT_RUN
        ]

    # --- hints and the solution ---
    def hints_taken(self, scenario: Scenario) -> dict[str, int]:
        if self.exam:
            return {}
        with self._lock, self._progress() as store:
            attempt_id = self._current_attempt(store, scenario.id)
            return {} if attempt_id is None else store.hints_taken(attempt_id)

    def next_hint_task(self, scenario: Scenario) -> str | None:
        """The first task (in order) with a hint not shown yet; None when all were shown."""
        taken = self.hints_taken(scenario)
        for task in scenario.tasks:
            if taken.get(task.id, 0) < len(task.hints):
                return task.id
        return None

    def next_hint(self, scenario: Scenario, task_id: str) -> HintShown | None:
        """Show (and count) the next hint of a task; None when all were shown."""
        if self.exam:
            raise self._exam_refusal("hints are")
        task = scenario.task(task_id)
        if task is None:
            tasks = ", ".join(t.id for t in scenario.tasks)
            raise UnknownTask(f"scenario {scenario.id} has no task {task_id!r} (its tasks: {tasks})")
        with self._lock, self._progress() as store:
            attempt = self._attempt(scenario, self.lab(scenario).backend_name)
            index = store.hints_taken(attempt).get(task_id, 0)
            if index >= len(task.hints):
                return None
            store.record_hint(attempt, task_id, index)
        return HintShown(
            task_id, index, len(task.hints), task.hints[index], scenario.hint_cost(task_id, index)
        )

    def reveal_solution(self, scenario: Scenario, apply: bool = False) -> Solution:
        """The reference solution (applied to the lab with apply); the attempt counts as solved by it."""
        from labsim.lab.from_scenario import apply_solution

        if self.exam:
            raise self._exam_refusal("the solution is")
        lab = self.lab(scenario)
        with self._lock, self._progress() as store:
            store.mark_solved(self._attempt(scenario, lab.backend_name))
        solution = Solution(solution_markdown(scenario))
        if apply:
            results = apply_solution(lab, scenario)
            solution.applied_output = [r.output for r in results]
            solution.applied_codes = [r.code for r in results]
        return solution

    def add_time(self, scenario: Scenario, seconds: float) -> None:
        if scenario.id not in self._attempts:  # not opened in this session: no attempt to add to
            return
        with self._lock, self._progress() as store:
            attempt = self._current_attempt(store, scenario.id)
            if attempt is not None:
                store.add_time(attempt, seconds)
