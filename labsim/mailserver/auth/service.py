"""The auth process: mechanisms, passdb/userdb chains, failure delay, log lines.

Protocol code uses only this class:

    auth = AuthService(root, settings, log)
    auth.start()                        # logs the fatal and marks itself broken when
                                        # a mechanism cannot be served (CRAM-MD5 + PAM)
    auth.mechanisms(secured)            # what CAPABILITY / CAPA / SASL advertise
    result = await auth.login(user, password, request)       # IMAP LOGIN, POP3 USER/PASS
    exchange = auth.sasl(mech, request) # IMAP AUTHENTICATE, POP3 AUTH
    step = await exchange.step(client_bytes_or_None)  # bytes: a challenge; AuthResult: done
    result = await auth.apop(user, greeting_timestamp, digest_hex, request)

When `auth.broken` is set, real Dovecot's login processes answer at once:
IMAP greets with `* BYE Auth process broken`, POP3 with `-ERR Auth process
broken`. Every call here then returns that failure too.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

from labsim.mailserver.auth import passdb as passdb_mod
from labsim.mailserver.auth import userdb as userdb_mod
from labsim.mailserver.auth.md5state import cram_md5_response
from labsim.mailserver.auth.model import AuthRequest, AuthResult, UnknownMechanism, UserInfo
from labsim.mailserver.auth.passdb import Passdb
from labsim.mailserver.auth.request import AuthLogger, Lookup, PassdbAnswer, PassdbResult
from labsim.mailserver.auth.sasl import (
    CREDENTIAL_MECHS,
    PLAINTEXT_MECHS,
    SUPPORTED,
    SaslError,
    apop_digest,
    cram_challenge,
    digest_eq,
    parse_cram_response,
    parse_plain,
)
from labsim.mailserver.auth.sasl import (
    KNOWN as KNOWN_MECHS,
)
from labsim.mailserver.auth.schemes import cram_md5_credential_of, plaintext
from labsim.mailserver.auth.userdb import StaticUserdb, Userdb, UserdbAnswer, mail_access_error
from labsim.mailserver.auth.vars import expand, user_vars
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog

R = PassdbResult
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890.-_@")
BROKEN_MESSAGE = "Auth process broken"
FAILED_MESSAGE = "Authentication failed."
TEMPFAIL_MESSAGE = "Temporary authentication failure."


def tempfail_message() -> str:
    """What the login process tells a client on a temporary failure: Dovecot adds its host name
    and the time, so that an admin can find the matching log lines."""
    return f"{TEMPFAIL_MESSAGE} [{socket.gethostname()}:{time.strftime('%Y-%m-%d %H:%M:%S')}]"


def _broken() -> AuthResult:
    return AuthResult(ok=False, client_message=BROKEN_MESSAGE, temp_fail=True, imap_code="UNAVAILABLE")


class SaslExchange:
    async def step(self, response: bytes | None) -> bytes | AuthResult:
        """Feed the client's (decoded) response; None means no initial response."""
        raise NotImplementedError


class _PlainExchange(SaslExchange):
    def __init__(self, auth: AuthService, request: AuthRequest) -> None:
        self.auth = auth
        self.request = request
        self.started = False

    async def step(self, response: bytes | None) -> bytes | AuthResult:
        if response is None and not self.started:
            self.started = True
            return b""
        self.started = True
        try:
            authzid, authcid, password = parse_plain(response or b"")
        except SaslError as exc:
            return await self.auth._mech_failure("plain", self.request, str(exc))
        if authzid and authzid != authcid:
            # Logging in as another user needs master users, which the lab does not configure.
            return await self.auth._mech_failure("plain", self.request, "Master user login not supported")
        return await self.auth._verify_plain_async(authcid, password, self.request)


class _LoginExchange(SaslExchange):
    def __init__(self, auth: AuthService, request: AuthRequest) -> None:
        self.auth = auth
        self.request = request
        self.user: str | None = None
        self.started = False

    async def step(self, response: bytes | None) -> bytes | AuthResult:
        if not self.started:
            self.started = True
            if response is None or response == b"":
                return b"Username:"
        if self.user is None:
            try:
                self.user = (response or b"").decode("utf-8")
            except UnicodeDecodeError:
                return await self.auth._mech_failure("login", self.request, "invalid input")
            if not self.user:
                return await self.auth._mech_failure("login", self.request, "empty username")
            return b"Password:"
        try:
            password = (response or b"").decode("utf-8")
        except UnicodeDecodeError:
            return await self.auth._mech_failure("login", self.request, "invalid input")
        return await self.auth._verify_plain_async(self.user, password, self.request)


class _CramExchange(SaslExchange):
    def __init__(self, auth: AuthService, request: AuthRequest) -> None:
        self.auth = auth
        self.request = request
        self.challenge: bytes | None = None

    async def step(self, response: bytes | None) -> bytes | AuthResult:
        if self.challenge is None:
            if response:
                # CRAM-MD5 has no initial response.
                return await self.auth._mech_failure("cram-md5", self.request, "invalid input")
            self.challenge = cram_challenge()
            return self.challenge
        try:
            user, digest = parse_cram_response(response or b"")
        except SaslError as exc:
            return await self.auth._mech_failure("cram-md5", self.request, str(exc))
        challenge = self.challenge

        def check(stored: str, lookup: Lookup) -> bool:
            cred = cram_md5_credential_of(stored)
            return cred is not None and digest_eq(cram_md5_response(cred, challenge), digest)

        return await self.auth._verify_credentials_async(user, "CRAM-MD5", check, self.request, "cram-md5")


class _FailedExchange(SaslExchange):
    def __init__(self, result: AuthResult) -> None:
        self.result = result

    async def step(self, response: bytes | None) -> bytes | AuthResult:
        return self.result


class AuthService:
    def __init__(self, root: LabRoot, settings: DovecotSettings, log: DovecotLog) -> None:
        self.root = root
        self.settings = settings
        self.log = log
        self.broken: str | None = None  # the fatal, when the auth process "died"
        self.alog = AuthLogger(
            sink=log.log,
            verbose=settings.auth_verbose or settings.auth_debug,
            debug=settings.auth_debug,
            verbose_passwords=settings.auth_verbose_passwords,
        )
        self.passdbs: list[Passdb] = []
        self.userdbs: list[Userdb] = []
        self.started = False

    # --- start-up ---------------------------------------------------------------

    def _die(self, message: str) -> None:
        """The auth process dies at start; the master keeps the listeners and throttles it."""
        self.log.fatal("auth", message)
        self.log.error("master", "service(auth): command startup failed, throttling for 2.000 secs")
        self.broken = message

    def configured_mechanisms(self) -> list[str]:
        seen: list[str] = []
        for m in self.settings.auth_mechanisms:
            for word in m.replace(",", " ").split():
                up = word.upper()
                if up not in seen:
                    seen.append(up)
        return seen

    def start(self) -> None:
        self.started = True
        self.broken = None
        self.passdbs = []
        self.userdbs = []
        for mech in self.configured_mechanisms():
            if mech not in KNOWN_MECHS:
                self._die(f"Unknown authentication mechanism '{mech}'")
                return
        for db in self.settings.passdbs:
            try:
                self.passdbs.append(passdb_mod.create(db, self.root, self.alog))
            except KeyError:
                self._die(f"Unknown passdb driver '{db.driver}'")
                return
            except passdb_mod.PassdbInitError as exc:
                self._die(str(exc))
                return
        for db in self.settings.userdbs:
            try:
                self.userdbs.append(userdb_mod.create(db, self.root, self.alog))
            except KeyError:
                self._die(f"Unknown userdb driver '{db.driver}'")
                return
            except passdb_mod.PassdbInitError as exc:
                self._die(str(exc))
                return
        if not self.passdbs:
            first = self.configured_mechanisms()[0] if self.configured_mechanisms() else "PLAIN"
            self._die(f"No passdbs specified in configuration file. {first} mechanism needs one")
            return
        for mech in self.configured_mechanisms():
            if mech in CREDENTIAL_MECHS and not any(
                p.credentials_lookup and not p.db.deny for p in self.passdbs
            ):
                self._die(f"{mech} mechanism can't be supported with given passdbs")
                return

    def _ensure_started(self) -> None:
        if not self.started:
            self.start()

    # --- what protocols advertise ---------------------------------------------

    def mechanisms(self, secured: bool) -> list[str]:
        out = []
        for mech in self.configured_mechanisms():
            if mech == "APOP" or mech not in SUPPORTED:
                # APOP is a POP3 command, never a SASL mechanism on the wire; the
                # others Dovecot knows but the lab does not serve stay unadvertised.
                continue
            if mech in PLAINTEXT_MECHS and self.settings.disable_plaintext_auth and not secured:
                continue
            out.append(mech)
        return out

    def apop_enabled(self) -> bool:
        return "APOP" in self.configured_mechanisms()

    # --- user names -------------------------------------------------------------

    def translate_user(self, user: str) -> tuple[str | None, str]:
        """(translated name, problem) — None with the reason when the name is refused."""
        for ch in user:
            if ch not in USERNAME_CHARS:
                why = f"Username character disallowed by auth_username_chars: 0x{ord(ch):02x}"
                return None, f"{why} (username: {user})"
        if "@" not in user and self.settings.auth_default_realm:
            user = f"{user}@{self.settings.auth_default_realm}"
        fmt = self.settings.auth_username_format
        if fmt:
            user = expand(fmt, user_vars(user))
        return user, ""

    def _lookup(self, user: str, request: AuthRequest) -> Lookup:
        return Lookup(
            user=user,
            service=request.service,
            rip=request.rip,
            lip=request.lip,
            session=request.session,
            mech=request.mech,
            secured=request.secured,
        )

    # --- passdb chain -----------------------------------------------------------

    def _chain(self, lookup: Lookup, run: Callable[[Passdb], PassdbAnswer | None]) -> PassdbAnswer:
        """Walk the passdbs honouring deny, skip and result_* settings.

        `run` returns None when a passdb cannot take part (no credential lookups).
        """
        state: bool | None = None
        last = PassdbAnswer(R.USER_UNKNOWN)
        success: PassdbAnswer | None = None
        for db in self.passdbs:
            if db.db.deny:
                if db.user_exists(lookup):
                    self.alog.info(db.driver, lookup, "User found from deny passdb", db.blocking)
                    return PassdbAnswer(R.USER_DISABLED)
                continue
            if (db.db.skip == "authenticated" and state is True) or (
                db.db.skip == "unauthenticated" and state is not True
            ):
                continue
            self.alog.dbg(db.driver, lookup, "Performing passdb lookup")
            ans = run(db)
            self.alog.dbg(db.driver, lookup, "Finished passdb lookup")
            if ans is None:
                continue
            if ans.result == R.OK:
                action = db.db.result_success
            elif ans.result in (R.INTERNAL_FAILURE, R.SCHEME_NOT_AVAILABLE):
                action = db.db.result_internalfail
            else:
                action = db.db.result_failure
            action = action.strip().lower()
            last = ans
            if ans.result == R.OK:
                success = ans
            if action == "return":
                return ans
            if action == "return-ok":
                return ans if ans.result == R.OK else PassdbAnswer(R.OK, extra=ans.extra)
            if action == "return-fail":
                return ans if ans.result != R.OK else PassdbAnswer(R.PASSWORD_MISMATCH)
            if action == "continue-ok":
                state = True
            elif action == "continue-fail":
                state = False
        if state is True:
            return success or PassdbAnswer(R.OK)
        if last.result == R.OK:
            # Only "continue" after a success: Dovecot treats the chain as failed.
            return PassdbAnswer(R.PASSWORD_MISMATCH)
        return last

    def passdb_verify(
        self, user: str, password: str, request: AuthRequest
    ) -> tuple[str | None, PassdbAnswer]:
        """Synchronous plaintext verification through the passdb chain (doveadm auth test uses it)."""
        self._ensure_started()
        name, problem = self.translate_user(user)
        if name is None:
            if self.alog.verbose:
                self.log.info("auth", f"{request.mech.lower()}: {problem}")
            return None, PassdbAnswer(R.USER_UNKNOWN)
        lookup = self._lookup(name, request)
        lookup.original_user = user
        return name, self._chain(lookup, lambda db: db.verify_plain(lookup, password))

    # --- userdb chain -----------------------------------------------------------

    def userdb_lookup(
        self, user: str, request: AuthRequest, prefetch: dict[str, str] | None = None, verified: bool = True
    ) -> UserdbAnswer:
        """`verified=False` (doveadm user): no passdb has vouched for the user yet."""
        self._ensure_started()
        lookup = self._lookup(user, request)
        fields: dict[str, str] = dict(prefetch or {})
        if not self.userdbs:
            # Dovecot 2.3 runs without a userdb as if an empty static one were configured.
            return UserdbAnswer(True, fields)
        failed = False
        for db in self.userdbs:
            self.alog.dbg(db.driver, lookup, "Performing userdb lookup")
            if not verified and isinstance(db, StaticUserdb) and not db.allow_all_users:
                # A static userdb answers for anyone; without allow_all_users=yes
                # Dovecot first asks the passdbs whether the user exists.
                known = [p.user_exists(lookup) for p in self.passdbs if not p.db.deny]
                if known and all(k is False for k in known):
                    self.alog.info(db.driver, lookup, "unknown user")
                    continue
            ans = db.lookup(lookup)
            self.alog.dbg(db.driver, lookup, "Finished userdb lookup")
            if ans.found:
                fields.update(ans.fields)
                return UserdbAnswer(True, fields)
            failed = failed or ans.failed
        return UserdbAnswer(False, failed=failed)

    def iterate_users(self, mask: str) -> tuple[list[str], bool]:
        """All users of the userdbs that can list them, in order (doveadm user with a mask).

        False when the listing failed (the reason is logged, as the auth process logs it); names
        from the userdbs that could list them are still returned, as Dovecot still sends them.
        """
        self._ensure_started()
        listable = [db for db in self.userdbs if db.can_iterate]
        if not listable:
            self.log.error(
                "auth",
                "auth-master client: Trying to iterate users, but userdbs don't support it "
                "(created 0 msecs ago, handshake 0 msecs ago)",
            )
            return [], False
        names: list[str] = []
        ok = True
        alone = len(self.settings.userdbs) == 1
        for db in listable:
            got, good = db.iterate(self.settings, mask, alone)
            names += got
            ok = ok and good
        return names, ok

    def userinfo(self, user: str, fields: dict[str, str]) -> UserInfo:
        def num(key: str) -> int:
            try:
                return int(fields.get(key, "-1"))
            except ValueError:
                return -1

        extra = {k: v for k, v in fields.items() if k not in ("uid", "gid", "home", "mail")}
        return UserInfo(user=user, uid=num("uid"), gid=num("gid"), home=fields.get("home", ""),
                        mail=fields.get("mail"), extra=extra)  # fmt: skip

    # --- results ------------------------------------------------------------------

    def _finish_sync(self, name: str | None, ans: PassdbAnswer, request: AuthRequest) -> AuthResult:
        if name is None or ans.result != R.OK:
            msg = ans.client_message or FAILED_MESSAGE
            if ans.result == R.INTERNAL_FAILURE:
                return AuthResult(ok=False, user=name or "", client_message=tempfail_message(),
                                  temp_fail=True, imap_code="UNAVAILABLE")  # fmt: skip
            return AuthResult(ok=False, user=name or "", client_message=msg)
        found = self.userdb_lookup(name, request, ans.userdb_fields)
        if not found.found:
            if found.failed:
                return AuthResult(ok=False, user=name, client_message=tempfail_message(),
                                  temp_fail=True, imap_code="UNAVAILABLE")  # fmt: skip
            return AuthResult(ok=False, user=name, client_message=FAILED_MESSAGE)
        info = self.userinfo(name, found.fields)
        problem = mail_access_error(self.settings, info.uid, info.gid)
        return AuthResult(ok=True, user=name, userinfo=info, client_message="", init_error=problem,
                          extra=dict(ans.extra))  # fmt: skip

    async def _guarded(self, work: Callable[[], AuthResult]) -> AuthResult:
        """Run a lookup off the event loop; a bug in a driver becomes a logged temporary failure."""
        try:
            return await asyncio.to_thread(work)
        except Exception as exc:  # the client must get an answer, never a dropped session
            self.log.error("auth", f"Internal error during authentication: {type(exc).__name__}: {exc}")
            return AuthResult(
                ok=False, client_message=tempfail_message(), temp_fail=True, imap_code="UNAVAILABLE"
            )

    async def _delay_failure(self, result: AuthResult, request: AuthRequest | None = None) -> AuthResult:
        if result.ok and result.init_error and request is not None:
            # Dovecot's mail process (imap, pop3) logs this right after the login.
            self.log.error(f"{request.service}({result.user})", result.init_error)
        if not result.ok and self.broken is None:
            await asyncio.sleep(max(0.0, float(self.settings.auth_failure_delay)))
        return result

    async def _mech_failure(self, mech: str, request: AuthRequest, reason: str) -> AuthResult:
        if self.alog.verbose:
            self.log.info("auth", f"{self._lookup('?', request).log_name(mech)}: {reason}")
        return await self._delay_failure(AuthResult(ok=False, client_message=FAILED_MESSAGE))

    async def _verify_plain_async(self, user: str, password: str, request: AuthRequest) -> AuthResult:
        self._ensure_started()
        if self.broken is not None:
            return _broken()

        def work() -> AuthResult:
            name, ans = self.passdb_verify(user, password, request)
            return self._finish_sync(name, ans, request)

        result = await self._guarded(work)
        return await self._delay_failure(result, request)

    def verify_credentials(
        self, user: str, scheme: str, check: Callable[[str, Lookup], bool], request: AuthRequest, mech: str
    ) -> AuthResult:
        """Look the stored credential up and let the mechanism check the client's proof."""
        self._ensure_started()
        name, problem = self.translate_user(user)
        if name is None:
            if self.alog.verbose:
                self.log.info("auth", f"{mech}: {problem}")
            return AuthResult(ok=False)
        lookup = self._lookup(name, request)
        lookup.original_user = user

        def run(db: Passdb) -> PassdbAnswer | None:
            if not db.credentials_lookup:
                return None
            ans = db.lookup_credentials(lookup)
            if ans.result != R.OK or ans.credentials is None:
                return ans
            usable, held = passdb_mod.credentials_match_scheme(ans.credentials, scheme)
            if not usable:
                self.alog.info(
                    db.driver, lookup, f"Requested {scheme} scheme, but we have only {held}", db.blocking
                )
                return PassdbAnswer(R.SCHEME_NOT_AVAILABLE)
            if not check(ans.credentials, lookup):
                self.alog.mismatch(mech, lookup, "", False)
                return PassdbAnswer(R.PASSWORD_MISMATCH)
            return ans

        return self._finish_sync(name, self._chain(lookup, run), request)

    async def _verify_credentials_async(
        self, user: str, scheme: str, check: Callable[[str, Lookup], bool], request: AuthRequest, mech: str
    ) -> AuthResult:
        if self.broken is not None:
            return _broken()
        result = await self._guarded(lambda: self.verify_credentials(user, scheme, check, request, mech))
        return await self._delay_failure(result, request)

    # --- the protocol-facing API --------------------------------------------------

    async def login(self, user: str, password: str, request: AuthRequest) -> AuthResult:
        return await self._verify_plain_async(user, password, request)

    def sasl(self, mech: str, request: AuthRequest) -> SaslExchange:
        self._ensure_started()
        up = mech.upper()
        if self.broken is not None:
            return _FailedExchange(_broken())
        if up not in self.configured_mechanisms() or up == "APOP":
            raise UnknownMechanism(mech)
        request.mech = up
        if up == "PLAIN":
            return _PlainExchange(self, request)
        if up == "LOGIN":
            return _LoginExchange(self, request)
        if up == "CRAM-MD5":
            return _CramExchange(self, request)
        raise UnknownMechanism(mech)

    async def apop(self, user: str, challenge: str, digest: str, request: AuthRequest) -> AuthResult:
        self._ensure_started()
        if self.broken is not None:
            return _broken()
        request.mech = "APOP"

        def check(stored: str, lookup: Lookup) -> bool:
            pw = plaintext(stored)
            return pw is not None and digest_eq(apop_digest(challenge, pw), digest)

        return await self._verify_credentials_async(user, "PLAIN", check, request, "apop")
