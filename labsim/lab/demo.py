"""A small ready-made lab for `labsim demo`: two users with mail, Dovecot on PAM."""

from __future__ import annotations

import os
import time
from pathlib import Path

from labsim.mailserver.auth.schemes import hash_password

DEMO_USERS = ("alice", "bob")
DEMO_PASSWORD = "secret"

DOVECOT_CONF = """\
# labsim demo lab: Dovecot serving IMAP and POP3 to local users.
protocols = imap pop3
listen = 127.0.0.1
log_path = /var/log/dovecot.log

# Mail lives in each user's ~/Maildir.
mail_location = maildir:~/Maildir

# The demo has no certificate yet, so plaintext logins are allowed.
ssl = no
disable_plaintext_auth = no

passdb {
  driver = pam
}
userdb {
  driver = passwd
}
"""

PAM_DOVECOT = """\
# PAM service "dovecot": check the password against /etc/shadow.
auth    required    pam_unix.so nullok
account required    pam_unix.so
"""


def _write(root: Path, lab_path: str, text: str, mode: int = 0o644) -> None:
    host = root / lab_path.lstrip("/")
    host.parent.mkdir(parents=True, exist_ok=True)
    host.write_text(text)
    os.chmod(host, mode)


def _message(n: int, user: str) -> str:
    return (
        f"From: Lab Robot <robot@lab.example>\nTo: {user}@lab.example\n"
        f"Subject: Welcome to the lab ({n})\n"
        f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\n"
        f"Message-ID: <demo-{user}-{n}@lab.example>\n\n"
        f"Hello {user}, this is message {n} of your demo mailbox.\n"
    )


def build_demo_root(root: Path) -> None:
    """Create the lab tree once; an existing tree (and what the learner changed) is kept."""
    if (root / "etc/dovecot/dovecot.conf").exists():
        return
    passwd = ["root:x:0:0:root:/root:/bin/bash"]
    shadow = ["root:*:19700:0:99999:7:::"]
    group = ["root:x:0:"]
    for i, user in enumerate(DEMO_USERS):
        uid = 1001 + i
        passwd.append(f"{user}:x:{uid}:{uid}:{user.title()}:/home/{user}:/bin/bash")
        shadow.append(f"{user}:{hash_password('SHA512-CRYPT', DEMO_PASSWORD)}:19700:0:99999:7:::")
        group.append(f"{user}:x:{uid}:")
        maildir = root / "home" / user / "Maildir"
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        for n in (1, 2, 3):
            (maildir / "new" / f"{int(time.time())}.M{n}P{os.getpid()}.lab").write_text(_message(n, user))
    _write(root, "/etc/passwd", "\n".join(passwd) + "\n")
    _write(root, "/etc/shadow", "\n".join(shadow) + "\n", 0o640)
    _write(root, "/etc/group", "\n".join(group) + "\n")
    _write(root, "/etc/pam.d/dovecot", PAM_DOVECOT)
    (root / "var/log").mkdir(parents=True, exist_ok=True)
    (root / "var/run/dovecot").mkdir(parents=True, exist_ok=True)
    _write(root, "/etc/dovecot/dovecot.conf", DOVECOT_CONF)
