"""Who passed what, and since when: the class's check results over time.

Each cell is one check of one student's lab. `since` is when the cell
entered its current state, as observed by the check runs (the watch screen
and `class grade`): a check that passes at 10:05 and still passes at 10:30
has passed "since 10:05"; one that breaks again starts over. The board is
saved beside the class record (without transcripts, which stay in memory),
so a later `class grade` can tell when a student first had everything right.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labsim.checks.result import CheckResult
from labsim.classroom.store import write_json_atomic

BOARD_FILE = "board.json"
NOT_RUN = "not run"


@dataclass
class Cell:
    status: str = NOT_RUN  # passed, failed, error, not run
    since: float | None = None  # when it entered this status
    checked_at: float | None = None  # the last run that saw it
    points: float = 0.0
    max_points: float = 0.0


def _key(student: str, scenario: str, check_id: str) -> str:
    return f"{student}\t{scenario}\t{check_id}"


class Board:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.cells: dict[str, Cell] = {}
        self.transcripts: dict[str, CheckResult] = {}
        self._lock = threading.Lock()
        if path is not None:
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # no board yet, or a damaged one: observations start over
        for key, raw in (data.get("cells") or {}).items() if isinstance(data, dict) else ():
            try:
                self.cells[key] = Cell(
                    str(raw["status"]),
                    raw.get("since"),
                    raw.get("checked_at"),
                    float(raw.get("points", 0.0)),
                    float(raw.get("max_points", 0.0)),
                )
            except (KeyError, TypeError, ValueError):
                continue

    def save(self) -> None:
        if self.path is None:
            return
        with self._lock:  # one writer at a time: they share the temporary file's name
            data: dict[str, Any] = {"cells": {k: dict(vars(c)) for k, c in self.cells.items()}}
            write_json_atomic(self.path, data)

    def record(
        self, student: str, scenario: str, results: Iterable[CheckResult], now: float | None = None
    ) -> None:
        at = time.time() if now is None else now
        with self._lock:
            for r in results:
                key = _key(student, scenario, r.check_id)
                cell = self.cells.get(key) or Cell()
                if cell.status != r.status or cell.since is None:
                    cell.since = at
                cell.status, cell.checked_at = r.status, at
                cell.points, cell.max_points = r.points, r.max_points
                self.cells[key] = cell
                self.transcripts[key] = r

    def cell(self, student: str, scenario: str, check_id: str) -> Cell:
        return self.cells.get(_key(student, scenario, check_id)) or Cell()

    def result(self, student: str, scenario: str, check_id: str) -> CheckResult | None:
        return self.transcripts.get(_key(student, scenario, check_id))

    def all_passed_since(self, student: str, scenario: str, check_ids: Iterable[str]) -> float | None:
        """When the last of these checks started passing, if all pass now; else None."""
        times = []
        for cid in check_ids:
            cell = self.cell(student, scenario, cid)
            if cell.status != "passed" or cell.since is None:
                return None
            times.append(cell.since)
        return max(times) if times else None
