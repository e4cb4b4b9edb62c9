"""Progress on stderr: one live line on a terminal, plain lines elsewhere; and no app for the commands."""

from __future__ import annotations

import io
import subprocess
import sys

from labsim.study.commands.activity import Activity


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    with Activity(out) as activity:
        activity.step("creating a lab")
        activity.step("starting dovecot")
        activity.clear()
    assert out.getvalue() == "creating a lab ...\nstarting dovecot ...\n"


def test_one_line_replaced_in_place_on_a_terminal() -> None:
    out = Terminal()
    with Activity(out) as activity:
        assert activity.live
        activity.step("[1/2] mail-location")
        activity.clear()
        activity.step("[2/2] alice-inbox")
    text = out.getvalue()
    assert "\n" not in text  # a result printed after clear() starts on a clean line
    assert text.startswith("\r\033[K[1/2] mail-location ...\r\033[K\r\033[K[2/2] alice-inbox ...")
    assert text.endswith("\r\033[K")  # closing takes the line away


def test_the_command_parser_does_not_load_the_app() -> None:
    code = "import sys; from labsim.cli import build_parser; build_parser(); print('textual' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr
