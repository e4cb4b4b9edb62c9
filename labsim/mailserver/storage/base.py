"""The mailbox interface protocol code uses; maildir.py and mbox.py implement it.

    storage = open_storage(root, location, userinfo, log, settings)   # location.py
    storage.separator                       # "." on Maildir++, "/" with LAYOUT=fs and mbox
    storage.list()                          # [MailboxInfo], INBOX included
    box = storage.open("INBOX", readonly=False)
    box.messages                            # [MessageInfo] in sequence order
    box.read(msg)                           # bytes, CRLF line ends, exactly msg.size long
    box.set_flags(msg, {"\\Seen"})
    box.expunge([uid, ...])                 # for POP3 DELE at QUIT and IMAP EXPUNGE
    box.sync()                              # pick up changes made by others -> SyncChanges
    box.close()
"""

from __future__ import annotations

from dataclasses import dataclass, field


class StorageError(Exception):
    """A failure to report; `message` is worded as Dovecot logs it."""


class MailboxNotFound(StorageError):
    pass


class MailboxNameInvalid(StorageError):
    pass


@dataclass
class MessageInfo:
    uid: int
    flags: set[str]  # "\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", keywords
    size: int  # RFC822.SIZE: bytes as sent, with CRLF line ends
    internaldate: float  # epoch seconds
    recent: bool = False
    key: str = ""  # storage-specific: maildir base name, mbox offset


@dataclass
class MailboxInfo:
    name: str  # as IMAP shows it, with the storage's separator
    flags: list[str] = field(default_factory=list)  # \HasChildren, \HasNoChildren, \Noselect, \NoInferiors
    selectable: bool = True


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

    def read(self, msg: MessageInfo) -> bytes:
        raise NotImplementedError

    def set_flags(self, msg: MessageInfo, flags: set[str]) -> None:
        raise NotImplementedError

    def expunge(self, uids: list[int]) -> list[int]:
        raise NotImplementedError

    def sync(self) -> SyncChanges:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class MailStorage:
    separator: str

    def list(self) -> list[MailboxInfo]:
        raise NotImplementedError

    def open(self, name: str, readonly: bool = False) -> Mailbox:
        raise NotImplementedError
