"""Courier-IMAP and Courier POP3 over real loopback sockets (imaplib, poplib)."""

from __future__ import annotations

import asyncio
import imaplib
import os
import poplib
import random
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsim.mailserver.courier.install import install_defaults
from labsim.mailserver.courier.log import CourierLog
from labsim.mailserver.courier.server import CourierServer
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.tools import mkcourierdcert
from tests.labroot_builder import LabBuilder, sample_message

GREETING = (
    b"* OK [CAPABILITY IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT "
    b"QUOTA IDLE ACL ACL2=UNION STARTTLS ENABLE UTF8=ACCEPT] Courier-IMAP ready. Copyright 1998-2019 "
    b"Double Precision, Inc.  See COPYING for distribution information."
)
PAM_UNIX = "auth required pam_unix.so\naccount required pam_unix.so\n"


def free_base() -> int:
    for _ in range(50):
        base = random.randrange(20000, 60000, 1000)
        ok = True
        for port in (25, 110, 143, 993, 995):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", base + port))
                except OSError:
                    ok = False
        if ok:
            return base
    raise RuntimeError("no free ports")


def make_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabBuilder:
    b = LabBuilder(tmp_path)
    u = b.user("alice", "secret")
    b.maildir(u.home or "/home/alice", [sample_message(1), sample_message(2)])
    install_defaults(b.root)
    b.write("/etc/pam.d/imap", PAM_UNIX)
    b.write("/etc/pam.d/pop3", PAM_UNIX)
    monkeypatch.setenv("LABSIM_ROOT", str(tmp_path))
    return b


class Running:
    def __init__(self, lab: LabBuilder, services: list[str] | None = None) -> None:
        self.base = free_base()
        self.server = CourierServer(lab.root, CourierLog(lab.root, stderr=None), self.base, services, 0.0)
        self.loop = asyncio.new_event_loop()
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not self.server.listening:
            if self.code is not None:
                break
            time.sleep(0.02)

    def _run(self) -> None:
        self.code = self.loop.run_until_complete(self.server.serve(handle_signals=False))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.stop)
        self.thread.join(10)


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabBuilder:
    return make_lab(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def made_pem(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """One certificate made by mkimapdcert, shared by the tests (key generation is slow)."""
    base = tmp_path_factory.mktemp("certlab")
    root = LabRoot(base)
    install_defaults(root)
    assert mkcourierdcert.make_cert(root, "imapd") == 0
    return root.path("/etc/courier/imapd.pem").read_bytes()


@pytest.fixture
def certs(lab: LabBuilder, made_pem: bytes, capsys: pytest.CaptureFixture[str]) -> LabBuilder:
    for name in ("imapd", "pop3d"):
        lab.write(f"/etc/courier/{name}.pem", made_pem, mode=0o600)
    capsys.readouterr()
    return lab


@pytest.fixture
def server(certs: LabBuilder) -> Iterator[Running]:
    run = Running(certs)
    yield run
    run.stop()


def no_verify() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_imap_greeting_and_login_replies(server: Running, certs: LabBuilder) -> None:
    m = imaplib.IMAP4("127.0.0.1", server.base + 143)
    try:
        assert m.welcome == GREETING
        with pytest.raises(imaplib.IMAP4.error, match=r"Login failed\."):
            m.login("alice", "wrong")
        assert m.login("alice", "secret") == ("OK", [b"LOGIN Ok."])
        assert m.select("INBOX") == ("OK", [b"2"])
        typ, data = m.capability()
        # After login imapd drops STARTTLS from the greeting's list (seen on Debian's Courier).
        prelogin = GREETING.split(b"[CAPABILITY ")[1].split(b"]")[0]
        assert (typ, data[0]) == ("OK", prelogin.replace(b" STARTTLS", b""))
        assert m.noop() == ("OK", [b"NOOP completed"])
    finally:
        assert m.logout() == ("BYE", [b"Courier-IMAP server shutting down"])
    log = certs.root.path("/var/log/mail.log").read_text()
    assert "imapd: LOGIN FAILED, user=alice, ip=[::ffff:127.0.0.1]" in log
    assert "imapd: LOGIN, user=alice, ip=[::ffff:127.0.0.1], port=[" in log


def test_imap_starttls_adds_auth_plain(server: Running) -> None:
    m = imaplib.IMAP4("127.0.0.1", server.base + 143)
    try:
        m.starttls(no_verify())
        typ, data = m.capability()
        assert typ == "OK"
        caps = data[0].split()
        assert b"AUTH=PLAIN" in caps and b"STARTTLS" not in caps
        assert m.authenticate("PLAIN", lambda _: b"\0alice\0secret")[0] == "OK"
    finally:
        m.logout()


def test_imaps_on_993(server: Running) -> None:
    m = imaplib.IMAP4_SSL("127.0.0.1", server.base + 993, ssl_context=no_verify())
    try:
        assert m.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
        assert b"AUTH=PLAIN" in m.welcome and b"STARTTLS" not in m.welcome
        assert m.login("alice", "secret")[0] == "OK"
    finally:
        m.logout()


def test_pop3_greeting_capa_and_login(server: Running) -> None:
    p = poplib.POP3("127.0.0.1", server.base + 110)
    try:
        assert p.getwelcome() == b"+OK Hello there."
        resp, lines, _ = p._longcmd("CAPA")  # type: ignore[attr-defined]
        assert resp == b"+OK Here's what I can do:"
        assert lines == [b"STLS", b"TOP", b"USER", b"LOGIN-DELAY 10", b"PIPELINING", b"UIDL", b"UTF8 USER",
                         b"IMPLEMENTATION Courier Mail Server"]  # fmt: skip
        assert p.user("alice") == b"+OK Password required."
        with pytest.raises(poplib.error_proto, match=r"-ERR Login failed\."):
            p.pass_("wrong")
        p.user("alice")
        assert p.pass_("secret") == b"+OK logged in."
        assert p.stat()[0] == 2
    finally:
        p.quit()


def test_pop3s_on_995(server: Running) -> None:
    p = poplib.POP3_SSL("127.0.0.1", server.base + 995, context=no_verify())
    try:
        assert p.getwelcome() == b"+OK Hello there."
        p.user("alice")
        assert p.pass_("secret") == b"+OK logged in."
    finally:
        p.quit()


def test_tls_required_disables_plain_login(certs: LabBuilder) -> None:
    path = certs.root.path("/etc/courier/imapd-ssl")
    path.write_text(path.read_text().replace("IMAP_TLS_REQUIRED=0", "IMAP_TLS_REQUIRED=1"))
    run = Running(certs, ["imapd"])
    try:
        m = imaplib.IMAP4("127.0.0.1", run.base + 143)
        assert b"LOGINDISABLED" in m.welcome
        m.starttls(no_verify())
        assert m.login("alice", "secret")[0] == "OK"
        m.logout()
    finally:
        run.stop()


def test_switched_off_daemon_does_not_listen(lab: LabBuilder) -> None:
    path = lab.root.path("/etc/courier/pop3d")
    path.write_text(path.read_text().replace("POP3DSTART=YES", "POP3DSTART=NO"))
    run = Running(lab, ["imapd", "pop3d"])
    try:
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", run.base + 110), 2),
        ):
            pass
        imaplib.IMAP4("127.0.0.1", run.base + 143).logout()
    finally:
        run.stop()


def test_syntax_error_is_logged_with_file_and_line(lab: LabBuilder) -> None:
    lab.write("/etc/courier/pop3d", 'POP3DSTART=YES\nPORT="110\n')
    run = Running(lab, ["pop3d"])
    run.thread.join(10)
    assert run.code == 1
    log = lab.root.path("/var/log/mail.log").read_text()
    assert "courier: /usr/sbin/pop3d: 3: /etc/courier/pop3d: Syntax error: Unterminated quoted string" in log


def test_mkimapdcert_refuses_to_overwrite(certs: LabBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    pem = certs.root.path("/etc/courier/imapd.pem")
    before = pem.read_bytes()
    assert mkcourierdcert.main_imap() == 1
    assert capsys.readouterr().out == "/etc/courier/imapd.pem already exists.\n"
    assert pem.read_bytes() == before
    assert b"PRIVATE KEY-----" in before and b"BEGIN CERTIFICATE" in before
    assert pem.stat().st_mode & 0o777 == 0o600


def test_mkimapdcert_prints_subject_and_fingerprint(
    lab: LabBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert mkcourierdcert.main_imap() == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("subject=") and "CN = localhost" in out[0]
    assert out[-1].startswith("sha256 Fingerprint=")


def test_labsim_mailserver_courier_personality(lab: LabBuilder) -> None:
    base = free_base()
    env = dict(os.environ, LABSIM_ROOT=str(lab.base))
    proc = subprocess.Popen(
        [sys.executable, "-m", "labsim.mailserver", "--personality", "courier", "--port-base", str(base)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                m = imaplib.IMAP4("127.0.0.1", base + 143)
                break
            except ConnectionRefusedError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert m.welcome.endswith(b"Courier-IMAP ready. Copyright 1998-2019 Double Precision, Inc.  "
                                  b"See COPYING for distribution information.")  # fmt: skip
        m.logout()
        assert lab.root.path("/var/run/courier/imapd.pid").read_text() == f"{proc.pid}\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert not lab.root.path("/var/run/courier/imapd.pid").exists()


def test_sighup_reload_starts_a_daemon_switched_on(lab: LabBuilder) -> None:
    path = lab.root.path("/etc/courier/pop3d")
    path.write_text(path.read_text().replace("POP3DSTART=YES", "POP3DSTART=NO"))
    run = Running(lab, ["imapd", "pop3d"])
    try:
        path.write_text(path.read_text().replace("POP3DSTART=NO", "POP3DSTART=YES"))
        asyncio.run_coroutine_threadsafe(run.server.reload(), run.loop).result(10)
        p = poplib.POP3("127.0.0.1", run.base + 110)
        assert p.getwelcome() == b"+OK Hello there."
        p.quit()
    finally:
        run.stop()


def test_spaces_around_equals_are_logged_once_and_ignored(lab: LabBuilder) -> None:
    path = lab.root.path("/etc/courier/imapd")
    path.write_text(path.read_text() + "MAXPERIP = 1\n")
    lines = path.read_text().count("\n")
    run = Running(lab, ["imapd", "imapd-ssl"])
    try:
        log = lab.root.path("/var/log/mail.log").read_text()
        # Both init scripts source imapd: dash names each; the lab logs each once.
        assert log.count(f"courier: /usr/sbin/imapd: {lines}: /etc/courier/imapd: MAXPERIP: not found") == 1
        assert run.server.running["imapd"].daemon.maxperip == 20
    finally:
        run.stop()


def test_pop3_quit_applies_deletions_and_logs_logout(server: Running, certs: LabBuilder) -> None:
    p = poplib.POP3("127.0.0.1", server.base + 110)
    p.user("alice")
    p.pass_("secret")
    resp, lines, _ = p.list()
    assert resp == b"+OK POP3 clients that break here, they violate STD53."
    assert [ln.split()[0] for ln in lines] == [b"1", b"2"]
    resp, body, _ = p.retr(2)
    assert resp == f"+OK {lines[1].split()[1].decode()} octets follow.".encode()
    assert b"Subject: Test message 2" in body
    assert p.top(1, 0)[0] == b"+OK headers follow."
    resp, uidls, _ = p.uidl()
    assert resp == b"+OK" and uidls[0].startswith(b"1 UID1-")
    with pytest.raises(poplib.error_proto, match=r"-ERR Invalid message number\."):
        p.dele(7)
    with pytest.raises(poplib.error_proto, match=r"-ERR Invalid command\."):
        p._shortcmd("XYZZY")  # type: ignore[attr-defined]
    assert p.noop() == b"+OK Yup."
    assert p.dele(1) == b"+OK Deleted."
    assert p.quit() == b"+OK Bye-bye."
    p = poplib.POP3("127.0.0.1", server.base + 110)
    p.user("alice")
    p.pass_("secret")
    assert p.stat()[0] == 1
    p.quit()
    log = certs.root.path("/var/log/mail.log").read_text()
    assert "pop3d: LOGOUT, user=alice, ip=[::ffff:127.0.0.1], port=[" in log
    assert re.search(r"pop3d: LOGIN, user=alice, ip=\[::ffff:127\.0\.0\.1\], port=\[\d+\]\n", log)
    assert re.search(
        r"pop3d: LOGOUT, user=alice, ip=\S+, port=\[\d+\], top=\d+, retr=[1-9]\d*, "
        r"rcvd=\d+, sent=\d+, time=\d+",
        log,
    )


def test_smtp_delivers_locally_and_refuses_root(server: Running, certs: LabBuilder) -> None:
    with smtplib.SMTP("127.0.0.1", server.base + 25, timeout=10) as smtp:
        code, _ = smtp.ehlo("client.example")
        assert code == 250
        with pytest.raises(smtplib.SMTPRecipientsRefused) as exc:
            smtp.sendmail("alice", ["root"], sample_message(9))
        assert list(exc.value.recipients.values()) == [(550, b"User <root> unknown")]
        assert smtp.sendmail("root", ["alice"], sample_message(10)) == {}
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("alice", ["someone@remote.example"], sample_message(11))
    new = sorted(certs.root.path("/home/alice/Maildir/new").glob("*,S=*"))
    assert len(new) == 1 and b"Subject: Test message 10" in new[0].read_bytes()


def test_maxperip_hangs_up_on_the_extra_connection(lab: LabBuilder) -> None:
    path = lab.root.path("/etc/courier/imapd")
    path.write_text(path.read_text().replace("MAXPERIP=20", "MAXPERIP=1"))
    run = Running(lab, ["imapd"])
    try:
        first = imaplib.IMAP4("127.0.0.1", run.base + 143)
        with socket.create_connection(("127.0.0.1", run.base + 143), 5) as s:
            s.settimeout(5)
            assert s.recv(100) == b""  # closed without a greeting
        first.logout()
        time.sleep(0.2)
        imaplib.IMAP4("127.0.0.1", run.base + 143).logout()  # the slot is free again
    finally:
        run.stop()
    log = lab.root.path("/var/log/mail.log").read_text()
    assert "imapd: Maximum connection limit reached for ::ffff:127.0.0.1" in log


@pytest.mark.parametrize(
    ("port", "garbage", "expect"),
    [
        (143, b'\xff\xfe\x00 LOGIN "a\r\n', b" NO Error in IMAP command received by server."),
        (143, b'a ID ("name" "x")\r\n', b"a NO Error in IMAP command received by server."),
        (110, b"PASS\xff\r\n", b"-ERR Invalid command."),
        (110, b"USER \xff\xfe\x00\r\nPASS \xff\r\n", b"-ERR Login failed."),
        (25, b"MAIL FROM:<\xff>\r\nRCPT TO:<>\r\n", b"501 Syntax error: RCPT TO:<address>"),
        (25, b"A" * 5000 + b"\r\n", b"500 Line too long."),
    ],
)
def test_hostile_bytes_get_answers(server: Running, port: int, garbage: bytes, expect: bytes) -> None:
    with socket.create_connection(("127.0.0.1", server.base + port), 5) as s:
        s.settimeout(5)
        s.recv(4096)
        s.sendall(garbage)
        got = b""
        deadline = time.monotonic() + 5
        while expect not in got and time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        assert expect in got
    # The server is still serving.
    imaplib.IMAP4("127.0.0.1", server.base + 143).logout()


def test_courier_personality_without_config_exits_with_the_init_script_words(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "labsim.mailserver", "--personality", "courier", "--port-base", "30000"],
        env=dict(os.environ, LABSIM_ROOT=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "courier: /etc/courier/imapd does not exist, forgot make install-configure?" in proc.stderr
    # The init script's words are the reason; no second, vaguer line after them.
    assert "no Courier daemon is configured to start" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_courier_with_every_daemon_switched_off_says_so(tmp_path: Path) -> None:
    courier = tmp_path / "etc" / "courier"
    courier.mkdir(parents=True)
    for name, var in (
        ("imapd", "IMAPDSTART"),
        ("imapd-ssl", "IMAPDSSLSTART"),
        ("pop3d", "POP3DSTART"),
        ("pop3d-ssl", "POP3DSSLSTART"),
    ):
        (courier / name).write_text(f"{var}=NO\n")
    proc = subprocess.run(
        [sys.executable, "-m", "labsim.mailserver", "--personality", "courier", "--port-base", "30000"],
        env=dict(os.environ, LABSIM_ROOT=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "courier: no Courier daemon is configured to start (IMAPDSTART, POP3DSTART, ...)" in proc.stderr


def test_pop3_stls(server: Running) -> None:
    p = poplib.POP3("127.0.0.1", server.base + 110)
    try:
        assert p.stls(no_verify()) == b"+OK Begin SSL/TLS negotiation now."
        assert b"STLS" not in p._longcmd("CAPA")[1]  # type: ignore[attr-defined]
        p.user("alice")
        assert p.pass_("secret") == b"+OK logged in."
    finally:
        p.quit()


def test_imap_starttls_reply_wording(server: Running) -> None:
    with socket.create_connection(("127.0.0.1", server.base + 143), 5) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"a STARTTLS\r\n")
        assert f.readline() == b"a OK Begin SSL/TLS negotiation now.\r\n"


def chat(port: int, lines: list[bytes]) -> list[bytes]:
    """Each line's reply, read until the tagged (IMAP) or first (POP3) answer line."""
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        f = s.makefile("rb")
        out = [f.readline().rstrip(b"\r\n")]
        for line in lines:
            s.sendall(line + b"\r\n")
            tag = line.split(b" ")[0] + b" "
            while True:
                reply = f.readline().rstrip(b"\r\n")
                out.append(reply)
                if not reply or port % 1000 == 110 or reply.startswith(tag):
                    break
        return out


def wait_log(lab: LabBuilder, needle: str) -> str:
    """mail.log once it holds `needle`: a daemon logs LOGOUT just after its last reply."""
    deadline = time.monotonic() + 5
    while True:
        log = lab.root.path("/var/log/mail.log").read_text()
        if needle in log or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def test_imap_mail_phase_speaks_courier(server: Running, certs: LabBuilder) -> None:
    """Replies as Debian's Courier-IMAP gives them (tests/conformance compares with the real one)."""
    out = chat(
        server.base + 143,
        [b"a LOGIN alice secret", b'b LIST "" "*"', b"c STATUS INBOX (MESSAGES)", b"d SELECT INBOX",
         b"e FETCH 1 (UID)", b"f EXAMINE INBOX", b"g SELECT nosuch", b"h FOO", b"i ID NIL", b"j LOGOUT"],
    )  # fmt: skip
    assert out[2:] == [
        b'* LIST (\\Marked \\HasNoChildren) "." "INBOX"',
        b"b OK LIST completed",
        b'* STATUS "INBOX" (MESSAGES 2)',
        b"c OK STATUS Completed.",
        b"* FLAGS (\\Draft \\Answered \\Flagged \\Deleted \\Seen \\Recent)",
        b"* OK [PERMANENTFLAGS (\\* \\Draft \\Answered \\Flagged \\Deleted \\Seen)] Limited",
        b"* 2 EXISTS",
        b"* 2 RECENT",
        out[10],
        b'* OK [MYRIGHTS "acdilrsw"] ACL',
        b"d OK [READ-WRITE] Ok",
        b"* 1 FETCH (UID 1)",
        b"e OK FETCH completed.",
        b"* FLAGS (\\Draft \\Answered \\Flagged \\Deleted \\Seen \\Recent)",
        b"* OK [PERMANENTFLAGS ()] No permanent flags permitted",
        b"* 2 EXISTS",
        b"* 0 RECENT",
        out[10],
        b'* OK [MYRIGHTS "acdilrsw"] ACL',
        b"f OK [READ-ONLY] Ok",
        b"g NO Mailbox does not exist, or must be subscribed to.",
        b"h NO Error in IMAP command received by server.",
        b"i NO Error in IMAP command received by server.",
        b"* BYE Courier-IMAP server shutting down",
        b"j OK LOGOUT completed",
    ]
    assert re.fullmatch(rb"\* OK \[UIDVALIDITY \d+\] Ok", out[10])
    log = wait_log(certs, "imapd: LOGOUT, user=alice")
    assert re.search(r"imapd: Connection, ip=\[::ffff:127\.0\.0\.1\], port=\[\d+\]\n", log)
    # rcvd/sent count from imapd's start: after the LOGIN command, from its OK reply on.
    assert re.search(
        r"imapd: LOGOUT, user=alice, ip=\[::ffff:127\.0\.0\.1\], port=\[\d+\], headers=0, body=0, "
        r"rcvd=\d+, sent=\d+, time=\d+\n",
        log,
    )


def test_pop3_login_phase_words_and_log(server: Running, certs: LabBuilder) -> None:
    out = chat(server.base + 110, [b"FOO", b"QUIT"])
    assert out == [b"+OK Hello there.", b"-ERR Invalid command.", b"+OK Better luck next time."]
    log = wait_log(certs, "pop3d: Disconnected,")
    lines = [ln.split(" ", 4)[4] for ln in log.splitlines() if " pop3d: " in ln and "started" not in ln]
    assert [re.sub(r"port=\[\d+\]", "port=[n]", ln) for ln in lines] == [
        "pop3d: Connection, ip=[::ffff:127.0.0.1], port=[n]",
        "pop3d: LOGOUT, ip=[::ffff:127.0.0.1], port=[n]",
        "pop3d: Disconnected, ip=[::ffff:127.0.0.1], port=[n]",
    ]
