"""file: a lab file's existence, mode, owner and content."""

from __future__ import annotations

import re

from labsim.checks.base import p_list, p_mode, p_opt, p_str, verdict
from labsim.checks.result import CheckResult
from labsim.lab.model import Lab, LabError
from labsim.scenario.model import CheckSpec


def stat_file(lab: Lab, path: str) -> tuple[int, str] | None:
    """(mode, "owner:group") or None when there is no such file."""
    result = lab.exec(["stat", "-c", "%a %U:%G", path.lstrip("/") or "."], timeout=10)
    m = re.fullmatch(r"([0-7]+) (\S+)", result.output.strip())
    if not result.ok or not m:
        return None
    return int(m.group(1), 8), m.group(2)


def file_check(lab: Lab, spec: CheckSpec) -> CheckResult:
    path = p_str(spec, "path")
    info = stat_file(lab, path)
    problems: list[str] = []
    seen: list[str] = []
    exists = spec.params.get("exists")
    want_mode, want_owner = p_mode(spec, "mode"), p_opt(spec, "owner")
    contains, lacks = p_list(spec, "contains"), p_list(spec, "not_contains")
    expected = f"Expected {path} " + _wanted(exists, want_mode, want_owner, contains, lacks)
    if info is None:
        seen.append(f"{path} does not exist")
        if exists is not False:
            problems.append(f"{path} should exist")
        return verdict(spec, not problems, f"{expected}. Seen: {'; '.join(seen)}." + _problems(problems))
    mode, owner = info
    seen.append(f"{path} exists with mode {mode:04o}, owned by {owner}")
    if exists is False:
        problems.append(f"{path} should not exist")
    if want_mode is not None and mode != want_mode:
        problems.append(f"its mode should be {want_mode:04o}")
    if want_owner is not None:
        have = owner if ":" in want_owner else owner.split(":")[0]
        if have != want_owner:
            problems.append(f"its owner should be {want_owner}")
    transcript = ""
    if contains or lacks:
        try:
            text = lab.read_file(path).decode("utf-8", "replace")
        except LabError as exc:
            problems.append(str(exc))
            text = ""
        transcript = f"# {path}\n{text}"
        problems += [f'it should contain "{c}"' for c in contains if c not in text]
        problems += [f'it should not contain "{c}"' for c in lacks if c in text]
    detail = f"{expected}. Seen: {'; '.join(seen)}." + _problems(problems)
    return verdict(spec, not problems, detail, transcript)


def _wanted(
    exists: object, mode: int | None, owner: str | None, contains: list[str], lacks: list[str]
) -> str:
    """'to exist, with mode 0600, owned by alice, containing "x"'."""
    if exists is False:
        return "not to exist"
    parts = ["to exist"]
    if mode is not None:
        parts.append(f"with mode {mode:04o}")
    if owner is not None:
        parts.append(f"owned by {owner}")
    parts += [f'containing "{c}"' for c in contains]
    parts += [f'without "{c}"' for c in lacks]
    return ", ".join(parts)


def _problems(problems: list[str]) -> str:
    return f" Problem: {'; '.join(problems)}." if problems else ""
