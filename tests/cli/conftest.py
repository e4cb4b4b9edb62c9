"""Drive the real `labsim` console script, with a private LABSIM_HOME and the example scenario alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.docker.conftest import docker_client, lab_image  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "scenarios" / "_example"
LABSIM = Path(sys.executable).with_name("labsim")  # the console script pip installed


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Labsim:
    """`labsim ARGS` as a learner (or a script) runs it: stdin is not a terminal."""

    def __init__(self, home: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if k not in ("LABSIM_BACKEND", "LABSIM_ROOT")}
        self.env |= {"LABSIM_HOME": str(home), "LABSIM_SCENARIOS": str(EXAMPLE), **(extra_env or {})}

    def __call__(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Run:
        proc = subprocess.run(
            [str(LABSIM), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.env, **(env or {})},
            cwd=self.home.parent,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def destroy_labs(self) -> None:
        listing = self("lab", "list").out.splitlines()[1:]
        for line in listing:
            if line.split():
                self("lab", "destroy", line.split()[0], "--yes")


@pytest.fixture
def labsim(tmp_path: Path) -> Iterator[Labsim]:
    assert LABSIM.is_file(), f"{LABSIM} is missing: pip install -e . puts it there"
    run = Labsim(tmp_path / "home")
    yield run
    run.destroy_labs()


def one_sentence(err: str) -> str:
    """stderr holds exactly one `labsim: ...` line and no traceback; returns it."""
    lines = [line for line in err.splitlines() if line.startswith("labsim")]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    return lines[0]
