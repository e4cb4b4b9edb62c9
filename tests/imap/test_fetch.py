from __future__ import annotations

import pytest

from labsim.mailserver.imap import fetch as F
from labsim.mailserver.imap import mime
from labsim.mailserver.imap.parser import ParseError, tokenize

MSG = (
    b"From: Sender 2 <s@example.com>\r\n"
    b"To: alice@example.com\r\n"
    b"Subject: Test 2\r\n"
    b"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
    b"Message-ID: <2@x>\r\n"
    b"\r\n"
    b"Body of message 2.\r\n"
    b"Second line.\r\n"
)

MULTI = (
    b"From: a@example.com\r\n"
    b'Content-Type: multipart/mixed; boundary="XX"\r\n'
    b"\r\n"
    b"preamble\r\n"
    b"--XX\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"hello\r\n"
    b"--XX\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAEC\r\n"
    b"--XX--\r\n"
)


def items(text: bytes) -> F.FetchRequest:
    return F.parse_fetch_items(tokenize(text))


def test_macros_and_order() -> None:
    assert items(b"FAST").items == ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    req = items(b"(BODY.PEEK[HEADER.FIELDS (From Subject)]<0.20> RFC822.SIZE)")
    assert req.items == ["RFC822.SIZE"]
    assert req.sections[0].response_name() == "BODY[HEADER.FIELDS (FROM SUBJECT)]<0>"
    assert not req.sets_seen
    assert items(b"BODY[]").sets_seen and items(b"RFC822").sets_seen


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"FOO", "Unknown parameter: FOO"),
        (b"(FLAGS FOO)", "Unknown parameter: FOO"),
        (b"BODY[FOO]", "Invalid BODY[..] section"),
    ],
)
def test_bad_items(text: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        items(text)
    assert info.value.reason == reason


def test_sections_match_dovecot_output() -> None:
    sec = items(b"BODY.PEEK[HEADER.FIELDS (Subject)]").sections[0]
    assert F.render_section(MSG, sec) == b"BODY[HEADER.FIELDS (SUBJECT)] {19}\r\nSubject: Test 2\r\n\r\n"
    sec = items(b"BODY[]<5.10>").sections[0]
    assert F.render_section(MSG, sec) == b"BODY[]<5> {10}\r\n Sender 2 "
    sec = items(b"BODY[TEXT]").sections[0]
    assert F.render_section(MSG, sec) == b"BODY[TEXT] {34}\r\nBody of message 2.\r\nSecond line.\r\n"
    sec = items(b"BODY[HEADER.FIELDS.NOT (From)]").sections[0]
    assert F.render_section(MSG, sec).startswith(b"BODY[HEADER.FIELDS.NOT (FROM)] {100}\r\nTo: ")
    sec = items(b"BODY[1]").sections[0]
    assert F.render_section(MSG, sec) == b"BODY[1] {34}\r\nBody of message 2.\r\nSecond line.\r\n"


def test_envelope_and_bodystructure_like_dovecot() -> None:
    header, _ = mime.split_header(MSG)
    assert F.envelope(header) == (
        b'("Tue, 14 Nov 2023 22:13:20 +0000" "Test 2" (("Sender 2" NIL "s" "example.com")) '
        b'(("Sender 2" NIL "s" "example.com")) (("Sender 2" NIL "s" "example.com")) '
        b'((NIL NIL "alice" "example.com")) NIL NIL NIL "<2@x>")'
    )
    part = mime.parse(MSG)
    assert (
        F.bodystructure(part, True)
        == b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 34 2 NIL NIL NIL NIL)'
    )
    assert F.bodystructure(part, False) == b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 34 2)'


def test_multipart_bodystructure_and_part_fetch() -> None:
    part = mime.parse(MULTI)
    assert F.bodystructure(part, False) == (
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 5 1)'
        b'("application" "octet-stream" NIL NIL NIL "base64" 4) "mixed")'
    )
    sec = items(b"BODY[2]").sections[0]
    assert F.render_section(MULTI, sec) == b"BODY[2] {4}\r\nAAEC"
    sec = items(b"BODY[1.MIME]").sections[0]
    assert (
        F.render_section(MULTI, sec)
        == b"BODY[1.MIME] {43}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )


def test_flag_list_and_date() -> None:
    assert F.flag_list({"\\Seen", "\\Flagged", "$Label"}, True) == "(\\Flagged \\Seen $Label \\Recent)"
    assert F.nstring('a"b') == b'"a\\"b"'
    assert F.nstring(b"x\r\ny") == b"{4}\r\nx\r\ny"
    text = F.internaldate(1700000000.0)
    assert len(text) == 26 and text[2] == "-" and text[6] == "-"
