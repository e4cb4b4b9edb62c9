"""What a class is, kept on disk: its students, scenarios, backend and limits.

`<data home>/classes/<name>/class.json` holds it; the labs themselves are
ordinary labs (`labsim lab list` shows them) with ids made from the class,
the student and the scenario, so a later command finds them again. Writes
replace the file atomically: a crash leaves the old record or the new one.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labsim import paths
from labsim.classroom.errors import ClassError
from labsim.classroom.limits import Limits
from labsim.classroom.roster import ID_PATTERN, ID_RULE, Student

CLASS_FILE = "class.json"


def check_class_name(name: str) -> str:
    if not ID_PATTERN.match(name):
        raise ClassError(f"class name {name!r} may only hold {ID_RULE}")
    return name


def lab_id_for(class_name: str, student: str, scenario: str) -> str:
    return f"class-{class_name}-{student}-{scenario}"


@dataclass
class ClassRecord:
    name: str
    scenarios: list[str]
    students: list[Student]
    backend: str = "docker"
    limits: Limits = field(default_factory=Limits)
    scenarios_root: str = ""  # where the scenarios were found at `up`; empty: the default
    created: float = field(default_factory=time.time)

    def lab_id(self, student: str, scenario: str) -> str:
        return lab_id_for(self.name, student, scenario)

    def student(self, sid: str) -> Student:
        for s in self.students:
            if s.id == sid:
                return s
        known = ", ".join(s.id for s in self.students)
        raise ClassError(f"no student {sid!r} in class {self.name} (students: {known})")

    def pairs(self) -> list[tuple[Student, str]]:
        return [(s, sc) for s in self.students for sc in self.scenarios]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scenarios": list(self.scenarios),
            "students": [s.to_dict() for s in self.students],
            "backend": self.backend,
            "limits": self.limits.to_dict(),
            "scenarios_root": self.scenarios_root,
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassRecord:
        return cls(
            name=str(data["name"]),
            scenarios=[str(s) for s in data["scenarios"]],
            students=[Student(str(s["id"]), str(s.get("name") or s["id"])) for s in data["students"]],
            backend=str(data.get("backend", "docker")),
            limits=Limits.from_dict(data.get("limits") or {}),
            scenarios_root=str(data.get("scenarios_root", "")),
            created=float(data.get("created", 0.0)),
        )


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


class ClassStore:
    def __init__(self, home: Path | None = None) -> None:
        self.root = (home or paths.data_home()) / "classes"

    def dir(self, name: str) -> Path:
        return self.root / check_class_name(name)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(d.name for d in self.root.iterdir() if (d / CLASS_FILE).is_file())

    def exists(self, name: str) -> bool:
        return (self.dir(name) / CLASS_FILE).is_file()

    def load(self, name: str) -> ClassRecord:
        path = self.dir(name) / CLASS_FILE
        try:
            return ClassRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            known = ", ".join(self.names()) or "none"
            raise ClassError(
                f"no class {name!r} (classes: {known}); start one with `labsim class up`"
            ) from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # AttributeError: a value that should be a mapping (a student, the limits) is not one
            raise ClassError(f"the record of class {name!r} is unreadable ({path}: {exc})") from None

    def save(self, record: ClassRecord) -> None:
        write_json_atomic(self.dir(record.name) / CLASS_FILE, record.to_dict())

    def remove(self, name: str) -> None:
        shutil.rmtree(self.dir(name), ignore_errors=True)

    def resolve(self, name: str | None) -> ClassRecord:
        """The named class, or the only one there is."""
        if name:
            return self.load(name)
        names = self.names()
        if not names:
            raise ClassError(
                "there is no class yet; start one with `labsim class up --roster FILE --scenario ID`"
            )
        if len(names) > 1:
            raise ClassError(f"there are several classes ({', '.join(names)}); say which with --name")
        return self.load(names[0])
