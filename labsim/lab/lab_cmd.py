"""`labsim lab ...`: create, run, enter and remove labs from the command line.

    labsim lab list
    labsim lab create SCENARIO_ID [--backend auto|local|docker] [--id LAB] [--start]
    labsim lab start|stop|status LAB
    labsim lab reset|destroy LAB [--yes]
    labsim lab shell LAB
    labsim lab exec LAB [--timeout S] -- CMD...
    labsim lab logs LAB [-f]

Every failure is one sentence on stderr (exit 1); argparse answers bad
arguments with its usage (exit 2). reset and destroy wipe the learner's
work, so they ask on a terminal and refuse without one unless --yes is given.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from typing import TextIO

from labsim.lab.model import Lab, LabError, LabStatus
from labsim.lab.registry import BACKENDS, DamagedLab, LabRegistry

PROG = "labsim lab"
SUGGEST_LOCAL = "use the local backend instead"
WELL_KNOWN = (("IMAP", 143), ("POP3", 110), ("IMAPS", 993), ("POP3S", 995))


class CommandError(Exception):
    """A refusal of the command itself (as opposed to a LabError from the lab)."""


# --- helpers -------------------------------------------------------------------------------


def _err(message: str) -> None:
    print(f"labsim: {message}", file=sys.stderr)


def _get(lab_id: str) -> Lab:
    return LabRegistry().get(lab_id)


def _engine_hint(lab: Lab, exc: LabError) -> LabError:
    """An existing Docker lab cannot move to the local backend: say what it needs instead."""
    text = str(exc)
    if lab.backend_name == "docker" and text.endswith(SUGGEST_LOCAL):
        text = text.removesuffix(SUGGEST_LOCAL) + (
            f"lab {lab.lab_id} runs in Docker: start the engine, or create a new lab with --backend local"
        )
    return LabError(text)


def _scenario_id(lab: Lab) -> str:
    return str(lab.state.get("scenario") or lab.state.get("spec", {}).get("name", "?"))


def _ports(status: LabStatus) -> str:
    if status.backend == "docker":
        return "inside the lab: " + ", ".join(f"{name} {port}" for name, port in WELL_KNOWN)
    return ", ".join(f"{name} 127.0.0.1:{status.port_base + port}" for name, port in WELL_KNOWN)


def confirm(question: str, yes: bool, what: str, stdin: TextIO | None = None) -> None:
    """Go on only with --yes or a 'y' typed at a terminal."""
    if yes:
        return
    stdin = stdin or sys.stdin
    if not (stdin.isatty() and sys.stdout.isatty()):
        raise CommandError(
            f"{what} needs confirmation: run it on a terminal, or add --yes; nothing was changed"
        )
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        answer = ""
    except KeyboardInterrupt:
        # Ctrl+C still ends the command (status 130); say first that it changed nothing.
        print(f"\n{what} cancelled; nothing was changed", file=sys.stderr)
        raise
    if answer.strip().lower() not in ("y", "yes"):
        raise CommandError(f"{what} cancelled; nothing was changed")


# --- commands ------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    registry = LabRegistry()
    labs = registry.list()
    damaged = registry.damaged()
    if not labs and not damaged:
        print("no labs yet; create one with: labsim lab create SCENARIO_ID")
        return 0
    rows = [("LAB", "SCENARIO", "BACKEND", "STATE", "SERVER")]
    for lab in labs:
        state: str
        try:
            status = lab.status()
            state, server = status.state, "running" if status.server_running else "stopped"
        except LabError:
            state, server = "unknown", "?"  # e.g. the Docker engine is not answering
        if state == "missing":
            server = "-"
        rows.append((lab.lab_id, _scenario_id(lab), lab.backend_name, state, server))
    # A lab whose state.json is damaged is still listed: its files are there, and it can be removed.
    rows += [(d.lab_dir.name, "?", "?", "damaged", "?") for d in damaged]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for d in damaged:
        name = d.lab_dir.name
        _err(f"{d}; `labsim start SCENARIO` rebuilds its state, `labsim lab destroy {name}` removes it")
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    from labsim.lab.from_scenario import lab_spec
    from labsim.scenario.errors import ScenarioError, ScenarioNotFound
    from labsim.scenario.registry import ScenarioRegistry

    try:
        scenario = ScenarioRegistry().get(args.scenario)
    except ScenarioNotFound as exc:
        raise CommandError(str(exc)) from exc
    except ScenarioError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        raise CommandError(
            f"scenario {args.scenario} has errors (listed above); `labsim validate` shows them too"
        ) from exc
    # labsim's own --backend (it sets LABSIM_BACKEND) counts when this command's option is not given.
    backend = args.backend or os.environ.get("LABSIM_BACKEND") or "auto"
    if backend not in BACKENDS:
        raise CommandError(f"unknown backend {backend!r} (LABSIM_BACKEND): use one of {', '.join(BACKENDS)}")
    if backend == "auto" and scenario.backends == ["docker"]:
        backend = "docker"
    if backend != "auto" and backend not in scenario.backends:
        raise CommandError(
            f"scenario {scenario.id} runs only on the {' and '.join(scenario.backends)} backend, "
            f"not on {backend}"
        )
    if args.id is not None:
        LabRegistry().lab_dir(args.id)  # a bad --id is refused before anything is said or made
    print(f"creating a lab for scenario {scenario.id} ({backend} backend) ...", file=sys.stderr, flush=True)
    try:
        lab = LabRegistry().create(lab_spec(scenario), backend=backend, lab_id=args.id)
    except LabError as exc:
        text = str(exc)
        if text.endswith(SUGGEST_LOCAL):
            text += f": labsim lab create {scenario.id} --backend local"
        raise LabError(text) from exc
    lab.state["scenario"] = scenario.id
    lab.save_state()
    reason = lab.state.get("backend_reason", "")
    print(f"created lab {lab.lab_id} on the {lab.backend_name} backend" + (f" ({reason})" if reason else ""))
    if args.start:
        return _start(lab)
    print(f"start it with: labsim lab start {lab.lab_id}")
    return 0


def _start(lab: Lab) -> int:
    print(f"starting lab {lab.lab_id} ...", file=sys.stderr, flush=True)
    result = lab.start()
    if result.output:
        print(result.output, end="" if result.output.endswith("\n") else "\n")
    status = lab.status()
    if result.ok:
        print(f"lab {lab.lab_id} is running; mail server ports: {_ports(status)}")
    else:
        print(
            f"lab {lab.lab_id} is up but its mail server refused to start (see above); "
            f"fix it in `labsim lab shell {lab.lab_id}`",
            file=sys.stderr,
        )
    return 0 if result.ok else 1


def cmd_start(args: argparse.Namespace) -> int:
    return _start(_get(args.lab))


def cmd_stop(args: argparse.Namespace) -> int:
    lab = _get(args.lab)
    lab.stop()
    print(f"lab {lab.lab_id} stopped; your changes are kept")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    lab = _get(args.lab)
    status = lab.status()
    lines = [
        ("lab", lab.lab_id),
        ("scenario", _scenario_id(lab)),
        ("backend", lab.backend_name),
        ("state", status.state),
    ]
    if status.state != "missing":
        server = f"running (pid {status.server_pid})" if status.server_pid else "running"
        lines.append(("server", server if status.server_running else "stopped"))
        lines.append(("ports", _ports(status)))
    root = getattr(lab, "root", None)
    if root is not None:
        lines.append(("root", str(root)))
    if status.detail:
        lines.append(("detail", status.detail))
    for key, value in lines:
        print(f"{key + ':':<10}{value}")
    return 1 if status.state == "missing" else 0


def cmd_reset(args: argparse.Namespace) -> int:
    lab = _get(args.lab)
    confirm(
        f"Reset lab {lab.lab_id} to the scenario's fresh state? Changed /etc files are backed up, "
        "everything else you did in the lab is lost.",
        args.yes,
        f"reset of lab {lab.lab_id}",
    )
    backup = lab.reset(confirm=True)
    if lab.status().server_running:
        print(f"lab {lab.lab_id} is back to its fresh state")
    else:
        # `labsim reset` starts the scenario's services again; this lower-level one leaves them off.
        stopped = f"its services are stopped (labsim lab start {lab.lab_id})"
        print(f"lab {lab.lab_id} is back to its fresh state; {stopped}")
    if backup is not None:
        print(f"your changed /etc files are saved in {backup}")
    return 0


def cmd_destroy(args: argparse.Namespace) -> int:
    try:
        lab = _get(args.lab)
    except DamagedLab as exc:
        lab = _damaged_lab(exc)
    confirm(
        f"Destroy lab {lab.lab_id}? Everything in it, backups included, is removed.",
        args.yes,
        f"destroying lab {lab.lab_id}",
    )
    lab.destroy()
    print(f"lab {lab.lab_id} destroyed")
    return 0


def _damaged_lab(damaged: DamagedLab) -> Lab:
    """A lab to destroy whose state is damaged: a local one stops whatever of its services still runs,
    a Docker one (no root/ folder) has its container found by name."""
    if not damaged.local:
        from labsim.lab.docker_backend import DockerLab

        return DockerLab(damaged.lab_dir, {})
    from labsim.lab.local import LocalLab
    from labsim.mailserver.tools.service import UNITS

    return LocalLab(damaged.lab_dir, {"spec": {"services": list(UNITS)}})


def cmd_shell(args: argparse.Namespace) -> int:
    lab = _get(args.lab)
    if not sys.stdin.isatty():
        raise CommandError(
            f"a lab shell needs a terminal; from a script use: labsim lab exec {lab.lab_id} -- COMMAND"
        )
    return lab.shell()


def _exec_timeout(argv: list[str], timeout: float) -> tuple[list[str], float]:
    """`labsim lab exec LAB --timeout S -- CMD`, as the usage writes it: argparse's REMAINDER takes
    everything after LAB, so an option written there is read here, before the `--`."""
    while argv and (argv[0] == "--timeout" or argv[0].startswith("--timeout=")):
        value = argv[0].partition("=")[2] if "=" in argv[0] else (argv[1] if len(argv) > 1 else "")
        argv = argv[1:] if "=" in argv[0] else argv[2:]
        try:
            timeout = float(value)
        except ValueError:
            raise CommandError(f"--timeout needs a number of seconds, not {value!r}") from None
    if not timeout > 0:
        raise CommandError(f"--timeout needs a number of seconds above 0, not {timeout:g}")
    return argv, timeout


def cmd_exec(args: argparse.Namespace) -> int:
    argv, timeout = _exec_timeout(list(args.argv), args.timeout)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise CommandError("exec needs a command: labsim lab exec LAB -- COMMAND [ARG...]")
    result = _get(args.lab).exec(argv, timeout=timeout)
    sys.stdout.write(result.output)
    sys.stdout.flush()
    return result.code


def cmd_logs(args: argparse.Namespace) -> int:
    lines = _get(args.lab).logs(follow=args.follow)
    try:
        for line in lines:
            print(line, flush=args.follow)
    except KeyboardInterrupt:
        return 0  # how one stops following, not a failure
    finally:
        lines.close()
    return 0


# --- wiring --------------------------------------------------------------------------------


def _lab_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("lab", metavar="LAB", help="a lab id, as `labsim lab list` shows it")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `lab` and its subcommands to the labsim parser."""
    lab = sub.add_parser("lab", help="create, start, enter and remove labs")
    lab.set_defaults(func=lambda args: _usage(lab))
    cmds = lab.add_subparsers(dest="lab_command", metavar="SUBCOMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=help)
        p.set_defaults(func=lambda args: run(func, args))
        return p

    add("list", cmd_list, "list the labs on this machine")
    p = add("create", cmd_create, "create a lab from a scenario")
    p.add_argument("scenario", metavar="SCENARIO_ID", help="a scenario id (folder name under scenarios/)")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="docker when an engine and the lab image are there, else local (default: auto, or labsim's "
        "--backend / LABSIM_BACKEND)",
    )
    p.add_argument("--id", metavar="LAB", help="the lab id (default: made from the scenario id and the time)")
    p.add_argument("--start", action="store_true", help="start the lab's services once it is created")
    _lab_arg(add("start", cmd_start, "start a lab and its mail server"))
    _lab_arg(add("stop", cmd_stop, "stop a lab; its files and your changes are kept"))
    _lab_arg(add("status", cmd_status, "show a lab's state, server and ports"))
    for name, func, help in (
        ("reset", cmd_reset, "put a lab back to the scenario's fresh state (asks first)"),
        ("destroy", cmd_destroy, "remove a lab and everything in it (asks first)"),
    ):
        p = add(name, func, help)
        _lab_arg(p)
        p.add_argument("-y", "--yes", action="store_true", help="do not ask (for scripts)")
    _lab_arg(add("shell", cmd_shell, "open a shell in a lab"))
    p = add("exec", cmd_exec, "run one command in a lab")
    _lab_arg(p)
    p.add_argument("--timeout", type=float, default=60.0, metavar="S", help="give up after S seconds (60)")
    p.add_argument(
        "argv", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="the command and its arguments"
    )
    p = add("logs", cmd_logs, "print a lab's mail log")
    _lab_arg(p)
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (Ctrl+C stops)")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one subcommand, turning every failure into one sentence."""
    lab_id = getattr(args, "lab", None)
    try:
        return func(args)
    except CommandError as exc:
        _err(str(exc))
        return 1
    except LabError as exc:
        if lab_id:
            with contextlib.suppress(LabError):
                exc = _engine_hint(_get(lab_id), exc)
        _err(str(exc))
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `labsim lab logs LAB | head`: the reader left; say nothing more.
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), sys.stdout.fileno())
        return 0
    except Exception as exc:  # the last line of defence: a sentence, never a traceback
        reason = str(exc).split("\n")[0][:300] or type(exc).__name__
        _err(f"{PROG} {func.__name__.removeprefix('cmd_')} failed unexpectedly: {reason}")
        return 1
