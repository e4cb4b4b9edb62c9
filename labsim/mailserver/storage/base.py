"""The mailbox interface protocol code uses; maildir.py and mbox.py implement it.

storage = open_storage(root, location, userinfo, log, settings)   # location.py
storage.separator                       # "." on Maildir++, "/" with LAYOUT=fs and mbox
storage.list()                          # [MailboxInfo], INBOX included
storage.list_index_errors()             # non-empty: the list index is unusable, LIST shows INBOX only
storage.take_notices()                  # `* NO` texts an open()/status() left for the client
box = storage.open("INBOX", readonly=False)
box.messages                            # [MessageInfo] in sequence order; each .flags is a
                                        #   frozenset shared with others (never changed in place)
box.read(msg)                           # bytes, CRLF line ends, exactly msg.size long
box.set_flags(msg, {"\\Seen"})
box.set_flags_many([(msg, {"\\Seen"}), ...])   # one write for many (POP3 QUIT)
box.expunge([uid, ...])                 # for POP3 DELE at QUIT and IMAP EXPUNGE
box.sync()                              # pick up changes made by others -> SyncChanges
box.append(data, {"\\Seen"})            # -> UID; joins box.messages at the next sync()
box.close()
storage.status("Archive")               # MailboxStatus; unpacks as (messages, recent,
                                        #   unseen, uidnext, uidvalidity)
storage.list_subscribed()               # for LSUB; storage.subscribe(name, subscribed=True)
storage.create(name); storage.delete(name); storage.rename(old, new)

Names are str: the IMAP layer decodes modified UTF-7 (names.py has the
codec). They are checked by names.split_name() and can never leave the mail
root. Failures are StorageError; the text is the line Dovecot would log (or,
for MailboxNotFound / MailboxNameInvalid / MailboxExists, what the client is
told). Callers log it.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


class StorageError(Exception):
    """A failure to report; `message` is worded as Dovecot logs it."""


class MailboxNotFound(StorageError):
    pass


class MailboxNameInvalid(StorageError):
    pass


class MailboxExists(StorageError):
    pass


class StoragePermissionError(StorageError, PermissionError):
    """EACCES/EPERM on the user's mail: IMAP answers [NOPERM], POP3 [SYS/PERM].
    Also a PermissionError, so `except PermissionError` sees it."""


class MailboxNoPermission(StoragePermissionError):
    """The mailbox cannot be opened for want of permission (its index directory cannot be
    made): Dovecot answers `NO [NOPERM] Permission denied` to whatever command opened it."""


class MessageExpunged(StorageError):
    """The message's file is gone: another session expunged it."""


# One frozenset per distinct flag combination. A mailbox has few of them, and a message's
# flags are compared, hashed and rendered far more often than they change: shared sets
# hash once and compare by identity first.
_FROZEN_FLAGS: dict[frozenset[str], frozenset[str]] = {}
FROZEN_FLAGS_KEPT = 4096


def frozen_flags(flags: Iterable[str]) -> frozenset[str]:
    key = flags if isinstance(flags, frozenset) else frozenset(flags)
    shared = _FROZEN_FLAGS.get(key)
    if shared is not None:
        return shared
    if len(_FROZEN_FLAGS) < FROZEN_FLAGS_KEPT:  # keywords are the client's to invent: bounded
        _FROZEN_FLAGS[key] = key
    return key


@dataclass(slots=True)  # a session holds one per message: no per-instance dict
class MessageInfo:
    uid: int
    # "\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", keywords. Frozen, and made by
    # frozen_flags(): sessions and file versions share one set per combination.
    flags: frozenset[str]
    size: int  # RFC822.SIZE: bytes as sent, with CRLF line ends
    internaldate: float  # epoch seconds
    recent: bool = False
    key: str = ""  # storage-specific: maildir base name, mbox offset


@dataclass
class MailboxInfo:
    name: str  # as IMAP shows it, with the storage's separator
    flags: list[str] = field(default_factory=list)  # \HasChildren, \HasNoChildren, \Noselect, \NoInferiors
    selectable: bool = True
    exists: bool = True  # False: only implied by a child (Maildir++ `.A.B` without `.A`)


@dataclass
class SyncChanges:
    expunged_seqs: list[int] = field(default_factory=list)  # in the order IMAP must report them
    new_count: int = 0
    flag_changes: list[int] = field(default_factory=list)  # seqs whose flags changed


class Mailbox:
    name: str
    readonly: bool
    uidvalidity: int
    uidnext: int
    messages: list[MessageInfo]
    # Dovecot's in-memory index: the mail directory is not the user's to write, so only the
    # messages already recorded are shown, read-only (Maildir only).
    partial: bool = False

    def read(self, msg: MessageInfo) -> bytes:
        raise NotImplementedError

    def set_flags(self, msg: MessageInfo, flags: set[str]) -> None:
        raise NotImplementedError

    def set_flags_many(self, changes: list[tuple[MessageInfo, set[str]]]) -> None:
        """set_flags() for several messages at once; storages that rewrite a whole
        file per change (mbox) do it once for all of them."""
        for msg, flags in changes:
            self.set_flags(msg, flags)

    def expunge(self, uids: list[int]) -> list[int]:
        """Remove these messages; returns the sequence numbers to report as
        `* N EXPUNGE`, in reporting order (each valid after the previous ones)."""
        raise NotImplementedError

    def sync(self) -> SyncChanges:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def status(self) -> MailboxStatus:
        """STATUS counts for this open mailbox as its session sees it."""
        raise NotImplementedError

    def append(self, data: bytes, flags: set[str] | None = None, internaldate: float | None = None) -> int:
        """Save a message (CRLF or LF line ends) and return its UID (for APPEND,
        COPY and local delivery). It joins `messages` at the next sync()."""
        raise NotImplementedError


@dataclass
class MailboxStatus:
    messages: int
    recent: int
    unseen: int
    uidnext: int
    uidvalidity: int

    def __iter__(self) -> Iterator[int]:
        # Lets callers unpack `messages, recent, unseen, uidnext, uidvalidity = st`.
        return iter((self.messages, self.recent, self.unseen, self.uidnext, self.uidvalidity))


class MailStorage:
    separator: str
    # True when a mailbox opened read-only still takes append(): APPEND and COPY
    # then leave \Recent to the next session that selects it, as Dovecot does.
    append_readonly: bool = False

    def list(self) -> list[MailboxInfo]:
        raise NotImplementedError

    def list_index_errors(self) -> builtins.list[str]:
        """The lines Dovecot logs when the mailbox list index can be neither opened nor made.
        Non-empty: LIST shows INBOX alone, and commands that consult the list (STATUS of a
        folder, SUBSCRIBE) log these lines first."""
        return []

    def take_notices(self) -> builtins.list[str]:
        """Untagged `* NO` texts the last open()/status() left for the client (Dovecot's
        notify_no callback), each given once."""
        return []

    def take_log_errors(self) -> builtins.list[str]:
        """Error lines the last open()/status() left for the session to log (with its own
        `imap(user)<pid><session>` prefix), each given once."""
        return []

    def open(self, name: str, readonly: bool = False) -> Mailbox:
        raise NotImplementedError

    def status(self, name: str) -> MailboxStatus:
        raise NotImplementedError

    def list_subscribed(self) -> builtins.list[MailboxInfo]:
        raise NotImplementedError

    def subscribe(self, name: str, subscribed: bool = True) -> None:
        raise NotImplementedError

    def create(self, name: str) -> None:
        raise NotImplementedError

    def delete(self, name: str) -> None:
        raise NotImplementedError

    def rename(self, old: str, new: str) -> None:
        raise NotImplementedError
