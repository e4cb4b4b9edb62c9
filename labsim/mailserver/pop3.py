"""POP3 (RFC 1939, 2449, 2595, 5034) as Dovecot 2.3 speaks it.

Two phases, as in Dovecot's pop3-login and pop3 processes: before login the
client may only authenticate (replies and log lines of the login process),
after login it works on INBOX (replies of the mail process). Deletions and
\\Seen flags are applied only at QUIT; a client that vanishes changes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import itertools
import os
import re
import time
from dataclasses import dataclass, field

from labsim.mailserver import anvil
from labsim.mailserver.auth.model import AuthRequest, AuthResult, UnknownMechanism, UserInfo
from labsim.mailserver.connection import ClientConn, ClientGone, LineTooLong, ServerContext, no_delay
from labsim.mailserver.storage.base import Mailbox, MailboxNoPermission, MessageInfo, StorageError

LOGIN_MAX_LINE = 8192  # a login process accepts short lines only
MAIL_MAX_LINE = 65536
MAX_BAD_COMMANDS = 10
POST_LOGIN_IDLE = 600.0  # the pop3 process logs out an idle client after 10 minutes

CAPABILITY_REPLY = "CAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
PLAINTEXT_DISALLOWED = "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
PLAINTEXT_MECHS = frozenset({"PLAIN", "LOGIN"})
INTERNAL_ERROR = "Internal error occurred. Refer to server log for more information."
# Storage reports its own failures as StorageError; file access it did not wrap still
# must not end the session without a word (a Maildir the user may not read, say).
STORAGE_ERRORS = (StorageError, OSError)

_conn_counter = itertools.count(1)


class _MailProcessEnded(Exception):
    """The mail process ended the session right after login (no mail user, or no INBOX)."""


class _Disconnect(Exception):
    """End the session; `reason` goes into the Disconnected: log line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def apop_timestamp(hostname: str) -> str:
    rand = base64.b64encode(os.urandom(16)).decode()
    return f"<{os.getpid():x}.{next(_conn_counter):x}.{int(time.time()):x}.{rand}@{hostname}>"


# --- pop3_uidl_format --------------------------------------------------------

_UIDL_VAR = re.compile(r"%(?P<pad>0?)(?P<width>[0-9]*)(?P<mod>[Xx]?)(?:\{(?P<long>[a-z]+)\}|(?P<short>.))")
DEFAULT_UIDL_FORMAT = "%08Xu%08Xv"
_UIDL_LONG = {"uid": "u", "uidvalidity": "v", "md5": "m", "filename": "f", "guid": "g"}


def expand_uidl(fmt: str, uid: int, uidvalidity: int, md5: str = "", filename: str = "") -> str:
    """Expand %u %v %m %f %g with Dovecot's width and hex (`X`) modifiers."""

    def one(m: re.Match[str]) -> str:
        key = m.group("short") or _UIDL_LONG.get(m.group("long") or "", "")
        if key == "%":
            return "%"
        value: str | int
        if key == "u":
            value = uid
        elif key == "v":
            value = uidvalidity
        elif key == "m":
            value = md5
        elif key in ("f", "g"):
            value = filename
        else:
            return ""
        # Dovecot's X modifier prints lowercase hex
        text = f"{value:x}" if m.group("mod") and isinstance(value, int) else str(value)
        width = int(m.group("width") or 0)
        if width:
            text = text.rjust(width, "0" if m.group("pad") else " ")
        return text

    return _UIDL_VAR.sub(one, fmt)


def dot_stuff(data: bytes) -> bytes:
    """Lines starting with '.' get another; the result ends with CRLF."""
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\r\n.", b"\r\n..")
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def top_of(data: bytes, lines: int) -> bytes:
    """The header, the blank line, and the first `lines` lines of the body."""
    sep = data.find(b"\r\n\r\n")
    if sep < 0:
        return data
    head = data[: sep + 4]
    if lines <= 0:
        return head
    body_lines = data[sep + 4 :].split(b"\r\n")
    if body_lines and body_lines[-1] == b"":
        body_lines.pop()
    picked = body_lines[:lines]
    return head + b"".join(line + b"\r\n" for line in picked)


# --- the session -------------------------------------------------------------


@dataclass
class _Stats:
    top_count: int = 0
    top_bytes: int = 0
    retr_count: int = 0
    retr_bytes: int = 0
    deleted: int = 0
    messages: int = 0
    size: int = 0


@dataclass
class _Mail:
    user: str
    userinfo: UserInfo
    box: Mailbox
    messages: list[MessageInfo]
    deleted: set[int] = field(default_factory=set)  # 0-based indexes
    seen: set[int] = field(default_factory=set)
    stats: _Stats = field(default_factory=_Stats)


class Pop3Session:
    # The reply to an unknown command before login (a personality may word it its own way).
    UNKNOWN_COMMAND = "-ERR Unknown command."

    def __init__(self, ctx: ServerContext, conn: ClientConn) -> None:
        self.ctx = ctx
        self.conn = conn
        self.started = time.monotonic()
        self.apop_challenge: str | None = None
        self.user: str | None = None  # from USER
        self.auth_attempts = 0
        self.last_method = ""
        self.last_user = ""
        self.plaintext_refused = False
        self.bad_commands = 0
        self.mail: _Mail | None = None

    # --- plumbing

    async def send(self, line: str) -> None:
        await self.conn.send(line.encode("utf-8", "replace") + b"\r\n")

    def login_log_tail(self) -> str:
        return self.conn.log_tail(self.last_user, self.last_method)

    def login_disconnect_reason(self, what: str) -> str:
        secs = int(time.monotonic() - self.started)
        if self.plaintext_refused and self.auth_attempts == 0:
            detail = "tried to use disallowed plaintext auth"
        elif self.auth_attempts:
            detail = f"auth failed, {self.auth_attempts} attempts in {secs} secs"
        else:
            detail = f"no auth attempts in {secs} secs"
        return f"{what} ({detail})"

    def auth_request(self, mech: str) -> AuthRequest:
        return AuthRequest(
            service="pop3",
            mech=mech,
            rip=self.conn.rip,
            lip=self.conn.lip,
            secured=self.conn.secured,
            session=self.conn.session_id,
        )

    def sasl_mechanisms(self) -> list[str]:
        if self.ctx.tls_required and not self.conn.secured:
            return []
        mechs = [m.upper() for m in self.ctx.auth.mechanisms(self.conn.secured) if m.upper() != "APOP"]
        if not self.ctx.plaintext_allowed(self.conn):
            mechs = [m for m in mechs if m not in PLAINTEXT_MECHS]
        return mechs

    def apop_enabled(self) -> bool:
        return any(m.lower() == "apop" for m in self.ctx.settings.auth_mechanisms)

    # --- main loop

    async def run(self) -> None:
        log = self.ctx.log
        greeting = self.ctx.settings.login_greeting
        if self.apop_enabled():
            self.apop_challenge = apop_timestamp(self.ctx.hostname)
            greeting = f"{greeting} {self.apop_challenge}"
        try:
            await self.send(f"+OK {greeting}")
            await self.login_phase()
        except _Disconnect as exc:
            log.info("pop3-login", f"Disconnected: {exc.reason}: {self.login_log_tail()}")
            await self.conn.close()
            return
        except _MailProcessEnded:  # its reply and its log lines are out already
            await self.conn.close()
            return
        except ClientGone:
            log.info(
                "pop3-login",
                f"Disconnected: {self.login_disconnect_reason('Connection closed')}: {self.login_log_tail()}",
            )
            await self.conn.close()
            return
        if self.mail is not None:
            await self.mail_phase(self.mail)
        await self.conn.close()

    async def read_command(self, limit: int, timeout: float) -> tuple[str, str]:
        try:
            line = await self.conn.readline(limit=limit, timeout=timeout)
        except LineTooLong:
            raise
        if line is None:
            raise ClientGone()
        text = line.decode("utf-8", "replace")
        name, _, args = text.partition(" ")
        return name.upper(), args

    # --- before login

    async def login_phase(self) -> None:
        while self.mail is None:
            try:
                name, args = await self.read_command(LOGIN_MAX_LINE, self.ctx.login_timeout)
            except TimeoutError as exc:
                raise _Disconnect(self.login_disconnect_reason("Inactivity")) from exc
            except LineTooLong as exc:
                await self.send("-ERR Input buffer full, aborting")
                raise _Disconnect(self.login_disconnect_reason("Input buffer full")) from exc
            handler = {
                "CAPA": self.cmd_capa,
                "USER": self.cmd_user,
                "PASS": self.cmd_pass,
                "APOP": self.cmd_apop,
                "AUTH": self.cmd_auth,
                "STLS": self.cmd_stls,
                "QUIT": self.cmd_quit_login,
            }.get(name)
            if handler is None:
                self.bad_commands += 1
                if self.bad_commands >= MAX_BAD_COMMANDS:
                    await self.send("-ERR Too many invalid commands.")
                    raise _Disconnect(self.login_disconnect_reason("Too many invalid commands"))
                await self.send(self.UNKNOWN_COMMAND)
                continue
            await handler(args)

    async def cmd_capa(self, args: str) -> None:
        out = "+OK\r\n" + CAPABILITY_REPLY
        if self.ctx.tls_enabled and not self.conn.tls:
            out += "STLS\r\n"
        if not self.ctx.settings.disable_plaintext_auth or self.conn.secured:
            out += "USER\r\n"
        out += "SASL" + "".join(f" {m}" for m in self.sasl_mechanisms()) + "\r\n."
        await self.send(out)

    async def refuse_plaintext(self) -> bool:
        if self.ctx.plaintext_allowed(self.conn):
            return False
        self.plaintext_refused = True
        self.last_method = "PLAIN"
        await self.send(f"-ERR [AUTH] {PLAINTEXT_DISALLOWED}")
        return True

    async def cmd_user(self, args: str) -> None:
        if await self.refuse_plaintext():
            return
        self.user = args
        self.last_user = args
        await self.send("+OK")

    async def cmd_pass(self, args: str) -> None:
        if await self.refuse_plaintext():
            return
        if self.user is None:
            await self.send("-ERR No username given.")
            return
        self.last_method = "PLAIN"
        self.auth_attempts += 1
        result = await self.ctx.auth.login(self.user, args, self.auth_request("PLAIN"))
        await self.auth_finished(result, "PLAIN")

    async def cmd_apop(self, args: str) -> None:
        if self.apop_challenge is None:
            await self.send("-ERR APOP not enabled.")
            return
        user, _, digest = args.partition(" ")
        if not user or not re.fullmatch(r"[0-9A-Fa-f]{32}", digest):
            await self.send("-ERR Invalid parameters.")
            return
        self.last_user = user
        self.last_method = "APOP"
        self.auth_attempts += 1
        result = await self.ctx.auth.apop(
            user, self.apop_challenge, digest.lower(), self.auth_request("APOP")
        )
        await self.auth_finished(result, "APOP")

    def accepted_mechanisms(self) -> list[str]:
        """What AUTH takes: for Dovecot, exactly what CAPA lists."""
        return self.sasl_mechanisms()

    async def cmd_auth(self, args: str) -> None:
        mech_name, _, initial = args.partition(" ")
        mech = mech_name.upper()
        if not mech:
            await self.send("+OK\r\n" + "".join(f"{m}\r\n" for m in self.sasl_mechanisms()) + ".")
            return
        if self.ctx.tls_required and not self.conn.secured:
            await self.send("-ERR [AUTH] Authentication not allowed until SSL/TLS is enabled.")
            return
        if mech not in self.accepted_mechanisms():
            if mech in PLAINTEXT_MECHS and not self.ctx.plaintext_allowed(self.conn):
                self.plaintext_refused = True
                await self.send("-ERR [AUTH] Plaintext authentication disabled.")
            else:
                await self.send("-ERR [AUTH] Unsupported authentication mechanism.")
            return
        response: bytes | None = None
        if initial:
            try:
                response = b"" if initial == "=" else base64.b64decode(initial, validate=True)
            except (binascii.Error, ValueError):
                await self.send("-ERR [AUTH] Invalid base64 data in initial response")
                return
        self.last_method = mech
        self.auth_attempts += 1
        try:
            exchange = self.ctx.auth.sasl(mech, self.auth_request(mech))
        except UnknownMechanism:
            await self.send("-ERR [AUTH] Unsupported authentication mechanism.")
            return
        while True:
            step = await exchange.step(response)
            if isinstance(step, AuthResult):
                if step.user:
                    self.last_user = step.user
                await self.auth_finished(step, mech)
                return
            await self.send("+ " + base64.b64encode(step).decode())
            try:
                line = await self.conn.readline(limit=LOGIN_MAX_LINE, timeout=self.ctx.login_timeout)
            except TimeoutError as exc:
                raise _Disconnect(self.login_disconnect_reason("Inactivity")) from exc
            except LineTooLong as exc:
                await self.send("-ERR Input buffer full, aborting")
                raise _Disconnect(self.login_disconnect_reason("Input buffer full")) from exc
            if line is None:
                raise ClientGone()
            if line == b"*":
                await self.send("-ERR Authentication aborted by client.")
                return
            try:
                response = base64.b64decode(line, validate=True)
            except (binascii.Error, ValueError):
                await self.send("-ERR [AUTH] Invalid base64 data in continued response")
                return

    async def cmd_stls(self, args: str) -> None:
        if not self.ctx.tls_enabled:
            await self.send("-ERR TLS support isn't enabled.")
            return
        if self.conn.tls:
            await self.send("-ERR TLS is already active.")
            return
        await self.send("+OK Begin TLS negotiation now.")
        if self.ctx.tls_context is None:
            self.ctx.log.error(
                "pop3-login",
                f"Failed to initialize SSL server context: {self.ctx.tls_error}: {self.login_log_tail()}",
            )
            await self.send("-ERR [SYS/TEMP] TLS initialization failed.")
            raise _Disconnect(self.login_disconnect_reason("TLS initialization failed."))
        try:
            await self.conn.start_tls(self.ctx.tls_context)
        except ClientGone as exc:
            raise _Disconnect(f"TLS handshaking: {exc}".rstrip(": ")) from exc
        # RFC 2595: the client forgets what it knew, and so do we.
        self.user = None

    async def cmd_quit_login(self, args: str) -> None:
        await self.send("+OK Logging out")
        raise _Disconnect(self.login_disconnect_reason("Aborted login by logging out"))

    async def auth_finished(self, result: AuthResult, mech: str) -> None:
        if not result.ok:
            if self.ctx.auth.broken is not None or result.client_message == "Auth process broken":
                await self.send("-ERR Auth process broken")
            elif result.temp_fail:
                await self.send(f"-ERR [SYS/TEMP] {result.client_message}")
            else:
                await self.send(f"-ERR [AUTH] {result.client_message}")
            return
        user = result.user or self.last_user
        self.last_user = user
        userinfo = result.userinfo or UserInfo(user=user, uid=-1, gid=-1, home="")
        key = (user, self.conn.rip)
        limit = self.ctx.settings.mail_max_userip_connections
        if limit and self.ctx.userip_sessions.get(key, 0) >= limit:
            msg = f"Maximum number of connections from user+IP exceeded (mail_max_userip_connections={limit})"
            self.ctx.log.info("pop3-login", f"{msg}: {self.login_log_tail()}")
            await self.send(f"-ERR [IN-USE] {msg}")
            return
        mpid = self.ctx.mail_pid or os.getpid()
        tail = (
            f"user=<{user}>, method={mech}, rip={self.conn.rip}, lip={self.conn.lip}, mpid={mpid}, "
            + ("TLS, " if self.conn.tls else "secured, " if self.conn.secured else "")
            + f"session=<{self.conn.session_id}>"
        )
        self.ctx.log.info("pop3-login", f"Login: {tail}")
        prefix = f"pop3({user})<{mpid}><{self.conn.session_id}>"
        try:
            storage = self.ctx.open_storage(userinfo)
        except STORAGE_ERRORS as exc:
            # The mail user cannot be set up (no mail_location and nothing to detect): Dovecot's
            # client has `+OK Logged in.`, then the connection closes without another word.
            await self.send("+OK Logged in.")
            why = self.describe(exc)
            self.ctx.log.error(prefix, why)
            self.ctx.log.info(prefix, f"Disconnected: {why} top=0/0, retr=0/0, del=0/0, size=0")
            raise _MailProcessEnded from exc
        try:
            box = storage.open("INBOX", readonly=False)
        except STORAGE_ERRORS as exc:
            await self.inbox_failed(prefix, exc)
            raise _MailProcessEnded from exc
        for error in storage.take_log_errors():
            self.ctx.log.error(prefix, error)
        messages = list(box.messages)
        mail = _Mail(user, userinfo, box, messages)
        mail.stats.messages = len(messages)
        mail.stats.size = sum(m.size for m in messages)
        self.mail = mail
        await self.send("+OK Logged in.")

    async def inbox_failed(self, prefix: str, exc: BaseException) -> None:
        """The login went through; the mail process then could not open INBOX. The client has
        `+OK Logged in.` before the mail process's `-ERR`, and the mail process logs why and
        ends the session (Dovecot 2.3.19, observed: docs/dovecot-observed.md)."""
        await self.send("+OK Logged in.")
        if isinstance(exc, MailboxNoPermission):
            why = "Permission denied"  # a refusal, not a server error: no detail is logged
        else:
            why = self.describe(exc)
            if not isinstance(exc, PermissionError):
                self.ctx.log.error(prefix, why)  # the storage's own line first
        self.ctx.log.error(prefix, f"Couldn't open INBOX: {why}")
        if isinstance(exc, PermissionError):
            await self.send("-ERR [SYS/PERM] Permission denied")
        else:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            await self.send(f"-ERR [SYS/TEMP] {INTERNAL_ERROR} [{stamp}]")
        self.ctx.log.info(
            prefix, f"Disconnected: Couldn't open INBOX: {why} top=0/0, retr=0/0, del=0/0, size=0"
        )

    # --- after login

    async def mail_phase(self, mail: _Mail) -> None:
        mpid = self.ctx.mail_pid or os.getpid()
        prefix = f"pop3({mail.user})<{mpid}><{self.conn.session_id}>"
        key = (mail.user, self.conn.rip)
        sessions = self.ctx.userip_sessions
        sessions[key] = sessions.get(key, 0) + 1
        reason = "Connection closed"
        entry = anvil.connect(self.ctx.anvil, mail.user, "pop3", self.conn.rip, mpid)
        try:
            reason = await self.mail_loop(mail, prefix)
        except ClientGone:
            reason = "Connection closed"
        except asyncio.CancelledError:
            if not anvil.kicked(entry):
                raise  # the server stops
            await anvil.farewell(self.send(f"-ERR [SYS/TEMP] {anvil.SHUTTING_DOWN}"))  # `doveadm kick`
            reason = anvil.SHUTTING_DOWN
        finally:
            anvil.disconnect(self.ctx.anvil, entry)
            sessions[key] = sessions.get(key, 1) - 1
            if sessions[key] <= 0:
                sessions.pop(key, None)
            try:
                mail.box.close()
            except STORAGE_ERRORS as exc:
                self.ctx.log.error(prefix, self.describe(exc))
        s = mail.stats
        self.ctx.log.info(
            prefix,
            f"Disconnected: {reason} top={s.top_count}/{s.top_bytes}, retr={s.retr_count}/{s.retr_bytes}, "
            f"del={s.deleted}/{s.messages}, size={s.size}",
        )

    async def mail_loop(self, mail: _Mail, prefix: str) -> str:
        idle = min(self.ctx.idle_timeout, POST_LOGIN_IDLE)
        handlers = {
            "CAPA": self.cmd_capa_mail,
            "DELE": self.cmd_dele,
            "LIST": self.cmd_list,
            "NOOP": self.cmd_noop,
            "RETR": self.cmd_retr,
            "RSET": self.cmd_rset,
            "STAT": self.cmd_stat,
            "TOP": self.cmd_top,
            "UIDL": self.cmd_uidl,
        }
        while True:
            try:
                name, args = await self.read_command(MAIL_MAX_LINE, idle)
            except TimeoutError:
                return await self.mail_idle_timeout()
            except LineTooLong:
                reason = await self.mail_line_too_long()
                if reason is None:
                    continue
                return reason
            if name == "QUIT":
                return await self.cmd_quit(mail, prefix)
            handler = handlers.get(name)
            if handler is None:
                await self.send(self.unknown_mail_command(name))
                continue
            await handler(mail, args)

    # What a personality words its own way after login (Courier's pop3d answers differently).
    async def mail_idle_timeout(self) -> str:
        await self.send("-ERR Disconnected for inactivity.")
        return "Inactivity"

    async def mail_line_too_long(self) -> str | None:
        """The disconnect reason, or None to go on reading commands."""
        await self.send("-ERR Input line too long.")
        return "Input line too long"

    def unknown_mail_command(self, name: str) -> str:
        return f"-ERR Unknown command: {name}"

    def names_a_message(self, args: str) -> bool:
        """LIST/UIDL with an argument answer for one message."""
        return bool(args)

    async def msgnum(self, mail: _Mail, args: str, last: bool) -> tuple[int, str] | None:
        """0-based index of a live message, and the text after the number."""
        m = re.match(r"[0-9]+", args)
        if m is None:
            await self.send(f"-ERR Invalid message number: {args}")
            return None
        rest = args[m.end() :]
        num = int(m.group(0))
        if num > 0xFFFFFFFF:
            await self.send(f"-ERR Message number too large: {rest}")
            return None
        if (last and rest) or (not last and not rest.startswith(" ")):
            await self.send(f"-ERR Noise after message number: {rest}")
            return None
        if num == 0 or num > len(mail.messages):
            await self.send(f"-ERR There's no message {num}.")
            return None
        if num - 1 in mail.deleted:
            await self.send("-ERR Message is deleted.")
            return None
        return num - 1, rest.lstrip(" ")

    async def cmd_capa_mail(self, mail: _Mail, args: str) -> None:
        await self.send("+OK\r\n" + CAPABILITY_REPLY + ".")

    async def cmd_noop(self, mail: _Mail, args: str) -> None:
        await self.send("+OK")

    def live(self, mail: _Mail) -> list[tuple[int, MessageInfo]]:
        return [(i, m) for i, m in enumerate(mail.messages) if i not in mail.deleted]

    async def cmd_stat(self, mail: _Mail, args: str) -> None:
        live = self.live(mail)
        await self.send(f"+OK {len(live)} {sum(m.size for _, m in live)}")

    async def cmd_list(self, mail: _Mail, args: str) -> None:
        if self.names_a_message(args):
            found = await self.msgnum(mail, args, last=True)
            if found is not None:
                idx = found[0]
                await self.send(f"+OK {idx + 1} {mail.messages[idx].size}")
            return
        live = self.live(mail)
        lines = [f"+OK {len(live)} messages:"] + [f"{i + 1} {m.size}" for i, m in live] + ["."]
        await self.send("\r\n".join(lines))

    def uidl_of(self, mail: _Mail, msg: MessageInfo) -> str:
        fmt = self.ctx.settings.pop3_uidl_format
        md5 = ""
        if "%m" in fmt or "{md5}" in fmt:
            data = mail.box.read(msg)
            sep = data.find(b"\r\n\r\n")
            md5 = hashlib.md5(data[: sep + 2] if sep >= 0 else data).hexdigest()
        if fmt == DEFAULT_UIDL_FORMAT:  # what expand_uidl() gives, without a regex per message
            return f"{msg.uid:08x}{mail.box.uidvalidity:08x}"
        filename = msg.key.split(":2,")[0]
        return expand_uidl(fmt, msg.uid, mail.box.uidvalidity, md5, filename)

    async def cmd_uidl(self, mail: _Mail, args: str) -> None:
        try:
            if self.names_a_message(args):
                found = await self.msgnum(mail, args, last=True)
                if found is not None:
                    idx = found[0]
                    await self.send(f"+OK {idx + 1} {self.uidl_of(mail, mail.messages[idx])}")
                return
            lines = ["+OK"] + [f"{i + 1} {self.uidl_of(mail, m)}" for i, m in self.live(mail)] + ["."]
        except STORAGE_ERRORS as exc:
            await self.storage_failed(mail, exc)
            return
        await self.send("\r\n".join(lines))

    def describe(self, exc: BaseException) -> str:
        """An OSError as Dovecot words them: the lab path, not the host path."""
        if isinstance(exc, OSError) and exc.filename:
            try:
                where = self.ctx.root.lab_path(str(exc.filename))
            except ValueError:
                where = str(exc.filename)
            return f"{where}: {exc.strerror}"
        return str(exc)

    async def storage_failed(self, mail: _Mail, exc: BaseException) -> None:
        mpid = self.ctx.mail_pid or os.getpid()
        self.ctx.log.error(f"pop3({mail.user})<{mpid}><{self.conn.session_id}>", self.describe(exc))
        await self.send(f"-ERR [SYS/TEMP] {INTERNAL_ERROR}")

    async def cmd_dele(self, mail: _Mail, args: str) -> None:
        found = await self.msgnum(mail, args, last=True)
        if found is None:
            return
        mail.deleted.add(found[0])
        await self.send("+OK Marked to be deleted.")

    async def cmd_rset(self, mail: _Mail, args: str) -> None:
        mail.deleted.clear()
        mail.seen.clear()
        await self.send("+OK")

    async def cmd_retr(self, mail: _Mail, args: str) -> None:
        found = await self.msgnum(mail, args, last=True)
        if found is None:
            return
        idx = found[0]
        msg = mail.messages[idx]
        try:
            data = mail.box.read(msg)
        except STORAGE_ERRORS as exc:
            await self.storage_failed(mail, exc)
            return
        head = f"+OK {msg.size} octets\r\n".encode()
        body = dot_stuff(data)
        await self.conn.send(head + body + b".\r\n")
        mail.stats.retr_count += 1
        mail.stats.retr_bytes += len(head) + len(body)
        mail.seen.add(idx)

    async def cmd_top(self, mail: _Mail, args: str) -> None:
        found = await self.msgnum(mail, args, last=False)
        if found is None:
            return
        idx, rest = found
        m = re.match(r"[0-9]+", rest)
        if m is None:
            await self.send(f"-ERR Invalid size: {rest}")
            return
        lines = int(m.group(0))
        if lines > 0xFFFFFFFF:
            await self.send(f"-ERR Size too large: {rest}")
            return
        if rest[m.end() :]:
            await self.send(f"-ERR Noise after size: {rest[m.end() :]}")
            return
        try:
            data = mail.box.read(mail.messages[idx])
        except STORAGE_ERRORS as exc:
            await self.storage_failed(mail, exc)
            return
        body = dot_stuff(top_of(data, lines))
        await self.conn.send(b"+OK\r\n" + body + b".\r\n")
        mail.stats.top_count += 1
        mail.stats.top_bytes += 5 + len(body)

    async def cmd_quit(self, mail: _Mail, prefix: str) -> str:
        deleted_uids = [mail.messages[i].uid for i in sorted(mail.deleted)]
        try:
            seen = [mail.messages[idx] for idx in sorted(mail.seen - mail.deleted)]
            mail.box.set_flags_many([(m, set(m.flags) | {"\\Seen"}) for m in seen if "\\Seen" not in m.flags])
            if deleted_uids:
                mail.box.expunge(deleted_uids)
        except STORAGE_ERRORS as exc:
            self.ctx.log.error(prefix, self.describe(exc))
            await self.send(f"-ERR [SYS/TEMP] {INTERNAL_ERROR}")
            return "Storage error during logout."
        mail.stats.deleted = len(deleted_uids)
        await self.send("+OK Logging out, messages deleted." if deleted_uids else "+OK Logging out.")
        return "Logged out"


async def serve_pop3(ctx: ServerContext, conn: ClientConn) -> None:
    no_delay(conn.writer)
    await Pop3Session(ctx, conn).run()
