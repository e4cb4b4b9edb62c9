"""A small MIME walker over raw message bytes (CRLF line ends, as storage reads them).

Sizes and offsets are exact byte counts of the message as sent, which is what
BODYSTRUCTURE and BODY[section] need; the stdlib email package normalises too
much to give them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEADER_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:")


def split_header(data: bytes) -> tuple[bytes, bytes]:
    """(header including the blank line, body)."""
    if data.startswith(b"\r\n"):
        return b"\r\n", data[2:]
    idx = data.find(b"\r\n\r\n")
    if idx < 0:
        return data, b""
    return data[: idx + 4], data[idx + 4 :]


def header_fields(header: bytes) -> list[tuple[str, bytes]]:
    """[(lower-case name, the whole field's raw bytes incl. continuations and CRLF)]."""
    out: list[tuple[str, bytes]] = []
    lines = header.split(b"\r\n")
    # A message that is all header with no final line end still has its last field.
    for line in lines[:-1] if not lines[-1] else lines:
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and out:
            name, raw = out[-1]
            out[-1] = (name, raw + line + b"\r\n")
            continue
        m = _HEADER_NAME.match(line)
        name = m.group(1).decode("ascii").lower() if m else ""
        out.append((name, line + b"\r\n"))
    return out


def header_value(header: bytes, name: str) -> bytes | None:
    for fname, raw in header_fields(header):
        if fname == name:
            value = raw.split(b":", 1)[1] if b":" in raw else b""
            return re.sub(rb"\r\n(?=[ \t])", b"", value).strip()
    return None


def filter_fields(header: bytes, names: list[str], keep: bool) -> bytes:
    wanted = {n.lower() for n in names}
    picked = [raw for fname, raw in header_fields(header) if (fname in wanted) == keep]
    return b"".join(picked) + b"\r\n"


_PARAM = re.compile(rb';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;]*)')


def parse_content_type(value: bytes | None) -> tuple[str, str, list[tuple[str, str]]]:
    if not value:
        return "text", "plain", [("charset", "us-ascii")]
    main = value.split(b";", 1)[0].strip().decode("ascii", "replace").lower()
    typ, _, sub = main.partition("/")
    params: list[tuple[str, str]] = []
    for m in _PARAM.finditer(value):
        v = m.group(2)
        if v.startswith(b'"') and v.endswith(b'"') and len(v) >= 2:
            v = re.sub(rb"\\(.)", rb"\1", v[1:-1])
        params.append((m.group(1).decode("ascii", "replace").lower(), v.decode("utf-8", "replace")))
    if not typ or not sub:
        return "text", "plain", [("charset", "us-ascii")]
    return typ, sub, params


@dataclass
class Part:
    header: bytes
    body: bytes
    ctype: str
    subtype: str
    params: list[tuple[str, str]]
    children: list[Part] = field(default_factory=list)
    message: Part | None = None  # the enclosed message of a message/rfc822 part


def parse(data: bytes, default_type: tuple[str, str] = ("text", "plain"), depth: int = 0) -> Part:
    header, body = split_header(data)
    ct_value = header_value(header, "content-type")
    if ct_value is None and default_type != ("text", "plain"):
        typ, sub = default_type
        params: list[tuple[str, str]] = []
    else:
        typ, sub, params = parse_content_type(ct_value)
    part = Part(header, body, typ, sub, params)
    if depth > 20:
        return part
    if typ == "multipart":
        boundary = dict(params).get("boundary")
        if boundary:
            child_default = ("message", "rfc822") if sub == "digest" else ("text", "plain")
            for chunk in _split_multipart(body, boundary.encode("utf-8", "replace")):
                part.children.append(parse(chunk, child_default, depth + 1))
    elif typ == "message" and sub == "rfc822":
        part.message = parse(body, depth=depth + 1)
    return part


def _split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
    delim = b"--" + boundary
    pieces: list[bytes] = []
    lines = body.split(b"\r\n")
    current: list[bytes] | None = None
    for line in lines:
        stripped = line.rstrip(b" \t")
        if stripped == delim + b"--":
            if current is not None:
                pieces.append(b"\r\n".join(current))
            return pieces
        if stripped == delim:
            if current is not None:
                pieces.append(b"\r\n".join(current))
            current = []
            continue
        if current is not None:
            current.append(line)
    if current is not None:
        pieces.append(b"\r\n".join(current))
    return pieces


def find_part(root: Part, path: list[int]) -> Part | None:
    """Section numbers (RFC 3501 6.4.5): `1.2` -> path [1, 2]."""
    part = root
    for n in path:
        if part.message is not None and not part.children:
            part = part.message
        if part.children:
            if n < 1 or n > len(part.children):
                return None
            part = part.children[n - 1]
        elif n == 1:
            # a non-multipart message has exactly one part: itself
            continue
        else:
            return None
    return part
