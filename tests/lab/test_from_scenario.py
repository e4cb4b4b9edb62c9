"""A scenario's setup and solution, applied to a local lab."""

from __future__ import annotations

import email
from pathlib import Path

import pytest

from labsim.lab.from_scenario import apply_solution, lab_spec
from labsim.lab.local import LocalLab
from labsim.lab.model import LabError, MailboxSpec, MessageSpec
from labsim.lab.registry import LabRegistry
from labsim.scenario.loader import load_scenario
from labsim.scenario.model import FileSetup

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "_example" / "scenario.yaml"


def test_example_scenario_becomes_a_spec() -> None:
    spec = lab_spec(load_scenario(EXAMPLE))
    assert [u.name for u in spec.users] == ["alice", "bob"]
    assert spec.users[1].groups == ["mail"]
    assert spec.mailboxes[0] == MailboxSpec("alice", 3, "maildir", "~/Maildir", folders=["Archive"])
    assert spec.mailboxes[1].messages == 0
    assert spec.mailboxes[1].custom == [
        MessageSpec(
            "Welcome to the lab",
            "Postmaster <postmaster@example.org>",
            "",
            "",
            "Hello Bob,\nyour mailbox works.\n",
        )
    ]
    assert spec.services == ["dovecot"]
    assert spec.dovecot_defaults and not spec.courier_defaults


def test_example_scenario_lab_and_solution(labsim_home: Path) -> None:
    scenario = load_scenario(EXAMPLE)
    lab = LabRegistry().create(lab_spec(scenario), backend="local", lab_id="example")
    assert isinstance(lab, LocalLab)
    try:
        root = lab.root
        assert len(list((root / "home/alice/Maildir/new").iterdir())) == 3
        assert sorted(p.name for p in (root / "home/alice/Maildir/.Archive").iterdir()) == [
            "cur",
            "new",
            "tmp",
        ]
        (bob_msg,) = list((root / "home/bob/Maildir/new").iterdir())
        msg = email.message_from_bytes(bob_msg.read_bytes())
        assert (msg["Subject"], msg["From"], msg["To"]) == (
            "Welcome to the lab",
            "Postmaster <postmaster@example.org>",
            "bob@lab.example",
        )
        assert msg.get_payload() == "Hello Bob,\nyour mailbox works.\n"
        assert lab.exec(["doveconf", "-h", "mail_location"]).output == "mbox:~/mail:INBOX=/var/mail/%u\n"
        lab.write_file("/etc/dovecot/conf.d/99-lab.conf", "listen = 127.0.0.1\nssl = no\n")
        assert lab.start().code == 0
        results = apply_solution(lab, scenario)
        assert [r.code for r in results] == [0], results
        assert lab.exec(["doveconf", "-h", "mail_location"]).output == "maildir:~/Maildir\n"
        assert lab.exec(["systemctl", "is-active", "dovecot"]).output == "active\n"
    finally:
        lab.destroy()


def test_file_sources_stay_inside_the_scenario(tmp_path: Path) -> None:
    from labsim.lab.from_scenario import _file

    scenario = load_scenario(EXAMPLE)
    with pytest.raises(LabError, match=r"file source '../scenario.yaml' is outside its files/ folder"):
        _file(scenario, FileSetup(path="/etc/x", source="../scenario.yaml"))
    with pytest.raises(LabError, match="has neither content nor a source"):
        _file(scenario, FileSetup(path="/etc/x"))
