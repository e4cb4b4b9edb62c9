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
"""

from __future__ import annotations

from labsim.mailserver.auth.model import AuthRequest, AuthResult
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog


class SaslExchange:
    async def step(self, response: bytes | None) -> bytes | AuthResult:
        """Feed the client's (decoded) response; None means no initial response."""
        raise NotImplementedError


class AuthService:
    def __init__(self, root: LabRoot, settings: DovecotSettings, log: DovecotLog) -> None:
        self.root = root
        self.settings = settings
        self.log = log
        self.broken: str | None = None  # the fatal, when the auth process "died"

    def start(self) -> None:
        raise NotImplementedError

    def mechanisms(self, secured: bool) -> list[str]:
        raise NotImplementedError

    async def login(self, user: str, password: str, request: AuthRequest) -> AuthResult:
        raise NotImplementedError

    def sasl(self, mech: str, request: AuthRequest) -> SaslExchange:
        raise NotImplementedError

    async def apop(self, user: str, challenge: str, digest: str, request: AuthRequest) -> AuthResult:
        raise NotImplementedError
