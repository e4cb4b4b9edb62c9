"""A scenario in plain text, as every command says it: its brief and tasks, what a hint costs.

One wording for the learner's commands (`labsim start`, `labsim hint`), the instructor's
(`labsim class attach`, `labsim class hint`) and the app's hint notification: they sit in
rooms that may not import each other, and all of them may import this one.
"""

from __future__ import annotations

from labsim.scenario.model import Scenario


def brief_text(scen: Scenario) -> str:
    """The brief and the tasks, as the TUI shows them, for whoever works from the CLI."""
    parts = [f"{scen.title}", "=" * min(len(scen.title), 78), "", scen.brief.strip(), ""]
    for n, task in enumerate(scen.tasks, 1):
        parts += [f"Task {n} of {len(scen.tasks)}: {task.title or task.id}", "", task.text.strip(), ""]
    return "\n".join(parts)


def hint_cost_text(cost: float) -> str:
    """What a hint costs, said either way: someone weighing whether to take a hint wants to know."""
    if not cost:
        return "costs no points"
    return f"costs {cost:g} point{'s' if cost != 1 else ''}"
