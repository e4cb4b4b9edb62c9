"""`makealiases [-chk] [-dump] [-src=pathname] [-alias=filename]`: compile Courier's aliases."""

from __future__ import annotations

import sys

from labsim.mailserver.courier.aliases import (
    ALIASES,
    ALIASES_DAT,
    compile_aliases,
    dump_lines,
    hostname,
    load_dat,
    read_sources,
    resolve,
)
from labsim.mailserver.delivery import check_local, is_local_domain, split_address
from labsim.mailserver.labroot import LabRoot

USAGE = (
    "Usage: makealiases [-protocol=protocol] [-alias=filename] [-src=pathname] [-tmp=filename]"
    " [-chk] [-dump]\n"
)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    src, dat = ALIASES, ALIASES_DAT
    chk = dump = False
    for a in args:
        if a == "-chk":
            chk = True
        elif a == "-dump":
            dump = True
        elif a.startswith("-src="):
            src = a[5:]
        elif a.startswith("-alias="):
            dat = a[7:]
        elif a.startswith(("-tmp=", "-protocol=")):
            continue
        else:
            sys.stderr.write(USAGE)
            return 1
    root = LabRoot.from_env()
    if dump:
        db = load_dat(root, dat)
        if db is None:
            sys.stderr.write(f"makealiases: {dat}: No such file or directory (run makealiases first)\n")
            return 1
        for line in dump_lines(db):
            print(line)
        return 0
    if chk:
        parsed = read_sources(root, src)
        host = hostname(root)
        resolved, loops = resolve(parsed, host)
        bad = 0
        for problem in parsed.errors + loops:
            sys.stderr.write(f"makealiases: {problem}\n")
            bad += 1
        for name in sorted(resolved):
            for addr in resolved[name]:
                local, domain = split_address(addr, host)
                if addr.startswith(("|", "/")) or not is_local_domain(domain, host):
                    continue
                _, refusal = check_local(root, local)
                if refusal:
                    print(f"{name}@{host}: {addr}: {refusal}")
                    bad += 1
        return 1 if bad else 0
    parsed = read_sources(root, src)
    if parsed.errors:
        for problem in parsed.errors:
            sys.stderr.write(f"makealiases: {problem}\n")
        return 1
    try:
        _, problems = compile_aliases(root, src, dat)
    except OSError as exc:
        sys.stderr.write(f"makealiases: {dat}: {exc.strerror}\n")
        return 1
    for problem in problems:
        sys.stderr.write(f"makealiases: {problem}\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
