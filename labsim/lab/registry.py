"""Finding labs again: each lab dir holds a state.json naming its backend.

reg = LabRegistry()
lab = reg.create(spec)            # docker when an engine and the image are there, else local
...                               # the process exits; later:
lab = LabRegistry().get(lab.lab_id)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from labsim import paths
from labsim.lab.local import LocalLab
from labsim.lab.model import STATE_FILE, Lab, LabError, LabSpec, new_lab_id

BACKENDS = ("auto", "local", "docker")


def choose_backend(wanted: str = "auto") -> tuple[str, str]:
    """(backend, reason). auto picks docker when an engine answers and has the lab image."""
    if wanted == "local":
        return "local", "asked for the local backend"
    if wanted not in BACKENDS:
        raise LabError(f"unknown lab backend {wanted!r}: use one of {', '.join(BACKENDS)}")
    from labsim.lab import docker_backend

    try:
        client = docker_backend.connect()
        docker_backend.require_image(client)
    except LabError as exc:
        if wanted == "docker":
            raise
        return "local", f"local backend: {exc}"
    return "docker", "a Docker engine answers and has the lab image"


class LabRegistry:
    def __init__(self, home: Path | None = None) -> None:
        self.labs_dir = (home or paths.data_home()) / "labs"

    def lab_dir(self, lab_id: str) -> Path:
        if not lab_id or "/" in lab_id or lab_id.startswith("."):
            raise LabError(f"{lab_id!r} is not a lab id")
        return self.labs_dir / lab_id

    def _load(self, lab_dir: Path) -> Lab:
        try:
            state: dict[str, Any] = json.loads((lab_dir / STATE_FILE).read_text())
        except FileNotFoundError as exc:
            raise LabError(f"no lab {lab_dir.name!r} in {self.labs_dir}") from exc
        except (OSError, ValueError) as exc:
            raise LabError(
                f"the state of lab {lab_dir.name!r} is unreadable ({lab_dir / STATE_FILE})"
            ) from exc
        return self._instance(state.get("backend", "local"), lab_dir, state)

    def _instance(self, backend: str, lab_dir: Path, state: dict[str, Any]) -> Lab:
        if backend == "local":
            return LocalLab(lab_dir, state)
        if backend == "docker":
            from labsim.lab.docker_backend import DockerLab

            return DockerLab(lab_dir, state)
        raise LabError(f"lab {lab_dir.name!r} names an unknown backend {backend!r}")

    def get(self, lab_id: str) -> Lab:
        return self._load(self.lab_dir(lab_id))

    def list(self) -> list[Lab]:
        if not self.labs_dir.is_dir():
            return []
        labs = []
        for d in sorted(self.labs_dir.iterdir()):
            if (d / STATE_FILE).is_file():
                try:
                    labs.append(self._load(d))
                except LabError:
                    continue
        return labs

    def create(self, spec: LabSpec, backend: str = "auto", lab_id: str | None = None) -> Lab:
        chosen, reason = choose_backend(backend)
        lab_id = lab_id or new_lab_id(spec.name)
        lab_dir = self.lab_dir(lab_id)
        if (lab_dir / STATE_FILE).exists():
            raise LabError(f"lab {lab_id!r} already exists; destroy it first or pick another id")
        lab = self._instance(chosen, lab_dir, {"backend_reason": reason})
        try:
            lab.create(spec)
        except BaseException:
            try:
                lab.destroy()
            except Exception:
                shutil.rmtree(lab_dir, ignore_errors=True)
            raise
        return lab
