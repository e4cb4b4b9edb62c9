"""`labsim class grade --out DIR`: grade every student's labs and write the class's reports.

    DIR/gradebook.csv            one row per student and scenario: points, max, each check, time, hints
    DIR/junit.xml                one <testsuite> per student and scenario
    DIR/feedback/<student>.json  the student's grades (each a labsim-grade JSON report)
    DIR/feedback/<student>.md    the same for people: what passed, what failed and why

Re-running replaces these files (each written whole, then moved in place) and
removes the feedback files an earlier grading of the same class wrote for
students no longer in it (they carry the class's marker), so DIR shows one
grading, never a mix of two. Files it did not write are never touched.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from labsim.checks.result import CheckResult
from labsim.classroom.roster import Student
from labsim.classroom.service import ClassService
from labsim.grading.reports import CLASS_FEEDBACK_FORMAT, render_json, render_junit
from labsim.grading.score import Grade
from labsim.lab.model import LabError

FEEDBACK_FORMAT = CLASS_FEEDBACK_FORMAT  # `labsim report` reads these files too
GRADE_WORKERS = 2  # each grading runs pexpect sessions: two at a time keep 2 cores usable


@dataclass
class StudentGrade:
    student: Student
    scenario: str
    grade: Grade
    lab_error: str = ""  # the lab could not be checked (gone, engine down): every check is "not run"


def _pts(value: float) -> str:
    return f"{value:g}"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def grade_one(service: ClassService, student: Student, sid: str, now: float | None = None) -> StudentGrade:
    scenario = service.scenario(sid)
    results: list[CheckResult] = []
    error = ""
    try:
        results = service.check(student.id, sid, now)
    except LabError as exc:
        error = str(exc)
    else:
        error = lab_failure(results)
    at = time.time() if now is None else now
    created = service.created_at(student.id, sid)
    finished = service.board.all_passed_since(student.id, sid, [c.id for c in scenario.checks()])
    spent = max(0.0, (finished or at) - created) if created else 0.0
    grade = Grade.build(
        scenario,
        results,
        service.hints_taken(student.id, sid),
        student=student.id,
        time_spent_s=round(spent),
        backend=service.record.backend,
        graded_at=datetime.datetime.fromtimestamp(at, datetime.UTC),
    )
    return StudentGrade(student, sid, grade, error)


def lab_failure(results: list[CheckResult]) -> str:
    """Why the lab itself could not be checked, or "": the runner turns a lab error (container gone,
    engine down) into an ERROR result per check, so a lab error is one every check ran into."""
    errors = [r.error for r in results]
    if not results or any(e is None for e in errors):
        return ""
    first = str(errors[0])
    return first if all(e == first for e in errors) else ""


def grade_class(
    service: ClassService,
    workers: int = GRADE_WORKERS,
    progress: Callable[[StudentGrade, int, int], None] | None = None,
) -> list[StudentGrade]:
    pairs = service.record.pairs()
    done: list[StudentGrade] = []
    lock = threading.Lock()

    def one(pair: tuple[Student, str]) -> StudentGrade:
        sg = grade_one(service, *pair)
        with lock:
            done.append(sg)
            if progress is not None:
                progress(sg, len(done), len(pairs))
        return sg

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        grades = list(pool.map(one, pairs))  # roster order, whatever order they finished in
    service.board.save()
    return grades


# --- the files --------------------------------------------------------------------------


def gradebook_csv(grades: list[StudentGrade]) -> str:
    check_columns: list[tuple[str, str]] = []
    for sg in grades:
        for check in sg.grade.score.checks:
            if (sg.scenario, check.check_id) not in check_columns:
                check_columns.append((sg.scenario, check.check_id))
    header = ["student", "name", "scenario", "scenario_version", "checks_hash", "labsim_version"]
    header += ["points", "max"] + [f"{sid}:{cid}" for sid, cid in check_columns]
    header += ["time_s", "hints", "hint_penalty", "lab_error"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for sg in grades:
        g, sc = sg.grade, sg.grade.score
        points = {(sg.scenario, c.check_id): _pts(c.points) for c in sc.checks}
        row = [sg.student.id, _safe(sg.student.name), sg.scenario, g.scenario_version, g.checks_hash]
        row += [g.labsim_version, _pts(sc.total), _pts(sc.max_points)]
        row += [points.get(col, "") for col in check_columns]
        row += [f"{g.time_spent_s:.0f}", str(len(sc.hints)), _pts(sc.penalty), sg.lab_error]
        writer.writerow(row)
    return out.getvalue()


def _safe(text: str) -> str:
    # A spreadsheet runs a cell starting with = + - @ as a formula; a name is not one.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def junit_xml(grades: list[StudentGrade]) -> str:
    """render_junit names each suite after its scenario; a class needs the student in it too."""
    root = ET.fromstring(render_junit([sg.grade for sg in grades]).split("\n", 1)[1])
    for suite, sg in zip(root.findall("testsuite"), grades, strict=True):
        suite.set("name", f"{sg.student.id}/{sg.scenario}")
        for case in suite.findall("testcase"):
            case.set("classname", f"{sg.student.id}.{case.get('classname', sg.scenario)}")
    root.set("name", "labsim class")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def feedback_json(class_name: str, student: Student, mine: list[StudentGrade]) -> str:
    data = {
        "format": FEEDBACK_FORMAT,
        "format_version": 1,
        "class": class_name,
        "student": student.id,
        "name": student.name,
        "points": sum(sg.grade.score.total for sg in mine),
        "max": sum(sg.grade.score.max_points for sg in mine),
        "grades": [{**json.loads(render_json(sg.grade)), "lab_error": sg.lab_error} for sg in mine],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def feedback_markdown(class_name: str, student: Student, mine: list[StudentGrade]) -> str:
    total = sum(sg.grade.score.total for sg in mine)
    most = sum(sg.grade.score.max_points for sg in mine)
    lines = [_md_marker(class_name, student), f"# Feedback for {student.name} ({student.id})", ""]
    graded = mine[0].grade if mine else None
    if graded is not None:
        lines += [f"Class {class_name} · graded {graded.graded_at} · labsim {graded.labsim_version}", ""]
    lines += [f"**{_pts(total)} of {_pts(most)} points** over {len(mine)} scenario(s).", ""]
    for sg in mine:
        g, sc = sg.grade, sg.grade.score
        lines += [f"## {g.scenario_title}", ""]
        lines += [
            f"Scenario `{g.scenario_id}` version {g.scenario_version}, checks `{g.checks_hash}`: "
            f"**{_pts(sc.total)}/{_pts(sc.max_points)}**, {sc.passed_count} of {len(sc.checks)} checks"
            f" passed, {len(sc.hints)} hint(s) taken"
            + (f" (-{_pts(sc.penalty)})" if sc.penalty else "")
            + f", time {round(g.time_spent_s / 60)} min.",
            "",
        ]
        if sg.lab_error:
            lines += [f"> Your lab could not be checked: {sg.lab_error}", ""]
        lines += ["| | Check | Points | What the check saw |", "|---|---|---|---|"]
        for c in sc.checks:
            mark = {"passed": "✔", "failed": "✘", "error": "!"}.get(c.status, "·")
            seen = "" if c.passed else _md(c.message or c.status)
            label = _md(f"{c.check_id}: {c.description}" if c.description else c.check_id)
            lines.append(f"| {mark} | {label} | {_pts(c.points)}/{_pts(c.max_points)} | {seen} |")
        lines.append("")
    return "\n".join(lines)


def _md_marker(class_name: str, student: Student) -> str:
    # An HTML comment: invisible when rendered, and how a later grading knows the file is its own.
    return f"<!-- {FEEDBACK_FORMAT} class={class_name} student={student.id} -->"


def _ours(path: Path, class_name: str) -> bool:
    """A feedback file an earlier `class grade` of this class wrote (its marker says so)."""
    try:
        with path.open(encoding="utf-8") as f:
            head = f.read() if path.suffix == ".json" else f.readline()
    except (OSError, UnicodeDecodeError):
        return False
    if path.suffix == ".md":
        return head.startswith(f"<!-- {FEEDBACK_FORMAT} class={class_name} student={path.stem} -->")
    try:
        data = json.loads(head)
    except ValueError:
        return False
    return (
        isinstance(data, dict)
        and data.get("format") == FEEDBACK_FORMAT
        and data.get("class") == class_name
        and data.get("student") == path.stem
    )


def write_gradebook(
    out: Path, class_name: str, students: list[Student], grades: list[StudentGrade]
) -> list[Path]:
    """Write every report; returns the files written."""
    written = [out / "gradebook.csv", out / "junit.xml"]
    _write(written[0], gradebook_csv(grades))
    _write(written[1], junit_xml(grades))
    feedback = out / "feedback"
    for student in students:
        mine = [sg for sg in grades if sg.student.id == student.id]
        if not mine:
            continue
        for path, text in (
            (feedback / f"{student.id}.json", feedback_json(class_name, student, mine)),
            (feedback / f"{student.id}.md", feedback_markdown(class_name, student, mine)),
        ):
            _write(path, text)
            written.append(path)
    keep = set(written)
    for stale in feedback.glob("*"):
        if stale.suffix in (".json", ".md") and stale not in keep and _ours(stale, class_name):
            stale.unlink()
    return written
