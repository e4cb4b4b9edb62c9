"""Titles in the home screen's list take the room a wide terminal gives them."""

from __future__ import annotations

from pathlib import Path

from labsim.grading.progress import ScenarioProgress
from labsim.tui.app import LabsimApp
from labsim.tui.components.scenario_list import TITLE_WIDTH, ScenarioList, title_width
from labsim.tui.services import ScenarioRow
from tests.tui.tui_fakes import FakeServices, scenario, sync

LONG = "POP3 for migrated users: UIDLs and exact sizes, as the old clients expect them"


def long_title_services() -> FakeServices:
    fake = FakeServices()
    fake.rows[0] = ScenarioRow(scenario("dovecot-pop3", LONG, ["dovecot"]), ScenarioProgress("dovecot-pop3"))
    return fake


def test_title_width_grows_with_the_terminal_but_not_past_the_longest_title() -> None:
    rows = [ScenarioRow(scenario("a", LONG, ["dovecot"]), ScenarioProgress("a"))]
    assert title_width(rows, 80) == TITLE_WIDTH
    assert TITLE_WIDTH < title_width(rows, 110) < len(LONG)
    assert title_width(rows, 300) == len(LONG)


@sync
async def test_a_resize_rerenders_the_titles(tmp_path: Path) -> None:
    app = LabsimApp(long_title_services(), keymap_file=tmp_path / "none.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        listing = app.screen.query_one(ScenarioList)
        narrow = str(listing.get_option("dovecot-pop3").prompt)
        assert "…" in narrow and LONG not in narrow
        await pilot.resize_terminal(160, 30)
        await pilot.pause()
        wide = str(listing.get_option("dovecot-pop3").prompt)
        assert LONG in wide
