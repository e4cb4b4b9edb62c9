"""Courier-IMAP's face on the shared IMAP session: greeting, CAPABILITY, LOGIN replies, log lines.

After login the shared mail-phase commands answer (their wording is
Dovecot's; the docs list that as a known difference).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable

from labsim.mailserver.auth.model import AuthResult
from labsim.mailserver.connection import ClientConn, ServerContext
from labsim.mailserver.connection import ClientGone as ClientGoneShared
from labsim.mailserver.courier.daemon import CourierContext, courier_ip
from labsim.mailserver.imap import responses as R
from labsim.mailserver.imap.commands import MailCommands, ReadLine, Reply
from labsim.mailserver.imap.parser import Command
from labsim.mailserver.imap.session import MAX_BAD_PRELOGIN, Disconnect, ImapSession
from labsim.mailserver.storage.base import MailStorage, StorageError

GREETING = (
    "Courier-IMAP ready. Copyright 1998-2019 Double Precision, Inc.  "
    "See COPYING for distribution information."
)
# imapd adds these to IMAP_CAPABILITY itself.
TRAILING_CAPS = ("ENABLE", "UTF8=ACCEPT")
# Courier-IMAP answers every command it cannot run, unknown or malformed, with this NO.
COMMAND_ERROR = "NO Error in IMAP command received by server."
_TAGGED_BAD = re.compile(r"^(\S+) BAD ")
_STATUS_LINE = re.compile(r"^\* STATUS ([^\s\"(]+) (\(.*)$")
_LIST_LINE = re.compile(r'^\* LIST \(([^)]*)\) ("[^"]*"|NIL) (.*)$')
# imapd's words for commands that worked (Debian's Courier-IMAP 5.0, observed).
OK_WORDS = {
    "LIST": "LIST completed",
    "LSUB": "LSUB completed",
    "FETCH": "FETCH completed.",
    "UID FETCH": "FETCH completed.",
    "SEARCH": "SEARCH done.",
    "UID SEARCH": "SEARCH done.",
    "STATUS": "STATUS Completed.",
    "NAMESPACE": "NAMESPACE completed.",
}


class CourierMailCommands(MailCommands):
    """The shared mail-phase commands, with Courier's answers where they are plainly different."""

    def __init__(self, session: CourierImapSession, storage: MailStorage | None) -> None:
        super().__init__(session.ctx, session.mail_prefix, storage, session.send)
        self.session = session
        self._captured: list[str] | None = None  # untagged lines held back for rewording

    async def line(self, text: str) -> None:
        m = _STATUS_LINE.match(text)
        if m is not None:  # imapd quotes the name in STATUS replies too
            text = f'* STATUS "{m.group(1)}" {m.group(2)}'
        if self._captured is not None:
            self._captured.append(text)
        else:
            await super().line(text)

    async def _capture(self, run: Callable[[], Awaitable[Reply]]) -> tuple[Reply, list[str]]:
        self._captured = []
        try:
            reply = await run()
            return reply, self._captured
        finally:
            self._captured = None

    async def select(self, cmd: Command) -> Reply:
        """imapd's SELECT/EXAMINE lines: its FLAGS order, no UNSEEN/UIDNEXT, MYRIGHTS (ACL)."""
        reply, lines = await self._capture(lambda: super(CourierMailCommands, self).select(cmd))
        # imapd closes the previous folder without a word ([CLOSED] is RFC 7162's).
        lines = [t for t in lines if not t.startswith("* OK [CLOSED]")]
        if reply.status != "OK" or self.box is None:
            if reply.status == "NO":
                reply.text = "Mailbox does not exist, or must be subscribed to."
            for text in lines:
                await self.line(text)
            return reply
        keywords = "".join(f" {k}" for k in self.keywords)
        await self.line(f"* FLAGS (\\Draft \\Answered \\Flagged \\Deleted \\Seen \\Recent{keywords})")
        if self.box.readonly:
            await self.line("* OK [PERMANENTFLAGS ()] No permanent flags permitted")
        else:
            await self.line(
                "* OK [PERMANENTFLAGS (\\* \\Draft \\Answered \\Flagged \\Deleted \\Seen)] Limited"
            )
        for text in lines:
            if text.endswith((" EXISTS", " RECENT")):
                await self.line(text)
        await self.line(f"* OK [UIDVALIDITY {self.box.uidvalidity}] Ok")
        if self.session.courier.daemon.vars.get("IMAP_ACL", "1").strip() != "0":
            await self.line('* OK [MYRIGHTS "acdilrsw"] ACL')
        return reply

    async def list_cmd(self, cmd: Command) -> Reply:
        """imapd quotes every name and marks a folder holding new mail \\Marked."""
        reply, lines = await self._capture(lambda: super(CourierMailCommands, self).list_cmd(cmd))
        for text in lines:
            m = _LIST_LINE.match(text)
            if m is not None:
                attrs, sep, name = m.group(1), m.group(2), m.group(3)
                if not name.startswith('"'):
                    name = f'"{name}"'
                if "\\Noselect" not in attrs and self._has_new(name[1:-1]):
                    attrs = " ".join(["\\Marked", *attrs.split()])
                text = f"* LIST ({attrs}) {sep} {name}"
            await self.line(text)
        return reply

    def _has_new(self, name: str) -> bool:
        try:
            return self._status_values(name)["RECENT"] > 0
        except Exception:  # a folder that cannot be read is simply not marked
            return False

    async def dispatch(self, cmd: Command, reader: asyncio.StreamReader, read_line: ReadLine) -> Reply:
        """The shared commands, in imapd's words: no timings, NO for what cannot run."""
        reply = await super().dispatch(cmd, reader, read_line)
        reply.timing = False
        if reply.status == "BAD":
            reply.status, reply.text = COMMAND_ERROR.split(" ", 1)
        elif reply.status == "OK" and cmd.name in OK_WORDS:
            reply.text = OK_WORDS[cmd.name]
        elif reply.status == "OK" and cmd.name in ("SELECT", "EXAMINE"):
            reply.text = ("[READ-ONLY]" if "READ-ONLY" in reply.text else "[READ-WRITE]") + " Ok"
        return reply

    async def capability(self, cmd: Command) -> Reply:
        # After login imapd no longer offers STARTTLS.
        await self.line(f"* CAPABILITY {self.session.prelogin_capability(logged_in=True)}")
        return Reply("OK", "CAPABILITY completed", timing=False)

    async def noop(self, cmd: Command) -> Reply:
        return Reply("OK", "NOOP completed", timing=False)

    async def logout(self, cmd: Command) -> Reply:
        return Reply(
            "OK", "LOGOUT completed", timing=False, sync=False, logout=True,
            after=["* BYE Courier-IMAP server shutting down"],
        )  # fmt: skip

    async def id(self, cmd: Command) -> Reply:
        return Reply("NO", R.BAD_PRELOGIN, timing=False)


class CourierImapSession(ImapSession):
    def __init__(self, ctx: ServerContext, conn: ClientConn, courier: CourierContext) -> None:
        super().__init__(ctx, conn)
        self.courier = courier
        # imapd counts rcvd/sent from its own start, which is after imaplogin's LOGIN.
        self.login_bytes = (0, 0)

    @property
    def login_prefix(self) -> str:
        return "imapd-ssl" if self.courier.daemon.ssl else "imapd"

    def where(self) -> str:
        return f"ip=[{courier_ip(self.conn.rip)}], port=[{self.conn.rport}]"

    async def run(self) -> None:
        # couriertcpd's debug line (Debian's rsyslog puts mail.debug in mail.log too).
        self.ctx.log.info(self.login_prefix, f"Connection, {self.where()}")
        await super().run()

    def log_login_disconnect(self, reason: str) -> None:
        secs = int(time.monotonic() - self.started)
        self.ctx.log.info(self.login_prefix, f"Disconnected, {self.where()}, time={secs}")

    async def line(self, text: str) -> None:
        # The shared session says BAD for unknown and malformed commands; imapd says NO.
        m = _TAGGED_BAD.match(text)
        if m:
            text = f"{m.group(1)} {COMMAND_ERROR}"
        await super().line(text)

    def capability_words(self, logged_in: bool = False) -> list[str]:
        d = self.courier.daemon
        words = (d.capability_tls if self.conn.tls else d.capability).split()
        if d.vars.get("IMAP_ACL", "1").strip() != "0":
            words += ["ACL", "ACL2=UNION"]
        starttls = self.ctx.tls_context is not None and not self.conn.tls and not d.ssl and d.starttls
        if starttls and not logged_in:
            words.append("STARTTLS")
        if d.tls_required and not self.conn.tls:
            words.append("LOGINDISABLED")
        words += [w for w in TRAILING_CAPS if w not in words]
        seen: list[str] = []
        for w in words:
            if w not in seen:
                seen.append(w)
        return seen

    def prelogin_capability(self, logged_in: bool = False) -> str:
        return " ".join(self.capability_words(logged_in))

    def mechanisms(self) -> list[str]:
        mechs = [w[5:].upper() for w in self.capability_words() if w.upper().startswith("AUTH=")]
        return [m for m in mechs if m in ("PLAIN", "LOGIN")]

    def plaintext_allowed(self) -> bool:
        return self.conn.tls or not self.courier.daemon.tls_required

    def log_mail_disconnect(self, reason: str) -> None:
        st = self.mail.stats if self.mail else None
        user = self.user.user if self.user else self.last_user
        what = "LOGOUT" if reason == "Logged out" else "DISCONNECTED"
        rcvd, sent = self.bytes_in - self.login_bytes[0], self.bytes_out - self.login_bytes[1]
        starttls = ", starttls=1" if self.conn.tls and not self.courier.daemon.ssl else ""
        self.ctx.log.info(
            self.login_prefix,
            f"{what}, user={user}, {self.where()}, "
            f"headers={st.hdr_bytes if st else 0}, body={st.body_bytes if st else 0}, "
            f"rcvd={rcvd}, sent={sent}, time={int(time.monotonic() - self.started)}{starttls}",
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
        self.ctx.log.info(
            self.login_prefix, f"LOGOUT, {self.where()}, rcvd={self.bytes_in}, sent={self.bytes_out}"
        )
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
            await self.line(f"{cmd.tag} NO STARTTLS required")
            return False
        return await super()._login(cmd)

    async def _auth_done(self, cmd: Command, result: AuthResult) -> bool:
        ip = courier_ip(self.conn.rip)
        if not result.ok or result.userinfo is None:
            self.ctx.log.info(
                self.login_prefix, f"LOGIN FAILED, user={self.last_user}, ip=[{ip}], port=[{self.conn.rport}]"
            )
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
        # imapd's sent= starts with this reply (imaplogin has exec'd it by then).
        self.login_bytes = (self.bytes_in, self.bytes_out)
        await self.line(f"{cmd.tag} OK LOGIN Ok.")
        return False


async def serve_courier_imap(ctx: ServerContext, conn: ClientConn, courier: CourierContext) -> None:
    session = CourierImapSession(ctx, conn, courier)
    try:
        await session.run()
    except Exception as exc:  # never a traceback to the client
        with contextlib.suppress(Exception):
            ctx.log.error("imapd", f"Internal error: {exc!r}")
