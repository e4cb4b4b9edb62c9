"""A learner who edits the configuration and forgets to reload: say so next to a failed check.

The daemons read their files when they start (Dovecot also on reload), and the pid file's time
says when that was (our Dovecot touches it after a reload). Files edited later are not in force.
Paths are relative: a local lab's commands run at its root, a container's at /.
"""

from __future__ import annotations

from labsim.lab.model import Lab, LabError

# Checks that ask the running daemon (the others read files or run tools).
ASKS_THE_SERVER = frozenset(
    {"imap_login", "pop3_login", "capability", "mailbox_count", "pop3_sizes", "tls_certificate"}
)

# pid file -> (the service that applies changes, the files it reads at start)
PID_FILES: dict[str, tuple[str, str]] = {
    "run/dovecot/master.pid": ("dovecot", "etc/dovecot"),
    "run/courier/imapd.pid": ("courier-imap", "etc/courier/imapd"),
    "run/courier/pop3d.pid": ("courier-pop", "etc/courier/pop3d"),
    "run/courier/imapd-ssl.pid": ("courier-imap-ssl", "etc/courier/imapd etc/courier/imapd-ssl"),
    "run/courier/pop3d-ssl.pid": ("courier-pop-ssl", "etc/courier/pop3d etc/courier/pop3d-ssl"),
}

# Debian's /var/run is a link to /run; a local lab root may have either.
PROBE = " ".join(
    f'for p in {pid} var/{pid}; do [ -f "$p" ] && {{ find {files} -type f -newer "$p" 2>/dev/null '
    f'| sed "s|^|{service} /|"; break; }}; done;'
    for pid, (service, files) in PID_FILES.items()
)


def edited_since_start(lab: Lab) -> list[tuple[str, str]]:
    """(service, lab path) of each file changed after its daemon last read its configuration."""
    try:
        result = lab.exec(["sh", "-c", PROBE + " true"], timeout=10)
    except LabError:
        return []
    out = []
    for line in result.output.splitlines():
        service, _, path = line.partition(" ")
        if service and path.startswith("/"):
            out.append((service, path))
    return out


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
