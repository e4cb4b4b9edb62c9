"""What the TUI asks of the rest of labsim, behind one small interface.

Screens talk only to `Services`; `RealServices` calls the scenario registry,
labs, the checks runner and the progress store. Tests hand the app a fake.
Every method may raise `LabError` (or `ServiceError`): its message is one
sentence for the learner, shown as a notification.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from labsim.checks.result import CheckResult
from labsim.grading.progress import ProgressError, ProgressStore, ScenarioProgress
from labsim.grading.score import Grade
from labsim.lab.model import Lab, LabError
from labsim.scenario.model import Hint, Scenario

CHECKS_UNAVAILABLE = "checks are not available yet"

# Home-screen groups, in the order they are shown.
GROUPS: tuple[str, ...] = ("Dovecot", "Courier", "TLS", "Auth", "Troubleshooting")
_TROUBLE_TOPICS = {"troubleshooting", "broken", "debug", "debugging", "logs", "typo"}
_TLS_TOPICS = {"tls", "ssl", "starttls", "certificate", "certificates", "mkcert", "imaps", "pop3s"}
_AUTH_TOPICS = {
    "auth",
    "authentication",
    "pam",
    "cram-md5",
    "passdb",
    "userdb",
    "plaintext",
    "sasl",
    "authlib",
    "authdaemon",
}


class ServiceError(LabError):
    """Something the TUI cannot do right now; the message says what to do."""


class ChecksUnavailable(ServiceError):
    def __init__(self) -> None:
        super().__init__(CHECKS_UNAVAILABLE)


def topic_group(scenario: Scenario) -> str:
    """Troubleshooting, TLS and auth scenarios are grouped by topic; the rest by mail server."""
    topics = {t.lower() for t in scenario.topics}
    if topics & _TROUBLE_TOPICS:
        return "Troubleshooting"
    if topics & _TLS_TOPICS:
        return "TLS"
    if topics & _AUTH_TOPICS:
        return "Auth"
    return "Courier" if scenario.personality == "courier" else "Dovecot"


def progress_state(progress: ScenarioProgress) -> str:
    if progress.completed:
        return "passed"
    if progress.attempts:
        return "in progress"
    return "not started"


@dataclass
class ScenarioRow:
    scenario: Scenario
    progress: ScenarioProgress
    group: str = ""

    def __post_init__(self) -> None:
        if not self.group:
            self.group = topic_group(self.scenario)

    @property
    def state(self) -> str:
        return progress_state(self.progress)


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


@dataclass
class Solution:
    markdown: str
    applied_output: list[str] = field(default_factory=list)


class LogFollower(Protocol):
    def stop(self) -> None: ...


class Services(Protocol):
    def backend(self) -> tuple[str, str]:
        """(backend, reason) labs will be created on."""

    def scenarios(self) -> list[ScenarioRow]: ...

    def open_lab(self, scenario: Scenario) -> LabInfo:
        """Find the scenario's lab (creating it the first time) and make sure it runs."""

    def lab_info(self, scenario: Scenario) -> LabInfo | None:
        """The lab's state now, without starting anything; None when there is no lab."""

    def run_checks(self, scenario: Scenario) -> Iterator[CheckResult]:
        """Results in order, each as soon as it is known."""

    def record_run(self, scenario: Scenario, results: list[CheckResult]) -> Grade: ...

    def hints_taken(self, scenario: Scenario) -> dict[str, int]: ...

    def next_hint(self, scenario: Scenario, task_id: str) -> HintShown | None:
        """Show (and count) the next hint of a task; None when all were shown."""

    def reveal_solution(self, scenario: Scenario, apply: bool = False) -> Solution: ...

    def reset(self, scenario: Scenario) -> Path | None:
        """Back to the fresh lab (started again); returns where edited /etc files were saved."""

    def stop(self, scenario: Scenario) -> None: ...

    def shell(self, scenario: Scenario) -> int:
        """Hand the terminal to a shell in the lab (the app is suspended meanwhile)."""

    def follow_log(self, scenario: Scenario, on_line: Callable[[str], None]) -> LogFollower:
        """Call on_line for each mail-log line (the existing ones, then new ones) until stopped."""

    def add_time(self, scenario: Scenario, seconds: float) -> None: ...

    def running_labs(self) -> list[str]:
        """Labs this session started or used that are still running, as "lab-id (scenario)"."""


# --- the checks runner --------------------------------------------------------------


def find_runner() -> Callable[[Lab, Scenario], Iterable[CheckResult]] | None:
    """labsim.checks.runner.run_scenario, or None when the checks are not installed."""
    try:
        module = importlib.import_module("labsim.checks.runner")
    except ImportError:
        return None
    fn = getattr(module, "run_scenario", None)
    return fn if callable(fn) else None


# --- the real thing ----------------------------------------------------------------


class _ThreadFollower:
    """Follows lab.logs() in a daemon thread: a quiet log blocks only that thread, never exit."""

    def __init__(self, lines: Iterator[str], on_line: Callable[[str], None]) -> None:
        self._lines = lines
        self._on_line = on_line
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="labsim-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for line in self._lines:
                if self._stopped.is_set():
                    break
                self._on_line(line)
        except Exception as exc:  # a vanished lab or a closed app ends the follow, quietly for the app
            if not self._stopped.is_set():
                with suppress(Exception):
                    self._on_line(f"[labsim: the mail log stopped: {exc}]")

    def stop(self) -> None:
        self._stopped.set()


def solution_markdown(scenario: Scenario) -> str:
    parts = [f"# Reference solution: {scenario.title}", ""]
    for f in scenario.solution.files:
        try:
            text = scenario.file_bytes(f).decode("utf-8", "replace")
        except OSError as exc:
            text = f"(cannot read {f.source}: {exc.strerror})"
        parts += [f"`{f.path}` (mode {f.mode:04o}):", "", "```", text.rstrip("\n"), "```", ""]
    if scenario.solution.commands:
        parts += ["Then run:", "", "```", *scenario.solution.commands, "```"]
    if len(parts) == 2:
        parts.append("This scenario has no reference solution.")
    return "\n".join(parts)


class RealServices:
    def __init__(
        self,
        scenarios_dir: Path | None = None,
        home: Path | None = None,
        backend: str | None = None,
        shell_launcher: Callable[[Lab], int] | None = None,
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
        # LABSIM_SCENARIOS naming one scenario folder lists that scenario alone.
        root = self.scenario_registry.root
        self._single = root if (root / "scenario.yaml").is_file() else None

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

    def scenarios(self) -> list[ScenarioRow]:
        scenarios = self._all_scenarios()
        with self._progress() as store:
            summaries = store.summaries([s.id for s in scenarios])
        return [ScenarioRow(s, summaries.get(s.id) or ScenarioProgress(s.id)) for s in scenarios]

    def _find_lab(self, scenario: Scenario) -> Lab | None:
        if scenario.id in self._open:
            return self._open[scenario.id]
        mine = [lab for lab in self.labs.list() if lab.spec.name == scenario.id]
        mine.sort(key=lambda lab: float(lab.state.get("created", 0.0)))
        return mine[-1] if mine else None

    def _lab(self, scenario: Scenario) -> Lab:
        lab = self._find_lab(scenario)
        if lab is None:
            raise ServiceError(f"scenario {scenario.id} has no lab yet; open it to start one")
        return lab

    def _backend_for(self, scenario: Scenario) -> str:
        chosen, reason = self.backend()
        if chosen in scenario.backends:
            return chosen
        if "local" in scenario.backends:
            return "local"
        raise ServiceError(f"scenario {scenario.id} needs a Docker lab, and {reason}")

    def _attempt(self, scenario: Scenario, backend: str) -> int:
        if scenario.id in self._attempts:
            return self._attempts[scenario.id]
        with self._progress() as store:
            latest = store.latest_attempt(scenario.id)
            if latest is not None and latest.finished_at is None:
                attempt_id = latest.id
            else:
                attempt_id = store.start_attempt(
                    scenario.id, scenario.version, scenario.checks_hash(), backend
                )
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

    # --- the interface ---
    def open_lab(self, scenario: Scenario) -> LabInfo:
        from labsim.lab.from_scenario import lab_spec

        with self._lock:
            lab = self._find_lab(scenario)
            if lab is None:
                lab = self.labs.create(lab_spec(scenario), backend=self._backend_for(scenario))
            self._open[scenario.id] = lab
            self._attempt(scenario, lab.backend_name)
        info = self._info(lab)
        if not info.running and lab.spec.services:
            result = lab.start()
            info = self._info(lab)
            info.start_output = result.output.strip()
            info.start_failed = not result.ok
        return info

    def lab_info(self, scenario: Scenario) -> LabInfo | None:
        lab = self._find_lab(scenario)
        return None if lab is None else self._info(lab)

    def run_checks(self, scenario: Scenario) -> Iterator[CheckResult]:
        runner = find_runner()
        if runner is None:
            raise ChecksUnavailable()
        yield from runner(self._lab(scenario), scenario)

    def record_run(self, scenario: Scenario, results: list[CheckResult]) -> Grade:
        lab = self._lab(scenario)
        with self._lock, self._progress() as store:
            attempt = self._attempt(scenario, lab.backend_name)
            grade = Grade.build(
                scenario,
                results,
                store.hints_taken(attempt),
                backend=lab.backend_name,
                time_spent_s=store.attempt(attempt).time_spent_s,
            )
            store.record_grade(attempt, grade)
        return grade

    def hints_taken(self, scenario: Scenario) -> dict[str, int]:
        with self._lock, self._progress() as store:
            if scenario.id not in self._attempts:
                latest = store.latest_attempt(scenario.id)
                if latest is None or latest.finished_at is not None:
                    return {}
                return store.hints_taken(latest.id)
            return store.hints_taken(self._attempts[scenario.id])

    def next_hint(self, scenario: Scenario, task_id: str) -> HintShown | None:
        task = scenario.task(task_id)
        if task is None:
            raise ServiceError(f"scenario {scenario.id} has no task {task_id!r}")
        with self._lock, self._progress() as store:
            attempt = self._attempt(scenario, self._lab(scenario).backend_name)
            index = store.hints_taken(attempt).get(task_id, 0)
            if index >= len(task.hints):
                return None
            store.record_hint(attempt, task_id, index)
        return HintShown(
            task_id, index, len(task.hints), task.hints[index], scenario.hint_cost(task_id, index)
        )

    def reveal_solution(self, scenario: Scenario, apply: bool = False) -> Solution:
        from labsim.lab.from_scenario import apply_solution

        lab = self._lab(scenario)
        with self._lock, self._progress() as store:
            store.mark_solved(self._attempt(scenario, lab.backend_name))
        solution = Solution(solution_markdown(scenario))
        if apply:
            solution.applied_output = [r.output for r in apply_solution(lab, scenario)]
        return solution

    def reset(self, scenario: Scenario) -> Path | None:
        lab = self._lab(scenario)
        backup = lab.reset(confirm=True)
        if lab.spec.services:
            lab.start()
        return backup

    def stop(self, scenario: Scenario) -> None:
        self._lab(scenario).stop()

    def shell(self, scenario: Scenario) -> int:
        return self.shell_launcher(self._lab(scenario))

    def follow_log(self, scenario: Scenario, on_line: Callable[[str], None]) -> LogFollower:
        return _ThreadFollower(self._lab(scenario).logs(follow=True), on_line)

    def add_time(self, scenario: Scenario, seconds: float) -> None:
        attempt = self._attempts.get(scenario.id)
        if attempt is not None:
            with self._lock, self._progress() as store:
                store.add_time(attempt, seconds)

    def running_labs(self) -> list[str]:
        out = []
        for scenario_id, lab in self._open.items():
            try:
                status = lab.status()
            except LabError:
                continue
            if status.server_running or (status.backend == "docker" and status.state == "running"):
                out.append(f"{lab.lab_id} ({scenario_id})")
        return out


T = TypeVar("T")


class SafeServices:
    """Any Services, with every unexpected exception turned into a ServiceError the screens show.

    Screens catch LabError; a bug or an odd OSError below must not end the learner's session.
    """

    def __init__(self, inner: Services) -> None:
        self.inner = inner

    def _call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except LabError:
            raise
        except Exception as exc:
            raise ServiceError(f"labsim could not {what}: {type(exc).__name__}: {exc}") from exc

    def backend(self) -> tuple[str, str]:
        return self._call("choose a lab backend", self.inner.backend)

    def scenarios(self) -> list[ScenarioRow]:
        return self._call("list the scenarios", self.inner.scenarios)

    def open_lab(self, scenario: Scenario) -> LabInfo:
        return self._call("start the lab", self.inner.open_lab, scenario)

    def lab_info(self, scenario: Scenario) -> LabInfo | None:
        return self._call("read the lab's state", self.inner.lab_info, scenario)

    def run_checks(self, scenario: Scenario) -> Iterator[CheckResult]:
        try:
            yield from self.inner.run_checks(scenario)
        except LabError:
            raise
        except Exception as exc:
            raise ServiceError(f"the checks stopped: {exc}") from exc

    def record_run(self, scenario: Scenario, results: list[CheckResult]) -> Grade:
        return self._call("record the check run", self.inner.record_run, scenario, results)

    def hints_taken(self, scenario: Scenario) -> dict[str, int]:
        return self._call("read the hints taken", self.inner.hints_taken, scenario)

    def next_hint(self, scenario: Scenario, task_id: str) -> HintShown | None:
        return self._call("show a hint", self.inner.next_hint, scenario, task_id)

    def reveal_solution(self, scenario: Scenario, apply: bool = False) -> Solution:
        return self._call("show the solution", self.inner.reveal_solution, scenario, apply)

    def reset(self, scenario: Scenario) -> Path | None:
        return self._call("reset the lab", self.inner.reset, scenario)

    def stop(self, scenario: Scenario) -> None:
        self._call("stop the lab", self.inner.stop, scenario)

    def shell(self, scenario: Scenario) -> int:
        return self._call("open a shell in the lab", self.inner.shell, scenario)

    def follow_log(self, scenario: Scenario, on_line: Callable[[str], None]) -> LogFollower:
        return self._call("follow the mail log", self.inner.follow_log, scenario, on_line)

    def add_time(self, scenario: Scenario, seconds: float) -> None:
        self._call("record the time spent", self.inner.add_time, scenario, seconds)

    def running_labs(self) -> list[str]:
        return self._call("list the running labs", self.inner.running_labs)


def running_message(labs: list[str]) -> str:
    """What the command prints after the app closes."""
    if not labs:
        return "labsim: no lab left running."
    names = ", ".join(labs)
    return f"labsim: left running for next time: {names}. Run labsim again to continue."


__all__ = [
    "CHECKS_UNAVAILABLE",
    "GROUPS",
    "ChecksUnavailable",
    "HintShown",
    "LabInfo",
    "LogFollower",
    "RealServices",
    "SafeServices",
    "ScenarioRow",
    "ServiceError",
    "Services",
    "Solution",
    "find_runner",
    "progress_state",
    "running_message",
    "topic_group",
]
