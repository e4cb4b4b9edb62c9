"""Docker fixtures: an engine, the lab image built from this tree, containers that clean up."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parents[2]
IMAGE = "labsim-lab:latest"
TEST_LABEL = "org.labsim.test"

sys.path.insert(0, str(PROJECT / "containers"))
from source_hash import source_hash  # type: ignore[import-not-found]  # noqa: E402


def _engine_or_skip() -> Any:
    required = os.environ.get("LABSIM_REQUIRE_DOCKER") == "1"
    try:
        import docker

        client = docker.from_env()
        client.ping()
        return client
    except Exception as exc:
        if required:
            pytest.fail(f"LABSIM_REQUIRE_DOCKER=1 but no Docker engine answers: {exc}")
        pytest.skip(f"no Docker engine answers: {exc}")


@pytest.fixture(scope="session")
def docker_client() -> Any:
    return _engine_or_skip()


@pytest.fixture(scope="session")
def lab_image(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The lab image for this source tree, built (once, across xdist workers) when stale."""
    wanted = source_hash(PROJECT)
    lock_path = Path(os.environ.get("TMPDIR", "/tmp")) / "labsim-image-build.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            have = docker_client.images.get(IMAGE).labels.get("org.labsim.source")
        except Exception:
            have = None
        if have != wanted:
            subprocess.run(
                [str(PROJECT / "containers" / "build.sh"), "--tag", IMAGE],
                check=True,
                env={**os.environ, "PYTHON": sys.executable},
            )
    return IMAGE


@pytest.fixture
def lab_container(docker_client: Any, lab_image: str) -> Iterator[Any]:
    container = docker_client.containers.run(
        lab_image,
        detach=True,
        network_mode="none",
        mem_limit="256m",
        pids_limit=256,
        labels={TEST_LABEL: "1", "org.labsim.lab": "test"},
        hostname="mail",
    )
    try:
        yield container
    finally:
        container.remove(force=True)


def run(container: Any, script: str, check: bool = True) -> str:
    """Run a shell script inside the container; return its output."""
    code, output = container.exec_run(["sh", "-c", script], demux=False)
    text = output.decode("utf-8", "replace") if output else ""
    if check and code != 0:
        raise AssertionError(f"exit {code} from {script!r}:\n{text}")
    return text
