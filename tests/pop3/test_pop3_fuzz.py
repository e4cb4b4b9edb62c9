"""Hostile command lines never crash the POP3 server: it answers or closes, and nothing hangs."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import LabCerts
from tests.pop3.harness import InProcessServer, make_lab

COMMANDS = [
    "USER",
    "PASS",
    "APOP",
    "AUTH",
    "STLS",
    "CAPA",
    "QUIT",
    "STAT",
    "LIST",
    "RETR",
    "DELE",
    "NOOP",
    "RSET",
    "TOP",
    "UIDL",
    "user",
    "Auth",
    "*",
    "",
]

arg = st.one_of(
    st.just(""),
    st.integers(min_value=-5, max_value=2**40).map(str),
    st.sampled_from(["PLAIN", "LOGIN", "CRAM-MD5", "=", "*", "AGFsaWNlAHNlY3JldA==", "1 0", "1 x", "0", " "]),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").decode("latin-1")),
)
line = st.one_of(
    st.tuples(st.sampled_from(COMMANDS), arg).map(lambda t: f"{t[0]} {t[1]}".rstrip(" ").encode("latin-1")),
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, lab_certs: LabCerts) -> Iterator[InProcessServer]:
    root: Path = tmp_path_factory.mktemp("fuzz") / "root"
    make_lab(root, lab_certs, mechs="plain login cram-md5 apop")
    srv = InProcessServer(root)
    yield srv
    assert srv.stop() == 0
    assert "Internal error" not in srv.log()


def exchange(port: int, lines: list[bytes]) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"".join(ln + b"\r\n" for ln in lines) + b"QUIT\r\n")
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):  # a hang would raise socket.timeout
            out += chunk
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(line, max_size=6), login=st.booleans())
def test_random_lines_answered_or_closed(
    fuzz_server: InProcessServer, lines: list[bytes], login: bool
) -> None:
    prefix = [b"USER alice", b"PASS secret"] if login else []
    out = exchange(fuzz_server.port(110), prefix + lines)
    assert out.startswith(b"+OK Dovecot ready.")
    assert out.endswith(b"\r\n")
    assert b"Internal error" not in out
