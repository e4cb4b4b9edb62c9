"""Scenarios: the model, scenario.yaml loading and validation, the check types, the registry."""

from labsim.scenario.check_types import CHECK_TYPES, CheckType, ParamDecl
from labsim.scenario.errors import ScenarioError, ScenarioIssue, ScenarioNotFound
from labsim.scenario.loader import load_scenario, validate_scenario, validate_text
from labsim.scenario.model import (
    CheckSpec,
    FileSetup,
    GroupSetup,
    Hint,
    MailboxSetup,
    MessageSetup,
    Scenario,
    Setup,
    Solution,
    Task,
    UserSetup,
)
from labsim.scenario.registry import ScenarioEntry, ScenarioRegistry, default_scenarios_dir

__all__ = [
    "CHECK_TYPES",
    "CheckSpec",
    "CheckType",
    "FileSetup",
    "GroupSetup",
    "Hint",
    "MailboxSetup",
    "MessageSetup",
    "ParamDecl",
    "Scenario",
    "ScenarioEntry",
    "ScenarioError",
    "ScenarioIssue",
    "ScenarioNotFound",
    "ScenarioRegistry",
    "Setup",
    "Solution",
    "Task",
    "UserSetup",
    "default_scenarios_dir",
    "load_scenario",
    "validate_scenario",
    "validate_text",
]
