"""Below the class grid: the selected check's last transcript, and the student's mail log."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from labsim.checks.result import CheckResult


class LabDetail(Horizontal):
    DEFAULT_CSS = """
    LabDetail { height: 45%; border-top: hkey $primary 50%; }
    LabDetail > VerticalScroll { width: 1fr; padding: 0 1; }
    LabDetail #detail-log-scroll { border-left: vkey $primary 50%; }
    LabDetail .detail-title { text-style: bold; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-transcript-scroll"):
            yield Static("Transcript", id="detail-transcript-title", classes="detail-title")
            yield Static(Text("Select a check in the grid.", style="dim"), id="detail-transcript")
        with VerticalScroll(id="detail-log-scroll"):
            yield Static("Mail log", id="detail-log-title", classes="detail-title")
            yield Static(Text("Select a student in the grid.", style="dim"), id="detail-log")

    def show_transcript(self, student: str, check_id: str, result: CheckResult | None) -> None:
        title = self.query_one("#detail-transcript-title", Static)
        body = self.query_one("#detail-transcript", Static)
        if result is None:
            title.update(Text.assemble(("Transcript ", "bold"), f"{student} · {check_id}"))
            body.update(Text("Not checked yet in this session.", style="dim"))
            return
        style = {"passed": "green", "failed": "red"}.get(result.status, "magenta")
        title.update(
            Text.assemble(
                ("Transcript ", "bold"),
                f"{student} · {check_id} ",
                (result.status, f"bold {style}"),
                f" {result.points:g}/{result.max_points:g}",
            )
        )
        text = Text(result.message + "\n\n")
        text.append(result.transcript or "(this check recorded no transcript)", style="dim")
        body.update(text)

    def show_log(self, student: str, scenario: str, lines: list[str] | str) -> None:
        self.query_one("#detail-log-title", Static).update(
            Text.assemble(("Mail log ", "bold"), f"{student} · {scenario}")
        )
        if isinstance(lines, str):  # an error or a notice
            self.query_one("#detail-log", Static).update(Text(lines, style="dim"))
            return
        shown = "\n".join(lines[-40:]) if lines else "(the mail log is empty)"
        self.query_one("#detail-log", Static).update(Text(shown))
        # The newest lines are the ones an instructor looks for: keep the end in sight, as tail -f.
        scroll = self.query_one("#detail-log-scroll", VerticalScroll)
        scroll.call_after_refresh(scroll.scroll_end, animate=False)
