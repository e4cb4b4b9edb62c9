"""The lab image has the network tools a study guide reaches for: `ss` (iproute2) and `nc`
(netcat-openbsd). With network_mode=none the container still has its loopback, so they show
and reach the lab server's own listeners, as on a real host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labsim.lab.docker_backend import DockerLab
from labsim.lab.registry import LabRegistry
from tests.lab.conftest import new_id, small_spec

pytestmark = pytest.mark.docker


@pytest.fixture
def started_lab(labsim_home: Path, docker_client: Any, lab_image: str) -> Iterator[DockerLab]:
    lab = DockerLab(LabRegistry().lab_dir(new_id()), {"image": lab_image}, client=docker_client)
    try:
        lab.create(small_spec())
        assert lab.start().code == 0
        yield lab
    finally:
        lab.destroy()


def test_ss_shows_the_lab_servers_listeners(started_lab: DockerLab) -> None:
    result = started_lab.exec(["ss", "-ltn"])
    assert result.ok, result.output
    listening = {line.split()[3] for line in result.output.splitlines()[1:] if line.startswith("LISTEN")}
    # Debian's default listen = *, :: on the well-known ports of the protocols installed.
    assert {"0.0.0.0:143", "0.0.0.0:110", "0.0.0.0:993", "0.0.0.0:995", "[::]:143"} <= listening


def test_nc_talks_to_the_server_on_loopback(started_lab: DockerLab) -> None:
    result = started_lab.exec(["sh", "-c", "printf 'a LOGOUT\\r\\n' | nc -q 2 127.0.0.1 143"])
    lines = result.output.splitlines()
    assert lines[0].startswith("* OK ") and lines[0].endswith("Dovecot (Debian) ready."), result.output
    assert lines[-1] == "a OK Logout completed."


def test_a_courier_lab_lists_no_dovecot_unit(labsim_home: Path, docker_client: Any, lab_image: str) -> None:
    # As on a Debian host with only Courier's packages: the image made /etc/dovecot for every lab,
    # so `service --status-all` listed dovecot in Courier labs too.
    from labsim.lab.model import LabSpec, UserSpec

    spec = LabSpec(
        name="courier-units",
        users=[UserSpec("alice", "wonderland")],
        dovecot_defaults=False,
        courier_defaults=True,
        services=["courier-authdaemon", "courier-pop"],
    )
    lab = DockerLab(LabRegistry().lab_dir(new_id()), {"image": lab_image}, client=docker_client)
    try:
        lab.create(spec)
        assert lab.start().code == 0
        units = lab.exec(["service", "--status-all"]).output
        assert "courier-imap" in units and "dovecot" not in units, units
    finally:
        lab.destroy()
