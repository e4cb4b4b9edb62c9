"""command: run something in the lab as the admin would, and judge its exit code and output."""

from __future__ import annotations

import re
import shlex

from labsim.checks.base import p_float, p_int, p_list, p_opt, verdict
from labsim.checks.result import CheckResult
from labsim.checks.session import DEFAULT_TIMEOUT
from labsim.lab.model import Lab
from labsim.scenario.model import CheckSpec


def command(lab: Lab, spec: CheckSpec) -> CheckResult:
    shell = p_opt(spec, "shell")
    argv = ["sh", "-c", shell] if shell is not None else p_list(spec, "argv")
    shown = shell if shell is not None else shlex.join(argv)
    timeout = p_float(spec, "timeout", DEFAULT_TIMEOUT)
    result = lab.exec(argv, timeout=timeout)
    transcript = f"$ {shown}\n{result.output}" + ("" if result.output.endswith("\n") else "\n")
    transcript += f"[exit {result.code}]\n"
    want_code = p_int(spec, "exit_code")
    want_code = 0 if want_code is None else want_code
    problems = []
    if result.code == 124 and "timed out" in result.output:
        problems.append(f"it did not finish within {timeout:g} seconds")
    elif result.code != want_code:
        problems.append(f"it should exit with {want_code}, not {result.code}")
    out = result.output
    problems += [f"its output should contain {s!r}" for s in p_list(spec, "output_contains") if s not in out]
    problems += [
        f"its output should not contain {s!r}" for s in p_list(spec, "output_not_contains") if s in out
    ]
    pattern = p_opt(spec, "output_matches")
    if pattern is not None:
        try:
            if not re.search(pattern, out, re.MULTILINE):
                problems.append(f"its output should match /{pattern}/")
        except re.error as exc:
            problems.append(f"the check's pattern is broken: {exc}")
    last = out.strip().splitlines()[-1:] or ["(no output)"]
    detail = f"Ran `{shown}`: exit {result.code}, last line {last[0]!r}."
    if problems:
        detail += " Problem: " + "; ".join(problems) + "."
    return verdict(spec, not problems, detail, transcript)
