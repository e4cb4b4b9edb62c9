"""A class record someone edited by hand: every `labsim class` command answers with one sentence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LABSIM = Path(sys.executable).with_name("labsim")

RECORDS = {
    "limits not a mapping": {
        "name": "c1",
        "students": [{"id": "ann", "name": "ann"}],
        "scenarios": ["_example"],
        "backend": "local",
        "limits": "x",
    },
    "a student not a mapping": {"name": "c1", "students": ["ann"], "scenarios": ["_example"]},
    "not JSON": "garbage{",
}


@pytest.mark.parametrize("record", RECORDS.values(), ids=RECORDS.keys())
@pytest.mark.parametrize("command", [["status"], ["hint", "ann"], ["down", "--yes"]], ids=lambda c: c[0])
def test_a_damaged_class_record_is_one_sentence(tmp_path: Path, record: object, command: list[str]) -> None:
    path = tmp_path / "classes" / "c1" / "class.json"
    path.parent.mkdir(parents=True)
    path.write_text(record if isinstance(record, str) else json.dumps(record))
    env = {**os.environ, "LABSIM_HOME": str(tmp_path)}
    proc = subprocess.run(
        [str(LABSIM), "class", *command, "--name", "c1"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"labsim: the record of class 'c1' is unreadable ({path}: ")
    assert len(proc.stderr.splitlines()) == 1
    assert path.exists()  # nothing was thrown away


@pytest.mark.parametrize("command", [["up", "--roster", "r.csv", "--scenario", "_example"], ["grade"]])
def test_zero_workers_get_the_usage(tmp_path: Path, command: list[str]) -> None:
    env = {**os.environ, "LABSIM_HOME": str(tmp_path)}
    proc = subprocess.run(
        [str(LABSIM), "class", *command, "--workers", "0"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.endswith("error: argument --workers: at least 1 lab at a time, not 0\n")
    assert not (tmp_path / "labs").exists()
