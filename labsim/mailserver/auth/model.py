"""What protocol code gets from auth, and gives it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class UserInfo:
    """A userdb answer: who the user is and where their mail lives."""

    user: str
    uid: int
    gid: int
    home: str  # lab path
    mail: str | None = None  # a userdb `mail` field overrides mail_location
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class AuthRequest:
    service: str  # "imap" or "pop3": also the PAM service unless passdb args say otherwise
    mech: str  # "PLAIN", "LOGIN", "CRAM-MD5", "APOP"
    rip: str  # remote IP
    lip: str  # local IP
    secured: bool  # TLS, or rip == lip as Dovecot counts it
    session: str = ""  # session id for log lines


@dataclass
class AuthResult:
    ok: bool
    user: str = ""
    userinfo: UserInfo | None = None
    # What the client is told on failure, without the protocol's framing:
    # "Authentication failed." / "Auth process broken" / "Temporary authentication failure."
    client_message: str = "Authentication failed."
    temp_fail: bool = False
    # The IMAP response code for a failure: AUTHENTICATIONFAILED, UNAVAILABLE, ...
    imap_code: str = "AUTHENTICATIONFAILED"


class UnknownMechanism(Exception):
    pass
