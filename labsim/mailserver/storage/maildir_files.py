"""Maildir file names, flag letters and Dovecot's `dovecot-uidlist` (v3)."""

from __future__ import annotations

import functools
import itertools
import os
import re
import socket
import time
from dataclasses import dataclass, field

UIDLIST = "dovecot-uidlist"
KEYWORDS = "dovecot-keywords"
# Dovecot keeps the first UID no session has seen in its index; we keep it here.
RECENT_STATE = "dovecot-labsim-recent"
SYSTEM_LETTERS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}
FLAG_LETTER = {v: k for k, v in SYSTEM_LETTERS.items()}
SUBDIRS = ("cur", "new", "tmp")
TMP_MAX_AGE_SECS = 36 * 3600
_SIZE_FIELD = re.compile(r",([SW])=(\d+)")

_last_uidvalidity = 0


def new_uidvalidity() -> int:
    """Time-based like Dovecot's, but never the same twice within one process."""
    global _last_uidvalidity
    _last_uidvalidity = max(int(time.time()), _last_uidvalidity + 1)
    return _last_uidvalidity


_unique_counter = itertools.count(1)


def unique_name() -> str:
    """A new Maildir base name: `<secs>.M<usecs>P<pid>Q<n>.<host>`, as Dovecot makes them."""
    n = next(_unique_counter)
    now = time.time()
    host = socket.gethostname().split(".")[0].replace("/", "\\057").replace(":", "\\072") or "localhost"
    return f"{int(now)}.M{int((now % 1) * 1_000_000)}P{os.getpid()}Q{n}.{host}"


def split_filename(fname: str) -> tuple[str, str]:
    """`1700.M1P2.host,S=12:2,RS` -> (`1700.M1P2.host,S=12`, `RS`)."""
    base, sep, info = fname.partition(":")
    if sep and info.startswith("2,"):
        return base, info[2:]
    return base, ""


def size_fields(base: str) -> dict[str, int]:
    return dict(_size_fields(base))


@functools.lru_cache(maxsize=1 << 16)
def _size_fields(base: str) -> tuple[tuple[str, int], ...]:
    return tuple((m.group(1), int(m.group(2))) for m in _SIZE_FIELD.finditer(base))


def size_field(base: str, key: str) -> int | None:
    """size_fields(base).get(key): a scan asks it for every file."""
    if f",{key}=" not in base:
        return None  # a substring test settles most names without the regex
    return _size_field(base, key)


@functools.lru_cache(maxsize=1 << 16)
def _size_field(base: str, key: str) -> int | None:
    found = None
    for k, v in _size_fields(base):
        if k == key:
            found = v
    return found


@dataclass(slots=True)
class UidRecord:
    uid: int
    ext: dict[str, str] = field(default_factory=dict)


# A v3 record line of the usual shape: `<uid>[ <key><value>...] :<base name>`, the
# extension fields printable ASCII without ':' (so the first " :" ends them).
_V3_RECORD_RE = re.compile(rb"(?m)^(\d{1,10})((?: [!-9;-~]+)*) :([^\n]*)\n")


def _parse_v3_records(data: bytes, records: dict[str, UidRecord]) -> bool:
    """Fill `records` from the lines after the header in one regex pass, when every
    line has the usual shape (what we and Dovecot write); False leaves the general,
    line-by-line parser to it."""
    start = data.find(b"\n") + 1
    if start <= 0 or not data.endswith(b"\n"):
        return False
    found = _V3_RECORD_RE.findall(data, start)
    # Each match is one whole line, so as many matches as lines means all matched.
    if len(found) != data.count(b"\n", start):
        return False
    try:
        data[start:].decode("utf-8")  # else the general parser's replacement characters
    except UnicodeDecodeError:
        return False
    for uid, exts, base in found:
        if not exts:
            ext = {}
        elif exts.count(b" ") == 1:
            token = exts[1:].decode()
            ext = {token[0]: token[1:]}
        else:
            ext = {f[0]: f[1:] for f in exts.decode().split()}
        records[base.decode("utf-8")] = UidRecord(int(uid), ext)
    return True


@dataclass
class Uidlist:
    uidvalidity: int = 0
    nextuid: int = 1
    guid: str = ""
    records: dict[str, UidRecord] = field(default_factory=dict)  # base name -> record

    @classmethod
    def parse(cls, data: bytes) -> Uidlist | None:
        """None when the file is unusable (then UIDVALIDITY starts over, as in Dovecot)."""
        lines = data.decode("utf-8", "replace").split("\n")
        header = lines[0].split()
        ul = cls()
        try:
            if header and header[0] == "3":
                for tok in header[1:]:
                    if tok[:1] == "V":
                        ul.uidvalidity = int(tok[1:])
                    elif tok[:1] == "N":
                        ul.nextuid = int(tok[1:])
                    elif tok[:1] == "G":
                        ul.guid = tok[1:]
                if _parse_v3_records(data, ul.records):
                    lines = []  # every record line had the usual shape: done
                for line in lines[1:]:
                    if not line.strip():
                        continue
                    head, sep, base = line.partition(" :")
                    if not sep:
                        continue
                    fields = head.split()
                    uid = int(fields[0])
                    ext = {f[0]: f[1:] for f in fields[1:] if f}
                    ul.records[base] = UidRecord(uid, ext)
            elif header and header[0] in ("1", "2") and len(header) >= 3:
                ul.uidvalidity = int(header[1])
                ul.nextuid = int(header[2])
                for line in lines[1:]:
                    fields = line.split()
                    if len(fields) >= 2:
                        ul.records[fields[-1]] = UidRecord(int(fields[0]))
            else:
                return None
        except (ValueError, IndexError):
            return None
        if ul.uidvalidity <= 0:
            return None
        for rec in ul.records.values():
            if rec.uid >= ul.nextuid:
                ul.nextuid = rec.uid + 1
        return ul

    def serialize(self) -> bytes:
        out = [f"3 V{self.uidvalidity} N{self.nextuid} G{self.guid}\n"]
        for base, rec in sorted(self.records.items(), key=lambda kv: kv[1].uid):
            exts = "".join(f" {k}{v}" for k, v in rec.ext.items())
            out.append(f"{rec.uid}{exts} :{base}\n")
        return "".join(out).encode("utf-8")
