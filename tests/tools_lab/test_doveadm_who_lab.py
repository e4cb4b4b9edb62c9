"""`doveadm who` and `doveadm kick` in the lab: the sessions the running server holds, as Dovecot shows them.

The tables are checked byte for byte against transcripts of Debian's doveadm
2.3.19 (docs/dovecot-observed.md); tests/conformance/test_doveadm_who.py
compares the two live.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from labsim.mailserver.anvil import Anvil
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.tools import doveadm
from labsim.mailserver.tools.doveadm_who import EXPAND, RIGHT, Column, render_table
from tests.tools_lab.conftest import ToolLab

# Run inside the lab: log in alice twice over IMAP and bob over POP3, run the commands given
# (a `tty:` one on an 80-column terminal), then collect what each client was told before the
# server closed it. Prints JSON.
CLIENT = r"""
import json, os, pty, fcntl, select, socket, struct, subprocess, sys, termios
base = int(os.environ.get("LABSIM_PORT_BASE") or 0)

def login(proto, user, password):
    s = socket.create_connection(("127.0.0.1", base + (143 if proto == "imap" else 110)), timeout=10)
    f = s.makefile("rb")
    f.readline()
    if proto == "imap":
        s.sendall(("a LOGIN %s %s\r\n" % (user, password)).encode())
        assert f.readline().startswith(b"a OK"), user
    else:
        s.sendall(("USER %s\r\n" % user).encode()); f.readline()
        s.sendall(("PASS %s\r\n" % password).encode())
        assert f.readline().startswith(b"+OK"), user
    return s

def on_tty(cmd):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    p = subprocess.Popen(cmd, shell=True, stdout=slave, stderr=slave, stdin=slave)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 20)
        try:
            chunk = os.read(master, 4096) if ready else b""
        except OSError:
            chunk = b""
        if not chunk:
            break
        out += chunk
    return [p.wait(), out.decode(), ""]

clients = {"alice1": login("imap", "alice", "wonderland"), "alice2": login("imap", "alice", "wonderland"),
           "bob": login("pop3", "bob", "builder")}
def read_all(s):
    s.settimeout(2)
    data, closed = b"", False
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                closed = True
                break
            data += chunk
    except OSError:
        pass
    return [data.decode(), closed]

runs = []
for cmd in sys.argv[1:]:
    if cmd.startswith("tty:"):
        runs.append(on_tty(cmd[4:]))
    elif cmd.startswith("logout:"):
        s = clients.pop(cmd[7:])
        s.sendall(b"z LOGOUT\r\n")
        runs.append([0] + read_all(s))
    else:
        p = subprocess.run(cmd, shell=True, capture_output=True, text=True)
        runs.append([p.returncode, p.stdout, p.stderr])
words = {name: read_all(s) for name, s in clients.items()}
print(json.dumps({"runs": runs, "words": words}))
"""


def in_lab(lab: ToolLab, *commands: str) -> dict[str, Any]:
    lab.write("/tmp/who_client.py", CLIENT)
    # The lab root is the working directory of a local lab and / in a container.
    code, out = lab.sh(
        'cd "${LABSIM_ROOT:-/}" && python3 tmp/who_client.py '
        + " ".join(f"'{c}'" for c in commands)
        + " 2>&1"
    )
    assert code == 0, out
    result: dict[str, Any] = json.loads(out)
    return result


HEADER_ONLY = "username # proto (pids) (ips)" + " " * 25 + "\n"  # 80 columns, nobody logged in


def test_table_layout_is_doveadms() -> None:
    # What Debian's doveadm printed into a pipe for these sessions (docs/dovecot-observed.md).
    who = [
        ["alice", "2", "imap", "(5215 5213)", "(127.0.0.2 127.0.0.1)"],
        ["bob", "1", "pop3", "(5217)", "(127.0.0.1)"],
        ["alice", "1", "pop3", "(5226)", "(127.0.0.1)"],
    ]
    columns = [Column("username"), Column("#", RIGHT), Column("proto"), Column("(pids)"), Column("(ips)")]
    assert render_table(columns, who, 80) == (
        "username # proto (pids)      (ips)                               \n"
        "alice    2 imap  (5215 5213) (127.0.0.2 127.0.0.1)               \n"
        "bob      1 pop3  (5217)      (127.0.0.1)                         \n"
        "alice    1 pop3  (5226)      (127.0.0.1)                         \n"
    )
    one = [["alice", "pop3", "5226", "127.0.0.1"], ["bob", "pop3", "5217", "127.0.0.1"]]
    columns = [Column("username", EXPAND), Column("proto"), Column("pid"), Column("ip")]
    assert render_table(columns, one, 80) == (
        "username                          proto pid  ip       \n"
        "alice                             pop3  5226 127.0.0.1\n"
        "bob                               pop3  5217 127.0.0.1\n"
    )
    # A terminal narrower than the table (the minimum, 30): no padding, nothing cut.
    columns = [Column("username"), Column("#", RIGHT), Column("proto"), Column("(pids)"), Column("(ips)")]
    assert render_table(columns, [["bob", "1", "imap", "(12474)", "(127.0.0.1)"]], 30) == (
        "username # proto (pids)  (ips)\nbob      1 imap  (12474) (127.0.0.1)\n"
    )


def test_who_before_anyone_logs_in(running: ToolLab) -> None:
    assert running.sh("doveadm who") == (0, HEADER_ONLY)
    assert running.sh("doveadm who -1") == (0, "username" + " " * 30 + "proto pid ip\n")
    assert running.sh("doveadm who alice bob") == (64, "Error: Multiple username masks not supported\n")
    assert running.sh("doveadm who --help") == (64, "who: unrecognized option '--help'\n")
    assert running.sh("doveadm kick") == (64, "Error: user and/or ip[/bits] must be specified.\n")


def test_who_lists_and_kick_disconnects(running: ToolLab) -> None:
    base_dir = running.out("doveconf -h base_dir").strip().rstrip("/")
    pid = running.lab.read_file(f"{base_dir}/master.pid").decode().strip()
    got = in_lab(
        running,
        "doveadm who",
        "doveadm who -1",
        "doveadm who -1 A?ICE",
        "doveadm who 127.0.0.2",
        "logout:alice2",
        "doveadm who -1 alice",
        "doveadm kick bob",
        "tty:doveadm kick alice 127.0.0.1/8",
        "doveadm who",
        "doveadm kick nobody",
    )
    runs = got["runs"]
    pids = f"({pid})".ljust(6)
    spare = " " * ((80 - (29 + len(pids))) // 2)
    assert runs[0] == [
        0,
        f"username # proto {'(pids)':<{len(pids)}} (ips)      {spare}\n"
        f"bob      1 pop3  {pids} (127.0.0.1){spare}\n"
        f"alice    2 imap  {pids} (127.0.0.1){spare}\n",
        "",
    ]
    width = 8 + (80 - (8 + 6 + max(3, len(pid)) + 1 + 10)) // 2
    one = [f"{u:<{width}} {p:<5} {pid:<3} 127.0.0.1\n" for u, p in [("bob", "pop3"), ("alice", "imap")]]
    header = f"{'username':<{width}} proto {'pid':<{len(pid)}} ip       \n"
    assert runs[1] == [0, header + one[0] + one[1] + one[1], ""]
    assert runs[2] == [0, header + one[1] + one[1], ""]  # the mask ignores case
    assert runs[3] == [0, HEADER_ONLY, ""]
    assert runs[4][0::2] == [0, True] and runs[4][1].startswith("* BYE Logging out\r\nz OK Logout completed")
    assert runs[5] == [0, header + one[1], ""]  # the session that logged out is gone from the table
    assert runs[6] == [0, "bob kicked connections from the following users:\n\n", ""]
    assert runs[7] == [0, "kicked connections from the following users:\r\nalice \r\n", ""]
    assert runs[8] == [0, HEADER_ONLY, ""]
    assert runs[9] == [68, "no users kicked\n", ""]
    assert got["words"] == {
        "bob": ["-ERR [SYS/TEMP] Server shutting down.\r\n", True],
        "alice1": ["* BYE Server shutting down.\r\n", True],
    }
    log = running.lab.read_file("/var/log/mail.log").decode()
    assert f"pop3({pid}): Warning: Killed with signal 15 (by pid=" in log
    assert f"imap({pid}): Warning: Killed with signal 15 (by pid=" in log
    assert f"pop3(bob)<{pid}><" in log
    assert re.search(r">: Disconnected: Server shutting down\. top=0/0, retr=0/0, del=0/2, size=\d+\n", log)
    assert ">: Disconnected: Server shutting down. in=" in log


def test_who_and_kick_without_a_server(running: ToolLab) -> None:
    base_dir = running.out("doveconf -h base_dir").strip().rstrip("/")
    code, out = running.sh("service dovecot stop")
    assert code == 0, out
    # The socket a stopped server leaves refuses, as the real master's does.
    refused = f"Fatal: net_connect_unix({base_dir}/anvil) failed: Connection refused\n"
    assert running.sh("doveadm who") == (75, refused)
    assert running.sh("doveadm kick alice") == (75, refused)
    running.write("/tmp/elsewhere.conf", "base_dir = /run/elsewhere\n")
    assert running.sh("doveadm -c /tmp/elsewhere.conf who -1") == (
        75,
        "Fatal: net_connect_unix(/run/elsewhere/anvil) failed: No such file or directory\n",
    )
    code, out = running.sh("service dovecot start")
    assert code == 0, out
    assert running.sh("doveadm who") == (0, HEADER_ONLY)


@pytest.mark.parametrize("args", ["who -x", "kick -a", "who -1 a b"])
def test_option_errors_in_getopts_words(running: ToolLab, args: str) -> None:
    expected = {
        "who -x": (64, "who: invalid option -- 'x'\n"),
        "kick -a": (64, "kick: option requires an argument -- 'a'\n"),
        "who -1 a b": (64, "Error: Multiple username masks not supported\n"),
    }[args]
    assert running.sh(f"doveadm {args}") == expected


def test_a_base_dir_too_long_for_a_socket_address_still_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A local lab deep in a home directory: the host path passes sun_path's 108 bytes.
    root = LabRoot(tmp_path / ("r" * 60))
    base_dir = "/run/" + "/".join(["d" * 20] * 3)
    assert len(str(root.path(base_dir + "/anvil"))) > 108
    monkeypatch.setenv("LABSIM_ROOT", str(root.path("/")))

    async def scenario() -> int:
        anvil = Anvil(DovecotLog(root, stderr=None))
        await anvil.listen(root.path(base_dir + "/anvil"), base_dir + "/anvil")
        anvil.connect("alice", "imap", "127.0.0.1", 4242)
        try:
            return await asyncio.to_thread(
                doveadm.main, ["who", "-1"], settings=DovecotSettings(base_dir=base_dir)
            )
        finally:
            await anvil.close()

    assert asyncio.run(scenario()) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == ["alice", "imap", "4242", "127.0.0.1"]
