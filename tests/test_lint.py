"""ruff and mypy (strict) hold for the whole tree, so CI enforces them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def run_tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=PROJECT, capture_output=True, text=True)


def test_ruff_check() -> None:
    result = run_tool("ruff", "check", "labsim", "tests", "bench", "containers")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run_tool("ruff", "format", "--check", "labsim", "tests", "bench", "containers")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_the_package() -> None:
    result = run_tool("mypy", "labsim")
    assert result.returncode == 0, result.stdout + result.stderr
