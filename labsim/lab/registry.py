"""Finding labs again: each lab dir holds a state.json naming its backend.

reg = LabRegistry()
lab = reg.create(spec)            # docker when an engine and the image are there, else local
...                               # the process exits; later:
lab = LabRegistry().get(lab.lab_id)
"""

from __future__ import annotations

import builtins
import json
import shutil
from pathlib import Path
from typing import Any

from labsim import paths
from labsim.lab.local import LocalLab, free_port_base
from labsim.lab.model import STATE_FILE, Lab, LabError, LabSpec, new_lab_id

BACKENDS = ("auto", "local", "docker")


class DamagedLab(LabError):
    """A lab directory whose state.json cannot be used; its files are still there."""

    def __init__(self, lab_dir: Path, reason: str) -> None:
        self.lab_dir = lab_dir
        self.reason = reason
        files = lab_dir / "root" if self.local else f"its container labsim-{lab_dir.name}"
        super().__init__(
            f"lab {lab_dir.name} cannot be used: its state file {lab_dir / STATE_FILE} is damaged "
            f"({reason}); your files are still in {files}"
        )

    @property
    def local(self) -> bool:
        """A local lab has a root/ tree; a Docker lab's files are in its container."""
        return (self.lab_dir / "root").is_dir()


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
        if (
            not lab_id
            or "/" in lab_id
            or lab_id.startswith(".")
            or len(lab_id.encode(errors="replace")) > 200
        ):
            raise LabError(
                f"{lab_id[:60]!r} is not a lab id: a folder name, without '/', not starting with '.', "
                "at most 200 bytes (`labsim lab list` shows the labs)"
            )
        return self.labs_dir / lab_id

    def _load(self, lab_dir: Path) -> Lab:
        try:
            state: Any = json.loads((lab_dir / STATE_FILE).read_text())
        except FileNotFoundError as exc:
            raise LabError(f"no lab {lab_dir.name!r} in {self.labs_dir}") from exc
        except (OSError, ValueError) as exc:
            raise DamagedLab(lab_dir, "it is not readable JSON") from exc
        if not isinstance(state, dict):
            raise DamagedLab(lab_dir, "it holds no JSON object")
        lab = self._instance(state.get("backend", "local"), lab_dir, state)
        try:
            # What every command reads first: a wrong type here would fail far from the cause.
            lab.main_service  # noqa: B018  (parses the spec)
            int(state.get("port_base", 0))
            float(state.get("created", 0.0))
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise DamagedLab(lab_dir, f"a field has a wrong value: {exc}") from exc
        return lab

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

    def damaged(self) -> builtins.list[DamagedLab]:  # `list` here is the method above
        """The labs whose state.json cannot be used (`list()` leaves them out), with the reason."""
        if not self.labs_dir.is_dir():
            return []
        found = []
        for d in sorted(self.labs_dir.iterdir()):
            if (d / STATE_FILE).is_file():
                try:
                    self._load(d)
                except DamagedLab as exc:
                    found.append(exc)
                except LabError:
                    continue
        return found

    def remove_empty_dirs(self, prefix: str = "") -> builtins.list[str]:
        """Remove lab folders that hold nothing at all (a lab whose making was cut off before its
        state.json was written); returns their ids. rmdir removes only an empty folder, so no
        learner's file can go with it."""
        if not self.labs_dir.is_dir():
            return []
        removed = []
        for d in sorted(self.labs_dir.iterdir()):
            if d.name.startswith(prefix) and d.is_dir() and not d.is_symlink():
                try:
                    d.rmdir()
                except OSError:
                    continue  # not empty: a lab, or files someone may want
                removed.append(d.name)
        return removed

    def salvage(self, damaged: DamagedLab, spec: LabSpec, scenario_id: str) -> Lab:
        """A lab whose state.json was damaged, usable again: its state is rebuilt from the scenario.

        The learner's files (root/, or the container found by its name) are untouched. What cannot be
        rebuilt is the record of the fresh /etc, so a later reset backs up every /etc file: more than
        needed, nothing lost."""
        lab_dir = damaged.lab_dir
        bad = lab_dir / STATE_FILE
        kept = bad.with_name(f"{STATE_FILE}.damaged")
        shutil.copyfile(bad, kept)
        state: dict[str, Any] = {
            "backend_reason": f"state rebuilt from the scenario; the damaged one is {kept}",
            "spec": spec.to_dict(),
            "scenario": scenario_id,
            "created": bad.stat().st_mtime,
        }
        if not damaged.local:
            from labsim.lab.docker_backend import DockerLab

            docker_lab = DockerLab(lab_dir, state)
            docker_lab.container()  # a container that is gone too: the LabError says so
            docker_lab.save_state()
            return docker_lab
        lab = LocalLab(lab_dir, state)
        lab.stop()  # a server still running from before listens on ports nobody knows any more
        lab.state["port_base"] = free_port_base(lab._sibling_port_bases(), lab_dir=lab.lab_dir)
        lab.save_state()
        return lab

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
