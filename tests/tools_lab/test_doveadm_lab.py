"""doveadm in the lab: stop/reload arguments, auth lookup and cache flush, mailbox list and status."""

from __future__ import annotations

import pytest

from tests.tools_lab.conftest import REAL_DOVEADM, ToolLab, real

AUTH_USAGE = (
    "usage: doveadm [-Dv] [-f <formatter>] auth <command> [<args>]\n"
    "  cache        flush\n"
    "  login        [-a <auth-login socket path>] [-m <auth-master socket path>] [-x <auth info>] "
    "[-M <master user>] <user> [<password>]\n"
    "  lookup       [-a <userdb socket path>] [-x <auth info>] [-f field] <user> [<user> [...]]\n"
    "  test         [-a <auth socket path>] [-x <auth info>] [-M <master user>] <user> [<password>]\n"
)
# A config of the lab's own whose passdb can hand out credentials (PAM cannot).
PASSWD_FILE_CONF = (
    "passdb {\n  driver = passwd-file\n  args = /etc/dovecot/users\n}\nuserdb {\n  driver = passwd\n}\n"
)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("stop --help", "stop: unrecognized option '--help'\n"),
        ("stop -x", "stop: invalid option -- 'x'\n"),
        ("stop x --help", "stop: unrecognized option '--help'\n"),
        ("reload x", "Error: Extraneous arguments found: x\n"),
        ("reload a b", "Error: Extraneous arguments found: a b\n"),
        ("reload -- --help", "Error: Extraneous arguments found: --help\n"),
    ],
)
def test_stop_and_reload_refuse_what_they_do_not_take(running: ToolLab, args: str, expected: str) -> None:
    assert running.sh(f"doveadm {args}") == (64, expected)
    assert running.active() == "active"  # `doveadm stop --help` used to stop the server


@pytest.mark.skipif(not REAL_DOVEADM.exists(), reason="real doveadm not installed")
@pytest.mark.parametrize(
    "args", [["stop", "--help"], ["stop", "-x"], ["reload", "x"], ["auth"], ["auth", "cache"], ["nosuchcmd"]]
)
def test_answers_like_the_real_doveadm(running: ToolLab, args: list[str]) -> None:
    code, text = real(REAL_DOVEADM, *args)
    ours_code, ours = running.sh("doveadm " + " ".join(args))
    assert ours_code == code
    if args == ["nosuchcmd"]:
        # The real one prints its whole usage and nothing else; ours lists the commands the lab has.
        assert ours.splitlines()[:2] == text.splitlines()[:2]
        assert set(ours.splitlines()) <= set(text.splitlines()) | {"  mailbox      list|status"}
    else:
        assert ours == text


def test_auth_lookup_is_a_passdb_lookup(running: ToolLab) -> None:
    # Debian's PAM passdb cannot hand out credentials: the auth process says so.
    assert running.sh("doveadm auth lookup alice") == (
        75,
        "Error: passdb lookup failed for alice: Configured passdbs don't support credentials lookups\n",
    )
    running.write("/etc/dovecot/users", "alice:{PLAIN}wonderland::::::nodelay=yes\n")
    running.write("/tmp/pwfile.conf", PASSWD_FILE_CONF)
    assert running.sh("doveadm -c /tmp/pwfile.conf auth lookup alice") == (
        0,
        "passdb: alice\n  user      : alice\n  nodelay   : yes\n",
    )
    assert running.sh("doveadm -c /tmp/pwfile.conf auth lookup bob") == (
        67,
        "passdb lookup: user bob doesn't exist\n",
    )
    assert running.sh("doveadm -c /tmp/pwfile.conf auth lookup -f nodelay alice") == (0, "yes\n")
    assert running.sh("doveadm auth lookup") == (
        64,
        "doveadm auth lookup [-a <userdb socket path>] [-x <auth info>] [-f field] <user> [<user> [...]]\n",
    )


def test_auth_cache_flush_and_usage(running: ToolLab) -> None:
    assert running.sh("doveadm auth cache flush") == (0, "0 cache entries flushed\n")
    running.write("/tmp/elsewhere.conf", "base_dir = /run/elsewhere\n")
    # One stream, as a terminal shows it (the engine hands stdout and stderr over apart).
    assert running.sh("doveadm -c /tmp/elsewhere.conf auth cache flush 2>&1") == (
        0,
        "Error: auth-master: auth cache flush: connect(/run/elsewhere/auth-master) failed: "
        "No such file or directory\n0 cache entries flushed\n",
    )
    assert running.sh("doveadm auth") == (64, AUTH_USAGE)
    assert running.sh("doveadm auth cache nosuch") == (64, AUTH_USAGE)


def test_mailbox_list_and_status_as_the_server_sees_them(running: ToolLab) -> None:
    assert running.sh("doveadm mailbox list -u alice") == (0, "INBOX\nArchive\n")
    assert running.sh("doveadm mailbox list -u alice 'A*'") == (0, "Archive\n")
    assert running.sh("doveadm mailbox status -u alice messages INBOX") == (0, "INBOX messages=3\n")
    assert running.sh("doveadm mailbox status -u alice 'unseen messages' inbox") == (
        0,
        "INBOX messages=3 unseen=3\n",
    )
    code, out = running.sh("doveadm mailbox status -u alice all '*'")
    assert code == 0
    lines = out.splitlines()
    assert [ln.split()[0] for ln in lines] == ["INBOX", "Archive"]
    fields = [kv.split("=")[0] for kv in lines[0].split()[1:]]
    assert fields == ["messages", "recent", "uidnext", "uidvalidity", "unseen", "vsize"]
    assert lines[1].startswith("Archive messages=0 recent=0 uidnext=1 ")
    assert running.sh("doveadm mailbox status -u alice -t messages '*'") == (0, "messages=3\n")
    # The server sees the same mail: an IMAP client would get what doveadm counted.
    assert running.sh("doveadm mailbox status -u bob messages INBOX") == (0, "INBOX messages=2\n")


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        ("list -u nosuch", 67, "doveadm(nosuch): Error: User doesn't exist\n"),
        (
            "status -u alice messages Nosuch",
            68,
            "doveadm(alice): Error: Mailbox Nosuch: Failed to lookup mailbox status: "
            "Mailbox doesn't exist: Nosuch\n",
        ),
        ("status -u alice bogus INBOX", 64, "Fatal: Unknown status field: bogus\n"),
        (
            "status -u alice messages",
            64,
            "doveadm mailbox status [-u <user>|-A] [-S <socket_path>] <fields> <mailbox> [...]\n",
        ),
        ("list -u", 64, "list: option requires an argument -- 'u'\n"),
    ],
)
def test_mailbox_errors_in_doveadms_words(running: ToolLab, args: str, code: int, expected: str) -> None:
    assert running.sh(f"doveadm mailbox {args}") == (code, expected)
