"""`labsim report`: saved JSON grades rendered again, for a whole class at once."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from labsim.checks import CheckResult
from labsim.cli import main
from labsim.grading.reports import render_json
from labsim.grading.score import Grade
from labsim.scenario import load_scenario

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "scenarios" / "_example"


@pytest.fixture
def saved(tmp_path: Path) -> list[Path]:
    scenario = load_scenario(EXAMPLE)
    paths = []
    for student, passing in (("ann", {"mail-location", "alice-inbox"}), ("bob", {"no-pop3"})):
        results = [
            CheckResult(c.id, c.type, c.id in passing, float(c.id in passing), 1) for c in scenario.checks()
        ]
        path = tmp_path / f"{student}.json"
        path.write_text(render_json(Grade.build(scenario, results, student=student)))
        paths.append(path)
    return paths


def test_csv_for_a_class(saved: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--format", "csv", *map(str, saved)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["student"], r["points"], r["max_points"]) for r in rows] == [
        ("ann", "3", "7"),
        ("bob", "2", "7"),
    ]


def test_junit_for_a_class(saved: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--format", "junit", *map(str, saved)]) == 0
    root = ET.fromstring(capsys.readouterr().out)
    suites = root.findall("testsuite")
    assert [s.find("properties/property[@name='student']").get("value") for s in suites] == ["ann", "bob"]  # type: ignore[union-attr]
    assert root.get("failures") == "7"


def test_text_of_one_grade(saved: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(saved[0])]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Example: move Dovecot to Maildir\n")
    assert out.endswith("score 3/7 (43%) · 2 of 5 checks passed\n")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{oops", "line 1: not JSON (Expecting property name enclosed in double quotes)"),
        ('{"format": "other"}', 'not a labsim grade (write one with "--format json")'),
        ('{"format": "labsim-grade"}', "a labsim grade with a missing or damaged field ('score')"),
    ],
)
def test_bad_input_is_one_clear_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "grade.json"
    if content is not None:
        path.write_text(content)
    assert main(["report", str(path)]) == 1
    assert (
        capsys.readouterr().err
        == f"labsim report: {path}{'' if message.startswith('line') else ':'} {message}\n"
    )


def test_unknown_format_and_gradescope_for_many(
    saved: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--format", "pdf", str(saved[0])]) == 2
    assert capsys.readouterr().err == (
        "labsim report: unknown format 'pdf' (known: text, json, junit, gradescope, csv)\n"
    )
    assert main(["report", "--format", "gradescope", *map(str, saved)]) == 2
    assert "holds one submission" in capsys.readouterr().err
    assert main(["report", "--format", "gradescope", str(saved[1])]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == 2.0


@pytest.fixture
def feedback(tmp_path: Path) -> Path:
    """`labsim class grade`'s feedback/<student>.json: one student's grades, one per scenario."""
    from labsim.classroom.gradebook import StudentGrade, feedback_json
    from labsim.classroom.roster import Student

    scenario = load_scenario(EXAMPLE)
    dave = Student("dave", "Dave")
    mine = []
    for passing in ({"mail-location"}, {"mail-location", "alice-inbox", "no-pop3"}):
        results = [
            CheckResult(c.id, c.type, c.id in passing, float(c.id in passing), 1) for c in scenario.checks()
        ]
        mine.append(StudentGrade(dave, "_example", Grade.build(scenario, results, student="dave")))
    path = tmp_path / "feedback" / "dave.json"
    path.parent.mkdir()
    path.write_text(feedback_json("week1", dave, mine))
    return path


@pytest.mark.parametrize("fmt", ["text", "json", "junit", "csv", "gradescope"])
def test_a_class_feedback_file_is_readable(
    feedback: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--format", fmt, str(feedback)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    if fmt == "text":
        assert out.count("student dave") == 2 and "score 1/7" in out and "score 5/7" in out
    elif fmt == "json":
        assert [(g["student"], g["score"]["checks"][0]["status"]) for g in json.loads(out)] == [
            ("dave", "passed"),
            ("dave", "passed"),
        ]
    elif fmt == "junit":
        assert len(ET.fromstring(out).findall("testsuite")) == 2
    elif fmt == "csv":
        assert [(r["student"], r["points"]) for r in csv.DictReader(io.StringIO(out))] == [
            ("dave", "1"),
            ("dave", "5"),
        ]
    else:  # one submission: both scenarios' tests, the points summed, the student kept
        data = json.loads(out)
        assert data["score"] == 6 and data["extra_data"]["max_score"] == 14
        assert data["extra_data"]["student"] == "dave"
        assert [t["number"] for t in data["tests"]] == [str(n) for n in range(1, 11)]


def test_gradescope_keeps_the_student(saved: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--format", "gradescope", str(saved[0])]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["extra_data"]["student"] == "ann"  # results.json has no student field of its own
    assert data["output"].startswith("student ann\n")
