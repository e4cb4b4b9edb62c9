"""Build lab roots for tests: users, shadow, homes, config files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from labsim.mailserver.auth.schemes import hash_password
from labsim.mailserver.labroot import LabRoot


@dataclass
class User:
    name: str
    password: str | None  # None: locked ("!" in shadow)
    uid: int = 1000
    gid: int = 1000
    home: str | None = None  # default /home/NAME
    shell: str = "/bin/bash"


class LabBuilder:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = LabRoot(base)
        for d in ("etc", "etc/pam.d", "etc/dovecot", "home", "var/mail", "var/log", "var/run/dovecot"):
            (base / d).mkdir(parents=True, exist_ok=True)
        self._passwd = ["root:x:0:0:root:/root:/bin/bash"]
        self._shadow = ["root:*:19700:0:99999:7:::"]
        self._group = ["root:x:0:", "mail:x:8:"]

    def user(self, name: str, password: str | None, uid: int | None = None, home: str | None = None) -> User:
        uid = uid if uid is not None else 1000 + len(self._passwd) - 1
        home = home or f"/home/{name}"
        u = User(name, password, uid, uid, home)
        self._passwd.append(f"{name}:x:{u.uid}:{u.gid}:{name}:{u.home}:{u.shell}")
        hashed = hash_password("SHA512-CRYPT", password) if password is not None else "!"
        self._shadow.append(f"{name}:{hashed}:19700:0:99999:7:::")
        self._group.append(f"{name}:x:{u.gid}:")
        self.root.path(home).mkdir(parents=True, exist_ok=True)
        self._flush()
        return u

    def _flush(self) -> None:
        self.write("/etc/passwd", "\n".join(self._passwd) + "\n")
        self.write("/etc/shadow", "\n".join(self._shadow) + "\n", mode=0o640)
        self.write("/etc/group", "\n".join(self._group) + "\n")

    def write(self, lab_path: str, text: str | bytes, mode: int = 0o644) -> Path:
        host = self.root.path(lab_path)
        host.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode() if isinstance(text, str) else text
        host.write_bytes(data)
        os.chmod(host, mode)
        return host

    def maildir(self, home: str, messages: list[bytes], folder: str = "") -> Path:
        """Seed ~/Maildir (or the Maildir++ folder ".NAME") with messages in new/."""
        base = self.root.path(f"{home}/Maildir") / (f".{folder}" if folder else "")
        for sub in ("tmp", "new", "cur"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        for i, msg in enumerate(messages):
            (base / "new" / f"1700000000.M{i}P1.labsim").write_bytes(msg)
        return base

    def mbox(self, lab_path: str, messages: list[bytes]) -> Path:
        out = b""
        for msg in messages:
            body = b"\n".join(b">" + ln if ln.startswith(b"From ") else ln for ln in msg.split(b"\n"))
            out += b"From sender@example.com Tue Nov 14 22:13:20 2023\n" + body.rstrip(b"\n") + b"\n\n"
        return self.write(lab_path, out, mode=0o600)


def sample_message(n: int, to: str = "alice@example.com") -> bytes:
    return (
        f"From: Sender {n} <sender{n}@example.com>\n"
        f"To: {to}\n"
        f"Subject: Test message {n}\n"
        f"Date: Tue, 14 Nov 2023 22:13:{n % 60:02d} +0000\n"
        f"Message-ID: <{n}.labsim@example.com>\n"
        "\n"
        f"Body of message {n}.\nSecond line.\n"
    ).encode()
