"""delivery against a real Courier lab: sendmail, aliases.dat, Maildirs and the mail log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labsim.checks.result import CheckResult
from labsim.checks.runner import run_check
from labsim.lab.model import Lab, LabSpec, MailboxSpec, UserSpec
from labsim.lab.registry import LabRegistry
from labsim.scenario.model import CheckSpec
from tests.lab.conftest import new_id

SERVICES = ["courier-authdaemon"]  # delivery needs no daemon: sendmail delivers at once


def courier_spec() -> LabSpec:
    return LabSpec(
        name="delivery",
        users=[UserSpec("admin", "sysadmin"), UserSpec("alice", "wonderland")],
        mailboxes=[MailboxSpec("admin", 0, folders=["Archive"]), MailboxSpec("alice", 1)],
        dovecot_defaults=False,
        courier_defaults=True,
        services=SERVICES,
    )


def run(lab: Lab, **params: Any) -> CheckResult:
    spec = CheckSpec(id="d", type="delivery", description="mail for the address", params=params)
    return run_check(lab, spec)


def set_aliases(lab: Lab, text: str, compile: bool = True) -> None:
    lab.write_file("/etc/courier/aliases/system", text)
    if compile:
        done = lab.exec(["makealiases"])
        assert done.ok, done.output


@pytest.fixture(scope="module")
def courier_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    registry = LabRegistry(tmp_path_factory.mktemp("labsim-home"))
    lab = registry.create(courier_spec(), backend="local", lab_id=new_id())
    try:
        started = lab.start()
        assert started.ok, started.output
        yield lab
    finally:
        lab.destroy()


def test_a_message_to_a_user_lands_in_their_inbox(courier_lab: Lab) -> None:
    result = run(courier_lab, address="alice", lands_in={"user": "alice"})
    assert result.passed, result.message
    assert "Expected a message sent to alice to land in alice's INBOX; it arrived there" in result.message
    token = result.transcript.split("Subject: labsim delivery check ")[1].split()[0]
    found = courier_lab.exec(["grep", "-rl", token, "home/alice/Maildir/new"])
    assert found.ok and found.output.count("\n") == 1
    assert "$ sendmail -f labsim-check@example.org alice <<'EOF'" in result.transcript
    assert "courierlocal: id=" in result.transcript and "success: Message delivered." in result.transcript
    assert "#   Delivered-To: alice@mail" in result.transcript


def test_root_bounces_and_only_bounced_passes(courier_lab: Lab) -> None:
    delivered = run(courier_lab, address="root", lands_in={"user": "admin"})
    assert not delivered.passed and delivered.error is None
    assert 'but it bounced: "<root@mail>: 550 User <root> unknown".' in delivered.message
    assert "Courier never delivers mail to root" in delivered.message
    assert "<root@mail>: <<< 550 User <root> unknown" in delivered.transcript
    assert "double bounce" in delivered.transcript  # the check's own sender is off the lab: the log keeps it
    bounced = run(courier_lab, address="root", expect="bounced", lands_in={"user": "admin"})
    assert bounced.passed, bounced.message
    assert "It was refused: <root@mail>: 550 User <root> unknown" in bounced.message
    # A bounce for a sender in the lab lands in the sender's Maildir, so that is no failure either.
    to_alice = run(courier_lab, address="zed", sender="alice", expect="bounced")
    assert to_alice.passed and to_alice.message.endswith("550 User <zed> unknown.")
    assert "# a delivery status notification about it reached alice's INBOX" in to_alice.transcript


def test_aliases_count_only_once_compiled(courier_lab: Lab) -> None:
    set_aliases(courier_lab, "helpdesk: admin\n", compile=False)
    courier_lab.exec(["rm", "-f", "etc/courier/aliases.dat"])
    stale = run(courier_lab, address="helpdesk", lands_in={"user": "admin"})
    assert not stale.passed and "550 User <helpdesk> unknown" in stale.message
    assert "helpdesk is neither a mail account nor an alias" in stale.message
    assert "There is no aliases.dat yet." in stale.message
    # Compiled once, then edited: the message names the file newer than aliases.dat.
    set_aliases(courier_lab, "webmaster: alice\n")
    courier_lab.exec(["touch", "-d", "1 hour ago", "etc/courier/aliases.dat"])
    set_aliases(courier_lab, "helpdesk: admin\n", compile=False)
    edited = run(courier_lab, address="helpdesk", lands_in={"user": "admin"})
    assert not edited.passed
    older = "aliases.dat is older than /etc/courier/aliases/system: the edit is not compiled."
    assert older in edited.message
    set_aliases(courier_lab, "helpdesk: admin\n")
    compiled = run(courier_lab, address="helpdesk", lands_in={"user": "admin"})
    assert compiled.passed, compiled.message
    assert "#   Delivered-To: admin@mail" in compiled.transcript
    not_bounced = run(courier_lab, address="helpdesk", expect="bounced", lands_in={"user": "admin"})
    assert not not_bounced.passed and "but it was delivered to admin's INBOX" in not_bounced.message


def test_it_says_where_the_message_went_instead(courier_lab: Lab) -> None:
    set_aliases(courier_lab, "helpdesk: alice\nvoid:\n")
    elsewhere = run(courier_lab, address="helpdesk", lands_in={"user": "admin"})
    assert not elsewhere.passed and "but it landed in alice's INBOX" in elsewhere.message
    folder = run(courier_lab, address="admin", lands_in={"user": "admin", "folder": "Archive"})
    assert not folder.passed and "land in admin's Archive, but it landed in admin's INBOX" in folder.message
    inbox_dot = run(courier_lab, address="admin", lands_in={"user": "admin", "folder": "INBOX"})
    assert inbox_dot.passed
    thrown = run(courier_lab, address="void", lands_in={"user": "admin"})
    assert not thrown.passed and "it was thrown away: an alias on its way has no addresses" in thrown.message
    assert "leaves `postmaster:` empty" in thrown.message
    nobody = run(courier_lab, address="admin", lands_in={"user": "zed"})
    assert not nobody.passed and "there is no user zed in the lab's /etc/passwd" in nobody.message


def test_a_hung_sendmail_fails_within_the_timeout(courier_lab: Lab) -> None:
    wrapper = courier_lab.lab_dir / "bin" / "sendmail"
    original = wrapper.read_bytes()
    wrapper.write_text("#!/bin/sh\nexec sleep 30\n")
    try:
        started = time.monotonic()
        result = run(courier_lab, address="alice", lands_in={"user": "alice"}, timeout=1)
        assert time.monotonic() - started < 5
        assert not result.passed and "sendmail did not finish within 1 seconds" in result.message
    finally:
        wrapper.write_bytes(original)


@pytest.mark.docker
def test_delivery_in_a_container(labsim_home: Path, lab_image: str, docker_client: Any) -> None:
    from labsim.lab.docker_backend import DockerLab

    lab = DockerLab(LabRegistry().lab_dir(new_id()), {"image": lab_image}, client=docker_client)
    try:
        lab.create(courier_spec())
        lab.start()
        bounced = run(lab, address="root", lands_in={"user": "admin"})
        assert not bounced.passed and "550 User <root> unknown" in bounced.message
        set_aliases(lab, "root: admin\n")
        delivered = run(lab, address="root", lands_in={"user": "admin"})
        assert delivered.passed, delivered.message + "\n" + delivered.transcript
        owner = lab.exec(["sh", "-c", "stat -c %U /home/admin/Maildir/new/*"])
        assert set(owner.output.split()) == {"admin"}, owner.output
    finally:
        lab.destroy()
