"""The walkthrough's reset, in the app on a real local lab: solve honestly, reset (r y), reveal (v y).

The home list still shows the honest pass, the progress store has the pass in the closed attempt and the
reveal in the new one, and after a restart the scenario shows the fresh lab unchecked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from labsim.grading.progress import ProgressStore
from labsim.lab.from_scenario import apply_solution
from labsim.tui.app import LabsimApp
from labsim.tui.components.check_list import CheckList
from labsim.tui.components.scenario_list import ScenarioList
from labsim.tui.screens.confirm import ConfirmScreen
from labsim.tui.screens.home import HomeScreen
from labsim.tui.screens.scenario import ScenarioScreen
from labsim.tui.screens.solution import SolutionScreen
from labsim.tui.services import RealServices
from tests.tui.tui_fakes import sync

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "scenarios" / "_example"
SIZE = (100, 30)


def app_on(home: Path, tmp_path: Path) -> tuple[LabsimApp, RealServices]:
    services = RealServices(scenarios_dir=EXAMPLE, home=home, backend="local")
    return LabsimApp(services, keymap_file=tmp_path / "keymap.toml"), services


async def settle(pilot, app: LabsimApp) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


async def open_example(pilot, app: LabsimApp) -> ScenarioScreen:  # type: ignore[no-untyped-def]
    await settle(pilot, app)
    listing = app.screen.query_one(ScenarioList)
    listing.highlighted = listing.get_option_index("_example")
    await pilot.press("enter")
    await settle(pilot, app)
    assert isinstance(app.screen, ScenarioScreen)
    return app.screen


async def confirm(pilot, app: LabsimApp, key: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(key)
    await pilot.pause()
    assert isinstance(app.screen, ConfirmScreen)
    await pilot.press("y")
    await settle(pilot, app)


def home_row(app: LabsimApp) -> str:
    listing = app.screen.query_one(ScenarioList)
    return str(listing.get_option("_example").prompt)


@sync
async def test_reset_then_reveal_keeps_the_honest_pass(tmp_path: Path) -> None:
    home = tmp_path / "home"
    app, services = app_on(home, tmp_path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_example(pilot, app)
            example = screen.scenario
            for done in apply_solution(services.lab(example), example):  # the learner's own edits
                assert done.ok, done.output
            await pilot.press("c")
            for _ in range(200):  # the checks run in a thread on the real lab
                await settle(pilot, app)
                if not screen.checks_running:
                    break
                await asyncio.sleep(0.05)
            checks = screen.query_one(CheckList)
            assert {checks.state(c.id) for c in example.checks()} == {"passed"}

            await confirm(pilot, app, "r")
            assert {checks.state(c.id) for c in example.checks()} == {"not run"}
            await confirm(pilot, app, "v")
            assert isinstance(app.screen, SolutionScreen)
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("escape")
            await settle(pilot, app)
            assert isinstance(app.screen, HomeScreen)
            assert home_row(app).endswith("passed 7/7")

        with ProgressStore(home / "progress.db") as store:
            before, after = store.attempts("_example")
        assert before.all_passed and not before.solved_by_solution and before.finished_at is not None
        assert after.solved_by_solution and after.run_count == 0

        # Quit and start again: the fresh lab's checks have not run; the ✔ from before are not shown.
        again, _ = app_on(home, tmp_path)
        async with again.run_test(size=SIZE) as pilot:
            screen = await open_example(pilot, again)
            checks = screen.query_one(CheckList)
            assert {checks.state(c.id) for c in screen.scenario.checks()} == {"not run"}
    finally:
        for lab in services.labs.list():
            lab.stop()
