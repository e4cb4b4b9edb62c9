"""`makeuserdb [-f file]`: compile /etc/courier/userdb into userdb.dat and userdbshadow.dat."""

from __future__ import annotations

import sys

from labsim.mailserver.auth.authlib import USERDB
from labsim.mailserver.courier.userdbfile import UserdbError, compile_userdb
from labsim.mailserver.labroot import LabRoot


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    lab_path = USERDB
    if args and args[0] == "-f":
        if len(args) < 2:
            sys.stderr.write("Usage: makeuserdb [-f file]\n")
            return 1
        lab_path = args[1].rstrip("/") or "/"
    try:
        compile_userdb(LabRoot.from_env(), lab_path)
    except UserdbError as exc:
        sys.stdout.write(f"{exc}\n")
        return 1
    except OSError as exc:
        sys.stdout.write(f"{exc.strerror}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
