"""`service` and `systemctl` for the lab: control the mail servers as on a Debian host.

    service dovecot start|stop|restart|reload|status
    systemctl start|stop|restart|reload|status|is-active dovecot
    service courier-imap|courier-imap-ssl|courier-pop|courier-pop-ssl|courier-authdaemon start|...

The lab has no init system, so this shim plays its part: start runs the
server detached (its own session, output to a journal file under the lab
root), waits for the pid file or an early exit, and reports a refusal the
way systemd does, with the server's fatal line added so the learner sees
why. The lab root comes from LABSIM_ROOT and the port base from
LABSIM_PORT_BASE.

Each Courier daemon is a unit of its own, as on Debian: its own process
(`labsim-mailserver --personality courier` serving that one daemon). The
authentication daemon is a unit with no process: it records that it runs and the
authdaemonrc it loaded, which logins and authtest read (courier/authdaemon.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import SYSLOG_FILE, timestamp

# Dovecot's base_dir is /run/dovecot; Debian's /var/run is a link to /run, a local lab root may lack it.
PID_FILES = ("/run/dovecot/master.pid", "/var/run/dovecot/master.pid")
JOURNAL = "/var/log/labsim/dovecot.journal"
STATE = "/var/lib/labsim/dovecot.service.json"
START_WAIT = 5.0
STOP_WAIT = 5.0
ACTIONS = ("start", "stop", "restart", "reload", "force-reload", "status", "try-restart")
COURIER_NOT_AVAILABLE = "the Courier personality of the lab's mail server is not available yet"


@dataclass(frozen=True)
class UnitDef:
    description: str
    pid_files: tuple[str, ...] = ()
    docs: tuple[str, ...] = ()
    exec_start: str = ""
    comm: str = ""  # the process name `status` shows
    ident: str = ""  # the syslog tag of the daemon's lines in mail.log
    courier: str = ""  # the Courier daemon served (imapd, pop3d-ssl, ...)
    process: bool = True  # False: a unit that only records its state


# "Dec 06 11:55:04 " at the start of a log line.
_STAMP = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ")


def _courier(daemon: str, description: str, init: str) -> UnitDef:
    return UnitDef(
        description,
        (f"/run/courier/{daemon}.pid", f"/var/run/courier/{daemon}.pid"),
        ("man:courier(8)",),
        f"/etc/init.d/{init} start",
        "couriertcpd",
        daemon,
        daemon,
    )


UNIT_DEFS: dict[str, UnitDef] = {
    "dovecot": UnitDef(
        "Dovecot IMAP/POP3 email server",
        PID_FILES,
        ("man:dovecot(1)", "https://doc.dovecot.org/"),
        "/usr/sbin/dovecot -F",
        "dovecot",
        "dovecot",
    ),
    "courier-authdaemon": UnitDef(
        "Courier authentication services",
        docs=("man:authlib(7)",),
        exec_start="/etc/init.d/courier-authdaemon start",
        ident="authdaemond",
        process=False,
    ),
    "courier-imap": _courier("imapd", "Courier IMAP server", "courier-imap"),
    "courier-imap-ssl": _courier("imapd-ssl", "Courier IMAP-SSL server", "courier-imap-ssl"),
    "courier-pop": _courier("pop3d", "Courier POP3 server", "courier-pop"),
    "courier-pop-ssl": _courier("pop3d-ssl", "Courier POP3-SSL server", "courier-pop-ssl"),
}
UNITS = {name: d.description for name, d in UNIT_DEFS.items()}


def installed_units(root: LabRoot) -> list[str]:
    """The units this lab has, as packages would install them: the Courier ones when /etc/courier
    exists, dovecot when /etc/dovecot does (or when neither does: the shim's first job)."""
    courier = root.path("/etc/courier").is_dir()
    dovecot = root.path("/etc/dovecot").is_dir() or not courier
    return [name for name in UNIT_DEFS if (courier and name != "dovecot") or (dovecot and name == "dovecot")]


def courier_available() -> bool:
    """Whether this lab's mail server can run Courier daemons (the personality is newer than the shim)."""
    try:
        from labsim.mailserver.courier import server
    except ImportError:
        return False
    return callable(getattr(server, "run", None))


def serve_courier(argv: list[str]) -> int:
    """The process of one Courier unit: `... --serve-courier DAEMON ROOT PORT_BASE`."""
    from labsim.mailserver.courier.server import run as run_courier
    from labsim.mailserver.procname import set_process_name

    daemon, root, base = argv
    set_process_name("couriertcpd")  # what serves imapd and pop3d on a Courier host
    return run_courier(LabRoot(Path(root)), int(base), [daemon])


class Unit:
    def __init__(self, root: LabRoot, name: str = "dovecot") -> None:
        self.root = root
        self.name = name
        self.unit = UNIT_DEFS[name]
        self.port_base = os.environ.get("LABSIM_PORT_BASE", "0") or "0"
        self.journal = JOURNAL if name == "dovecot" else f"/var/log/labsim/{name}.journal"
        self.state_file = STATE if name == "dovecot" else f"/var/lib/labsim/{name}.service.json"

    # --- what is running ---
    def pid(self) -> int | None:
        if not self.unit.process:
            return None
        for pid_file in self.unit.pid_files:
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
            data = json.loads(self.root.path(self.state_file).read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_state(self, **values: object) -> None:
        path = self.root.path(self.state_file)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values) + "\n")
        except OSError:
            pass  # status gets less precise; control still works

    # --- control ---
    def start(self) -> tuple[bool, str]:
        """(started, fatal text when it refused)."""
        if not self.unit.process:
            self._save_state(result="success", since=time.time(), active=True)
            self._authdaemon_loads()
            return True, ""
        if self.pid() is not None:
            return True, ""
        if self.unit.courier and not courier_available():
            return False, f"{self.name}: {COURIER_NOT_AVAILABLE}"
        if self.unit.courier and self._switched_off():
            # Debian's init script returns success without starting anything when IMAPDSTART (or
            # POP3DSTART, ...) is not yes; systemd then shows the unit "active (exited)".
            self._save_state(result="success", since=time.time(), active=True, switched_off=True)
            return True, ""
        for pid_file in self.unit.pid_files:
            self.root.path(pid_file).unlink(missing_ok=True)  # stale: its process is gone
        journal = self.root.path(self.journal)
        journal.parent.mkdir(parents=True, exist_ok=True)
        offset = journal.stat().st_size if journal.exists() else 0
        if self.unit.courier:
            argv = [sys.executable, "-m", "labsim.mailserver.tools.service", "--serve-courier"]
            argv += [self.unit.courier, str(self.root.root), self.port_base]
        else:
            argv = [sys.executable, "-m", "labsim.mailserver", "--root", str(self.root.root)]
            if self.port_base != "0":
                argv += ["--port-base", self.port_base]
        env = dict(os.environ, LABSIM_ROOT=str(self.root.root))
        try:
            out = open(journal, "ab")  # noqa: SIM115 - handed to the child, closed below
        except OSError as exc:
            return False, f"cannot open {self.journal}: {exc.strerror}"
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

    def _switched_off(self) -> bool:
        """The daemon's START variable is not yes, in files that load (errors fail the start as before)."""
        from labsim.mailserver.config.courier import CourierConfigError, MissingConfig, load_daemon

        try:
            return not load_daemon(self.root, self.unit.courier).start
        except (MissingConfig, CourierConfigError):
            return False

    def stop(self) -> None:
        if not self.unit.process:
            self._save_state(result="success", since=time.time(), stopped=True)
            return
        pid = self.pid()
        if pid is None:
            if self.state().get("switched_off"):
                self._save_state(result="success", since=time.time(), stopped=True)
            return
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
        for pid_file in self.unit.pid_files:
            self.root.path(pid_file).unlink(missing_ok=True)
        self._save_state(result="success", since=time.time(), stopped=True)

    def reload(self) -> bool:
        if not self.unit.process:
            active = self.active_state() == "active"
            if active:
                self._authdaemon_loads()
            return active
        pid = self.pid()
        if pid is None:
            return False
        _signal(pid, signal.SIGHUP)
        return True

    def _authdaemon_loads(self) -> None:
        """authdaemond (re)starts: it reads authdaemonrc now, and the Courier daemons ask it at each
        login (see courier/authdaemon.py); it logs what it cannot use."""
        if self.name != "courier-authdaemon":
            return
        from labsim.mailserver.auth.authlib import from_config
        from labsim.mailserver.courier import authdaemon
        from labsim.mailserver.courier.log import CourierLog

        authdaemon.record_start(self.root)
        log = CourierLog(self.root, stderr=None)
        for problem in from_config(self.root, log=log.raw).problems():
            log.raw(problem)

    def _new_journal(self, offset: int) -> str:
        try:
            with open(self.root.path(self.journal), "rb") as f:
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
        ident, unit = self.unit.ident, f"{self.name}.service"
        # The server's own lines carry their own time stamp: log the message once, under ours.
        messages = [_STAMP.sub("", ln) for ln in fatal.splitlines() if ln.strip()]
        lines = [f"{stamp} {host} {ident}: {m}" for m in messages if m not in tail]
        lines.append(
            f"{stamp} {host} systemd[1]: {unit}: Control process exited, code=exited, status={code}/n/a"
        )
        lines.append(f"{stamp} {host} systemd[1]: {unit}: Failed with result 'exit-code'.")
        lines.append(f"{stamp} {host} systemd[1]: Failed to start {unit} - {self.unit.description}.")
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "a") as f:
                f.write("\n".join(lines) + "\n")
        except OSError:
            pass

    # --- status ---
    def active_state(self) -> str:
        state = self.state()
        if not self.unit.process:
            return "active" if state.get("active") and not state.get("stopped") else "inactive"
        if self.pid() is not None:
            return "active"
        if state.get("switched_off") and not state.get("stopped"):
            return "active"  # exited: the init script had nothing to start
        return "failed" if state.get("result") == "exit-code" and not state.get("stopped") else "inactive"

    def status_text(self, lines: int = 10) -> str:
        desc = self.unit.description
        state = self.state()
        since = state.get("since")
        since_text = ""
        if isinstance(since, int | float):
            ago = max(0, int(time.time() - since))
            when = time.strftime("%a %Y-%m-%d %H:%M:%S %Z", time.localtime(since))
            since_text = f" since {when}; {_ago(ago)} ago"
        active = self.active_state()
        if active == "active":
            running = "running" if self.unit.process and self.pid() is not None else "exited"
            active_line = f"active ({running}){since_text}"
        elif active == "failed":
            active_line = f"failed (Result: exit-code){since_text}"
        else:
            active_line = f"inactive (dead){since_text}"
        dot = {"active": "●", "failed": "×"}.get(active, "○")
        out = [
            f"{dot} {self.name}.service - {desc}",
            f"     Loaded: loaded (/lib/systemd/system/{self.name}.service; enabled; preset: enabled)",
            f"     Active: {active_line}",
        ]
        for i, doc in enumerate(self.unit.docs):
            out.append(("       Docs: " if i == 0 else "             ") + doc)
        pid = self.pid()
        if pid is not None:
            out.append(f"   Main PID: {pid} ({self.unit.comm})")
        elif active == "failed":
            out.append(
                f"    Process: {state.get('pid', '?')} ExecStart={self.unit.exec_start} "
                f"(code=exited, status={state.get('code', '?')}/n/a)"
            )
        tail = self._log_tail(lines)
        if tail:
            out.append("")
            out.extend(tail)
        return "\n".join(out)

    def _log_tail(self, n: int) -> list[str]:
        chunks: list[str] = []
        sources = (SYSLOG_FILE, _configured_log(self.root) if self.name == "dovecot" else "")
        for lab_path in sources:
            if not lab_path:
                continue
            try:
                text = self.root.path(lab_path).read_text(errors="replace")
            except OSError:
                continue
            lines = text.splitlines()
            if lab_path == SYSLOG_FILE and self.name != "dovecot":
                lines = [ln for ln in lines if self._mine(ln)]
            chunks.extend(lines[-n:])
        return chunks[-n:]

    def _mine(self, line: str) -> bool:
        """A mail.log line about this unit: from its daemon, or systemd's about it."""
        return f" {self.unit.ident}:" in line or f" {self.name}.service" in line


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
        root = LabRoot.from_env()
        for name in installed_units(root):
            unit = Unit(root, name)
            # Debian asks each init script for its status, which looks for the daemon's process: a
            # switched-off Courier daemon (systemd's "active (exited)") shows as not running.
            running = unit.pid() is not None if unit.unit.process else unit.active_state() == "active"
            print(f" [ {'+' if running else '-'} ]  {name}")
        return 0
    name = _unit_name(args[0])
    if name not in installed_units(LabRoot.from_env()):
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


SYSTEMCTL_ACTIONS = (*ACTIONS, "is-active", "enable", "disable", "is-enabled", "show")


def _show(root: LabRoot, names: list[str], props: list[str], value_only: bool) -> int:
    """`systemctl show -p PROP[,PROP] [--value] UNIT`: the few properties a lab needs."""
    for name in names:
        unit = Unit(root, _unit_name(name))
        known = {
            "Id": f"{unit.name}.service",
            "Description": unit.unit.description,
            "ActiveState": unit.active_state(),
            "MainPID": str(unit.pid() or 0),
        }
        for prop in props or list(known):
            if prop in known:
                print(known[prop] if value_only else f"{prop}={known[prop]}")
    return 0


def systemctl_main(argv: list[str] | None = None) -> int:
    raw_args = sys.argv[1:] if argv is None else argv
    props: list[str] = []
    for i, a in enumerate(raw_args):
        if a in ("-p", "--property") and i + 1 < len(raw_args):
            props += raw_args[i + 1].split(",")
        elif a.startswith("--property="):
            props += a.split("=", 1)[1].split(",")
    skip = {i + 1 for i, a in enumerate(raw_args) if a in ("-p", "--property")}
    args = [a for i, a in enumerate(raw_args) if not a.startswith("-") and i not in skip]
    if not args:
        print(
            "systemctl: this lab's systemctl only manages services, e.g. systemctl status dovecot",
            file=sys.stderr,
        )
        return 1
    action, names = args[0], args[1:]
    if action == "daemon-reload":
        return 0  # unit files never change under the shim: nothing to reload, and systemctl is silent
    if action not in SYSTEMCTL_ACTIONS:
        print(f'Unknown command verb "{action}".', file=sys.stderr)
        return 1
    if not names:
        print("Too few arguments.", file=sys.stderr)
        return 1
    code = 0
    for raw in names:
        name = _unit_name(raw)
        if name not in installed_units(LabRoot.from_env()):
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
        if action == "show":
            _show(LabRoot.from_env(), [name], props, "--value" in raw_args)
            continue
        code = max(code, run(action, name, "systemctl"))
    return code


def main() -> int:
    if sys.argv[1:2] == ["--serve-courier"] and len(sys.argv) == 5:
        return serve_courier(sys.argv[2:])
    prog = os.path.basename(sys.argv[0])
    return systemctl_main() if prog == "systemctl" else service_main()


if __name__ == "__main__":
    sys.exit(main())
