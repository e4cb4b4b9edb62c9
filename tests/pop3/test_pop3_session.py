"""POP3 dialogues against an in-process server, replies as Dovecot 2.3.19 gives them."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import poplib
import re
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LabCerts
from tests.pop3.harness import DOT_MESSAGE, MESSAGES, InProcessServer, LineClient, crlf_size, make_lab


@pytest.fixture
def server(tmp_path: Path, lab_certs: LabCerts) -> Iterator[InProcessServer]:
    make_lab(tmp_path / "root", lab_certs, mechs="plain login cram-md5 apop")
    srv = InProcessServer(tmp_path / "root")
    yield srv
    assert srv.stop() == 0


def maildir_files(root: Path, user: str = "alice") -> list[str]:
    base = root / "home" / user / "Maildir"
    return sorted(p.name for sub in ("new", "cur") for p in (base / sub).iterdir())


def test_greeting_has_apop_timestamp_when_apop_enabled(server: InProcessServer) -> None:
    c = LineClient(server.port(110))
    assert re.fullmatch(
        r"\+OK Dovecot ready\. <[0-9a-f]+\.[0-9a-f]+\.[0-9a-f]+\.[A-Za-z0-9+/=]+@[^>]+>", c.line()
    )


def test_capa_secure_before_and_after_login(server: InProcessServer) -> None:
    c = LineClient(server.port(110))
    c.line()
    assert c.cmd("CAPA") == "+OK"
    assert c.multi() == [
        "CAPA",
        "TOP",
        "UIDL",
        "RESP-CODES",
        "PIPELINING",
        "AUTH-RESP-CODE",
        "STLS",
        "USER",
        "SASL PLAIN LOGIN CRAM-MD5",
    ]
    assert c.cmd("USER alice") == "+OK"
    assert c.cmd("PASS secret") == "+OK Logged in."
    assert c.cmd("CAPA") == "+OK"
    assert c.multi() == ["CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"]


def test_insecure_connection_refuses_plaintext(server: InProcessServer) -> None:
    c = LineClient(server.port(110), source="127.0.0.2")
    c.line()
    assert c.cmd("CAPA") == "+OK"
    assert c.multi()[-2:] == ["STLS", "SASL CRAM-MD5"]
    refusal = "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
    assert c.cmd("USER alice") == refusal
    assert c.cmd("PASS secret") == refusal
    assert c.cmd("AUTH PLAIN") == "-ERR [AUTH] Plaintext authentication disabled."
    assert c.cmd("AUTH") == "+OK"
    assert c.multi() == ["CRAM-MD5"]
    assert c.cmd("QUIT") == "+OK Logging out"
    log = server.wait_log("Aborted login")
    assert "Disconnected: Aborted login by logging out (tried to use disallowed plaintext auth)" in log
    assert "rip=127.0.0.2, lip=127.0.0.1, session=<" in log


def test_login_phase_errors(server: InProcessServer) -> None:
    c = LineClient(server.port(110))
    c.line()
    assert c.cmd("STAT") == "-ERR Unknown command."
    assert c.cmd("PASS x") == "-ERR No username given."
    assert c.cmd("AUTH FOO") == "-ERR [AUTH] Unsupported authentication mechanism."
    assert c.cmd("AUTH PLAIN !!!") == "-ERR [AUTH] Invalid base64 data in initial response"
    assert c.cmd("APOP alice 0123") == "-ERR Invalid parameters."
    assert c.cmd("USER alice") == "+OK"
    assert c.cmd("PASS wrong") == "-ERR [AUTH] Authentication failed."
    assert c.cmd("QUIT") == "+OK Logging out"
    log = server.wait_log("Aborted login")
    assert (
        "Aborted login by logging out (auth failed, 1 attempts in 0 secs): user=<alice>, method=PLAIN" in log
    )


def test_full_session_transcript(server: InProcessServer) -> None:
    sizes = [crlf_size(m) for m in MESSAGES]
    c = LineClient(server.port(110))
    c.login()
    assert c.cmd("STAT") == f"+OK 3 {sum(sizes)}"
    assert c.cmd("LIST") == "+OK 3 messages:"
    assert c.multi() == [f"{i + 1} {s}" for i, s in enumerate(sizes)]
    assert c.cmd("LIST 2") == f"+OK 2 {sizes[1]}"
    assert c.cmd("LIST 9") == "-ERR There's no message 9."
    assert c.cmd("LIST 0") == "-ERR There's no message 0."
    assert c.cmd("LIST x") == "-ERR Invalid message number: x"
    assert c.cmd("LIST 1 2") == "-ERR Noise after message number:  2"
    assert c.cmd("LIST 99999999999") == "-ERR Message number too large: "
    assert c.cmd("TOP 1") == "-ERR Noise after message number: "
    assert c.cmd("TOP") == "-ERR Invalid message number: "
    assert c.cmd("TOP 1 x") == "-ERR Invalid size: x"
    assert c.cmd("TOP 1 1 2") == "-ERR Noise after size:  2"
    assert c.cmd("DELE 1 x") == "-ERR Noise after message number:  x"
    assert c.cmd("STAT x").startswith("+OK 3 ")
    assert c.cmd("FOO bar") == "-ERR Unknown command: FOO"
    assert c.cmd("NOOP") == "+OK"
    # RETR: CRLF line ends and dot-stuffing
    assert c.cmd("RETR 3") == f"+OK {sizes[2]} octets"
    assert c.raw_until_dot() == b"From: a@b\r\nSubject: dots\r\n\r\nhello\r\n..dot line\r\n...two\r\n"
    assert c.cmd("TOP 3 0") == "+OK"
    assert c.raw_until_dot() == b"From: a@b\r\nSubject: dots\r\n\r\n"
    assert c.cmd("TOP 3 2") == "+OK"
    assert c.raw_until_dot() == b"From: a@b\r\nSubject: dots\r\n\r\nhello\r\n..dot line\r\n"
    assert c.cmd("DELE 1") == "+OK Marked to be deleted."
    assert c.cmd("DELE 1") == "-ERR Message is deleted."
    assert c.cmd("RETR 1") == "-ERR Message is deleted."
    assert c.cmd("STAT") == f"+OK 2 {sizes[1] + sizes[2]}"
    assert c.cmd("LIST") == "+OK 2 messages:"
    assert c.multi() == [f"2 {sizes[1]}", f"3 {sizes[2]}"]
    assert c.cmd("RSET") == "+OK"
    assert c.cmd("STAT") == f"+OK 3 {sum(sizes)}"
    assert c.cmd("DELE 2") == "+OK Marked to be deleted."
    assert c.cmd("USER bob") == "-ERR Unknown command: USER"
    assert c.cmd("QUIT") == "+OK Logging out, messages deleted."
    assert c.closed()
    log = server.wait_log("Disconnected: Logged out")
    files = maildir_files(server.root)
    assert len(files) == 2
    top_bytes = 2 * 5 + len(b"From: a@b\r\nSubject: dots\r\n\r\n") * 2 + len(b"hello\r\n..dot line\r\n")
    retr_bytes = len(f"+OK {sizes[2]} octets\r\n") + sizes[2] + 2
    assert (
        f"Disconnected: Logged out top=2/{top_bytes}, retr=1/{retr_bytes}, del=1/3, size={sum(sizes)}" in log
    )
    assert re.search(
        r"pop3-login: Info: Login: user=<alice>, method=PLAIN, rip=127\.0\.0\.1, "
        r"lip=127\.0\.0\.1, mpid=\d+, secured, session=<[A-Za-z0-9+/]{16}>",
        log,
    )
    assert re.search(r"pop3\(alice\)<\d+><[A-Za-z0-9+/]{16}>: Info: Disconnected: Logged out", log)


def test_retr_marks_seen_at_quit_and_uidl_is_stable(server: InProcessServer) -> None:
    c = LineClient(server.port(110))
    c.login()
    assert c.cmd("UIDL") == "+OK"
    uidls = c.multi()
    assert [u.split()[0] for u in uidls] == ["1", "2", "3"]
    assert all(re.fullmatch(r"\d [0-9a-f]{16}", u) for u in uidls)
    assert [u.split()[1][:8] for u in uidls] == ["00000001", "00000002", "00000003"]
    assert c.cmd("UIDL 2") == f"+OK {uidls[1]}"
    assert c.cmd("RETR 1").startswith("+OK")
    c.raw_until_dot()
    assert c.cmd("QUIT") == "+OK Logging out."
    c.close()
    server.wait_log("Disconnected: Logged out")
    files = maildir_files(server.root)
    assert sum(1 for f in files if f.endswith(":2,S")) == 1
    c = LineClient(server.port(110))
    c.login()
    assert c.cmd("UIDL") == "+OK"
    assert c.multi() == uidls


def test_vanishing_client_deletes_nothing(server: InProcessServer) -> None:
    c = LineClient(server.port(110))
    c.login()
    assert c.cmd("DELE 1") == "+OK Marked to be deleted."
    assert c.cmd("DELE 2") == "+OK Marked to be deleted."
    c.close()
    log = server.wait_log("Disconnected: Connection closed top")
    assert "Disconnected: Connection closed top=0/0, retr=0/0, del=0/3" in log
    assert len(maildir_files(server.root)) == 3


def test_auth_plain_initial_response_and_login_continuations(server: InProcessServer) -> None:
    c = LineClient(server.port(110))
    c.line()
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd("*") == "-ERR Authentication aborted by client."
    assert c.cmd("AUTH LOGIN") == "+ " + base64.b64encode(b"Username:").decode()
    assert c.cmd(base64.b64encode(b"alice").decode()) == "+ " + base64.b64encode(b"Password:").decode()
    assert c.cmd(base64.b64encode(b"wrong").decode()) == "-ERR [AUTH] Authentication failed."
    assert c.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0secret").decode()) == "+OK Logged in."
    assert c.cmd("STAT").startswith("+OK 3 ")


def test_cram_md5(server: InProcessServer) -> None:
    import hmac

    c = LineClient(server.port(110))
    c.line()
    challenge_line = c.cmd("AUTH CRAM-MD5")
    assert challenge_line.startswith("+ ")
    challenge = base64.b64decode(challenge_line[2:])
    digest = hmac.new(b"secret", challenge, hashlib.md5).hexdigest()
    assert c.cmd(base64.b64encode(f"alice {digest}".encode()).decode()) == "+OK Logged in."


def test_apop(server: InProcessServer) -> None:
    c = LineClient(server.port(110))
    greeting = c.line()
    stamp = greeting[greeting.index("<") :]
    assert c.cmd("APOP alice " + hashlib.md5((stamp + "wrong").encode()).hexdigest()) == (
        "-ERR [AUTH] Authentication failed."
    )
    assert c.cmd("APOP alice " + hashlib.md5((stamp + "secret").encode()).hexdigest()) == "+OK Logged in."
    assert "method=APOP" in server.log()


def test_poplib_stls_and_implicit_tls(server: InProcessServer, lab_certs: LabCerts) -> None:
    ctx = ssl.create_default_context(cafile=str(lab_certs.ca_file))
    p = poplib.POP3("127.0.0.1", server.port(110), timeout=10)
    p.stls(context=ctx)
    assert p.capa()["SASL"] == ["PLAIN", "LOGIN", "CRAM-MD5"]
    assert "STLS" not in p.capa()
    p.user("alice")
    p.pass_("secret")
    assert p.stat()[0] == 3
    p.quit()
    s = poplib.POP3_SSL("localhost", server.port(995), context=ctx, timeout=10)
    s.user("alice")
    s.pass_("secret")
    resp, lines, _ = s.retr(3)
    assert resp == f"+OK {crlf_size(DOT_MESSAGE)} octets".encode()
    assert lines == [b"From: a@b", b"Subject: dots", b"", b"hello", b".dot line", b"..two"]
    s.quit()
    log = server.wait_log(", TLS, session=<")
    assert "method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, mpid=" in log
    assert ", TLS, session=<" in log


def test_stls_twice_and_line_too_long(server: InProcessServer, lab_certs: LabCerts) -> None:
    c = LineClient(server.port(110))
    c.line()
    assert c.cmd("X" * 10000) == "-ERR Input buffer full, aborting"
    assert c.closed()
    assert "Disconnected: Input buffer full (no auth attempts in " in server.wait_log("Input buffer full")
    c = LineClient(server.port(110))
    c.login()
    assert c.cmd("X" * 70000) == "-ERR Input line too long."
    assert c.closed()
    assert "Disconnected: Input line too long top=0/0" in server.wait_log("Input line too long top")


def test_userip_limit(tmp_path: Path, lab_certs: LabCerts) -> None:
    make_lab(tmp_path / "root", lab_certs, extra="mail_max_userip_connections = 1")
    srv = InProcessServer(tmp_path / "root")
    try:
        a = LineClient(srv.port(110))
        a.login()
        b = LineClient(srv.port(110))
        b.line()
        assert b.cmd("USER alice") == "+OK"
        assert b.cmd("PASS secret") == (
            "-ERR [IN-USE] Maximum number of connections from user+IP exceeded "
            "(mail_max_userip_connections=1)"
        )
        assert a.cmd("QUIT") == "+OK Logging out."
        a.close()
        srv.wait_log("Logged out")
        assert b.cmd("PASS secret") == "+OK Logged in."
    finally:
        assert srv.stop() == 0


def test_ssl_no_leaves_pop3s_closed_and_stls_unavailable(tmp_path: Path, lab_certs: LabCerts) -> None:
    make_lab(tmp_path / "root", lab_certs, ssl="no", dpa="no")
    srv = InProcessServer(tmp_path / "root")
    try:
        from tests.conftest import port_free

        assert port_free(srv.port(995))
        c = LineClient(srv.port(110), source="127.0.0.2")
        assert c.line() == "+OK Dovecot ready."
        assert c.cmd("CAPA") == "+OK"
        assert c.multi()[-2:] == ["USER", "SASL PLAIN LOGIN"]
        assert c.cmd("STLS") == "-ERR TLS support isn't enabled."
        assert c.cmd("USER alice") == "+OK"
        assert c.cmd("PASS secret") == "+OK Logged in."
    finally:
        assert srv.stop() == 0


def test_ssl_required_refuses_auth_from_other_ip(tmp_path: Path, lab_certs: LabCerts) -> None:
    make_lab(tmp_path / "root", lab_certs, ssl="required", dpa="no", mechs="plain cram-md5")
    srv = InProcessServer(tmp_path / "root")
    try:
        c = LineClient(srv.port(110), source="127.0.0.2")
        c.line()
        assert c.cmd("CAPA") == "+OK"
        assert c.multi()[-3:] == ["STLS", "USER", "SASL"]
        assert c.cmd("USER alice") == (
            "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
        )
        assert c.cmd("AUTH CRAM-MD5") == "-ERR [AUTH] Authentication not allowed until SSL/TLS is enabled."
        local = LineClient(srv.port(110))
        local.login()
    finally:
        assert srv.stop() == 0


def test_mismatched_key_fails_tls_like_dovecot(tmp_path: Path, lab_certs: LabCerts) -> None:
    make_lab(tmp_path / "root", lab_certs, key_pem=lab_certs.other_key_pem)
    srv = InProcessServer(tmp_path / "root")
    try:
        c = LineClient(srv.port(110))
        c.line()
        assert c.cmd("STLS") == "+OK Begin TLS negotiation now."
        assert c.line() == "-ERR [SYS/TEMP] TLS initialization failed."
        assert c.closed()
        log = srv.wait_log("Disconnected: TLS")
        assert (
            "pop3-login: Error: Failed to initialize SSL server context: Can't load SSL private key "
            "(ssl_key setting): Key is for a different cert than ssl_cert: user=<>, rip=127.0.0.1" in log
        )
        assert "Disconnected: TLS initialization failed. (no auth attempts in 0 secs)" in log
        ctx = ssl.create_default_context(cafile=str(lab_certs.ca_file))
        with pytest.raises((ssl.SSLError, OSError)):
            poplib.POP3_SSL("127.0.0.1", srv.port(995), context=ctx, timeout=10)
        assert log.count("Failed to initialize SSL server context") == 1
        assert srv.wait_log("pop3-login: Error").count("Failed to initialize SSL server context") == 2
    finally:
        assert srv.stop() == 0


def test_idle_client_is_dropped_before_login(server: InProcessServer) -> None:
    for ctx in server.master.contexts.values():
        ctx.login_timeout = 0.3
    c = LineClient(server.port(110))
    c.line()
    assert c.closed()
    log = server.wait_log("Disconnected: Inactivity")
    assert re.search(
        r"pop3-login: Info: Disconnected: Inactivity \(no auth attempts in \d+ secs\): "
        r"user=<>, rip=127\.0\.0\.1",
        log,
    ), log


def test_idle_client_is_dropped_after_login(server: InProcessServer) -> None:
    for ctx in server.master.contexts.values():
        ctx.idle_timeout = 0.3
    c = LineClient(server.port(110))
    c.login()
    assert c.line() == "-ERR Disconnected for inactivity."
    assert c.closed()
    assert "Disconnected: Inactivity top=0/0, retr=0/0, del=0/3" in server.wait_log("Inactivity top")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to the user's uid")
def test_mail_is_accessed_as_the_user_when_root(lab_certs: LabCerts) -> None:
    # pytest's tmp_path is private to root; the user must be able to reach its home.
    base = Path(tempfile.mkdtemp(prefix="labsim-uid-"))
    base.chmod(0o755)
    try:
        check_as_user(base / "root", lab_certs)
    finally:
        shutil.rmtree(base)


def check_as_user(root: Path, lab_certs: LabCerts) -> None:
    make_lab(root, lab_certs)
    maildir = root / "home/alice/Maildir"
    for path in [root / "home/alice", *maildir.rglob("*"), maildir]:
        os.chown(path, 1000, 1000)
    srv = InProcessServer(root, drop_privileges=True)
    try:
        c = LineClient(srv.port(110))
        c.line()
        c.cmd("USER alice")
        assert c.cmd("PASS secret") == "+OK Logged in.", srv.log()
        assert c.cmd("DELE 1") == "+OK Marked to be deleted."
        assert c.cmd("QUIT") == "+OK Logging out, messages deleted."
        srv.wait_log("Disconnected: Logged out")
        created = [p for p in maildir.rglob("*") if p.is_file()]
        assert any(p.name == "dovecot-uidlist" for p in created)
        assert {(p.stat().st_uid, p.stat().st_gid) for p in created} == {(1000, 1000)}
        assert (os.geteuid(), os.getegid()) == (0, 0)

        # A mail directory the user may not enter: refused as for the user, not served as root.
        os.chown(maildir, 0, 0)
        os.chmod(maildir, 0o700)
        c = LineClient(srv.port(110))
        c.line()
        c.cmd("USER alice")
        # As Dovecot 2.3.19: the login succeeds, then the mail process fails with an internal error.
        assert c.cmd("PASS secret") == "+OK Logged in."
        assert c.line().startswith("-ERR [SYS/TEMP] Internal error occurred.")
        assert (
            "Error: Couldn't open INBOX: stat(/home/alice/Maildir/tmp) failed: Permission denied "
            "(euid=1000(alice) egid=1000 missing +x perm: /home/alice/Maildir, dir owned by 0:0 mode=0700)"
        ) in srv.wait_log("Couldn't open INBOX")
        assert (os.geteuid(), os.getegid()) == (0, 0)
    finally:
        assert srv.stop() == 0


def test_mbox_inbox_sizes_and_deletion_at_quit(tmp_path: Path, lab_certs: LabCerts) -> None:
    lab = make_lab(tmp_path / "root", lab_certs, extra="mail_location = mbox:~/mail:INBOX=/var/mail/%u")
    lab.root.path("/home/alice/mail").mkdir(parents=True)
    mbox = lab.mbox("/var/mail/alice", MESSAGES)
    srv = InProcessServer(tmp_path / "root")
    try:
        sizes = [crlf_size(m) for m in MESSAGES]
        c = LineClient(srv.port(110))
        c.login()
        assert c.cmd("LIST") == "+OK 3 messages:"
        assert c.multi() == [f"{i + 1} {s}" for i, s in enumerate(sizes)]
        assert c.cmd("RETR 3") == f"+OK {sizes[2]} octets"
        assert c.raw_until_dot() == b"From: a@b\r\nSubject: dots\r\n\r\nhello\r\n..dot line\r\n...two\r\n"
        assert c.cmd("DELE 1") == "+OK Marked to be deleted."
        assert b"Subject: Test message 1" in mbox.read_bytes()  # not before QUIT
        assert c.cmd("QUIT") == "+OK Logging out, messages deleted."
        srv.wait_log("Disconnected: Logged out")
        text = mbox.read_bytes()
        assert b"Subject: Test message 1" not in text
        assert b"Subject: Test message 2" in text and b"Subject: dots" in text
    finally:
        assert srv.stop() == 0


def test_ssl_min_protocol_is_enforced(tmp_path: Path, lab_certs: LabCerts) -> None:
    make_lab(tmp_path / "root", lab_certs, extra="ssl_min_protocol = TLSv1.3")
    srv = InProcessServer(tmp_path / "root")
    try:
        old = ssl.create_default_context(cafile=str(lab_certs.ca_file))
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises((ssl.SSLError, OSError)):
            poplib.POP3_SSL("127.0.0.1", srv.port(995), context=old, timeout=10)
        assert "Disconnected: TLS handshaking" in srv.wait_log("TLS handshaking")
        new = ssl.create_default_context(cafile=str(lab_certs.ca_file))
        p = poplib.POP3_SSL("127.0.0.1", srv.port(995), context=new, timeout=10)
        assert p.sock.version() == "TLSv1.3"  # type: ignore[attr-defined]
        p.quit()
    finally:
        assert srv.stop() == 0


def test_connection_cap(server: InProcessServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import labsim.mailserver.master as master_module

    monkeypatch.setattr(master_module, "MAX_CONNECTIONS", 2)
    clients = [LineClient(server.port(110)) for _ in range(5)]
    greeted = 0
    for c in clients:
        with contextlib.suppress(EOFError, OSError):
            greeted += c.line().startswith("+OK")
    # at most the cap gets served (a readiness probe may still hold a slot); the rest are dropped
    assert 1 <= greeted <= 2
    log = server.wait_log("client_limit")
    assert (
        "master: Warning: service(pop3-login): client_limit (2) reached, client connections are being dropped"
        in log
    )
    for c in clients:
        c.close()
