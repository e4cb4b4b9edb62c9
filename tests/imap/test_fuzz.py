"""Hostile input: no exception escapes, every command is answered or the connection closed."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labsim.mailserver.imap.fetch import parse_fetch_items, render_section
from labsim.mailserver.imap.parser import ParseError, parse_sequence_set, split_command, tokenize
from tests.imap.helpers import Server, message, running_server, seed_maildir

WORDS = [
    "FETCH",
    "UID",
    "STORE",
    "SEARCH",
    "SELECT",
    "EXAMINE",
    "LIST",
    "LSUB",
    "STATUS",
    "NOOP",
    "CHECK",
    "EXPUNGE",
    "CLOSE",
    "UNSELECT",
    "NAMESPACE",
    "ID",
    "ENABLE",
    "CAPABILITY",
    "CREATE",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "RENAME",
    "DELETE",
    "APPEND",
    "COPY",
    "MOVE",
    "IDLE",
    "LOGIN",
    "AUTHENTICATE",
    "STARTTLS",
    "RETURN",
    "(SPECIAL-USE)",
    "(SUBSCRIBED RECURSIVEMATCH)",
    "(CHILDREN STATUS (MESSAGES UNSEEN))",
    "(USE (\\Sent))",
    "1",
    "1:*",
    "*",
    "2,3",
    "0",
    "(",
    ")",
    '"',
    "\\",
    "FLAGS",
    "+FLAGS",
    "BODY[]",
    "BODY.PEEK[HEADER.FIELDS (From)]",
    "BODY[1.MIME]<0.5>",
    "RFC822",
    "ENVELOPE",
    "BODYSTRUCTURE",
    "INBOX",
    "Archive",
    '""',
    "%",
    "NIL",
    "\\Seen",
    "NOT",
    "OR",
    "ALL",
    "{3+}",
    "(MESSAGES UNSEEN)",
    "&Jjo-",
    "&",
    "\x00",
    "\xff",
    "ÄÖ",
]


@given(st.binary(max_size=300))
@settings(max_examples=400, deadline=None)
def test_parser_never_raises_anything_but_parse_error(data: bytes) -> None:
    tag, _cmd = split_command(data)
    assert tag
    try:
        values = tokenize(data)
        parse_fetch_items(values[:1])
    except ParseError:
        pass
    with contextlib.suppress(ParseError):
        parse_sequence_set(data.decode("latin-1"), 7)


@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_fetch_items_from_words(words: list[str]) -> None:
    text = " ".join(words).encode("utf-8")
    try:
        req = parse_fetch_items(tokenize(text))
    except ParseError:
        return
    for sec in req.sections:
        render_section(message(1).replace(b"\n", b"\r\n"), sec)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base: Path = tmp_path_factory.mktemp("fuzzlab")
    seed_maildir(base, "alice", [message(1), message(2)], ("Archive",))
    with running_server(base) as srv:
        yield srv


def _exchange(port: int, lines: list[bytes], login: bool = True) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    buf = b""

    def readline() -> bytes | None:
        nonlocal buf
        while b"\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                return None
            buf += data
        line, _, buf = buf.partition(b"\r\n")
        return line

    try:
        assert readline() is not None
        opening = [b"L LOGIN alice secret", b"S SELECT INBOX"] if login else []
        for line in [*opening, *lines]:
            sock.sendall(line + b"\r\n")
            while True:
                got = readline()
                if got is None or got.startswith(b"* BYE"):
                    return
                if got.startswith(b"+"):
                    sock.sendall(b"DONE\r\n")
                    continue
                if got[:2] in (b"T ", b"L ", b"S ") or got.startswith(b"* BAD"):
                    break
    finally:
        sock.close()


@given(st.lists(st.lists(st.sampled_from(WORDS), min_size=0, max_size=6), min_size=1, max_size=5))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_session_answers_every_line(server: Server, commands: list[list[str]]) -> None:
    lines = []
    for words in commands:
        text = ("T " + " ".join(words)).encode("utf-8")
        if text.rstrip().endswith(b"}"):
            text += b" X"
        lines.append(text)
    _exchange(server.port, lines)
    errors = [ln for ln in server.log_lines if ": Error:" in ln]
    assert errors == []


@given(st.lists(st.binary(max_size=120), min_size=1, max_size=4))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_session_survives_random_bytes(server: Server, chunks: list[bytes]) -> None:
    lines = []
    for chunk in chunks:
        text = b"T " + chunk.replace(b"\r", b"").replace(b"\n", b"")
        if text.rstrip().endswith(b"}"):
            text += b" X"
        lines.append(text)
    _exchange(server.port, lines)
    assert [ln for ln in server.log_lines if ": Error:" in ln] == []


@given(st.lists(st.lists(st.sampled_from(WORDS), min_size=0, max_size=5), min_size=1, max_size=4))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_login_phase_answers_every_line(server: Server, commands: list[list[str]]) -> None:
    lines = []
    for words in commands:
        text = ("T " + " ".join(words)).encode("utf-8")
        if text.rstrip().endswith(b"}"):
            text += b" X"
        lines.append(text)
    _exchange(server.port, lines, login=False)
    assert [ln for ln in server.log_lines if ": Error:" in ln] == []
