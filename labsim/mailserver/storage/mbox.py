"""mbox as Dovecot reads and writes it.

A message starts at a `From ` line; the empty line before the next `From `
line belongs to the separator. Dovecot keeps its state in headers it hides
from clients: `X-IMAPbase: <uidvalidity> <last UID> [keywords]` in the first
message, `X-UID`, `Status` (R = \\Seen, O = no longer \\Recent), `X-Status`
(A F T D = \\Answered \\Flagged \\Draft \\Deleted) and `X-Keywords`.
`Content-Length` is honoured when it points exactly at the next `From ` line.

Like Dovecot (mboxo), `>From ` lines in bodies are shown to clients as they
are in the file: nothing is unquoted on read.

Every change is a read-modify-write under `<file>.lock` plus an fcntl lock,
written to a temporary file and renamed over the original, so a crash leaves
either the old or the new mailbox, never half of one.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.storage.base import (
    MailboxExists,
    MailboxInfo,
    MailboxNoPermission,
    MailboxNotFound,
    MailboxStatus,
    MailStorage,
    MessageExpunged,
    MessageInfo,
    StorageError,
    StoragePermissionError,
    SyncChanges,
    frozen_flags,
)
from labsim.mailserver.storage.fsutil import (
    LOCK_WAIT_SECS,
    atomic_write,
    check_index_dir,
    check_list_lock,
    chown_to_user,
    dotlock,
    list_index_errors,
    make_dirs,
    missing_group,
    os_error,
    privileged_retry,
)
from labsim.mailserver.storage.location import MailLocation
from labsim.mailserver.storage.mailbox_base import BaseMailbox, expunge_report
from labsim.mailserver.storage.mbox_format import (
    MboxMessage,
    assign_uids,
    new_message,
    parse_mbox,
    parse_message,
    pseudo_message,
    render_and_reparse,
    render_pseudo,
)
from labsim.mailserver.storage.names import decode_mutf7, encode_mutf7, is_inbox, split_name
from labsim.mailserver.storage.subscriptions import (
    read_subscriptions,
    set_subscribed,
)


@contextlib.contextmanager
def mbox_lock(
    root: LabRoot, path: Path, wait: float = LOCK_WAIT_SECS, privileged: bool = False
) -> Iterator[None]:
    """Dovecot's default write locks on Debian: a dotlock, then fcntl.
    Local delivery should take the same lock before appending. `privileged`: INBOX, whose
    dotlock may need mail_privileged_group; the file itself is opened as the user."""
    with dotlock(root, path, wait=wait, privileged=privileged):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            yield
            return
        except OSError as exc:
            raise os_error(root, "open", path, exc) from exc
        try:
            _fcntl_lock(root, path, fd, wait)
            yield
        finally:
            os.close(fd)


def _fcntl_lock(root: LabRoot, path: Path, fd: int, wait: float) -> None:
    # Never block for good: a mail reader that holds the lock must not hang the server.
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except (BlockingIOError, PermissionError):
            if time.monotonic() >= deadline:
                raise StorageError(
                    f"fcntl({root.lab_path(path)}, write-lock, F_SETLKW) locking failed: "
                    f"Timed out after {round(wait)} seconds"
                ) from None
            time.sleep(0.02)
        except OSError as exc:
            raise os_error(root, "fcntl", path, exc) from exc


@dataclass(slots=True)
class _Synced:
    """One version of the file with its UIDs given, as every session sees it: worked
    out once for all of them, and never changed."""

    uidvalidity: int
    uidnext: int
    needs_write: bool  # assign_uids() changed what only a write records
    by_uid: dict[int, MboxMessage]
    new: frozenset[int]  # no O in Status: \Recent to whoever sees them first
    unclaimed: frozenset[int]  # new, and not left \Recent on purpose: a writable look claims them
    rows: list[tuple[int, frozenset[str], int, float | None, str]]  # uid, flags, size, date, key
    undated: bool  # some From_ line has no (usable) date: those take the file's mtime


@dataclass(slots=True)
class _Version:
    stamp: tuple[int, int, int]
    msgs: list[MboxMessage]  # the X-IMAP holder first, when the file has one
    synced: _Synced | None = None


# Parsed mbox files by path, with the (inode, size, mtime) they were read at: every
# session on an unchanged file shares one parse and one view of it, as Dovecot's
# sessions share its index. Our own writes replace the file (new inode); delivery
# appends (new size).
PARSED_CACHE_FILES = 16
_PARSED: dict[Path, _Version] = {}


def _rows(msgs: list[MboxMessage]) -> list[tuple[int, frozenset[str], int, float | None, str]]:
    return [(m.uid, frozen_flags(m.flags), m.client_size(), m.from_date(), str(m.uid)) for m in msgs]


class MboxMailbox(BaseMailbox):
    def __init__(self, storage: MboxStorage, name: str, path: Path, readonly: bool) -> None:
        super().__init__()
        self.storage = storage
        self.root = storage.root
        self.name = name
        self.path = path
        self.readonly = readonly
        self.uidvalidity = 0
        self.uidnext = 1
        self.messages = []
        self._parsed: dict[int, MboxMessage] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._inbox = name == "INBOX"
        self._refresh(None, apply=True)

    def _read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise os_error(self.root, "open", self.path, exc) from exc

    def _refresh(self, mutate: Callable[[list[MboxMessage]], bool] | None, apply: bool) -> SyncChanges:
        """Re-read the file; when writable, apply `mutate` and write back under the lock.

        Only sync() (apply=True) changes what the client sees in `messages`:
        a STORE or EXPUNGE must not shift sequence numbers under the client."""
        if mutate is None:
            stamp = self._file_stamp()
            if self._stamp is not None and self._stamp == stamp:
                return SyncChanges()  # untouched since we last read it (writes replace the inode)
            view = self._synced(stamp)
            # Nothing to write: no lock needed, as the file is the one the view was made from.
            if view is not None and (self.readonly or not (view.needs_write or view.unclaimed)):
                return self._show(view, stamp, apply)
        if self.readonly:
            msgs = self._load(shared=True)
            pseudo = msgs.pop(0) if msgs and msgs[0].pseudo else None
            uv, un, _ = assign_uids(msgs, pseudo, self._fresh_uidvalidity())
            claimed: set[int] = set()
            recent = {m.uid for m in msgs if not m.old}
        else:
            with self._locked():
                shared = mutate is None
                msgs = self._load(shared)
                pseudo = msgs.pop(0) if msgs and msgs[0].pseudo else None
                uv, un, dirty = assign_uids(msgs, pseudo, self._fresh_uidvalidity())
                self.uidnext = un
                if mutate is not None and mutate(msgs):
                    dirty = True
                    un = max([un, *(m.uid + 1 for m in msgs)])
                recent = {m.uid for m in msgs if not m.old and not m.keep_recent}
                claimed = recent
                if dirty or claimed:
                    if shared:  # writing marks messages: not on the ones other sessions share
                        msgs = [m.copy() for m in msgs]
                        pseudo = pseudo.copy() if pseudo is not None else None
                    written, reparsed = self._write(msgs, uv, un, pseudo)
                    # What clients see from now on is what is in the file.
                    msgs = self._remember(self._file_stamp(), written, shared=True, parsed=reparsed)
                    pseudo = msgs.pop(0) if msgs and msgs[0].pseudo else None
                    uv, un, _ = assign_uids(msgs, pseudo)
        self._recent |= claimed if not self.readonly else recent
        self.uidvalidity, self.uidnext = uv, un
        self._stamp = self._file_stamp() if apply else None
        self._parsed = {m.uid: m for m in msgs}
        if not apply:
            return SyncChanges()
        rows = _rows(msgs)
        return self._apply_scan(self._infos(rows, undated=any(not r[3] for r in rows)))

    def _synced(self, stamp: tuple[int, int, int] | None) -> _Synced | None:
        """The shared view of the file at `stamp`, when that version has been parsed."""
        hit = _PARSED.get(self.path)
        if stamp is None or hit is None or hit.stamp != stamp or not self._readable():
            return None
        if hit.synced is None:
            msgs = list(hit.msgs)
            pseudo = msgs.pop(0) if msgs and msgs[0].pseudo else None
            # On the shared objects: assign_uids() gives the same file the same values.
            uv, un, dirty = assign_uids(msgs, pseudo, self._fresh_uidvalidity())
            rows = _rows(msgs)
            hit.synced = _Synced(
                uidvalidity=uv,
                uidnext=un,
                needs_write=dirty,
                by_uid={m.uid: m for m in msgs},
                new=frozenset(m.uid for m in msgs if not m.old),
                unclaimed=frozenset(m.uid for m in msgs if not m.old and not m.keep_recent),
                rows=rows,
                undated=any(not r[3] for r in rows),
            )
        return hit.synced

    def _show(self, view: _Synced, stamp: tuple[int, int, int] | None, apply: bool) -> SyncChanges:
        if self.readonly:
            self._recent |= view.new
        self.uidvalidity, self.uidnext = view.uidvalidity, view.uidnext
        self._stamp = stamp if apply else None
        self._parsed = view.by_uid  # shared: only ever replaced, never changed
        if not apply:
            return SyncChanges()
        return self._apply_scan(self._infos(view.rows, view.undated))

    def _infos(
        self, rows: list[tuple[int, frozenset[str], int, float | None, str]], undated: bool
    ) -> list[MessageInfo]:
        fallback = self._mtime() if undated else 0.0
        return [
            MessageInfo(uid, flags, size, date or fallback, False, key)
            for uid, flags, size, date, key in rows
        ]

    def _load(self, shared: bool) -> list[MboxMessage]:
        """The file's messages (the X-IMAP holder included), parsed once per version
        of the file for all sessions. `shared`: the very objects other sessions see,
        which only assign_uids() may touch (it sets the same values for the same
        file); otherwise copies the caller may change."""
        stamp = self._file_stamp()
        hit = _PARSED.get(self.path)
        if stamp is not None and hit is not None and hit.stamp == stamp and self._readable():
            return list(hit.msgs) if shared else [m.copy() for m in hit.msgs]
        return self._remember(stamp, self._read(), shared)

    def _remember(
        self,
        stamp: tuple[int, int, int] | None,
        data: bytes | list[bytes],
        shared: bool,
        parsed: list[MboxMessage] | None = None,
    ) -> list[MboxMessage]:
        """The file's bytes (whole or in pieces) parsed, or `parsed`: what parse_mbox()
        gives for them, known already; with sizes and dates worked out, and kept for
        the next session."""
        size = len(data) if isinstance(data, bytes) else sum(len(p) for p in data)
        if parsed is None:
            whole = data if isinstance(data, bytes) else b"".join(data)
            parsed = parse_mbox(whole, self.root.lab_path(self.path))
        msgs = parsed
        for m in msgs:
            m.client_size()
            m.from_date()
        # Cached only when the file did not change while we read it.
        if stamp is not None and stamp == self._file_stamp() and size == stamp[1]:
            _PARSED.pop(self.path, None)
            _PARSED[self.path] = _Version(stamp, msgs)
            while len(_PARSED) > PARSED_CACHE_FILES:
                _PARSED.pop(next(iter(_PARSED)))
            return list(msgs) if shared else [m.copy() for m in msgs]
        return msgs

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(mbox_lock(self.root, self.path, privileged=self._inbox))
            except StoragePermissionError as exc:
                # The classic /var/mail trap: Dovecot names the setting that fixes it.
                text = str(exc)
                lock_refused = text.startswith("file_dotlock_create(") and "we're not in group" in text
                group = missing_group(self.root, self.path.parent) if lock_refused else None
                hint = f" (set mail_privileged_group={group})" if group else ""
                raise StoragePermissionError(f"Mailbox {self.name}: {exc}{hint}") from exc
            yield

    def _readable(self) -> bool:
        """Whether this session may read the file: a parse another user's session left must
        not show it to one who may not (a shared mail_location gone wrong)."""
        return os.access(self.path, os.R_OK)

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _fresh_uidvalidity(self) -> int:
        """For a file with no X-IMAPbase yet: the same value on every look until a write records
        it (Dovecot keeps it in its index meanwhile). The file's time seeds it, so another
        process (doveadm) that looks first agrees."""
        return _FRESH_UIDVALIDITY.setdefault(str(self.path), int(self._mtime()))

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return time.time()

    def _write(
        self, msgs: list[MboxMessage], uv: int, un: int, pseudo: MboxMessage | None
    ) -> tuple[list[bytes], list[MboxMessage] | None]:
        """Write the mailbox; returns the bytes written, in pieces, and what
        parse_mbox() finds in them (None when only parsing them tells)."""
        keywords = sorted({f for m in msgs for f in m.flags if not f.startswith("\\")})
        out: list[bytes] = []
        # A Content-Length may hold a message together across a From_ line: then the
        # file is parsed again instead of being taken message by message.
        reparsed: list[MboxMessage] | None = [] if not any(m.has_content_length() for m in msgs) else None
        if pseudo is None and not msgs and un > 1:
            # Emptied by expunge: keep UIDVALIDITY and the last UID where Dovecot does.
            pseudo = parse_message(pseudo_message(uv, un))
            pseudo.pseudo = True
        if pseudo is not None:
            text = render_pseudo(pseudo, uv, un, keywords)
            out += (text, b"\n")
            if reparsed is not None:
                again = parse_message(text)
                clean = b"\nFrom " not in text and not again.has_content_length()
                reparsed = [again] if clean else None
        for i, m in enumerate(msgs):
            base = (uv, un, keywords) if i == 0 and pseudo is None else None
            if i == 0 and m.imapbase != base:
                m.dirty = True
            text, parsed = render_and_reparse(m, base, recent_claimed=True)
            out += (text, b"\n")
            if reparsed is not None:
                if parsed is None:
                    reparsed = None
                else:
                    reparsed.append(parsed)
        try:
            st = self.path.stat()
            mode, uid, gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
        except FileNotFoundError:
            mode, uid, gid = 0o600, self.storage.user.uid, self.storage.user.gid
        except OSError as exc:
            raise os_error(self.root, "stat", self.path, exc) from exc
        # A new file replaces the old one in its directory: in a spool that takes the group
        # mail_privileged_group gives (Dovecot rewrites in place, which needs it only for the
        # lock; the lock has already opened the file for writing as the user).
        if self._inbox:
            privileged_retry(lambda: atomic_write(self.root, self.path, out, uid, gid, mode))
        else:
            atomic_write(self.root, self.path, out, uid, gid, mode)
        os.chmod(self.path, mode)
        return out, reparsed

    # -- interface -----------------------------------------------------------------

    def read(self, msg: MessageInfo) -> bytes:
        m = self._parsed.get(msg.uid)
        if m is None:
            raise MessageExpunged(f"Message UID {msg.uid} was expunged")
        return m.client_bytes()

    def set_flags(self, msg: MessageInfo, flags: set[str]) -> None:
        if self.readonly:
            raise StorageError("Mailbox is read-only")
        wanted = {f for f in flags if f != "\\Recent"}

        def mutate(msgs: list[MboxMessage]) -> bool:
            for m in msgs:
                if m.uid == msg.uid:
                    if m.flags != wanted:
                        m.flags = set(wanted)
                        m.dirty = True
                        return True
                    return False
            raise MessageExpunged(f"Message UID {msg.uid} was expunged")

        self._refresh(mutate, apply=False)
        msg.flags = frozen_flags(wanted)

    def set_flags_many(self, changes: list[tuple[MessageInfo, set[str]]]) -> None:
        if not changes:
            return
        if self.readonly:
            raise StorageError("Mailbox is read-only")
        wanted = [(msg, {f for f in flags if f != "\\Recent"}) for msg, flags in changes]
        applied: list[tuple[MessageInfo, set[str]]] = []
        missing: list[int] = []

        def mutate(msgs: list[MboxMessage]) -> bool:
            # As one set_flags() after another: those before a vanished message
            # are saved, then the vanished one is reported.
            by_uid = {m.uid: m for m in msgs}
            dirty = False
            for msg, flags in wanted:
                m = by_uid.get(msg.uid)
                if m is None:
                    missing.append(msg.uid)
                    break
                applied.append((msg, flags))
                if m.flags != flags:
                    m.flags = set(flags)
                    m.dirty = dirty = True
            return dirty

        self._refresh(mutate, apply=False)
        for msg, flags in applied:
            msg.flags = frozen_flags(flags)
        if missing:
            raise MessageExpunged(f"Message UID {missing[0]} was expunged")

    def expunge(self, uids: list[int]) -> list[int]:
        if self.readonly:
            raise StorageError("Mailbox is read-only")
        gone = {m.uid for m in self.messages if m.uid in set(uids)}
        seqs = expunge_report(self.messages, gone)

        def mutate(msgs: list[MboxMessage]) -> bool:
            before = len(msgs)
            msgs[:] = [m for m in msgs if m.uid not in gone]
            if msgs and before != len(msgs) and msgs[0].imapbase is None:
                msgs[0].dirty = True
            return before != len(msgs)

        self.messages = [m for m in self.messages if m.uid not in gone]
        self._refresh(mutate, apply=False)
        return seqs

    def sync(self) -> SyncChanges:
        return self._refresh(None, apply=True)

    def append(self, data: bytes, flags: set[str] | None = None, internaldate: float | None = None) -> int:
        if self.readonly:
            raise StorageError("Mailbox is read-only")
        new = new_message(data, flags or set(), internaldate)
        assigned: list[int] = []

        def mutate(msgs: list[MboxMessage]) -> bool:
            new.uid = max([self.uidnext, *(m.uid + 1 for m in msgs)])
            assigned.append(new.uid)
            msgs.append(new)
            return True

        self._refresh(mutate, apply=False)
        return assigned[0]

    def close(self) -> None:
        self._parsed = {}

    def status(self) -> MailboxStatus:
        st = super().status()
        if self.readonly:
            st.recent = sum(1 for m in self._parsed.values() if not m.old)
        return st

    @property
    def min_index_size(self) -> int:
        return self.storage.min_index_size


# path -> the UIDVALIDITY given to an mbox file that has no X-IMAPbase header yet
_FRESH_UIDVALIDITY: dict[str, int] = {}


class MboxStorage(MailStorage):
    def __init__(
        self,
        root: LabRoot,
        location: MailLocation,
        user: UserInfo,
        *,
        log: DovecotLog,
        log_prefix: str = "",
        min_index_size: int = 0,
    ) -> None:
        self.root = root
        self.location = location
        self.user = user
        self.log = log
        self.log_prefix = log_prefix or f"imap({user.user})"
        self.separator = "/"
        # Accepted and kept so the setting flows through; we never need an index.
        self.min_index_size = min_index_size
        self.base = root.path(location.root)
        self.inbox_path = root.path(location.inbox) if location.inbox else self.base / "inbox"

    def mailbox_path(self, name: str) -> Path:
        if is_inbox(name):
            return self.inbox_path
        parts = [encode_mutf7(p) for p in split_name(name, "/", slash_allowed=True)]
        path = self.base.joinpath(*parts)
        if self.base not in path.parents:
            raise StorageError("Invalid mailbox name")
        return path

    def _ensure_root(self) -> None:
        make_dirs(self.root, self.base, self.user.uid, self.user.gid)

    def list(self) -> list[MailboxInfo]:
        self._ensure_root()
        out = [MailboxInfo("INBOX", ["\\HasNoChildren"])]

        def walk(d: Path, prefix: str, depth: int) -> list[MailboxInfo]:
            found: list[MailboxInfo] = []
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError:
                return found
            for e in entries:
                if e.name.startswith(".") or e.name.endswith(".lock"):
                    continue
                path = Path(e.path)
                if path == self.inbox_path:
                    continue
                try:
                    shown = decode_mutf7(e.name)
                except StorageError:
                    shown = e.name
                full = prefix + shown
                if is_inbox(full):
                    continue
                if e.is_dir():
                    children = walk(path, full + "/", depth + 1) if depth < 16 else []
                    flag = "\\HasChildren" if children else "\\HasNoChildren"
                    found.append(MailboxInfo(full, ["\\Noselect", flag], selectable=False))
                    found.extend(children)
                elif e.is_file():
                    found.append(MailboxInfo(full, ["\\NoInferiors"]))
            return found

        out.extend(walk(self.base, "", 1))
        return out

    def list_index_errors(self) -> builtins.list[str]:
        return list_index_errors(self.root, self.base, self.location.index, ".imap")

    def open(self, name: str, readonly: bool = False) -> MboxMailbox:
        path = self.mailbox_path(name)
        if is_inbox(name):
            name = "INBOX"
            check_index_dir(self.root, self.base, self.location.index, ".imap")
            self._autocreate_inbox()
        else:
            self._ensure_root()
            try:
                st = path.stat()
            except FileNotFoundError:
                raise MailboxNotFound(f"Mailbox doesn't exist: {name}") from None
            except OSError as exc:
                raise os_error(self.root, "stat", path, exc) from exc
            if stat.S_ISDIR(st.st_mode):
                raise StorageError("Mailbox isn't selectable")
            check_index_dir(self.root, self.base, self.location.index, ".imap")
            self._check_lockable(name, path)
        return MboxMailbox(self, name, path, readonly)

    def _check_lockable(self, name: str, path: Path) -> None:
        """A folder's first sync takes its dotlock (`<file>.lock` beside it); where the user
        cannot make one, Dovecot refuses with [NOPERM]. Only INBOX gets mail_privileged_group."""
        if os.access(path.parent, os.W_OK | os.X_OK):
            return
        denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        err = os_error(self.root, "file_dotlock_create", path, denied, creating=True)
        raise MailboxNoPermission(f"Mailbox {name}: {err} (not INBOX -> no privileged locking)")

    def _autocreate_inbox(self) -> None:
        """A missing INBOX is made on first use, empty, as Dovecot does: `mbox:~/mail` on a
        fresh account gets ~/mail and ~/mail/inbox; a spool INBOX (INBOX=/var/mail/%u) needs
        write access to the spool, which mail_privileged_group gives."""
        path = self.inbox_path
        try:
            path.stat()
            return
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise os_error(self.root, "stat", path, exc) from exc
        try:
            self._ensure_root()
            make_dirs(self.root, path.parent, self.user.uid, self.user.gid)

            def create() -> int:
                try:
                    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    return -1
                except OSError as exc:
                    raise os_error(self.root, "open", path, exc, creating=True) from exc

            fd = privileged_retry(create)  # INBOX's creation: Dovecot's other privileged operation
            if fd < 0:
                return
        except StorageError as exc:
            # Dovecot's own line, and an internal error to the client (SELECT answers [SERVERBUG])
            # even when a permission stopped it.
            raise StorageError(f"Mailbox INBOX: Failed to autocreate mailbox: Mailbox INBOX: {exc}") from exc
        os.close(fd)
        chown_to_user(path, self.user.uid, -1)

    def status(self, name: str) -> MailboxStatus:
        box = self.open(name, readonly=True)
        try:
            return box.status()
        finally:
            box.close()

    def _subs_path(self) -> Path:
        return self.base / ".subscriptions"

    def list_subscribed(self) -> builtins.list[MailboxInfo]:
        return [MailboxInfo(n, []) for n in read_subscriptions(self.root, self._subs_path(), "/")]

    def subscribe(self, name: str, subscribed: bool = True) -> None:
        if not is_inbox(name):
            split_name(name, "/", slash_allowed=True)
        self._ensure_root()
        set_subscribed(self.root, self._subs_path(), "/", name, subscribed, self.user.uid, self.user.gid)

    def create(self, name: str) -> None:
        if is_inbox(name):
            raise MailboxExists("Mailbox already exists")
        path = self.mailbox_path(name)
        self._ensure_root()
        check_list_lock(self.root, self.base, self.location.index, ".imap")
        p = path.parent
        while p != self.base:
            if p.exists() and not p.is_dir():
                raise StorageError("Mailbox doesn't allow inferior mailboxes")
            p = p.parent
        if path.exists():
            raise MailboxExists("Mailbox already exists")
        make_dirs(self.root, path.parent, self.user.uid, self.user.gid)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
        except FileExistsError:
            raise MailboxExists("Mailbox already exists") from None
        except OSError as exc:
            raise os_error(self.root, "open", path, exc, creating=True) from exc
        chown_to_user(path, self.user.uid, self.user.gid)

    def delete(self, name: str) -> None:
        if is_inbox(name):
            raise StorageError("INBOX can't be deleted.")
        path = self.mailbox_path(name)
        try:
            if path.is_dir():
                if any(True for _ in os.scandir(path)):
                    raise StorageError("Mailbox has children, delete them first")
                path.rmdir()
            elif path.exists():
                with dotlock(self.root, path):
                    path.unlink()
            else:
                raise MailboxNotFound(f"Mailbox doesn't exist: {name}")
        except StorageError:
            raise  # the lock's own error (a PermissionError too), already worded
        except OSError as exc:
            raise os_error(self.root, "unlink", path, exc) from exc

    def rename(self, old: str, new: str) -> None:
        if is_inbox(old):
            raise StorageError("Renaming INBOX isn't supported.")
        src, dst = self.mailbox_path(old), self.mailbox_path(new)
        if not src.exists():
            raise MailboxNotFound(f"Mailbox doesn't exist: {old}")
        if dst.exists() or is_inbox(new):
            raise MailboxExists("Mailbox already exists")
        check_list_lock(self.root, self.base, self.location.index, ".imap")
        make_dirs(self.root, dst.parent, self.user.uid, self.user.gid)
        try:
            os.rename(src, dst)
        except OSError as exc:
            raise os_error(self.root, "rename", src, exc) from exc
        # Subscriptions keep their names: Dovecot 2.3's RENAME leaves them to the client.
