"""Mechanism x passdb x disable_plaintext_auth x secure/insecure, against the real server.

Secure: 127.0.0.1 -> 127.0.0.1 (Dovecot counts equal IPs as secure); insecure: from 127.0.0.2.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import imaplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LabCerts, ServerProcess, free_port_base
from tests.pop3.harness import LineClient
from tests.server.e2e_lab import build_lab, needs_auth

pytestmark = needs_auth

PLAINTEXT_REFUSED = "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."


@pytest.fixture(
    scope="module",
    params=[("pam", "yes"), ("pam", "no"), ("passwd-file", "yes"), ("passwd-file", "no")],
    ids=lambda p: f"{p[0]}-dpa_{p[1]}",
)
def matrix_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, lab_certs: LabCerts
) -> Iterator[tuple[str, str, ServerProcess]]:
    passdb, dpa = request.param
    root = tmp_path_factory.mktemp("matrix") / "root"
    mechs = "plain login" if passdb == "pam" else "plain login cram-md5 apop"
    build_lab(root, lab_certs, passdb=passdb, dpa=dpa, mechs=mechs)
    srv = ServerProcess(root, free_port_base())
    assert srv.wait_ready(110), srv.stderr
    assert srv.wait_ready(143), srv.stderr
    yield passdb, dpa, srv
    assert srv.stop() == 0


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def pop3_auth(c: LineClient, mech: str, user: str, password: str, greeting: str) -> str:
    if mech == "USER":
        reply = c.cmd(f"USER {user}")
        return reply if reply != "+OK" else c.cmd(f"PASS {password}")
    if mech == "PLAIN":
        return c.cmd("AUTH PLAIN " + b64(f"\0{user}\0{password}"))
    if mech == "LOGIN":
        reply = c.cmd("AUTH LOGIN")
        if not reply.startswith("+ "):
            return reply
        c.cmd(b64(user))
        return c.cmd(b64(password))
    if mech == "CRAM-MD5":
        reply = c.cmd("AUTH CRAM-MD5")
        if not reply.startswith("+ "):
            return reply
        digest = hmac.new(password.encode(), base64.b64decode(reply[2:]), hashlib.md5).hexdigest()
        return c.cmd(b64(f"{user} {digest}"))
    assert mech == "APOP"
    stamp = greeting[greeting.find("<") :] if "<" in greeting else "<none>"
    return c.cmd(f"APOP {user} " + hashlib.md5((stamp + password).encode()).hexdigest())


def expected_pop3(passdb: str, dpa: str, secure: bool, mech: str) -> str:
    plaintext_ok = secure or dpa == "no"
    if mech == "USER":
        return "+OK Logged in." if plaintext_ok else PLAINTEXT_REFUSED
    if mech in ("PLAIN", "LOGIN"):
        return "+OK Logged in." if plaintext_ok else "-ERR [AUTH] Plaintext authentication disabled."
    if passdb == "pam":  # CRAM-MD5 and APOP need the plaintext password: not configured with PAM
        return (
            "-ERR [AUTH] Unsupported authentication mechanism."
            if mech == "CRAM-MD5"
            else "-ERR APOP not enabled."
        )
    return "+OK Logged in."


@pytest.mark.parametrize("source", ["127.0.0.1", "127.0.0.2"], ids=["secure", "insecure"])
@pytest.mark.parametrize("mech", ["USER", "PLAIN", "LOGIN", "CRAM-MD5", "APOP"])
def test_pop3_auth_matrix(matrix_server: tuple[str, str, ServerProcess], mech: str, source: str) -> None:
    passdb, dpa, srv = matrix_server
    want = expected_pop3(passdb, dpa, source == "127.0.0.1", mech)
    c = LineClient(srv.port(110), source=source)
    try:
        greeting = c.line()
        if want == "+OK Logged in.":
            # a wrong password first: refused in Dovecot's words, then the right one works
            assert pop3_auth(c, mech, "alice", "wrong", greeting) == "-ERR [AUTH] Authentication failed."
        assert pop3_auth(c, mech, "alice", "secret", greeting) == want
        if want == "+OK Logged in.":
            assert c.cmd("STAT").startswith("+OK 3 ")
            assert c.cmd("QUIT") == "+OK Logging out."
    finally:
        c.close()


class SourceIMAP(imaplib.IMAP4):
    """imaplib has no source_address: bind the client end ourselves."""

    def __init__(self, host: str, port: int, source: str) -> None:
        self.source = source
        super().__init__(host, port, timeout=10)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))


@pytest.mark.parametrize("source", ["127.0.0.1", "127.0.0.2"], ids=["secure", "insecure"])
def test_imap_login_matrix(matrix_server: tuple[str, str, ServerProcess], source: str) -> None:
    _passdb, dpa, srv = matrix_server
    plaintext_ok = source == "127.0.0.1" or dpa == "no"
    m = SourceIMAP("127.0.0.1", srv.port(143), source)
    try:
        caps = set(m.capabilities)
        assert ("LOGINDISABLED" in caps) is not plaintext_ok
        assert ("AUTH=PLAIN" in caps) is plaintext_ok
        assert "STARTTLS" in caps
        if plaintext_ok:
            with pytest.raises(
                imaplib.IMAP4.error, match=r"\[AUTHENTICATIONFAILED\] Authentication failed\."
            ):
                m.login("alice", "wrong")
            assert m.login("alice", "secret")[0] == "OK"
            assert m.select("INBOX") == ("OK", [b"3"])
            m.logout()
        else:
            with pytest.raises(
                imaplib.IMAP4.error,
                match=r"\[PRIVACYREQUIRED\] Plaintext authentication disallowed on non-secure "
                r"\(SSL/TLS\) connections\.",
            ):
                m.login("alice", "secret")
    finally:
        with contextlib.suppress(OSError):
            m.shutdown()


def test_cram_md5_with_only_pam_breaks_auth_but_not_the_ports(
    tmp_path: Path, lab_certs: LabCerts, server_factory: type[ServerProcess]
) -> None:
    root = tmp_path / "root"
    build_lab(root, lab_certs, passdb="pam", mechs="plain login cram-md5")
    srv = server_factory(root, free_port_base())
    assert srv.wait_ready(110), srv.stderr
    log = srv.wait_log("command startup failed")
    assert "auth: Fatal: CRAM-MD5 mechanism can't be supported with given passdbs" in log
    assert "master: Error: service(auth): command startup failed, throttling" in log
    c = LineClient(srv.port(110))
    c.line()
    assert c.cmd("USER alice") == "+OK"
    assert c.cmd("PASS secret") == "-ERR Auth process broken"
