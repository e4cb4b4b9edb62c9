"""An in-memory AuthService for POP3 tests that must not depend on passdb/PAM code."""

from __future__ import annotations

import hashlib
import hmac

from labsim.mailserver.auth.model import AuthRequest, AuthResult, UserInfo
from labsim.mailserver.auth.service import AuthService, SaslExchange

USERS = {"alice": ("secret", 1000), "bob": ("hunter2", 1001)}


def userinfo(user: str) -> UserInfo:
    return UserInfo(user=user, uid=USERS[user][1], gid=USERS[user][1], home=f"/home/{user}")


def check(user: str, password: str) -> AuthResult:
    if user in USERS and USERS[user][0] == password:
        return AuthResult(ok=True, user=user, userinfo=userinfo(user))
    return AuthResult(ok=False, user=user)


class StandinSasl(SaslExchange):
    def __init__(self, mech: str) -> None:
        self.mech = mech
        self.state = 0
        self.user = ""
        self.challenge = b"<1896.697170952@labsim>"

    async def step(self, response: bytes | None) -> bytes | AuthResult:
        if self.mech == "PLAIN":
            if response is None:
                return b""
            parts = response.split(b"\0")
            if len(parts) != 3:
                return AuthResult(ok=False)
            return check(parts[1].decode(errors="replace"), parts[2].decode(errors="replace"))
        if self.mech == "LOGIN":
            if self.state == 0:
                self.state = 1
                if response is None:
                    return b"Username:"
            if self.state == 1:
                self.user = (response or b"").decode(errors="replace")
                self.state = 2
                return b"Password:"
            return check(self.user, (response or b"").decode(errors="replace"))
        if self.mech == "CRAM-MD5":
            if self.state == 0:
                self.state = 1
                return self.challenge
            user, _, digest = (response or b"").decode(errors="replace").partition(" ")
            if user in USERS:
                want = hmac.new(USERS[user][0].encode(), self.challenge, hashlib.md5).hexdigest()
                if hmac.compare_digest(want, digest):
                    return AuthResult(ok=True, user=user, userinfo=userinfo(user))
            return AuthResult(ok=False, user=user)
        return AuthResult(ok=False)


class StandinAuth(AuthService):
    def start(self) -> None:
        return None

    def mechanisms(self, secured: bool) -> list[str]:
        return [m.upper() for m in self.settings.auth_mechanisms]

    async def login(self, user: str, password: str, request: AuthRequest) -> AuthResult:
        return check(user, password)

    def sasl(self, mech: str, request: AuthRequest) -> SaslExchange:
        return StandinSasl(mech)

    async def apop(self, user: str, challenge: str, digest: str, request: AuthRequest) -> AuthResult:
        if user in USERS:
            want = hashlib.md5((challenge + USERS[user][0]).encode()).hexdigest()
            if want == digest:
                return AuthResult(ok=True, user=user, userinfo=userinfo(user))
        return AuthResult(ok=False, user=user)
