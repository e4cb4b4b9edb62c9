"""A learner's whole path on the local backend, through the real `labsim` command."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from labsim.scenario.loader import load_scenario
from tests.cli.conftest import EXAMPLE, Labsim, one_sentence


@pytest.mark.slow
def test_list_start_check_hint_solve_check_grade_stop(labsim: Labsim, tmp_path: Path) -> None:
    (row,) = labsim("list", "--json").json()
    assert row["id"] == "_example" and row["max_points"] == 7.0
    assert row["progress"]["state"] == "not started" and row["progress"]["attempts"] == 0
    assert "_example" in labsim("list").out

    started = labsim("--backend", "local", "start", "_example")
    assert started.code == 0, started.err
    assert "creating a lab for _example on the local backend" in started.err  # progress while it starts
    assert "starting dovecot" in started.err
    assert "is running on the local backend" in started.out
    assert "IMAP 127.0.0.1:" in started.out
    # A learner on the CLI reads the brief and the tasks where the TUI would show them.
    scen = load_scenario(EXAMPLE)
    assert started.out.startswith(f"{scen.title}\n")
    assert scen.brief.strip().splitlines()[0] in started.out
    assert f"Task 1 of {len(scen.tasks)}: {scen.tasks[0].title}" in started.out
    assert labsim("start", "_example", "--quiet").out.startswith("lab ")

    first = labsim("check", "_example")
    assert first.code == 1, first.err
    lines = first.out.splitlines()
    assert lines[0].startswith("FAIL  mail-location  0/1  mail_location as doveconf reports it")
    assert any(line.startswith("PASS  imap-answers  1/1") for line in lines)
    assert "score 2/7 (29%) · 2 of 5 checks passed" in first.out
    # The message follows its check's line without repeating the description that line shows.
    assert lines[1] == (
        "      not yet. Expected `doveconf -h mail_location` to print `maildir:~/Maildir`; "
        "it printed `mbox:~/mail:INBOX=/var/mail/%u`."
    )
    assert "running 5 checks" in first.err
    assert "| $ doveconf -h mail_location" not in first.out  # transcripts only when asked
    with_transcripts = labsim("check", "_example", "--transcript")
    assert with_transcripts.code == 1 and "| $ doveconf -h mail_location" in with_transcripts.out

    hint = labsim("hint", "_example")
    assert hint.code == 0, hint.err
    assert hint.out.startswith("hint 1 of 3 for task maildir: Point Dovecot at the users' Maildirs")
    assert "(costs 0.5 points)" in hint.out and "`doveconf -n` lists" in hint.out
    other = labsim("hint", "_example", "imap-only")
    assert other.code == 0 and other.out.startswith("hint 1 of 2 for task imap-only")

    refused = labsim("solve", "_example")  # stdin is not a terminal: no silent solution
    assert refused.code == 2
    assert "needs confirmation: run it on a terminal, or add --yes; nothing was changed" in one_sentence(
        refused.err
    )
    assert labsim("status", "_example", "--json").json()["progress"]["solved_by_solution"] is False
    solved = labsim("solve", "_example", "--yes")
    assert solved.code == 0, solved.err
    assert "protocols = imap" in solved.out and "marked solved by the solution" in solved.out

    second = labsim("check", "_example")
    assert second.code == 0, second.out + second.err
    assert second.out.count("PASS ") == 5 and "FAIL" not in second.out
    assert "score 6/7 (86%) · 5 of 5 checks passed · hint penalty 1" in second.out

    graded = labsim("grade", "_example", "--format", "json", "--student", "ann")
    assert graded.code == 0, graded.err
    report = graded.json()
    assert report["format"] == "labsim-grade" and report["scenario_id"] == "_example"
    assert report["student"] == "ann" and report["backend"] == "local"
    assert report["score"]["all_passed"] is True and report["score"]["total"] == 6.0
    assert [h["task_id"] for h in report["score"]["hints"]] == ["maildir", "imap-only"]

    junit_file = tmp_path / "out" / "grade.xml"
    junit_file.parent.mkdir()
    junit = labsim("grade", "_example", "--format", "junit", "--out", str(junit_file))
    assert junit.code == 0, junit.err
    assert junit.out == ""  # the report went to the file
    suites = ET.fromstring(junit_file.read_text())
    assert (suites.get("tests"), suites.get("failures"), suites.get("errors")) == ("5", "0", "0")
    assert "report written to" in junit.err

    (row,) = labsim("list", "--json").json()
    progress = row["progress"]
    assert progress["runs"] == 5 and progress["hints_taken"] == 2
    assert progress["solved_by_solution"] is True
    assert progress["state"] == "in progress"  # solved by the solution does not count as passed
    assert "solution used" in labsim("list").out

    status = labsim("status", "_example", "--json").json()
    assert status["lab"]["backend"] == "local" and status["lab"]["server_running"] is True
    assert status["hints_taken"] == {"maildir": 1, "imap-only": 1}
    logs = labsim("logs", "_example")
    assert logs.code == 0 and "dovecot: imap-login: Login: user=<alice>" in logs.out

    stopped = labsim("stop", "_example")
    assert stopped.code == 0 and "stopped; your changes are kept" in stopped.out
    assert labsim("status", "_example", "--json").json()["lab"]["server_running"] is False
    (lab,) = labsim("status", "--json").json()
    assert lab["scenario"] == "_example" and lab["state"] == "stopped"


@pytest.mark.slow
def test_reset_asks_then_restores_the_fresh_lab(labsim: Labsim) -> None:
    assert labsim("--backend", "local", "start", "_example").code == 0
    assert labsim("solve", "_example", "--yes").code == 0
    refused = labsim("reset", "_example")
    assert refused.code == 2 and "reset of lab" in one_sentence(refused.err)
    assert labsim("check", "_example").code == 0  # the refusal changed nothing
    reset = labsim("reset", "_example", "--yes")
    assert reset.code == 0, reset.err
    assert "back to its fresh state" in reset.out and "your changed /etc files are saved in" in reset.out
    assert labsim("check", "_example").code == 1


def test_a_lab_whose_daemon_is_switched_off_starts_and_keeps_its_ports(labsim: Labsim) -> None:
    # courier-imap's fresh lab serves POP3 while imapd is off (IMAPDSTART=NO, the exercise):
    # `labsim start` is no failure, and starting again does not move the lab off its own pop3d.
    courier = {"LABSIM_SCENARIOS": str(EXAMPLE.parent / "courier-imap")}
    first = labsim("--backend", "local", "start", "courier-imap", "--quiet", env=courier)
    assert first.code == 0, first.err
    assert "its mail server is not serving yet: `service --status-all`" in first.out
    again = labsim("start", "courier-imap", "--quiet", env=courier)
    assert again.code == 0, again.err
    pop3 = [line for line in first.out.splitlines() if line.startswith("mail server ports:")]
    assert pop3 and pop3 == [line for line in again.out.splitlines() if line.startswith("mail server ports:")]
    status = labsim("status", "courier-imap", env=courier)  # imapd off, pop3d on: each said
    assert "services: " in status.out and "courier-imap stopped" in status.out, status.out
    assert "courier-pop running" in status.out
    hint = labsim("hint", "courier-imap", env=courier)  # its hints are free: the learner is told so
    assert hint.code == 0 and "(costs no points)" in hint.out.splitlines()[0], hint.out
    labsim.destroy_labs()


def test_reset_of_a_lab_that_starts_broken_says_so(labsim: Labsim) -> None:
    broken = {"LABSIM_SCENARIOS": str(EXAMPLE.parent / "dovecot-broken-typo")}
    assert labsim("--backend", "local", "start", "dovecot-broken-typo", "-q", env=broken).code == 1
    reset = labsim("reset", "dovecot-broken-typo", "--yes", env=broken)
    assert reset.code == 0, reset.err
    assert "started again" not in reset.out
    assert "its mail server did not start (see above)" in reset.out
    assert "doveconf: Fatal: Error in configuration file" in reset.out
    labsim.destroy_labs()
