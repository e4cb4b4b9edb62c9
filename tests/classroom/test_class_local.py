"""`labsim class` on the local backend (no Docker needed): errors, hints, grading, down."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import pexpect
import pytest

from labsim.classroom.roster import Student
from labsim.classroom.service import open_class, prepare_class
from labsim.lab.from_scenario import apply_solution
from tests.classroom.cli_driver import labsim, run_cli

SCENARIO = "dovecot-maildir"


def roster(tmp_path: Path, text: str = "id,name\nann,Ann\nben,Ben\n") -> Path:
    path = tmp_path / "week1.csv"
    path.write_text(text)
    return path


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("labsim: ") and err.count("\n") == 1, err
    return err.removeprefix("labsim: ").strip()


def test_commands_need_a_class(labsim_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert labsim("class", "status") == 1
    assert one_line_error(capsys).startswith("there is no class yet; start one with `labsim class up")
    assert labsim("class", "grade", "--out", "x", "--name", "nope") == 1
    assert one_line_error(capsys).startswith("no class 'nope'")


def test_up_checks_roster_and_scenarios_before_anything(
    labsim_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = roster(tmp_path, "ann,Ann\nann,Ann again\n")
    assert labsim("class", "up", "--roster", str(bad), "--scenario", SCENARIO, "--backend", "local") == 1
    assert one_line_error(capsys) == f"{bad} line 2: student id 'ann' is already on line 1"
    good = roster(tmp_path)
    # An unknown scenario is a usage error (status 2), with the nearest ids as `labsim start` gives them.
    assert labsim("class", "up", "--roster", str(good), "--scenario", "no-such", "--backend", "local") == 2
    assert one_line_error(capsys).startswith('no scenario "no-such"')
    up = ["class", "up", "--roster", str(good), "--backend", "local"]
    assert labsim(*up, "--scenario", "dovecot-maidlir") == 2
    assert one_line_error(capsys).startswith('no scenario "dovecot-maidlir"; did you mean dovecot-maildir')
    assert labsim("class", "up", "--roster", str(good), "--scenario", SCENARIO, "--memory", "lots") == 2
    assert one_line_error(capsys) == "memory limit 'lots' is not a size like 256m or 1g"
    assert not (labsim_home / "classes").exists() or not any((labsim_home / "classes").iterdir())


def test_several_classes_need_a_name(labsim_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("mon", "tue"):
        prepare_class(name, [Student("ann", "Ann")], [SCENARIO], "local")
    assert labsim("class", "status") == 1
    assert one_line_error(capsys) == "there are several classes (mon, tue); say which with --name"
    assert labsim("class", "attach", "ann", "--name", "mon") == 2  # pytest's stdin is no terminal
    assert one_line_error(capsys).startswith(
        "a lab shell needs a terminal; from a script use: labsim lab exec"
    )
    assert labsim("class", "attach", "zoe", "--name", "mon") == 1
    assert one_line_error(capsys) == "no student 'zoe' in class mon (students: ann)"


def test_hints_are_graduated_recorded_and_run_out(
    labsim_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service, _ = prepare_class("mon", [Student("ann", "Ann")], [SCENARIO], "local")
    hints = service.scenario(SCENARIO).tasks[0].hints
    for n, hint in enumerate(hints, 1):
        assert labsim("class", "hint", "ann") == 0
        # Its hints are free, and the instructor is told so, as `labsim hint` tells a learner.
        out = capsys.readouterr().out
        assert out == f"hint {n} for task maildir of {SCENARIO} (costs no points): {hint.text}\n"
    assert labsim("class", "hint", "ann") == 1
    assert one_line_error(capsys) == f"no hints left for ann in {SCENARIO}"
    assert open_class("mon").hints_taken("ann", SCENARIO) == {"maildir": len(hints)}


def test_a_hint_says_what_it_costs_the_student(labsim_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # _example's hints cost 0.5, 0.5 and 1 point: the instructor hands them out knowing it.
    prepare_class("mon", [Student("ann", "Ann")], ["_example"], "local")
    said = []
    for _ in range(3):
        assert labsim("class", "hint", "ann", "--task", "maildir") == 0
        said.append(capsys.readouterr().out.split(": ")[0])
    assert said == [
        "hint 1 for task maildir of _example (costs 0.5 points)",
        "hint 2 for task maildir of _example (costs 0.5 points)",
        "hint 3 for task maildir of _example (costs 1 point)",
    ]


def test_local_class_up_grade_down(labsim_home: Path, tmp_path: Path) -> None:
    path = roster(tmp_path)
    up = ["class", "up", "--roster", str(path), "--scenario", SCENARIO, "--backend", "local"]
    code, out = run_cli(*up)
    assert code == 0, out
    assert "class week1: 2 student(s) x 1 scenario(s) = 2 lab(s) on local" in out
    assert out.count(" created in ") == 2 and "[2/2]" in out
    code, out = run_cli(*up)
    assert code == 0 and out.count(" kept in ") == 2

    service = open_class("week1")
    apply_solution(service.lab("ben", SCENARIO), service.scenario(SCENARIO))
    code, out = run_cli("class", "grade", "--out", str(tmp_path / "grades"))
    assert code == 0, out
    with open(tmp_path / "grades" / "gradebook.csv", newline="") as f:
        book = list(csv.DictReader(f))
    assert [(r["student"], r["name"], r["points"], r["max"]) for r in book] == [
        ("ann", "Ann", "0", "5"),
        ("ben", "Ben", "5", "5"),
    ]
    assert list(book[0])[:8] == [
        "student", "name", "scenario", "scenario_version", "checks_hash", "labsim_version", "points", "max",
    ]  # fmt: skip
    assert list(book[0])[8:] == [
        f"{SCENARIO}:mail-location",
        f"{SCENARIO}:alice-imap",
        f"{SCENARIO}:alice-pop3",
        f"{SCENARIO}:alice-archive",
        "time_s",
        "hints",
        "hint_penalty",
        "lab_error",
    ]
    lab_dirs = [service.registry.lab_dir(service.record.lab_id(s, SCENARIO)) for s in ("ann", "ben")]
    assert all(d.is_dir() for d in lab_dirs)
    code, out = run_cli("class", "down", "--yes")
    assert code == 0 and "2 lab(s) removed" in out
    assert not any(d.exists() for d in lab_dirs)
    assert labsim("class", "status") == 1  # the class is gone with its labs


def test_no_engine_is_one_sentence_and_records_nothing(
    labsim_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    up = ["class", "up", "--roster", str(roster(tmp_path)), "--scenario", SCENARIO, "--backend", "docker"]
    assert labsim(*up) == 1
    message = one_line_error(capsys)
    assert message.startswith(f"no Docker engine answers at unix://{tmp_path}/no-engine.sock")
    assert message.endswith("use the local backend instead")
    assert not (labsim_home / "classes").exists() or not any((labsim_home / "classes").iterdir())


def test_attach_shows_the_brief_first_unless_quiet(labsim_home: Path) -> None:
    """The instructor sees what the student was asked, as `labsim start` shows it, then her shell."""
    service, _ = prepare_class("mon", [Student("ann", "Ann")], [SCENARIO], "local")
    assert not [e for e in service.up(workers=1) if e.error]
    scenario = service.scenario(SCENARIO)
    service.lab("ann", SCENARIO).write_file("/root/whoami.txt", "this is ann's lab\n")

    def attach(*extra: str) -> str:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "labsim.cli", "class", "attach", "ann", "--name", "mon", *extra],
            env={**os.environ, "SHELL": "/bin/sh", "PS1": "$ "},
            encoding="utf-8",
            timeout=30,
        )
        try:
            child.expect_exact("leave the shell with `exit`")
            said = child.before
            child.sendline("cat root/whoami.txt; exit")
            child.expect_exact("this is ann's lab")
            child.expect(pexpect.EOF)
        except pexpect.ExceptionPexpect as exc:
            raise AssertionError(f"`labsim class attach ann {extra}` said: {child.before!r}") from exc
        child.close()
        assert child.exitstatus == 0
        return str(said).replace("\r\n", "\n")

    said = attach()
    assert said.startswith(f"{scenario.title}\n")
    assert scenario.brief.strip().splitlines()[0] in said
    assert f"Task 1 of {len(scenario.tasks)}: {scenario.tasks[0].title}" in said
    quiet = attach("-q")
    assert scenario.title not in quiet and "Task 1 of" not in quiet
