"""Problems Dovecot 2.3.19 finds after the configuration has loaded, in its words.

None of these stop doveconf: the master starts, and the process that needs
the setting fails when it starts or when a client arrives. Observed:

- an unknown mechanism: `auth: Fatal: Unknown authentication mechanism 'FOO'`,
  then `master: Error: service(auth): command startup failed, throttling for 2.000 secs`;
- a mechanism the passdbs cannot serve:
  `auth: Fatal: CRAM-MD5 mechanism can't be supported with given passdbs`;
- TLS set up on the first TLS connection: `imap-login: Error: Failed to initialize
  SSL server context: <reason>: user=<>, rip=..., lip=..., session=<...>`.
"""

from __future__ import annotations

from dataclasses import dataclass

from labsim.mailserver.config.model import DovecotSettings

KNOWN_MECHANISMS = frozenset(
    {
        "plain",
        "login",
        "cram-md5",
        "digest-md5",
        "apop",
        "anonymous",
        "external",
        "ntlm",
        "otp",
        "scram-sha-1",
        "scram-sha-256",
        "gssapi",
        "gss-spnego",
        "oauthbearer",
        "xoauth2",
        "rpa",
        "winbind",
    }
)
# Mechanisms that need the password itself (or a scheme-specific hash) from the passdb.
CREDENTIAL_MECHANISMS = frozenset(
    {"cram-md5", "digest-md5", "apop", "scram-sha-1", "scram-sha-256", "ntlm", "rpa"}
)
# passdb drivers that can only check a password, never hand one out.
VERIFY_ONLY_DRIVERS = frozenset({"pam", "checkpassword", "bsdauth", "imap", "oauth2"})
SSL_PROTOCOLS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "ANY", "LATEST")
SSL_CONTEXT_PREFIX = "Failed to initialize SSL server context: "
THROTTLE_MESSAGE = "service(auth): command startup failed, throttling for 2.000 secs"


@dataclass
class Problem:
    process: str  # the log prefix: "auth", "imap-login", "master"
    level: str  # "Fatal", "Error", "Warning"
    message: str


def auth_startup_problem(settings: DovecotSettings) -> Problem | None:
    """Why the auth process would die at start, or None."""
    for mech in settings.auth_mechanisms:
        if mech.lower() not in KNOWN_MECHANISMS:
            return Problem("auth", "Fatal", f"Unknown authentication mechanism '{mech.upper()}'")
    drivers = [db.driver for db in settings.passdbs if not db.deny]
    for mech in settings.auth_mechanisms:
        if mech.lower() in CREDENTIAL_MECHANISMS and all(d in VERIFY_ONLY_DRIVERS for d in drivers):
            return Problem("auth", "Fatal", f"{mech.upper()} mechanism can't be supported with given passdbs")
    return None


def ssl_context_problem(settings: DovecotSettings) -> str | None:
    """The reason after `Failed to initialize SSL server context: `, from the settings alone.

    A key that does not match its certificate needs the crypto library; the
    TLS code reports that one (`Can't load SSL private key (ssl_key setting):
    Key is for a different cert than ssl_cert`).
    """
    if settings.ssl_min_protocol not in SSL_PROTOCOLS:
        return f"Unknown ssl_min_protocol setting '{settings.ssl_min_protocol}'"
    cert = settings.ssl_cert
    if not cert.strip():
        return "Can't load SSL certificate (ssl_cert setting): The certificate is empty"
    if "PRIVATE KEY-----" in cert and "-----BEGIN CERTIFICATE-----" not in cert:
        return (
            "Can't load SSL certificate (ssl_cert setting): "
            "The file contains a private key (you've mixed ssl_cert and ssl_key settings)"
        )
    if "-----BEGIN CERTIFICATE-----" not in cert:
        return "Can't load SSL certificate (ssl_cert setting): There is no valid PEM certificate."
    if "PRIVATE KEY-----" not in settings.ssl_key:
        return (
            "Couldn't parse private SSL key (ssl_key setting) (maybe ssl_key_password is wrong?): "
            "error:1E08010C:DECODER routines::unsupported: No supported data to decode. Input type: PEM"
        )
    return None


def forgot_lt_hint(settings: DovecotSettings) -> str | None:
    """Our own hint when a path was given without `<` (Dovecot says only that the PEM is invalid)."""
    for name, value, path in (
        ("ssl_cert", settings.ssl_cert, settings.ssl_cert_path),
        ("ssl_key", settings.ssl_key, settings.ssl_key_path),
    ):
        if path is None and value.startswith("/"):
            return f"You probably forgot '<' from {name}={value}"
    return None
