"""A Grade rendered for people and for tools: text, JSON, JUnit XML, Gradescope, CSV.

Every format records the labsim version, the scenario's id and version and the
hash of its checks, so a result can be traced to exactly what graded it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from labsim.checks.result import message_after
from labsim.grading.score import CheckScore, Grade

FORMATS = ("text", "json", "junit", "gradescope", "csv")
JSON_FORMAT = "labsim-grade"
JSON_FORMAT_VERSION = 1
# `labsim class grade`'s feedback/<student>.json: a student's labsim-grade reports under "grades".
CLASS_FEEDBACK_FORMAT = "labsim-class-feedback"

# Characters XML 1.0 cannot carry at all; server transcripts may hold them (a stray BEL, NUL).
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _pts(value: float) -> str:
    return f"{value:g}"


def _duration(seconds: float) -> str:
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _check_output(check: CheckScore) -> str:
    message = message_after(check.description, check.message)  # the test's name carries the description
    parts = [message] if message else []
    if check.error:
        parts.append(f"lab error: {check.error}")
    if check.transcript:
        parts.append("transcript:\n" + check.transcript)
    return "\n\n".join(parts)


def render_text(grade: Grade, *, transcripts: bool = False) -> str:
    sc = grade.score
    lines = [
        f"{grade.scenario_title}",
        f"scenario {grade.scenario_id} version {grade.scenario_version} · checks {grade.checks_hash}"
        f" · labsim {grade.labsim_version}",
    ]
    who = [f"student {grade.student}"] if grade.student else []
    who.append(f"time {_duration(grade.time_spent_s)}")
    who.append(f"hints {len(sc.hints)}" + (f" (-{_pts(sc.penalty)})" if sc.penalty else ""))
    lines.append(" · ".join(who))
    width = max((len(c.check_id) for c in sc.checks), default=0)
    task = None
    for check in sc.checks:
        if check.task_id != task:
            task = check.task_id
            lines += ["", f"task {task}"]
        label = {"passed": "PASS", "failed": "FAIL", "error": "ERROR"}.get(check.status, "SKIP")
        points = f"{_pts(check.points)}/{_pts(check.max_points)}"
        lines.append(f"  {label:<5} {check.check_id:<{width}}  {points:>7}  {check.description}".rstrip())
        if not check.passed:
            message = message_after(check.description, check.message)  # the line above has the description
            for text in (message, f"lab error: {check.error}" if check.error else ""):
                lines.extend(f"        {line}" for line in text.splitlines() if text)
        if transcripts and check.transcript:
            lines.extend(f"        | {line}" for line in check.transcript.splitlines())
    lines += [
        "",
        f"score {_pts(sc.total)}/{_pts(sc.max_points)} ({sc.fraction:.0%})"
        f" · {sc.passed_count} of {len(sc.checks)} checks passed"
        + (f" · hint penalty {_pts(sc.penalty)}" if sc.penalty else ""),
    ]
    return "\n".join(lines) + "\n"


def render_json(grade: Grade) -> str:
    data = {"format": JSON_FORMAT, "format_version": JSON_FORMAT_VERSION, **grade.to_dict()}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_junit(grades: Sequence[Grade] | Grade) -> str:
    """One <testsuite> per scenario, one <testcase> per check; the transcript goes to <system-out>."""
    items = [grades] if isinstance(grades, Grade) else list(grades)
    suites = ET.Element("testsuites", name="labsim")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for grade in items:
        checks = grade.score.checks
        counts = {
            "tests": len(checks),
            "failures": sum(1 for c in checks if c.status == "failed"),
            "errors": sum(1 for c in checks if c.status == "error"),
            "skipped": sum(1 for c in checks if c.status not in ("passed", "failed", "error")),
        }
        time = sum(c.duration_s for c in checks)
        attrib = {"name": grade.scenario_id, **{k: str(v) for k, v in counts.items()}}
        attrib |= {"time": f"{time:.3f}", "timestamp": grade.graded_at}
        suite = ET.SubElement(suites, "testsuite", attrib)
        props = ET.SubElement(suite, "properties")
        for name, value in (
            ("labsim_version", grade.labsim_version),
            ("scenario_version", grade.scenario_version),
            ("checks_hash", grade.checks_hash),
            ("student", grade.student),
            ("backend", grade.backend),
            ("score", _pts(grade.score.total)),
            ("max_score", _pts(grade.score.max_points)),
            ("hints_taken", str(len(grade.score.hints))),
            ("hint_penalty", _pts(grade.score.penalty)),
        ):
            ET.SubElement(props, "property", name=name, value=_xml_text(value))
        for check in checks:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{grade.scenario_id}.{check.task_id}",
                name=check.check_id,
                time=f"{check.duration_s:.3f}",
            )
            message = _xml_text(check.message or check.status)
            if check.status == "failed":
                failure = ET.SubElement(case, "failure", message=message, type=check.type)
                failure.text = message
            elif check.status == "error":
                error = ET.SubElement(
                    case, "error", message=_xml_text(check.error or message), type=check.type
                )
                error.text = _xml_text(check.error or message)
            elif check.status != "passed":
                ET.SubElement(case, "skipped", message=message)
            if check.transcript:
                # XML readers turn CRLF into LF anyway; doing it here keeps the file consistent.
                transcript = check.transcript.replace("\r\n", "\n")
                ET.SubElement(case, "system-out").text = _xml_text(transcript)
        for key in totals:
            totals[key] += counts[key]
        total_time += time
    for key in ("tests", "failures", "errors"):
        suites.set(key, str(totals[key]))
    suites.set("time", f"{total_time:.3f}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def render_gradescope(grade: Grade, *, visibility: str = "visible") -> str:
    """Gradescope's autograder results.json: the top-level score already has hint penalties taken off."""
    sc = grade.score
    tests = []
    for number, check in enumerate(sc.checks, start=1):
        name = f"{check.task_id}: {check.check_id}"
        if check.description:
            name += f" ({check.description})"
        tests.append(
            {
                "name": name,
                "number": str(number),
                "score": check.points,
                "max_score": check.max_points,
                "status": "passed" if check.passed else "failed",
                "output": _check_output(check),
                "tags": [check.type],
                "visibility": visibility,
            }
        )
    summary = [
        f"{grade.scenario_title}: {_pts(sc.total)}/{_pts(sc.max_points)}",
        f"scenario {grade.scenario_id} version {grade.scenario_version}, checks {grade.checks_hash},"
        f" labsim {grade.labsim_version}",
    ]
    if sc.hints:
        summary.append(f"{len(sc.hints)} hint(s) taken: -{_pts(sc.penalty)} point(s)")
    if grade.student:
        summary.insert(0, f"student {grade.student}")
    data = {
        "score": sc.total,
        "execution_time": round(sum(c.duration_s for c in sc.checks)),
        "output": "\n".join(summary),
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "extra_data": {
            # results.json has no field of its own for who was graded: extra_data is where
            # Gradescope's autograder specification lets us store it.
            **({"student": grade.student} if grade.student else {}),
            "labsim_version": grade.labsim_version,
            "scenario_id": grade.scenario_id,
            "scenario_version": grade.scenario_version,
            "checks_hash": grade.checks_hash,
            "max_score": sc.max_points,
            "hints_taken": len(sc.hints),
            "hint_penalty": sc.penalty,
            "time_spent_s": grade.time_spent_s,
        },
        "tests": tests,
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def csv_columns(grade: Grade) -> list[str]:
    base = [
        "student",
        "scenario",
        "scenario_version",
        "checks_hash",
        "labsim_version",
        "points",
        "max_points",
    ]
    per_check = [f"check:{check.check_id}" for check in grade.score.checks]
    return [*base, *per_check, "time_s", "hints", "hint_penalty", "graded_at"]


def _cell(text: str) -> str:
    # A spreadsheet would run a cell starting with = + - @ as a formula; a student name is not one.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def csv_row(grade: Grade) -> list[str]:
    sc = grade.score
    return [
        _cell(grade.student),
        grade.scenario_id,
        grade.scenario_version,
        grade.checks_hash,
        grade.labsim_version,
        _pts(sc.total),
        _pts(sc.max_points),
        *(_pts(check.points) for check in sc.checks),
        f"{grade.time_spent_s:.0f}",
        str(len(sc.hints)),
        _pts(sc.penalty),
        grade.graded_at,
    ]


def render_csv(grade: Grade, *, header: bool = True) -> str:
    """One CSV row (with its header line unless header=False, for appending to a class sheet)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(csv_columns(grade))
    writer.writerow(csv_row(grade))
    return out.getvalue()


def render(grade: Grade, fmt: str) -> str:
    if fmt == "text":
        return render_text(grade)
    if fmt == "json":
        return render_json(grade)
    if fmt == "junit":
        return render_junit(grade)
    if fmt == "gradescope":
        return render_gradescope(grade)
    if fmt == "csv":
        return render_csv(grade)
    raise ValueError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")


def render_gradescope_submission(grades: Sequence[Grade]) -> str:
    """One results.json for one submission made of several graded scenarios (a student's class
    feedback): every scenario's tests, numbered on, and the points summed."""
    if len(grades) == 1:
        return render_gradescope(grades[0])
    tests: list[dict[str, Any]] = []
    output: list[str] = []
    execution = 0
    for grade in grades:
        data = json.loads(render_gradescope(grade))
        for test in data["tests"]:
            test["name"] = f"{grade.scenario_id} · {test['name']}"
            test["number"] = str(len(tests) + 1)
            tests.append(test)
        output.append(data["output"])
        execution += int(data.get("execution_time", 0))
    students = sorted({g.student for g in grades if g.student})
    merged = {
        "score": round(sum(g.score.total for g in grades), 6),
        "execution_time": execution,
        "output": "\n".join(output),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {
            **({"student": students[0]} if len(students) == 1 else {}),
            "max_score": sum(g.score.max_points for g in grades),
            "scenarios": [
                {"id": g.scenario_id, "version": g.scenario_version, "checks_hash": g.checks_hash}
                for g in grades
            ],
        },
        "tests": tests,
    }
    return json.dumps(merged, indent=2, ensure_ascii=False) + "\n"
