"""`userdb`: edit /etc/courier/userdb (the lab installs it as a lab tool, not on the host PATH).

    userdb [-f file] name set field=value ...   (a bare `field` reads its value from stdin)
    userdb [-f file] name unset field ...
    userdb [-f file] name del
    userdb -show [-f file] [name]

Changes take effect only after makeuserdb compiles the file.
"""

from __future__ import annotations

import sys

from labsim.mailserver.auth.authlib import USERDB, parse_userdb_fields
from labsim.mailserver.courier.userdbfile import UserdbError, parse_lines, read_file, update
from labsim.mailserver.labroot import LabRoot

USAGE = (
    "Usage: userdb [-f file] name set field=value ...\n"
    "       userdb [-f file] name unset field ...\n"
    "       userdb [-f file] name del\n"
    "       userdb -show [-f file] [name]\n"
)


def _usage() -> int:
    sys.stderr.write(USAGE)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    show = False
    lab_path = USERDB
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt == "-show":
            show = True
        elif opt == "-f" and args:
            name = args.pop(0)
            lab_path = name if name.startswith("/") else f"{USERDB}/{name}"
        else:
            return _usage()
    root = LabRoot.from_env()
    try:
        if show:
            entries = parse_lines("\n".join(read_file(root, lab_path)))
            if not args:
                for addr, _ in entries:
                    print(addr)
                return 0
            for addr, found in entries:
                if addr == args[0]:
                    for k, v in found.items():
                        print(f"{k}={v}")
                    return 0
            sys.stderr.write(f"{args[0]} not found in {lab_path}\n")
            return 1
        if len(args) < 2 or any(c in args[0] for c in "\t\n|"):
            return _usage()
        addr, verb, rest = args[0], args[1], args[2:]
        if verb == "set" and rest:
            fields: dict[str, str] = {}
            for item in rest:
                if "=" in item:
                    fields.update(parse_userdb_fields(item))
                else:
                    value = sys.stdin.readline().rstrip("\n")
                    fields[item] = value
            if any(c in v for v in fields.values() for c in "|\n\t"):
                sys.stderr.write("userdb: a field value may not contain |, a tab or a newline\n")
                return 1
            update(root, lab_path, addr, fields, [], False)
        elif verb == "unset" and rest:
            update(root, lab_path, addr, {}, rest, False)
        elif verb == "del" and not rest:
            update(root, lab_path, addr, {}, [], True)
        else:
            return _usage()
    except UserdbError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"userdb: {exc.strerror}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
