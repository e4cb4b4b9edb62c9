"""The scenario and grading rooms keep their import arrows (docs/architecture.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent.parent / "labsim"

ALLOWED = {
    # scenario: the standard library and yaml only, so anything can load a scenario.
    "scenario": ("yaml", "labsim.scenario"),
    # grading: scenarios, check results, and labsim's version and data dir.
    "grading": ("labsim.grading", "labsim.scenario", "labsim.checks.result", "labsim.paths", "labsim"),
}


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_room_imports(room: str) -> None:
    offenders = []
    for path in sorted((PACKAGE / room).rglob("*.py")):
        for module in imports(path):
            if module.split(".")[0] in sys.stdlib_module_names:
                continue
            if module == "labsim" or any(
                module == a or module.startswith(a + ".") for a in ALLOWED[room] if a != "labsim"
            ):
                continue
            offenders.append(f"{path.relative_to(PACKAGE.parent)}: {module}")
    assert offenders == []


def test_check_result_stands_alone() -> None:
    assert [
        m for m in imports(PACKAGE / "checks" / "result.py") if m.split(".")[0] not in sys.stdlib_module_names
    ] == []
