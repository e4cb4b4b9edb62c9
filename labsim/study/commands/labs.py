"""`labsim start|shell|stop|reset|logs ID`: the scenario's lab, found (or made) from its id."""

from __future__ import annotations

import argparse
import sys
import time

from labsim.scenario.text import brief_text
from labsim.study.commands.activity import Activity
from labsim.study.commands.browse import ports
from labsim.study.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    confirm,
    existing_lab,
    scenario,
    session,
)
from labsim.study.session import LabInfo, StudySession


def open_with_progress(study: StudySession, scenario_id: str) -> tuple[LabInfo, str]:
    """Find or make the scenario's lab and start it, saying on stderr what is happening."""
    scen = scenario(study, scenario_id)
    with Activity() as activity:
        activity.step(f"looking for the lab of {scen.id}")
        info = study.open_lab(scen, on_step=activity.step)
    return info, scen.id


def cmd_start(args: argparse.Namespace) -> int:
    study = session(args)
    info, scenario_id = open_with_progress(study, args.scenario)
    if not args.quiet:
        print(brief_text(study.scenario(scenario_id)))
    if info.start_output:
        print(info.start_output)
    if info.start_failed:
        print(
            f"labsim: lab {info.lab_id} is up but its mail server is not running (see above); "
            f"find out why in: labsim shell {scenario_id}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    status = study.lab(study.scenario(scenario_id)).status()
    print(f"lab {info.lab_id} is running on the {info.backend} backend ({info.detail})")
    if not info.running:
        # Its service started and ran nothing (Courier's IMAPDSTART=NO, say): often the very
        # thing the scenario is about, so no failure.
        print("its mail server is not serving yet: `service --status-all` in the lab shows what runs")
    print(f"mail server ports: {ports(status.backend, status.port_base)}")
    print(f"next: labsim shell {scenario_id}, then labsim check {scenario_id}")
    return EXIT_OK


def cmd_shell(args: argparse.Namespace) -> int:
    if not sys.stdin.isatty():
        raise UsageError(
            "a lab shell needs a terminal; from a script use: labsim lab exec LAB -- COMMAND "
            "(`labsim status ID` names the lab)"
        )
    study = session(args)
    info, scenario_id = open_with_progress(study, args.scenario)
    if info.start_output and info.start_failed:
        print(info.start_output)
    print(f"lab {info.lab_id}: leave the shell with `exit`", file=sys.stderr)
    scen = study.scenario(scenario_id)
    started = time.monotonic()
    try:
        code = study.shell(scen)
    finally:
        study.add_time(scen, time.monotonic() - started)  # time in the lab is study time
    return code


def cmd_stop(args: argparse.Namespace) -> int:
    study = session(args)
    lab = existing_lab(study, scenario(study, args.scenario))
    lab.stop()
    print(f"lab {lab.lab_id} stopped; your changes are kept (labsim start {args.scenario} goes on)")
    return EXIT_OK


def cmd_reset(args: argparse.Namespace) -> int:
    study = session(args)
    scen = scenario(study, args.scenario)
    lab = existing_lab(study, scen)
    confirm(
        f"Reset lab {lab.lab_id} to the scenario's fresh state? Changed /etc files are backed up, "
        "everything else you did in the lab is lost; your score so far stays in your progress and a new "
        "attempt begins.",
        args.yes,
        f"reset of lab {lab.lab_id}",
    )
    with Activity() as activity:
        activity.step(f"resetting lab {lab.lab_id}")
        backup, started = study.reset_and_start(scen)
    if started is not None and not started.ok:
        # Some fresh labs do not start: finding out why is the exercise (dovecot-broken-typo).
        print(started.output.strip())
        print(f"lab {lab.lab_id} is back to its fresh state; its mail server did not start (see above)")
    else:
        print(f"lab {lab.lab_id} is back to its fresh state and started again")
    if backup is not None:
        print(f"your changed /etc files are saved in {backup}")
    return EXIT_OK


def cmd_logs(args: argparse.Namespace) -> int:
    study = session(args)
    lines = existing_lab(study, scenario(study, args.scenario)).logs(follow=args.follow)
    try:
        for line in lines:
            print(line, flush=args.follow)
    except KeyboardInterrupt:
        return EXIT_OK  # how one stops following, not a failure
    finally:
        lines.close()
    return EXIT_OK
