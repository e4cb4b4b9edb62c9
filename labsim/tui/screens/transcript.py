"""A check's transcript: the dialogue or command output the checker saw, as a learner would."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from labsim.checks.result import CheckResult
from labsim.tui.keymap import MODAL_BINDINGS


class TranscriptScreen(ModalScreen[None]):
    BINDINGS = MODAL_BINDINGS

    def __init__(self, result: CheckResult, description: str = "") -> None:
        super().__init__()
        self.result = result
        self.description = description

    def compose(self) -> ComposeResult:
        r = self.result
        style = {"passed": "green", "failed": "red"}.get(r.status, "magenta")
        head = Text.assemble(
            (f"Transcript of {r.check_id}", "bold"),
            " — ",
            (r.status, f"bold {style}"),
            f"  {r.points:g}/{r.max_points:g} points",
        )
        with Vertical(id="transcript-box", classes="modal-box"):
            yield Static(head, classes="dialog-title")
            if self.description:
                yield Static(Text(self.description), classes="muted")
            yield Static(Text(r.message), id="transcript-message")
            if r.error:
                yield Static(Text(f"Lab error: {r.error}", style="magenta"))
            with VerticalScroll(id="transcript-scroll"):
                body = r.transcript or "(this check recorded no transcript)"
                yield Static(Text(body), id="transcript-text")
            yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#transcript-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)
