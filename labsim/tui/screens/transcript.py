"""A check's transcript: the dialogue or command output the checker saw, as a learner would.

The transcript gets the room: the check's description is said once (the message's own leading
copy of it is cut), and what stands above the transcript scrolls within a few lines of its own.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from labsim.checks.result import CheckResult, message_after
from labsim.tui.keymap import MODAL_BINDINGS


def transcript_about(result: CheckResult, description: str) -> Text:
    """The description once, then what the check found (without the description again)."""
    about = Text()
    if description:
        about.append(description, style="italic")
    message = message_after(description, result.message)
    if message:
        about.append(("\n" if about else "") + message)
    if result.error:
        about.append(("\n" if about else "") + f"Lab error: {result.error}", style="magenta")
    return about


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
            about = transcript_about(r, self.description)
            if about:
                with VerticalScroll(id="transcript-about"):
                    yield Static(about, id="transcript-message")
            with VerticalScroll(id="transcript-scroll"):
                body = r.transcript or "(this check recorded no transcript)"
                yield Static(Text(body), id="transcript-text")
            yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#transcript-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)
