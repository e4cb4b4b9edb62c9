"""`labsim assignment run FILE`: a student's self-graded run of a packed assignment.

For each scenario in the file: its lab is made (or found again: the student's
work persists between runs), the student works in it, then the checks grade
it. Working is either an interactive lab shell (on a terminal), a script of
the student's commands run in the lab (`--work SCRIPT`, for CI), or nothing
(`--grade-only`: grade the lab as it is). The report says which labsim, which
scenario versions and which checks (scenario checks hash and checks code
hash) produced the grade.
"""

from __future__ import annotations

import datetime
import json
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from labsim import __version__
from labsim.checks.runner import run_scenario
from labsim.classroom.errors import ClassError, ClassUsageError
from labsim.classroom.package import Assignment, checks_code_hash
from labsim.grading.reports import render_gradescope, render_json, render_junit, render_text
from labsim.grading.score import Grade
from labsim.lab.from_scenario import lab_spec
from labsim.lab.model import STATE_FILE, Lab
from labsim.lab.registry import LabRegistry
from labsim.scenario.model import Scenario

FORMATS = ("gradescope", "json", "junit", "text")
RESULT_FORMAT = "labsim-assignment-result"


@dataclass
class AssignmentResult:
    assignment: Assignment
    grades: list[Grade]
    checks_code: str = field(default_factory=checks_code_hash)

    @property
    def points(self) -> float:
        return sum(g.score.total for g in self.grades)

    @property
    def max_points(self) -> float:
        return sum(g.score.max_points for g in self.grades)

    @property
    def all_passed(self) -> bool:
        return all(g.score.all_passed for g in self.grades)

    def provenance(self) -> dict[str, Any]:
        return {
            "labsim_version": __version__,
            "assignment": self.assignment.file.name,
            "assignment_sha256": self.assignment.digest,
            "checks_code_hash": self.checks_code,
            "packed_checks_code_hash": self.assignment.packed_checks_code,
            "packed_labsim_version": self.assignment.manifest.get("labsim_version", ""),
            "scenarios": [
                {"id": g.scenario_id, "version": g.scenario_version, "checks_hash": g.checks_hash}
                for g in self.grades
            ],
        }


def ensure_lab(
    assignment: Assignment,
    scenario: Scenario,
    backend: str,
    registry: LabRegistry,
    say: Callable[[str], None],
) -> Lab:
    """The scenario's lab for this assignment, made on first use and started."""
    lab_id = assignment.lab_id(scenario)
    if (registry.lab_dir(lab_id) / STATE_FILE).is_file():
        lab = registry.get(lab_id)
        status = lab.status()
        if status.state == "running":
            return lab
        if status.state == "stopped":
            say(f"starting your lab for {scenario.id} ({lab.backend_name}) ...")
            lab.start()
            return lab
        lab.destroy()  # its machine is gone: start over
    wanted = backend
    if wanted == "auto" and scenario.backends == ["docker"]:
        wanted = "docker"
    if wanted != "auto" and wanted not in scenario.backends:
        raise ClassError(f"scenario {scenario.id} runs only on the {' and '.join(scenario.backends)} backend")
    say(f"creating your lab for {scenario.id} ...")
    lab = registry.create(lab_spec(scenario), backend=wanted, lab_id=lab_id)
    lab.state["scenario"] = scenario.id
    lab.save_state()
    lab.start()
    return lab


def grade_lab(lab: Lab, scenario: Scenario, student: str = "") -> Grade:
    results = list(run_scenario(lab, scenario))
    created = float(lab.state.get("created") or time.time())
    return Grade.build(
        scenario,
        results,
        {},
        student=student,
        time_spent_s=round(max(0.0, time.time() - created)),
        backend=lab.backend_name,
    )


def run(
    assignment: Assignment,
    *,
    backend: str = "auto",
    grade_only: bool = False,
    work: Path | None = None,
    student: str = "",
    interactive: bool | None = None,
    say: Callable[[str], None] | None = None,
    registry: LabRegistry | None = None,
) -> AssignmentResult:
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    registry = registry or LabRegistry()
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
    script = None
    if work is not None:
        try:
            script = work.read_text(encoding="utf-8")
        except OSError as exc:
            raise ClassError(f"{work}: cannot read the work script ({exc.strerror})") from None
    if not grade_only and script is None and not interactive:
        raise ClassUsageError(
            "there is no terminal to work in: add --grade-only to grade the labs as they are, "
            "or --work SCRIPT to run your commands in them first"
        )
    if assignment.packed_checks_code and assignment.packed_checks_code != checks_code_hash():
        say(
            f"note: this assignment was packed with labsim {assignment.manifest.get('labsim_version')} "
            f"(checks code {assignment.packed_checks_code}); this labsim's checks code is "
            f"{checks_code_hash()}, and the report says so"
        )
    grades = []
    for scenario in assignment.scenarios:
        lab = ensure_lab(assignment, scenario, backend, registry, say)
        if not grade_only:
            if script is not None:
                say(f"running {work} in the lab of {scenario.id} ...")
                result = lab.exec(["sh", "-c", script], timeout=300)
                if result.output:
                    say(result.output.rstrip("\n"))
                if not result.ok:
                    say(f"{work} exited with {result.code} in the lab of {scenario.id}; grading anyway")
            else:
                say(f"\n{scenario.title}\n\n{scenario.brief}")
                say(f"Your lab shell for {scenario.id}: leave it (exit) to have your work graded.")
                lab.shell()
        say(f"checking {scenario.id} ...")
        grades.append(grade_lab(lab, scenario, student))
    return AssignmentResult(assignment, grades)


# --- reports ----------------------------------------------------------------------------


def render_result(result: AssignmentResult, fmt: str) -> str:
    if fmt == "gradescope":
        return _gradescope(result)
    if fmt == "json":
        data = {
            "format": RESULT_FORMAT,
            "format_version": 1,
            **result.provenance(),
            "points": result.points,
            "max_points": result.max_points,
            "all_passed": result.all_passed,
            "graded_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "grades": [json.loads(render_json(g)) for g in result.grades],
        }
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "junit":
        root = ET.fromstring(render_junit(result.grades).split("\n", 1)[1])
        for suite in root.findall("testsuite"):
            props = suite.find("properties")
            if props is not None:
                for name in ("checks_code_hash", "assignment_sha256"):
                    ET.SubElement(props, "property", name=name, value=str(result.provenance()[name]))
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    if fmt == "text":
        parts = [render_text(g) for g in result.grades]
        prov = result.provenance()
        parts.append(
            f"assignment {prov['assignment']} ({result.assignment.short}) · checks code {result.checks_code}"
            f" · labsim {__version__}\ntotal {result.points:g}/{result.max_points:g}\n"
        )
        return "\n".join(parts)
    raise ClassError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")


def _gradescope(result: AssignmentResult) -> str:
    """One results.json for the whole submission: every scenario's tests, the points summed."""
    tests: list[dict[str, Any]] = []
    output: list[str] = []
    execution = 0
    for grade in result.grades:
        data = json.loads(render_gradescope(grade))
        for test in data["tests"]:
            if len(result.grades) > 1:
                test["name"] = f"{grade.scenario_id} · {test['name']}"
            test["number"] = str(len(tests) + 1)
            tests.append(test)
        output.append(data["output"])
        execution += int(data.get("execution_time", 0))
    prov = result.provenance()
    output.append(f"checks code {result.checks_code}, assignment {result.assignment.short}")
    # results.json has no field for who was graded; Gradescope keeps extra_data with the result.
    students = sorted({g.student for g in result.grades if g.student})
    if students:
        prov["student"] = students[0]
    data = {
        "score": round(result.points, 6),
        "execution_time": execution,
        "output": "\n".join(output),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {**prov, "max_score": result.max_points},
        "tests": tests,
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_report(text: str, out: Path | None, stdout: TextIO | None = None) -> None:
    if out is None:
        (stdout or sys.stdout).write(text)
        return
    # Its folder was checked before the labs were (outpath.check_out_file): nothing is made here.
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
