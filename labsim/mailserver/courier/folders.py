"""Courier-IMAP's folder namespace on a Maildir++ directory.

Courier shows every folder under `INBOX.`: the Maildir++ directory `.Sent`
is the folder `INBOX.Sent`, and a name outside `INBOX.` is not a folder at
all (`NO Invalid mailbox name.`). The shared storage keeps `.Sent` as the
mailbox `Sent`; `CourierNames` translates between the two, so the shared
commands run unchanged on Courier's names.

LIST and LSUB follow imapd's mailboxlist.c: the Maildir's entries are read
in readdir() order (`.` is INBOX, `.x` is INBOX.x), each matching folder is
pushed onto a list and every parent level onto another, then the folders come
out last-seen first, followed by the parents that are not folders themselves
(`\\Noselect \\HasChildren`). The order is the directory's, as on the real
server, so `.` (INBOX) comes where the file system puts it.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import ctypes.util
import os
from dataclasses import dataclass, field
from pathlib import Path

from labsim.mailserver.storage.base import (
    Mailbox,
    MailboxInfo,
    MailboxNameInvalid,
    MailboxNotFound,
    MailboxStatus,
    MailStorage,
)

INBOX = "INBOX"
SEP = "."
NAMESPACE = '* NAMESPACE (("INBOX." ".")) NIL (("#shared." ".")("shared." "."))'
SUBSCRIBE_FILE = "courierimapsubscribed"


class CourierNameInvalid(MailboxNameInvalid):
    """A name outside `INBOX.`, or with an empty level: imapd says `Invalid mailbox name.`"""


def to_storage(name: str) -> str:
    """The shared storage's name for a Courier folder name (INBOX is INBOX)."""
    if name.upper() == INBOX:
        return INBOX
    if name[:6].upper() != INBOX + SEP:
        raise CourierNameInvalid("Invalid mailbox name.")
    rest = name[6:]
    if not rest or any(not part for part in rest.split(SEP)):
        raise CourierNameInvalid("Invalid mailbox name.")
    return rest


def from_storage(name: str) -> str:
    return INBOX if name.upper() == INBOX else f"{INBOX}{SEP}{name}"


class CourierNames(MailStorage):
    """The user's storage seen through Courier's names."""

    def __init__(self, inner: MailStorage) -> None:
        self.inner = inner
        self.separator = SEP
        self.append_readonly = bool(getattr(inner, "append_readonly", False))

    def list(self) -> builtins.list[MailboxInfo]:
        return [MailboxInfo(from_storage(i.name), i.flags, i.selectable, i.exists) for i in self.inner.list()]

    def open(self, name: str, readonly: bool = False) -> Mailbox:
        try:
            inner = to_storage(name)
        except CourierNameInvalid:
            raise MailboxNotFound(f"Mailbox doesn't exist: {name}") from None
        return self.inner.open(inner, readonly)

    def status(self, name: str) -> MailboxStatus:
        try:
            inner = to_storage(name)
        except CourierNameInvalid:
            raise MailboxNotFound(f"Mailbox doesn't exist: {name}") from None
        return self.inner.status(inner)

    def create(self, name: str) -> None:
        self.inner.create(to_storage(name))

    def delete(self, name: str) -> None:
        self.inner.delete(to_storage(name))

    def rename(self, old: str, new: str) -> None:
        self.inner.rename(to_storage(old), to_storage(new))


# --- readdir() in the directory's own order ----------------------------------------------


class _Dirent(ctypes.Structure):
    # glibc's struct dirent on Linux (64-bit inode and offset).
    _fields_ = [
        ("d_ino", ctypes.c_uint64),
        ("d_off", ctypes.c_int64),
        ("d_reclen", ctypes.c_ushort),
        ("d_type", ctypes.c_ubyte),
        ("d_name", ctypes.c_char * 256),
    ]


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.opendir.restype = ctypes.c_void_p
        libc.opendir.argtypes = [ctypes.c_char_p]
        libc.readdir.restype = ctypes.POINTER(_Dirent)
        libc.readdir.argtypes = [ctypes.c_void_p]
        libc.closedir.argtypes = [ctypes.c_void_p]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc() if os.name == "posix" else None


def readdir(path: Path) -> list[str]:
    """Every entry, `.` and `..` included, in the order readdir(3) gives them:
    os.scandir() leaves `.` out, and where `.` (INBOX) comes changes LIST's order."""
    if _LIBC is not None and os.uname().sysname == "Linux":
        dirp = _LIBC.opendir(os.fsencode(path))
        if not dirp:
            return []
        names: list[str] = []
        try:
            while True:
                ent = _LIBC.readdir(dirp)
                if not ent:
                    break
                names.append(os.fsdecode(ent.contents.d_name))
        finally:
            _LIBC.closedir(dirp)
        return names
    try:
        return [".", "..", *os.listdir(path)]
    except OSError:
        return []


# --- LIST / LSUB (mailboxlist.c) ---------------------------------------------------------


def _prep(name: str) -> str:
    """The first level INBOX is case-insensitive; `shared` is lower case."""
    if name[:5].upper() == INBOX:
        head, dot, tail = name.partition(SEP)
        name = head.upper() + dot + tail
    if name.startswith("SHARED"):
        name = "shared" + name[6:]
    return name


def match(name: str, pattern: str) -> bool:
    """imapd's match_recursive: `*` matches anything, `%` anything but the separator."""
    if not pattern:
        return not name
    head = pattern[0]
    if head == "*":
        return any(match(name[i:], pattern[1:]) for i in range(len(name) + 1))
    if head == "%":
        for i in range(len(name) + 1):
            if match(name[i:], pattern[1:]):
                return True
            if i < len(name) and name[i] == SEP:
                return False
        return False
    return bool(name) and name[0] == head and match(name[1:], pattern[1:])


@dataclass
class _Scan:
    pattern: str
    folders: list[str] = field(default_factory=list)  # newest first, as imapd's linked list
    hierarchies: list[str] = field(default_factory=list)

    def entry(self, folder: str) -> None:
        """folder_entry(): keep a folder that matches, and each of its parent levels."""
        folder = _prep(folder)
        pattern = self.pattern
        i = 0
        while i < len(pattern):
            if pattern[i] in "%*":
                while i and pattern[i] != SEP:
                    i -= 1
                break
            i += 1
        # Folders outside the pattern's fixed leading levels are skipped early.
        if len(folder) <= i:
            if not pattern.startswith(folder):
                return
            if len(folder) != i and pattern[len(folder)] != SEP:
                return
        elif i and (folder[:i] != pattern[:i] or folder[i] != SEP):
            return
        add_folder = match(folder, pattern)
        parents = [folder[:j] for j, ch in enumerate(folder) if ch == SEP]
        add_hier = not all(p in self.hierarchies for p in parents)
        if add_folder and folder not in self.folders:
            self.folders.insert(0, folder)
        if add_hier:
            for p in parents:
                if p not in self.hierarchies:
                    self.hierarchies.insert(0, p)


def has_new(maildir: Path) -> bool:
    """hasnewmsgs(): any message in new/ or cur/ without the Seen flag."""
    for sub in ("new", "cur"):
        for name in readdir(maildir / sub):
            if name.startswith("."):
                continue
            _, sep, info = name.rpartition(":")
            if not sep or not info.startswith("2,") or "S" not in info:
                return True
    return False


def scan_pattern(reference: str, name: str, exists: bool) -> str | None:
    """mailbox_scan(): the reference and the name joined, or None for an unknown reference."""
    pattern = reference[:-1] if reference.endswith(SEP) else reference
    if pattern and not exists:
        return None
    if pattern and name:
        pattern += SEP
    pattern += name
    if name and pattern.endswith(SEP):
        pattern = pattern[:-1]
    return _prep(pattern)


def list_lines(
    verb: str, maildir: Path, pattern: str, null_name: bool, subscribed: builtins.list[str] | None
) -> builtins.list[str]:
    """The untagged LIST/LSUB lines for a joined pattern (subscribed: LSUB's names)."""
    scan = _Scan(pattern)
    if subscribed is None:
        for entry in readdir(maildir):
            if not entry.startswith(".") or entry == "..":
                continue
            scan.entry(INBOX if entry == "." else INBOX + entry)
    else:
        for entry in subscribed:
            if not entry.startswith("#"):
                scan.entry(entry)
    lines: list[str] = []
    found = "\\Noselect"
    for folder in scan.folders:
        attrs: list[str] = []
        if folder == INBOX:
            attrs.append("\\Marked" if has_new(maildir) else "\\Unmarked")
        if folder in scan.hierarchies:
            attrs.append("\\HasChildren")
        else:
            attrs.append("\\HasNoChildren")
        found = " ".join(attrs)
        lines.append(f'* {verb} ({" ".join(attrs)}) "{SEP}" "{folder}"')
    taken = set(scan.folders)
    for hier in scan.hierarchies:
        if hier in taken or not match(_prep(hier), pattern):
            continue
        found = "\\Noselect \\HasChildren"
        lines.append(f'* {verb} (\\Noselect \\HasChildren) "{SEP}" "{hier}"')
    if null_name:
        return [f'* {verb} ({found}) "{SEP}" ""']
    return lines


# --- subscriptions (courierimapsubscribed: one folder name a line) -----------------------


def read_subscriptions(maildir: Path) -> builtins.list[str]:
    try:
        text = (maildir / SUBSCRIBE_FILE).read_text("utf-8", "replace")
    except OSError:
        return []
    return [line for line in text.split("\n") if line]


def write_subscriptions(maildir: Path, names: builtins.list[str], uid: int, gid: int) -> None:
    path = maildir / SUBSCRIBE_FILE
    tmp = maildir / f"{SUBSCRIBE_FILE}.tmp"
    tmp.write_text("".join(f"{n}\n" for n in names), "utf-8")
    if os.geteuid() == 0 and uid >= 0:
        with contextlib.suppress(OSError):
            os.chown(tmp, uid, gid)
    os.replace(tmp, path)
