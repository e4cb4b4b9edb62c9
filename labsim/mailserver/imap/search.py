"""SEARCH keys: those of RFC 3501 6.4.4 (flags, sets, sizes, dates, header and
body text) and WITHIN's YOUNGER/OLDER (RFC 5032)."""

from __future__ import annotations

import codecs
import datetime
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_tz

from labsim.mailserver.imap import mime
from labsim.mailserver.imap.parser import Atom, ParseError, Str, Value, in_set, parse_sequence_set
from labsim.mailserver.storage.base import Mailbox, MessageInfo

Matcher = Callable[[int, MessageInfo], bool]


class BadCharset(Exception):
    """A CHARSET nobody can convert from: `NO [BADCHARSET]`, not BAD."""


_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True),
    "UNANSWERED": ("\\Answered", False),
    "DELETED": ("\\Deleted", True),
    "UNDELETED": ("\\Deleted", False),
    "FLAGGED": ("\\Flagged", True),
    "UNFLAGGED": ("\\Flagged", False),
    "SEEN": ("\\Seen", True),
    "UNSEEN": ("\\Seen", False),
    "DRAFT": ("\\Draft", True),
    "UNDRAFT": ("\\Draft", False),
}
_HEADER_KEYS = {"FROM": "from", "TO": "to", "CC": "cc", "BCC": "bcc", "SUBJECT": "subject"}
_DATE_KEYS = {"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"}
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_SEARCH_DATE = re.compile(r"^(\d{1,2})-([A-Za-z]{3})-(\d{4})$")
Day = tuple[int, int, int]


def _search_day(raw: bytes) -> Day:
    """`1-Feb-1994` -> (1994, 2, 1)."""
    m = _SEARCH_DATE.match(raw.decode("ascii", "replace"))
    if m is None or m.group(2).upper() not in _MONTHS:
        raise ParseError("Invalid search date parameter")
    return (int(m.group(3)), _MONTHS.index(m.group(2).upper()) + 1, int(m.group(1)))


def _real_day(day: Day) -> bool:
    try:
        datetime.date(*day)
    except ValueError:
        return False
    return True


def _internal_day(m: MessageInfo) -> Day:
    # The day in the server's time zone, "disregarding time and timezone" (RFC 3501).
    t = time.localtime(m.internaldate)
    return (t.tm_year, t.tm_mon, t.tm_mday)


def _compare(word: str, day: Day, want: Day) -> bool:
    if word.endswith("BEFORE"):
        return day < want
    if word.endswith("ON"):
        return day == want
    return day >= want


@dataclass
class SearchContext:
    box: Mailbox
    keywords: list[str] = field(default_factory=list)  # named by KEYWORD/UNKEYWORD

    def text_of(self, msg: MessageInfo) -> bytes:
        return self.box.read(msg)


class _Args:
    def __init__(self, values: list[Value]) -> None:
        self.values = values
        self.pos = 0

    def more(self) -> bool:
        return self.pos < len(self.values)

    def next(self) -> Value:
        if not self.more():
            raise ParseError("Missing argument")
        v = self.values[self.pos]
        self.pos += 1
        return v

    def string(self) -> bytes:
        v = self.next()
        if isinstance(v, Atom):
            return v.text.encode("utf-8")
        if isinstance(v, Str):
            return v.data
        raise ParseError("Invalid arguments")

    def number(self) -> int:
        v = self.next()
        if isinstance(v, Atom) and v.text.isdigit() and v.text.isascii():
            return int(v.text)
        raise ParseError("Invalid arguments")


def _contains(hay: bytes, needle: bytes) -> bool:
    return needle.lower() in hay.lower()


def _key(args: _Args, ctx: SearchContext) -> Matcher:
    v = args.next()
    if isinstance(v, list):
        inner = _Args(v)
        if not inner.more():
            raise ParseError("Missing argument")
        ms = [_key(inner, ctx)]
        while inner.more():
            ms.append(_key(inner, ctx))
        return lambda seq, m: all(f(seq, m) for f in ms)
    if not isinstance(v, Atom):
        raise ParseError("Invalid arguments")
    word = v.upper()
    if word in ("ALL",):
        return lambda seq, m: True
    if word in _FLAG_KEYS:
        flag, want = _FLAG_KEYS[word]
        return lambda seq, m: (flag in m.flags) == want
    if word == "RECENT":
        return lambda seq, m: m.recent
    if word == "NEW":
        return lambda seq, m: m.recent and "\\Seen" not in m.flags
    if word == "OLD":
        return lambda seq, m: not m.recent
    if word in ("KEYWORD", "UNKEYWORD"):
        kw = args.string().decode("utf-8", "replace")
        ctx.keywords.append(kw)
        want = word == "KEYWORD"
        return lambda seq, m: (kw in m.flags) == want
    if word == "NOT":
        inner_m = _key(args, ctx)
        return lambda seq, m: not inner_m(seq, m)
    if word == "OR":
        a = _key(args, ctx)
        b = _key(args, ctx)
        return lambda seq, m: a(seq, m) or b(seq, m)
    if word in ("LARGER", "SMALLER"):
        try:
            n = args.number()
        except ParseError:
            raise ParseError("Invalid search size parameter") from None
        if word == "LARGER":
            return lambda seq, m: m.size > n
        return lambda seq, m: m.size < n
    if word == "UID":
        text = args.next()
        if not isinstance(text, Atom):
            raise ParseError("Invalid arguments")
        msgs = ctx.box.messages
        ranges = parse_sequence_set(text.text, msgs[-1].uid if msgs else 0)
        return lambda seq, m: in_set(m.uid, ranges)
    if word in _DATE_KEYS:
        target = _search_day(args.string())
        if not _real_day(target):
            return lambda seq, m: False  # `32-Jan-2020`: Dovecot takes it and finds nothing
        if not word.startswith("SENT"):
            return lambda seq, m: _compare(word, _internal_day(m), target)

        def sent_match(seq: int, m: MessageInfo) -> bool:
            header, _ = mime.split_header(ctx.text_of(m))
            value = mime.header_value(header, "date")
            parsed = parsedate_tz(value.decode("ascii", "replace")) if value is not None else None
            # No usable Date: field counts as 1-Jan-1970, as in Dovecot.
            day = (parsed[0], parsed[1], parsed[2]) if parsed else (1970, 1, 1)
            return _compare(word, day, target)

        return sent_match
    if word in ("YOUNGER", "OLDER"):
        try:
            secs = args.number()
        except ParseError:
            raise ParseError("Invalid search interval parameter") from None
        now = time.time()
        if word == "YOUNGER":
            return lambda seq, m: m.internaldate > now - secs
        return lambda seq, m: m.internaldate <= now - secs
    if word in _HEADER_KEYS:
        name = _HEADER_KEYS[word]
        needle = args.string()

        def header_match(seq: int, m: MessageInfo) -> bool:
            header, _ = mime.split_header(ctx.text_of(m))
            value = mime.header_value(header, name)
            return value is not None and _contains(value, needle)

        return header_match
    if word == "HEADER":
        hname = args.string().decode("utf-8", "replace").lower()
        needle = args.string()

        def any_header(seq: int, m: MessageInfo) -> bool:
            header, _ = mime.split_header(ctx.text_of(m))
            value = mime.header_value(header, hname)
            return value is not None and _contains(value, needle)

        return any_header
    if word in ("BODY", "TEXT"):
        needle = args.string()
        whole = word == "TEXT"

        def body_match(seq: int, m: MessageInfo) -> bool:
            data = ctx.text_of(m)
            return _contains(data if whole else mime.split_header(data)[1], needle)

        return body_match
    if word[:1].isdigit() or word[:1] == "*":
        msgs = ctx.box.messages
        ranges = parse_sequence_set(v.text, len(msgs))
        return lambda seq, m: in_set(seq, ranges)
    raise ParseError(f"Unknown argument {word}")


def parse_search(values: list[Value], ctx: SearchContext) -> Matcher:
    args = _Args(values)
    if isinstance(values[0], Atom) and values[0].upper() == "CHARSET":
        args.next()
        charset = args.string().decode("ascii", "replace").upper()
        try:
            codecs.lookup(charset)  # Dovecot takes every charset iconv knows
        except LookupError:
            raise BadCharset(charset) from None
    if not args.more():
        raise ParseError("Missing search parameters")
    ms = [_key(args, ctx)]
    while args.more():
        ms.append(_key(args, ctx))
    return lambda seq, m: all(f(seq, m) for f in ms)
