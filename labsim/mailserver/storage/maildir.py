"""Maildir with Dovecot's conventions: tmp/new/cur, flags in the `:2,` suffix,
UIDs in `dovecot-uidlist` (v3), keywords in `dovecot-keywords`, Maildir++
folders (`.Archive.2024`) or LAYOUT=fs (`Archive/2024`)."""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.storage.base import (
    MailboxExists,
    MailboxInfo,
    MailboxNameInvalid,
    MailboxNotFound,
    MailboxStatus,
    MailStorage,
    MessageExpunged,
    MessageInfo,
    StorageError,
    SyncChanges,
    frozen_flags,
)
from labsim.mailserver.storage.fsutil import (
    atomic_write,
    check_list_lock,
    chown_to_user,
    dotlock,
    list_index_errors,
    make_dirs,
    os_error,
)
from labsim.mailserver.storage.location import MailLocation
from labsim.mailserver.storage.mailbox_base import BaseMailbox, expunge_report, lf_to_crlf, vsize_of
from labsim.mailserver.storage.maildir_files import (
    FLAG_LETTER,
    KEYWORDS,
    RECENT_STATE,
    SUBDIRS,
    SYSTEM_LETTERS,
    TMP_MAX_AGE_SECS,
    UIDLIST,
    Uidlist,
    UidRecord,
    new_uidvalidity,
    size_field,
    split_filename,
    unique_name,
)
from labsim.mailserver.storage.names import decode_mutf7, encode_mutf7, is_inbox, split_name
from labsim.mailserver.storage.subscriptions import (
    read_subscriptions,
    set_subscribed,
)

# A scan of an unchanged mailbox is reused (per directory and access mode), as
# Dovecot's sessions share its index instead of reading every file name again.
SCAN_CACHE_MAILBOXES = 64
# A scan is only remembered when the mtimes it saw are older than this: their
# clock ticks coarsely, so two changes close together may leave the same mtime.
SCAN_SETTLE_SECS = 0.1
SCAN_SETTLE_COARSE_SECS = 2.5


@dataclass
class _ScanResult:
    stamp: tuple[object, ...]
    files: dict[int, _File]  # never changed in place: sessions replace entries
    rows: list[tuple[int, frozenset[str], int, float, str]]  # uid, flags, size, date, base
    claimed: frozenset[int]
    keywords: list[str]
    uidvalidity: int
    uidnext: int


_SCANS: dict[tuple[str, bool], _ScanResult] = {}


@dataclass
class _File:
    base: str
    subdir: str  # "new" or "cur"
    fname: str
    info: str  # the letters after ":2,"


class MaildirMailbox(BaseMailbox):
    def __init__(self, storage: MaildirStorage, name: str, path: Path, readonly: bool) -> None:
        super().__init__()
        self.storage = storage
        self.root = storage.root
        self.name = name
        self.path = path
        self.readonly = readonly
        self.uidvalidity = 0
        self.uidnext = 1
        self.messages = []
        self._files: dict[int, _File] = {}
        self._recent: set[int] = set()
        self._keywords: list[str] = []
        self._closed = False
        self._scanned_stamp: tuple[object, ...] | None = None
        # A Maildir the user may read but not write (a restore that left it root's, mode
        # 755): Dovecot can neither lock nor write its uidlist and index, keeps the index in
        # memory and shows the mailbox read-only, with only the messages the uidlist already
        # had ("showing only old mails").
        self.partial = not storage.courier_rules and storage.uses_own_index() and not os.access(path, os.W_OK)
        self._partial_logged = False
        if self.partial:
            self.readonly = True
        if not self.readonly:
            self._clean_tmp()
        self._rescan_into()

    # -- scanning ------------------------------------------------------------------

    def _listdir(self, sub: str) -> list[str]:
        d = self.path / sub
        try:
            return [e.name for e in os.scandir(d) if not e.name.startswith(".")]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise os_error(self.root, "opendir", d, exc) from exc

    def _read_keywords(self) -> list[str]:
        try:
            data = (self.path / KEYWORDS).read_text("utf-8", "replace")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise os_error(self.root, "open", self.path / KEYWORDS, exc) from exc
        found: dict[int, str] = {}
        for line in data.splitlines():
            idx, _, kw = line.partition(" ")
            if idx.isdigit() and kw and int(idx) < 26:
                found[int(idx)] = kw
        return [found.get(i, "") for i in range(max(found) + 1)] if found else []

    def _flags_from_info(self, info: str) -> frozenset[str]:
        flags: set[str] = set()
        for ch in info:
            if ch in SYSTEM_LETTERS:
                flags.add(SYSTEM_LETTERS[ch])
            elif "a" <= ch <= "z":
                idx = ord(ch) - ord("a")
                if idx < len(self._keywords) and self._keywords[idx]:
                    flags.add(self._keywords[idx])
        return frozen_flags(flags)

    def _scan(self) -> tuple[dict[int, MessageInfo], set[int]]:
        """Read new/ and cur/ and the uidlist; assign UIDs to new files and, when
        read-write, move new/ to cur/. Returns (uid -> info, uids recent now)."""
        cache_key = (str(self.path), self.readonly)
        before, settled = self._scan_stamp()
        hit = _SCANS.get(cache_key)
        if hit is not None and before is not None and hit.stamp == before:
            self._scanned_stamp = before
            return self._from_cache(hit)
        self._scanned_stamp = None
        infos, claimed = self._scan_files()
        after, _ = self._scan_stamp()
        if before is not None and settled and after == before:
            # Nothing was written (any write changes a stamp) and the mtimes are old
            # enough that any later change shows as a new mtime: a scan of the same
            # stamp gives the same answer, so the next one can be skipped.
            self._scanned_stamp = before
            _SCANS.pop(cache_key, None)
            _SCANS[cache_key] = _ScanResult(
                before,
                dict(self._files),
                [(m.uid, m.flags, m.size, m.internaldate, m.key) for m in infos.values()],
                frozenset(claimed),
                list(self._keywords),
                self.uidvalidity,
                self.uidnext,
            )
            while len(_SCANS) > SCAN_CACHE_MAILBOXES:
                _SCANS.pop(next(iter(_SCANS)))
        return infos, claimed

    def _scan_stamp(self) -> tuple[tuple[object, ...] | None, bool]:
        """What a scan reads, as (inode, size, mtime) of each directory and state
        file, and whether all of them are settled: older than the granularity of
        file times, so that a change from now on must give a different mtime."""
        out: list[object] = []
        now_ns = time.time_ns()
        base = str(self.path)
        newest = 0
        whole_seconds = True
        for name in ("cur", "new", UIDLIST, KEYWORDS, RECENT_STATE):
            try:
                st = os.stat(f"{base}/{name}")
            except FileNotFoundError:
                out.append(None)
                continue
            except OSError:
                return None, False
            newest = max(newest, st.st_mtime_ns)
            whole_seconds = whole_seconds and st.st_mtime_ns % 1_000_000_000 == 0
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        # Nanosecond times move with the kernel's tick (a few ms); a file system
        # that keeps whole seconds (or rounds to two) needs far longer.
        settle = SCAN_SETTLE_COARSE_SECS if whole_seconds else SCAN_SETTLE_SECS
        return tuple(out), newest <= now_ns - settle * 1e9

    def _from_cache(self, hit: _ScanResult) -> tuple[dict[int, MessageInfo], set[int]]:
        self._keywords = list(hit.keywords)
        self.uidvalidity = hit.uidvalidity
        self.uidnext = hit.uidnext
        self._files = dict(hit.files)
        infos = {
            uid: MessageInfo(uid, flags, size, date, False, key) for uid, flags, size, date, key in hit.rows
        }
        return infos, set(hit.claimed)

    def _scan_files(self) -> tuple[dict[int, MessageInfo], set[int]]:
        claimed: set[int] = set()
        uidlist_path = self.path / UIDLIST
        base_dir = str(self.path)
        mtimes: dict[str, float] = {}  # base name -> mtime, for the files this scan opened
        with self._uidlist_lock(uidlist_path):
            # Listed under the lock: a file another session adds or renames while
            # we look must not cost it its UID.
            files = self._list_files()
            ul = self._read_uidlist(uidlist_path)
            changed = False
            first_recent = self._read_first_recent()
            if ul is None:
                ul = Uidlist(uidvalidity=self.storage.new_uidvalidity(), guid=os.urandom(16).hex())
                changed = True
                first_recent = 1  # a mailbox nobody has looked at: everything is \Recent
            elif first_recent is None:
                first_recent = ul.nextuid  # uidlist from elsewhere: only what is new to it
            if any(b not in files for b in ul.records):
                # readdir() may miss a file renamed meanwhile by a program that
                # does not take our lock; look once more before forgetting UIDs.
                files.update(self._list_files())
            for base in [b for b in ul.records if b not in files]:
                del ul.records[base]
                changed = True
            # Each file without a known size is read once, for its size and (from the
            # same open file) the mtime that orders new UIDs and is its INTERNALDATE:
            # on a mailbox nobody has indexed yet that is every file.
            vsizes: dict[str, int] = {}
            for f in files.values():
                rec = ul.records.get(f.base)
                if (rec is None or "W" not in rec.ext) and size_field(f.base, "W") is None:
                    read = self._read_vsize(base_dir, f)
                    if read is not None:
                        vsizes[f.base], mtimes[f.base] = read
            fresh = sorted(
                (f for f in files.values() if f.base not in ul.records),
                key=lambda f: (mtimes[f.base] if f.base in mtimes else self._mtime(base_dir, f, 0.0), f.base),
            )
            for f in fresh:
                ul.records[f.base] = UidRecord(ul.nextuid)
                ul.nextuid += 1
                changed = True
            for base, vsize in vsizes.items():
                ul.records[base].ext["W"] = str(vsize)
                changed = True
            if not self.readonly:
                for f in files.values():
                    if f.subdir == "new":
                        target = f"{f.base}:2,{f.info}"
                        try:
                            os.rename(self.path / "new" / f.fname, self.path / "cur" / target)
                        except FileNotFoundError:
                            continue  # another session took it first: not recent for us
                        except OSError as exc:
                            raise os_error(self.root, "rename", self.path / "new" / f.fname, exc) from exc
                        f.subdir, f.fname = "cur", target
                        claimed.add(ul.records[f.base].uid)
            else:
                claimed = {ul.records[f.base].uid for f in files.values() if f.subdir == "new"}
            # Like Dovecot's index: UIDs from first_recent on have not been seen by any
            # read-write session yet, wherever their files are.
            if not self.storage.courier_rules:
                claimed |= {
                    ul.records[f.base].uid for f in files.values() if ul.records[f.base].uid >= first_recent
                }
            if not self.readonly and first_recent != ul.nextuid:
                self._write_first_recent(ul.nextuid)
            elif self.readonly and changed and self._read_first_recent() is None:
                # EXAMINE creates the uidlist; it must not take \Recent away from SELECT.
                with contextlib.suppress(StorageError):
                    self._write_first_recent(first_recent)
            if changed:
                # EXAMINE writes the uidlist too: UIDs must be stable whoever looked first.
                try:
                    atomic_write(
                        self.root, uidlist_path, ul.serialize(), self.storage.user.uid, self.storage.user.gid
                    )
                except StorageError:
                    if not self.readonly:
                        raise
        self._keywords = self._read_keywords()
        self.uidvalidity = ul.uidvalidity
        self.uidnext = ul.nextuid
        infos: dict[int, MessageInfo] = {}
        self._files = {}
        flag_sets: dict[str, frozenset[str]] = {}
        for f in files.values():
            rec = ul.records[f.base]
            size = size_field(f.base, "W")
            if size is None and "W" in rec.ext and rec.ext["W"].isdigit():
                size = int(rec.ext["W"])
            if size is None:
                read = self._read_vsize(base_dir, f)
                size = read[0] if read is not None else 0
            # A rename (new/ to cur/, a flag change) keeps the mtime read above.
            mtime = mtimes[f.base] if f.base in mtimes else self._mtime(base_dir, f, None)
            flags = flag_sets.get(f.info)
            if flags is None:
                flags = flag_sets[f.info] = self._flags_from_info(f.info)
            infos[rec.uid] = MessageInfo(rec.uid, flags, size, mtime, False, f.base)
            self._files[rec.uid] = f
        return infos, claimed

    def _clean_tmp(self) -> None:
        """Files a crashed delivery left in tmp/; Dovecot removes them after 36 hours."""
        now = time.time()
        try:
            entries = list(os.scandir(self.path / "tmp"))
        except OSError:
            return
        for e in entries:
            with contextlib.suppress(OSError):
                if e.is_file() and now - e.stat().st_atime > TMP_MAX_AGE_SECS:
                    os.unlink(e.path)

    def _read_first_recent(self) -> int | None:
        try:
            text = (self.path / RECENT_STATE).read_text("ascii", "replace").split()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise os_error(self.root, "open", self.path / RECENT_STATE, exc) from exc
        return int(text[0]) if text and text[0].isdigit() else None

    def _write_first_recent(self, uid: int) -> None:
        atomic_write(
            self.root,
            self.path / RECENT_STATE,
            f"{uid}\n".encode(),
            self.storage.user.uid,
            self.storage.user.gid,
        )

    def _list_files(self) -> dict[str, _File]:
        files: dict[str, _File] = {}
        for sub in ("cur", "new"):
            for fname in sorted(self._listdir(sub)):
                base, info = split_filename(fname)
                if base in files or "\n" in base or "\r" in base:
                    # A line break would break the uidlist's one-line-per-message format.
                    fixed = self._fix_duplicate(sub, fname, info)
                    if fixed is None:
                        continue
                    base, fname = fixed
                files[base] = _File(base, sub, fname, info)
        return files

    def _fix_duplicate(self, sub: str, fname: str, info: str) -> tuple[str, str] | None:
        """Two files with one base name would share a UID: give the second its own,
        as Dovecot does (`Fixed a duplicate: ...`)."""
        if self.readonly:
            return None
        base = unique_name()
        new_name = f"{base}:2,{info}" if sub == "cur" else base
        src, dst = self.path / sub / fname, self.path / sub / new_name
        try:
            os.rename(src, dst)
        except OSError:
            return None
        self.storage.log.warning(
            self.storage.log_prefix, f"Fixed a duplicate: {self.root.lab_path(src)} -> {new_name}"
        )
        return base, new_name

    @contextlib.contextmanager
    def _uidlist_lock(self, uidlist_path: Path) -> Iterator[None]:
        """The uidlist lock; EXAMINE of a mailbox we cannot write still works, unlocked."""
        if not self.readonly:
            with dotlock(self.root, uidlist_path):
                yield
            return
        try:
            lock = dotlock(self.root, uidlist_path, wait=2.0)
            lock.__enter__()
        except StorageError:
            yield
            return
        try:
            yield
        finally:
            lock.__exit__(None, None, None)

    @staticmethod
    def _mtime(base_dir: str, f: _File, missing: float | None) -> float:
        """The file's mtime; `missing` (None: now) when it is gone."""
        try:
            return os.stat(f"{base_dir}/{f.subdir}/{f.fname}").st_mtime
        except OSError:
            return time.time() if missing is None else missing

    def _read_uidlist(self, path: Path) -> Uidlist | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise os_error(self.root, "open", path, exc) from exc
        ul = Uidlist.parse(data)
        if ul is None:
            self.storage.log.error(
                self.storage.log_prefix, f"Broken file {self.root.lab_path(path)} line 1: Invalid header"
            )
        return ul

    def _read_vsize(self, base_dir: str, f: _File) -> tuple[int, float] | None:
        """(RFC822.SIZE, mtime) of a message file, None when it is gone. Plain
        open/fstat/read/close on a str path: a first scan does this for every file,
        and pathlib and buffered reads cost more than the reading itself."""
        path = f"{base_dir}/{f.subdir}/{f.fname}"
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise os_error(self.root, "open", self.path / f.subdir / f.fname, exc) from exc
        try:
            st = os.fstat(fd)
            # One byte more than the size: getting just the size means the end of the
            # file, with no read() to find it out.
            data = os.read(fd, st.st_size + 1)
            if len(data) != st.st_size:  # changed since, or more than one read() gives
                rest = [data]
                while chunk := os.read(fd, 1 << 20):
                    rest.append(chunk)
                data = b"".join(rest)
        except OSError as exc:  # worded as before: reading the whole file was "open"
            raise os_error(self.root, "open", self.path / f.subdir / f.fname, exc) from exc
        finally:
            os.close(fd)
        return vsize_of(data), st.st_mtime

    # -- interface -----------------------------------------------------------------

    def _rescan_into(self) -> SyncChanges:
        if self._scanned_stamp is not None and self._scan_stamp()[0] == self._scanned_stamp:
            # Nothing on disk changed since our last scan (our own changes change
            # the stamp too): a scan would find exactly what we have.
            return SyncChanges()
        infos, claimed = self._scan_partial() if self.partial else self._scan()
        self._recent |= claimed
        return self._apply_scan([infos[u] for u in sorted(infos)])

    def _scan_partial(self) -> tuple[dict[int, MessageInfo], set[int]]:
        """What Dovecot shows when the uidlist cannot be locked: the files the uidlist names,
        nothing new (no UID can be given out), no \\Recent; the client hears it once."""
        uidlist_path = self.path / UIDLIST
        if not self._partial_logged:  # once for each open: Dovecot repeats them at every sync
            self._partial_logged = True
            denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            for func, target in (
                ("file_dotlock_open", "dovecot.index.log"),
                ("file_dotlock_create", UIDLIST),
            ):
                err = os_error(self.root, func, self.path / target, denied, creating=True)
                self.storage.pending_errors.append(f"Mailbox {self.name}: {err}")
        files = self._list_files()
        ul = self._read_uidlist(uidlist_path)
        if ul is None:
            ul = Uidlist(uidvalidity=self.storage.new_uidvalidity(), guid="")
        if any(b not in ul.records for b in files):
            self.storage.notify_once(self.name, SYNC_FAILURE)
        self._keywords = self._read_keywords()
        self.uidvalidity = ul.uidvalidity
        self.uidnext = ul.nextuid
        infos: dict[int, MessageInfo] = {}
        self._files = {}
        base_dir = str(self.path)
        for f in files.values():
            rec = ul.records.get(f.base)
            if rec is None:
                continue
            size = size_field(f.base, "W")
            if size is None and rec.ext.get("W", "").isdigit():
                size = int(rec.ext["W"])
            if size is None:
                read = self._read_vsize(base_dir, f)
                size = read[0] if read is not None else 0
            flags = self._flags_from_info(f.info)
            infos[rec.uid] = MessageInfo(rec.uid, flags, size, self._mtime(base_dir, f, None), False, f.base)
            self._files[rec.uid] = f
        return infos, set()

    def read(self, msg: MessageInfo) -> bytes:
        f = self._files.get(msg.uid)
        if f is None:
            raise MessageExpunged(f"Message UID {msg.uid} was expunged")
        for attempt in range(2):
            try:
                return lf_to_crlf((self.path / f.subdir / f.fname).read_bytes())
            except FileNotFoundError:
                if attempt:
                    break
                # Another session may have renamed it (flag change): look again.
                found = self._find(f.base)
                if found is None:
                    break
                f = found
                self._files[msg.uid] = f
            except OSError as exc:
                raise os_error(self.root, "open", self.path / f.subdir / f.fname, exc) from exc
        raise MessageExpunged(f"Message UID {msg.uid} was expunged")

    def _find(self, base: str) -> _File | None:
        for sub in ("cur", "new"):
            for fname in self._listdir(sub):
                b, info = split_filename(fname)
                if b == base:
                    return _File(b, sub, fname, info)
        return None

    def _keyword_letter(self, kw: str) -> str | None:
        if kw in self._keywords:
            return chr(ord("a") + self._keywords.index(kw))
        with dotlock(self.root, self.path / KEYWORDS):
            self._keywords = self._read_keywords()
            if kw in self._keywords:
                return chr(ord("a") + self._keywords.index(kw))
            if "" in self._keywords:
                idx = self._keywords.index("")
                self._keywords[idx] = kw
            elif len(self._keywords) < 26:
                self._keywords.append(kw)
                idx = len(self._keywords) - 1
            else:
                return None  # Maildir has room for 26 keywords; the rest are session-only
            text = "".join(f"{i} {k}\n" for i, k in enumerate(self._keywords) if k)
            atomic_write(
                self.root, self.path / KEYWORDS, text.encode(), self.storage.user.uid, self.storage.user.gid
            )
        return chr(ord("a") + idx)

    def set_flags(self, msg: MessageInfo, flags: set[str]) -> None:
        self._check_writable()
        f = self._files.get(msg.uid)
        if f is None:
            raise MessageExpunged(f"Message UID {msg.uid} was expunged")
        wanted = {fl for fl in flags if fl != "\\Recent"}
        letters = {FLAG_LETTER[fl] for fl in wanted if fl in FLAG_LETTER}
        # Letters we do not map to IMAP flags (P = passed, unknown keywords) stay.
        letters |= {ch for ch in f.info if ch not in SYSTEM_LETTERS and not ("a" <= ch <= "z")}
        for kw in wanted - set(FLAG_LETTER):
            if kw.startswith("\\"):
                continue
            letter = self._keyword_letter(kw)
            if letter:
                letters.add(letter)
        info = "".join(sorted(letters))
        target = f"{f.base}:2,{info}"
        if f.subdir != "cur" or f.fname != target:
            # Under the uidlist lock so that a scan never looks while the file moves.
            with dotlock(self.root, self.path / UIDLIST):
                self._rename_to(f, target, msg.uid)
            self._files[msg.uid] = _File(f.base, "cur", target, info)
        msg.flags = frozen_flags(
            self._flags_from_info(info) | {fl for fl in wanted if not fl.startswith("\\")}
        )

    def _rename_to(self, f: _File, target: str, uid: int) -> None:
        src = self.path / f.subdir / f.fname
        try:
            os.rename(src, self.path / "cur" / target)
            return
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise os_error(self.root, "rename", src, exc) from exc
        found = self._find(f.base)  # renamed by someone else meanwhile
        if found is None:
            raise MessageExpunged(f"Message UID {uid} was expunged")
        src = self.path / found.subdir / found.fname
        try:
            os.rename(src, self.path / "cur" / target)
        except OSError as exc:
            raise os_error(self.root, "rename", src, exc) from exc

    def expunge(self, uids: list[int]) -> list[int]:
        self._check_writable()
        gone: set[int] = set()
        for uid in uids:
            f = self._files.get(uid)
            if f is None:
                continue
            path = self.path / f.subdir / f.fname
            try:
                os.unlink(path)
            except FileNotFoundError:
                found = self._find(f.base)
                if found is not None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path / found.subdir / found.fname)
            except OSError as exc:
                raise os_error(self.root, "unlink", path, exc) from exc
            gone.add(uid)
        seqs = expunge_report(self.messages, gone)
        self.messages = [m for m in self.messages if m.uid not in gone]
        for uid in gone:
            self._files.pop(uid, None)
        # Drop the records now so that the next scan does not report them again.
        if gone:
            uidlist_path = self.path / UIDLIST
            with dotlock(self.root, uidlist_path):
                ul = self._read_uidlist(uidlist_path)
                if ul is not None:
                    bases = {b for b, r in ul.records.items() if r.uid in gone}
                    for b in bases:
                        del ul.records[b]
                    atomic_write(
                        self.root, uidlist_path, ul.serialize(), self.storage.user.uid, self.storage.user.gid
                    )
        return seqs

    def sync(self) -> SyncChanges:
        return self._rescan_into()

    def append(self, data: bytes, flags: set[str] | None = None, internaldate: float | None = None) -> int:
        # No read-only check: saving a new file claims nothing (MaildirStorage.append_readonly).
        body = data.replace(b"\r\n", b"\n")  # Maildir files keep LF line ends
        vsize = vsize_of(body)
        base = f"{unique_name()},S={len(body)},W={vsize}"
        info = self._info_for(flags or set())
        tmp = self.path / "tmp" / base
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(body)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            chown_to_user(tmp, self.storage.user.uid, self.storage.user.gid)
            if internaldate is not None:
                os.utime(tmp, (internaldate, internaldate))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise os_error(self.root, "open", tmp, exc, creating=True) from exc
        # A message with flags goes straight to cur/; without, to new/ like a delivery.
        to_cur = info or self.storage.courier_rules
        target = self.path / "cur" / f"{base}:2,{info}" if to_cur else self.path / "new" / base
        uidlist_path = self.path / UIDLIST
        with dotlock(self.root, uidlist_path):
            ul = self._read_uidlist(uidlist_path) or Uidlist(
                uidvalidity=self.uidvalidity or self.storage.new_uidvalidity(), guid=os.urandom(16).hex()
            )
            uid = ul.nextuid
            ul.records[base] = UidRecord(uid, {"W": str(vsize)})
            ul.nextuid = uid + 1
            try:
                os.rename(tmp, target)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise os_error(self.root, "rename", tmp, exc) from exc
            atomic_write(
                self.root, uidlist_path, ul.serialize(), self.storage.user.uid, self.storage.user.gid
            )
        return uid

    def _info_for(self, flags: set[str]) -> str:
        letters = {FLAG_LETTER[f] for f in flags if f in FLAG_LETTER}
        for kw in flags:
            if kw.startswith("\\"):
                continue
            letter = self._keyword_letter(kw)
            if letter:
                letters.add(letter)
        return "".join(sorted(letters))

    def close(self) -> None:
        self._closed = True

    def _check_writable(self) -> None:
        if self.readonly:
            raise StorageError("Mailbox is read-only")


COURIER_IMAP_EPOCH = 1_000_000_000


# The untagged NO Dovecot sends when it cannot lock the uidlist (maildir-sync.c).
SYNC_FAILURE = "Internal mailbox synchronization failure, showing only old mails."

# Dovecot checks a Maildir's tmp/ first: a Maildir the user cannot enter logs
# `stat(/home/alice/Maildir/tmp) failed: Permission denied (...)`.
ENSURE_ORDER = ("tmp", "new", "cur")


class MaildirStorage(MailStorage):
    append_readonly = True
    # Courier-IMAP's rules, which its personality turns on: \Recent marks only the
    # messages this session took out of new/, APPEND/COPY write into cur/, and a new
    # folder's UIDVALIDITY counts from Courier's epoch (time - 10^9, imapscanclient.c).
    courier_rules = False

    def new_uidvalidity(self) -> int:
        return new_uidvalidity() - (COURIER_IMAP_EPOCH if self.courier_rules else 0)

    def __init__(
        self,
        root: LabRoot,
        location: MailLocation,
        user: UserInfo,
        *,
        log: DovecotLog,
        log_prefix: str = "",
    ) -> None:
        self.root = root
        self.location = location
        self.user = user
        self.log = log
        self.log_prefix = log_prefix or f"imap({user.user})"
        self.fs_layout = location.layout == "fs"
        self.separator = "/" if self.fs_layout else "."
        self.base = root.path(location.root)
        self.inbox_path = root.path(location.inbox) if location.inbox else self.base
        self._notices: list[str] = []
        self._notified: set[str] = set()
        self.pending_errors: list[str] = []  # for the session to log with its own prefix

    def uses_own_index(self) -> bool:
        """The index lives in the Maildir itself (no INDEX=): a Maildir the user cannot write
        then has no index on disk either."""
        return not self.location.index

    def notify_once(self, name: str, text: str) -> None:
        """A `* NO` for the client, once a session for each mailbox (as Dovecot's index keeps
        the sync state between commands)."""
        if name not in self._notified:
            self._notified.add(name)
            self._notices.append(text)

    def take_notices(self) -> builtins.list[str]:
        notices, self._notices = self._notices, []
        return notices

    def take_log_errors(self) -> builtins.list[str]:
        errors, self.pending_errors = self.pending_errors, []
        return errors

    # -- paths ---------------------------------------------------------------------

    def _parts(self, name: str) -> list[str]:
        return split_name(name, self.separator, slash_allowed=self.fs_layout)

    def mailbox_path(self, name: str) -> Path:
        if is_inbox(name):
            return self.inbox_path
        parts = [encode_mutf7(p) for p in self._parts(name)]
        if self.fs_layout:
            if any(p in SUBDIRS for p in parts):
                # cur/new/tmp are the Maildir's own directories, not mailboxes.
                raise MailboxNameInvalid(f"Invalid mailbox name: {name}")
            path = self.base.joinpath(*parts)
        else:
            path = self.base / ("." + ".".join(parts))
        # Belt and braces: whatever the rules above missed, the result stays under the root.
        if self.base not in path.parents:
            raise StorageError("Invalid mailbox name")
        return path

    def _ensure_maildir(self, path: Path, folder: bool) -> None:
        try:
            st = path.stat()
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise os_error(self.root, "stat", path, exc) from exc
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise StorageError(f"stat({self.root.lab_path(path)}) failed: Not a directory")
        for sub in ENSURE_ORDER:
            d = path / sub
            try:
                d.stat()
                continue
            except FileNotFoundError:
                pass
            except OSError as exc:
                # An internal error for Dovecot, even for EACCES: IMAP answers [SERVERBUG], POP3
                # [SYS/TEMP] (a Maildir that is root's, mode 700).
                raise StorageError(str(os_error(self.root, "stat", d, exc))) from exc
            make_dirs(self.root, d, self.user.uid, self.user.gid)
        if folder and not self.fs_layout:
            mf = path / "maildirfolder"
            if not mf.exists():
                try:
                    mf.touch()
                    chown_to_user(mf, self.user.uid, self.user.gid)
                except PermissionError:
                    pass  # a folder the user cannot write still opens (read-only), as in Dovecot
                except OSError as exc:
                    raise os_error(self.root, "open", mf, exc, creating=True) from exc

    def _is_maildir(self, path: Path) -> bool:
        return (path / "cur").is_dir() or (path / "new").is_dir()

    # -- listing -------------------------------------------------------------------

    def _folder_names(self) -> list[str]:
        names: list[str] = []
        if not self.fs_layout:
            try:
                entries = list(os.scandir(self.base))
            except FileNotFoundError:
                return []
            except OSError as exc:
                raise os_error(self.root, "opendir", self.base, exc) from exc
            for e in entries:
                if not e.name.startswith(".") or e.name in (".", "..") or not e.is_dir():
                    continue
                raw = e.name[1:]
                if not raw or ".." in raw or raw.endswith("."):
                    continue
                try:
                    names.append(".".join(decode_mutf7(p) for p in raw.split(".")))
                except StorageError:
                    names.append(raw)
            return names

        def walk(d: Path, prefix: str) -> None:
            try:
                entries = list(os.scandir(d))
            except OSError:
                return
            for e in entries:
                if e.name.startswith(".") or e.name in SUBDIRS or not e.is_dir():
                    continue
                try:
                    shown = decode_mutf7(e.name)
                except StorageError:
                    shown = e.name
                full = prefix + shown
                names.append(full)
                if full.count("/") < 16:
                    walk(Path(e.path), full + "/")

        walk(self.base, "")
        return names

    def list_index_errors(self) -> builtins.list[str]:
        return list_index_errors(self.root, self.base, self.location.index)

    def list(self) -> list[MailboxInfo]:
        self._ensure_maildir(self.inbox_path, folder=False)
        folders = self._folder_names()
        existing = set(folders)
        folders_set = set(folders)
        selectable: dict[str, bool] = {}
        for n in folders:
            if self.fs_layout:
                selectable[n] = self._is_maildir(self.base.joinpath(*[encode_mutf7(p) for p in n.split("/")]))
            else:
                selectable[n] = True
        # Parents that exist only through a child (.Only.Child without .Only) are \Noselect.
        for n in list(existing):
            parts = n.split(self.separator)
            for i in range(1, len(parts)):
                parent = self.separator.join(parts[:i])
                if parent not in existing:
                    existing.add(parent)
                    selectable[parent] = False
        all_names = set(existing)
        if any(is_inbox(n) for n in all_names):
            all_names = {n for n in all_names if not is_inbox(n)}
        out = [MailboxInfo("INBOX", [self._children_flag("INBOX", existing)])]
        for n in sorted(all_names):
            flags = [] if selectable.get(n, True) else ["\\Noselect"]
            flags.append(self._children_flag(n, existing))
            out.append(MailboxInfo(n, flags, selectable=selectable.get(n, True), exists=n in folders_set))
        return out

    def _children_flag(self, name: str, names: set[str]) -> str:
        prefix = name + self.separator
        return "\\HasChildren" if any(n.startswith(prefix) for n in names) else "\\HasNoChildren"

    def exists(self, name: str) -> bool:
        if is_inbox(name):
            return True
        path = self.mailbox_path(name)
        return path.is_dir() and (self.fs_layout is False or self._is_maildir(path))

    def open(self, name: str, readonly: bool = False) -> MaildirMailbox:
        path = self.mailbox_path(name)
        if is_inbox(name):
            self._ensure_maildir(path, folder=False)
            name = "INBOX"
        else:
            try:
                st = path.stat()
            except FileNotFoundError:
                raise MailboxNotFound(f"Mailbox doesn't exist: {name}") from None
            except OSError as exc:
                # Dovecot's first look at a folder is its tmp/ (stat(.../.Archive/tmp)), and its
                # failure is an internal error, as for INBOX.
                raise StorageError(str(os_error(self.root, "stat", path / "tmp", exc))) from exc
            if not stat.S_ISDIR(st.st_mode) or (self.fs_layout and not self._is_maildir(path)):
                raise MailboxNotFound(f"Mailbox doesn't exist: {name}")
            self._ensure_maildir(path, folder=True)
        try:
            (path / "cur").stat()
            with os.scandir(path / "cur"):
                pass  # opendir() alone: the scan reads the names, under the uidlist lock
        except OSError as exc:
            raise os_error(
                self.root, "stat" if not (path / "cur").exists() else "opendir", path / "cur", exc
            ) from exc
        return MaildirMailbox(self, name, path, readonly)

    def status(self, name: str) -> MailboxStatus:
        box = self.open(name, readonly=True)
        try:
            return box.status()
        finally:
            box.close()

    # -- management ----------------------------------------------------------------

    def _subs_path(self) -> Path:
        return self.base / "subscriptions"

    def list_subscribed(self) -> builtins.list[MailboxInfo]:
        return [MailboxInfo(n, []) for n in read_subscriptions(self.root, self._subs_path(), self.separator)]

    def subscribe(self, name: str, subscribed: bool = True) -> None:
        if not is_inbox(name):
            self._parts(name)
        make_dirs(self.root, self.base, self.user.uid, self.user.gid)
        set_subscribed(
            self.root, self._subs_path(), self.separator, name, subscribed, self.user.uid, self.user.gid
        )

    def create(self, name: str) -> None:
        if is_inbox(name):
            raise MailboxExists("Mailbox already exists")
        path = self.mailbox_path(name)
        make_dirs(self.root, self.base, self.user.uid, self.user.gid)
        # The list lock first: in a Maildir the user cannot enter, that is what fails.
        check_list_lock(self.root, self.base, self.location.index)
        if path.exists() and (not self.fs_layout or self._is_maildir(path)):
            raise MailboxExists("Mailbox already exists")
        make_dirs(self.root, path, self.user.uid, self.user.gid)
        self._ensure_maildir(path, folder=True)

    def delete(self, name: str) -> None:
        if is_inbox(name):
            raise StorageError("INBOX can't be deleted.")
        path = self.mailbox_path(name)
        if not path.is_dir():
            raise MailboxNotFound(f"Mailbox doesn't exist: {name}")
        if self.fs_layout and any(
            e.is_dir() and e.name not in SUBDIRS and not e.name.startswith(".") for e in os.scandir(path)
        ):
            # Children stay; the mailbox itself becomes \Noselect.
            for sub in SUBDIRS:
                shutil.rmtree(path / sub, ignore_errors=True)
            return
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise os_error(self.root, "rmdir", path, exc) from exc

    def rename(self, old: str, new: str) -> None:
        if is_inbox(old):
            raise StorageError("Renaming INBOX isn't supported.")
        src = self.mailbox_path(old)
        dst = self.mailbox_path(new)
        if dst.exists() or is_inbox(new):
            raise MailboxExists("Mailbox already exists")
        moves = [(src, dst)] if src.is_dir() else []
        if not self.fs_layout:
            enc_old = src.name + "."
            for e in os.scandir(self.base):
                if e.name.startswith(enc_old):
                    moves.append((Path(e.path), self.base / (dst.name + "." + e.name[len(enc_old) :])))
        else:
            make_dirs(self.root, dst.parent, self.user.uid, self.user.gid)
        if not moves:
            raise MailboxNotFound(f"Mailbox doesn't exist: {old}")
        check_list_lock(self.root, self.base, self.location.index)
        for a, b in moves:
            try:
                os.rename(a, b)
            except OSError as exc:
                raise os_error(self.root, "rename", a, exc) from exc
        # Subscriptions keep their names: Dovecot 2.3's RENAME leaves them to the client.
