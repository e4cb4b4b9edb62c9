"""The speed-ups the benchmark asked for must not hide changes: a remembered Maildir
scan or mbox parse is dropped as soon as another program touches the mailbox."""

from __future__ import annotations

import contextlib
import io
import os
import time
from pathlib import Path

import pytest

from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.storage import maildir as maildir_mod
from labsim.mailserver.storage import maildir_files
from labsim.mailserver.storage import mbox as mbox_mod
from labsim.mailserver.storage.base import MailStorage
from labsim.mailserver.storage.location import open_storage
from labsim.mailserver.storage.mailbox_base import lf_to_crlf, vsize_of
from labsim.mailserver.storage.maildir_files import Uidlist


def message(n: int) -> bytes:
    return f"From: a@example.com\nSubject: m{n}\n\nbody {n}\n".encode()


def storage(tmp_path: Path, location: str) -> MailStorage:
    root = LabRoot(tmp_path)
    user = UserInfo("alice", os.getuid(), os.getgid(), "/home/alice")
    return open_storage(root, location, user, DovecotLog(root, stderr=io.StringIO()), DovecotSettings())


def age(paths: list[Path], secs: float = 30.0) -> None:
    """Make the mailbox look untouched for a while, as one at rest is."""
    past = time.time() - secs
    for p in paths:
        if p.exists():
            os.utime(p, (past, past))


def seed_maildir(tmp_path: Path, count: int) -> Path:
    md = tmp_path / "home/alice/Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    for i in range(1, count + 1):
        (md / "cur" / f"17000000{i:02d}.M{i}P1.host,S={len(message(i))}:2,S").write_bytes(message(i))
    return md


def maildir_state(md: Path) -> list[Path]:
    return [md / "cur", md / "new", md / "dovecot-uidlist", md / "dovecot-labsim-recent"]


def test_maildir_scan_is_reused_and_dropped_when_a_file_arrives(tmp_path: Path) -> None:
    md = seed_maildir(tmp_path, 3)
    st = storage(tmp_path, "maildir:~/Maildir")
    st.open("INBOX").close()  # assigns UIDs, writes the uidlist
    age(maildir_state(md))
    first = st.open("INBOX")
    key = (str(md), False)
    assert key in maildir_mod._SCANS  # remembered: nothing was written, mtimes settled
    again = st.open("INBOX")
    assert [(m.uid, m.flags, m.size) for m in again.messages] == [
        (m.uid, m.flags, m.size) for m in first.messages
    ]
    assert [m.uid for m in again.messages] == [1, 2, 3]
    # Sessions get their own objects: one session's flag change is not another's.
    # (Flag sets are frozen and shared; a change gives a message a new one.)
    assert isinstance(again.messages[0].flags, frozenset)
    again.messages[0].flags = frozenset({"\\Flagged"})
    assert first.messages[0].flags == {"\\Seen"}

    # Another program delivers: new/ changes, the next scan sees the message.
    (md / "new" / "1700000099.M9P9.host").write_bytes(message(9))
    third = st.open("INBOX")
    assert [m.uid for m in third.messages] == [1, 2, 3, 4]
    assert third.messages[3].recent
    changes = first.sync()
    assert changes.new_count == 1
    assert [m.uid for m in first.messages] == [1, 2, 3, 4]


def test_maildir_flag_change_by_another_program_is_seen(tmp_path: Path) -> None:
    md = seed_maildir(tmp_path, 2)
    st = storage(tmp_path, "maildir:~/Maildir")
    st.open("INBOX").close()
    age(maildir_state(md))
    box = st.open("INBOX")
    assert box.sync().flag_changes == []  # unchanged: answered from what the box knows
    name = next(p for p in (md / "cur").iterdir() if p.name.startswith("1700000002"))
    os.rename(name, md / "cur" / (name.name[: -len("S")] + "FS"))
    changes = box.sync()
    assert changes.flag_changes == [2]
    assert box.messages[1].flags == {"\\Seen", "\\Flagged"}


def test_mbox_parse_is_shared_and_an_append_by_another_program_is_seen(tmp_path: Path) -> None:
    mbox = tmp_path / "home/alice/mbox"
    (tmp_path / "home/alice/mail").mkdir(parents=True)
    mbox.write_bytes(
        b"".join(b"From a@example.com Mon Jan  1 00:00:00 2024\n" + message(i) + b"\n" for i in (1, 2))
    )
    st = storage(tmp_path, "mbox:~/mail:INBOX=~/mbox")
    one = st.open("INBOX")
    two = st.open("INBOX")
    assert [m.uid for m in one.messages] == [m.uid for m in two.messages] == [1, 2]
    assert one.read(one.messages[1]) == lf_to_crlf(message(2))
    with open(mbox, "ab") as f:
        f.write(b"From b@example.com Mon Jan  1 00:01:00 2024\n" + message(3) + b"\n")
    assert one.sync().new_count == 1
    assert one.read(one.messages[2]) == lf_to_crlf(message(3))
    assert one.messages[2].size == vsize_of(message(3))
    # A flag set by one session lands in the file and reaches the other.
    one.set_flags_many([(one.messages[0], {"\\Seen"}), (one.messages[2], {"\\Flagged"})])
    two.sync()
    assert [m.flags for m in two.messages] == [{"\\Seen"}, set(), {"\\Flagged"}]


def test_mbox_sessions_on_an_unchanged_file_share_one_view_and_take_no_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mbox = tmp_path / "home/alice/mbox"
    (tmp_path / "home/alice/mail").mkdir(parents=True)
    mbox.write_bytes(
        b"".join(b"From a@example.com Mon Jan  1 00:00:00 2024\n" + message(i) + b"\n" for i in (1, 2, 3))
    )
    st = storage(tmp_path, "mbox:~/mail:INBOX=~/mbox")
    st.open("INBOX").close()  # the first look writes X-UIDs and claims \Recent
    written = mbox.stat().st_ino
    locks: list[Path] = []
    real_lock = mbox_mod.mbox_lock

    def counting_lock(
        root: LabRoot, path: Path, wait: float = 30.0, privileged: bool = False
    ) -> contextlib.AbstractContextManager[None]:
        locks.append(path)
        return real_lock(root, path, wait, privileged)

    monkeypatch.setattr(mbox_mod, "mbox_lock", counting_lock)
    one = st.open("INBOX")
    two = st.open("INBOX")
    examined = st.open("INBOX", readonly=True)
    assert locks == []  # nothing to write: the file is the one already parsed
    assert mbox.stat().st_ino == written
    version = mbox_mod._PARSED[mbox]
    assert version.synced is not None
    assert [m.uid for m in two.messages] == [1, 2, 3]
    assert not any(m.recent for m in two.messages) and not any(m.recent for m in examined.messages)
    # Each session has its own messages; only the frozen flag sets are shared.
    assert one.messages[0] is not two.messages[0]
    one.set_flags(one.messages[0], {"\\Seen"})
    assert locks == [mbox]  # a change is written under the lock
    assert [m.flags for m in two.messages] == [set(), set(), set()]
    assert two.sync().flag_changes == [1]
    assert [m.flags for m in two.messages] == [{"\\Seen"}, set(), set()]
    assert mbox_mod._PARSED[mbox] is not version


def test_uidlist_fast_parse_matches_the_line_by_line_one(monkeypatch: object) -> None:
    usual = b"3 V1700000000 N4 Gabc\n1 W120 :a,S=100\n2 :b\n3 W5 X7 :c d:2\n"
    odd = usual + b"\n"  # a blank line: not the usual shape, the general parser takes it
    fast = Uidlist.parse(usual)
    assert maildir_files._parse_v3_records(usual, {}) is True
    assert maildir_files._parse_v3_records(odd, {}) is False
    slow = Uidlist.parse(odd)
    assert fast == slow
    assert fast is not None
    assert {b: (r.uid, r.ext) for b, r in fast.records.items()} == {
        "a,S=100": (1, {"W": "120"}),
        "b": (2, {}),
        "c d:2": (3, {"W": "5", "X": "7"}),
    }


def test_crlf_helpers_match_their_definition() -> None:
    for data in (b"", b"a\nb", b"a\r\nb\n", b"\r\r\n\n", b"x\r", b"\n\n"):
        want = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        assert lf_to_crlf(data) == want
        assert vsize_of(data) == len(want)
