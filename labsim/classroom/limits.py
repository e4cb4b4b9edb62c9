"""Resource limits per student lab, and the labels that mark a class's containers.

A class runs many labs on one engine; each gets a memory cap, a pids cap and
a CPU share, so one student's runaway loop cannot starve the others.

A class lab's labels (org.labsim.class, org.labsim.student, ...) and limits
go into its lab state, which DockerLab gives to the container it creates, on
`class up` and again on a reset.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from labsim.classroom.errors import ClassUsageError

CLASS_LABEL = "org.labsim.class"
STUDENT_LABEL = "org.labsim.student"
SCENARIO_LABEL = "org.labsim.scenario"

_MEMORY = re.compile(r"^(\d+)([kmg]?)b?$", re.IGNORECASE)


@dataclass(frozen=True)
class Limits:
    memory: str = "256m"  # docker's mem_limit; the lab's server and a shell use far less
    cpus: float = 0.5  # at most half a core each: 30 labs share 2 cores without one hogging them
    pids: int = 256  # a fork bomb stops here, not at the host's limit

    def __post_init__(self) -> None:
        if not _MEMORY.match(self.memory):
            raise ClassUsageError(f"memory limit {self.memory!r} is not a size like 256m or 1g")
        if memory_bytes(self.memory) < 64 * 1024 * 1024:
            raise ClassUsageError(f"memory limit {self.memory} is too small for a lab; give at least 64m")
        if not 0.05 <= self.cpus <= 64:
            raise ClassUsageError(
                f"CPU limit {self.cpus:g} is out of range; give a share like 0.5 (half a core)"
            )
        if self.pids < 32:
            raise ClassUsageError(f"pids limit {self.pids} is too small for a lab; give at least 32")

    def docker_kwargs(self) -> dict[str, Any]:
        return {
            "mem_limit": self.memory,
            "memswap_limit": self.memory,  # no swap beyond the cap either
            "pids_limit": self.pids,
            "nano_cpus": int(self.cpus * 1_000_000_000),
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Limits:
        return cls(str(data.get("memory", "256m")), float(data.get("cpus", 0.5)), int(data.get("pids", 256)))


def memory_bytes(text: str) -> int:
    m = _MEMORY.match(text)
    if m is None:
        raise ClassUsageError(f"memory limit {text!r} is not a size like 256m or 1g")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]


def class_labels(class_name: str, student: str, scenario: str) -> dict[str, str]:
    return {CLASS_LABEL: class_name, STUDENT_LABEL: student, SCENARIO_LABEL: scenario}
