"""The commands a lab offers, one table for both backends.

The local backend writes shell wrappers into the lab's bin/; the lab image
runs `python3 -m labsim.mailserver.tools.lab_tools` at build time to write
Python wrappers where Debian's packages put the real commands.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# name -> "module:function"
LAB_TOOLS: dict[str, str] = {
    "service": "labsim.mailserver.tools.service:service_main",
    "systemctl": "labsim.mailserver.tools.service:systemctl_main",
    "doveconf": "labsim.mailserver.tools.doveconf:main",
    "doveadm": "labsim.mailserver.tools.doveadm:main",
    "dovecot": "labsim.mailserver.tools.dovecot:main",
    "journalctl": "labsim.mailserver.tools.journalctl:main",
    "labsim-mailserver": "labsim.mailserver.cli:main",
    "authtest": "labsim.mailserver.tools.authtest:main",
    "authenumerate": "labsim.mailserver.tools.authenumerate:main",
    "makealiases": "labsim.mailserver.tools.makealiases:main",
    "makeuserdb": "labsim.mailserver.tools.makeuserdb:main",
    "userdbpw": "labsim.mailserver.tools.userdbpw:main",
    "userdb": "labsim.mailserver.tools.userdb:main",
    "mkimapdcert": "labsim.mailserver.tools.mkcourierdcert:main_imap",
    "mkpop3dcert": "labsim.mailserver.tools.mkcourierdcert:main_pop3",
    "sendmail": "labsim.mailserver.tools.sendmail:main",
}

# Administrators' commands live in sbin on Debian (courier-authlib, courier-mta, init tools).
SBIN_TOOLS = frozenset(
    {
        "service",
        "systemctl",
        "authtest",
        "authenumerate",
        "makealiases",
        "makeuserdb",
        "userdb",
        "mkimapdcert",
        "mkpop3dcert",
        "sendmail",
        "dovecot",
    }
)


def python_wrapper(name: str, target: str, python: str = "/usr/bin/python3") -> str:
    module, func = target.split(":")
    return (
        f"#!{python}\nimport sys\nfrom {module} import {func} as main\n"
        f"sys.argv[0] = {name!r}\nsys.exit(main())\n"
    )


def install(bin_dir: Path, sbin_dir: Path, python: str) -> list[Path]:
    written: list[Path] = []
    for name, target in LAB_TOOLS.items():
        directory = sbin_dir if name in SBIN_TOOLS else bin_dir
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        path.write_text(python_wrapper(name, target, python))
        os.chmod(path, 0o755)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lab_tools", description="write the lab's command wrappers")
    p.add_argument("--bin", type=Path, default=Path("/usr/local/bin"))
    p.add_argument("--sbin", type=Path, default=Path("/usr/local/sbin"))
    p.add_argument("--python", default="/usr/bin/python3")
    args = p.parse_args(argv)
    for path in install(args.bin, args.sbin, args.python):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
