"""Courier aliases: parsing, makealiases (-dump, -chk), delivery through aliases.dat only."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labsim.mailserver.courier.aliases import AliasSource, parse_text, resolve
from labsim.mailserver.courier.install import install_defaults
from labsim.mailserver.delivery import deliver
from labsim.mailserver.tools import makealiases, sendmail
from tests.labroot_builder import LabBuilder, sample_message

HOST = "mail.example.org"


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabBuilder:
    b = LabBuilder(tmp_path)
    b.user("admin", "x")
    b.user("alice", "x")
    install_defaults(b.root)
    b.write("/etc/courier/me", HOST + "\n")
    monkeypatch.setenv("LABSIM_ROOT", str(tmp_path))
    return b


def new_files(lab: LabBuilder, user: str) -> list[Path]:
    return sorted(lab.root.path(f"/home/{user}/Maildir/new").glob("*"))


def dump(capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert makealiases.main(["-dump"]) == 0
    return capsys.readouterr().out.splitlines()


def test_stock_aliases_throw_postmaster_mail_away(
    lab: LabBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert makealiases.main([]) == 0
    assert dump(capsys) == []  # everything resolves to the empty postmaster


def test_postmaster_to_admin_resolves_every_system_alias(
    lab: LabBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    system = lab.root.path("/etc/courier/aliases/system")
    system.write_text(system.read_text().replace("postmaster:\n", "postmaster: admin\n"))
    assert makealiases.main([]) == 0
    assert dump(capsys) == [
        f"mailer-daemon@{HOST}: admin@{HOST}",
        f"postmaster@{HOST}: admin@{HOST}",
        f"root@{HOST}: admin@{HOST}",
        f"uucp@{HOST}: admin@{HOST}",
    ]


def test_two_lines_for_one_alias_merge_across_files(
    lab: LabBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    lab.write("/etc/courier/aliases/staff", "staff: alice\n# comment\nstaff: admin,\n  alice\n")
    lab.write("/etc/courier/aliases/.hidden", "staff: nobody\n")
    assert makealiases.main([]) == 0
    assert [ln for ln in dump(capsys) if ln.startswith("staff@")] == [
        f"staff@{HOST}: alice@{HOST}",
        f"staff@{HOST}: admin@{HOST}",
    ]


def test_continuation_and_include(lab: LabBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    lab.write("/etc/courier/lists/team.txt", "alice\n# not me\nadmin, bob@remote.example\n")
    lab.write("/etc/courier/aliases/team", "team: :include:/etc/courier/lists/team.txt\nops: admin\n\tteam\n")
    assert makealiases.main([]) == 0
    lines = dump(capsys)
    assert f"team@{HOST}: bob@remote.example" in lines
    assert [ln for ln in lines if ln.startswith("ops@")] == [
        f"ops@{HOST}: admin@{HOST}",
        f"ops@{HOST}: alice@{HOST}",
        f"ops@{HOST}: bob@remote.example",
    ]


def test_syntax_error_stops_makealiases_and_keeps_the_old_db(
    lab: LabBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert makealiases.main([]) == 0
    before = lab.root.path("/etc/courier/aliases.dat").read_text()
    lab.write("/etc/courier/aliases/broken", "ok: admin\nno colon here\n")
    assert makealiases.main([]) == 1
    err = capsys.readouterr().err
    assert (
        err == "makealiases: /etc/courier/aliases/broken:2: Syntax error: missing ':' after the alias name\n"
    )
    assert lab.root.path("/etc/courier/aliases.dat").read_text() == before


def test_chk_reports_root_as_unknown(lab: LabBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    # Without the stock `root: postmaster` line, root is a plain local address: refused.
    lab.write("/etc/courier/aliases/system", "postmaster: admin\n")
    lab.write("/etc/courier/aliases/extra", "boss: root, alice\n")
    assert makealiases.main(["-chk"]) == 1
    assert capsys.readouterr().out == f"boss@{HOST}: root@{HOST}: 550 User <root> unknown\n"
    assert not lab.root.path("/etc/courier/aliases.dat").exists()


def test_dump_without_db(lab: LabBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    assert makealiases.main(["-dump"]) == 1
    assert "aliases.dat: No such file or directory" in capsys.readouterr().err


def test_mail_to_root_without_alias_bounces_to_sender(lab: LabBuilder) -> None:
    lab.root.path("/etc/courier/aliases/system").write_text("postmaster:\n")
    makealiases.main([])
    result = deliver(lab.root, ["root"], sample_message(1), sender="alice")
    assert [(o.address, o.ok, o.detail) for o in result.outcomes] == [
        (f"root@{HOST}", False, "550 User <root> unknown")
    ]
    [bounce] = new_files(lab, "alice")
    text = bounce.read_text()
    assert f"<root@{HOST}>: <<< 550 User <root> unknown\n" in text
    assert "Subject: NOTICE: mail delivery status." in text
    assert f"Final-Recipient: rfc822; root@{HOST}" in text
    assert bounce.name.endswith(f",S={bounce.stat().st_size}")
    log = lab.root.path("/var/log/mail.log").read_text()
    assert f"addr=<root@{HOST}>: 550 User <root> unknown" in log


def test_alias_edits_take_effect_only_after_makealiases(lab: LabBuilder) -> None:
    system = lab.root.path("/etc/courier/aliases/system")
    makealiases.main([])
    system.write_text(system.read_text().replace("postmaster:\n", "postmaster: admin\n"))
    deliver(lab.root, ["root"], sample_message(1), sender="alice")
    assert new_files(lab, "admin") == []  # the stale db still throws postmaster mail away
    makealiases.main([])
    result = deliver(lab.root, ["root", "MAILER-DAEMON", "uucp@" + HOST], sample_message(2), sender="alice")
    assert [o.ok for o in result.outcomes] == [True]  # one copy: all three resolve to admin
    [msg] = new_files(lab, "admin")
    data = msg.read_bytes()
    assert data.startswith(b"Return-Path: <alice@" + HOST.encode() + b">\nDelivered-To: admin@")
    assert msg.name.endswith(f",S={len(data)}")
    assert new_files(lab, "alice") == []


def test_no_aliases_dat_means_no_aliases(lab: LabBuilder) -> None:
    result = deliver(lab.root, ["postmaster"], sample_message(1), sender="alice")
    assert result.outcomes[0].detail == "550 User <postmaster> unknown"


def test_double_bounce_goes_to_the_log(lab: LabBuilder) -> None:
    makealiases.main([])
    result = deliver(lab.root, ["nobody"], sample_message(1), sender="root")
    assert result.bounce == ""
    log = lab.root.path("/var/log/mail.log").read_text()
    assert "double bounce" in log and f"<nobody@{HOST}>: <<< 550 User <nobody> unknown" in log


def test_sendmail_command(
    lab: LabBuilder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    makealiases.main([])

    class Stdin:
        buffer = io.BytesIO(sample_message(3))

    monkeypatch.setattr(sys, "stdin", Stdin)
    assert sendmail.main(["-f", "admin", "alice"]) == 0
    [msg] = new_files(lab, "alice")
    assert b"Subject: Test message 3" in msg.read_bytes()
    assert sendmail.main([]) == 64
    assert capsys.readouterr().err == "sendmail: no recipients specified.\n"


_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_alias_parser_never_crashes(text: str) -> None:
    src = AliasSource()
    parse_text(text, "/f", src)
    resolved, _ = resolve(src, HOST)
    assert set(resolved) == set(src.aliases)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_NAME, st.lists(_NAME, max_size=4), max_size=6))
def test_fuzz_resolution_has_no_alias_left(table: dict[str, list[str]]) -> None:
    text = "".join(f"{k}: {', '.join(v)}\n" for k, v in table.items())
    src = AliasSource()
    parse_text(text, "/f", src)
    resolved, loops = resolve(src, HOST)
    for addrs in resolved.values():
        for a in addrs:
            local = a.split("@")[0]
            # A final address is never another alias, except in a loop (reported) or an alias that
            # names itself (`a: a, b` keeps the account a as a mailbox).
            assert local not in src.aliases or loops or f"{local}@{HOST}" in resolved[local]
