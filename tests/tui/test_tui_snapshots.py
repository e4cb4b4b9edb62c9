"""What the learner sees, at 80x24 and 120x40 (pytest-textual-snapshot; --snapshot-update to accept)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from labsim.grading.progress import ScenarioProgress
from labsim.tui.app import LabsimApp
from labsim.tui.components.check_list import CheckList
from labsim.tui.components.scenario_list import ScenarioList
from labsim.tui.screens.solution import SolutionScreen
from labsim.tui.services import ScenarioRow
from tests.tui.tui_fakes import MAILDIR, MBOX, FakeServices, scenario, teaching_services

SIZES = [(80, 24), (120, 40)]
Compare = Callable[..., bool]


def services() -> FakeServices:
    fake = FakeServices()
    fake.rows[0] = ScenarioRow(
        MAILDIR, ScenarioProgress(MAILDIR.id, attempts=1, best_score=5, max_score=5, completed=True)
    )
    fake.rows[1] = ScenarioRow(MBOX, ScenarioProgress(MBOX.id, attempts=2, best_score=2, max_score=5))
    return fake


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    pilot.app.clear_notifications()
    await pilot.pause()


async def open_maildir_and_check(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    listing = pilot.app.screen.query_one(ScenarioList)
    listing.highlighted = listing.get_option_index(MAILDIR.id)
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("c")
    await settle(pilot)
    checks = pilot.app.screen.query_one(CheckList)
    checks.highlighted = checks.get_option_index("alice-inbox")
    await settle(pilot)


def app(tmp_path: Path) -> LabsimApp:
    return LabsimApp(services(), keymap_file=tmp_path / "none.toml")


def steps(*fns: Callable[[Pilot[Any]], Awaitable[None]]) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run(pilot: Pilot[Any]) -> None:
        for fn in fns:
            await fn(pilot)

    return run


async def press_t(pilot: Pilot[Any]) -> None:
    await pilot.press("t")
    await settle(pilot)


async def exam_finished(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("e")
    await pilot.pause()
    await pilot.press("y")  # yes, start the exam
    await settle(pilot)
    await pilot.press("enter")  # the first scenario (Point Dovecot at the users' Maildirs)
    await settle(pilot)
    await pilot.press("c")
    await settle(pilot)
    await pilot.press("escape")
    await settle(pilot)
    await pilot.press("f")
    await settle(pilot)
    await pilot.press("y")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_home_screen(snap_compare: Compare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(app(tmp_path), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_scenario_with_mixed_results(snap_compare: Compare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(app(tmp_path), terminal_size=size, run_before=open_maildir_and_check)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_transcript_modal(snap_compare: Compare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(app(tmp_path), terminal_size=size, run_before=steps(open_maildir_and_check, press_t))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_exam_results(snap_compare: Compare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(app(tmp_path), terminal_size=size, run_before=exam_finished)


def teaching_app(tmp_path: Path) -> LabsimApp:
    return LabsimApp(teaching_services(), keymap_file=tmp_path / "none.toml")


def test_transcript_of_a_long_check_at_80x24(snap_compare: Compare, tmp_path: Path) -> None:
    """The description once, the message in a few lines, and the rest for the transcript."""
    assert snap_compare(
        teaching_app(tmp_path), terminal_size=(80, 24), run_before=steps(open_maildir_and_check, press_t)
    )


async def exam_scenario_checked(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("e")
    await pilot.pause()
    await pilot.press("y")
    await settle(pilot)
    exam = pilot.app.screen.session  # type: ignore[attr-defined]
    exam.remaining = lambda now=None: 59 * 60.0  # a still clock: the snapshot must not depend on timing
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("c")
    await settle(pilot)
    checks = pilot.app.screen.query_one(CheckList)
    checks.highlighted = checks.get_option_index("alice-inbox")
    await settle(pilot)


def test_a_scenario_during_the_exam_at_80x24(snap_compare: Compare, tmp_path: Path) -> None:
    """No teaching points, passed or not yet only, and no t/h/v in the footer."""
    assert snap_compare(teaching_app(tmp_path), terminal_size=(80, 24), run_before=exam_scenario_checked)


# Titles as long as the bundled ones: at 80 columns they were cut ("Dovecot listeners: one
# address, an extr…"); now the minutes give way and what still does not fit wraps, whole.
LONG_TITLES = [
    ("dovecot-listeners", "Dovecot listeners: one address, an extra IMAP port, no plain POP3", ["dovecot"]),
    ("dovecot-mbox-spool", "mbox: the inbox in the spool, the folders at home", ["mbox"]),
    ("courier-imap-limits", "Courier-IMAP: switch on the IMAP daemon and limit connections", ["courier"]),
]


def long_titles_app(tmp_path: Path) -> LabsimApp:
    fake = services()
    fake.rows += [
        ScenarioRow(scenario(sid, title, topics, difficulty="intermediate"), ScenarioProgress(sid))
        for sid, title, topics in LONG_TITLES
    ]
    return LabsimApp(fake, keymap_file=tmp_path / "none.toml")


def test_home_screen_with_long_titles_at_80x24(snap_compare: Compare, tmp_path: Path) -> None:
    assert snap_compare(long_titles_app(tmp_path), terminal_size=(80, 24), run_before=settle)


# A solution line wider than the box at 80 columns (courier-pop's sed): it was cut at the box's edge,
# with no way to scroll sideways; now it wraps, whole.
LONG_SOLUTION = """# Reference solution: Courier POP3: start pop3d and offer SASL logins

Then run:

```
sed -i -e 's/^POP3DSTART=.*/POP3DSTART=YES/' -e 's/^POP3AUTH=.*/POP3AUTH="LOGIN PLAIN"/' /etc/courier/pop3d
service courier-pop restart
```"""


async def long_solution(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    pilot.app.push_screen(SolutionScreen(LONG_SOLUTION))
    await settle(pilot)


def test_a_long_solution_line_wraps_at_80x24(snap_compare: Compare, tmp_path: Path) -> None:
    assert snap_compare(app(tmp_path), terminal_size=(80, 24), run_before=long_solution)
