"""The AuthService the session code talks to, answered by the authlib model.

Courier's login processes hand the user name and password to authdaemond and
get back the account (home, uid, gid, maildir) or a refusal; there are no
passdb/userdb chains. We keep AuthService's interface so the IMAP and POP3
session code works unchanged, and put authlib behind it.
"""

from __future__ import annotations

import asyncio

from labsim.mailserver.auth import authlib as authlib_mod
from labsim.mailserver.auth.authlib import AuthInfo, Authlib
from labsim.mailserver.auth.model import AuthRequest, AuthResult, UserInfo
from labsim.mailserver.auth.service import AuthService
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.courier import authdaemon
from labsim.mailserver.courier.authdaemon import NO_SOCKET
from labsim.mailserver.courier.log import CourierLog
from labsim.mailserver.labroot import LabRoot

LOGIN_FAILED = "Login failed."
TEMPORARY_PROBLEM = "Temporary problem, please try again later"


class CourierAuth(AuthService):
    def __init__(
        self,
        root: LabRoot,
        settings: DovecotSettings,
        log: CourierLog,
        authlib: Authlib | None = None,
        maildirpath: str = "Maildir",
        program: str = "imapd",
    ) -> None:
        super().__init__(root, settings, log)
        self.maildirpath = maildirpath
        self.program = program  # the daemon whose login program logs a failure: imapd, pop3d-ssl, ...
        self.clog = log
        # Each login asks "authdaemond" afresh, as imaplogin does over its socket: a restart of
        # courier-authdaemon counts, a restart of courier-imap alone does not re-read authdaemonrc.
        self._seen = authdaemon.fingerprint(root)
        self._authlib = authlib if authlib is not None else authlib_mod.from_config(root, log=log.raw)

    @property
    def authlib(self) -> Authlib:
        seen = authdaemon.fingerprint(self.root)
        if seen != self._seen:
            self._seen = seen
            self._authlib = authlib_mod.from_config(self.root, log=self.clog.raw)
        return self._authlib

    def start(self) -> None:
        self.started = True
        self.broken = None
        if authdaemon.unit_state(self.root) is None:
            # No courier-authdaemon unit logs them (a bare labsim-mailserver): authdaemond's
            # start-up complaints come from here.
            for problem in self.authlib.problems():
                self.clog.raw(problem)

    def mechanisms(self, secured: bool) -> list[str]:
        return ["PLAIN", "LOGIN"]

    def configured_mechanisms(self) -> list[str]:
        # Which of them a daemon offers is its own setting (POP3AUTH, IMAP_CAPABILITY's AUTH=).
        return ["PLAIN", "LOGIN"]

    def userinfo_of(self, info: AuthInfo) -> UserInfo:
        home = info.home.rstrip("/") or "/"
        maildir = info.maildir or self.maildirpath or "Maildir"
        if not maildir.startswith("/"):
            maildir = f"{home}/{maildir}" if home != "/" else f"/{maildir}"
        return UserInfo(
            user=info.address,
            uid=info.resolved_uid(self.root),
            gid=info.gid,
            home=info.home,
            mail=f"maildir:{maildir}",
            extra={"authlib_module": info.module},
        )

    async def _verify_plain_async(self, user: str, password: str, request: AuthRequest) -> AuthResult:
        self._ensure_started()
        lib = self.authlib
        if lib.down:  # imaplogin/courierpop3login give up at once; the session says the rest
            self.clog.error(self.program, NO_SOCKET)
            return AuthResult(ok=False, user=user, client_message=TEMPORARY_PROBLEM, temp_fail=True)
        try:
            info = await asyncio.to_thread(lib.authenticate, request.service, user, password, request.rip)
        except Exception as exc:  # a module bug must read as a failed login, never a dropped client
            self.clog.raw(f"authdaemond: internal error: {type(exc).__name__}: {exc}")
            info = None
        if info is None:
            await asyncio.sleep(max(0.0, float(self.settings.auth_failure_delay)))
            return AuthResult(ok=False, user=user, client_message=LOGIN_FAILED, imap_code="")
        if info.home and not self.root.path(info.home).is_dir():
            # The login program changes to the account's home before it runs the mail daemon; a
            # home that was never made (a typo in userdb, say) is a temporary problem to the client.
            self.clog.info(self.program, f"{info.address}: chdir({info.home}) failed!!")
            self.clog.error(self.program, "error: No such file or directory")
            return AuthResult(ok=False, user=user, client_message=TEMPORARY_PROBLEM, temp_fail=True)
        return AuthResult(ok=True, user=info.address, userinfo=self.userinfo_of(info), client_message="")
