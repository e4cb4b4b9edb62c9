"""A scenario's tasks and their checks, each with its state: not run, running, passed, failed, error.

Each check's mark and points lead its row and its description wraps beside them, whole: at 80x24
the side column is 38 wide, and a description cut at 30 characters lost the words that say what
is checked. The list scrolls when the rows outgrow its share of the column; the detail below it
gives the highlighted check's message.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from labsim.checks.result import CheckResult
from labsim.scenario.model import Scenario
from labsim.tui.components.wrapping import hanging

RUNNING = "running"
MARKS = {
    "not run": ("·", "dim"),
    RUNNING: ("…", "bold yellow"),
    "passed": ("✔", "bold green"),
    "failed": ("✘", "bold red"),
    "error": ("!", "bold magenta"),
}


# A description's closing parenthetical is its teaching point, and often the answer:
# "Alice logs in on port 143 (IMAPDSTART in /etc/courier/imapd decides whether imapd starts)".
_TEACHING_POINT = re.compile(r"\s*\((?:[^()]|\([^()]*\))*\)\s*$")


def exam_description(description: str) -> str:
    """What a check tests, without the teaching point that would give the answer away in an exam."""
    return _TEACHING_POINT.sub("", description) or description


def _points(value: float) -> str:
    return f"{value:g}"


class CheckList(OptionList):
    """Option ids are check ids; task headings are disabled options with ids `task:<id>`."""

    def __init__(self, scenario: Scenario, id: str | None = None) -> None:
        super().__init__(id=id)
        self.scenario = scenario
        self.results: dict[str, CheckResult] = {}
        self.running: set[str] = set()
        self.hiding = False  # in an exam: descriptions without their teaching point

    def on_mount(self) -> None:
        self.rebuild()

    def state(self, check_id: str) -> str:
        if check_id in self.running:
            return RUNNING
        result = self.results.get(check_id)
        return "not run" if result is None else result.status

    def _prompt(self, check_id: str, description: str, worth: float) -> Text:
        mark, style = MARKS[self.state(check_id)]
        result = self.results.get(check_id)
        got = _points(result.points if result else 0.0) if result else "-"
        if self.hiding:
            description = exam_description(description)
        lead = Text.assemble((f"{mark} ", style), (f"{got}/{_points(worth)} ", "dim"))
        return hanging(lead, description or check_id, self._row_width())

    def _row_width(self) -> int:
        # The gutter is kept for the scrollbar (scrollbar-gutter: stable in labsim.tcss), so rows
        # wrapped for this width still fit once the list grows long enough to scroll.
        width = self.scrollable_content_region.width - 1  # a column for the scrollbar's edge
        return width if width > 8 else 80  # not laid out yet: on_resize wraps the rows again

    def on_resize(self) -> None:
        self.rebuild()

    def rebuild(self) -> None:
        keep = self.highlighted
        options: list[Option | None] = []
        for n, task in enumerate(self.scenario.tasks, 1):
            heading = hanging(Text(f"{n}. ", style="bold"), task.title or task.id, self._row_width(), "bold")
            options.append(Option(heading, id=f"task:{task.id}", disabled=True))
            for check in task.checks:
                options.append(Option(self._prompt(check.id, check.description, check.points), id=check.id))
        self.set_options(options)
        if keep is not None and keep < self.option_count:
            self.highlighted = keep
        elif self.option_count > 1:
            self.highlighted = 1

    def refresh_check(self, check_id: str) -> None:
        spec = self.scenario.check(check_id)
        if spec is not None:
            self.replace_option_prompt(check_id, self._prompt(check_id, spec.description, spec.points))

    def set_running(self, check_id: str | None) -> None:
        previous = set(self.running)
        self.running = {check_id} if check_id else set()
        for cid in previous | self.running:
            self.refresh_check(cid)

    def set_result(self, result: CheckResult) -> None:
        self.results[result.check_id] = result
        self.running.discard(result.check_id)
        self.refresh_check(result.check_id)

    def clear_results(self) -> None:
        self.results.clear()
        self.running.clear()
        self.rebuild()

    @property
    def selected_id(self) -> str | None:
        option = self.highlighted_option
        if option is None or option.id is None or option.id.startswith("task:"):
            return None
        return option.id

    def current_task_id(self) -> str | None:
        """The first task with a check not yet passed (the last task once all pass)."""
        for task in self.scenario.tasks:
            if any(self.state(c.id) != "passed" for c in task.checks):
                return task.id
        return self.scenario.tasks[-1].id if self.scenario.tasks else None
