"""Courier's system aliases: /etc/courier/aliases (a file, or every non-hidden file in the
directory), compiled by makealiases into /etc/courier/aliases.dat.

Source syntax, as the stock aliases/system uses it:

    # comment
    root: postmaster
    staff: alice, bob,
           carol                  (a line starting with white space continues the previous one)
    list: :include:/etc/courier/aliases/list.txt
    postmaster:                   (no addresses: mail to it is thrown away)

Two definitions of one alias merge. Local names are qualified with the
host name from /etc/courier/me; aliases pointing to other aliases are
resolved when compiling, so aliases.dat holds final addresses only. The
delivery side reads aliases.dat alone: an edit does nothing until
makealiases runs. The lab's aliases.dat is JSON (the real one is a gdbm
file); its layout is ours.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field

from labsim.mailserver.labroot import LabRoot

ALIASES = "/etc/courier/aliases"
ALIASES_DAT = "/etc/courier/aliases.dat"
ME = "/etc/courier/me"
MAX_DEPTH = 32
DAT_VERSION = 1


class AliasError(Exception):
    """A source line makealiases refuses, with file:line."""


@dataclass
class AliasSource:
    """Parsed source: alias -> addresses as written, in order, plus where each alias was defined."""

    aliases: dict[str, list[str]] = field(default_factory=dict)
    where: dict[str, tuple[str, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def hostname(root: LabRoot) -> str:
    """Courier's `me`: /etc/courier/me, else the lab's /etc/hostname, else this host's name."""
    for lab_path in (ME, "/etc/hostname"):
        try:
            text = root.path(lab_path).read_text("utf-8", "replace").strip()
        except OSError:
            continue
        first = text.split()[0] if text.split() else ""
        if first:
            return first.lower()
    return (socket.gethostname() or "localhost").lower()


def _split_addresses(text: str) -> list[str]:
    return [a.strip() for a in text.replace("\t", " ").split(",") if a.strip()]


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) with continuation lines folded in and comments dropped."""
    out: list[tuple[int, str]] = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t" and out:
            start, prev = out[-1]
            sep = "" if prev.rstrip().endswith((",", ":")) else ","
            out[-1] = (start, prev + sep + " " + line.strip())
            continue
        out.append((no, line))
    return out


def parse_text(text: str, lab_path: str, src: AliasSource, root: LabRoot | None = None) -> None:
    for no, line in _logical_lines(text):
        name, colon, rest = line.partition(":")
        name = name.strip()
        if not colon or not name or any(c.isspace() for c in name):
            src.errors.append(f"{lab_path}:{no}: Syntax error: missing ':' after the alias name")
            continue
        addresses: list[str] = []
        for item in _split_addresses(rest):
            if item.lower().startswith(":include:"):
                inc = item[len(":include:") :].strip()
                addresses.extend(_include(inc, lab_path, no, src, root))
            else:
                addresses.append(item)
        key = name.lower()
        merged = src.aliases.setdefault(key, [])
        for a in addresses:
            if a not in merged:
                merged.append(a)
        src.where.setdefault(key, (lab_path, no))


def _include(path: str, lab_path: str, no: int, src: AliasSource, root: LabRoot | None) -> list[str]:
    if root is None or not path.startswith("/"):
        src.errors.append(f"{lab_path}:{no}: :include: needs an absolute path: {path}")
        return []
    try:
        text = root.path(path).read_text("utf-8", "replace")
    except OSError as exc:
        src.errors.append(f"{lab_path}:{no}: {path}: {exc.strerror}")
        return []
    out: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        out.extend(_split_addresses(line))
    return out


def read_sources(root: LabRoot, lab_path: str = ALIASES) -> AliasSource:
    """Every non-hidden file under aliases/ (sorted), or the file itself."""
    src = AliasSource()
    host = root.path(lab_path)
    files: list[str] = []
    if host.is_dir():
        for dirpath, dirnames, filenames in os.walk(host):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in sorted(filenames):
                if not f.startswith(".") and not f.endswith("~"):
                    files.append(root.lab_path(os.path.join(dirpath, f)))
    elif host.exists():
        files.append(lab_path)
    else:
        src.errors.append(f"{lab_path}: No such file or directory")
    for f in files:
        try:
            text = root.path(f).read_bytes().decode("utf-8", "replace")
        except OSError as exc:
            src.errors.append(f"{f}: {exc.strerror}")
            continue
        parse_text(text, f, src, root)
    return src


def qualify(address: str, host: str) -> str:
    if address.startswith(("|", "/")):
        return address
    local, at, domain = address.partition("@")
    return f"{local.lower()}@{domain.lower()}" if at else f"{local.lower()}@{host}"


def resolve(src: AliasSource, host: str) -> tuple[dict[str, list[str]], list[str]]:
    """Alias -> final addresses (fully qualified); plus the loop errors found."""
    errors: list[str] = []
    local_names = set(src.aliases)

    def expand(name: str, seen: tuple[str, ...]) -> list[str]:
        if len(seen) > MAX_DEPTH or name in seen:
            errors.append(f"alias loop: {' -> '.join((*seen, name))}")
            return []
        out: list[str] = []
        for a in src.aliases.get(name, []):
            q = qualify(a, host)
            local, _, domain = q.partition("@")
            if domain == host and local in local_names and local != name:
                sub = expand(local, (*seen, name))
            else:
                sub = [q]
            for s in sub:
                if s not in out:
                    out.append(s)
        return out

    return {name: expand(name, ()) for name in src.aliases}, errors


@dataclass
class AliasDb:
    host: str
    aliases: dict[str, list[str]]  # local alias name -> final addresses; [] throws mail away

    def lookup(self, local: str) -> list[str] | None:
        return self.aliases.get(local.lower())


def compile_aliases(
    root: LabRoot, source: str = ALIASES, target: str = ALIASES_DAT
) -> tuple[AliasDb, list[str]]:
    """makealiases: parse, resolve and write aliases.dat; returns the db and the problems found."""
    src = read_sources(root, source)
    host = hostname(root)
    resolved, loops = resolve(src, host)
    db = AliasDb(host, resolved)
    out = root.path(target)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(
        json.dumps({"version": DAT_VERSION, "host": host, "aliases": resolved}, indent=1, sort_keys=True)
        + "\n",
        "utf-8",
    )
    os.replace(tmp, out)
    return db, src.errors + loops


def load_dat(root: LabRoot, lab_path: str = ALIASES_DAT) -> AliasDb | None:
    """The compiled aliases; None when makealiases never ran (or the file is damaged)."""
    try:
        data = json.loads(root.path(lab_path).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("aliases"), dict):
        return None
    aliases = {str(k): [str(a) for a in v] for k, v in data["aliases"].items() if isinstance(v, list)}
    return AliasDb(str(data.get("host") or hostname(root)), aliases)


def dump_lines(db: AliasDb) -> list[str]:
    """`makealiases -dump`: one `alias@host: address` line per final address."""
    lines: list[str] = []
    for name in sorted(db.aliases):
        for a in db.aliases[name]:
            lines.append(f"{name}@{db.host}: {a}")
    return lines
