"""The AuthService the session code talks to, answered by the authlib model.

Courier's login processes hand the user name and password to authdaemond and
get back the account (home, uid, gid, maildir) or a refusal; there are no
passdb/userdb chains. We keep AuthService's interface so the IMAP and POP3
session code works unchanged, and put authlib behind it.
"""

from __future__ import annotations

import asyncio

from labsim.mailserver.auth.authlib import AuthInfo, Authlib
from labsim.mailserver.auth.model import AuthRequest, AuthResult, UserInfo
from labsim.mailserver.auth.service import AuthService
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.courier.log import CourierLog
from labsim.mailserver.labroot import LabRoot

LOGIN_FAILED = "Login failed."


class CourierAuth(AuthService):
    def __init__(
        self,
        root: LabRoot,
        settings: DovecotSettings,
        log: CourierLog,
        authlib: Authlib,
        maildirpath: str = "Maildir",
    ) -> None:
        super().__init__(root, settings, log)
        self.authlib = authlib
        self.maildirpath = maildirpath
        self.clog = log

    def start(self) -> None:
        self.started = True
        self.broken = None
        for problem in self.authlib.problems():
            self.clog.raw(problem)

    def mechanisms(self, secured: bool) -> list[str]:
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
        try:
            info = await asyncio.to_thread(
                self.authlib.authenticate, request.service, user, password, request.rip
            )
        except Exception as exc:  # a module bug must read as a failed login, never a dropped client
            self.clog.raw(f"authdaemond: internal error: {type(exc).__name__}: {exc}")
            info = None
        if info is None:
            await asyncio.sleep(max(0.0, float(self.settings.auth_failure_delay)))
            return AuthResult(ok=False, user=user, client_message=LOGIN_FAILED, imap_code="")
        return AuthResult(ok=True, user=info.address, userinfo=self.userinfo_of(info), client_message="")
