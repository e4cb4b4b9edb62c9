"""IMAP4rev1 command grammar (RFC 3501 section 9) and literal framing.

Two halves:

* `read_command` frames one command off the wire: a line, and for every
  `{N}` / `{N+}` (LITERAL+, RFC 7888) at a line end, N more bytes and the next
  line. It sends the `+ OK` continuation for synchronizing literals and
  enforces the size limits.
* `parse_command` / `tokenize` turn those wire bytes into values: `Atom`,
  `Str` (quoted or literal) and lists.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

MAX_LINE_POSTLOGIN = 65536  # imap_max_line_length
MAX_INPUT_PRELOGIN = 4096  # the login process's input buffer


class ParseError(Exception):
    """A malformed command; `reason` is Dovecot's wording after `IMAP command X: `."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FatalInput(Exception):
    """Input that ends the connection: `* BYE <reason>`."""

    def __init__(self, reason: str, log_reason: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.log_reason = log_reason or reason


class ClientGone(Exception):
    """The client closed the connection (possibly mid-literal)."""


class LiteralBudget:
    """Bytes of APPEND literals all sessions of one server may hold at once.

    A literal is read into memory before the message is saved; without a shared
    bound, many clients announcing big literals at the same time would make the
    server hold all of them. Announcements are counted before a byte is read."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def reserve(self, size: int) -> bool:
        if self.in_use + size > self.limit:
            return False
        self.in_use += size
        return True

    def release(self, size: int) -> None:
        self.in_use = max(0, self.in_use - size)


@dataclass(frozen=True)
class Atom:
    text: str

    def upper(self) -> str:
        return self.text.upper()


@dataclass(frozen=True)
class Str:
    data: bytes
    literal: bool = False

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


Value = Atom | Str | list["Value"]

_LITERAL_AT_END = re.compile(rb"\{(\d{1,20})(\+?)\}$")
_APPEND = re.compile(rb"^\S+ APPEND ", re.IGNORECASE)
# atom-specials (RFC 3501): ( ) { SP CTL % * " \ ]  -- `%` and `*` are list-wildcards
# and are allowed in atoms here, as Dovecot's parser does for LIST patterns.
_ATOM_STOP = frozenset(b'(){ "')


@dataclass
class Limits:
    max_line: int = MAX_LINE_POSTLOGIN
    max_literal: int = MAX_LINE_POSTLOGIN
    max_total: int | None = None  # pre-login: the whole command must fit the buffer
    max_append_literal: int | None = None  # APPEND's message literal (None: max_literal)
    total_reason: str = "Input buffer full, aborting"
    # Lines and literals of one command together (APPEND's message apart), as
    # Dovecot's imap_max_line_length bounds them: past it, `* BYE Literal size too large`.
    max_command: int | None = None
    append_budget: LiteralBudget | None = None  # shared by the sessions of one server
    # Courier-IMAP checks APPEND's folder before it asks for the message: given the
    # command's first line, the tagged NO text, or None to go on (Dovecot asks first).
    append_check: Callable[[bytes], str | None] | None = None


@dataclass
class RawCommand:
    data: bytes  # the command as sent, CRLFs and literal bodies included, final CRLF removed
    too_long: bool = False  # a line passed max_line: answered with "Too long argument"
    reserved: int = 0  # bytes taken from Limits.append_budget: give back when the command is done
    refused: bool = False  # an APPEND literal did not fit the budget: nothing of it was kept
    refusal: str = ""  # Limits.append_check's answer when it refused the APPEND


async def _readline(reader: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    """One line without its CRLF; (line, overflowed). An overflowed line is consumed
    up to its end so the next command starts cleanly."""
    buf = bytearray()
    overflowed = False
    while True:
        try:
            chunk = await reader.readuntil(b"\n")
            done = True
        except asyncio.IncompleteReadError as exc:
            raise ClientGone() from exc
        except asyncio.LimitOverrunError as exc:
            try:
                chunk = await reader.readexactly(exc.consumed) if exc.consumed else await reader.read(65536)
            except (asyncio.IncompleteReadError, ConnectionError, OSError) as gone:
                raise ClientGone() from gone
            if not chunk:
                raise ClientGone() from exc
            done = False
        except (ConnectionError, OSError) as exc:  # reset by peer, TLS errors (ssl.SSLError)
            raise ClientGone() from exc
        if not overflowed:
            buf += chunk
            if len(buf) > limit + 2:
                overflowed = True
                del buf[limit:]
        if done:
            break
    if overflowed:
        return bytes(buf), True
    line = bytes(buf)
    if line.endswith(b"\r\n"):
        line = line[:-2]
    elif line.endswith(b"\n"):
        line = line[:-1]
    return line, False


async def _discard(reader: asyncio.StreamReader, size: int) -> None:
    """Read and drop `size` bytes in small pieces (a refused LITERAL+ body)."""
    while size > 0:
        try:
            chunk = await reader.read(min(size, 65536))
        except (ConnectionError, OSError) as exc:
            raise ClientGone() from exc
        if not chunk:
            raise ClientGone()
        size -= len(chunk)


async def read_command(
    reader: asyncio.StreamReader,
    send: Callable[[bytes], Awaitable[None]],
    limits: Limits,
) -> RawCommand:
    """Frame one command. Raises ClientGone or FatalInput.

    A synchronizing APPEND literal that does not fit `limits.append_budget` is
    not asked for (the command comes back `refused`, for a tagged NO); a
    non-synchronizing one is read and dropped."""
    parts: list[bytes] = []
    total = 0  # every byte, for the pre-login buffer
    counted = 0  # bytes that count towards max_command
    reserved = 0
    too_long = False
    refused = False
    refusal = ""
    try:
        while True:
            line, overflowed = await _readline(reader, limits.max_line)
            total += len(line) + 2
            counted += len(line) + 2
            if limits.max_total is not None and (overflowed or total > limits.max_total):
                raise FatalInput(limits.total_reason, "Input buffer full")
            if overflowed:
                too_long = True
                parts.append(line)
                break
            parts.append(line)
            m = _LITERAL_AT_END.search(line)
            if m is None:
                break
            size = int(m.group(1))
            sync = not m.group(2)
            is_append = limits.max_append_literal is not None and _APPEND.match(parts[0]) is not None
            if is_append:
                assert limits.max_append_literal is not None
                if size > limits.max_append_literal:
                    raise FatalInput("Literal size too large")
            elif size > limits.max_literal or (
                limits.max_command is not None and counted + size > limits.max_command
            ):
                raise FatalInput("Literal size too large")
            if limits.max_total is not None and total + size > limits.max_total:
                raise FatalInput("Literal size too large")
            if is_append and sync and len(parts) == 1 and limits.append_check is not None:
                refusal = limits.append_check(parts[0]) or ""
                if refusal:
                    refused = True
                    break  # not asked for: the client drops the command
            if is_append and size and not refused and limits.append_budget is not None:
                if limits.append_budget.reserve(size):
                    reserved += size
                elif sync:
                    refused = True
                    break  # not asked for: the client drops the command
                else:
                    refused = True
            if refused:
                await _discard(reader, size)
                continue
            if sync:
                await send(b"+ OK\r\n")
            try:
                body = await reader.readexactly(size)
            except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
                raise ClientGone() from exc
            total += size
            if not is_append:
                counted += size
            parts.append(b"\r\n" + body)
    except BaseException:
        if reserved and limits.append_budget is not None:
            limits.append_budget.release(reserved)
        raise
    if refused:
        if reserved and limits.append_budget is not None:
            limits.append_budget.release(reserved)
        return RawCommand(parts[0], refused=True, refusal=refusal)
    # Literal bodies carry their own leading CRLF marker; lines are joined directly
    # after a literal (the literal ends where the next line's bytes begin).
    return RawCommand(b"".join(parts), too_long, reserved)


class Tokenizer:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def skip_space(self) -> bool:
        if self.pos < len(self.data) and self.data[self.pos] == 0x20:
            self.pos += 1
            return True
        return False

    def read_values(self, until_paren: bool = False) -> list[Value]:
        out: list[Value] = []
        need_space = False
        while True:
            if self.at_end():
                if until_paren:
                    raise ParseError("Missing ')'")
                return out
            ch = self.data[self.pos]
            if ch == 0x29:  # ')'
                if until_paren:
                    self.pos += 1
                    return out
                raise ParseError("Unexpected ')'")
            if need_space:
                if ch != 0x20:
                    raise ParseError("Missing space")
                self.pos += 1
                need_space = False
                continue
            if ch == 0x20:
                raise ParseError("Double spaces")
            out.append(self.read_value())
            need_space = True

    def read_value(self) -> Value:
        ch = self.data[self.pos]
        if ch == 0x28:  # '('
            self.pos += 1
            return self.read_values(until_paren=True)
        if ch == 0x22:  # '"'
            return self._quoted()
        if ch == 0x7B:  # '{'
            return self._literal()
        return self._atom()

    def _quoted(self) -> Str:
        self.pos += 1
        out = bytearray()
        while True:
            if self.pos >= len(self.data):
                raise ParseError("Missing '\"'")
            ch = self.data[self.pos]
            if ch == 0x22:
                self.pos += 1
                return Str(bytes(out))
            if ch == 0x5C:  # backslash
                self.pos += 1
                if self.pos >= len(self.data) or self.data[self.pos] not in (0x22, 0x5C):
                    raise ParseError("Invalid escape in quoted string")
                ch = self.data[self.pos]
            elif ch in (0x0D, 0x0A, 0x00):
                raise ParseError("Invalid characters in quoted string")
            out.append(ch)
            self.pos += 1

    def _literal(self) -> Str:
        m = re.compile(rb"\{(\d{1,20})\+?\}\r\n").match(self.data, self.pos)
        if m is None:
            raise ParseError("Invalid literal size")
        size = int(m.group(1))
        start = m.end()
        if start + size > len(self.data):
            raise ParseError("Invalid literal size")
        self.pos = start + size
        return Str(self.data[start : start + size], literal=True)

    def _atom(self) -> Atom:
        start = self.pos
        depth = 0
        while self.pos < len(self.data):
            ch = self.data[self.pos]
            if ch == 0x5B:  # '[': a FETCH section may hold spaces and parens
                depth += 1
            elif ch == 0x5D and depth:
                depth -= 1
            elif (depth == 0 and (ch in _ATOM_STOP or ch < 0x20 or ch == 0x7F)) or ch in (0x0D, 0x0A, 0x00):
                break
            self.pos += 1
        if self.pos == start:
            raise ParseError(f"Unexpected '{chr(self.data[self.pos])}'")
        if depth:
            raise ParseError("Missing ']'")
        return Atom(self.data[start : self.pos].decode("utf-8", "replace"))


def tokenize(data: bytes) -> list[Value]:
    """Every argument in `data` (what follows the command name)."""
    return Tokenizer(data).read_values()


_TAG_CHARS = re.compile(rb"[\x21-\x7e]+")
_COMMAND_NAME = re.compile(rb"[A-Za-z][A-Za-z0-9.\-]*")


@dataclass
class Command:
    tag: str
    name: str  # upper-cased; "UID FETCH" for UID commands
    rest: bytes  # the arguments' wire bytes
    error: str | None = None  # a problem with the name itself

    def args(self) -> list[Value]:
        return tokenize(self.rest)


def split_command(data: bytes) -> tuple[str, Command | None]:
    """Split tag and command name. The tag is "*" when no usable tag was sent;
    the Command is None when the line has no usable tag."""
    m = _TAG_CHARS.match(data)
    if m is None or any(c in b'(){%*"\\+' for c in m.group(0)):
        return "*", None
    tag = m.group(0).decode("ascii")
    pos = m.end()
    if pos >= len(data) or data[pos] != 0x20:
        return tag, Command(tag, "", b"", error="Invalid command name")
    pos += 1
    n = _COMMAND_NAME.match(data, pos)
    if n is None:
        return tag, Command(tag, "", b"", error="Invalid command name")
    name = n.group(0).decode("ascii").upper()
    pos = n.end()
    if pos < len(data) and data[pos] != 0x20:
        return tag, Command(tag, "", b"", error="Invalid command name")
    if name == "UID":
        if pos >= len(data):
            return tag, Command(tag, "", b"", error="Invalid command name")
        sub = _COMMAND_NAME.match(data, pos + 1)
        if sub is None:
            return tag, Command(tag, "", b"", error="Invalid command name")
        name = "UID " + sub.group(0).decode("ascii").upper()
        pos = sub.end()
        if pos < len(data) and data[pos] != 0x20:
            return tag, Command(tag, "", b"", error="Invalid command name")
    rest = data[pos + 1 :] if pos < len(data) else b""
    return tag, Command(tag, name, rest)


# --- argument helpers used by command handlers --------------------------------


def astring(v: Value) -> str:
    if isinstance(v, Atom):
        return v.text
    if isinstance(v, Str):
        return v.text
    raise ParseError("Invalid arguments")


def astring_bytes(v: Value) -> bytes:
    if isinstance(v, Atom):
        return v.text.encode("utf-8")
    if isinstance(v, Str):
        return v.data
    raise ParseError("Invalid arguments")


def atom(v: Value) -> str:
    if isinstance(v, Atom):
        return v.text
    raise ParseError("Invalid arguments")


def value_list(v: Value) -> list[Value]:
    if isinstance(v, list):
        return v
    raise ParseError("Invalid arguments")


SeqRange = tuple[int, int]


def parse_sequence_set(text: str, star: int) -> list[SeqRange]:
    """`2,4:7,9:*` -> [(2,2), (4,7), (9,star)] with each range ordered low..high.
    `star` is the value `*` stands for (largest seq or uid, 0 when empty)."""
    if not text:
        raise ParseError("Invalid messageset")
    out: list[SeqRange] = []
    for part in text.split(","):
        bounds = part.split(":")
        if len(bounds) > 2 or not all(bounds):
            raise ParseError("Invalid messageset")
        nums: list[int] = []
        for b in bounds:
            if b == "*":
                nums.append(star)
            elif b.isdigit() and b.isascii() and len(b) <= 10 and int(b) > 0 and int(b) <= 0xFFFFFFFF:
                nums.append(int(b))
            else:
                raise ParseError("Invalid messageset")
        lo, hi = min(nums), max(nums)
        out.append((lo, hi))
    return out


def in_set(n: int, ranges: list[SeqRange]) -> bool:
    return any(lo <= n <= hi for lo, hi in ranges)
