"""One line saying where labs run (local or docker) and why."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class BackendBanner(Static):
    DEFAULT_CLASSES = "banner"

    def __init__(self, id: str | None = None) -> None:
        super().__init__("Backend: checking…", id=id)

    def show_backend(self, backend: str, reason: str) -> None:
        text = Text.assemble(("Backend: ", "bold"), (backend, "bold cyan"), " — ", reason)
        self.update(text)

    def show_error(self, message: str) -> None:
        self.update(Text.assemble(("Backend: ", "bold"), ("unknown", "bold red"), " — ", message))
