"""The shipped example scenario, the registry, and the check type declarations."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labsim.scenario import (
    CHECK_TYPES,
    ScenarioError,
    ScenarioNotFound,
    ScenarioRegistry,
    load_scenario,
)

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLE = REPO / "scenarios" / "_example"


def test_the_example_scenario_loads_clean() -> None:
    scenario = load_scenario(EXAMPLE)
    assert scenario.id == "_example"
    assert scenario.hidden
    assert scenario.objective == "211.3"
    assert scenario.personality == "dovecot"
    assert scenario.difficulty == "beginner"
    assert [task.id for task in scenario.tasks] == ["maildir", "imap-only"]
    assert [check.id for check in scenario.checks()] == [
        "mail-location",
        "alice-inbox",
        "imap-answers",
        "no-pop3",
        "alice-imap",
    ]
    assert scenario.max_points == 7.0
    assert [len(task.hints) for task in scenario.tasks] == [3, 2]
    assert scenario.hint_cost("maildir", 0) == 0.5
    assert scenario.hint_cost("maildir", 2) == 1.0
    assert [c.id for c in scenario.checks() if c.expect_fresh == "pass"] == ["imap-answers", "alice-imap"]
    alice = scenario.setup.mailboxes[0]
    assert (alice.user, alice.format, alice.location, alice.count, alice.folders) == (
        "alice",
        "maildir",
        "~/Maildir",
        3,
        ["Archive"],
    )
    assert scenario.setup.mailboxes[1].messages[0].sender == "Postmaster <postmaster@example.org>"
    mail_conf = scenario.solution.files[0]
    assert (mail_conf.path, mail_conf.source, mail_conf.mode) == (
        "/etc/dovecot/conf.d/10-mail.conf",
        "10-mail.conf",
        0o644,
    )
    assert b"mail_location = maildir:~/Maildir" in scenario.file_bytes(mail_conf)
    assert scenario.solution.commands == ["service dovecot restart"]
    assert scenario.checks()[1].params == {
        "user": "alice",
        "password": "wonderland",
        "folder": "INBOX",
        "count": 3,
        "protocol": "imap",
    }


def test_checks_hash_is_stable_and_changes_with_what_is_graded(tmp_path: Path) -> None:
    first = load_scenario(EXAMPLE)
    assert first.checks_hash() == load_scenario(EXAMPLE).checks_hash()
    assert len(first.checks_hash()) == 16
    copy = tmp_path / "_example"
    shutil.copytree(EXAMPLE, copy)
    text = (copy / "scenario.yaml").read_text()
    (copy / "scenario.yaml").write_text(text.replace("brief: |", "brief: |\n  One more line.", 1))
    assert load_scenario(copy).checks_hash() == first.checks_hash()  # the brief is not graded
    (copy / "scenario.yaml").write_text(
        text.replace("count: 3\n          protocol", "count: 4\n          protocol")
    )
    assert load_scenario(copy).checks_hash() != first.checks_hash()


def test_registry_lists_scenarios_and_hides_underscore_folders(tmp_path: Path) -> None:
    for name in ("_example", "b-second", "a-first"):
        shutil.copytree(EXAMPLE, tmp_path / name)
        if not name.startswith("_"):
            path = tmp_path / name / "scenario.yaml"
            path.write_text(path.read_text().replace("id: _example", f"id: {name}"))
    (tmp_path / "not-a-scenario").mkdir()
    registry = ScenarioRegistry(tmp_path)
    assert [f.name for f in registry.folders()] == ["a-first", "b-second"]
    assert [f.name for f in registry.folders(include_hidden=True)] == ["_example", "a-first", "b-second"]
    assert [s.id for s in registry.scenarios()] == ["a-first", "b-second"]
    assert registry.get("_example").id == "_example"
    with pytest.raises(ScenarioNotFound) as caught:
        registry.get("nope")
    assert str(caught.value) == f'no scenario "nope" in {tmp_path} (known: a-first, b-second)'


def test_registry_keeps_invalid_scenarios_out_but_explains_them(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "broken")
    registry = ScenarioRegistry(tmp_path)
    entries = registry.entries()
    assert [(e.id, e.valid) for e in entries] == [("broken", False)]
    assert entries[0].issues[0].where == "id"
    assert entries[0].issues[0].message == '"_example" does not match its folder name "broken"'
    assert registry.scenarios() == []
    with pytest.raises(ScenarioError):
        registry.get("broken")


def test_every_check_type_declares_its_parameters() -> None:
    assert set(CHECK_TYPES) >= {
        "imap_login",
        "pop3_login",
        "capability",
        "mailbox_count",
        "pop3_sizes",
        "tls_certificate",
        "setting",
        "file",
        "command",
        "delivery",
    }
    login = CHECK_TYPES["imap_login"]
    assert [p.name for p in login.params if p.required] == ["user", "password"]
    transport = login.param("transport")
    assert transport is not None and transport.allowed == ("plain", "starttls", "tls")
    mechanism = CHECK_TYPES["pop3_login"].param("mechanism")
    assert mechanism is not None and mechanism.allowed == ("USER", "PLAIN", "LOGIN", "CRAM-MD5", "APOP")
    assert CHECK_TYPES["command"].exactly_one_of == (("argv", "shell"),)
