"""A FETCH session replayed against the transcript real Dovecot 2.3.19 gave for the same mail."""

# ruff: noqa: E501
from __future__ import annotations

import re
import time
from pathlib import Path

from tests.imap.helpers import running_server, seed_maildir
from tests.imap.test_session import Raw


def dovecot_probe_message(n: int) -> bytes:
    return (
        f"From: Sender {n} <s@example.com>\nTo: alice@example.com\nSubject: Test {n}\n"
        f"Date: Tue, 14 Nov 2023 22:13:20 +0000\nMessage-ID: <{n}@x>\n\nBody of message {n}.\nSecond line.\n"
    ).encode()


HDR = (
    "From: Sender {n} <s@example.com>\r\nTo: alice@example.com\r\nSubject: Test {n}\r\n"
    "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <{n}@x>\r\n\r\n"
)
TEXT = "Body of message {n}.\r\nSecond line.\r\n"


def test_fetch_transcript_and_logout_counters(tmp_path: Path) -> None:
    seed_maildir(tmp_path, "alice", [dovecot_probe_message(n) for n in (1, 2, 3)])
    with running_server(tmp_path) as srv:
        c = Raw(srv.port)
        c.cmd("a LOGIN alice secret")
        c.cmd("b SELECT INBOX")
        c.cmd("s STORE 1:3 +FLAGS.SILENT (\\Seen)")

        def body(cmd: str) -> str:
            tag = cmd.split()[0]
            c.sock.sendall(cmd.encode() + b"\r\n")
            out = b""
            while not re.search(rb"(^|\r\n)" + tag.encode() + rb" [^\r\n]*\r\n$", out):
                out += c.sock.recv(65536) if not c.buf else c.buf
                c.buf = b""
            return re.sub(r"\r\n" + tag + r" OK Fetch completed \(.*\)\.\r\n$", "", out.decode())

        assert body("h FETCH 1 (BODY.PEEK[HEADER.FIELDS (From Subject)]<0.20> RFC822.SIZE)") == (
            "* 1 FETCH (RFC822.SIZE 166 BODY[HEADER.FIELDS (FROM SUBJECT)]<0> {20}\r\nFrom: Sender 1 <s@ex)"
        )
        assert body("i FETCH 1 (BODY[TEXT] BODY[HEADER])") == (
            "* 1 FETCH (BODY[TEXT] {34}\r\n"
            + TEXT.format(n=1)
            + " BODY[HEADER] {132}\r\n"
            + HDR.format(n=1)
            + ")"
        )
        assert body("j FETCH 2 (RFC822.HEADER RFC822.TEXT ENVELOPE BODYSTRUCTURE BODY)") == (
            "* 2 FETCH (RFC822.HEADER {132}\r\n"
            + HDR.format(n=2)
            + " RFC822.TEXT {34}\r\n"
            + TEXT.format(n=2)
            + ' ENVELOPE ("Tue, 14 Nov 2023 22:13:20 +0000" "Test 2" (("Sender 2" NIL "s" "example.com")) (("Sender 2" NIL "s" "example.com")) (("Sender 2" NIL "s" "example.com")) ((NIL NIL "alice" "example.com")) NIL NIL NIL "<2@x>")'
            ' BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 34 2 NIL NIL NIL NIL)'
            ' BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 34 2))'
        )
        assert (
            body("k FETCH 3 RFC822")
            == "* 3 FETCH (RFC822 {166}\r\n" + HDR.format(n=3) + TEXT.format(n=3) + ")"
        )
        assert body("k3 FETCH 1 (UID BODY[]<5.10>)") == "* 1 FETCH (UID 1 BODY[]<5> {10}\r\n Sender 1 )"
        assert body("k4 FETCH 1 BODY[HEADER.FIELDS.NOT (From)]") == (
            "* 1 FETCH (BODY[HEADER.FIELDS.NOT (FROM)] {100}\r\n" + HDR.format(n=1).split("\r\n", 1)[1] + ")"
        )
        assert body("k5 FETCH 1 (BODY[1] BODY[1.MIME])") == (
            "* 1 FETCH (BODY[1] {34}\r\n"
            + TEXT.format(n=1)
            + " BODY[1.MIME] {132}\r\n"
            + HDR.format(n=1)
            + ")"
        )
        c.cmd("k9 STORE 1 FLAGS.SILENT (\\Deleted)")
        assert c.cmd("l1 EXPUNGE")[0] == "* 1 EXPUNGE"
        c.cmd("l3 LOGOUT")
        time.sleep(0.2)
    logout = next(ln for ln in srv.log_lines if "Disconnected: Logged out" in ln)
    # Dovecot's own counters for this very sequence (RFC822.SIZE aside)
    assert logout.endswith(
        "deleted=1 expunged=1 trashed=0 hdr_count=4 hdr_bytes=384 body_count=6 body_bytes=410"
    )
