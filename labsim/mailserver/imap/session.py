"""One IMAP connection: the login phase (as imap-login) and the mail phase (as imap)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
import secrets
import time
import traceback
from collections.abc import Callable

from labsim.mailserver import anvil
from labsim.mailserver.auth.model import AuthRequest, AuthResult, UserInfo
from labsim.mailserver.connection import ClientConn, ServerContext, no_delay

try:  # the master's connection helpers raise their own ClientGone
    from labsim.mailserver.connection import ClientGone as ClientGoneShared  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # pragma: no cover

    class ClientGoneShared(Exception):  # type: ignore[no-redef]
        pass


from labsim.mailserver.imap import responses as R
from labsim.mailserver.imap.commands import MailCommands, Reply
from labsim.mailserver.imap.parser import (
    MAX_INPUT_PRELOGIN,
    MAX_LINE_POSTLOGIN,
    ClientGone,
    Command,
    FatalInput,
    Limits,
    LiteralBudget,
    ParseError,
    RawCommand,
    astring,
    read_command,
    split_command,
)
from labsim.mailserver.storage.base import MailboxNoPermission, MailStorage, StorageError

MAX_BAD_PRELOGIN = 3
MAX_BAD_POSTLOGIN = 20
MAX_APPEND_SIZE = 64 * 1024 * 1024  # Dovecot bounds APPEND by quota only; we keep memory sane
# APPEND literals all sessions of this process hold at once (docs/conformance.md).
APPEND_BUDGET = LiteralBudget(4 * MAX_APPEND_SIZE)
PLAINTEXT_MECHS = frozenset({"PLAIN", "LOGIN"})


def new_session_id() -> str:
    # Dovecot's session ids are 16 base64 characters
    return base64.b64encode(secrets.token_bytes(12)).decode("ascii")


class Disconnect(Exception):
    def __init__(self, log_reason: str) -> None:
        super().__init__(log_reason)
        self.log_reason = log_reason


class ImapSession:
    def __init__(self, ctx: ServerContext, conn: ClientConn) -> None:
        self.ctx = ctx
        self.conn = conn
        self.settings = ctx.settings
        if not conn.session_id:
            conn.session_id = new_session_id()
        self.started = time.monotonic()
        self.bytes_in = 0
        self.bytes_out = 0
        self.bad = 0
        self.auth_attempts = 0
        self.plaintext_refused = False  # an AUTHENTICATE PLAIN/LOGIN refused before TLS
        self.last_user = ""
        self.last_mech = ""
        self.capability_asked = False
        self.user: UserInfo | None = None
        self.mail: MailCommands | None = None
        self.userip_key: tuple[str, str] | None = None
        self.anvil_entry: anvil.Entry | None = None  # while logged in: what doveadm who lists
        self.last_command = ""
        self.last_command_done = time.monotonic()

    # --- output -----------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        self.bytes_out += len(data)
        try:
            self.conn.writer.write(data)
            await self.conn.writer.drain()
        except (ConnectionError, OSError, RuntimeError) as exc:
            raise ClientGone() from exc

    async def line(self, text: str) -> None:
        await self.send(text.encode("utf-8") + b"\r\n")

    # --- logging ----------------------------------------------------------------

    @property
    def login_prefix(self) -> str:
        return "imap-login"

    @property
    def mail_prefix(self) -> str:
        name = self.user.user if self.user else ""
        return f"imap({name})<{self.mail_pid}><{self.conn.session_id}>"

    def _conn_fields(self, with_user: bool = True) -> str:
        c = self.conn
        parts = []
        if with_user:
            parts.append(f"user=<{self.last_user}>")
            if self.last_mech:
                parts.append(f"method={self.last_mech}")
        parts += [f"rip={c.rip}", f"lip={c.lip}"]
        if c.tls:
            parts.append("TLS")
        elif c.secured:
            parts.append("secured")
        parts.append(f"session=<{c.session_id}>")
        return ", ".join(parts)

    def _attempts(self) -> str:
        secs = int(time.monotonic() - self.started)
        if self.plaintext_refused:
            return "tried to use disallowed plaintext auth"
        if self.auth_attempts == 0:
            return f"no auth attempts in {secs} secs"
        return f"auth failed, {self.auth_attempts} attempts in {secs} secs"

    def log_login_disconnect(self, reason: str) -> None:
        head = f"Disconnected: {reason}" if reason else "Disconnected"
        self.ctx.log.info(self.login_prefix, f"{head} ({self._attempts()}): {self._conn_fields()}")

    def log_mail_disconnect(self, reason: str) -> None:
        st = self.mail.stats if self.mail else None
        counters = (
            f"in={self.bytes_in} out={self.bytes_out} deleted={st.deleted if st else 0} "
            f"expunged={st.expunged if st else 0} trashed=0 "
            f"hdr_count={st.hdr_count if st else 0} hdr_bytes={st.hdr_bytes if st else 0} "
            f"body_count={st.body_count if st else 0} body_bytes={st.body_bytes if st else 0}"
        )
        self.ctx.log.info(self.mail_prefix, f"Disconnected: {reason} {counters}")

    # --- main loop --------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            anvil.disconnect(self.ctx.anvil, self.anvil_entry)
            if self.mail is not None:
                self.mail.close()
            if self.userip_key is not None:
                left = self.ctx.userip_sessions.get(self.userip_key, 1) - 1
                if left > 0:
                    self.ctx.userip_sessions[self.userip_key] = left
                else:
                    self.ctx.userip_sessions.pop(self.userip_key, None)
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                self.conn.writer.close()

    async def _run(self) -> None:
        try:
            if getattr(self.ctx.auth, "broken", None):
                # Dovecot's login process never gets an auth connection to greet with.
                await self._bye("Auth process broken")
                self.ctx.log.info(
                    self.login_prefix,
                    "Disconnected: Auth process broken (disconnected before auth was ready, waited 0 secs): "
                    + self._conn_fields(),
                )
                return
            await self.line(f"* OK [CAPABILITY {self.prelogin_capability()}] {self.settings.login_greeting}")
            while self.user is None:
                if await self._prelogin_once():
                    return
            while True:
                if await self._postlogin_once():
                    return
        except ClientGone:
            self._log_gone("Connection closed")
        except Disconnect as exc:
            if exc.log_reason:
                self._log_gone(exc.log_reason)
        except asyncio.CancelledError:
            if not anvil.kicked(self.anvil_entry):
                raise  # the server stops
            await anvil.farewell(self._bye(anvil.SHUTTING_DOWN))  # `doveadm kick`: as a SIGTERMed imap
            self._log_gone(anvil.SHUTTING_DOWN)

    def _log_gone(self, reason: str) -> None:
        if self.user is None:
            self.log_login_disconnect(reason)
        else:
            if reason == "Connection closed" and self.last_command:
                secs = time.monotonic() - self.last_command_done
                reason = f"Connection closed ({self.last_command} finished {secs:.3f} secs ago)"
            self.log_mail_disconnect(reason)

    async def _read(self, limits: Limits) -> tuple[bytes, bool]:
        raw = await self._read_raw(limits)
        return raw.data, raw.too_long

    async def _read_raw(self, limits: Limits) -> RawCommand:
        try:
            raw = await asyncio.wait_for(read_command(self.conn.reader, self.send, limits), self._timeout())
        except TimeoutError:
            await self._bye("Disconnected for inactivity.")
            raise Disconnect("Inactivity" if self.user is None else "Disconnected for inactivity") from None
        except FatalInput as exc:
            await self._bye(exc.reason)
            raise Disconnect(exc.log_reason) from None
        self.bytes_in += len(raw.data) + 2
        return raw

    def _timeout(self) -> float:
        if self.user is None:
            return min(self.ctx.idle_timeout, float(getattr(self.ctx, "login_timeout", 180.0)))
        return self.ctx.idle_timeout

    async def _bye(self, text: str) -> None:
        with contextlib.suppress(ClientGone):
            await self.line(f"* BYE {text}")

    async def _count_bad(self, limit: int) -> None:
        self.bad += 1
        if self.bad >= limit:
            await self._bye(R.TOO_MANY_INVALID)
            raise Disconnect("Too many invalid commands" if self.user is None else R.TOO_MANY_INVALID)

    # --- pre-login ----------------------------------------------------------------

    def plaintext_allowed(self) -> bool:
        rule = getattr(self.ctx, "plaintext_allowed", None)  # the master's shared rule, when present
        if callable(rule):
            return bool(rule(self.conn))
        return self.conn.secured or not self.settings.disable_plaintext_auth

    @property
    def mail_pid(self) -> int:
        return int(getattr(self.ctx, "mail_pid", 0) or os.getpid())

    def mechanisms(self) -> list[str]:
        try:
            mechs = [m.upper() for m in self.ctx.auth.mechanisms(self.conn.secured)]
        except Exception:
            mechs = []
        if not self.plaintext_allowed():
            mechs = [m for m in mechs if m not in PLAINTEXT_MECHS]
        return mechs

    def prelogin_capability(self) -> str:
        caps = [R.PRELOGIN_BASE]
        if self.ctx.tls_context is not None and not self.conn.tls:
            caps.append("STARTTLS")
        if not self.plaintext_allowed():
            caps.append("LOGINDISABLED")
        caps += [f"AUTH={m}" for m in self.mechanisms()]
        return " ".join(caps)

    async def _prelogin_once(self) -> bool:
        """One command before login; True ends the session."""
        limits = Limits(
            max_line=MAX_INPUT_PRELOGIN, max_literal=MAX_INPUT_PRELOGIN, max_total=MAX_INPUT_PRELOGIN
        )
        data, _too_long = await self._read(limits)
        tag, cmd = split_command(data)
        if cmd is None or cmd.error:
            await self._count_bad(MAX_BAD_PRELOGIN)
            await self.line(f"{tag} BAD {R.BAD_PRELOGIN}")
            return False
        handler = {
            "CAPABILITY": self._capability_pre,
            "NOOP": self._noop_pre,
            "LOGOUT": self._logout_pre,
            "ID": self._id_pre,
            "STARTTLS": self._starttls,
            "LOGIN": self._login,
            "AUTHENTICATE": self._authenticate,
        }.get(cmd.name)
        if handler is None:
            await self._count_bad(MAX_BAD_PRELOGIN)
            await self.line(f"{tag} BAD {R.BAD_PRELOGIN}")
            return False
        try:
            return await handler(cmd)
        except ParseError:
            await self._count_bad(MAX_BAD_PRELOGIN)
            await self.line(f"{tag} BAD {R.BAD_PRELOGIN}")
            return False
        except (ClientGone, Disconnect):
            raise
        except Exception as exc:  # an auth backend bug must not drop the client silently
            self.ctx.log.error(self.login_prefix, f"{cmd.name} failed: {exc!r}")
            await self.line(f"{tag} NO [UNAVAILABLE] Temporary authentication failure.")
            return False

    async def _capability_pre(self, cmd: Command) -> bool:
        self.capability_asked = True
        await self.line(f"* CAPABILITY {self.prelogin_capability()}")
        await self.line(f"{cmd.tag} OK Pre-login capabilities listed, post-login capabilities have more.")
        return False

    async def _noop_pre(self, cmd: Command) -> bool:
        await self.line(f"{cmd.tag} OK NOOP completed.")
        return False

    async def _id_pre(self, cmd: Command) -> bool:
        await self.line('* ID ("name" "Dovecot")')
        await self.line(f"{cmd.tag} OK ID completed.")
        return False

    async def _logout_pre(self, cmd: Command) -> bool:
        await self.line("* BYE Logging out")
        await self.line(f"{cmd.tag} OK Logout completed.")
        self.log_login_disconnect("Aborted login by logging out")
        return True

    async def _starttls(self, cmd: Command) -> bool:
        if self.ctx.tls_context is None:
            await self.line(f"{cmd.tag} BAD TLS support isn't enabled.")
            return False
        if self.conn.tls:
            await self.line(f"{cmd.tag} BAD TLS is already active.")
            return False
        await self.line(f"{cmd.tag} OK Begin TLS negotiation now.")
        try:
            handshake = getattr(self.conn, "start_tls", None)
            if callable(handshake):
                # the shared helper also drops anything pipelined after STARTTLS
                await handshake(self.ctx.tls_context)
            else:
                await self.conn.writer.start_tls(self.ctx.tls_context)
        except (OSError, ConnectionError, ValueError, ClientGoneShared) as exc:
            fields = self._conn_fields().replace(", session=", f", TLS handshaking: {exc}, session=")
            self.ctx.log.info(
                self.login_prefix, f"Disconnected: Connection closed: {exc} ({self._attempts()}): {fields}"
            )
            raise Disconnect("") from exc  # already logged
        self.conn.tls = True
        return False

    def _request(self, mech: str) -> AuthRequest:
        return AuthRequest(
            service="imap",
            mech=mech,
            rip=self.conn.rip,
            lip=self.conn.lip,
            secured=self.conn.secured,
            session=self.conn.session_id,
        )

    async def _login(self, cmd: Command) -> bool:
        args = cmd.args()
        if len(args) != 2:
            raise ParseError("Invalid arguments")
        user, password = astring(args[0]), astring(args[1])
        if not self.plaintext_allowed():
            # Counted as a failed attempt by that user, without a mechanism (Dovecot 2.3.19,
            # docs/dovecot-observed.md); only a refused AUTHENTICATE is "disallowed plaintext".
            self.auth_attempts += 1
            self.last_user = user
            await self.line(f"* BAD {R.PRIVACY_ALERT}")
            await self.line(f"{cmd.tag} NO {R.PRIVACY_REQUIRED}")
            return False
        self.last_user, self.last_mech = user, "PLAIN"
        self.auth_attempts += 1
        result = await self.ctx.auth.login(user, password, self._request("PLAIN"))
        return await self._auth_done(cmd, result)

    async def _authenticate(self, cmd: Command) -> bool:
        args = cmd.args()
        if not args or len(args) > 2:
            raise ParseError("Invalid arguments")
        mech = astring(args[0]).upper()
        initial: bytes | None = None
        if len(args) == 2:
            ir = astring(args[1])
            if ir == "=":
                initial = b""
            else:
                try:
                    initial = base64.b64decode(ir, validate=True)
                except (binascii.Error, ValueError):
                    await self.line(f"{cmd.tag} NO [ALERT] Invalid base64 in response")
                    return False
        if mech in PLAINTEXT_MECHS and not self.plaintext_allowed():
            self.plaintext_refused = True
            self.auth_attempts += 1
            self.last_mech = mech
            await self.line(f"{cmd.tag} NO [PRIVACYREQUIRED] Plaintext authentication disabled.")
            return False
        if mech not in self.mechanisms():
            await self.line(f"{cmd.tag} NO [ALERT] Unsupported authentication mechanism.")
            return False
        self.last_mech = mech
        self.auth_attempts += 1
        exchange = self.ctx.auth.sasl(mech, self._request(mech))
        step = await exchange.step(initial)
        while isinstance(step, bytes):
            await self.line("+ " + base64.b64encode(step).decode("ascii"))
            data, _ = await self._read(Limits(max_line=MAX_INPUT_PRELOGIN, max_literal=0))
            if data.strip() == b"*":
                await self.line(f"{cmd.tag} BAD Authentication aborted by client.")
                return False
            try:
                answer = base64.b64decode(data.strip(), validate=True)
            except (binascii.Error, ValueError):
                await self.line(f"{cmd.tag} NO [ALERT] Invalid base64 in response")
                return False
            step = await exchange.step(answer)
        if step.user:
            self.last_user = step.user
        return await self._auth_done(cmd, step)

    async def _auth_done(self, cmd: Command, result: AuthResult) -> bool:
        if not result.ok or result.userinfo is None:
            code = f"[{result.imap_code}] " if result.imap_code else ""
            await self.line(f"{cmd.tag} NO {code}{result.client_message}")
            return False
        info = result.userinfo
        self.last_user = result.user or info.user
        limit = self.settings.mail_max_userip_connections
        key = (info.user, self.conn.rip)
        if limit > 0 and self.ctx.userip_sessions.get(key, 0) >= limit:
            text = (
                f"Maximum number of connections from user+IP exceeded (mail_max_userip_connections={limit})"
            )
            self.ctx.log.info(self.login_prefix, f"Disconnected: {text}: {self._conn_fields()}")
            with contextlib.suppress(ClientGone):
                await self.line(f"{cmd.tag} NO [LIMIT] {text}")
            return True
        self.ctx.userip_sessions[key] = self.ctx.userip_sessions.get(key, 0) + 1
        self.userip_key = key
        self.ctx.log.info(
            self.login_prefix,
            f"Login: user=<{self.last_user}>, method={self.last_mech}, rip={self.conn.rip}, "
            f"lip={self.conn.lip}, mpid={self.mail_pid}"
            + (", TLS" if self.conn.tls else ", secured" if self.conn.secured else "")
            + f", session=<{self.conn.session_id}>",
        )
        self.user = info
        self.anvil_entry = anvil.connect(self.ctx.anvil, info.user, "imap", self.conn.rip, self.mail_pid)
        storage: MailStorage | None = None
        try:
            storage = self.ctx.open_storage(info)
        except StorageError as exc:
            self.ctx.log.error(self.mail_prefix, str(exc))
        except Exception as exc:
            self.ctx.log.error(self.mail_prefix, f"Internal error opening storage: {exc!r}")
        self.mail = MailCommands(self.ctx, self.mail_prefix, storage, self.send)
        caps = R.postlogin_capability(self.settings)
        if self.capability_asked:
            await self.line(f"* CAPABILITY {caps}")
            await self.line(f"{cmd.tag} OK Logged in")
        else:
            await self.line(f"{cmd.tag} OK [CAPABILITY {caps}] Logged in")
        return False

    # --- post-login ---------------------------------------------------------------

    async def _postlogin_once(self) -> bool:
        assert self.mail is not None
        raw = await self._read_raw(
            Limits(
                max_append_literal=MAX_APPEND_SIZE,
                max_command=MAX_LINE_POSTLOGIN,
                append_budget=APPEND_BUDGET,
                append_check=self.append_check(),
            )
        )
        try:
            return await self._postlogin_command(raw.data, raw.too_long, raw.refused, raw.refusal)
        finally:
            APPEND_BUDGET.release(raw.reserved)

    def append_check(self) -> Callable[[bytes], str | None] | None:
        """What refuses an APPEND before its message is asked for (Courier's); none here."""
        return None

    async def _postlogin_command(self, data: bytes, too_long: bool, refused: bool, refusal: str = "") -> bool:
        assert self.mail is not None
        started = time.monotonic()
        tag, cmd = split_command(data)
        if cmd is None:
            await self.line(f"* BAD Error in IMAP tag: Invalid tag{R.timing(time.monotonic() - started)}")
            await self._count_bad(MAX_BAD_POSTLOGIN)
            return False
        if cmd.error:
            await self.line(f"{tag} BAD Error in IMAP command: {cmd.error}{R.timing(0)}")
            await self._count_bad(MAX_BAD_POSTLOGIN)
            return False
        self.last_command = cmd.name
        reply: Reply
        if too_long:
            reply = Reply("BAD", f"Error in IMAP command {cmd.name}: Too long argument")
        elif refused:
            reply = Reply("NO", refusal or R.APPEND_BUSY, timing=not refusal, sync=not refusal)
        else:
            try:
                reply = await self.mail.dispatch(cmd, self.conn.reader, self._read_idle_line)
            except ParseError as exc:
                reply = Reply("BAD", f"Error in IMAP command {cmd.name}: {exc.reason}")
            except (ClientGone, Disconnect):
                raise
            except MailboxNoPermission as exc:
                self.ctx.log.error(self.mail_prefix, str(exc))
                reply = Reply("NO", "[NOPERM] Permission denied")
            except StorageError as exc:
                self.ctx.log.error(self.mail_prefix, str(exc))
                reply = Reply("NO", R.serverbug())
            except Exception as exc:
                self.ctx.log.error(
                    self.mail_prefix,
                    f"{cmd.name} failed: {exc!r}: " + traceback.format_exc(limit=3).replace("\n", " | "),
                )
                reply = Reply("NO", R.serverbug())
        if reply.status == "BAD":
            await self.line(f"{tag} BAD {reply.text}{R.timing(time.monotonic() - started)}")
            await self._count_bad(MAX_BAD_POSTLOGIN)
            self.last_command_done = time.monotonic()
            return False
        if reply.sync:
            try:
                await self.mail.sync_untagged()
            except StorageError as exc:
                self.ctx.log.error(self.mail_prefix, str(exc))
        for untagged in reply.after:
            await self.line(untagged)
        text = reply.text
        if reply.timing:
            text += R.timing(time.monotonic() - started)
        await self.line(f"{tag} {reply.status} {text}")
        self.last_command_done = time.monotonic()
        if reply.logout:
            self.log_mail_disconnect("Logged out")
            return True
        return False

    async def _read_idle_line(self) -> bytes:
        data, _ = await self._read(Limits(max_literal=0))
        return data


async def serve_imap(ctx: ServerContext, conn: ClientConn) -> None:
    no_delay(conn.writer)
    session = ImapSession(ctx, conn)
    try:
        await session.run()
    except Exception as exc:  # the last line of defence: log, never a traceback to the client
        with contextlib.suppress(Exception):
            ctx.log.error("imap", f"Internal error: {exc!r}")
