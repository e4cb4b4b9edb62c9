"""What every learner command shares: the session, exit statuses, refusals as one sentence, asking first.

Exit statuses: 0 done (for check and grade: every check passed), 1 a failure
(some checks failed, or the lab refused), 2 a usage error (bad arguments, an
unknown scenario or task, a confirmation that cannot be asked), 130 Ctrl+C.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TextIO

from labsim.lab.lab_cmd import CommandError
from labsim.lab.lab_cmd import confirm as lab_confirm
from labsim.lab.model import Lab, LabError
from labsim.scenario.model import Scenario
from labsim.study.errors import ServiceError, UnknownScenario, UnknownTask
from labsim.study.session import StudySession

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# docker_backend ends an "engine not there" refusal with this advice; we make it a command to run.
SUGGEST_LOCAL = "use the local backend instead"

Command = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """The command cannot run as typed; the message says how to run it."""


def err(message: str) -> None:
    print(f"labsim: {message}", file=sys.stderr, flush=True)


def session(args: argparse.Namespace) -> StudySession:
    """A session on the backend asked for (--backend, else LABSIM_BACKEND, else auto)."""
    return StudySession(backend=getattr(args, "global_backend", None))


def scenario(study: StudySession, scenario_id: str) -> Scenario:
    return study.scenario(scenario_id)


def existing_lab(study: StudySession, scen: Scenario) -> Lab:
    """The scenario's lab; refuses with the command that makes one."""
    lab = study.find_lab(scen)
    if lab is None:
        on = "" if study.wanted_backend == "auto" else f" on the {study.wanted_backend} backend"
        raise ServiceError(f"scenario {scen.id} has no lab{on} yet; start one with: labsim start {scen.id}")
    return lab


def confirm(question: str, yes: bool, what: str, stdin: TextIO | None = None) -> None:
    """Go on only with --yes or a 'y' typed at a terminal; otherwise nothing is changed."""
    try:
        lab_confirm(question, yes, what, stdin)
    except CommandError as exc:
        raise UsageError(str(exc)) from None


def _with_advice(text: str, args: argparse.Namespace) -> str:
    """An absent Docker engine: name the command that works without it."""
    if not text.endswith(SUGGEST_LOCAL):
        return text
    words = ["labsim", "--backend", "local", args.command]
    scenario_id = getattr(args, "scenario", None)
    if scenario_id:
        words.append(scenario_id)
    return f"{text.removesuffix(SUGGEST_LOCAL)}use the local backend instead: {' '.join(words)}"


def run(func: Command, args: argparse.Namespace) -> int:
    """Run one learner command, turning every failure into one sentence and an exit status."""
    try:
        return func(args)
    except (UsageError, UnknownScenario, UnknownTask) as exc:
        err(str(exc))
        return EXIT_USAGE
    except LabError as exc:
        err(_with_advice(str(exc), args))
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `labsim logs X | head`: the reader left; say nothing more.
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), sys.stdout.fileno())
        # check and grade stopped before every check ran: 0 would claim they all passed.
        return EXIT_FAILED if args.command in ("check", "grade") else EXIT_OK
    except Exception as exc:  # the last line of defence: a sentence, never a traceback
        reason = str(exc).split("\n")[0][:300] or type(exc).__name__
        err(f"labsim {args.command} failed unexpectedly: {reason}")
        return EXIT_FAILED
