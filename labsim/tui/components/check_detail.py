"""What the highlighted check said: its message, or what it will test when it has not run."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from labsim.checks.result import CheckResult
from labsim.scenario.model import CheckSpec


class CheckDetail(Static):
    def show(self, spec: CheckSpec | None, result: CheckResult | None, hidden: bool = False) -> None:
        if spec is None:
            self.update("")
            return
        if result is None:
            self.update(Text.assemble((spec.id, "bold"), ": not run yet. ", spec.description))
            return
        if hidden:
            self.update(Text.assemble((spec.id, "bold"), f": {result.status} (details after the exam)"))
            return
        style = {"passed": "green", "failed": "red"}.get(result.status, "magenta")
        points = f" {result.points:g}/{result.max_points:g} points"
        self.update(
            Text.assemble((spec.id, "bold"), " ", (result.status, style), points, "\n", result.message)
        )
