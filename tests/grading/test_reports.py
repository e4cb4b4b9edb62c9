"""Every report format, parsed back the way its consumer would read it."""

from __future__ import annotations

import csv
import datetime
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from labsim import __version__
from labsim.checks import CheckResult
from labsim.grading.reports import FORMATS, render, render_csv, render_junit
from labsim.grading.score import Grade
from labsim.scenario import load_scenario

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "scenarios" / "_example"
WHEN = datetime.datetime(2026, 11, 25, 12, 0, 0, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def grade() -> Grade:
    scenario = load_scenario(EXAMPLE)
    results = [
        CheckResult(
            "mail-location", "setting", True, 1, 1, "mail_location is maildir:~/Maildir", "doveconf -h", 0.25
        ),
        CheckResult(
            "alice-inbox",
            "mailbox_count",
            False,
            0,
            1,
            "Alice sees her 3 messages in INBOX over IMAP: not yet. "
            "expected 3 messages in INBOX, saw 0: Dovecot still reads /var/mail/alice",
            "* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\na1 LOGIN alice wonderland\r\n\x07<junk & more>",
            1.5,
        ),
        CheckResult("imap-answers", "capability", False, 0, 1, "", "", 10.0, error="the lab is not running"),
        CheckResult("no-pop3", "command", True, 1, 1, "", "", 0.25),
    ]  # alice-imap did not run
    return Grade.build(
        scenario,
        results,
        {"maildir": 1},
        student="ann, the learner",
        time_spent_s=754,
        backend="local",
        graded_at=WHEN,
    )


def test_text(grade: Grade) -> None:
    assert render(grade, "text") == (
        "Example: move Dovecot to Maildir\n"
        f"scenario _example version 1 · checks {grade.checks_hash} · labsim {__version__}\n"
        "student ann, the learner · time 12m 34s · hints 1 (-0.5)\n"
        "\n"
        "task maildir\n"
        "  PASS  mail-location      1/1  mail_location as doveconf reports it\n"
        "  FAIL  alice-inbox        0/2  Alice sees her 3 messages in INBOX over IMAP\n"
        # The message's leading description is not repeated under the line that shows it.
        "        not yet. expected 3 messages in INBOX, saw 0: Dovecot still reads /var/mail/alice\n"
        "  ERROR imap-answers       0/1  IMAP still answers after the change\n"
        "        lab error: the lab is not running\n"
        "\n"
        "task imap-only\n"
        "  PASS  no-pop3            2/2  doveconf no longer lists pop3 among the protocols\n"
        "  SKIP  alice-imap         0/1  Alice can still log in over IMAP\n"
        "        the check did not run\n"
        "\n"
        "score 2.5/7 (36%) · 2 of 5 checks passed · hint penalty 0.5\n"
    )


def test_json_roundtrips(grade: Grade) -> None:
    data = json.loads(render(grade, "json"))
    assert (data["format"], data["format_version"]) == ("labsim-grade", 1)
    assert (data["labsim_version"], data["scenario_id"], data["scenario_version"]) == (
        __version__,
        "_example",
        "1",
    )
    assert data["checks_hash"] == grade.checks_hash
    assert data["score"]["total"] == 2.5
    assert Grade.from_dict(data) == grade


def test_junit_parses_back(grade: Grade) -> None:
    root = ET.fromstring(render(grade, "junit"))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "1")
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "_example"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "5",
        "1",
        "1",
        "1",
    )
    assert suite.get("time") == "12.000"
    assert suite.get("timestamp") == "2026-11-25T12:00:00+00:00"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["labsim_version"] == __version__
    assert props["scenario_version"] == "1"
    assert props["checks_hash"] == grade.checks_hash
    assert (props["score"], props["max_score"], props["hints_taken"]) == ("2.5", "7", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["mail-location", "alice-inbox", "imap-answers", "no-pop3", "alice-imap"]
    assert cases["alice-inbox"].get("classname") == "_example.maildir"
    failure = cases["alice-inbox"].find("failure")
    assert failure is not None
    assert (
        failure.get("message") == "Alice sees her 3 messages in INBOX over IMAP: not yet. "
        "expected 3 messages in INBOX, saw 0: Dovecot still reads /var/mail/alice"
    )
    assert failure.get("type") == "mailbox_count"
    out = cases["alice-inbox"].find("system-out")
    assert out is not None
    # XML cannot carry a BEL; it is shown escaped instead of breaking the file.
    assert (
        out.text
        == "* OK [CAPABILITY IMAP4rev1] Dovecot ready.\na1 LOGIN alice wonderland\n\\x07<junk & more>"
    )
    error = cases["imap-answers"].find("error")
    assert error is not None and error.get("message") == "the lab is not running"
    assert cases["alice-imap"].find("skipped") is not None
    assert [child.tag for child in cases["mail-location"]] == ["system-out"]


def test_junit_has_one_testsuite_per_scenario(grade: Grade) -> None:
    root = ET.fromstring(render_junit([grade, grade]))
    assert [s.get("name") for s in root.findall("testsuite")] == ["_example", "_example"]
    assert root.get("tests") == "10"


def test_gradescope_results_json(grade: Grade) -> None:
    data = json.loads(render(grade, "gradescope"))
    assert set(data) == {
        "score",
        "execution_time",
        "output",
        "visibility",
        "stdout_visibility",
        "extra_data",
        "tests",
    }
    assert data["score"] == 2.5  # after the hint penalty
    assert data["execution_time"] == 12
    assert data["visibility"] == "visible"
    assert data["extra_data"]["scenario_id"] == "_example"
    assert data["extra_data"]["checks_hash"] == grade.checks_hash
    assert data["extra_data"]["labsim_version"] == __version__
    assert f"scenario _example version 1, checks {grade.checks_hash}, labsim {__version__}" in data["output"]
    tests = data["tests"]
    assert [t["name"] for t in tests][:2] == [
        "maildir: mail-location (mail_location as doveconf reports it)",
        "maildir: alice-inbox (Alice sees her 3 messages in INBOX over IMAP)",
    ]
    for test in tests:
        assert set(test) == {"name", "number", "score", "max_score", "status", "output", "tags", "visibility"}
        assert test["status"] in ("passed", "failed")
        assert 0 <= test["score"] <= test["max_score"]
    assert [(t["score"], t["max_score"], t["status"]) for t in tests] == [
        (1.0, 1.0, "passed"),
        (0.0, 2.0, "failed"),
        (0.0, 1.0, "failed"),
        (2.0, 2.0, "passed"),
        (0.0, 1.0, "failed"),
    ]
    assert tests[1]["output"].startswith("not yet. expected 3 messages in INBOX, saw 0")
    assert "transcript:\n* OK [CAPABILITY IMAP4rev1] Dovecot ready." in tests[1]["output"]
    assert tests[2]["output"] == "lab error: the lab is not running"


def test_csv_row_parses_back(grade: Grade) -> None:
    rows = list(csv.DictReader(io.StringIO(render(grade, "csv"))))
    assert len(rows) == 1
    row = rows[0]
    assert row == {
        "student": "ann, the learner",
        "scenario": "_example",
        "scenario_version": "1",
        "checks_hash": grade.checks_hash,
        "labsim_version": __version__,
        "points": "2.5",
        "max_points": "7",
        "check:mail-location": "1",
        "check:alice-inbox": "0",
        "check:imap-answers": "0",
        "check:no-pop3": "2",
        "check:alice-imap": "0",
        "time_s": "754",
        "hints": "1",
        "hint_penalty": "0.5",
        "graded_at": "2026-11-25T12:00:00+00:00",
    }
    assert render_csv(grade, header=False).count("\n") == 1


def test_csv_defuses_formulas_in_student_names(grade: Grade) -> None:
    hostile = Grade.from_dict({**grade.to_dict(), "student": "=HYPERLINK(1)"})
    row = next(csv.DictReader(io.StringIO(render_csv(hostile))))
    assert row["student"] == "'=HYPERLINK(1)"


def test_unknown_format(grade: Grade) -> None:
    assert FORMATS == ("text", "json", "junit", "gradescope", "csv")
    with pytest.raises(ValueError, match="unknown report format 'pdf'"):
        render(grade, "pdf")
