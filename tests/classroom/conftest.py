"""Classroom tests reuse the lab fixtures: a private LABSIM_HOME, spread port bases, Docker."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsim.lab.model import LabError
from labsim.lab.registry import LabRegistry
from tests.docker.conftest import docker_client, lab_image  # noqa: F401  (fixtures)
from tests.lab.conftest import labsim_home, spread_port_bases  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def no_lab_left_behind(labsim_home: Path) -> Iterator[None]:  # noqa: F811  (the fixture above)
    """A test that fails half-way still stops its labs' servers and removes their containers."""
    yield
    for lab in LabRegistry().list():
        with contextlib.suppress(LabError):
            lab.destroy()
