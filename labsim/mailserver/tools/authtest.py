"""`authtest [-s service] userid [password]`: ask the lab's authlib as courier-authlib's authtest does."""

from __future__ import annotations

import sys

from labsim.mailserver.auth.authlib import format_authtest, from_config
from labsim.mailserver.courier.authdaemon import NO_SOCKET
from labsim.mailserver.courier.log import CourierLog
from labsim.mailserver.labroot import LabRoot

USAGE = "Usage: authtest [-s service] userid [ password [ newpassword ] ]\n"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    service = "login"
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith("-"):
            break
        if a == "-":
            i += 1
            break
        if a[1] != "s":
            sys.stderr.write(USAGE)
            return 1
        value = a[2:]
        if not value and i + 1 < len(args):
            i += 1
            value = args[i]
        service = value
        i += 1
    rest = args[i:]
    if not rest:
        sys.stderr.write(USAGE)
        return 1
    root = LabRoot.from_env()
    lib = from_config(root, log=CourierLog(root, stderr=None).raw)
    if lib.down:  # courier-authdaemon is stopped: nothing answers on authdaemond's socket
        sys.stderr.write(f"ERR: {NO_SOCKET}\nAuthentication FAILED: Invalid argument\n")
        return 1
    if len(rest) >= 3:
        # Password changes go through authdaemond's modules, which the lab does not write to.
        sys.stderr.write("Authentication FAILED: Operation not permitted\n")
        return 1
    if len(rest) == 2:
        info = lib.authenticate(service, rest[0], rest[1], "::1")
    else:
        info = lib.lookup(service, rest[0])
    if info is None:
        sys.stderr.write("Authentication FAILED: Operation not permitted\n")
        return 1
    sys.stdout.write(format_authtest(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
