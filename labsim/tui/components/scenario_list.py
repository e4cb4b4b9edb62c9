"""The home screen's list: scenarios grouped by topic, with difficulty, time and progress."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.geometry import Region
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from labsim.tui.components.wrapping import wrap_words
from labsim.tui.keymap import SCENARIO_LIST_BINDINGS
from labsim.tui.services import GROUPS, ScenarioRow

STATE_STYLE = {"passed": "bold green", "in progress": "yellow", "not started": "dim"}
TITLE_WIDTH = 30  # the least a title gets; wider terminals give titles the room
DIFFICULTY = 13  # "intermediate "
MINUTES = 9  # " 15 min  "
SCROLLBAR = 2  # drawn inside the content region when the list is longer than the screen


@dataclass(frozen=True)
class Columns:
    """How a list's rows are laid out: the title's width, and whether the minutes have a column."""

    title: int = TITLE_WIDTH
    minutes: bool = True


def _points(value: float) -> str:
    return f"{value:g}"


def progress_text(row: ScenarioRow) -> str:
    p = row.progress
    if row.state == "not started":
        return "not started"
    if p.best_score is not None and p.max_score:
        return f"{row.state} {_points(p.best_score)}/{_points(p.max_score)}"
    return row.state


def columns_for(rows: list[ScenarioRow], columns: int) -> Columns:
    """Titles take the room there is. When the longest would not fit beside the minutes, the
    minutes give up their column (the scenario screen's subtitle says them), and a title still
    too long wraps onto a second line: no title loses its last words."""
    longest = max((len(r.scenario.title) for r in rows), default=TITLE_WIDTH)
    progress = max((len(progress_text(r)) for r in rows), default=len("not started"))
    room = columns - SCROLLBAR - DIFFICULTY - progress - 1  # the progress column is as wide as its widest
    if longest <= room - MINUTES:
        return Columns(max(TITLE_WIDTH, longest), minutes=True)
    room -= 1  # the space that keeps the difficulty two columns off the progress
    return Columns(max(TITLE_WIDTH, min(longest, room)), minutes=False)


def row_prompt(row: ScenarioRow, layout: Columns | None = None) -> Text:
    """The title (wrapped between words when it is longer than its column), then the difficulty,
    the minutes when they have a column, and the progress, on the title's first line."""
    layout = layout or Columns()
    s = row.scenario
    first, *more = wrap_words(s.title, layout.title)
    prompt = Text.assemble((f"{first:<{layout.title}} ", "bold"), (f"{s.difficulty:<12} ", ""))
    prompt.append(f"{s.estimated_minutes:>3} min  " if layout.minutes else " ", "dim")
    prompt.append(progress_text(row), STATE_STYLE.get(row.state, ""))
    for line in more:
        prompt.append("\n" + line, "bold")
    return prompt


def matches(row: ScenarioRow, query: str) -> bool:
    """Every word of the query appears in the title, id, topics, group, difficulty or state."""
    s = row.scenario
    haystack = " ".join([s.title, s.id, *s.topics, row.group, s.difficulty, s.personality, row.state]).lower()
    return all(word in haystack for word in query.lower().split())


class ScenarioList(OptionList):
    """Option ids are scenario ids; group headings are disabled options."""

    BINDINGS = SCENARIO_LIST_BINDINGS

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
        layout = columns_for(self.rows, self.size.width)
        for group in sorted({r.group for r in visible}, key=lambda g: (order.get(g, len(GROUPS)), g)):
            if options:
                options.append(None)
            options.append(Option(Text(group, style="bold underline"), id=f"group:{group}", disabled=True))
            for row in visible:
                if row.group == group:
                    options.append(Option(row_prompt(row, layout), id=row.scenario.id))
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

    def scroll_to_highlight(self, top: bool = False) -> None:
        """The first scenario of a group brings its group's heading into sight (Home, Up)."""
        super().scroll_to_highlight(top)
        index = self.highlighted
        if index is None or index == 0 or not self.is_mounted:
            return
        heading = self.get_option_at_index(index - 1)
        if heading.id is None or not heading.id.startswith("group:"):
            return
        line = self._index_to_line.get(index - 1)
        if line is not None:
            region = Region(0, line, self.scrollable_content_region.width, 2)
            self.scroll_to_region(region, force=True, animate=False, immediate=True)

    def on_resize(self) -> None:
        # Titles take the width there is: re-render the rows for the new size.
        self.refilter(self.query_text)

    @property
    def selected_id(self) -> str | None:
        option = self.highlighted_option
        if option is None or option.id is None or option.id.startswith("group:"):
            return None
        return option.id
