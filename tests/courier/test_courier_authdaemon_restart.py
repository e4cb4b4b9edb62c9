"""courier-authdaemon in the lab behaves like Debian's authdaemond, which logins and authtest ask.

An authdaemonrc edit counts after `service courier-authdaemon restart` (a restart of the mail
daemon is not enough), for logins and authtest alike; with courier-authdaemon stopped, logins end
in "Temporary problem" and authtest cannot connect, in the real programs' words. The
courier-authlib scenario first found that restarting courier-authdaemon reached no daemon; later,
that authtest said yes to an edit the daemons did not yet know, which sent learners the wrong way.
"""

from __future__ import annotations

import imaplib
import os
import poplib
import time
from pathlib import Path

import pytest

from labsim.checks.runner import run_check
from labsim.lab.model import Lab, LabSpec, UserSpec
from labsim.lab.registry import LabRegistry
from labsim.scenario.model import CheckSpec
from tests.lab.conftest import labsim_home, new_id, spread_port_bases  # noqa: F401  (fixtures)


def pop3_login(port: int, user: str, password: str) -> bool:
    # The server may still be re-reading its files right after the signal: a few tries.
    for _ in range(3):
        pop = poplib.POP3("127.0.0.1", port, timeout=5)
        try:
            pop.user(user)
            pop.pass_(password)
            return True
        except poplib.error_proto:
            time.sleep(0.2)
        finally:
            pop.close()
    return False


def courier_lab(name: str, *daemons: str) -> Lab:
    """A local Courier lab for alice, with courier-authdaemon and `daemons` started by lab.start()."""
    spec = LabSpec(
        name=name,
        users=[UserSpec("alice", "wonderland")],
        dovecot_defaults=False,
        courier_defaults=True,
        services=["courier-authdaemon", *daemons],
    )
    return LabRegistry().create(spec, backend="local", lab_id=new_id())


def test_restarting_the_authdaemon_reloads_authmodulelist(labsim_home: Path) -> None:  # noqa: F811
    lab = courier_lab("authdaemon", "courier-pop")
    try:
        assert lab.start().ok
        port = int(lab.env()["LABSIM_PORT_BASE"]) + 110
        # Process tools show Courier's listener by its name, as on a real host.
        assert '("couriertcpd",' in lab.exec(["sh", "-c", f"ss -ltnp 'sport = :{port}'"]).output
        os.makedirs(lab.root / "home/vmail/carol/Maildir/new", exist_ok=True)
        made = lab.exec(
            [
                "sh",
                "-c",
                "userdb carol set uid=1000 gid=1000 home=/home/vmail/carol && "
                "echo seashell | userdbpw | userdb carol set systempw && makeuserdb && "
                "sed -i 's/^authmodulelist=.*/authmodulelist=\"authuserdb authpam\"/' "
                "etc/courier/authdaemonrc",
            ]
        )
        assert made.ok, made.output
        # authdaemond read authdaemonrc when it started: carol is unknown until it restarts,
        # to pop3d and authtest alike, and restarting pop3d does not change that.
        assert lab.exec(["service", "courier-pop", "restart"]).ok
        pop = poplib.POP3("127.0.0.1", port, timeout=5)
        try:
            pop.user("carol")
            with pytest.raises(poplib.error_proto, match="Login failed"):
                pop.pass_("seashell")
        finally:
            pop.close()
        refused = lab.exec(["authtest", "carol", "seashell"])
        assert refused.code == 1 and "Authentication FAILED" in refused.output
        assert lab.exec(["service", "courier-authdaemon", "restart"]).ok
        assert pop3_login(port, "carol", "seashell")
        assert pop3_login(port, "alice", "wonderland")
        accepted = lab.exec(["authtest", "carol", "seashell"])
        assert accepted.ok and "Authenticated: carol" in accepted.output
    finally:
        lab.destroy()


def test_with_the_authdaemon_stopped_logins_fail_as_temporary_problems(
    labsim_home: Path,  # noqa: F811
) -> None:
    lab = courier_lab("authdaemon-stopped", "courier-imap", "courier-pop")
    try:
        assert lab.start().ok
        base = int(lab.env()["LABSIM_PORT_BASE"])
        assert lab.exec(["service", "courier-authdaemon", "stop"]).ok

        pop = poplib.POP3("127.0.0.1", base + 110, timeout=5)
        try:
            pop.user("alice")
            with pytest.raises(poplib.error_proto, match="-ERR Temporary problem, please try again later"):
                pop.pass_("wonderland")
            assert pop.file.readline() == b""  # courierpop3login hung up
        finally:
            pop.close()

        imap = imaplib.IMAP4("127.0.0.1", base + 143, timeout=5)
        with pytest.raises(imaplib.IMAP4.abort, match="Temporary problem, please try again later"):
            imap.login("alice", "wonderland")
        imap.shutdown()

        said = lab.exec(["authtest", "alice", "wonderland"])
        assert (said.code, said.output) == (
            1,
            "ERR: authdaemon: s_connect() failed: No such file or directory\n"
            "Authentication FAILED: Invalid argument\n",
        )
        log = lab.read_file("/var/log/mail.log").decode()
        for program in ("pop3d", "imapd"):
            mine = [line.split(f" {program}: ", 1)[1] for line in log.splitlines() if f" {program}: " in line]
            failed = [n for n, line in enumerate(mine) if line.startswith("LOGIN FAILED, user=alice")]
            assert failed, mine
            n = failed[0]
            assert mine[n - 1] == "authdaemon: s_connect() failed: No such file or directory"
            assert mine[n + 1] == "authentication error: No such file or directory"

        # The checkers read the hang-up as the login's answer and say what it means.
        for kind in ("imap_login", "mailbox_count"):
            params = {"user": "alice", "password": "wonderland", "count": 0}
            if kind == "imap_login":
                del params["count"]
            result = run_check(lab, CheckSpec(id="c", type=kind, description="alice", params=params))
            assert not result.passed
            assert '"* BYE Temporary problem, please try again later"' in result.message, result.message
            assert "courier-authdaemond" in result.message

        assert lab.exec(["service", "courier-authdaemon", "start"]).ok
        assert pop3_login(base + 110, "alice", "wonderland")
    finally:
        lab.destroy()


def test_the_unit_and_the_logins_read_the_same_record(tmp_path: Path) -> None:
    from labsim.mailserver.courier import authdaemon
    from labsim.mailserver.labroot import LabRoot
    from labsim.mailserver.tools.service import Unit

    root = LabRoot(str(tmp_path))
    unit = Unit(root, "courier-authdaemon")
    assert unit.state_file == authdaemon.UNIT_STATE
    assert authdaemon.running(root)  # no unit: a bare server's authdaemond is always there
    (tmp_path / "etc/courier").mkdir(parents=True)
    (tmp_path / "etc/courier/authdaemonrc").write_text('authmodulelist="authldap authpam"\n')
    unit.start()
    assert authdaemon.loaded_path(root) == authdaemon.LOADED_RC
    log = (tmp_path / "var/log/mail.log").read_text()
    assert "authdaemond: unable to load module authldap: not installed in this lab" in log
    unit.stop()
    assert not authdaemon.running(root)


def test_debug_login_counts_after_the_authdaemon_restarts(labsim_home: Path) -> None:  # noqa: F811
    """A learner set DEBUG_LOGIN=1, restarted courier-authdaemon and saw only `LOGIN FAILED`."""
    lab = courier_lab("authdaemon-debug", "courier-pop")
    try:
        assert lab.start().ok
        port = int(lab.env()["LABSIM_PORT_BASE"]) + 110
        edit = "sed -i 's/^DEBUG_LOGIN=.*/DEBUG_LOGIN=1/' etc/courier/authdaemonrc"
        assert lab.exec(["sh", "-c", edit]).ok
        assert lab.exec(["service", "courier-authdaemon", "restart"]).ok
        assert not pop3_login(port, "carol", "seashell")
        log = lab.read_file("/var/log/mail.log").decode()
        said = [line.split(" authdaemond: ", 1)[1] for line in log.splitlines() if " authdaemond: " in line]
        assert "received auth request, service=pop3, authtype=login" in said, log
        assert "authpam: username 'carol' not found in password file" in said, log
        assert "FAIL, all modules rejected" in said, log
    finally:
        lab.destroy()
