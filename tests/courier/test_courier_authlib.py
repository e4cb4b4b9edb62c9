"""courier-authlib model: module order, authtest's report and exit codes, userdb tools."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from labsim.mailserver.auth.authlib import Authlib, check_password, from_config
from labsim.mailserver.auth.crypt import md5_crypt
from labsim.mailserver.courier.install import install_defaults
from labsim.mailserver.tools import authtest, makeuserdb, userdb, userdbpw
from tests.labroot_builder import LabBuilder

PAM_UNIX = "auth required pam_unix.so\naccount required pam_unix.so\n"


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabBuilder:
    b = LabBuilder(tmp_path)
    b.user("alice", "secret")
    install_defaults(b.root)
    for service in ("imap", "pop3", "login"):
        b.write(f"/etc/pam.d/{service}", PAM_UNIX)
    monkeypatch.setenv("LABSIM_ROOT", str(tmp_path))
    return b


def set_modules(lab: LabBuilder, modules: str) -> None:
    lab.write("/etc/courier/authdaemonrc", f'authmodulelist="{modules}"\nDEBUG_LOGIN=0\n')


def run_authtest(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = authtest.main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_authtest_success_layout_with_authpam(lab: LabBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_authtest(capsys, "alice", "secret")
    stored = lab.root.path("/etc/shadow").read_text().splitlines()[1].split(":")[1]
    assert rc == 0 and err == ""
    assert out == (
        "Authentication succeeded.\n"
        "\n"
        "     Authenticated: alice  (system username: alice)\n"
        "    Home Directory: /home/alice\n"
        "           Maildir: (none)\n"
        "             Quota: (none)\n"
        f"Encrypted Password: {stored}\n"
        "Cleartext Password: secret\n"
        "           Options: (none)\n"
    )


def test_authtest_without_password_shows_none(lab: LabBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_authtest(capsys, "alice")
    assert rc == 0
    assert "Cleartext Password: (none)\n" in out


@pytest.mark.parametrize("args", [("alice", "wrong"), ("nobody", "x"), ("nobody",)])
def test_authtest_failure(lab: LabBuilder, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]) -> None:
    rc, out, err = run_authtest(capsys, *args)
    assert (rc, out, err) == (1, "", "Authentication FAILED: Operation not permitted\n")


def test_authtest_usage(lab: LabBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_authtest(capsys)
    assert (rc, out) == (1, "")
    assert err == "Usage: authtest [-s service] userid [ password [ newpassword ] ]\n"


def test_authtest_service_selects_the_pam_stack(lab: LabBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    lab.write("/etc/pam.d/imap", "auth required pam_deny.so\naccount required pam_unix.so\n")
    assert run_authtest(capsys, "-s", "imap", "alice", "secret")[0] == 1
    assert run_authtest(capsys, "-spop3", "alice", "secret")[0] == 0
    assert run_authtest(capsys, "alice", "secret")[0] == 0  # service "login"


def test_pam_account_phase_refuses(lab: LabBuilder) -> None:
    lab.write("/etc/pam.d/imap", "auth required pam_unix.so\naccount required pam_deny.so\n")
    lib = Authlib(lab.root, ["authpam"])
    assert lib.authenticate("imap", "alice", "secret") is None


def test_modules_are_tried_in_order(lab: LabBuilder) -> None:
    # userdb knows alice with another password and other details; shadow knows the system one.
    lab.write("/etc/courier/userdb", "alice\tuid=2000|gid=2000|home=/srv/alice|systempw="
              + md5_crypt(b"udbpw", "abcdefgh") + "\n", mode=0o600)  # fmt: skip
    assert makeuserdb.main([]) == 0
    lib = Authlib(lab.root, ["authuserdb", "authshadow"])
    by_userdb = lib.authenticate("imap", "alice", "udbpw")
    assert by_userdb is not None and by_userdb.module == "authuserdb" and by_userdb.home == "/srv/alice"
    by_shadow = lib.authenticate("imap", "alice", "secret")  # userdb rejects, the next module accepts
    assert by_shadow is not None and by_shadow.module == "authshadow" and by_shadow.home == "/home/alice"
    reverse = Authlib(lab.root, ["authshadow", "authuserdb"])
    found = reverse.lookup("imap", "alice")
    assert found is not None and found.module == "authshadow"
    assert Authlib(lab.root, ["authshadow"]).authenticate("imap", "alice", "udbpw") is None


def test_unknown_module_is_reported_and_skipped(lab: LabBuilder) -> None:
    lib = Authlib(lab.root, ["authldap", "authshadow"])
    assert lib.problems() == ["authdaemond: unable to load module authldap: not installed in this lab"]
    info = lib.authenticate("imap", "alice", "secret")
    assert info is not None and info.module == "authshadow"


def test_authpwd_reads_the_passwd_hash(lab: LabBuilder) -> None:
    passwd = lab.root.path("/etc/passwd")
    passwd.write_text(passwd.read_text().replace("alice:x:", "alice:" + md5_crypt(b"pw", "saltsalt") + ":"))
    assert Authlib(lab.root, ["authpwd"]).authenticate("imap", "alice", "pw") is not None
    assert Authlib(lab.root, ["authpwd"]).authenticate("imap", "alice", "secret") is None


def test_from_config_reads_authmodulelist(lab: LabBuilder) -> None:
    set_modules(lab, "authuserdb authpam")
    assert from_config(lab.root).modules == ["authuserdb", "authpam"]
    lab.root.path("/etc/courier/authdaemonrc").unlink()
    assert from_config(lab.root).modules == []


def test_check_password_schemes() -> None:
    assert check_password("pw", md5_crypt(b"pw", "12345678"))
    assert check_password("pw", "{MD5}j+TBFFEoHAlKZXjm3b9e7Q==")
    assert not check_password("px", "{MD5}j+TBFFEoHAlKZXjm3b9e7Q==")
    assert not check_password("pw", "!" + md5_crypt(b"pw", "12345678"))
    assert not check_password("pw", "")


def test_userdb_tools_and_makeuserdb(
    lab: LabBuilder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_modules(lab, "authuserdb")
    monkeypatch.setattr(sys, "stdin", io.StringIO("vpass\n"))
    assert userdbpw.main(["-md5"]) == 0
    hashed = capsys.readouterr().out.strip()
    assert hashed.startswith("$1$") and check_password("vpass", hashed)
    assert userdb.main(["bob@example.com", "set", "uid=1001", "gid=1001", "home=/home/bob",
                        "mail=/home/bob/Maildir"]) == 0  # fmt: skip
    monkeypatch.setattr(sys, "stdin", io.StringIO(hashed + "\n"))
    assert userdb.main(["bob@example.com", "set", "systempw"]) == 0
    text = lab.root.path("/etc/courier/userdb").read_text()
    assert text == (
        f"bob@example.com\tuid=1001|gid=1001|home=/home/bob|mail=/home/bob/Maildir|systempw={hashed}\n"
    )
    assert os.stat(lab.root.path("/etc/courier/userdb")).st_mode & 0o777 == 0o600
    # Not compiled yet: authlib reads only userdb.dat.
    assert run_authtest(capsys, "bob@example.com", "vpass")[0] == 1
    assert makeuserdb.main([]) == 0
    rc, out, _ = run_authtest(capsys, "bob@example.com", "vpass")
    assert rc == 0
    assert "     Authenticated: bob@example.com  (uid 1001, gid 1001)\n" in out
    assert "           Maildir: /home/bob/Maildir\n" in out
    assert f"Encrypted Password: {hashed}\n" in out
    assert os.stat(lab.root.path("/etc/courier/userdbshadow.dat")).st_mode & 0o777 == 0o600
    assert userdb.main(["-show", "bob@example.com"]) == 0
    assert "uid=1001\n" in capsys.readouterr().out
    assert userdb.main(["bob@example.com", "del"]) == 0
    assert makeuserdb.main([]) == 0
    assert run_authtest(capsys, "bob@example.com", "vpass")[0] == 1


def test_makeuserdb_refuses_group_readable_source(
    lab: LabBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    lab.write("/etc/courier/userdb", "x\tuid=1|gid=1|home=/\n", mode=0o644)
    assert makeuserdb.main([]) == 1
    assert capsys.readouterr().out == "/etc/courier/userdb: MAY NOT HAVE GROUP OR WORLD PERMISSIONS!!\n"
    lab.root.path("/etc/courier/userdb").unlink()
    assert makeuserdb.main([]) == 1
    assert capsys.readouterr().out == "/etc/courier/userdb: not found.\n"


def test_userdbpw_rejects_unknown_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert userdbpw.main(["-sha999"]) == 1
    assert capsys.readouterr().err == "userdbpw: invalid argument.\n"


def test_userdbpw_default_is_a_crypt_string(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw\n"))
    assert userdbpw.main([]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("$6$") and check_password("pw", out)


def test_authenumerate_lists_system_and_userdb_accounts(
    lab: LabBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    from labsim.mailserver.tools import authenumerate

    lab.write("/etc/courier/userdb", "v@x\tuid=3000|gid=3000|home=/srv/v|mail=/srv/v/Maildir\n", mode=0o600)
    assert makeuserdb.main([]) == 0
    set_modules(lab, "authuserdb authpam")
    assert authenumerate.main([]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "v@x\t3000\t3000\t/srv/v\t/srv/v/Maildir",
        "root\t0\t0\t/root\t",
        "alice\t1000\t1000\t/home/alice\t",
    ]


def test_debug_login_logs_module_progress(lab: LabBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    lab.write("/etc/courier/authdaemonrc", 'authmodulelist="authuserdb authshadow"\nDEBUG_LOGIN=1\n')
    assert run_authtest(capsys, "alice", "secret")[0] == 0
    log = lab.root.path("/var/log/mail.log").read_text()
    assert "authdaemond: authuserdb: REJECT - try next module" in log
    assert "authdaemond: password matches successfully" in log
    assert "authdaemond: Authenticated: sysusername=alice, sysuserid=<null>, sysgroupid=1000, " in log
    assert "clearpasswd=" not in log  # DEBUG_LOGIN=2 only: it names passwords
