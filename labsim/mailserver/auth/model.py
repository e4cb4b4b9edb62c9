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
    # Set on a successful login whose userdb answer the mail process refuses
    # (UID below first_valid_uid, ...): the message Dovecot logs as
    # `imap(alice): Error: ...`. IMAP then answers `OK Logged in, but
    # initialization failed.` + `* BYE Internal error occurred. Refer to server
    # log for more information.`; POP3 `-ERR [SYS/TEMP] Internal error occurred.
    # Refer to server log for more information.`
    init_error: str | None = None
    # passdb extra fields of a successful lookup (doveadm auth test prints them).
    extra: dict[str, str] = field(default_factory=dict)


class UnknownMechanism(Exception):
    pass
