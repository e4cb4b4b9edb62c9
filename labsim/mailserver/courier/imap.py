"""Courier-IMAP's face on the shared IMAP session: greeting, CAPABILITY, LOGIN replies, log lines.

After login the shared mail-phase commands answer (their wording is
Dovecot's; the docs list that as a known difference).
"""

from __future__ import annotations

import contextlib
import time

from labsim.mailserver.auth.model import AuthResult
from labsim.mailserver.connection import ClientConn, ServerContext
from labsim.mailserver.connection import ClientGone as ClientGoneShared
from labsim.mailserver.courier.daemon import CourierContext, courier_ip
from labsim.mailserver.imap import responses as R
from labsim.mailserver.imap.commands import MailCommands, Reply
from labsim.mailserver.imap.parser import Command
from labsim.mailserver.imap.session import MAX_BAD_PRELOGIN, Disconnect, ImapSession
from labsim.mailserver.storage.base import MailStorage, StorageError

GREETING = (
    "Courier-IMAP ready. Copyright 1998-2019 Double Precision, Inc.  "
    "See COPYING for distribution information."
)
# imapd adds these to IMAP_CAPABILITY itself.
TRAILING_CAPS = ("ENABLE", "UTF8=ACCEPT")


class CourierMailCommands(MailCommands):
    """The shared mail-phase commands, with Courier's answers where they are plainly different."""

    def __init__(self, session: CourierImapSession, storage: MailStorage | None) -> None:
        super().__init__(session.ctx, session.mail_prefix, storage, session.send)
        self.session = session

    async def capability(self, cmd: Command) -> Reply:
        await self.line(f"* CAPABILITY {self.session.prelogin_capability()}")
        return Reply("OK", "CAPABILITY completed", timing=False)

    async def noop(self, cmd: Command) -> Reply:
        return Reply("OK", "NOOP completed", timing=False)

    async def logout(self, cmd: Command) -> Reply:
        return Reply(
            "OK", "LOGOUT completed", timing=False, sync=False, logout=True,
            after=["* BYE Courier-IMAP server shutting down"],
        )  # fmt: skip

    async def id(self, cmd: Command) -> Reply:
        return Reply("BAD", R.BAD_PRELOGIN, timing=False)


class CourierImapSession(ImapSession):
    def __init__(self, ctx: ServerContext, conn: ClientConn, courier: CourierContext) -> None:
        super().__init__(ctx, conn)
        self.courier = courier

    @property
    def login_prefix(self) -> str:
        return "imapd-ssl" if self.courier.daemon.ssl else "imapd"

    def capability_words(self) -> list[str]:
        d = self.courier.daemon
        words = (d.capability_tls if self.conn.tls else d.capability).split()
        if d.vars.get("IMAP_ACL", "1").strip() != "0":
            words += ["ACL", "ACL2=UNION"]
        if self.ctx.tls_context is not None and not self.conn.tls and not d.ssl and d.starttls:
            words.append("STARTTLS")
        if d.tls_required and not self.conn.tls:
            words.append("LOGINDISABLED")
        words += [w for w in TRAILING_CAPS if w not in words]
        seen: list[str] = []
        for w in words:
            if w not in seen:
                seen.append(w)
        return seen

    def prelogin_capability(self) -> str:
        return " ".join(self.capability_words())

    def mechanisms(self) -> list[str]:
        mechs = [w[5:].upper() for w in self.capability_words() if w.upper().startswith("AUTH=")]
        return [m for m in mechs if m in ("PLAIN", "LOGIN")]

    def plaintext_allowed(self) -> bool:
        return self.conn.tls or not self.courier.daemon.tls_required

    def log_mail_disconnect(self, reason: str) -> None:
        st = self.mail.stats if self.mail else None
        user = self.user.user if self.user else self.last_user
        what = "LOGOUT" if reason == "Logged out" else "DISCONNECTED"
        self.ctx.log.info(
            self.login_prefix,
            f"{what}, user={user}, ip=[{courier_ip(self.conn.rip)}], "
            f"headers={st.hdr_bytes if st else 0}, body={st.body_bytes if st else 0}, "
            f"rcvd={self.bytes_in}, sent={self.bytes_out}, time={int(time.monotonic() - self.started)}",
        )

    async def _capability_pre(self, cmd: Command) -> bool:
        await self.line(f"* CAPABILITY {self.prelogin_capability()}")
        await self.line(f"{cmd.tag} OK CAPABILITY completed")
        return False

    async def _noop_pre(self, cmd: Command) -> bool:
        await self.line(f"{cmd.tag} OK NOOP completed")
        return False

    async def _id_pre(self, cmd: Command) -> bool:
        # Courier-IMAP does not implement ID (RFC 2971): an unknown command to it.
        await self._count_bad(MAX_BAD_PRELOGIN)
        await self.line(f"{cmd.tag} BAD {R.BAD_PRELOGIN}")
        return False

    async def _logout_pre(self, cmd: Command) -> bool:
        await self.line("* BYE Courier-IMAP server shutting down")
        await self.line(f"{cmd.tag} OK LOGOUT completed")
        self.ctx.log.info(self.login_prefix, f"LOGOUT, ip=[{courier_ip(self.conn.rip)}]")
        return True

    async def _starttls(self, cmd: Command) -> bool:
        if self.ctx.tls_context is None or self.conn.tls:
            await self.line(f"{cmd.tag} BAD Error in IMAP command received by server.")
            return False
        await self.line(f"{cmd.tag} OK Begin SSL/TLS negotiation now.")
        try:
            await self.conn.start_tls(self.ctx.tls_context)
        except ClientGoneShared as exc:
            self.ctx.log.info(self.login_prefix, f"couriertls: accept: {exc or 'handshake failed'}")
            raise Disconnect("") from exc
        return False

    async def _login(self, cmd: Command) -> bool:
        if not self.plaintext_allowed():
            await self.line(f"{cmd.tag} NO [ALERT] LOGIN disabled, use STARTTLS first.")
            return False
        return await super()._login(cmd)

    async def _auth_done(self, cmd: Command, result: AuthResult) -> bool:
        ip = courier_ip(self.conn.rip)
        if not result.ok or result.userinfo is None:
            self.ctx.log.info(self.login_prefix, f"LOGIN FAILED, user={self.last_user}, ip=[{ip}]")
            await self.line(f"{cmd.tag} NO Login failed.")
            return False
        info = result.userinfo
        self.last_user = result.user or info.user
        # MAXPERIP is couriertcpd's: it counts connections, before any login (see server.py).
        key = (info.user, self.conn.rip)
        self.ctx.userip_sessions[key] = self.ctx.userip_sessions.get(key, 0) + 1
        self.userip_key = key
        self.ctx.log.info(
            self.login_prefix,
            f"LOGIN, user={self.last_user}, ip=[{ip}], port=[{self.conn.rport}], protocol=IMAP",
        )
        self.user = info
        storage: MailStorage | None = None
        try:
            storage = self.ctx.open_storage(info)
        except StorageError as exc:
            self.ctx.log.error(self.login_prefix, f"{info.user}: {exc}")
        except Exception as exc:
            self.ctx.log.error(self.login_prefix, f"{info.user}: error opening the Maildir: {exc!r}")
        self.mail = CourierMailCommands(self, storage)
        await self.line(f"{cmd.tag} OK LOGIN Ok.")
        return False


async def serve_courier_imap(ctx: ServerContext, conn: ClientConn, courier: CourierContext) -> None:
    session = CourierImapSession(ctx, conn, courier)
    try:
        await session.run()
    except Exception as exc:  # never a traceback to the client
        with contextlib.suppress(Exception):
            ctx.log.error("imapd", f"Internal error: {exc!r}")
