"""The class dashboard's grid: one row per student, one column per check, and who passed since when."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from labsim.classroom.board import Board
from labsim.classroom.roster import Student
from labsim.scenario.model import Scenario

POINTS = "points"
MARKS = {
    "passed": ("✔", "bold green"),
    "failed": ("✘", "bold red"),
    "error": ("!", "bold magenta"),
    "not run": ("·", "dim"),
    "running": ("…", "bold yellow"),
}


def column_key(scenario: str, check_id: str) -> str:
    return f"{scenario}\t{check_id}"


class ClassGrid(DataTable[Text]):
    """Row keys are student ids; check column keys are `scenario<TAB>check`."""

    def __init__(
        self,
        students: list[Student],
        scenarios: list[Scenario],
        timefmt: Callable[[float], str],
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, cursor_type="cell", zebra_stripes=True)
        self.students = students
        self.scenarios = scenarios
        self.timefmt = timefmt

    def on_mount(self) -> None:
        self.add_column(Text("Student", style="bold"), key="student")
        self.add_column(Text("Points", style="bold"), key=POINTS)
        many = len(self.scenarios) > 1
        for sc in self.scenarios:
            for check in sc.checks():
                label = f"{sc.id}/{check.id}" if many else check.id
                self.add_column(Text(label, style="bold"), key=column_key(sc.id, check.id))
        for student in self.students:
            cells = [Text(student.id), Text("-", style="dim")]
            cells += [Text(MARKS["not run"][0], style=MARKS["not run"][1])] * self.check_count
            self.add_row(*cells, key=student.id)
        if self.check_count:
            self.move_cursor(column=2)

    @property
    def check_count(self) -> int:
        return sum(len(sc.checks()) for sc in self.scenarios)

    def _mark(self, status: str, since: float | None) -> Text:
        mark, style = MARKS.get(status, MARKS["not run"])
        if status == "passed" and since is not None:
            return Text(f"{mark} {self.timefmt(since)}", style=style)
        return Text(mark, style=style)

    def show_running(self, student: str, scenario: str) -> None:
        sc = next((s for s in self.scenarios if s.id == scenario), None)
        if sc is None:
            return
        for check in sc.checks():
            try:
                self.update_cell(student, column_key(scenario, check.id), self._mark("running", None))
            except CellDoesNotExist:
                return

    def show_board(self, student: str, board: Board) -> None:
        """Refresh one student's row from the board."""
        earned = most = 0.0
        seen = False
        for sc in self.scenarios:
            for check in sc.checks():
                cell = board.cell(student, sc.id, check.id)
                seen = seen or cell.status != "not run"
                earned += cell.points if cell.max_points else 0.0
                most += check.points
                try:
                    self.update_cell(
                        student, column_key(sc.id, check.id), self._mark(cell.status, cell.since)
                    )
                except CellDoesNotExist:
                    return
        points = Text(f"{earned:g}/{most:g}" if seen else "-", style="bold" if seen else "dim")
        self.update_cell(student, POINTS, points)

    def selected(self) -> tuple[str, str | None, str | None] | None:
        """(student, scenario, check) under the cursor; scenario and check are None off the check columns."""
        if not self.row_count:
            return None
        try:
            row_key, col_key = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        student = str(row_key.value)
        column = str(col_key.value)
        if "\t" not in column:
            return student, None, None
        scenario, check = column.split("\t", 1)
        return student, scenario, check
