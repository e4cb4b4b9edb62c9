"""A lean IMAP/POP3 client: buffered reads and byte searches, so that the time
measured is the server's, not the client's line-by-line parsing."""

from __future__ import annotations

import re
import socket

TIMEOUT = 120.0
_LITERAL = re.compile(rb"\{(\d+)\}\r\n")


class ProtocolError(Exception):
    pass


class Conn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = bytearray()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 18)
        if not chunk:
            raise ProtocolError("connection closed by the server")
        self.buf += chunk

    def read_until(self, needle: bytes, start: int = 0) -> bytes:
        """Everything up to and including the first `needle` found at or after `start`."""
        pos = start
        while True:
            i = self.buf.find(needle, pos)
            if i >= 0:
                end = i + len(needle)
                out = bytes(self.buf[:end])
                del self.buf[:end]
                return out
            pos = max(start, len(self.buf) - len(needle) + 1)
            self._fill()

    def line(self) -> bytes:
        return self.read_until(b"\r\n")


class Imap(Conn):
    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.tag = 0
        greeting = self.line()
        if not greeting.startswith(b"* OK"):
            raise ProtocolError(f"IMAP greeting: {greeting!r}")

    def command(self, text: str) -> bytes:
        """Send a command and return the whole reply, untagged lines included. Literals
        in the reply are skipped by their length, so their content cannot fool us."""
        self.tag += 1
        tag = b"b%d" % self.tag
        self.send(tag + b" " + text.encode() + b"\r\n")
        out = bytearray()
        while True:
            ln = self.line()
            out += ln
            m = _LITERAL.search(ln)
            if m and ln.endswith(m.group(0)):
                n = int(m.group(1))
                while len(self.buf) < n:
                    self._fill()
                out += self.buf[:n]
                del self.buf[:n]
                continue
            if ln.startswith(tag + b" "):
                if not ln.startswith(tag + b" OK"):
                    raise ProtocolError(f"{text.split()[0]}: {ln!r}")
                return bytes(out)

    def bulk(self, text: str) -> bytes:
        """A command whose reply has no literals (FETCH of flags and sizes): one byte
        search for the tagged line instead of a loop over thousands of lines."""
        self.tag += 1
        tag = b"b%d" % self.tag
        self.send(tag + b" " + text.encode() + b"\r\n")
        body = self.read_until(b"\r\n" + tag + b" ")
        status = self.line()
        if not status.startswith(b"OK"):
            raise ProtocolError(f"{text.split()[0]}: {status!r}")
        return body


class Pop3(Conn):
    def __init__(self, port: int) -> None:
        super().__init__(port)
        greeting = self.line()
        if not greeting.startswith(b"+OK"):
            raise ProtocolError(f"POP3 greeting: {greeting!r}")

    def command(self, text: str) -> bytes:
        self.send(text.encode() + b"\r\n")
        ln = self.line()
        if not ln.startswith(b"+OK"):
            raise ProtocolError(f"{text.split()[0]}: {ln!r}")
        return ln

    def multiline(self, text: str) -> bytes:
        self.command(text)
        while len(self.buf) < 3:
            self._fill()
        if self.buf.startswith(b".\r\n"):
            del self.buf[:3]
            return b""
        return self.read_until(b"\r\n.\r\n")[:-3]  # keep the last line's CRLF

    def login(self, user: str, password: str) -> None:
        self.command(f"USER {user}")
        self.command(f"PASS {password}")
