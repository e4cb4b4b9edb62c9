"""The home screen's list: scenarios grouped by topic, with difficulty, time and progress."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from labsim.tui.services import GROUPS, ScenarioRow

STATE_STYLE = {"passed": "bold green", "in progress": "yellow", "not started": "dim"}
TITLE_WIDTH = 38  # at 80 columns; wider terminals give titles the room
# difficulty (12+1), minutes (3+6), progress ("in progress 10/10") and the list's borders/scrollbar
OTHER_COLUMNS = 13 + 9 + 17 + 4


def _points(value: float) -> str:
    return f"{value:g}"


def progress_text(row: ScenarioRow) -> str:
    p = row.progress
    if row.state == "not started":
        return "not started"
    if p.best_score is not None and p.max_score:
        return f"{row.state} {_points(p.best_score)}/{_points(p.max_score)}"
    return row.state


def title_width(rows: list[ScenarioRow], columns: int) -> int:
    longest = max((len(r.scenario.title) for r in rows), default=TITLE_WIDTH)
    return max(TITLE_WIDTH, min(longest, columns - OTHER_COLUMNS))


def row_prompt(row: ScenarioRow, width: int = TITLE_WIDTH) -> Text:
    s = row.scenario
    title = s.title if len(s.title) <= width else s.title[: width - 1] + "…"
    return Text.assemble(
        (f"{title:<{width}} ", "bold"),
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
        width = title_width(self.rows, self.size.width)
        for group in sorted({r.group for r in visible}, key=lambda g: (order.get(g, len(GROUPS)), g)):
            if options:
                options.append(None)
            options.append(Option(Text(group, style="bold underline"), id=f"group:{group}", disabled=True))
            for row in visible:
                if row.group == group:
                    options.append(Option(row_prompt(row, width), id=row.scenario.id))
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

    def on_resize(self) -> None:
        # Titles take the width there is: re-render the rows for the new size.
        self.refilter(self.query_text)

    @property
    def selected_id(self) -> str | None:
        option = self.highlighted_option
        if option is None or option.id is None or option.id.startswith("group:"):
            return None
        return option.id
