"""Shared fixtures: TLS material for labs, free ports, and a real server process."""

from __future__ import annotations

import datetime
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
WELL_KNOWN_PORTS = (110, 143, 993, 995)


# --- TLS material ------------------------------------------------------------


@dataclass(frozen=True)
class LabCerts:
    ca_pem: str
    cert_pem: str  # server certificate, CN=localhost, SAN localhost + 127.0.0.1
    key_pem: str
    other_key_pem: str  # a key that does not match cert_pem
    ca_file: Path  # host path of the CA, for clients (--cacert, cafile=)


def make_certs(directory: Path) -> LabCerts:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def pem_key(key: ec.EllipticCurvePrivateKey) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "labsim test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    directory.mkdir(parents=True, exist_ok=True)
    ca_file = directory / "ca.pem"
    ca_file.write_text(ca_pem)
    return LabCerts(
        ca_pem=ca_pem,
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem=pem_key(key),
        other_key_pem=pem_key(ec.generate_private_key(ec.SECP256R1())),
        ca_file=ca_file,
    )


@pytest.fixture(scope="session")
def lab_certs(tmp_path_factory: pytest.TempPathFactory) -> LabCerts:
    return make_certs(tmp_path_factory.mktemp("certs"))


# --- ports -------------------------------------------------------------------


def port_free(port: int) -> bool:
    """Nobody listens there (TIME_WAIT leftovers do not count, as for a server's own bind)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_base(ports: tuple[int, ...] = WELL_KNOWN_PORTS) -> int:
    """A base N with N+P free on 127.0.0.1 for every P (worker-aware, randomised)."""
    import random

    from labsim.lab import port_claims

    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        base = rng.randrange(20000, 60000, 1000)
        # A local lab whose server is down holds its base by a claim, not a socket: leave it alone.
        holder = port_claims.owner(base)
        if holder is not None and Path(holder).is_dir():
            continue
        if all(port_free(base + p) for p in ports):
            return base
    raise RuntimeError("no free port base found")


def wait_for_port(port: int, timeout: float = 10.0, proc: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


# --- a real server process ---------------------------------------------------


class ServerProcess:
    """`python -m labsim.mailserver --root ROOT --port-base N` as a child process."""

    def __init__(self, root: Path, port_base: int, extra_args: tuple[str, ...] = ()) -> None:
        self.root = root
        self.port_base = port_base
        self.stderr_path = root.parent / f"server-{port_base}.stderr"
        env = dict(os.environ)
        env.pop("LABSIM_ROOT", None)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        self._stderr = self.stderr_path.open("wb")
        argv = [sys.executable, "-m", "labsim.mailserver", "--root", str(root), "--port-base", str(port_base)]
        self.proc = subprocess.Popen(
            [*argv, *extra_args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=env,
            cwd=str(REPO),
        )

    def port(self, well_known: int) -> int:
        return self.port_base + well_known

    def wait_ready(self, well_known: int = 110, timeout: float = 10.0) -> bool:
        return wait_for_port(self.port(well_known), timeout, self.proc)

    @property
    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def log_text(self, lab_path: str = "/var/log/dovecot.log") -> str:
        p = self.root / lab_path.lstrip("/")
        return p.read_text(errors="replace") if p.exists() else ""

    def wait_log(self, needle: str, timeout: float = 5.0, lab_path: str = "/var/log/dovecot.log") -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text(lab_path)
            if needle in text:
                return text
            time.sleep(0.05)
        return self.log_text(lab_path)

    def signal(self, signo: int) -> None:
        self.proc.send_signal(signo)

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        return self.proc.returncode


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[ServerProcess]]:
    """Start ServerProcess instances; all are stopped when the test ends."""
    started: list[ServerProcess] = []

    class _Tracked(ServerProcess):
        def __init__(self, root: Path, port_base: int, extra_args: tuple[str, ...] = ()) -> None:
            super().__init__(root, port_base, extra_args)
            started.append(self)

    yield _Tracked
    for server in started:
        server.stop()
