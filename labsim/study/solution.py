"""The reference solution as Markdown: what `labsim solve` and the app's solution view show."""

from __future__ import annotations

from dataclasses import dataclass, field

from labsim.scenario.model import Scenario


@dataclass
class Solution:
    markdown: str
    applied_output: list[str] = field(default_factory=list)  # what each solution command printed
    applied_codes: list[int] = field(default_factory=list)  # and its exit status


def solution_markdown(scenario: Scenario) -> str:
    parts = [f"# Reference solution: {scenario.title}", ""]
    for f in scenario.solution.files:
        try:
            text = scenario.file_bytes(f).decode("utf-8", "replace")
        except OSError as exc:
            text = f"(cannot read {f.source}: {exc.strerror})"
        parts += [f"`{f.path}` (mode {f.mode:04o}):", "", "```", text.rstrip("\n"), "```", ""]
    if scenario.solution.commands:
        parts += ["Then run:", "", "```", *scenario.solution.commands, "```"]
    if len(parts) == 2:
        parts.append("This scenario has no reference solution.")
    return "\n".join(parts)
