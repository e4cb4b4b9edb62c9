"""Every class of configuration error, worded as doveconf words it."""

from __future__ import annotations

import pytest

from labsim.mailserver.config.errors import ConfigError

MAIN = "/etc/dovecot/dovecot.conf"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("# c\nprotocols = imap\nmail_locaton = x\n", 3, "Unknown setting: mail_locaton"),
        ("disable_plaintext_auth = perhaps\n", 1, "Invalid boolean value: perhaps (use yes or no)"),
        ("auth_debug = true\n", 1, "Invalid boolean value: true (use yes or no)"),
        ("ssl = maybe\n", 1, "Invalid value: maybe"),
        ("first_valid_uid = abc\n", 1, "Invalid number abc: Not a valid number"),
        ("first_valid_uid = 0x10\n", 1, "Invalid number 0x10: Not a valid number"),
        ("first_valid_uid = -5\n", 1, "Invalid number -5: Number too small"),
        ("first_valid_uid = 4294967296\n", 1, "Invalid number 4294967296: Number too large"),
        ("mbox_min_index_size = 10Q\n", 1, "Invalid size: 10Q"),
        ("mbox_min_index_size = 1.5k\n", 1, "Invalid size: 1.5k"),
        ("auth_failure_delay = 2 fortnights\n", 1, "Invalid time interval: 2 fortnights"),
        ("auth_failure_delay = 2\n", 1, "Time interval '2' is missing units (add e.g. 's' for seconds)"),
        ("auth_failure_delay = 1500 ms\n", 1, "Milliseconds not supported for this setting: 1500 ms"),
        ("auth_failure_delay = 99999999999999s\n", 1, "Time interval is too large: 99999999999999s"),
        ("}\n", 1, "Unexpected '}'"),
        ("service imap-login {\n}\n}\n", 3, "Unexpected '}'"),
        ("login_greeting\n", 1, "Expecting '{'"),
        ("service imap-login\n{\n}\n", 1, "Expecting '{'"),
        ("= x\n", 1, "Missing key name ('=' at the beginning of line)"),
        ("service imap-login { }\n", 1, "Garbage after '{'"),
        ("foo {\n}\n", 1, "Unknown setting: foo { foo"),
        ("service imap-login {\n  foo bar {\n  }\n}\n", 2, "Unknown setting: service { foo { foo"),
        ("service imap-login {\n  bogus = 1\n}\n", 2, "Unknown setting: service { bogus"),
        (
            "service imap-login {\n  inet_listener imap {\n    bogus = 1\n  }\n}\n",
            3,
            "Unknown setting: service { inet_listener { bogus",
        ),
        (
            "service imap-login {\n  inet_listener imap {\n    port = 70000\n  }\n}\n",
            3,
            "Invalid port number 70000",
        ),
        ("passdb {\n  bogus = x\n}\n", 2, "Unknown setting: passdb { bogus"),
        ("protocol imap {\n  bogus = 1\n}\n", 2, "Unknown setting: bogus"),
        (
            "remote 10.0.0.0/8 {\n  auth_verbose = yes\n}\n",
            2,
            "Auth settings not supported inside local/remote blocks: auth_verbose",
        ),
        ("!include nothere.conf\n", 1, "No matches"),
        ("!include conf.d/*.conf\n", 1, "No matches"),
        ("!include /etc/dovecot/dovecot.conf\n", 1, "Recursive include file: /etc/dovecot/dovecot.conf"),
        (
            "ssl_server_cert_file = /etc/ssl/certs/dovecot.pem\n",
            1,
            "Unknown setting: ssl_server_cert_file "
            "(this is a Dovecot 2.4 setting; 2.3 uses ssl_cert = </path)",
        ),
        (
            "mail_driver = maildir\n",
            1,
            "Unknown setting: mail_driver "
            "(this is a Dovecot 2.4 setting; 2.3 uses mail_location = DRIVER:PATH)",
        ),
        (
            "dovecot_config_version = 2.4.0\n",
            1,
            "Unknown setting: dovecot_config_version (this is a Dovecot 2.4 "
            "setting; 2.3 has no config version line, remove it)",
        ),
        (
            "default_mail_env = maildir:~/Maildir\n",
            1,
            "Unknown setting: default_mail_env (this is a Dovecot 1.0 setting; 2.3 uses mail_location)",
        ),
        ("mail_extra_groups = mail\n", 1, "Unknown setting: mail_extra_groups"),
        ("ssl_disable = perhaps\n", 1, "Invalid value: perhaps"),
    ],
)
def test_line_errors(lab, text: str, line: int, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        lab.load(text)
    exc = info.value
    assert (exc.reason, exc.path, exc.line) == (reason, MAIN, line)
    assert exc.fatal_line() == f"doveconf: Fatal: Error in configuration file {MAIN} line {line}: {reason}"


def test_the_design_example_reads_exactly(lab) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        lab.load("protocols = imap pop3\nlisten = *\nmail_locaton = maildir:~/Maildir\n")
    assert info.value.fatal_line() == (
        "doveconf: Fatal: Error in configuration file /etc/dovecot/dovecot.conf line 3: "
        "Unknown setting: mail_locaton"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("service imap-login {\n", "Missing '}' (section started at /etc/dovecot/dovecot.conf:1)"),
        ("passdb {\n  args = x\n}\n", "passdb is missing driver"),
        ("userdb {\n}\n", "userdb is missing driver"),
        ("passdb pam {\n}\n", "passdb is missing driver"),
        ("service {\n}\n", "Service #30 is missing name"),
    ],
)
def test_whole_file_errors(lab, text: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        lab.load(text)
    assert (info.value.reason, info.value.path, info.value.line) == (reason, MAIN, None)
    assert str(info.value) == f"Error in configuration file {MAIN}: {reason}"


def test_error_in_an_included_file_names_that_file(lab) -> None:  # type: ignore[no-untyped-def]
    lab.write(
        "/etc/dovecot/conf.d/10-mail.conf", "# mail\n\nmail_location = maildir:~/Maildir\nmail_locaton = x\n"
    )
    with pytest.raises(ConfigError) as info:
        lab.load("!include conf.d/*.conf\n")
    assert (info.value.path, info.value.line) == ("/etc/dovecot/conf.d/10-mail.conf", 4)


def test_missing_main_file(lab) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        lab.load()
    assert (
        info.value.fatal_line()
        == "doveconf: Fatal: open(/etc/dovecot/dovecot.conf) failed: No such file or directory"
    )


def test_missing_file_behind_lt(lab) -> None:  # type: ignore[no-untyped-def]
    text = "ssl = yes\nssl_cert = </etc/ssl/certs/dovecot.pem\nssl_key = </etc/ssl/private/dovecot.pem\n"
    with pytest.raises(ConfigError) as info:
        lab.load(text)
    assert str(info.value) == (
        "Error in configuration file /etc/dovecot/dovecot.conf line 2: "
        "ssl_cert: Can't open file /etc/ssl/certs/dovecot.pem: No such file or directory"
    )
    # doveconf -n does not read the files, so it does not complain.
    assert lab.load(read_files=False).value("ssl_cert") == "</etc/ssl/certs/dovecot.pem"


def test_relative_lt_file_is_named_from_the_config_dir(lab) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        lab.load("ssl_dh = <./dh.pem\n")
    assert info.value.reason == "ssl_dh: Can't open file /etc/dovecot/./dh.pem: No such file or directory"
    with pytest.raises(ConfigError) as info:
        lab.load("ssl_dh = <\n")
    assert info.value.reason == "ssl_dh: read(/etc/dovecot/) failed: Is a directory"
