"""`doveconf` for the lab: Dovecot 2.3.19's configuration dumper, answering from
the lab root (LABSIM_ROOT, default `/`).

    doveconf -n [-P]              non-default settings, Dovecot's layout
    doveconf -a                   every setting
    doveconf [-h] NAME [NAME...]  `name = value` (or the value alone with -h)
    -d                            built-in defaults instead of the configured values
    -c PATH                       the config file, a lab path
    -f protocol=NAME              apply a protocol filter to NAME lookups
"""

from __future__ import annotations

import getopt
import os
import platform
import socket
import sys
from pathlib import Path
from typing import TextIO

from labsim.mailserver.config.dovecot import (
    DEFAULT_CONFIG_PATH,
    DovecotConfig,
    SettingsCheckError,
    defaults_only,
    load,
)
from labsim.mailserver.config.errors import ConfigError
from labsim.mailserver.labroot import LabRoot

VERSION_LINE = "2.3.19.1 (9b53102964)"
PIGEONHOLE_LINE = "# Pigeonhole version 0.5.19 (4eae2f79)"
EXIT_FATAL = 89  # what doveconf exits with on any fatal error


def _distro(root: LabRoot) -> str:
    for base in (root.path("/etc/debian_version"), Path("/etc/debian_version")):
        try:
            return "Debian " + base.read_text().strip()
        except OSError:
            continue
    return ""


def header_lines(root: LabRoot, shown: str, ok: bool) -> list[str]:
    lines = [f"# {VERSION_LINE}: {shown}", PIGEONHOLE_LINE]
    if ok:
        uname = platform.uname()
        # The last field is the config file system's type, which doveconf leaves empty here.
        lines.append(f"# OS: {uname.system} {uname.release} {uname.machine} {_distro(root)} ")
        lines.append(f"# Hostname: {socket.gethostname().split('.')[0]}")
    return lines


def _lab_cwd(root: LabRoot) -> str:
    try:
        return root.lab_path(os.getcwd())
    except (ValueError, OSError):
        return "/"


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = sys.argv[1:] if argv is None else argv
    try:
        opts, names = getopt.getopt(args, "ac:df:hnNPx")
    except getopt.GetoptError as exc:
        # libc getopt's wording, as the real binary prints it
        problem = "option requires an argument" if "requires argument" in exc.msg else "invalid option"
        err.write(f"doveconf: {problem} -- '{exc.opt}'\n")
        return EXIT_FATAL
    flags = {o for o, _ in opts}
    config_path = DEFAULT_CONFIG_PATH
    protocol: str | None = None
    for opt, val in opts:
        if opt == "-c":
            config_path = val
        elif opt == "-f":
            key, _, value = val.partition("=")
            if key in ("protocol", "service"):
                protocol = value
            elif key not in ("lname", "local", "remote"):
                err.write(f"doveconf: Fatal: Unknown filter argument: {val}\n")
                return EXIT_FATAL

    root = LabRoot.from_env()
    lab_path = config_path if config_path.startswith("/") else os.path.join(_lab_cwd(root), config_path)
    dump = "-n" in flags or "-a" in flags or not names
    warnings: list[str] = []
    try:
        if "-d" in flags:  # the real one does not open the file at all
            config = defaults_only(root, lab_path, shown=config_path)
        else:
            config = load(root, lab_path, read_files=False, shown=config_path, warnings=warnings)
    except ConfigError as exc:
        for warning in warnings:
            err.write(f"doveconf: Warning: {warning}\n")
        whole = exc.path is not None and exc.line is None
        if dump:
            # Errors found after parsing still get the full header and the dump.
            lines = header_lines(root, config_path, ok=whole)
            if whole:
                try:
                    parsed = load(
                        root,
                        lab_path,
                        read_files=False,
                        shown=config_path,
                        check=False,
                        warnings=[],
                        partial=True,
                    )
                    lines += _dump(parsed, flags)
                except ConfigError:
                    pass
            out.write("\n".join(lines) + "\n")
            out.flush()
        if isinstance(exc, SettingsCheckError):
            # Whole-configuration errors come as Error lines, then the Fatal one.
            for reason in exc.error_lines():
                err.write(f"doveconf: Error: {reason}\n")
        err.write(exc.fatal_line() + "\n")
        return EXIT_FATAL
    for warning in config.warnings:
        err.write(f"doveconf: Warning: {warning}\n")

    if names and "-n" not in flags and "-a" not in flags:
        for name in names:
            if not config.known(name):
                continue  # doveconf prints nothing for a name it does not know
            value = config.value(name, protocol)
            out.write(f"{value}\n" if "-h" in flags else f"{name} = {value}\n")
        return 0

    lines = header_lines(root, config_path, ok=True) + _dump(config, flags)
    out.write("\n".join(lines) + "\n")
    return 0


def _dump(config: DovecotConfig, flags: set[str]) -> list[str]:
    if "-n" in flags or "-N" in flags:
        return config.dump_nondefault(hide="-P" not in flags)
    note = "# NOTE: Send doveconf -n output instead when asking for help."
    return [note, *config.dump_all(hide="-P" not in flags)]


if __name__ == "__main__":
    raise SystemExit(main())
