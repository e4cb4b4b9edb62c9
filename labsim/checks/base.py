"""What every check shares: reading its parameters and building its result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labsim.checks.result import CheckResult
from labsim.lab.model import Lab
from labsim.scenario.model import CheckSpec

CheckFn = Callable[[Lab, CheckSpec], CheckResult]


def p_str(spec: CheckSpec, name: str, default: str = "") -> str:
    value = spec.params.get(name)
    return default if value is None else str(value)


def p_opt(spec: CheckSpec, name: str) -> str | None:
    value = spec.params.get(name)
    return None if value is None else str(value)


def p_float(spec: CheckSpec, name: str, default: float) -> float:
    value = spec.params.get(name)
    try:
        return default if value is None else float(value)
    except (TypeError, ValueError):
        return default


def p_int(spec: CheckSpec, name: str) -> int | None:
    value = spec.params.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def p_list(spec: CheckSpec, name: str) -> list[str]:
    value: Any = spec.params.get(name)
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def p_mode(spec: CheckSpec, name: str) -> int | None:
    """The loader hands modes over as ints already; checks built in code may give octal text."""
    value: Any = spec.params.get(name)
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip().lower().removeprefix("0o")
    try:
        return int(text, 8)
    except ValueError:
        return None


def what(spec: CheckSpec) -> str:
    """The check's own description leads its message: it carries the scenario's point."""
    return spec.description.strip().rstrip(".") or spec.id


def verdict(spec: CheckSpec, passed: bool, detail: str, transcript: str = "") -> CheckResult:
    text = f"{what(spec)}: {'OK' if passed else 'not yet'}. {detail.strip()}"
    return CheckResult(
        check_id=spec.id,
        type=spec.type,
        passed=passed,
        points=spec.points if passed else 0.0,
        max_points=spec.points,
        message=text,
        transcript=transcript,
    )
