"""The errors the classroom raises: each message is one sentence for the instructor or student."""

from __future__ import annotations


class ClassError(Exception):
    """A class or assignment operation that cannot be done; the message says what to do (status 1)."""


class ClassUsageError(ClassError):
    """The command cannot run as typed (an unknown scenario, an option out of range, no terminal to
    ask or work in, a report path that cannot be written); the commands exit with status 2."""
