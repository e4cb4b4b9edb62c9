"""`doveadm user` with user masks and `doveadm log` in a lab, as a learner types them.

The wording is checked against the real doveadm in tests/conformance/test_doveadm_user.py;
here the lab's own configuration (Debian's: PAM passdb, passwd userdb, syslog) and its users.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from labsim.lab.registry import LabRegistry
from tests.tools_lab.conftest import LOCAL_CONF, ToolLab, spec

USERS_FILE = (
    "alice:{PLAIN}wonderland:1000:1000::/home/alice::\n"
    "albert:{PLAIN}x:1002:1002::/home/albert::\n"
    "# not a user\n"
    "dave:{PLAIN}x\n"
)
PASSWD_FILE_CONF = (
    "passdb {\n  driver = passwd-file\n  args = /etc/dovecot/users\n}\n"
    "userdb {\n  driver = passwd-file\n  args = /etc/dovecot/users\n}\n"
)
STATIC_CONF = (
    "!include_try /etc/dovecot/local.conf\n"
    "passdb {\n  driver = passwd-file\n  args = /etc/dovecot/users\n}\n"
    "userdb {\n  driver = static\n  args = uid=1000 gid=1000 home=/home/%u\n}\n"
)
LISTING_FAILED = (
    "Error: auth-master: userdb list: User listing returned failure\nFatal: user listing failed\n"
)
LOG_USAGE = (
    "usage: doveadm [-Dv] [-f <formatter>] log <command> [<args>]\n"
    "  errors       [-s <min_timestamp>]\n"
    "  find         [<dir>]\n"
    "  reopen       \n"
    "  test         \n"
)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolLab]:
    """A local lab (the commands are the same code in the image) with its server up."""
    home = tmp_path_factory.mktemp("labsim-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABSIM_HOME", str(home))
        made = LabRegistry().create(spec(), backend="local", lab_id="dvuser-" + uuid.uuid4().hex[:8])
        try:
            made.write_file("/etc/dovecot/local.conf", LOCAL_CONF)
            started = made.start()
            assert started.ok, started.output
            tool = ToolLab(made)
            tool.write("/etc/dovecot/users", USERS_FILE)
            tool.write("/tmp/pwfile.conf", PASSWD_FILE_CONF)
            tool.write("/tmp/static.conf", STATIC_CONF)
            yield tool
        finally:
            made.destroy()


def test_a_mask_lists_the_users_of_the_labs_passwd_userdb(lab: ToolLab) -> None:
    # Debian's userdb is passwd: the lab's /etc/passwd from first_valid_uid (500) on, so the
    # learners' accounts and nobody, not root or the daemons.
    code, out = lab.sh("doveadm user '*'")
    assert code == 0, out
    names = out.split()
    assert {"alice", "bob"} <= set(names)
    assert not {"root", "daemon", "dovecot", "dovenull"} & set(names)
    assert lab.sh("doveadm user 'a*'") == (0, "alice\n")
    assert lab.sh("doveadm user -u 'B?B'") == (0, "bob\n")  # wildcard_match_icase
    assert lab.sh("doveadm user nosuch 'a*'") == (0, "alice\n")  # one mask makes them all masks


def test_a_mask_on_a_passwd_file_lists_its_lines(lab: ToolLab) -> None:
    # The only userdb: passdb-only lines (dave) are listed too, in the file's order.
    assert lab.sh("doveadm -c /tmp/pwfile.conf user '*'") == (0, "alice\nalbert\ndave\n")
    assert lab.sh("doveadm -c /tmp/pwfile.conf user 'al*' dave") == (0, "alice\nalbert\ndave\n")
    assert lab.sh("doveadm -c /tmp/pwfile.conf user -u alice") == (
        0,
        "userdb: alice\n  user      : alice\n  uid       : 1000\n  gid       : 1000\n"
        "  home      : /home/alice\n",
    )


def test_a_static_userdb_cannot_list_and_log_errors_says_why(lab: ToolLab) -> None:
    assert lab.sh("doveadm -c /tmp/static.conf user '*'") == (75, LISTING_FAILED)
    # The reason is the auth process's, in the server's log (syslog's form in /var/log/mail.log),
    # and `doveadm log errors` shows it as the log process keeps it.
    code, out = lab.sh("doveadm log errors")
    assert code == 0, out
    last = out.splitlines()[-1]
    assert last.split(" ", 3)[3] == (
        "Error: auth: auth-master client: Trying to iterate users, but userdbs don't support it "
        "(created 0 msecs ago, handshake 0 msecs ago)"
    )
    assert lab.sh(f"doveadm log errors -s {2**31 - 1}") == (0, "")


def test_log_usage_and_log_errors_without_a_server(lab: ToolLab) -> None:
    assert lab.sh("doveadm log") == (64, LOG_USAGE)
    assert lab.sh("doveadm log rotate") == (64, LOG_USAGE)
    code, out = lab.sh("service dovecot stop")
    assert code == 0, out
    try:
        assert lab.sh("doveadm log errors") == (
            75,
            "Fatal: net_connect_unix(/run/dovecot/log-errors) failed: No such file or directory\n",
        )
    finally:
        code, out = lab.sh("service dovecot start")
        assert code == 0, out
