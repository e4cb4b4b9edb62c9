"""What the TUI asks of the rest of labsim, behind one small interface.

Screens talk only to `Services`; the real one is a study session
(labsim/study/session.py), which the learner's commands use too. Tests hand
the app a fake. Every method may raise `LabError` (or `ServiceError`): its
message is one sentence for the learner, shown as a notification.

This module keeps what is the app's own: the interface the screens are
written against, `SafeServices` (no exception ends the app), and the line
printed when the app closes. The rest is re-exported from labsim.study.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

from labsim.checks.result import CheckResult
from labsim.grading.score import Grade
from labsim.lab.model import LabError
from labsim.scenario.model import Scenario
from labsim.study.errors import CHECKS_UNAVAILABLE, ChecksUnavailable, ServiceError
from labsim.study.follow import LogFollower
from labsim.study.rows import GROUPS, ScenarioRow, progress_state, topic_group
from labsim.study.session import HintShown, LabInfo, StudySession, find_runner
from labsim.study.solution import Solution, solution_markdown


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

    def last_results(self, scenario: Scenario) -> list[CheckResult]:
        """Per check, what the last recorded run said (from the progress store); [] before any run."""

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
        """Every running lab of this data home, as "lab-id (scenario)" ("lab-id (scenario, exam)")."""

    def for_exam(self, exam_id: str) -> Services:
        """The services an exam works through: fresh labs of its own, kept out of practice progress."""

    def end_exam(self) -> list[str]:
        """On an exam's services: destroy the labs the exam made; returns their ids."""


class RealServices(StudySession):
    """The app's services: a study session (the name the app and its tests know it by)."""


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

    def last_results(self, scenario: Scenario) -> list[CheckResult]:
        return self._call("read the last check run", self.inner.last_results, scenario)

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

    def for_exam(self, exam_id: str) -> Services:
        return SafeServices(self._call("prepare the exam", self.inner.for_exam, exam_id))

    def end_exam(self) -> list[str]:
        return self._call("remove the exam's labs", self.inner.end_exam)


def running_message(labs: list[str]) -> str:
    """What the command prints after the app closes: every running lab, and how to stop one."""
    if not labs:
        return "labsim: no lab left running."
    names = ", ".join(labs)
    # "lab-0001 (dovecot-maildir)": the scenario id is what `labsim stop` takes; an exam's lab is
    # not a scenario's lab any more, so it is removed by its lab id.
    practice = [label for label in labs if not label.endswith(", exam)")]
    howto = []
    if practice:
        example = practice[0].partition(" (")[2].rstrip(")") or "SCENARIO_ID"
        howto.append(f"stop one with: labsim stop SCENARIO_ID (e.g. labsim stop {example})")
    if len(practice) < len(labs):
        howto.append("remove an exam's lab with: labsim lab destroy LAB_ID --yes")
    said = "; ".join(howto)
    return f"labsim: left running for next time: {names}. Run labsim again to continue; {said}."


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
    "solution_markdown",
    "topic_group",
]
