"""mail_privileged_group: the groups a mail session gets, and /var/mail dotlocks in the Docker lab."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labsim.lab.docker_backend import DockerLab
from labsim.lab.local import LocalFS
from labsim.lab.model import GroupSpec, LabSpec, UserSpec
from labsim.lab.registry import LabRegistry
from labsim.lab.setup import apply_spec
from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.privileges import AsUser, mail_groups, privileged_gid
from labsim.mailserver.storage.base import StorageError
from tests.lab.conftest import PASSWORD, new_id, small_spec


@pytest.fixture
def root(tmp_path: Path) -> LabRoot:
    spec = LabSpec(
        users=[UserSpec("alice", "x", groups=["staff"]), UserSpec("bob", "y")],
        groups=[GroupSpec("staff", 50), GroupSpec("vmail", 5000)],
    )
    apply_spec(LocalFS(tmp_path), spec)
    return LabRoot(tmp_path)


def settings(**values: str) -> DovecotSettings:
    s = DovecotSettings()
    s.values.update(values)
    return s


def passwd_user(name: str, uid: int) -> UserInfo:
    return UserInfo(name, uid, uid, f"/home/{name}", extra={"system_groups_user": name})


def test_system_groups_and_access_groups_but_never_the_privileged_group(root: LabRoot) -> None:
    alice = passwd_user("alice", 1000)
    assert mail_groups(root, settings(), alice) == [50, 1000]
    # The privileged group is only ever effective for a retry (INBOX's creation or dotlock).
    assert mail_groups(root, settings(mail_privileged_group="mail"), alice) == [50, 1000]
    groups = mail_groups(root, settings(mail_privileged_group="8", mail_access_groups="vmail,staff"), alice)
    assert groups == [50, 1000, 5000]
    assert privileged_gid(root, settings(mail_privileged_group="mail")) == 8
    assert privileged_gid(root, settings(mail_privileged_group="8")) == 8
    assert privileged_gid(root, settings()) is None
    session = AsUser.for_user(root, settings(mail_privileged_group="mail"), alice)
    assert (session.groups, session.privileged) == ([1000, 50], 8)


def test_a_userdb_without_system_groups_gets_only_the_configured_ones(root: LabRoot) -> None:
    static = UserInfo("alice", 5000, 5000, "/srv/mail/alice")
    assert mail_groups(root, settings(mail_privileged_group="mail", mail_access_groups="vmail"), static) == [
        5000
    ]


def test_unknown_groups_are_named_as_dovecot_names_them(root: LabRoot) -> None:
    bob = passwd_user("bob", 1001)
    with pytest.raises(StorageError) as exc:
        privileged_gid(root, settings(mail_privileged_group="mial"))
    assert str(exc.value) == "Unknown UNIX GID group: mial (in mail_privileged_group setting)"
    with pytest.raises(StorageError) as exc:
        mail_groups(root, settings(mail_access_groups="wheelz"), bob)
    assert str(exc.value) == "unknown group name in extra_groups: wheelz"


def test_as_user_puts_the_primary_group_first_once() -> None:
    assert AsUser(1001, 1001, [8, 1001, 8]).groups == [1001, 8]
    assert AsUser(1001, 1001).groups is None  # keeps the process's own groups


POP3 = r"""
import poplib
pop = poplib.POP3("127.0.0.1", 110, timeout=10)
pop.user("bob")
try:
    pop.pass_("builder")
    print("STAT", pop.stat()[0])
    pop.quit()
except poplib.error_proto as exc:
    print(exc.args[0].decode())
"""


@pytest.fixture
def docker_lab(labsim_home: Path, docker_client: Any, lab_image: str) -> Iterator[DockerLab]:
    lab = DockerLab(LabRegistry().lab_dir(new_id()), {"image": lab_image}, client=docker_client)
    lab.create(small_spec())
    yield lab
    lab.destroy()


@pytest.mark.docker
def test_the_spool_needs_the_privileged_group(docker_lab: DockerLab) -> None:
    plain = "ssl = no\ndisable_plaintext_auth = no\n"
    # Without it, bob cannot dotlock /var/mail/bob (root:mail 2775), and the log says what to set.
    docker_lab.write_file("/etc/dovecot/local.conf", plain + "mail_privileged_group =\n")
    assert docker_lab.start().code == 0
    assert docker_lab.exec(["python3", "-c", POP3]).output == "-ERR [SYS/PERM] Permission denied\n"
    log = "\n".join(docker_lab.logs(follow=False))
    assert "file_dotlock_create(/var/mail/bob) failed: Permission denied" in log
    assert "(set mail_privileged_group=mail)" in log
    # With Debian's default back, bob reads and deletes mail; the file keeps its owner and mode.
    docker_lab.write_file("/etc/dovecot/local.conf", plain)
    assert docker_lab.exec(["doveadm", "reload"]).code == 0
    delete = POP3.replace('print("STAT", pop.stat()[0])', 'print("STAT", pop.stat()[0]); pop.dele(1)')
    assert docker_lab.exec(["python3", "-c", delete]).output == "STAT 2\n"
    assert docker_lab.exec(["python3", "-c", POP3]).output == "STAT 1\n"
    r = docker_lab.exec(["sh", "-c", "stat -c '%U:%G %a' /var/mail/bob; ls -a /var/mail"])
    assert r.output.split() == ["bob:mail", "660", ".", "..", "bob"]
    # The group is for locking one's own spool, not for reading another's: alice, pointed at
    # bob's spool by a hard-coded INBOX=, is refused, and bob's file stays as it was.
    spool = "stat -c '%U:%G %a' /var/mail/bob; md5sum < /var/mail/bob; ls -a /var/mail"
    before = docker_lab.exec(["sh", "-c", spool]).output
    docker_lab.write_file(
        "/etc/dovecot/local.conf", plain + "mail_location = mbox:~/mail:INBOX=/var/mail/bob\n"
    )
    assert docker_lab.exec(["doveadm", "reload"]).code == 0
    as_alice = POP3.replace('pop.user("bob")', 'pop.user("alice")').replace('"builder"', repr(PASSWORD))
    assert docker_lab.exec(["python3", "-c", as_alice]).output == "-ERR [SYS/PERM] Permission denied\n"
    assert docker_lab.exec(["sh", "-c", spool]).output == before
    log = "\n".join(docker_lab.logs(follow=False))
    assert "open(/var/mail/bob) failed: Permission denied (euid=1000(alice)" in log
    docker_lab.stop()
