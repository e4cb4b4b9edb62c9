"""An installed labsim carries its scenarios: the wheel's package data covers every file under scenarios/.

(Building a wheel here would need setuptools from PyPI; tests stay on loopback, so the
package-data globs are checked the way setuptools applies them, from the package dir.)
"""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUNDLE = REPO / "labsim" / "bundled_scenarios"


def test_the_bundle_link_points_at_scenarios() -> None:
    assert BUNDLE.is_symlink()
    assert BUNDLE.resolve() == (REPO / "scenarios").resolve()


def test_package_data_covers_every_scenario_file() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["labsim"]
    covered = {p.resolve() for pattern in patterns for p in (REPO / "labsim").glob(pattern) if p.is_file()}
    files = {p.resolve() for p in (REPO / "scenarios").rglob("*") if p.is_file()}
    assert any(p.name == "scenario.yaml" and p.parent.name == "dovecot-pop3" for p in files)
    assert files <= covered, sorted(str(p) for p in files - covered)


def test_the_source_tree_finds_scenarios_through_the_bundle_link() -> None:
    from labsim.scenario.registry import default_scenarios_dir

    assert default_scenarios_dir() == (REPO / "scenarios").resolve()


def test_package_data_covers_every_non_python_file_of_the_package() -> None:
    """labsim.tcss, default config trees, mkcert.sh ...: an installed labsim needs them all."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    covered: set[Path] = set()
    for package, patterns in config["tool"]["setuptools"]["package-data"].items():
        base = REPO.joinpath(*package.split("."))
        covered |= {p.resolve() for pattern in patterns for p in base.glob(pattern) if p.is_file()}
    files = {
        p.resolve()
        for p in (REPO / "labsim").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc", ".typed") and "__pycache__" not in p.parts
    }
    assert any(p.name == "labsim.tcss" for p in files)
    assert files <= covered, sorted(str(p.relative_to(REPO.resolve())) for p in files - covered)
