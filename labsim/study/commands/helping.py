"""`labsim hint ID [TASK]` (the next graduated hint, counted) and `labsim solve ID` (the solution)."""

from __future__ import annotations

import argparse

from labsim.scenario.text import hint_cost_text
from labsim.study.commands.activity import Activity
from labsim.study.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    confirm,
    err,
    existing_lab,
    scenario,
    session,
)


def cmd_hint(args: argparse.Namespace) -> int:
    study = session(args)
    scen = scenario(study, args.scenario)
    existing_lab(study, scen)  # hints count against an attempt, and an attempt is made in a lab
    task_id = args.task or study.next_hint_task(scen)
    if task_id is None:
        print(f"every hint of {scen.id} has been shown; `labsim solve {scen.id}` shows the solution")
        return EXIT_OK
    shown = study.next_hint(scen, task_id)
    if shown is None:
        print(f"every hint of task {task_id} has been shown; `labsim solve {scen.id}` shows the solution")
        return EXIT_OK
    task = scen.task(task_id)
    title = task.title if task is not None and task.title else task_id
    print(
        f"hint {shown.index + 1} of {shown.total} for task {task_id}: {title} ({hint_cost_text(shown.cost)})"
    )
    print()
    print(shown.hint.text.rstrip())
    return EXIT_OK


def cmd_solve(args: argparse.Namespace) -> int:
    study = session(args)
    scen = scenario(study, args.scenario)
    lab = existing_lab(study, scen)
    confirm(
        f"Apply the reference solution of {scen.id} to lab {lab.lab_id}? "
        "This attempt will count as solved by the solution, not by you.",
        args.yes,
        f"applying the solution of {scen.id}",
    )
    with Activity() as activity:
        activity.step(f"applying the reference solution in lab {lab.lab_id}")
        solution = study.reveal_solution(scen, apply=True)
    print(solution.markdown)
    outputs = [text.rstrip() for text in solution.applied_output if text.strip()]
    if outputs:
        print("\nWhat the commands printed:\n")
        print("\n".join(outputs))
    failed = [
        f"`{line}` (exit status {code})"
        for line, code in zip(scen.solution.commands, solution.applied_codes, strict=False)
        if code != 0
    ]
    if failed:
        err(f"the solution was applied but {', '.join(failed)} failed; see its output above")
        return EXIT_FAILED
    print(f"\nsolution applied; the attempt is marked solved by the solution. Now: labsim check {scen.id}")
    return EXIT_OK
