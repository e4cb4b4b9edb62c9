"""`journalctl -u UNIT` for the lab: a service's journal lines, where a failed start points.

The lab has no journald. The service shim (service.py) puts what a unit's journal would hold
in the mail log: the daemon's syslog lines (`... dovecot: master: ...`) and systemd's lines
about the unit (`... systemd[1]: dovecot.service: Failed with result 'exit-code'.`); this
prints those for one unit. -x, -e, -n N, --no-pager and -b are accepted as journalctl takes
them; anything else is refused in one line.
"""

from __future__ import annotations

import sys

from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import SYSLOG_FILE
from labsim.mailserver.tools.service import UNIT_DEFS

ONLY_UNITS = (
    "journalctl: the lab keeps only its services' journals: "
    "ask for one with -u, e.g. journalctl -xeu dovecot.service"
)
END_LINES = 1000  # -e without -n shows the last 1000 lines, as journalctl does


class _Refused(Exception):
    pass


def _parse(args: list[str]) -> tuple[list[str], int | None]:
    units: list[str] = []
    lines: int | None = None
    at_end = False

    def count(value: str | None) -> int:
        if value is None or not value.lstrip("+").isdigit():
            raise _Refused(f"Failed to parse line count: {value or ''}")
        return int(value.lstrip("+"))

    def take(option: str, value: str) -> None:
        """-u/--unit or -n/--lines, however it was spelled."""
        nonlocal lines
        if option in ("u", "--unit"):
            units.append(value)
        else:
            lines = count(value)

    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a in ("--no-pager", "--catalog", "--pager-end", "--boot", "--no-hostname", "--full"):
            at_end = at_end or a == "--pager-end"
            continue
        if a.startswith("--unit=") or a.startswith("--lines="):
            key, _, given = a.partition("=")
            take(key, given)
            continue
        if a in ("--unit", "--lines"):
            following = args[i] if i < len(args) else None
            i += 1
            if following is None:
                raise _Refused(f"journalctl: option '{a}' requires an argument")
            take(a, following)
            continue
        if not a.startswith("-") or a.startswith("--") or a == "-":
            raise _Refused(ONLY_UNITS)
        j = 1
        while j < len(a):  # bundled short options: -xeu dovecot.service, -n20
            letter = a[j]
            if letter in "un":
                value = a[j + 1 :] or (args[i] if i < len(args) else None)
                if not a[j + 1 :]:
                    i += 1
                if value is None:
                    raise _Refused(f"journalctl: option requires an argument -- '{letter}'")
                take(letter, value)
                break
            if letter == "e":
                at_end = True
            elif letter not in "xbl":
                raise _Refused(ONLY_UNITS)
            j += 1
    if not units:
        raise _Refused(ONLY_UNITS)
    if lines is None and at_end:
        lines = END_LINES
    return units, lines


def _mine(line: str, unit: str) -> bool:
    unit_def = UNIT_DEFS.get(unit)
    ident = unit_def.ident if unit_def is not None else unit
    return f" {ident}:" in line or f" {ident}[" in line or f" {unit}.service" in line


def journal_lines(root: LabRoot, units: list[str]) -> list[str]:
    names = [u.removesuffix(".service") for u in units]
    try:
        text = root.path(SYSLOG_FILE).read_text(errors="replace")
    except OSError:
        return []
    return [ln for ln in text.splitlines() if any(_mine(ln, n) for n in names)]


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        units, count = _parse(args)
    except _Refused as exc:
        print(exc, file=sys.stderr)
        return 1
    found = journal_lines(LabRoot.from_env(), units)
    if count is not None:
        found = found[-count:] if count else []
    if not found:
        print("-- No entries --")
        return 0
    print("\n".join(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
