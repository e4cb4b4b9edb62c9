"""The class list: one student a line (CSV `id,name`) or a YAML list, checked with file:line errors.

    # roster.csv                      # roster.yaml
    id,name                           students:
    alice,Alice Liddell                 - id: alice
    bob,Bob Builder                       name: Alice Liddell

A student id names the student's labs and containers, so it keeps to the
characters a container name allows.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from labsim.classroom.errors import ClassError

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
ID_RULE = "letters, digits, '.', '_' and '-' (at most 40, starting with a letter or digit)"
HEADER_IDS = {"id", "student", "student_id", "student id"}


@dataclass(frozen=True)
class Student:
    id: str
    name: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}


class RosterError(ClassError):
    """A roster that cannot be used; the message names the file and line."""


def _check_id(where: str, sid: str, seen: dict[str, int], line: int) -> None:
    if not sid:
        raise RosterError(f"{where} line {line}: the student id is empty; write `id,name`")
    if not ID_PATTERN.match(sid):
        raise RosterError(
            f"{where} line {line}: student id {sid!r} may only hold {ID_RULE}, as it names the student's lab"
        )
    if sid in seen:
        raise RosterError(f"{where} line {line}: student id {sid!r} is already on line {seen[sid]}")
    seen[sid] = line


def parse_csv(text: str, where: str = "roster") -> list[Student]:
    students: list[Student] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in next(csv.reader(io.StringIO(raw)))]
        if not students and not seen and fields[0].lower() in HEADER_IDS:
            continue  # the header line
        if len(fields) > 2:
            raise RosterError(
                f"{where} line {number}: expected two fields (id, name) but found {len(fields)}; "
                "put a name with a comma in double quotes"
            )
        sid = fields[0]
        _check_id(where, sid, seen, number)
        name = fields[1] if len(fields) > 1 and fields[1] else sid
        students.append(Student(sid, name))
    if not students:
        raise RosterError(f"{where}: no students in it; write one a line as `id,name`")
    return students


def _scalar(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value).strip()
    return None


def parse_yaml(text: str, where: str = "roster") -> list[Student]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise RosterError(f"{where}{line}: not valid YAML ({exc.problem})") from None
    except yaml.YAMLError as exc:
        raise RosterError(f"{where}: not valid YAML ({exc})") from None
    items: Any = root
    if isinstance(root, yaml.MappingNode):
        found = [v for k, v in root.value if _scalar(k) == "students"]
        if not found:
            top = root.start_mark.line + 1
            raise RosterError(f"{where} line {top}: expected a `students:` list of `id` and `name`")
        items = found[0]
    if not isinstance(items, yaml.SequenceNode):
        at = items.start_mark.line + 1 if isinstance(items, yaml.Node) else 1
        raise RosterError(f"{where} line {at}: expected a list of students, each with `id` and `name`")
    students: list[Student] = []
    seen: dict[str, int] = {}
    for item in items.value:
        line = item.start_mark.line + 1
        sid: str | None
        name: str | None = None
        if isinstance(item, yaml.ScalarNode):
            sid = _scalar(item)
        elif isinstance(item, yaml.MappingNode):
            fields = {_scalar(k): v for k, v in item.value}
            unknown = sorted(str(k) for k in fields if k not in ("id", "name"))
            if unknown:
                raise RosterError(
                    f"{where} line {line}: unknown key {unknown[0]!r}; a student has id and name"
                )
            if "id" not in fields:
                raise RosterError(f"{where} line {line}: this student has no `id`")
            sid = _scalar(fields["id"])
            name = _scalar(fields["name"]) if "name" in fields else None
            line = fields["id"].start_mark.line + 1
        else:
            sid = None
        if sid is None:
            raise RosterError(f"{where} line {line}: a student is an id, or a mapping with `id` and `name`")
        _check_id(where, sid, seen, line)
        students.append(Student(sid, name or sid))
    if not students:
        raise RosterError(f"{where}: no students in it")
    return students


def load_roster(path: Path) -> list[Student]:
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RosterError(f"{where}: no such roster file") from None
    except UnicodeDecodeError:
        raise RosterError(f"{where}: not UTF-8 text; save the roster as UTF-8 CSV or YAML") from None
    except OSError as exc:
        raise RosterError(f"{where}: cannot read it ({exc.strerror})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        return parse_yaml(text, where)
    return parse_csv(text, where)
