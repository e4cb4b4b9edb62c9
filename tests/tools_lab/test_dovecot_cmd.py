"""`dovecot` in the lab: the master binary's command line, answered as Debian's 2.3.19 answers it."""

from __future__ import annotations

import pytest

from tests.tools_lab.conftest import REAL_DOVECOT, ToolLab, real

USAGE = (
    "Usage: dovecot [-F] [-c <config file>] [-p] [-n] [-a] [--help] [--version]\n"
    "       [--build-options] [--hostdomain] [reload] [stop]\n"
)


def test_version_and_config_dumps_are_doveconfs(running: ToolLab) -> None:
    assert running.sh("dovecot --version") == (0, "2.3.19.1 (9b53102964)\n")
    code, dump = running.sh("dovecot -n 2>&1")
    assert code == 0
    assert dump.startswith("# 2.3.19.1 (9b53102964): /etc/dovecot/dovecot.conf\n")
    assert "mail_location = maildir:~/Maildir" in dump
    assert dump == running.out("doveconf -n 2>&1")
    # -c is honoured, and the path shows in the header as given.
    running.write("/tmp/other.conf", "protocols = imap\nlogin_greeting = other\n")
    other = running.out("dovecot -a -c /tmp/other.conf")
    assert other.startswith("# 2.3.19.1 (9b53102964): /tmp/other.conf\n")
    assert "login_greeting = other\n" in other
    assert other == running.out("doveconf -a -c /tmp/other.conf")


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        ("-Z", 89, "dovecot: invalid option -- 'Z'\n" + USAGE),
        ("-c", 89, "dovecot: option requires an argument -- 'c'\n" + USAGE),
        ("--help", 0, USAGE),
        ("--bogus", 89, USAGE + "Fatal: Unknown argument: --bogus\n"),
    ],
)
def test_bad_options_in_dovecots_words(running: ToolLab, args: str, code: int, expected: str) -> None:
    assert running.sh(f"dovecot {args}") == (code, expected)


@pytest.mark.skipif(not REAL_DOVECOT.exists(), reason="real dovecot not installed")
@pytest.mark.parametrize("args", [["-Z"], ["--bogus"], ["--help"], ["--version"], ["stop", "--help"]])
def test_answers_like_the_real_binary(running: ToolLab, args: list[str]) -> None:
    # Only arguments with which the real binary neither starts nor signals anything.
    code, text = real(REAL_DOVECOT, *args)
    ours = running.sh("dovecot " + " ".join(args))
    assert ours == (code, text.replace(str(REAL_DOVECOT), "dovecot"))


def test_reload_and_stop_act_like_doveadm(running: ToolLab) -> None:
    assert running.sh("dovecot stop --help") == (64, "Error: Extraneous arguments found: help\n")
    assert running.active() == "active"
    pid = running.out("systemctl show -p MainPID --value dovecot").strip()
    assert running.sh("dovecot reload") == (0, "")
    assert "SIGHUP received - reloading configuration" in running.out("journalctl -u dovecot -n 3")
    assert running.out("systemctl show -p MainPID --value dovecot").strip() == pid
    assert running.sh("dovecot stop") == (0, "")
    assert running.active() == "inactive"
    code, out = running.sh("dovecot reload")
    assert (code, out) == (75, "Fatal: Dovecot is not running (read from /run/dovecot/master.pid)\n")


def test_foreground_start_points_to_the_service(running: ToolLab) -> None:
    pid = running.out("systemctl show -p MainPID --value dovecot").strip()
    assert running.sh("dovecot -F") == (
        89,
        f"Fatal: Dovecot is already running with PID {pid} (read from /run/dovecot/master.pid)\n",
    )
    running.sh("service dovecot stop")
    code, out = running.sh("dovecot -F")
    assert code == 1
    assert "service dovecot start" in out and len(out.splitlines()) == 1
    assert running.active() == "inactive"  # no second server, no server at all
    assert not running.listening(143)


def test_process_tools_see_a_dovecot(running: ToolLab) -> None:
    # How a learner checks that the daemon runs: by its name, not python3's.
    pid = running.out("systemctl show -p MainPID --value dovecot").strip()
    assert running.out(f"cat /proc/{pid}/comm") == "dovecot\n"
    assert f'("dovecot",pid={pid},' in running.out("ss -ltnp")
