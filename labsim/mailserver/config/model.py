"""Typed settings the server runs on, as the Dovecot loader produces them.

Protocol code reads these, never a config file. `DovecotConfig.settings(p)`
gives the effective values for protocol p (global values with the
`protocol p { }` filter applied), as Dovecot's processes see them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class InetListener:
    name: str  # "imap", "imaps", "pop3", "pop3s", or any name a learner adds
    port: int  # the well-known port (143); the master adds --port-base
    ssl: bool = False
    address: str = ""  # empty: the global `listen`


@dataclass
class Service:
    name: str  # "imap-login", "pop3-login", "auth", ...
    listeners: dict[str, InetListener] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)


@dataclass
class AuthDb:
    """One passdb { } or userdb { } block."""

    driver: str  # pam, passwd-file, shadow, passwd, static
    args: str = ""
    default_fields: str = ""
    override_fields: str = ""
    deny: bool = False
    skip: str = "never"
    result_success: str = "return-ok"
    result_failure: str = "continue"
    result_internalfail: str = "continue"
    source: tuple[str, int] | None = None  # (lab path, line) where it was declared
    settings: dict[str, str] = field(default_factory=dict)  # every key written in the block, as written


@dataclass
class DovecotSettings:
    protocols: list[str] = field(default_factory=lambda: ["imap", "pop3", "lmtp"])
    listen: list[str] = field(default_factory=lambda: ["*", "::"])
    base_dir: str = "/var/run/dovecot/"
    ssl: str = "yes"  # no | yes | required
    ssl_cert: str = ""  # the PEM text when written `<path`, else the raw value
    ssl_cert_path: str | None = None  # the lab path after `<`
    ssl_key: str = ""
    ssl_key_path: str | None = None
    ssl_key_password: str = ""
    ssl_ca: str = ""
    ssl_min_protocol: str = "TLSv1.2"
    ssl_cipher_list: str = (
        "ALL:!kRSA:!SRP:!kDHd:!DSS:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!MD5:!PSK:!RC4:!ADH:!LOW@STRENGTH"
    )
    ssl_prefer_server_ciphers: bool = False
    verbose_ssl: bool = False
    disable_plaintext_auth: bool = True
    auth_mechanisms: list[str] = field(default_factory=lambda: ["plain"])
    auth_username_format: str = "%Lu"
    auth_default_realm: str = ""
    auth_realms: str = ""
    auth_failure_delay: float = 2.0  # seconds
    auth_verbose: bool = False
    auth_verbose_passwords: str = "no"
    auth_debug: bool = False
    auth_debug_passwords: bool = False
    passdbs: list[AuthDb] = field(default_factory=list)
    userdbs: list[AuthDb] = field(default_factory=list)
    mail_location: str = ""
    mail_debug: bool = False
    first_valid_uid: int = 500
    last_valid_uid: int = 0
    first_valid_gid: int = 1
    last_valid_gid: int = 0
    pop3_uidl_format: str = "%08Xu%08Xv"
    mbox_min_index_size: int = 0  # bytes
    login_greeting: str = "Dovecot ready."
    login_trusted_networks: str = ""
    mail_max_userip_connections: int = 10
    imap_idle_notify_interval: int = 120  # seconds
    log_path: str = "syslog"
    info_log_path: str = ""
    debug_log_path: str = ""
    services: dict[str, Service] = field(default_factory=dict)
    # `namespace { mailbox NAME { special_use = \\Sent } }`: full mailbox name (namespace
    # prefix included) -> its RFC 6154 flags, as IMAP LIST shows them.
    mailbox_special_use: dict[str, list[str]] = field(default_factory=dict)
    # Every known top-level setting as `doveconf NAME` prints it (after the protocol filter),
    # for the settings that have no typed field above.
    values: dict[str, str] = field(default_factory=dict)

    def listeners(self) -> list[tuple[str, InetListener]]:
        """(protocol, listener) for every inet listener of an enabled *-login service."""
        found: list[tuple[str, InetListener]] = []
        for proto in self.protocols:
            service = self.services.get(f"{proto}-login")
            if service is None:
                continue
            for listener in service.listeners.values():
                if listener.port > 0:
                    found.append((proto, listener))
        return found
