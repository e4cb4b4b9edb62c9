"""A learner who edits the configuration and forgets to reload: say so next to a failed check.

The daemons read their files when they start (Dovecot also on reload), and a file written at that
moment says when it was (Dovecot's pid file, which our Dovecot touches after a reload; the copy of
authdaemonrc courier-authdaemon loaded). Files edited later are not in force. Only files the daemon
reads at start count: Dovecot's *.conf and *.conf.ext and the certificate and key its ssl settings
name (`ssl_cert = </etc/ssl/certs/dovecot.pem`), not mkcert.sh's dovecot-openssl.cnf, a README or
an editor's backup. Paths are relative: a local lab's commands run at its root, a container's at /.
"""

from __future__ import annotations

from dataclasses import dataclass

from labsim.lab.model import Lab, LabError
from labsim.mailserver.courier.authdaemon import AUTHDAEMONRC, LOADED_RC, UNIT_STATE
from labsim.scenario.model import CheckSpec

# Checks that ask the running daemon (the others read files or run tools).
ASKS_THE_SERVER = frozenset(
    {"imap_login", "pop3_login", "capability", "mailbox_count", "pop3_sizes", "tls_certificate"}
)
AUTHDAEMON = "courier-authdaemon"


@dataclass(frozen=True)
class Reads:
    """A service, the files that say when it last read its configuration (the first that exists),
    and what it read then: a shell word list of files and folders (`find` arguments)."""

    service: str
    stamps: tuple[str, ...]
    files: str


def _run(pid: str) -> tuple[str, ...]:
    return (pid, f"var/{pid}")  # Debian's /var/run is a link to /run; a local lab root may have either


def _lab(path: str) -> str:
    return path.lstrip("/")


READS: tuple[Reads, ...] = (
    Reads("dovecot", _run("run/dovecot/master.pid"), "etc/dovecot"),
    Reads("courier-imap", _run("run/courier/imapd.pid"), "etc/courier/imapd"),
    Reads("courier-pop", _run("run/courier/pop3d.pid"), "etc/courier/pop3d"),
    Reads("courier-imap-ssl", _run("run/courier/imapd-ssl.pid"), "etc/courier/imapd etc/courier/imapd-ssl"),
    Reads("courier-pop-ssl", _run("run/courier/pop3d-ssl.pid"), "etc/courier/pop3d etc/courier/pop3d-ssl"),
    # authdaemond has no process in the lab: the service shim copies authdaemonrc aside when it
    # (re)starts it (mailserver/courier/authdaemon.py); its unit record when there was none to copy.
    # userdb.dat is not here: authuserdb opens it again when makeuserdb writes a new one.
    Reads(AUTHDAEMON, (_lab(LOADED_RC), _lab(UNIT_STATE)), _lab(AUTHDAEMONRC)),
)

# Dovecot reads these names at start: dovecot.conf, conf.d/*.conf, the *.conf.ext a passdb includes.
_DOVECOT_CONF = r"\( -name '*.conf' -o -name '*.conf.ext' \)"
# The files Dovecot's ssl settings name, 2.3's `ssl_cert = <FILE` and 1.x's `ssl_cert_file = FILE`.
_SP = "[[:space:]]*"
_SSL_FILES = (
    f"sed -n -E -e 's/^{_SP}ssl_(cert|key|ca|dh){_SP}={_SP}<{_SP}([^[:space:]#]+).*/\\2/p'"
    f" -e 's/^{_SP}ssl_(cert|key|ca)_file{_SP}={_SP}([^[:space:]#]+).*/\\2/p'"
)


def _dovecot_probe(stamp: str) -> str:
    conf = f"find etc/dovecot -type f {_DOVECOT_CONF}"
    return (
        f'{conf} -newer "{stamp}" 2>/dev/null | sed "s|^|dovecot /|"; '
        f"for f in $({conf} -exec {_SSL_FILES} {{}} + 2>/dev/null | sort -u); do "
        f'f="${{f#/}}"; [ -f "$f" ] && find "$f" -prune -newer "{stamp}" | sed "s|^|dovecot /|"; done'
    )


def _probe(reads: Reads) -> str:
    stamps = " ".join(reads.stamps)
    if reads.service == "dovecot":
        found = _dovecot_probe("$p")
    else:
        found = f'find {reads.files} -type f -newer "$p" 2>/dev/null | sed "s|^|{reads.service} /|"'
    return f'for p in {stamps}; do [ -f "$p" ] && {{ {found}; break; }}; done;'


PROBE = " ".join(_probe(reads) for reads in READS)


def edited_since_start(lab: Lab) -> list[tuple[str, str]]:
    """(service, lab path) of each file changed after its daemon last read its configuration."""
    try:
        result = lab.exec(["sh", "-c", PROBE + " true"], timeout=10)
    except LabError:
        return []
    out: list[tuple[str, str]] = []
    for line in result.output.splitlines():
        service, _, path = line.partition(" ")
        if service and path.startswith("/") and (service, path) not in out:
            out.append((service, path))
    return out


def asks(spec: CheckSpec) -> frozenset[str] | None:
    """The services whose stale files a failed check may be about: None for every service (a check
    that talks to the server), an empty set for none (one that reads files or runs other tools).
    authtest asks authdaemond, as the login programs do."""
    if spec.type in ASKS_THE_SERVER:
        return None
    if spec.type == "command":
        shell = spec.params.get("shell")
        argv = spec.params.get("argv")
        words = str(shell).split() if shell is not None else [str(a) for a in argv or []]
        if any(word.rsplit("/", 1)[-1] == "authtest" for word in words):
            return frozenset({AUTHDAEMON})
    return frozenset()


def reload_note(edited: list[tuple[str, str]]) -> str:
    if not edited:
        return ""
    files = ", ".join(path for _, path in edited[:3]) + (" ..." if len(edited) > 3 else "")
    services = sorted({service for service, _ in edited})
    how = " or ".join(f"`service {s} {'reload' if s == 'dovecot' else 'restart'}`" for s in services)
    return (
        f" Note: {files} changed after the server last read its configuration, so the running "
        f"server does not know about it yet: {how} applies it."
    )
