"""What the class dashboard needs, without any UI: the source it reads and the order it checks labs in.

The dashboard (labsim/tui/screens/class_watch.py) checks one lab at a time,
round robin over students and scenarios, and waits `interval` seconds between
two check runs: 30 labs on 2 cores stay responsive for the students working
in them. An instructor can move a lab to the front of the queue.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol

from labsim.checks.result import CheckResult
from labsim.classroom.board import Board
from labsim.classroom.roster import Student
from labsim.scenario.model import Scenario


class WatchSource(Protocol):
    """A class as the dashboard sees it (ClassService, or a fake in tests)."""

    board: Board

    @property
    def name(self) -> str: ...

    def roster(self) -> list[Student]: ...

    def scenario_list(self) -> list[Scenario]: ...

    def check(self, student: str, scenario: str, now: float | None = None) -> list[CheckResult]:
        """Run the checks of one lab and record them on the board."""

    def mail_log(self, student: str, scenario: str, lines: int = 200) -> list[str]: ...


class RoundRobin:
    """The next lab to check: every lab in turn, with instructor requests first."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = list(pairs)
        self._position = 0
        self._urgent: deque[tuple[str, str]] = deque()
        self._lock = threading.Lock()
        self.sweeps = 0  # completed passes over every lab

    def prioritize(self, pair: tuple[str, str]) -> None:
        with self._lock:
            if pair in self.pairs and pair not in self._urgent:
                self._urgent.append(pair)

    def next(self) -> tuple[str, str] | None:
        with self._lock:
            if self._urgent:
                return self._urgent.popleft()
            if not self.pairs:
                return None
            pair = self.pairs[self._position]
            self._position += 1
            if self._position == len(self.pairs):
                self._position = 0
                self.sweeps += 1
            return pair
