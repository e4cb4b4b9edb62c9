"""What a real terminal would show: the app's screen updates, as written to the terminal, replayed on a grid.

`app.export_screenshot()` renders the whole screen afresh, so it cannot see a region the app forgot to
redraw (a notification left on screen after it was dismissed). This replays what the app would write
to the terminal, update by update, so a test sees what the learner sees. Headless apps write nothing:
the updates are taken where the app hands them to its driver.
"""

from __future__ import annotations

import re
from typing import Any

from rich.cells import cell_len
from textual._compositor import CompositorUpdate
from textual.app import App

# A control sequence: CSI (ESC [ params final), OSC (ESC ] ... BEL/ST), or a two-character escape.
_ESCAPE = re.compile(r"\x1b\[([0-9;?<=>]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


class TerminalMirror:
    def __init__(self, app: App[Any], width: int, height: int, attach: bool = True) -> None:
        self.width, self.height = width, height
        self.cells = [[" "] * width for _ in range(height)]
        self.x = self.y = 0
        if not attach:
            return
        shown = app._display

        def display(screen: Any, renderable: Any) -> None:
            if isinstance(renderable, CompositorUpdate):
                self.feed(renderable.render_segments(app.console))
            shown(screen, renderable)

        app._display = display  # type: ignore[method-assign]

    def feed(self, data: str) -> None:
        at = 0
        for match in _ESCAPE.finditer(data):
            self._text(data[at : match.start()])
            at = match.end()
            if match.group(2) == "H":  # cursor position: row;column, 1-based
                row, _, column = (match.group(1) or "1;1").partition(";")
                self.y, self.x = int(row or 1) - 1, int(column or 1) - 1
        self._text(data[at:])

    def _text(self, text: str) -> None:
        for char in text:
            if char == "\n":
                self.y, self.x = self.y + 1, 0
                continue
            if char == "\r":
                self.x = 0
                continue
            width = cell_len(char)
            if 0 <= self.y < self.height and 0 <= self.x < self.width:
                self.cells[self.y][self.x] = char
                if width == 2 and self.x + 1 < self.width:
                    self.cells[self.y][self.x + 1] = ""
            self.x += width

    def text(self) -> str:
        return "\n".join("".join(row).rstrip() for row in self.cells)


def screen_text(app: App[Any]) -> str:
    """The current screen rendered afresh, as text (what a full redraw puts on the terminal)."""
    width, height = app.size
    fresh = TerminalMirror(app, width, height, attach=False)
    fresh.feed(app.screen._compositor.render_update(full=True).render_segments(app.console))
    return fresh.text()
