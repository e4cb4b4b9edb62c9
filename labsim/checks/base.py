"""What every check shares: reading its parameters and building its result."""

from __future__ import annotations

import re
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
    # A quoted server line ends its own sentence: "...failed." needs no second full stop.
    detail = re.sub(r'([.!?])"\.(?=\s|$)', r'\1"', detail.strip())
    text = f"{what(spec)}: {'OK' if passed else 'not yet'}. {detail}"
    return CheckResult(
        check_id=spec.id,
        type=spec.type,
        passed=passed,
        points=spec.points if passed else 0.0,
        max_points=spec.points,
        message=text,
        transcript=transcript,
    )


# --- wording shared by every check's message, so they read alike ---


def said(text: str, limit: int = 160) -> str:
    """A line the server or a tool printed, quoted as it was said (no Python escapes); long ones cut."""
    text = text.strip()
    if not text:
        return "nothing"
    # IMAP's answers after a login carry the whole capability list; it hides the words that matter.
    text = re.sub(r"\[CAPABILITY [^\]]*\]", "[CAPABILITY ...]", text)
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return f'"{text}"'


def value(text: str) -> str:
    """A setting's value or a word a check looks for, as a learner would type it."""
    return f"`{text}`" if text.strip() else "an empty value"


def count(n: int | None, word: str, plural: str = "") -> str:
    """'1 message', '3 messages', 'no messages'."""
    many = plural or f"{word}s"
    if n is None:
        return many
    if n == 0:
        return f"no {many}"
    return f"{n} {word if n == 1 else many}"


def listing(items: list[str] | list[int], last: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    words = [str(i) for i in items]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"
