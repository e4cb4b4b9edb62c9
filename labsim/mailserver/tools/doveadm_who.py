"""`doveadm who` and `doveadm kick`: the logged-in sessions, asked of the server's anvil socket.

Output follows Dovecot 2.3.19's doveadm: the table formatter (column widths
from the values, the spare width of an 80-column line or of the terminal
shared out), one line per user and protocol or, with -1, per connection;
kick's `kicked connections from the following users:` and the names, in the
order a terminal shows them or the order a pipe gets them (the real doveadm
prints the two through different buffers). A server that is not running:
`Fatal: net_connect_unix(<base_dir>/anvil) failed: ...`, exit 75.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from labsim.mailserver.anvil import HANDSHAKE, MaskError, WhoFilter, parse_masks, tabescape, tabunescape
from labsim.mailserver.anvil import unix_address as _unix_address
from labsim.mailserver.tools.doveadm import EX_OK, EX_TEMPFAIL, EX_USAGE, Context, _base_dir, _Fail, _getopt

EX_NOTFOUND = 68  # DOVEADM_EX_NOTFOUND: `doveadm kick` found no one
ANVIL_TIMEOUT = 10.0  # seconds doveadm waits for the server's answer
DEFAULT_COLUMNS = 80  # doveadm's table width when stdout is no terminal
MIN_COLUMNS = 30
MAX_BUFFER_LINES = 100  # the table sizes its columns from the first 100 lines

RIGHT = 1  # column flags, as doveadm's print headers have them
EXPAND = 8


# --- the table formatter ------------------------------------------------------------------


@dataclass
class Column:
    title: str
    flags: int = 0
    min_length: int = field(init=False)
    max_length: int = field(init=False)
    length: int = field(init=False)

    def __post_init__(self) -> None:
        self.min_length = self.max_length = self.length = len(self.title)


def terminal_columns() -> int:
    try:
        width = os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):
        return DEFAULT_COLUMNS
    return max(width, MIN_COLUMNS)


def _size_columns(columns: list[Column], rows: list[list[str]], width: int) -> None:
    """Dovecot's doveadm_calc_header_length(): fit the widest values, shrink or pad to `width`."""
    for row in rows:
        for col, value in zip(columns, row, strict=True):
            col.min_length = min(col.min_length, len(value))
            if len(value) > col.max_length:
                col.max_length = col.length = len(value)
    total = sum(c.max_length + 1 for c in columns) - 1
    while total > width:
        before = total
        for col in reversed(columns):
            diff = col.length - col.min_length
            if total - diff <= width:
                col.length -= total - width
                total = width
                break
            if diff > 0:
                col.length -= 1 if diff == 1 else diff // 2
        if total == before:
            break  # one pass that could not finish: doveadm leaves it there
    if total < width:
        spare = next((c for c in columns if c.flags & EXPAND), columns[-1])
        spare.length += (width - total) // 2


def render_table(columns: list[Column], rows: list[list[str]], width: int) -> str:
    _size_columns(columns, rows[:MAX_BUFFER_LINES], width)
    lines = [[c.title for c in columns], *rows]
    out = []
    for line in lines:
        cells = [
            value.rjust(col.length) if col.flags & RIGHT else value.ljust(col.length)
            for col, value in zip(columns, line, strict=True)
        ]
        out.append(" ".join(cells) + "\n")
    return "".join(out)


# --- the anvil socket ------------------------------------------------------------------------


def _ask(ctx: Context, socket_path: str | None, command: str) -> list[str]:
    """Send one command to the anvil socket; the reply's lines up to the empty one."""
    lab_path = socket_path or f"{_base_dir(ctx)}/anvil"
    host_path = ctx.root.path(lab_path) if lab_path.startswith("/") else Path(lab_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(ANVIL_TIMEOUT)
    with sock:
        try:
            with _unix_address(host_path) as address:
                sock.connect(address)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise _Fail(EX_TEMPFAIL, f"Fatal: net_connect_unix({lab_path}) failed: {reason}") from exc
        try:
            sock.sendall(f"{HANDSHAKE}\n{command}\n".encode())
            data = b""
            while not data.endswith(b"\n\n") and data != b"\n":
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as exc:
            reason = "Connection timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
            raise _Fail(EX_TEMPFAIL, f"Fatal: read({lab_path}) failed: {reason}") from exc
    lines = data.decode("utf-8", "replace").split("\n")
    return lines[: lines.index("")] if "" in lines else lines


@dataclass
class WhoLine:
    service: str
    ip: str
    user: str
    pid: str
    count: int


def _parse_dump(lines: list[str]) -> list[WhoLine]:
    found: list[WhoLine] = []
    for line in lines:
        fields = line.split("\t")
        ident = tabunescape(fields[0])
        service, slash, rest = ident.partition("/")
        if not slash or len(fields) < 3 or not fields[1].isdigit() or not fields[2].isdigit():
            sys.stderr.write(f"Error: Invalid input: {line}\n")
            continue
        ip, slash, user = rest.partition("/")
        if not slash:
            ip, user = "", rest
        found.append(WhoLine(service, ip, user, fields[1], int(fields[2])))
    return found


# --- argument parsing -----------------------------------------------------------------------


def _options(command: str, args: list[str], flags: str, with_value: str) -> tuple[dict[str, str], list[str]]:
    """getopt_long as doveadm runs it: options may follow the masks, `--` ends them."""
    opts, words = _getopt(command, args, flags + "".join(f"{c}:" for c in with_value))
    return dict(opts), words


def _filter(masks: list[str]) -> WhoFilter:
    try:
        return parse_masks(masks)
    except MaskError as exc:
        raise _Fail(EX_USAGE, f"Error: {exc}") from exc


# --- the commands -----------------------------------------------------------------------------


def cmd_who(ctx: Context, args: list[str]) -> int:
    opts, masks = _options("who", args, "1", "a")
    wanted = _filter(masks)
    lines = _parse_dump(_ask(ctx, opts.get("a"), "CONNECT-DUMP"))
    if "1" in opts:
        columns = [Column("username", EXPAND), Column("proto"), Column("pid"), Column("ip")]
        rows = [
            [w.user, w.service, w.pid, w.ip]
            for w in lines
            if wanted.matches(w.user, w.ip)
            for _ in range(w.count)
        ]
    else:
        columns = [Column("username"), Column("#", RIGHT), Column("proto"), Column("(pids)"), Column("(ips)")]
        rows = _aggregate(lines, wanted)
    sys.stdout.write(render_table(columns, rows, terminal_columns()))
    return EX_OK


def _aggregate(lines: list[WhoLine], wanted: WhoFilter) -> list[list[str]]:
    """One row per user and protocol: the count, then each pid and each IP once.

    The masks pick rows, not connections: a row is shown whole when any of its IPs is in the network.
    """
    groups: dict[tuple[str, str], tuple[list[int], list[str], list[str]]] = {}
    for w in lines:
        count, pids, ips = groups.setdefault((w.user, w.service), ([0], [], []))
        count[0] += w.count
        if w.pid not in pids:
            pids.append(w.pid)
        if w.ip and w.ip not in ips:
            ips.append(w.ip)
    return [
        [user, str(count[0]), service, f"({' '.join(pids)})", f"({' '.join(ips)})"]
        for (user, service), (count, pids, ips) in groups.items()
        if wanted.matches_any(user, ips)
    ]


def cmd_kick(ctx: Context, args: list[str]) -> int:
    opts, masks = _options("kick", args, "f", "a")
    if not masks:
        raise _Fail(EX_USAGE, "Error: user and/or ip[/bits] must be specified.")
    wanted = _filter(masks)
    net = str(wanted.net) if wanted.net is not None else ""
    # Each of our sessions stands for one mail process, so -f (kick a process serving other
    # users too) has nothing more to do.
    user = "" if wanted.user is None else "=" + tabescape(wanted.user)  # "": any user
    users = [tabunescape(u) for u in _ask(ctx, opts.get("a"), f"KICK\t{user}\t{net}")]
    if not users:
        print("no users kicked")
        return EX_NOTFOUND
    names = "".join(f"{u} " for u in sorted(set(users)))
    head = "kicked connections from the following users:\n"
    if sys.stdout.isatty():
        sys.stdout.write(head + names + "\n")
    else:
        # The real doveadm writes the names at once and its printf()s when it exits: in a pipe
        # (a script, a check) the names come first.
        sys.stdout.write(names + head + "\n")
    return EX_OK
