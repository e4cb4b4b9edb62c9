"""The lab's mail log, live: the existing lines, then each new one as the server writes it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, RichLog, Static

from labsim.lab.model import LabError
from labsim.scenario.model import Scenario
from labsim.tui.keymap import MODAL_BINDINGS
from labsim.tui.services import LogFollower, Services

EMPTY_AFTER = 1.0  # seconds: the existing lines arrive well before
EMPTY_LOG = "(nothing logged yet: lines appear here as the mail server writes them)"


class MailLogScreen(ModalScreen[None]):
    BINDINGS = MODAL_BINDINGS

    def __init__(self, services: Services, scenario: Scenario) -> None:
        super().__init__()
        self.services = services
        self.scenario = scenario
        self.follower: LogFollower | None = None
        self.lines: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="log-box", classes="modal-box"):
            yield Static(
                "Mail log (/var/log/mail.log), following: new lines appear at the end",
                classes="dialog-title",
            )
            # min_width: RichLog renders at least 78 wide by default, wider than the box at 80x24.
            yield RichLog(
                id="mail-log", wrap=True, highlight=False, markup=False, max_lines=5000, min_width=20
            )
            yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(RichLog).focus()
        try:
            self.follower = self.services.follow_log(self.scenario, self._from_thread)
        except LabError as exc:
            self.notify(str(exc), markup=False, title="Mail log", severity="error")
            return
        self.set_timer(EMPTY_AFTER, self._say_if_empty)

    def _say_if_empty(self) -> None:
        # A blank box looks broken; an empty log is normal before the server has said anything.
        if not self.lines and self.is_attached:
            self.query_one(RichLog).write(Text(EMPTY_LOG, style="dim"))

    def _from_thread(self, line: str) -> None:
        # The follower may call from its own thread or (fakes) from ours.
        try:
            self.app.call_from_thread(self.add_line, line)
        except RuntimeError:
            self.add_line(line)

    def add_line(self, line: str) -> None:
        if not self.is_attached:
            return
        self.lines.append(line)
        self.query_one(RichLog).write(line)

    def on_unmount(self) -> None:
        if self.follower is not None:
            self.follower.stop()

    def action_close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
            self.follower = None
        self.dismiss(None)
