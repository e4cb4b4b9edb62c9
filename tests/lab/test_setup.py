"""Setup primitives, written through LocalFS into a temporary lab root."""

from __future__ import annotations

import email
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from labsim.lab.local import LocalFS
from labsim.lab.model import FileSpec, GroupSpec, LabError, LabSpec, MailboxSpec, MessageSpec, UserSpec
from labsim.lab.setup import (
    add_file,
    add_group,
    add_user,
    apply_spec,
    base_system,
    courier_defaults,
    dovecot_defaults,
    generate_message,
    pam_defaults,
    seed_mailbox,
)
from labsim.lab.sha512crypt import sha512_crypt


@pytest.fixture
def fs(tmp_path: Path) -> LocalFS:
    fs = LocalFS(tmp_path)
    base_system(fs)
    return fs


def text(fs: LocalFS, path: str) -> str:
    data = fs.read(path)
    assert data is not None, path
    return data.decode()


def mode(fs: LocalFS, path: str) -> int:
    return stat.S_IMODE(os.stat(fs.labroot.path(path)).st_mode)


def test_base_system_is_debian_like_and_idempotent(fs: LocalFS) -> None:
    base_system(fs)
    passwd = text(fs, "/etc/passwd").splitlines()
    assert passwd[0] == "root:x:0:0:root:/root:/bin/bash"
    assert [ln.split(":")[0] for ln in passwd].count("root") == 1
    assert "dovecot:x:101:103:Dovecot mail server,,,:/usr/lib/dovecot:/usr/sbin/nologin" in passwd
    assert "mail:x:8:" in text(fs, "/etc/group").splitlines()
    assert mode(fs, "/etc/shadow") == 0o640
    assert mode(fs, "/var/mail") == 0o2775
    assert mode(fs, "/tmp") == 0o1777
    assert text(fs, "/etc/hostname") == "mail\n"


def test_add_user_writes_passwd_shadow_group_and_home(fs: LocalFS) -> None:
    assert add_user(fs, UserSpec("alice", "wonderland", gecos="Alice")) == (1000, 1000)
    assert add_user(fs, UserSpec("bob", None)) == (1001, 1001)
    passwd = text(fs, "/etc/passwd").splitlines()
    assert "alice:x:1000:1000:Alice:/home/alice:/bin/bash" in passwd
    shadow = {ln.split(":")[0]: ln.split(":") for ln in text(fs, "/etc/shadow").splitlines()}
    hashed = shadow["alice"][1]
    assert hashed.startswith("$6$")
    assert sha512_crypt("wonderland", hashed.split("$")[2]) == hashed
    assert shadow["bob"][1] == "!"
    assert shadow["alice"][4] == "99999"
    assert "alice:x:1000:" in text(fs, "/etc/group").splitlines()
    assert fs.labroot.path("/home/alice").is_dir()


def test_add_user_refuses_a_duplicate(fs: LocalFS) -> None:
    add_user(fs, UserSpec("alice", "x"))
    with pytest.raises(LabError, match="user 'alice' already exists in the lab"):
        add_user(fs, UserSpec("alice", "y"))


def test_groups_and_membership(fs: LocalFS) -> None:
    assert add_group(fs, GroupSpec("staff", 2000)) == 2000
    add_user(fs, UserSpec("carol", "pw", uid=1500, groups=["staff", "mail"]))
    add_group(fs, GroupSpec("admins", members=["carol"]))
    groups = text(fs, "/etc/group").splitlines()
    assert "staff:x:2000:carol" in groups
    assert "mail:x:8:carol" in groups
    assert "carol:x:1500:" in groups
    assert "admins:x:1000:carol" in groups
    with pytest.raises(LabError, match="no group 'nosuch'"):
        add_user(fs, UserSpec("dave", "pw", groups=["nosuch"]))


def test_add_file_with_mode_and_owner(fs: LocalFS) -> None:
    add_user(fs, UserSpec("alice", "x"))
    add_file(fs, FileSpec("/etc/dovecot/local.conf", "ssl = no\n", mode=0o600, owner="alice"))
    assert text(fs, "/etc/dovecot/local.conf") == "ssl = no\n"
    assert mode(fs, "/etc/dovecot/local.conf") == 0o600
    with pytest.raises(LabError, match="no user 'nobody2'"):
        add_file(fs, FileSpec("/x", "", owner="nobody2"))


def test_generated_messages_are_realistic_and_reproducible() -> None:
    a = generate_message("alice", 1, seed=7)
    assert a == generate_message("alice", 1, seed=7)
    assert a != generate_message("alice", 2, seed=7)
    msg = email.message_from_bytes(a)
    assert msg["To"] == "alice@lab.example"
    assert msg["Message-ID"].endswith(".1.alice@lab.example>")
    assert msg["Date"].startswith(("Mon, 05 Jan 2026", "Tue, 06 Jan 2026"))
    assert msg.get_content_type() == "text/plain"
    assert b"\r" not in a


def test_seed_maildir(fs: LocalFS) -> None:
    add_user(fs, UserSpec("alice", "x"))
    path = seed_mailbox(fs, MailboxSpec("alice", 4))
    assert path == "/home/alice/Maildir"
    maildir = fs.labroot.path(path)
    assert sorted(p.name for p in maildir.iterdir()) == ["cur", "new", "tmp"]
    files = sorted((maildir / "new").iterdir())
    assert len(files) == 4
    assert all(f.name.endswith(".mail") and ".M" in f.name for f in files)
    assert mode(fs, "/home/alice/Maildir") == 0o700
    folder = seed_mailbox(fs, MailboxSpec("alice", 2, folder="Archive"))
    assert folder == "/home/alice/Maildir/.Archive"
    assert len(list(fs.labroot.path(folder + "/new").iterdir())) == 2


def test_seed_mbox_in_spool_and_home(fs: LocalFS) -> None:
    add_user(fs, UserSpec("bob", "x"))
    path = seed_mailbox(fs, MailboxSpec("bob", 4, "mbox"))
    assert path == "/var/mail/bob"
    data = fs.read(path)
    assert data is not None
    lines = data.split(b"\n")
    from_lines = [ln for ln in lines if ln.startswith(b"From ")]
    assert len(from_lines) == 4
    assert from_lines[0].split(b" ")[1].endswith(b"@lab.example") or b"@" in from_lines[0]
    # Message 3 has a body line starting with "From ", quoted in the mbox.
    assert b">From the desk of the administrator: have a good day." in data
    assert mode(fs, path) == 0o660
    home = seed_mailbox(fs, MailboxSpec("bob", 1, "mbox", location="~/mail/inbox"))
    assert home == "/home/bob/mail/inbox"
    assert mode(fs, home) == 0o600
    with pytest.raises(LabError, match="not an absolute lab path"):
        seed_mailbox(fs, MailboxSpec("bob", 1, "mbox", location="relative/box"))


def test_dovecot_defaults_tree(fs: LocalFS) -> None:
    dovecot_defaults(fs)
    conf = text(fs, "/etc/dovecot/dovecot.conf")
    assert "!include conf.d/*.conf" in conf
    assert "!include_try /usr/share/dovecot/protocols.d/*.protocol" in conf
    names = sorted(p.name for p in fs.labroot.path("/etc/dovecot/conf.d").iterdir())
    # What Debian 12's dovecot-core puts in /etc/dovecot/conf.d (10-metrics.conf stays in
    # /usr/share/dovecot), plus the imapd and pop3d packages' own files.
    assert names == [
        "10-auth.conf",
        "10-director.conf",
        "10-logging.conf",
        "10-mail.conf",
        "10-master.conf",
        "10-ssl.conf",
        "10-tcpwrapper.conf",
        "15-lda.conf",
        "15-mailboxes.conf",
        "20-imap.conf",
        "20-pop3.conf",
        "90-acl.conf",
        "90-plugin.conf",
        "90-quota.conf",
        "auth-checkpassword.conf.ext",
        "auth-deny.conf.ext",
        "auth-dict.conf.ext",
        "auth-master.conf.ext",
        "auth-passwdfile.conf.ext",
        "auth-sql.conf.ext",
        "auth-static.conf.ext",
        "auth-system.conf.ext",
    ]
    # Every "#!include x.conf.ext" a study guide tells the learner to uncomment has its file.
    for line in text(fs, "/etc/dovecot/conf.d/10-auth.conf").splitlines():
        if line.startswith("#!include auth-") and "ldap" not in line:  # ldap comes with dovecot-ldap
            assert line.split()[-1] in names, line
    assert "mail_location = mbox:~/mail:INBOX=/var/mail/%u" in text(fs, "/etc/dovecot/conf.d/10-mail.conf")
    assert text(fs, "/usr/share/dovecot/protocols.d/imapd.protocol") == "protocols = $protocols imap\n"
    assert mode(fs, "/etc/dovecot/private/dovecot.key") == 0o600
    assert text(fs, "/etc/dovecot/private/dovecot.pem").startswith("-----BEGIN CERTIFICATE-----")


def real_doveconf(conf: Path) -> tuple[int, list[str]]:
    """Debian's doveconf -n on a tree: exit status, and its lines after the version header."""
    out = subprocess.run(["/usr/bin/doveconf", "-c", str(conf), "-n"], capture_output=True, text=True)
    return out.returncode, (out.stdout + out.stderr).splitlines()[1:]


def our_doveconf(root: Path) -> tuple[int, list[str]]:
    """Our doveconf -n on the lab's /etc/dovecot/dovecot.conf."""
    out = subprocess.run(
        [sys.executable, "-m", "labsim.mailserver.tools.doveconf", "-n"],
        capture_output=True,
        text=True,
        env={**os.environ, "LABSIM_ROOT": str(root)},
    )
    return out.returncode, (out.stdout + out.stderr).splitlines()[1:]


@pytest.mark.skipif(not os.path.exists("/usr/bin/doveconf"), reason="Debian's dovecot-core not installed")
def test_real_doveconf_reads_the_default_tree_like_debians(fs: LocalFS, tmp_path: Path) -> None:
    dovecot_defaults(fs)
    copy = tmp_path / "copy"
    shutil.copytree(fs.labroot.path("/etc/dovecot"), copy)
    code, ours_by_real = real_doveconf(copy / "dovecot.conf")
    assert code == 0, ours_by_real
    settings = [ln for ln in ours_by_real if not ln.startswith("#")]
    assert settings[:2] == ["mail_location = mbox:~/mail:INBOX=/var/mail/%u", "mail_privileged_group = mail"]
    assert 'protocols = " imap pop3"' in settings
    assert "ssl_cert = </etc/dovecot/private/dovecot.pem" in settings
    # 15-mailboxes.conf: the special-use mailboxes, as on Debian.
    assert '  mailbox "Sent Messages" {' in settings and "    special_use = \\Junk" in settings
    # Debian's pristine tree (the package keeps it in /usr/share/dovecot) gives the same settings.
    if os.path.exists("/usr/share/dovecot/dovecot.conf"):
        assert real_doveconf(Path("/usr/share/dovecot/dovecot.conf")) == (0, ours_by_real)
    # And our doveconf reads our tree as the real one does.
    assert our_doveconf(fs.labroot.root) == (0, ours_by_real)


@pytest.mark.skipif(not os.path.exists("/usr/bin/doveconf"), reason="Debian's dovecot-core not installed")
@pytest.mark.parametrize("ext", ["passwdfile", "static", "deny", "master", "checkpassword", "sql", "dict"])
def test_each_auth_include_reads_alike_in_both_doveconfs(fs: LocalFS, tmp_path: Path, ext: str) -> None:
    """Uncommenting `#!include auth-X.conf.ext` in 10-auth.conf, as study guides have the learner do
    (it used to give `Fatal: ... No matches`): both doveconfs accept it and print the same."""
    dovecot_defaults(fs)
    auth = fs.labroot.path("/etc/dovecot/conf.d/10-auth.conf")
    before = auth.read_text()
    after = before.replace(f"#!include auth-{ext}.conf.ext", f"!include auth-{ext}.conf.ext")
    if ext == "dict":  # Debian's 10-auth.conf names no auth-dict line: the learner adds one
        after = before + "!include auth-dict.conf.ext\n"
    assert after != before
    auth.write_text(after)
    copy = tmp_path / "copy"
    shutil.copytree(fs.labroot.path("/etc/dovecot"), copy)
    code, real = real_doveconf(copy / "dovecot.conf")
    assert code == 0, real
    assert our_doveconf(fs.labroot.root) == (0, real)
    if ext == "passwdfile":
        assert "  args = scheme=CRYPT username_format=%u /etc/dovecot/users" in real
        assert "  driver = passwd-file" in real


def test_pam_and_courier_defaults(fs: LocalFS) -> None:
    pam_defaults(fs)
    courier_defaults(fs)
    assert "@include common-auth" in text(fs, "/etc/pam.d/dovecot")
    assert "auth\t[success=1 default=ignore]\tpam_unix.so nullok" in text(fs, "/etc/pam.d/common-auth")
    assert 'authmodulelist="authpam"' in text(fs, "/etc/courier/authdaemonrc").splitlines()
    imapd = text(fs, "/etc/courier/imapd").splitlines()
    assert "MAXPERIP=20" in imapd and "IMAPDSTART=YES" in imapd and "MAILDIRPATH=Maildir" in imapd
    assert 'IMAP_CAPABILITY_TLS="$IMAP_CAPABILITY AUTH=PLAIN"' in imapd
    pop3d = text(fs, "/etc/courier/pop3d").splitlines()
    assert "MAXPERIP=4" in pop3d and "POP3DSTART=YES" in pop3d
    assert 'cn = "localhost"' in text(fs, "/etc/courier/imapd.cnf")


def test_pam_defaults_keep_existing_files(fs: LocalFS) -> None:
    fs.write("/etc/pam.d/dovecot", b"auth required pam_permit.so\n")
    pam_defaults(fs)
    assert text(fs, "/etc/pam.d/dovecot") == "auth required pam_permit.so\n"


def test_apply_spec_and_spec_round_trip(tmp_path: Path) -> None:
    spec = LabSpec(
        name="x",
        users=[UserSpec("alice", "pw", groups=["staff"])],
        groups=[GroupSpec("staff")],
        files=[FileSpec("/etc/motd", "hi\n", 0o600)],
        mailboxes=[MailboxSpec("alice", 2)],
        courier_defaults=True,
    )
    assert LabSpec.from_dict(spec.to_dict()) == spec
    fs = LocalFS(tmp_path)
    apply_spec(fs, spec)
    assert fs.read("/etc/motd") == b"hi\n"
    assert fs.read("/etc/courier/imapd") is not None
    assert fs.read("/etc/dovecot/dovecot.conf") is not None
    assert "staff:x:1000:alice" in text(fs, "/etc/group").splitlines()
    assert "alice:x:1001:1001::/home/alice:/bin/bash" in text(fs, "/etc/passwd").splitlines()


def test_mbox_folders_and_custom_messages(fs: LocalFS) -> None:
    add_user(fs, UserSpec("bob", "x"))
    spec = MailboxSpec(
        "bob",
        1,
        "mbox",
        folders=["Sent", "Trash"],
        custom=[MessageSpec("Hi", "Eve <eve@example.org>", body="yo")],
    )
    assert seed_mailbox(fs, spec) == "/var/mail/bob"
    assert fs.read("/home/bob/mail/Sent") == b""
    assert fs.read("/home/bob/mail/Trash") == b""
    data = text(fs, "/var/mail/bob")
    assert data.count("\nFrom ") + data.startswith("From ") == 2
    assert "From eve@example.org " in data and "Subject: Hi\n" in data and "\n\nyo\n" in data
    assert seed_mailbox(fs, MailboxSpec("bob", 2, "mbox", folder="Archive")) == "/home/bob/mail/Archive"
    assert mode(fs, "/home/bob/mail/Archive") == 0o600
