"""Time for a full check run of each scenario on each available backend (issue 4, item 7).

    python -m bench.check_runs [--backend local|docker|all] [--scenario ID ...] [--runs N]
                               [--state fresh|solved|both] [--scenarios DIR]

For each scenario and backend: a lab is made and started (not timed), then the
scenario's checks run N times on the fresh lab and N times after the reference
solution; the median wall time of a run is printed, with how many checks
passed. A throw-away LABSIM_HOME is used and every lab is destroyed after.
Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from labsim.checks.runner import run_scenario
from labsim.lab.from_scenario import apply_solution, lab_spec
from labsim.lab.model import Lab, LabError
from labsim.lab.registry import LabRegistry, choose_backend
from labsim.scenario.errors import ScenarioError, ScenarioNotFound
from labsim.scenario.model import Scenario
from labsim.scenario.registry import ScenarioRegistry

STATES = ("fresh", "solved")


@dataclass
class Cell:
    """One scenario on one backend in one state: run times and the checks passed in the last run."""

    times: list[float] = field(default_factory=list)
    passed: int = 0
    total: int = 0
    error: str = ""

    def text(self) -> str:
        if self.error:
            return f"error: {self.error}"[:40]
        if not self.times:
            return "-"
        return f"{statistics.median(self.times):6.2f} s ({self.passed}/{self.total})"


def time_checks(lab: Lab, scenario: Scenario, runs: int) -> Cell:
    cell = Cell()
    for _ in range(runs):
        started = time.perf_counter()
        results = list(run_scenario(lab, scenario))
        cell.times.append(time.perf_counter() - started)
        cell.passed, cell.total = sum(r.passed for r in results), len(results)
    return cell


def bench_one(scenario: Scenario, backend: str, runs: int, states: list[str]) -> dict[str, Cell]:
    """A lab of the scenario on the backend; the checks timed in each state. The lab is destroyed after."""
    lab = LabRegistry().create(lab_spec(scenario), backend=backend)
    try:
        if lab.spec.services:
            lab.start()  # a refusal is fine: broken-server scenarios start that way
        cells: dict[str, Cell] = {}
        if "fresh" in states:
            cells["fresh"] = time_checks(lab, scenario, runs)
        if "solved" in states:
            apply_solution(lab, scenario)
            cells["solved"] = time_checks(lab, scenario, runs)
        return cells
    finally:
        lab.destroy()


def available_backends(wanted: str) -> tuple[list[str], list[str]]:
    """(backends to run, notes on the ones left out)."""
    names = ["local", "docker"] if wanted == "all" else [wanted]
    usable, notes = [], []
    for name in names:
        try:
            chosen, _ = choose_backend(name)
        except LabError as exc:
            notes.append(f"# {name}: not available ({exc})")
            continue
        usable.append(chosen)
    return usable, notes


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.check_runs", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["local", "docker", "all"], default="all")
    parser.add_argument("--scenario", action="append", metavar="ID", help="only this scenario (repeatable)")
    parser.add_argument("--runs", type=int, default=1, help="check runs per state; the median is shown")
    parser.add_argument("--state", choices=[*STATES, "both"], default="both")
    parser.add_argument("--scenarios", type=Path, metavar="DIR", help="the scenarios folder (default: ours)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    registry = ScenarioRegistry(args.scenarios)
    invalid: list[str] = []
    try:
        if args.scenario:
            scenarios = [registry.get(sid) for sid in args.scenario]
        else:
            entries = registry.entries()
            scenarios = [e.scenario for e in entries if e.scenario is not None]
            invalid = [f"# {e.id}: left out, it does not validate" for e in entries if not e.valid]
    except (ScenarioError, ScenarioNotFound) as exc:
        print(f"check_runs: {exc}", file=sys.stderr)
        return 2
    states = list(STATES) if args.state == "both" else [args.state]
    backends, notes = available_backends(args.backend)
    notes += invalid
    if not backends:
        print("\n".join(notes), file=sys.stderr)
        return 1

    header = ["SCENARIO", "CHECKS"] + [f"{b} {s}" for b in backends for s in states]
    rows = [header]
    totals = {(b, s): 0.0 for b in backends for s in states}
    with tempfile.TemporaryDirectory(prefix="labsim-bench-") as home:
        os.environ["LABSIM_HOME"] = home
        for scenario in scenarios:
            row = [scenario.id, str(len(scenario.checks()))]
            for backend in backends:
                if backend not in scenario.backends:
                    row += ["n/a"] * len(states)
                    continue
                print(f"{scenario.id} on {backend} ...", file=sys.stderr, flush=True)
                try:
                    cells = bench_one(scenario, backend, args.runs, states)
                except LabError as exc:
                    cells = {s: Cell(error=str(exc)) for s in states}
                for state in states:
                    cell = cells[state]
                    row.append(cell.text())
                    if cell.times:
                        totals[(backend, state)] += statistics.median(cell.times)
            rows.append(row)
    rows.append(["total", str(sum(len(s.checks()) for s in scenarios))])
    rows[-1] += [f"{totals[(b, s)]:6.2f} s" for b in backends for s in states]
    print(f"# check run wall time, median of {args.runs} run(s); (passed/checks) in the last run")
    print(table(rows))
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
