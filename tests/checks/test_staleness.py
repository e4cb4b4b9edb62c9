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
