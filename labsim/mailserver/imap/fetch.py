"""FETCH: parsing the item list and rendering one message's response."""

from __future__ import annotations

import re
import time
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from email.utils import getaddresses

from labsim.mailserver.imap import mime
from labsim.mailserver.imap.parser import Atom, ParseError, Value

_MACROS = {
    "ALL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
    "FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
    "FULL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"],
}
_SIMPLE = frozenset(
    {
        "FLAGS",
        "UID",
        "INTERNALDATE",
        "RFC822.SIZE",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.TEXT",
        "ENVELOPE",
        "BODY",
        "BODYSTRUCTURE",
    }
)
_BODY_ITEM = re.compile(r"^(BODY|BODY\.PEEK)\[([^\]]*)\](?:<(\d+)(?:\.(\d+))?>)?$", re.IGNORECASE)
_SPECS = frozenset({"", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"})


@dataclass
class BodySection:
    peek: bool
    path: list[int]
    spec: str  # "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
    fields: list[str] = field(default_factory=list)
    partial: tuple[int, int | None] | None = None

    def response_name(self) -> str:
        parts = [".".join(str(n) for n in self.path)] if self.path else []
        if self.spec:
            parts.append(self.spec)
        text = ".".join(parts)
        if self.spec.startswith("HEADER.FIELDS"):
            text += " (" + " ".join(f.upper() for f in self.fields) + ")"
        out = f"BODY[{text}]"
        if self.partial is not None:
            out += f"<{self.partial[0]}>"
        return out


@dataclass
class FetchRequest:
    items: list[str]  # simple item names, upper-case, in request order (UID first when asked)
    sections: list[BodySection]
    implicit_uid: bool = False  # UID FETCH adds UID when the client did not ask

    @property
    def sets_seen(self) -> bool:
        return any(not s.peek for s in self.sections) or any(
            i in ("RFC822", "RFC822.TEXT") for i in self.items
        )

    @property
    def needs_body(self) -> bool:
        return bool(self.sections) or any(
            i not in ("FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE") for i in self.items
        )


def _parse_section(text: str, peek: bool, partial: tuple[int, int | None] | None) -> BodySection:
    fields: list[str] = []
    m = re.match(r"^(.*?)\s+\((.*)\)$", text, re.DOTALL)
    if m:
        text = m.group(1)
        fields = [f.strip('"') for f in m.group(2).split()]
        if not fields:
            raise ParseError("Invalid BODY[..] section")
    comps = text.split(".") if text else []
    path: list[int] = []
    while comps and comps[0].isdigit() and comps[0].isascii():
        if int(comps[0]) == 0 or len(comps[0]) > 9:
            raise ParseError("Invalid BODY[..] section")
        path.append(int(comps.pop(0)))
    spec = ".".join(comps).upper()
    if spec not in _SPECS:
        raise ParseError("Invalid BODY[..] section")
    if spec.startswith("HEADER.FIELDS") != bool(m):
        raise ParseError("Invalid BODY[..] section")
    if spec == "MIME" and not path:
        raise ParseError("Invalid BODY[..] section")
    return BodySection(peek, path, spec, fields, partial)


def _one(item: str, items: list[str], sections: list[BodySection]) -> None:
    upper = item.upper()
    if upper in _SIMPLE:
        if upper not in items:
            items.append(upper)
        return
    m = _BODY_ITEM.match(item)
    if m is None:
        raise ParseError(f"Unknown parameter: {item}")
    partial: tuple[int, int | None] | None = None
    if m.group(3) is not None:
        start = int(m.group(3))
        if m.group(4) is None:
            partial = (start, None)
        else:
            length = int(m.group(4))
            if length == 0:
                raise ParseError("Invalid BODY[..] section")
            partial = (start, length)
    sections.append(_parse_section(m.group(2), m.group(1).upper() == "BODY.PEEK", partial))


def parse_fetch_items(args: list[Value]) -> FetchRequest:
    """The item argument(s) after the sequence set."""
    if len(args) != 1:
        raise ParseError("Invalid arguments")
    items: list[str] = []
    sections: list[BodySection] = []
    arg = args[0]
    if isinstance(arg, Atom):
        macro = _MACROS.get(arg.upper())
        if macro is not None:
            return FetchRequest(list(macro), [])
        _one(arg.text, items, sections)
    elif isinstance(arg, list):
        if not arg:
            raise ParseError("Invalid arguments")
        for v in arg:
            if not isinstance(v, Atom):
                raise ParseError("Invalid arguments")
            _one(v.text, items, sections)
    else:
        raise ParseError("Invalid arguments")
    return FetchRequest(items, sections)


# --- rendering ------------------------------------------------------------------

_SAFE_QUOTED = re.compile(rb"^[\x20-\x7e]*$")


def nstring(value: bytes | str | None) -> bytes:
    if value is None:
        return b"NIL"
    data = value.encode("utf-8") if isinstance(value, str) else value
    if _SAFE_QUOTED.match(data):
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(data) + data


def literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


def internaldate(epoch: float) -> str:
    tm = time.localtime(epoch)
    off = tm.tm_gmtoff or 0
    sign = "+" if off >= 0 else "-"
    off = abs(off)
    return time.strftime("%d-%b-%Y %H:%M:%S", tm) + f" {sign}{off // 3600:02d}{off % 3600 // 60:02d}"


_FLAG_LISTS: dict[tuple[frozenset[str], bool], str] = {}


def flag_list(flags: AbstractSet[str], recent: bool) -> str:
    # A mailbox has few distinct flag combinations: FETCH 1:* FLAGS renders each once.
    key = (flags if isinstance(flags, frozenset) else frozenset(flags), recent)
    text = _FLAG_LISTS.get(key)
    if text is None:
        text = _flag_list(flags, recent)
        if len(_FLAG_LISTS) < 4096:
            _FLAG_LISTS[key] = text
    return text


def _flag_list(flags: AbstractSet[str], recent: bool) -> str:
    order = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]
    out = [f for f in order if f in flags]
    out += sorted(f for f in flags if f not in order and f != "\\Recent")
    if recent:
        out.append("\\Recent")
    return "(" + " ".join(out) + ")"


def _addresses(header: bytes, name: str) -> bytes:
    value = mime.header_value(header, name)
    if value is None:
        return b"NIL"
    text = value.decode("utf-8", "replace")
    pairs = [(n, a) for n, a in getaddresses([text]) if a or n]
    if not pairs:
        return b"NIL"
    out = []
    for display, addr in pairs:
        local, _, domain = addr.partition("@")
        out.append(
            b"("
            + nstring(display or None)
            + b" NIL "
            + nstring(local or None)
            + b" "
            + nstring(domain or None)
            + b")"
        )
    return b"(" + b"".join(out) + b")"


def envelope(header: bytes) -> bytes:
    def field(name: str) -> bytes:
        return nstring(mime.header_value(header, name))

    frm = _addresses(header, "from")
    sender = _addresses(header, "sender")
    reply_to = _addresses(header, "reply-to")
    parts = [
        field("date"),
        field("subject"),
        frm,
        frm if sender == b"NIL" else sender,
        frm if reply_to == b"NIL" else reply_to,
        _addresses(header, "to"),
        _addresses(header, "cc"),
        _addresses(header, "bcc"),
        field("in-reply-to"),
        field("message-id"),
    ]
    return b"(" + b" ".join(parts) + b")"


def _params(params: list[tuple[str, str]]) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(nstring(k) + b" " + nstring(v) for k, v in params) + b")"


def _lines(data: bytes) -> int:
    return data.count(b"\r\n") + (0 if not data or data.endswith(b"\r\n") else 1)


def bodystructure(part: mime.Part, extended: bool) -> bytes:
    if part.children:
        inner = b"".join(bodystructure(c, extended) for c in part.children)
        out = inner + b" " + nstring(part.subtype)
        if extended:
            out += b" " + _params(part.params) + b" NIL NIL NIL"
        return b"(" + out + b")"
    h = part.header
    encoding = (
        (mime.header_value(h, "content-transfer-encoding") or b"7bit").decode("ascii", "replace").lower()
    )
    fields = [
        nstring(part.ctype),
        nstring(part.subtype),
        _params(part.params),
        nstring(mime.header_value(h, "content-id")),
        nstring(mime.header_value(h, "content-description")),
        nstring(encoding),
        str(len(part.body)).encode(),
    ]
    if part.message is not None:
        fields.append(envelope(part.message.header))
        fields.append(bodystructure(part.message, extended))
        fields.append(str(_lines(part.body)).encode())
    elif part.ctype == "text":
        fields.append(str(_lines(part.body)).encode())
    if extended:
        fields += [b"NIL", b"NIL", b"NIL", b"NIL"]
    return b"(" + b" ".join(fields) + b")"


def section_data(data: bytes, sec: BodySection) -> bytes | None:
    part = mime.parse(data)
    if sec.path:
        found = mime.find_part(part, sec.path)
        if found is None:
            return None
        part = found
        if sec.spec == "MIME":
            return part.header
        if sec.spec in ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT"):
            if part.message is None:
                return None
            part = part.message
        else:
            return part.body
    header, body = part.header, part.body
    if sec.spec == "":
        return data
    if sec.spec == "HEADER":
        return header
    if sec.spec == "TEXT":
        return body
    if sec.spec == "HEADER.FIELDS":
        return mime.filter_fields(header, sec.fields, keep=True)
    return mime.filter_fields(header, sec.fields, keep=False)


def section_bytes(data: bytes, sec: BodySection) -> bytes:
    """What the section sends, after `<partial>`; a part that does not exist is empty."""
    chunk = section_data(data, sec)
    if chunk is None:
        chunk = b""
    if sec.partial is not None:
        start, length = sec.partial
        chunk = chunk[start:] if length is None else chunk[start : start + length]
    return chunk


def render_section(data: bytes, sec: BodySection) -> bytes:
    return sec.response_name().encode() + b" " + literal(section_bytes(data, sec))
