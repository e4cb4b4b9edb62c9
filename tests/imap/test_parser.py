from __future__ import annotations

import asyncio

import pytest

from labsim.mailserver.imap.parser import (
    Atom,
    ClientGone,
    FatalInput,
    Limits,
    ParseError,
    Str,
    parse_sequence_set,
    read_command,
    split_command,
    tokenize,
)


def test_atoms_quoted_and_nested_lists() -> None:
    assert tokenize(b'a "b c" (d (e "f\\"g") NIL) \\Seen') == [
        Atom("a"),
        Str(b"b c"),
        [Atom("d"), [Atom("e"), Str(b'f"g')], Atom("NIL")],
        Atom("\\Seen"),
    ]


def test_literal_and_literal_plus_in_wire_bytes() -> None:
    assert tokenize(b"{5}\r\nalice {6+}\r\nsecret") == [Str(b"alice", True), Str(b"secret", True)]


def test_fetch_section_with_spaces_stays_one_atom() -> None:
    vals = tokenize(b"(UID BODY.PEEK[HEADER.FIELDS (From Subject)]<0.100>)")
    assert vals == [[Atom("UID"), Atom("BODY.PEEK[HEADER.FIELDS (From Subject)]<0.100>")]]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"(FLAGS", "Missing ')'"),
        (b"FLAGS)", "Unexpected ')'"),
        (b'"open', "Missing '\"'"),
        (b"a  b", "Double spaces"),
        (b"{9}\r\nshort", "Invalid literal size"),
        (b"BODY[TEXT", "Missing ']'"),
    ],
)
def test_bad_syntax(data: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        tokenize(data)
    assert info.value.reason == reason


def test_split_command_and_uid() -> None:
    tag, cmd = split_command(b"a1 uid fetch 1:* FLAGS")
    assert tag == "a1" and cmd is not None
    assert (cmd.name, cmd.rest, cmd.error) == ("UID FETCH", b"1:* FLAGS", None)
    tag, cmd = split_command(b'm "quoted" NOOP')
    assert tag == "m" and cmd is not None and cmd.error == "Invalid command name"
    assert split_command(b"") == ("*", None)
    assert split_command(b"(x NOOP")[1] is None


def test_sequence_sets() -> None:
    assert parse_sequence_set("2,4:7,9:*", 12) == [(2, 2), (4, 7), (9, 12)]
    assert parse_sequence_set("*", 3) == [(3, 3)]
    assert parse_sequence_set("5:2", 9) == [(2, 5)]
    for bad in ("", "0", "1:", "a", "1,,2", "1:2:3"):
        with pytest.raises(ParseError, match="Invalid messageset"):
            parse_sequence_set(bad, 5)


async def _frame(wire: bytes, limits: Limits) -> tuple[bytes, list[bytes]]:
    reader = asyncio.StreamReader(limit=70000)
    reader.feed_data(wire)
    reader.feed_eof()
    sent: list[bytes] = []

    async def send(b: bytes) -> None:
        sent.append(b)

    raw = await read_command(reader, send, limits)
    return raw.data, sent


def test_read_command_literals_send_continuation_only_when_synchronizing() -> None:
    data, sent = asyncio.run(_frame(b"a LOGIN {5}\r\nalice {6+}\r\nsecret\r\nnext\r\n", Limits()))
    assert data == b"a LOGIN {5}\r\nalice {6+}\r\nsecret"
    assert sent == [b"+ OK\r\n"]


def test_read_command_limits() -> None:
    with pytest.raises(FatalInput, match="Literal size too large"):
        asyncio.run(_frame(b"a SELECT {70000}\r\n", Limits()))
    with pytest.raises(FatalInput, match="Input buffer full, aborting"):
        asyncio.run(_frame(b"a NOOP " + b"x" * 5000 + b"\r\n", Limits(4096, 4096, 4096)))
    data = b"b SELECT " + b"x" * 66000 + b"\r\nc NOOP\r\n"
    reader_result = asyncio.run(_frame(data, Limits()))
    assert reader_result[0].startswith(b"b SELECT xxx") and len(reader_result[0]) == 65536


def test_read_command_client_gone_mid_literal() -> None:
    with pytest.raises(ClientGone):
        asyncio.run(_frame(b"a LOGIN {10}\r\nabc", Limits()))
