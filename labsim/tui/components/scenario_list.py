"""The home screen's list: scenarios grouped by topic, with difficulty, time and progress."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from labsim.tui.services import GROUPS, ScenarioRow

STATE_STYLE = {"passed": "bold green", "in progress": "yellow", "not started": "dim"}
TITLE_WIDTH = 38


def _points(value: float) -> str:
    return f"{value:g}"


def progress_text(row: ScenarioRow) -> str:
    p = row.progress
    if row.state == "not started":
        return "not started"
    if p.best_score is not None and p.max_score:
        return f"{row.state} {_points(p.best_score)}/{_points(p.max_score)}"
    return row.state


def row_prompt(row: ScenarioRow) -> Text:
    s = row.scenario
    title = s.title if len(s.title) <= TITLE_WIDTH else s.title[: TITLE_WIDTH - 1] + "…"
    return Text.assemble(
        (f"{title:<{TITLE_WIDTH}} ", "bold"),
        (f"{s.difficulty:<12} ", ""),
        (f"{s.estimated_minutes:>3} min  ", "dim"),
        (progress_text(row), STATE_STYLE.get(row.state, "")),
    )


def matches(row: ScenarioRow, query: str) -> bool:
    """Every word of the query appears in the title, id, topics, group, difficulty or state."""
    s = row.scenario
    haystack = " ".join([s.title, s.id, *s.topics, row.group, s.difficulty, s.personality, row.state]).lower()
    return all(word in haystack for word in query.lower().split())


class ScenarioList(OptionList):
    """Option ids are scenario ids; group headings are disabled options."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[ScenarioRow] = []
        self.query_text = ""

    def set_rows(self, rows: list[ScenarioRow]) -> None:
        self.rows = rows
        self.refilter(self.query_text)

    def visible_rows(self) -> list[ScenarioRow]:
        return [row for row in self.rows if matches(row, self.query_text)]

    def refilter(self, query: str) -> None:
        self.query_text = query
        chosen = self.highlighted_option.id if self.highlighted_option is not None else None
        options: list[Option | None] = []
        shown: list[str] = []  # scenario ids in display order
        visible = self.visible_rows()
        order = {g: i for i, g in enumerate(GROUPS)}
        for group in sorted({r.group for r in visible}, key=lambda g: (order.get(g, len(GROUPS)), g)):
            if options:
                options.append(None)
            options.append(Option(Text(group, style="bold underline"), id=f"group:{group}", disabled=True))
            for row in visible:
                if row.group == group:
                    options.append(Option(row_prompt(row), id=row.scenario.id))
                    shown.append(row.scenario.id)
        if not options:
            empty = "No scenario matches the filter." if self.rows else "No scenarios found."
            options.append(Option(Text(empty, style="italic"), id="group:none", disabled=True))
        self.set_options(options)
        if chosen in shown:
            self.highlighted = self.get_option_index(chosen)
        elif shown:
            self.highlighted = self.get_option_index(shown[0])
            self.scroll_home(animate=False)

    @property
    def selected_id(self) -> str | None:
        option = self.highlighted_option
        if option is None or option.id is None or option.id.startswith("group:"):
            return None
        return option.id
