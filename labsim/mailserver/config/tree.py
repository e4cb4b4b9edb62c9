"""The parsed configuration as a tree of sections, each remembering where it came from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Setting:
    key: str
    value: str  # unquoted, `$key` expanded; `<path` kept as written
    path: str  # file as shown in messages
    line: int
    file_ref: bool = False  # written `key = <path` (unquoted)
    contents: str | None = None  # the file's text once read, for file_ref settings
    base_dir: str = "/"  # lab directory a relative `<file` is taken from: that of the naming file


@dataclass
class Section:
    kind: str  # "" for the root, else "service", "passdb", "protocol", ...
    name: str = ""  # "" when unnamed
    path: str = ""
    line: int = 0
    settings: dict[str, Setting] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)

    def find(self, kind: str, name: str) -> Section | None:
        for section in self.sections:
            if section.kind == kind and section.name == name:
                return section
        return None

    def of_kind(self, kind: str) -> list[Section]:
        return [s for s in self.sections if s.kind == kind]

    def get(self, key: str) -> str | None:
        setting = self.settings.get(key)
        return None if setting is None else setting.value

    def walk(self) -> Iterator[Section]:
        yield self
        for section in self.sections:
            yield from section.walk()
