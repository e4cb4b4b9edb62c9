"""Time to bring a class up: N student labs started on Docker in a bounded pool, with progress.

    python bench/class_up.py [--students 30] [--workers 4] [--scenario dovecot-maildir]
                             [--backend docker|local] [--keep]

Uses a throw-away LABSIM_HOME and a class of its own (removed at the end
unless --keep), prints a line per lab as it comes up, then the wall time,
labs per minute, per-lab times, how many servers answer, the memory the labs
use, and the time `class down` takes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def _container_mem_mib(client: Any, name: str) -> float:
    try:
        stats = client.api.stats(name, stream=False, one_shot=True)
        return float(stats.get("memory_stats", {}).get("usage", 0)) / 1024 / 1024
    except Exception:
        return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=30, help="labs to start (default 30)")
    parser.add_argument("--workers", type=int, default=4, help="labs started at once (default 4)")
    parser.add_argument("--scenario", default="dovecot-maildir", help="the scenario each lab runs")
    parser.add_argument("--backend", choices=("docker", "local"), default="docker")
    parser.add_argument("--keep", action="store_true", help="leave the class up (and its LABSIM_HOME)")
    args = parser.parse_args(argv)
    if args.students < 1:
        parser.error("--students needs at least 1")

    home = tempfile.mkdtemp(prefix="labsim-bench-class-")
    os.environ["LABSIM_HOME"] = home
    # Imported after LABSIM_HOME is set, so every lab and the class record land in the throw-away home.
    from labsim.classroom.errors import ClassError
    from labsim.classroom.roster import Student
    from labsim.classroom.service import UpEvent, prepare_class
    from labsim.lab.model import LabError

    name = "bench" + uuid.uuid4().hex[:6]
    students = [Student(f"s{n:02d}", f"Student {n}") for n in range(1, args.students + 1)]
    try:
        service, _ = prepare_class(name, students, [args.scenario], args.backend)
    except (ClassError, LabError) as exc:
        print(f"class_up: {exc}", file=sys.stderr)
        return 1
    total = len(students)
    cpus = os.cpu_count() or 1
    print(
        f"# class {name}: {total} lab(s) of {args.scenario} on {args.backend}, {args.workers} at a time,"
        f" {cpus} CPU(s) here; LABSIM_HOME={home}",
        flush=True,
    )
    started = time.monotonic()

    def progress(e: UpEvent) -> None:
        elapsed = time.monotonic() - started
        what = f"{e.action} in {e.seconds:5.2f}s" if not e.error else f"FAILED: {e.error}"
        print(f"[{e.done:>3}/{e.total}] {elapsed:6.1f}s  {e.student}  {what}", flush=True)

    try:
        events = service.up(workers=args.workers, progress=progress)
    except (ClassError, LabError) as exc:
        print(f"class_up: {exc}", file=sys.stderr)
        return 1
    wall = time.monotonic() - started
    times = [e.seconds for e in events if not e.error]
    failed = [e for e in events if e.error]
    print(f"up: {total} lab(s) in {wall:.1f}s wall, {60 * total / wall:.1f} labs/min, {len(failed)} failed")
    if times:
        print(
            f"per lab: mean {statistics.mean(times):.2f}s, median {statistics.median(times):.2f}s,"
            f" max {max(times):.2f}s"
        )

    rows = service.status(workers=args.workers)
    answering = sum(1 for r in rows if r.server == "running")
    print(f"status: {answering} of {total} mail server(s) running")
    if args.backend == "docker":
        names = [f"labsim-{r.lab_id}" for r in rows]
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            mem = list(pool.map(lambda n: _container_mem_mib(service.client, n), names))
        print(
            f"memory: {sum(mem):.0f} MiB for all labs, {statistics.mean(mem):.1f} MiB per lab"
            f" (limit {service.record.limits.memory} each)"
        )

    if args.keep:
        print(f"kept: LABSIM_HOME={home} labsim class down --name {name} --yes")
        return 0
    down_started = time.monotonic()
    removed = service.down(workers=args.workers)
    print(f"down: {len(removed)} lab(s) removed in {time.monotonic() - down_started:.1f}s")
    shutil.rmtree(home, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
