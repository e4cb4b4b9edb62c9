"""The master hands IMAP connections (plain, STARTTLS, implicit TLS) to the IMAP session."""

from __future__ import annotations

import imaplib
import ssl
from pathlib import Path

from tests.conftest import LabCerts
from tests.pop3.harness import InProcessServer, make_lab


def test_imap_plain_starttls_and_imaps(tmp_path: Path, lab_certs: LabCerts) -> None:
    make_lab(tmp_path / "root", lab_certs, extra="protocols = pop3 imap")
    srv = InProcessServer(tmp_path / "root")
    ctx = ssl.create_default_context(cafile=str(lab_certs.ca_file))
    try:
        m = imaplib.IMAP4("127.0.0.1", srv.port(143), timeout=10)
        assert m.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
        assert m.welcome.endswith(b"] Dovecot ready.")
        assert m.login("alice", "secret")[0] == "OK"
        assert m.select("INBOX") == ("OK", [b"3"])
        m.logout()

        m = imaplib.IMAP4("127.0.0.1", srv.port(143), timeout=10)
        m.starttls(ssl_context=ctx)
        assert m.login("alice", "secret")[0] == "OK"
        m.logout()

        s = imaplib.IMAP4_SSL("127.0.0.1", srv.port(993), ssl_context=ctx, timeout=10)
        assert s.login("alice", "secret")[0] == "OK"
        s.logout()
        log = srv.wait_log("TLS, session=<")
        assert "imap-login: Info: Login: user=<alice>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1" in log
    finally:
        assert srv.stop() == 0
