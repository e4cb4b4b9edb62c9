"""A protocol dialogue inside a lab, driven through pexpect with a deadline.

Plain connections go through the lab's line client (`linechat`), TLS ones
through `openssl s_client -quiet`, both started with `lab.spawn`, so the
check talks to the server from where an administrator would. Every line
either way lands in the transcript (`S:` from the server, `C:` from us).
"""

from __future__ import annotations

import codecs
import contextlib
import re
import shlex
import sys
import time
from typing import Any

from labsim.lab.model import Lab

WELL_KNOWN = {("imap", False): 143, ("imap", True): 993, ("pop3", False): 110, ("pop3", True): 995}
INSECURE_SOURCE = "127.0.0.2"
HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 10.0

# Lines openssl prints about the peer's certificate; not part of the protocol.
_OPENSSL_NOISE = ("depth=", "verify error:", "verify return:", "DONE", "Can't use SSL_get_servername")
# openssl s_client -starttls imap says this when the greeting's capabilities lack STARTTLS; it goes on anyway.
NO_STARTTLS = "Didn't find STARTTLS in server response"


# openssl's error lines: "40578C5A2E7F0000:error:8000006F:system library:BIO_connect:Connection refused:..."
# and its errno reports: "connect:errno=111", "write:errno=104" (reset by the peer).
_OPENSSL_ERROR = re.compile(r"^(?:[0-9A-F]{8,}:error:|(?:connect|write|read):errno=\d+)")


class ProbeFailed(Exception):
    """The dialogue could not go on; the message says what was seen, for the learner."""


class ProbeTimeout(ProbeFailed):
    pass


def port_base(lab: Lab) -> int:
    """Local labs listen on base+P for each well-known port P; in a container the base is 0."""
    return int(getattr(lab, "port_base", 0) or 0)


def lab_port(lab: Lab, well_known: int) -> int:
    return port_base(lab) + well_known


def default_port(protocol: str, transport: str) -> int:
    return WELL_KNOWN[(protocol, transport == "tls")]


def lab_python(lab: Lab) -> str:
    """The local sandbox runs lab tools with labsim's own interpreter; the image has python3."""
    return sys.executable if lab.backend_name == "local" else "python3"


def client_argv(lab: Lab, protocol: str, transport: str, port: int, source: str) -> list[str]:
    bind = INSECURE_SOURCE if source == "insecure" else None
    if transport == "plain":
        argv = [lab_python(lab), "-m", "labsim.mailserver.tools.linechat", HOST, str(port), "--no-echo"]
        return argv + (["--source", bind] if bind else [])
    # -crlf: the pty hands lines over with LF; the protocols want CRLF.
    cmd = ["openssl", "s_client", "-quiet", "-crlf", "-connect", f"{HOST}:{port}"]
    if transport == "starttls":
        cmd += ["-starttls", protocol]
    if bind:
        cmd += ["-bind", f"{bind}:0"]
    # The pty would echo our own lines back between the server's; stty stops it where it happens.
    return ["sh", "-c", "stty -echo 2>/dev/null; exec " + shlex.join(cmd)]


def shown_argv(protocol: str, transport: str, port: int, source: str) -> list[str]:
    """The client command as an admin would type it: without the pty plumbing and labsim's interpreter."""
    bind = INSECURE_SOURCE if source == "insecure" else None
    if transport == "plain":
        argv = ["python3", "-m", "labsim.mailserver.tools.linechat", HOST, str(port)]
        return argv + (["--source", bind] if bind else [])
    cmd = ["openssl", "s_client", "-quiet", "-crlf", "-connect", f"{HOST}:{port}"]
    if transport == "starttls":
        cmd += ["-starttls", protocol]
    return cmd + (["-bind", f"{bind}:0"] if bind else [])


def openssl_reason(text: str) -> str:
    """'40A7...:error:0A000126:SSL routines:ssl3_read_n:unexpected eof while reading:../ssl/...' ->
    'unexpected eof while reading'; 'connect:errno=111' -> 'errno=111'."""
    parts = text.split(":")
    if len(parts) >= 6 and parts[1] == "error":
        return parts[5].strip()
    errno = {"errno=104": "the connection was reset", "errno=111": "connection refused"}
    return errno.get(parts[-1].strip(), parts[-1].strip())


class Dialogue:
    """One connection. Use as a context manager; `transcript` keeps everything said."""

    def __init__(
        self,
        lab: Lab,
        protocol: str,
        transport: str = "plain",
        port: int | None = None,
        source: str = "secure",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.lab = lab
        self.protocol = protocol
        self.transport = transport
        self.well_known = port if port is not None else default_port(protocol, transport)
        self.port = lab_port(lab, self.well_known)
        self.source = source
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.lines: list[str] = []
        # Lines we sent that the terminal may still echo: a line sent before `stty -echo` ran
        # comes back once, and must not be taken for the server's answer.
        self.unechoed: list[str] = []
        self.child: Any = None
        self.argv = client_argv(lab, protocol, transport, self.port, source)
        self.shown = shown_argv(protocol, transport, self.port, source)
        self.where = f"{protocol.upper()} on port {self.well_known}" + (
            f" (local port {self.port})" if self.port != self.well_known else ""
        )

    # --- lifecycle ---
    def __enter__(self) -> Dialogue:
        self.lines.append(f"$ {shlex.join(self.shown)}")
        if self.transport == "starttls":
            starttls = "STLS" if self.protocol == "pop3" else "STARTTLS"
            self.lines.append(f"   [openssl: greeting read, {starttls} sent, TLS handshake made]")
        self.child = self.lab.spawn(self.argv, timeout=self.timeout)
        if getattr(self.child, "encoding", None):
            # A hostile or broken server may send bytes that are not UTF-8; show them, do not crash.
            self.child._decoder = codecs.getincrementaldecoder(self.child.encoding)(errors="replace")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.child is not None:
            with contextlib.suppress(Exception):
                self.child.close(force=True)
            self.child = None

    @property
    def transcript(self) -> str:
        return "\n".join(self.lines) + "\n"

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    # --- talking ---
    def send(self, line: str, shown: str | None = None) -> None:
        self.lines.append(f"C: {line if shown is None else shown}")
        self.unechoed.append(line)
        # LF only: the pty turns a CR into a line end of its own, which would send an empty line.
        self.child.send(line + "\n")

    def line(self) -> str:
        """The server's next protocol line, without its line end."""
        import pexpect

        while True:
            left = self.remaining()
            if left <= 0:
                raise self._timeout()
            index = self.child.expect(["\n", pexpect.EOF, pexpect.TIMEOUT], timeout=left)
            if index == 2:
                raise self._timeout()
            if index == 1:
                rest = str(self.child.before or "").strip()
                if rest:
                    self._record(rest)
                raise ProbeFailed(self._closed_reason(rest))
            text = str(self.child.before).rstrip("\r")
            if text in self.unechoed:
                self.unechoed.remove(text)
                self.lines.append(f"   (echo) {text}")
                continue
            self._record(text)
            if not text.strip() or text.startswith(_OPENSSL_NOISE) or text.startswith("[connected to "):
                continue
            if text.startswith(("linechat: connect", "[connection closed")) or _OPENSSL_ERROR.match(text):
                raise ProbeFailed(self._closed_reason(text))
            # An echo comes before any answer; once the server speaks, equal lines are its own.
            self.unechoed.clear()
            return text.lstrip()

    def until(self, done: Any) -> list[str]:
        """Lines up to and including the first for which done(line) is true."""
        got = []
        while True:
            text = self.line()
            got.append(text)
            if done(text):
                return got

    def _record(self, text: str) -> None:
        for part in text.replace("\r", "").split("\n"):
            ours = part.startswith(_OPENSSL_NOISE) or part.startswith(("[", "linechat:", NO_STARTTLS))
            if self.transport == "starttls" and part.startswith(". "):
                # openssl tags its own IMAP commands "."; what the server answers them is openssl's part.
                self.lines.append(f"   S (to openssl): {part}")
            elif ours or _OPENSSL_ERROR.match(part):
                self.lines.append(f"   {part}")
            else:
                self.lines.append(f"S: {part}")

    def _timeout(self) -> ProbeTimeout:
        self.lines.append(f"[no answer within {self.timeout:g}s]")
        return ProbeTimeout(
            f"{self.where} did not answer within {self.timeout:g} seconds (is the server hung or "
            "stopped? `service --status-all` and /var/log/mail.log tell)"
        )

    def _closed_reason(self, text: str) -> str:
        if text.startswith("[connection closed"):
            return f"{self.where} closed the connection"
        low = text.lower()
        if "connection refused" in low or "errno=111" in low or low.endswith("failed: connection refused"):
            return f"nothing listens on {self.where}: the connection was refused"
        if "connect" in low and ("fail" in low or "errno" in low):
            reason = openssl_reason(text) if _OPENSSL_ERROR.match(text) else text.strip()
            return f"could not connect to {self.where} ({reason})"
        if self.transport == "starttls" and any(NO_STARTTLS in line for line in self.lines):
            return (
                f"{self.where} does not offer STARTTLS: its greeting's capabilities lack the word "
                f'(openssl: "{NO_STARTTLS}")'
            )
        if self.transport != "plain" and (
            not text or any(w in low for w in ("ssl", "tls", "handshake", "errno"))
        ):
            why = f" (openssl: {openssl_reason(text)})" if _OPENSSL_ERROR.match(text) else ""
            return f"the TLS handshake with {self.where} failed: the server closed the connection{why}"
        return f"{self.where} closed the connection" + (f' after saying "{text.strip()}"' if text else "")
