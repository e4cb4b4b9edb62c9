"""One running local lab shared by the probe tests (read-only use), plus the lab fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labsim.lab.model import FileSpec, Lab, LabSpec, MailboxSpec, UserSpec
from labsim.lab.registry import LabRegistry
from tests.docker.conftest import docker_client, lab_image  # noqa: F401  (fixtures)
from tests.lab.conftest import labsim_home, new_id, spread_port_bases  # noqa: F401  (fixtures)

# A passwd-file passdb beside PAM, holding the plaintext: it can serve CRAM-MD5 and APOP.
LOCAL_CONF = """\
auth_mechanisms = plain login cram-md5 apop
passdb {
  driver = passwd-file
  args = /etc/dovecot/users
}
"""


def probe_spec() -> LabSpec:
    return LabSpec(
        name="probes",
        users=[UserSpec("alice", "wonderland"), UserSpec("bob", "builder"), UserSpec("carol", None)],
        mailboxes=[MailboxSpec("alice", 3, "mbox"), MailboxSpec("bob", 2, "mbox")],
        files=[
            FileSpec("/etc/dovecot/local.conf", LOCAL_CONF),
            FileSpec("/etc/dovecot/users", "alice:{PLAIN}wonderland\n", 0o640),
            FileSpec("/etc/courier/imapd", 'MAXPERIP=20\nIMAPDSTART="YES"\nMAXPERIP=40 # raised\n'),
        ],
    )


@pytest.fixture(scope="session")
def probe_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    registry = LabRegistry(tmp_path_factory.mktemp("labsim-home"))
    lab = registry.create(probe_spec(), backend="local", lab_id=new_id())
    try:
        started = lab.start()
        assert started.ok, started.output
        yield lab
    finally:
        lab.destroy()


@pytest.fixture
def idle_lab(labsim_home: Path) -> Iterator[Lab]:  # noqa: F811
    """A lab whose server was never started."""
    lab = LabRegistry().create(LabSpec(name="idle", users=[UserSpec("alice", "wonderland")]), backend="local")
    try:
        yield lab
    finally:
        lab.destroy()
