"""The settings Dovecot 2.3.19 knows: names, types, defaults, and the keys of
each kind of section.

Top-level names and defaults come from the recorded `doveconf -a` output
(defaults_data); types are read off the default's shape, with the
exceptions listed here by hand where a default of `0` or `` hides the type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from labsim.mailserver.config.defaults_data import DEFAULTS_TEXT

# Types: "str", "bool", "uint", "size", "time", "port", "octal", "enum:a:b:c"
_SIZE_ZERO = {"auth_cache_size", "mbox_min_index_size", "imapc_max_line_length", "submission_max_mail_size"}
_TIME_ZERO = {
    "imap_hibernate_timeout",
    "login_proxy_max_disconnect_delay",
    "mail_max_lock_timeout",
    "mdbox_rotate_interval",
}
_PORTS = {
    "doveadm_port",
    "imap_urlauth_port",
    "imapc_port",
    "pop3c_port",
    "replicator_port",
    "submission_relay_port",
}
_ENUMS = {
    "ssl": ("no", "yes", "required"),
    "mail_fsync": ("optimized", "always", "never"),
    "lock_method": ("fcntl", "flock", "dotlock"),
    "imap_fetch_failure": ("disconnect-immediately", "disconnect-after", "no-after"),
    "pop3_delete_type": ("default", "flag", "expunge"),
    "doveadm_ssl": ("no", "ssl", "starttls"),
    "lmtp_hdr_delivery_address": ("final", "none", "original"),
    "submission_relay_ssl": ("no", "smtps", "starttls"),
    "imapc_ssl": ("no", "imaps", "starttls"),
    "pop3c_ssl": ("no", "pop3s", "starttls"),
}


# Defaults that look like another type but are free text.
_STRINGS = {"auth_verbose_passwords"}  # no | plain | sha1, with an optional :N


def _infer(name: str, default: str) -> str:
    if name in _STRINGS:
        return "str"
    if name in _ENUMS:
        return "enum:" + ":".join(_ENUMS[name])
    if name in _SIZE_ZERO:
        return "size"
    if name in _TIME_ZERO:
        return "time"
    if name in _PORTS:
        return "port"
    if default in ("yes", "no"):
        return "bool"
    parts = default.split(" ")
    if len(parts) == 2 and parts[0].isdigit():
        if parts[1] in ("B", "k", "M", "G", "T"):
            return "size"
        if parts[1] in ("secs", "mins", "hours", "days", "weeks"):
            return "time"
    if default.isdigit():
        return "uint"
    return "str"


@dataclass
class SectionDefaults:
    kind: str
    name: str
    settings: dict[str, str] = field(default_factory=dict)
    children: list[SectionDefaults] = field(default_factory=list)


@dataclass
class Defaults:
    settings: dict[str, str]  # top-level name -> default as doveconf prints it
    services: dict[str, SectionDefaults]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


@cache
def defaults() -> Defaults:
    top: dict[str, str] = {}
    services: dict[str, SectionDefaults] = {}
    stack: list[SectionDefaults] = []
    for raw in DEFAULTS_TEXT.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.endswith("{"):
            kind, _, name = line[:-1].strip().partition(" ")
            section = SectionDefaults(kind, name)
            if stack:
                stack[-1].children.append(section)
            else:
                services[name] = section
            stack.append(section)
        elif line == "}":
            stack.pop()
        else:
            key, _, value = raw.strip().partition(" = ")
            key = key.rstrip(" =")
            value = _unquote(value)
            if stack:
                stack[-1].settings[key] = value
            else:
                top[key] = value
    return Defaults(top, services)


@cache
def top_types() -> dict[str, str]:
    return {name: _infer(name, default) for name, default in defaults().settings.items()}


SERVICE_TYPES = {
    "chroot": "str",
    "client_limit": "uint",
    "drop_priv_before_exec": "bool",
    "executable": "str",
    "extra_groups": "str",
    "group": "str",
    "idle_kill": "time",
    "privileged_group": "str",
    "process_limit": "uint",
    "process_min_avail": "uint",
    "protocol": "str",
    "service_count": "uint",
    "type": "str",
    "user": "str",
    "vsz_limit": "size",
}
INET_LISTENER_TYPES = {
    "address": "str",
    "haproxy": "bool",
    "port": "port",
    "reuse_port": "bool",
    "ssl": "bool",
}
UNIX_LISTENER_TYPES = {"group": "str", "mode": "octal", "user": "str"}
AUTHDB_COMMON = {
    "driver": "str",
    "args": "str",
    "default_fields": "str",
    "override_fields": "str",
    "skip": "enum:never:authenticated:unauthenticated",
    "result_success": "enum:return-ok:return:return-fail:continue:continue-ok:continue-fail",
    "result_failure": "enum:continue:return:return-ok:return-fail:continue-ok:continue-fail",
    "result_internalfail": "enum:continue:return:return-ok:return-fail:continue-ok:continue-fail",
    "auth_verbose": "enum:default:yes:no",
    "name": "str",
}
PASSDB_TYPES = {
    **AUTHDB_COMMON,
    "deny": "bool",
    "pass": "bool",
    "master": "bool",
    "mechanisms": "str",
    "username_filter": "str",
}
USERDB_TYPES = dict(AUTHDB_COMMON)
NAMESPACE_TYPES = {
    "name": "str",
    "type": "enum:private:shared:public",
    "separator": "str",
    "prefix": "str",
    "location": "str",
    "inbox": "bool",
    "hidden": "bool",
    "list": "enum:yes:no:children",
    "subscriptions": "bool",
    "ignore_on_failure": "bool",
    "disabled": "bool",
    "alias_for": "str",
    "order": "uint",
}
MAILBOX_TYPES = {
    "name": "str",
    "auto": "enum:no:create:subscribe",
    "special_use": "str",
    "driver": "str",
    "comment": "str",
    "autoexpunge": "time",
    "autoexpunge_max_mails": "uint",
}


@dataclass(frozen=True)
class SectionKind:
    """What may appear inside one kind of section."""

    types: dict[str, str] | None  # None: any key is accepted as a string (plugin { })
    children: tuple[str, ...] = ()
    merge_unnamed: bool = False  # `plugin { }` twice is one section; `passdb { }` twice is two


SECTION_KINDS: dict[str, SectionKind] = {
    "service": SectionKind(SERVICE_TYPES, ("inet_listener", "unix_listener", "fifo_listener")),
    "inet_listener": SectionKind(INET_LISTENER_TYPES),
    "unix_listener": SectionKind(UNIX_LISTENER_TYPES),
    "fifo_listener": SectionKind(UNIX_LISTENER_TYPES),
    "passdb": SectionKind(PASSDB_TYPES),
    "userdb": SectionKind(USERDB_TYPES),
    "namespace": SectionKind(NAMESPACE_TYPES, ("mailbox",)),
    "mailbox": SectionKind(MAILBOX_TYPES),
    "plugin": SectionKind(None, (), merge_unnamed=True),
    "dict": SectionKind(None, (), merge_unnamed=True),
    "dict_server": SectionKind(None, (), merge_unnamed=True),
}
TOP_SECTIONS = ("service", "passdb", "userdb", "namespace", "plugin", "dict")
FILTER_KINDS = ("protocol", "local", "remote", "local_name")

# Names that only Dovecot 2.4 (or 1.x) knows, with the 2.3 way to say it.
FOREIGN_SETTINGS: dict[str, str] = {
    "dovecot_config_version": "this is a Dovecot 2.4 setting; 2.3 has no config version line, remove it",
    "dovecot_storage_version": "this is a Dovecot 2.4 setting; 2.3 has no storage version line, remove it",
    "mail_driver": "this is a Dovecot 2.4 setting; 2.3 uses mail_location = DRIVER:PATH",
    "mail_path": "this is a Dovecot 2.4 setting; 2.3 uses mail_location = DRIVER:PATH",
    "mail_inbox_path": "this is a Dovecot 2.4 setting; 2.3 uses mail_location = ...:INBOX=/path",
    "ssl_server_cert_file": "this is a Dovecot 2.4 setting; 2.3 uses ssl_cert = </path",
    "ssl_server_key_file": "this is a Dovecot 2.4 setting; 2.3 uses ssl_key = </path",
    "ssl_server_ca_file": "this is a Dovecot 2.4 setting; 2.3 uses ssl_ca = </path",
    "ssl_server_dh_file": "this is a Dovecot 2.4 setting; 2.3 uses ssl_dh = </path",
    "ssl_server_key_password": "this is a Dovecot 2.4 setting; 2.3 uses ssl_key_password",
    "ssl_server_prefer_ciphers": "this is a Dovecot 2.4 setting; 2.3 uses ssl_prefer_server_ciphers",
    "auth_allow_cleartext": "this is a Dovecot 2.4 setting; 2.3 uses disable_plaintext_auth (inverted)",
    "passdb_driver": "this is a Dovecot 2.4 setting; 2.3 uses driver inside passdb { }",
    "userdb_driver": "this is a Dovecot 2.4 setting; 2.3 uses driver inside userdb { }",
    "passwd_file_path": "this is a Dovecot 2.4 setting; 2.3 uses args inside passdb { driver = passwd-file }",
    "default_mail_env": "this is a Dovecot 1.0 setting; 2.3 uses mail_location",
    "mail_plugins_dir": "this is a Dovecot 1.x setting; 2.3 uses mail_plugin_dir",
}

# What `doveconf -a` shows inside each kind of section when nothing was set.
SECTION_DEFAULTS: dict[str, dict[str, str]] = {
    "service": {
        "chroot": "",
        "client_limit": "0",
        "drop_priv_before_exec": "no",
        "executable": "",
        "extra_groups": "",
        "group": "",
        "idle_kill": "0",
        "privileged_group": "",
        "process_limit": "0",
        "process_min_avail": "0",
        "protocol": "",
        "service_count": "0",
        "type": "",
        "user": "",
        "vsz_limit": "18446744073709551615 B",
    },
    "inet_listener": {"address": "", "haproxy": "no", "port": "0", "reuse_port": "no", "ssl": "no"},
    "unix_listener": {"group": "", "mode": "0600", "user": ""},
    "fifo_listener": {"group": "", "mode": "0600", "user": ""},
    "namespace": {
        "disabled": "no",
        "hidden": "no",
        "ignore_on_failure": "no",
        "inbox": "no",
        "list": "yes",
        "location": "",
        "order": "0",
        "prefix": "",
        "separator": "",
        "subscriptions": "yes",
        "type": "private",
    },
    "mailbox": {
        "auto": "no",
        "autoexpunge": "0",
        "autoexpunge_max_mails": "0",
        "comment": "",
        "driver": "",
        "special_use": "",
    },
    "passdb": {
        "args": "",
        "auth_verbose": "default",
        "default_fields": "",
        "deny": "no",
        "driver": "",
        "master": "no",
        "mechanisms": "",
        "name": "",
        "override_fields": "",
        "pass": "no",
        "result_failure": "continue",
        "result_internalfail": "continue",
        "result_success": "return-ok",
        "skip": "never",
        "username_filter": "",
    },
    "userdb": {
        "args": "",
        "auth_verbose": "default",
        "default_fields": "",
        "driver": "",
        "name": "",
        "override_fields": "",
        "result_failure": "continue",
        "result_internalfail": "continue",
        "result_success": "return-ok",
        "skip": "never",
    },
}
