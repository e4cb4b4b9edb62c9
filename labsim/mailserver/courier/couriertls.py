"""couriertls as the daemons use it: the certificate is read for each TLS connection.

Real couriertls is a program started per connection (by couriertcpd for imapd-ssl
and pop3d-ssl, by imapd/pop3d at STARTTLS/STLS) and reads TLS_CERTFILE each time:
a certificate made with mkimapdcert while the daemon runs counts for the next
connection, no restart needed. Building an SSLContext per connection would be
wasteful, so we keep the last one and rebuild it only when the file's (mtime,
size, inode) changed, or when the last attempt failed.

What couriertls says when it cannot (observed on Debian 12): a missing
certificate is named three times, then the handshake gives up, each line after
the client's address; a file that holds no usable certificate only gets the last line.
"""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import dataclass, field

from labsim.mailserver.labroot import LabRoot

_TLS_VERSIONS = {
    "SSL3": ssl.TLSVersion.TLSv1,
    "TLS1": ssl.TLSVersion.TLSv1,
    "TLSV1": ssl.TLSVersion.TLSv1,
    "TLSV1.1": ssl.TLSVersion.TLSv1_1,
    "TLSV1.2": ssl.TLSVersion.TLSv1_2,
    "TLSV1.3": ssl.TLSVersion.TLSv1_3,
}
NO_CIPHERS = "No supported cipher suites have been found."
Stamp = tuple[int, int, int]


@dataclass
class TlsAttempt:
    """A context, or the lines couriertls logs (each after `ip=[...], `) when there is none."""

    context: ssl.SSLContext | None
    errors: list[str] = field(default_factory=list)


def build(root: LabRoot, certfile: str, protocol: str) -> TlsAttempt:
    """The server context from TLS_CERTFILE (certificate and key in one PEM)."""
    if not certfile:
        return TlsAttempt(None, [NO_CIPHERS])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    proto = protocol.strip().upper().rstrip("+")
    if proto in _TLS_VERSIONS:
        with contextlib.suppress(ValueError, ssl.SSLError):
            ctx.minimum_version = _TLS_VERSIONS[proto]
    try:
        ctx.load_cert_chain(str(root.path(certfile)))
    except FileNotFoundError:
        return TlsAttempt(None, [f"couriertls: {certfile}: No such file or directory"] * 3 + [NO_CIPHERS])
    except PermissionError:
        return TlsAttempt(None, [f"couriertls: {certfile}: Permission denied"] * 3 + [NO_CIPHERS])
    except (ssl.SSLError, OSError, ValueError):
        return TlsAttempt(None, [NO_CIPHERS])
    return TlsAttempt(ctx)


class CertificateReader:
    """One daemon's TLS_CERTFILE, read afresh whenever it may have changed."""

    def __init__(self, root: LabRoot, certfile: str, protocol: str) -> None:
        self.root = root
        self.certfile = certfile
        self.protocol = protocol
        self._stamp: Stamp | None = None
        self._last: TlsAttempt | None = None
        self.builds = 0  # how many contexts were built (tests check that the cache holds)

    def _stat(self) -> Stamp | None:
        if not self.certfile:
            return None
        try:
            st = self.root.path(self.certfile).stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> TlsAttempt:
        """What couriertls would get for a connection starting now."""
        stamp = self._stat()
        last = self._last
        if last is not None and last.context is not None and stamp is not None and stamp == self._stamp:
            return last
        self.builds += 1
        self._last = build(self.root, self.certfile, self.protocol)
        self._stamp = stamp
        return self._last
