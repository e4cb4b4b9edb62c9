"""Local labs claim their port base machine-wide, so a lab whose server is down keeps its ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from labsim.lab import local, port_claims
from labsim.lab.local import LocalLab
from labsim.lab.registry import LabRegistry
from tests.lab.conftest import new_id, small_spec


@pytest.fixture
def claims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "claims"
    monkeypatch.setenv("LABSIM_PORT_CLAIMS", str(path))
    return path


def quiet_lab(home: Path) -> LocalLab:
    spec = small_spec()
    spec.services = []  # nothing listens: only the claim keeps the ports
    lab = LabRegistry(home).create(spec, backend="local", lab_id=new_id())
    assert isinstance(lab, LocalLab)
    return lab


def test_two_homes_never_share_a_port_base(tmp_path: Path, claims: Path) -> None:
    first = quiet_lab(tmp_path / "home-a")
    second = quiet_lab(tmp_path / "home-b")  # another LABSIM_HOME knows nothing of the first
    try:
        assert first.port_base != second.port_base
        assert port_claims.owner(first.port_base) == str(first.lab_dir.resolve())
    finally:
        first.destroy()
        second.destroy()
    assert list(claims.iterdir()) == []  # destroy gives the bases back


def test_a_claim_whose_lab_is_gone_is_taken_over(tmp_path: Path, claims: Path) -> None:
    gone = tmp_path / "labs" / "gone"
    gone.mkdir(parents=True)
    assert port_claims.claim(local.PORT_BASES[0], gone)
    gone.rmdir()
    assert port_claims.claim(local.PORT_BASES[0], tmp_path / "new-lab")
    assert port_claims.owner(local.PORT_BASES[0]) == str((tmp_path / "new-lab").resolve())


def test_a_living_claim_is_respected(tmp_path: Path, claims: Path) -> None:
    holder = tmp_path / "holder"
    holder.mkdir()
    assert port_claims.claim(local.PORT_BASES[0], holder)
    assert not port_claims.claim(local.PORT_BASES[0], tmp_path / "other")
    assert port_claims.claim(local.PORT_BASES[0], holder)  # the holder itself may claim again
