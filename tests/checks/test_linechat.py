"""The lab's line client: CRLF out, server text in, a chosen source address, a clear error."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

LINECHAT = [sys.executable, "-m", "labsim.mailserver.tools.linechat"]


def test_linechat_sends_crlf_from_the_source_address() -> None:
    seen: dict[str, object] = {}
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]

        def serve() -> None:
            conn, peer = server.accept()
            with conn:
                seen["peer"] = peer[0]
                conn.sendall(b"+OK hello\r\n")
                data = b""
                while not data.endswith(b"QUIT\r\n"):
                    chunk = conn.recv(1024)
                    if not chunk:
                        break
                    data += chunk
                seen["data"] = data
                conn.sendall(b"+OK bye\r\n")

        thread = threading.Thread(target=serve)
        thread.start()
        proc = subprocess.run(
            [*LINECHAT, "127.0.0.1", str(port), "--source", "127.0.0.2"],
            input=b"USER alice\nQUIT\n",
            capture_output=True,
            timeout=10,
        )
        thread.join(5)
    assert seen["peer"] == "127.0.0.2"
    assert seen["data"] == b"USER alice\r\nQUIT\r\n"
    assert proc.returncode == 0
    assert b"+OK hello\r\n" in proc.stdout and b"+OK bye\r\n" in proc.stdout


def test_linechat_refused_is_one_clear_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run([*LINECHAT, "127.0.0.1", str(port)], capture_output=True, timeout=10, text=True)
    assert proc.returncode == 1
    assert proc.stdout == f"linechat: connect to 127.0.0.1:{port} failed: Connection refused\n"
    assert proc.stderr == ""
