"""Where labsim keeps its data on the learner's machine."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def data_home() -> Path:
    """LABSIM_HOME (tests, classrooms) or the platform's user data dir."""
    override = os.environ.get("LABSIM_HOME")
    return Path(override) if override else Path(platformdirs.user_data_dir("labsim"))
