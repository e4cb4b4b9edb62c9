"""labsim-mailserver against Debian's Dovecot 2.3.19 on the same mail.

    python -m bench [--quick] [--messages N] [--formats maildir,mbox] [--profile DIR]

Prints, per mail format, each measurement's median time on both servers and
the labsim/Dovecot ratio (target: at most 2.0), and the memory of both servers
while they hold the concurrent sessions. The first SELECT of a mailbox neither
server has opened before (no uidlist, no index: a learner's first login) is a
measurement like the others, on a fresh copy of the mail for every run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.client import Imap, Pop3, ProtocolError
from bench.mailgen import generate, write_maildir, write_mbox
from bench.servers import USER, LabsimServer, RealServer, Server, cold_user, memory_kib, real_dovecot_missing
from tests.conformance.realdovecot import give_to_nobody

TARGET = 2.0
FETCH = "FETCH 1:* (UID FLAGS RFC822.SIZE)"
MEASUREMENTS = ("first", "imap", "pop3", "retr", "concurrent")
SETTLE_SECS = 1.0
VERBOSE = bool(os.environ.get("BENCH_VERBOSE"))


class BenchError(Exception):
    pass


def expect_count(what: str, data: bytes, marker: bytes, n: int) -> None:
    """A fast wrong answer must not pass for a fast right one."""
    got = data.count(marker)
    if got != n:
        raise BenchError(f"{what}: expected {n} entries, got {got}")


def imap_fetch_all(s: Server, n: int, user: str = USER) -> None:
    c = Imap(s.imap_port)
    try:
        c.command(f"LOGIN {user} secret")
        c.command("SELECT INBOX")
        expect_count("FETCH 1:*", c.bulk(FETCH), b" FETCH (", n)
        c.command("LOGOUT")
    finally:
        c.close()


def pop3_list_uidl(s: Server, n: int) -> None:
    c = Pop3(s.pop3_port)
    try:
        c.login(USER, "secret")
        expect_count("LIST", c.multiline("LIST"), b"\r\n", n)
        expect_count("UIDL", c.multiline("UIDL"), b"\r\n", n)
        c.command("QUIT")
    finally:
        c.close()


def pop3_retr_all(s: Server, n: int) -> None:
    c = Pop3(s.pop3_port)
    try:
        c.login(USER, "secret")
        for i in range(1, n + 1):
            if not c.multiline(f"RETR {i}"):
                raise BenchError(f"RETR {i}: empty message")
        c.command("QUIT")
    finally:
        c.close()


@dataclass
class Concurrent:
    seconds: float
    rss_kib: int
    pss_kib: int
    processes: int


def concurrent_sessions(s: Server, n: int, sessions: int) -> Concurrent:
    """`sessions` clients log in, SELECT and FETCH at once; the memory is read while
    all of them are still logged in."""
    start = threading.Barrier(sessions + 1)
    done = threading.Barrier(sessions + 1)
    release = threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        c: Imap | None = None
        try:
            start.wait()
            c = Imap(s.imap_port)
            c.command(f"LOGIN {USER} secret")
            c.command("SELECT INBOX")
            expect_count("FETCH 1:*", c.bulk(FETCH), b" FETCH (", n)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.wait()
            release.wait(60)
            if c is not None:
                with contextlib.suppress(OSError, ProtocolError):
                    c.command("LOGOUT")
                c.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(sessions)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    done.wait()
    elapsed = time.perf_counter() - t0
    rss, pss, procs = memory_kib(s.pid)
    release.set()
    for t in threads:
        t.join(60)
    if errors:
        raise BenchError(f"{len(errors)} of {sessions} sessions failed: {errors[0]!r}")
    return Concurrent(elapsed, rss, pss, procs)


@dataclass
class Row:
    fmt: str
    what: str
    ours: float
    real: float

    @property
    def ratio(self) -> float:
        return self.ours / self.real if self.real > 0 else float("inf")

    def line(self) -> str:
        mark = "" if self.ratio <= TARGET else "  (over target)"
        return (
            f"{self.fmt:8} {self.what:34} labsim {self.ours:8.3f} s  dovecot {self.real:8.3f} s  "
            f"ratio {self.ratio:5.2f}{mark}"
        )


def compare(
    fmt: str,
    what: str,
    ours: Server,
    real: Server,
    fn: Callable[[Server, int], object],
    reps: int,
    swap: bool = False,
) -> Row:
    """Median over `reps` runs, alternating the servers so that drift hits both;
    `fn` gets the run's number. `swap`: who goes first alternates too (for runs
    that each start from a cold mailbox, where going first may cost more)."""
    t_ours: list[float] = []
    t_real: list[float] = []
    for i in range(reps):
        for s in (ours, real) if swap and i % 2 else (real, ours):
            t0 = time.perf_counter()
            fn(s, i)
            (t_ours if s is ours else t_real).append(time.perf_counter() - t0)
    row = Row(fmt, what, statistics.median(t_ours), statistics.median(t_real))
    print(row.line(), flush=True)
    if VERBOSE:
        mine = " ".join(f"{t:.3f}" for t in t_ours)
        theirs = " ".join(f"{t:.3f}" for t in t_real)
        print(f"#   runs: labsim {mine}; dovecot {theirs}")
    return row


def mib(kib: int) -> str:
    return f"{kib / 1024:7.1f} MiB"


@dataclass
class Options:
    messages: int
    reps: int
    retr_reps: int
    sessions: int
    formats: list[str]
    profile: Path | None
    keep: bool
    only: set[str]


def concurrent_row(fmt: str, ours: Server, real: Server, n: int, opts: Options) -> Row:
    runs_ours: list[Concurrent] = []
    runs_real: list[Concurrent] = []
    for _ in range(opts.reps):
        runs_real.append(concurrent_sessions(real, n, opts.sessions))
        runs_ours.append(concurrent_sessions(ours, n, opts.sessions))
    row = Row(
        fmt,
        f"{opts.sessions} concurrent login/SELECT/FETCH",
        statistics.median(r.seconds for r in runs_ours),
        statistics.median(r.seconds for r in runs_real),
    )
    print(row.line(), flush=True)
    mo, mr = runs_ours[-1], runs_real[-1]
    print(
        f"{fmt:8} {'memory holding ' + str(opts.sessions) + ' sessions':34} "
        f"labsim RSS {mib(mo.rss_kib)} PSS {mib(mo.pss_kib)} ({mo.processes} processes)  "
        f"dovecot RSS {mib(mr.rss_kib)} PSS {mib(mr.pss_kib)} ({mr.processes} processes)  "
        f"RSS ratio {mo.rss_kib / max(1, mr.rss_kib):5.2f}",
        flush=True,
    )
    return row


def bench_format(fmt: str, work: Path, src: Path, opts: Options, uid: int, gid: int) -> list[Row]:
    n = opts.messages
    cold = opts.reps if "first" in opts.only else 0  # one never-opened mailbox per run
    real_srv = RealServer(work / fmt / "real", src, fmt, uid, gid, cold_users=cold)
    ours_srv = LabsimServer(work / fmt / "ours", src, fmt, uid, gid, avoid=real_srv.base, cold_users=cold)
    extra: list[str] = []
    if opts.profile is not None:
        opts.profile.mkdir(parents=True, exist_ok=True)
        extra = ["-m", "cProfile", "-o", str(opts.profile / f"labsim-{fmt}.prof")]
    rows: list[Row] = []
    try:
        real = real_srv.start()
        ours = ours_srv.start(extra)
        if opts.only - {"first"}:
            # The mailbox the other measurements repeat on, opened once by each server.
            for s in (real, ours):
                imap_fetch_all(s, n)
                pop3_list_uidl(s, n)
            # labsim trusts a directory's mtime only once it is SETTLE_SECS old (their
            # clock is coarse); a mailbox at rest is what the repeated runs measure.
            time.sleep(SETTLE_SECS)
        measurements: list[tuple[str, str, Callable[[Server, int], object], int]] = [
            ("imap", "IMAP login+SELECT+FETCH 1:*", lambda s, _: imap_fetch_all(s, n), opts.reps),
            ("pop3", "POP3 login+LIST+UIDL", lambda s, _: pop3_list_uidl(s, n), opts.reps),
            ("retr", f"POP3 RETR of all {n}", lambda s, _: pop3_retr_all(s, n), opts.retr_reps),
        ]
        for key, what, fn, reps in measurements:
            if key in opts.only:
                rows.append(compare(fmt, what, ours, real, fn, reps))
        if "concurrent" in opts.only:
            rows.append(concurrent_row(fmt, ours, real, n, opts))
        if cold:
            # A session on a mailbox nobody has opened builds the uidlist (with the
            # sizes) or rewrites the mbox with its X-UIDs, and Dovecot its index files:
            # every run gets its own fresh copy of the mail. Measured last: labsim keeps
            # what it read of them, which must not weigh on the memory measured above.
            what = "first login+SELECT+FETCH, no index"
            rows.append(
                compare(
                    fmt, what, ours, real, lambda s, i: imap_fetch_all(s, n, cold_user(i)), cold, swap=True
                )
            )
    finally:
        ours_srv.stop()
        real_srv.stop()
    if not opts.keep:
        shutil.rmtree(work / fmt, ignore_errors=True)
    return rows


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1,000 messages and fewer repetitions (a smoke run)")
    p.add_argument("--messages", type=int, help="messages per mailbox (default 10000, 1000 with --quick)")
    p.add_argument("--reps", type=int, help="repetitions per measurement (median is shown)")
    p.add_argument("--sessions", type=int, default=50, help="concurrent sessions (default %(default)s)")
    p.add_argument("--formats", default="maildir,mbox", help="comma-separated: maildir, mbox")
    p.add_argument("--profile", type=Path, metavar="DIR", help="run labsim under cProfile, stats into DIR")
    p.add_argument("--keep", action="store_true", help="keep the work directory under /tmp")
    p.add_argument("--only", default=",".join(MEASUREMENTS), help="comma-separated subset of %(default)s")
    a = p.parse_args(argv)
    formats = [f.strip() for f in a.formats.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("maildir", "mbox")]
    if bad or not formats:
        p.error(f"unknown format: {', '.join(bad) or '(none)'}")
    only = {m.strip() for m in a.only.split(",") if m.strip()}
    if not only or only - set(MEASUREMENTS):
        p.error(f"unknown measurement: {', '.join(sorted(only - set(MEASUREMENTS))) or '(none)'}")
    messages = a.messages or (1000 if a.quick else 10000)
    reps = a.reps or (1 if a.quick else 3)
    if messages < 1 or reps < 1 or not 1 <= a.sessions <= 500:
        p.error("--messages, --reps and --sessions must be positive (sessions at most 500)")
    return Options(messages, reps, 1 if a.quick else reps, a.sessions, formats, a.profile, a.keep, only)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    missing = real_dovecot_missing()
    if missing:
        print(f"bench: cannot run: {missing}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="labsim-bench-", dir="/tmp"))
    os.chmod(work, 0o755)  # the mail's owner (nobody) must be able to reach it
    rows: list[Row] = []
    try:
        t0 = time.perf_counter()
        messages = generate(opts.messages)
        src = work / "src"
        write_maildir(src / "Maildir", messages)
        write_mbox(src / "mbox", messages)
        uid, gid = give_to_nobody(src)
        total = sum(len(m) for _, m in messages)
        print(
            f"# {opts.messages} messages, {total / 1048576:.1f} MiB, generated in "
            f"{time.perf_counter() - t0:.1f} s; median of {opts.reps} runs; work dir {work}",
            flush=True,
        )
        if "first" in opts.only:
            print(
                "# the first SELECT counts too: each of its runs opens a copy of the mail "
                "that neither server has seen (no uidlist, no index yet)",
                flush=True,
            )
        for fmt in opts.formats:
            source = src / "Maildir" if fmt == "maildir" else src / "mbox"
            rows += bench_format(fmt, work, source, opts, uid, gid)
    except (BenchError, ProtocolError, OSError, RuntimeError) as exc:
        print(f"bench: failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    worst = max(rows, key=lambda r: r.ratio)
    verdict = "met" if worst.ratio <= TARGET else "NOT met"
    print(f"# target (every ratio <= {TARGET}) {verdict}; worst: {worst.fmt} {worst.what} {worst.ratio:.2f}")
    return 0
