"""`labsim check ID` (results as they come, for the learner) and `labsim grade ID` (a report, for tools)."""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from labsim.checks.result import CheckResult, message_after
from labsim.grading.reports import render
from labsim.grading.score import Grade, score
from labsim.scenario.model import Scenario
from labsim.study.commands.activity import Activity
from labsim.study.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    existing_lab,
    scenario,
    session,
)
from labsim.study.commands.labs import open_with_progress
from labsim.study.errors import ServiceError
from labsim.study.session import StudySession

LABELS = {"passed": "PASS", "failed": "FAIL", "error": "ERROR"}


def run_checks(
    study: StudySession, scen: Scenario, activity: Activity, on_result: Callable[[CheckResult], None]
) -> list[CheckResult]:
    """Every check in order; the one running is shown live, each result handed on as it finishes."""
    specs = scen.checks()
    results: list[CheckResult] = []
    lab = study.lab(scen)
    if not activity.live:
        activity.step(f"running {len(specs)} checks in lab {lab.lab_id}")
    run = study.run_checks(scen)
    for number, spec in enumerate(specs, start=1):
        if activity.live:
            activity.step(f"[{number}/{len(specs)}] {spec.id}: {spec.description or spec.type}")
        result = next(run, None)
        activity.clear()
        if result is None:
            break
        results.append(result)
        on_result(result)
    return results


# Control characters a learner's file or a server may carry (an ESC in a config line, say):
# shown as cat -v shows them, never sent raw to the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def visible(text: str) -> str:
    return _CONTROL.sub(lambda m: "^" + chr(ord(m.group()) ^ 0x40), text)


def _result_lines(scen: Scenario, result: CheckResult, transcripts: bool) -> list[str]:
    # Points as the scenario weighs them (a checker reports its own share of its own maximum).
    scored = next((c for c in score(scen, [result]).checks if c.check_id == result.check_id), None)
    points = (
        f"{scored.points:g}/{scored.max_points:g}" if scored else f"{result.points:g}/{result.max_points:g}"
    )
    label = LABELS.get(result.status, result.status.upper())
    description = scored.description if scored else ""
    lines = [f"{label:<5} {result.check_id}  {points}  {description}".rstrip()]
    message = message_after(description, result.message)  # the line above shows the description
    if message and (not result.passed or transcripts):
        lines += [f"      {visible(line)}" for line in message.splitlines()]
    if result.error:
        lines.append(f"      lab error: {visible(result.error)}")
    if transcripts and result.transcript:
        lines += [f"      | {visible(line)}" for line in result.transcript.splitlines()]
    return lines


def summary(grade: Grade) -> str:
    sc = grade.score
    line = (
        f"score {sc.total:g}/{sc.max_points:g} ({sc.fraction:.0%}) · "
        f"{sc.passed_count} of {len(sc.checks)} checks passed"
    )
    if sc.penalty:
        line += f" · hint penalty {sc.penalty:g}"
    return line


def cmd_check(args: argparse.Namespace) -> int:
    study = session(args)
    scen = scenario(study, args.scenario)
    lab = existing_lab(study, scen)
    status = lab.status()
    if status.backend == "docker" and status.state != "running":
        raise ServiceError(f"lab {lab.lab_id} is stopped; start it with: labsim start {scen.id}")
    if not status.server_running:
        # Not a refusal: a stopped or broken server is a state the checks should report on.
        print(
            f"labsim: the mail server of lab {lab.lab_id} is not running; "
            f"checks that talk to it will fail (`labsim start {scen.id}` starts it)",
            file=sys.stderr,
        )

    def show(result: CheckResult) -> None:
        print("\n".join(_result_lines(scen, result, args.transcript)), flush=True)

    with Activity() as activity:
        results = run_checks(study, scen, activity, show)
    grade = study.record_run(scen, results)
    print(summary(grade))
    if grade.score.all_passed:
        print(f"all checks pass: {scen.id} is done")
    else:
        print(f"`labsim hint {scen.id}` gives the next hint")
    return EXIT_OK if grade.score.all_passed else EXIT_FAILED


def _writable(out: str) -> Path:
    path = Path(out)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot write the report to {out}: the folder {parent} does not exist")
    if path.is_dir():
        raise UsageError(f"cannot write the report to {out}: it is a folder")
    return path


def _write(path: Path, text: str) -> None:
    """Write whole or not at all: a reader (CI, a classroom collector) never sees half a report."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_grade(args: argparse.Namespace) -> int:
    out = _writable(args.out) if args.out else None
    study = session(args)
    scen = scenario(study, args.scenario)
    info, _ = open_with_progress(study, scen.id)
    if info.start_failed:
        # Not the end: a broken server is what some scenarios start with, and its checks fail honestly.
        print(f"labsim: the mail server in lab {info.lab_id} did not start", file=sys.stderr)
    with Activity() as activity:
        results = run_checks(study, scen, activity, lambda result: None)
    grade = study.record_run(scen, results, student=args.student)
    report = render(grade, args.format)
    if out is None:
        sys.stdout.write(report)
        sys.stdout.flush()
    else:
        try:
            _write(out, report)
        except OSError as exc:
            raise ServiceError(f"cannot write the report to {out}: {exc.strerror}") from None
        print(f"{summary(grade)}; report written to {out}", file=sys.stderr)
    return EXIT_OK if grade.score.all_passed else EXIT_FAILED
