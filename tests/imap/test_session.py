# ruff: noqa: E501
from __future__ import annotations

import base64
import calendar
import imaplib
import re
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest

from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.imap import fetch as F
from labsim.mailserver.storage.base import Mailbox, MailboxInfo, MailStorage, StorageError
from tests.imap.helpers import message, running_server, seed_maildir, self_signed_context

T = r" \(\d\.\d{3} \+ 0\.000 secs\)\."


class Raw:
    """A line-oriented raw client: what a learner types into a terminal."""

    def __init__(self, port: int, src: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(src, 0))
        self.buf = b""
        self.greeting = self.readline()

    def readline(self) -> str:
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(self.buf)
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line.decode("utf-8", "replace")

    def cmd(self, text: str | bytes, tag: str = "") -> list[str]:
        data = text.encode() if isinstance(text, str) else text
        tag = tag or data.split(b" ", 1)[0].decode()
        self.sock.sendall(data + b"\r\n")
        out = []
        while True:
            line = self.readline()
            out.append(line)
            if line.startswith(tag + " ") or line.startswith("* BYE"):
                return out

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except OSError:
            return True


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    seed_maildir(tmp_path, "alice", [message(1), message(2), message(3)], ("Archive",))
    return tmp_path


def test_greeting_capability_login_and_log(lab: Path) -> None:
    with running_server(lab) as srv:
        c = Raw(srv.port)
        assert (
            c.greeting
            == "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN] Dovecot ready."
        )
        assert (
            c.cmd("a CAPABILITY")[-1]
            == "a OK Pre-login capabilities listed, post-login capabilities have more."
        )
        assert c.cmd("b LOGIN alice wrong") == ["b NO [AUTHENTICATIONFAILED] Authentication failed."]
        out = c.cmd("c LOGIN alice secret")
        assert out == [
            "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED WITHIN LIST-STATUS MOVE LITERAL+",
            "c OK Logged in",
        ]
        assert c.cmd("d LOGOUT")[0] == "* BYE Logging out"
        assert re.fullmatch(
            "d OK Logout completed" + T,
            c.readline(),
        )
    logins = [ln for ln in srv.log_lines if "Login:" in ln]
    assert re.search(
        r"imap-login: Info: Login: user=<alice>, method=PLAIN, rip=127\.0\.0\.1, lip=127\.0\.0\.1, mpid=\d+, secured, session=<[A-Za-z0-9+/]{16}>$",
        logins[0],
    )
    assert any(
        re.search(
            r"imap\(alice\)<\d+><.{16}>: Info: Disconnected: Logged out in=\d+ out=\d+ deleted=0 expunged=0",
            ln,
        )
        for ln in srv.log_lines
    )


def test_plaintext_disallowed_from_another_ip(lab: Path) -> None:
    with running_server(lab) as srv:
        c = Raw(srv.port, src="127.0.0.2")
        assert "LOGINDISABLED" in c.greeting and "AUTH=PLAIN" not in c.greeting
        assert c.cmd("a LOGIN alice secret") == [
            "* BAD [ALERT] Plaintext authentication not allowed without SSL/TLS, but your client did it anyway. "
            "If anyone was listening, the password was exposed.",
            "a NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
        ]
        assert c.cmd("b STARTTLS") == ["b BAD TLS support isn't enabled."]
        assert c.cmd("c LOGOUT")[0] == "* BYE Logging out"
        c.closed()
    # As Dovecot 2.3.19 logs it (docs/dovecot-observed.md): a refused LOGIN is a failed attempt.
    gone = [ln for ln in srv.log_lines if "Disconnected" in ln]
    assert len(gone) == 1
    assert re.search(
        r"imap-login: Info: Disconnected: Aborted login by logging out \(auth failed, 1 attempts in 0 secs\): "
        r"user=<alice>, rip=127\.0\.0\.2, lip=127\.0\.0\.1, session=<",
        gone[0],
    )


def test_prelogin_bad_commands_and_literal_login(lab: Path) -> None:
    with running_server(lab) as srv:
        c = Raw(srv.port)
        assert c.cmd("a SELECT INBOX") == ["a BAD Error in IMAP command received by server."]
        assert c.cmd("b NOOP") == ["b OK NOOP completed."]
        assert c.cmd("c FOO") == ["c BAD Error in IMAP command received by server."]
        assert c.cmd("d BAR") == ["* BYE Too many invalid IMAP commands."]
        assert c.closed()
        c = Raw(srv.port)
        c.sock.sendall(b'a LOGIN "alice" {6}\r\n')
        assert c.readline() == "+ OK"
        assert (
            c.cmd(b"secret", "a")[-1]
            == "a OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED WITHIN LIST-STATUS MOVE LITERAL+] Logged in"
        )
    assert any(
        "Disconnected: Too many invalid commands (no auth attempts in 0 secs): user=<>, rip=127.0.0.1" in ln
        for ln in srv.log_lines
    )


def test_authenticate_sasl_ir_continuations_and_abort(lab: Path) -> None:
    with running_server(lab) as srv:
        c = Raw(srv.port)
        c.sock.sendall(b"a AUTHENTICATE PLAIN\r\n")
        assert c.readline() == "+ "
        c.sock.sendall(b"*\r\n")
        assert c.readline() == "a BAD Authentication aborted by client."
        assert c.cmd("b AUTHENTICATE FOO") == ["b NO [ALERT] Unsupported authentication mechanism."]
        c.sock.sendall(b"c AUTHENTICATE LOGIN\r\n")
        assert c.readline() == "+ " + base64.b64encode(b"Username:").decode()
        c.sock.sendall(base64.b64encode(b"alice") + b"\r\n")
        assert c.readline() == "+ " + base64.b64encode(b"Password:").decode()
        assert c.cmd(base64.b64encode(b"secret"), "c")[-1].startswith("c OK [CAPABILITY IMAP4rev1")
    c2_ir = base64.b64encode(b"\0alice\0secret").decode()
    with running_server(lab) as srv:
        c = Raw(srv.port)
        assert c.cmd(f"a AUTHENTICATE PLAIN {c2_ir}")[-1].endswith("] Logged in")
    assert any("method=PLAIN" in ln and "Login:" in ln for ln in srv.log_lines)


def test_imaplib_select_fetch_search_store_expunge(lab: Path) -> None:
    with running_server(lab) as srv:
        m = imaplib.IMAP4("127.0.0.1", srv.port)
        m.login("alice", "secret")
        assert m.list() == ("OK", [b'(\\HasNoChildren) "." Archive', b'(\\HasNoChildren) "." INBOX'])
        typ, data = m.select("INBOX")
        assert (typ, data) == ("OK", [b"3"])
        assert m.untagged_responses.get("RECENT") == [b"3"]
        fdata: Any = m.fetch("2", "(UID FLAGS RFC822.SIZE)")[1]
        assert fdata == [b"2 (UID 2 FLAGS (\\Recent) RFC822.SIZE 197)"]
        fdata = m.fetch("2", "BODY.PEEK[]")[1]
        assert fdata[0][1] == message(2).replace(b"\n", b"\r\n")
        assert m.search(None, "UNSEEN") == ("OK", [b"1 2 3"])
        fdata = m.fetch("1", "RFC822.HEADER")[1]
        assert fdata[0][1].startswith(b"From: Sender 1")
        fdata = m.fetch("1", "BODY[TEXT]")[1]
        assert fdata[0][0] == b"1 (FLAGS (\\Seen \\Recent) BODY[TEXT] {34}"
        assert m.search(None, "UNSEEN") == ("OK", [b"2 3"])
        assert m.search(None, "SEEN") == ("OK", [b"1"])
        assert m.uid("SEARCH", "SUBJECT", '"message 3"') == ("OK", [b"3"])
        assert m.store("2", "+FLAGS", "(\\Deleted)") == ("OK", [b"2 (FLAGS (\\Deleted \\Recent))"])
        assert m.expunge() == ("OK", [b"2"])
        assert m.uid("FETCH", "1:*", "(FLAGS)")[1] == [
            b"1 (UID 1 FLAGS (\\Seen \\Recent))",
            b"2 (UID 3 FLAGS (\\Recent))",
        ]
        assert m.status("Archive", "(MESSAGES UIDNEXT UNSEEN)") == (
            "OK",
            [b"Archive (MESSAGES 0 UIDNEXT 1 UNSEEN 0)"],
        )
        assert m.close()[0] == "OK"
        m.logout()
    files = sorted(p.name for p in (lab / "home/alice/Maildir/cur").iterdir())
    assert len(files) == 2 and files[0].endswith(":2,S")


def test_postlogin_errors_are_worded_like_dovecot(lab: Path) -> None:
    with running_server(lab) as srv:
        c = Raw(srv.port)
        c.cmd("a LOGIN alice secret")
        assert re.fullmatch("b NO Mailbox doesn't exist: Nope" + T, c.cmd("b SELECT Nope")[-1])
        assert re.fullmatch("c BAD No mailbox selected" + T, c.cmd("c FETCH 1 FLAGS")[-1])
        assert re.fullmatch("d BAD Error in IMAP command FOO: Unknown command" + T, c.cmd("d FOO")[-1])
        assert re.fullmatch(
            "e BAD Error in IMAP command SELECT: Invalid arguments" + T, c.cmd("e SELECT")[-1]
        )
        out = c.cmd("f EXAMINE INBOX")
        assert out[1] == "* OK [PERMANENTFLAGS ()] Read-only mailbox."
        assert re.fullmatch("f OK \\[READ-ONLY\\] Examine completed" + T, out[-1])
        assert re.fullmatch(
            "g BAD Error in IMAP command FETCH: Invalid messageset" + T, c.cmd("g FETCH 9 FLAGS")[-1]
        )
        assert re.fullmatch(
            "h BAD Error in IMAP command FETCH: Missing '\\)'" + T, c.cmd("h FETCH 1:* (FLAGS")[-1]
        )
        assert re.fullmatch(
            "i OK Store ignored with read-only mailbox" + T, c.cmd("i STORE 1 +FLAGS (\\Seen)")[-1]
        )
        assert re.fullmatch(
            r"j BAD Error in IMAP command STORE: Invalid system flag \\BOGUS" + T,
            c.cmd("j STORE 1 +FLAGS \\Bogus")[-1],
        )
        assert c.cmd("k NAMESPACE")[0] == '* NAMESPACE (("" ".")) NIL NIL'
        assert c.cmd('l LIST "" ""')[0] == '* LIST (\\Noselect) "." ""'
        assert c.cmd("m ID NIL")[0] == '* ID ("name" "Dovecot")'
        assert re.fullmatch(
            "n BAD Error in IMAP command LOGIN: Unknown command" + T, c.cmd("n LOGIN a b")[-1]
        )
        long = c.cmd("o SELECT " + "x" * 70000)
        assert re.fullmatch("o BAD Error in IMAP command SELECT: Too long argument" + T, long[-1])
        assert c.cmd("p FETCH {100000}") == ["* BYE Literal size too large"]
        assert c.closed()
    assert any("Disconnected: Literal size too large in=" in ln for ln in srv.log_lines)


def test_too_many_bad_commands_after_login(lab: Path) -> None:
    with running_server(lab) as srv:
        c = Raw(srv.port)
        c.cmd("a LOGIN alice secret")
        for i in range(19):
            assert c.cmd(f"b{i} FOO")[-1].startswith(f"b{i} BAD")
        assert c.cmd("z FOO")[-1].startswith("z BAD Error in IMAP command FOO: Unknown command")
        assert c.readline() == "* BYE Too many invalid IMAP commands."
        assert c.closed()


def test_idle_timeout_and_userip_limit(lab: Path) -> None:
    settings = DovecotSettings(mail_location="maildir:~/Maildir", mail_max_userip_connections=1)
    with running_server(lab, settings=settings, idle_timeout=0.5) as srv:
        c = Raw(srv.port)
        c.cmd("a LOGIN alice secret")
        d = Raw(srv.port)
        assert d.cmd("a LOGIN alice secret") == [
            "a NO [LIMIT] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=1)"
        ]
        assert d.closed()
        time.sleep(0.1)
        assert any(
            "imap-login: Info: Disconnected: Maximum number of connections from user+IP exceeded (mail_max_userip_connections=1): user=<alice>, method=PLAIN, rip=127.0.0.1"
            in ln
            for ln in srv.log_lines
        )
        assert c.readline() == "* BYE Disconnected for inactivity."
        assert c.closed()


def test_new_mail_is_announced_after_noop(lab: Path) -> None:
    with running_server(lab) as srv:
        c = Raw(srv.port)
        c.cmd("a LOGIN alice secret")
        c.cmd("b SELECT INBOX")
        (lab / "home/alice/Maildir/new/1800000000.M9P1.labsim").write_bytes(message(9))
        out = c.cmd("c NOOP")
        assert out[:2] == ["* 4 EXISTS", "* 4 RECENT"]


def test_client_vanishing_mid_literal_leaves_mailbox_alone(lab: Path) -> None:
    before = sorted(p.name for p in (lab / "home/alice/Maildir/new").iterdir())
    with running_server(lab) as srv:
        c = Raw(srv.port)
        c.cmd("a LOGIN alice secret")
        c.cmd("b SELECT INBOX")
        c.cmd("c STORE 1 +FLAGS (\\Deleted)")
        c.sock.sendall(b"d SEARCH SUBJECT {50}\r\nabc")
        assert c.readline() == "+ OK"
        c.sock.close()
        c2 = Raw(srv.port)
        c2.cmd("a LOGIN alice secret")
        assert c2.cmd("b EXAMINE INBOX")[2] == "* 3 EXISTS"
    assert len(before) == 3


def test_starttls_then_login_from_insecure_ip(lab: Path, tmp_path: Path) -> None:
    tls = self_signed_context(tmp_path)
    with running_server(lab, tls_context=tls, host="127.0.0.1") as srv:
        c = Raw(srv.port, src="127.0.0.2")
        assert c.greeting.startswith(
            "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED]"
        )
        c.sock.close()

        class Client(imaplib.IMAP4):
            def _create_socket(self, timeout: float | None) -> socket.socket:
                return socket.create_connection(
                    (self.host, self.port), timeout, source_address=("127.0.0.2", 0)
                )

        m = Client("127.0.0.1", srv.port)
        client_ctx = ssl.create_default_context()
        client_ctx.check_hostname = False
        client_ctx.verify_mode = ssl.CERT_NONE
        assert m.starttls(client_ctx)[0] == "OK"
        assert "AUTH=PLAIN" in m.capabilities and "STARTTLS" not in m.capabilities
        assert m.login("alice", "secret")[0] == "OK"
        assert m.select("INBOX") == ("OK", [b"3"])
        m.logout()
    assert any(
        "Login: user=<alice>, method=PLAIN, rip=127.0.0.2, lip=127.0.0.1" in ln and ", TLS," in ln
        for ln in srv.log_lines
    )


class _BrokenStorage(MailStorage):
    separator = "."

    def list(self) -> list[MailboxInfo]:
        raise StorageError(
            "opendir(/home/alice/Maildir) failed: Permission denied (euid=1000(alice) egid=1000(alice))"
        )

    def open(self, name: str, readonly: bool = False) -> Mailbox:
        raise RuntimeError("a bug")


def test_storage_errors_become_serverbug_and_a_log_line(lab: Path) -> None:
    with running_server(lab) as srv:
        srv.ctx.open_storage = lambda info: _BrokenStorage()
        c = Raw(srv.port)
        c.cmd("a LOGIN alice secret")
        bug = r"NO \[SERVERBUG\] Internal error occurred\. Refer to server log for more information\. \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\]"
        assert re.fullmatch("b " + bug + T, c.cmd('b LIST "" *')[-1])
        assert re.fullmatch("c " + bug + T, c.cmd("c SELECT INBOX")[-1])
        assert c.cmd("d NOOP")[-1].startswith("d OK NOOP completed")
    errors = [ln for ln in srv.log_lines if ": Error: " in ln]
    assert re.search(
        r"imap\(alice\)<\d+><.{16}>: Error: opendir\(/home/alice/Maildir\) failed: Permission denied",
        errors[0],
    )
    assert "RuntimeError('a bug')" in errors[1]


def test_prelogin_disconnect_log_lines(lab: Path) -> None:
    with running_server(lab) as srv:
        c = Raw(srv.port)
        assert c.cmd("a LOGOUT") == ["* BYE Logging out"]
        assert c.readline() == "a OK Logout completed."
        c = Raw(srv.port)
        c.cmd("a LOGIN alice nope")
        c.sock.close()
        c = Raw(srv.port)
        c.cmd("a NOOP")
        c.sock.close()
        time.sleep(0.3)
    lines = [ln.split(": Info: ", 1)[1] for ln in srv.log_lines if "imap-login: Info: Disconnected" in ln]
    assert [re.sub(r"\d+ secs|session=<.*>", "X", ln) for ln in lines] == [
        "Disconnected: Aborted login by logging out (no auth attempts in X): user=<>, rip=127.0.0.1, lip=127.0.0.1, secured, X",
        "Disconnected: Connection closed (auth failed, 1 attempts in X): user=<alice>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, secured, X",
        "Disconnected: Connection closed (no auth attempts in X): user=<>, rip=127.0.0.1, lip=127.0.0.1, secured, X",
    ]


def test_idle_reports_new_mail_then_done(lab: Path) -> None:
    with running_server(lab) as srv:
        c = Raw(srv.port)
        c.cmd("a LOGIN alice secret")
        c.cmd("b SELECT INBOX")
        c.sock.sendall(b"c IDLE\r\n")
        assert c.readline() == "+ idling"
        (lab / "home/alice/Maildir/new/1800000001.M8P1.labsim").write_bytes(message(8))
        assert c.readline() == "* 4 EXISTS"
        assert c.readline() == "* 4 RECENT"
        assert re.fullmatch("c OK Idle completed" + T, c.cmd(b"DONE", "c")[-1])


def test_mbox_inbox_select_and_fetch(tmp_path: Path) -> None:
    mbox = tmp_path / "var/mail/alice"
    mbox.parent.mkdir(parents=True)
    mbox.write_bytes(
        b"From sender@example.com Tue Nov 14 22:13:20 2023\n" + message(1) + b"\n"
        b"From sender@example.com Tue Nov 14 22:13:21 2023\n" + message(2) + b"\n"
    )
    (tmp_path / "home/alice/mail").mkdir(parents=True)
    settings = DovecotSettings(mail_location="mbox:~/mail:INBOX=/var/mail/%u")
    with running_server(tmp_path, settings=settings) as srv:
        m = imaplib.IMAP4("127.0.0.1", srv.port)
        m.login("alice", "secret")
        assert m.select("INBOX") == ("OK", [b"2"])
        listing: Any = m.list()[1]
        assert [x.rsplit(b" ", 2)[1:] for x in listing] == [[b'"/"', b"INBOX"]]
        data: Any = m.fetch("2", "(RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Subject)])")[1]
        assert data[0][1] == b"Subject: Test message 2\r\n\r\n"
        assert m.search(None, "ALL") == ("OK", [b"1 2"])
        m.logout()


def test_prelogin_input_buffer_full(lab: Path) -> None:
    with running_server(lab) as srv:
        c = Raw(srv.port)
        assert c.cmd("a LOGIN " + "x" * 5000) == ["* BYE Input buffer full, aborting"]
        assert c.closed()
        c = Raw(srv.port)
        assert c.cmd("a LOGIN {5000}") == ["* BYE Literal size too large"]
        time.sleep(0.2)
    assert any(
        "Disconnected: Input buffer full (no auth attempts in 0 secs): user=<>" in ln for ln in srv.log_lines
    )


def test_store_reports_changes_and_new_keywords(lab: Path) -> None:
    with running_server(lab) as srv:
        c = Raw(srv.port)
        c.cmd("a LOGIN alice secret")
        c.cmd("b SELECT INBOX")
        out = c.cmd("c UID STORE 2 +FLAGS (\\Answered)")
        assert out[0] == "* 2 FETCH (UID 2 FLAGS (\\Answered \\Recent))"
        assert re.fullmatch("c OK Store completed" + T, c.cmd("c UID STORE 2 +FLAGS (\\Answered)")[0])
        out = c.cmd("d STORE 1 +FLAGS ($Label1 \\Draft)")
        assert out[:3] == [
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 \\*)] Flags permitted.",
            "* 1 FETCH (FLAGS (\\Draft $Label1 \\Recent))",
        ]
        assert re.fullmatch(
            r"e BAD Error in IMAP command STORE: Invalid system flag \\RECENT" + T,
            c.cmd("e STORE 1 +FLAGS (\\Recent)")[0],
        )
        assert re.fullmatch(
            "f BAD Error in IMAP command SEARCH: Invalid search size parameter" + T,
            c.cmd("f SEARCH LARGER x")[0],
        )
        assert re.fullmatch(
            "g BAD Error in IMAP command SEARCH: Missing argument" + T, c.cmd("g SEARCH NOT")[0]
        )
        assert c.cmd("h SEARCH OR ANSWERED KEYWORD $Label1")[0] == "* SEARCH 1 2"
        assert c.cmd("i FETCH 1 (INTERNALDATE UID)")[0].endswith(" UID 1)")


def test_insecure_authenticate_plain_and_failed_tls_handshake(lab: Path, tmp_path: Path) -> None:
    tls = self_signed_context(tmp_path)
    with running_server(lab, tls_context=tls) as srv:
        c = Raw(srv.port, src="127.0.0.2")
        assert c.cmd("a AUTHENTICATE PLAIN") == ["a NO [PRIVACYREQUIRED] Plaintext authentication disabled."]
        assert c.cmd("b STARTTLS") == ["b OK Begin TLS negotiation now."]
        c.sock.sendall(b"c NOOP\r\n")  # not a TLS ClientHello
        assert c.closed()
        time.sleep(0.2)
    lines = [ln for ln in srv.log_lines if "imap-login: Info: Disconnected" in ln]
    assert len(lines) == 1
    assert re.search(
        r"Disconnected: Connection closed: .+ \(tried to use disallowed plaintext auth\): user=<>, method=PLAIN, "
        r"rip=127\.0\.0\.2, lip=127\.0\.0\.1, TLS handshaking: .+, session=<",
        lines[0],
    )


def test_broken_auth_process_says_bye_at_once(lab: Path) -> None:
    with running_server(lab) as srv:
        srv.ctx.auth.broken = "CRAM-MD5 mechanism can't be supported with given passdbs"
        c = Raw(srv.port)
        assert c.greeting == "* BYE Auth process broken"
        assert c.closed()
        time.sleep(0.2)
    assert any(
        ln.endswith(
            "imap-login: Info: Disconnected: Auth process broken (disconnected before auth was ready, waited 0 secs): user=<>, rip=127.0.0.1, lip=127.0.0.1, secured, session=<"
            + ln.rsplit("<", 1)[1]
        )
        for ln in srv.log_lines
    )


def test_mailbox_names_in_modified_utf7(lab: Path) -> None:
    with running_server(lab) as srv:
        c = Raw(srv.port)
        c.cmd("a LOGIN alice secret")
        assert re.fullmatch("b NO Mailbox name is not valid mUTF-7" + T, c.cmd('b SELECT "Entw\xfcrfe"')[0])
        assert re.fullmatch(
            "c NO Mailbox name is not valid mUTF-7" + T, c.cmd('c STATUS "&Jjo" (MESSAGES)')[0]
        )
        assert re.fullmatch("d OK Create completed" + T, c.cmd('d CREATE "Entw&APw-rfe"')[0])
        assert '* LIST (\\HasNoChildren) "." "Entw&APw-rfe"' not in c.cmd('e LIST "" *')
        assert c.cmd('f LIST "" Entw*')[0] == '* LIST (\\HasNoChildren) "." Entw&APw-rfe'
        assert re.fullmatch(
            "g NO \\[ALREADYEXISTS\\] Mailbox already exists" + T, c.cmd("g CREATE Archive")[0]
        )
        assert re.fullmatch("h OK \\[READ-WRITE\\] Select completed" + T, c.cmd("h SELECT Entw&APw-rfe")[-1])


def test_append_copy_move_and_uid_expunge(lab: Path) -> None:
    with running_server(lab) as srv:
        m = imaplib.IMAP4("127.0.0.1", srv.port)
        m.login("alice", "secret")
        typ, data = m.append(
            "Archive", "(\\Seen)", '"25-Nov-2026 12:00:00 +0000"', b"Subject: hi\r\n\r\nhello\r\n"
        )
        assert typ == "OK" and re.fullmatch(rb"\[APPENDUID \d+ 1\] Append completed" + T.encode(), data[0])
        typ, data = m.append("Nope", None, None, b"x\r\n")
        assert typ == "NO" and re.fullmatch(
            rb"\[TRYCREATE\] Mailbox doesn't exist: Nope" + T.encode(), data[0]
        )
        m.select("INBOX")
        typ, data = m.copy("1:2", "Archive")
        assert re.fullmatch(rb"\[COPYUID \d+ 1:2 2:3\] Copy completed" + T.encode(), data[0])
        typ, data = m.uid("MOVE", "3", "Archive")
        assert typ == "OK" and m.response("EXPUNGE") == ("EXPUNGE", [b"3"])
        m.store("1:2", "+FLAGS", "(\\Deleted)")
        assert m.uid("EXPUNGE", "2")[0] == "OK"
        assert m.response("EXPUNGE") == ("EXPUNGE", [b"2"])
        assert m.search(None, "ALL") == ("OK", [b"1"])
        m.select("Archive", readonly=True)
        fetched: Any = m.fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (Subject)])")[1]
        when = F.internaldate(calendar.timegm((2026, 11, 25, 12, 0, 0))).encode()
        # Saved by APPEND/COPY and selected by nobody yet: still \Recent, as in Dovecot.
        assert (
            fetched[0][0]
            == b'1 (FLAGS (\\Seen \\Recent) INTERNALDATE "' + when + b'" BODY[HEADER.FIELDS (SUBJECT)] {15}'
        )
        assert [f[1] for f in fetched if isinstance(f, tuple)][1:] == [
            b"Subject: Test message 1\r\n\r\n",
            b"Subject: Test message 2\r\n\r\n",
            b"Subject: Test message 3\r\n\r\n",
        ]
        m.logout()
