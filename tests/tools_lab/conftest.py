"""A lab per backend, shared by a module's tests: the lab tools run as a learner runs them.

Local: the wrappers in the lab's bin/ (first on PATH). Docker: the image's /usr/bin and /usr/sbin.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labsim.lab.model import Lab, LabSpec, MailboxSpec, UserSpec
from labsim.lab.registry import LabRegistry
from tests.docker.conftest import docker_client, lab_image  # noqa: F401  (fixtures)

# Plain IMAP/POP3 on loopback plus the Debian tree's SSL listeners; Maildir in the home.
LOCAL_CONF = "listen = 127.0.0.1\nmail_location = maildir:~/Maildir\n"


def spec() -> LabSpec:
    return LabSpec(
        name="tools",
        users=[UserSpec("alice", "wonderland"), UserSpec("bob", "builder")],
        mailboxes=[MailboxSpec("alice", 3, folders=["Archive"]), MailboxSpec("bob", 2)],
        files=[],
    )


class ToolLab:
    """A started lab and the few things tests ask of it."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def sh(self, script: str) -> tuple[int, str]:
        """Run a shell line in the lab (stdout and stderr together, as a learner sees them)."""
        r = self.lab.exec(["sh", "-c", script], timeout=60)
        return r.code, r.output

    def out(self, script: str) -> str:
        return self.sh(script)[1]

    def write(self, path: str, text: str) -> None:
        self.lab.write_file(path, text)

    def port_base(self) -> int:
        return int(self.out("echo ${LABSIM_PORT_BASE:-0}").strip() or 0)

    def listening(self, port: int) -> bool:
        probe = (
            "import socket,sys; s=socket.socket(); s.settimeout(3); "
            "sys.exit(s.connect_ex(('127.0.0.1', int(sys.argv[1]))))"
        )
        code, _ = self.sh(f'python3 -c "{probe}" {self.port_base() + port}')
        return code == 0

    def active(self) -> str:
        return self.out("systemctl is-active dovecot").strip()


@pytest.fixture(scope="module", params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def tool_lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolLab]:
    home = tmp_path_factory.mktemp("labsim-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABSIM_HOME", str(home))
        registry = LabRegistry()
        lab_id = "toolstest-" + uuid.uuid4().hex[:8]
        if request.param == "docker":
            image = request.getfixturevalue("lab_image")
            client: Any = request.getfixturevalue("docker_client")
            from labsim.lab.docker_backend import DockerLab

            lab: Lab = DockerLab(registry.lab_dir(lab_id), {"image": image}, client=client)
            lab.create(spec())
        else:
            lab = registry.create(spec(), backend="local", lab_id=lab_id)
        try:
            lab.write_file("/etc/dovecot/local.conf", LOCAL_CONF)
            started = lab.start()
            assert started.ok, started.output
            yield ToolLab(lab)
        finally:
            lab.destroy()


@pytest.fixture
def running(tool_lab: ToolLab) -> ToolLab:
    """The lab with its server up (a test before may have stopped it)."""
    if tool_lab.active() != "active":
        code, out = tool_lab.sh("service dovecot start")
        assert code == 0, out
    return tool_lab


REAL_DOVEADM = Path("/usr/bin/doveadm")
REAL_DOVECOT = Path("/usr/sbin/dovecot")


def real(binary: Path, *args: str) -> tuple[int, str]:
    """The real binary's answer, run only with arguments that never start or signal a server."""
    import subprocess

    proc = subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=20, env={**os.environ, "LANG": "C"}
    )
    return proc.returncode, proc.stdout + proc.stderr
