"""What a learner met at 80x24 in the real app, each fixed and pinned here with Pilot.

Found by driving `labsim --backend local` in tmux: the busy state fell off the status line, mail
log lines were cut at the right edge, a check's message was cut below the check list, a new hint
landed below the fold, x said "Stop" on a stopped lab, Down in the filter did nothing, a failed
start quoted only systemd's last line (with "..") and the exam's status line lost its last words.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rich.text import Text
from textual import events
from textual.containers import VerticalScroll
from textual.widgets import Input, OptionList, RichLog, Static

from labsim.grading.progress import ScenarioProgress
from labsim.scenario.model import CheckSpec
from labsim.tui.app import LabsimApp
from labsim.tui.components.check_list import CheckList
from labsim.tui.components.lab_status import LabStatusLine
from labsim.tui.components.scenario_list import ScenarioList
from labsim.tui.screens.exam import ExamScreen
from labsim.tui.screens.home import HomeScreen
from labsim.tui.screens.mail_log import EMPTY_LOG, MailLogScreen
from labsim.tui.screens.scenario import ScenarioScreen, start_failure
from labsim.tui.screens.solution import SolutionScreen
from labsim.tui.services import LabInfo, ScenarioRow
from tests.tui.terminal_mirror import screen_text
from tests.tui.test_tui_flows import make_app, messages, open_maildir, text_of
from tests.tui.test_tui_snapshots import LONG_SOLUTION
from tests.tui.tui_fakes import MAILDIR, TEACHING, FakeServices, sync, with_teaching_point

SMALL = (80, 24)

SYSTEMD_REFUSAL = (
    "Dec 06 12:01:01 courier: no Courier daemon is configured to start (IMAPDSTART, POP3DSTART, ...)\n"
    "Job for courier-imap.service failed because the control process exited with error code.\n"
    'See "systemctl status courier-imap.service" and "journalctl -xeu courier-imap.service" for details.'
)


class FailingStart(FakeServices):
    def open_lab(self, scenario: object) -> LabInfo:
        info = super().open_lab(scenario)  # type: ignore[arg-type]
        self.running = False
        return LabInfo(info.lab_id, info.backend, False, "", SYSTEMD_REFUSAL, start_failed=True)


@sync
async def test_the_busy_state_comes_first_on_the_status_line(tmp_path: Path) -> None:
    fake = FakeServices(gate=threading.Event())
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_maildir(pilot, app)
        line = screen.query_one(LabStatusLine)
        line.set_info(LabInfo("dovecot-maildir-20261206-115822-19c0", "local", True))
        await pilot.press("c")
        await pilot.pause(0.1)
        shown = text_of(line)
        assert shown.startswith("⟳ checking 1/3…"), shown
        assert line.line().cell_len > 78 and line.content_region.width <= 78  # the lab id gives way
        for _ in range(3):
            fake.released.release()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert text_of(line).startswith("mail server running")


@sync
async def test_x_says_stop_or_start_and_starting_again_is_announced(tmp_path: Path) -> None:
    fake = FakeServices()
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_maildir(pilot, app)
        assert screen.active_bindings["x"].binding.description == "Stop"
        await pilot.press("x")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.active_bindings["x"].binding.description == "Start"
        await pilot.press("x")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert fake.calls[-1] == f"open {MAILDIR.id}"
        assert messages(app)[-1] == "The lab is running again."
        assert screen.active_bindings["x"].binding.description == "Stop"


@sync
async def test_a_failed_start_quotes_what_the_start_said(tmp_path: Path) -> None:
    app = make_app(FailingStart(), tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await open_maildir(pilot, app)
        note = messages(app)[-1]
        assert "no Courier daemon is configured to start (IMAPDSTART" in note
        assert note.startswith("The lab is up but its mail server is not running:")
        assert note.endswith("Find out why: the mail log (l), a shell (s).")
        assert ".." not in note.replace("...", "")
    assert start_failure("").splitlines()[1] == "it printed nothing"


def many_long_checks() -> FakeServices:
    """The Maildir scenario with its long check and five more like it: more rows than fit at 80x24."""
    long = with_teaching_point(MAILDIR)
    more = [CheckSpec(f"extra-{n}", "command", f"{TEACHING}, take {n}", 1.0) for n in range(5)]
    long.tasks[1].checks.extend(more)
    fake = FakeServices()
    fake.rows[0] = ScenarioRow(long, ScenarioProgress(long.id))
    return fake


def prompt_lines(checks: CheckList, option_id: str) -> list[str]:
    prompt = checks.get_option(option_id).prompt
    assert isinstance(prompt, Text)
    return prompt.plain.splitlines()


@sync
async def test_a_long_check_wraps_whole_beside_its_mark_and_points(tmp_path: Path) -> None:
    # At 80x24 the side column is 38 wide: the check was cut to "· -/2 Alice logs in to Couri…".
    app = make_app(many_long_checks(), tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_maildir(pilot, app)
        checks = screen.query_one(CheckList)
        width = checks.scrollable_content_region.width
        lines = prompt_lines(checks, "alice-inbox")
        lead = len("· -/2 ")
        assert len(lines) > 2 and lines[0].startswith("· -/2 Alice logs in")
        assert all(line[:lead] == " " * lead for line in lines[1:]), lines  # the marks' column stays clear
        assert " ".join(line[lead:] for line in lines) == TEACHING  # every word, none cut
        assert checks.max_scroll_y > 0  # more rows than its share of the column: the list scrolls,
        for i in range(checks.option_count):  # and the gutter kept for the scrollbar keeps every row whole
            prompt = checks.get_option_at_index(i).prompt
            assert isinstance(prompt, Text) and "…" not in prompt.plain
            assert all(len(line) < width for line in prompt.plain.splitlines()), prompt.plain
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        checks.highlighted = checks.get_option_index("mail-location")
        await pilot.pause()
        detail = text_of(screen.query_one("#check-detail", Static))
        assert "mail-location: OK. Seen [AUTH] in the answer." in detail
        assert screen.query_one("#detail-scroll", VerticalScroll).region.bottom <= SMALL[1] - 1


@sync
async def test_a_new_hint_scrolls_the_brief_to_it(tmp_path: Path) -> None:
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=(80, 16)) as pilot:  # short enough that the brief scrolls
        screen = await open_maildir(pilot, app)
        brief = screen.query_one("#brief-scroll", VerticalScroll)
        assert brief.scroll_y == 0
        for _ in range(3):
            await pilot.press("h")
            await app.workers.wait_for_complete()
            await pilot.pause(0.1)
        await pilot.pause(0.2)
        assert brief.max_scroll_y > 0
        assert brief.scroll_y == brief.max_scroll_y


@sync
async def test_mail_log_lines_wrap_inside_the_box_at_80_columns(tmp_path: Path) -> None:
    long = (
        "Dec 06 11:58:32 vm dovecot: imap-login: Login: user=<alice>, method=PLAIN, rip=127.0.0.1, "
        "lip=127.0.0.1, mpid=16669, secured, session=<VcU7VlLkGjhhmgXA>"
    )
    fake = FakeServices(log_lines=[long] * 30)
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await open_maildir(pilot, app)
        await pilot.press("l")
        await pilot.pause(0.2)
        assert isinstance(app.screen, MailLogScreen)
        log = app.screen.query_one(RichLog)
        assert log.max_scroll_x == 0  # nothing hides to the right
        assert all(strip.cell_length <= log.scrollable_content_region.width for strip in log.lines)
        assert log.scroll_y == log.max_scroll_y  # following: the newest line is in sight


@sync
async def test_an_empty_mail_log_says_so(tmp_path: Path) -> None:
    app = make_app(FakeServices(log_lines=[]), tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await open_maildir(pilot, app)
        await pilot.press("l")
        await pilot.pause(1.3)
        log = app.screen.query_one(RichLog)
        assert EMPTY_LOG.startswith("(nothing logged yet")
        assert any("(nothing logged yet" in strip.text for strip in log.lines)


@sync
async def test_down_in_the_filter_goes_to_the_list(tmp_path: Path) -> None:
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("m", "b", "o", "x")
        assert isinstance(app.focused, Input)
        await pilot.press("down")
        await pilot.pause()
        assert isinstance(app.focused, ScenarioList)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ScenarioScreen) and app.screen.scenario.id == "dovecot-mbox"


@sync
async def test_the_exam_keeps_its_clock_in_sight_and_says_what_it_does(tmp_path: Path) -> None:
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("y")  # yes, start the exam
        await pilot.pause()
        exam = app.screen
        assert isinstance(exam, ExamScreen)
        status = text_of(exam.query_one("#exam-status", Static))
        assert status.endswith("f hands in") and len(status) <= SMALL[0] - 2
        assert text_of(exam.query_one("#exam-total", Static)).startswith("Enter opens a scenario")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ScenarioScreen)
        assert text_of(app.screen.query_one(LabStatusLine)).startswith("exam: 59:5")
        await pilot.press("escape")
        await pilot.pause()
        assert "f" in exam.active_bindings
        await pilot.press("f", "y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "f" not in exam.active_bindings  # handed in: nothing left for f to do


@sync
async def test_an_exam_row_never_opened_says_not_attempted(tmp_path: Path) -> None:
    class NoLabs(FakeServices):
        def lab_info(self, scenario: object) -> LabInfo | None:
            return None

    app = make_app(NoLabs(), tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("y", "f", "y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        row = str(app.screen.query_one(OptionList).get_option_at_index(0).prompt)
        assert row.endswith("0/5  not attempted")


@sync
async def test_the_palette_says_quitting_leaves_the_labs_running(tmp_path: Path) -> None:
    app: LabsimApp = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        quits = [c for c in app.get_system_commands(app.screen) if c.title == "Quit"]
        assert [c.help for c in quits] == ["Leave labsim; your labs keep running for next time (q)"]


@sync
async def test_a_filter_typed_fast_keeps_every_letter(tmp_path: Path) -> None:
    # tmux send-keys (or a fast typist) queues all the keys at once: the e of "broken" started an
    # exam, because the field took focus a turn after the first letter.
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        for letter in "broken":
            app.post_message(events.Key(letter, letter))
        await pilot.pause(0.2)
        assert isinstance(app.screen, HomeScreen)
        assert app.screen.query_one("#filter", Input).value == "broken"
        assert [r.scenario.id for r in app.screen.query_one(ScenarioList).visible_rows()] == ["broken-typo"]


@sync
async def test_the_exam_screen_offers_its_actions_in_the_palette(tmp_path: Path) -> None:
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("y")  # yes, start the exam
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert titles[-3:] == ["Open the highlighted scenario", "Finish the exam", "Leave the exam"]
        exam = app.screen
        assert isinstance(exam, ExamScreen)
        exam.action_open()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ScenarioScreen)


class SlowStart(FakeServices):
    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()

    def open_lab(self, scenario: object) -> LabInfo:
        self.go.wait(10)
        return super().open_lab(scenario)  # type: ignore[arg-type]


@sync
async def test_keys_while_the_lab_starts_say_to_wait(tmp_path: Path) -> None:
    fake = SlowStart()
    app = make_app(fake, tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        listing = app.screen.query_one(ScenarioList)
        listing.highlighted = listing.get_option_index(MAILDIR.id)
        await pilot.press("enter")
        await pilot.pause(0.1)
        await pilot.press("c")
        await pilot.pause()
        assert messages(app)[-1] == "Wait a moment: starting the lab…"
        assert text_of(app.screen.query_one(LabStatusLine)) == "⟳ starting the lab…"
        fake.go.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert text_of(app.screen.query_one(LabStatusLine)).startswith("mail server running")


@sync
async def test_a_long_lab_id_gives_way_with_an_ellipsis_on_one_line(tmp_path: Path) -> None:
    class LongId(FakeServices):
        def info(self) -> LabInfo:
            return LabInfo("dovecot-conf-d-20261206-131346-73ee", "local", True, "")

    app = make_app(LongId(), tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await open_maildir(pilot, app)
        status = app.screen.query_one(LabStatusLine)
        line = "".join(seg.text for seg in status.render_lines(status.region.reset_offset)[0])
        assert line.strip().startswith("mail server running · local lab dovecot-conf-d-2026")
        assert line.rstrip().endswith("…"), line


@sync
async def test_the_status_bar_says_esc_and_q_where_the_footer_has_no_room(tmp_path: Path) -> None:
    for size, shown in ((SMALL, "esc back · q quit"), ((120, 30), "esc back")):
        app = make_app(FakeServices(), tmp_path)
        async with app.run_test(size=size) as pilot:
            screen = await open_maildir(pilot, app)
            visible = [text_of(w) for w in screen.query(".nav-hint").results(Static) if w.display]
            assert visible == [shown], size
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)


@sync
async def test_a_long_solution_line_is_shown_whole_at_80x24(tmp_path: Path) -> None:
    """courier-pop's sed is wider than the solution box at 80 columns: it wraps, none of it is cut."""
    app = make_app(FakeServices(), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.push_screen(SolutionScreen(LONG_SOLUTION))
        await pilot.pause()
        await pilot.pause()
        shown = " ".join(line.strip(" │█") for line in screen_text(app).splitlines())
        for part in (
            "sed -i -e 's/^POP3DSTART=.*/POP3DSTART=YES/' -e",
            """'s/^POP3AUTH=.*/POP3AUTH="LOGIN PLAIN"/'""",
            "/etc/courier/pop3d",
            "service courier-pop restart",
        ):
            assert part in shown, shown
