"""`userdbpw [-md5 | -hmac-md5]`: read a password, print its hash for userdb.

With a terminal it asks twice without echo, as the real tool does; from a
pipe it reads one line. Without options the hash is a SHA512 crypt(3)
string (real builds pick bcrypt or DES, whichever their libc offers: any
crypt string works for authlib, and SHA512 is what the lab's libcrypt and
pure-Python fallback both verify).
"""

from __future__ import annotations

import os
import sys
import termios

from labsim.mailserver.auth.crypt import gen_salt, md5_crypt, sha_crypt
from labsim.mailserver.auth.md5state import cram_md5_credential


def _hmac_md5_state(password: bytes) -> str:
    """The HMAC-MD5 key's inner and outer MD5 states in hex (what -hmac-md5 prints)."""
    return cram_md5_credential(password).hex()


def _read_line() -> str | None:
    line = sys.stdin.readline()
    if not line:
        return None
    return line.rstrip("\n")


def _read_interactive() -> str | None:
    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    new = termios.tcgetattr(fd)
    new[3] &= ~termios.ECHO
    try:
        termios.tcsetattr(fd, termios.TCSANOW, new)
        while True:
            sys.stderr.write("Password: ")
            sys.stderr.flush()
            first = _read_line()
            if first is None:
                return None
            sys.stderr.write("\nReenter password: ")
            sys.stderr.flush()
            second = _read_line()
            if second is None:
                return None
            if first == second:
                sys.stderr.write("\n")
                return first
            sys.stderr.write("\nPasswords don't match.\n\n")
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, old)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    mode = "crypt"
    for a in args:
        if a == "-md5":
            mode = "md5"
        elif a == "-hmac-md5":
            mode = "hmac-md5"
        else:
            sys.stderr.write("userdbpw: invalid argument.\n")
            return 1
    try:
        interactive = os.isatty(sys.stdin.fileno())
    except (OSError, ValueError):
        interactive = False
    try:
        password = _read_interactive() if interactive else _read_line()
    except (OSError, termios.error):
        password = _read_line()
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return 0
    if password is None:
        return 1
    pw = password.encode("utf-8")
    if mode == "md5":
        print(md5_crypt(pw, gen_salt(8)))
    elif mode.startswith("hmac-"):
        print(_hmac_md5_state(pw))
    else:
        print(sha_crypt(pw, gen_salt(16)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
