"""What the highlighted check said: its message, or what it will test when it has not run."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from labsim.checks.result import CheckResult
from labsim.scenario.model import CheckSpec
from labsim.tui.components.check_list import exam_description

EXAM_LATER = "Its message and transcript are shown when the exam ends."


class CheckDetail(Static):
    def show(self, spec: CheckSpec | None, result: CheckResult | None, hidden: bool = False) -> None:
        """hidden: during an exam, only passed or not yet, and no teaching point (it tells the answer)."""
        if spec is None:
            self.update("")
            return
        description = exam_description(spec.description) if hidden else spec.description
        if result is None:
            self.update(Text.assemble((spec.id, "bold"), ": not run yet. ", description))
            return
        if hidden:
            state = ("passed", "green") if result.passed else ("not yet", "yellow")
            self.update(
                Text.assemble((spec.id, "bold"), " ", state, "\n", description, "\n", (EXAM_LATER, "dim"))
            )
            return
        style = {"passed": "green", "failed": "red"}.get(result.status, "magenta")
        points = f" {result.points:g}/{result.max_points:g} points"
        self.update(
            Text.assemble((spec.id, "bold"), " ", (result.status, style), points, "\n", result.message)
        )
