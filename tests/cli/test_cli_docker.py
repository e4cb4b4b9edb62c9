"""One round trip on the Docker backend: start, then grade (fresh: fails; solved: passes)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.conftest import Labsim


@pytest.mark.docker
@pytest.mark.slow
def test_start_then_grade_in_docker(labsim: Labsim, lab_image: str, docker_client: Any) -> None:
    started = labsim("--backend", "docker", "start", "_example")
    assert started.code == 0, started.err
    assert "is running on the docker backend" in started.out
    assert "inside the lab: IMAP 143" in started.out

    fresh = labsim("--backend", "docker", "grade", "_example", "--format", "json")
    assert fresh.code == 1, fresh.err
    report = fresh.json()
    assert report["backend"] == "docker" and report["score"]["all_passed"] is False
    assert [c["status"] for c in report["score"]["checks"]] == [
        "failed",
        "failed",
        "passed",
        "failed",
        "passed",
    ]

    assert labsim("--backend", "docker", "solve", "_example", "--yes").code == 0
    solved = labsim("--backend", "docker", "grade", "_example", "--format", "junit")
    assert solved.code == 0, solved.out + solved.err
    assert 'failures="0"' in solved.out and 'errors="0"' in solved.out

    (lab,) = labsim("status", "--json").json()
    assert lab["backend"] == "docker" and lab["state"] == "running"
    container = docker_client.containers.get(f"labsim-{lab['id']}")
    assert container.attrs["HostConfig"]["NetworkMode"] == "none"
