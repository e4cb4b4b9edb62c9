"""What an instructor walkthrough found, on the local backend (no Docker): Ctrl+C during `up`,
leftovers of an interrupted `up`, labs that cannot be checked, feedback files the gradebook did not
write, a reused class name, options out of range, report paths that cannot be written, a closed pipe."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from labsim.classroom.gradebook import StudentGrade, feedback_json, feedback_markdown, write_gradebook
from labsim.classroom.roster import Student
from labsim.classroom.service import STARTED_KEY, open_class, prepare_class
from labsim.grading.score import Grade
from labsim.lab.registry import LabRegistry
from tests.classroom.cli_driver import labsim, run_cli

SCENARIO = "dovecot-maildir"
LABSIM = [sys.executable, "-c", "import sys; from labsim.cli import main; sys.exit(main())"]


def roster(tmp_path: Path, ids: list[str], name: str = "week1") -> Path:
    path = tmp_path / f"{name}.csv"
    path.write_text("id,name\n" + "".join(f"{s},Student {s.title()}\n" for s in ids))
    return path


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("labsim: ") and err.count("\n") == 1, err
    return err.removeprefix("labsim: ").strip()


def test_ctrl_c_during_up_stops_after_the_labs_in_progress(labsim_home: Path, tmp_path: Path) -> None:
    ids = [f"s{n:02}" for n in range(12)]
    up = [*LABSIM, "class", "up", "--roster", str(roster(tmp_path, ids)), "--scenario", SCENARIO]
    proc = subprocess.Popen(
        [*up, "--backend", "local", "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]  # the class line
        lines.append(proc.stdout.readline())  # the first lab is up: now the instructor presses Ctrl+C
        assert " created in " in lines[-1], lines
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines += out.splitlines()
    assert proc.returncode == 130, (lines, err)
    made = sum(1 for line in lines if " created in " in line)
    assert 1 <= made <= 2, lines  # the lab in progress when Ctrl+C came is finished, no other begun
    summary = lines[-1]
    assert summary.startswith(f"class week1: interrupted; {made} of 12 lab(s) up (created {made}),")
    assert summary.endswith("Run the same `labsim class up` again to bring up the rest.")
    assert "Traceback" not in err
    labs = [lab for lab in LabRegistry().list() if lab.lab_id.startswith("class-week1-")]
    assert len(labs) == made and all(lab.state.get(STARTED_KEY) for lab in labs)
    # Running it again brings up the rest and keeps what was made.
    code, again = run_cli("class", "up", "--roster", str(tmp_path / "week1.csv"), "--scenario", SCENARIO)
    assert code == 0 and again.count(" kept in ") == made and again.count(" created in ") == 12 - made
    assert run_cli("class", "down", "--yes")[0] == 0


def test_up_repairs_what_an_interrupted_up_left(labsim_home: Path, tmp_path: Path) -> None:
    service, _ = prepare_class("week1", [Student("ann", "Ann"), Student("ben", "Ben")], [SCENARIO], "local")
    code, out = run_cli(
        "class", "up", "--roster", str(roster(tmp_path, ["ann", "ben"])), "--scenario", SCENARIO
    )
    assert code == 0 and out.count(" created in ") == 2
    # ann's `up` was cut off before her services started: "kept" would leave her without a server.
    ann = service.lab("ann", SCENARIO)
    ann.stop()
    ann.state.pop(STARTED_KEY)
    ann.save_state()
    # ben's was cut off before his lab's record was written: a folder with files and no state.json.
    ben_dir = service.registry.lab_dir(service.record.lab_id("ben", SCENARIO))
    service.lab("ben", SCENARIO).destroy()
    (ben_dir / "root").mkdir(parents=True)
    # and a third, of a student added later, left an empty folder only.
    code, out = run_cli(
        "class", "up", "--roster", str(roster(tmp_path, ["ann", "ben"])), "--scenario", SCENARIO
    )
    assert code == 0, out
    assert "ann  dovecot-maildir  started in " in out and "ben  dovecot-maildir  recreated in " in out
    rows = {r.student.id: r for r in open_class("week1").status()}
    assert (rows["ann"].state, rows["ann"].server) == ("running", "running")
    assert (rows["ben"].state, rows["ben"].server) == ("running", "running")
    # `class down` removes a folder an interrupted `up` left without a record, too.
    open_class("week1").lab("ben", SCENARIO).stop()  # first: its server's pid files are under root/
    shutil.rmtree(ben_dir / "root")
    (ben_dir / "state.json").unlink()
    code, out = run_cli("class", "down", "--yes")
    assert code == 0 and "2 lab(s) removed" in out
    assert not ben_dir.exists()


def test_prune_helper_removes_only_empty_lab_folders(labsim_home: Path) -> None:
    labs = labsim_home / "labs"
    (labs / "empty").mkdir(parents=True)
    (labs / "with-files").mkdir()
    (labs / "with-files" / "note.txt").write_text("mine")
    assert LabRegistry().remove_empty_dirs() == ["empty"]
    assert (labs / "with-files" / "note.txt").read_text() == "mine"


def test_a_lab_that_cannot_be_checked_fills_lab_error(
    labsim_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    up = ["class", "up", "--roster", str(roster(tmp_path, ["ann", "ben"])), "--scenario", SCENARIO]
    assert run_cli(*up, "--backend", "local")[0] == 0
    service = open_class("week1")
    broken = service.lab("ben", SCENARIO)
    broken.stop()
    shutil.rmtree(broken.lab_dir / "root")  # the lab's files are gone: no check can run in it
    capsys.readouterr()
    code, out = run_cli("class", "grade", "--out", str(tmp_path / "grades"))
    err = capsys.readouterr().err
    assert code == 1, (out, err)
    with open(tmp_path / "grades" / "gradebook.csv", newline="") as f:
        book = {r["student"]: r for r in csv.DictReader(f)}
    assert book["ann"]["lab_error"] == ""
    assert book["ben"]["lab_error"] != "" and book["ben"]["points"] == "0"
    assert f"ben  {SCENARIO}  0/5 (lab error: {book['ben']['lab_error']})" in out
    assert f"labsim: ben {SCENARIO}: the lab could not be checked: {book['ben']['lab_error']}" in err
    assert err.rstrip().endswith("repair them with `labsim class up` and grade again")
    assert run_cli("class", "down", "--yes")[0] == 0


def _grades(students: list[Student]) -> list[StudentGrade]:
    scenario = open_class("week1").scenario(SCENARIO)
    return [StudentGrade(s, SCENARIO, Grade.build(scenario, [], student=s.id)) for s in students]


def test_regrading_removes_only_its_own_stale_feedback(labsim_home: Path, tmp_path: Path) -> None:
    ann, ben, zed = Student("ann", "Ann"), Student("ben", "Ben"), Student("zed", "Zed")
    prepare_class("week1", [ann, ben], [SCENARIO], "local")
    feedback = tmp_path / "grades" / "feedback"
    feedback.mkdir(parents=True)
    # An earlier grading of this class, when zed was in it; and of another class; and the instructor's notes.
    (feedback / "zed.json").write_text(feedback_json("week1", zed, _grades([zed])))
    (feedback / "zed.md").write_text(feedback_markdown("week1", zed, _grades([zed])))
    (feedback / "kim.json").write_text(feedback_json("week2", Student("kim", "Kim"), _grades([zed])))
    (feedback / "notes.md").write_text("# my notes\n")
    (feedback / "rubric.json").write_text('{"points": 5}\n')
    write_gradebook(tmp_path / "grades", "week1", [ann, ben], _grades([ann, ben]))
    assert sorted(p.name for p in feedback.iterdir()) == [
        "ann.json", "ann.md", "ben.json", "ben.md", "kim.json", "notes.md", "rubric.json",
    ]  # fmt: skip
    assert (feedback / "notes.md").read_text() == "# my notes\n"


def test_reusing_a_class_name_says_what_changed(labsim_home: Path) -> None:
    prepare_class("week1", [Student("ann", "Ann"), Student("ben", "Ben")], [SCENARIO], "local")
    _, notes = prepare_class("week1", [Student("ann", "Ann"), Student("ben", "Ben")], [SCENARIO], "local")
    assert notes == []  # the same roster again: nothing to say
    _, notes = prepare_class(
        "week1", [Student("ann", "Ann Lee"), Student("cyd", "Cyd")], [SCENARIO, "dovecot-pam"], "local"
    )
    assert notes == [
        "class week1 already exists; added 1 student(s): cyd; added scenario(s) dovecot-pam;"
        " renamed ann ('Ann' -> 'Ann Lee'); kept 1 student(s) not in this roster, with their labs: ben"
    ]
    record = open_class("week1").record
    assert [(s.id, s.name) for s in record.students] == [("ann", "Ann Lee"), ("ben", "Ben"), ("cyd", "Cyd")]
    assert record.scenarios == [SCENARIO, "dovecot-pam"]


@pytest.mark.parametrize(
    "argv",
    [
        ["class", "watch", "--interval", "-5"],
        ["class", "watch", "--interval", "0"],
        ["class", "up", "--roster", "r.csv", "--scenario", SCENARIO, "--cpus", "-1"],
        ["class", "up", "--roster", "r.csv", "--scenario", SCENARIO, "--cpus", "nan"],
    ],
)
def test_options_out_of_range_get_the_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        labsim(*argv)
    assert exc.value.code == 2
    assert "must be more than 0" in capsys.readouterr().err


def test_no_terminal_to_ask_is_a_usage_error(labsim_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prepare_class("week1", [Student("ann", "Ann")], [SCENARIO], "local")
    assert labsim("class", "down") == 2  # pytest's stdin is no terminal
    assert one_line_error(capsys).endswith("run it on a terminal, or add --yes; nothing was changed")
    assert labsim("class", "watch") == 2
    assert one_line_error(capsys).startswith("the class dashboard needs a terminal")


@pytest.mark.parametrize("kind", ["missing-folder", "through-a-file", "a-file", "proc"])
def test_an_unwritable_gradebook_folder_is_refused_before_any_check(
    labsim_home: Path, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare_class("week1", [Student("ann", "Ann")], [SCENARIO], "local")
    a_file = tmp_path / "plain"
    a_file.write_text("x")
    out, says = {
        "missing-folder": (tmp_path / "nope" / "grades", f"the folder {tmp_path / 'nope'} does not exist"),
        "through-a-file": (a_file / "grades", f"{a_file} is a file, not a folder"),
        "a-file": (a_file, "it is a file, not a folder"),
        "proc": (Path("/proc/grades"), "the folder /proc is not writable"),
    }[kind]
    code, printed = run_cli("class", "grade", "--out", str(out))
    assert code == 2 and printed == ""  # nothing was checked
    assert one_line_error(capsys).startswith(f"cannot write the gradebook to {out}: {says}")
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("argv", [["class", "status"], ["class", "status", "--json"]])
def test_a_reader_who_leaves_the_pipe_ends_it_quietly(labsim_home: Path, argv: list[str]) -> None:
    # 300 students: more than a pipe's buffer, so the writes meet the closed pipe inside the command.
    prepare_class("big", [Student(f"s{n:03}", f"Student {n}") for n in range(300)], [SCENARIO], "local")
    read, write = os.pipe()
    os.close(read)  # `| head -1` that has already left
    try:
        proc = subprocess.run([*LABSIM, *argv], stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert proc.stderr == ""
    assert proc.returncode == 0
