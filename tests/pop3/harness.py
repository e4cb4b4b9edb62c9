"""An in-process master (real config loader, storage, TLS; stand-in auth) and a line client."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.master import Master
from tests.conftest import LabCerts, free_port_base, wait_for_port
from tests.labroot_builder import LabBuilder, sample_message
from tests.pop3.standin_auth import StandinAuth

CONF = """protocols = pop3
listen = 127.0.0.1
ssl = {ssl}
ssl_cert = </etc/dovecot/private/dovecot.pem
ssl_key = </etc/dovecot/private/dovecot.key
disable_plaintext_auth = {dpa}
auth_mechanisms = {mechs}
mail_location = maildir:~/Maildir
log_path = /var/log/dovecot.log
login_greeting = Dovecot ready.
{extra}
passdb {{
  driver = pam
}}
userdb {{
  driver = passwd
}}
"""

DOT_MESSAGE = b"From: a@b\nSubject: dots\n\nhello\n.dot line\n..two\n"
MESSAGES = [sample_message(1), sample_message(2), DOT_MESSAGE]


def crlf_size(msg: bytes) -> int:
    return len(msg.replace(b"\n", b"\r\n"))


def make_lab(
    base: Path,
    certs: LabCerts,
    *,
    ssl: str = "yes",
    dpa: str = "yes",
    mechs: str = "plain login",
    extra: str = "",
    key_pem: str | None = None,
) -> LabBuilder:
    lab = LabBuilder(base)
    lab.write(
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\n"
        "alice:x:1000:1000:alice:/home/alice:/bin/bash\n"
        "bob:x:1001:1001:bob:/home/bob:/bin/bash\n",
    )
    lab.write("/etc/dovecot/private/dovecot.pem", certs.cert_pem)
    lab.write("/etc/dovecot/private/dovecot.key", key_pem or certs.key_pem, mode=0o600)
    lab.write("/etc/pam.d/dovecot", "auth required pam_unix.so\naccount required pam_unix.so\n")
    lab.write("/etc/dovecot/dovecot.conf", CONF.format(ssl=ssl, dpa=dpa, mechs=mechs, extra=extra))
    lab.maildir("/home/alice", MESSAGES)
    lab.maildir("/home/bob", [])
    return lab


class InProcessServer:
    def __init__(self, root: Path, drop_privileges: bool = False) -> None:
        lab_root = LabRoot(root)
        self.root = root
        self.port_base = free_port_base()
        self.master = Master(
            lab_root,
            DovecotLog(lab_root, stderr=None),
            port_base=self.port_base,
            auth_factory=StandinAuth,
            drop_privileges=drop_privileges,
        )
        config = self.master.load()
        self.rc: int | None = None

        def run() -> None:
            self.rc = asyncio.run(self.master.serve(config, handle_signals=False))

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not self.master.ready.wait(10) or not wait_for_port(self.port(110), 10):
            raise RuntimeError(f"server did not start: {self.log()}")

    def port(self, well_known: int) -> int:
        return self.port_base + well_known

    def log(self) -> str:
        p = self.root / "var/log/dovecot.log"
        return p.read_text() if p.exists() else ""

    def wait_log(self, needle: str, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while needle not in (text := self.log()) and time.monotonic() < deadline:
            time.sleep(0.02)
        return text

    def stop(self) -> int | None:
        self.master.stop()
        self.thread.join(10)
        return self.rc


class LineClient:
    """A raw POP3 client: exact lines in, exact lines out."""

    def __init__(self, port: int, source: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
        self.file = self.sock.makefile("rb")

    def line(self) -> str:
        raw = self.file.readline()
        if not raw:
            raise EOFError
        assert raw.endswith(b"\r\n"), raw
        return raw[:-2].decode()

    def send(self, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        self.sock.sendall(data + b"\r\n")

    def cmd(self, text: str | bytes) -> str:
        self.send(text)
        return self.line()

    def multi(self) -> list[str]:
        out = []
        while (line := self.line()) != ".":
            out.append(line)
        return out

    def raw_until_dot(self) -> bytes:
        out = b""
        while True:
            raw = self.file.readline()
            if not raw:
                raise EOFError
            if raw == b".\r\n":
                return out
            out += raw

    def closed(self) -> bool:
        try:
            return self.file.readline() == b""
        except OSError:
            return True

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def login(self, user: str = "alice", password: str = "secret") -> None:
        assert self.line().startswith("+OK")
        assert self.cmd(f"USER {user}") == "+OK"
        assert self.cmd(f"PASS {password}") == "+OK Logged in."
