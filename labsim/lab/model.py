"""The Lab interface every backend implements, and the data it speaks in.

A scenario's setup becomes a `LabSpec`; a backend turns it into a running
lab (a directory with a child process, or a container). Everything a
scenario, a checker or the learner's shell does to a lab goes through `Lab`.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import hashlib
import json
import re
import shutil
import signal
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

MailFormat = Literal["maildir", "mbox"]
MAIL_LOG = "/var/log/mail.log"
STATE_FILE = "state.json"


class LabError(Exception):
    """A lab operation that cannot be done; the message is one sentence for the learner."""


class ResetNotConfirmed(LabError):
    """reset() wipes the learner's work, so it needs confirm=True."""


@dataclass
class UserSpec:
    name: str
    password: str | None = None  # None: locked account ("!" in shadow)
    uid: int | None = None  # None: next free from 1000
    home: str | None = None  # None: /home/NAME
    shell: str = "/bin/bash"
    groups: list[str] = field(default_factory=list)  # supplementary groups
    gecos: str = ""


@dataclass
class GroupSpec:
    name: str
    gid: int | None = None
    members: list[str] = field(default_factory=list)


@dataclass
class FileSpec:
    path: str  # as the lab sees it
    content: str = ""
    mode: int = 0o644
    owner: str = "root"
    group: str | None = None  # None: the owner's primary group


@dataclass
class MessageSpec:
    """A message written as given (the generated ones are made up)."""

    subject: str
    sender: str = "Labsim <labsim@example.org>"
    to: str = ""  # empty: the mailbox's user
    date: str = ""  # RFC 5322; empty: a fixed date from the message's position
    body: str = ""


@dataclass
class MailboxSpec:
    user: str
    messages: int = 3  # generated messages
    format: MailFormat = "maildir"
    # Lab path; "~" is the user's home and %u the user name. Empty: ~/Maildir or /var/mail/%u.
    location: str = ""
    folder: str = ""  # seed this folder (Maildir++ ".NAME", or an mbox file beside) instead of INBOX
    seed: int = 0
    custom: list[MessageSpec] = field(default_factory=list)  # written after the generated ones
    folders: list[str] = field(default_factory=list)  # extra folders, created empty


@dataclass
class LabSpec:
    """What a scenario's setup asks for."""

    name: str = "lab"
    users: list[UserSpec] = field(default_factory=list)
    groups: list[GroupSpec] = field(default_factory=list)
    files: list[FileSpec] = field(default_factory=list)
    mailboxes: list[MailboxSpec] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # shell lines run in the lab after setup
    dovecot_defaults: bool = True  # Debian's /etc/dovecot tree, as after `apt install dovecot-imapd`
    courier_defaults: bool = False
    services: list[str] = field(default_factory=lambda: ["dovecot"])  # started by Lab.start()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabSpec:
        d = dict(data)
        d["users"] = [UserSpec(**u) for u in d.get("users", [])]
        d["groups"] = [GroupSpec(**g) for g in d.get("groups", [])]
        d["files"] = [FileSpec(**f) for f in d.get("files", [])]
        d["mailboxes"] = [
            MailboxSpec(**{**m, "custom": [MessageSpec(**c) for c in m.get("custom", [])]})
            for m in d.get("mailboxes", [])
        ]
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class LabStatus:
    lab_id: str
    backend: str
    state: Literal["running", "stopped", "missing"]
    server_running: bool = False
    server_pid: int | None = None
    port_base: int = 0
    detail: str = ""


@dataclass
class ExecResult:
    code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.code == 0


def _lab_id_stem(name: str) -> str:
    return "".join(c if c.isalnum() or c == "-" else "-" for c in name.lower()).strip("-")[:24] or "lab"


def new_lab_id(name: str) -> str:
    suffix = hashlib.sha1(str(time.time_ns()).encode()).hexdigest()[:4]
    return f"{_lab_id_stem(name)}-{time.strftime('%Y%m%d-%H%M%S')}-{suffix}"


def made_for(lab_id: str, name: str) -> bool:
    """Whether lab_id has the form new_lab_id(name) gives (how a lab with a damaged state is matched)."""
    return re.fullmatch(rf"{re.escape(_lab_id_stem(name))}-\d{{8}}-\d{{6}}-[0-9a-f]{{4}}", lab_id) is not None


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Ctrl+C waits until the block is done, then interrupts: a reset stopped between removing the
    lab and building it again would leave a half-made lab that nothing reports."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives signals (the app's workers run elsewhere)
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt


def etc_manifest(files: dict[str, bytes]) -> dict[str, str]:
    return {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}


class Lab(abc.ABC):
    """One lab on one backend. Subclasses keep their own state in `self.state`."""

    backend_name = "abstract"

    def __init__(self, lab_dir: Path, state: dict[str, Any] | None = None) -> None:
        self.lab_dir = lab_dir
        self.state: dict[str, Any] = state if state is not None else {}

    # --- identity and persisted state ---
    @property
    def lab_id(self) -> str:
        return self.lab_dir.name

    @property
    def spec(self) -> LabSpec:
        return LabSpec.from_dict(self.state.get("spec", {}))

    @property
    def main_service(self) -> str:
        """The service whose server `status()` reports: the first one with a process of its own."""
        services = [s for s in self.spec.services if s != "courier-authdaemon"]
        return services[0] if services else "dovecot"

    def save_state(self) -> None:
        self.lab_dir.mkdir(parents=True, exist_ok=True)
        self.state["backend"] = self.backend_name
        tmp = self.lab_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(self.state, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.lab_dir / STATE_FILE)

    # --- lifecycle ---
    @abc.abstractmethod
    def create(self, spec: LabSpec) -> None: ...

    @abc.abstractmethod
    def start(self) -> ExecResult:
        """Bring the lab up and start its services; a service that refuses is reported, not raised."""

    @abc.abstractmethod
    def stop(self) -> None: ...

    @abc.abstractmethod
    def destroy(self) -> None: ...

    @abc.abstractmethod
    def status(self) -> LabStatus: ...

    def reset(self, confirm: bool = False) -> Path | None:
        """Back to the scenario's fresh state. Returns where the learner's edited /etc files were saved."""
        if not confirm:
            raise ResetNotConfirmed(
                f"reset wipes everything done in lab {self.lab_id}; call it again with confirm=True"
            )
        backup = self.backup_etc()
        spec = self.spec
        with _ctrl_c_deferred():
            self._wipe()
            self.create(spec)
        return backup

    @abc.abstractmethod
    def _wipe(self) -> None:
        """Remove the lab's machine (root tree or container), keeping the lab dir and its backups."""

    # --- inside the lab ---
    @abc.abstractmethod
    def exec(self, argv: list[str], timeout: float = 60.0, input: str | None = None) -> ExecResult:
        """Run argv in the lab, stdout and stderr merged. The cwd is the lab root on every backend:
        the local sandbox has no chroot, so portable commands name lab files by relative paths."""

    @abc.abstractmethod
    def spawn(self, argv: list[str], timeout: float = 30.0) -> Any:
        """A pexpect child running argv in the lab (text mode, utf-8)."""

    @abc.abstractmethod
    def read_file(self, path: str) -> bytes: ...

    @abc.abstractmethod
    def write_file(self, path: str, data: bytes | str, mode: int = 0o644, owner: str = "root") -> None:
        """Write a lab file. owner ("user" or "user:group") is only real in Docker."""

    @abc.abstractmethod
    def shell(self) -> int:
        """Hand the terminal to an interactive login shell in the lab; returns its exit code."""

    @abc.abstractmethod
    def logs(
        self, path: str = MAIL_LOG, follow: bool = True, poll: float = 0.2
    ) -> Generator[str, None, None]:
        """Lines of the mail log; with follow, keeps waiting for new ones (close the iterator to stop)."""

    @abc.abstractmethod
    def etc_files(self) -> dict[str, bytes]:
        """Every regular file under /etc in the lab, by lab path."""

    # --- shared helpers ---
    def service(self, action: str, name: str = "dovecot") -> ExecResult:
        return self.exec(["service", name, action])

    def backup_etc(self) -> Path | None:
        """Copy /etc files the learner changed or added since setup into <lab dir>/backups/<time>/."""
        fresh: dict[str, str] = self.state.get("etc_manifest", {})
        try:
            now = self.etc_files()
        except LabError:
            return None
        changed = {p: d for p, d in now.items() if fresh.get(p) != hashlib.sha256(d).hexdigest()}
        if not changed:
            return None
        dest = self.lab_dir / "backups" / time.strftime("%Y%m%d-%H%M%S")
        n = 1
        while dest.exists():
            n += 1
            dest = dest.with_name(f"{dest.name.split('.')[0]}.{n}")
        for path, data in changed.items():
            target = dest.joinpath(*PurePosixPath(path).parts[1:])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return dest

    def record_fresh_etc(self) -> None:
        self.state["etc_manifest"] = etc_manifest(self.etc_files())
        self.save_state()

    def remove_lab_dir(self) -> None:
        shutil.rmtree(self.lab_dir, ignore_errors=True)
