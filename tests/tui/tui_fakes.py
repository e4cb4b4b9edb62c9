"""A fake `Services` for the TUI tests: scenarios built in code, results chosen by the test."""

from __future__ import annotations

import asyncio
import copy
import functools
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labsim.checks.result import CheckResult
from labsim.grading.progress import ScenarioProgress
from labsim.grading.score import Grade
from labsim.lab.model import LabError
from labsim.scenario.model import CheckSpec, Hint, Scenario, Solution, Task
from labsim.tui.services import (
    ChecksUnavailable,
    HintShown,
    LabInfo,
    ScenarioRow,
    solution_markdown,
)
from labsim.tui.services import Solution as ShownSolution


def scenario(
    sid: str,
    title: str,
    topics: list[str],
    personality: str = "dovecot",
    difficulty: str = "beginner",
    minutes: int = 15,
) -> Scenario:
    return Scenario(
        id=sid,
        version="1",
        title=title,
        objective="211.3",
        brief=f"The brief of **{title}**.\n\nUsers: `alice` (password `wonderland`).",
        topics=topics,
        difficulty=difficulty,  # type: ignore[arg-type]
        estimated_minutes=minutes,
        personality=personality,  # type: ignore[arg-type]
        hint_penalty=0.5,
        tasks=[
            Task(
                id="first",
                title="Point Dovecot at the Maildirs",
                text="Change `mail_location` and restart Dovecot.",
                hints=[
                    Hint("Which setting says where mail is?"),
                    Hint("It is `mail_location` in 10-mail.conf."),
                    Hint("Format, colon, path: maildir:~/Maildir.", penalty=1.0),
                ],
                checks=[
                    CheckSpec("mail-location", "setting", "mail_location as doveconf reports it", 1.0),
                    CheckSpec("alice-inbox", "mailbox_count", "Alice sees 3 messages in INBOX", 2.0),
                ],
            ),
            Task(
                id="second",
                title="Offer IMAP only",
                text="Stop offering POP3.",
                hints=[Hint("Which setting lists the protocols?")],
                checks=[CheckSpec("no-pop3", "command", "doveconf no longer lists pop3", 2.0)],
            ),
        ],
        solution=Solution(commands=["service dovecot restart"]),
    )


MAILDIR = scenario("dovecot-maildir", "Point Dovecot at the users' Maildirs", ["dovecot", "maildir"])
MBOX = scenario("dovecot-mbox", "mbox: the inbox in the spool", ["mbox"], difficulty="intermediate")
SSL = scenario("dovecot-ssl", "A self-signed certificate", ["tls", "mkcert"], minutes=25)
PAM = scenario("dovecot-pam", "Let PAM say yes", ["pam"], difficulty="advanced")
BROKEN = scenario("broken-typo", "Broken: Dovecot will not start", ["troubleshooting"], minutes=10)
COURIER = scenario("courier-imap", "Courier IMAP on Maildir", ["courier"], personality="courier")

ALL = [MAILDIR, MBOX, SSL, PAM, BROKEN, COURIER]


def result(
    check_id: str, passed: bool, points: float, transcript: str = "", error: str | None = None
) -> CheckResult:
    return CheckResult(
        check_id=check_id,
        type="setting",
        passed=passed,
        points=points if passed else 0.0,
        max_points=points,
        message=f"{check_id}: {'OK' if passed else 'not yet'}. Seen [AUTH] in the answer.",
        transcript=transcript or f"$ probe {check_id}\n[exit {0 if passed else 1}]",
        error=error,
    )


MIXED = [
    result("mail-location", True, 1.0, "$ doveconf -h mail_location\nmaildir:~/Maildir\n[exit 0]"),
    result("alice-inbox", False, 2.0, "S: * OK [CAPABILITY IMAP4rev1] Dovecot ready.\nC: a LOGIN alice x\n"),
    result("no-pop3", False, 2.0, error="lab gone"),
]


@dataclass
class FakeServices:
    rows: list[ScenarioRow] = field(
        default_factory=lambda: [ScenarioRow(s, ScenarioProgress(s.id)) for s in ALL]
    )
    results: list[CheckResult] = field(default_factory=lambda: list(MIXED))
    gate: threading.Event | None = None  # when set: each result waits for the test to release it
    released: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    fail_open: str | None = None
    checks_error: Exception | None = None
    checks_error_after: int = 0
    log_lines: list[str] = field(
        default_factory=lambda: ["Nov 25 12:00:00 mail dovecot: master: starting up"]
    )
    calls: list[str] = field(default_factory=list)
    hints: dict[str, dict[str, int]] = field(default_factory=dict)
    recorded: list[list[CheckResult]] = field(default_factory=list)
    solved: set[str] = field(default_factory=set)
    running: bool = True
    shell_code: int = 0
    on_line: Callable[[str], None] | None = None
    follower_stopped: bool = False
    last: dict[str, list[CheckResult]] = field(default_factory=dict)  # scenario id -> last recorded run
    exam_id: str | None = None  # set on an exam's view (for_exam)
    exam_results: list[CheckResult] | None = None  # what checks give in an exam's labs (default: results)
    exams: list[FakeServices] = field(default_factory=list)  # the exam views handed out
    opened: list[str] = field(default_factory=list)  # scenario ids whose lab was opened
    ended: list[str] = field(default_factory=list)  # the labs end_exam removed

    def backend(self) -> tuple[str, str]:
        return "local", "local backend: no Docker engine answers at the local socket"

    def scenarios(self) -> list[ScenarioRow]:
        return self.rows

    def info(self) -> LabInfo:
        lab_id = "lab-exam-0001" if self.exam_id else "lab-0001"
        return LabInfo(lab_id, "local", self.running, "asked for the local backend")

    def open_lab(self, scenario: Scenario) -> LabInfo:
        self.calls.append(f"open {scenario.id}" + (" (exam)" if self.exam_id else ""))
        if scenario.id not in self.opened:
            self.opened.append(scenario.id)
        if self.fail_open:
            raise LabError(self.fail_open)
        self.running = True
        return self.info()

    def lab_info(self, scenario: Scenario) -> LabInfo | None:
        self.calls.append(f"info {scenario.id}" + (" (exam)" if self.exam_id else ""))
        return self.info()

    def run_checks(self, scenario: Scenario) -> Iterator[CheckResult]:
        self.calls.append(f"check {scenario.id}" + (" (exam)" if self.exam_id else ""))
        if isinstance(self.checks_error, ChecksUnavailable):
            raise self.checks_error
        for n, res in enumerate(self.results):
            if self.checks_error is not None and n == self.checks_error_after:
                raise self.checks_error
            if self.gate is not None:
                self.released.acquire(timeout=10)
            yield res

    def record_run(self, scenario: Scenario, results: list[CheckResult]) -> Grade:
        self.recorded.append(list(results))
        self.last[scenario.id] = list(results)
        return Grade.build(scenario, results, self.hints.get(scenario.id, {}))

    def last_results(self, scenario: Scenario) -> list[CheckResult]:
        return list(self.last.get(scenario.id, []))

    def hints_taken(self, scenario: Scenario) -> dict[str, int]:
        return dict(self.hints.get(scenario.id, {}))

    def next_hint(self, scenario: Scenario, task_id: str) -> HintShown | None:
        task = scenario.task(task_id)
        assert task is not None
        taken = self.hints.setdefault(scenario.id, {})
        index = taken.get(task_id, 0)
        if index >= len(task.hints):
            return None
        taken[task_id] = index + 1
        return HintShown(
            task_id, index, len(task.hints), task.hints[index], scenario.hint_cost(task_id, index)
        )

    def reveal_solution(self, scenario: Scenario, apply: bool = False) -> ShownSolution:
        self.solved.add(scenario.id)
        return ShownSolution(solution_markdown(scenario))

    def reset(self, scenario: Scenario) -> Path | None:
        self.calls.append(f"reset {scenario.id}")
        return Path("/labs/lab-0001/backups/20261125-120000")

    def stop(self, scenario: Scenario) -> None:
        self.calls.append(f"stop {scenario.id}")
        self.running = False

    def shell(self, scenario: Scenario) -> int:
        self.calls.append(f"shell {scenario.id}")
        return self.shell_code

    def follow_log(self, scenario: Scenario, on_line: Callable[[str], None]) -> FakeFollower:
        self.on_line = on_line
        for line in self.log_lines:
            on_line(line)
        return FakeFollower(self)

    def add_time(self, scenario: Scenario, seconds: float) -> None:
        self.calls.append(f"time {scenario.id}")

    def running_labs(self) -> list[str]:
        return ["lab-0001 (dovecot-maildir)"] if self.running else []

    def for_exam(self, exam_id: str) -> FakeServices:
        """A view with labs of its own: nothing recorded, hinted or opened in practice carries over."""
        view = copy.copy(self)  # shares calls, gate and released with the practice services
        view.exam_id = exam_id
        view.results = list(self.exam_results if self.exam_results is not None else self.results)
        view.recorded, view.last, view.hints, view.opened, view.ended = [], {}, {}, [], []
        view.exams = []
        self.exams.append(view)
        return view

    def end_exam(self) -> list[str]:
        self.calls.append(f"end {self.exam_id}")
        self.ended = [f"lab-exam-{sid}" for sid in self.opened]
        return list(self.ended)


class FakeFollower:
    def __init__(self, services: FakeServices) -> None:
        self.services = services

    def stop(self) -> None:
        self.services.follower_stopped = True


def sync(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test with asyncio.run (no pytest-asyncio here); fixtures still resolve."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return run


# A check described as the bundled scenarios do: what it tests, then (in parentheses) the teaching
# point, which in an exam gives the answer away. Its message starts with the description again.
TEACHING = (
    "Alice logs in to Courier-IMAP on port 143 "
    "(IMAPDSTART in /etc/courier/imapd decides whether imapd starts)"
)
LONG_MESSAGE = (
    f"{TEACHING}: expected the login to succeed, saw the connection refused on 127.0.0.1:143; "
    "nothing listens there, so imapd did not start (IMAPDSTART=NO in /etc/courier/imapd)."
)
LONG_TRANSCRIPT = "\n".join(
    ["$ openssl s_client -connect 127.0.0.1:143 -starttls imap"]
    + [f"line {n}: connect: Connection refused" for n in range(1, 31)]
    + ["[exit 1]"]
)


def with_teaching_point(base: Scenario) -> Scenario:
    """base, with its alice-inbox check described at length (teaching point and all)."""
    copy_ = copy.deepcopy(base)
    spec = copy_.check("alice-inbox")
    assert spec is not None
    spec.description = TEACHING
    return copy_


def teaching_services(**kwargs: Any) -> FakeServices:
    """FakeServices whose first scenario (Maildir) has the long description and a long failed result."""
    long = with_teaching_point(MAILDIR)
    fake = FakeServices(**kwargs)
    fake.rows[0] = ScenarioRow(long, ScenarioProgress(long.id))
    fake.results[1] = CheckResult("alice-inbox", "imap_login", False, 0.0, 2.0, LONG_MESSAGE, LONG_TRANSCRIPT)
    return fake
