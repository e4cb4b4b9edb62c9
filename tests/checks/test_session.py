"""A stopped or hung server fails a check within its timeout, with a message saying so."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from labsim.checks.capability import announced
from labsim.checks.clients import LoginOutcome, cram_md5_response, expected_outcome
from labsim.checks.mailbox import crlf_size, mbox_messages
from labsim.checks.runner import run_check
from labsim.checks.session import lab_port
from labsim.lab.model import Lab
from labsim.scenario.model import CheckSpec


@pytest.fixture
def hung_imap(idle_lab: Lab) -> Iterator[Lab]:
    """Something accepts connections on the lab's IMAP port and never says a word."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", lab_port(idle_lab, 143)))
        server.listen(8)
        yield idle_lab


def test_hung_server_fails_within_the_timeout(hung_imap: Lab) -> None:
    started = time.monotonic()
    spec = CheckSpec(id="h", type="imap_login", params={"user": "alice", "password": "x", "timeout": 1.5})
    result = run_check(hung_imap, spec)
    assert time.monotonic() - started < 5
    assert not result.passed and result.error is None
    assert "did not answer within 1.5 seconds" in result.message
    assert "[no answer within 1.5s]" in result.transcript


def test_stopped_server_is_refused(idle_lab: Lab) -> None:
    for transport in ("plain", "tls"):
        spec = CheckSpec(
            id="s", type="pop3_login", params={"user": "alice", "password": "x", "transport": transport}
        )
        result = run_check(idle_lab, spec)
        assert not result.passed
        assert "the connection was refused" in result.message, result.message


def test_cram_md5_response_matches_rfc_2195() -> None:
    # The example exchange of RFC 2195, section 2.
    challenge = "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
    assert cram_md5_response("tim", "tanstaaftanstaaf", challenge) == (
        "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
    )


def test_expected_outcome() -> None:
    refused = LoginOutcome(False, "NO [PRIVACYREQUIRED] Plaintext authentication disallowed")
    assert expected_outcome("failure", refused) and expected_outcome("privacyrequired", refused)
    assert not expected_outcome("success", refused) and not expected_outcome("AUTHENTICATIONFAILED", refused)
    assert expected_outcome("success", LoginOutcome(True, "OK Logged in"))


def test_announced() -> None:
    lines = ["TOP", "SASL PLAIN CRAM-MD5", "STLS"]
    assert announced("CRAM-MD5", lines) and announced("sasl cram-md5", lines) and announced("STLS", lines)
    assert not announced("SASL LOGIN", lines) and not announced("USER", lines) and not announced("", lines)


def test_sizes_count_crlf_and_mbox_hides_its_headers() -> None:
    assert crlf_size(b"a\nb\n") == 6 and crlf_size(b"a\r\nb\r\n") == 6
    mbox = (
        b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\nStatus: RO\nX-UID: 1\n\nbody\n\n"
        b"From a@b Mon Jan  1 00:00:01 2024\nSubject: two\n\n>From here\n"
    )
    assert mbox_messages(mbox) == [b"Subject: one\n\nbody\n", b"Subject: two\n\n>From here\n"]


def _serve_once(port: int, payload: bytes) -> threading.Thread:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(1)

    def run() -> None:
        with server:
            server.settimeout(10)
            conn, _ = server.accept()
            with conn:
                conn.sendall(payload)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_hostile_greeting_is_a_clear_failure(idle_lab: Lab) -> None:
    thread = _serve_once(lab_port(idle_lab, 143), b"\xff\xfe\x00garbage \xc3\r\n")
    spec = CheckSpec(id="g", type="imap_login", params={"user": "alice", "password": "x", "timeout": 3})
    result = run_check(idle_lab, spec)
    thread.join(5)
    assert not result.passed and result.error is None
    assert "greeted with" in result.message and "garbage" in result.message
    assert 'instead of "* OK ..."' in result.message


def test_server_closing_midway_is_a_clear_failure(idle_lab: Lab) -> None:
    thread = _serve_once(lab_port(idle_lab, 110), b"+OK ready\r\n")
    spec = CheckSpec(id="c", type="pop3_login", params={"user": "alice", "password": "x", "timeout": 3})
    result = run_check(idle_lab, spec)
    thread.join(5)
    assert not result.passed and result.error is None
    assert "closed the connection" in result.message, result.message


# Run on a pty whose echo is on, as when a line goes out before `stty -echo` took effect:
# every line we send comes back once before the answer.
ECHOING_CLIENT = r"""
import sys
sys.stdin.readline()
print("a0 OK done", flush=True)
line = sys.stdin.readline().strip()
print("* CAPABILITY a1 CAPABILITY", flush=True)
print("a1 OK " + line, flush=True)  # the server may repeat our words once it has spoken
"""


def test_an_echoed_line_is_not_taken_for_the_answer(idle_lab: Lab) -> None:
    from labsim.checks.clients import Imap
    from labsim.checks.session import Dialogue

    d = Dialogue(idle_lab, "imap", "starttls", timeout=5)
    d.argv = [sys.executable, "-c", ECHOING_CLIENT]
    with d:
        imap = Imap(d)
        imap.greet()
        untagged, answer = imap.command("CAPABILITY")
    assert untagged == ["* CAPABILITY a1 CAPABILITY"] and answer == "OK a1 CAPABILITY"
    assert "   (echo) a0 NOOP" in d.transcript and "   (echo) a1 CAPABILITY" in d.transcript
