"""`labsim class watch`: the dashboard, driven with Pilot against a fake class (and one snapshot)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import Static
from textual.worker import WorkerCancelled

from labsim.checks.result import CheckResult
from labsim.classroom.board import Board
from labsim.classroom.roster import Student
from labsim.classroom.watch import RoundRobin
from labsim.lab.model import LabError
from labsim.scenario.model import CheckSpec, Scenario, Task
from labsim.tui.components.class_grid import ClassGrid, column_key
from labsim.tui.screens.class_watch import ClassWatchApp
from tests.tui.tui_fakes import sync

BASE = 1_767_000_000.0  # the fake class's clock starts here; each check run is a minute later
SCENARIO = Scenario(
    id="dovecot-maildir",
    version="1",
    title="Point Dovecot at the users' Maildirs",
    objective="211.3",
    brief="Mail moved to ~/Maildir.",
    tasks=[
        Task(
            id="maildir",
            text="Use the Maildirs.",
            checks=[
                CheckSpec("mail-location", "setting", "mail_location is maildir:~/Maildir", 1.0),
                CheckSpec("alice-imap", "mailbox_count", "Alice sees 3 messages over IMAP", 2.0),
                CheckSpec("alice-pop3", "mailbox_count", "Alice sees 3 messages over POP3", 1.0),
            ],
        )
    ],
)
PASSING = {
    "ada": {"mail-location", "alice-imap", "alice-pop3"},
    "bea": {"mail-location"},
    "cyd": set(),
}


def utc(at: float) -> str:
    return time.strftime("%H:%M", time.gmtime(at))


class FakeClass:
    """A class of four: ada solved it, bea is half-way, cyd has not started, dan's lab is gone."""

    name = "lpic2-mon"

    def __init__(self) -> None:
        self.board = Board(None)
        self.runs: list[tuple[str, float, float]] = []  # (student, started, finished)
        self._lock = threading.Lock()

    def roster(self) -> list[Student]:
        return [Student(s, s.title()) for s in ("ada", "bea", "cyd", "dan")]

    def scenario_list(self) -> list[Scenario]:
        return [SCENARIO]

    def check(self, student: str, scenario: str, now: float | None = None) -> list[CheckResult]:
        started = time.monotonic()
        with self._lock:
            n = len(self.runs) + 1
        if student == "dan":
            self.runs.append((student, started, time.monotonic()))
            raise LabError("the container of lab class-lpic2-mon-dan-dovecot-maildir is gone")
        results = []
        for c in SCENARIO.checks():
            ok = c.id in PASSING[student]
            results.append(
                CheckResult(
                    c.id,
                    c.type,
                    ok,
                    c.points if ok else 0.0,
                    c.points,
                    f"{c.description}: {'yes' if ok else 'not yet'} ({student})",
                    f"S: * OK Dovecot ready.\nC: a LOGIN {student} secret\nS: a {'OK' if ok else 'NO'}\n",
                )
            )
        self.board.record(student, scenario, results, BASE + 60 * n)
        time.sleep(0.01)
        self.runs.append((student, started, time.monotonic()))
        return results

    def mail_log(self, student: str, scenario: str, lines: int = 200) -> list[str]:
        return [f"Dec  6 10:0{i} mail dovecot: imap-login: Login: user=<{student}>" for i in range(3)]


def make_app(source: FakeClass, interval: float = 0.0, sweeps: int | None = 1) -> ClassWatchApp:
    return ClassWatchApp(source, interval=interval, sweeps=sweeps, timefmt=utc)


def cell(grid: ClassGrid, student: str, check: str) -> str:
    value = grid.get_cell(student, column_key(SCENARIO.id, check))
    return value.plain if isinstance(value, Text) else str(value)


async def settle(pilot: Pilot[Any]) -> None:
    # Moving the cursor fast cancels the previous mail-log read (exclusive): that is not a failure.
    for _ in range(5):
        try:
            await pilot.app.workers.wait_for_complete()
            break
        except WorkerCancelled:
            continue
    await pilot.pause()


@sync
async def test_grid_shows_who_passed_what_and_since_when() -> None:
    source = FakeClass()
    app = make_app(source)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        grid = app.screen.query_one(ClassGrid)
        assert [r[0] for r in source.runs] == ["ada", "bea", "cyd", "dan"]
        assert cell(grid, "ada", "alice-imap") == f"✔ {utc(BASE + 60)}"
        assert cell(grid, "bea", "mail-location") == f"✔ {utc(BASE + 120)}"
        assert cell(grid, "bea", "alice-imap") == "✘"
        assert cell(grid, "cyd", "alice-pop3") == "✘"
        assert cell(grid, "dan", "mail-location") == "·"  # never checked: its lab is gone
        assert grid.get_cell("ada", "points").plain == "4/4"
        assert grid.get_cell("bea", "points").plain == "1/4"
        assert grid.get_cell("dan", "points").plain == "-"
        notes = [n.message for n in app._notifications]
        assert any(m.startswith("dan: the container of lab") for m in notes), notes
        status = str(app.screen.query_one("#watch-status", Static).render())
        assert "4 lab check(s) done" in status and "stopped" in status


@sync
async def test_still_passing_keeps_its_since_time_and_selection_shows_transcript_and_log() -> None:
    source = FakeClass()
    app = make_app(source, sweeps=2)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        grid = app.screen.query_one(ClassGrid)
        # The second sweep saw ada pass again: she still passes since the first run.
        assert len(source.runs) == 8
        assert cell(grid, "ada", "mail-location") == f"✔ {utc(BASE + 60)}"
        grid.move_cursor(row=1, column=3)  # bea, alice-imap
        await settle(pilot)
        transcript = str(app.screen.query_one("#detail-transcript", Static).render())
        title = str(app.screen.query_one("#detail-transcript-title", Static).render())
        assert "bea · alice-imap failed 0/2" in title
        assert "Alice sees 3 messages over IMAP: not yet (bea)" in transcript
        assert "C: a LOGIN bea secret" in transcript
        log = str(app.screen.query_one("#detail-log", Static).render())
        assert "user=<bea>" in log and "user=<ada>" not in log


@sync
async def test_checks_run_one_at_a_time_at_a_bounded_rate() -> None:
    source = FakeClass()
    interval = 0.15
    app = make_app(source, interval=interval, sweeps=1)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
    assert len(source.runs) == 4
    for (_, _, finished), (_, started, _) in zip(source.runs, source.runs[1:], strict=False):
        assert started - finished >= interval * 0.9  # never overlapping, never faster than the interval


@sync
async def test_pause_stops_checking_until_resumed() -> None:
    source = FakeClass()
    app = make_app(source, interval=0.05, sweeps=None)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("p")
        await pilot.pause(0.3)
        seen = len(source.runs)
        await pilot.pause(0.3)
        assert len(source.runs) <= seen + 1  # at most the run that was under way
        assert "paused" in str(app.screen.query_one("#watch-status", Static).render())
        await pilot.press("p")
        await pilot.pause(0.4)
        assert len(source.runs) > seen + 1
        await pilot.press("q")


class ChattyClass(FakeClass):
    def mail_log(self, student: str, scenario: str, lines: int = 200) -> list[str]:
        return [f"Dec  6 10:{i:02d} mail dovecot: imap-login: Login: user=<{student}>" for i in range(40)]


@sync
async def test_the_mail_log_pane_keeps_its_newest_lines_in_sight() -> None:
    # At 80x24 the pane holds a few lines: the first ones of a long log hid the new ones.
    app = make_app(ChattyClass())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one(ClassGrid).move_cursor(row=1, column=3)
        await settle(pilot)
        await pilot.pause(0.1)
        scroll = app.screen.query_one("#detail-log-scroll", VerticalScroll)
        assert scroll.max_scroll_y > 0
        assert scroll.scroll_y == scroll.max_scroll_y
        assert "10:39 mail dovecot" in str(app.screen.query_one("#detail-log", Static).render())


def test_round_robin_puts_requests_first_and_counts_sweeps() -> None:
    plan = RoundRobin([("a", "s"), ("b", "s"), ("c", "s")])
    assert [plan.next(), plan.next()] == [("a", "s"), ("b", "s")]
    plan.prioritize(("a", "s"))
    plan.prioritize(("zed", "s"))  # not in the class: ignored
    assert plan.next() == ("a", "s")
    assert plan.sweeps == 0
    assert plan.next() == ("c", "s")
    assert plan.sweeps == 1
    assert plan.next() == ("a", "s")


def test_board_since_is_when_the_state_began(tmp_path: Path) -> None:
    board = Board(tmp_path / "board.json")

    def run(ok: bool, at: float) -> None:
        board.record("ada", "sc", [CheckResult("x", "t", ok, float(ok), 1.0)], at)

    run(True, 100.0)
    run(True, 200.0)
    assert board.cell("ada", "sc", "x").since == 100.0
    assert board.all_passed_since("ada", "sc", ["x"]) == 100.0
    run(False, 300.0)
    assert board.cell("ada", "sc", "x").since == 300.0
    assert board.all_passed_since("ada", "sc", ["x"]) is None
    run(True, 400.0)
    board.save()
    again = Board(tmp_path / "board.json")
    assert again.cell("ada", "sc", "x").since == 400.0 and again.cell("ada", "sc", "x").status == "passed"


async def _snapshot_ready(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    grid = pilot.app.screen.query_one(ClassGrid)
    grid.move_cursor(row=1, column=3)
    await settle(pilot)
    pilot.app.clear_notifications()
    await pilot.pause()


Compare = Callable[..., bool]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_class_watch_snapshot(snap_compare: Compare, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(FakeClass()), terminal_size=size, run_before=_snapshot_ready)
