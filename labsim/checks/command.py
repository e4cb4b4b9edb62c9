"""command: run something in the lab as the admin would, and judge its exit code and output."""

from __future__ import annotations

import re
import shlex

from labsim.checks.base import listing, p_float, p_int, p_list, p_opt, said, verdict
from labsim.checks.explain import authtest_failed, dump_shows
from labsim.checks.result import CheckResult
from labsim.checks.session import DEFAULT_TIMEOUT
from labsim.lab.model import Lab
from labsim.scenario.model import CheckSpec

DOES_NOT_SHOW = "its output does not show that"


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
    out = result.output
    contains, lacks = p_list(spec, "output_contains"), p_list(spec, "output_not_contains")
    pattern = p_opt(spec, "output_matches")
    shows = p_opt(spec, "shows")
    problems = []
    if result.code == 124 and "timed out" in out:
        problems.append(f"it did not finish within {timeout:g} seconds")
    elif result.code != want_code:
        problems.append(f"it should exit with {want_code}, not {result.code}")
    problems += [f'its output should contain "{s}"' for s in contains if s not in out]
    problems += [_still_says(out, s) for s in lacks if s in out]
    if pattern is not None:
        try:
            if not re.search(pattern, out, re.MULTILINE):
                # A scenario that says in words what the output shows is spared the raw pattern.
                problems.append(DOES_NOT_SHOW if shows else f"its output should match /{pattern}/")
        except re.error as exc:
            problems.append(f"the check's pattern is broken: {exc}")
    last = (out.strip().splitlines()[-1:] or [""])[0].strip()
    # A problem that quotes the unwanted line (or the last line itself) has said what the last line says.
    quoted = any(w in last for w in lacks if w in out) or any(last and said(last, 300) in p for p in problems)
    if shows and not any(p.startswith(("it did not finish", "the check's pattern")) for p in problems):
        # The scenario says in words what the output must show (a script's own last line says what
        # is missing): exit codes and patterns are the check's internals, not the learner's.
        told = [p for p in problems if not p.startswith("it should exit with") and p != DOES_NOT_SHOW]
        quoted = any(last and said(last, 300) in p for p in told)
        detail = f"Expected {shows.rstrip('.')}."
        if not quoted:
            detail += f" Seen: it printed {said(last, 300)}." if last else " Seen: it printed nothing."
        if told:
            detail += " Problem: " + "; ".join(told) + "."
        if problems:
            why = authtest_failed(out) or dump_shows(shown)
            detail += f" {why}" if why else ""
        return verdict(spec, not problems, detail, transcript)
    seen = f"exit status {result.code}"
    if not quoted:
        seen += f", last line {said(last)}" if last else ", no output"
    if not shows:
        wants = [f"exit with {want_code}"] + [f'print "{s}"' for s in contains]
        wants += [f'not print "{s}"' for s in lacks]
        wants += [f"print a line matching /{pattern}/"] if pattern is not None else []
        shows = f"`{shown}` to {listing(wants)}"
    detail = f"Expected {shows.rstrip('.')}. Seen: {seen}."
    if problems:
        detail += " Problem: " + "; ".join(problems) + "."
        # Tools whose output hides the cause: the sentence that names what decides.
        why = authtest_failed(out) or dump_shows(shown)
        detail += f" {why}" if why else ""
    return verdict(spec, not problems, detail, transcript)


def _still_says(output: str, word: str) -> str:
    """The unwanted word in the line that holds it: the line is what the learner must read."""
    lines = [line.strip() for line in output.splitlines() if word in line]
    others = len(lines) - 1
    more = f" (and {others} more line{'s' if others > 1 else ''} like it)" if others else ""
    return f'its output should not contain "{word}", but it says {said(lines[0], 300)}{more}'
