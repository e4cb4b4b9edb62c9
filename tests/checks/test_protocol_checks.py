"""The protocol probes against a real local lab: each must pass when it should and fail when it should."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from labsim.checks.result import CheckResult
from labsim.checks.runner import run_check
from labsim.lab.model import Lab
from labsim.scenario.model import CheckSpec


def run(lab: Lab, type_: str, points: float = 2.0, **params: Any) -> CheckResult:
    result = run_check(
        lab, CheckSpec(id="c", type=type_, points=points, description="the probe", params=params)
    )
    assert result.error is None, result.message
    assert result.check_id == "c" and result.type == type_ and result.max_points == points
    assert result.points == (points if result.passed else 0.0)
    return result


ALICE: dict[str, Any] = {"user": "alice", "password": "wonderland"}


@pytest.mark.parametrize(
    ("mechanism", "transport"),
    [
        (None, "plain"),
        ("PLAIN", "plain"),
        ("LOGIN", "plain"),
        ("CRAM-MD5", "plain"),
        (None, "tls"),
        ("PLAIN", "starttls"),
    ],
)
def test_imap_login_succeeds(probe_lab: Lab, mechanism: str | None, transport: str) -> None:
    params: dict[str, Any] = {**ALICE, "transport": transport}
    if mechanism:
        params["mechanism"] = mechanism
    result = run(probe_lab, "imap_login", **params)
    assert result.passed, result.message + result.transcript
    assert "OK" in result.transcript and "Logged in" in result.message
    if mechanism:
        assert f"AUTHENTICATE {mechanism}" in result.transcript
    else:
        assert 'C: a1 LOGIN "alice" "wonderland"' in result.transcript


@pytest.mark.parametrize(
    ("mechanism", "transport"),
    [
        ("USER", "plain"),
        ("PLAIN", "plain"),
        ("LOGIN", "plain"),
        ("CRAM-MD5", "plain"),
        ("APOP", "plain"),
        ("USER", "tls"),
        ("USER", "starttls"),
    ],
)
def test_pop3_login_succeeds(probe_lab: Lab, mechanism: str, transport: str) -> None:
    result = run(probe_lab, "pop3_login", **ALICE, mechanism=mechanism, transport=transport)
    assert result.passed, result.message + result.transcript
    assert 'the server accepted it: "+OK Logged in."' in result.message


def test_wrong_password_fails_and_names_the_refusal(probe_lab: Lab) -> None:
    result = run(probe_lab, "imap_login", user="alice", password="wrong")
    assert not result.passed
    assert 'the server refused it: "NO [AUTHENTICATIONFAILED] Authentication failed."' in result.message
    assert result.message.startswith(
        "the probe: not yet. Expected alice's IMAP login (the LOGIN command, without TLS) to succeed"
    )
    # Why: the server never says, the log does; the transcript carries the log's new lines.
    assert "/var/log/mail.log does" in result.message
    assert "# new lines in /var/log/mail.log" in result.transcript


def test_successful_login_answers_are_quoted_without_the_capability_list(probe_lab: Lab) -> None:
    result = run(probe_lab, "imap_login", **ALICE)
    assert result.passed and 'the server accepted it: "OK [CAPABILITY ...] Logged in"' in result.message
    assert "# new lines" not in result.transcript  # the log is added only where it explains a failure


def test_expected_refusal_passes_only_with_its_text(probe_lab: Lab) -> None:
    params: dict[str, Any] = {"user": "alice", "password": "wonderland", "source": "insecure"}
    assert run(probe_lab, "imap_login", **params, expect="PRIVACYREQUIRED").passed
    assert run(probe_lab, "imap_login", **params, expect="failure").passed
    other = run(probe_lab, "imap_login", **params, expect="AUTHENTICATIONFAILED")
    assert not other.passed and "Plaintext authentication disallowed" in other.message
    assert "while disable_plaintext_auth = yes" in other.message
    let_in = run(probe_lab, "imap_login", **{**params, "source": "secure"}, expect="PRIVACYREQUIRED")
    assert not let_in.passed and 'to be refused with "PRIVACYREQUIRED"' in let_in.message
    assert "The server let the login in." in let_in.message
    assert not run(probe_lab, "imap_login", **params).passed
    pop = run(probe_lab, "pop3_login", **params, expect="Plaintext authentication disallowed")
    assert pop.passed and "-ERR [AUTH]" in pop.message


def test_locked_account_is_refused(probe_lab: Lab) -> None:
    assert run(probe_lab, "pop3_login", user="carol", password="x", expect="failure").passed


def test_capability_contains_and_lacks(probe_lab: Lab) -> None:
    ok = run(
        probe_lab,
        "capability",
        protocol="imap",
        contains=["IMAP4rev1", "AUTH=CRAM-MD5"],
        lacks="LOGINDISABLED",
    )
    assert ok.passed, ok.message
    insecure = run(
        probe_lab,
        "capability",
        protocol="imap",
        source="insecure",
        contains=["STARTTLS", "LOGINDISABLED"],
        lacks=["AUTH=PLAIN"],
    )
    assert insecure.passed, insecure.message
    bad = run(probe_lab, "capability", protocol="imap", contains="AUTH=GSSAPI", lacks="IMAP4rev1")
    assert not bad.passed
    assert "missing AUTH=GSSAPI" in bad.message and "should not be: IMAP4rev1" in bad.message
    assert "a mechanism for each name in auth_mechanisms" in bad.message
    assert insecure.message.startswith(
        "the probe: OK. Expected IMAP's CAPABILITY (without TLS from the non-secure address 127.0.0.2) "
        "to announce STARTTLS and LOGINDISABLED and not AUTH=PLAIN. It announced: "
    )


def test_pop3_capability_words_and_lines(probe_lab: Lab) -> None:
    result = run(
        probe_lab,
        "capability",
        protocol="pop3",
        contains=["STLS", "SASL CRAM-MD5", "UIDL"],
        lacks="SASL GSSAPI",
    )
    assert result.passed, result.message
    after = run(probe_lab, "capability", protocol="pop3", after_login=True, **ALICE, lacks="STLS")
    assert after.passed, after.message


def test_mailbox_count(probe_lab: Lab) -> None:
    assert run(probe_lab, "mailbox_count", **ALICE, count=3).passed
    assert run(probe_lab, "mailbox_count", user="bob", password="builder", count=2, protocol="pop3").passed
    wrong = run(probe_lab, "mailbox_count", **ALICE, count=5)
    assert not wrong.passed
    assert "to see 5 messages in INBOX over IMAP; the server shows 3 messages." in wrong.message
    missing = run(probe_lab, "mailbox_count", **ALICE, folder="Nowhere", count=0)
    assert (
        not missing.passed
        and "EXAMINE Nowhere was answered with \"NO Mailbox doesn't exist: Nowhere" in missing.message
    )
    assert "Expected alice to see the folder Nowhere (empty)" in missing.message
    assert "where mail_location points" in missing.message


def test_pop3_sizes_compare_with_the_files(probe_lab: Lab) -> None:
    result = run(probe_lab, "pop3_sizes", user="bob", password="builder")
    assert result.passed, result.message + result.transcript
    assert "/var/mail/bob" in result.message and "counted with CRLF" in result.message


def test_tls_certificate_served_matches_its_key(probe_lab: Lab) -> None:
    key = "/etc/dovecot/private/dovecot.key"
    good = run(
        probe_lab,
        "tls_certificate",
        service="imaps",
        subject_cn="mail",
        matches_key=True,
        key_path=key,
        key_mode=0o600,
        valid_days_min=30,
    )
    assert good.passed, good.message
    assert "BEGIN CERTIFICATE" in good.transcript
    starttls = run(probe_lab, "tls_certificate", service="pop3", subject_cn="mail")
    assert starttls.passed, starttls.message


def test_tls_certificate_problems_are_named(probe_lab: Lab) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    probe_lab.write_file("/root/other.key", other, 0o644)
    result = run(
        probe_lab,
        "tls_certificate",
        port=993,
        subject_cn="mail.example.org",
        matches_key=True,
        key_path="/root/other.key",
        key_mode="0600",
    )
    assert not result.passed
    assert "the subject's CN should be mail.example.org, the name clients connect to" in result.message
    wanted = "Expected a certificate on port 993 (CN = mail.example.org, matching the key in /root/other.key"
    assert wanted in result.message
    assert "should belong to the key in /root/other.key" in result.message
    assert "should have mode 0600" in result.message


def test_tls_certificate_where_nothing_listens(probe_lab: Lab) -> None:
    result = run(probe_lab, "tls_certificate", port=2, subject_cn="mail", timeout=5)
    assert not result.passed and result.error is None
    assert "Expected a certificate on port 2 (CN = mail), but nothing listens there" in result.message
