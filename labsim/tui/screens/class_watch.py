"""`labsim class watch`: the instructor's dashboard, students x checks, refreshed in the background.

One background thread checks one lab at a time, round robin, and waits
`interval` seconds between two runs, so watching never competes with the
students for the machine. A passed cell shows since when it passes; moving
the cursor shows that check's last transcript and the student's mail log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import get_current_worker

from labsim.classroom.errors import ClassError
from labsim.classroom.watch import RoundRobin, WatchSource
from labsim.lab.model import LabError
from labsim.tui.components.class_grid import ClassGrid
from labsim.tui.components.lab_detail import LabDetail

WATCH_BINDINGS: list[BindingType] = [
    Binding("c", "check_now", "Check now", id="class_watch.check_now"),
    Binding("p", "pause", "Pause/resume", id="class_watch.pause"),
    Binding("q", "quit", "Quit", id="class_watch.quit"),
]


def local_hhmm(at: float) -> str:
    return time.strftime("%H:%M", time.localtime(at))


class ClassWatchScreen(Screen[None]):
    BINDINGS = WATCH_BINDINGS
    DEFAULT_CSS = """
    #watch-status { height: 1; padding: 0 1; background: $panel; }
    #class-grid { height: 1fr; }
    """

    def __init__(
        self,
        source: WatchSource,
        interval: float = 2.0,
        sweeps: int | None = None,
        timefmt: Callable[[float], str] = local_hhmm,
    ) -> None:
        super().__init__()
        self.source = source
        self.interval = max(0.0, interval)
        self.max_sweeps = sweeps  # None: keep watching; tests stop after a few passes
        self.timefmt = timefmt
        self.students = source.roster()
        self.scenarios = source.scenario_list()
        self.plan = RoundRobin([(s.id, sc.id) for s in self.students for sc in self.scenarios])
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self.checking: tuple[str, str] | None = None
        self.checked = 0

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="✉")
        yield Static("", id="watch-status")
        yield ClassGrid(self.students, self.scenarios, self.timefmt, id="class-grid")
        yield LabDetail(id="lab-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.title = f"labsim class {self.source.name}"
        self.sub_title = f"{len(self.students)} students · {self.query_one(ClassGrid).check_count} checks"
        self.query_one(ClassGrid).focus()
        self._status()
        self.sweep()

    def on_unmount(self) -> None:
        self._stop.set()
        self._resume.set()

    # --- the background checks ---------------------------------------------------------

    @work(thread=True, exclusive=True, group="class-checks")
    def sweep(self) -> None:
        while not self._stop.is_set():
            self._resume.wait()
            if self._stop.is_set():
                return
            if self.max_sweeps is not None and self.plan.sweeps >= self.max_sweeps:
                self._post(self._finished)
                return
            pair = self.plan.next()
            if pair is None:
                return
            self._post(self._lab_running, *pair)
            error = ""
            try:
                self.source.check(*pair)
            except (LabError, ClassError) as exc:
                error = str(exc)
            except Exception as exc:  # one broken lab never stops the dashboard
                error = f"{type(exc).__name__}: {exc}"
            if self._stop.is_set():
                return
            self._post(self._checked, pair[0], pair[1], error)
            self._stop.wait(self.interval)

    def _post(self, fn: Callable[..., None], *args: str) -> None:
        """Run fn on the UI thread; after quitting there is no UI to update, and that is fine."""
        try:
            self.app.call_from_thread(fn, *args)
        except RuntimeError:
            self._stop.set()

    def _lab_running(self, student: str, scenario: str) -> None:
        self.checking = (student, scenario)
        self.query_one(ClassGrid).show_running(student, scenario)
        self._status()

    def _checked(self, student: str, scenario: str, error: str) -> None:
        self.checking = None
        self.checked += 1
        grid = self.query_one(ClassGrid)
        grid.show_board(student, self.source.board)
        if error:
            self.notify(f"{student}: {error}", markup=False, title="Class", severity="warning")
        selected = grid.selected()
        if selected is not None and selected[0] == student:
            self._show_selected()
        self._status()

    def _finished(self) -> None:
        self.checking = None
        self._status(done=True)

    def _status(self, done: bool = False) -> None:
        now = (
            "paused"
            if not self._resume.is_set()
            else f"checking {self.checking[0]} ({self.checking[1]})…"
            if self.checking
            else "stopped"
            if done
            else "waiting"
        )
        sweep = f"{self.plan.sweeps} sweep(s) done" if done else f"sweep {self.plan.sweeps + 1}"
        text = Text.assemble(
            ("Class ", "bold"),
            (self.source.name, "bold cyan"),
            f" · {now} · {self.checked} lab check(s) done · {sweep}",
            f" · one lab every {self.interval:g}s at most",
        )
        self.query_one("#watch-status", Static).update(text)

    # --- selection ---------------------------------------------------------------------

    @on(DataTable.CellHighlighted)
    def _highlighted(self, event: DataTable.CellHighlighted) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        selected = self.query_one(ClassGrid).selected()
        if selected is None:
            return
        student, scenario, check = selected
        detail = self.query_one(LabDetail)
        if scenario is not None and check is not None:
            detail.show_transcript(student, check, self.source.board.result(student, scenario, check))
        self.load_log(student, scenario or self.scenarios[0].id)

    @work(thread=True, exclusive=True, group="class-log")
    def load_log(self, student: str, scenario: str) -> None:
        # Reading a container's log takes a round trip to the engine: never on the UI's time.
        try:
            lines: list[str] | str = self.source.mail_log(student, scenario)
        except (LabError, ClassError) as exc:
            lines = f"The mail log cannot be read: {exc}"
        if get_current_worker().is_cancelled:
            return  # the cursor moved on meanwhile
        self.app.call_from_thread(self.query_one(LabDetail).show_log, student, scenario, lines)

    # --- actions -----------------------------------------------------------------------

    def action_check_now(self) -> None:
        selected = self.query_one(ClassGrid).selected()
        if selected is None:
            return
        scenario = selected[1] or self.scenarios[0].id
        self.plan.prioritize((selected[0], scenario))
        self.notify(f"{selected[0]} ({scenario}) is checked next.", markup=False, title="Class")

    def action_pause(self) -> None:
        if self._resume.is_set():
            self._resume.clear()
        else:
            self._resume.set()
        self._status()

    def action_quit(self) -> None:
        self._stop.set()
        self._resume.set()
        self.app.exit()


class ClassWatchApp(App[None]):
    def __init__(
        self,
        source: WatchSource,
        interval: float = 2.0,
        sweeps: int | None = None,
        timefmt: Callable[[float], str] = local_hhmm,
    ) -> None:
        super().__init__()
        self.source = source
        self.interval = interval
        self.sweeps = sweeps
        self.timefmt = timefmt

    def on_mount(self) -> None:
        self.push_screen(ClassWatchScreen(self.source, self.interval, self.sweeps, self.timefmt))


def run_class_watch(source: WatchSource, interval: float = 2.0) -> int:
    ClassWatchApp(source, interval).run()
    return 0
