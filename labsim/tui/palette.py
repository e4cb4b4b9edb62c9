"""What a screen offers the command palette: the app asks the active screen for `palette_commands()`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class PaletteCommand:
    title: str
    help: str
    action: Callable[[], object]
