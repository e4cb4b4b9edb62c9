"""Check rows: a scenario's `code` spans shown in bold, without their backticks, wrapped whole."""

from __future__ import annotations

from rich.text import Text

from labsim.tui.components.wrapping import hanging


def bold_parts(row: Text) -> list[str]:
    return [row.plain[s.start : s.end] for s in row.spans if "bold" in str(s.style)]


def test_code_spans_lose_their_backticks_and_keep_their_words_together() -> None:
    row = hanging(Text("✘ 0/1 "), "`protocols` lists imap; `service dovecot restart` applies it", 36)
    assert row.plain == "✘ 0/1 protocols lists imap; service\n      dovecot restart applies it"
    assert bold_parts(row) == ["protocols", "service", "dovecot restart"]


def test_a_lone_backtick_is_text_and_the_row_style_stays() -> None:
    row = hanging(Text("1. "), "the `quote mark", 40, "bold")
    assert row.plain == "1. the `quote mark"
    assert bold_parts(row) == ["the `quote mark"]
    plain = hanging(Text("· "), "nothing special here", 40)
    assert (plain.plain, plain.spans) == ("· nothing special here", [])
