"""Notifications go when the learner says so: ctrl+l (its own binding id) or a click, before their timeout.

A learner who asked for a hint at 80x24 had its toast over the check list for 15 seconds.
Escape keeps meaning back: after a check run (which ends with a notification) "c, esc" goes home.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widget import Widget

from labsim.grading.progress import ScenarioProgress
from labsim.scenario.loader import load_scenario
from labsim.tui.app import LabsimApp
from labsim.tui.components.scenario_list import ScenarioList
from labsim.tui.keymap import all_binding_ids
from labsim.tui.screens.home import HomeScreen
from labsim.tui.screens.scenario import ScenarioScreen
from labsim.tui.services import ScenarioRow
from tests.tui.terminal_mirror import TerminalMirror, screen_text
from tests.tui.test_tui_flows import make_app, messages, open_maildir
from tests.tui.tui_fakes import MAILDIR, FakeServices, sync

SMALL = (80, 24)
REPO = Path(__file__).resolve().parents[2]


async def take_a_hint(pilot, app: LabsimApp) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("h")
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()  # the toast rack shows the notification a turn later


def toasts(app: LabsimApp) -> list[Widget]:
    return list(app.screen.query("Toast"))


@sync
async def test_ctrl_l_dismisses_the_hint_and_the_learner_stays(tmp_path: Path) -> None:
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        screen = await open_maildir(pilot, app)
        app.clear_notifications()  # the lab's start may have said something
        await take_a_hint(pilot, app)
        assert messages(app) == ["Which setting says where mail is?"] and toasts(app)
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert messages(app) == [] and toasts(app) == []
        assert app.screen is screen  # still in the scenario
        await pilot.press("ctrl+l")  # nothing left: nothing happens
        await pilot.pause()
        assert app.screen is screen


@sync
async def test_escape_goes_back_even_with_a_notification_shown(tmp_path: Path) -> None:
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await open_maildir(pilot, app)
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert any("checks pass" in m for m in messages(app))
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


@sync
async def test_a_click_dismisses_a_toast(tmp_path: Path) -> None:
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await open_maildir(pilot, app)
        app.clear_notifications()
        await take_a_hint(pilot, app)
        (toast,) = toasts(app)
        assert await pilot.click(toast)
        await pilot.pause()
        assert messages(app) == [] and toasts(app) == []
        assert isinstance(app.screen, ScenarioScreen)


@sync
async def test_the_dismiss_key_moves_with_the_keymap(tmp_path: Path) -> None:
    assert "app.dismiss_notifications" in all_binding_ids()
    (tmp_path / "keymap.toml").write_text('"app.dismiss_notifications" = "f9"\n')
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        screen = await open_maildir(pilot, app)
        app.clear_notifications()
        await take_a_hint(pilot, app)
        await pilot.press("ctrl+l")  # moved away: no longer dismisses
        await pilot.pause()
        assert messages(app) != []
        await pilot.press("f9")
        await pilot.pause()
        assert messages(app) == [] and app.screen is screen


@sync
async def test_the_palette_offers_to_dismiss_while_notifications_are_shown(tmp_path: Path) -> None:
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        screen = await open_maildir(pilot, app)
        app.clear_notifications()
        await pilot.pause()
        assert "Dismiss the notifications" not in [c.title for c in app.get_system_commands(screen)]
        await take_a_hint(pilot, app)
        (command,) = [c for c in app.get_system_commands(screen) if c.title == "Dismiss the notifications"]
        command.callback()
        await pilot.pause()
        assert messages(app) == []


@sync
async def test_a_hint_is_shown_as_written_with_what_it_costs(tmp_path: Path) -> None:
    # Hints quote configuration sections and protocol answers: [imap] or [AUTH] are text, not markup.
    maildir = copy.deepcopy(MAILDIR)  # the shared one keeps its hints
    maildir.tasks[1].hints[0].text = "Look for [imap] in `doveconf -n`; a refusal says [AUTH]."
    fake = FakeServices()
    fake.rows[0] = ScenarioRow(maildir, ScenarioProgress(maildir.id))
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        screen = await open_maildir(pilot, app)
        task = screen.scenario.tasks[1]
        for passed in fake.results[:2]:  # the first task's checks pass: the second task is current
            screen.check_list.set_result(replace(passed, passed=True, points=passed.max_points))
        assert screen.check_list.current_task_id() == task.id
        app.clear_notifications()
        await take_a_hint(pilot, app)
        (note,) = list(app._notifications)
        assert note.message == "Look for [imap] in `doveconf -n`; a refusal says [AUTH]."
        assert note.title == "Hint 1 of 1 (costs 0.5 points)"
        assert "[imap]" in str(toasts(app)[0].render())


# --- a dismissed notification leaves the terminal too -------------------------------------------
# At 80x24 the hint scrolls the brief to its end in the same frame as its toast shows; Textual 8.2.8
# then forgot to redraw where the toast was once it went (ctrl+l, a click, its timeout). The screen's
# full render (export_screenshot) never showed it: what the terminal was sent did (TerminalMirror).

PAM = REPO / "scenarios" / "dovecot-pam"


async def hint_on_pam(pilot, app: LabsimApp) -> TerminalMirror:  # type: ignore[no-untyped-def]
    mirror = TerminalMirror(app, *SMALL)
    await pilot.pause()
    listing = app.screen.query_one(ScenarioList)
    listing.highlighted = listing.get_option_index("dovecot-pam")
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.clear_notifications()
    await take_a_hint(pilot, app)
    await app.workers.wait_for_complete()  # the brief scrolled to its end
    await pilot.pause()
    assert "Hint 1 of 3" in mirror.text() and "`doveconf -n`" in mirror.text()
    return mirror


def pam_services() -> FakeServices:
    pam = load_scenario(PAM)
    return FakeServices(rows=[ScenarioRow(pam, ScenarioProgress(pam.id))])


@pytest.mark.parametrize("how", ["ctrl+l", "click", "timeout"])
@sync
async def test_a_hint_notification_leaves_the_80x24_terminal(how: str, tmp_path: Path) -> None:
    app = make_app(pam_services(), tmp_path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        mirror = await hint_on_pam(pilot, app)
        (toast,) = toasts(app)
        if how == "ctrl+l":
            await pilot.press("ctrl+l")
        elif how == "click":
            await pilot.click(toast)
        else:
            toast._expire()  # type: ignore[attr-defined]  # what its 15 s timer calls
        for _ in range(3):
            await pilot.pause()
        assert messages(app) == [] and toasts(app) == []
        shown = mirror.text()
        # The toast's title, and its text as written (the brief, rendered Markdown, shows no backticks).
        assert "Hint 1 of 3" not in shown and "`doveconf -n`" not in shown
        # What the terminal shows is the screen as it is: nothing of the toast is left anywhere.
        assert shown == screen_text(app)
