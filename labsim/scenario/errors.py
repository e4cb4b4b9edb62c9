"""Validation errors that point at a file and a line, like a compiler's."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScenarioIssue:
    file: str
    line: int | None  # 1-based; None when the problem is the whole file
    where: str  # the key path, e.g. tasks[0].checks[1]; empty for the document itself
    message: str

    def __str__(self) -> str:
        place = f"{self.file} line {self.line}" if self.line is not None else self.file
        return f"{place}: {self.where}: {self.message}" if self.where else f"{place}: {self.message}"


class ScenarioError(Exception):
    """A scenario that cannot be used; `issues` lists every problem found, in file order."""

    def __init__(self, issues: list[ScenarioIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


class ScenarioNotFound(LookupError):
    """No scenario with that id; the message names the ones that exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "scenario not found"
