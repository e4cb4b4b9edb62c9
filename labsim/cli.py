"""The `labsim` command."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

from labsim import __version__


def _port_base(text: str) -> int:
    """--port-base N: the server listens on N+P for each well-known port P, so N+995 must be a port."""
    try:
        base = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= base <= 64000:
        raise argparse.ArgumentTypeError(f"{base} is out of range: use 0 to 64000 (IMAP listens on N+143)")
    return base


def _minutes(text: str) -> int:
    try:
        minutes = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of minutes: {text!r}") from None
    if minutes < 1:
        raise argparse.ArgumentTypeError(f"an exam needs at least 1 minute, not {minutes}")
    return minutes


def _demo(args: argparse.Namespace) -> int:
    from labsim.lab.demo import DEMO_PASSWORD, DEMO_USERS, build_demo_root
    from labsim.paths import data_home

    root = data_home() / "labs" / "demo" / "root"
    build_demo_root(root)
    base = args.port_base
    print(f"labsim demo lab: {root}")
    print(f"users: {', '.join(DEMO_USERS)} (password {DEMO_PASSWORD!r})")
    print(f"IMAP on 127.0.0.1:{base + 143}, POP3 on 127.0.0.1:{base + 110}; try, in another terminal:")
    print(f"  curl -u alice:{DEMO_PASSWORD} imap://127.0.0.1:{base + 143}/INBOX")
    print(f"  LABSIM_ROOT={root} doveconf -n")
    print("Stop the server with Ctrl+C. The lab and your changes to it are kept.", flush=True)
    argv = [sys.executable, "-m", "labsim.mailserver", "--root", str(root), "--port-base", str(base)]
    try:
        os.execv(sys.executable, argv)
    except OSError as exc:
        print(f"labsim: cannot start the mail server: {exc.strerror}", file=sys.stderr)
        return 1
    return 0  # not reached


def _prune(args: argparse.Namespace) -> int:
    from labsim.lab.docker_backend import prune
    from labsim.lab.model import LabError

    try:
        removed = prune()
    except LabError as exc:
        print(f"labsim: {exc}", file=sys.stderr)
        return 1
    for name in removed:
        print(f"removed {name}")
    from labsim.lab.registry import LabRegistry

    # Lab folders a cut-off `lab create`/`class up` left empty (no state, no files) go too.
    empty = LabRegistry().remove_empty_dirs()
    for name in empty:
        print(f"removed the empty lab folder {name}")
    if not removed and not empty:
        print("no labsim containers to remove")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from labsim.scenario.validate_cmd import run

    return run(args.paths, as_json=args.json)


def _report(args: argparse.Namespace) -> int:
    from labsim.grading.report_cmd import run

    return run(args.files, args.format)


def _tui(args: argparse.Namespace) -> int:
    # A full-screen app needs a terminal on both ends; a pipe or a file would get escape codes.
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(
            "labsim: the app needs a terminal on stdin and stdout; "
            "run `labsim --help` for the commands that work without one.",
            file=sys.stderr,
        )
        return 2
    from labsim.tui.app import run_tui

    return run_tui(exam_minutes=getattr(args, "minutes", None))


# Command groups, each a module with `add_parser(sub)` that adds its subcommands (and sets `func`).
# A new group (e.g. labsim.classroom's `labsim class` and `labsim assignment`) adds its module here.
COMMAND_MODULES: tuple[str, ...] = (
    "labsim.study.commands",  # the learner's: list, start, shell, check, hint, solve, ..., grade
    "labsim.lab.lab_cmd",  # labsim lab ...: labs by lab id, the low-level interface
    "labsim.classroom.commands",  # labsim class ... and labsim assignment ...
)


def add_core_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands that live in this module: demo, prune, validate, report, exam."""
    demo = sub.add_parser("demo", help="run a ready-made local lab with Dovecot on 127.0.0.1")
    demo.add_argument("--port-base", type=_port_base, default=10000, help="well-known port P listens on N+P")
    demo.set_defaults(func=_demo)
    prune = sub.add_parser("prune", help="remove every labsim lab container (and nothing else)")
    prune.set_defaults(func=_prune)
    validate = sub.add_parser("validate", help="check scenario files and report every problem with its line")
    validate.add_argument("paths", nargs="*", metavar="PATH", help="scenario folders or files (default: all)")
    validate.add_argument("--json", action="store_true", help="print the findings as JSON")
    validate.set_defaults(func=_validate)
    report = sub.add_parser("report", help="render saved grades (JSON reports) as text, junit, csv, ...")
    report.add_argument("files", nargs="+", metavar="FILE", help="grades saved with --format json")
    report.add_argument(
        "--format", default="text", metavar="FORMAT", help="text (default), json, junit, gradescope or csv"
    )
    report.set_defaults(func=_report)
    exam = sub.add_parser("exam", help="a timed run over the scenarios; hints and transcripts after the end")
    exam.add_argument("--minutes", type=_minutes, default=60, help="time allowed (default 60)")
    from labsim.study.commands import add_backend_option

    add_backend_option(exam, argparse.SUPPRESS)  # `labsim exam --backend local` as well as before it
    exam.set_defaults(func=_tui)


def build_parser() -> argparse.ArgumentParser:
    from labsim.study.commands import add_backend_option

    parser = argparse.ArgumentParser(
        prog="labsim",
        description="Hands-on labs for LPIC-2 211.3. Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"labsim {__version__}")
    add_backend_option(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    add_core_commands(sub)
    parser.set_defaults(func=_tui)
    return parser


def _log_crash(exc: BaseException, argv: list[str]) -> Path | None:
    """Append the traceback to <data home>/logs/labsim-errors.log; None when even that fails."""
    from labsim.paths import data_home

    try:
        log = data_home() / "logs" / "labsim-errors.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as f:
            when = time.strftime("%Y-%m-%d %H:%M:%S")
            f.write(f"--- {when} labsim {__version__}: labsim {' '.join(argv)}\n")
            f.write("".join(traceback.format_exception(exc)))
        return log
    except OSError:
        return None


def _quiet_stdout() -> None:
    """The reader of stdout left (`labsim ... | head`): later writes, and the exit flush, go nowhere."""
    with contextlib.suppress(OSError, ValueError), open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    """The command, with one guard for all of them: Ctrl+C is status 130, a closed stdout ends quietly,
    and an unexpected error is one sentence naming the log with the details, never a traceback."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = _main(args)
        sys.stdout.flush()  # here, so that a reader who left is handled below and not at exit
        return code
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except Exception as exc:
        log = _log_crash(exc, args)
        reason = str(exc).split("\n")[0][:300] or type(exc).__name__
        where = f"details are in {log}" if log else "and its details could not be saved"
        print(f"labsim: unexpected error ({reason}); {where}", file=sys.stderr)
        return 1


def _main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    if getattr(args, "global_backend", None):
        # What every command's lab choice reads: the app's session, `labsim lab create`, ...
        os.environ["LABSIM_BACKEND"] = args.global_backend
    # `labsim` alone opens the app (the parser's default func); every command keeps its own.
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
