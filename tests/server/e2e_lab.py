"""Lab roots for end-to-end tests: real users in /etc/shadow, PAM, passwd-file, TLS files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import LabCerts
from tests.labroot_builder import LabBuilder, sample_message

PASSDB = {
    "pam": "passdb {\n  driver = pam\n}\nuserdb {\n  driver = passwd\n}\n",
    "passwd-file": (
        "passdb {\n  driver = passwd-file\n  args = /etc/dovecot/users\n}\n"
        "userdb {\n  driver = passwd-file\n  args = /etc/dovecot/users\n}\n"
    ),
}

CONF = """protocols = imap pop3
listen = 127.0.0.1
ssl = {ssl}
ssl_cert = </etc/ssl/certs/dovecot.pem
ssl_key = </etc/ssl/private/dovecot.pem
disable_plaintext_auth = {dpa}
auth_mechanisms = {mechs}
auth_failure_delay = 0
mail_location = maildir:~/Maildir
log_path = /var/log/dovecot.log
login_greeting = Dovecot ready.
{extra}
{passdb}"""

ALICE_MESSAGES = [sample_message(1), sample_message(2), sample_message(3)]


def auth_available() -> bool:
    """False while the auth package is still the committed skeleton."""
    from labsim.mailserver.auth.schemes import hash_password
    from labsim.mailserver.auth.service import AuthService
    from labsim.mailserver.config.model import DovecotSettings
    from labsim.mailserver.labroot import LabRoot
    from labsim.mailserver.log import DovecotLog

    root = LabRoot("/nonexistent-labsim-root")
    try:
        hash_password("PLAIN", "x")
        AuthService(root, DovecotSettings(), DovecotLog(root, stderr=None)).mechanisms(True)
    except NotImplementedError:
        return False
    return True


needs_auth = pytest.mark.skipif(not auth_available(), reason="auth package not implemented yet")


def build_lab(
    root: Path,
    certs: LabCerts,
    *,
    passdb: str = "pam",
    dpa: str = "yes",
    mechs: str = "plain login",
    ssl: str = "yes",
    extra: str = "",
) -> LabBuilder:
    lab = LabBuilder(root)
    alice = lab.user("alice", "secret")
    bob = lab.user("bob", "hunter2")
    lab.write(
        "/etc/dovecot/users",
        "".join(
            f"{u.name}:{{PLAIN}}{pw}:{u.uid}:{u.gid}::{u.home}::\n"
            for u, pw in ((alice, "secret"), (bob, "hunter2"))
        ),
        mode=0o640,
    )
    lab.write("/etc/pam.d/dovecot", "auth required pam_unix.so nullok\naccount required pam_unix.so\n")
    lab.write("/etc/ssl/certs/dovecot.pem", certs.cert_pem)
    lab.write("/etc/ssl/private/dovecot.pem", certs.key_pem, mode=0o600)
    lab.write(
        "/etc/dovecot/dovecot.conf",
        CONF.format(ssl=ssl, dpa=dpa, mechs=mechs, extra=extra, passdb=PASSDB[passdb]),
    )
    lab.maildir(f"/home/{alice.name}", ALICE_MESSAGES)
    lab.maildir(f"/home/{bob.name}", [])
    return lab
