"""Checks against a real Courier lab explain with Courier's files and words, never Dovecot's settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from labsim.checks.result import CheckResult
from labsim.checks.runner import run_check
from labsim.lab.model import Lab, LabSpec, MailboxSpec, UserSpec
from labsim.lab.registry import LabRegistry
from labsim.scenario.model import CheckSpec
from tests.lab.conftest import new_id

# Debian's defaults: POP3AUTH="" (USER/PASS only), no imapd.pem yet, so imapd-ssl drops every client.
SERVICES = ["courier-authdaemon", "courier-imap", "courier-pop", "courier-imap-ssl"]
DOVECOT_WORDS = ("Dovecot", "doveconf", "auth_mechanisms", "disable_plaintext_auth", "mail_location")


@pytest.fixture(scope="module")
def courier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    registry = LabRegistry(tmp_path_factory.mktemp("labsim-home"))
    spec = LabSpec(
        name="courier-wording",
        users=[UserSpec("alice", "wonderland")],
        mailboxes=[MailboxSpec("alice", 1)],
        dovecot_defaults=False,
        courier_defaults=True,
        services=SERVICES,
    )
    lab = registry.create(spec, backend="local", lab_id=new_id())
    try:
        lab.start()
        yield lab
    finally:
        lab.destroy()


def run(lab: Lab, type_: str, **params: Any) -> CheckResult:
    result = run_check(lab, CheckSpec(id="c", type=type_, description="the probe", params=params))
    assert result.error is None, result.message
    assert not any(w in result.message for w in DOVECOT_WORDS), result.message
    return result


def test_missing_sasl_names_pop3auth(courier: Lab) -> None:
    capa = run(courier, "capability", protocol="pop3", contains=["SASL PLAIN"])
    assert not capa.passed and "POP3AUTH lists in /etc/courier/pop3d" in capa.message
    # As the real courierpop3login does, AUTH takes PLAIN although POP3AUTH does not announce it.
    login = run(courier, "pop3_login", user="alice", password="wonderland", mechanism="PLAIN")
    assert login.passed, login.message
    unknown = run(courier, "pop3_login", user="alice", password="wonderland", mechanism="CRAM-MD5")
    assert not unknown.passed and '"-ERR Authentication failed."' in unknown.message
    assert "the LOGIN FAILED line in /var/log/mail.log names the method" in unknown.message


def test_failed_login_points_at_the_log_and_authtest(courier: Lab) -> None:
    result = run(courier, "imap_login", user="alice", password="wrong")
    assert not result.passed and 'the server refused it: "NO Login failed."' in result.message
    assert "`authtest USER PASSWORD` shows what courier-authlib finds" in result.message


def test_starttls_without_a_certificate_is_said_as_such(courier: Lab) -> None:
    # As Debian's imapd: STARTTLS is offered without a certificate; couriertls then closes the connection.
    result = run(courier, "imap_login", user="alice", password="wonderland", transport="starttls")
    assert not result.passed
    assert "the TLS handshake with IMAP on port 143" in result.message
    assert "the server closed the connection" in result.message
    assert "couriertls reads the certificate that TLS_CERTFILE names" in result.message


def test_missing_certificate_quotes_couriertls_from_the_log(courier: Lab) -> None:
    result = run(courier, "tls_certificate", service="imaps")
    assert not result.passed
    said = "imapd-ssl: ip=[::ffff:127.0.0.1], couriertls: /etc/courier/imapd.pem: No such file"
    assert f'/var/log/mail.log says: "{said}' in result.message


def test_nothing_listening_says_where_to_look(courier: Lab) -> None:
    result = run(courier, "pop3_login", user="alice", password="wonderland", transport="tls")
    assert not result.passed and "nothing listens on POP3 on port 995" in result.message
    assert "`service --status-all` and the end of /var/log/mail.log tell which" in result.message


def test_courier_settings_and_tools_say_what_decides(courier: Lab) -> None:
    imapd = {"source": "courier", "file": "/etc/courier/imapd"}
    maxperip = run(courier, "setting", **imapd, name="MAXPERIP", value="5")
    assert not maxperip.passed and "MAXPERIP caps the connections from one IP address" in maxperip.message
    authtest = run(courier, "command", shell="authtest carol seashell", exit_code=0)
    assert not authtest.passed and "tries each module authmodulelist names" in authtest.message
    dump = run(courier, "command", shell="makealiases -dump", output_contains=["root@"])
    assert not dump.passed and "prints /etc/courier/aliases.dat, the compiled aliases" in dump.message
