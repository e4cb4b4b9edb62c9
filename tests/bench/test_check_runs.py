"""The check-run benchmark runs to the end on one scenario (local backend) and prints its table.
No timing is asserted (timed tests are banned); the pass counts show it ran the real checks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_check_runs_bench_on_the_example_scenario(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.check_runs", "--backend", "local", "--scenario", "_example",
         "--scenarios", str(ROOT / "scenarios")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].split() == ["SCENARIO", "CHECKS", "local", "fresh", "local", "solved"]
    assert re.fullmatch(r"_example +5 +\d+\.\d\d s \(2/5\) +\d+\.\d\d s \(5/5\)", lines[2]), proc.stdout
    assert re.fullmatch(r"total +5 +\d+\.\d\d s +\d+\.\d\d s", lines[3]), proc.stdout
    assert "_example on local ..." in proc.stderr
    assert not list(tmp_path.glob("labsim-bench-*")), "the throw-away LABSIM_HOME was left behind"


def test_check_runs_refuses_an_unknown_scenario() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.check_runs", "--backend", "local", "--scenario", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert 'no scenario "nope"' in proc.stderr
