"""What a study session refuses, as one sentence for the learner."""

from __future__ import annotations

from labsim.lab.model import LabError

CHECKS_UNAVAILABLE = "checks are not available yet"


class ServiceError(LabError):
    """Something the session cannot do right now; the message says what to do."""


class ChecksUnavailable(ServiceError):
    def __init__(self) -> None:
        super().__init__(CHECKS_UNAVAILABLE)


class UnknownScenario(ServiceError):
    """No scenario has the id asked for; the message names the nearest ones."""


class UnknownTask(ServiceError):
    """The scenario has no task with the id asked for; the message lists its tasks."""
