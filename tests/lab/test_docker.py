"""Docker-only behaviour: confinement, labels, ownership, prune, finding labs again."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from labsim.cli import main as labsim_main
from labsim.lab.docker_backend import LABEL, DockerLab, prune
from labsim.lab.model import LabError
from labsim.lab.registry import LabRegistry
from tests.lab.conftest import new_id, small_spec

pytestmark = pytest.mark.docker


@pytest.fixture
def docker_lab(labsim_home: Path, docker_client: Any, lab_image: str) -> Iterator[DockerLab]:
    lab = DockerLab(LabRegistry().lab_dir(new_id()), {"image": lab_image}, client=docker_client)
    lab.create(small_spec())
    yield lab
    lab.destroy()


def test_container_is_confined_and_labelled(docker_lab: DockerLab) -> None:
    c = docker_lab.container()
    host = c.attrs["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["Privileged"] is False
    assert host["Memory"] == 512 * 1024 * 1024
    assert host["PidsLimit"] == 512
    assert host["Init"] is True
    assert c.labels[LABEL] == docker_lab.lab_id
    assert c.name == f"labsim-{docker_lab.lab_id}"
    assert docker_lab.exec(["hostname"]).output == "mail\n"
    assert docker_lab.exec(
        ["sh", "-c", "for t in service systemctl; do command -v $t; done"]
    ).output.split() == [
        "/usr/local/sbin/service",
        "/usr/local/sbin/systemctl",
    ]


def test_files_have_their_owners(docker_lab: DockerLab) -> None:
    r = docker_lab.exec(
        ["stat", "-c", "%U:%G %a %n", "/home/alice", "/home/alice/Maildir", "/var/mail/bob", "/etc/shadow"]
    )
    assert r.output.splitlines() == [
        "alice:alice 755 /home/alice",
        "alice:alice 700 /home/alice/Maildir",
        "bob:mail 660 /var/mail/bob",
        "root:shadow 640 /etc/shadow",
    ]
    # Debian's own accounts are kept, ours are added.
    passwd = docker_lab.read_file("/etc/passwd").decode().splitlines()
    assert any(line.startswith("_apt:") for line in passwd)
    assert [line.split(":")[0] for line in passwd].count("root") == 1
    # The shadow hash is one the system's own crypt(3) accepts.
    check = (
        "import crypt; h = [l.split(':')[1] for l in open('/etc/shadow') if l.startswith('alice:')][0]; "
        "print(crypt.crypt('wonderland', h) == h, crypt.crypt('wrong', h) == h)"
    )
    assert docker_lab.exec(["python3", "-W", "ignore", "-c", check]).output == "True False\n"


def test_server_runs_on_the_real_ports(docker_lab: DockerLab) -> None:
    docker_lab.write_file("/etc/dovecot/local.conf", "ssl = no\n")
    assert docker_lab.start().code == 0
    probe = (
        "import socket; s = socket.create_connection(('127.0.0.1', 143), timeout=5); "
        "print(s.recv(200).decode().split(' ')[1])"
    )
    assert docker_lab.exec(["python3", "-c", probe]).output == "OK\n"
    status = docker_lab.status()
    assert (status.state, status.server_running, status.port_base) == ("running", True, 0)
    docker_lab.stop()
    assert docker_lab.status().state == "stopped"
    # exec brings a stopped lab back up.
    assert docker_lab.exec(["true"]).code == 0


def test_spawn_and_follow_logs(docker_lab: DockerLab) -> None:
    child = docker_lab.spawn(["sh", "-c", 'read w; echo "got $w"'])
    child.sendline("hello")
    child.expect("got hello")
    child.close()
    docker_lab.exec(["sh", "-c", "echo first >> /var/log/mail.log"])
    follow = docker_lab.logs()
    assert next(follow) == "first"
    docker_lab.exec(["sh", "-c", "echo second >> /var/log/mail.log"])
    assert next(follow) == "second"
    follow.close()
    assert docker_lab.exec(["sh", "-c", "ps -eo comm | grep -c '^tail$' || true"]).output == "0\n"


def test_write_file_with_an_owner(docker_lab: DockerLab) -> None:
    docker_lab.write_file("/home/alice/.forward", "alice@example.org\n", 0o600, owner="alice")
    docker_lab.write_file("/var/mail/notes", "x", 0o660, owner="bob:mail")
    r = docker_lab.exec(["stat", "-c", "%U:%G %a", "/home/alice/.forward", "/var/mail/notes"])
    assert r.output.splitlines() == ["alice:alice 600", "bob:mail 660"]
    with pytest.raises(LabError, match="no user 'zed'"):
        docker_lab.write_file("/tmp/x", "", owner="zed")


def test_login_shell_inside_the_container(docker_lab: DockerLab) -> None:
    child = docker_lab.spawn(["bash", "-l"])
    child.expect_exact("root@mail:/# ")
    child.sendline("command -v systemctl; exit 4")
    child.expect_exact("/usr/local/sbin/systemctl")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 4


def test_a_new_registry_finds_a_docker_lab(docker_lab: DockerLab) -> None:
    again = LabRegistry().get(docker_lab.lab_id)
    assert isinstance(again, DockerLab)
    assert again.container().id == docker_lab.container().id
    assert again.exec(["cat", "/etc/hostname"]).output == "mail\n"


def test_a_removed_container_is_reported_not_raised(docker_lab: DockerLab) -> None:
    docker_lab.container().remove(force=True)
    status = docker_lab.status()
    assert status.state == "missing"
    assert "is gone; reset or recreate the lab" in status.detail
    with pytest.raises(LabError, match="is gone"):
        docker_lab.exec(["true"])
    assert docker_lab.reset(confirm=True) is None  # nothing left to back up
    assert docker_lab.exec(["cat", "/etc/hostname"]).output == "mail\n"


def test_prune_removes_only_labelled_containers(docker_client: Any, lab_image: str) -> None:
    tag = f"labtest-prune-{uuid.uuid4().hex[:6]}"
    made = [
        docker_client.containers.run(
            lab_image, detach=True, network_mode="none", labels={LABEL: f"{tag}-{n}"}
        )
        for n in (1, 2)
    ]
    other = docker_client.containers.run(
        lab_image, detach=True, network_mode="none", labels={"org.labsim.test": tag}
    )
    try:
        removed = prune(docker_client, only_prefix=tag)
        assert sorted(removed) == sorted(c.name for c in made)
        names = {n.lstrip("/") for c in docker_client.api.containers(all=True) for n in c["Names"]}
        assert other.name in names
        assert not names & set(removed)
    finally:
        other.remove(force=True)
        for c in made:
            with contextlib.suppress(Exception):
                c.remove(force=True)


def test_prune_command_without_an_engine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert labsim_main(["prune"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("labsim: no Docker engine answers at unix:///nonexistent/docker.sock")
    assert err.rstrip().endswith("; use the local backend instead")
