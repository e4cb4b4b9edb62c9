"""The small pure pieces of POP3: UIDL formats, dot-stuffing, TOP."""

from __future__ import annotations

from labsim.mailserver.pop3 import dot_stuff, expand_uidl, top_of


def test_default_uidl_format_is_lowercase_hex_uid_then_uidvalidity() -> None:
    assert expand_uidl("%08Xu%08Xv", 1, 0x6B06D362) == "000000016b06d362"
    assert expand_uidl("%08Xu%08Xv", 255, 7) == "000000ff00000007"


def test_other_uidl_variables() -> None:
    assert expand_uidl("%u", 42, 9) == "42"
    assert expand_uidl("%v.%u", 42, 9) == "9.42"
    assert expand_uidl("%{uid}-%{uidvalidity}", 3, 4) == "3-4"
    assert (
        expand_uidl("%m", 1, 1, md5="d41d8cd98f00b204e9800998ecf8427e") == "d41d8cd98f00b204e9800998ecf8427e"
    )
    assert expand_uidl("%f", 1, 1, filename="1700000000.M0P1.labsim") == "1700000000.M0P1.labsim"
    assert expand_uidl("100%%", 1, 1) == "100%"
    assert expand_uidl("%5u", 7, 1) == "    7"


def test_dot_stuffing() -> None:
    assert dot_stuff(b".a\r\nb\r\n.\r\n") == b"..a\r\nb\r\n..\r\n"
    assert dot_stuff(b"no newline") == b"no newline\r\n"
    assert dot_stuff(b"") == b""


def test_top_lines() -> None:
    msg = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n"
    assert top_of(msg, 0) == b"A: 1\r\nB: 2\r\n\r\n"
    assert top_of(msg, 2) == b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n"
    assert top_of(msg, 99) == msg
    assert top_of(b"A: 1\r\n", 5) == b"A: 1\r\n"
