"""`dovecot` for the lab: the master binary's command line, as Debian 12's 2.3.19 answers it.

    dovecot -n | -a [-c FILE]      doveconf -n / -a on that file (the real one runs doveconf)
    dovecot --version              the version line
    dovecot reload | stop | ...    anything else is handed to doveadm, as the real one does
    dovecot [-F] [-p]              would start the master: in the lab the service shim does that

Options stop at the first word that is not one (getopt with "+"), so `dovecot reload -c f`
gives doveadm's "reload: invalid option -- 'c'" exactly as on a real host.
"""

from __future__ import annotations

import os
import socket
import sys

from labsim.mailserver.config.dovecot import DEFAULT_CONFIG_PATH
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.tools import doveadm, doveconf

EXIT_FATAL = 89
USAGE = (
    "Usage: dovecot [-F] [-c <config file>] [-p] [-n] [-a] [--help] [--version]\n"
    "       [--build-options] [--hostdomain] [reload] [stop]\n"
)
# What Debian's dovecot-core 2.3.19 prints; the lab's server is that build's stand-in.
BUILD_OPTIONS = (
    "Build options: ioloop=epoll notify=inotify openssl io_block_size=8192\n"
    "SQL driver plugins: mysql postgresql sqlite\n"
    "Passdb: checkpassword ldap pam passwd passwd-file shadow sql\n"
    "Userdb: checkpassword ldap(plugin) passwd prefetch passwd-file sql\n"
)
NOT_HERE = (
    "dovecot: in this lab the server is started by its service, not by hand: "
    "run `service dovecot start` (or `systemctl start dovecot`)"
)
PID_FILES = ("/run/dovecot/master.pid", "/var/run/dovecot/master.pid")


def _usage_error(message: str) -> int:
    sys.stderr.write(f"{message}\n{USAGE}")
    return EXIT_FATAL


def _running_pid(root: LabRoot) -> tuple[int, str] | None:
    for pid_file in PID_FILES:
        try:
            pid = int(root.path(pid_file).read_text().split()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            continue
        return pid, pid_file
    return None


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    config: str | None = None
    doveconf_flag: str | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-" or arg.startswith("--"):
            break  # the first word that is not a short option ends them
        j = 1
        while j < len(arg):
            letter = arg[j]
            if letter == "c":
                value = arg[j + 1 :] or (args[i + 1] if i + 1 < len(args) else None)
                if value is None:
                    return _usage_error("dovecot: option requires an argument -- 'c'")
                if not arg[j + 1 :]:
                    i += 1
                config = value
                break
            if letter in "na":
                doveconf_flag = f"-{letter}"  # the last one given wins
            elif letter not in "Fp":
                return _usage_error(f"dovecot: invalid option -- '{letter}'")
            j += 1
        i += 1
    rest = args[i:]

    if doveconf_flag is not None:
        # The real master execs doveconf with the config path: same header, same errors.
        return doveconf.main([doveconf_flag, "-c", config or DEFAULT_CONFIG_PATH])
    if not rest:
        running = _running_pid(LabRoot.from_env())
        if running is not None:
            pid, pid_file = running
            sys.stderr.write(f"Fatal: Dovecot is already running with PID {pid} (read from {pid_file})\n")
            return EXIT_FATAL
        print(NOT_HERE, file=sys.stderr)
        return 1
    first = rest[0]
    if first == "--version":
        print(doveconf.VERSION_LINE)
        return 0
    if first == "--build-options":
        sys.stdout.write(BUILD_OPTIONS)
        return 0
    if first == "--help":
        sys.stderr.write(USAGE)
        return 0
    if first == "--hostdomain":
        print(socket.getfqdn())
        return 0
    if first.startswith("--"):
        sys.stderr.write(f"{USAGE}Fatal: Unknown argument: {first}\n")
        return EXIT_FATAL
    # "dovecot reload", "dovecot stop", "dovecot auth test ...": doveadm does the work. The real
    # one hands doveadm `--word` as `word` (so `dovecot stop --help` is an extraneous argument).
    words = [w[2:] if w.startswith("--") and len(w) > 2 else w for w in rest]
    return doveadm.main((["-c", config] if config is not None else []) + words)


if __name__ == "__main__":
    sys.exit(main())
