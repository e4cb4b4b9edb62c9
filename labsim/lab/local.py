"""The local backend: a lab is a directory, its server a detached child on 127.0.0.1.

Layout of a lab dir (under `labsim.paths.data_home()/labs/<id>/`):

    state.json   what the registry needs to find the lab again
    root/        the lab root: /etc, /home, /var ... as the lab sees them
    bin/         service, systemctl, doveconf, doveadm, mkcert.sh wrappers
    shellrc      the lab shell's start-up file (prompt naming the lab)
    backups/     /etc files saved before a reset

Ordinary users cannot bind ports below 1024, so the server listens on
base+P for each well-known port P; the base is chosen free at creation.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Collection, Generator
from pathlib import Path
from typing import Any

from labsim.lab import port_claims
from labsim.lab.model import MAIL_LOG, STATE_FILE, ExecResult, Lab, LabError, LabSpec, LabStatus
from labsim.lab.setup import apply_spec
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.tools.lab_tools import LAB_TOOLS
from labsim.mailserver.tools.service import Unit, installed_units

WELL_KNOWN_PORTS = (110, 143, 993, 995)
PORT_BASES = range(10000, 60001, 1000)

# Each wrapper runs one lab tool with the Python labsim is installed in.
TOOLS = LAB_TOOLS


class LocalFS:
    """LabFS over a host directory. Ownership cannot be given without root, so it is left as is."""

    def __init__(self, root: Path) -> None:
        self.labroot = LabRoot(root)

    def read(self, path: str) -> bytes | None:
        try:
            return self.labroot.path(path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def write(self, path: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
        host = self.labroot.path(path)
        host.parent.mkdir(parents=True, exist_ok=True)
        tmp = host.with_name(host.name + ".labsim-tmp")
        tmp.write_bytes(data)
        os.chmod(tmp, mode)
        tmp.replace(host)

    def mkdir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        host = self.labroot.path(path)
        host.mkdir(parents=True, exist_ok=True)
        # The owner (us) must keep access to everything, or the sandbox locks itself out.
        os.chmod(host, mode | stat.S_IRWXU)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port_base(
    taken: Collection[int] = (), start: int = PORT_BASES[0], lab_dir: Path | None = None
) -> int:
    """A base whose ports are free now; with lab_dir, also claimed for that lab machine-wide."""
    for base in PORT_BASES:
        free = base >= start and base not in taken and all(port_free(base + p) for p in WELL_KNOWN_PORTS)
        # The claim comes last: it is only made for a base that is free.
        if free and (lab_dir is None or port_claims.claim(base, lab_dir)):
            return base
    raise LabError("no free port range on 127.0.0.1 for a local lab (tried bases 10000 to 60000)")


def write_tool_wrappers(bin_dir: Path, python: str = sys.executable) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, target in TOOLS.items():
        module, func = target.split(":")
        code = f"import sys; from {module} import {func} as main; sys.argv[0] = {name!r}; sys.exit(main())"
        script = f'#!/bin/sh\nexec {shlex.quote(python)} -c {shlex.quote(code)} "$@"\n'
        _write_exec(bin_dir / name, script)
    # mkcert.sh is a shell script shipped in the package; find it where labsim is installed.
    locate = (
        "import os, labsim.mailserver.tools as t; "
        "print(os.path.join(os.path.dirname(t.__file__), 'mkcert.sh'))"
    )
    script = f'#!/bin/sh\nexec sh "$({shlex.quote(python)} -c {shlex.quote(locate)})" "$@"\n'
    _write_exec(bin_dir / "mkcert.sh", script)


def _write_exec(path: Path, text: str) -> None:
    path.write_text(text)
    os.chmod(path, 0o755)


class LocalLab(Lab):
    backend_name = "local"

    @property
    def root(self) -> Path:
        return self.lab_dir / "root"

    @property
    def bin_dir(self) -> Path:
        return self.lab_dir / "bin"

    @property
    def labroot(self) -> LabRoot:
        return LabRoot(self.root)

    @property
    def port_base(self) -> int:
        return int(self.state.get("port_base", 0))

    # --- lifecycle ---
    def create(self, spec: LabSpec) -> None:
        self.lab_dir.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(exist_ok=True)
        (self.root / "run").mkdir(exist_ok=True)
        (self.root / "var").mkdir(exist_ok=True)
        if not (self.root / "var/run").exists():
            (self.root / "var/run").symlink_to("../run")  # as on Debian
        self.state["spec"] = spec.to_dict()
        self.state.setdefault("created", time.time())
        if not self.state.get("port_base"):
            self.state["port_base"] = free_port_base(self._sibling_port_bases(), lab_dir=self.lab_dir)
        self.save_state()
        write_tool_wrappers(self.bin_dir)
        self._write_shellrc()
        apply_spec(LocalFS(self.root), spec)
        for line in spec.commands:
            result = self.exec(["sh", "-c", line])
            if not result.ok:
                raise LabError(
                    f"setup command {line!r} failed with exit {result.code}: {result.output.strip()}"
                )
        self.record_fresh_etc()

    def _sibling_port_bases(self) -> set[int]:
        """Port bases other local labs already hold, running or not, so two labs never share one."""
        taken = set()
        for state_file in self.lab_dir.parent.glob(f"*/{STATE_FILE}"):
            if state_file.parent == self.lab_dir:
                continue
            try:
                data = json.loads(state_file.read_text())
                if data.get("backend") == "local":
                    taken.add(int(data.get("port_base", 0)))
            except (OSError, ValueError, TypeError, AttributeError):
                continue
        return taken

    def _move_port_base(self, avoid: set[int]) -> None:
        old = self.port_base
        self.state["port_base"] = free_port_base(avoid, lab_dir=self.lab_dir)
        port_claims.release(old, self.lab_dir)
        self.save_state()
        self._write_shellrc()

    def start(self) -> ExecResult:
        if not self._any_unit_running() and not all(port_free(self.port_base + p) for p in WELL_KNOWN_PORTS):
            # Someone took our ports while the lab was down: move to a free range. Not while one of
            # our own units holds them (courier-pop serving while the scenario's imapd is off).
            self._move_port_base({self.port_base} | self._sibling_port_bases())
        outputs, code = [], 0
        for name in self.spec.services:
            result = self.service("start", name)
            tried = {self.port_base}
            # Another program took a port between our check and the bind: move on, as a learner would.
            while result.code and "Address already in use" in result.output and len(tried) < 4:
                self._move_port_base(tried | self._sibling_port_bases())
                tried.add(self.port_base)
                result = self.service("start", name)
            outputs.append(result.output)
            code = code or result.code
        return ExecResult(code, "".join(outputs))

    def stop(self) -> None:
        if not self.root.is_dir():
            return
        # The learner may have started units the scenario did not list (`service courier-imap-ssl
        # start`): they are detached children too, and must not outlive the lab.
        extra = [u for u in installed_units(self.labroot) if u not in self.spec.services]
        for name in [*self.spec.services, *(u for u in extra if Unit(self.labroot, u).pid() is not None)]:
            self.service("stop", name)

    def destroy(self) -> None:
        self.stop()
        port_claims.release(self.port_base, self.lab_dir)
        self.remove_lab_dir()

    def _wipe(self) -> None:
        self.stop()
        if self.root.exists():
            _make_writable(self.root)
            shutil.rmtree(self.root)

    def _any_unit_running(self) -> bool:
        return any(Unit(self.labroot, name).pid() is not None for name in installed_units(self.labroot))

    def server_pid(self) -> int | None:
        try:
            return Unit(self.labroot, self.main_service).pid()
        except KeyError:  # a service the shim does not know: nothing of ours runs it
            return None

    def status(self) -> LabStatus:
        if not self.root.is_dir():
            return LabStatus(self.lab_id, "local", "missing", detail=f"{self.root} is gone")
        pid = self.server_pid()
        # A sandbox is only a directory: it is "running" while any of its services is (a Courier lab
        # may serve POP3 while the scenario's imapd is switched off).
        running = pid is not None or self._any_unit_running()
        return LabStatus(
            self.lab_id,
            "local",
            "running" if running else "stopped",
            server_running=pid is not None,
            server_pid=pid,
            port_base=self.port_base,
            detail=self.state.get("backend_reason", ""),
        )

    # --- inside the lab ---
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            LABSIM_ROOT=str(self.root),
            LABSIM_PORT_BASE=str(self.port_base),
            LABSIM_LAB=self.lab_id,
            PATH=f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            PS1=self._prompt(),
        )
        return env

    def _prompt(self) -> str:
        return f"[lab {self.lab_id}] \\w \\$ "

    def exec(self, argv: list[str], timeout: float = 60.0, input: str | None = None) -> ExecResult:
        if not self.root.is_dir():
            raise LabError(f"lab {self.lab_id} has no root directory any more; reset or recreate it")
        try:
            proc = subprocess.run(
                argv,
                input=input.encode() if input is not None else None,
                stdin=None if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.root,
                timeout=timeout,
            )
        except FileNotFoundError:
            return ExecResult(127, f"{argv[0]}: command not found\n")
        except subprocess.TimeoutExpired as exc:
            out = exc.output.decode("utf-8", "replace") if exc.output else ""
            return ExecResult(124, out + f"\n[timed out after {timeout:g}s]\n")
        return ExecResult(proc.returncode, proc.stdout.decode("utf-8", "replace"))

    def spawn(self, argv: list[str], timeout: float = 30.0) -> Any:
        import pexpect

        if not self.root.is_dir():  # ptyprocess waits forever on a child that cannot chdir there
            raise LabError(f"lab {self.lab_id} has no root directory any more; reset or recreate it")
        return pexpect.spawn(
            argv[0], argv[1:], env=self.env(), cwd=str(self.root), timeout=timeout, encoding="utf-8"
        )

    def _host(self, path: str) -> Path:
        if not path.startswith("/"):
            raise LabError(f"lab paths are absolute: {path!r}")
        return self.labroot.path(path)

    def read_file(self, path: str) -> bytes:
        try:
            return self._host(path).read_bytes()
        except OSError as exc:
            raise LabError(f"cannot read {path} in lab {self.lab_id}: {exc.strerror}") from exc

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644, owner: str = "root") -> None:
        raw = data.encode() if isinstance(data, str) else data
        if not self.root.is_dir():
            # Writing would make a root holding this one file: a lab that looks there and is not.
            raise LabError(f"lab {self.lab_id} has no root directory any more; reset or recreate it")
        try:
            LocalFS(self.root).write(path, raw, mode)
        except OSError as exc:
            raise LabError(f"cannot write {path} in lab {self.lab_id}: {exc.strerror}") from exc

    def _write_shellrc(self) -> None:
        rc = (
            "# labsim lab shell: your own start-up file, then the lab's prompt and tools.\n"
            '[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"\n'
            f'export PATH={shlex.quote(str(self.bin_dir))}:"$PATH"\n'
            f"export LABSIM_ROOT={shlex.quote(str(self.root))}\n"
            f"export LABSIM_PORT_BASE={self.port_base}\n"
            f"PS1={shlex.quote(self._prompt())}\n"
            f"echo 'lab {self.lab_id}: the lab root is {self.root}; '"
            f"'IMAP on 127.0.0.1:{self.port_base + 143}, POP3 on 127.0.0.1:{self.port_base + 110}.'\n"
            # No chroot here: an absolute path would be the host's file, not the lab's.
            "echo 'Paths: what a brief calls /etc/... or /var/log/mail.log is etc/... or var/log/mail.log "
            "here (relative to the lab root); the lab commands (service, doveconf, authtest, ...) read the "
            "lab'\\''s files.'\n"
        )
        (self.lab_dir / "shellrc").write_text(rc)

    def shell_argv(self) -> list[str]:
        user_shell = os.environ.get("SHELL", "/bin/sh")
        if os.path.basename(user_shell) == "bash":
            return [user_shell, "--rcfile", str(self.lab_dir / "shellrc"), "-i"]
        return [user_shell, "-i"]

    def shell(self) -> int:
        self._write_shellrc()  # the port base may have moved since creation
        try:
            return subprocess.call(self.shell_argv(), env=self.env(), cwd=self.root)
        except OSError as exc:
            raise LabError(f"cannot start a shell for lab {self.lab_id}: {exc.strerror}") from exc

    def logs(
        self, path: str = MAIL_LOG, follow: bool = True, poll: float = 0.2
    ) -> Generator[str, None, None]:
        host = self._host(path)
        position = 0
        pending = ""
        while True:
            try:
                size = host.stat().st_size
                if size < position:  # truncated or rotated: start over
                    position = 0
                with open(host, "rb") as f:
                    f.seek(position)
                    chunk = f.read()
                    position = f.tell()
            except FileNotFoundError:
                chunk = b""
            pending += chunk.decode("utf-8", "replace")
            *lines, pending = pending.split("\n")
            yield from lines
            if not follow:
                if pending:
                    yield pending
                return
            time.sleep(poll)

    def etc_files(self) -> dict[str, bytes]:
        etc = self.root / "etc"
        files: dict[str, bytes] = {}
        if not etc.is_dir():
            return files
        for p in sorted(etc.rglob("*")):
            if p.is_file() and not p.is_symlink():
                try:
                    files[self.labroot.lab_path(p)] = p.read_bytes()
                except OSError:
                    continue
        return files


def _make_writable(tree: Path) -> None:
    """A learner may chmod 000 a directory; deleting the lab must still work."""
    for dirpath, dirnames, _ in os.walk(tree):
        for d in dirnames:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(dirpath, d), 0o700)
