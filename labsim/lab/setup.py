"""Setup primitives: what a scenario's setup writes into a lab.

They talk to the lab through `LabFS`, a tiny filesystem that both backends
implement (host files under `<lab dir>/root`, or a tar stream into a
container), so a scenario sets up the same machine on either.
"""

from __future__ import annotations

import datetime
import random
import time
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import PurePosixPath
from typing import Protocol

from labsim.lab.model import FileSpec, GroupSpec, LabError, LabSpec, MailboxSpec, MessageSpec, UserSpec
from labsim.lab.sha512crypt import sha512_crypt

HOSTNAME = "mail"
DOMAIN = "lab.example"
FIRST_UID = 1000
MAIL_GID = 8


class LabFS(Protocol):
    """The few file operations setup needs; ownership is numeric (it is only real in Docker)."""

    def read(self, path: str) -> bytes | None: ...

    def write(self, path: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None: ...

    def mkdir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None: ...


def shadow_hash(password: str) -> str:
    """A SHA512-CRYPT hash, from the mail server's schemes when they can make one."""
    try:
        from labsim.mailserver.auth.schemes import hash_password

        hashed = hash_password("SHA512-CRYPT", password)
        if hashed.startswith("{"):
            hashed = hashed.split("}", 1)[1]
        if hashed.startswith("$6$"):
            return hashed
    except Exception:  # not written yet, or a bug there: setup must still work
        pass
    return sha512_crypt(password)


# --- the account files ---

BASE_PASSWD = [
    "root:x:0:0:root:/root:/bin/bash",
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
    "bin:x:2:2:bin:/bin:/usr/sbin/nologin",
    "sys:x:3:3:sys:/dev:/usr/sbin/nologin",
    "mail:x:8:8:mail:/var/mail:/usr/sbin/nologin",
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
]
BASE_GROUP = [
    "root:x:0:",
    "daemon:x:1:",
    "bin:x:2:",
    "sys:x:3:",
    "adm:x:4:",
    "mail:x:8:",
    "users:x:100:",
    "nogroup:x:65534:",
]
# What Debian's dovecot-core package adds.
DOVECOT_PASSWD = [
    "dovecot:x:101:103:Dovecot mail server,,,:/usr/lib/dovecot:/usr/sbin/nologin",
    "dovenull:x:102:65534:Dovecot login user,,,:/nonexistent:/usr/sbin/nologin",
]
DOVECOT_GROUP = ["dovecot:x:103:"]


def _days_since_epoch() -> int:
    return int(time.time() // 86400)


def _lines(fs: LabFS, path: str) -> list[str]:
    data = fs.read(path)
    return [ln for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()] if data else []


def _write_lines(fs: LabFS, path: str, lines: list[str], mode: int, gid: int = 0) -> None:
    fs.write(path, ("\n".join(lines) + "\n").encode(), mode=mode, gid=gid)


def _names(lines: list[str]) -> dict[str, list[str]]:
    return {ln.split(":")[0]: ln.split(":") for ln in lines}


def _add_missing(fs: LabFS, path: str, wanted: list[str], mode: int, gid: int = 0) -> None:
    lines = _lines(fs, path)
    have = _names(lines)
    extra = [ln for ln in wanted if ln.split(":")[0] not in have]
    if extra or not lines:
        _write_lines(fs, path, lines + extra, mode, gid)


def base_system(fs: LabFS, dovecot_accounts: bool = True) -> None:
    """The bits of a Debian system the mail server and the learner expect, added where missing."""
    passwd = BASE_PASSWD + (DOVECOT_PASSWD if dovecot_accounts else [])
    _add_missing(fs, "/etc/passwd", passwd, 0o644)
    _add_missing(
        fs, "/etc/group", BASE_GROUP + ["shadow:x:42:"] + (DOVECOT_GROUP if dovecot_accounts else []), 0o644
    )
    names = [ln.split(":")[0] for ln in _lines(fs, "/etc/passwd")]
    day = _days_since_epoch()
    _add_missing(fs, "/etc/shadow", [f"{n}:*:{day}:0:99999:7:::" for n in names], 0o640, gid=42)
    for path, mode, gid in (
        ("/root", 0o700, 0),
        ("/home", 0o755, 0),
        ("/tmp", 0o1777, 0),
        ("/var/mail", 0o2775, MAIL_GID),
        ("/var/log", 0o755, 0),
        ("/run/dovecot", 0o755, 0),
        ("/var/lib/labsim", 0o755, 0),
        ("/etc/ssl/certs", 0o755, 0),
        ("/etc/ssl/private", 0o710, 0),
    ):
        fs.mkdir(path, mode, 0, gid)
    if fs.read("/etc/hostname") is None:
        fs.write("/etc/hostname", f"{HOSTNAME}\n".encode())
    if fs.read("/etc/mailname") is None:
        fs.write("/etc/mailname", f"{DOMAIN}\n".encode())


def lookup_user(fs: LabFS, name: str) -> tuple[int, int, str]:
    """uid, gid and home of a lab user."""
    entry = _names(_lines(fs, "/etc/passwd")).get(name)
    if entry is None or len(entry) < 7:
        raise LabError(f"no user {name!r} in the lab's /etc/passwd")
    try:
        return int(entry[2]), int(entry[3]), entry[5]
    except ValueError as exc:
        raise LabError(f"the lab's /etc/passwd entry for {name!r} is broken") from exc


def lookup_group(fs: LabFS, name: str) -> int:
    entry = _names(_lines(fs, "/etc/group")).get(name)
    if entry is None or len(entry) < 3 or not entry[2].isdigit():
        raise LabError(f"no group {name!r} in the lab's /etc/group")
    return int(entry[2])


def _next_free(taken: set[int]) -> int:
    n = FIRST_UID
    while n in taken:
        n += 1
    return n


def add_group(fs: LabFS, spec: GroupSpec) -> int:
    lines = _lines(fs, "/etc/group")
    groups = _names(lines)
    if spec.name in groups:
        gid = int(groups[spec.name][2])
    else:
        taken = {int(g[2]) for g in groups.values() if len(g) > 2 and g[2].isdigit()}
        gid = spec.gid if spec.gid is not None else _next_free(taken)
        lines.append(f"{spec.name}:x:{gid}:")
    _write_lines(fs, "/etc/group", lines, 0o644)
    for member in spec.members:
        add_to_group(fs, member, spec.name)
    return gid


def add_to_group(fs: LabFS, user: str, group: str) -> None:
    lines = _lines(fs, "/etc/group")
    for i, line in enumerate(lines):
        parts = line.split(":")
        if parts[0] == group and len(parts) >= 4:
            members = [m for m in parts[3].split(",") if m]
            if user not in members:
                members.append(user)
            parts[3] = ",".join(members)
            lines[i] = ":".join(parts)
            _write_lines(fs, "/etc/group", lines, 0o644)
            return
    raise LabError(f"no group {group!r} in the lab's /etc/group for user {user!r}")


def add_user(fs: LabFS, spec: UserSpec) -> tuple[int, int]:
    """An account like `adduser` makes: passwd, shadow, a group of its own, a home it owns."""
    passwd = _lines(fs, "/etc/passwd")
    users = _names(passwd)
    if spec.name in users:
        raise LabError(f"user {spec.name!r} already exists in the lab")
    groups = _names(_lines(fs, "/etc/group"))
    taken = {int(u[2]) for u in users.values() if len(u) > 2 and u[2].isdigit()}
    taken |= {int(g[2]) for g in groups.values() if len(g) > 2 and g[2].isdigit()}
    uid = spec.uid if spec.uid is not None else _next_free(taken)
    gid = int(groups[spec.name][2]) if spec.name in groups else add_group(fs, GroupSpec(spec.name, uid))
    home = spec.home or f"/home/{spec.name}"
    passwd.append(f"{spec.name}:x:{uid}:{gid}:{spec.gecos}:{home}:{spec.shell}")
    _write_lines(fs, "/etc/passwd", passwd, 0o644)
    hashed = shadow_hash(spec.password) if spec.password is not None else "!"
    shadow = [*_lines(fs, "/etc/shadow"), f"{spec.name}:{hashed}:{_days_since_epoch()}:0:99999:7:::"]
    _write_lines(fs, "/etc/shadow", shadow, 0o640, gid=42)
    fs.mkdir(home, 0o755, uid, gid)
    for extra in spec.groups:
        add_to_group(fs, spec.name, extra)
    return uid, gid


class SetupFS:
    """A LabFS that remembers the directories setup has made, so a later step knows what exists.

    Neither backend can cheaply ask whether a directory exists (a container's is behind a tar
    stream), and declaring an existing one again would change its mode or owner.
    """

    def __init__(self, fs: LabFS) -> None:
        self.fs = fs
        self.dirs: set[str] = set()

    def read(self, path: str) -> bytes | None:
        return self.fs.read(path)

    def write(self, path: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
        self.fs.write(path, data, mode, uid, gid)

    def mkdir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        self.dirs.add(_norm(path))
        self.fs.mkdir(path, mode, uid, gid)


def _norm(path: str) -> str:
    return str(PurePosixPath("/") / path.lstrip("/"))


def _home_owner(fs: LabFS, path: str) -> tuple[str, int, int] | None:
    """The home (and its user's uid, gid) that holds path, for the accounts people log in with."""
    best: tuple[str, int, int] | None = None
    for entry in _names(_lines(fs, "/etc/passwd")).values():
        if len(entry) < 7 or not entry[2].isdigit() or not entry[3].isdigit():
            continue
        uid, home = int(entry[2]), _norm(entry[5])
        # System accounts' "homes" (/usr/sbin, /var/mail, /nonexistent) are no one's own tree.
        if uid < FIRST_UID or uid == 65534 or home == "/":
            continue
        if path.startswith(home + "/") and (best is None or len(home) > len(best[0])):
            best = (home, uid, int(entry[3]))
    return best


def make_parents(fs: LabFS, path: str, mode: int = 0o644) -> None:
    """The missing directories between a user's home and path, owned by that user.

    What `install -d -o USER` does for an administrator: without it a container makes
    them root's (a tar without directory entries), and the user cannot create a folder
    in a directory of their own home. A directory is as open as the file in it asks
    (0700, plus r-x for the group and others who may read the file).
    """
    path = _norm(path)
    owner = _home_owner(fs, path)
    if owner is None:
        return
    home, uid, gid = owner
    made = fs.dirs if isinstance(fs, SetupFS) else set()
    dir_mode = 0o700 | (0o050 if mode & 0o040 else 0) | (0o005 if mode & 0o004 else 0)
    parents = [str(p) for p in PurePosixPath(path).parents if str(p).startswith(home + "/")]
    for parent in reversed(parents):
        if parent not in made:
            fs.mkdir(parent, dir_mode, uid, gid)


def add_file(fs: LabFS, spec: FileSpec) -> None:
    if spec.owner.isdigit():
        uid, gid = int(spec.owner), 0
    elif spec.owner == "root":
        uid, gid = 0, 0
    else:
        uid, gid, _ = lookup_user(fs, spec.owner)
    if spec.group is not None:
        gid = int(spec.group) if spec.group.isdigit() else lookup_group(fs, spec.group)
    make_parents(fs, spec.path, spec.mode)
    fs.write(spec.path, spec.content.encode("utf-8"), spec.mode, uid, gid)


# --- mail ---

SENDERS = [
    ("Carol Jones", "carol@example.org"),
    ("IT Helpdesk", "helpdesk@lab.example"),
    ("Dave Miller", "dave.miller@example.net"),
    ("Newsletter", "news@lists.example.com"),
    ("Erin Walsh", "erin@example.org"),
    ("Backup Robot", "root@backup.lab.example"),
]
SUBJECTS = [
    "Meeting notes for Thursday",
    "Your mailbox has been migrated",
    "Re: lunch?",
    "Weekly report",
    "Password expiry reminder",
    "Backup finished: 0 errors",
    "Invitation: project kick-off",
    "Fwd: conference slides",
]
LINES = [
    "Please find the details below.",
    "Let me know if anything is unclear.",
    "The server will be down for maintenance on Saturday night.",
    "Thanks for your help last week.",
    "From now on, please read mail over IMAP with TLS.",
    "See you at the meeting.",
]


def generate_message(user: str, n: int, seed: int = 0) -> bytes:
    """A realistic, reproducible message (LF line ends, as files on disk have)."""
    rng = random.Random(f"{seed}:{user}:{n}")
    name, addr = rng.choice(SENDERS)
    subject = rng.choice(SUBJECTS)
    when = datetime.datetime(2026, 1, 5, 8, 0, tzinfo=datetime.UTC) + datetime.timedelta(
        hours=n * 7 + rng.randint(0, 5), minutes=rng.randint(0, 59)
    )
    body = "\n".join(rng.sample(LINES, 3))
    # A body line starting with "From " shows how mbox quotes it.
    if n % 4 == 3:
        body += "\nFrom the desk of the administrator: have a good day."
    text = (
        f"Return-Path: <{addr}>\n"
        f"From: {name} <{addr}>\n"
        f"To: {user}@{DOMAIN}\n"
        f"Subject: {subject}\n"
        f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}\n"
        f"Message-ID: <{when.strftime('%Y%m%d%H%M')}.{n}.{user}@{DOMAIN}>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        f"Hello {user},\n\n{body}\n\n-- \n{name}\n"
    )
    return text.encode()


def custom_message(user: str, n: int, spec: MessageSpec) -> bytes:
    """A message as a scenario wrote it, with the headers a real one has."""
    when = datetime.datetime(2026, 1, 5, 8, 0, tzinfo=datetime.UTC) + datetime.timedelta(hours=n * 7)
    date = spec.date or when.strftime("%a, %d %b %Y %H:%M:%S +0000")
    addr = spec.sender.rsplit("<", 1)[-1].rstrip(">").strip() if "<" in spec.sender else spec.sender
    body = spec.body if spec.body.endswith("\n") or not spec.body else spec.body + "\n"
    text = (
        f"Return-Path: <{addr}>\n"
        f"From: {spec.sender}\n"
        f"To: {spec.to or f'{user}@{DOMAIN}'}\n"
        f"Subject: {spec.subject}\n"
        f"Date: {date}\n"
        f"Message-ID: <custom.{n}.{user}@{DOMAIN}>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "\n"
        f"{body}"
    )
    return text.encode("utf-8")


def message_time(data: bytes) -> float:
    for line in data.split(b"\n"):
        if line.startswith(b"Date: "):
            try:
                return datetime.datetime.strptime(line[6:].decode(), "%a, %d %b %Y %H:%M:%S %z").timestamp()
            except ValueError:
                break
    return 1767600000.0


def mbox_from_line(data: bytes) -> bytes:
    sender = b"MAILER-DAEMON"
    for line in data.split(b"\n"):
        if line.startswith(b"Return-Path: <"):
            sender = line[len(b"Return-Path: <") :].rstrip(b">")
            break
    stamp = time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(message_time(data)))
    return b"From " + sender + b" " + stamp.encode() + b"\n"


def mbox_quote(data: bytes) -> bytes:
    """>From quoting of body lines, as mboxrd writers do."""
    out = []
    for line in data.split(b"\n"):
        if line.lstrip(b">").startswith(b"From "):
            line = b">" + line
        out.append(line)
    return b"\n".join(out)


def mailbox_path(fs: LabFS, spec: MailboxSpec) -> tuple[str, int, int]:
    uid, gid, home = lookup_user(fs, spec.user)
    location = spec.location or ("~/Maildir" if spec.format == "maildir" else "/var/mail/%u")
    location = location.replace("%u", spec.user).replace("%n", spec.user.split("@")[0])
    if location.startswith("~"):
        location = home.rstrip("/") + location[1:]
    if not location.startswith("/"):
        raise LabError(f"mailbox location {spec.location!r} for {spec.user} is not an absolute lab path")
    return location, uid, gid


def seed_mailbox(fs: LabFS, spec: MailboxSpec) -> str:
    """spec.messages generated messages in a Maildir (new/) or an mbox file; returns the lab path."""
    path, uid, gid = mailbox_path(fs, spec)
    messages = [generate_message(spec.user, n, spec.seed) for n in range(1, spec.messages + 1)]
    messages += [custom_message(spec.user, len(messages) + i, m) for i, m in enumerate(spec.custom, 1)]
    if spec.format == "maildir":
        make_parents(fs, path, 0o600)
        fs.mkdir(path, 0o700, uid, gid)
        for sub in ("tmp", "new", "cur"):
            fs.mkdir(f"{path.rstrip('/')}/{sub}", 0o700, uid, gid)
        for extra in spec.folders:
            for sub in ("", "/tmp", "/new", "/cur"):
                fs.mkdir(f"{path.rstrip('/')}/.{extra}{sub}", 0o700, uid, gid)
        if spec.folder:
            path = f"{path.rstrip('/')}/.{spec.folder}"
            fs.mkdir(path, 0o700, uid, gid)
        for sub in ("tmp", "new", "cur"):
            fs.mkdir(f"{path}/{sub}", 0o700, uid, gid)
        for n, msg in enumerate(messages, 1):
            name = f"{int(message_time(msg))}.M{n}P{spec.seed}.{HOSTNAME}"
            fs.write(f"{path}/new/{name}", msg, 0o600, uid, gid)
        return path
    _, _, home = lookup_user(fs, spec.user)
    in_spool = path.startswith(("/var/mail/", "/var/spool/mail/"))
    # Folders of an mbox INBOX in the spool live in ~/mail, as with Debian's mail_location.
    folder_dir = f"{home.rstrip('/')}/mail" if in_spool else str(PurePosixPath(path).parent)
    for extra in spec.folders:
        make_parents(fs, folder_dir, 0o600)
        fs.mkdir(folder_dir, 0o700, uid, gid)
        if fs.read(f"{folder_dir}/{extra}") is None:
            fs.write(f"{folder_dir}/{extra}", b"", 0o600, uid, gid)
    if spec.folder:
        path = f"{folder_dir}/{spec.folder}"
        in_spool = False
    parent = str(PurePosixPath(path).parent)
    if parent not in ("/var/mail", "/var/spool/mail"):
        make_parents(fs, parent, 0o600)
        fs.mkdir(parent, 0o700, uid, gid)
    body = b"".join(mbox_from_line(m) + mbox_quote(m).rstrip(b"\n") + b"\n\n" for m in messages)
    fs.write(path, body, 0o660 if in_spool else 0o600, uid, MAIL_GID if in_spool else gid)
    return path


# --- Debian's default trees ---

DEFAULTS = resources.files("labsim.lab") / "defaults"


def _copy_tree(fs: LabFS, src: Traversable, dest: str, mode: int = 0o644) -> None:
    fs.mkdir(dest, 0o755)
    for item in sorted(src.iterdir(), key=lambda t: t.name):
        target = f"{dest.rstrip('/')}/{item.name}"
        if item.is_dir():
            _copy_tree(fs, item, target, mode)
        else:
            fs.write(target, item.read_bytes(), mode)


def self_signed_pair(common_name: str = HOSTNAME) -> tuple[bytes, bytes]:
    """A certificate and key like the ones Debian generates when dovecot-core is installed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def dovecot_defaults(fs: LabFS) -> None:
    """/etc/dovecot as Debian's dovecot-imapd + dovecot-pop3d leave it, with its certificate."""
    _copy_tree(fs, DEFAULTS / "dovecot", "/etc/dovecot")
    share = DEFAULTS / "share"
    fs.mkdir("/usr/share/dovecot/protocols.d")
    for proto in ("imapd", "pop3d"):
        fs.write(
            f"/usr/share/dovecot/protocols.d/{proto}.protocol", (share / f"{proto}.protocol").read_bytes()
        )
    fs.write("/usr/share/dovecot/dh.pem", (share / "dh.pem").read_bytes())
    cert, key = self_signed_pair()
    fs.mkdir("/etc/dovecot/private", 0o700)
    fs.write("/etc/dovecot/private/dovecot.pem", cert, 0o644)
    fs.write("/etc/dovecot/private/dovecot.key", key, 0o600)


def pam_defaults(fs: LabFS) -> None:
    for item in sorted((DEFAULTS / "pam.d").iterdir(), key=lambda t: t.name):
        if fs.read(f"/etc/pam.d/{item.name}") is None:
            fs.write(f"/etc/pam.d/{item.name}", item.read_bytes())


def courier_defaults(fs: LabFS) -> None:
    """Debian's /etc/courier: the Courier personality's own defaults, else our placeholder."""
    try:
        tree = resources.files("labsim.mailserver.courier") / "defaults"
    except ModuleNotFoundError:
        tree = DEFAULTS / "courier"
    if not tree.is_dir():
        tree = DEFAULTS / "courier"
    _copy_tree(fs, tree, "/etc/courier")
    # courier-imap and courier-pop bring the PAM services authpam asks for.
    for item in sorted((DEFAULTS / "pam.d-courier").iterdir(), key=lambda t: t.name):
        if fs.read(f"/etc/pam.d/{item.name}") is None:
            fs.write(f"/etc/pam.d/{item.name}", item.read_bytes())


def apply_spec(fs: LabFS, spec: LabSpec) -> None:
    """Everything of a spec but its commands, which the backend runs in the lab afterwards."""
    fs = SetupFS(fs)
    base_system(fs, dovecot_accounts=spec.dovecot_defaults)
    pam_defaults(fs)
    if spec.dovecot_defaults:
        dovecot_defaults(fs)
    if spec.courier_defaults:
        courier_defaults(fs)
    for group in spec.groups:
        add_group(fs, group)
    for user in spec.users:
        add_user(fs, user)
    for mailbox in spec.mailboxes:
        seed_mailbox(fs, mailbox)
    for f in spec.files:
        add_file(fs, f)
