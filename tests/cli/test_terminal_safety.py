"""What `labsim check` prints never carries raw control characters from a lab to the terminal."""

from __future__ import annotations

from pathlib import Path

from labsim.checks.result import CheckResult
from labsim.scenario import load_scenario
from labsim.study.commands.checking import _result_lines, visible

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "_example"


def test_visible_shows_control_characters_as_cat_v_does() -> None:
    assert visible("mail_location = \x1b[2Jmaildir\x07") == "mail_location = ^[[2Jmaildir^G"
    assert visible("tab\tstays") == "tab\tstays"


def test_check_lines_escape_what_the_lab_sent() -> None:
    scenario = load_scenario(EXAMPLE)
    result = CheckResult(
        "mail-location",
        "setting",
        False,
        0,
        1,
        "Expected 'maildir:~/Maildir'; it printed '\x1b]0;owned\x07'.",
        "$ doveconf -h mail_location\r\n\x1b]0;owned\x07\r\n",
    )
    lines = _result_lines(scenario, result, transcripts=True)
    assert all("\x1b" not in line and "\x07" not in line for line in lines)
    assert any("^[]0;owned^G" in line for line in lines)
