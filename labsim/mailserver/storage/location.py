"""mail_location: parse, expand (%u %n %d %h ~), autodetect when empty."""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field

from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.storage.base import MailStorage, StorageError

DRIVERS = ("maildir", "mbox")
OTHER_DRIVERS = ("mdbox", "sdbox", "dbox", "imapc", "pop3c", "cydir", "raw", "shared", "virtual")


@dataclass
class MailLocation:
    """A parsed and expanded mail_location; every path is a lab path."""

    driver: str  # "maildir" or "mbox"
    root: str
    inbox: str = ""  # mbox INBOX file (INBOX=); for maildir an INBOX= directory if given
    layout: str = ""  # "" (the driver's default), "fs", "maildir++"
    index: str = ""
    control: str = ""
    options: dict[str, str] = field(default_factory=dict)
    autodetected: bool = False


_LONG_VARS = {
    "user": "u",
    "username": "n",
    "domain": "d",
    "home": "h",
}


def expand_vars(text: str, user: UserInfo) -> str:
    """Dovecot's %-variables: %u %n %d %h %% and %{user} %{username} %{domain} %{home},
    with the L/U (lower/upper case) modifiers."""
    local, _, domain = user.user.partition("@")
    values = {"u": user.user, "n": local, "d": domain, "h": user.home}
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "%" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        j = i + 1
        modifier = ""
        while j < n and text[j] in "LU":
            modifier = text[j]
            j += 1
        if j >= n:
            out.append(text[i:])
            break
        key = text[j]
        if key == "%":
            out.append("%")
            i = j + 1
            continue
        if key == "{":
            close = text.find("}", j)
            long_name = text[j + 1 : close] if close > 0 else ""
            short = _LONG_VARS.get(long_name)
            if short is None:
                out.append(text[i : (close + 1 if close > 0 else n)])
                i = close + 1 if close > 0 else n
                continue
            value = values[short]
            i = close + 1
        elif key in values:
            value = values[key]
            i = j + 1
        else:
            out.append(text[i : j + 1])
            i = j + 1
            continue
        if modifier == "L":
            value = value.lower()
        elif modifier == "U":
            value = value.upper()
        out.append(value)
    return "".join(out)


def _split_colons(text: str) -> list[str]:
    """Split on `:`, where `::` stands for a literal colon in a path."""
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == ":":
            if text[i + 1 : i + 2] == ":":
                cur.append(":")
                i += 2
                continue
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(text[i])
        i += 1
    parts.append("".join(cur))
    return parts


def _home_path(path: str, user: UserInfo, what: str) -> str:
    if path == "~" or path.startswith("~/"):
        if not user.home:
            raise StorageError(f"Home directory not set for user. Can't expand ~/ for {what}")
        return user.home.rstrip("/") + path[1:] if path != "~" else user.home
    return path


def parse_location(text: str, user: UserInfo) -> MailLocation:
    """Parse a non-empty mail_location (or userdb `mail`) for this user."""
    expanded = expand_vars(text.strip(), user)
    driver = ""
    match = re.match(r"^([A-Za-z0-9_-]+):", expanded)
    rest = expanded
    if match and not expanded.startswith(("/", "~")):
        driver = match.group(1).lower()
        rest = expanded[match.end() :]
        if driver in OTHER_DRIVERS:
            raise StorageError(
                f"Mail storage driver {driver} is not available in this lab (use maildir or mbox)"
            )
        if driver not in DRIVERS:
            raise StorageError(f"Unknown mail storage driver {driver}")
    parts = _split_colons(rest)
    path = parts[0]
    loc = MailLocation(driver=driver, root="")
    for opt in parts[1:]:
        if opt == "":
            continue
        key, eq, value = opt.partition("=")
        ukey = key.upper()
        if not eq:
            loc.options[ukey] = ""
            continue
        if ukey == "INBOX":
            loc.inbox = _home_path(value, user, "INBOX path")
        elif ukey == "LAYOUT":
            layout = value.lower()
            if layout not in ("fs", "maildir++", "index"):
                raise StorageError(f"Unknown mailbox list layout: {value}")
            loc.layout = layout
        elif ukey == "INDEX":
            loc.index = _home_path(value, user, "index dir") if value != "MEMORY" else value
        elif ukey == "CONTROL":
            loc.control = _home_path(value, user, "control dir")
        else:
            loc.options[ukey] = value
    loc.root = _home_path(path, user, "mail root dir")
    if loc.root and not loc.root.startswith("/"):
        raise StorageError(f"Relative mail root paths are not supported: {loc.root}")
    if not loc.driver:
        loc.driver = "mbox" if loc.inbox else "maildir"
    return loc


def _kind(root: LabRoot, lab_path: str) -> str:
    """ "dir", "file" or "" for a lab path."""
    try:
        st = root.path(lab_path).stat()
    except OSError:
        return ""
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    return "file" if stat.S_ISREG(st.st_mode) else ""


def _probe(root: LabRoot, lab_path: str, want: str, notes: list[str], what: str) -> bool:
    """stat() a lab path for autodetection, noting the result as Dovecot's mail_debug does."""
    try:
        st = root.path(lab_path).stat()
    except OSError as exc:
        notes.append(f"{what}: stat({lab_path}) failed: {exc.strerror}")
        return False
    ok = stat.S_ISDIR(st.st_mode) if want == "dir" else stat.S_ISREG(st.st_mode)
    notes.append(f"{what}: yes ({lab_path})" if ok else f"{what}: {lab_path} is not a {want}")
    return ok


def autodetect(root: LabRoot, user: UserInfo, notes: list[str] | None = None) -> MailLocation:
    """What Dovecot 2.3 does when mail_location is empty (checked against 2.3.19):
    ~/Maildir with a cur/ inside is Maildir; otherwise the first of ~/mail and
    ~/Mail holding `.imap/`, `inbox` or `mbox` is an mbox root, whose INBOX is
    /var/mail/%u or /var/spool/mail/%u when that exists, else `<root>/inbox`.
    `notes` collects mail_debug lines."""
    notes = notes if notes is not None else []
    home = user.home.rstrip("/") if user.home else ""
    if home:
        if _probe(root, f"{home}/Maildir/cur", "dir", notes, "maildir autodetect"):
            return MailLocation("maildir", f"{home}/Maildir", autodetected=True)
        notes.append("maildir: couldn't find root dir")
        for cand in (f"{home}/mail", f"{home}/Mail"):
            if (
                _probe(root, f"{cand}/.imap", "dir", notes, "mbox autodetect: has .imap/")
                or _probe(root, f"{cand}/inbox", "file", notes, "mbox autodetect: has inbox")
                or _probe(root, f"{cand}/mbox", "file", notes, "mbox autodetect: has mbox")
            ):
                inbox = f"{cand}/inbox"
                for spool in (f"/var/mail/{user.user}", f"/var/spool/mail/{user.user}"):
                    if _kind(root, spool) == "file":
                        notes.append(f"mbox: INBOX exists ({spool})")
                        inbox = spool
                        break
                return MailLocation("mbox", cand, inbox=inbox, autodetected=True)
        notes.append("mbox: couldn't find root dir")
    raise StorageError(
        "mail_location not set and autodetection failed: "
        f"Mail storage autodetection failed with home={user.home or '(not set)'}"
    )


def resolve_location(
    root: LabRoot, location: str, user: UserInfo, notes: list[str] | None = None
) -> MailLocation:
    if location.strip() == "":
        return autodetect(root, user, notes)
    return parse_location(location, user)


def open_storage(
    root: LabRoot,
    location: str,
    user: UserInfo,
    log: DovecotLog,
    settings: DovecotSettings,
    log_prefix: str = "",
) -> MailStorage:
    """The user's storage; `location` is userinfo.mail or settings.mail_location.

    Raises StorageError with the line Dovecot would log; the caller logs it
    (Dovecot logs the autodetection failure at Fatal level and ends the session).
    """
    notes: list[str] = []
    prefix = log_prefix or f"imap({user.user})"
    try:
        loc = resolve_location(root, location, user, notes)
    finally:
        if settings.mail_debug:
            for note in notes:
                log.debug(prefix, note)
    if settings.mail_debug:
        how = "autodetected" if loc.autodetected else "configured"
        log.debug(
            prefix,
            f"Namespace inbox: type=private, prefix=, sep=, inbox=yes, hidden=no, list=yes, "
            f"subscriptions=yes location={loc.driver}:{loc.root}"
            + (f":INBOX={loc.inbox}" if loc.inbox else "")
            + f" ({how})",
        )
    if loc.driver == "maildir":
        from labsim.mailserver.storage.maildir import MaildirStorage

        return MaildirStorage(root, loc, user, log=log, log_prefix=prefix)
    from labsim.mailserver.storage.mbox import MboxStorage

    return MboxStorage(
        root, loc, user, log=log, log_prefix=prefix, min_index_size=settings.mbox_min_index_size
    )
