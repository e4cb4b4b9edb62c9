"""fetchmail (Debian's) retrieving alice's mail over POP3 and IMAP into a local file,
over plain text, STARTTLS/STLS and implicit TLS, checking the lab CA's certificate."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LabCerts, ServerProcess, free_port_base
from tests.server.e2e_lab import ALICE_MESSAGES, build_lab, needs_auth

pytestmark = [
    needs_auth,
    pytest.mark.skipif(shutil.which("fetchmail") is None, reason="fetchmail not installed"),
]

# (well-known port, what the rc file says about TLS); fetchmail 6.4 requires
# STARTTLS/STLS when `sslproto` names TLS without `ssl`, and speaks none with `sslproto ''`.
MODES = {
    "plain": ("", "sslproto ''"),
    "starttls": ("", "sslproto 'tls1.2+' sslcertck"),
    "implicit": ("s", "ssl sslproto 'tls1.2+' sslcertck"),
}
PORTS = {("pop3", ""): 110, ("pop3", "s"): 995, ("imap", ""): 143, ("imap", "s"): 993}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, lab_certs: LabCerts) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("fetchmail") / "root"
    build_lab(root, lab_certs)
    srv = ServerProcess(root, free_port_base())
    for port in (110, 143, 993, 995):
        assert srv.wait_ready(port), srv.stderr
    yield srv
    assert srv.stop() == 0


def fetch(
    server: ServerProcess, ca_file: Path, work: Path, proto: str, mode: str, expect_ok: bool = True
) -> Path:
    """Run fetchmail once, keeping the mail on the server; returns the mbox it wrote."""
    suffix, tls = MODES[mode]
    out = work / "delivered"
    rc = work / "fetchmailrc"
    rc.write_text(
        f"set no syslog\nset idfile {work / 'fetchids'}\n"
        f"poll 127.0.0.1 proto {proto} port {server.port(PORTS[proto, suffix])} timeout 20\n"
        f"  user alice password secret is alice here\n"
        f"  keep fetchall {tls} sslcertfile {ca_file} sslcommonname localhost\n"
        # An MDA, not SMTP: each message is appended to one local file, mbox style.
        f"  mda \"/bin/sh -c 'echo From fetchmail; cat; echo' >> {out}\"\n"
    )
    rc.chmod(0o600)  # fetchmail refuses an rc file others can read
    env = {**os.environ, "HOME": str(work), "FETCHMAILHOME": str(work)}
    result = subprocess.run(
        ["fetchmail", "--nodetach", "-v", "-f", str(rc)],
        capture_output=True,
        timeout=60,
        env=env,
        check=False,
    )
    log = (result.stdout + result.stderr).decode(errors="replace")
    assert (result.returncode == 0) == expect_ok, log
    return out


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("proto", ["pop3", "imap"])
def test_fetchmail_retrieves_every_message(
    server: ServerProcess, lab_certs: LabCerts, tmp_path: Path, proto: str, mode: str
) -> None:
    before = len(server.log_text())
    delivered = fetch(server, lab_certs.ca_file, tmp_path, proto, mode).read_bytes()
    parts = [p for p in delivered.split(b"From fetchmail\n") if p]
    assert len(parts) == len(ALICE_MESSAGES)
    for got, want in zip(parts, ALICE_MESSAGES, strict=True):
        # fetchmail adds a Received: line on top and nothing else changes.
        assert got.startswith(b"Received: from 127.0.0.1")
        assert got.endswith(want + b"\n")
    logins = [
        line
        for line in server.log_text()[before:].splitlines()
        if f"{proto}-login: Info: Login: user=<alice>" in line
    ]
    assert len(logins) == 1, logins
    assert (", TLS," in logins[0]) == (mode != "plain"), logins[0]


def test_fetchmail_refuses_a_certificate_the_ca_did_not_sign(server: ServerProcess, tmp_path: Path) -> None:
    """sslcertck is real: with another CA (a fresh self-signed one) nothing is fetched."""
    other = tmp_path / "other-ca.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(tmp_path / "k.pem"),
            "-out",
            str(other),
            "-subj",
            "/CN=Other CA",
            "-days",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    out = fetch(server, other, tmp_path, "imap", "implicit", expect_ok=False)
    assert not out.exists()
