"""The learner's commands: list, start, shell, check, hint, solve, reset, stop, status, logs, grade.

    labsim [--backend auto|local|docker] list [--json]
    labsim start|shell|stop|logs [-f] ID
    labsim check ID [--transcript]
    labsim hint ID [TASK]
    labsim solve|reset ID [--yes]
    labsim status [ID] [--json]
    labsim grade ID --format text|json|junit|gradescope|csv [--out FILE] [--student NAME]

Each command names a scenario by its id and finds (or, for start, shell and
grade, makes) that scenario's lab; `labsim lab ...` stays the lower-level
interface to labs by lab id. The modules here only parse and print: what
they do is a StudySession (labsim/study/session.py), as in the app.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from labsim.grading.reports import FORMATS
from labsim.lab.registry import BACKENDS
from labsim.study.commands.common import Command, run

if TYPE_CHECKING:  # argparse's class is generic only to the type checker
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def add_backend_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    """--backend, before the command (`labsim --backend local start X`) or after it."""
    parser.add_argument(
        "--backend",
        dest="global_backend",
        choices=BACKENDS,
        default=default,
        help="where new labs run: docker when an engine has the lab image, else local (default: auto, "
        "or LABSIM_BACKEND)",
    )


def add_parser(sub: SubParsers) -> None:
    """Add the learner's commands to the labsim parser."""
    from labsim.study.commands import browse, checking, helping, labs

    options = argparse.ArgumentParser(add_help=False)
    add_backend_option(options, argparse.SUPPRESS)

    def add(name: str, func: Command, help: str, *, scenario: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".", parents=[options])
        p.set_defaults(func=_runner(func))
        if scenario:
            p.add_argument("scenario", metavar="ID", help="a scenario id, as `labsim list` shows it")
        return p

    p = add("list", browse.cmd_list, "list the scenarios with your progress", scenario=False)
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p = add("start", labs.cmd_start, "start the scenario's lab (made the first time) and show its brief")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the brief and tasks")
    add("shell", labs.cmd_shell, "open a shell in the scenario's lab")
    p = add("check", checking.cmd_check, "run the checks, print each result, record the score")
    p.add_argument("--transcript", action="store_true", help="print each check's transcript too")
    p = add("hint", helping.cmd_hint, "show the next hint (recorded; may cost points)")
    p.add_argument("task", nargs="?", metavar="TASK", help="a task id (default: the first with hints left)")
    for name, func, help in (
        ("solve", helping.cmd_solve, "apply the reference solution (asks first)"),
        ("reset", labs.cmd_reset, "put the lab back to its fresh state (asks first)"),
    ):
        p = add(name, func, help)
        p.add_argument("-y", "--yes", action="store_true", help="do not ask (for scripts)")
    add("stop", labs.cmd_stop, "stop the scenario's lab; your changes are kept")
    p = add("status", browse.cmd_status, "the labs, or one scenario's lab and progress", scenario=False)
    p.add_argument("scenario", nargs="?", metavar="ID", help="a scenario id (default: every lab)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p = add("logs", labs.cmd_logs, "print the mail log of the scenario's lab")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (Ctrl+C stops)")
    p = add("grade", checking.cmd_grade, "run the checks and write a report (for scripts, CI)")
    p.add_argument("--format", default="text", choices=FORMATS, help="the report's format (default: text)")
    p.add_argument("--out", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--student", default="", metavar="NAME", help="the student's name, recorded in the report")


def _runner(func: Command) -> Callable[[argparse.Namespace], int]:
    return lambda args: run(func, args)
