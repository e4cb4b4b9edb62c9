"""`labsim validate [PATH...]`: check scenario files and print every problem, compiler style."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from labsim.scenario.errors import ScenarioIssue
from labsim.scenario.loader import SCENARIO_FILE, validate_scenario
from labsim.scenario.model import Scenario
from labsim.scenario.registry import default_scenarios_dir


def _shown(path: Path) -> str:
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def expand(paths: list[str]) -> list[Path]:
    """Scenario files named by the arguments: a scenario.yaml, a scenario folder, or a folder of them.
    No arguments: every scenario under the scenarios directory, examples included."""
    if not paths:
        root = default_scenarios_dir()
        return (
            sorted(child / SCENARIO_FILE for child in root.iterdir() if (child / SCENARIO_FILE).is_file())
            if root.is_dir()
            else []
        )
    out: list[Path] = []
    for arg in paths:
        path = Path(arg)
        if path.is_dir() and not (path / SCENARIO_FILE).exists():
            found = sorted(
                child / SCENARIO_FILE for child in path.iterdir() if (child / SCENARIO_FILE).is_file()
            )
            out.extend(found or [path / SCENARIO_FILE])
        elif path.is_dir():
            out.append(path / SCENARIO_FILE)
        else:
            out.append(path)
    return out


def _summary(scenario: Scenario) -> str:
    checks = scenario.checks()
    return (
        f"{scenario.id} version {scenario.version}: {len(scenario.tasks)} task(s), "
        f"{len(checks)} check(s), {scenario.max_points:g} point(s)"
    )


def run(
    paths: list[str], *, as_json: bool = False, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Exit status: 0 when every scenario is valid, 1 when any is not, 2 when there is nothing to check."""
    out = out or sys.stdout
    err = err or sys.stderr
    files = expand(paths)
    if not files:
        print(f"labsim validate: no scenarios found in {default_scenarios_dir()}", file=err)
        return 2
    results: list[tuple[Path, Scenario | None, list[ScenarioIssue]]] = []
    for file in files:
        scenario, issues = validate_scenario(file, _shown(file))
        results.append((file, scenario, issues))
    bad = [r for r in results if r[1] is None]
    if as_json:
        data = [
            {
                "file": _shown(file),
                "id": scenario.id if scenario else None,
                "valid": scenario is not None,
                "issues": [
                    {"file": i.file, "line": i.line, "where": i.where, "message": i.message, "text": str(i)}
                    for i in issues
                ],
            }
            for file, scenario, issues in results
        ]
        print(json.dumps(data, indent=2), file=out)
        return 1 if bad else 0
    for file, scenario, issues in results:
        if scenario is not None:
            print(f"{_shown(file)}: ok ({_summary(scenario)})", file=out)
        for issue in issues:
            print(issue, file=err)
    errors = sum(len(r[2]) for r in bad)
    if bad:
        print(
            f"{len(results)} scenario(s) checked: {len(results) - len(bad)} valid, "
            f"{len(bad)} with errors ({errors} error(s))",
            file=out,
        )
        return 1
    print(f"{len(results)} scenario(s) checked: all valid", file=out)
    return 0
