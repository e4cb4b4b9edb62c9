"""Courier's POP3 face on the shared POP3 session: greeting, CAPA, USER/PASS replies, log lines."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

from labsim.mailserver.auth.model import AuthResult
from labsim.mailserver.connection import ClientConn, ClientGone, ServerContext
from labsim.mailserver.courier.authdaemon import AUTH_ERROR
from labsim.mailserver.courier.daemon import CourierContext, courier_ip
from labsim.mailserver.pop3 import (
    STORAGE_ERRORS,
    Pop3Session,
    _Disconnect,
    _Mail,
    dot_stuff,
    top_of,
)
from labsim.mailserver.storage.base import MessageInfo

GREETING = "Hello there."


class _GiveUp(Exception):
    """courierpop3login exits without another word (authdaemond did not answer)."""


class CourierPop3Session(Pop3Session):
    UNKNOWN_COMMAND = "-ERR Invalid command."

    def __init__(self, ctx: ServerContext, conn: ClientConn, courier: CourierContext) -> None:
        super().__init__(ctx, conn)
        self.courier = courier
        # pop3d's rcvd=/sent= count from its own start, after courierpop3login's PASS.
        self.bytes_in = 0
        self.bytes_out = 0
        self.quit_before_login = False
        self.stls_done = False
        self.sasl_mech = ""  # AUTH's mechanism: a failed one is logged as method=, not user=

    def where(self) -> str:
        return f"ip=[{courier_ip(self.conn.rip)}], port=[{self.conn.rport}]"

    async def send(self, line: str) -> None:
        data = line.encode("utf-8", "replace") + b"\r\n"
        self.bytes_out += len(data)
        await self.conn.send(data)

    async def read_command(self, limit: int, timeout: float) -> tuple[str, str]:
        line = await self.conn.readline(limit=limit, timeout=timeout)
        if line is None:
            raise ClientGone()
        self.bytes_in += len(line) + 2
        name, _, args = line.decode("utf-8", "replace").partition(" ")
        return name.upper(), args

    async def run(self) -> None:
        """courierpop3login, then pop3d: Courier's log lines instead of Dovecot's."""
        log = self.ctx.log
        log.info(self.program, f"Connection, {self.where()}")
        try:
            await self.send(f"+OK {self.ctx.settings.login_greeting}")
            await self.login_phase()
        except _GiveUp:
            await self.conn.close()  # the login program exited: no Disconnected line
            return
        except (_Disconnect, ClientGone):
            if self.quit_before_login:
                log.info(self.program, f"LOGOUT, {self.where()}")
            log.info(self.program, f"Disconnected, {self.where()}")
            await self.conn.close()
            return
        if self.mail is not None:
            await self.mail_phase(self.mail)
        await self.conn.close()

    @property
    def program(self) -> str:
        return "pop3d-ssl" if self.courier.daemon.ssl else "pop3d"

    def auth_list(self) -> list[str]:
        d = self.courier.daemon
        return (d.capability_tls if self.conn.tls else d.capability).split()

    def sasl_mechanisms(self) -> list[str]:
        """CAPA's SASL line: what POP3AUTH (POP3AUTH_TLS) lists, even while POP3_TLS_REQUIRED
        refuses them until STLS. AUTH accepts authlib's mechanisms whether listed or not."""
        return [m.upper() for m in self.auth_list() if m.upper() in ("PLAIN", "LOGIN")]

    def apop_enabled(self) -> bool:
        return False

    def plaintext_ok(self) -> bool:
        return self.conn.tls or not self.courier.daemon.tls_required

    def starttls_offered(self) -> bool:
        d = self.courier.daemon
        # Offered whenever POP3_STARTTLS=YES: couriertls looks for the certificate only at STLS.
        return not d.ssl and d.starttls and not self.conn.tls and self.courier.tls is not None

    async def cmd_capa(self, args: str) -> None:
        lines = ["+OK Here's what I can do:"]
        mechs = self.sasl_mechanisms()
        if mechs:
            lines.append("SASL " + " ".join(mechs))
        if self.starttls_offered():
            lines.append("STLS")
        lines += ["TOP", "USER", "LOGIN-DELAY 10", "PIPELINING", "UIDL", "UTF8 USER"]
        lines += ["IMPLEMENTATION Courier Mail Server", "."]
        await self.send("\r\n".join(lines))

    async def refuse_plaintext(self) -> bool:
        if self.plaintext_ok():
            return False
        self.plaintext_refused = True
        await self.send("-ERR TLS required to log in.")
        return True

    def accepted_mechanisms(self) -> list[str]:
        return ["PLAIN", "LOGIN"]

    async def cmd_auth(self, args: str) -> None:
        mech = args.partition(" ")[0].upper()
        self.sasl_mech = mech
        if mech and await self.refuse_plaintext():
            return
        if mech and mech not in self.accepted_mechanisms():
            # courierpop3login hands any mechanism to authlib, which fails it like a wrong password.
            self.ctx.log.info(self.program, f"LOGIN FAILED, method={mech}, {self.where()}")
            await asyncio.sleep(max(0.0, float(self.ctx.settings.auth_failure_delay)))
            await self.send("-ERR Authentication failed.")
            return
        await super().cmd_auth(args)

    async def cmd_user(self, args: str) -> None:
        self.sasl_mech = ""
        if await self.refuse_plaintext():
            return
        self.user = args
        self.last_user = args
        await self.send("+OK Password required.")

    async def cmd_pass(self, args: str) -> None:
        # courierpop3login: PASS needs an accepted USER (refused without TLS when it is required).
        if self.user is None:
            await self.send("-ERR USER/PASS required.")
            return
        await super().cmd_pass(args)

    async def cmd_stls(self, args: str) -> None:
        if not self.starttls_offered() or self.courier.tls is None:
            await self.send("-ERR Invalid command.")
            return
        attempt = self.courier.tls.current()
        await self.send("+OK Begin SSL/TLS negotiation now.")
        if attempt.context is None:
            # pop3d's couriertls gives up before the handshake, silently: the client is hung up on.
            raise _Disconnect("")
        try:
            await self.conn.start_tls(attempt.context)
        except ClientGone as exc:
            raise _Disconnect(f"couriertls: accept: {exc or 'handshake failed'}") from exc
        self.user = None  # RFC 2595: what was said before TLS is forgotten
        self.stls_done = True

    async def cmd_quit_login(self, args: str) -> None:
        # courierpop3login's words; pop3d (after login) says "+OK Bye-bye.".
        await self.send("+OK Better luck next time.")
        self.quit_before_login = True
        raise _Disconnect(self.login_disconnect_reason("Aborted login by logging out"))

    async def auth_finished(self, result: AuthResult, mech: str) -> None:
        ip = courier_ip(self.conn.rip)
        if not result.ok or result.userinfo is None:
            who = f"method={self.sasl_mech}" if self.sasl_mech else f"user={self.last_user}"
            self.ctx.log.info(self.program, f"LOGIN FAILED, {who}, ip=[{ip}], port=[{self.conn.rport}]")
            if result.temp_fail:  # authdaemond down, or no home to change to: courierpop3login exits
                self.ctx.log.error(self.program, AUTH_ERROR)
                await self.send(f"-ERR {result.client_message}")
                raise _GiveUp()
            await self.send("-ERR Authentication failed." if self.sasl_mech else "-ERR Login failed.")
            return
        user = result.user or self.last_user
        self.last_user = user
        # pop3d names no protocol here (imapd does: protocol=IMAP).
        self.ctx.log.info(self.program, f"LOGIN, user={user}, ip=[{ip}], port=[{self.conn.rport}]")
        try:
            storage = self.ctx.open_storage(result.userinfo)
            box = storage.open("INBOX", readonly=False)
        except STORAGE_ERRORS as exc:
            self.ctx.log.error(self.program, f"{user}: cannot open the Maildir: {self.describe(exc)}")
            await self.send("-ERR Maildir: No such file or directory")
            raise _Disconnect(f"Couldn't open INBOX: {self.describe(exc)}") from exc
        messages = list(box.messages)
        mail = _Mail(user, result.userinfo, box, messages)
        mail.stats.messages = len(messages)
        mail.stats.size = sum(m.size for m in messages)
        self.mail = mail
        self.bytes_in = self.bytes_out = 0
        await self.send("+OK logged in.")

    # --- after login: the shared commands, with Courier's QUIT and LOGOUT log line

    async def mail_phase(self, mail: _Mail) -> None:
        key = (mail.user, self.conn.rip)
        sessions = self.ctx.userip_sessions
        sessions[key] = sessions.get(key, 0) + 1
        reason = "LOGOUT"
        try:
            ended = await self.mail_loop(mail, self.program)
            reason = "LOGOUT" if ended == "Logged out" else "DISCONNECTED"
        except ClientGone:
            reason = "DISCONNECTED"
        finally:
            sessions[key] = sessions.get(key, 1) - 1
            if sessions[key] <= 0:
                sessions.pop(key, None)
            try:
                mail.box.close()
            except STORAGE_ERRORS as exc:
                self.ctx.log.error(self.program, self.describe(exc))
        s = mail.stats
        stls = ", stls=1" if self.stls_done else ""
        self.ctx.log.info(
            self.program,
            f"{reason}, user={mail.user}, {self.where()}, top={s.top_bytes}, retr={s.retr_bytes}, "
            f"rcvd={self.bytes_in}, sent={self.bytes_out}, time={int(time.monotonic() - self.started)}{stls}",
        )

    async def mail_idle_timeout(self) -> str:
        return "Inactivity"  # pop3d just exits after 5 minutes (INFO: TIMEOUT)

    async def mail_line_too_long(self) -> str | None:
        await self.send("-ERR Invalid command.")
        return None

    def unknown_mail_command(self, name: str) -> str:
        return "-ERR Invalid command."

    def names_a_message(self, args: str) -> bool:
        return bool(args.split())

    async def msgnum(self, mail: _Mail, args: str, last: bool) -> tuple[int, str] | None:
        """pop3d reads the number as atoi() does; any bad number gets the same answer."""
        words = args.split()
        m = re.match(r"[0-9]+", words[0]) if words else None
        num = int(m.group(0)) if m else 0
        if num == 0 or num > len(mail.messages) or num - 1 in mail.deleted:
            await self.send("-ERR Invalid message number.")
            return None
        return num - 1, " ".join(words[1:])

    async def cmd_capa_mail(self, mail: _Mail, args: str) -> None:
        sent = self.bytes_out
        await self.cmd_capa(args)
        self.bytes_out = sent  # pop3d prints CAPA without counting it in sent=

    async def cmd_noop(self, mail: _Mail, args: str) -> None:
        await self.send("+OK Yup.")

    async def cmd_rset(self, mail: _Mail, args: str) -> None:
        mail.deleted.clear()
        await self.send("+OK Resurrected.")

    async def cmd_dele(self, mail: _Mail, args: str) -> None:
        found = await self.msgnum(mail, args, last=True)
        if found is not None:
            mail.deleted.add(found[0])
            await self.send("+OK Deleted.")

    async def cmd_list(self, mail: _Mail, args: str) -> None:
        if self.names_a_message(args):
            found = await self.msgnum(mail, args, last=True)
            if found is not None:
                await self.send(f"+OK {found[0] + 1} {mail.messages[found[0]].size}")
            return
        lines = ["+OK POP3 clients that break here, they violate STD53."]
        lines += [f"{i + 1} {m.size}" for i, m in self.live(mail)] + ["."]
        await self.send("\r\n".join(lines))

    def uidl_of(self, mail: _Mail, msg: MessageInfo) -> str:
        # Courier's version 2 UIDL: the message's IMAP UID and the folder's UIDVALIDITY.
        return f"UID{msg.uid}-{mail.box.uidvalidity}"

    async def _read_message(self, mail: _Mail, idx: int) -> bytes | None:
        try:
            return mail.box.read(mail.messages[idx])
        except STORAGE_ERRORS as exc:
            self.ctx.log.error(self.program, f"{mail.user}: {self.describe(exc)}")
            await self.send("-ERR Can't open the message file - it's gone!")
            return None

    async def cmd_retr(self, mail: _Mail, args: str) -> None:
        found = await self.msgnum(mail, args, last=True)
        if found is None:
            return
        idx = found[0]
        data = await self._read_message(mail, idx)
        if data is None:
            return
        body = dot_stuff(data)
        out = f"+OK {mail.messages[idx].size} octets follow.\r\n".encode() + body + b".\r\n"
        self.bytes_out += len(out)
        await self.conn.send(out)
        mail.stats.retr_count += 1
        mail.stats.retr_bytes += len(data.replace(b"\r\n", b"\n"))  # pop3d counts the file's bytes
        mail.seen.add(idx)

    async def cmd_top(self, mail: _Mail, args: str) -> None:
        found = await self.msgnum(mail, args, last=False)
        if found is None:
            return
        idx, rest = found
        if not rest:
            await self.send("-ERR Invalid command.")
            return
        m = re.match(r"[0-9]+", rest)
        lines = int(m.group(0)) if m else 0
        data = await self._read_message(mail, idx)
        if data is None:
            return
        head = top_of(data, lines)
        out = b"+OK headers follow.\r\n" + dot_stuff(head) + b".\r\n"
        self.bytes_out += len(out)
        await self.conn.send(out)
        mail.stats.top_count += 1
        mail.stats.top_bytes += len(head.replace(b"\r\n", b"\n"))  # pop3d counts the file's bytes

    async def cmd_quit(self, mail: _Mail, prefix: str) -> str:
        deleted_uids = [mail.messages[i].uid for i in sorted(mail.deleted)]
        try:
            seen = [mail.messages[idx] for idx in sorted(mail.seen - mail.deleted)]
            mail.box.set_flags_many([(m, set(m.flags) | {"\\Seen"}) for m in seen if "\\Seen" not in m.flags])
            if deleted_uids:
                mail.box.expunge(deleted_uids)
        except STORAGE_ERRORS as exc:
            self.ctx.log.error(self.program, self.describe(exc))
            await self.send("-ERR Cannot update the Maildir.")
            return "Storage error during logout."
        mail.stats.deleted = len(deleted_uids)
        await self.send("+OK Bye-bye.")
        return "Logged out"


async def serve_courier_pop3(ctx: ServerContext, conn: ClientConn, courier: CourierContext) -> None:
    session = CourierPop3Session(ctx, conn, courier)
    try:
        await session.run()
    except Exception as exc:  # never a traceback to the client
        with contextlib.suppress(Exception):
            ctx.log.error("pop3d", f"Internal error: {exc!r}")
