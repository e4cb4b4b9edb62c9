"""Following a lab's mail log in the background, for a screen that shows it live."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Protocol


class LogFollower(Protocol):
    def stop(self) -> None: ...


class ThreadFollower:
    """Follows lab.logs() in a daemon thread: a quiet log blocks only that thread, never exit."""

    def __init__(self, lines: Iterator[str], on_line: Callable[[str], None]) -> None:
        self._lines = lines
        self._on_line = on_line
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="labsim-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for line in self._lines:
                if self._stopped.is_set():
                    break
                self._on_line(line)
        except Exception as exc:  # a vanished lab or a closed app ends the follow, quietly for the app
            if not self._stopped.is_set():
                with suppress(Exception):
                    self._on_line(f"[labsim: the mail log stopped: {exc}]")

    def stop(self) -> None:
        self._stopped.set()
