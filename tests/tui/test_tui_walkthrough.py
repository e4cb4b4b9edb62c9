"""What a learner's walkthrough found, fixed and pinned with Pilot: the exam's integrity (its own
fresh labs, only opened scenarios graded, no answers in check descriptions while it runs, its labs
removed after), a scenario remembering its last run, the exam asking first, the transcript's room
at 80x24, and screenshots saved where labsim keeps its data."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.widgets import OptionList, Static

from labsim.tui.app import LabsimApp
from labsim.tui.components.check_detail import CheckDetail
from labsim.tui.components.check_list import RUNNING, exam_description
from labsim.tui.components.lab_status import LabStatusLine
from labsim.tui.screens.confirm import ConfirmScreen
from labsim.tui.screens.exam import ExamScreen
from labsim.tui.screens.home import HomeScreen
from labsim.tui.screens.scenario import ScenarioScreen
from labsim.tui.screens.transcript import TranscriptScreen
from tests.tui.test_tui_flows import make_app, messages, text_of
from tests.tui.tui_fakes import (
    ALL,
    MAILDIR,
    MIXED,
    TEACHING,
    FakeServices,
    result,
    sync,
    teaching_services,
)

SMALL = (80, 24)
SIZE = (100, 30)
ALL_PASS = [
    result("mail-location", True, 1.0),
    result("alice-inbox", True, 2.0),
    result("no-pop3", True, 2.0),
]


async def settle(pilot, app: LabsimApp) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def start_exam(pilot, app: LabsimApp) -> ExamScreen:  # type: ignore[no-untyped-def]
    await settle(pilot, app)
    await pilot.press("e")
    await pilot.pause()
    assert isinstance(app.screen, ConfirmScreen)
    await pilot.press("y")
    await pilot.pause()
    assert isinstance(app.screen, ExamScreen)
    return app.screen


async def open_in_exam(pilot, app: LabsimApp, exam: ExamScreen, scenario_id: str) -> ScenarioScreen:  # type: ignore[no-untyped-def]
    listing = exam.query_one(OptionList)
    listing.highlighted = listing.get_option_index(scenario_id)
    await pilot.press("enter")
    await settle(pilot, app)
    assert isinstance(app.screen, ScenarioScreen)
    return app.screen


async def hand_in(pilot, app: LabsimApp, exam: ExamScreen) -> None:  # type: ignore[no-untyped-def]
    if app.screen is not exam:
        await pilot.press("escape")
        await pilot.pause()
    assert app.screen is exam
    await pilot.press("f")
    await pilot.pause()
    await pilot.press("y")
    await settle(pilot, app)
    assert exam.session.finished


def shown_keys(screen: ScenarioScreen) -> set[str]:
    return {key for key, active in screen.active_bindings.items() if active.binding.show}


# --- 1. the exam's integrity ---------------------------------------------------------------------


@sync
async def test_an_exam_works_in_fresh_labs_and_grades_only_the_scenarios_opened(tmp_path: Path) -> None:
    fake = FakeServices(exam_results=list(MIXED))
    fake.last[MAILDIR.id] = list(ALL_PASS)  # solved in practice before the exam
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        exam = await start_exam(pilot, app)
        assert len(exam.session.scenarios) == len(ALL)
        screen = await open_in_exam(pilot, app, exam, MAILDIR.id)
        # The exam's own lab, started fresh: practice's lab and its passing run are not the exam's.
        assert f"open {MAILDIR.id} (exam)" in fake.calls and f"open {MAILDIR.id}" not in fake.calls
        assert text_of(screen.query_one(LabStatusLine)).find("lab-exam-0001") >= 0
        assert {screen.check_list.state(c.id) for c in MAILDIR.checks()} == {"not run"}
        await hand_in(pilot, app, exam)

        # Only the scenario opened was checked; the others were not, whatever labs they have.
        assert [c for c in fake.calls if c.startswith("check ")] == [f"check {MAILDIR.id} (exam)"]
        assert set(exam.session.results) == {MAILDIR.id}
        assert exam.session.total() == (1.0, 5.0 * len(ALL))
        rows = [str(exam.query_one(OptionList).get_option_at_index(n).prompt) for n in range(len(ALL))]
        assert sum(row.endswith("not attempted") for row in rows) == len(ALL) - 1
        # Practice progress untouched: nothing recorded there, the exam's run kept by the exam.
        assert fake.recorded == [] and fake.last[MAILDIR.id] == ALL_PASS
        assert [r.check_id for r in fake.exams[0].recorded[0]] == ["mail-location", "alice-inbox", "no-pop3"]

        # Closing the report removes the exam's labs.
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, HomeScreen)
        assert fake.exams[0].ended == [f"lab-exam-{MAILDIR.id}"]
        assert f"The exam's labs were removed: lab-exam-{MAILDIR.id}." in messages(app)


@sync
async def test_leaving_an_exam_unscored_removes_its_labs_too(tmp_path: Path) -> None:
    fake = FakeServices()
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        exam = await start_exam(pilot, app)
        await open_in_exam(pilot, app, exam, MAILDIR.id)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "its labs are removed" in text_of(app.screen.query_one("#question", Static))
        await pilot.press("y")
        await settle(pilot, app)
        assert isinstance(app.screen, HomeScreen)
        assert fake.exams[0].ended == [f"lab-exam-{MAILDIR.id}"]
        assert fake.calls.count("check dovecot-maildir (exam)") == 0


def test_an_exam_description_loses_its_teaching_point_only() -> None:
    assert exam_description(TEACHING) == "Alice logs in to Courier-IMAP on port 143"
    assert exam_description("ssl_cert = </path (the < reads the file (not the name))") == "ssl_cert = </path"
    assert exam_description("No parenthesis here") == "No parenthesis here"
    assert exam_description("(all of it)") == "(all of it)"  # nothing left would say nothing


@sync
async def test_during_the_exam_a_check_says_passed_or_not_yet_and_not_the_answer(tmp_path: Path) -> None:
    fake = teaching_services()
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        exam = await start_exam(pilot, app)
        screen = await open_in_exam(pilot, app, exam, MAILDIR.id)
        checks = screen.check_list
        checks.highlighted = checks.get_option_index("alice-inbox")
        await pilot.pause()
        detail = text_of(screen.query_one(CheckDetail))
        assert "Alice logs in to Courier-IMAP on port 143" in detail and "IMAPDSTART" not in detail
        assert (
            "t" not in shown_keys(screen) and "h" not in shown_keys(screen) and "v" not in shown_keys(screen)
        )
        assert {"c", "s", "l"} <= shown_keys(screen)

        await pilot.press("c")
        await settle(pilot, app)
        detail = text_of(screen.query_one(CheckDetail))
        assert detail.startswith("alice-inbox not yet\nAlice logs in to Courier-IMAP on port 143\n")
        assert "IMAPDSTART" not in detail and "expected" not in detail and "refused" not in detail
        prompt = str(checks.get_option("alice-inbox").prompt)
        assert "IMAPDSTART" not in prompt
        for key, said in [
            ("t", "Transcripts are shown when the exam ends."),
            ("h", "Hints are not available during the exam."),
            ("v", "The solution is not available during the exam."),
        ]:
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is screen and messages(app)[-1] == said

        await hand_in(pilot, app, exam)
        screen = await open_in_exam(pilot, app, exam, MAILDIR.id)
        screen.check_list.highlighted = screen.check_list.get_option_index("alice-inbox")
        await pilot.pause()
        detail = text_of(screen.query_one(CheckDetail))
        assert "refused" in detail  # after the end: everything
        assert {"t", "h", "v"} <= shown_keys(screen)
        assert not screen.check_list.hiding
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TranscriptScreen)


@sync
async def test_an_exam_ending_while_a_scenario_is_open_shows_everything_there(tmp_path: Path) -> None:
    fake = teaching_services()
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        exam = await start_exam(pilot, app)
        screen = await open_in_exam(pilot, app, exam, MAILDIR.id)
        await pilot.press("c")
        await settle(pilot, app)
        screen.check_list.highlighted = screen.check_list.get_option_index("alice-inbox")
        exam.session.seconds = 0  # time is up: the exam screen hands in and comes back to the front
        await pilot.pause(1.5)
        await settle(pilot, app)
        assert exam.session.finished and app.screen is exam
        assert MAILDIR.id in exam.session.results


# --- 2. a scenario remembers its last run --------------------------------------------------------


@sync
async def test_reopening_a_scenario_shows_its_last_run(tmp_path: Path) -> None:
    fake = FakeServices()
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        await pilot.press("c")
        await settle(pilot, app)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot, app)
        screen = app.screen
        assert isinstance(screen, ScenarioScreen) and screen.scenario.id == MAILDIR.id
        states = [screen.check_list.state(c.id) for c in MAILDIR.checks()]
        assert states == ["passed", "failed", "error"]
        screen.check_list.highlighted = screen.check_list.get_option_index("alice-inbox")
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TranscriptScreen)  # the transcript is there too


@sync
async def test_a_run_still_going_shows_as_running_when_the_scenario_is_reopened(tmp_path: Path) -> None:
    fake = FakeServices(gate=threading.Event())
    fake.last[MAILDIR.id] = list(ALL_PASS)  # an older run: not what a run going on should show
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("enter")
        for _ in range(50):
            await pilot.pause(0.02)
            if isinstance(app.screen, ScenarioScreen) and app.screen.lab is not None:
                break
        await pilot.press("c")
        fake.released.release()
        for _ in range(50):
            await pilot.pause(0.02)
            if app.check_progress.get(MAILDIR.id, ([], None))[0]:
                break
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("enter")
        for _ in range(50):
            await pilot.pause(0.02)
            if isinstance(app.screen, ScenarioScreen) and app.screen.lab is not None:
                break
        screen = app.screen
        assert isinstance(screen, ScenarioScreen)
        checks = screen.check_list
        assert [checks.state(c.id) for c in MAILDIR.checks()] == ["passed", RUNNING, "not run"]
        assert "checking" in text_of(screen.query_one(LabStatusLine))
        for _ in range(2):
            fake.released.release()
        for _ in range(100):
            await pilot.pause(0.02)
            if not screen.checks_running:
                break
        await settle(pilot, app)
        assert [checks.state(c.id) for c in MAILDIR.checks()] == ["passed", "failed", "error"]
        assert "1 of 3 checks pass. Score 1/5. Read a failed check's transcript (t)." in messages(app)
        assert app.checks_in_flight == set() and fake.calls.count(f"check {MAILDIR.id}") == 1


# --- 3. the exam asks first ----------------------------------------------------------------------


@sync
async def test_e_asks_before_an_exam_and_says_how_many_scenarios_and_minutes(tmp_path: Path) -> None:
    app = LabsimApp(FakeServices(), keymap_file=tmp_path / "none.toml", exam_minutes=45)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot, app)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        question = text_of(app.screen.query_one("#question", Static))
        assert question.startswith(f"Start a 45-minute exam over the {len(ALL)} listed scenarios?")
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, ExamScreen) and app.screen.session.seconds == 45 * 60


# --- 4. the transcript's room at 80x24 -----------------------------------------------------------


@sync
async def test_the_transcript_gets_the_room_at_80x24(tmp_path: Path) -> None:
    app = make_app(teaching_services(), tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        await pilot.press("c")
        await settle(pilot, app)
        screen = app.screen
        assert isinstance(screen, ScenarioScreen)
        screen.check_list.highlighted = screen.check_list.get_option_index("alice-inbox")
        await pilot.press("t")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, TranscriptScreen)
        about = text_of(modal.query_one("#transcript-message", Static))
        assert about.count("Alice logs in to Courier-IMAP") == 1  # the description once
        assert about.startswith(TEACHING + "\nexpected the login to succeed")
        assert modal.query_one("#transcript-scroll").region.height >= 10  # 8 lines of transcript and more


# --- 6. screenshots ------------------------------------------------------------------------------


@sync
async def test_the_palette_screenshot_is_saved_in_labsims_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABSIM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))  # no ~/Downloads, as on the learner's machine
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot, app)
        (shot,) = [c for c in app.get_system_commands(app.screen) if c.title == "Screenshot"]
        shot.callback()
        await pilot.pause(0.4)
        shot.callback()
        await pilot.pause(0.4)
        saved = sorted((tmp_path / "home" / "screenshots").glob("labsim-*.svg"))
        assert len(saved) == 2 and saved[0].read_text().startswith("<svg")
        assert f"Saved the screenshot: {saved[0]}" in messages(app)
