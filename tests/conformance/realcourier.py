"""Run Debian's real Courier (authdaemond, imapd, pop3d) on loopback, for comparisons.

Courier's paths are compiled in: authdaemond reads /etc/courier/authdaemonrc
and listens on /run/courier/authdaemon/socket, authuserdb reads
/etc/courier/userdb.dat, imapd-ssl keeps a TLS cache in /var/lib/courier.
So that the host's own files are never touched, everything runs in a private
mount namespace (`unshare --mount`) where a temporary directory is bound over
each of those directories, and one over /home for the test users' homes. The
namespace ends with its last process: nothing is left mounted, nothing on the
host is changed.

Inside it a small supervisor shell compiles the userdb with the real
`makeuserdb`, starts `authdaemond` in the foreground (with authdaemonrc's
variables exported, as /usr/sbin/authdaemond does), and runs Debian's own
init scripts (/usr/lib/courier/imapd and pop3d, which build the daemons'
environment from /etc/courier/imapd, imapd-ssl, pop3d, pop3d-ssl), edited only
so that couriertcpd is exec'd in the foreground in place of courierlogger's
daemonizing start, and binds 127.0.0.1 on a free port. What the daemons log
(courierlogger would send it to syslog) lands in imapd.log and pop3d.log.
`authtest` runs in the same namespace through `nsenter`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

AUTHDAEMOND = "/usr/lib/courier/courier-authlib/authdaemond"
AUTHTEST = "/usr/sbin/authtest"
MAKEUSERDB = "/usr/sbin/makeuserdb"
COURIERTCPD = "/usr/sbin/couriertcpd"
IMAPLOGIN = "/usr/lib/courier/courier/imaplogin"
IMAPD = "/usr/bin/imapd"
POP3LOGIN = "/usr/lib/courier/courier/courierpop3login"
POP3D = "/usr/lib/courier/courier/courierpop3d"
INIT_IMAPD = "/usr/lib/courier/imapd"
INIT_POP3D = "/usr/lib/courier/pop3d"
PROGRAMS = (AUTHDAEMOND, AUTHTEST, MAKEUSERDB, COURIERTCPD, IMAPLOGIN, IMAPD, POP3LOGIN, POP3D,
            INIT_IMAPD, INIT_POP3D)  # fmt: skip
# Directories bound over inside the namespace: (host path, name of the temp copy).
BOUND = (("/etc/courier", "etc"), ("/run/courier", "run"), ("/var/lib/courier", "varlib"), ("/home", "home"))
# Files of Debian's /etc/courier the daemons need besides the ones a test writes.
KEPT = ("dhparams.pem",)
KEPT_DIRS = ("imapaccess", "shared")


def missing_pieces() -> str:
    """Why the real Courier cannot run here, or '' when it can."""
    absent = [p for p in PROGRAMS if not Path(p).exists()]
    if absent:
        return (
            "Debian's courier-imap, courier-pop, courier-authdaemon and courier-authlib-userdb "
            f"are not installed (missing {', '.join(absent)})"
        )
    if os.geteuid() != 0:
        return "the real Courier needs root (authdaemond, couriertcpd and private mounts)"
    for tool in ("unshare", "nsenter"):
        if shutil.which(tool) is None:
            return f"util-linux's {tool} is missing"
    for host, _ in BOUND:
        if not Path(host).is_dir():
            return f"{host} does not exist (it is the mount point for the private copy)"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return f"cannot make a private mount namespace: {probe.stderr.strip()}"
    return ""


def require_real_courier() -> None:
    reason = missing_pieces()
    if reason:
        if os.environ.get("LABSIM_REQUIRE_DOCKER") == "1":
            pytest.fail(f"conformance needs the real Courier: {reason}")
        pytest.skip(reason)


def wait_for(ok: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.05)
    raise TimeoutError(what)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def listener_pids(port: int) -> set[int]:
    """The processes holding a listening TCP socket on `port` (any address).

    Waiting for a port to answer is not enough on a shared machine: another test's
    server may hold it. The socket's owner tells whose server answers."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                cols = row.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{cols[9]}]")
    pids: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        pids.add(int(proc.name))
                        break
    return pids


def edited_init_script(path: str, port: int) -> str:
    """Debian's init script, running couriertcpd in the foreground on 127.0.0.1:port."""
    text = Path(path).read_text()
    edits = (
        # courierlogger -start daemonizes and logs to syslog; we want a child to wait for.
        ("/usr/sbin/courierlogger -pid=$PIDFILE -start $LOGGEROPTS", "exec"),
        ("-address=$ADDRESS", "-address=127.0.0.1"),
        # exec: the supervisor's child becomes couriertcpd itself, so a TERM reaches it.
        ("/usr/bin/env -i /bin/sh -c", "exec /usr/bin/env -i /bin/sh -c"),
        ("$PORT ${prefix}/lib/courier/courier/", f"{port} ${{prefix}}/lib/courier/courier/"),
    )
    for old, new in edits:
        if text.count(old) != 1:
            raise RuntimeError(f"{path} changed: cannot find {old!r} to edit")
        text = text.replace(old, new)
    return text


SUPERVISOR = """\
set -u
W={work}
A= I= P=
# dash runs traps between commands and waits; name the pids ($(jobs -p) runs in a subshell).
trap 'kill -TERM $A $I $P 2>/dev/null; wait; exit 0' TERM INT
for d in {binds}; do
    mount --bind "$W/${{d#*:}}" "${{d%:*}}" || exit 1
done
cd /
{makeuserdb} > "$W/makeuserdb.log" 2>&1 || {{ cat "$W/makeuserdb.log" >&2; exit 1; }}
# As /usr/sbin/authdaemond does: authdaemonrc's assignments (DEBUG_LOGIN, ...) are exported,
# then the daemon runs (in the foreground: courierlogger is left out).
/usr/bin/env -i /bin/sh -c 'set -a; . /etc/courier/authdaemonrc; exec {authdaemond}' \
    > "$W/authdaemond.log" 2>&1 &
A=$!
echo $A >> "$W/pids"
n=0
while [ ! -S /run/courier/authdaemon/socket ]; do
    n=$((n + 1))
    [ $n -gt 200 ] && {{ echo "authdaemond made no socket" >&2; kill $A; exit 1; }}
    sleep 0.05
done
sh "$W/imapd.init" start > "$W/imapd.log" 2>&1 &
I=$!
echo $I >> "$W/pids"
sh "$W/pop3d.init" start > "$W/pop3d.log" 2>&1 &
P=$!
echo $P >> "$W/pids"
wait
"""


@dataclass
class RealCourier:
    """The real Courier reading the files a test put under `workdir`/etc (its /etc/courier)
    and serving the homes under `workdir`/home (its /home)."""

    workdir: Path
    imap_port: int
    pop3_port: int
    # More host paths to hide behind a file of workdir: (host path, name in workdir),
    # e.g. ("/etc/shadow", "shadow") for a test's own Unix accounts.
    extra_binds: tuple[tuple[str, str], ...] = ()
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def etc(self) -> Path:
        return self.workdir / "etc"

    @property
    def home(self) -> Path:
        return self.workdir / "home"

    def prepare(self) -> None:
        """Make the private directories; a test then writes its files into etc/ and home/."""
        require_real_courier()
        courier = pwd.getpwnam("courier")
        self.etc.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        for name in KEPT:
            src = Path("/etc/courier", name)
            if src.exists():
                # Debian's root:courier 0640: couriertls reads it as courier.
                shutil.copy2(src, self.etc / name)
                os.chown(self.etc / name, 0, courier.pw_gid)
        for name in KEPT_DIRS:
            (self.etc / name).mkdir(exist_ok=True)
        (self.workdir / "run" / "authdaemon").mkdir(parents=True, exist_ok=True)
        (self.workdir / "varlib").mkdir(exist_ok=True)
        for d in (self.workdir / "run" / "authdaemon", self.workdir / "varlib"):
            os.chown(d, courier.pw_uid, courier.pw_gid)
            d.chmod(0o750)
        os.chmod(self.workdir, 0o755)

    def start(self) -> None:
        require_real_courier()
        w = self.workdir
        (w / "imapd.init").write_text(edited_init_script(INIT_IMAPD, self.imap_port))
        (w / "pop3d.init").write_text(edited_init_script(INIT_POP3D, self.pop3_port))
        binds = " ".join(f"{host}:{name}" for host, name in (*BOUND, *self.extra_binds))
        (w / "supervisor.sh").write_text(
            SUPERVISOR.format(work=w, binds=binds, makeuserdb=MAKEUSERDB, authdaemond=AUTHDAEMOND)
        )
        err = open(w / "supervisor.stderr", "wb")  # noqa: SIM115
        # A session of its own: stop() can always reach every process it started.
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", str(w / "supervisor.sh")],
            stdout=err,
            stderr=err,
            start_new_session=True,
        )
        err.close()
        proc = self.proc

        def up() -> bool:
            if proc.poll() is not None:
                raise TimeoutError("the supervisor ended")
            return listening(self.imap_port) and listening(self.pop3_port)

        try:
            wait_for(up, "ports")
            pids = w / "pids"
            wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 3, "the supervisor")
            ours = {int(p) for p in pids.read_text().split()}
            for port in (self.imap_port, self.pop3_port):
                if not listener_pids(port) & ours:
                    raise TimeoutError(f"another process holds port {port}")
        except TimeoutError:
            self.stop()
            logs = "".join(
                f"\n{p.name}: {p.read_text(errors='replace')}"
                for p in [*sorted(w.glob("*.log")), w / "supervisor.stderr"]
                if p.exists()
            )
            raise RuntimeError(f"the real Courier did not start:{logs}") from None

    def run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """A program inside the namespace (it sees the private /etc/courier and socket)."""
        assert self.proc is not None
        enter = ["nsenter", "-t", str(self.proc.pid), "-m", "--"]
        clean_env = ["/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/bin"]
        return subprocess.run([*enter, *clean_env, *argv], capture_output=True, text=True, timeout=30)

    def authtest(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run([AUTHTEST, *args])

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # What the supervisor could not stop. Its process group (authdaemond and its
        # children) cannot have been reused while any member lives.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        # couriertcpd calls setsid(), so it left our group: its pid comes from the list.
        pids: list[int] = []
        with contextlib.suppress(OSError, ValueError):
            pids = [int(p) for p in (self.workdir / "pids").read_text().split()]
        for pid in pids:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"couriertcpd" in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)  # it leads its session: its login children too
