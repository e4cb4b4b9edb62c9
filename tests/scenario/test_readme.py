"""scenarios/README.md documents the format as the code declares it."""

from __future__ import annotations

import re
from pathlib import Path

from labsim.scenario.check_types import CHECK_TYPES

REPO = Path(__file__).resolve().parent.parent.parent
README = (REPO / "scenarios" / "README.md").read_text()


def test_the_readme_shows_the_complete_example_verbatim() -> None:
    example = (REPO / "scenarios" / "_example" / "scenario.yaml").read_text()
    assert f"```yaml\n{example.rstrip()}\n```" in README


def test_every_check_type_and_parameter_is_documented() -> None:
    sections = dict(re.findall(r"### `(\w+)`\n(.*?)(?=\n### |\n## |\Z)", README, flags=re.S))
    assert set(CHECK_TYPES) <= set(sections)
    for name, check_type in CHECK_TYPES.items():
        documented = set(re.findall(r"^- `(\w+)`", sections[name], flags=re.M))
        assert documented == {p.name for p in check_type.params}, name
