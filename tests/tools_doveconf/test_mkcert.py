"""mkcert.sh with its dovecot-openssl.cnf, run for real against a temporary lab root."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "labsim" / "mailserver" / "tools"
SCRIPT = TOOLS / "mkcert.sh"
CNF = TOOLS / "dovecot-openssl.cnf"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def mkcert(root: Path, cwd: Path = TOOLS, **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, LABSIM_ROOT=str(root), **env)
    return subprocess.run(["sh", str(SCRIPT)], cwd=cwd, env=full, capture_output=True, text=True, timeout=60)


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc/ssl/certs").mkdir(parents=True)
    (tmp_path / "etc/ssl/private").mkdir(parents=True)
    return tmp_path


def test_makes_a_matching_self_signed_pair(root: Path) -> None:
    proc = mkcert(root)
    assert proc.returncode == 0, proc.stderr
    cert = root / "etc/ssl/certs/dovecot.pem"
    key = root / "etc/ssl/private/dovecot.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.stat().st_mode) == 0o600  # umask 077, as upstream
    lines = proc.stdout.splitlines()
    assert lines[0] == ""
    assert lines[1] == (
        "subject=O = Dovecot mail server, OU = imap.example.com, CN = imap.example.com, "
        "emailAddress = postmaster@example.com"
    )
    assert lines[2].startswith("SHA1 Fingerprint=")
    assert (
        openssl("x509", "-in", str(cert), "-noout", "-issuer")
        .strip()
        .endswith("CN = imap.example.com, emailAddress = postmaster@example.com")
    )
    text = openssl("x509", "-in", str(cert), "-noout", "-text")
    assert "DNS:imap.example.com" in text and "CA:FALSE" in text
    assert openssl("x509", "-in", str(cert), "-noout", "-pubkey") == openssl(
        "pkey", "-in", str(key), "-pubout"
    )
    days = openssl("x509", "-in", str(cert), "-noout", "-checkend", str(364 * 86400))
    assert "will not expire" in days
    assert not (TOOLS / "etc").exists()  # nothing written outside the lab root


def test_refuses_to_overwrite(root: Path) -> None:
    cert = root / "etc/ssl/certs/dovecot.pem"
    cert.write_text("mine\n")
    proc = mkcert(root)
    assert (proc.returncode, proc.stdout) == (
        1,
        "/etc/ssl/certs/dovecot.pem already exists, won't overwrite\n",
    )
    assert cert.read_text() == "mine\n"
    cert.unlink()
    (root / "etc/ssl/private/dovecot.pem").write_text("key\n")
    proc = mkcert(root)
    assert (proc.returncode, proc.stdout) == (
        1,
        "/etc/ssl/private/dovecot.pem already exists, won't overwrite\n",
    )
    assert not cert.exists()


def test_missing_directory(tmp_path: Path) -> None:
    proc = mkcert(tmp_path)
    assert (proc.returncode, proc.stdout) == (1, "/etc/ssl/certs directory doesn't exist\n")
    (tmp_path / "etc/ssl/certs").mkdir(parents=True)
    proc = mkcert(tmp_path)
    assert (proc.returncode, proc.stdout) == (1, "/etc/ssl/private directory doesn't exist\n")


def test_ssldir_and_an_edited_cnf(root: Path, tmp_path: Path) -> None:
    (root / "etc/dovecot/ssl/certs").mkdir(parents=True)
    (root / "etc/dovecot/ssl/private").mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    (work / "dovecot-openssl.cnf").write_text(CNF.read_text().replace("imap.example.com", "mail.lab.test"))
    proc = mkcert(root, cwd=work, SSLDIR="/etc/dovecot/ssl")
    assert proc.returncode == 0, proc.stderr
    cert = root / "etc/dovecot/ssl/certs/dovecot.pem"
    assert "CN = mail.lab.test" in openssl("x509", "-in", str(cert), "-noout", "-subject")
    assert not (root / "etc/ssl/certs/dovecot.pem").exists()


def test_missing_cnf_fails_with_openssls_error(root: Path, tmp_path: Path) -> None:
    proc = mkcert(root, cwd=tmp_path)
    assert proc.returncode == 2
    assert "dovecot-openssl.cnf" in proc.stderr
