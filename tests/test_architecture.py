"""The package's rooms keep their import rules (docs/architecture.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "labsim"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "labsim.mailserver.<relative>"))
    return found


def python_files(room: Path) -> list[Path]:
    files = sorted(room.rglob("*.py"))
    assert files, f"no Python files under {room}"
    return files


def test_mailserver_uses_only_the_standard_library() -> None:
    offenders = []
    for path in python_files(PACKAGE / "mailserver"):
        for line, module in imported_modules(path):
            top = module.split(".")[0]
            if module.startswith("labsim.mailserver") or top in sys.stdlib_module_names:
                continue
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: imports {module}")
    assert offenders == []


def test_mailserver_does_not_import_the_rest_of_labsim() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: imports {module}"
        for path in python_files(PACKAGE / "mailserver")
        for line, module in imported_modules(path)
        if module.startswith("labsim") and not module.startswith("labsim.mailserver")
    ]
    assert offenders == []


@pytest.mark.parametrize("path", python_files(PACKAGE), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_textual_only_in_the_tui(path: Path) -> None:
    if (PACKAGE / "tui") in path.parents:
        return
    textual = [m for _, m in imported_modules(path) if m.split(".")[0] == "textual"]
    assert textual == [], f"{path} imports {textual}; only labsim/tui/ may"


def test_detector_sees_a_third_party_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import os\nfrom yaml import safe_load\nimport textual.app\n")
    modules = [m for _, m in imported_modules(sample)]
    assert modules == ["os", "yaml", "textual.app"]


# The arrows point one way: tui/cli -> study -> grading -> checks -> lab -> scenario.
# labsim.mailserver stands alone and may be used by anything below the TUI;
# labsim.paths and the package's __version__ are leaves too.
ALLOWED = {
    "study": {"study", "grading", "checks", "lab", "scenario", "mailserver", "paths", ""},
    "classroom": {"classroom", "grading", "checks", "lab", "scenario", "mailserver", "paths", ""},
    "scenario": {"scenario"},
    "lab": {"lab", "scenario", "mailserver", "paths", ""},
    "checks": {"checks", "lab", "scenario", "mailserver", "paths", ""},
    "grading": {"grading", "checks", "scenario", "paths", ""},
}


def labsim_room(module: str) -> str | None:
    """'labsim.lab.model' -> 'lab'; 'labsim' (for __version__) -> ''."""
    if module == "labsim":
        return ""
    if module.startswith("labsim."):
        return module.split(".")[1]
    return None


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_rooms_import_only_downstream(room: str) -> None:
    if not (PACKAGE / room).is_dir():
        pytest.skip(f"labsim/{room} does not exist yet")
    offenders = []
    for path in python_files(PACKAGE / room):
        for line, module in imported_modules(path):
            target = labsim_room(module)
            if target is not None and target not in ALLOWED[room]:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: imports {module}")
    assert offenders == []
