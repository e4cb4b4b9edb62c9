"""Time from launching `labsim` to a drawn home screen (scenarios listed), in tmux.

    python bench/tui_startup.py [--runs N] [--size 100x30]

Each run starts `labsim` in a fresh tmux session with a throw-away LABSIM_HOME and the
local backend, and polls capture-pane until the home screen shows its title and the
first scenario group. Prints one line per run and a summary.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TITLE = "labsim — LPIC-2 211.3 labs"
READY = "Dovecot"  # the first group heading: the list is drawn, not only the frame


def labsim_command() -> str:
    script = Path(sys.executable).with_name("labsim")
    return str(script) if script.exists() else f"{sys.executable} -m labsim.cli"


def one_run(size: tuple[int, int], home: Path, run: int, timeout: float = 30.0) -> float:
    # A socket per run: the previous run's server may still be exiting when the next starts.
    socket = f"labsim-bench-{os.getpid()}-{run}"
    argv = ["tmux", "-L", socket, "new-session", "-d", "-s", "b", "-x", str(size[0]), "-y", str(size[1])]
    argv += ["-e", f"LABSIM_HOME={home}", "-e", "LABSIM_BACKEND=local", labsim_command()]
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    try:
        while time.perf_counter() - started < timeout:
            screen = subprocess.run(
                ["tmux", "-L", socket, "capture-pane", "-p", "-t", "b"], capture_output=True, text=True
            ).stdout
            if TITLE in screen and READY in screen:
                return time.perf_counter() - started
            time.sleep(0.01)
        raise SystemExit(f"the home screen did not appear within {timeout:g}s")
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", default="100x30", help="terminal size, COLSxROWS")
    args = parser.parse_args(argv)
    if shutil.which("tmux") is None:
        print("tui_startup: tmux is not installed", file=sys.stderr)
        return 2
    cols, rows = (int(n) for n in args.size.split("x"))
    times = []
    with tempfile.TemporaryDirectory(prefix="labsim-bench-") as tmp:
        for n in range(1, args.runs + 1):
            seconds = one_run((cols, rows), Path(tmp) / "home", n)
            times.append(seconds)
            print(f"run {n}: home screen drawn after {seconds * 1000:.0f} ms")
    print(
        f"labsim launch to drawn home screen ({cols}x{rows}, {len(times)} runs): "
        f"median {statistics.median(times) * 1000:.0f} ms, min {min(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
