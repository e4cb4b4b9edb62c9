"""What Maildir and mbox mailboxes share: turning a fresh scan into SyncChanges,
STATUS counts, CRLF sizes."""

from __future__ import annotations

import re

from labsim.mailserver.storage.base import Mailbox, MailboxStatus, MessageInfo, SyncChanges

_LONE_LF = re.compile(rb"(?<!\r)\n")


def lf_to_crlf(data: bytes) -> bytes:
    """Messages go out with CRLF line ends whatever the file has."""
    # Two C-level passes beat a regex with a look-behind by far on big mail, and
    # give the same bytes: CRLF stays CRLF, a lone LF becomes CRLF, a lone CR stays.
    if b"\r" not in data:
        return data.replace(b"\n", b"\r\n")
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def vsize_of(data: bytes, start: int = 0) -> int:
    """RFC822.SIZE of data[start:]: the size once every lone LF has become CRLF."""
    # Every LF not preceded by CR gains one byte; CRLF pairs cannot overlap. Most
    # files have no CR at all: a memchr for it is far cheaper than counting CRLFs.
    # Counting from `start` spares copying a big message to measure its tail.
    lf = data.count(b"\n", start)
    size = len(data) - start + lf
    if data.find(b"\r", start) < 0:
        return size
    return size - data.count(b"\r\n", start)


def expunge_report(messages: list[MessageInfo], gone: set[int]) -> list[int]:
    """Sequence numbers for `* N EXPUNGE`, ascending, each one valid after the
    ones before it have been applied (so expunging 2 and 3 reports 2, 2)."""
    seqs: list[int] = []
    removed = 0
    for i, m in enumerate(messages, start=1):
        if m.uid in gone:
            seqs.append(i - removed)
            removed += 1
    return seqs


class BaseMailbox(Mailbox):
    def __init__(self) -> None:
        self._recent: set[int] = set()

    def _apply_scan(self, fresh: list[MessageInfo]) -> SyncChanges:
        """Merge a fresh view of the mailbox, in ascending UID order and ours to keep,
        into self.messages."""
        if not self.messages:
            # The first look (SELECT): everything is new; the general merge below
            # would give the same, slower.
            added = fresh
            recent = self._recent
            if recent:  # (fresh infos come with recent=False)
                for m in added:
                    m.recent = m.uid in recent
            self.messages = added
            return SyncChanges(new_count=len(added))
        infos = {m.uid: m for m in fresh}
        gone = {m.uid for m in self.messages if m.uid not in infos}
        changes = SyncChanges(expunged_seqs=expunge_report(self.messages, gone))
        kept = [m for m in self.messages if m.uid not in gone]
        for seq, m in enumerate(kept, start=1):
            now = infos[m.uid]
            if now.flags != m.flags:
                m.flags = now.flags
                changes.flag_changes.append(seq)
            m.size = now.size
            m.key = now.key
        known = {m.uid for m in kept}
        added = [m for m in fresh if m.uid not in known]
        for m in added:
            m.recent = m.uid in self._recent
        self.messages = kept + added
        changes.new_count = len(added)
        return changes

    def status(self) -> MailboxStatus:
        return MailboxStatus(
            messages=len(self.messages),
            recent=sum(1 for m in self.messages if m.recent),
            unseen=sum(1 for m in self.messages if "\\Seen" not in m.flags),
            uidnext=self.uidnext,
            uidvalidity=self.uidvalidity,
        )
