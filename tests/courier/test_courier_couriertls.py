"""couriertls reads the certificate for each connection, as on Debian.

A learner ran mkimapdcert while courier-imap-ssl ran and still got
`couriertls: /etc/courier/imapd.pem: No such file or directory` for every new
connection: the lab had read the certificate once, at start. Real couriertls is
started per connection, so the new file counts at once (observed with
tests/conformance/realcourier.py). Without a certificate the plain daemons start
silently and still offer STARTTLS/STLS; the failure shows only when a client asks.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsim.mailserver.courier.couriertls import NO_CIPHERS, CertificateReader
from labsim.mailserver.labroot import LabRoot
from tests.courier.test_courier_server import Running, made_pem, make_lab, no_verify  # noqa: F401
from tests.labroot_builder import LabBuilder

MISSING = "couriertls: /etc/courier/imapd.pem: No such file or directory"


@pytest.fixture
def no_cert_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LabBuilder, Running]]:
    lab = make_lab(tmp_path, monkeypatch)
    run = Running(lab)
    assert run.server.listening
    yield lab, run
    run.stop()


def log_lines(lab: LabBuilder) -> list[str]:
    path = lab.root.path("/var/log/mail.log")
    text = path.read_text() if path.exists() else ""
    return [line.split(" ", 4)[4] for line in text.splitlines()]


def wait_log(lab: LabBuilder, line: str) -> list[str]:
    deadline = time.monotonic() + 5
    while line not in log_lines(lab) and time.monotonic() < deadline:
        time.sleep(0.05)
    return log_lines(lab)


def tls_greeting(port: int) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), 5) as raw,
        no_verify().wrap_socket(raw, server_hostname="localhost") as s,
    ):
        return s.recv(4096)


def starttls(port: int) -> tuple[list[bytes], bytes | None]:
    """CAPABILITY and STARTTLS; the TLS greeting-less session's CAPABILITY, or None when hung up on."""
    with socket.create_connection(("127.0.0.1", port), 5) as raw:
        f = raw.makefile("rb")
        out = [f.readline()]
        raw.sendall(b"a CAPABILITY\r\n")
        out += [f.readline(), f.readline()]
        raw.sendall(b"b STARTTLS\r\n")
        out.append(f.readline())
        try:
            s = no_verify().wrap_socket(raw, server_hostname="localhost")
        except (ssl.SSLError, OSError):
            return out, None
        s.sendall(b"c CAPABILITY\r\n")
        return out, s.recv(4096)


def test_without_a_certificate_the_daemons_start_silently_and_fail_per_connection(
    no_cert_server: tuple[LabBuilder, Running],
    made_pem: bytes,  # noqa: F811
) -> None:
    lab, run = no_cert_server
    assert not [line for line in log_lines(lab) if "couriertls" in line]  # real Courier: nothing at start

    # The plain daemon offers STARTTLS and fails it: OK, then the connection closes; nothing logged
    # but imapd's Disconnected line.
    replies, after = starttls(run.base + 143)
    assert b" STARTTLS " in replies[1]
    assert replies[3] == b"b OK Begin SSL/TLS negotiation now.\r\n"
    assert after is None
    lines = wait_log(lab, "never")
    assert any(line.startswith("imapd: Disconnected, ip=[::ffff:127.0.0.1]") for line in lines), lines
    assert not [line for line in lines if "couriertls" in line], lines

    # imapd-ssl: couriertls's own words, for this connection.
    with pytest.raises((ssl.SSLError, OSError)):
        tls_greeting(run.base + 993)
    ip = "ip=[::ffff:127.0.0.1], "
    lines = wait_log(lab, f"imapd-ssl: {ip}{NO_CIPHERS}")
    assert [line for line in lines if line.startswith("imapd-ssl: ip=")] == [
        *[f"imapd-ssl: {ip}{MISSING}"] * 3,
        f"imapd-ssl: {ip}{NO_CIPHERS}",
    ]

    # mkimapdcert while it runs: the next connection has TLS, no restart needed.
    lab.write("/etc/courier/imapd.pem", made_pem, mode=0o600)
    lab.write("/etc/courier/pop3d.pem", made_pem, mode=0o600)
    assert tls_greeting(run.base + 993).startswith(b"* OK [CAPABILITY ")
    replies, after = starttls(run.base + 143)
    assert after is not None and after.startswith(b"* CAPABILITY ") and b"STARTTLS" not in after
    with socket.create_connection(("127.0.0.1", run.base + 110), 5) as raw:
        f = raw.makefile("rb")
        f.readline()
        raw.sendall(b"STLS\r\n")
        assert f.readline() == b"+OK Begin SSL/TLS negotiation now.\r\n"
        no_verify().wrap_socket(raw, server_hostname="localhost").close()
    assert len([line for line in log_lines(lab) if "couriertls" in line]) == 3


def test_pop3_stls_without_a_certificate_hangs_up(no_cert_server: tuple[LabBuilder, Running]) -> None:
    lab, run = no_cert_server
    with socket.create_connection(("127.0.0.1", run.base + 110), 5) as raw:
        f = raw.makefile("rb")
        f.readline()
        raw.sendall(b"CAPA\r\n")
        capa = []
        while (line := f.readline()) != b".\r\n":
            capa.append(line)
        assert b"STLS\r\n" in capa
        raw.sendall(b"STLS\r\n")
        assert f.readline() == b"+OK Begin SSL/TLS negotiation now.\r\n"
        assert f.readline() == b""
    lines = wait_log(lab, "never")
    assert lines[-1].startswith("pop3d: Disconnected, ip=[::ffff:127.0.0.1], port=[")
    assert not [line for line in lines if "couriertls" in line]


def test_the_context_is_rebuilt_only_when_the_file_changes(
    tmp_path: Path,
    made_pem: bytes,  # noqa: F811
) -> None:
    root = LabRoot(tmp_path)
    reader = CertificateReader(root, "/etc/courier/imapd.pem", "")
    assert reader.current().errors == [MISSING] * 3 + [NO_CIPHERS]
    assert reader.current().context is None and reader.builds == 2  # a failure is tried again
    pem = root.path("/etc/courier/imapd.pem")
    pem.parent.mkdir(parents=True)
    pem.write_bytes(made_pem)
    first = reader.current().context
    assert first is not None and reader.current().context is first and reader.builds == 3
    pem.write_bytes(b"garbage\n")
    assert reader.current().errors == [NO_CIPHERS]
    pem.write_bytes(made_pem)
    os.utime(pem, ns=(1, 1))
    assert reader.current().context is not None and reader.builds == 5
