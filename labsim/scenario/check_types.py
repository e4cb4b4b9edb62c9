"""The check types a scenario may use, and the parameters each one takes.

This is the contract between scenario authors and the checkers: the loader
validates every check's `params` against these declarations, so a typo in a
scenario is caught by `labsim validate`, not by a learner mid-lab.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# str: text; int: whole number; number: int or float; bool: true/false;
# strs: one string or a list of strings; mode: an octal file mode (0600, "0600", 600);
# map: a mapping whose keys are declared in `fields`; int_or_str: a number or a text.
ParamKind = Literal["str", "int", "number", "bool", "strs", "mode", "map", "int_or_str", "str_list"]

KIND_NAMES: dict[str, str] = {
    "str": "a string",
    "int": "an integer",
    "number": "a number",
    "bool": "true or false",
    "strs": "a string or a list of strings",
    "str_list": "a list of strings",
    "mode": "an octal file mode such as 0600",
    "map": "a mapping",
    "int_or_str": "an integer or a string",
}


@dataclass(frozen=True)
class ParamDecl:
    name: str
    kind: ParamKind
    required: bool = False
    allowed: tuple[str, ...] = ()  # for str params: the only values accepted (compared case-sensitively)
    description: str = ""
    fields: tuple[ParamDecl, ...] = ()  # for kind "map"


@dataclass(frozen=True)
class CheckType:
    name: str
    description: str
    params: tuple[ParamDecl, ...]
    # Groups of parameter names of which exactly one must be given (e.g. argv or shell).
    exactly_one_of: tuple[tuple[str, ...], ...] = ()
    # Groups of which at least one must be given (e.g. exists, mode, owner or contains).
    at_least_one_of: tuple[tuple[str, ...], ...] = ()
    # (param, value, needed): when `param` is given with `value` (None: with any value),
    # the parameters in `needed` must be given too (e.g. after_login needs user and password).
    needs_when: tuple[tuple[str, str | bool | None, tuple[str, ...]], ...] = ()

    def param(self, name: str) -> ParamDecl | None:
        for decl in self.params:
            if decl.name == name:
                return decl
        return None


PROTOCOLS = ("imap", "pop3")
TRANSPORTS = ("plain", "starttls", "tls")
SOURCES = ("secure", "insecure")
MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "APOP", "USER")

_USER = ParamDecl("user", "str", required=True, description="the login name")
_PASSWORD = ParamDecl("password", "str", required=True, description="the password")
_TRANSPORT = ParamDecl(
    "transport",
    "str",
    allowed=TRANSPORTS,
    description="plain: no TLS; starttls: STARTTLS/STLS first; tls: implicit TLS (imaps/pop3s)",
)
_SOURCE = ParamDecl(
    "source",
    "str",
    allowed=SOURCES,
    description="secure: connect from 127.0.0.1 to itself; insecure: from 127.0.0.2 "
    "(Dovecot treats local IP == remote IP as secure)",
)
_PORT = ParamDecl("port", "int", description="the well-known port; default from protocol and transport")
_TIMEOUT = ParamDecl("timeout", "number", description="seconds before the check fails; default 10")


def _login(protocol: str, mechanisms: tuple[str, ...]) -> CheckType:
    return CheckType(
        name=f"{protocol}_login",
        description=f"log in over {protocol.upper()} and expect success or a specific refusal",
        params=(
            _USER,
            _PASSWORD,
            ParamDecl("mechanism", "str", allowed=mechanisms, description="how to authenticate"),
            _TRANSPORT,
            _SOURCE,
            _PORT,
            ParamDecl(
                "expect",
                "str",
                description='"success" (default), "failure", or the refusal text or code the server '
                "must answer with, e.g. PRIVACYREQUIRED",
            ),
            _TIMEOUT,
        ),
    )


CHECK_TYPES: dict[str, CheckType] = {
    t.name: t
    for t in (
        _login("imap", ("PLAIN", "LOGIN", "CRAM-MD5")),
        _login("pop3", ("USER", "PLAIN", "LOGIN", "CRAM-MD5", "APOP")),
        CheckType(
            name="capability",
            description="the capabilities a server announces contain or lack given items",
            params=(
                ParamDecl("protocol", "str", required=True, allowed=PROTOCOLS),
                ParamDecl("contains", "strs", description="items that must be announced"),
                ParamDecl("lacks", "strs", description="items that must not be announced"),
                _TRANSPORT,
                _SOURCE,
                _PORT,
                ParamDecl("after_login", "bool", description="ask again after logging in"),
                ParamDecl("user", "str", description="for after_login"),
                ParamDecl("password", "str", description="for after_login"),
                _TIMEOUT,
            ),
            at_least_one_of=(("contains", "lacks"),),
            needs_when=(("after_login", True, ("user", "password")),),
        ),
        CheckType(
            name="mailbox_count",
            description="the number of messages a user sees in a folder",
            params=(
                _USER,
                _PASSWORD,
                ParamDecl("folder", "str", description="default INBOX"),
                ParamDecl("count", "int", required=True),
                ParamDecl("protocol", "str", allowed=PROTOCOLS, description="default imap"),
                _TRANSPORT,
                _PORT,
                _TIMEOUT,
            ),
        ),
        CheckType(
            name="pop3_sizes",
            description="POP3 LIST sizes equal each message's size with CRLF line ends",
            params=(_USER, _PASSWORD, _TRANSPORT, _PORT, _TIMEOUT),
        ),
        CheckType(
            name="tls_certificate",
            description="the certificate a TLS port serves: subject, key, validity, key file mode",
            params=(
                ParamDecl("port", "int", description="a TLS port, e.g. 993"),
                ParamDecl("service", "str", allowed=("imaps", "pop3s", "imap", "pop3")),
                ParamDecl("subject_cn", "str", description="the subject's common name"),
                ParamDecl("matches_key", "bool", description="the served cert matches key_path"),
                ParamDecl("key_path", "str", description="lab path of the private key"),
                ParamDecl("key_mode", "mode", description="the key file's mode, e.g. 0600"),
                ParamDecl("valid_days_min", "int", description="valid for at least this many days"),
                _TIMEOUT,
            ),
            exactly_one_of=(("port", "service"),),
            needs_when=(("matches_key", True, ("key_path",)), ("key_mode", None, ("key_path",))),
        ),
        CheckType(
            name="setting",
            description="a setting's effective value, as doveconf reports it or as a Courier file sets it",
            params=(
                ParamDecl("name", "str", required=True),
                ParamDecl("value", "int_or_str", required=True),
                ParamDecl("source", "str", allowed=("doveconf", "courier")),
                ParamDecl("file", "str", description="the Courier file, e.g. /etc/courier/imapd"),
                ParamDecl(
                    "match",
                    "str",
                    allowed=("exact", "any_order", "includes"),
                    description="exact (default), any_order (same words), includes (these among others)",
                ),
            ),
            needs_when=(("source", "courier", ("file",)),),
        ),
        CheckType(
            name="file",
            description="a file in the lab: existence, mode, owner, content",
            params=(
                ParamDecl("path", "str", required=True),
                ParamDecl("exists", "bool"),
                ParamDecl("mode", "mode"),
                ParamDecl("owner", "str", description="user or user:group"),
                ParamDecl("contains", "strs"),
                ParamDecl("not_contains", "strs"),
            ),
            at_least_one_of=(("exists", "mode", "owner", "contains", "not_contains"),),
        ),
        CheckType(
            name="command",
            description="run a command in the lab and check its exit code and output",
            params=(
                ParamDecl("argv", "str_list"),
                ParamDecl("shell", "str"),
                ParamDecl("exit_code", "int", description="default 0"),
                ParamDecl("output_contains", "strs"),
                ParamDecl("output_not_contains", "strs"),
                ParamDecl("output_matches", "str", description="a Python regular expression"),
                ParamDecl(
                    "shows",
                    "str",
                    description="what passing looks like, in words; messages say it, not the raw tests",
                ),
                _TIMEOUT,
            ),
            exactly_one_of=(("argv", "shell"),),
        ),
        CheckType(
            name="delivery",
            description="a message sent to an address lands in a given user's folder, or bounces",
            params=(
                ParamDecl(
                    "address", "str", required=True, description="the recipient, e.g. root or root@mail"
                ),
                ParamDecl(
                    "sender", "str", description="the envelope sender; default labsim-check@example.org"
                ),
                ParamDecl(
                    "lands_in",
                    "map",
                    description="where the message must arrive (with expect: bounced, where it must not)",
                    fields=(
                        ParamDecl("user", "str", required=True),
                        ParamDecl("folder", "str", description="default INBOX"),
                    ),
                ),
                ParamDecl(
                    "expect",
                    "str",
                    allowed=("delivered", "bounced"),
                    description="delivered (default): found in lands_in; bounced: refused by the server",
                ),
                _TIMEOUT,
            ),
            at_least_one_of=(("lands_in", "expect"),),
            needs_when=(("expect", "delivered", ("lands_in",)),),
        ),
    )
}
