"""Exam mode: a timed run over a set of scenarios; hints and transcripts wait until the end.

An exam works in labs of its own (services.for_exam): a scenario solved in practice starts fresh,
only the scenarios opened in the exam are checked at hand-in, its grades stay out of practice
progress (the progress store has no place for exam results: they live in the ExamSession, shown
in the report), and its labs are removed when the report is closed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from secrets import token_hex

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from labsim.checks.result import CheckResult
from labsim.grading.score import Score, score
from labsim.lab.model import LabError
from labsim.scenario.model import Scenario
from labsim.tui.components.wrapping import wrap_words
from labsim.tui.keymap import EXAM_BINDINGS
from labsim.tui.palette import PaletteCommand
from labsim.tui.screens.confirm import ConfirmScreen
from labsim.tui.services import Services


@dataclass
class ExamSession:
    scenarios: list[Scenario]
    seconds: float
    started: float = field(default_factory=time.monotonic)
    results: dict[str, list[CheckResult]] = field(default_factory=dict)
    finished: bool = False
    exam_id: str = field(default_factory=lambda: f"exam-{time.strftime('%Y%m%d-%H%M%S')}-{token_hex(2)}")
    opened: set[str] = field(default_factory=set)  # scenario ids opened in this exam: graded at hand-in

    def remaining(self, now: float | None = None) -> float:
        return max(0.0, self.seconds - ((time.monotonic() if now is None else now) - self.started))

    def scores(self) -> list[tuple[Scenario, Score]]:
        return [(s, score(s, self.results.get(s.id, []))) for s in self.scenarios]

    def total(self) -> tuple[float, float]:
        scores = [sc for _, sc in self.scores()]
        return sum(sc.total for sc in scores), sum(sc.max_points for sc in scores)


def clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60:02d}:{s % 60:02d}"


STATE_WIDTH = len("10/10  10/10 checks pass")
TITLE_WIDTH = 44  # the least a title gets (80 columns); a wider terminal gives it more


def exam_row(session: ExamSession, scenario: Scenario, width: int = TITLE_WIDTH) -> Text:
    results = session.results.get(scenario.id)
    if session.finished:
        sc = score(scenario, results or [])
        if results is None:  # never opened: say so, rather than "0/3 checks pass"
            state, style = f"{sc.total:g}/{sc.max_points:g}  not attempted", "dim"
        else:
            state = f"{sc.total:g}/{sc.max_points:g}  {sc.passed_count}/{len(sc.checks)} checks pass"
            style = "bold green" if sc.all_passed else "yellow"
    else:
        state, style = ("checked", "cyan") if results is not None else ("not checked yet", "dim")
    first, *more = wrap_words(scenario.title, width)  # a long title wraps, as on the home screen
    row = Text.assemble((f"{first:<{width}} ", "bold"), (state, style))
    for line in more:
        row.append("\n" + line, "bold")
    return row


class ExamScreen(Screen[None]):
    BINDINGS = EXAM_BINDINGS

    def __init__(self, services: Services, session: ExamSession) -> None:
        super().__init__()
        self.practice = services
        self.services = services.for_exam(session.exam_id)  # the exam's own labs
        self.session = session
        self.finishing = ""  # what the last checks are doing, while the exam is handed in

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="✉")
        yield Static("", id="exam-status")
        yield OptionList(id="exam-list")
        yield Static("", id="exam-total")
        yield Footer(compact=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "finish":  # handed in: f has nothing left to do
            return not self.session.finished
        return True

    def on_mount(self) -> None:
        self.title = "Exam"
        n = len(self.session.scenarios)
        self.sub_title = f"{n} scenario{'s' if n != 1 else ''}, {self.session.seconds / 60:g} minutes"
        self.refresh_rows()
        self.tick()
        self.set_interval(1.0, self.tick)
        self.query_one(OptionList).focus()

    def on_screen_resume(self) -> None:
        self.refresh_rows()

    def on_resize(self) -> None:
        self.refresh_rows()

    def title_width(self) -> int:
        room = self.query_one(OptionList).scrollable_content_region.width - STATE_WIDTH - 4
        longest = max((len(s.title) for s in self.session.scenarios), default=TITLE_WIDTH)
        return max(TITLE_WIDTH, min(longest, room))

    def refresh_rows(self) -> None:
        listing = self.query_one(OptionList)
        keep = listing.highlighted
        width = self.title_width()
        listing.set_options(Option(exam_row(self.session, s, width), id=s.id) for s in self.session.scenarios)
        listing.highlighted = keep if keep is not None else 0
        total = self.query_one("#exam-total", Static)
        if self.finishing:
            total.update(Text(self.finishing, style="bold yellow"))
        elif not self.session.finished:
            total.update(
                Text("Enter opens a scenario (its lab starts); check your work there with c.", style="dim")
            )
        if self.session.finished and not self.finishing:
            earned, worth = self.session.total()
            self.query_one("#exam-total", Static).update(
                Text.assemble(
                    ("Exam score: ", "bold"),
                    (f"{earned:g}/{worth:g}", "bold cyan"),
                    "  — open a scenario to read its transcripts.",
                )
            )

    def tick(self) -> None:
        status = self.query_one("#exam-status", Static)
        if self.session.finished:
            status.update(Text("Exam over: results below; hints and transcripts are open now.", style="bold"))
            return
        left = self.session.remaining()
        status.update(
            Text.assemble(
                (f"{clock(left)} left", "bold yellow" if left > 300 else "bold red"),
                " · hints and transcripts wait for the end · f hands in",
            )
        )
        if left <= 0:
            while self.app.screen is not self and len(self.app.screen_stack) > 1:
                self.app.pop_screen()
            self.notify("Time is up.", markup=False, title="Exam")
            self.finish()

    @on(OptionList.OptionSelected, "#exam-list")
    def open_selected(self, event: OptionList.OptionSelected) -> None:
        from labsim.tui.screens.scenario import ScenarioScreen

        scenario = next((s for s in self.session.scenarios if s.id == event.option.id), None)
        if scenario is not None:
            self.app.push_screen(ScenarioScreen(self.services, scenario, exam=self.session))

    def action_finish(self) -> None:
        if self.session.finished:
            return
        self.app.push_screen(
            ConfirmScreen(
                "Finish the exam",
                "Hand in now? Every scenario you opened is checked one last time; the others score 0.",
                yes="Finish",
            ),
            self._finish_answer,
        )

    def _finish_answer(self, yes: bool | None) -> None:
        if yes:
            self.finish()

    def show_finishing(self, what: str) -> None:
        self.finishing = what
        self.refresh_rows()
        self.refresh_bindings()

    @work(thread=True, exclusive=True, group="exam-finish")
    def finish(self) -> None:
        if self.session.finished:
            return
        self.session.finished = True
        # The last checks can take a while per lab: say which one runs, so the screen is not silent.
        self.app.call_from_thread(self.show_finishing, "Handing in: checking your labs one last time…")
        for scenario in self.session.scenarios:
            if scenario.id not in self.session.opened:
                continue  # never opened in this exam: not attempted, whatever practice did
            try:
                if self.services.lab_info(scenario) is None:
                    continue
                self.app.call_from_thread(
                    self.show_finishing, f"Handing in: checking the lab of {scenario.id}…"
                )
                results = list(self.services.run_checks(scenario))
                self.services.record_run(scenario, results)
            except LabError as exc:
                self.app.call_from_thread(
                    self.notify, f"{scenario.id}: {exc}", markup=False, title="Exam", severity="warning"
                )
                continue
            except Exception as exc:
                self.app.call_from_thread(
                    self.notify,
                    f"{scenario.id}: the checks stopped: {exc}",
                    markup=False,
                    title="Exam",
                    severity="error",
                )
                continue
            self.session.results[scenario.id] = results
        self.app.call_from_thread(self.show_finishing, "")
        self.app.call_from_thread(self.tick)

    def palette_commands(self) -> list[PaletteCommand]:
        commands = [
            PaletteCommand("Open the highlighted scenario", "Its lab starts (enter)", self.action_open),
        ]
        if not self.session.finished:
            commands.append(
                PaletteCommand(
                    "Finish the exam", "Hand in: each scenario you opened is checked (f)", self.action_finish
                )
            )
        commands.append(PaletteCommand("Leave the exam", "Back to the scenarios (escape)", self.action_leave))
        return commands

    def action_open(self) -> None:
        listing = self.query_one(OptionList)
        if listing.highlighted is not None:
            listing.action_select()

    def action_leave(self) -> None:
        if self.session.finished:
            if self.finishing:
                self.notify("Wait a moment: the exam is being handed in.", markup=False, title="Exam")
                return
            self.close_exam()
            return
        question = "Leave without handing in? The exam is not scored, and its labs are removed."
        self.app.push_screen(ConfirmScreen("Leave the exam", question, yes="Leave"), self._leave_answer)

    def _leave_answer(self, yes: bool | None) -> None:
        if yes:
            self.close_exam()

    def close_exam(self) -> None:
        """Back home; the exam's labs go (in the app's worker: this screen is gone meanwhile)."""
        self.app.pop_screen()
        if self.session.opened:
            self.app.run_worker(
                partial(remove_exam_labs, self.app, self.services), thread=True, group="exam-labs"
            )


def remove_exam_labs(app: App[None], services: Services) -> None:
    try:
        gone = services.end_exam()
    except LabError as exc:
        app.call_from_thread(app.notify, str(exc), markup=False, title="Exam", severity="error")
        return
    if gone:
        told = f"The exam's labs were removed: {', '.join(gone)}."
        app.call_from_thread(app.notify, told, markup=False, title="Exam")
