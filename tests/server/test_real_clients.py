"""Real clients against the real server process: poplib, imaplib, curl, openssl s_client."""

from __future__ import annotations

import imaplib
import poplib
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LabCerts, ServerProcess, free_port_base
from tests.server.e2e_lab import ALICE_MESSAGES, build_lab, needs_auth

pytestmark = needs_auth

SIZES = [len(m.replace(b"\n", b"\r\n")) for m in ALICE_MESSAGES]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, lab_certs: LabCerts) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("clients") / "root"
    build_lab(root, lab_certs)
    srv = ServerProcess(root, free_port_base())
    for port in (110, 143, 993, 995):
        assert srv.wait_ready(port), srv.stderr
    yield srv
    assert srv.stop() == 0


def tls_context(certs: LabCerts) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certs.ca_file))


def test_poplib_plain_stls_and_ssl(server: ServerProcess, lab_certs: LabCerts) -> None:
    p = poplib.POP3("127.0.0.1", server.port(110), timeout=10)
    assert p.getwelcome() == b"+OK Dovecot ready."
    p.user("alice")
    p.pass_("secret")
    assert p.stat() == (3, sum(SIZES))
    assert p.list()[1] == [f"{i + 1} {s}".encode() for i, s in enumerate(SIZES)]
    p.quit()

    p = poplib.POP3("127.0.0.1", server.port(110), timeout=10)
    p.stls(context=tls_context(lab_certs))
    p.user("alice")
    p.pass_("secret")
    assert p.stat()[0] == 3
    p.quit()

    s = poplib.POP3_SSL("127.0.0.1", server.port(995), context=tls_context(lab_certs), timeout=10)
    s.user("alice")
    s.pass_("secret")
    resp, lines, _octets = s.retr(1)
    assert resp == f"+OK {SIZES[0]} octets".encode()
    assert b"\r\n".join(lines) + b"\r\n" == ALICE_MESSAGES[0].replace(b"\n", b"\r\n")
    s.quit()


def test_imaplib_plain_starttls_and_ssl(server: ServerProcess, lab_certs: LabCerts) -> None:
    m = imaplib.IMAP4("127.0.0.1", server.port(143), timeout=10)
    m.login("alice", "secret")
    assert m.select("INBOX") == ("OK", [b"3"])
    m.logout()

    m = imaplib.IMAP4("127.0.0.1", server.port(143), timeout=10)
    m.starttls(ssl_context=tls_context(lab_certs))
    m.login("alice", "secret")
    typ, data = m.status("INBOX", "(MESSAGES)")
    assert typ == "OK" and b"MESSAGES 3" in data[0]
    m.logout()

    s = imaplib.IMAP4_SSL("127.0.0.1", server.port(993), ssl_context=tls_context(lab_certs), timeout=10)
    s.login("alice", "secret")
    s.select("INBOX", readonly=True)
    typ, data = s.fetch("1", "(BODY.PEEK[])")
    assert typ == "OK"
    first = data[0]
    assert isinstance(first, tuple)
    assert first[1] == ALICE_MESSAGES[0].replace(b"\n", b"\r\n")
    s.logout()


curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def run(args: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, input=stdin, capture_output=True, timeout=30, check=False)


@curl
def test_curl_pop3_plain_and_tls(server: ServerProcess, lab_certs: LabCerts) -> None:
    listing = "".join(f"{i + 1} {s}\r\n" for i, s in enumerate(SIZES)).encode()
    r = run(["curl", "-sS", "-u", "alice:secret", f"pop3://127.0.0.1:{server.port(110)}/"])
    assert (r.returncode, r.stdout) == (0, listing), r.stderr
    r = run(
        [
            "curl",
            "-sS",
            "--ssl-reqd",
            "--cacert",
            str(lab_certs.ca_file),
            "-u",
            "alice:secret",
            f"pop3://127.0.0.1:{server.port(110)}/2",
        ]
    )
    assert (r.returncode, r.stdout) == (0, ALICE_MESSAGES[1].replace(b"\n", b"\r\n")), r.stderr
    r = run(
        [
            "curl",
            "-sS",
            "--cacert",
            str(lab_certs.ca_file),
            "-u",
            "alice:secret",
            f"pop3s://127.0.0.1:{server.port(995)}/",
        ]
    )
    assert (r.returncode, r.stdout) == (0, listing), r.stderr
    r = run(["curl", "-sS", "-u", "alice:wrong", f"pop3://127.0.0.1:{server.port(110)}/"])
    assert r.returncode == 67  # CURLE_LOGIN_DENIED


@curl
def test_curl_imap_plain_and_tls(server: ServerProcess, lab_certs: LabCerts) -> None:
    r = run(["curl", "-sS", "-u", "alice:secret", f"imap://127.0.0.1:{server.port(143)}/INBOX;UID=1"])
    assert (r.returncode, r.stdout) == (0, ALICE_MESSAGES[0].replace(b"\n", b"\r\n")), r.stderr
    r = run(
        [
            "curl",
            "-sS",
            "--ssl-reqd",
            "--cacert",
            str(lab_certs.ca_file),
            "-u",
            "alice:secret",
            f"imap://127.0.0.1:{server.port(143)}/INBOX;UID=2",
        ]
    )
    assert (r.returncode, r.stdout) == (0, ALICE_MESSAGES[1].replace(b"\n", b"\r\n")), r.stderr
    r = run(
        [
            "curl",
            "-sS",
            "--cacert",
            str(lab_certs.ca_file),
            "-u",
            "alice:secret",
            f"imaps://127.0.0.1:{server.port(993)}/INBOX;UID=3",
        ]
    )
    assert (r.returncode, r.stdout) == (0, ALICE_MESSAGES[2].replace(b"\n", b"\r\n")), r.stderr


def s_client(args: list[str], stdin: bytes, ca: Path) -> str:
    r = run(
        ["openssl", "s_client", "-quiet", "-crlf", "-verify_return_error", "-CAfile", str(ca), *args], stdin
    )
    return r.stdout.decode(errors="replace")


@openssl
def test_openssl_s_client_pop3(server: ServerProcess, lab_certs: LabCerts) -> None:
    out = s_client(
        ["-starttls", "pop3", "-connect", f"127.0.0.1:{server.port(110)}"],
        b"USER alice\nPASS secret\nSTAT\nQUIT\n",
        lab_certs.ca_file,
    )
    assert out.splitlines() == ["+OK", "+OK Logged in.", f"+OK 3 {sum(SIZES)}", "+OK Logging out."]
    out = s_client(["-connect", f"127.0.0.1:{server.port(995)}"], b"CAPA\nQUIT\n", lab_certs.ca_file)
    assert out.splitlines() == [
        "+OK Dovecot ready.",
        "+OK",
        "CAPA",
        "TOP",
        "UIDL",
        "RESP-CODES",
        "PIPELINING",
        "AUTH-RESP-CODE",
        "USER",
        "SASL PLAIN LOGIN",
        ".",
        "+OK Logging out",
    ]


@openssl
def test_openssl_s_client_imap(server: ServerProcess, lab_certs: LabCerts) -> None:
    out = s_client(
        ["-starttls", "imap", "-connect", f"127.0.0.1:{server.port(143)}"],
        b"a LOGIN alice secret\nb SELECT INBOX\nc LOGOUT\n",
        lab_certs.ca_file,
    )
    assert "a OK" in out and "* 3 EXISTS" in out and "c OK" in out
    out = s_client(
        ["-connect", f"127.0.0.1:{server.port(993)}"], b"a LOGIN alice secret\nb LOGOUT\n", lab_certs.ca_file
    )
    assert out.startswith("* OK ") and "a OK" in out


def test_tls_below_1_2_is_refused_by_default(server: ServerProcess, lab_certs: LabCerts) -> None:
    old = tls_context(lab_certs)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError) as refused:
        poplib.POP3_SSL("127.0.0.1", server.port(995), context=old, timeout=10)
    # The server hung up on the hello; a client unable to offer TLS 1.1 at all
    # would have failed before sending it (NO_PROTOCOLS_AVAILABLE).
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value)
    assert "unsupported protocol" in server.wait_log("unsupported protocol")
    modern = tls_context(lab_certs)
    modern.maximum_version = ssl.TLSVersion.TLSv1_2
    s = poplib.POP3_SSL("127.0.0.1", server.port(995), context=modern, timeout=10)
    assert s.sock.version() == "TLSv1.2"  # type: ignore[attr-defined]
    s.quit()


CURL_MODES = {
    # name: (scheme, port, extra curl options)
    "plain": ("imap", 143, []),
    "starttls": ("imap", 143, ["--ssl-reqd"]),
    "implicit-tls": ("imaps", 993, []),
}


@curl
@pytest.mark.parametrize("mode", sorted(CURL_MODES))
def test_curl_imap_lists_uploads_and_fetches_back(
    server: ServerProcess, lab_certs: LabCerts, mode: str, tmp_path: Path
) -> None:
    scheme, port, extra = CURL_MODES[mode]
    base = [
        "curl",
        "-sS",
        "--cacert",
        str(lab_certs.ca_file),
        "-u",
        "alice:secret",
        *extra,
    ]
    url = f"{scheme}://127.0.0.1:{server.port(port)}/"
    folder = f"Uploads-{mode}"  # a folder per mode: the module's other tests count INBOX
    r = run([*base, url, "-X", f"CREATE {folder}"])
    assert r.returncode == 0, r.stderr
    r = run([*base, url])
    assert r.returncode == 0, r.stderr
    listing = r.stdout.decode()
    assert "INBOX" in listing and folder in listing, listing
    message = tmp_path / "upload.eml"
    message.write_bytes(f"From: bob@example.org\r\nSubject: sent by curl ({mode})\r\n\r\nhello\r\n".encode())
    r = run([*base, "-T", str(message), url + folder])
    assert r.returncode == 0, r.stderr
    r = run([*base, url + f"{folder};UID=1"])
    assert (r.returncode, r.stdout) == (0, message.read_bytes()), r.stderr
