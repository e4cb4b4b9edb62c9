"""Finding a scenario by the id a learner typed, and naming the nearest ids when it is not there."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from labsim.scenario.errors import ScenarioError, ScenarioNotFound
from labsim.scenario.loader import SCENARIO_FILE, validate_scenario
from labsim.scenario.model import Scenario
from labsim.scenario.registry import ScenarioRegistry
from labsim.study.errors import ServiceError, UnknownScenario


def single_folder(registry: ScenarioRegistry) -> Path | None:
    """LABSIM_SCENARIOS may name one scenario folder: then that scenario alone is listed."""
    root = registry.root
    return root if (root / SCENARIO_FILE).is_file() else None


def nearest(wanted: str, known: list[str], n: int = 3) -> list[str]:
    close = difflib.get_close_matches(wanted, known, n=n, cutoff=0.5)
    # A prefix or a part of the id is what people type most ("pam" for dovecot-pam).
    close += [k for k in known if wanted and wanted in k and k not in close]
    return close[:n]


def unknown_message(wanted: str, known: list[str], where: Path | None = None) -> str:
    close = nearest(wanted, known)
    if close:
        return f'no scenario "{wanted}"; did you mean {" or ".join(close)}? (`labsim list` shows them all)'
    if known:
        return f'no scenario "{wanted}"; `labsim list` shows the {len(known)} there are'
    if where is not None:
        # Most often LABSIM_SCENARIOS names a folder that is not there, or not the scenarios one.
        return f'no scenario "{wanted}": there are no scenario folders in {where} (LABSIM_SCENARIOS)'
    return f'no scenario "{wanted}": no scenarios are installed'


def find_scenario(registry: ScenarioRegistry, scenario_id: str) -> Scenario:
    """The scenario with this id (hidden `_` ones too, when named exactly)."""
    single = single_folder(registry)
    if single is not None:
        scenario, issues = validate_scenario(single, str(single / SCENARIO_FILE))
        if scenario is None:
            raise ServiceError(f"{issues[0]}" if issues else f"{single} is not a valid scenario")
        if scenario.id != scenario_id:
            raise UnknownScenario(unknown_message(scenario_id, [scenario.id]))
        return scenario
    try:
        return registry.get(scenario_id)
    except ScenarioNotFound:
        known = [f.name for f in registry.folders()]
        where = registry.root if os.environ.get("LABSIM_SCENARIOS") else None
        raise UnknownScenario(unknown_message(scenario_id, known, where)) from None
    except ScenarioError as exc:
        first = str(exc.issues[0]) if exc.issues else "it does not load"
        raise ServiceError(
            f"scenario {scenario_id} has errors ({first}); `labsim validate` lists them all"
        ) from None
