"""The home screen: every scenario grouped by topic, with progress; filter by typing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.events import Key
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, OptionList, Static

from labsim.lab.model import LabError
from labsim.tui.components.backend_banner import BackendBanner
from labsim.tui.components.scenario_list import ScenarioList
from labsim.tui.keymap import HOME_BINDINGS
from labsim.tui.palette import PaletteCommand
from labsim.tui.screens.confirm import ConfirmScreen
from labsim.tui.services import ScenarioRow, Services

if TYPE_CHECKING:
    from labsim.tui.app import LabsimApp

HOME_TITLE = "labsim — LPIC-2 211.3 labs"


class HomeScreen(Screen[None]):
    BINDINGS = HOME_BINDINGS
    TITLE = HOME_TITLE

    def __init__(self, services: Services, exam_at_start: bool = False) -> None:
        super().__init__()
        self.services = services
        self.exam_at_start = exam_at_start
        self.rows: list[ScenarioRow] = []

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="✉")
        yield BackendBanner(id="backend")
        yield Input(placeholder="Type to filter (topic, title, difficulty, state)…", id="filter")
        yield ScenarioList(id="scenarios")
        yield Static(
            "Enter opens a scenario: its lab starts and stays yours until you reset it.", id="home-help"
        )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "choose a scenario"
        self.query_one(ScenarioList).focus()
        self.load_rows()
        self.load_backend()

    def on_screen_resume(self) -> None:
        if self.rows:  # coming back from a scenario: progress may have changed
            self.load_rows()

    @work(thread=True, exclusive=True, group="home-rows")
    def load_rows(self) -> None:
        try:
            rows = self.services.scenarios()
        except LabError as exc:
            self.app.call_from_thread(
                self.notify, str(exc), markup=False, title="Scenarios", severity="error"
            )
            return
        self.app.call_from_thread(self.show_rows, rows)

    def show_rows(self, rows: list[ScenarioRow]) -> None:
        self.rows = rows
        self.query_one(ScenarioList).set_rows(rows)
        if self.exam_at_start:  # `labsim exam`
            self.exam_at_start = False
            self.start_exam_now()

    @work(thread=True, exclusive=True, group="home-backend")
    def load_backend(self) -> None:
        # Asking a Docker engine may take a while: never on the UI's time.
        banner = self.query_one(BackendBanner)
        try:
            backend, reason = self.services.backend()
        except LabError as exc:
            self.app.call_from_thread(banner.show_error, str(exc))
            return
        self.app.call_from_thread(banner.show_backend, backend, reason)

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.query_one(ScenarioList).refilter(event.value)

    @on(Input.Submitted, "#filter")
    def filter_submitted(self) -> None:
        self.query_one(ScenarioList).focus()

    def on_key(self, event: Key) -> None:
        """Typing a letter in the list starts filtering (q, e and / keep their bindings)."""
        if event.character is None or not event.is_printable:
            return
        listing = self.query_one(ScenarioList)
        field = self.query_one("#filter", Input)
        if self.focused is field:
            # The field would have kept this key: it was typed fast, queued for the list before
            # the field took focus. It belongs to the filter, e and q too ("broken", "quota").
            self._type_into(field, event)
        elif self.focused is listing:
            if event.character in {"q", "e", "/"} or event.character.isspace():
                return
            # set_focus now, not focus() (a turn later): the next keys are already on their way.
            self.set_focus(field)
            self._type_into(field, event)

    def _type_into(self, field: Input, event: Key) -> None:
        assert event.character is not None
        field.insert_text_at_cursor(event.character)
        event.stop()
        event.prevent_default()

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_to_list(self) -> None:
        """Down in the filter goes on to the matching scenarios (the list handles its own Down)."""
        self.query_one(ScenarioList).focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.value = ""
        self.query_one(ScenarioList).focus()

    def action_open(self) -> None:
        scenario_id = self.query_one(ScenarioList).selected_id
        if scenario_id is not None:
            self.open_scenario(scenario_id)

    @on(OptionList.OptionSelected, "#scenarios")
    def option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id and not event.option.id.startswith("group:"):
            self.open_scenario(event.option.id)

    def open_scenario(self, scenario_id: str) -> None:
        row = next((r for r in self.rows if r.scenario.id == scenario_id), None)
        if row is not None:
            app: LabsimApp = self.app  # type: ignore[assignment]
            app.open_scenario(row.scenario)

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "Filter the scenarios", "By topic, title, difficulty or state (/)", self.action_filter
            ),
            PaletteCommand("Open the highlighted scenario", "Its lab starts (enter)", self.action_open),
            PaletteCommand(
                "Start an exam",
                "A timed run over the listed scenarios, after a question (e)",
                self.action_exam,
            ),
        ]

    def action_exam(self) -> None:
        """Ask first: one stray e would otherwise start a timed exam over every listed scenario."""
        app: LabsimApp = self.app  # type: ignore[assignment]
        scenarios = [r.scenario for r in self.query_one(ScenarioList).visible_rows()]
        if not scenarios:
            app.start_exam(scenarios)  # says why there is no exam
            return
        n = len(scenarios)
        listed = "the listed scenario" if n == 1 else f"the {n} listed scenarios"
        question = (
            f"Start a {app.exam_minutes}-minute exam over {listed}? Each gets a fresh lab of its own; "
            "hints, transcripts and solutions wait until you hand in."
        )
        self.app.push_screen(
            ConfirmScreen("Start an exam", question, yes="Start"),
            lambda yes: app.start_exam(scenarios) if yes else None,
        )

    def start_exam_now(self) -> None:
        """`labsim exam` asked for the exam already: no question."""
        app: LabsimApp = self.app  # type: ignore[assignment]
        app.start_exam([r.scenario for r in self.query_one(ScenarioList).visible_rows()])
