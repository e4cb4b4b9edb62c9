"""`sendmail [-f sender] [-t] [-i] ADDRESS... < message`: Courier's local mail submission.

Installed as a lab tool (never on the host PATH). Recipients are resolved
through /etc/courier/aliases.dat and delivered into Maildirs at once;
refusals bounce to the sender as Courier's delivery status notification.
"""

from __future__ import annotations

import os
import pwd
import sys
from email.parser import BytesHeaderParser
from email.utils import getaddresses

from labsim.mailserver.courier.log import CourierLog
from labsim.mailserver.delivery import deliver
from labsim.mailserver.labroot import LabRoot

USAGE = "Usage: sendmail [-f sender] [-t] [-i] address ... < message\n"
MAX_MESSAGE = 64 * 1024 * 1024


def _default_sender() -> str:
    name = os.environ.get("LOGNAME") or os.environ.get("USER")
    if name:
        return name
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return "root"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    sender = ""
    from_headers = False
    recipients: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            recipients.extend(args[i + 1 :])
            break
        if a.startswith("-f") or a.startswith("-r"):
            if len(a) > 2:
                sender = a[2:]
            elif i + 1 < len(args):
                i += 1
                sender = args[i]
            else:
                sys.stderr.write(USAGE)
                return 64
        elif a == "-t":
            from_headers = True
        elif a.startswith("-"):
            pass  # -i, -oi, -odb and friends change nothing for local delivery
        else:
            recipients.append(a)
        i += 1
    data = sys.stdin.buffer.read(MAX_MESSAGE + 1)
    if len(data) > MAX_MESSAGE:
        sys.stderr.write("sendmail: message too large\n")
        return 73
    if from_headers:
        headers = BytesHeaderParser().parsebytes(data)
        fields = headers.get_all("To", []) + headers.get_all("Cc", []) + headers.get_all("Bcc", [])
        recipients.extend(addr for _, addr in getaddresses([str(f) for f in fields]) if addr)
    if not recipients:
        sys.stderr.write("sendmail: no recipients specified.\n")
        return 64
    root = LabRoot.from_env()
    result = deliver(root, recipients, data, sender or _default_sender(), log=CourierLog(root, stderr=None))
    for o in result.failed:
        sys.stderr.write(f"<{o.address}>: <<< {o.detail}\n")
    # Like the real submit path, the message is accepted: refusals become bounces, not exit codes.
    return 0


if __name__ == "__main__":
    sys.exit(main())
