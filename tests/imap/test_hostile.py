"""Hostile input beyond random words: every command with random literals,
mailbox names that try to leave the mail root, and floods of literal
announcements that must not make the server allocate."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.imap import session as S
from tests.imap.helpers import Server, message, running_server, seed_maildir

# Every command of both states, and a few that do not exist.
COMMANDS = [
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "ID",
    "ENABLE",
    "NAMESPACE",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "STATUS",
    "APPEND",
    "CHECK",
    "CLOSE",
    "UNSELECT",
    "EXPUNGE",
    "SEARCH",
    "FETCH",
    "STORE",
    "COPY",
    "MOVE",
    "UID FETCH",
    "UID STORE",
    "UID COPY",
    "UID MOVE",
    "UID SEARCH",
    "UID EXPUNGE",
    "IDLE",
    "STARTTLS",
    "LOGIN",
    "AUTHENTICATE",
    "XYZZY",
]
ATOMS = ["1", "1:*", "*", "INBOX", "Archive", "(", ")", "()", "(FLAGS)", "\\Seen", "RETURN", "NIL", '""', "%"]


@dataclass(frozen=True)
class Literal:
    data: bytes
    sync: bool


Arg = str | Literal

ARGS = st.one_of(
    st.sampled_from(ATOMS),
    st.builds(Literal, st.binary(max_size=80), st.booleans()),
)


class Client:
    """A raw IMAP client that frames literals itself, synchronizing or not."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.closed = False

    def readline(self) -> bytes | None:
        while b"\r\n" not in self.buf:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.closed = True
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True
            return False
        return True

    def until_tagged(self, tag: bytes) -> list[bytes]:
        """Lines up to the tagged reply (or BYE / end of connection). A `+`
        continuation (IDLE, AUTHENTICATE) is answered so the command ends."""
        lines = []
        while True:
            line = self.readline()
            if line is None:
                return lines
            lines.append(line)
            if line.startswith(tag + b" ") or line.startswith(b"* BYE"):
                return lines
            if line.startswith(b"+"):
                self.send(b"DONE\r\n" if b"idling" in line else b"*\r\n")

    def command(self, tag: bytes, parts: list[Arg]) -> list[bytes]:
        """Send one command whose arguments may be literals; the reply lines."""
        out = tag
        for part in parts:
            if isinstance(part, str):
                out += b" " + part.encode()
                continue
            out += b" {%d%s}\r\n" % (len(part.data), b"" if part.sync else b"+")
            if part.sync:
                if not self.send(out):
                    return []
                line = self.readline()
                if line is None or not line.startswith(b"+"):
                    # Refused (a tagged NO/BAD or BYE): the literal is not sent.
                    rest = [] if line is None else [line]
                    if line is not None and not line.startswith((tag + b" ", b"* BYE")):
                        rest += self.until_tagged(tag)
                    return rest
                out = b""
            out += part.data
        if not self.send(out + b"\r\n"):
            return []
        return self.until_tagged(tag)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base: Path = tmp_path_factory.mktemp("hostile")
    seed_maildir(base, "alice", [message(1), message(2)], ("Archive",))
    with running_server(base) as srv:
        yield srv


def login(port: int, select: bool = True) -> Client:
    c = Client(port)
    assert c.readline() is not None
    assert c.command(b"L", ["LOGIN", "alice", "secret"])[-1].startswith(b"L OK")
    if select:
        assert c.command(b"S", ["SELECT", "INBOX"])[-1].startswith(b"S OK")
    return c


@given(st.lists(st.tuples(st.sampled_from(COMMANDS), st.lists(ARGS, max_size=4)), min_size=1, max_size=4))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_command_with_random_arguments_and_literals(
    server: Server, commands: list[tuple[str, list[Arg]]]
) -> None:
    c = login(server.port)
    try:
        for n, (name, args) in enumerate(commands):
            tag = b"T%d" % n
            reply = c.command(tag, [name, *args])
            if c.closed or (reply and reply[-1].startswith(b"* BYE")):
                break
            # Every command gets its tagged answer: OK, NO or BAD, never silence.
            assert reply and reply[-1].split(b" ")[:2] in (
                [tag, b"OK"],
                [tag, b"NO"],
                [tag, b"BAD"],
            ), reply
    finally:
        c.close()
    assert [ln for ln in server.log_lines if ": Error:" in ln] == []


# --- mailbox names that try to leave the mail root ------------------------------------

PIECES = [
    "..",
    ".",
    "/",
    "~",
    "~root",
    "/etc/passwd",
    "../../../outside/x",
    "x/../../../../outside/x",
    "OUTSIDE",  # replaced by the absolute path of a directory beside the lab
    "&",
    "&-",
    "&Jjo-",
    "&AC8-",  # "/" in modified UTF-7
    "&AC4ALg-",  # ".."
    "&AC4-",  # "."
    "&AH4-",  # "~"
    "&AAA-",  # NUL
    "&2D3cAA-",  # a lone surrogate
    "&-&-",
    "&Jjo",  # unterminated
    "INBOX",
    "Archive",
    "new",
    "cur",
    "%",
    "*",
    "x" * 300,
    "Entw&APw-rfe",
    "\\",
    '"',
]
NAMES = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), min_size=1, max_size=5).map("".join)
NAME_COMMANDS = ["CREATE", "DELETE", "RENAME", "SELECT", "EXAMINE", "STATUS", "APPEND", "COPY", "MOVE"]
NAME_COMMANDS += ["LIST", "LSUB", "SUBSCRIBE", "UNSUBSCRIBE"]


@dataclass
class Jail:
    server: Server
    base: Path  # the lab root
    outside: Path  # a directory beside it that names point at
    mailroot: Path  # where the user's mailboxes live
    skip: tuple[Path, ...]  # what may change: the mail root, the mbox INBOX spool


LOCATIONS = {
    "maildir++": "maildir:~/Maildir",
    "maildir-fs": "maildir:~/Maildir:LAYOUT=fs",
    "mbox": "mbox:~/mail:INBOX=/var/mail/alice",
}


@pytest.fixture(scope="module", params=sorted(LOCATIONS))
def jail(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jail]:
    top: Path = tmp_path_factory.mktemp("jail")
    base = top / "lab"
    outside = top / "outside"
    outside.mkdir()
    location = LOCATIONS[request.param]
    if location.startswith("maildir"):
        mailroot = seed_maildir(base, "alice", [message(1)], ("Archive",))
        if "LAYOUT=fs" in location:
            (mailroot / ".Archive").rename(mailroot / "Archive")
        skip: tuple[Path, ...] = (mailroot,)
    else:
        mailroot = base / "home" / "alice" / "mail"
        mailroot.mkdir(parents=True)
        (mailroot / "Archive").write_bytes(b"")
        spool = base / "var" / "mail"
        spool.mkdir(parents=True)
        (spool / "alice").write_bytes(
            b"From sender1@example.com Tue Nov 14 22:13:20 2023\n" + message(1) + b"\n"
        )
        skip = (mailroot, spool)
    (base / "var" / "log").mkdir(parents=True)
    (base / "var" / "log" / "dovecot.log").touch()  # the one file outside the mail that changes
    settings = DovecotSettings(mail_location=location, log_path="/var/log/dovecot.log")
    with running_server(base, settings) as srv:
        yield Jail(srv, base, outside, mailroot, skip)


def tree(top: Path, skip: tuple[Path, ...]) -> set[str]:
    """Every path under `top` except inside `skip` (the user's mail)."""
    found: set[str] = set()
    for dirpath, dirs, files in os.walk(top):
        here = Path(dirpath)
        if here in skip:
            dirs[:] = []
            continue
        found.update(str(here / n) for n in dirs + files)
    return found


def name_args(command: str, name: bytes, other: bytes) -> list[Arg]:
    lit, lit2 = Literal(name, sync=False), Literal(other, sync=False)
    if command == "RENAME":
        return [lit, lit2]
    if command == "STATUS":
        return [lit, "(MESSAGES)"]
    if command == "APPEND":
        return [lit, Literal(message(9), sync=False)]
    if command in ("COPY", "MOVE"):
        return ["1", lit]
    if command in ("LIST", "LSUB"):
        return [lit, lit2]
    return [lit]


@given(st.lists(st.tuples(st.sampled_from(NAME_COMMANDS), NAMES, NAMES), min_size=1, max_size=6))
# The escapes every layout must refuse, tried every run whatever hypothesis draws.
@example(
    [
        ("CREATE", "x/../../../../outside/x", ""),
        ("CREATE", "../../../outside/y", ""),
        ("RENAME", "Archive", "x/../../../../outside/z"),
        ("APPEND", "OUTSIDE/m", ""),
        ("COPY", "x/../../../../outside/c", ""),
        ("CREATE", "&AC8-etc&AC8-x", ""),
        ("CREATE", "~root/x", ""),
    ]
)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_mailbox_names_cannot_leave_the_mail_root(jail: Jail, steps: list[tuple[str, str, str]]) -> None:
    top = jail.base.parent
    before = tree(top, jail.skip)
    c = login(jail.server.port)
    try:
        for n, (command, name, other) in enumerate(steps):
            raw = name.replace("OUTSIDE", str(jail.outside)).encode("utf-8", "surrogateescape")
            raw2 = other.replace("OUTSIDE", str(jail.outside)).encode("utf-8", "surrogateescape")
            reply = c.command(b"N%d" % n, [command, *name_args(command, raw, raw2)])
            assert reply and not reply[-1].startswith(b"* BYE"), reply
            if command in ("MOVE", "DELETE", "RENAME") and not reply[-1].startswith(b"N%d OK" % n):
                continue
            if command in ("DELETE", "RENAME", "MOVE"):
                c.command(b"R%d" % n, ["SELECT", "INBOX"])
    finally:
        c.close()
    # Nothing appeared (or went) outside the Maildir: not beside it, not in the
    # directory the names point at, not in the lab root around the home.
    assert tree(top, jail.skip) == before
    assert list(jail.outside.iterdir()) == []
    # And inside, every path stays below the mail root once resolved.
    for dirpath, _dirs, files in os.walk(jail.mailroot):
        for name in files:
            resolved = (Path(dirpath) / name).resolve()
            assert jail.mailroot.resolve() in resolved.parents
    assert [ln for ln in jail.server.log_lines if ": Error:" in ln] == []


def test_huge_mailbox_names_are_refused(jail: Jail) -> None:
    c = login(jail.server.port, select=False)
    try:
        for n, command in enumerate(["CREATE", "SELECT", "RENAME", "APPEND", "STATUS", "DELETE"]):
            name = Literal(b"a" * 60000, sync=True)
            reply = c.command(b"H%d" % n, [command, *name_args(command, name.data, b"b")])
            assert reply[-1].startswith(b"H%d NO" % n), reply
    finally:
        c.close()


# --- literal floods ----------------------------------------------------------------------


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_a_flood_of_huge_literal_announcements_allocates_nothing(server: Server) -> None:
    """100 MB literals, announced over and over, are refused as Dovecot refuses
    literals past its limits: `* BYE Literal size too large`, before a byte is read."""
    start = rss_kib()
    announcements = [
        b"A APPEND INBOX {104857600}\r\n",
        b"A APPEND INBOX {104857600+}\r\n",
        b"A LIST {104857600}\r\n",
        b"A SELECT {104857600+}\r\n",
        b"A LOGIN {104857600}\r\n",  # and before login: the login buffer's 4 KiB
    ]
    for i in range(200):
        wire = announcements[i % len(announcements)]
        c = Client(server.port)
        assert c.readline() is not None
        if not wire.startswith(b"A LOGIN"):
            assert c.command(b"L", ["LOGIN", "alice", "secret"])[-1].startswith(b"L OK")
        c.send(wire)
        assert c.readline() == b"* BYE Literal size too large"
        assert c.readline() is None  # and the connection is closed
        c.close()
    assert rss_kib() - start < 20 * 1024


def test_literals_of_one_command_are_bounded_together(server: Server) -> None:
    """Like Dovecot's imap_max_line_length: a command's literals add up, so many
    small literals cannot make one huge command."""
    c = login(server.port, select=False)
    try:
        c.send(b"A LIST {40000+}\r\n" + b"x" * 40000 + b" {40000+}\r\n")
        assert c.readline() == b"* BYE Literal size too large"
    finally:
        c.close()


def test_append_literals_share_one_budget(server: Server) -> None:
    """Large APPENDs in progress at once are bounded for the whole server: past the
    budget a synchronizing literal gets a tagged NO instead of `+ OK`."""
    size = S.MAX_APPEND_SIZE - 1
    fit = S.APPEND_BUDGET.limit // size
    clients = [login(server.port, select=False) for _ in range(fit + 1)]
    try:
        for c in clients[:fit]:
            c.send(b"A APPEND INBOX {%d}\r\n" % size)
            assert c.readline() == b"+ OK"
            c.send(b"partial")  # the rest never comes: the reservation is held
        last = clients[fit]
        last.send(b"A APPEND INBOX {%d}\r\n" % size)
        reply = last.readline()
        assert reply is not None and reply.startswith(b"A NO [LIMIT] "), reply
        assert last.command(b"B", ["NOOP"])[-1].startswith(b"B OK")  # the session goes on
    finally:
        for c in clients:
            c.close()
    # Reservations end with their connections: a new large APPEND is asked for again.
    c = login(server.port, select=False)
    try:
        for _ in range(50):
            if S.APPEND_BUDGET.in_use == 0:
                break
            time.sleep(0.05)
        c.send(b"A APPEND INBOX {%d}\r\n" % size)
        assert c.readline() == b"+ OK"
    finally:
        c.close()
