"""Mailbox names: IMAP's modified UTF-7 (RFC 3501 5.1.3) and the checks that keep
every name inside the mail root.

The storage layer takes and returns names as str; on disk each hierarchy
component is stored in modified UTF-7, as Dovecot does by default.
"""

from __future__ import annotations

import base64

from labsim.mailserver.storage.base import MailboxNameInvalid

MAX_NAME_BYTES = 255
MAX_DEPTH = 16


def _b64_encode(chunk: str) -> str:
    raw = chunk.encode("utf-16-be")
    return base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",")


def encode_mutf7(name: str) -> str:
    """str -> modified UTF-7 (`Entwürfe` -> `Entw&APw-rfe`, `&` -> `&-`)."""
    out: list[str] = []
    pending: list[str] = []
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            if pending:
                out.append("&" + _b64_encode("".join(pending)) + "-")
                pending = []
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    if pending:
        out.append("&" + _b64_encode("".join(pending)) + "-")
    return "".join(out)


def decode_mutf7(text: str) -> str:
    """modified UTF-7 -> str; raises MailboxNameInvalid on malformed input."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ord(ch) > 0x7E or ord(ch) < 0x20:
            raise MailboxNameInvalid("Invalid mailbox name: Mailbox name not valid mUTF-7")
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = text.find("-", i + 1)
        if end < 0:
            raise MailboxNameInvalid("Invalid mailbox name: Mailbox name not valid mUTF-7")
        chunk = text[i + 1 : end]
        i = end + 1
        if not chunk:
            out.append("&")
            continue
        b64 = chunk.replace(",", "/")
        if any(c not in _B64_CHARS for c in b64):
            raise MailboxNameInvalid("Invalid mailbox name: Mailbox name not valid mUTF-7")
        try:
            raw = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
            decoded = raw.decode("utf-16-be")
        except (ValueError, UnicodeDecodeError) as exc:
            raise MailboxNameInvalid("Invalid mailbox name: Mailbox name not valid mUTF-7") from exc
        out.append(decoded)
    return "".join(out)


_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def split_name(name: str, separator: str, *, slash_allowed: bool) -> list[str]:
    """Validate a mailbox name and split it into hierarchy components.

    Every rule here exists so that a name can never name a path outside the
    mail root: no absolute paths, no `..`, no `/` where the layout would turn it
    into a directory, no control characters or NUL.
    """
    if name == "":
        raise MailboxNameInvalid("Invalid mailbox name: Empty name")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise MailboxNameInvalid("Mailbox name too long")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise MailboxNameInvalid("Control characters not allowed in new mailbox names")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        raise MailboxNameInvalid("Invalid mailbox name: Mailbox name not valid UTF-8")
    if name.startswith(separator):
        raise MailboxNameInvalid("Invalid mailbox name: Begins with hierarchy separator")
    if name.endswith(separator):
        # CREATE "Archive." means "Archive" (that it may have children is implied).
        name = name[: -len(separator)]
        if name.endswith(separator) or name == "":
            raise MailboxNameInvalid("Invalid mailbox name: Has adjacent hierarchy separators")
    if separator * 2 in name:
        raise MailboxNameInvalid("Invalid mailbox name: Has adjacent hierarchy separators")
    if not slash_allowed and "/" in name:
        raise MailboxNameInvalid("Invalid mailbox name: Name must not have '/' characters")
    if name.startswith("/"):
        raise MailboxNameInvalid("Invalid mailbox name: Begins with '/'")
    if name.startswith("~"):
        raise MailboxNameInvalid("Invalid mailbox name: Begins with '~'")
    parts = name.split(separator)
    if len(parts) > MAX_DEPTH:
        raise MailboxNameInvalid("Mailbox or child name too long")
    for part in parts:
        if part == "..":
            raise MailboxNameInvalid("Invalid mailbox name: Contains '..' part")
        if part == ".":
            raise MailboxNameInvalid("Invalid mailbox name: Contains '.' part")
        if "/" in part:
            # Only reachable when "/" is the separator itself, which split() consumed.
            raise MailboxNameInvalid("Invalid mailbox name: Name must not have '/' characters")
    return parts


def is_inbox(name: str) -> bool:
    return name.upper() == "INBOX"
