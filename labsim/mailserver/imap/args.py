"""Command arguments with meaning: mailbox names, LIST patterns, flags, dates, UID sets."""

from __future__ import annotations

import calendar
import re

from labsim.mailserver.imap import responses as R
from labsim.mailserver.imap.parser import ParseError, Value, astring
from labsim.mailserver.storage.base import MailboxNameInvalid
from labsim.mailserver.storage.names import decode_mutf7


class BadMailboxName(Exception):
    """A name that is not modified UTF-7: refused before storage sees it."""


def mailbox_name(v: Value) -> str:
    text = astring(v)
    try:
        return decode_mutf7(text)
    except MailboxNameInvalid:
        raise BadMailboxName() from None


def list_pattern(pattern: str, sep: str) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "%":
            out.append(f"[^{re.escape(sep)}]*")
        else:
            out.append(re.escape(ch))
    return re.compile("^" + "".join(out) + "$", re.DOTALL)


def uid_set(uids: list[int]) -> str:
    """[2, 3, 4, 7] -> "2:4,7" (the order is kept: COPYUID pairs source and destination)."""
    out: list[str] = []
    start = prev = uids[0]
    for u in uids[1:]:
        if u == prev + 1:
            prev = u
            continue
        out.append(f"{start}:{prev}" if prev != start else str(start))
        start = prev = u
    out.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(out)


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_DATE_TIME = re.compile(r"^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$")


def parse_date_time(text: str) -> float:
    m = _DATE_TIME.match(text)
    month = m.group(2).capitalize() if m else ""
    if m is None or month not in _MONTHS:
        raise ParseError("Invalid internal date")
    try:
        epoch = calendar.timegm(
            (
                int(m.group(3)),
                _MONTHS.index(month) + 1,
                int(m.group(1)),
                int(m.group(4)),
                int(m.group(5)),
                int(m.group(6)),
            )
        )
    except (ValueError, OverflowError):
        raise ParseError("Invalid internal date") from None
    offset = (int(m.group(8)) * 3600 + int(m.group(9)) * 60) * (1 if m.group(7) == "+" else -1)
    return float(epoch - offset)


def inbox_match(pattern: str) -> bool:
    return list_pattern(pattern.upper(), "/").match("INBOX") is not None


_SYSTEM = {f.upper(): f for f in R.SYSTEM_FLAGS}


def normalize_flag(text: str) -> str:
    if text.startswith("\\"):
        flag = _SYSTEM.get(text.upper())
        if flag is None:
            raise ParseError(f"Invalid system flag {text.upper()}")
        return flag
    if not text or any(c in text for c in '(){%*"\\]') or any(ord(c) < 0x21 or ord(c) > 0x7E for c in text):
        raise ParseError("Invalid characters in keyword")
    return text
