"""/etc/passwd, /etc/shadow and /etc/group under the lab root.

Lines that do not parse are skipped, as glibc's files backend skips them;
the first entry for a name wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from labsim.mailserver.labroot import LabRoot


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    passwd: str
    uid: int
    gid: int
    gecos: str
    home: str
    shell: str


@dataclass(frozen=True)
class ShadowEntry:
    name: str
    hash: str
    lastchg: int | None  # days since 1970-01-01; 0 forces a change
    min: int | None
    max: int | None
    warn: int | None
    inactive: int | None
    expire: int | None


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def _lines(root: LabRoot, lab_path: str) -> list[str]:
    try:
        data = root.path(lab_path).read_bytes()
    except OSError:
        return []
    text = data.decode("utf-8", "replace")
    return [ln for ln in text.splitlines() if ln and not ln.startswith(("#", "+", "-"))]


def _opt_int(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _id(text: str) -> int | None:
    if not text.isdigit():
        return None
    value = int(text)
    return value if value < 2**32 else None


def read_passwd(root: LabRoot) -> list[PasswdEntry]:
    out: list[PasswdEntry] = []
    for line in _lines(root, "/etc/passwd"):
        f = line.split(":")
        if len(f) != 7 or not f[0]:
            continue
        uid, gid = _id(f[2]), _id(f[3])
        if uid is None or gid is None:
            continue
        out.append(PasswdEntry(f[0], f[1], uid, gid, f[4], f[5], f[6]))
    return out


def read_shadow(root: LabRoot) -> list[ShadowEntry]:
    out: list[ShadowEntry] = []
    for line in _lines(root, "/etc/shadow"):
        f = line.split(":")
        if len(f) < 2 or not f[0]:
            continue
        f += [""] * (9 - len(f))
        nums = [_opt_int(x) for x in f[2:8]]
        out.append(ShadowEntry(f[0], f[1], *nums))
    return out


def read_group(root: LabRoot) -> list[GroupEntry]:
    out: list[GroupEntry] = []
    for line in _lines(root, "/etc/group"):
        f = line.split(":")
        if len(f) != 4 or not f[0]:
            continue
        gid = _id(f[2])
        if gid is None:
            continue
        out.append(GroupEntry(f[0], gid, tuple(m for m in f[3].split(",") if m)))
    return out


def getpwnam(root: LabRoot, name: str) -> PasswdEntry | None:
    return next((e for e in read_passwd(root) if e.name == name), None)


def getpwuid(root: LabRoot, uid: int) -> PasswdEntry | None:
    return next((e for e in read_passwd(root) if e.uid == uid), None)


def getspnam(root: LabRoot, name: str) -> ShadowEntry | None:
    return next((e for e in read_shadow(root) if e.name == name), None)


def getgrnam(root: LabRoot, name: str) -> GroupEntry | None:
    return next((e for e in read_group(root) if e.name == name), None)


def getgrgid(root: LabRoot, gid: int) -> GroupEntry | None:
    return next((e for e in read_group(root) if e.gid == gid), None)


def user_groups(root: LabRoot, name: str) -> list[GroupEntry]:
    """Groups listing the user as a member, plus the primary group."""
    pw = getpwnam(root, name)
    return [g for g in read_group(root) if name in g.members or (pw is not None and g.gid == pw.gid)]


def resolve_uid(root: LabRoot, value: str) -> int | None:
    """A userdb uid: a number, or a user name looked up in /etc/passwd."""
    if value.isdigit():
        return int(value)
    pw = getpwnam(root, value)
    return pw.uid if pw is not None else None


def resolve_gid(root: LabRoot, value: str) -> int | None:
    if value.isdigit():
        return int(value)
    gr = getgrnam(root, value)
    return gr.gid if gr is not None else None
