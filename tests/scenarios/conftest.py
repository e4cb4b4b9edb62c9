"""Scenario tests reuse the lab fixtures: a private LABSIM_HOME, spread port bases, Docker."""

from tests.docker.conftest import docker_client, lab_image  # noqa: F401  (fixtures)
from tests.lab.conftest import labsim_home, spread_port_bases  # noqa: F401  (fixtures)
