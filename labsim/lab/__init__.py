"""Labs: where the learner works, over the local and Docker backends.

from labsim.lab import LabRegistry, LabSpec, UserSpec, MailboxSpec
lab = LabRegistry().create(LabSpec(users=[UserSpec("alice", "secret")],
                                   mailboxes=[MailboxSpec("alice", 3)]))
lab.start(); lab.exec(["doveconf", "-n"]); lab.stop()
"""

from labsim.lab.model import (
    ExecResult,
    FileSpec,
    GroupSpec,
    Lab,
    LabError,
    LabSpec,
    LabStatus,
    MailboxSpec,
    ResetNotConfirmed,
    UserSpec,
)
from labsim.lab.registry import LabRegistry, choose_backend

__all__ = [
    "ExecResult",
    "FileSpec",
    "GroupSpec",
    "Lab",
    "LabError",
    "LabRegistry",
    "LabSpec",
    "LabStatus",
    "MailboxSpec",
    "ResetNotConfirmed",
    "UserSpec",
    "choose_backend",
]
