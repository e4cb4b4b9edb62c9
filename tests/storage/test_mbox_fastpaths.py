"""The mbox short cuts a first SELECT takes (headers split only when needed, sizes
counted in place, the rewritten file not parsed again) give exactly what the plain
way gives: parsing every header of every message, and parsing the file we wrote."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.storage import mbox as mbox_mod
from labsim.mailserver.storage.base import StorageError
from labsim.mailserver.storage.location import open_storage
from labsim.mailserver.storage.mailbox_base import vsize_of
from labsim.mailserver.storage.mbox_format import (
    STATE_HEADERS,
    MboxMessage,
    assign_uids,
    parse_mbox,
    render_and_reparse,
)
from tests.storage.test_fuzz import mbox_bytes

HIDDEN = {b"status", b"x-status", b"x-keywords", b"x-uid", b"x-imapbase", b"x-imap", b"content-length"}
_FIELD = re.compile(rb"([^\r\n]*(?:\r\n|[\r\n])|[^\r\n]+\Z)(?:[ \t][^\r\n]*(?:\r\n|[\r\n]|\Z))*")


def oracle(raw: bytes) -> dict[str, Any]:
    """A message the slow, obvious way: every field split, state read from all of them,
    the size measured on the bytes a client gets."""
    nl = raw.find(b"\n")
    from_line = raw if nl < 0 else raw[:nl]
    if nl < 0:
        block, body, blank = b"", b"", False
    elif raw.startswith(b"\n", nl + 1):
        block, body, blank = b"", raw[nl + 2 :], True
    elif (end := raw.find(b"\n\n", nl + 1)) < 0:
        block, body, blank = raw[nl + 1 :], b"", False
    else:
        block, body, blank = raw[nl + 1 : end + 1], raw[end + 2 :], True
    fields = []
    for m in _FIELD.finditer(block):
        first = m.group(1)
        fields.append((first.split(b":", 1)[0].strip().lower() if b":" in first else b"", m.group(0)))

    def value(name: bytes) -> bytes | None:
        for n, f in fields:
            if n == name:
                return f.split(b":", 1)[1].strip()
        return None

    flags: set[str] = set()
    xuid = imapbase = None
    old = pseudo = False
    if any(n in STATE_HEADERS for n, _ in fields):
        status, xstatus = value(b"status") or b"", value(b"x-status") or b""
        if b"R" in status:
            flags.add("\\Seen")
        old = b"O" in status
        flags |= {f for letter, f in (("A", "\\Answered"), ("F", "\\Flagged"), ("T", "\\Draft"),
                                       ("D", "\\Deleted")) if letter.encode() in xstatus}  # fmt: skip
        kws = value(b"x-keywords")
        if kws:
            flags |= {k.decode("utf-8", "replace") for k in kws.split() if not k.startswith(b"\\")}
        x = value(b"x-uid")
        if x and x.isdigit() and 0 < int(x) < 2**32:
            xuid = int(x)
        base, holder = value(b"x-imapbase"), value(b"x-imap")
        if holder is not None:
            base, pseudo = holder, True
        parts = base.split() if base else []
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            uv, un = int(parts[0]), int(parts[1])
            if 0 < uv < 2**32 and 0 <= un < 2**32 - 1:
                imapbase = (uv, un + 1, [p.decode("utf-8", "replace") for p in parts[2:]])
    shown = b"".join(f for n, f in fields if n not in HIDDEN) + (b"\n" if blank else b"") + body
    return {
        "raw": raw,
        "from_line": from_line,
        "block": block,
        "body": body,
        "blank": blank,
        "headers": fields,
        "flags": flags,
        "old": old,
        "xuid": xuid,
        "imapbase": imapbase,
        "pseudo": pseudo,
        "size": vsize_of(shown),
        "shown": shown.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
    }


def seen(m: MboxMessage) -> dict[str, Any]:
    """The same things as the message object tells them."""
    return {
        "raw": m.raw,
        "from_line": m.from_line,
        "block": m.raw[m.head_at : m.body_at - m.has_blank],
        "body": m.body,
        "blank": m.has_blank,
        "headers": m.headers,
        "flags": m.flags,
        "old": m.old,
        "xuid": m.xuid,
        "imapbase": m.imapbase,
        "pseudo": m.pseudo,
        "size": m.client_size(),
        "shown": m.client_bytes(),
    }


def parsed(data: bytes) -> list[MboxMessage]:
    try:
        return parse_mbox(data)
    except StorageError:
        return []


tricky = st.sampled_from(
    [
        b"From a@b Tue Nov 14 22:13:20 2023\nSubject: x\r\n\nbody\n",
        b"From a@b Tue Nov 14 22:13:20 2023\nStatus: RO\rFrom x\n\nb\n",  # dropping Status makes a From_ line
        b"From a@b Tue Nov 14 22:13:20 2023\nA: 1\rStatus: RO\rFrom x\n\nb\n",
        b"From a@b Tue Nov 14 22:13:20 2023\nA: 1\rX-UID: 3\n\nb\r\n",
        b"From a@b Tue Nov 14 22:13:20 2023\n  Status: R\n\tmore\nB: 2",  # no blank line, no LF at the end
        b"From a@b Tue Nov 14 22:13:20 2023\nX-Spam-Status: no\nSTATUS : RO\n\n",
        b"From a@b Tue Nov 14 22:13:20 2023\nContent-Length: 9\n\nx\nFrom y\n",  # one message, by its length
        b"From a@b Tue Nov 14 22:13:20 2023\nX-Keywords: $Junk  b\xc3\xa4r\nX-UID: 7\nStatus: O\n\nx\n",
    ]
)
mboxes = st.one_of(mbox_bytes, st.lists(tricky, min_size=1, max_size=4).map(b"\n".join))


@settings(max_examples=400, deadline=None)
@given(mboxes)
def test_parsing_with_headers_split_late_matches_splitting_them_all(data: bytes) -> None:
    for m in parsed(data):
        assert seen(m) == oracle(m.raw)


@settings(max_examples=400, deadline=None)
@given(mboxes, st.booleans(), st.sets(st.sampled_from(["\\Seen", "\\Flagged", "\\Deleted", "$Label", "x"])))
def test_a_rendered_message_is_known_without_parsing_it(data: bytes, first: bool, flags: set[str]) -> None:
    msgs = parsed(data)
    uv, un, _ = assign_uids(msgs)
    for i, m in enumerate(msgs):
        if i % 2:
            m.flags, m.dirty = set(flags), True
        text, again = render_and_reparse(m, (uv, un, ["kw"]) if first and i == 0 else None, True)
        if again is None:
            continue
        assert parse_mbox(text) and len(parse_mbox(text)) == 1  # one message, however it is joined
        assert seen(again) == oracle(text)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mboxes)
def test_the_written_mbox_is_what_sessions_see_next(tmp_path: Path, data: bytes) -> None:
    """The first SELECT rewrites the file with X-UID and Status and keeps what it
    wrote for the next session: that must be what parsing the file gives."""
    select_and_compare(tmp_path, data)


def test_a_content_length_that_starts_to_count_after_the_rewrite(tmp_path: Path) -> None:
    """A message without a blank line cannot use its Content-Length; once rewritten
    with one, the length may reach over the next message, as parsing finds."""
    first = b"From a@b Tue Nov 14 22:13:20 2023\n"
    second = first + b"Subject: x\n\nbody\n"
    # The second message as the rewrite leaves it, and the separator LF.
    reach = len(first + b"Subject: x\nX-UID: 2\nStatus: O\n\nbody\n") + 1
    data = first + b"Content-Length: %d\n" % reach + second + b"\n" + first + b"Subject: y\n\nbody\n"
    assert len(parse_mbox(data)) == 3
    assert len(select_and_compare(tmp_path, data)) == 2


def select_and_compare(tmp_path: Path, data: bytes) -> list[MboxMessage]:
    """SELECT the mbox `data` once; check what is kept for the next session against
    parsing the written file, and return the file's messages."""
    root = LabRoot(tmp_path / f"r{os.urandom(6).hex()}")
    home = root.path("/home/alice")
    (home / "mail").mkdir(parents=True)
    (home / "mbox").write_bytes(data)
    user = UserInfo("alice", os.getuid(), os.getgid(), "/home/alice")
    log = DovecotLog(root, stderr=io.StringIO())
    storage = open_storage(root, "mbox:~/mail:INBOX=~/mbox", user, log, DovecotSettings())
    try:
        box = storage.open("INBOX")
    except StorageError:
        return []
    try:
        written = (home / "mbox").read_bytes()
        hit = mbox_mod._PARSED.get(home / "mbox")
        if hit is None:
            return []  # not remembered (the file changed meanwhile): nothing to compare
        assert [seen(m) for m in hit.msgs] == [oracle(m.raw) for m in parse_mbox(written)]
        fresh = parse_mbox(written)
        pseudo = fresh.pop(0) if fresh and fresh[0].pseudo else None
        holder = pseudo or (fresh[0] if fresh else None)
        uv, un, _ = assign_uids(fresh, pseudo)
        assert box.uidnext == un
        if holder is not None and holder.imapbase is not None:  # else each look picks a new one
            assert box.uidvalidity == uv
        assert [(m.uid, m.size, m.flags) for m in box.messages] == [
            (m.uid, m.client_size(), m.flags) for m in fresh
        ]
        if box.messages:
            # A STORE writes the file again, now from what the first write kept.
            box.set_flags(box.messages[-1], {"\\Seen", "$Label"})
            hit = mbox_mod._PARSED.get(home / "mbox")
            assert hit is not None
            again = parse_mbox((home / "mbox").read_bytes())
            assert [seen(m) for m in hit.msgs] == [oracle(m.raw) for m in again]
            assert {"\\Seen", "$Label"} <= again[-1].flags
        return parse_mbox(written)
    finally:
        box.close()
        mbox_mod._PARSED.pop(home / "mbox", None)
