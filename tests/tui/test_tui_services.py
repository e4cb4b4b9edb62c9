"""RealServices against real labs (local backend) and the real progress store; the CLI's refusal."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsim.grading.progress import ProgressStore, ScenarioProgress
from labsim.lab.model import Lab
from labsim.scenario.model import Scenario
from labsim.tui.services import (
    ChecksUnavailable,
    RealServices,
    ServiceError,
    find_runner,
    progress_state,
    running_message,
    solution_markdown,
    topic_group,
)
from tests.tui.tui_fakes import ALL, scenario

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "scenarios" / "_example"


def test_topic_groups() -> None:
    assert [topic_group(s) for s in ALL] == [
        "Dovecot",
        "Dovecot",
        "TLS",
        "Auth",
        "Troubleshooting",
        "Courier",
    ]
    # Topic beats personality: a Courier TLS scenario sits with TLS.
    assert topic_group(scenario("c-tls", "Courier TLS", ["courier", "ssl"], personality="courier")) == "TLS"


def test_progress_states() -> None:
    assert progress_state(ScenarioProgress("x")) == "not started"
    assert progress_state(ScenarioProgress("x", attempts=1)) == "in progress"
    assert progress_state(ScenarioProgress("x", attempts=2, completed=True)) == "passed"


def test_running_message() -> None:
    assert running_message([]) == "labsim: no lab left running."
    assert running_message(["a-1 (a)", "b-2 (b)"]) == (
        "labsim: left running for next time: a-1 (a), b-2 (b). Run labsim again to continue; "
        "stop one with: labsim stop SCENARIO_ID (e.g. labsim stop a)."
    )
    assert running_message(["e-1 (a, exam)"]) == (
        "labsim: left running for next time: e-1 (a, exam). Run labsim again to continue; "
        "remove an exam's lab with: labsim lab destroy LAB_ID --yes."
    )


def test_solution_markdown_lists_files_then_commands() -> None:
    from labsim.scenario.loader import load_scenario

    example = load_scenario(EXAMPLE)
    text = solution_markdown(example)
    assert text.startswith("# Reference solution: Example: move Dovecot to Maildir\n")
    assert (
        "`/etc/dovecot/local.conf` (mode 0644):\n\n```\n"
        "# Only IMAP: POP3 is no longer offered.\nprotocols = imap\n```" in text
    )
    assert text.endswith("Then run:\n\n```\nservice dovecot restart\n```")


def test_the_checks_runner_is_found() -> None:
    runner = find_runner()
    assert runner is not None and runner.__name__ == "run_scenario"


@pytest.fixture
def real(tmp_path: Path) -> Iterator[tuple[RealServices, Scenario]]:
    services = RealServices(scenarios_dir=EXAMPLE, home=tmp_path / "home", backend="local")
    (row,) = services.scenarios()
    yield services, row.scenario
    for lab in services.labs.list():
        lab.stop()


def test_listing_a_single_scenario_folder(real: tuple[RealServices, Scenario]) -> None:
    services, example = real
    assert example.id == "_example"
    assert services.backend() == ("local", "asked for the local backend")
    assert services.lab_info(example) is None
    with pytest.raises(ServiceError, match="has no lab yet"):
        services.next_hint(example, "maildir")


@pytest.mark.slow
def test_the_whole_path_on_a_real_local_lab(real: tuple[RealServices, Scenario], tmp_path: Path) -> None:
    services, example = real
    info = services.open_lab(example)
    assert info.backend == "local" and info.running and not info.start_failed
    assert info.detail == "asked for the local backend"

    results = list(services.run_checks(example))
    assert [r.check_id for r in results] == [
        "mail-location",
        "alice-inbox",
        "imap-answers",
        "no-pop3",
        "alice-imap",
    ]
    assert [r.passed for r in results] == [False, False, True, False, True]
    grade = services.record_run(example, results)
    assert (grade.score.total, grade.score.max_points) == (2.0, 7.0)

    shown = [services.next_hint(example, "maildir") for _ in range(4)]
    assert [h.index if h else None for h in shown] == [0, 1, 2, None]
    assert services.hints_taken(example) == {"maildir": 3}

    lines: list[str] = []
    got = threading.Event()

    def on_line(line: str) -> None:
        lines.append(line)
        got.set()

    follower = services.follow_log(example, on_line)
    assert got.wait(10)
    follower.stop()
    assert any("dovecot" in line for line in lines)

    solution = services.reveal_solution(example)
    assert "protocols = imap" in solution.markdown
    assert services.running_labs() == [f"{info.lab_id} (_example)"]

    with ProgressStore(tmp_path / "home" / "progress.db") as store:
        (attempt,) = store.attempts("_example")
        assert attempt.run_count == 1 and attempt.solved_by_solution
        assert store.hints_taken(attempt.id) == {"maildir": 3}

    lab: Lab = services._lab(example)
    lab.write_file("/etc/dovecot/local.conf", "protocols = imap\n")
    backup = services.reset(example)
    assert backup is not None and (backup / "etc/dovecot/local.conf").read_text() == "protocols = imap\n"
    assert services.lab_info(example).running  # type: ignore[union-attr]

    # A second RealServices (the next `labsim`) finds the same lab, and the attempt the reset began:
    # the hints before the reset stay with the attempt it closed.
    again = RealServices(scenarios_dir=EXAMPLE, home=tmp_path / "home", backend="local")
    assert again.open_lab(example).lab_id == info.lab_id
    assert again.hints_taken(example) == {}
    with ProgressStore(tmp_path / "home" / "progress.db") as store:
        closed, current = store.attempts("_example")
        assert closed.finished_at is not None and store.hints_taken(closed.id) == {"maildir": 3}
        assert current.finished_at is None and not current.solved_by_solution

    services.stop(example)
    assert not services.lab_info(example).running  # type: ignore[union-attr]
    assert services.running_labs() == []


def test_checks_unavailable_without_a_runner(
    real: tuple[RealServices, Scenario], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, example = real
    monkeypatch.setitem(sys.modules, "labsim.checks.runner", None)  # as before the runner landed
    assert find_runner() is None
    with pytest.raises(ChecksUnavailable, match=r"^checks are not available yet$"):
        list(services.run_checks(example))


@pytest.mark.parametrize("args", [[], ["exam"]])
def test_labsim_refuses_without_a_terminal(args: list[str], tmp_path: Path) -> None:
    env = dict(os.environ, LABSIM_HOME=str(tmp_path))
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "labsim.cli", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        "labsim: the app needs a terminal on stdin and stdout; "
        "run `labsim --help` for the commands that work without one.\n"
    )
    assert time.monotonic() - started < 30
    assert not (tmp_path / "progress.db").exists()
