"""Our doveconf on its own: layout, lookups, exit codes, LABSIM_ROOT."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labsim.mailserver.tools.doveconf import main

CONF = """# lab config
protocols = imap pop3
listen = 127.0.0.1
mail_location = maildir:~/Maildir
ssl = required
ssl_cert = </etc/ssl/certs/dovecot.pem
ssl_key = </etc/ssl/private/dovecot.pem
auth_mechanisms = plain login
auth_failure_delay = 120s
passdb {
  driver = pam
}
userdb {
  driver = passwd
}
service imap-login {
  inet_listener imaps {
    port = 993
    ssl = yes
  }
}
protocol pop3 {
  pop3_uidl_format = %08Xu
}
"""


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    conf = tmp_path / "etc" / "dovecot" / "dovecot.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(CONF)
    monkeypatch.setenv("LABSIM_ROOT", str(tmp_path))
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(args), stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()


def test_dash_n_layout(lab: Path) -> None:
    rc, out, err = run("-n")
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "# 2.3.19.1 (9b53102964): /etc/dovecot/dovecot.conf"
    assert lines[1] == "# Pigeonhole version 0.5.19 (4eae2f79)"
    assert lines[2].startswith("# OS: Linux ") and lines[2].endswith(" ")
    assert lines[3].startswith("# Hostname: ")
    assert lines[4:] == [
        "auth_failure_delay = 2 mins",
        "auth_mechanisms = plain login",
        "listen = 127.0.0.1",
        "mail_location = maildir:~/Maildir",
        "passdb {",
        "  driver = pam",
        "}",
        "protocols = imap pop3",
        "service imap-login {",
        "  inet_listener imaps {",
        "    port = 993",
        "    ssl = yes",
        "  }",
        "}",
        "ssl = required",
        "ssl_cert = </etc/ssl/certs/dovecot.pem",
        "ssl_key = # hidden, use -P to show it",
        "userdb {",
        "  driver = passwd",
        "}",
        "protocol pop3 {",
        "  pop3_uidl_format = %08Xu",
        "}",
    ]
    assert "ssl_key = </etc/ssl/private/dovecot.pem" in run("-n", "-P")[1].splitlines()


def test_lookups(lab: Path) -> None:
    assert run("ssl", "auth_failure_delay", "ssl_key") == (
        0,
        "ssl = required\nauth_failure_delay = 2 mins\nssl_key = </etc/ssl/private/dovecot.pem\n",
        "",
    )
    assert run("-h", "mail_location") == (0, "maildir:~/Maildir\n", "")
    assert run("-f", "protocol=pop3", "-h", "pop3_uidl_format") == (0, "%08Xu\n", "")
    assert run("-h", "pop3_uidl_format") == (0, "%08Xu%08Xv\n", "")
    assert run("no_such_setting") == (0, "", "")


def test_dash_a_has_everything(lab: Path) -> None:
    rc, out, _ = run("-a")
    lines = out.splitlines()
    assert rc == 0
    assert lines[4] == "# NOTE: Send doveconf -n output instead when asking for help."
    assert "first_valid_uid = 500" in lines and "ssl = required" in lines
    assert "service pop3-login {" in lines and "    port = 995" in lines
    assert len(lines) > 1000


def test_config_error_exits_89(lab: Path) -> None:
    conf = lab / "etc" / "dovecot" / "dovecot.conf"
    conf.write_text("protocols = imap\nmail_locaton = x\n")
    rc, out, err = run("-n")
    assert rc == 89
    assert (
        out == "# 2.3.19.1 (9b53102964): /etc/dovecot/dovecot.conf\n# Pigeonhole version 0.5.19 (4eae2f79)\n"
    )
    assert err == (
        "doveconf: Fatal: Error in configuration file /etc/dovecot/dovecot.conf line 2: "
        "Unknown setting: mail_locaton\n"
    )
    assert run("ssl") == (89, "", err)


def test_whole_file_error_prints_error_then_fatal(lab: Path) -> None:
    (lab / "etc" / "dovecot" / "dovecot.conf").write_text("passdb {\n  args = x\n}\n")
    rc, out, err = run("-n")
    assert rc == 89
    assert out.splitlines()[4:] == ["passdb {", "  args = x", "}"]
    assert err == (
        "doveconf: Error: passdb is missing driver\n"
        "doveconf: Fatal: Error in configuration file /etc/dovecot/dovecot.conf: passdb is missing driver\n"
    )


def test_warnings_go_to_stderr(lab: Path) -> None:
    (lab / "etc" / "dovecot" / "dovecot.conf").write_text("protocols = imap imaps\n")
    rc, out, err = run("-n")
    assert rc == 0 and out.splitlines()[4:] == ["protocols = imap"]
    assert err == (
        "doveconf: Warning: NOTE: You can get a new clean config file with: doveconf -Pn > dovecot-new.conf\n"
        "doveconf: Warning: Obsolete setting in /etc/dovecot/dovecot.conf:1: 'imaps' protocol is no longer "
        "necessary, remove it\n"
    )


def test_dash_c_with_lab_and_relative_paths(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = lab / "srv" / "alt.conf"
    other.parent.mkdir()
    other.write_text("login_greeting = alt\n")
    assert run("-c", "/srv/alt.conf", "-h", "login_greeting") == (0, "alt\n", "")
    monkeypatch.chdir(lab / "srv")
    rc, out, _ = run("-c", "alt.conf", "-n")
    assert rc == 0 and out.splitlines()[0] == "# 2.3.19.1 (9b53102964): alt.conf"
    assert run("-c", "/srv/missing.conf", "-n")[2] == (
        "doveconf: Fatal: open(/srv/missing.conf) failed: No such file or directory\n"
    )


def test_bad_option_exits_89(lab: Path) -> None:
    rc, _, err = run("-Z")
    assert rc == 89 and err == "doveconf: invalid option -- 'Z'\n"
    assert run("-c")[2] == "doveconf: option requires an argument -- 'c'\n"


def test_runs_as_a_program(lab: Path) -> None:
    env = dict(os.environ, LABSIM_ROOT=str(lab))
    (lab / "etc" / "dovecot" / "dovecot.conf").write_text("ssl = maybe\n")
    proc = subprocess.run(
        [sys.executable, "-m", "labsim.mailserver.tools.doveconf", "-n"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 89
    assert (
        proc.stderr == "doveconf: Fatal: Error in configuration file /etc/dovecot/dovecot.conf line 1: "
        "Invalid value: maybe\n"
    )
