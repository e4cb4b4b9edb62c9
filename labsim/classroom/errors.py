"""The one error the classroom raises: its message is one sentence for the instructor or student."""

from __future__ import annotations


class ClassError(Exception):
    """A class or assignment operation that cannot be done; the message says what to do."""
