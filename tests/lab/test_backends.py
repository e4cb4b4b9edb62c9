"""What every backend must do the same way (the `lab` fixture runs each test on local and docker).

Shell commands use paths relative to the lab root (exec's cwd on every backend): the local
sandbox has no chroot, so "/etc/..." in a command would name the host's file.
"""

from __future__ import annotations

import pytest

from labsim.lab.model import Lab, LabError, ResetNotConfirmed
from tests.lab.conftest import PASSWORD

PLAIN = "listen = 127.0.0.1\nssl = no\ndisable_plaintext_auth = no\n"


def test_setup_made_users_and_mail(lab: Lab) -> None:
    passwd = lab.read_file("/etc/passwd").decode()
    assert "alice:x:1000:1000::/home/alice:/bin/bash" in passwd.splitlines()
    shadow = {ln.split(":")[0]: ln.split(":")[1] for ln in lab.read_file("/etc/shadow").decode().splitlines()}
    assert shadow["alice"].startswith("$6$") and len(shadow["alice"]) == 106
    r = lab.exec(["sh", "-c", "ls home/alice/Maildir/new | wc -l; grep -c '^From ' var/mail/bob"])
    assert r.output.split() == ["3", "2"]


def test_write_file_is_what_the_lab_reads(lab: Lab) -> None:
    lab.write_file("/etc/dovecot/local.conf", "login_greeting = Lab mail ready.\n")
    assert lab.read_file("/etc/dovecot/local.conf") == b"login_greeting = Lab mail ready.\n"
    assert lab.exec(["cat", "etc/dovecot/local.conf"]).output == "login_greeting = Lab mail ready.\n"
    r = lab.exec(["doveconf", "-h", "login_greeting"])
    assert (r.code, r.output) == (0, "Lab mail ready.\n")


def test_a_broken_config_leaves_a_fatal_in_status(lab: Lab) -> None:
    lab.write_file("/etc/dovecot/local.conf", "mail_locaton = maildir:~/Maildir\n")
    started = lab.start()
    assert started.code == 1
    fatal = "Fatal: Error in configuration file /etc/dovecot/local.conf line 1: Unknown setting: mail_locaton"
    assert fatal in started.output
    status = lab.exec(["service", "dovecot", "status"])
    assert status.code == 3
    assert "Active: failed (Result: exit-code)" in status.output
    assert fatal in status.output
    assert any(fatal in line for line in lab.logs(follow=False))
    # The lab is still there to fix it in.
    lab.write_file("/etc/dovecot/local.conf", PLAIN)
    assert lab.exec(["systemctl", "start", "dovecot"]).code == 0
    assert lab.status().server_running
    lab.stop()


def test_stop_start_keeps_edits(lab: Lab) -> None:
    lab.write_file("/etc/dovecot/local.conf", PLAIN)
    assert lab.start().code == 0
    assert lab.exec(["systemctl", "is-active", "dovecot"]).output == "active\n"
    lab.stop()
    assert lab.start().code == 0
    assert lab.read_file("/etc/dovecot/local.conf").decode() == PLAIN
    assert lab.status().state == "running"
    lab.stop()


def test_reset_restores_the_fresh_state(lab: Lab) -> None:
    lab.write_file("/etc/dovecot/local.conf", PLAIN)
    lab.exec(["sh", "-c", "rm home/alice/Maildir/new/*"])
    with pytest.raises(ResetNotConfirmed):
        lab.reset(confirm=False)
    assert lab.exec(["sh", "-c", "ls home/alice/Maildir/new | wc -l"]).output.strip() == "0"
    backup = lab.reset(confirm=True)
    assert backup is not None
    assert (backup / "etc/dovecot/local.conf").read_text() == PLAIN
    with pytest.raises(LabError):
        lab.read_file("/etc/dovecot/local.conf")
    assert lab.exec(["sh", "-c", "ls home/alice/Maildir/new | wc -l"]).output.strip() == "3"


CLIENT = r"""
import imaplib, os, poplib, sys
base = int(os.environ.get("LABSIM_PORT_BASE", "0"))
imap = imaplib.IMAP4("127.0.0.1", base + 143, timeout=10)
imap.login("alice", sys.argv[1])
print("IMAP", imap.select("INBOX")[1][0].decode())
imap.logout()
pop = poplib.POP3("127.0.0.1", base + 110, timeout=10)
pop.user("alice")
pop.pass_(sys.argv[1])
print("POP3", pop.stat()[0])
pop.quit()
"""


def test_users_log_in_over_imap_and_pop3(lab: Lab) -> None:
    lab.write_file("/etc/dovecot/local.conf", PLAIN)
    lab.write_file("/etc/dovecot/conf.d/99-mail.conf", "mail_location = maildir:~/Maildir\n")
    assert lab.start().code == 0
    try:
        r = lab.exec(["python3", "-c", CLIENT, PASSWORD], timeout=30)
        assert (r.code, r.output) == (0, "IMAP 3\nPOP3 3\n")
    finally:
        lab.stop()


TLS_CLIENT = r"""
import imaplib, os, poplib, ssl, sys
base = int(os.environ.get("LABSIM_PORT_BASE", "0"))
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
imap = imaplib.IMAP4_SSL("127.0.0.1", base + 993, ssl_context=ctx, timeout=10)
imap.login("bob", "builder")
print("IMAPS", imap.select("INBOX")[1][0].decode())
imap.logout()
pop = poplib.POP3("127.0.0.1", base + 110, timeout=10)
pop.stls(context=ctx)
pop.user("bob")
pop.pass_("builder")
print("POP3+STLS", pop.stat()[0])
pop.quit()
"""


def test_the_fresh_debian_like_lab_serves_mbox_over_tls(lab: Lab) -> None:
    # In Docker the server reads bob's mail as bob, and dotlocks /var/mail/bob with group mail
    # (mail_privileged_group = mail in Debian's 10-mail.conf).
    # Debian's defaults as installed: PAM, mbox in /var/mail, ssl = yes with the generated certificate.
    # Only the address is pinned, so that the local sandbox stays on loopback.
    lab.write_file("/etc/dovecot/local.conf", "listen = 127.0.0.1\n")
    assert lab.start().code == 0
    try:
        r = lab.exec(["python3", "-c", TLS_CLIENT], timeout=30)
        assert (r.code, r.output) == (0, "IMAPS 2\nPOP3+STLS 2\n")
    finally:
        lab.stop()
