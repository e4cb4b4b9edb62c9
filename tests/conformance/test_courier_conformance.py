"""The same Courier configuration under Debian's Courier and under labsim-mailserver.

Both read Debian's own /etc/courier/imapd, imapd-ssl, pop3d, pop3d-ssl and
authdaemonrc (authmodulelist "authuserdb authpam", the SSL daemons off), the
same /etc/courier/userdb compiled by each side's makeuserdb, one Unix account
for authpam, and copies of the same Maildirs. What a client observes, what
authtest prints and the log lines the dialogues cause must be the same; only
client ports and seconds in log lines, and the UIDVALIDITY of folders the
scripts create (time-based on each side) are normalised, and our own start/stop
log lines are left out by name (docs/courier.md, "Differences from Debian's
Courier", lists them with what is not compared yet). Every other difference
fails.
"""

from __future__ import annotations

import contextlib
import difflib
import grp
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

import pytest

from tests.conformance.realcourier import RealCourier, listener_pids, require_real_courier
from tests.conformance.realdovecot import free_port_block, wait_for_port

NOBODY = 65534
# A Unix account for authpam, seen only inside the real Courier's namespace and the lab root.
UNIX_USER, UNIX_UID = "unixer", 64999
# SHA512-CRYPT of "secret": both libcrypt (real authlib) and labsim check it.
SECRET_HASH = (
    "$6$labsimconf$MmFimaKlq22rgMotI/W0uJVwQjrbw353T8JPHdSxMz6SdMfNgrw9Tb3LqIiLIL2/ll60ky7X98fz40DIwKr8J/"
)
# One user (and Maildir) per multi-command IMAP script: the scripts run at once.
SCRIPT_USERS = ("folders", "renamer", "deleter", "flagger", "watcher")
USERDB = "".join(
    f"{name}\tuid={NOBODY}|gid={NOBODY}|home=/home/{name}{extra}|systempw={SECRET_HASH}\n"
    for name, extra in (
        ("tester", ""),
        ("popper", "|mail=/home/popper/Maildir"),
        ("homeless", ""),  # a userdb entry whose home was never made (a learner's typo)
        *((u, "") for u in SCRIPT_USERS),
    )
)
# Both servers' index files start empty with this UIDVALIDITY (Courier-IMAP's courierimapuiddb,
# pop3d's courierpop3dsizelist, our dovecot-uidlist): UIDVALIDITY and UIDL values then match
# exactly, and so do the byte counts in the LOGOUT log lines.
UIDVALIDITY = 1234567890
INDEX_FILES = {
    "courierimapuiddb": f"1 {UIDVALIDITY} 1\n",
    "courierpop3dsizelist": f"/3 1 {UIDVALIDITY}\n",
    "dovecot-uidlist": f"3 V{UIDVALIDITY} N1 G{'0' * 32}\n",
}
MESSAGES = [
    b"From: a@example.com\nTo: tester@example.com\nSubject: m1\n\nbody 1\n",
    b"From: b@example.com\nTo: tester@example.com\nSubject: m2\n\nbody two\nline 2\n",
    b"From: c@example.com\nTo: tester@example.com\nSubject: m3\n\n\n",
]


Switches = dict[str, dict[str, str]]  # file name -> {variable: value}
BASE_SWITCHES: Switches = {
    "authdaemonrc": {"authmodulelist": '"authuserdb authpam"'},
    # SASL offered in the clear too, so the dialogues can compare AUTHENTICATE and AUTH.
    "imapd": {
        "IMAP_CAPABILITY": '"IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT '
        'THREAD=REFERENCES SORT QUOTA IDLE AUTH=LOGIN AUTH=PLAIN"'
    },
    "pop3d": {"POP3AUTH": '"LOGIN PLAIN"'},
    "imapd-ssl": {"IMAPDSSLSTART": "NO"},
    "pop3d-ssl": {"POP3DSSLSTART": "NO"},
}
TLS_REQUIRED: Switches = {
    "imapd-ssl": {"IMAPDSSLSTART": "NO", "IMAP_TLS_REQUIRED": "1"},
    "pop3d-ssl": {"POP3DSSLSTART": "NO", "POP3_TLS_REQUIRED": "1"},
    # No SASL listed: what AUTH and AUTHENTICATE answer for a mechanism the daemon does not list.
    "pop3d": {"POP3AUTH": '""'},
    "imapd": {"IMAP_CAPABILITY": '"IMAP4rev1 IDLE"', "IMAP_CAPABILITY_TLS": '"$IMAP_CAPABILITY"'},
}


def debian_file(name: str, switches: Switches) -> str:
    """Debian's packaged file, with the switches this suite needs (the same on both sides)."""
    text = Path("/etc/courier", name).read_text()
    for var, value in {**BASE_SWITCHES.get(name, {}), **switches.get(name, {})}.items():
        text, n = re.subn(rf"(?m)^{var}=.*$", f"{var}={value}", text)
        assert n == 1, f"/etc/courier/{name}: no {var}= line"
    return text


CONFIG_FILES = ("authdaemonrc", "imapd", "imapd-ssl", "pop3d", "pop3d-ssl")


def unix_files(base: dict[str, str]) -> dict[str, str]:
    """passwd, shadow and group with the test's Unix user added to `base`'s lines."""
    lines = {
        "passwd": f"{UNIX_USER}:x:{UNIX_UID}:{UNIX_UID}:Unix Tester:/home/{UNIX_USER}:/usr/sbin/nologin\n",
        "shadow": f"{UNIX_USER}:{SECRET_HASH}:19000:0:99999:7:::\n",
        "group": f"{UNIX_USER}:x:{UNIX_UID}:\n",
    }
    return {name: base.get(name, "") + line for name, line in lines.items()}


def write_certificates(etc: Path, pem: bytes) -> None:
    # As Debian's postinst leaves them: couriertls runs as courier, so the group must read.
    courier_gid = grp.getgrnam("courier").gr_gid
    for name in ("imapd.pem", "pop3d.pem"):
        (etc / name).write_bytes(pem)
        (etc / name).chmod(0o640)
        os.chown(etc / name, 0, courier_gid)


def write_config(etc: Path, home: Path, pem: bytes, switches: Switches, certificates: bool = True) -> None:
    """etc is /etc/courier, home is /home, on either side."""
    for name in CONFIG_FILES:
        (etc / name).write_text(debian_file(name, switches))
    if certificates:
        write_certificates(etc, pem)
    (etc / "userdb").write_text(USERDB)
    (etc / "userdb").chmod(0o600)
    for user in ("tester", "popper", UNIX_USER, *SCRIPT_USERS):
        maildir = home / user / "Maildir"
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        for i, msg in enumerate(MESSAGES, 1):
            (maildir / "new" / f"170000000{i}.M{i}P1.host").write_bytes(msg)
        for name, text in INDEX_FILES.items():
            (maildir / name).write_text(text)
        owner = UNIX_UID if user == UNIX_USER else NOBODY
        for dirpath, _dirs, files in os.walk(home / user):
            os.chown(dirpath, owner, owner)
            for f in files:
                os.chown(os.path.join(dirpath, f), owner, owner)


def make_pem(work: Path) -> bytes:
    key, cert = work / "key.pem", work / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=localhost", "-days", "2", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert.read_bytes() + key.read_bytes()


@dataclass
class Peer:
    name: str
    imap: int
    pop3: int
    authtest: Callable[..., subprocess.CompletedProcess[str]]
    log: Callable[[], list[str]]  # "imapd: LOGIN, user=..." lines, as Debian's mail.log shows them
    authlog: Callable[[], list[str]]  # "authdaemond: ..." lines
    etc: Path  # this side's /etc/courier
    pem: bytes  # the certificate both sides use


SEVERITY = re.compile(r"^(DEBUG|INFO|NOTICE|WARN|WARNING|ERR|ERROR|CRIT|ALERT|EMERG): ")


def real_log(workdir: Path) -> list[str]:
    """couriertcpd's children write "INFO: text"; courierlogger would send "text" to syslog
    under the daemon's name, and Debian's rsyslog writes every mail.* level to mail.log."""
    out = []
    for program in ("imapd", "pop3d"):
        path = workdir / f"{program}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        out += [f"{program}: {SEVERITY.sub('', line)}" for line in text.splitlines()]
    return out


def real_authlog(workdir: Path) -> list[str]:
    """authdaemond's stderr; courierlogger would send it to syslog as authdaemond."""
    path = workdir / "authdaemond.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    return [f"authdaemond: {SEVERITY.sub('', line)}" for line in text.splitlines()]


def ours_log(root: Path) -> list[str]:
    path = root / "var" / "log" / "mail.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    # "Dec 06 11:04:09 host imapd: text" -> "imapd: text"
    return [line.split(" ", 4)[4] for line in text.splitlines() if line.count(" ") >= 4]


@contextlib.contextmanager
def running_peers(switches: Switches, certificates: bool = True) -> Iterator[dict[str, Peer]]:
    """The real Courier and labsim-mailserver on the same files, until the block ends."""
    require_real_courier()
    work = Path(tempfile.mkdtemp(prefix="labsim-courier-conf-", dir="/tmp"))
    os.chmod(work, 0o755)
    pem = make_pem(work)
    real_base = free_port_block()
    # The real daemons need the host's accounts (courier, ...); the lab needs only root's.
    accounts = unix_files({name: Path("/etc", name).read_text() for name in ("passwd", "shadow", "group")})
    lab_accounts = unix_files(
        {"passwd": "root:x:0:0:root:/root:/bin/bash\n", "shadow": "root:*:19000:0:99999:7:::\n",
         "group": "root:x:0:\n"}
    )  # fmt: skip
    real = RealCourier(
        work / "real",
        imap_port=real_base + 143,
        pop3_port=real_base + 110,
        extra_binds=tuple((f"/etc/{name}", name) for name in accounts),
    )
    proc: subprocess.Popen[bytes] | None = None
    try:
        real.prepare()
        write_config(real.etc, real.home, pem, switches, certificates)
        for name, text in accounts.items():
            shutil.copy2(f"/etc/{name}", real.workdir / name)  # the host's modes (shadow 0640)
            (real.workdir / name).write_text(text)
        real.start()

        root = work / "ours"
        etc = root / "etc" / "courier"
        etc.mkdir(parents=True)
        (root / "var" / "log").mkdir(parents=True)
        write_config(etc, root / "home", pem, switches, certificates)
        for name, text in lab_accounts.items():
            (root / "etc" / name).write_text(text)
        (root / "etc" / "shadow").chmod(0o600)
        # authpam runs the host's PAM stacks on the real side; the lab's PAM engine reads copies.
        shutil.copytree("/etc/pam.d", root / "etc" / "pam.d")
        env = {**os.environ, "LABSIM_ROOT": str(root)}
        subprocess.run(
            [sys.executable, "-m", "labsim.mailserver.tools.makeuserdb"],
            env=env,
            check=True,
            capture_output=True,
        )
        ours_base = free_port_block(avoid=(real_base,))
        # A file, not a pipe: nobody reads a pipe while the server runs, and a full one blocks it.
        with open(work / "ours.stderr", "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "labsim.mailserver", "--personality", "courier", "--root", str(root),
                 "--port-base", str(ours_base)],
                stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        try:
            for port in (ours_base + 143, ours_base + 110):
                wait_for_port(port, timeout=30)
                if proc.pid not in listener_pids(port):
                    raise TimeoutError(f"another process holds port {port}")
        except TimeoutError:
            proc.kill()
            proc.wait()
            text = (work / "ours.stderr").read_text(errors="replace")
            raise RuntimeError(f"labsim-mailserver did not start: {text}") from None

        def ours_authtest(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "labsim.mailserver.tools.authtest", *args],
                env=env, capture_output=True, text=True, timeout=30,
            )  # fmt: skip

        yield {
            "real": Peer(
                "real",
                real.imap_port,
                real.pop3_port,
                real.authtest,
                lambda: real_log(real.workdir),
                lambda: real_authlog(real.workdir),
                real.etc,
                pem,
            ),
            "ours": Peer(
                "ours",
                ours_base + 143,
                ours_base + 110,
                ours_authtest,
                lambda: ours_log(root),
                lambda: [line for line in ours_log(root) if line.startswith("authdaemond: ")],
                etc,
                pem,
            ),
        }
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        real.stop()
        # LABSIM_KEEP_CONFORMANCE=1 keeps the configurations and logs for a look afterwards.
        if os.environ.get("LABSIM_KEEP_CONFORMANCE") != "1":
            shutil.rmtree(work, ignore_errors=True)


# --- normalisation ---------------------------------------------------------------------
# Nothing in the dialogues needs normalising: UIDVALIDITY and UIDL values are seeded (see
# INDEX_FILES). Log lines differ in client ports and seconds only (comparable_log).


# --- dialogues ------------------------------------------------------------------------

POP3_MULTILINE = ("CAPA", "LIST", "UIDL", "TOP", "RETR")


def read_imap_reply(f: BinaryIO, command: str) -> list[str]:
    tag = command.split(" ", 1)[0]
    replies = []
    while True:
        raw = f.readline()
        reply = raw.decode().rstrip("\r\n")
        replies.append(reply)
        if not raw or reply.startswith(tag + " ") or reply == "+" or reply.startswith("+ "):
            return replies


def read_pop3_reply(f: BinaryIO, command: str) -> list[str]:
    words = command.split()
    first = f.readline().decode().rstrip("\r\n")
    multiline = words[0].upper() in POP3_MULTILINE and (
        len(words) == 1 or words[0].upper() in ("TOP", "RETR")
    )
    if not first.startswith("+OK") or not multiline:
        return [first]
    replies = [first]
    while True:
        raw = f.readline()
        reply = raw.decode().rstrip("\r\n")
        replies.append(reply)
        if not raw or reply == ".":
            return replies


def dialogue(port: int, protocol: str, lines: list[str], source: str = "127.0.0.1") -> list[str]:
    """Send each line and collect its whole reply; the greeting comes first. After a
    STARTTLS/STLS that succeeds, the rest of the dialogue runs over TLS."""
    out: list[str] = []
    read = read_imap_reply if protocol == "imap" else read_pop3_reply
    sock: socket.socket = socket.create_connection(
        ("127.0.0.1", port), timeout=20, source_address=(source, 0)
    )
    try:
        f = sock.makefile("rb")
        out.append(f.readline().decode().rstrip("\r\n"))
        pending_tag = ""  # the IMAP command a continuation line ("+ ...") asked more of
        for line in lines:
            out.append(f"C: {line}")
            try:
                sock.sendall(line.encode() + b"\r\n")
                reply = read(f, f"{pending_tag} {line}" if pending_tag else line)
            except OSError as exc:
                out.append(f"(connection lost: {exc})")
                break
            out.extend(reply)
            if protocol == "imap":
                more = bool(reply) and (reply[-1] == "+" or reply[-1].startswith("+ "))
                pending_tag = (pending_tag or line.split(" ", 1)[0]) if more else ""
            verb = line.split()[-1].upper() if protocol == "imap" else line.upper()
            if verb in ("STARTTLS", "STLS") and " OK " in f" {reply[-1]} ".replace("+OK", " OK "):
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                try:
                    sock = ctx.wrap_socket(sock, server_hostname="localhost")
                except (ssl.SSLError, OSError) as exc:
                    out.append(f"(TLS handshake failed: {exc})")
                    break
                f = sock.makefile("rb")
                out.append("(TLS)")
        if lines and lines[-1].split()[-1].upper() in ("LOGOUT", "QUIT"):
            wait_for_server_close(sock)
    finally:
        sock.close()
    return out


def wait_for_server_close(sock: socket.socket) -> None:
    """Let the daemon hang up first, as mail clients do after LOGOUT/QUIT. Closing our end
    first races with couriertls, which then may or may not log "Unexpected SSL connection
    shutdown" depending on which side it notices first."""
    sock.settimeout(5)
    try:
        for _ in range(64):  # bounded: a daemon that keeps talking is not waited for
            if not sock.recv(4096):
                return
    except OSError:
        return


IMAP_DIALOGUES = {
    "prelogin": ["a CAPABILITY", "b NOOP", "c FOO", "d LOGOUT"],
    "login-failed": ["a LOGIN tester wrong", "b LOGOUT"],
    "authpam": ["a LOGIN unixer secret", "b STATUS INBOX (MESSAGES UNSEEN)", "c LOGOUT"],
    "starttls": ["a STARTTLS", "b CAPABILITY", "c LOGIN tester secret", "d CAPABILITY", "e LOGOUT"],
    # The daemon hangs up after its answer: what a client sends next races with the close.
    "homeless": ["a LOGIN homeless secret"],
    "sasl-login": ["a AUTHENTICATE LOGIN", "dGVzdGVy", "c2VjcmV0", "b CAPABILITY", "c LOGOUT"],
    "sasl-plain": ["a AUTHENTICATE PLAIN", "AHRlc3RlcgBzZWNyZXQ=", "b LOGOUT"],
    "sasl-wrong": ["a AUTHENTICATE LOGIN", "dGVzdGVy", "d3Jvbmc=", "b LOGOUT"],
    "sasl-unknown": ["a AUTHENTICATE FOO", "b LOGOUT"],
    "mailbox": [
        "a LOGIN tester secret",
        "b CAPABILITY",
        'c LIST "" "*"',
        "d SELECT INBOX",
        "e FETCH 1:* (UID FLAGS RFC822.SIZE)",
        "f NOOP",
        "g FOO",
        "h ID NIL",
        "i SEARCH ALL",
        "j UID FETCH 2 (FLAGS)",
        'k LSUB "" "*"',
        "l STATUS INBOX (MESSAGES UNSEEN)",
        "m EXAMINE INBOX",
        "n SELECT nosuch",
        "z LOGOUT",
    ],
}
POP3_DIALOGUES = {
    "prelogin": ["CAPA", "FOO", "QUIT"],
    "wrong-password": ["USER popper", "PASS wrong", "QUIT"],
    "unknown-user": ["USER nosuch", "PASS secret", "QUIT"],
    "stls": ["STLS", "CAPA", "USER popper", "PASS secret", "STAT", "QUIT"],
    "sasl-login": ["AUTH LOGIN", "cG9wcGVy", "c2VjcmV0", "STAT", "QUIT"],
    "sasl-plain": ["AUTH PLAIN", "AHBvcHBlcgBzZWNyZXQ=", "STAT", "QUIT"],
    "sasl-unknown": ["AUTH FOO", "QUIT"],
    "homeless": ["USER homeless", "PASS secret"],
    "sasl-wrong": ["AUTH LOGIN", "cG9wcGVy", "d3Jvbmc=", "QUIT"],
    "session": [
        "USER popper",
        "PASS secret",
        "CAPA",
        "STAT",
        "LIST",
        "LIST 2",
        "LIST 9",
        "UIDL",
        "UIDL 1",
        "TOP 2 1",
        "RETR 1",
        "NOOP",
        "DELE 3",
        "LIST",
        "RSET",
        "FOO",
        "QUIT",
    ],
}
AUTHTESTS = {
    "pam-login": ["-s", "imap", UNIX_USER, "secret"],
    "pam-wrong-password": ["-s", "imap", UNIX_USER, "wrong"],
    "pam-lookup": [UNIX_USER],
    "pam-login-service": [UNIX_USER, "secret"],
    "lookup": ["tester"],
    "login": ["tester", "secret"],
    "userdb-maildir": ["-s", "imap", "popper", "secret"],
    "wrong-password": ["tester", "wrong"],
    "unknown-user": ["nosuch", "secret"],
    "unknown-lookup": ["nosuch"],
}


# --- multi-session IMAP scripts (folders, messages, other sessions' changes) ---------------

Step = tuple[str, str]  # (session name, command line); a session connects at its first step
_LITERAL_LINE = re.compile(r"(?<=\})\r\n")
# New folders get a time-based UIDVALIDITY on each side (the seeded 1234567890 stays).
_NEW_UIDVALIDITY = re.compile(r"\b(UIDVALIDITY|APPENDUID|COPYUID) (?!1234567890\b)\d+")


def literal(command: str, message: str) -> str:
    """A command ending in a synchronizing literal, and the literal."""
    return f"{command} {{{len(message.encode())}}}\r\n{message}"


def imap_script(port: int, steps: list[Step], source: str) -> list[str]:
    """Run the steps and collect every reply, each line marked with its session. A
    literal is sent only after the server's `+` (imapd may refuse APPEND before it);
    IDLE waits for the `+` line, and the session's next line (DONE) ends it."""
    conns: dict[str, tuple[socket.socket, BinaryIO]] = {}
    idle_tag: dict[str, str] = {}
    out: list[str] = []

    def reply(session: str, f: BinaryIO, tag: str) -> None:
        while True:
            raw = f.readline()
            text = raw.decode(errors="replace").rstrip("\r\n")
            out.append(f"{session}: " + _NEW_UIDVALIDITY.sub(r"\1 n", text))
            if not raw or text.startswith(tag + " "):
                return

    try:
        for session, line in steps:
            if session not in conns:
                sock = socket.create_connection(("127.0.0.1", port), timeout=20, source_address=(source, 0))
                conns[session] = (sock, sock.makefile("rb"))
                out.append(f"{session}: {conns[session][1].readline().decode().rstrip()}")
            sock, f = conns[session]
            out.append(f"{session} C: {line.splitlines()[0]}")
            tag = idle_tag.pop(session, "") if line == "DONE" else line.split(" ", 1)[0]
            parts = _LITERAL_LINE.split(line)
            for part in parts[:-1]:
                sock.sendall(part.encode() + b"\r\n")
                go_on = f.readline().decode().rstrip("\r\n")
                out.append(f"{session}: {go_on}")
                if not go_on.startswith("+"):
                    break
            else:
                sock.sendall(parts[-1].encode() + b"\r\n")
                if line.split(" ")[1:2] == ["IDLE"]:
                    out.append(f"{session}: {f.readline().decode().rstrip()}")
                    idle_tag[session] = tag
                    continue
                reply(session, f, tag)
    except OSError as exc:
        out.append(f"(connection lost: {exc})")
    finally:
        for sock, _f in conns.values():
            sock.close()
    return out


def _one(*lines: str) -> list[Step]:
    return [("A", line) for line in lines]


MESSAGE = "From: x@example.com\r\nSubject: appended\r\n\r\nhello\r\n"
IMAP_SCRIPTS: dict[str, tuple[str, list[Step]]] = {
    # The INBOX. namespace: NAMESPACE, CREATE inside and outside it, LIST/LSUB patterns,
    # SUBSCRIBE/UNSUBSCRIBE, STATUS, SELECT/EXAMINE and APPEND on folders.
    "folders": (
        "folders",
        _one(
            "a LOGIN folders secret",
            "b NAMESPACE",
            "c CREATE INBOX.Sent",
            "d CREATE Sent",
            "e CREATE INBOX",
            "f CREATE inbox.Sent",
            "g CREATE INBOX.a.b",
            'h CREATE "INBOX.with space"',
            "i CREATE INBOX.",
            'j CREATE ""',
            "k CREATE INBOX..z",
            "l CREATE INBOX.y.",
            'm LIST "" "*"',
            'n LIST "" "%"',
            'o LIST "INBOX" "%"',
            'p LIST "" "INBOX.%"',
            'q LIST "" "nosuch*"',
            'r LIST "nosuch" "*"',
            's LIST "" ""',
            't LIST "" "inbox.*"',
            't1 LIST "" *',
            't2 LIST "" INBOX',
            't3 LIST "" "INBOX.a.b"',
            't4 LIST "" "INBOX.*.b"',
            't5 LIST "INBOX.a" "*"',
            't6 LIST "INBOX.a." "%"',
            't7 LIST (SUBSCRIBED) "" "*"',
            't8 LIST "" "INBOX.S%"',
            't9 LIST "INBOX" ""',
            't10 LIST "INBOX.a" ""',
            "t11 STATUS inbox.sent (MESSAGES)",
            "t12 STATUS inbox.Sent (MESSAGES)",
            "t13 SELECT Inbox.Sent",
            "t14 CLOSE",
            "u SUBSCRIBE INBOX.Sent",
            "u2 SUBSCRIBE INBOX.Sent",
            "v SUBSCRIBE INBOX.nosuch",
            "w SUBSCRIBE Sent",
            "x SUBSCRIBE INBOX",
            'y LSUB "" "*"',
            'z LSUB "" "INBOX.%"',
            "a1 UNSUBSCRIBE INBOX.Sent",
            "a2 UNSUBSCRIBE INBOX.nosuch",
            'a3 LSUB "" "*"',
            "a4 UNSUBSCRIBE INBOX",
            "a5 SUBSCRIBE INBOX.a.b",
            'a6 LSUB "" "%"',
            'a7 LSUB "" "*"',
            "d1 STATUS INBOX.a.b (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)",
            "d2 STATUS nosuch (MESSAGES)",
            "d3 STATUS INBOX.nosuch (MESSAGES)",
            "d4 SELECT INBOX.a.b",
            "d5 EXAMINE INBOX.a",
            "d6 SELECT INBOX.a.b",
            literal("e1 APPEND INBOX.a.b", MESSAGE),
            literal('e2 APPEND INBOX.a.b (\\Seen \\Flagged) "01-Jan-2020 10:00:00 +0000"', MESSAGE),
            literal("e3 APPEND INBOX.nosuch", MESSAGE),
            literal("e4 APPEND nosuch", MESSAGE),
            "e5 NOOP",
            "e6 FETCH 1:* (UID FLAGS)",
            "e7 DELETE INBOX.a.b",
            'f1 LIST "" "*"',
            "z LOGOUT",
        ),
    ),
    # RENAME and DELETE (imapd takes two seconds over each that reaches the folders: few of them).
    "rename": (
        "renamer",
        _one(
            "a LOGIN renamer secret",
            "b CREATE INBOX.Sent",
            "c CREATE INBOX.a.b",
            "d CREATE INBOX.a.c",
            "e RENAME INBOX.Sent INBOX.Sent2",
            "f RENAME INBOX.Sent2 INBOX.a.b",
            "g RENAME INBOX.a INBOX.n",
            "h RENAME Sent2 y",
            "i RENAME INBOX.Sent2 y",
            'j LIST "" "*"',
            "z LOGOUT",
        ),
    ),
    "delete": (
        "deleter",
        _one(
            "a LOGIN deleter secret",
            "b CREATE INBOX.x.y",
            "c DELETE INBOX.x.y",
            "d DELETE INBOX.nosuch",
            "e DELETE INBOX.x",
            "f DELETE x",
            "g CREATE INBOX.z",
            "h SELECT INBOX.z",
            "i DELETE INBOX.z",
            "j DELETE INBOX",
            'k LIST "" "*"',
            "z LOGOUT",
        ),
    ),
    # The selected state: STORE (and its FLAGS announcements), COPY, EXPUNGE, UID forms,
    # CHECK, CLOSE, a read-only folder, and what needs a selected folder without one.
    "messages": (
        "flagger",
        _one(
            "a LOGIN flagger secret",
            "a1 STORE 1 +FLAGS (\\Seen)",
            "b CREATE INBOX.Copies",
            "c SELECT INBOX",
            "d STORE 1 +FLAGS (\\Seen)",
            "e STORE 2 FLAGS.SILENT (\\Flagged)",
            "f STORE 1:3 -FLAGS (\\Seen)",
            "g UID STORE 2 +FLAGS (\\Deleted)",
            "h STORE 1 +FLAGS (foo)",
            "i STORE 9 +FLAGS (\\Seen)",
            "j STORE 1 +FLAGS.SILENT (\\Answered)",
            "j2 STORE 3 +FLAGS (\\Draft \\Seen)",
            "j3 STORE 2:5 +FLAGS (\\Draft)",
            "j4 STORE 2,9 -FLAGS (\\Draft)",
            "j5 UID STORE 9 +FLAGS (\\Flagged)",
            "k FETCH 1:* (FLAGS)",
            "l COPY 1 INBOX.Copies",
            "m COPY 1 INBOX.nosuch",
            "n UID COPY 2:3 INBOX.Copies",
            "n2 COPY 1 nosuch",
            "o MOVE 1 INBOX.Copies",
            "p CHECK",
            "q EXPUNGE",
            "r STORE 1 +FLAGS (\\Deleted)",
            "s UID EXPUNGE 1",
            "s2 UID EXPUNGE 3",
            "t FETCH 1:* (UID FLAGS)",
            "u STATUS INBOX.Copies (MESSAGES RECENT UNSEEN UIDNEXT)",
            "v EXAMINE INBOX.Copies",
            "w STORE 1 +FLAGS (\\Deleted)",
            "x EXPUNGE",
            "y CLOSE",
            "y2 CLOSE",
            "y3 CHECK",
            "y4 EXPUNGE",
            "y5 UID FETCH 1 FLAGS",
            "y6 SELECT INBOX.Copies",
            "y7 STORE 1:* +FLAGS (\\Deleted)",
            "y8 CLOSE",
            "y9 STATUS INBOX.Copies (MESSAGES)",
            'y10 LIST "" "*"',
            "y11 SELECT INBOX",
            "y12 STORE 1:* +FLAGS.SILENT (\\Seen)",
            'y13 LIST "" "*"',
            "z LOGOUT",
        ),
    ),
    # Two sessions on one INBOX: NOOP reports the other's STORE, EXPUNGE and APPEND; IDLE.
    "other-session": (
        "watcher",
        [
            ("A", "a LOGIN watcher secret"),
            ("A", "b SELECT INBOX"),
            ("B", "a LOGIN watcher secret"),
            ("B", "b SELECT INBOX"),
            ("B", "c STORE 1 +FLAGS (\\Flagged)"),
            ("A", "c NOOP"),
            ("B", "d STORE 2 +FLAGS (\\Deleted)"),
            ("B", "e EXPUNGE"),
            ("A", "d NOOP"),
            ("B", literal("f APPEND INBOX", MESSAGE)),
            ("A", "e NOOP"),
            ("B", "g NOOP"),
            ("A", "f IDLE"),
            ("A", "DONE"),
            ("A", "g CHECK"),
            ("A", "h FETCH 1:* (UID FLAGS)"),
            ("B", "i STORE 3 +FLAGS (\\Seen)"),
            ("B", "j STORE 1 +FLAGS (\\Deleted)"),
            ("B", "k EXPUNGE"),
            ("A", "i NOOP"),
            ("A", "j FETCH 1:* (UID FLAGS)"),
            ("B", "h LOGOUT"),
            ("A", "z LOGOUT"),
        ],
    ),
}


@pytest.fixture(scope="module")
def peers() -> Iterator[dict[str, Peer]]:
    with running_peers({}) as both:
        yield both


@pytest.fixture(scope="module")
def tls_required_peers() -> Iterator[dict[str, Peer]]:
    """IMAP_TLS_REQUIRED=1 and POP3_TLS_REQUIRED=1: plain logins refused until STARTTLS/STLS."""
    with running_peers(TLS_REQUIRED) as both:
        yield both


@pytest.fixture(scope="module")
def transcripts(peers: dict[str, Peer]) -> dict[tuple[str, str, str], list[str]]:
    """Every dialogue on both servers, run at once: a failed login costs the real Courier
    five seconds, so one at a time would be slow. Dialogues that read a Maildir use
    different users (tester for IMAP, popper for POP3), so they do not race; each comes
    from its own loopback address, so pop3d's MAXPERIP=4 does not turn one away."""
    jobs: dict[tuple[str, str, str], Callable[[], list[str]]] = {}
    for peer in peers.values():
        for n, (name, lines) in enumerate(IMAP_DIALOGUES.items(), 10):
            jobs[(peer.name, "imap", name)] = partial(dialogue, peer.imap, "imap", lines, f"127.0.0.{n}")
        for n, (name, lines) in enumerate(POP3_DIALOGUES.items(), 30):
            jobs[(peer.name, "pop3", name)] = partial(dialogue, peer.pop3, "pop3", lines, f"127.0.0.{n}")
        for n, (name, (_user, steps)) in enumerate(IMAP_SCRIPTS.items(), 50):
            jobs[(peer.name, "script", name)] = partial(imap_script, peer.imap, steps, f"127.0.0.{n}")
        for name, args in AUTHTESTS.items():

            def run(p: Peer = peer, a: list[str] = args) -> list[str]:
                done = p.authtest(*a)
                return [
                    f"exit {done.returncode}",
                    *done.stdout.splitlines(),
                    "stderr:",
                    *done.stderr.splitlines(),
                ]

            jobs[(peer.name, "authtest", name)] = run
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {key: pool.submit(job) for key, job in jobs.items()}
        return {key: fut.result() for key, fut in futures.items()}


@pytest.mark.parametrize("name", sorted(IMAP_DIALOGUES))
def test_imap_dialogue_matches_real_courier(
    transcripts: dict[tuple[str, str, str], list[str]], name: str
) -> None:
    assert transcripts[("ours", "imap", name)] == transcripts[("real", "imap", name)]


@pytest.mark.parametrize("name", sorted(POP3_DIALOGUES))
def test_pop3_dialogue_matches_real_courier(
    transcripts: dict[tuple[str, str, str], list[str]], name: str
) -> None:
    assert transcripts[("ours", "pop3", name)] == transcripts[("real", "pop3", name)]


@pytest.mark.parametrize("name", sorted(IMAP_SCRIPTS))
def test_imap_script_matches_real_courier(
    transcripts: dict[tuple[str, str, str], list[str]], name: str
) -> None:
    real, ours = transcripts[("real", "script", name)], transcripts[("ours", "script", name)]
    assert ours == real, "\n".join(difflib.unified_diff(real, ours, "real", "ours", lineterm=""))


@pytest.mark.parametrize("name", sorted(AUTHTESTS))
def test_authtest_matches_real_courier(transcripts: dict[tuple[str, str, str], list[str]], name: str) -> None:
    assert transcripts[("ours", "authtest", name)] == transcripts[("real", "authtest", name)]


# Lines of our own with no counterpart in Debian's mail.log (docs/courier.md lists them).
OURS_ONLY = re.compile(r"^(imapd|pop3d): courier-(imap|pop) (started|stopped)")


def comparable_log(lines: list[str]) -> list[str]:
    """The dialogues' lines, in a fixed order. Connections from 127.0.0.1 are the start-up
    probes (how many depends on timing); port numbers and seconds differ run to run."""
    out = []
    for line in lines:
        if "ip=[::ffff:127.0.0.1]" in line or OURS_ONLY.match(line):
            continue
        line = re.sub(r"port=\[\d+\]", "port=[n]", line)
        out.append(re.sub(r"time=\d+", "time=n", line))
    return sorted(out)


def test_log_lines_match_real_courier(
    peers: dict[str, Peer], transcripts: dict[tuple[str, str, str], list[str]]
) -> None:
    # A daemon logs LOGOUT as it exits, just after the client read the last reply.
    deadline = time.monotonic() + 5
    while True:
        real, ours = (comparable_log(peers[name].log()) for name in ("real", "ours"))
        if (real == ours and real) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert ours == real, "\n".join(difflib.unified_diff(real, ours, "real", "ours", lineterm=""))


TLS_REQUIRED_DIALOGUES = {
    "imap": [
        "a CAPABILITY",
        "b LOGIN tester secret",
        "b2 AUTHENTICATE PLAIN",
        "AHRlc3RlcgBzZWNyZXQ=",
        "c STARTTLS",
        "d CAPABILITY",
        "e AUTHENTICATE PLAIN",
        "AHRlc3RlcgBzZWNyZXQ=",
        "f LOGOUT",
    ],
    "pop3": [
        "CAPA",
        "USER popper",
        "PASS secret",
        "AUTH PLAIN AHBvcHBlcgBzZWNyZXQ=",
        "STLS",
        "CAPA",
        "AUTH PLAIN AHBvcHBlcgBzZWNyZXQ=",
        "USER popper",
        "PASS secret",
        "QUIT",
    ],
}


@pytest.mark.parametrize("protocol", sorted(TLS_REQUIRED_DIALOGUES))
def test_tls_required_matches_real_courier(tls_required_peers: dict[str, Peer], protocol: str) -> None:
    lines = TLS_REQUIRED_DIALOGUES[protocol]
    real, ours = (
        dialogue(getattr(tls_required_peers[name], protocol), protocol, lines) for name in ("real", "ours")
    )
    assert ours == real


# --- no certificate yet, DEBUG_LOGIN=2 --------------------------------------------------
# A third pair of servers: no imapd.pem/pop3d.pem when they start (the certificate comes
# later, while they run) and authdaemond debugging on, passwords included.
NO_CERT_DEBUG: Switches = {"authdaemonrc": {"DEBUG_LOGIN": "2"}}


@pytest.fixture(scope="module")
def no_cert_debug_peers() -> Iterator[dict[str, Peer]]:
    with running_peers(NO_CERT_DEBUG, certificates=False) as both:
        yield both


def lines_from(log: list[str], ip: str) -> list[str]:
    return comparable_log([line for line in log if f"ip=[::ffff:{ip}]" in line])


def settled(peers: dict[str, Peer], read: Callable[[Peer], list[str]]) -> tuple[list[str], list[str]]:
    """Both sides' lines once they agree (a daemon logs as it exits), or after five seconds."""
    deadline = time.monotonic() + 5
    while True:
        real, ours = read(peers["real"]), read(peers["ours"])
        if (real == ours and real) or time.monotonic() > deadline:
            return real, ours
        time.sleep(0.1)


def test_no_certificate_is_no_start_up_complaint(no_cert_debug_peers: dict[str, Peer]) -> None:
    """Real Courier logs nothing about a missing certificate until a client asks for TLS."""
    for peer in no_cert_debug_peers.values():
        assert [line for line in peer.log() if "couriertls" in line or ".pem" in line] == [], peer.name


def test_starttls_without_then_with_a_certificate(no_cert_debug_peers: dict[str, Peer]) -> None:
    """STARTTLS/STLS are offered without a certificate and fail only when used; a certificate
    made while the daemons run counts for the next connection (couriertls reads it each time)."""
    peers = no_cert_debug_peers

    def talk(protocol: str, lines: list[str], ip: str) -> dict[str, list[str]]:
        out = {}
        for name, peer in peers.items():
            said = dialogue(getattr(peer, protocol), protocol, lines, ip)
            # The client's own words for a closed connection depend on when it noticed.
            out[name] = [re.sub(r"^\(TLS handshake failed: .*\)$", "(TLS handshake failed)", s) for s in said]
        return out

    without = {
        "imap": talk("imap", ["a CAPABILITY", "b STARTTLS"], "127.0.0.71"),
        "pop3": talk("pop3", ["CAPA", "STLS"], "127.0.0.72"),
    }
    for protocol, said in without.items():
        assert said["ours"] == said["real"], protocol
        assert said["real"][-1] == "(TLS handshake failed)", said["real"]
    real, ours = settled(
        peers, lambda p: lines_from(p.log(), "127.0.0.71") + lines_from(p.log(), "127.0.0.72")
    )
    assert ours == real, "\n".join(difflib.unified_diff(real, ours, "real", "ours", lineterm=""))

    for peer in peers.values():
        write_certificates(peer.etc, peer.pem)
    with_cert = {
        "imap": talk("imap", ["a STARTTLS", "b CAPABILITY", "c LOGOUT"], "127.0.0.73"),
        "pop3": talk("pop3", ["STLS", "CAPA", "QUIT"], "127.0.0.74"),
    }
    for protocol, said in with_cert.items():
        assert said["ours"] == said["real"], protocol
        assert "(TLS)" in said["real"], said["real"]


# Logins one after another (each failure costs the real daemons five seconds, so they overlap,
# a little apart so that authdaemond sees them in this order), then authtest.
DEBUG_LOGINS: list[tuple[str, list[str]]] = [
    ("imap", ["a LOGIN carol secret", "b LOGOUT"]),  # no such user
    ("imap", ["a LOGIN tester wrong", "b LOGOUT"]),  # authuserdb, wrong password
    ("imap", ["a LOGIN tester secret", "b LOGOUT"]),
    ("imap", ["a LOGIN unixer secret", "b LOGOUT"]),
    ("pop3", ["USER carol", "PASS x", "QUIT"]),
    # Last: pam_unix takes two seconds over a wrong password, later requests would overtake it.
    ("imap", ["a LOGIN unixer wrong", "b LOGOUT"]),  # authpam, wrong password
]
DEBUG_AUTHTESTS = [["tester"], ["unixer"], ["carol"], ["unixer", "secret"], ["-s", "imap", "tester", "wrong"]]


def debug_lines(lines: list[str]) -> list[str]:
    """What DEBUG_LOGIN adds, from the first request on. `userdb: opened` depends on which of
    authdaemond's five processes answers; pam_unix's own lines go to auth.log on Debian."""
    start = next((n for n, line in enumerate(lines) if line.startswith("authdaemond: received ")), len(lines))
    return [
        line
        for line in lines[start:]
        if not line.startswith("authdaemond: userdb: opened ") and "pam_unix(" not in line
    ]


def test_debug_login_lines_match_real_authdaemond(no_cert_debug_peers: dict[str, Peer]) -> None:
    peers = no_cert_debug_peers
    with ThreadPoolExecutor(max_workers=2 * len(DEBUG_LOGINS)) as pool:
        futures = []
        for n, (protocol, lines) in enumerate(DEBUG_LOGINS):
            for peer in peers.values():
                port = getattr(peer, protocol)
                futures.append(pool.submit(dialogue, port, protocol, lines, f"127.0.0.{80 + n}"))
            time.sleep(0.5)
        for fut in futures:
            fut.result()
    for args in DEBUG_AUTHTESTS:
        for peer in peers.values():
            peer.authtest(*args)
    real, ours = settled(peers, lambda p: debug_lines(p.authlog()))
    assert "authdaemond: FAIL, all modules rejected" in real
    assert ours == real, "\n".join(difflib.unified_diff(real, ours, "real", "ours", lineterm=""))
