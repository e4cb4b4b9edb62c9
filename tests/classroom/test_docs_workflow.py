"""docs/classroom.md's GitHub Actions example, run here: its assignment step and its report step."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from labsim.classroom.package import open_assignment
from labsim.lab.registry import LabRegistry
from labsim.scenario.registry import default_scenarios_dir
from tests.classroom.cli_driver import labsim

DOC = Path(__file__).resolve().parents[2] / "docs" / "classroom.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), re.S)


def workflow_steps() -> list[dict[str, str]]:
    (workflow,) = [b for b in blocks("yaml") if "runs-on" in b]
    data = yaml.safe_load(workflow)
    steps: list[dict[str, str]] = data["jobs"]["grade"]["steps"]
    return steps


def test_the_documented_workflow_reports_the_points(
    tmp_path: Path, labsim_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = workflow_steps()
    (run_step,) = [s for s in steps if "labsim assignment run" in s.get("run", "")]
    (report_step,) = [s for s in steps if s.get("shell") == "python"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    command = os.path.expandvars(run_step["run"]).split("||")[0]
    argv = shlex.split(command)
    assert argv[:3] == ["labsim", "assignment", "run"] and "--backend" in argv and "local" in argv
    assert (
        labsim("assignment", "pack", str(default_scenarios_dir() / "dovecot-maildir"), "--out", argv[3]) == 0
    )
    (work,) = [b for b in blocks("sh") if "etc/dovecot/local.conf" in b]
    Path("work.sh").write_text(work)

    assert labsim(*argv[1:]) == 0
    summary = tmp_path / "summary.md"
    proc = subprocess.run(
        [sys.executable, "-c", report_step["run"]],
        env={**os.environ, "GITHUB_STEP_SUMMARY": str(summary)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("points 5/5 (labsim ")
    assert "- passed: maildir: mail-location" in summary.read_text()
    assignment = open_assignment(Path(argv[3]))
    LabRegistry().get(assignment.lab_id(assignment.scenarios[0])).destroy()
