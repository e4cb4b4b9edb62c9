"""A scenario, as typed data. The loader builds it from scenario.yaml after validation."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Difficulty = Literal["beginner", "intermediate", "advanced"]
Personality = Literal["dovecot", "courier"]
Backend = Literal["local", "docker"]
MailFormat = Literal["maildir", "mbox"]
ExpectFresh = Literal["fail", "pass"]

DIFFICULTIES: tuple[str, ...] = ("beginner", "intermediate", "advanced")
PERSONALITIES: tuple[str, ...] = ("dovecot", "courier")
BACKENDS: tuple[str, ...] = ("local", "docker")
MAIL_FORMATS: tuple[str, ...] = ("maildir", "mbox")
EXPECT_FRESH: tuple[str, ...] = ("fail", "pass")


@dataclass
class UserSetup:
    name: str
    password: str | None = None  # None: a locked account
    uid: int | None = None
    groups: list[str] = field(default_factory=list)
    home: str | None = None  # None: /home/NAME
    shell: str = "/bin/bash"


@dataclass
class GroupSetup:
    name: str
    gid: int | None = None
    members: list[str] = field(default_factory=list)


@dataclass
class FileSetup:
    """A file to write into the lab: literal `content`, or `source` read from the scenario's files/."""

    path: str
    content: str | None = None
    source: str | None = None  # relative to the scenario's files/ folder
    mode: int = 0o644
    owner: str = "root"
    group: str | None = None


@dataclass
class MessageSetup:
    subject: str
    sender: str = "Labsim <labsim@example.org>"  # the YAML key is `from`
    to: str = ""  # empty: the mailbox's user
    date: str = ""  # RFC 5322 date; empty: a fixed date derived from the message's position
    body: str = ""


@dataclass
class MailboxSetup:
    user: str
    format: MailFormat = "maildir"
    location: str = ""  # lab path; "~" is the home, %u the user; empty: ~/Maildir or /var/mail/%u
    count: int | None = None  # generated messages; None with no `messages`: 3
    messages: list[MessageSetup] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)  # extra folders, created empty

    @property
    def message_count(self) -> int:
        if self.messages:
            return len(self.messages) + (self.count or 0)
        return 3 if self.count is None else self.count


@dataclass
class Setup:
    users: list[UserSetup] = field(default_factory=list)
    groups: list[GroupSetup] = field(default_factory=list)
    files: list[FileSetup] = field(default_factory=list)
    mailboxes: list[MailboxSetup] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # shell lines run in the lab after setup
    services: list[str] = field(default_factory=list)  # empty: the personality's daemon


@dataclass
class CheckSpec:
    id: str
    type: str
    description: str = ""
    points: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    # "fail": the check must fail on the fresh lab. "pass": it already passes there, and
    # `expect_fresh_reason` says why (e.g. it guards against breaking what works).
    expect_fresh: ExpectFresh = "fail"
    expect_fresh_reason: str = ""


@dataclass
class Hint:
    text: str
    penalty: float | None = None  # None: the scenario's hint_penalty


@dataclass
class Task:
    id: str
    text: str
    title: str = ""
    hints: list[Hint] = field(default_factory=list)
    checks: list[CheckSpec] = field(default_factory=list)


@dataclass
class Solution:
    files: list[FileSetup] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    id: str
    version: str
    title: str
    objective: str
    brief: str
    tasks: list[Task]
    topics: list[str] = field(default_factory=list)
    difficulty: Difficulty = "beginner"
    estimated_minutes: int = 15
    personality: Personality = "dovecot"
    backends: list[Backend] = field(default_factory=lambda: ["local", "docker"])
    setup: Setup = field(default_factory=Setup)
    solution: Solution = field(default_factory=Solution)
    hint_penalty: float = 0.0  # points taken off per hint shown, unless a hint sets its own
    # Where it was loaded from (None for scenarios built in code).
    path: Path | None = None

    @property
    def directory(self) -> Path | None:
        return self.path.parent if self.path else None

    @property
    def files_dir(self) -> Path | None:
        return self.path.parent / "files" if self.path else None

    @property
    def hidden(self) -> bool:
        """Folders starting with `_` (examples, fixtures) are not listed to learners."""
        return self.id.startswith("_") or (self.directory is not None and self.directory.name.startswith("_"))

    def checks(self) -> list[CheckSpec]:
        return [check for task in self.tasks for check in task.checks]

    def check(self, check_id: str) -> CheckSpec | None:
        for check in self.checks():
            if check.id == check_id:
                return check
        return None

    def task(self, task_id: str) -> Task | None:
        for task in self.tasks:
            if task.id == task_id:
                return task
        return None

    @property
    def max_points(self) -> float:
        return sum(check.points for check in self.checks())

    def hint_cost(self, task_id: str, index: int) -> float:
        """What showing hint `index` (0-based) of a task costs."""
        task = self.task(task_id)
        if task is None or not 0 <= index < len(task.hints):
            return 0.0
        own = task.hints[index].penalty
        return self.hint_penalty if own is None else own

    def checks_hash(self) -> str:
        """A short stable hash of what is graded (check ids, types, points, params, hint costs).

        Reports carry it so two results are only compared when they were graded the same way.
        """
        graded = {
            "checks": [asdict(check) for check in self.checks()],
            "hints": {
                task.id: [self.hint_cost(task.id, i) for i in range(len(task.hints))] for task in self.tasks
            },
        }
        data = json.dumps(graded, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(data.encode()).hexdigest()[:16]

    def read_source(self, source: str) -> bytes:
        """A file from the scenario's files/ folder (the loader has checked that it exists)."""
        if self.files_dir is None:
            raise FileNotFoundError(source)
        return (self.files_dir / source).read_bytes()

    def file_bytes(self, spec: FileSetup) -> bytes:
        if spec.source is not None:
            return self.read_source(spec.source)
        return (spec.content or "").encode()
