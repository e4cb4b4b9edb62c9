"""Random and hostile input: only ConfigError ever leaves the loader, and quickly."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labsim.mailserver.config.dovecot import load
from labsim.mailserver.config.errors import ConfigError
from labsim.mailserver.labroot import LabRoot

TOKENS = [
    "{",
    "}",
    "=",
    " ",
    "\n",
    "\t",
    "#",
    '"',
    "'",
    "\\",
    "<",
    "$",
    "!include ",
    "!include_try ",
    "*.conf",
    "conf.d/",
    "/etc/dovecot/dovecot.conf",
    "service",
    "imap-login",
    "inet_listener",
    "imap",
    "port",
    "ssl",
    "yes",
    "protocol",
    "local",
    "passdb",
    "userdb",
    "driver",
    "pam",
    "auth",
    "default",
    "mechanisms",
    "protocols",
    "imaps",
    "mail_plugins",
    "$mail_plugins",
    "auth_failure_delay",
    "10M",
    "2 secs",
    "namespace",
    "mailbox",
    "plugin",
    "ssl_cert_file",
    "listen",
    "*:143",
    "\x00",
    "é",
]

text_strategy = st.one_of(
    st.text(max_size=400),
    st.lists(st.sampled_from(TOKENS), max_size=80).map("".join),
)


def _exercise(root: LabRoot) -> None:
    try:
        config = load(root)
    except ConfigError as exc:
        assert exc.fatal_line().startswith("doveconf: Fatal: ")
        return
    for proto in (None, "imap", "pop3"):
        config.settings(proto)
    config.dump_nondefault()
    config.dump_all()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(main=text_strategy, included=text_strategy)
def test_random_config_only_raises_config_error(tmp_path: Path, main: str, included: str) -> None:
    etc = tmp_path / "etc" / "dovecot"
    (etc / "conf.d").mkdir(parents=True, exist_ok=True)
    (etc / "dovecot.conf").write_text(main, errors="surrogateescape")
    (etc / "conf.d" / "10-x.conf").write_text(included, errors="surrogateescape")
    started = time.monotonic()
    _exercise(LabRoot(tmp_path))
    assert time.monotonic() - started < 2.0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    etc = tmp_path / "etc" / "dovecot"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "dovecot.conf").write_bytes(data)
    _exercise(LabRoot(tmp_path))


def test_self_including_glob_stops(tmp_path: Path) -> None:
    etc = tmp_path / "etc" / "dovecot"
    etc.mkdir(parents=True)
    (etc / "dovecot.conf").write_text("!include *.conf\n")
    try:
        load(LabRoot(tmp_path))
    except ConfigError as exc:
        assert exc.reason == "Recursive include file: /etc/dovecot/dovecot.conf"
    else:
        raise AssertionError("a file including itself must fail")


def test_include_cannot_escape_the_lab_root(tmp_path: Path) -> None:
    (tmp_path / "lab" / "etc" / "dovecot").mkdir(parents=True)
    (tmp_path / "outside.conf").write_text("mail_locaton = x\n")
    (tmp_path / "lab" / "etc" / "dovecot" / "dovecot.conf").write_text("!include ../../../outside.conf\n")
    try:
        load(LabRoot(tmp_path / "lab"))
    except ConfigError as exc:
        assert exc.reason == "No matches"
    else:
        raise AssertionError("the include should not have been found")


def test_nul_bytes_in_file_names(tmp_path: Path) -> None:
    etc = tmp_path / "etc" / "dovecot"
    etc.mkdir(parents=True)
    for text, reason in [
        ("ssl_cert = <a\x00b\n", "ssl_cert: Can't open file /etc/dovecot/a\x00b: No such file or directory"),
        ("!include a\x00b\n", "No matches"),
    ]:
        (etc / "dovecot.conf").write_text(text)
        try:
            load(LabRoot(tmp_path))
        except ConfigError as exc:
            assert exc.reason == reason
        else:
            raise AssertionError(text)
