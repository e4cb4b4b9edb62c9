"""The scenario screen's status line: the lab, its backend, whether the server runs, what is busy."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from labsim.tui.services import LabInfo


class LabStatusLine(Static):
    def __init__(self, id: str | None = None) -> None:
        super().__init__("Lab: starting…", id=id)
        self.info: LabInfo | None = None
        self.busy = ""

    def set_info(self, info: LabInfo | None) -> None:
        self.info = info
        self._render_line()

    def set_busy(self, busy: str) -> None:
        self.busy = busy
        self._render_line()

    def _render_line(self) -> None:
        info = self.info
        if info is None:
            text = Text("Lab: not started", style="dim")
        else:
            server = ("server running", "green") if info.running else ("server stopped", "red")
            text = Text.assemble("Lab ", (info.lab_id, "bold"), f" ({info.backend}) ", server)
        if self.busy:
            text.append(f"  ⟳ {self.busy}", style="bold yellow")
        self.update(text)
