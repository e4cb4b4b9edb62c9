from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.storage.base import (
    MailboxExists,
    MailboxInfo,
    MailboxNotFound,
    MailStorage,
)
from labsim.mailserver.storage.maildir import MaildirStorage
from labsim.mailserver.storage.maildir_files import Uidlist
from tests.labroot_builder import LabBuilder, sample_message

MSG1_CRLF = sample_message(1).replace(b"\n", b"\r\n")


@pytest.fixture
def maildir(lab: LabBuilder, alice: UserInfo) -> Path:
    return lab.maildir(alice.home, [sample_message(1), sample_message(2), sample_message(3)])


@pytest.fixture
def storage(storage_for: Callable[[str], MailStorage], maildir: Path) -> MaildirStorage:
    s = storage_for("maildir:~/Maildir")
    assert isinstance(s, MaildirStorage)
    return s


def test_new_moves_to_cur_and_is_recent_once(storage: MaildirStorage, maildir: Path) -> None:
    box = storage.open("INBOX")
    assert [m.uid for m in box.messages] == [1, 2, 3]
    assert [m.recent for m in box.messages] == [True, True, True]
    assert os.listdir(maildir / "new") == []
    assert sorted(os.listdir(maildir / "cur")) == [
        "1700000000.M0P1.labsim:2,",
        "1700000000.M1P1.labsim:2,",
        "1700000000.M2P1.labsim:2,",
    ]
    again = storage.open("INBOX")
    assert [m.recent for m in again.messages] == [False, False, False]
    assert again.uidvalidity == box.uidvalidity
    assert again.uidnext == 4


def test_examine_does_not_claim_recent(storage: MaildirStorage, maildir: Path) -> None:
    ro = storage.open("INBOX", readonly=True)
    assert [m.recent for m in ro.messages] == [True, True, True]
    assert len(os.listdir(maildir / "new")) == 3
    rw = storage.open("INBOX")
    assert [m.recent for m in rw.messages] == [True, True, True]
    assert rw.uidvalidity == ro.uidvalidity  # EXAMINE wrote the uidlist already


def test_crlf_size_and_read(storage: MaildirStorage) -> None:
    box = storage.open("INBOX")
    msg = box.messages[0]
    data = box.read(msg)
    assert data == MSG1_CRLF
    assert msg.size == len(MSG1_CRLF) == len(sample_message(1)) + sample_message(1).count(b"\n")


def test_uidlist_format_and_stability(storage: MaildirStorage, maildir: Path) -> None:
    box = storage.open("INBOX")
    text = (maildir / "dovecot-uidlist").read_text()
    lines = text.splitlines()
    header = lines[0].split()
    assert header[0] == "3"
    assert header[1] == f"V{box.uidvalidity}"
    assert header[2] == "N4"
    assert header[3].startswith("G") and len(header[3]) == 33
    size = len(MSG1_CRLF)
    assert lines[1] == f"1 W{size} :1700000000.M0P1.labsim"
    # A fresh storage object (a restart) sees the same UIDs.
    (maildir / "new" / "1700000001.M9P1.labsim").write_bytes(sample_message(9))
    box2 = storage.open("INBOX")
    assert [m.uid for m in box2.messages] == [1, 2, 3, 4]
    assert box2.uidvalidity == box.uidvalidity
    ul = Uidlist.parse((maildir / "dovecot-uidlist").read_bytes())
    assert ul is not None
    assert ul.records["1700000001.M9P1.labsim"].uid == 4


def test_reads_dovecot_written_uidlist(
    lab: LabBuilder, storage_for: Callable[[str], MailStorage], alice: UserInfo
) -> None:
    base = lab.maildir(alice.home, [])
    (base / "cur" / "1700000000.M0P1.host:2,S").write_bytes(b"Subject: a\n\nx\n")
    (base / "cur" / "1700000001.M1P1.host,S=15,W=17:2,").write_bytes(b"Subject: b\n\nyy\n")
    (base / "dovecot-uidlist").write_text(
        "3 V1795609379 N8 G39d9132621d3066bca38000083ecc375\n"
        "5 :1700000000.M0P1.host\n"
        "7 :1700000001.M1P1.host,S=15,W=17\n"
    )
    box = storage_for("maildir:~/Maildir").open("INBOX")
    assert box.uidvalidity == 1795609379
    assert box.uidnext == 8
    assert [(m.uid, m.flags, m.size) for m in box.messages] == [(5, {"\\Seen"}, 17), (7, set(), 17)]


def test_size_from_filename_is_honoured(
    lab: LabBuilder, storage_for: Callable[[str], MailStorage], alice: UserInfo
) -> None:
    base = lab.maildir(alice.home, [])
    (base / "new" / "1700000000.M0P1.host,S=999,W=1234").write_bytes(b"Subject: a\n\nx\n")
    box = storage_for("maildir:~/Maildir").open("INBOX")
    assert box.messages[0].size == 1234


def test_flags_roundtrip(storage: MaildirStorage, maildir: Path) -> None:
    box = storage.open("INBOX")
    msg = box.messages[1]
    box.set_flags(msg, {"\\Seen", "\\Flagged", "\\Answered", "\\Draft", "\\Deleted", "\\Recent"})
    assert os.listdir(maildir / "cur").count("1700000000.M1P1.labsim:2,DFRST") == 1
    box.set_flags(msg, {"\\Seen", "$Label1", "Work"})
    assert (maildir / "cur" / "1700000000.M1P1.labsim:2,Sab").exists()
    assert (maildir / "dovecot-keywords").read_text() in ("0 $Label1\n1 Work\n", "0 Work\n1 $Label1\n")
    again = storage.open("INBOX")
    assert again.messages[1].flags == {"\\Seen", "$Label1", "Work"}
    assert again.read(again.messages[1]) == sample_message(2).replace(b"\n", b"\r\n")


def test_unknown_letters_survive(
    lab: LabBuilder, storage_for: Callable[[str], MailStorage], alice: UserInfo
) -> None:
    base = lab.maildir(alice.home, [])
    (base / "cur" / "1700000000.M0P1.host:2,PS").write_bytes(b"Subject: a\n\nx\n")
    box = storage_for("maildir:~/Maildir").open("INBOX")
    assert box.messages[0].flags == {"\\Seen"}
    box.set_flags(box.messages[0], {"\\Seen", "\\Flagged"})
    assert os.listdir(base / "cur") == ["1700000000.M0P1.host:2,FPS"]


def test_sync_sees_other_sessions(storage: MaildirStorage, maildir: Path) -> None:
    a = storage.open("INBOX")
    b = storage.open("INBOX")
    a.set_flags(a.messages[2], {"\\Seen"})
    assert a.expunge([1]) == [1]
    (maildir / "new" / "1700000002.M7P1.labsim").write_bytes(sample_message(7))
    changes = b.sync()
    assert changes.expunged_seqs == [1]
    assert changes.flag_changes == [2]
    assert changes.new_count == 1
    assert [m.uid for m in b.messages] == [2, 3, 4]
    assert b.messages[-1].recent is True
    assert a.sync().new_count == 1
    assert a.messages[-1].recent is False  # b claimed it first


def test_expunge_reports_shifted_seqs(storage: MaildirStorage, maildir: Path) -> None:
    box = storage.open("INBOX")
    assert box.expunge([2, 3]) == [2, 2]
    assert [m.uid for m in box.messages] == [1]
    assert len(os.listdir(maildir / "cur")) == 1
    assert storage.open("INBOX").uidnext == 4


def test_read_after_other_session_changed_flags(storage: MaildirStorage) -> None:
    a = storage.open("INBOX")
    b = storage.open("INBOX")
    b.set_flags(b.messages[0], {"\\Seen"})
    assert a.read(a.messages[0]) == MSG1_CRLF


def test_folders_listing_like_dovecot(lab: LabBuilder, storage: MaildirStorage, alice: UserInfo) -> None:
    lab.maildir(alice.home, [], folder="Archive")
    lab.maildir(alice.home, [sample_message(5)], folder="Archive.2024")
    lab.maildir(alice.home, [], folder="Only.Child")
    assert storage.list() == [
        MailboxInfo("INBOX", ["\\HasNoChildren"]),
        MailboxInfo("Archive", ["\\HasChildren"]),
        MailboxInfo("Archive.2024", ["\\HasNoChildren"]),
        MailboxInfo("Only", ["\\Noselect", "\\HasChildren"], selectable=False, exists=False),
        MailboxInfo("Only.Child", ["\\HasNoChildren"]),
    ]
    st = storage.status("Archive.2024")
    assert (st.messages, st.recent, st.unseen, st.uidnext) == (1, 1, 1, 2)
    *_, uidvalidity = st
    assert uidvalidity == storage.status("Archive.2024").uidvalidity


def test_create_subscribe_rename_delete(storage: MaildirStorage, maildir: Path) -> None:
    storage.create("Entwürfe")
    assert (maildir / ".Entw&APw-rfe" / "maildirfolder").exists()
    for sub in ("cur", "new", "tmp"):
        assert (maildir / ".Entw&APw-rfe" / sub).is_dir()
    with pytest.raises(MailboxExists):
        storage.create("Entwürfe")
    storage.create("Archive.2024")
    storage.subscribe("Archive")
    storage.subscribe("Archive.2024")
    assert (maildir / "subscriptions").read_bytes() == b"V\t2\n\nArchive\nArchive\t2024\n"
    assert [i.name for i in storage.list_subscribed()] == ["Archive", "Archive.2024"]
    storage.rename("Archive", "Old")
    assert (maildir / ".Old.2024").is_dir()
    # As Dovecot 2.3: RENAME leaves subscriptions under the old names.
    assert [i.name for i in storage.list_subscribed()] == ["Archive", "Archive.2024"]
    storage.delete("Old.2024")
    assert not (maildir / ".Old.2024").exists()
    with pytest.raises(MailboxNotFound):
        storage.open("Old.2024")
    assert "Entwürfe" in [i.name for i in storage.list()]


def test_fs_layout(storage_for: Callable[[str], MailStorage], lab: LabBuilder) -> None:
    storage = storage_for("maildir:~/Maildir:LAYOUT=fs")
    storage.create("Archive/2024")
    base = lab.root.path("/home/alice/Maildir")
    assert (base / "Archive" / "2024" / "cur").is_dir()
    assert storage.list() == [
        MailboxInfo("INBOX", ["\\HasNoChildren"]),
        MailboxInfo("Archive", ["\\Noselect", "\\HasChildren"], selectable=False),
        MailboxInfo("Archive/2024", ["\\HasNoChildren"]),
    ]
    assert storage.open("Archive/2024").messages == []


def test_missing_maildir_is_created(storage_for: Callable[[str], MailStorage], lab: LabBuilder) -> None:
    storage = storage_for("maildir:~/Maildir")
    box = storage.open("INBOX")
    assert box.messages == []
    for sub in ("cur", "new", "tmp"):
        assert lab.root.path(f"/home/alice/Maildir/{sub}").is_dir()


def test_stale_uidlist_lock_is_broken(storage: MaildirStorage, maildir: Path) -> None:
    lock = maildir / "dovecot-uidlist.lock"
    lock.write_text("999999")
    os.utime(lock, (1, 1))
    box = storage.open("INBOX")
    assert len(box.messages) == 3
    assert not lock.exists()


def test_broken_uidlist_is_logged_and_rebuilt(
    storage: MaildirStorage, maildir: Path, log_buffer: io.StringIO
) -> None:
    (maildir / "dovecot-uidlist").write_text("garbage\n")
    box = storage.open("INBOX")
    assert [m.uid for m in box.messages] == [1, 2, 3]
    assert "Broken file /home/alice/Maildir/dovecot-uidlist line 1: Invalid header" in log_buffer.getvalue()


def test_append(storage: MaildirStorage, maildir: Path) -> None:
    box = storage.open("INBOX")
    uid = box.append(b"Subject: new\r\n\r\nhello\r\n", internaldate=1600000000.0)
    assert uid == 4
    assert box.append(b"Subject: flagged\n\nx\n", {"\\Seen", "Work"}) == 5
    assert len(box.messages) == 3  # only after sync
    changes = box.sync()
    assert changes.new_count == 2
    new, flagged = box.messages[3], box.messages[4]
    assert (new.uid, new.recent, new.internaldate, new.size) == (4, True, 1600000000.0, 23)
    assert box.read(new) == b"Subject: new\r\n\r\nhello\r\n"
    assert (flagged.uid, flagged.flags, flagged.recent) == (5, {"\\Seen", "Work"}, True)
    files = sorted(os.listdir(maildir / "cur"))
    assert files[3].endswith(",S=20,W=23:2,")
    assert files[4].endswith(":2,Sa")
    assert os.listdir(maildir / "tmp") == []
    assert storage.open("INBOX").uidnext == 6


def test_append_is_recent_for_the_next_session(storage: MaildirStorage) -> None:
    storage.open("INBOX")
    delivery = storage.open("INBOX")
    delivery.append(b"Subject: delivered\n\nx\n")
    delivery.close()
    reader = storage.open("INBOX")
    assert [m.recent for m in reader.messages] == [False, False, False, True]


def test_duplicate_base_names_are_fixed(
    lab: LabBuilder, storage_for: Callable[[str], MailStorage], alice: UserInfo, log_buffer: io.StringIO
) -> None:
    base = lab.maildir(alice.home, [])
    (base / "cur" / "1700000000.M0P1.host:2,S").write_bytes(b"Subject: a\n\nx\n")
    (base / "new" / "1700000000.M0P1.host").write_bytes(b"Subject: b\n\ny\n")
    box = storage_for("maildir:~/Maildir").open("INBOX")
    assert [m.uid for m in box.messages] == [1, 2]
    assert sorted(box.read(m) for m in box.messages) == [
        b"Subject: a\r\n\r\nx\r\n",
        b"Subject: b\r\n\r\ny\r\n",
    ]
    assert (
        "Warning: Fixed a duplicate: /home/alice/Maildir/new/1700000000.M0P1.host -> "
        in log_buffer.getvalue()
    )


def test_fresh_mailbox_files_in_cur_are_recent_once(
    lab: LabBuilder, storage_for: Callable[[str], MailStorage], alice: UserInfo
) -> None:
    # As Dovecot 2.3.19: a mailbox no session has seen shows all its mail \Recent.
    base = lab.maildir(alice.home, [])
    (base / "cur" / "1700000001.M1P1.host:2,S").write_bytes(b"Subject: 1\n\nhi\n")
    (base / "cur" / "1700000002.M1P1.host:2,").write_bytes(b"Subject: 2\n\nhi\n")
    storage = storage_for("maildir:~/Maildir")
    assert storage.status("INBOX").recent == 2
    first = storage.open("INBOX")
    assert [m.recent for m in first.messages] == [True, True]
    (base / "cur" / "1700000003.M1P1.host:2,").write_bytes(b"Subject: 3\n\nhi\n")  # put there by a MUA
    second = storage.open("INBOX")
    assert [m.recent for m in second.messages] == [False, False, True]
    assert first.sync().new_count == 1
    assert first.messages[-1].recent is False


def test_old_tmp_files_are_cleaned(storage: MaildirStorage, maildir: Path) -> None:
    (maildir / "tmp" / "old").write_bytes(b"x")
    (maildir / "tmp" / "young").write_bytes(b"x")
    os.utime(maildir / "tmp" / "old", (1, 1))
    storage.open("INBOX", readonly=True)
    assert sorted(os.listdir(maildir / "tmp")) == ["old", "young"]
    storage.open("INBOX")
    assert os.listdir(maildir / "tmp") == ["young"]


def test_first_scan_orders_uids_by_mtime_and_learns_sizes_and_dates(
    storage_for: Callable[[str], MailStorage], lab: LabBuilder, alice: UserInfo
) -> None:
    """A Maildir nobody has indexed: each file read once gives its size (for the
    uidlist's W field) and its mtime (UID order, then INTERNALDATE)."""
    base = lab.root.path(f"{alice.home}/Maildir")
    for sub in ("cur", "new", "tmp"):
        (base / sub).mkdir(parents=True)
    files = [  # (sub, name, content, mtime): names out of mtime order on purpose
        ("cur", "1700000003.M1P1.h:2,S", b"Subject: a\n\nlf only\n", 1_600_000_300),
        ("new", "1700000001.M2P1.h", b"Subject: b\r\n\r\ncrlf\r\n", 1_600_000_100),
        ("cur", "1700000002.M3P1.h,S=99,W=1234:2,", b"Subject: c\n\nsize in the name\n", 1_600_000_200),
        ("cur", "1700000000.M4P1.h:2,F", b"Subject: d\n\nmixed\r\nends\n", 1_600_000_200),
    ]
    for sub, name, content, mtime in files:
        (base / sub / name).write_bytes(content)
        os.utime(base / sub / name, (mtime, mtime))
    box = storage_for("maildir:~/Maildir").open("INBOX")
    got = [(m.uid, m.key, m.size, m.internaldate, m.recent) for m in box.messages]
    assert got == [
        (1, "1700000001.M2P1.h", 20, 1_600_000_100, True),
        (2, "1700000000.M4P1.h", 27, 1_600_000_200, True),  # same mtime: by name
        (3, "1700000002.M3P1.h,S=99,W=1234", 1234, 1_600_000_200, True),
        (4, "1700000003.M1P1.h", 23, 1_600_000_300, True),
    ]
    ul = Uidlist.parse((base / "dovecot-uidlist").read_bytes())
    assert ul is not None
    assert {b: (r.uid, r.ext) for b, r in ul.records.items()} == {
        "1700000001.M2P1.h": (1, {"W": "20"}),
        "1700000000.M4P1.h": (2, {"W": "27"}),
        "1700000002.M3P1.h,S=99,W=1234": (3, {}),
        "1700000003.M1P1.h": (4, {"W": "23"}),
    }
    # The next session takes the sizes from the uidlist, not from the files.
    (base / "cur" / "1700000003.M1P1.h:2,S").write_bytes(b"changed behind our back\n")
    os.utime(base / "cur" / "1700000003.M1P1.h:2,S", (1_600_000_300, 1_600_000_300))
    again = storage_for("maildir:~/Maildir").open("INBOX")
    assert [(m.uid, m.size, m.internaldate) for m in again.messages] == [g[0:1] + g[2:4] for g in got]
