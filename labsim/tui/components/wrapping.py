"""Words wrapped into a column, for list rows that must not cut a title or a check in the middle.

A row is a lead (a mark, a score: what the eye scans down) and a text wrapped beside it, its
further lines indented under the text so the lead column stays clear.
"""

from __future__ import annotations

import textwrap

from rich.text import Text


def wrap_words(text: str, width: int) -> list[str]:
    """Lines of at most width characters, broken between words; only a word longer than a line is split."""
    return textwrap.wrap(text, max(width, 1), break_on_hyphens=False) or [""]


def hanging(lead: Text, text: str, width: int, style: str = "") -> Text:
    """lead, then text wrapped to the width left beside it; further lines start under the text."""
    indent = lead.cell_len
    lines = wrap_words(text, width - indent)
    row = lead.copy()
    row.append(lines[0], style)
    for line in lines[1:]:
        row.append("\n" + " " * indent)
        row.append(line, style)
    return row
