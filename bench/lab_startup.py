"""Time from Lab.create() to a server answering CAPABILITY, and a running lab's memory, per backend.

    python bench/lab_startup.py [--backend local|docker|both] [--runs N]

Uses a throw-away LABSIM_HOME and prints one line per run and a summary.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from labsim.lab import Lab, LabError, LabRegistry, LabSpec, MailboxSpec, UserSpec

PROBE = r"""
import os, socket, sys, time
base = int(os.environ.get("LABSIM_PORT_BASE", "0"))
deadline = time.monotonic() + 20
while True:
    try:
        s = socket.create_connection(("127.0.0.1", base + 143), timeout=2)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("no listener")
        time.sleep(0.02)
f = s.makefile("rwb")
f.readline()
f.write(b"a CAPABILITY\r\n"); f.flush()
while not f.readline().startswith(b"a OK"):
    pass
"""


def spec() -> LabSpec:
    return LabSpec(name="bench", users=[UserSpec("alice", "secret")], mailboxes=[MailboxSpec("alice", 20)])


def server_rss_kib(lab: Lab) -> int:
    status = lab.status()
    if status.server_pid is None:
        return 0
    if lab.backend_name == "local":
        text = Path(f"/proc/{status.server_pid}/status").read_text()
    else:
        text = lab.exec(["cat", f"/proc/{status.server_pid}/status"]).output
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def container_mem_kib(lab: Lab) -> int:
    from labsim.lab.docker_backend import DockerLab

    assert isinstance(lab, DockerLab)
    stats = lab.container().stats(stream=False)
    return int(stats.get("memory_stats", {}).get("usage", 0)) // 1024


def one_run(backend: str) -> tuple[float, int, int]:
    t0 = time.monotonic()
    lab = LabRegistry().create(spec(), backend=backend)
    try:
        lab.write_file("/etc/dovecot/local.conf", "listen = 127.0.0.1\nssl = no\n")
        started = lab.start()
        if started.code:
            raise LabError(f"the server did not start: {started.output.strip()}")
        python = sys.executable if backend == "local" else "python3"
        probe = lab.exec([python, "-c", PROBE], timeout=30)
        if probe.code:
            raise LabError(f"no CAPABILITY answer: {probe.output.strip()}")
        elapsed = time.monotonic() - t0
        rss = server_rss_kib(lab)
        total = container_mem_kib(lab) if backend == "docker" else rss
        return elapsed, rss, total
    finally:
        lab.destroy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["local", "docker", "both"], default="both")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    backends = ["local", "docker"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="labsim-bench-") as home:
        os.environ["LABSIM_HOME"] = home
        for backend in backends:
            times = []
            try:
                for n in range(args.runs):
                    elapsed, rss, total = one_run(backend)
                    times.append(elapsed)
                    print(
                        f"{backend:6} run {n + 1}: create -> CAPABILITY {elapsed:6.2f} s, "
                        f"server RSS {rss / 1024:6.1f} MiB, lab total {total / 1024:6.1f} MiB",
                        flush=True,
                    )
            except LabError as exc:
                print(f"{backend:6} skipped: {exc}")
                continue
            print(f"{backend:6} median {statistics.median(times):.2f} s over {len(times)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
