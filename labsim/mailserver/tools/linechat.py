"""A small line client for plain TCP dialogues, like `telnet HOST PORT` without the noise.

    python3 -m labsim.mailserver.tools.linechat HOST PORT [--source ADDR] [--timeout S]

Each line typed is sent with CRLF; what the server sends is printed as it
arrives. `--source` binds the local address first, so a connection can come
from 127.0.0.2 (an address Dovecot does not count as secure). Checkers drive
it through pexpect; a learner may use it too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import socket
import sys
import termios


def _no_echo() -> None:
    """A script driving us reads the server's answers; its own lines coming back would only confuse it."""
    if not os.isatty(0):
        return
    with contextlib.suppress(termios.error):
        attrs = termios.tcgetattr(0)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(0, termios.TCSANOW, attrs)


def connect(host: str, port: int, source: str | None, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    if source:
        sock.bind((source, 0))
    sock.connect((host, port))
    sock.settimeout(None)
    return sock


def relay(sock: socket.socket) -> int:
    out = sys.stdout.buffer
    stdin_open = True
    pending = b""
    while True:
        watch: list[int] = [sock.fileno()] + ([0] if stdin_open else [])
        ready, _, _ = select.select(watch, [], [])
        if sock.fileno() in ready:
            data = sock.recv(65536)
            if not data:
                out.write(b"[connection closed by the server]\n")
                out.flush()
                return 0
            out.write(data)
            out.flush()
        if 0 in ready:
            chunk = os.read(0, 65536)
            if not chunk:
                stdin_open = False
                if pending:
                    sock.sendall(pending.rstrip(b"\r") + b"\r\n")
                    pending = b""
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
                continue
            pending += chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            *lines, pending = pending.split(b"\n")
            for line in lines:
                sock.sendall(line + b"\r\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="linechat", description="talk to a line-based TCP server")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--source", help="local address to connect from, e.g. 127.0.0.2")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the connection")
    parser.add_argument("--no-echo", action="store_true", help="do not echo typed lines (for scripts)")
    args = parser.parse_args(argv)
    if args.no_echo:
        _no_echo()
    try:
        sock = connect(args.host, args.port, args.source, args.timeout)
    except TimeoutError:
        print(f"linechat: connect to {args.host}:{args.port} timed out after {args.timeout:g}s", flush=True)
        return 1
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"linechat: connect to {args.host}:{args.port} failed: {reason}", flush=True)
        return 1
    print(f"[connected to {args.host}:{args.port}]", flush=True)
    try:
        return relay(sock)
    except (OSError, KeyboardInterrupt):
        return 1
    finally:
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
