"""`mkimapdcert` and `mkpop3dcert`: a self-signed certificate for Courier's SSL daemons.

Like the real scripts: the certificate and its private key go into one PEM
file (/etc/courier/imapd.pem or pop3d.pem) created under umask 077; an
existing file is never overwritten; the subject, dates and fingerprint are
printed at the end. The settings come from imapd.cnf / pop3d.cnf, either in
the certtool template form Debian ships (`cn = "localhost"`,
`expiration_days = 365`) or as an OpenSSL config with a [ req ] section.
openssl does the work.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from labsim.mailserver.labroot import LabRoot

_TEMPLATE_KEYS = (("country", "C"), ("state", "ST"), ("locality", "L"), ("organization", "O"),
                  ("unit", "OU"), ("cn", "CN"))  # fmt: skip


def parse_template(text: str) -> tuple[str, int]:
    """(openssl -subj string, days) from a certtool template."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        key, eq, value = line.partition("=")
        if not eq:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        values[key.strip().lower()] = value
    parts = []
    for key, short in _TEMPLATE_KEYS:
        if values.get(key):
            clean = values[key].replace("\\", "\\\\").replace("/", "\\/")
            parts.append(f"/{short}={clean}")
    subj = "".join(parts) or "/CN=localhost"
    days_text = values.get("expiration_days", "365")
    days = int(days_text) if days_text.lstrip("-").isdigit() else 365
    return subj, days if days > 0 else 365


def make_cert(root: LabRoot, name: str) -> int:
    pem_lab = f"/etc/courier/{name}.pem"
    cnf_lab = f"/etc/courier/{name}.cnf"
    pem = root.path(pem_lab)
    if pem.exists():
        print(f"{pem_lab} already exists.")
        return 1
    cnf = root.path(cnf_lab)
    try:
        cnf_text = cnf.read_text("utf-8", "replace")
    except OSError as exc:
        print(f"{cnf_lab}: {exc.strerror}", file=sys.stderr)
        return 1
    openssl = shutil.which("openssl")
    if openssl is None:
        print("openssl: command not found", file=sys.stderr)
        return 1
    if not pem.parent.is_dir():
        print(f"{root.lab_path(pem.parent)}: No such file or directory", file=sys.stderr)
        return 1
    old_umask = os.umask(0o077)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            key = Path(tmp) / "key.pem"
            cert = Path(tmp) / "cert.pem"
            cmd = [openssl, "req", "-new", "-x509", "-nodes", "-newkey", "rsa:2048",
                   "-keyout", str(key), "-out", str(cert)]  # fmt: skip
            if "[" in cnf_text and "req" in cnf_text:
                cmd += ["-config", str(cnf), "-days", "365"]
            else:
                subj, days = parse_template(cnf_text)
                cmd += ["-subj", subj, "-days", str(days)]
            made = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if made.returncode != 0:
                sys.stderr.write(made.stderr)
                return 1
            fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, key.read_bytes() + cert.read_bytes())
            finally:
                os.close(fd)
        os.chmod(pem, 0o600)
    except FileExistsError:
        print(f"{pem_lab} already exists.")
        return 1
    except OSError as exc:
        print(f"{pem_lab}: {exc.strerror}", file=sys.stderr)
        with contextlib.suppress(OSError):
            pem.unlink()
        return 1
    finally:
        os.umask(old_umask)
    shown = subprocess.run(
        [openssl, "x509", "-subject", "-dates", "-fingerprint", "-sha256", "-noout", "-in", str(pem)],
        capture_output=True,
        text=True,
        check=False,
    )
    sys.stdout.write(shown.stdout)
    return 0 if shown.returncode == 0 else 1


def main_imap(argv: list[str] | None = None) -> int:
    return make_cert(LabRoot.from_env(), "imapd")


def main_pop3(argv: list[str] | None = None) -> int:
    return make_cert(LabRoot.from_env(), "pop3d")


if __name__ == "__main__":
    sys.exit(main_pop3() if sys.argv[0].endswith("mkpop3dcert") else main_imap())
