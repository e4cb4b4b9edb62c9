"""The scenario screen's status line: the lab, its backend, whether the server runs, what is busy.

What is busy (starting, checking 2/4) comes first: at 80 columns a long lab id would push it off
the line, and it is what the learner is waiting for. The lab id gives way with an ellipsis.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from labsim.tui.services import LabInfo


class LabStatusLine(Static):
    def __init__(self, id: str | None = None) -> None:
        super().__init__("Lab: starting…", id=id)
        self.info: LabInfo | None = None
        self.busy = ""
        self.extra = ""  # e.g. the exam clock

    def set_info(self, info: LabInfo | None) -> None:
        self.info = info
        self._render_line()

    def set_busy(self, busy: str) -> None:
        self.busy = busy
        self._render_line()

    def set_extra(self, extra: str) -> None:
        if extra != self.extra:
            self.extra = extra
            self._render_line()

    def line(self) -> Text:
        info = self.info
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        if self.extra:
            text.append(f"{self.extra}  ", style="bold")
        if self.busy:
            text.append(f"⟳ {self.busy}  ", style="bold yellow")
        if info is None:
            if not self.busy:
                text.append("Lab: not started", style="dim")
            text.rstrip()
            return text
        server = ("mail server running", "green") if info.running else ("mail server stopped", "red")
        text.append_text(Text.assemble(server, f" · {info.backend} lab ", (info.lab_id, "bold")))
        return text

    def _render_line(self) -> None:
        self.update(self.line())
