"""The reference solution, in Markdown (shown only after a confirmation, and recorded)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Markdown, Static

from labsim.tui.keymap import MODAL_BINDINGS


class SolutionScreen(ModalScreen[None]):
    BINDINGS = MODAL_BINDINGS

    def __init__(self, markdown: str) -> None:
        super().__init__()
        self.markdown = markdown

    def compose(self) -> ComposeResult:
        with Vertical(id="solution-box", classes="modal-box"):
            yield Static(
                "Reference solution (this attempt no longer counts for your best score)",
                classes="dialog-title",
            )
            with VerticalScroll(id="solution-scroll"):
                yield Markdown(self.markdown)
            yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#solution-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)
