from __future__ import annotations

import pytest

from labsim.mailserver.imap.args import (
    BadMailboxName,
    inbox_match,
    list_pattern,
    mailbox_name,
    normalize_flag,
    parse_date_time,
    uid_set,
)
from labsim.mailserver.imap.parser import Atom, ParseError, Str


def test_uid_set_keeps_order_and_compresses_runs() -> None:
    assert uid_set([2, 3, 4, 7]) == "2:4,7"
    assert uid_set([5]) == "5"
    assert uid_set([9, 1, 2]) == "9,1:2"


def test_date_time() -> None:
    assert parse_date_time("25-Nov-2026 12:00:00 +0000") == 1795608000.0
    assert parse_date_time(" 5-Nov-2026 12:00:00 +0100") == 1793876400.0
    for bad in ("25-Foo-2026 12:00:00 +0000", "yesterday", "25-Nov-2026 12:00 +0000"):
        with pytest.raises(ParseError, match="Invalid internal date"):
            parse_date_time(bad)


def test_list_patterns() -> None:
    rx = list_pattern("A%", ".")
    assert rx.match("Archive") and not rx.match("Archive.2023")
    assert list_pattern("*", ".").match("Archive.2023")
    assert inbox_match("inbox") and inbox_match("%") and not inbox_match("Arch*")


def test_names_and_flags() -> None:
    assert mailbox_name(Str(b"Entw&APw-rfe")) == "Entwürfe"
    assert mailbox_name(Atom("INBOX")) == "INBOX"
    with pytest.raises(BadMailboxName):
        mailbox_name(Str("Entwürfe".encode()))
    assert normalize_flag("\\seen") == "\\Seen"
    assert normalize_flag("$Label1") == "$Label1"
    with pytest.raises(ParseError, match=r"Invalid system flag \\RECENT"):
        normalize_flag("\\Recent")
