"""`service` and `systemctl` for the lab: control the mail server as on a Debian host.

    service dovecot start|stop|restart|reload|status
    systemctl start|stop|restart|reload|status|is-active dovecot

The lab has no init system, so this shim plays its part: start runs the
server detached (its own session, output to a journal file under the lab
root), waits for the pid file or an early exit, and reports a refusal the
way systemd does, with the server's fatal line added so the learner sees
why. The lab root comes from LABSIM_ROOT and the port base from
LABSIM_PORT_BASE.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import SYSLOG_FILE, timestamp

# Dovecot's base_dir is /run/dovecot; Debian's /var/run is a link to /run, a local lab root may lack it.
PID_FILES = ("/run/dovecot/master.pid", "/var/run/dovecot/master.pid")
JOURNAL = "/var/log/labsim/dovecot.journal"
STATE = "/var/lib/labsim/dovecot.service.json"
START_WAIT = 5.0
STOP_WAIT = 5.0
UNITS = {"dovecot": "Dovecot IMAP/POP3 email server"}
ACTIONS = ("start", "stop", "restart", "reload", "force-reload", "status", "try-restart")


class Unit:
    def __init__(self, root: LabRoot, name: str = "dovecot") -> None:
        self.root = root
        self.name = name
        self.port_base = os.environ.get("LABSIM_PORT_BASE", "0") or "0"

    # --- what is running ---
    def pid(self) -> int | None:
        for pid_file in PID_FILES:
            try:
                pid = int(self.root.path(pid_file).read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            if pid > 0 and _alive(pid):
                return pid
        # No pid file (not written yet, or deleted by the learner): the process we started, if alive.
        started = self.state().get("pid")
        if isinstance(started, int) and not self.state().get("stopped") and _is_our_server(started):
            return started
        return None

    def state(self) -> dict[str, object]:
        try:
            data = json.loads(self.root.path(STATE).read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_state(self, **values: object) -> None:
        path = self.root.path(STATE)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values) + "\n")
        except OSError:
            pass  # status gets less precise; control still works

    # --- control ---
    def start(self) -> tuple[bool, str]:
        """(started, fatal text when it refused)."""
        if self.pid() is not None:
            return True, ""
        for pid_file in PID_FILES:
            self.root.path(pid_file).unlink(missing_ok=True)  # stale: its process is gone
        journal = self.root.path(JOURNAL)
        journal.parent.mkdir(parents=True, exist_ok=True)
        offset = journal.stat().st_size if journal.exists() else 0
        argv = [sys.executable, "-m", "labsim.mailserver", "--root", str(self.root.root)]
        if self.port_base != "0":
            argv += ["--port-base", self.port_base]
        env = dict(os.environ, LABSIM_ROOT=str(self.root.root))
        try:
            out = open(journal, "ab")  # noqa: SIM115 - handed to the child, closed below
        except OSError as exc:
            return False, f"cannot open {JOURNAL}: {exc.strerror}"
        with out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
                close_fds=True,
                env=env,
                cwd=str(self.root.root),
            )
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                fatal = self._new_journal(offset)
                self._log_refusal(fatal, code)
                self._save_state(result="exit-code", code=code, since=time.time(), pid=proc.pid)
                return False, fatal
            if self.pid() == proc.pid:
                self._save_state(result="success", since=time.time(), pid=proc.pid)
                return True, ""
            time.sleep(0.05)
        # Still running without a pid file: treat it as up, as systemd would after its timeout.
        self._save_state(result="success", since=time.time(), pid=proc.pid)
        return True, ""

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
        for pid_file in PID_FILES:
            self.root.path(pid_file).unlink(missing_ok=True)
        self._save_state(result="success", since=time.time(), stopped=True)

    def reload(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        _signal(pid, signal.SIGHUP)
        return True

    def _new_journal(self, offset: int) -> str:
        try:
            with open(self.root.path(JOURNAL), "rb") as f:
                f.seek(offset)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [ln for ln in text.splitlines() if ln.strip()]
        fatal = [ln for ln in lines if "Fatal:" in ln or "Error:" in ln or "Panic:" in ln]
        return "\n".join(fatal or lines[-5:])

    def _log_refusal(self, fatal: str, code: int) -> None:
        """Put the refusal in the mail log too, where the learner looks first (unless the server did)."""
        log = self.root.path(SYSLOG_FILE)
        try:
            tail = log.read_text(errors="replace")[-8192:] if log.exists() else ""
        except OSError:
            tail = ""
        host = _hostname(self.root)
        stamp = timestamp()
        lines = [f"{stamp} {host} dovecot: {ln}" for ln in fatal.splitlines() if ln and ln not in tail]
        lines.append(
            f"{stamp} {host} systemd[1]: dovecot.service: "
            f"Control process exited, code=exited, status={code}/n/a"
        )
        lines.append(f"{stamp} {host} systemd[1]: dovecot.service: Failed with result 'exit-code'.")
        lines.append(f"{stamp} {host} systemd[1]: Failed to start dovecot.service - {UNITS[self.name]}.")
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "a") as f:
                f.write("\n".join(lines) + "\n")
        except OSError:
            pass

    # --- status ---
    def active_state(self) -> str:
        if self.pid() is not None:
            return "active"
        state = self.state()
        return "failed" if state.get("result") == "exit-code" and not state.get("stopped") else "inactive"

    def status_text(self, lines: int = 10) -> str:
        desc = UNITS[self.name]
        state = self.state()
        since = state.get("since")
        since_text = ""
        if isinstance(since, int | float):
            ago = max(0, int(time.time() - since))
            when = time.strftime("%a %Y-%m-%d %H:%M:%S %Z", time.localtime(since))
            since_text = f" since {when}; {_ago(ago)} ago"
        active = self.active_state()
        if active == "active":
            active_line = f"active (running){since_text}"
        elif active == "failed":
            active_line = f"failed (Result: exit-code){since_text}"
        else:
            active_line = f"inactive (dead){since_text}"
        dot = {"active": "●", "failed": "×"}.get(active, "○")
        out = [
            f"{dot} {self.name}.service - {desc}",
            f"     Loaded: loaded (/lib/systemd/system/{self.name}.service; enabled; preset: enabled)",
            f"     Active: {active_line}",
            "       Docs: man:dovecot(1)",
            "             https://doc.dovecot.org/",
        ]
        pid = self.pid()
        if pid is not None:
            out.append(f"   Main PID: {pid} (dovecot)")
        elif active == "failed":
            out.append(
                f"    Process: {state.get('pid', '?')} ExecStart=/usr/sbin/dovecot -F "
                f"(code=exited, status={state.get('code', '?')}/n/a)"
            )
        tail = self._log_tail(lines)
        if tail:
            out.append("")
            out.extend(tail)
        return "\n".join(out)

    def _log_tail(self, n: int) -> list[str]:
        chunks: list[str] = []
        for lab_path in (SYSLOG_FILE, _configured_log(self.root)):
            if not lab_path:
                continue
            try:
                text = self.root.path(lab_path).read_text(errors="replace")
            except OSError:
                continue
            chunks.extend(text.splitlines()[-n:])
        return chunks[-n:]


def _configured_log(root: LabRoot) -> str:
    """log_path from dovecot.conf when it names a file (a cheap look, not the full parser)."""
    try:
        text = root.path("/etc/dovecot/dovecot.conf").read_text(errors="replace")
        text += "".join(
            p.read_text(errors="replace") for p in sorted(root.path("/etc/dovecot/conf.d").glob("*.conf"))
        )
    except OSError:
        return ""
    found = ""
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "log_path":
            found = value.strip().strip('"')
    return found if found.startswith("/") else ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie nobody reaped is not running
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _is_our_server(pid: int) -> bool:
    if not _alive(pid):
        return False
    try:
        return b"labsim.mailserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, sig)


def _hostname(root: LabRoot) -> str:
    # The name the server's own log lines carry, so both kinds of line read alike.
    return socket.gethostname().split(".")[0] or "localhost"


def _ago(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}min {seconds % 60}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60}min"


def _unit_name(arg: str) -> str:
    return arg.removesuffix(".service")


def _failed_job(name: str) -> str:
    return (
        f"Job for {name}.service failed because the control process exited with error code.\n"
        f'See "systemctl status {name}.service" and "journalctl -xeu {name}.service" for details.'
    )


def run(action: str, name: str, prog: str) -> int:
    root = LabRoot.from_env()
    if not root.root.is_dir():
        print(f"{prog}: the lab root {root.root} (LABSIM_ROOT) is not a directory", file=sys.stderr)
        return 1
    try:
        return _run(root, action, name, prog)
    except OSError as exc:
        print(f"{prog}: {name}: {exc.strerror or exc}", file=sys.stderr)
        return 1


def _run(root: LabRoot, action: str, name: str, prog: str) -> int:
    unit = Unit(root, name)
    if action == "start":
        ok, fatal = unit.start()
        if ok:
            return 0
        if fatal:
            print(fatal, file=sys.stderr)
        print(_failed_job(name), file=sys.stderr)
        return 1
    if action == "stop":
        unit.stop()
        return 0
    if action in ("restart", "try-restart"):
        if action == "try-restart" and unit.pid() is None:
            return 0
        unit.stop()
        return _run(root, "start", name, prog)
    if action in ("reload", "force-reload"):
        if unit.reload():
            return 0
        print(f"{name}.service is not active, cannot reload.", file=sys.stderr)
        return 1
    if action == "status":
        print(unit.status_text())
        return 0 if unit.active_state() == "active" else 3
    if action == "is-active":
        state = unit.active_state()
        print(state)
        return 0 if state == "active" else 3
    if action in ("enable", "disable", "is-enabled"):
        if action == "is-enabled":
            print("enabled")
        return 0
    print(f"{prog}: unknown command {action!r}", file=sys.stderr)
    return 1


def service_main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print("Usage: service < option > | --status-all | [ service_name [ command | --full-restart ] ]")
        return 0 if args else 1
    if args[0] == "--status-all":
        for name in UNITS:
            print(f" [ {'+' if Unit(LabRoot.from_env(), name).pid() else '-'} ]  {name}")
        return 0
    name = _unit_name(args[0])
    if name not in UNITS:
        print(f"{args[0]}: unrecognized service", file=sys.stderr)
        return 1
    if len(args) < 2:
        print(f"Usage: /etc/init.d/{name} {{{'|'.join(ACTIONS)}}}", file=sys.stderr)
        return 1
    action = "restart" if args[1] == "--full-restart" else args[1]
    if action not in ACTIONS:
        print(f"Usage: /etc/init.d/{name} {{{'|'.join(ACTIONS)}}}", file=sys.stderr)
        return 1
    return run(action, name, "service")


SYSTEMCTL_ACTIONS = (*ACTIONS, "is-active", "enable", "disable", "is-enabled")


def systemctl_main(argv: list[str] | None = None) -> int:
    args = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    if not args:
        print(
            "systemctl: this lab's systemctl only manages services, e.g. systemctl status dovecot",
            file=sys.stderr,
        )
        return 1
    action, names = args[0], args[1:]
    if action not in SYSTEMCTL_ACTIONS:
        print(f'Unknown command verb "{action}".', file=sys.stderr)
        return 1
    if not names:
        print("Too few arguments.", file=sys.stderr)
        return 1
    code = 0
    for raw in names:
        name = _unit_name(raw)
        if name not in UNITS:
            if action == "status":
                print(f"Unit {name}.service could not be found.", file=sys.stderr)
                code = max(code, 4)
            elif action == "is-active":
                print("inactive")
                code = max(code, 3)
            else:
                print(f"Failed to {action} {name}.service: Unit {name}.service not found.", file=sys.stderr)
                code = max(code, 5)
            continue
        code = max(code, run(action, name, "systemctl"))
    return code


def main() -> int:
    prog = os.path.basename(sys.argv[0])
    return systemctl_main() if prog == "systemctl" else service_main()


if __name__ == "__main__":
    sys.exit(main())
