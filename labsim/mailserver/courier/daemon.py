"""What a Courier session gets besides the shared ServerContext: its daemon's settings."""

from __future__ import annotations

from dataclasses import dataclass

from labsim.mailserver.config.courier import CourierDaemon
from labsim.mailserver.courier.couriertls import CertificateReader


@dataclass
class CourierContext:
    daemon: CourierDaemon
    # TLS_CERTFILE, read when a connection needs TLS (None: the daemon does no TLS).
    tls: CertificateReader | None = None


def courier_ip(ip: str) -> str:
    """Courier listens on IPv6 sockets: an IPv4 peer shows as ::ffff:a.b.c.d in its log lines."""
    return ip if ":" in ip else f"::ffff:{ip}"
