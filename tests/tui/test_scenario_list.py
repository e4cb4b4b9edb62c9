"""Titles in the home screen's list take the room a wide terminal gives them."""

from __future__ import annotations

from pathlib import Path

from labsim.grading.progress import ScenarioProgress
from labsim.tui.app import LabsimApp
from labsim.tui.components.scenario_list import TITLE_WIDTH, ScenarioList, row_prompt, title_width
from labsim.tui.services import ScenarioRow
from tests.tui.tui_fakes import FakeServices, scenario, sync

LONG = "POP3 for migrated users: UIDLs and exact sizes, as the old clients expect them"


def long_title_services() -> FakeServices:
    fake = FakeServices()
    fake.rows[0] = ScenarioRow(scenario("dovecot-pop3", LONG, ["dovecot"]), ScenarioProgress("dovecot-pop3"))
    return fake


def test_title_width_grows_with_the_terminal_but_not_past_the_longest_title() -> None:
    rows = [ScenarioRow(scenario("a", LONG, ["dovecot"]), ScenarioProgress("a"))]
    assert TITLE_WIDTH < title_width(rows, 76) < title_width(rows, 110) < len(LONG)
    assert title_width(rows, 300) == len(LONG)


def test_a_row_with_a_long_progress_still_fits_at_80_columns() -> None:
    # At 80 columns the list's content is 76 wide, 74 beside a scrollbar: "in progress 10/12"
    # used to push the row to 78 and lose its score.
    busy = ScenarioProgress("a", attempts=1, best_score=10, max_score=12)
    rows = [ScenarioRow(scenario("a", LONG, ["dovecot"], difficulty="intermediate"), busy)]
    prompt = row_prompt(rows[0], title_width(rows, 76))
    assert len(prompt) <= 74
    assert str(prompt).endswith("in progress 10/12")


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


@sync
async def test_home_and_up_bring_the_group_heading_into_sight(tmp_path: Path) -> None:
    # At 80x24 Home highlighted the first scenario and left "Dovecot" scrolled away above it.
    fake = FakeServices()
    fake.rows = [  # long enough to scroll
        ScenarioRow(
            scenario(f"dovecot-{n}", f"Dovecot lab {n}", ["dovecot"]), ScenarioProgress(f"dovecot-{n}")
        )
        for n in range(30)
    ]
    app = LabsimApp(fake, keymap_file=tmp_path / "none.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        listing = app.screen.query_one(ScenarioList)
        await pilot.press("end")
        await pilot.pause()
        assert listing.scroll_y > 0
        await pilot.press("home")
        await pilot.pause()
        assert listing.highlighted == 1
        assert listing.scroll_y == 0  # the heading, line 0, is in sight
