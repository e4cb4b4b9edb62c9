"""Scenarios as a learner sees them in a list: grouped by topic, with their progress state."""

from __future__ import annotations

from dataclasses import dataclass

from labsim.grading.progress import ScenarioProgress
from labsim.scenario.model import Scenario

# Groups, in the order they are shown.
GROUPS: tuple[str, ...] = ("Dovecot", "Courier", "TLS", "Auth", "Troubleshooting")
_TROUBLE_TOPICS = {"troubleshooting", "broken", "debug", "debugging", "logs", "typo"}
_TLS_TOPICS = {"tls", "ssl", "starttls", "certificate", "certificates", "mkcert", "imaps", "pop3s"}
_AUTH_TOPICS = {
    "auth",
    "authentication",
    "pam",
    "cram-md5",
    "passdb",
    "userdb",
    "plaintext",
    "sasl",
    "authlib",
    "authdaemon",
}


def topic_group(scenario: Scenario) -> str:
    """Troubleshooting, TLS and auth scenarios are grouped by topic; the rest by mail server."""
    topics = {t.lower() for t in scenario.topics}
    if topics & _TROUBLE_TOPICS:
        return "Troubleshooting"
    if topics & _TLS_TOPICS:
        return "TLS"
    if topics & _AUTH_TOPICS:
        return "Auth"
    return "Courier" if scenario.personality == "courier" else "Dovecot"


def progress_state(progress: ScenarioProgress) -> str:
    if progress.completed:
        return "passed"
    if progress.attempts:
        return "in progress"
    return "not started"


@dataclass
class ScenarioRow:
    scenario: Scenario
    progress: ScenarioProgress
    group: str = ""

    def __post_init__(self) -> None:
        if not self.group:
            self.group = topic_group(self.scenario)

    @property
    def state(self) -> str:
        return progress_state(self.progress)
