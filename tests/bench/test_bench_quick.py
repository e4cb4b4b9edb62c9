"""The benchmark's machinery on a tiny mailbox: it runs to the end against both
servers and prints its ratio lines. No timing is asserted (timed tests are banned)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conformance.realdovecot import require_real_dovecot

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_on_100_messages_prints_every_ratio() -> None:
    require_real_dovecot()
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--messages", "100", "--sessions", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for fmt in ("maildir", "mbox"):
        for what in (
            "first login+SELECT+FETCH, no index",
            "IMAP login+SELECT+FETCH 1:*",
            "POP3 login+LIST+UIDL",
            "POP3 RETR of all 100",
            "5 concurrent login/SELECT/FETCH",
        ):
            line = re.search(rf"^{fmt} +{re.escape(what)} +labsim .* ratio +\d+\.\d\d", out, re.M)
            assert line, f"no ratio line for {fmt} {what} in:\n{out}"
        assert re.search(
            rf"^{fmt} +memory holding 5 sessions +labsim RSS +[\d.]+ MiB .*dovecot RSS +[\d.]+ MiB", out, re.M
        ), out
    assert re.search(r"^# the first SELECT counts too: ", out, re.M), out
    assert re.search(r"^# target \(every ratio <= 2\.0\) (met|NOT met); worst: ", out, re.M), out
    assert not list(Path("/tmp").glob("labsim-bench-*/ours")), "the work directory was left behind"


def test_bench_refuses_unknown_format() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--formats", "dbox"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "unknown format: dbox" in proc.stderr
