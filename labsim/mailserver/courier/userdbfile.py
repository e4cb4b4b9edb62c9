"""/etc/courier/userdb, the text file `userdb` edits and `makeuserdb` compiles.

Each line is `address<TAB>field=value|field=value|...`; lines starting with
`#` and lines without a tab are ignored. makeuserdb splits each entry: the
`*pw` fields go to userdbshadow.dat (mode 0600), the rest to userdb.dat. The
lab keeps both databases as JSON objects; authlib reads only them, so an
edit is not seen until makeuserdb runs, as on a real server.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from labsim.mailserver.auth.authlib import (
    USERDB,
    USERDB_DAT,
    USERDBSHADOW_DAT,
    is_password_field,
    parse_userdb_fields,
)
from labsim.mailserver.labroot import LabRoot


class UserdbError(Exception):
    pass


def parse_lines(text: str) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    for line in text.splitlines():
        if not line or line.startswith("#") or "\t" not in line:
            continue
        addr, _, fields = line.partition("\t")
        out.append((addr, parse_userdb_fields(fields)))
    return out


def format_entry(addr: str, fields: dict[str, str]) -> str:
    return addr + "\t" + "|".join(f"{k}={v}" for k, v in fields.items())


def _source_files(host: Path) -> list[Path]:
    if not host.is_dir():
        return [host]
    found: list[Path] = []
    pending = [host]
    while pending:
        d = pending.pop(0)
        for child in sorted(d.iterdir()):
            if child.name.startswith("."):
                continue
            (pending if child.is_dir() else found).append(child)
    return found


def _write_atomic(path: Path, data: str, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data.encode("utf-8"))
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def compile_userdb(root: LabRoot, lab_path: str = USERDB) -> tuple[int, int]:
    """makeuserdb: returns (entries, entries with passwords). Raises UserdbError with makeuserdb's words."""
    host = root.path(lab_path)
    try:
        st = host.lstat()
    except OSError:
        raise UserdbError(f"{lab_path}: not found.") from None
    if stat.S_ISLNK(st.st_mode):
        raise UserdbError(f"ERROR: Wrong makeuserdb command.\n       ({lab_path} is a symbolic link)")
    if st.st_mode & 0o077:
        raise UserdbError(f"{lab_path}: MAY NOT HAVE GROUP OR WORLD PERMISSIONS!!")
    users: dict[str, dict[str, str]] = {}
    shadow: dict[str, dict[str, str]] = {}
    for f in _source_files(host):
        try:
            text = f.read_bytes().decode("utf-8", "replace")
        except OSError as exc:
            raise UserdbError(f"{root.lab_path(f)}: {exc.strerror}") from None
        rel = root.lab_path(f)[len(lab_path) :].strip("/")
        location = rel + "/" if rel else ""
        for addr, fields in parse_lines(text):
            plain = {k: v for k, v in fields.items() if not is_password_field(k)}
            pws = {k: v for k, v in fields.items() if is_password_field(k)}
            plain["_"] = location
            users[addr] = plain
            if pws:
                shadow[addr] = pws
            else:
                shadow.pop(addr, None)
    _write_atomic(root.path(USERDB_DAT), json.dumps(users, indent=1, sort_keys=True) + "\n", 0o644)
    _write_atomic(root.path(USERDBSHADOW_DAT), json.dumps(shadow, indent=1, sort_keys=True) + "\n", 0o600)
    return len(users), len(shadow)


def read_file(root: LabRoot, lab_path: str) -> list[str]:
    host = root.path(lab_path)
    if host.is_dir():
        raise UserdbError(f"{lab_path} is a directory; name a file in it with -f")
    try:
        return host.read_bytes().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UserdbError(f"{lab_path}: {exc.strerror}") from None


def write_file(root: LabRoot, lab_path: str, lines: list[str]) -> None:
    host = root.path(lab_path)
    host.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(host, "".join(line + "\n" for line in lines), 0o600)


def update(root: LabRoot, lab_path: str, addr: str, set_fields: dict[str, str], unset: list[str],
           delete: bool) -> None:  # fmt: skip
    """What `userdb name set/unset/del` does to the text file."""
    lines = read_file(root, lab_path)
    out: list[str] = []
    found = False
    for line in lines:
        name, tab, rest = line.partition("\t")
        if tab and name == addr and not line.startswith("#"):
            if found:
                continue
            found = True
            if delete:
                continue
            fields = parse_userdb_fields(rest)
            fields.update(set_fields)
            for k in unset:
                fields.pop(k, None)
            out.append(format_entry(addr, fields))
        else:
            out.append(line)
    if not found:
        if delete or (unset and not set_fields):
            raise UserdbError(f"{addr} not found in {lab_path}")
        out.append(format_entry(addr, dict(set_fields)))
    write_file(root, lab_path, out)
