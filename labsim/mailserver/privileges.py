"""Mail access as the logged-in user when the server runs as root.

Dovecot's mail processes run with the userdb's uid/gid, so file permissions
in homes and mail directories matter exactly as on a real host. We are one
process, and storage calls are synchronous and made from the event loop's
thread, so each call switches to the user's uid/gid for its duration and
switches back. Logging during such a call goes back to root for the write.

Groups: while switched, the supplementary groups are the user's system groups
(for a passwd userdb, as initgroups gives them) and those of mail_access_groups.
mail_privileged_group is not one of them: as in Dovecot, it is kept as the saved
group id and made effective only to retry INBOX's creation or its dotlock when
the user's own rights do not reach (fsutil.privileged_retry), so that a
session may lock its spool in Debian's /var/mail (root:mail 2775) but never
read another user's `0660 user:mail` spool file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any

from labsim.mailserver.auth import unixdb
from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.storage import fsutil
from labsim.mailserver.storage.base import Mailbox, MailStorage, StorageError


def can_switch() -> bool:
    return hasattr(os, "seteuid") and os.geteuid() == 0


def _gid(root: LabRoot, name: str) -> int | None:
    name = name.strip()
    if name.isdigit():
        return int(name)
    entry = unixdb.getgrnam(root, name)
    return entry.gid if entry is not None else None


def mail_groups(root: LabRoot, settings: DovecotSettings, user: UserInfo) -> list[int]:
    """The supplementary groups of a mail session for `user`.

    Raises StorageError, worded as Dovecot words it, when a configured group does not exist."""
    groups: list[int] = []
    system_user = user.extra.get("system_groups_user", "")
    if system_user:
        groups.extend(g.gid for g in unixdb.user_groups(root, system_user))
    for name in settings.values.get("mail_access_groups", "").split(","):
        if not name.strip():
            continue
        gid = _gid(root, name)
        if gid is None:
            raise StorageError(f"unknown group name in extra_groups: {name.strip()}")
        groups.append(gid)
    return _unique(groups)


def privileged_gid(root: LabRoot, settings: DovecotSettings) -> int | None:
    """mail_privileged_group's gid (None: not set). Raises StorageError, worded as Dovecot
    words it, when the group does not exist."""
    privileged = settings.values.get("mail_privileged_group", "").strip()
    if not privileged:
        return None
    gid = _gid(root, privileged)
    if gid is None:
        raise StorageError(f"Unknown UNIX GID group: {privileged} (in mail_privileged_group setting)")
    return gid


def _unique(values: Iterable[int]) -> list[int]:
    seen: list[int] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


class AsUser:
    """A context manager: effective uid/gid (and supplementary groups) of the user inside, root outside."""

    def __init__(
        self, uid: int, gid: int, groups: Iterable[int] | None = None, privileged: int | None = None
    ) -> None:
        self.uid = uid
        self.gid = gid
        self.privileged = privileged  # mail_privileged_group: effective only for a retry
        # None keeps the process's own supplementary groups (root's), as before groups were known.
        self.groups = None if groups is None else _unique([gid, *groups])
        self._saved_groups: list[int] | None = None
        self._depth = 0

    @classmethod
    def for_user(cls, root: LabRoot, settings: DovecotSettings, user: UserInfo) -> AsUser:
        return cls(user.uid, user.gid, mail_groups(root, settings, user), privileged_gid(root, settings))

    def __enter__(self) -> AsUser:
        if self._depth == 0:
            if self.groups is not None:
                self._saved_groups = os.getgroups()
                os.setgroups(self.groups)
            # The real ids change too (the saved uid stays root, to come back): permission checks
            # that use them, such as access(2) when explaining an EACCES, then see the user.
            # The saved group is the privileged one: the user may take it as effective group and
            # give it back (setegid), as Dovecot's restrict_access_use_priv_gid() does.
            saved = self.privileged if self.privileged is not None else self.gid
            os.setresgid(self.gid, self.gid, saved)
            os.setresuid(self.uid, self.uid, 0)
            if self.privileged is not None:
                fsutil.set_privileged(self._use_privileged)
        self._depth += 1
        return self

    @contextlib.contextmanager
    def _use_privileged(self) -> Iterator[None]:
        assert self.privileged is not None
        os.setegid(self.privileged)
        try:
            yield
        finally:
            os.setegid(self.gid)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            fsutil.set_privileged(None)
            os.setresuid(0, 0, 0)
            os.setresgid(0, 0, 0)
            if self._saved_groups is not None:
                os.setgroups(self._saved_groups)
                self._saved_groups = None


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
