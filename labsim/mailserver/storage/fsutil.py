"""File-system helpers shared by the mail formats: Dovecot-worded errors,
directory creation with the user's ownership, atomic writes, lock files."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from labsim.mailserver.auth import unixdb
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.storage.base import MailboxNoPermission, StorageError, StoragePermissionError

LOCK_STALE_SECS = 120.0  # Dovecot treats a dotlock older than 2 min as stale
LOCK_WAIT_SECS = 30.0

T = TypeVar("T")

# mail_privileged_group, made effective for one operation on INBOX: set by privileges.AsUser
# while a session's storage call runs as the user (None: nothing to add, e.g. the server runs
# as the user already).
_privileged: Callable[[], contextlib.AbstractContextManager[None]] | None = None


def set_privileged(use: Callable[[], contextlib.AbstractContextManager[None]] | None) -> None:
    global _privileged
    _privileged = use


def privileged_retry(op: Callable[[], T]) -> T:
    """`op` as the user; when a permission stops it, once more with mail_privileged_group.
    Dovecot does this for INBOX's creation and its dotlock (in a spool such as Debian's
    /var/mail, root:mail 2775); everything else, reading the file included, stays the user's."""
    try:
        return op()
    except PermissionError:  # StoragePermissionError is one too
        if _privileged is None:
            raise
    with _privileged():
        return op()


def _idname(root: LabRoot, num: int, group: bool) -> str:
    # Names come from the lab's own /etc/passwd and /etc/group, as the server's users do.
    entry = unixdb.getgrgid(root, num) if group else unixdb.getpwuid(root, num)
    if entry is None:
        return str(num)
    return f"{num}({entry.name})"


def _perm_hint(root: LabRoot, host: Path, want_write_parent: bool, owner_of_unreadable: bool = True) -> str:
    """What stops this process, as Dovecot explains an EACCES."""
    ids = f"euid={_idname(root, os.geteuid(), False)} egid={_idname(root, os.getegid(), True)}"
    # Walk from the top of the lab root down to the parent, looking for the
    # first directory this process cannot search.
    parents = [p for p in reversed(host.parents) if p == root.root or root.root in p.parents]
    culprit: Path | None = None
    why = ""
    for d in parents:
        if not os.access(d, os.X_OK):
            culprit, why = d, "missing +x perm"
            break
    if culprit is None:
        if want_write_parent and not os.access(host.parent, os.W_OK):
            culprit, why = host.parent, "missing +w perm"
        elif not want_write_parent and host.exists():
            need = os.R_OK | os.X_OK if host.is_dir() else os.R_OK
            if not os.access(host, need):
                culprit, why = host, "missing +r perm"
    if culprit is None:
        return f"{ids} UNIX perms appear ok (ACL/MAC wrong?)"
    if why == "missing +r perm" and not owner_of_unreadable:
        # Dovecot names the owner of a directory it cannot search or write, not of the
        # directory it cannot list: `opendir(/home/alice/Maildir) ... missing +r perm: ...)`.
        return f"{ids} {why}: {root.lab_path(culprit)}"
    try:
        st = culprit.stat()
        owner = f", dir owned by {st.st_uid}:{st.st_gid} mode=0{stat.S_IMODE(st.st_mode):o}"
        if why == "missing +w perm" and missing_group(root, culprit) is not None:
            owner = f", we're not in group {_idname(root, st.st_gid, True)}" + owner
    except OSError:
        owner = ""
    try:
        shown = root.lab_path(culprit)
    except ValueError:
        shown = str(culprit)
    return f"{ids} {why}: {shown}{owner}"


def missing_group(root: LabRoot, directory: Path) -> str | None:
    """The group name when `directory` is group-writable but we are not in its
    group: the /var/mail case Dovecot solves with mail_privileged_group."""
    try:
        st = directory.stat()
    except OSError:
        return None
    if not st.st_mode & stat.S_IWGRP or st.st_gid == os.getegid() or st.st_gid in os.getgroups():
        return None
    entry = unixdb.getgrgid(root, st.st_gid)
    return entry.name if entry is not None else str(st.st_gid)


def os_error(root: LabRoot, func: str, host: Path, exc: OSError, *, creating: bool = False) -> StorageError:
    """A StorageError worded like Dovecot's log line: `stat(/home/alice/Maildir) failed: ...`."""
    try:
        shown = root.lab_path(host)
    except ValueError:
        shown = str(host)
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EACCES:
        hint = _perm_hint(root, host, creating, owner_of_unreadable=func != "opendir")
        return StoragePermissionError(f"{func}({shown}) failed: {reason} ({hint})")
    if exc.errno == errno.EPERM:
        return StoragePermissionError(f"{func}({shown}) failed: {reason}")
    return StorageError(f"{func}({shown}) failed: {reason}")


def make_dirs(root: LabRoot, host: Path, uid: int, gid: int, mode: int = 0o700) -> None:
    """mkdir -p, giving each created directory to the mail user when we run as root."""
    missing: list[Path] = []
    p = host
    while True:
        try:
            st = p.stat()
        except FileNotFoundError:
            missing.append(p)
            if p.parent == p:
                break
            p = p.parent
            continue
        except OSError as exc:
            raise os_error(root, "stat", p, exc) from exc
        if not stat.S_ISDIR(st.st_mode):
            raise StorageError(f"mkdir({root.lab_path(host)}) failed: Not a directory")
        break
    for d in reversed(missing):
        try:
            os.mkdir(d, mode)
        except FileExistsError:
            continue
        except OSError as exc:
            raise os_error(root, "mkdir", d, exc, creating=True) from exc
        chown_to_user(d, uid, gid)


def index_dir(root: LabRoot, base: Path, index: str, index_subdir: str = "") -> Path | None:
    """Where Dovecot keeps the list's index: INDEX= (None for MEMORY), else the driver's
    place under the mail root (`.imap` for mbox, the root itself for Maildir)."""
    if index.upper() == "MEMORY":
        return None
    if index:
        return root.path(index)
    return base / index_subdir if index_subdir else base


def check_index_dir(root: LabRoot, base: Path, index: str, index_subdir: str = "") -> None:
    """Dovecot opens a mailbox's index before the mailbox, making the index directory when
    it is missing; when it cannot (a ~/mail that is root's), the command gets [NOPERM]."""
    where = index_dir(root, base, index, index_subdir)
    if where is None or where.is_dir() or not where.parent.is_dir():
        return
    if not os.access(where.parent, os.W_OK | os.X_OK):
        denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        raise MailboxNoPermission(str(os_error(root, "mkdir", where, denied, creating=True)))


def check_list_lock(root: LabRoot, base: Path, index: str, index_subdir: str = "") -> None:
    """Dovecot 2.3 locks the mailbox list (`mailboxes.lock` in the list's index directory)
    before it creates or renames a mailbox. When that lock cannot be made, the command fails
    with an internal error, not with [NOPERM]: a learner whose ~/mail is root's sees
    [SERVERBUG] from the real server too, with this line in the log.

    `index` is the location's INDEX= (MEMORY: no index, the lock goes to the mail root);
    `index_subdir` is where the driver keeps its index under the root by default (`.imap`
    for mbox, the root itself for Maildir)."""
    lock_dir = index_dir(root, base, index, index_subdir) or base
    if not lock_dir.is_dir():
        # Dovecot makes the index directory first; only its parent has to be writable.
        parent = lock_dir.parent
        if parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK):
            denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            raise StorageError(str(os_error(root, "mkdir", lock_dir, denied, creating=True)))
        return
    if not os.access(lock_dir, os.W_OK | os.X_OK):
        lock = root.lab_path(lock_dir / "mailboxes.lock")
        # A directory it cannot even enter fails at the lock's open(); one it may enter but
        # not write, at the temp file that becomes the lock (both seen on Dovecot 2.3.19).
        step = "safe_mkstemp" if os.access(lock_dir, os.X_OK) else "open"
        raise StorageError(
            f"Couldn't create mailbox list lock {lock}: file_create_locked({lock}) failed: "
            f"{step}({lock}) failed: Permission denied"
        )


def chown_to_user(path: Path, uid: int, gid: int) -> None:
    if os.geteuid() == 0 and uid >= 0:
        with contextlib.suppress(OSError):
            os.chown(path, uid, gid)


def _remove_stale_temps(host: Path) -> None:
    """Temp files a crashed writer left next to `host` (older than a stale lock)."""
    try:
        entries = list(os.scandir(host.parent))
    except OSError:
        return
    prefix = f".{host.name}."
    now = time.time()
    for e in entries:
        if e.name.startswith(prefix) and e.name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                if now - e.stat().st_mtime > LOCK_STALE_SECS:
                    os.unlink(e.path)


def atomic_write(
    root: LabRoot, host: Path, data: bytes | Sequence[bytes], uid: int, gid: int, mode: int = 0o600
) -> None:
    """Replace a file so that a crash leaves either the old or the new content.
    `data` may come in pieces (a whole mbox, message by message): they are written
    as they are, without joining them into one more copy first."""
    _remove_stale_temps(host)
    tmp = host.with_name(f".{host.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise os_error(root, "open", tmp, exc, creating=True) from exc
    try:
        try:
            if isinstance(data, bytes):
                _write_all(fd, data)
            else:
                _writev_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        chown_to_user(tmp, uid, gid)
        os.replace(tmp, host)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise os_error(root, "write", host, exc) from exc


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


_IOV_MAX = 1024  # what Linux takes in one writev()


def _writev_all(fd: int, pieces: Sequence[bytes]) -> None:
    for start in range(0, len(pieces), _IOV_MAX):
        batch = pieces[start : start + _IOV_MAX]
        written = os.writev(fd, batch)
        if written < sum(len(p) for p in batch):  # a short write: the rest the plain way
            _write_all(fd, b"".join(batch)[written:])


_HOST = socket.gethostname()


def _owner_is_gone(lock: Path) -> bool:
    """A lock written by a process on this host that no longer exists is stale
    at once (the content is `<pid>:<host>`, as Dovecot writes its dotlocks)."""
    try:
        text = lock.read_text("ascii", "replace").strip()
    except OSError:
        return False
    pid_text, _, host = text.partition(":")
    if host != _HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


@contextlib.contextmanager
def dotlock(
    root: LabRoot, target: Path, *, wait: float = LOCK_WAIT_SECS, privileged: bool = False
) -> Iterator[None]:
    """`<target>.lock`, created O_EXCL; a lock older than two minutes is stale.
    `privileged`: made and removed with mail_privileged_group (INBOX in a spool)."""
    lock = target.with_name(target.name + ".lock")

    def attempt(op: Callable[[], T]) -> T:
        return privileged_retry(op) if privileged else op()

    deadline = time.monotonic() + wait
    while True:
        try:
            fd = attempt(lambda: os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            try:
                age = time.time() - lock.stat().st_mtime
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise os_error(root, "stat", lock, exc) from exc
            if age > LOCK_STALE_SECS or _owner_is_gone(lock):
                with contextlib.suppress(FileNotFoundError):
                    attempt(lock.unlink)
                continue
            if time.monotonic() >= deadline:
                raise StorageError(
                    f"file_dotlock_create({root.lab_path(target)}) failed: Timeout while waiting for lock"
                ) from None
            time.sleep(0.01)
            continue
        except OSError as exc:
            # Dovecot names the locked file, not the .lock.
            raise os_error(root, "file_dotlock_create", target, exc, creating=True) from exc
        try:
            os.write(fd, f"{os.getpid()}:{_HOST}".encode())
        finally:
            os.close(fd)
        break
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            attempt(lock.unlink)


def list_index_errors(root: LabRoot, base: Path, index: str, index_subdir: str = "") -> list[str]:
    """What Dovecot 2.3 logs when it can neither open nor make the mailbox list index
    (`dovecot.list.index` in the list's index directory); it then lists INBOX alone.

    mbox keeps it in `<root>/.imap`: a mail root that is root's (mode 755) lets the user read
    the folders, but not make `.imap`. Maildir keeps it in the Maildir itself: one the user
    cannot enter or read hides every folder."""
    where = index_dir(root, base, index, index_subdir)
    denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    if index_subdir:  # mbox: the index directory has to be made
        if where is None or where.is_dir() or not where.parent.is_dir():
            return []
        if os.access(where.parent, os.W_OK | os.X_OK):
            return []
        return [str(os_error(root, "mkdir", where, denied, creating=True))]
    if not base.is_dir() or os.access(base, os.R_OK | os.X_OK):
        return []
    errors = []
    if where is not None and not os.access(where, os.X_OK):
        errors.append(str(os_error(root, "open", where / "dovecot.list.index.log", denied)))
    errors.append(str(os_error(root, "opendir", base, denied)))
    return errors
