"""`labsim class ...` and `labsim assignment ...`.

    labsim class up --roster FILE --scenario ID [--scenario ID ...] [--name CLASS]
    labsim class status | attach STUDENT | hint STUDENT | grade --out DIR | watch | down
    labsim assignment pack SCENARIO_DIR... --out FILE
    labsim assignment run FILE [--backend auto|local|docker] [--format F] [--out F] [--grade-only]

Every failure is one sentence on stderr: exit 1 when something could not
be done (a lab that could not be checked, an engine that does not answer),
2 when the command cannot run as typed (argparse's usage, an unknown
scenario, an option out of range, a report path that cannot be written, no
terminal to ask or work in), 130 on Ctrl+C. A reader who leaves a pipe
(`labsim class status | head`) ends it quietly: labsim/cli.py handles that
for every command.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labsim.classroom.errors import ClassError, ClassUsageError
from labsim.lab.model import LabError

Handler = Callable[[argparse.Namespace], int]


def _err(message: str) -> None:
    print(f"labsim: {message}", file=sys.stderr)


def _guard(func: Handler) -> Handler:
    """One sentence for every failure, never a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except ClassUsageError as exc:
            _err(str(exc))
            return 2
        except (ClassError, LabError) as exc:
            _err(str(exc))
            return 1
        except KeyboardInterrupt:
            print(file=sys.stderr)
            return 130
        except BrokenPipeError:
            raise  # the reader left: labsim/cli.py's main ends every command quietly then
        except Exception as exc:  # the last line of defence
            reason = str(exc).split("\n")[0][:300] or type(exc).__name__
            _err(f"{func.__name__.removeprefix('cmd_').replace('_', ' ')} failed unexpectedly: {reason}")
            return 1

    return run


def _backend(given: str | None, allowed: tuple[str, ...], default: str) -> str:
    """--backend here, else `labsim --backend X` / LABSIM_BACKEND when it fits, else the default."""
    if given:
        return given
    env = os.environ.get("LABSIM_BACKEND", "")
    return env if env in allowed else default


# --- class ------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    from labsim.classroom.limits import Limits
    from labsim.classroom.roster import load_roster
    from labsim.classroom.service import UpEvent, UpInterrupted, prepare_class

    roster = Path(args.roster)
    students = load_roster(roster)
    name = args.name or roster.stem
    limits = Limits(args.memory, args.cpus, args.pids)
    backend = _backend(args.backend, ("docker", "local"), "docker")
    service, notes = prepare_class(name, students, args.scenario, backend, limits)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    record = service.record
    total = len(record.pairs())
    width = max(len(s.id) for s in record.students)
    print(
        f"class {name}: {len(record.students)} student(s) x {len(record.scenarios)} scenario(s)"
        f" = {total} lab(s)"
        f" on {record.backend}, {args.workers} at a time"
        + (
            f" (each: {limits.memory} memory, {limits.cpus:g} CPU, {limits.pids} processes)"
            if record.backend == "docker"
            else " (local sandboxes: the limits apply to Docker labs only)"
        ),
        flush=True,
    )

    def progress(e: UpEvent) -> None:
        what = f"{e.action} in {e.seconds:.1f}s" if not e.error else f"FAILED: {e.error}"
        print(f"[{e.done:>{len(str(total))}}/{total}] {e.student:<{width}}  {e.scenario}  {what}", flush=True)

    try:
        events = service.up(workers=args.workers, progress=progress)
    except UpInterrupted as stop:
        made = [e for e in stop.events if not e.error]
        print(
            f"class {name}: interrupted; {len(made)} of {total} lab(s) up"
            f" ({', '.join(f'{a} {n}' for a, n in _counts(made))}), {total - len(stop.events)} not begun."
            " Run the same `labsim class up` again to bring up the rest.",
            flush=True,
        )
        return 130
    failed = [e for e in events if e.error]
    print(
        f"class {name}: {total - len(failed)} of {total} lab(s) up"
        + (f"; {len(failed)} failed (run `labsim class up` again to retry them)" if failed else "")
        + f". Students enter theirs with: labsim class attach STUDENT --name {name}"
    )
    return 1 if failed else 0


def _counts(events: list[Any]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for e in events:
        counts[e.action] = counts.get(e.action, 0) + 1
    return sorted(counts.items()) or [("none", 0)]


def cmd_status(args: argparse.Namespace) -> int:
    from labsim.classroom.service import open_class

    service = open_class(args.name)
    rows = service.status()
    if args.json:
        data = [
            {"student": r.student.id, "name": r.student.name, "scenario": r.scenario, "lab": r.lab_id}
            | {"state": r.state, "server": r.server, "detail": r.detail}
            for r in rows
        ]
        print(json.dumps({"class": service.name, "backend": service.record.backend, "labs": data}, indent=2))
        return 0
    table = [("STUDENT", "NAME", "SCENARIO", "LAB", "STATE", "SERVER")]
    table += [(r.student.id, r.student.name, r.scenario, r.lab_id, r.state, r.server) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    print(f"class {service.name} ({service.record.backend})")
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    running = sum(1 for r in rows if r.state == "running")
    print(f"{running} of {len(rows)} lab(s) running")
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    from labsim.classroom.service import open_class
    from labsim.scenario.text import brief_text

    service = open_class(args.name)
    service.record.student(args.student)
    sid = args.scenario or service.record.scenarios[0]
    scenario = service.scenario(sid)  # an unknown --scenario is said first, with the class's own
    if not sys.stdin.isatty():
        lab_id = service.record.lab_id(args.student, sid)
        raise ClassUsageError(
            f"a lab shell needs a terminal; from a script use: labsim lab exec {lab_id} -- COMMAND"
        )
    lab = service.lab(args.student, sid)  # a lab never made is said before the brief, not below it
    if not args.quiet:  # what the student was asked, as `labsim start` shows it to them
        print(brief_text(scenario), flush=True)
    print(f"lab {lab.lab_id} of {args.student}: leave the shell with `exit`", file=sys.stderr, flush=True)
    return service.attach(args.student, sid)


def cmd_hint(args: argparse.Namespace) -> int:
    from labsim.classroom.service import open_class
    from labsim.scenario.text import hint_cost_text

    service = open_class(args.name)
    sid = args.scenario or service.record.scenarios[0]
    task, number, text = service.take_hint(args.student, sid, args.task)
    cost = hint_cost_text(service.scenario(sid).hint_cost(task, number - 1))
    print(f"hint {number} for task {task} of {sid} ({cost}): {text}")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from labsim.classroom.gradebook import StudentGrade, grade_class, write_gradebook
    from labsim.classroom.outpath import check_out_dir
    from labsim.classroom.service import open_class

    service = open_class(args.name)
    out = check_out_dir(Path(args.out), "the gradebook to")  # before any lab is checked
    total = len(service.record.pairs())
    print(f"grading class {service.name}: {total} lab(s), {args.workers} at a time", flush=True)

    def progress(sg: StudentGrade, done: int, total: int) -> None:
        sc = sg.grade.score
        what = f"{sc.total:g}/{sc.max_points:g}" + (f" (lab error: {sg.lab_error})" if sg.lab_error else "")
        print(f"[{done:>{len(str(total))}}/{total}] {sg.student.id}  {sg.scenario}  {what}", flush=True)

    grades = grade_class(service, workers=args.workers, progress=progress)
    written = write_gradebook(out, service.name, service.record.students, grades)
    print(f"wrote {len(written)} file(s) in {out}: gradebook.csv, junit.xml, feedback/<student>.json and .md")
    broken = [sg for sg in grades if sg.lab_error]
    if broken:
        # Their rows hold 0 points for a lab nobody could check, not for the student's work.
        for sg in broken:
            _err(f"{sg.student.id} {sg.scenario}: the lab could not be checked: {sg.lab_error}")
        _err(
            f"{len(broken)} of {len(grades)} lab(s) could not be checked"
            " (gradebook.csv's lab_error says why); repair them with `labsim class up` and grade again"
        )
        return 1
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from labsim.classroom.service import open_class

    service = open_class(args.name)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ClassUsageError(
            "the class dashboard needs a terminal on stdin and stdout;"
            " `labsim class status` works without one"
        )
    # The dashboard belongs to the TUI, the one room that imports textual and sits above this one;
    # the command only launches it, by name, so classroom never depends on the TUI.
    launcher = importlib.import_module("labsim.tui.screens.class_watch").run_class_watch
    code: int = launcher(service, interval=args.interval)
    return code


def cmd_down(args: argparse.Namespace) -> int:
    from labsim.classroom.service import open_class

    service = open_class(args.name)
    total = len(service.record.pairs())
    if not args.yes:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise ClassUsageError(
                f"taking class {service.name} down removes {total} lab(s) and the students' work in them: "
                "run it on a terminal, or add --yes; nothing was changed"
            )
        answer = input(f"Remove the {total} lab(s) of class {service.name} and everything in them? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise ClassError("cancelled; nothing was changed")
    removed = service.down(progress=lambda name: print(f"removed {name}", flush=True))
    print(f"class {service.name} is down: {len(removed)} lab(s) removed")
    return 0


# --- assignment -------------------------------------------------------------------------


def cmd_pack(args: argparse.Namespace) -> int:
    from labsim.classroom.package import pack

    out = Path(args.out)
    manifest = pack([Path(p) for p in args.scenarios], out)
    listed = ", ".join(f"{s['id']} v{s['version']}" for s in manifest["scenarios"])
    print(
        f"wrote {out}: {listed}; checks code {manifest['checks_code_hash']},"
        f" labsim {manifest['labsim_version']}"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from labsim.classroom.assignment import render_result, run, write_report
    from labsim.classroom.outpath import check_out_file
    from labsim.classroom.package import open_assignment

    if args.solution:
        raise ClassUsageError(
            "the reference solution is not part of an assignment (it stays with your instructor);"
            " `labsim assignment run FILE` grades your own work"
        )
    out = check_out_file(Path(args.out), "the report to") if args.out else None  # before any lab is made
    assignment = open_assignment(Path(args.file))
    result = run(
        assignment,
        backend=_backend(args.backend, ("auto", "local", "docker"), "auto"),
        grade_only=args.grade_only,
        work=Path(args.work) if args.work else None,
        student=args.student,
    )
    write_report(render_result(result, args.format), out)
    print(
        f"points {result.points:g}/{result.max_points:g}" + (f" (report in {args.out})" if args.out else ""),
        file=sys.stderr,
    )
    return 0 if result.all_passed else 1


# --- wiring -----------------------------------------------------------------------------


def _name_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", metavar="CLASS", help="the class (default: the only one there is)")


def _usage(parser: argparse.ArgumentParser) -> Handler:
    def show(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    return show


def _workers(text: str) -> int:
    """--workers N: how many labs at once, at least one (the usage names the option on a bad value)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"at least 1 lab at a time, not {n}")
    return n


def _positive(text: str) -> float:
    """--interval S / --cpus N: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def add_parsers(sub: argparse._SubParsersAction[Any]) -> None:
    """Register `class` and `assignment` with the labsim parser."""
    cls = sub.add_parser("class", help="instructor-led labs: one lab per student, watched and graded")
    cls.set_defaults(func=_usage(cls))
    cmds = cls.add_subparsers(dest="class_command", metavar="SUBCOMMAND")

    def add(name: str, func: Handler, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = cmds.add_parser(name, help=help, description=help)
        p.set_defaults(func=_guard(func))
        return p

    p = add("up", cmd_up, "start one lab per student and scenario (re-running keeps running labs)")
    p.add_argument("--roster", required=True, metavar="FILE", help="CSV (id,name) or YAML list of students")
    p.add_argument(
        "--scenario", required=True, action="append", metavar="ID", help="a scenario id (repeat for more)"
    )
    _name_arg(p)
    p.add_argument(
        "--backend",
        choices=("docker", "local"),
        help="where the labs run (default: docker, or `labsim --backend local` / LABSIM_BACKEND)",
    )
    p.add_argument(
        "--workers", type=_workers, default=4, metavar="N", help="labs started at once (default 4)"
    )
    p.add_argument("--memory", default="256m", metavar="SIZE", help="memory per lab (default 256m)")
    p.add_argument("--cpus", type=_positive, default=0.5, metavar="N", help="CPU share per lab (default 0.5)")
    p.add_argument("--pids", type=_whole, default=256, metavar="N", help="processes per lab (default 256)")
    p = add("status", cmd_status, "show each student's lab and server")
    _name_arg(p)
    p.add_argument("--json", action="store_true", help="print the labs as JSON")
    p = add("attach", cmd_attach, "show the scenario's brief and open a student's lab shell")
    p.add_argument("student", metavar="STUDENT", help="a student id from the roster")
    p.add_argument("--scenario", metavar="ID", help="which of the class's scenarios (default: the first)")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the brief and tasks")
    _name_arg(p)
    p = add("hint", cmd_hint, "show a student the next hint (recorded for grading)")
    p.add_argument("student", metavar="STUDENT", help="a student id from the roster")
    p.add_argument("--scenario", metavar="ID", help="which of the class's scenarios (default: the first)")
    p.add_argument("--task", metavar="TASK", help="which task (default: the first with hints left)")
    _name_arg(p)
    p = add("grade", cmd_grade, "grade every lab: gradebook CSV, feedback JSON and Markdown, JUnit XML")
    p.add_argument("--out", required=True, metavar="DIR", help="where the reports go (replaced on re-runs)")
    p.add_argument(
        "--workers", type=_workers, default=2, metavar="N", help="labs checked at once (default 2)"
    )
    _name_arg(p)
    p = add("watch", cmd_watch, "a live dashboard: students x checks, refreshed in the background")
    p.add_argument(
        "--interval",
        type=_positive,
        default=2.0,
        metavar="S",
        help="at most one lab checked per S seconds (2)",
    )
    _name_arg(p)
    p = add("down", cmd_down, "remove the class's labs, and nothing else (asks first)")
    _name_arg(p)
    p.add_argument("-y", "--yes", action="store_true", help="do not ask (for scripts)")

    asg = sub.add_parser("assignment", help="self-graded assignments: pack scenarios, run and grade them")
    asg.set_defaults(func=_usage(asg))
    acmds = asg.add_subparsers(dest="assignment_command", metavar="SUBCOMMAND")
    p = acmds.add_parser("pack", help="pack scenario folders into one assignment file")
    p.set_defaults(func=_guard(cmd_pack))
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO_DIR", help="scenario folders")
    p.add_argument("--out", required=True, metavar="FILE", help="the assignment file to write")
    p = acmds.add_parser("run", help="start the assignment's labs, let the student work, write the report")
    p.set_defaults(func=_guard(cmd_run))
    p.add_argument("file", metavar="FILE", help="an assignment file from `labsim assignment pack`")
    p.add_argument(
        "--backend",
        choices=("auto", "local", "docker"),
        help="where the labs run (default: auto, or `labsim --backend X` / LABSIM_BACKEND)",
    )
    p.add_argument("--format", choices=("gradescope", "json", "junit", "text"), default="text")
    p.add_argument("--out", metavar="FILE", help="write the report here (default: standard output)")
    p.add_argument("--grade-only", action="store_true", help="grade the labs as they are, without working")
    p.add_argument("--work", metavar="SCRIPT", help="run this shell script in each lab before grading (CI)")
    p.add_argument("--student", default="", metavar="NAME", help="who is graded (recorded in the report)")
    p.add_argument(
        "--solution", action="store_true", help=argparse.SUPPRESS
    )  # asked for by students who know `labsim solve`: refused with the reason


# labsim/cli.py's COMMAND_MODULES call each module's `add_parser(sub)`.
add_parser = add_parsers
