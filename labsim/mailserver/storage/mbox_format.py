"""The mbox file format: splitting, Dovecot's hidden state headers, rendering."""

from __future__ import annotations

import calendar
import re
import socket
import time
from dataclasses import dataclass, field

from labsim.mailserver.storage.base import StorageError
from labsim.mailserver.storage.mailbox_base import lf_to_crlf, vsize_of
from labsim.mailserver.storage.maildir_files import new_uidvalidity

HIDDEN_HEADERS = frozenset(
    {b"status", b"x-status", b"x-keywords", b"x-uid", b"x-imapbase", b"x-imap", b"content-length"}
)
STATE_HEADERS = frozenset({b"status", b"x-status", b"x-keywords", b"x-uid", b"x-imapbase", b"x-imap"})
XSTATUS = (("A", "\\Answered"), ("F", "\\Flagged"), ("T", "\\Draft"), ("D", "\\Deleted"))
_FROM_DATE = re.compile(
    rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    rb"(?:\s+[A-Z]{3,4}|\s+([+-]\d{4}))?\s+(\d{4})(?:\s+([+-]\d{4}))?"
)
_MONTHS = {m.encode(): i for i, m in enumerate(calendar.month_abbr) if m}


@dataclass
class MboxMessage:
    """One message as found in the file."""

    raw: bytes  # From_ line through the end of the message, without the separator LF
    from_line: bytes
    head_at: int  # where the header block starts in `raw`
    body_at: int  # where the body starts in `raw`: the body is not kept twice
    has_blank: bool  # the file had an empty line between header and body
    uid: int = 0
    flags: set[str] = field(default_factory=set)
    old: bool = False  # Status has O: no longer \Recent
    xuid: int | None = None
    imapbase: tuple[int, int, list[str]] | None = None
    dirty: bool = False
    pseudo: bool = False  # Dovecot's "DON'T DELETE THIS MESSAGE" holder of X-IMAP
    keep_recent: bool = False  # just appended: \Recent belongs to whoever sees it first
    # Worked out once (the message's bytes never change; a rewrite parses anew).
    vsize: int | None = field(default=None, compare=False, repr=False)
    date: float | None = field(default=None, compare=False, repr=False)
    date_known: bool = field(default=False, compare=False, repr=False)
    # The header block split into fields, done when first asked for: a first look at
    # a big mbox needs only sizes, dates and (for most messages, absent) state.
    split: list[tuple[bytes, bytes]] | None = field(default=None, compare=False, repr=False)
    # No hidden header at all (no state, no Content-Length): what a client sees is
    # `raw` from the header block on.
    plain: bool = field(default=False, compare=False, repr=False)
    # Known to have no Content-Length field, without splitting the header again.
    no_length: bool = field(default=False, compare=False, repr=False)

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """(lower-case name, whole field with its line ends), in file order."""
        if self.split is None:
            self.split = _split_headers(self.raw[self.head_at : self.body_at - self.has_blank])
        return self.split

    @property
    def body(self) -> bytes:
        return self.raw[self.body_at :]

    def header(self, name: bytes) -> bytes | None:
        return _field_value(self.headers, name)

    def has_content_length(self) -> bool:
        if self.plain or self.no_length:
            return False
        return any(n == b"content-length" for n, _ in self.headers)

    def copy(self) -> MboxMessage:
        """A copy a session may change (flags, UID, dirty) without touching others';
        the bytes are shared."""
        c = MboxMessage.__new__(MboxMessage)
        c.__dict__.update(self.__dict__)
        c.flags = set(self.flags)
        return c

    def _shown(self) -> bytes:
        shown = b"".join(f for n, f in self.headers if n not in HIDDEN_HEADERS)
        return shown + (b"\n" if self.has_blank else b"") + self.body

    def client_bytes(self) -> bytes:
        return lf_to_crlf(self._shown())

    def client_size(self) -> int:
        """len(client_bytes()), remembered."""
        if self.vsize is None:
            # A plain message is shown from its header block on: counted in place.
            self.vsize = vsize_of(self.raw, self.head_at) if self.plain else vsize_of(self._shown())
        return self.vsize

    def from_date(self) -> float | None:
        """internaldate(), remembered."""
        if not self.date_known:
            self.date, self.date_known = self.internaldate(), True
        return self.date

    def internaldate(self) -> float | None:
        """The From_ line's date; without a zone it is taken as UTC, as Dovecot shows it."""
        m = _FROM_DATE.search(self.from_line)
        if not m:
            return None
        year, zone = int(m.group(7)), m.group(6) or m.group(8)
        try:
            stamp = calendar.timegm(
                (
                    year,
                    _MONTHS[m.group(1)],
                    int(m.group(2)),
                    int(m.group(3)),
                    int(m.group(4)),
                    int(m.group(5) or 0),
                    0,
                    0,
                    0,
                )
            )
        except (KeyError, ValueError, OverflowError):
            return None
        if zone:
            sign = -1 if zone[:1] == b"-" else 1
            stamp -= sign * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60)
        return float(stamp)


# One header field: its first line (any line: bytes.splitlines' CR, LF and CRLF
# ends), then the continuation lines that start with a space or a tab.
_FIELD = re.compile(rb"([^\r\n]*(?:\r\n|[\r\n])|[^\r\n]+\Z)(?:[ \t][^\r\n]*(?:\r\n|[\r\n]|\Z))*")


def _split_headers(block: bytes) -> list[tuple[bytes, bytes]]:
    fields: list[tuple[bytes, bytes]] = []
    for m in _FIELD.finditer(block):
        first = m.group(1)
        name = first.split(b":", 1)[0].strip().lower() if b":" in first else b""
        fields.append((name, m.group(0)))
    return fields


def _field_value(fields: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for n, f in fields:
        if n == name:
            return f.split(b":", 1)[1].strip()
    return None


# Where a field named like a hidden header could start: after a line end, with the
# blanks bytes.strip() would take around the name (the block always follows the
# From_ line's LF). No match: no field has a hidden name. A match (also in a
# continuation line) only means the header block has to be split to know.
_HIDDEN_FIELD = re.compile(
    rb"[\r\n][ \t\x0b\x0c]*(?:status|x-status|x-keywords|x-uid|x-imapbase|x-imap|content-length)"
    rb"[ \t\x0b\x0c]*:",
    re.IGNORECASE,
)


def parse_message(raw: bytes) -> MboxMessage:
    nl = raw.find(b"\n")
    from_line = raw if nl < 0 else raw[:nl]
    # Offsets, not slices: nothing is copied out of `raw` unless the header is split.
    if nl < 0:
        head_at, body_at, has_blank = len(raw), len(raw), False
    elif raw.startswith(b"\n", nl + 1):
        head_at, body_at, has_blank = nl + 1, nl + 2, True
    else:
        end = raw.find(b"\n\n", nl + 1)
        if end < 0:
            head_at, body_at, has_blank = nl + 1, len(raw), False
        else:
            head_at, body_at, has_blank = nl + 1, end + 2, True
    msg = MboxMessage(raw, from_line, head_at, body_at, has_blank)
    if head_at == body_at - has_blank or not _HIDDEN_FIELD.search(raw, head_at - 1, body_at - has_blank):
        msg.plain = True  # nothing of Dovecot's state: no flags, no UID yet
        return msg
    _read_state(msg, msg.headers)
    return msg


def _read_state(msg: MboxMessage, fields: list[tuple[bytes, bytes]]) -> None:
    """Flags, X-UID and X-IMAPbase from the first of each state field in `fields`."""
    if not any(n in STATE_HEADERS for n, _ in fields):
        return  # nothing of Dovecot's state: no flags, no UID yet
    status = _field_value(fields, b"status") or b""
    xstatus = _field_value(fields, b"x-status") or b""
    if b"R" in status:
        msg.flags.add("\\Seen")
    msg.old = b"O" in status
    for letter, flag in XSTATUS:
        if letter.encode() in xstatus:
            msg.flags.add(flag)
    kws = _field_value(fields, b"x-keywords")
    if kws:
        msg.flags |= {k.decode("utf-8", "replace") for k in kws.split() if not k.startswith(b"\\")}
    xuid = _field_value(fields, b"x-uid")
    if xuid and xuid.isdigit() and 0 < int(xuid) < 2**32:
        msg.xuid = int(xuid)
    base = _field_value(fields, b"x-imapbase")
    pseudo = _field_value(fields, b"x-imap")
    if pseudo is not None:
        base, msg.pseudo = pseudo, True
    if base:
        parts = base.split()
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            uv, un = int(parts[0]), int(parts[1])
            # The second number is the last UID used (c-client's convention, which
            # Dovecot follows), so UIDNEXT is one more.
            if 0 < uv < 2**32 and 0 <= un < 2**32 - 1:
                msg.imapbase = (uv, un + 1, [p.decode("utf-8", "replace") for p in parts[2:]])


_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:[ \t]*(\d{1,12})[ \t]*$")


def _content_length_end(data: bytes, start: int, end_hint: int) -> int | None:
    """Where the message ends if its Content-Length header is trustworthy."""
    head_end = data.find(b"\n\n", start, end_hint)
    if head_end < 0:
        return None
    m = _CONTENT_LENGTH.search(data, start, head_end)
    if not m:
        return None
    stop = head_end + 2 + int(m.group(1))
    if (
        stop == len(data)
        or (stop == len(data) - 1 and data.endswith(b"\n"))
        or data.startswith(b"\nFrom ", stop)
    ):
        return stop
    return None


def parse_mbox(data: bytes, lab_path: str = "mbox") -> list[MboxMessage]:
    """Split an mbox file into messages; raises StorageError when it is not one."""
    pos = 0
    while pos < len(data) and data[pos : pos + 1] in (b"\n", b"\r"):
        pos += 1
    if pos >= len(data):
        return []
    if not data.startswith(b"From ", pos):
        raise StorageError(f"Failed to read mbox file {lab_path}: mbox file doesn't begin with 'From ' line")
    messages: list[MboxMessage] = []
    while pos < len(data):
        nxt = data.find(b"\nFrom ", pos)
        cl_end = _content_length_end(data, pos, nxt if nxt >= 0 else len(data))
        if cl_end is not None and (nxt < 0 or cl_end >= nxt):
            end = cl_end
            nxt = cl_end if cl_end < len(data) and data.startswith(b"\nFrom ", cl_end) else -1
            if nxt < 0:
                messages.append(parse_message(data[pos:end]))
                break
        if nxt < 0:
            end = len(data) - 1 if data.endswith(b"\n") else len(data)
            messages.append(parse_message(data[pos:end]))
            break
        messages.append(parse_message(data[pos:nxt]))
        pos = nxt + 1
    return messages


def assign_uids(
    messages: list[MboxMessage], pseudo: MboxMessage | None = None, fresh_uidvalidity: int | None = None
) -> tuple[int, int, bool]:
    """Give every message a UID, keeping X-UIDs when they are consistent.
    Returns (uidvalidity, uidnext, whether the file needs rewriting).

    `fresh_uidvalidity` is what a file without X-IMAPbase gets: a value the caller derives from
    the file, so that a read-only look (STATUS, EXAMINE, doveadm) reports the one a later write
    records (Dovecot keeps it in its index meanwhile)."""
    holder = pseudo if pseudo is not None else (messages[0] if messages else None)
    base = holder.imapbase if holder is not None else None
    if base is None:
        uv, un = fresh_uidvalidity or new_uidvalidity(), 1
        for m in messages:
            m.uid, un = un, un + 1
            m.dirty = True
        return uv, un, bool(messages)
    uv, un, _ = base
    last = 0
    changed = False
    for m in messages:
        if m.xuid is not None and m.xuid > last:
            m.uid = m.xuid
            un = max(un, m.uid + 1)
        else:
            m.uid = max(un, last + 1)
            un = m.uid + 1
            m.dirty = changed = True
        last = m.uid
    if holder is not None and holder.imapbase and holder.imapbase[1] != un:
        holder.dirty = changed = True
    return uv, un, changed


def quote_from(body: bytes) -> bytes:
    """mboxo quoting as Dovecot writes it: a body line starting `From ` gets a `>`."""
    out = re.sub(rb"(?m)^From ", b">From ", body)
    return out


def new_message(data: bytes, flags: set[str], internaldate: float | None) -> MboxMessage:
    """A message to be appended, in the shape parse_mbox() produces."""
    text = data.replace(b"\r\n", b"\n")
    when = time.time() if internaldate is None else internaldate
    from_line = b"From MAILER-DAEMON " + time.asctime(time.gmtime(when)).encode()
    end = text.find(b"\n\n")
    if text.startswith(b"\n"):
        block, body, has_blank = b"", text[1:], True
    elif end < 0:
        block, body, has_blank = text, b"", False
    else:
        block, body, has_blank = text[: end + 1], text[end + 2 :], True
    if block and not block.endswith(b"\n"):
        block += b"\n"
    # Header lines that look like From_ lines would split the message too.
    block = quote_from(block)
    body = quote_from(body)
    headers = [(n, f) for n, f in _split_headers(block) if n not in STATE_HEADERS and n != b"content-length"]
    raw = from_line + b"\n" + b"".join(f for _, f in headers) + (b"\n" if has_blank else b"") + body
    msg = MboxMessage(raw, from_line, len(from_line) + 1, len(raw) - len(body), True, split=headers)
    msg.flags = {f for f in flags if f != "\\Recent"}
    msg.dirty = True
    msg.keep_recent = True
    return msg


PSEUDO_TEXT = (
    b"This text is part of the internal format of your mail folder, and is not\n"
    b"a real message.  It is created automatically by the mail system software.\n"
    b"If deleted, important folder data will be lost, and it will be re-created\n"
    b"with the data reset to initial values.\n"
)


def pseudo_message(uv: int, un: int, now: float | None = None) -> bytes:
    """The placeholder Dovecot (like c-client) leaves in an emptied mbox."""
    when = time.gmtime(time.time() if now is None else now)
    host = socket.gethostname().split(".")[0] or "localhost"
    return (
        f"From MAILER_DAEMON  {time.asctime(when)}\n"
        f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', when)}\n"
        f"From: Mail System Internal Data <MAILER-DAEMON@{host}>\n"
        "Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
        f"Message-ID: <{uv}@{host}>\n"
        f"X-IMAP: {uv} {un - 1:010d}\n"
        "Status: RO\n\n"
    ).encode() + PSEUDO_TEXT


def render_pseudo(msg: MboxMessage, uv: int, un: int, keywords: list[str]) -> bytes:
    if not msg.dirty and msg.imapbase == (uv, un, keywords):
        return msg.raw
    line = f"X-IMAP: {uv} {un - 1:010d}{''.join(' ' + k for k in keywords)}\n".encode()
    fields = [line if n == b"x-imap" else f for n, f in msg.headers]
    return msg.from_line + b"\n" + b"".join(fields) + b"\n" + msg.body


def render_and_reparse(
    msg: MboxMessage, imapbase: tuple[int, int, list[str]] | None, recent_claimed: bool
) -> tuple[bytes, MboxMessage | None]:
    """The message's bytes in the file with Dovecot's state headers brought up to
    date, and what parse_message() makes of them, known without parsing them (what a
    session shows stays what it was: only hidden state changed). None for the latter
    when that takes parsing: a From_ line appeared in the header block."""
    recent_claimed = recent_claimed and not msg.keep_recent
    if not msg.dirty and not (recent_claimed and not msg.old):
        again = msg.copy()
        again.uid, again.keep_recent = 0, False
        return msg.raw, again
    changed_last = False
    if msg.plain:
        # No state fields to drop: the header block is kept whole.
        block = msg.raw[msg.head_at : msg.body_at - msg.has_blank]
        if block and not block.endswith(b"\n"):
            block += b"\n"
            changed_last = True
        kept = [block]
    else:
        kept = [f for n, f in msg.headers if n not in STATE_HEADERS]
        if kept and not kept[-1].endswith(b"\n"):
            kept[-1] += b"\n"
            changed_last = True
    extra = _state_lines(msg, imapbase, recent_claimed)
    head = b"".join(kept) + b"".join(extra)
    # The body goes in as a view: one copy of a big message, not two.
    out = b"".join((msg.from_line, b"\n", head, b"\n", memoryview(msg.raw)[msg.body_at :]))
    head_at = len(msg.from_line) + 1
    body_at = head_at + len(head) + 1
    if out.find(b"\nFrom ", 0, body_at + 5) >= 0:
        return out, None  # e.g. `\rFrom ` after a dropped field: a message boundary now
    again = MboxMessage(out, msg.from_line, head_at, body_at, True)
    again.no_length = not msg.has_content_length()  # the kept fields are the same
    # The state fields come after the kept ones, which hold none: the first of each
    # name is in `extra`, as parse_message() would find it.
    _read_state(again, _split_headers(b"".join(extra)))
    if msg.has_blank and not changed_last:
        again.vsize = msg.vsize  # the same fields, blank line and body are shown
    again.date, again.date_known = msg.date, msg.date_known
    return out, again


def _state_lines(
    msg: MboxMessage, imapbase: tuple[int, int, list[str]] | None, recent_claimed: bool
) -> list[bytes]:
    extra: list[bytes] = []
    if imapbase is not None:
        uv, un, kws = imapbase
        extra.append(f"X-IMAPbase: {uv} {un - 1:010d}{''.join(' ' + k for k in kws)}\n".encode())
    extra.append(f"X-UID: {msg.uid}\n".encode())
    old = msg.old or recent_claimed
    status = ("R" if "\\Seen" in msg.flags else "") + ("O" if old else "")
    if status:
        extra.append(f"Status: {status}\n".encode())
    xstatus = "".join(letter for letter, flag in XSTATUS if flag in msg.flags)
    if xstatus:
        extra.append(f"X-Status: {xstatus}\n".encode())
    kws_here = sorted(f for f in msg.flags if not f.startswith("\\"))
    if kws_here:
        extra.append(f"X-Keywords: {' '.join(kws_here)}\n".encode())
    return extra
