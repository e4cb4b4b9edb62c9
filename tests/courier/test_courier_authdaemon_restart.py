"""`service courier-authdaemon restart` applies authdaemonrc to the running Courier daemons, as on Debian.

The lab's authdaemond lives inside each Courier daemon, which reads authdaemonrc at start and
on SIGHUP; the courier-authlib scenario found that restarting courier-authdaemon reached none
of them, so a learner who did what the real server needs still saw `-ERR Login failed.`.
"""

from __future__ import annotations

import os
import poplib
import time
from pathlib import Path

import pytest

from labsim.lab.model import LabSpec, UserSpec
from labsim.lab.registry import LabRegistry
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


def test_restarting_the_authdaemon_reloads_authmodulelist(labsim_home: Path) -> None:  # noqa: F811
    spec = LabSpec(
        name="authdaemon",
        users=[UserSpec("alice", "wonderland")],
        dovecot_defaults=False,
        courier_defaults=True,
        services=["courier-authdaemon", "courier-pop"],
    )
    lab = LabRegistry().create(spec, backend="local", lab_id=new_id())
    try:
        assert lab.start().ok
        port = int(lab.env()["LABSIM_PORT_BASE"]) + 110
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
        # pop3d read authdaemonrc when it started: carol is unknown to it until the authdaemon restarts.
        pop = poplib.POP3("127.0.0.1", port, timeout=5)
        try:
            pop.user("carol")
            with pytest.raises(poplib.error_proto, match="Login failed"):
                pop.pass_("seashell")
        finally:
            pop.close()
        assert lab.exec(["service", "courier-authdaemon", "restart"]).ok
        assert pop3_login(port, "carol", "seashell")
        assert pop3_login(port, "alice", "wonderland")
    finally:
        lab.destroy()
