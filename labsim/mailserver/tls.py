"""Server-side TLS contexts built from the ssl_* settings.

Dovecot 2.3 does not refuse to start over a bad certificate or key: the
login process fails to build its SSL context at the first TLS connection,
logs `Failed to initialize SSL server context: ...` and the handshake (or
STARTTLS/STLS) fails. We build the context once per configuration and keep
the error text so the sessions can report it the same way.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from dataclasses import dataclass

from labsim.mailserver.config.model import DovecotSettings

_PROTOCOLS = {
    "SSLv3": ssl.TLSVersion.TLSv1,  # OpenSSL 3 has no SSLv3: the floor is TLSv1
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
    "ANY": ssl.TLSVersion.MINIMUM_SUPPORTED,
    "LATEST": ssl.TLSVersion.TLSv1_3,
}


class TlsSetupError(Exception):
    """The text Dovecot puts after `Failed to initialize SSL server context: `."""


@dataclass
class TlsSetup:
    """What the sessions need: a context, or why there is none."""

    enabled: bool  # ssl != no
    required: bool  # ssl = required
    context: ssl.SSLContext | None = None
    error: str | None = None

    @property
    def usable(self) -> bool:
        return self.context is not None


def _looks_like(pem: str, kind: str) -> bool:
    return f"-----BEGIN {kind}" in pem


def _has_private_key(pem: str) -> bool:
    return "-----BEGIN" in pem and "PRIVATE KEY-----" in pem


def _forgot_lt_hint(setting: str, value: str) -> str:
    value = value.strip()
    if value and not value.startswith("-"):
        return f" (You probably forgot '<' from {setting}=<{value})"
    return ""


def _write_private(directory: str, data: str) -> str:
    fd, path = tempfile.mkstemp(dir=directory, suffix=".pem")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(data)
    return path


def build_context(settings: DovecotSettings) -> ssl.SSLContext:
    """An SSLContext for the server side; raises TlsSetupError in Dovecot's words."""
    cert = settings.ssl_cert
    key = settings.ssl_key
    if not cert.strip():
        raise TlsSetupError("Can't load SSL certificate (ssl_cert setting): Setting is empty")
    if not _looks_like(cert, "CERTIFICATE") and not _looks_like(cert, "TRUSTED CERTIFICATE"):
        hint = _forgot_lt_hint("ssl_cert", cert) if settings.ssl_cert_path is None else ""
        raise TlsSetupError(
            f"Can't load SSL certificate (ssl_cert setting): There is no valid PEM certificate.{hint}"
        )
    if not key.strip():
        raise TlsSetupError("Can't load SSL private key (ssl_key setting): Setting is empty")
    password_hint = (
        " (maybe ssl_key_password is wrong?)"
        if settings.ssl_key_password
        else " (maybe ssl_key_password is missing?)"
        if "ENCRYPTED" in key
        else " (maybe ssl_key_password is wrong?)"
    )
    if not _has_private_key(key):
        hint = _forgot_lt_hint("ssl_key", key) if settings.ssl_key_path is None else ""
        raise TlsSetupError(
            f"Couldn't parse private SSL key (ssl_key setting){password_hint}: "
            "error:1E08010C:DECODER routines::unsupported: No supported data to decode. "
            f"Input type: PEM{hint}"
        )

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _PROTOCOLS.get(settings.ssl_min_protocol, ssl.TLSVersion.TLSv1_2)
    if ctx.minimum_version < ssl.TLSVersion.TLSv1_2:
        # OpenSSL's default security level refuses TLS < 1.2 handshakes outright.
        with contextlib.suppress(ssl.SSLError):
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if settings.ssl_cipher_list:
        # Best effort: keep OpenSSL's defaults rather than refuse to start.
        with contextlib.suppress(ssl.SSLError):
            ctx.set_ciphers(settings.ssl_cipher_list)
    if settings.ssl_prefer_server_ciphers:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE

    # load_cert_chain only reads files: a private directory that lives for one call.
    with tempfile.TemporaryDirectory(prefix="labsim-tls-") as tmp:
        os.chmod(tmp, 0o700)
        cert_file = _write_private(tmp, cert)
        key_file = _write_private(tmp, key)
        try:
            ctx.load_cert_chain(cert_file, key_file, password=settings.ssl_key_password or None)
        except ssl.SSLError as exc:
            reason = str(getattr(exc, "reason", "") or "")
            if "KEY_VALUES_MISMATCH" in reason or "key values mismatch" in str(exc):
                raise TlsSetupError(
                    "Can't load SSL private key (ssl_key setting): Key is for a different cert than ssl_cert"
                ) from exc
            if "PEM" in reason and "CERT" in reason.upper() and "KEY" not in reason.upper():
                raise TlsSetupError(
                    "Can't load SSL certificate (ssl_cert setting): There is no valid PEM certificate."
                ) from exc
            raise TlsSetupError(
                f"Couldn't parse private SSL key (ssl_key setting){password_hint}: {exc.reason or exc}"
            ) from exc
        except (OSError, ValueError) as exc:
            raise TlsSetupError(f"Couldn't parse private SSL key (ssl_key setting): {exc}") from exc
    return ctx


def setup(settings: DovecotSettings) -> TlsSetup:
    mode = settings.ssl.strip().lower()
    if mode == "no":
        return TlsSetup(enabled=False, required=False)
    result = TlsSetup(enabled=True, required=mode == "required")
    try:
        result.context = build_context(settings)
    except TlsSetupError as exc:
        result.error = str(exc)
    return result
