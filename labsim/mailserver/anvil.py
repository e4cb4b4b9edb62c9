"""The live sessions, for `doveadm who` and `doveadm kick`: Dovecot's anvil, inside the master.

Dovecot's mail processes tell its anvil process of every login and logout;
`doveadm who` asks anvil over `<base_dir>/anvil` (CONNECT-DUMP) and `doveadm
kick` sends SIGTERM to the processes it lists. Here every session is a task
in one process, so the master keeps the table in memory and answers on the
same socket path. Nothing is written per login (a login costs one dict
entry), the table holds only live sessions, and a server that died leaves a
socket that refuses connections, so doveadm says what the real one says
(`net_connect_unix(...) failed: Connection refused`) instead of believing
stale data. Like the real master, a stop leaves the socket file behind.

The wire format follows anvil's: the client sends `VERSION\\tanvil\\t1\\t0`,
then `CONNECT-DUMP` (answered with `service/ip/user<TAB>pid<TAB>count` lines,
newest first, and an empty line) or, ours, `KICK<TAB>=user mask<TAB>ip/bits`
(either field may be empty), answered with the kicked sessions' user names
and an empty line.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import os
import re
import socket
import struct
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from labsim.mailserver.log import DovecotLog

HANDSHAKE = "VERSION\tanvil\t1\t0"
MAX_REQUEST = 4096  # bytes a request may take; anvil's own lines are short
REQUEST_TIMEOUT = 2.0  # seconds a doveadm gets to send its request
KICK_WAIT = 1.0  # seconds a kick waits for the kicked sessions to say goodbye
MAX_UNIX_PATH = 107  # sun_path holds 108 bytes with the NUL
SHUTTING_DOWN = "Server shutting down."  # what a kicked (SIGTERMed) mail process says


@dataclass
class Entry:
    """One logged-in session, as anvil knows it."""

    user: str
    service: str  # imap or pop3
    rip: str
    pid: int  # the mail process's pid as Dovecot would show it: ours
    task: asyncio.Task[object] | None = None
    kicked: bool = False
    serial: int = 0


@dataclass
class WhoFilter:
    """`doveadm who|kick` masks: one user mask (wildcards * and ?) and one ip/bits, both optional."""

    user: str | None = None
    net: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None

    def matches(self, user: str, ip: str) -> bool:
        return self.matches_any(user, [ip])

    def matches_any(self, user: str, ips: list[str]) -> bool:
        """A user (with one IP, or all a `who` row lists) the masks take."""
        if self.user is not None and not _wildcard(self.user).fullmatch(user):
            return False
        if self.net is not None and self.net.prefixlen > 0:
            return any(_in(ip, self.net) for ip in ips)
        return True


def _in(ip: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(ip) in net
    except ValueError:
        return False


class MaskError(ValueError):
    """Two user masks or two networks: doveadm's own refusal."""


def parse_net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """`ip` or `ip/bits` as Dovecot's net_parse_range() takes it; None when it is no address."""
    address, slash, bits = text.partition("/")
    if slash and not bits.isdigit():
        return None
    try:
        ip = ipaddress.ip_address(address)
        return ipaddress.ip_network(f"{ip}/{bits or ip.max_prefixlen}", strict=False)
    except ValueError:
        return None


def parse_masks(masks: list[str]) -> WhoFilter:
    found = WhoFilter()
    for mask in masks:
        net = parse_net(mask)
        if net is not None:
            if found.net is not None:
                raise MaskError("Multiple network masks not supported")
            found.net = net
        else:
            if found.user is not None:
                raise MaskError("Multiple username masks not supported")
            found.user = mask
    return found


@lru_cache(maxsize=64)
def _wildcard(mask: str) -> re.Pattern[str]:
    """Dovecot's wildcard_match_icase(): `*` any run, `?` one character, nothing else special."""
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in mask)
    return re.compile(pattern, re.IGNORECASE | re.DOTALL)


# Dovecot's tab escaping (str_tabescape), so a name with a tab cannot break a line.
_ESCAPES = {"\x01": "\x011", "\t": "\x01t", "\r": "\x01r", "\n": "\x01n"}
_UNESCAPES = {v[1]: k for k, v in _ESCAPES.items()}


def tabescape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def tabunescape(text: str) -> str:
    return re.sub("\x01(.)", lambda m: _UNESCAPES.get(m.group(1), m.group(1)), text)


@contextlib.contextmanager
def unix_address(path: Path) -> Iterator[str]:
    """An address for `path` that fits sun_path: a long lab path goes through its directory's fd."""
    if len(os.fsencode(str(path))) <= MAX_UNIX_PATH:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


class Anvil:
    """The master's table of logged-in sessions and the socket doveadm asks."""

    def __init__(self, log: DovecotLog) -> None:
        self.log = log
        self.entries: dict[int, Entry] = {}
        self._serial = itertools.count(1)
        self._sock: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._clients: set[asyncio.Task[None]] = set()

    # --- the table (called by sessions)

    def connect(self, user: str, service: str, rip: str, pid: int) -> Entry:
        task = asyncio.current_task()
        entry = Entry(user, service, rip, pid, task, serial=next(self._serial))
        self.entries[entry.serial] = entry
        return entry

    def disconnect(self, entry: Entry | None) -> None:
        if entry is not None:
            self.entries.pop(entry.serial, None)

    def dump(self) -> list[Entry]:
        """Newest first, as anvil lists a user's connections."""
        return sorted(self.entries.values(), key=lambda e: -e.serial)

    async def kick(self, wanted: WhoFilter, by_pid: int, by_uid: int) -> list[str]:
        """Stop the matching sessions as SIGTERM stops a mail process; their user names."""
        kicked = [e for e in self.dump() if wanted.matches(e.user, e.rip) and not e.kicked]
        tasks: list[asyncio.Task[object]] = []
        for entry in kicked:
            entry.kicked = True
            self.log.warning(
                f"{entry.service}({entry.pid})",
                f"Killed with signal 15 (by pid={by_pid} uid={by_uid} code=kill)",
            )
            if entry.task is not None and not entry.task.done():
                entry.task.cancel()
                tasks.append(entry.task)
        if tasks:  # so that a `doveadm who` right after sees them gone
            await asyncio.wait(tasks, timeout=KICK_WAIT)
        return [e.user for e in kicked]

    # --- the socket

    async def listen(self, path: Path, lab_path: str) -> None:
        """Serve doveadm on `path`; an error is logged as Dovecot's master words it."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a socket a dead server left behind
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                with unix_address(path) as address:
                    sock.bind(address)
                os.chmod(path, 0o600)  # root's, as the real anvil socket: doveadm needs root's rights
                sock.listen(16)
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
        except OSError as exc:
            self.log.error("master", f"net_listen_unix({lab_path}) failed: {exc.strerror}")
            return
        self._sock = sock
        self._accepting = asyncio.ensure_future(self._accept(sock))

    async def close(self) -> None:
        """Stop answering; the socket file stays, as the real master leaves it."""
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
            self._accepting = None
        for task in list(self._clients):
            task.cancel()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                client, _ = await loop.sock_accept(sock)
            except OSError:
                await asyncio.sleep(0.1)  # EMFILE and the like: try again, never spin
                continue
            task = asyncio.ensure_future(self._serve(client))
            self._clients.add(task)
            task.add_done_callback(self._clients.discard)

    async def _serve(self, client: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        with client:
            client.setblocking(False)
            try:
                lines = await asyncio.wait_for(_read_request(loop, client), REQUEST_TIMEOUT)
            except (TimeoutError, OSError):
                return
            if not lines or lines[0] != HANDSHAKE or len(lines) < 2:
                return
            command, *args = lines[1].split("\t")
            reply: list[str] = []
            if command == "CONNECT-DUMP":
                reply = [f"{tabescape(f'{e.service}/{e.rip}/{e.user}')}\t{e.pid}\t1" for e in self.dump()]
            elif command == "KICK" and len(args) == 2:
                user = tabunescape(args[0][1:]) if args[0].startswith("=") else None  # "": any user
                wanted = WhoFilter(user, parse_net(args[1]) if args[1] else None)
                pid, uid = _peer(client)
                reply = [tabescape(user) for user in await self.kick(wanted, pid, uid)]
            else:
                return
            with contextlib.suppress(OSError):
                await loop.sock_sendall(client, "".join(f"{line}\n" for line in [*reply, ""]).encode())


async def _read_request(loop: asyncio.AbstractEventLoop, client: socket.socket) -> list[str]:
    """The handshake and one command line."""
    data = b""
    while data.count(b"\n") < 2 and len(data) < MAX_REQUEST:
        chunk = await loop.sock_recv(client, MAX_REQUEST)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace").split("\n")[:2]


def _peer(client: socket.socket) -> tuple[int, int]:
    """The pid and uid of the process on the other end (SO_PEERCRED), for the kill log line."""
    try:
        pid, uid, _gid = struct.unpack("3i", client.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except OSError:
        return 0, 0
    return pid, uid


# --- what sessions call ---------------------------------------------------------------------


def connect(anvil: Anvil | None, user: str, service: str, rip: str, pid: int) -> Entry | None:
    """A logged-in session joins the table (None: this personality has no anvil)."""
    return anvil.connect(user, service, rip, pid) if anvil is not None else None


def disconnect(anvil: Anvil | None, entry: Entry | None) -> None:
    if anvil is not None:
        anvil.disconnect(entry)


def kicked(entry: Entry | None) -> bool:
    """True when a CancelledError the session caught came from `doveadm kick`, not a stop."""
    if entry is None or not entry.kicked:
        return False
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()  # the kick is handled: later timeouts in this task must work as usual
    return True


async def farewell(say: Awaitable[object]) -> None:
    """The kicked session's last words, bounded: a client that reads nothing cannot hold it."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(say, KICK_WAIT / 2)
