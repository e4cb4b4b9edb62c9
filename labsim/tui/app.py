"""The labsim app: home screen, scenarios, exam; the command palette knows each screen's actions."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from weakref import WeakSet

from textual.app import App, ScreenStackError, SystemCommand
from textual.notifications import Notification
from textual.screen import Screen

from labsim.checks.result import CheckResult
from labsim.scenario.model import Scenario
from labsim.tui.keymap import APP_BINDINGS, load_keymap
from labsim.tui.screens.home import HOME_TITLE, HomeScreen
from labsim.tui.screens.scenario import ScenarioScreen
from labsim.tui.services import RealServices, SafeServices, Services, running_message

CSS_FILE = Path(__file__).with_name("labsim.tcss")
SCREENSHOTS = "screenshots"  # under labsim's data dir (LABSIM_HOME or the platform's)


class LabsimApp(App[None]):
    CSS_PATH = CSS_FILE
    TITLE = HOME_TITLE
    BINDINGS = APP_BINDINGS
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        services: Services | None = None,
        keymap_file: Path | None = None,
        exam_minutes: int = 60,
        exam_at_start: bool = False,
    ) -> None:
        super().__init__()
        self.services: Services = SafeServices(services if services is not None else RealServices())
        self.keymap_file = keymap_file
        self.exam_minutes = exam_minutes
        self.exam_at_start = exam_at_start
        self.checks_in_flight: set[str] = set()  # run keys (scenario ids); see ScenarioScreen.run_key
        # A run in flight: its results so far and the check running now, for a screen opened meanwhile.
        self.check_progress: dict[str, tuple[list[CheckResult], str | None]] = {}
        self._toast_watch: WeakSet[Screen[Any]] = WeakSet()  # screens to redraw when a toast has gone

    def on_mount(self) -> None:
        keymap, problems = load_keymap(self.keymap_file)
        if keymap:
            self.set_keymap(keymap)
        for problem in problems:
            self.notify(problem, markup=False, title="Keymap", severity="warning")
        home = HomeScreen(self.services, exam_at_start=self.exam_at_start)
        self.push_screen(home)

    def notifications_shown(self) -> int:
        """How many notifications are on screen (expired ones are forgotten as they are counted)."""
        return len(self._notifications)

    def action_dismiss_notifications(self) -> None:
        self.clear_notifications()

    # --- a notification gone is a notification off the terminal ---
    # Textual 8.2.8 can leave a removed toast's box on the terminal: after a scroll (the brief
    # scrolled to a new hint) the compositor's full map is stale and is rebuilt lazily once the
    # toast has left the DOM, so the layout that follows does not see the toast go and never
    # redraws where it was. The fix: once a removed toast has left the screen, redraw the screen.
    def _unnotify(self, notification: Notification, refresh: bool = True) -> None:
        super()._unnotify(notification, refresh)  # a toast's timeout or a click on it
        self._redraw_after_toasts()

    def clear_notifications(self) -> None:
        super().clear_notifications()  # ctrl+l
        self._redraw_after_toasts()

    def _redraw_after_toasts(self) -> None:
        try:
            screen = self.screen
        except ScreenStackError:  # closing
            return
        # Only with a toast on its way out: a modal redrawn as it was pushed (ctrl+l with nothing
        # shown) lost the row of the screen below that shows through it.
        if screen in self._toast_watch or not self._leaving_toasts(screen):
            return
        self._toast_watch.add(screen)
        # immediate: called inside the layout pass, so the redraw asked for below is done in the
        # same update, after the layout without the toast.
        screen.screen_layout_refresh_signal.subscribe(self, self._toast_layout, immediate=True)

    def _leaving_toasts(self, screen: Screen[Any]) -> bool:
        """Whether the screen still holds a toast whose notification is gone."""
        for toast in screen.query("Toast"):
            shown = getattr(toast, "_notification", None)  # what Textual's ToastRack compares too
            if isinstance(shown, Notification) and shown not in self._notifications:
                return True
        return False

    def _toast_layout(self, screen: Screen[Any]) -> None:
        """A layout pass on a screen with a toast on its way out: redraw once none is left."""
        current = screen.is_current
        if current and self._leaving_toasts(screen):
            return  # still in the DOM: its removal ends with a layout pass, which calls again
        screen.screen_layout_refresh_signal.unsubscribe(self)
        self._toast_watch.discard(screen)
        # A screen under another one is redrawn whole when it is shown again (Textual's resume).
        if current:
            screen.refresh()

    def open_scenario(self, scenario: Scenario) -> None:
        self.push_screen(ScenarioScreen(self.services, scenario))

    def start_exam(self, scenarios: list[Scenario]) -> None:
        from labsim.tui.screens.exam import ExamScreen, ExamSession

        if not scenarios:
            self.notify("No scenario to put in an exam: clear the filter first.", markup=False, title="Exam")
            return
        self.push_screen(ExamScreen(self.services, ExamSession(scenarios, self.exam_minutes * 60.0)))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.callback == self.action_quit:  # say what quitting does to the labs
                command = SystemCommand(
                    "Quit", "Leave labsim; your labs keep running for next time (q)", command.callback
                )
            yield command
        if self.notifications_shown():
            yield SystemCommand(
                "Dismiss the notifications",
                "Clear the messages on screen (ctrl+l, or a click on one)",
                self.action_dismiss_notifications,
            )
        palette = getattr(screen, "palette_commands", None)
        if callable(palette):
            for command in palette():
                yield SystemCommand(command.title, command.help, command.action)

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """The palette's Screenshot: into labsim's data dir (Textual's default, ~/Downloads, may not
        exist), and the notification says where."""
        from labsim.paths import data_home

        folder = Path(path) if path else data_home() / SCREENSHOTS
        stem = time.strftime("labsim-%Y%m%d-%H%M%S")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            name, n = filename or f"{stem}.svg", 1
            while filename is None and (folder / name).exists():  # two in one second: keep both
                n += 1
                name = f"{stem}-{n}.svg"
            saved = self.save_screenshot(name, str(folder))
        except OSError as exc:
            self.notify(
                f"Could not save the screenshot in {folder}: {exc.strerror or exc}.",
                markup=False,
                title="Screenshot",
                severity="error",
            )
            return None
        self.notify(f"Saved the screenshot: {saved}", markup=False, title="Screenshot")
        return saved

    def running_labs_message(self) -> str:
        try:
            return running_message(self.services.running_labs())
        except Exception as exc:  # the app is closing: say what we can
            return f"labsim: could not list running labs ({exc})."


def run_tui(services: Services | None = None, exam_minutes: int | None = None) -> int:
    """The app; with exam_minutes, straight into an exam over every listed scenario."""
    app = LabsimApp(services, exam_minutes=exam_minutes or 60, exam_at_start=exam_minutes is not None)
    app.run()
    print(app.running_labs_message())
    return 0
