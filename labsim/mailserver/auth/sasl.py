"""SASL wire formats: PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195), APOP (RFC 1939)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import socket
import time

# Mechanisms that send the password in the clear: hidden on insecure
# connections when disable_plaintext_auth = yes.
PLAINTEXT_MECHS = frozenset({"PLAIN", "LOGIN"})
# Mechanisms that need a stored credential the passdb can hand out, and which one.
CREDENTIAL_MECHS = {"CRAM-MD5": "CRAM-MD5", "DIGEST-MD5": "DIGEST-MD5", "APOP": "PLAIN"}
SUPPORTED = ("PLAIN", "LOGIN", "CRAM-MD5", "APOP")
# Mechanisms Dovecot 2.3 knows: configuring one of these is not an error, but
# the lab does not serve those outside SUPPORTED, so they are not advertised.
KNOWN = frozenset(
    {"PLAIN", "LOGIN", "CRAM-MD5", "APOP", "DIGEST-MD5", "NTLM", "GSSAPI", "GSS-SPNEGO", "OTP", "ANONYMOUS",
     "EXTERNAL", "SCRAM-SHA-1", "SCRAM-SHA-256", "OAUTHBEARER", "XOAUTH2", "RPA", "WINBIND"}
)  # fmt: skip


class SaslError(ValueError):
    """Malformed client input; the message is what Dovecot logs."""


def parse_plain(data: bytes) -> tuple[str, str, str]:
    """authzid NUL authcid NUL password -> (authzid, authcid, password)."""
    parts = data.split(b"\0")
    if len(parts) != 3:
        raise SaslError("invalid input")
    try:
        authzid, authcid, password = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError as exc:
        raise SaslError("invalid input") from exc
    if not authcid:
        raise SaslError("empty username")
    return authzid, authcid, password


def cram_challenge(hostname: str | None = None) -> bytes:
    host = hostname or socket.gethostname() or "localhost"
    return f"<{secrets.randbelow(2**63)}.{int(time.time())}@{host}>".encode()


def parse_cram_response(data: bytes) -> tuple[str, str]:
    """`user hexdigest` -> (user, digest); the user may itself contain spaces."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SaslError("invalid input") from exc
    user, sep, digest = text.rpartition(" ")
    if not sep or not user or len(digest) != 32:
        raise SaslError("invalid input")
    return user, digest.lower()


def apop_digest(challenge: str, password: str) -> str:
    return hashlib.md5(
        challenge.encode("utf-8", "surrogateescape") + password.encode("utf-8", "surrogateescape")
    ).hexdigest()


def apop_challenge(hostname: str | None = None) -> str:
    """The `<pid.time@host>`-style timestamp a POP3 greeting carries for APOP."""
    host = hostname or socket.gethostname() or "localhost"
    return f"<{os.getpid()}.{secrets.randbelow(2**31)}.{int(time.time())}@{host}>"


def digest_eq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.lower().encode(), b.lower().encode())
