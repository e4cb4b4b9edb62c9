"""Run checks in order and yield each result as it finishes, so a UI can show them live.

A check that raises (a lab that vanished, a bug in a checker) becomes a failed
result with `error` set: one broken probe never stops the run.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from labsim.checks.registry import CHECKS
from labsim.checks.result import CheckResult
from labsim.checks.staleness import asks, edited_since_start, reload_note
from labsim.lab.model import Lab, LabError
from labsim.scenario.model import CheckSpec, Scenario, Task


def run_check(lab: Lab, spec: CheckSpec) -> CheckResult:
    started = time.monotonic()
    fn = CHECKS.get(spec.type)
    if fn is None:
        result = CheckResult.failed(
            spec.id, spec.type, spec.points, f"unknown check type {spec.type!r}", error="unknown check type"
        )
    else:
        try:
            result = fn(lab, spec)
        except LabError as exc:
            result = CheckResult.failed(
                spec.id, spec.type, spec.points, f"The check could not run: {exc}", error=str(exc)
            )
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            result = CheckResult.failed(
                spec.id,
                spec.type,
                spec.points,
                f"The check could not run ({reason}); this is a labsim problem, not yours.",
                error=reason,
            )
    result.duration_s = round(time.monotonic() - started, 3)
    return result


def run_checks(lab: Lab, specs: Iterable[CheckSpec]) -> Iterator[CheckResult]:
    edited: list[tuple[str, str]] | None = None  # asked once per run, at the first failure it concerns
    for spec in specs:
        result = run_check(lab, spec)
        services = asks(spec)
        if not result.passed and result.error is None and services != frozenset():
            if edited is None:
                edited = edited_since_start(lab)
            result.message += reload_note([e for e in edited if services is None or e[0] in services])
        yield result


def run_task(lab: Lab, task: Task) -> Iterator[CheckResult]:
    return run_checks(lab, task.checks)


def run_scenario(lab: Lab, scenario: Scenario) -> Iterator[CheckResult]:
    return run_checks(lab, scenario.checks())
