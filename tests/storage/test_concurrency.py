"""Several sessions at once: the uidlist and mbox locks keep UIDs unique and
nothing is lost."""

from __future__ import annotations

import threading
from collections.abc import Callable

from labsim.mailserver.storage.base import MailStorage
from tests.labroot_builder import LabBuilder, sample_message

WORKERS = 4
EACH = 8


def _hammer(storage_for: Callable[[str], MailStorage], location: str) -> list[int]:
    errors: list[BaseException] = []
    uids: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        try:
            box = storage_for(location).open("INBOX")
            for i in range(EACH):
                uid = box.append(sample_message(n * 100 + i))
                with lock:
                    uids.append(uid)
                box.sync()
                if box.messages:
                    box.set_flags(box.messages[0], {"\\Seen"})
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    return uids


def test_parallel_maildir_sessions(storage_for: Callable[[str], MailStorage], lab: LabBuilder) -> None:
    uids = _hammer(storage_for, "maildir:~/Maildir")
    assert sorted(uids) == list(range(1, WORKERS * EACH + 1))
    box = storage_for("maildir:~/Maildir").open("INBOX")
    assert [m.uid for m in box.messages] == list(range(1, WORKERS * EACH + 1))
    subjects = sorted(box.read(m).split(b"\r\n")[2] for m in box.messages)
    assert len(set(subjects)) == WORKERS * EACH


def test_parallel_mbox_sessions(storage_for: Callable[[str], MailStorage], lab: LabBuilder) -> None:
    uids = _hammer(storage_for, "mbox:~/mail:INBOX=/var/mail/%u")
    assert sorted(uids) == list(range(1, WORKERS * EACH + 1))
    box = storage_for("mbox:~/mail:INBOX=/var/mail/%u").open("INBOX")
    assert [m.uid for m in box.messages] == list(range(1, WORKERS * EACH + 1))
    assert "\\Seen" in box.messages[0].flags
    assert not lab.root.path("/var/mail/alice.lock").exists()
