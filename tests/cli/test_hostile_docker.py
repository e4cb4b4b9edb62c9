"""A Docker lab whose state.json was damaged: found again by its container, the learner's file kept."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.conftest import Labsim, one_sentence


@pytest.mark.docker
@pytest.mark.slow
def test_a_damaged_docker_lab_state_is_rebuilt(labsim: Labsim, lab_image: str, docker_client: Any) -> None:
    assert labsim("--backend", "docker", "start", "_example").code == 0
    (lab_dir,) = (labsim.home / "labs").iterdir()
    work = labsim("lab", "exec", lab_dir.name, "--", "sh", "-c", "echo '# mine' >> /etc/dovecot/local.conf")
    assert work.code == 0, work.err
    (lab_dir / "state.json").write_text("[]")

    listing = labsim("lab", "list")
    assert "damaged" in listing.out
    assert f"your files are still in its container labsim-{lab_dir.name}" in one_sentence(listing.err)
    started = labsim("--backend", "docker", "start", "_example")
    assert started.code == 0, started.err
    assert f"lab {lab_dir.name} is running on the docker backend" in started.out
    assert [d.name for d in (labsim.home / "labs").iterdir()] == [lab_dir.name]
    kept = labsim("lab", "exec", lab_dir.name, "--", "tail", "-1", "/etc/dovecot/local.conf")
    assert (kept.code, kept.out) == (0, "# mine\n")


@pytest.mark.docker
def test_a_damaged_docker_lab_whose_container_is_gone(
    labsim: Labsim, lab_image: str, docker_client: Any
) -> None:
    assert labsim("--backend", "docker", "start", "_example").code == 0
    (lab_dir,) = (labsim.home / "labs").iterdir()
    docker_client.containers.get(f"labsim-{lab_dir.name}").remove(force=True)
    (lab_dir / "state.json").write_text("{")
    run = labsim("--backend", "docker", "start", "_example")
    assert run.code == 1
    sentence = one_sentence(run.err)
    assert sentence.startswith(f"labsim: lab {lab_dir.name} cannot be used: its state file")
    assert sentence.endswith(f"remove it with: labsim lab destroy {lab_dir.name} --yes")
    assert labsim("lab", "destroy", lab_dir.name, "--yes").code == 0
    assert not lab_dir.exists()
