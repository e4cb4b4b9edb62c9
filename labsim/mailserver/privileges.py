"""Mail access as the logged-in user when the server runs as root.

Dovecot's mail processes run with the userdb's uid/gid, so file permissions
in homes and mail directories matter exactly as on a real host. We are one
process, and storage calls are synchronous and made from the event loop's
thread, so each call switches the effective uid/gid for its duration and
switches back. Logging during such a call goes back to root for the write.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

from labsim.mailserver.log import DovecotLog
from labsim.mailserver.storage.base import Mailbox, MailStorage


def can_switch() -> bool:
    return hasattr(os, "seteuid") and os.geteuid() == 0


class AsUser:
    """A context manager: effective uid/gid of the user inside, root outside."""

    def __init__(self, uid: int, gid: int) -> None:
        self.uid = uid
        self.gid = gid
        self._depth = 0

    def __enter__(self) -> AsUser:
        if self._depth == 0:
            os.setegid(self.gid)
            os.seteuid(self.uid)
        self._depth += 1
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            os.seteuid(0)
            os.setegid(0)


class RootLog(DovecotLog):
    """A log whose writes happen as root even inside an AsUser block."""

    def __init__(self, inner: DovecotLog) -> None:
        super().__init__(inner.root, stderr=inner.stderr, ident=inner.ident)
        self.inner = inner

    def log(self, level: str, prefix: str, message: str) -> None:
        euid, egid = os.geteuid(), os.getegid()
        if euid == 0:
            self.inner.log(level, prefix, message)
            return
        os.seteuid(0)
        os.setegid(0)
        try:
            self.inner.log(level, prefix, message)
        finally:
            os.setegid(egid)
            os.seteuid(euid)


class AsUserProxy:
    """Forwards attribute access to a storage or mailbox, as the user.

    Method calls and attribute reads (which may touch files) run inside
    `as_user`; mailboxes a storage hands out are wrapped the same way.
    """

    def __init__(self, target: Any, as_user: AsUser) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_as_user", as_user)

    def __getattr__(self, name: str) -> Any:
        as_user: AsUser = self._as_user
        with as_user:
            value = getattr(self._target, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            with as_user:
                result = value(*args, **kwargs)
            if isinstance(result, (Mailbox, MailStorage)):
                return AsUserProxy(result, as_user)
            return result

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        with self._as_user:
            setattr(self._target, name, value)
