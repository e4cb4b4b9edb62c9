"""doveconf and doveadm given bad arguments: the real tools' words and exit statuses, never a traceback.

The expected lines are what Debian 12's Dovecot 2.3.19 prints (checked against /usr/bin/doveconf and
/usr/bin/doveadm)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent  # the console scripts pip installed beside the interpreter

CONF = "protocols = imap\nmail_location = maildir:~/Maildir\n"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    (root / "etc/dovecot").mkdir(parents=True)
    (root / "etc/dovecot/dovecot.conf").write_text(CONF)
    return root


def tool(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABSIM_ROOT": str(root)}
    proc = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, env=env, timeout=60
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.mark.parametrize(
    ("argv", "code", "stderr"),
    [
        (["pw", "-s"], 64, "pw: option requires an argument -- 's'\n"),
        (["pw", "-p"], 64, "pw: option requires an argument -- 'p'\n"),
        (["pw", "-x"], 64, "pw: invalid option -- 'x'\n"),
        (["pw", "-s", "PLAIN", "-p", "x", "extra"], 64, "Error: Extraneous arguments found: extra\n"),
        (
            ["user"],
            64,
            "doveadm user [-a <userdb socket path>] [-x <auth info>] [-f field] [-e <value>] [-u] "
            "<user mask> [<user mask> [...]]\n",
        ),
        (["pw", "-s", "NOPE", "-p", "x"], 75, "Fatal: Unknown scheme: NOPE\n"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_doveadm_refuses_bad_arguments_as_dovecot_does(
    root: Path, argv: list[str], code: int, stderr: str
) -> None:
    proc = tool(root, "doveadm", *argv)
    assert (proc.returncode, proc.stderr, proc.stdout) == (code, stderr, "")


def test_doveconf_refuses_an_unknown_filter(root: Path) -> None:
    proc = tool(root, "doveconf", "-f", "bad", "-h", "mail_location")
    assert (proc.returncode, proc.stderr, proc.stdout) == (
        89,
        "doveconf: Fatal: Unknown filter argument: bad\n",
        "",
    )


@pytest.mark.parametrize("filter_arg", ["protocol=imap", "service=imap", "protocol", "lname=mail"])
def test_doveconf_takes_the_filters_dovecot_knows(root: Path, filter_arg: str) -> None:
    proc = tool(root, "doveconf", "-f", filter_arg, "-h", "mail_location")
    assert (proc.returncode, proc.stdout) == (0, "maildir:~/Maildir\n")
