"""`authenumerate [-s] [-o]`: list every account the configured authlib modules know."""

from __future__ import annotations

import sys

from labsim.mailserver.auth.authlib import from_config
from labsim.mailserver.courier.authdaemon import NO_SOCKET
from labsim.mailserver.courier.log import CourierLog
from labsim.mailserver.labroot import LabRoot


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    with_options = False
    for a in args:
        if a == "-o":
            with_options = True
        elif a != "-s":  # -s (accounts open to shared folders): every lab account is
            sys.stderr.write("Usage: authenumerate [-s] [-o]\n")
            return 1
    root = LabRoot.from_env()
    lib = from_config(root, log=CourierLog(root, stderr=None).raw)
    if lib.down:  # courier-authdaemon is stopped
        sys.stderr.write(f"ERR: {NO_SOCKET}\n")
        return 1
    for name, uid, gid, home, maildir in lib.enumerate():
        line = f"{name}\t{uid}\t{gid}\t{home}\t{maildir}"
        print(line + ("\t" if with_options else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
