"""Titles in the home screen's list take the room a wide terminal gives them; in a narrow one they wrap."""

from __future__ import annotations

from pathlib import Path

from labsim.grading.progress import ScenarioProgress
from labsim.tui.app import LabsimApp
from labsim.tui.components.scenario_list import TITLE_WIDTH, Columns, ScenarioList, columns_for, row_prompt
from labsim.tui.services import ScenarioRow
from tests.tui.tui_fakes import FakeServices, scenario, sync

LONG = "POP3 for migrated users: UIDLs and exact sizes, as the old clients expect them"
# The longest bundled title: at 80 columns it was cut to "Dovecot listeners: one address, an extr…".
LISTENERS = "Dovecot listeners: one address, an extra IMAP port, no plain POP3"


def long_title_services() -> FakeServices:
    fake = FakeServices()
    fake.rows[0] = ScenarioRow(scenario("dovecot-pop3", LONG, ["dovecot"]), ScenarioProgress("dovecot-pop3"))
    return fake


def test_titles_take_the_room_there_is_and_the_minutes_give_way_first() -> None:
    rows = [ScenarioRow(scenario("a", LONG, ["dovecot"]), ScenarioProgress("a"))]
    narrow, middle = columns_for(rows, 76), columns_for(rows, 100)
    assert TITLE_WIDTH < narrow.title < middle.title < len(LONG)
    assert not narrow.minutes and not middle.minutes  # the title needs their room
    assert columns_for(rows, 110) == Columns(len(LONG), minutes=False)  # whole, without the minutes
    assert columns_for(rows, 300) == Columns(len(LONG), minutes=True)
    short = [ScenarioRow(scenario("b", "Short", ["dovecot"]), ScenarioProgress("b"))]
    assert columns_for(short, 76) == Columns(TITLE_WIDTH, minutes=True)


def lines_of(prompt: object) -> list[str]:
    return str(prompt).splitlines()


def test_a_long_title_wraps_between_words_and_loses_none() -> None:
    listeners = scenario("a", LISTENERS, ["dovecot"], difficulty="intermediate")
    rows = [ScenarioRow(listeners, ScenarioProgress("a"))]
    layout = columns_for(rows, 76)  # the list's content at 80 columns
    lines = lines_of(row_prompt(rows[0], layout))
    assert len(lines) == 2 and all(len(line) <= 74 for line in lines), lines
    assert "…" not in str(row_prompt(rows[0], layout))
    assert " ".join(line.split("intermediate")[0].strip() for line in lines) == LISTENERS
    assert lines[0].rstrip().endswith("intermediate  not started")  # the columns stay on the first line
    assert "min" not in lines[0]


def test_a_row_with_a_long_progress_still_fits_at_80_columns() -> None:
    # At 80 columns the list's content is 76 wide, 74 beside a scrollbar: "in progress 10/12"
    # used to push the row to 78 and lose its score.
    busy = ScenarioProgress("a", attempts=1, best_score=10, max_score=12)
    rows = [ScenarioRow(scenario("a", LONG, ["dovecot"], difficulty="intermediate"), busy)]
    lines = lines_of(row_prompt(rows[0], columns_for(rows, 76)))
    assert all(len(line) <= 74 for line in lines), lines
    assert lines[0].endswith("in progress 10/12")


@sync
async def test_a_resize_rerenders_the_titles(tmp_path: Path) -> None:
    app = LabsimApp(long_title_services(), keymap_file=tmp_path / "none.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        listing = app.screen.query_one(ScenarioList)
        narrow = lines_of(listing.get_option("dovecot-pop3").prompt)
        assert len(narrow) == 2 and LONG not in narrow[0] and "…" not in "".join(narrow)
        await pilot.resize_terminal(160, 30)
        await pilot.pause()
        wide = lines_of(listing.get_option("dovecot-pop3").prompt)
        assert len(wide) == 1 and LONG in wide[0] and " min " in wide[0]


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


def test_an_exam_row_wraps_a_long_title_whole() -> None:
    from labsim.tui.screens.exam import TITLE_WIDTH as EXAM_TITLE
    from labsim.tui.screens.exam import ExamSession, exam_row

    listeners = scenario("a", LISTENERS, ["dovecot"])
    row = exam_row(ExamSession([listeners], 3600.0), listeners, EXAM_TITLE)
    lines = row.plain.splitlines()
    assert len(lines) == 2 and lines[0].endswith("not checked yet") and "…" not in row.plain
    assert " ".join(line.split("  not checked")[0].strip() for line in lines) == LISTENERS
