"""The app's flows, driven with Pilot against fake services."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.widgets import Markdown, OptionList, RichLog, Static

from labsim.grading.progress import ScenarioProgress
from labsim.lab.model import LabError
from labsim.tui.app import LabsimApp
from labsim.tui.components.backend_banner import BackendBanner
from labsim.tui.components.check_list import CheckList
from labsim.tui.components.lab_status import LabStatusLine
from labsim.tui.components.scenario_list import ScenarioList
from labsim.tui.screens.confirm import ConfirmScreen
from labsim.tui.screens.exam import ExamScreen
from labsim.tui.screens.home import HomeScreen
from labsim.tui.screens.mail_log import MailLogScreen
from labsim.tui.screens.scenario import ScenarioScreen
from labsim.tui.screens.solution import SolutionScreen
from labsim.tui.screens.transcript import TranscriptScreen
from labsim.tui.services import CHECKS_UNAVAILABLE, ChecksUnavailable, ScenarioRow
from tests.tui.tui_fakes import ALL, MAILDIR, MBOX, FakeServices, sync

SIZE = (100, 30)


def make_app(services: FakeServices, tmp_path: Path) -> LabsimApp:
    return LabsimApp(services, keymap_file=tmp_path / "keymap.toml")


def messages(app: LabsimApp) -> list[str]:
    return [n.message for n in app._notifications]


def text_of(widget: Static) -> str:
    return str(widget.render())


async def open_maildir(pilot, app: LabsimApp) -> ScenarioScreen:  # type: ignore[no-untyped-def]
    await pilot.pause()
    listing = app.screen.query_one(ScenarioList)
    listing.highlighted = listing.get_option_index(MAILDIR.id)
    await pilot.press("enter")
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(app.screen, ScenarioScreen)
    return app.screen


@sync
async def test_home_groups_scenarios_by_topic_with_progress_and_backend(tmp_path: Path) -> None:
    fake = FakeServices()
    fake.rows[0] = ScenarioRow(
        MAILDIR, ScenarioProgress(MAILDIR.id, attempts=1, best_score=5, max_score=5, completed=True)
    )
    fake.rows[1] = ScenarioRow(MBOX, ScenarioProgress(MBOX.id, attempts=2, best_score=2, max_score=5))
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        listing = app.screen.query_one(ScenarioList)
        ids = [listing.get_option_at_index(i).id for i in range(listing.option_count)]
        assert ids == [
            "group:Dovecot", MAILDIR.id, MBOX.id, "group:Courier", "courier-imap",
            "group:TLS", "dovecot-ssl", "group:Auth", "dovecot-pam",
            "group:Troubleshooting", "broken-typo",
        ]  # fmt: skip
        prompts = [str(listing.get_option(i).prompt) for i in (MAILDIR.id, MBOX.id, "dovecot-ssl")]
        assert prompts[0].endswith("passed 5/5")
        assert "beginner" in prompts[0] and " 15 min" in prompts[0]
        assert prompts[1].endswith("in progress 2/5")
        assert prompts[2].endswith("not started")
        banner = text_of(app.screen.query_one(BackendBanner))
        assert banner == "Backend: local — local backend: no Docker engine answers at the local socket"


@sync
async def test_typing_filters_and_escape_clears(tmp_path: Path) -> None:
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("m", "b", "o", "x")
        await pilot.pause()
        listing = app.screen.query_one(ScenarioList)
        assert [r.scenario.id for r in listing.visible_rows()] == [MBOX.id]
        await pilot.press("escape")
        await pilot.pause()
        assert len(listing.visible_rows()) == len(ALL)
        assert listing.has_focus
        await pilot.press("slash", "z", "z", "z")
        await pilot.pause()
        assert listing.visible_rows() == []
        assert str(listing.get_option_at_index(0).prompt) == "No scenario matches the filter."


@sync
async def test_open_scenario_starts_the_lab_and_shows_brief_and_checks(tmp_path: Path) -> None:
    fake = FakeServices()
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maildir(pilot, app)
        assert fake.calls[0] == f"open {MAILDIR.id}"
        assert text_of(screen.query_one(LabStatusLine)) == "mail server running · local lab lab-0001"
        markdown = screen.query_one("#brief", Markdown).source
        assert "## Task 1 of 2: Point Dovecot at the Maildirs" in markdown
        checks = screen.query_one(CheckList)
        assert [checks.state(c.id) for c in MAILDIR.checks()] == ["not run"] * 3
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert f"time {MAILDIR.id}" in fake.calls


@sync
async def test_checks_show_each_result_as_it_finishes_then_the_score(tmp_path: Path) -> None:
    fake = FakeServices(gate=threading.Event())
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maildir(pilot, app)
        checks = screen.query_one(CheckList)
        await pilot.press("c")
        await pilot.pause(0.1)
        assert checks.state("mail-location") == "running"
        fake.released.release()
        for _ in range(50):
            await pilot.pause(0.02)
            if checks.state("mail-location") == "passed":
                break
        assert checks.state("mail-location") == "passed"
        assert checks.state("alice-inbox") == "running"
        assert checks.state("no-pop3") == "not run"
        fake.released.release()
        fake.released.release()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [checks.state(c.id) for c in MAILDIR.checks()] == ["passed", "failed", "error"]
        assert [r.check_id for r in fake.recorded[0]] == ["mail-location", "alice-inbox", "no-pop3"]
        assert "1 of 3 checks pass. Score 1/5. Read a failed check's transcript (t)." in messages(app)
        # The current task stays the first (a check there failed).
        assert "## Task 1 of 2" in screen.query_one("#brief", Markdown).source


@sync
async def test_a_checker_that_raises_is_a_notification_not_a_crash(tmp_path: Path) -> None:
    fake = FakeServices(checks_error=RuntimeError("pexpect EOF"), checks_error_after=1)
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maildir(pilot, app)
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "the checks stopped: pexpect EOF" in messages(app)
        checks = screen.query_one(CheckList)
        assert [checks.state(c.id) for c in MAILDIR.checks()] == ["passed", "not run", "not run"]
        assert not screen.checks_running
        await pilot.press("c")  # and it can run again
        await app.workers.wait_for_complete()
        assert fake.calls.count(f"check {MAILDIR.id}") == 2


@sync
async def test_missing_checks_runner_says_checks_are_not_available(tmp_path: Path) -> None:
    fake = FakeServices(checks_error=ChecksUnavailable())
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_maildir(pilot, app)
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert messages(app) == [CHECKS_UNAVAILABLE]
        assert CHECKS_UNAVAILABLE == "checks are not available yet"


@sync
async def test_lab_error_on_start_is_a_notification_with_the_sentence(tmp_path: Path) -> None:
    fake = FakeServices(
        fail_open="no free port range on 127.0.0.1 for a local lab (tried bases 10000 to 60000)"
    )
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maildir(pilot, app)
        assert messages(app) == [fake.fail_open]
        assert screen.lab is None
        await pilot.press("c")
        await pilot.pause()
        assert messages(app)[-1] == "The lab did not start: x tries again."
        assert f"check {MAILDIR.id}" not in fake.calls
        fake.fail_open = None  # whatever was in the way is gone: x starts it
        assert screen.active_bindings["x"].binding.description == "Start"
        await pilot.press("x")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.lab is not None and screen.lab.running
        assert screen.active_bindings["x"].binding.description == "Stop"


@sync
async def test_transcript_is_one_key_away(tmp_path: Path) -> None:
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maildir(pilot, app)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, ScenarioScreen)
        assert messages(app)[-1] == "That check has not run yet: run the checks (c)."
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen.query_one(CheckList).highlighted = screen.query_one(CheckList).get_option_index("alice-inbox")
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TranscriptScreen)
        body = text_of(app.screen.query_one("#transcript-text", Static))
        assert body == "S: * OK [CAPABILITY IMAP4rev1] Dovecot ready.\nC: a LOGIN alice x\n"
        message = text_of(app.screen.query_one("#transcript-message", Static))
        assert message == "Alice sees 3 messages in INBOX\nalice-inbox: not yet. Seen [AUTH] in the answer."
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


@sync
async def test_hints_are_graduated_counted_and_run_out(tmp_path: Path) -> None:
    fake = FakeServices()
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maildir(pilot, app)
        for _ in range(4):
            await pilot.press("h")
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert fake.hints[MAILDIR.id] == {"first": 3}
        source = screen.query_one("#brief", Markdown).source
        assert "1. Which setting says where mail is?" in source
        assert "3. Format, colon, path: maildir:~/Maildir." in source
        notes = messages(app)
        assert notes[0] == "Which setting says where mail is?"
        assert notes[-1] == "No more hints for this task."
        titles = [n.title for n in app._notifications]
        assert titles[:3] == ["Hint 1 of 3 (costs 0.5 points)", "Hint 2 of 3 (costs 0.5 points)",
                              "Hint 3 of 3 (costs 1 point)"]  # fmt: skip


@sync
async def test_hints_taken_earlier_are_shown_again(tmp_path: Path) -> None:
    fake = FakeServices()
    fake.hints[MAILDIR.id] = {"first": 2}
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maildir(pilot, app)
        source = screen.query_one("#brief", Markdown).source
        assert "2. It is `mail_location` in 10-mail.conf." in source


@sync
async def test_reset_asks_first(tmp_path: Path) -> None:
    fake = FakeServices()
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maildir(pilot, app)
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert f"reset {MAILDIR.id}" not in fake.calls
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert f"reset {MAILDIR.id}" in fake.calls
        assert messages(app)[-1] == (
            "The lab is fresh again. Your edited /etc files are in /labs/lab-0001/backups/20261125-120000."
        )
        checks = screen.query_one(CheckList)
        assert [checks.state(c.id) for c in MAILDIR.checks()] == ["not run"] * 3


@sync
async def test_reveal_solution_asks_and_is_recorded(tmp_path: Path) -> None:
    fake = FakeServices()
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_maildir(pilot, app)
        await pilot.press("v")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert fake.solved == set()
        await pilot.press("v")
        await pilot.pause()
        await pilot.click("#yes")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert fake.solved == {MAILDIR.id}
        assert isinstance(app.screen, SolutionScreen)
        assert "service dovecot restart" in app.screen.markdown


@sync
async def test_stop_lab_and_shell_round_trip(tmp_path: Path) -> None:
    fake = FakeServices(shell_code=3)
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maildir(pilot, app)
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert fake.calls[-2:] == [f"shell {MAILDIR.id}", f"info {MAILDIR.id}"]
        assert messages(app)[-1] == "Back from the lab shell (exit 3)."
        await pilot.press("x")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert f"stop {MAILDIR.id}" in fake.calls
        assert text_of(screen.query_one(LabStatusLine)) == "mail server stopped · local lab lab-0001"
        assert messages(app)[-1] == "The lab is stopped; x starts it again."
        await pilot.press("x")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert fake.calls[-1] == f"open {MAILDIR.id}"
        assert text_of(screen.query_one(LabStatusLine)) == "mail server running · local lab lab-0001"


@sync
async def test_an_unexpected_error_below_is_a_notification_not_a_crash(tmp_path: Path) -> None:
    fake = FakeServices()

    def broken(scenario: object, task_id: str) -> None:
        raise KeyError("maildir")

    fake.next_hint = broken  # type: ignore[assignment, method-assign]
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maildir(pilot, app)
        await pilot.press("h")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert messages(app)[-1] == "labsim could not show a hint: KeyError: 'maildir'"
        assert app.screen is screen and app.is_running


@sync
async def test_mail_log_follows_new_lines_and_stops_on_close(tmp_path: Path) -> None:
    fake = FakeServices()
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_maildir(pilot, app)
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, MailLogScreen)
        log_screen = app.screen
        assert fake.on_line is not None
        on_line = fake.on_line
        new = "Nov 25 12:00:01 mail dovecot: imap-login: Login: user=<alice>"
        thread = threading.Thread(target=on_line, args=(new,))  # as the real follower does
        thread.start()
        for _ in range(100):
            await pilot.pause(0.02)
            if len(log_screen.lines) == 2:
                break
        thread.join(5)
        assert log_screen.lines == [
            "Nov 25 12:00:00 mail dovecot: master: starting up",
            "Nov 25 12:00:01 mail dovecot: imap-login: Login: user=<alice>",
        ]
        assert len(log_screen.query_one(RichLog).lines) >= 2
        await pilot.press("escape")
        await pilot.pause()
        assert fake.follower_stopped
        assert isinstance(app.screen, ScenarioScreen)


@sync
async def test_command_palette_offers_the_scenario_actions(tmp_path: Path) -> None:
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maildir(pilot, app)
        titles = [c.title for c in app.get_system_commands(screen)]
        for wanted in (
            "Run the checks",
            "Open a shell in the lab",
            "Show the next hint",
            "Reset the lab",
            "Reveal the solution",
            "Show the mail log",
            "Stop or start the lab",
            "Show the transcript",
        ):
            assert wanted in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        for key in "run the checks":
            await pilot.press("space" if key == " " else key)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.query_one(CheckList).state("mail-location") == "passed"


@sync
async def test_home_palette_offers_filter_open_and_exam(tmp_path: Path) -> None:
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert titles[-3:] == ["Filter the scenarios", "Open the highlighted scenario", "Start an exam"]


@sync
async def test_quit_leaves_labs_running_and_says_so(tmp_path: Path) -> None:
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_maildir(pilot, app)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    assert app.running_labs_message() == (
        "labsim: left running for next time: lab-0001 (dovecot-maildir). Run labsim again to continue; "
        "stop one with: labsim stop SCENARIO_ID (e.g. labsim stop dovecot-maildir)."
    )


@sync
async def test_exam_hides_hints_and_transcripts_until_the_end(tmp_path: Path) -> None:
    fake = FakeServices()
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("p", "o", "i", "n", "t", "enter")  # filter: one scenario in the exam
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("y")  # yes, start the exam
        await pilot.pause()
        assert isinstance(app.screen, ExamScreen)
        exam = app.screen
        assert [s.id for s in exam.session.scenarios] == [MAILDIR.id]
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ScenarioScreen)
        await pilot.press("h")
        await pilot.pause()
        assert messages(app)[-1] == "Hints are not available during the exam."
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert messages(app)[-1] == "1 of 3 checks pass."
        await pilot.press("t")
        await pilot.pause()
        assert messages(app)[-1] == "Transcripts are shown when the exam ends."
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is exam
        await pilot.press("f")
        await pilot.pause()
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert exam.session.finished
        assert exam.session.total() == (1.0, 5.0)
        assert text_of(exam.query_one("#exam-total", Static)) == (
            "Exam score: 1/5  — open a scenario to read its transcripts."
        )
        row = str(exam.query_one(OptionList).get_option_at_index(0).prompt)
        assert row.endswith("1/5  1/3 checks pass")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TranscriptScreen)


def test_keymap_file_moves_keys_and_reports_unknown_ids(tmp_path: Path) -> None:
    from labsim.tui.keymap import load_keymap

    path = tmp_path / "keymap.toml"
    path.write_text('"scenario.run_checks" = "f5"\n"nope.nothing" = "x"\n"scenario.hint" = 3\n')
    keymap, problems = load_keymap(path)
    assert keymap == {"scenario.run_checks": "f5"}
    assert problems == [
        f"{path}: unknown binding id 'nope.nothing'",
        f'{path}: scenario.hint needs a key name in quotes, e.g. "f5"',
    ]
    path.write_text("this is = = not toml")
    keymap, problems = load_keymap(path)
    assert keymap == {}
    assert problems[0].startswith(f"{path}: ignored (")


@sync
async def test_keymap_override_applies_in_the_app(tmp_path: Path) -> None:
    (tmp_path / "keymap.toml").write_text('"scenario.run_checks" = "f5"\n')
    fake = FakeServices()
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maildir(pilot, app)
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.query_one(CheckList).state("mail-location") == "passed"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@sync
async def test_scenario_screen_fits_small_and_large_terminals(tmp_path: Path, size: tuple[int, int]) -> None:
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=size) as pilot:
        screen = await open_maildir(pilot, app)
        side = screen.query_one("#side")
        assert side.region.right <= size[0]
        assert screen.query_one(CheckList).region.height >= 5


def test_lab_error_is_what_services_raise() -> None:
    # The screens catch LabError; ChecksUnavailable must be one.
    assert issubclass(ChecksUnavailable, LabError)


@sync
async def test_leaving_the_scenario_while_checks_run_still_records_the_run(tmp_path: Path) -> None:
    fake = FakeServices(gate=threading.Event())
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_maildir(pilot, app)
        await pilot.press("c")
        await pilot.pause(0.1)
        fake.released.release()
        await pilot.pause(0.1)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        for _ in range(2):
            fake.released.release()
        for _ in range(100):
            await pilot.pause(0.02)
            if fake.recorded:
                break
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [r.check_id for r in fake.recorded[0]] == ["mail-location", "alice-inbox", "no-pop3"]
        assert f"{MAILDIR.title}: 1 of 3 checks pass. Score 1/5." in messages(app)
        assert app.checks_in_flight == set()
        assert isinstance(app.screen, HomeScreen)


@sync
async def test_checks_left_running_are_not_started_twice(tmp_path: Path) -> None:
    fake = FakeServices(gate=threading.Event())
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_maildir(pilot, app)
        await pilot.press("c")
        await pilot.pause(0.1)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("enter")  # the list still highlights the scenario just left
        for _ in range(50):
            await pilot.pause(0.02)
            screen = app.screen
            if isinstance(screen, ScenarioScreen) and screen.lab is not None:
                break
        assert isinstance(app.screen, ScenarioScreen)
        await pilot.press("c")
        await pilot.pause()
        assert any("still running" in m for m in messages(app))
        for _ in range(3):
            fake.released.release()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert fake.calls.count(f"check {MAILDIR.id}") == 1
        assert len(fake.recorded) == 1
