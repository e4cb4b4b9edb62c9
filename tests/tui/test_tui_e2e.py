"""The real `labsim` in tmux on the local backend: open a scenario (its lab starts), check, take a hint,
work in the lab's shell and come back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsim.grading.progress import ProgressStore
from labsim.lab.registry import LabRegistry

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "scenarios" / "_example"


@pytest.fixture
def tmux() -> Iterator[str]:
    if shutil.which("tmux") is None:
        if os.environ.get("LABSIM_REQUIRE_DOCKER") == "1":
            pytest.fail("tmux is missing, and CI (LABSIM_REQUIRE_DOCKER=1) must run this test")
        pytest.skip("tmux is not installed")
    socket = f"labsim-e2e-{os.getpid()}"
    yield socket
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


def capture(socket: str) -> str:
    return subprocess.run(
        ["tmux", "-L", socket, "capture-pane", "-p", "-t", "tui"], capture_output=True, text=True
    ).stdout


def wait_for(socket: str, needle: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = capture(socket)
        if needle in screen.replace("\n", " "):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} did not appear within {timeout:g}s; the screen was:\n{screen}")


def send(socket: str, *keys: str) -> None:
    subprocess.run(["tmux", "-L", socket, "send-keys", "-t", "tui", *keys], check=True)


@pytest.mark.slow
def test_start_check_hint_in_tmux(tmux: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    labsim = Path(sys.executable).with_name("labsim")
    command = (
        f"{labsim if labsim.exists() else sys.executable + ' -m labsim.cli'}; echo LABSIM-EXIT=$?; sleep 60"
    )
    env = {"LABSIM_HOME": str(home), "LABSIM_SCENARIOS": str(EXAMPLE), "LABSIM_BACKEND": "local"}
    argv = ["tmux", "-L", tmux, "new-session", "-d", "-s", "tui", "-x", "100", "-y", "30"]
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    subprocess.run([*argv, command], check=True)
    try:
        wait_for(tmux, "Example: move Dovecot to Maildir")
        wait_for(tmux, "Backend: local")
        send(tmux, "Enter")
        wait_for(tmux, "server running")
        send(tmux, "c")
        screen = wait_for(tmux, "checks pass", timeout=90)
        assert "✘" in screen and "✔" in screen  # the fresh lab: some checks fail, the guards pass
        send(tmux, "h")
        screen = wait_for(tmux, "Hint 1 of 3")
        assert "Which setting tells Dovecot" in screen  # the first hint of the current task
        # The real shell launcher: the app suspends, a lab shell runs, the app comes back.
        time.sleep(0.5)
        send(tmux, "s")
        wait_for(tmux, "type exit to come back")  # said once, before the shell's own prompt
        wait_for(tmux, "[lab example-")
        # Computed by the shell, so the typed command line cannot match it.
        send(tmux, 'echo "in-$(basename "$(dirname "$LABSIM_ROOT")")-$((6*7))"', "Enter")
        wait_for(tmux, "in-example-")
        screen = wait_for(tmux, "-42")
        assert "in-example-" in screen and "-42" in screen
        send(tmux, "exit", "Enter")
        wait_for(tmux, "server running")
        time.sleep(0.5)
        send(tmux, "q")
        screen = wait_for(tmux, "LABSIM-EXIT=0")
        assert "labsim: left running for next time: example-" in screen.replace("\n", "")
        with ProgressStore(home / "progress.db") as store:
            (attempt,) = store.attempts("_example")
            assert attempt.run_count == 1
            assert attempt.backend == "local"
            assert store.hints_taken(attempt.id) == {"maildir": 1}
            assert attempt.last_score is not None and 0 < attempt.last_score < attempt.max_score  # type: ignore[operator]
    finally:
        for lab in LabRegistry(home).list():
            lab.stop()
