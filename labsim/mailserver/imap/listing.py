"""LIST and LSUB: RFC 3501 plus LIST-EXTENDED (RFC 5258), SPECIAL-USE (RFC 6154),
CHILDREN (RFC 3348) and LIST-STATUS (RFC 5819), with Dovecot 2.3's flag rules.

A LIST without selection options, RETURN options or a pattern list is the plain
RFC 3501 form: Dovecot then shows children and special-use flags unasked and a
parent that exists only through its children as `\\Noselect`. Any extended form
shows only what was asked for, and such a parent as `\\NonExistent`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from labsim.mailserver.imap import responses as R
from labsim.mailserver.imap.args import inbox_match, list_pattern
from labsim.mailserver.imap.parser import Atom, ParseError, Value, astring
from labsim.mailserver.storage.base import MailboxInfo
from labsim.mailserver.storage.names import encode_mutf7

SELECT_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"})
STATUS_ITEMS = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN")


@dataclass
class ListRequest:
    ref: str
    patterns: list[str]
    extended: bool = False
    select: set[str] = field(default_factory=set)
    returns: set[str] = field(default_factory=set)
    status_items: list[str] = field(default_factory=list)

    @property
    def children(self) -> bool:
        return not self.extended or "CHILDREN" in self.returns

    @property
    def special_use(self) -> bool:
        return not self.extended or "SPECIAL-USE" in self.returns or "SPECIAL-USE" in self.select

    @property
    def subscribed(self) -> bool:
        return "SUBSCRIBED" in self.select or "SUBSCRIBED" in self.returns


def _atoms(values: list[Value], what: str) -> list[str]:
    out = []
    for v in values:
        if not isinstance(v, Atom):
            raise ParseError(f"{what} contains non-atoms")
        out.append(v.upper())
    return out


def parse_list(args: list[Value]) -> ListRequest:
    """LIST's arguments; ParseError carries Dovecot's wording."""
    rest = list(args)
    select: set[str] = set()
    extended = False
    first = rest[0] if rest else None
    if isinstance(first, list):
        rest.pop(0)
        extended = True
        select = set(_atoms(first, "List options"))
        if select - SELECT_OPTIONS:
            raise ParseError("Unknown select options")
        if "RECURSIVEMATCH" in select and select <= {"RECURSIVEMATCH", "REMOTE"}:
            raise ParseError("RECURSIVEMATCH must not be the only selection")
    if len(rest) < 2:
        raise ParseError("Invalid arguments")
    ref = astring(rest[0])
    if isinstance(rest[1], list):
        extended = True
        if not rest[1]:
            raise ParseError("Invalid arguments")
        patterns = [astring(p) for p in rest[1]]
    else:
        patterns = [astring(rest[1])]
    rest = rest[2:]
    returns: set[str] = set()
    status_items: list[str] = []
    if rest:
        if len(rest) != 2 or not isinstance(rest[0], Atom) or rest[0].upper() != "RETURN":
            raise ParseError("Extra arguments")
        if not isinstance(rest[1], list):
            raise ParseError("Invalid arguments")
        extended = True
        opts = rest[1]
        i = 0
        while i < len(opts):
            opt = opts[i]
            if not isinstance(opt, Atom):
                raise ParseError("Return options contains non-atoms")
            name = opt.upper()
            if name not in RETURN_OPTIONS:
                raise ParseError("Unknown return options")
            if name == "STATUS":
                i += 1
                if i >= len(opts) or not isinstance(opts[i], list):
                    raise ParseError("STATUS return option has no list")
                raw = opts[i]
                assert isinstance(raw, list)
                status_items = _atoms(raw, "STATUS list")
                for item in status_items:
                    if item not in STATUS_ITEMS:
                        raise ParseError(f"Invalid status item {item}")
            returns.add(name)
            i += 1
    return ListRequest(ref, patterns, extended, select, returns, status_items)


def _matcher(req: ListRequest, sep: str) -> tuple[list[re.Pattern[str]], list[str]]:
    full = [req.ref + p for p in req.patterns]
    return [list_pattern(p, sep) for p in full], full


def _matches(name: str, rxs: list[re.Pattern[str]], full: list[str]) -> bool:
    if name.upper() == "INBOX":
        return any(inbox_match(p) for p in full)
    encoded = encode_mutf7(name)
    return any(rx.match(encoded) for rx in rxs)


@dataclass
class ListEntry:
    name: str
    flags: list[str]
    selectable: bool
    childinfo: bool = False  # RECURSIVEMATCH: a child (not the mailbox) is subscribed

    def line(self, sep: str, verb: str = "LIST") -> str:
        extra = ' (CHILDINFO ("SUBSCRIBED"))' if self.childinfo else ""
        return f'* {verb} ({" ".join(self.flags)}) "{sep}" {R.mailbox_out(self.name)}{extra}'


def _flags(
    info: MailboxInfo | None,
    req: ListRequest,
    special: list[str],
    subscribed: bool,
    has_children: bool,
) -> list[str]:
    """Dovecot's order: \\Subscribed, \\Noselect/\\NonExistent, \\NoInferiors,
    children, special-use."""
    if not req.extended and info is not None:
        return [*info.flags, *(special if info.exists else [])]
    flags: list[str] = []
    if subscribed and req.subscribed:
        flags.append("\\Subscribed")
    if info is None or not info.exists:
        flags.append("\\NonExistent" if req.extended else "\\Noselect")
    elif not info.selectable:
        flags.append("\\Noselect")
    if info is not None and "\\NoInferiors" in info.flags:
        flags.append("\\NoInferiors")
    if req.children and (info is None or "\\NoInferiors" not in info.flags):
        flags.append("\\HasChildren" if has_children else "\\HasNoChildren")
    if req.special_use and info is not None and info.exists:
        flags += special
    return flags


def list_entries(
    req: ListRequest,
    mailboxes: list[MailboxInfo],
    subscribed: list[str],
    special_use: dict[str, list[str]],
    sep: str,
) -> list[ListEntry]:
    """What LIST answers, in order, for the mailboxes the storage has."""
    rxs, full = _matcher(req, sep)
    by_name = {("INBOX" if m.name.upper() == "INBOX" else m.name): m for m in mailboxes}
    subs = {("INBOX" if n.upper() == "INBOX" else n) for n in subscribed}
    names = set(by_name)

    def children_of(name: str, pool: set[str]) -> bool:
        prefix = name + sep
        return any(n.startswith(prefix) for n in pool)

    def special(name: str) -> list[str]:
        return special_use.get(name, [])

    out: list[ListEntry] = []
    if "SUBSCRIBED" in req.select:
        candidates = set(subs)
        if "RECURSIVEMATCH" in req.select:
            # Parents of subscribed mailboxes match too, flagged with CHILDINFO.
            for n in subs:
                parts = n.split(sep)
                candidates.update(sep.join(parts[:i]) for i in range(1, len(parts)))
        for name in sorted(candidates, key=_order):
            if not _matches(name, rxs, full):
                continue
            info = by_name.get(name)
            if "SPECIAL-USE" in req.select and not (info and info.exists and special(name)):
                continue
            child_sub = "RECURSIVEMATCH" in req.select and children_of(name, subs)
            if name not in subs and not child_sub:
                continue
            entry_flags = _flags(info, req, special(name), name in subs, children_of(name, names))
            out.append(ListEntry(name, entry_flags, bool(info and info.selectable), childinfo=child_sub))
        return out
    for name in sorted(names, key=_order):
        info = by_name[name]
        if not _matches(name, rxs, full):
            continue
        if "SPECIAL-USE" in req.select and not (info.exists and special(name)):
            continue
        entry_flags = _flags(info, req, special(name), name in subs, children_of(name, names))
        out.append(ListEntry(name, entry_flags, info.selectable and info.exists))
    return out


def _order(name: str) -> tuple[bool, str]:
    # Dovecot lists the folders first and INBOX last.
    return (name.upper() == "INBOX", encode_mutf7(name))


def lsub_entries(
    ref: str,
    pattern: str,
    subscribed: list[str],
    existing: list[MailboxInfo],
    special_use: dict[str, list[str]],
    sep: str,
) -> list[ListEntry]:
    """LSUB: subscribed names matching the pattern; a parent matched by `%` only
    through a subscribed child comes out `\\Noselect` (RFC 3501 6.3.9)."""
    req = ListRequest(ref, [pattern])
    rxs, full = _matcher(req, sep)
    live = {m.name for m in existing if m.exists and m.selectable}
    out: list[ListEntry] = []
    shown: set[str] = set()
    for name in subscribed:
        if _matches(name, rxs, full) and name not in shown:
            shown.add(name)
            flags = list(special_use.get(name, [])) if name in live else []
            out.append(ListEntry(name, flags, True))
            continue
        parts = name.split(sep)
        for i in range(len(parts) - 1, 0, -1):
            parent = sep.join(parts[:i])
            if parent not in shown and parent not in subscribed and _matches(parent, rxs, full):
                shown.add(parent)
                out.append(ListEntry(parent, ["\\Noselect"], False))
                break
    return out


__all__ = ["ListEntry", "ListRequest", "list_entries", "lsub_entries", "parse_list"]
