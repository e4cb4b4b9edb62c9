"""LIST-EXTENDED, SPECIAL-USE, CHILDREN, LIST-STATUS, LSUB, RENAME and SUBSCRIBE.

The expected lines are what Debian's Dovecot 2.3.19 answered to the same
commands with Debian's 15-mailboxes.conf (tests/conformance compares the two
servers directly where the real daemon is installed); these run everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.imap.listing import ListRequest, list_entries, parse_list
from labsim.mailserver.imap.parser import ParseError, tokenize
from labsim.mailserver.storage.base import MailboxInfo
from tests.imap.helpers import message, running_server, seed_maildir
from tests.imap.test_session import Raw

SPECIAL_USE = {
    "Drafts": ["\\Drafts"],
    "Junk": ["\\Junk"],
    "Trash": ["\\Trash"],
    "Sent": ["\\Sent"],
    "Sent Messages": ["\\Sent"],
}
TIMING = re.compile(r" \(\d\.\d{3} \+ 0\.000 secs\)\.$")


def replies(c: Raw, line: str) -> list[str]:
    return [TIMING.sub("", x) for x in c.cmd(line)]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Raw]:
    base: Path = tmp_path_factory.mktemp("listing")
    seed_maildir(base, "alice", [message(1), message(2)], ("Trash", "Sent", "Archive.2024", "Projects"))
    settings = DovecotSettings(
        mail_location="maildir:~/Maildir",
        log_path="/var/log/dovecot.log",
        mailbox_special_use=SPECIAL_USE,
    )
    with running_server(base, settings) as srv:
        c = Raw(srv.port)
        assert replies(c, "a LOGIN alice secret")[-1].endswith(" SPECIAL-USE] Logged in")
        assert replies(c, "s1 SUBSCRIBE Sent") == ["s1 OK Subscribe completed"]
        assert replies(c, "s2 SUBSCRIBE Archive.2024") == ["s2 OK Subscribe completed"]
        yield c


def test_capability_has_special_use_only_when_configured(tmp_path: Path) -> None:
    seed_maildir(tmp_path, "alice", [], ())
    with running_server(tmp_path) as srv:
        c = Raw(srv.port)
        caps = replies(c, "a LOGIN alice secret")[0]
        assert "LIST-EXTENDED" in caps and "LIST-STATUS" in caps and "WITHIN" in caps
        assert "SPECIAL-USE" not in caps


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            'LIST "" "*"',
            [
                '* LIST (\\Noselect \\HasChildren) "." Archive',
                '* LIST (\\HasNoChildren) "." Archive.2024',
                '* LIST (\\HasNoChildren) "." Projects',
                '* LIST (\\HasNoChildren \\Sent) "." Sent',
                '* LIST (\\HasNoChildren \\Trash) "." Trash',
                '* LIST (\\HasNoChildren) "." INBOX',
            ],
        ),
        ('LIST (SPECIAL-USE) "" "*"', ['* LIST (\\Sent) "." Sent', '* LIST (\\Trash) "." Trash']),
        (
            'LIST "" "%" RETURN (SPECIAL-USE CHILDREN)',
            [
                '* LIST (\\NonExistent \\HasChildren) "." Archive',
                '* LIST (\\HasNoChildren) "." Projects',
                '* LIST (\\HasNoChildren \\Sent) "." Sent',
                '* LIST (\\HasNoChildren \\Trash) "." Trash',
                '* LIST (\\HasNoChildren) "." INBOX',
            ],
        ),
        (
            'LIST (SUBSCRIBED) "" "*"',
            ['* LIST (\\Subscribed) "." Archive.2024', '* LIST (\\Subscribed) "." Sent'],
        ),
        (
            'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"',
            [
                '* LIST (\\NonExistent) "." Archive (CHILDINFO ("SUBSCRIBED"))',
                '* LIST (\\Subscribed) "." Sent',
            ],
        ),
        ('LIST "" ("Sent" "Trash")', ['* LIST () "." Sent', '* LIST () "." Trash']),
        (
            'LIST "" "S*" RETURN (STATUS (UNSEEN MESSAGES) SPECIAL-USE)',
            ['* LIST (\\Sent) "." Sent', "* STATUS Sent (MESSAGES 0 UNSEEN 0)"],
        ),
        # In the order of the subscriptions file, as Dovecot.
        ('LSUB "" "*"', ['* LSUB (\\Sent) "." Sent', '* LSUB () "." Archive.2024']),
        ('LSUB "" "%"', ['* LSUB (\\Sent) "." Sent', '* LSUB (\\Noselect) "." Archive']),
    ],
)
def test_list_forms(client: Raw, command: str, expected: list[str]) -> None:
    out = replies(client, "l " + command)
    assert out == [*expected, "l OK " + ("Lsub" if "LSUB" in command else "List") + " completed"]


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        (
            'LIST (RECURSIVEMATCH) "" "*"',
            "BAD Error in IMAP command LIST: RECURSIVEMATCH must not be the only selection",
        ),
        ('LIST (FOO) "" "*"', "BAD Error in IMAP command LIST: Unknown select options"),
        ('LIST ("SPECIAL-USE") "" "*"', "BAD Error in IMAP command LIST: List options contains non-atoms"),
        ('LIST "" "*" RETURN (FOO)', "BAD Error in IMAP command LIST: Unknown return options"),
        ("SUBSCRIBE Gone", "NO Mailbox doesn't exist: Gone"),
        ("RENAME Trash Sent", "NO [ALREADYEXISTS] Target mailbox already exists"),
        ("RENAME Trash Trash", "NO [ALREADYEXISTS] Can't rename mailbox to itself"),
        ("RENAME Archive.2024 Archive.2024.x", "NO Can't rename mailbox under its own child"),
        ("RENAME Nope X", "NO [NONEXISTENT] Mailbox doesn't exist: Nope"),
        ("RENAME INBOX Old", "NO [CANNOT] Renaming INBOX isn't supported"),
        ('RENAME Sent ""', "NO [CANNOT] Invalid mailbox name: Name is empty"),
        ("DELETE INBOX", "NO INBOX can't be deleted"),
        ("DELETE Nope", "NO [NONEXISTENT] Mailbox doesn't exist: Nope"),
        ("CREATE Drafts (USE (\\Drafts))", "OK Create completed"),
    ],
)
def test_answers_like_dovecot(client: Raw, command: str, reply: str) -> None:
    assert replies(client, "t " + command)[-1] == "t " + reply


def test_rename_moves_children_and_keeps_subscriptions(client: Raw) -> None:
    assert replies(client, "a CREATE Box.kid")[-1] == "a OK Create completed"
    assert replies(client, "b SUBSCRIBE Box.kid")[-1] == "b OK Subscribe completed"
    assert replies(client, "c RENAME Box Moved")[-1] == "c OK Rename completed"
    assert replies(client, 'd LIST "" "Moved*"')[:-1] == [
        '* LIST (\\Noselect \\HasChildren) "." Moved',
        '* LIST (\\HasNoChildren) "." Moved.kid',
    ]
    # Dovecot 2.3 leaves subscriptions alone on RENAME.
    assert '* LSUB () "." Box.kid' in replies(client, 'e LSUB "" "*"')


def test_parse_list_keeps_what_was_asked() -> None:
    req = parse_list(tokenize(b'(SUBSCRIBED) "" ("a" "b%") RETURN (CHILDREN STATUS (MESSAGES))'))
    assert (req.patterns, req.select, req.returns, req.status_items) == (
        ["a", "b%"],
        {"SUBSCRIBED"},
        {"CHILDREN", "STATUS"},
        ["MESSAGES"],
    )
    assert req.extended and req.children and req.subscribed and not req.special_use
    with pytest.raises(ParseError):
        parse_list(tokenize(b'"" "*" RETURN (STATUS)'))
    with pytest.raises(ParseError):
        parse_list(tokenize(b'"" "*" EXTRA'))


def test_special_use_flags_only_on_existing_mailboxes() -> None:
    boxes = [
        MailboxInfo("INBOX", ["\\HasNoChildren"]),
        MailboxInfo("Junk", [], selectable=False, exists=False),
    ]
    entries = list_entries(
        ListRequest("", ["*"], extended=True, returns={"SPECIAL-USE"}), boxes, [], SPECIAL_USE, "."
    )
    assert [(e.name, e.flags) for e in entries] == [("Junk", ["\\NonExistent"]), ("INBOX", [])]
