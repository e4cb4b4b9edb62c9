"""Every fresh Docker lab: what lies in a user's home belongs to that user, as an admin would leave it.

A setup file deep in a home (`/home/bob/mail/Projects`) reaches the container as a tar; without
directory entries Docker made its parents root's, and bob could not create a folder next to it.
Setup now makes them bob's (`install -d -o bob`); this walks every home of a fresh lab to prove it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labsim.lab.docker_backend import DockerLab
from labsim.lab.from_scenario import lab_spec
from labsim.lab.local import LocalFS
from labsim.lab.model import FileSpec, LabSpec, MailboxSpec, UserSpec
from labsim.lab.registry import LabRegistry
from labsim.lab.setup import apply_spec
from tests.lab.conftest import new_id
from tests.scenarios.test_scenarios import ALL, EVERY_ON_DOCKER, load

# One scenario per kind of setup under a home: a file two levels down (mbox folders), a file in
# another user's tree with the Maildir made by commands (virtual users), a home outside /home, a
# Maildir with folders. CI runs every scenario.
KINDS = ("dovecot-mbox-spool", "courier-authlib", "dovecot-doveadm", "dovecot-maildir")
SCENARIOS = [s for s in ALL if not s.startswith("_") and (s in KINDS or EVERY_ON_DOCKER)]
# What a scenario breaks on purpose (its setup commands), and so is no setup bug.
ON_PURPOSE = {"dovecot-broken-permissions": ("/home/alice/Maildir",)}

# For each account people log in with: every entry under its home whose owner is not that account.
WALK = r"""
awk -F: '$3 >= 1000 && $3 != 65534 { print $1, $3, $6 }' /etc/passwd |
while read -r name uid home; do
    [ -d "$home" ] || { echo "MISSING $name $home"; continue; }
    find "$home" ! -uid "$uid" -printf "%u:%g %m %p\n"
done
"""


@pytest.fixture
def scenario_lab(
    request: pytest.FixtureRequest, labsim_home: Path, docker_client: Any, lab_image: str
) -> Iterator[DockerLab]:
    lab = DockerLab(LabRegistry().lab_dir(new_id()), {"image": lab_image}, client=docker_client)
    try:
        lab.create(lab_spec(load(request.param)))
        yield lab
    finally:
        lab.destroy()


@pytest.mark.docker
@pytest.mark.parametrize("scenario_lab", SCENARIOS, indirect=True)
def test_a_fresh_labs_homes_belong_to_their_users(scenario_lab: DockerLab) -> None:
    result = scenario_lab.exec(["sh", "-c", WALK])
    assert result.ok, result.output
    allowed = ON_PURPOSE.get(scenario_lab.spec.name, ())
    strays = [
        line
        for line in result.output.splitlines()
        if not any(line.split(" ", 2)[-1] == p or line.split(" ", 2)[-1].startswith(p + "/") for p in allowed)
    ]
    assert not strays, "entries in a user's home that are not the user's:\n" + "\n".join(strays)


@pytest.mark.docker
def test_a_setup_file_deep_in_a_home_gets_the_users_parents(
    labsim_home: Path, docker_client: Any, lab_image: str
) -> None:
    spec = LabSpec(
        name="deep",
        users=[UserSpec("bob", "builder")],
        mailboxes=[MailboxSpec("bob", 1, "mbox", location="~/mail/inbox")],
        files=[
            FileSpec("/home/bob/mail/Projects", "", 0o600, "bob"),
            FileSpec("/home/bob/public/notes/todo.txt", "x\n", 0o644, "root"),
            FileSpec("/srv/shared/readme", "x\n", 0o644, "bob"),
        ],
    )
    lab = DockerLab(LabRegistry().lab_dir(new_id()), {"image": lab_image}, client=docker_client)
    try:
        lab.create(spec)
        paths = [
            "/home/bob/mail",
            "/home/bob/public",
            "/home/bob/public/notes",
            "/home/bob/public/notes/todo.txt",
        ]
        out = lab.exec(["stat", "-c", "%U:%G %a %n", *paths, "/srv/shared"]).output.splitlines()
        assert out == [
            # made earlier by the mbox seeding: kept as it was (private), not declared again
            "bob:bob 700 /home/bob/mail",
            # as open as the file in it; the file keeps the owner the scenario gave it
            "bob:bob 755 /home/bob/public",
            "bob:bob 755 /home/bob/public/notes",
            "root:root 644 /home/bob/public/notes/todo.txt",
            # outside any home, a parent is root's, as the system's own directories are
            "root:root 755 /srv/shared",
        ]
        # bob can file mail next to Projects, as Dovecot does when he CREATEs a folder.
        made = lab.exec(["su", "-s", "/bin/sh", "bob", "-c", "mkdir /home/bob/mail/Archive && echo ok"])
        assert made.output == "ok\n", made.output
    finally:
        lab.destroy()


def test_the_local_backend_gets_the_same_parents(tmp_path: Path) -> None:
    """Ownership is not real in the sandbox, but the directories and their modes are."""
    fs = LocalFS(tmp_path)
    apply_spec(
        fs,
        LabSpec(
            name="deep",
            users=[UserSpec("bob", "builder")],
            files=[FileSpec("/home/bob/mail/Projects", "", 0o600, "bob")],
        ),
    )
    assert (fs.labroot.path("/home/bob/mail").stat().st_mode & 0o777) == 0o700
    assert fs.read("/home/bob/mail/Projects") == b""
