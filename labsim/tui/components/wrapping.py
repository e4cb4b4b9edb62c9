"""Words wrapped into a column, for list rows that must not cut a title or a check in the middle.

A row is a lead (a mark, a score: what the eye scans down) and a text wrapped beside it, its
further lines indented under the text so the lead column stays clear.
"""

from __future__ import annotations

import re
import textwrap

from rich.text import Text


def wrap_words(text: str, width: int) -> list[str]:
    """Lines of at most width characters, broken between words; only a word longer than a line is split."""
    return textwrap.wrap(text, max(width, 1), break_on_hyphens=False) or [""]


def hanging(lead: Text, text: str, width: int, style: str = "") -> Text:
    """lead, then text wrapped to the width left beside it; further lines start under the text.
    `code` spans (a scenario's Markdown) are shown in bold, without their backticks."""
    indent = lead.cell_len
    plain, code = _code_spans(text)
    plain = re.sub(r"\s", " ", plain)  # as textwrap sees it: each line is then a slice of it
    bold = f"{style} bold".strip()
    row = lead.copy()
    at = 0
    for n, line in enumerate(wrap_words(plain, width - indent)):
        if n:
            row.append("\n" + " " * indent)
        start = plain.find(line, at)
        if start < 0:  # not expected; the words still show, unstyled
            row.append(line, style)
            continue
        at = start + len(line)
        # Runs of the same style, one span each.
        run_from = start
        for i in range(start + 1, at + 1):
            if i == at or code[i] != code[run_from]:
                row.append(plain[run_from:i], bold if code[run_from] else style)
                run_from = i
    return row


def _code_spans(text: str) -> tuple[str, list[bool]]:
    """The text without backticks, and for each character whether it was inside a pair of them."""
    if text.count("`") < 2:
        return text, [False] * len(text)
    out: list[str] = []
    code: list[bool] = []
    inside = False
    last_tick = text.rfind("`")
    for i, ch in enumerate(text):
        if ch == "`" and (inside or i < last_tick):
            inside = not inside
            continue
        out.append(ch)
        code.append(inside)
    return "".join(out), code
