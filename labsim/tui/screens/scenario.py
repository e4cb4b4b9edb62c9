"""A scenario: the brief and current task, the checks and their states, and every action on the lab."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Markdown, OptionList, Static

from labsim.checks.result import CheckResult
from labsim.lab.model import LabError
from labsim.scenario.model import Scenario
from labsim.scenario.text import hint_cost_text
from labsim.tui.components.check_detail import CheckDetail
from labsim.tui.components.check_list import CheckList
from labsim.tui.components.lab_status import LabStatusLine
from labsim.tui.keymap import SCENARIO_BINDINGS
from labsim.tui.palette import PaletteCommand
from labsim.tui.screens.confirm import ConfirmScreen
from labsim.tui.screens.mail_log import MailLogScreen
from labsim.tui.screens.solution import SolutionScreen
from labsim.tui.screens.transcript import TranscriptScreen
from labsim.tui.services import ChecksUnavailable, HintShown, LabInfo, Services

if TYPE_CHECKING:
    from labsim.tui.app import LabsimApp
    from labsim.tui.screens.exam import ExamSession


def scenario_markdown(scenario: Scenario, task_id: str | None, hints: dict[str, list[str]]) -> str:
    # The title in bold, not as a heading: the header shows it too, and at 80x24 a centred
    # heading costs the brief four of its twenty lines.
    parts = [f"**{scenario.title}**", "", scenario.brief.strip(), ""]
    task = scenario.task(task_id) if task_id else None
    if task is not None:
        n = scenario.tasks.index(task) + 1
        parts += [f"## Task {n} of {len(scenario.tasks)}: {task.title or task.id}", "", task.text.strip(), ""]
        shown = hints.get(task.id, [])
        if shown:
            parts += ["### Hints", ""]
            parts += [f"{i}. {text}" for i, text in enumerate(shown, 1)]
            parts.append("")
    return "\n".join(parts)


def start_failure(output: str) -> str:
    """What starting the services said, for the notification: the last few lines, as the CLI shows."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    said = "\n".join(lines[-3:]) if lines else "it printed nothing"
    return (
        f"The lab is up but its mail server is not running:\n{said}\n"
        "Find out why: the mail log (l), a shell (s)."
    )


class ScenarioScreen(Screen[None]):
    BINDINGS = SCENARIO_BINDINGS
    # Below 90 columns the footer has no room left for q Quit: the status bar says it.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (90, "-wide")]

    def __init__(self, services: Services, scenario: Scenario, exam: ExamSession | None = None) -> None:
        super().__init__()
        self.services = services
        self.scenario = scenario
        self.exam = exam
        self.lab: LabInfo | None = None
        self.checks_running = False
        self.started_here = False  # whether the run going on was started on this screen
        self.checks_busy = ""  # what the status line says while checks run ("checking 2/3…")
        self.busy = ""
        self.hints: dict[str, list[str]] = {}
        self.opened_at = time.monotonic()
        self.last_score: str = ""

    # --- layout ---
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="✉")
        with Horizontal(id="status-bar"):
            yield LabStatusLine(id="lab-status")
            # Footer has no room for esc (hidden binding) and, below ~90 columns, for q.
            yield Static("esc back", classes="nav-hint")
            yield Static("esc back · q quit", classes="nav-hint -narrow-only")
        with Horizontal(id="scenario-main"):
            with VerticalScroll(id="brief-scroll"):
                first = self.scenario.tasks[0].id if self.scenario.tasks else None
                yield Markdown(scenario_markdown(self.scenario, first, {}), id="brief")
            with Vertical(id="side"):
                yield CheckList(self.scenario, id="checks")
                with VerticalScroll(id="detail-scroll"):
                    yield CheckDetail(id="check-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        # Kept: a worker may outlive this screen, and a detached screen has no app to ask for.
        self.owner: LabsimApp = cast("LabsimApp", self.app)
        self.title = self.scenario.title
        self.sub_title = (
            "exam" if self.exam else f"{self.scenario.difficulty}, ~{self.scenario.estimated_minutes} min"
        )
        self.check_list.hiding = self.hiding
        self.check_list.focus()
        if self.exam is not None:
            self.exam.opened.add(self.scenario.id)  # handed in, it is graded; the others are not
        if self.run_key in self.in_flight:
            # A run started before (from a screen since left) goes on: show it running, and its
            # results as they come (see _live).
            self.checks_running = True
            so_far, nxt = self.owner.check_progress.get(self.run_key, ([], None))
            self.show_results(so_far)
            self.check_list.set_running(nxt)
            self.checks_busy = "checking (started earlier)…"
            self.set_busy(self.checks_busy)
        elif self.exam is not None:
            self.show_results(self.exam.results.get(self.scenario.id, []))
        else:
            self.load_last_run()
        self.refresh_brief()
        if self.exam is not None:
            self.exam_tick()
            self.set_interval(1.0, self.exam_tick)
        self.start_lab()

    @property
    def run_key(self) -> str:
        """What a check run is known by app-wide: an exam's lab is not the practice lab."""
        return f"{self.exam.exam_id}:{self.scenario.id}" if self.exam is not None else self.scenario.id

    def show_results(self, results: list[CheckResult]) -> None:
        for result in results:
            self.check_list.set_result(result)

    @work(thread=True, exclusive=True, group="last-run")
    def load_last_run(self) -> None:
        """The last recorded run's results: coming back to a scenario must not look unchecked."""
        try:
            results = self.services.last_results(self.scenario)
        except LabError as exc:
            self._ui(self.report_error, exc, "Checks")
            return
        self._ui(self.last_run_loaded, results)

    def last_run_loaded(self, results: list[CheckResult]) -> None:
        if self.checks_running or self.check_list.results:  # a newer run has begun meanwhile
            return
        self.show_results(results)
        self.refresh_brief()

    def exam_tick(self) -> None:
        """In an exam the clock stays in sight on the scenario screen too."""
        from labsim.tui.screens.exam import clock

        if self.exam is None:
            return
        if self.check_list.hiding != self.hiding:  # the exam just ended: show everything now
            self.check_list.hiding = self.hiding
            self.check_list.rebuild()
            self.show_detail()
            self.refresh_bindings()
        if self.exam.finished:
            self.query_one(LabStatusLine).set_extra("exam over")
        else:
            self.query_one(LabStatusLine).set_extra(f"exam: {clock(self.exam.remaining())} left")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # x says what it will do: "Stop" while the server runs, "Start" when it is stopped or the
        # lab did not start at all.
        stopped = (self.lab is not None and not self.lab.running) or (self.lab is None and not self.busy)
        if action == "stop_lab":
            return not stopped
        if action == "start_lab":
            return stopped
        if action in ("transcript", "hint", "reveal"):  # out of the footer while the exam runs
            return not self.hiding
        if action == "exam_refuse":
            return self.hiding
        return True

    def action_exam_refuse(self, what: str) -> None:
        told = {
            "transcript": "Transcripts are shown when the exam ends.",
            "hint": "Hints are not available during the exam.",
            "solution": "The solution is not available during the exam.",
        }
        self.notify(told.get(what, "Not during the exam."), markup=False, title="Exam")

    @property
    def in_flight(self) -> set[str]:
        """Scenarios whose checks are running, app-wide: a run goes on after its screen is left."""
        return self.owner.checks_in_flight

    @property
    def check_list(self) -> CheckList:
        return self.query_one(CheckList)

    def refresh_brief(self, show_end: bool = False) -> None:
        """Redraw the brief; show_end scrolls to its end, where the current task's hints are."""
        task_id = self.check_list.current_task_id()
        text = scenario_markdown(self.scenario, task_id, self.hints)
        brief = self.query_one("#brief", Markdown)
        pending = None
        if brief.source != text:  # rebuilding the Markdown widget is the costly part of a redraw
            pending = brief.update(text)
        if show_end:
            self.run_worker(self._scroll_brief_end(pending), exclusive=True, group="brief-scroll")
        self.show_detail()

    async def _scroll_brief_end(self, pending: Awaitable[None] | None) -> None:
        if pending is not None:
            await pending  # the new blocks are mounted; their height is known after a refresh
        scroll = self.query_one("#brief-scroll", VerticalScroll)
        scroll.call_after_refresh(scroll.scroll_end, animate=False)

    def show_detail(self) -> None:
        check_id = self.check_list.selected_id
        spec = self.scenario.check(check_id) if check_id else None
        result = self.check_list.results.get(check_id) if check_id else None
        self.query_one(CheckDetail).show(spec, result, hidden=self.hiding)

    @property
    def hiding(self) -> bool:
        """In an exam, hints and transcripts wait for the end."""
        return self.exam is not None and not self.exam.finished

    @on(OptionList.OptionHighlighted, "#checks")
    def check_highlighted(self) -> None:
        self.show_detail()

    @on(OptionList.OptionSelected, "#checks")
    def check_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_transcript()

    def set_busy(self, busy: str) -> None:
        if not busy and self.checks_running:  # the lab's work is done; the checks still run
            busy = self.checks_busy
        self.busy = busy
        self.query_one(LabStatusLine).set_busy(busy)
        self.refresh_bindings()

    def set_lab(self, info: LabInfo | None) -> None:
        self.lab = info
        self.query_one(LabStatusLine).set_info(info)
        self.refresh_bindings()  # x: stop or start

    def report_error(self, exc: BaseException, title: str) -> None:
        if isinstance(exc, ChecksUnavailable):
            self.notify(str(exc), title=title, severity="warning", timeout=10)
        else:
            self.notify(str(exc), title=title, severity="error", timeout=10)

    def _ui(self, fn: Callable[..., object], *args: object) -> None:
        self.owner.call_from_thread(self._if_shown, fn, *args)

    def _if_shown(self, fn: Callable[..., object], *args: object) -> None:
        # A worker may outlive the screen (the learner went back home): then its updates have
        # nowhere to go. A check run's do (_result_came, _run_ended): they find the live screen.
        if self.is_attached:
            fn(*args)

    # --- the lab ---
    @work(thread=True, exclusive=True, group="lab")
    def start_lab(self, again: bool = False) -> None:
        self._ui(self.set_busy, "starting the lab…")
        try:
            info = self.services.open_lab(self.scenario)
            taken = self.services.hints_taken(self.scenario)
        except LabError as exc:
            self._ui(self.report_error, exc, "Lab")
            self._ui(self.set_busy, "")
            return
        self._ui(self.lab_started, info, taken, again)

    def lab_started(self, info: LabInfo, taken: dict[str, int], again: bool = False) -> None:
        self.set_busy("")
        self.set_lab(info)
        if not self.hiding:
            for task in self.scenario.tasks:
                self.hints[task.id] = [h.text for h in task.hints[: taken.get(task.id, 0)]]
        self.refresh_brief()
        if info.start_failed:
            self.notify(
                start_failure(info.start_output), markup=False, title="Lab", severity="warning", timeout=15
            )
        elif again:
            self.notify("The lab is running again.", markup=False, title="Lab")

    @work(thread=True, exclusive=True, group="lab")
    def refresh_lab(self) -> None:
        try:
            info = self.services.lab_info(self.scenario)
        except LabError as exc:
            self._ui(self.report_error, exc, "Lab")
            return
        self._ui(self.set_lab, info)

    def require_lab(self) -> bool:
        if self.lab is None:
            # Still starting, or the start failed (its error was shown): say which, and what to do.
            message = f"Wait a moment: {self.busy}" if self.busy else "The lab did not start: x tries again."
            self.notify(message, markup=False, title="Lab", severity="warning")
            return False
        return True

    # --- actions ---
    def action_shell(self) -> None:
        if not self.require_lab():
            return
        code: int | None = None
        try:
            try:
                with self.app.suspend():
                    # The shell's own prompt does not say how to get back: say it once, first.
                    print(f"labsim: a shell in the lab of {self.scenario.id}; type exit to come back.")
                    code = self.services.shell(self.scenario)
            except SuspendNotSupported:
                if not self.app.is_headless:
                    raise
                code = self.services.shell(self.scenario)  # tests: no terminal to hand over
        except SuspendNotSupported:
            self.notify(
                "This terminal cannot hand itself to a shell.", markup=False, title="Shell", severity="error"
            )
        except LabError as exc:
            self.report_error(exc, "Shell")
        if code is not None:
            self.notify(f"Back from the lab shell (exit {code}).", markup=False, title="Shell")
        self.refresh_lab()

    def action_run_checks(self) -> None:
        if not self.require_lab():
            return
        in_flight = self.in_flight
        if self.run_key in in_flight and not self.started_here:
            self.notify(
                "The checks you started earlier are still running; their score will be shown when they end.",
                markup=False,
                title="Checks",
            )
            return
        if self.checks_running:
            self.notify("The checks are already running.", markup=False, title="Checks")
            return
        self.checks_running = True
        self.started_here = True
        self.checks_busy = f"checking 1/{len(self.scenario.checks())}…"
        in_flight.add(self.run_key)
        self.owner.check_progress[self.run_key] = ([], None)
        self.check_list.clear_results()
        # The app's worker, not this screen's: leaving the scenario must not drop the run.
        self.owner.run_worker(self.run_checks, thread=True, group=f"checks:{self.run_key}")

    def run_checks(self) -> None:
        try:
            self._run_checks()
        finally:
            self.owner.call_from_thread(self._checks_ended)

    def _checks_ended(self) -> None:
        self.in_flight.discard(self.run_key)
        self.owner.check_progress.pop(self.run_key, None)

    def _live(self) -> ScenarioScreen | None:
        """The screen showing this scenario now: this one, or the one opened again after leaving it."""
        if self.is_attached:
            return self
        for screen in reversed(self.owner.screen_stack):
            if isinstance(screen, ScenarioScreen) and screen.is_attached and screen.run_key == self.run_key:
                return screen
        return None

    def _result_came_none(self, first: str | None) -> None:
        self.owner.check_progress[self.run_key] = ([], first)

    def _result_came(self, result: CheckResult, nxt: str | None, done: int, total: int) -> None:
        so_far, _ = self.owner.check_progress.get(self.run_key, ([], None))
        self.owner.check_progress[self.run_key] = ([*so_far, result], nxt)
        live = self._live()
        if live is not None:
            live.check_result(result, nxt, done, total)

    def _run_ended(self, results: list[CheckResult], total: float | None, max_points: float | None) -> None:
        if self.exam is not None:
            self.exam.results[self.scenario.id] = results
        live = self._live()
        if live is not None:
            live.checks_done(results, total, max_points)
        else:
            self.checks_done_away(results, total, max_points)

    def _run_checks(self) -> None:
        order = [c.id for c in self.scenario.checks()]
        results: list[CheckResult] = []
        self._ui(self.set_busy, f"checking 1/{len(order)}…")
        self._ui(self.check_list.set_running, order[0] if order else None)
        self.owner.call_from_thread(self._result_came_none, order[0] if order else None)
        try:
            for result in self.services.run_checks(self.scenario):
                results.append(result)
                nxt = order[len(results)] if len(results) < len(order) else None
                self.owner.call_from_thread(self._result_came, result, nxt, len(results), len(order))
            grade = self.services.record_run(self.scenario, results) if results else None
        except LabError as exc:  # SafeServices turns a broken checker into one too
            self._ui(self.report_error, exc, "Checks")
            grade = None
        self.owner.call_from_thread(
            self._run_ended,
            results,
            grade.score.total if grade else None,
            grade.score.max_points if grade else None,
        )

    def check_result(self, result: CheckResult, nxt: str | None, done: int, total: int) -> None:
        self.check_list.set_result(result)
        self.check_list.set_running(nxt)
        if nxt is not None:
            self.checks_busy = f"checking {done + 1}/{total}…"
            self.set_busy(self.checks_busy)
        self.show_detail()

    def checks_done(self, results: list[CheckResult], total: float | None, max_points: float | None) -> None:
        self.checks_running = self.started_here = False
        self.checks_busy = ""
        self.check_list.set_running(None)
        self.set_busy("")
        self.refresh_brief()
        if total is None or max_points is None:
            return
        passed = sum(1 for r in results if r.passed)
        self.last_score = f"{total:g}/{max_points:g}"
        if self.hiding:
            self.notify(f"{passed} of {len(results)} checks pass.", markup=False, title="Checks")
        elif passed == len(self.scenario.checks()):
            self.notify(f"All checks pass. Score {self.last_score}.", markup=False, title="Checks")
        else:
            self.notify(
                f"{passed} of {len(results)} checks pass. Score {self.last_score}. "
                "Read a failed check's transcript (t).",
                markup=False,
                title="Checks",
            )

    def checks_done_away(
        self, results: list[CheckResult], total: float | None, max_points: float | None
    ) -> None:
        """The run ended after the learner left the scenario: it is recorded; say so wherever they are."""
        if total is None or max_points is None:
            return
        passed = sum(1 for r in results if r.passed)
        told = f"{passed} of {len(results)} checks pass"
        if not self.hiding:
            told += f". Score {total:g}/{max_points:g}"
        self.owner.notify(f"{self.scenario.title}: {told}.", markup=False, title="Checks")
        refresh = getattr(self.owner.screen, "load_rows", None)
        if callable(refresh):  # the home screen shows progress
            refresh()

    def action_transcript(self) -> None:
        if self.hiding:
            self.notify("Transcripts are shown when the exam ends.", markup=False, title="Exam")
            return
        check_id = self.check_list.selected_id
        result = self.check_list.results.get(check_id) if check_id else None
        if result is None:
            self.notify("That check has not run yet: run the checks (c).", markup=False, title="Transcript")
            return
        spec = self.scenario.check(result.check_id)
        self.app.push_screen(TranscriptScreen(result, spec.description if spec else ""))

    def action_hint(self) -> None:
        if self.hiding:
            self.notify("Hints are not available during the exam.", markup=False, title="Exam")
            return
        if not self.require_lab():
            return
        task_id = self.check_list.current_task_id()
        if task_id is not None:
            self.take_hint(task_id)

    @work(thread=True, exclusive=True, group="hint")
    def take_hint(self, task_id: str) -> None:
        try:
            shown = self.services.next_hint(self.scenario, task_id)
        except LabError as exc:
            self._ui(self.report_error, exc, "Hint")
            return
        self._ui(self.hint_shown, task_id, shown)

    def hint_shown(self, task_id: str, shown: HintShown | None) -> None:
        if shown is None:
            self.notify("No more hints for this task.", markup=False, title="Hint")
            return
        listed = self.hints.setdefault(task_id, [])
        if shown.hint.text not in listed:
            listed.append(shown.hint.text)
        self.refresh_brief(show_end=True)  # the hints are listed at the end of the brief
        # Long enough to read; ctrl+l or a click dismisses it sooner (app.dismiss_notifications).
        self.notify(
            shown.hint.text,
            title=f"Hint {shown.index + 1} of {shown.total} ({hint_cost_text(shown.cost)})",
            markup=False,  # a hint quotes configs and protocol lines: [imap], [AUTH] are text
            timeout=15,
        )

    def action_mail_log(self) -> None:
        if self.require_lab():
            self.app.push_screen(MailLogScreen(self.services, self.scenario))

    def action_reset(self) -> None:
        if not self.require_lab():
            return
        question = (
            "Reset the lab to its fresh state? Everything done in it is wiped; "
            "the /etc files you changed are saved in the lab's backups folder. "
            "Your score so far stays in your progress; a new attempt begins."
        )
        self.app.push_screen(ConfirmScreen("Reset the lab", question, yes="Reset"), self._reset_answer)

    def _reset_answer(self, yes: bool | None) -> None:
        if yes:
            self.reset_lab()

    @work(thread=True, exclusive=True, group="lab")
    def reset_lab(self) -> None:
        self._ui(self.set_busy, "resetting the lab…")
        try:
            backup = self.services.reset(self.scenario)
            info = self.services.lab_info(self.scenario)
        except LabError as exc:
            self._ui(self.report_error, exc, "Reset")
            self._ui(self.set_busy, "")
            return
        saved = f" Your edited /etc files are in {backup}." if backup else ""
        self._ui(self.after_reset, info, f"The lab is fresh again.{saved}")

    def after_reset(self, info: LabInfo | None, message: str) -> None:
        self.set_busy("")
        self.set_lab(info)
        self.check_list.clear_results()
        self.refresh_brief()
        self.notify(message, markup=False, title="Reset", timeout=10)

    def action_reveal(self) -> None:
        if self.hiding:
            self.notify("The solution is not available during the exam.", markup=False, title="Exam")
            return
        if not self.require_lab():
            return
        question = (
            "Show the reference solution? This is recorded: this attempt will no longer count "
            "for your best score."
        )
        self.app.push_screen(
            ConfirmScreen("Reveal the solution", question, yes="Reveal"), self._reveal_answer
        )

    def _reveal_answer(self, yes: bool | None) -> None:
        if yes:
            self.reveal()

    @work(thread=True, exclusive=True, group="reveal")
    def reveal(self) -> None:
        try:
            solution = self.services.reveal_solution(self.scenario)
        except LabError as exc:
            self._ui(self.report_error, exc, "Solution")
            return
        self._ui(self.app.push_screen, SolutionScreen(solution.markdown))

    def action_stop_lab(self) -> None:
        """x stops a running lab (and, as start_lab, starts a stopped one)."""
        if not self.require_lab():
            return
        if self.lab is not None and not self.lab.running:
            self.start_lab(again=True)
        else:
            self.stop_lab()

    def action_start_lab(self) -> None:
        if self.lab is None and not self.busy:  # the first start failed: try again
            self.start_lab()
        elif self.require_lab():
            self.start_lab(again=True)

    @work(thread=True, exclusive=True, group="lab")
    def stop_lab(self) -> None:
        self._ui(self.set_busy, "stopping the lab…")
        try:
            self.services.stop(self.scenario)
            info = self.services.lab_info(self.scenario)
        except LabError as exc:
            self._ui(self.report_error, exc, "Stop")
            self._ui(self.set_busy, "")
            return
        self._ui(self.set_busy, "")
        self._ui(self.set_lab, info)
        self._ui(self.lab_stopped)

    def lab_stopped(self) -> None:
        self.notify("The lab is stopped; x starts it again.", markup=False, title="Lab")

    def action_back(self) -> None:
        self.app.pop_screen()

    def on_unmount(self) -> None:
        with contextlib.suppress(LabError):
            self.services.add_time(self.scenario, time.monotonic() - self.opened_at)

    def palette_commands(self) -> list[PaletteCommand]:
        commands = [
            PaletteCommand(
                "Open a shell in the lab", "Suspend labsim and work in the lab (s)", self.action_shell
            ),
            PaletteCommand("Run the checks", "Check the lab and score it (c)", self.action_run_checks),
            PaletteCommand("Show the mail log", "Follow /var/log/mail.log live (l)", self.action_mail_log),
            PaletteCommand(
                "Reset the lab", "Back to the fresh lab, after a confirmation (r)", self.action_reset
            ),
            PaletteCommand(
                "Stop or start the lab", "Stop the lab's mail server, or start it (x)", self.action_stop_lab
            ),
        ]
        if not self.hiding:
            commands += [
                PaletteCommand(
                    "Show the transcript", "What the highlighted check saw (t)", self.action_transcript
                ),
                PaletteCommand("Show the next hint", "Graduated, and counted (h)", self.action_hint),
                PaletteCommand(
                    "Reveal the solution", "After a confirmation; recorded (v)", self.action_reveal
                ),
            ]
        return commands
