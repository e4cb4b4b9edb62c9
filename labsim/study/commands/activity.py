"""Showing long work (a lab starting, checks running) on stderr while it happens.

On a terminal the current step stays on one line with a seconds counter, and
is replaced by the next; elsewhere (a pipe, a CI log) each step is one plain line.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO


class Activity:
    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._text = ""
        self._started = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def step(self, text: str) -> None:
        """Say what is being done now (the previous step is over)."""
        with self._lock:
            self._text = text
            self._started = time.monotonic()
            if self.live:
                self._draw()
            else:
                print(f"{text} ...", file=self.stream, flush=True)
        if self.live and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="labsim-activity", daemon=True)
            self._ticker.start()

    def clear(self) -> None:
        """Take the live line away, so that a result can be printed in its place."""
        with self._lock:
            if self.live and self._text:
                self.stream.write("\r\033[K")
                self.stream.flush()
            self._text = ""

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=1)
            self._ticker = None
        self.clear()

    def _draw(self) -> None:
        seconds = int(time.monotonic() - self._started)
        counter = f" {seconds}s" if seconds else ""
        self.stream.write(f"\r\033[K{self._text} ...{counter}")
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                if self._text:
                    self._draw()

    def __enter__(self) -> Activity:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
