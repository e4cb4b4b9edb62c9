"""The lab image runs the reference server with no network, as the Docker backend will."""

from __future__ import annotations

from typing import Any

from tests.docker.conftest import run

SETUP = r"""
set -e
useradd -m -s /bin/bash alice
echo 'alice:wonderland' | chpasswd
mkdir -p /home/alice/Maildir/new /home/alice/Maildir/cur /home/alice/Maildir/tmp
for n in 1 2 3; do
  printf 'From: bob@example.com\nTo: alice@example.com\nSubject: note %s\n\nhello %s\n' $n $n \
    > /home/alice/Maildir/new/170000000$n.M$n.mail
done
chown -R alice:alice /home/alice/Maildir
cat > /etc/pam.d/dovecot <<'PAM'
auth    required pam_unix.so nullok
account required pam_unix.so
PAM
mkdir -p /etc/dovecot  # only labsim setup makes it, for Dovecot labs
cat > /etc/dovecot/dovecot.conf <<'CONF'
protocols = imap pop3
listen = 127.0.0.1
mail_location = maildir:~/Maildir
ssl = no
disable_plaintext_auth = no
log_path = /var/log/dovecot.log
passdb {
  driver = pam
}
userdb {
  driver = passwd
}
CONF
"""

CLIENT = r"""
import imaplib, poplib, socket, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", 143), timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)
imap = imaplib.IMAP4("127.0.0.1", 143)
imap.login("alice", "wonderland")
typ, data = imap.select("INBOX")
print("IMAP", typ, data[0].decode())
imap.logout()
pop = poplib.POP3("127.0.0.1", 110)
pop.user("alice")
pop.pass_("wonderland")
print("POP3", pop.stat()[0])
pop.quit()
"""


def test_container_is_confined(lab_container: Any) -> None:
    lab_container.reload()
    host_config = lab_container.attrs["HostConfig"]
    assert host_config["NetworkMode"] == "none"
    assert host_config["Privileged"] is False
    assert host_config["Memory"] == 256 * 1024 * 1024
    assert host_config["PidsLimit"] == 256
    interfaces = run(lab_container, "cat /proc/net/dev")
    assert "eth0" not in interfaces


def test_server_in_the_lab_serves_imap_and_pop3(lab_container: Any) -> None:
    run(lab_container, SETUP)
    # chpasswd on Debian 12 writes yescrypt: pam_unix emulation must verify it.
    assert run(lab_container, "grep '^alice:' /etc/shadow").split(":")[1].startswith("$y$")
    lab_container.exec_run(["labsim-mailserver", "--root", "/"], detach=True)
    output = run(lab_container, f"python3 - <<'PY'\n{CLIENT}\nPY")
    assert "IMAP OK 3" in output
    assert "POP3 3" in output
    log = run(lab_container, "cat /var/log/dovecot.log")
    assert "imap-login: Info: Login: user=<alice>" in log
    doveconf = run(lab_container, "doveconf -n")
    assert doveconf.startswith("# 2.3.19.1 (9b53102964): /etc/dovecot/dovecot.conf")
    assert "mail_location = maildir:~/Maildir" in doveconf


def test_every_lab_command_is_on_the_path(lab_container: Any) -> None:
    """The image offers the same commands as a local lab's bin/, where Debian puts them."""
    from labsim.mailserver.tools.lab_tools import LAB_TOOLS, SBIN_TOOLS

    found = run(lab_container, "for c in " + " ".join(LAB_TOOLS) + ' mkcert.sh; do command -v "$c"; done')
    paths = found.split()
    for name in LAB_TOOLS:
        where = "/usr/local/sbin" if name in SBIN_TOOLS else "/usr/local/bin"
        assert f"{where}/{name}" in paths
    assert "/usr/local/sbin/mkcert.sh" in paths
    editors = run(lab_container, 'for e in vi nano; do command -v "$e"; done')
    assert editors.split() == ["/usr/bin/vi", "/usr/bin/nano"]
