"""Fixtures for lab tests: a private LABSIM_HOME, Docker (reused from tests/docker), labs on both backends."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labsim.lab import local
from labsim.lab.model import Lab, LabSpec, MailboxSpec, UserSpec
from labsim.lab.registry import LabRegistry
from tests.docker.conftest import docker_client, lab_image  # noqa: F401  (fixtures)

PASSWORD = "wonderland"
TEST_PREFIX = "labtest-"


def small_spec(name: str = "test") -> LabSpec:
    return LabSpec(
        name=name,
        users=[UserSpec("alice", PASSWORD), UserSpec("bob", "builder")],
        mailboxes=[MailboxSpec("alice", 3), MailboxSpec("bob", 2, "mbox")],
        files=[],
    )


@pytest.fixture(autouse=True)
def spread_port_bases(monkeypatch: pytest.MonkeyPatch) -> None:
    """xdist workers (and other runs on this machine) start their port search in different places."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) if worker.isdigit() else 0
    start = 10000 + (index % 6) * 8000 + random.randrange(0, 8) * 1000
    monkeypatch.setattr(local, "PORT_BASES", range(start, 60001, 1000))


@pytest.fixture
def labsim_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "labsim-home"
    monkeypatch.setenv("LABSIM_HOME", str(home))
    return home


def new_id() -> str:
    return TEST_PREFIX + uuid.uuid4().hex[:8]


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def lab(request: pytest.FixtureRequest, labsim_home: Path) -> Iterator[Lab]:
    """A fresh lab (not started) from small_spec, on each backend."""
    registry = LabRegistry()
    if request.param == "docker":
        image = request.getfixturevalue("lab_image")
        client: Any = request.getfixturevalue("docker_client")
        from labsim.lab.docker_backend import DockerLab

        made: Lab = DockerLab(registry.lab_dir(new_id()), {"image": image}, client=client)
        made.create(small_spec())
    else:
        made = registry.create(small_spec(), backend="local", lab_id=new_id())
    try:
        yield made
    finally:
        made.destroy()
