"""A loopback IMAP server around serve_imap for tests, with a small stand-in auth."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from labsim.mailserver.auth.model import AuthRequest, AuthResult, UserInfo
from labsim.mailserver.auth.service import AuthService, SaslExchange
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.connection import ClientConn, ServerContext
from labsim.mailserver.imap.session import serve_imap
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.storage.base import MailStorage
from labsim.mailserver.storage.location import open_storage

PASSWORDS = {"alice": "secret", "bob": "hunter2"}


class _Exchange(SaslExchange):
    def __init__(self, auth: FakeAuth, mech: str) -> None:
        self.auth = auth
        self.mech = mech
        self.user: str | None = None

    async def step(self, response: bytes | None) -> bytes | AuthResult:
        if self.mech == "PLAIN":
            if response is None:
                return b""
            parts = response.split(b"\0")
            if len(parts) != 3:
                return AuthResult(False)
            return self.auth.check(parts[1].decode(), parts[2].decode())
        if response is None:
            return b"Username:"
        if self.user is None:
            self.user = response.decode()
            return b"Password:"
        return self.auth.check(self.user, response.decode())


class FakeAuth(AuthService):
    def __init__(self, root: LabRoot, settings: DovecotSettings, log: DovecotLog) -> None:
        super().__init__(root, settings, log)

    def start(self) -> None:
        pass

    def mechanisms(self, secured: bool) -> list[str]:
        return ["PLAIN", "LOGIN"]

    def check(self, user: str, password: str) -> AuthResult:
        if PASSWORDS.get(user) != password:
            return AuthResult(False, user=user)
        info = UserInfo(user, 1000, 1000, f"/home/{user}")
        return AuthResult(True, user=user, userinfo=info)

    async def login(self, user: str, password: str, request: AuthRequest) -> AuthResult:
        return self.check(user, password)

    def sasl(self, mech: str, request: AuthRequest) -> SaslExchange:
        return _Exchange(self, mech)


def seed_maildir(base: Path, user: str, messages: list[bytes], folders: tuple[str, ...] = ()) -> Path:
    md = base / "home" / user / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (md / sub).mkdir(parents=True, exist_ok=True)
    for i, msg in enumerate(messages):
        (md / "new" / f"{1700000000 + i}.M{i}P1.labsim").write_bytes(msg)
    for f in folders:
        for sub in ("tmp", "new", "cur"):
            (md / f".{f}" / sub).mkdir(parents=True, exist_ok=True)
    return md


def message(n: int) -> bytes:
    return (
        f"From: Sender {n} <sender{n}@example.com>\n"
        "To: alice@example.com\n"
        f"Subject: Test message {n}\n"
        "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
        f"Message-ID: <{n}.labsim@example.com>\n"
        "\n"
        f"Body of message {n}.\nSecond line.\n"
    ).encode()


@dataclass
class Server:
    port: int
    ctx: ServerContext
    log_lines: list[str] = field(default_factory=list)


class _LogSink:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def write(self, text: str) -> int:
        self.lines.extend(t for t in text.splitlines() if t)
        return len(text)

    def flush(self) -> None:
        pass


@contextlib.contextmanager
def running_server(
    base: Path,
    settings: DovecotSettings | None = None,
    idle_timeout: float = 30.0,
    host: str = "127.0.0.1",
    tls_context: ssl.SSLContext | None = None,
    auth: AuthService | None = None,
) -> Iterator[Server]:
    """Run serve_imap on a loopback port in a background thread's event loop."""
    root = LabRoot(base)
    settings = settings or DovecotSettings(mail_location="maildir:~/Maildir", log_path="/var/log/dovecot.log")
    lines: list[str] = []
    log = DovecotLog(root, stderr=_LogSink(lines))  # type: ignore[arg-type]
    if auth is not None:
        log = auth.log  # the real auth service logs through the same log
        log.stderr = _LogSink(lines)  # type: ignore[assignment]
    log.configure(settings.log_path)
    auth = auth or FakeAuth(root, settings, log)

    def storage_for(info: UserInfo) -> MailStorage:
        return open_storage(root, info.mail or settings.mail_location, info, log, settings)

    ctx = ServerContext(
        "imap", settings, root, log, auth, tls_context, storage_for, idle_timeout=idle_timeout
    )
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        sock = writer.get_extra_info("sockname")
        conn = ClientConn(reader, writer, peer[0], peer[1], sock[0], sock[1])
        with contextlib.suppress(asyncio.CancelledError):
            await serve_imap(ctx, conn)

    async def start() -> None:
        server = await asyncio.start_server(handle, host, 0, limit=70000)
        holder["server"] = server
        holder["port"] = server.sockets[0].getsockname()[1]
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield Server(int(holder["port"]), ctx, lines)  # type: ignore[call-overload]
    finally:

        async def stop() -> None:
            srv = holder["server"]
            assert isinstance(srv, asyncio.base_events.Server)
            srv.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate (openssl CLI)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-x509",
            "-nodes",
            "-days",
            "1",
            "-newkey",
            "rsa:2048",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx
