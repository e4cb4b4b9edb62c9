"""A learner who edited the configuration and forgot to reload is told so beside the failed check."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsim.checks.runner import run_checks
from labsim.lab.model import Lab, LabSpec, UserSpec
from labsim.lab.registry import LabRegistry
from labsim.scenario.model import CheckSpec
from tests.lab.conftest import labsim_home, new_id, spread_port_bases  # noqa: F401  (fixtures)

WANTS_LOGIN = CheckSpec(
    id="login-offered",
    type="capability",
    description="AUTH=LOGIN offered",
    params={"contains": ["AUTH=LOGIN"]},
)


@pytest.fixture
def lab(labsim_home: Path) -> Iterator[Lab]:  # noqa: F811
    lab = LabRegistry().create(
        LabSpec(name="stale", users=[UserSpec("alice", "wonderland")]), backend="local"
    )
    try:
        assert lab.start().ok
        yield lab
    finally:
        lab.destroy()


def test_an_edit_the_server_has_not_read_is_named_until_reload(lab: Lab) -> None:
    (fresh,) = run_checks(lab, [WANTS_LOGIN])
    assert not fresh.passed and "Note:" not in fresh.message  # nothing edited yet

    conf = lab.read_file("/etc/dovecot/dovecot.conf").decode()
    lab.write_file("/etc/dovecot/dovecot.conf", conf + "auth_mechanisms = plain login\n")
    (stale,) = run_checks(lab, [WANTS_LOGIN])
    assert not stale.passed
    assert (
        "Note: /etc/dovecot/dovecot.conf changed after the server last read its configuration, so the "
        "running server does not know about it yet: `service dovecot reload` applies it."
    ) in stale.message

    assert lab.exec(["service", "dovecot", "reload"]).ok
    for _ in range(20):  # the reload is asynchronous to the command
        (after,) = run_checks(lab, [WANTS_LOGIN])
        if after.passed:
            break
        time.sleep(0.1)
    assert after.passed, after.message
    assert "Note:" not in after.message


def test_checks_that_read_files_get_no_note(lab: Lab) -> None:
    conf = lab.read_file("/etc/dovecot/dovecot.conf").decode()
    lab.write_file("/etc/dovecot/dovecot.conf", conf + "mail_location = mbox:~/mail\n")
    spec = CheckSpec(
        id="s",
        type="setting",
        description="s",
        params={"name": "mail_location", "value": "maildir:~/Maildir"},
    )
    (result,) = run_checks(lab, [spec])
    assert not result.passed and "Note:" not in result.message


def wants_login_fails_with(lab: Lab) -> str:
    (result,) = run_checks(lab, [WANTS_LOGIN])
    assert not result.passed and result.error is None, result.message
    return result.message


def test_files_dovecot_does_not_read_get_no_note(lab: Lab) -> None:
    """mkcert.sh's openssl config, a README, an editor's and dpkg's leftovers: none is in force."""
    ssl = lab.read_file("/etc/dovecot/conf.d/10-ssl.conf")
    for path, data in [
        ("/etc/dovecot/dovecot-openssl.cnf", b"[ req ]\ndefault_bits = 2048\n"),
        ("/etc/dovecot/README", b"Configuration lives in conf.d/\n"),
        ("/etc/dovecot/conf.d/10-ssl.conf~", ssl),
        ("/etc/dovecot/conf.d/.10-ssl.conf.swp", b"b0VIM 9.0"),
        ("/etc/dovecot/dovecot.conf.dpkg-old", b"protocols = imap\n"),
    ]:
        lab.write_file(path, data)
    assert "Note:" not in wants_login_fails_with(lab)
    # A file Dovecot reads is still named, alone.
    lab.write_file("/etc/dovecot/conf.d/10-ssl.conf", ssl)
    assert (
        " Note: /etc/dovecot/conf.d/10-ssl.conf changed after the server last read its configuration"
    ) in wants_login_fails_with(lab)


def test_a_certificate_written_after_the_start_is_named(lab: Lab) -> None:
    """ssl_cert = <FILE and ssl_key = <FILE are read at start and reload, wherever they are."""
    cert = lab.read_file("/etc/dovecot/private/dovecot.pem")
    key = lab.read_file("/etc/dovecot/private/dovecot.key")
    lab.write_file("/etc/ssl/certs/dovecot.pem", cert)
    lab.write_file("/etc/ssl/private/dovecot.pem", key, 0o600)
    lab.write_file(
        "/etc/dovecot/local.conf",
        "ssl_cert = </etc/ssl/certs/dovecot.pem\nssl_key = </etc/ssl/private/dovecot.pem  # mkcert.sh's\n",
    )
    assert lab.exec(["service", "dovecot", "reload"]).ok
    for _ in range(20):  # the reload is asynchronous to the command
        if "Note:" not in wants_login_fails_with(lab):
            break
        time.sleep(0.1)
    assert "Note:" not in wants_login_fails_with(lab)

    lab.write_file("/etc/ssl/certs/dovecot.pem", cert)  # mkcert.sh run again, say
    lab.write_file("/etc/ssl/private/dovecot.pem", key, 0o600)
    assert (
        " Note: /etc/ssl/certs/dovecot.pem, /etc/ssl/private/dovecot.pem changed after the server last "
        "read its configuration, so the running server does not know about it yet: "
        "`service dovecot reload` applies it."
    ) in wants_login_fails_with(lab)


# --- Courier: authdaemond reads authdaemonrc when it starts ---------------------------------------

AUTHTEST = CheckSpec(
    id="authtest-carol",
    type="command",
    description="authtest accepts carol",
    params={"shell": "authtest carol seashell", "output_contains": ["Authentication succeeded."]},
)
IMAP_LOGIN = CheckSpec(
    id="carol-imap",
    type="imap_login",
    description="carol logs in over IMAP",
    params={"user": "carol", "password": "seashell"},
)
NOT_AUTHTEST = CheckSpec(
    id="imapd-start",
    type="command",
    description="imapd says IMAPDSTART=NO",
    params={"shell": "grep IMAPDSTART=NO /etc/courier/imapd"},
)
AUTHDAEMON_NOTE = (
    " Note: /etc/courier/authdaemonrc changed after the server last read its configuration, so the "
    "running server does not know about it yet: `service courier-authdaemon restart` applies it."
)


@pytest.fixture(scope="module")
def courier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    registry = LabRegistry(tmp_path_factory.mktemp("labsim-home"))
    spec = LabSpec(
        name="courier-stale",
        users=[UserSpec("alice", "wonderland")],
        dovecot_defaults=False,
        courier_defaults=True,
        services=["courier-authdaemon", "courier-imap"],
    )
    lab = registry.create(spec, backend="local", lab_id=new_id())
    try:
        assert lab.start().ok
        yield lab
    finally:
        lab.destroy()


def test_authdaemonrc_edited_without_a_restart_is_named(courier: Lab) -> None:
    specs = [AUTHTEST, IMAP_LOGIN, NOT_AUTHTEST]
    fresh = list(run_checks(courier, specs))
    assert not any(r.passed for r in fresh) and not any("Note:" in r.message for r in fresh)

    rc = courier.read_file("/etc/courier/authdaemonrc").decode()
    courier.write_file(
        "/etc/courier/authdaemonrc",
        rc.replace('authmodulelist="authpam"', 'authmodulelist="authuserdb authpam"'),
    )
    authtest, login, other = run_checks(courier, specs)
    assert not authtest.passed and authtest.message.endswith(AUTHDAEMON_NOTE), authtest.message
    assert not login.passed and AUTHDAEMON_NOTE in login.message  # imapd asks authdaemond too
    assert not other.passed and "Note:" not in other.message  # grep asks nobody

    assert courier.exec(["service", "courier-authdaemon", "restart"]).ok
    after = list(run_checks(courier, specs))
    assert not any("Note:" in r.message for r in after), [r.message for r in after]
