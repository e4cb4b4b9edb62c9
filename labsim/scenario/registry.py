"""Find scenarios: every folder under a scenarios directory that holds scenario.yaml."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from labsim.scenario.errors import ScenarioError, ScenarioIssue, ScenarioNotFound
from labsim.scenario.loader import SCENARIO_FILE, validate_scenario
from labsim.scenario.model import Scenario


def default_scenarios_dir() -> Path:
    """LABSIM_SCENARIOS, or the scenarios that come with labsim.

    In the source tree labsim/bundled_scenarios is a symlink to scenarios/ (resolved, so
    messages name scenarios/...); in an installed labsim it is the copy the wheel carries."""
    override = os.environ.get("LABSIM_SCENARIOS")
    if override:
        return Path(override)
    return (Path(__file__).resolve().parent.parent / "bundled_scenarios").resolve()


@dataclass
class ScenarioEntry:
    folder: Path
    scenario: Scenario | None
    issues: list[ScenarioIssue] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.scenario.id if self.scenario else self.folder.name

    @property
    def valid(self) -> bool:
        return self.scenario is not None


def _plain_name(scenario_id: str) -> bool:
    """A folder name right under the scenarios dir: no path, no `.`/`..`, not longer than a name can be."""
    return (
        bool(scenario_id)
        and "/" not in scenario_id
        and not scenario_id.startswith(".")
        and (len(scenario_id.encode("utf-8", "surrogateescape")) <= 255)
    )


class ScenarioRegistry:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else default_scenarios_dir()

    def folders(self, include_hidden: bool = False) -> list[Path]:
        """Scenario folders in name order; `_*` folders (examples, fixtures) only when asked."""
        if not self.root.is_dir():
            return []
        return sorted(
            child
            for child in self.root.iterdir()
            if child.is_dir()
            and (child / SCENARIO_FILE).is_file()
            and (include_hidden or not child.name.startswith(("_", ".")))
        )

    def entries(self, include_hidden: bool = False) -> list[ScenarioEntry]:
        out = []
        for folder in self.folders(include_hidden):
            scenario, issues = validate_scenario(folder, self._display(folder))
            out.append(ScenarioEntry(folder, scenario, issues))
        return out

    def scenarios(self, include_hidden: bool = False) -> list[Scenario]:
        """The valid scenarios; invalid ones are left out (`labsim validate` shows why)."""
        return [entry.scenario for entry in self.entries(include_hidden) if entry.scenario is not None]

    def get(self, scenario_id: str) -> Scenario:
        """The scenario with this id (hidden ones too, when named exactly)."""
        folder = self.root / scenario_id
        if _plain_name(scenario_id) and (folder / SCENARIO_FILE).is_file():
            scenario, issues = validate_scenario(folder, self._display(folder))
            if scenario is None:
                raise ScenarioError(issues)
            return scenario
        known = ", ".join(f.name for f in self.folders()) or "none"
        raise ScenarioNotFound(f'no scenario "{scenario_id}" in {self.root} (known: {known})')

    def _display(self, folder: Path) -> str:
        path = folder / SCENARIO_FILE
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)
