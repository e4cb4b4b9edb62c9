"""mutt (Debian's) reading a message and moving it to another folder over IMAP:
plain text, STARTTLS and implicit TLS, with the lab CA as the only trusted one.

mutt reads mail only with a terminal, so it runs in a pseudo-terminal and is
driven by keys it pushes to itself (`-e 'push ...'`): a batch run with no
person at the keyboard, that quits by itself."""

from __future__ import annotations

import imaplib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.conftest import LabCerts, ServerProcess, free_port_base
from tests.server.e2e_lab import ALICE_MESSAGES, build_lab, needs_auth

pytestmark = [needs_auth, pytest.mark.skipif(shutil.which("mutt") is None, reason="mutt not installed")]

# mode -> (URL scheme, well-known port, TLS settings); one message of alice's each.
MODES = {
    "plain": ("imap", 143, "set ssl_starttls=no\nset ssl_force_tls=no\n", 1),
    "starttls": ("imap", 143, "set ssl_starttls=yes\nset ssl_force_tls=yes\n", 2),
    "implicit": ("imaps", 993, "set ssl_force_tls=yes\n", 3),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, lab_certs: LabCerts) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("mutt") / "root"
    build_lab(root, lab_certs)
    srv = ServerProcess(root, free_port_base())
    for port in (143, 993):
        assert srv.wait_ready(port), srv.stderr
    yield srv
    assert srv.stop() == 0


def muttrc(home: Path, server: ServerProcess, certs: LabCerts, mode: str) -> Path:
    scheme, port, tls, _n = MODES[mode]
    rc = home / ".muttrc"
    rc.write_text(
        f'set folder="{scheme}://alice@127.0.0.1:{server.port(port)}/"\n'
        'set spoolfile="+INBOX"\n'
        "set imap_user=alice\nset imap_pass=secret\n"
        + tls
        + f'set ssl_ca_certificates_file="{certs.ca_file}"\n'
        f'set certificate_file="{home / "certificates"}"\n'
        'set header_cache="" message_cachedir=""\n'
        # No questions: the run has nobody to answer them.
        "set confirmcreate=no confirmappend=no delete=yes quit=yes move=no\n"
        "set wait_key=no pipe_decode=no mail_check=60 imap_passive=yes sleep_time=0\n"
        'set record="" postponed=""\n'
    )
    return rc


def run_mutt(home: Path, rc: Path, keys: str) -> str:
    env = {**os.environ, "HOME": str(home), "TERM": "xterm", "MUTT": ""}
    child = pexpect.spawn(
        "mutt",
        ["-n", "-F", str(rc), "-e", f"push '{keys}'"],
        env=env,
        cwd=str(home),
        dimensions=(40, 120),
        timeout=30,
    )
    try:
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    return (child.before or b"").decode(errors="replace")


@pytest.mark.parametrize("mode", sorted(MODES))
def test_mutt_reads_and_moves_a_message(
    server: ServerProcess, lab_certs: LabCerts, tmp_path: Path, mode: str
) -> None:
    n = MODES[mode][3]
    folder = f"Archive-{mode}"
    piped = tmp_path / "piped.eml"
    rc = muttrc(tmp_path, server, lab_certs, mode)
    before = len(server.log_text())
    run_mutt(
        tmp_path,
        rc,
        f'<limit>~s "Test message {n}"<enter>'
        f"<pipe-message>cat > {piped}<enter>"
        f"<save-message>={folder}<enter>"
        "<sync-mailbox><quit>",
    )
    # Read: the message as stored reached mutt's pipe.
    assert piped.read_bytes() == ALICE_MESSAGES[n - 1]
    # Moved: in the new folder, gone from INBOX.
    m = imaplib.IMAP4("127.0.0.1", server.port(143), timeout=10)
    m.login("alice", "secret")
    typ, data = m.select(folder, readonly=True)
    assert (typ, data) == ("OK", [b"1"])
    body = m.fetch("1", "(BODY.PEEK[])")[1][0]
    assert isinstance(body, tuple) and body[1] == ALICE_MESSAGES[n - 1].replace(b"\n", b"\r\n")
    m.select("INBOX", readonly=True)
    typ, hits = m.search(None, "SUBJECT", f'"Test message {n}"')
    assert (typ, hits) == ("OK", [b""])
    m.logout()
    logins = [
        line
        for line in server.log_text()[before:].splitlines()
        if "imap-login: Info: Login: user=<alice>" in line
    ]
    assert logins and (", TLS," in logins[0]) == (mode != "plain"), logins
