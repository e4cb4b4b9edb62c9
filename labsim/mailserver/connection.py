"""What a protocol session is handed by the master.

async def serve_imap(ctx: ServerContext, conn: ClientConn) -> None   # imap/session.py
async def serve_pop3(ctx: ServerContext, conn: ClientConn) -> None   # pop3.py
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from labsim.mailserver.anvil import Anvil
from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.auth.service import AuthService
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.storage.base import MailStorage

MAX_LINE = 65536  # Dovecot's imap_max_line_length default is 64k
TLS_HANDSHAKE_TIMEOUT = 30.0


class ClientGone(Exception):
    """The client closed the connection or it broke while we wrote."""


class LineTooLong(Exception):
    """A command line longer than the limit; the rest of it is unread."""


def no_delay(writer: asyncio.StreamWriter) -> None:
    """TCP_NODELAY: a reply is several small writes, and with Nagle's algorithm the
    later ones wait for the client's delayed ACK (40 ms a command on Linux).
    asyncio sets it only on sockets made with IPPROTO_TCP, which ours are not."""
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


ClientHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def tracked(sessions: set[asyncio.Task[Any]], handle: ClientHandler) -> ClientHandler:
    """A client callback for asyncio.start_server whose task is in `sessions` while it runs,
    so that stopping can wait for (or cancel) the sessions still open."""

    async def cb(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            sessions.add(task)
        try:
            await handle(reader, writer)
        except asyncio.CancelledError:
            pass  # stopping: asyncio would report a cancelled client task as an error
        finally:
            if task is not None:
                sessions.discard(task)

    return cb


@dataclass
class ClientConn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    rip: str
    rport: int
    lip: str
    lport: int
    tls: bool = False  # implicit TLS or after STARTTLS/STLS
    session_id: str = ""

    @property
    def secured(self) -> bool:
        """Dovecot counts TLS and connections from the local IP itself as secure."""
        return self.tls or self.rip == self.lip

    async def readline(self, limit: int = MAX_LINE, timeout: float | None = None) -> bytes | None:
        """One line without its CRLF/LF; None at end of stream.

        Raises LineTooLong past `limit` bytes and TimeoutError after `timeout`.
        """
        try:
            line = await asyncio.wait_for(self.reader.readuntil(b"\n"), timeout)
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                return None
            line = exc.partial  # the last line, unterminated: serve it, then EOF comes
        except asyncio.LimitOverrunError as exc:
            raise LineTooLong() from exc
        except TimeoutError:
            raise  # an OSError subclass, but the caller's business: idle, not gone
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            raise ClientGone() from exc
        if len(line) > limit:
            raise LineTooLong()
        if line.endswith(b"\n"):
            line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        return line

    async def read_exactly(self, n: int, timeout: float | None = None) -> bytes:
        try:
            return await asyncio.wait_for(self.reader.readexactly(n), timeout)
        except TimeoutError:
            raise
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError) as exc:
            raise ClientGone() from exc

    async def send(self, data: bytes) -> None:
        if self.writer.is_closing():
            raise ClientGone()
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, ssl.SSLError, OSError, RuntimeError) as exc:
            raise ClientGone() from exc

    async def start_tls(self, context: ssl.SSLContext, timeout: float = TLS_HANDSHAKE_TIMEOUT) -> None:
        """Server-side handshake on this connection (implicit TLS, STARTTLS, STLS).

        Raises ClientGone when the handshake fails; the connection is then unusable.
        """
        # Bytes a client pipelined after STARTTLS must not survive into the TLS session.
        buffered = getattr(self.reader, "_buffer", None)
        if isinstance(buffered, bytearray):
            buffered.clear()
        try:
            await self.writer.start_tls(context, ssl_handshake_timeout=timeout)
        except (ConnectionError, ssl.SSLError, OSError, TimeoutError, RuntimeError) as exc:
            raise ClientGone(str(exc)) from exc
        self.tls = True

    async def close(self) -> None:
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 5)
        except (ConnectionError, ssl.SSLError, OSError, TimeoutError, RuntimeError):
            pass

    def log_tail(self, user: str = "", method: str = "") -> str:
        """The `user=<..>, method=.., rip=.., lip=.., secured, session=<..>` tail of login lines."""
        parts = [f"user=<{user}>"]
        if method:
            parts.append(f"method={method}")
        parts += [f"rip={self.rip}", f"lip={self.lip}"]
        if self.tls:
            parts.append("TLS")
        elif self.secured:
            parts.append("secured")
        parts.append(f"session=<{self.session_id}>")
        return ", ".join(parts)


@dataclass
class ServerContext:
    protocol: str  # "imap" or "pop3"
    settings: DovecotSettings  # filtered for this protocol
    root: LabRoot
    log: DovecotLog
    auth: AuthService
    tls_context: ssl.SSLContext | None
    open_storage: Callable[[UserInfo], MailStorage]
    # Live sessions per (user, remote IP), for mail_max_userip_connections.
    userip_sessions: dict[tuple[str, str], int] = field(default_factory=dict)
    idle_timeout: float = 1800.0  # Dovecot's login processes drop idle clients after 30 min
    # Before login Dovecot gives a client 3 minutes (the login process's own timer).
    login_timeout: float = 180.0
    # ssl != no; and the reason the TLS context could not be built, logged per connection.
    tls_enabled: bool = False
    tls_required: bool = False
    tls_error: str | None = None
    hostname: str = "localhost"  # for the APOP timestamp
    mail_pid: int = 0  # shown as mpid=/<pid> in log lines; 0: our own pid
    anvil: Anvil | None = None  # the logged-in sessions doveadm who/kick see (Dovecot only)

    def plaintext_allowed(self, conn: ClientConn) -> bool:
        """USER/PASS, LOGIN and AUTH PLAIN/LOGIN on this connection (Dovecot's rule)."""
        if self.tls_required and not conn.secured:
            return False
        return conn.secured or not self.settings.disable_plaintext_auth
