"""What a protocol session is handed by the master.

    async def serve_imap(ctx: ServerContext, conn: ClientConn) -> None   # imap/session.py
    async def serve_pop3(ctx: ServerContext, conn: ClientConn) -> None   # pop3.py
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.auth.service import AuthService
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.storage.base import MailStorage

MAX_LINE = 65536  # Dovecot's imap_max_line_length default is 64k


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
