"""`labsim report FILE... --format F`: render saved grades (JSON reports) in another format.

A classroom collects each learner's `labsim grade --format json` output and
turns them into one JUnit file or one CSV sheet here. A student's class
feedback (`labsim class grade`'s feedback/<student>.json) is read too: it
holds that student's grades, one per scenario.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from labsim.grading.reports import (
    CLASS_FEEDBACK_FORMAT,
    FORMATS,
    JSON_FORMAT,
    csv_columns,
    render,
    render_csv,
    render_gradescope_submission,
    render_junit,
)
from labsim.grading.score import Grade


class ReportInputError(Exception):
    """A file that is not a saved labsim grade; the message names it and says why."""


def read_grade(path: Path) -> Grade:
    """One saved grade; a class feedback file holding several is refused (read_grades takes it)."""
    grades = read_grades(path)
    if len(grades) != 1:
        raise ReportInputError(f"{path}: holds {len(grades)} grades, not one")
    return grades[0]


def read_grades(path: Path) -> list[Grade]:
    """The grades in a saved labsim grade (one) or a student's class feedback file (one per scenario)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportInputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"{path} line {exc.lineno}: not JSON ({exc.msg})") from None
    if isinstance(data, dict) and data.get("format") == CLASS_FEEDBACK_FORMAT:
        entries = data.get("grades")
        if not isinstance(entries, list) or not entries:
            raise ReportInputError(f"{path}: a class feedback file without grades")
    elif isinstance(data, dict) and data.get("format") == JSON_FORMAT:
        entries = [data]
    else:
        raise ReportInputError(f'{path}: not a labsim grade (write one with "--format json")')
    try:
        return [Grade.from_dict(entry) for entry in entries]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReportInputError(f"{path}: a labsim grade with a missing or damaged field ({exc})") from None


def run(paths: list[str], fmt: str, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if fmt not in FORMATS:
        print(f"labsim report: unknown format {fmt!r} (known: {', '.join(FORMATS)})", file=err)
        return 2
    try:
        per_file = [read_grades(Path(p)) for p in paths]
    except ReportInputError as exc:
        print(f"labsim report: {exc}", file=err)
        return 1
    grades = [g for file_grades in per_file for g in file_grades]
    if not grades:
        print("labsim report: give at least one saved grade (a JSON report)", file=err)
        return 2
    if fmt == "junit":
        out.write(render_junit(grades))
    elif fmt == "csv":
        header: list[str] | None = None
        for grade in grades:
            columns = csv_columns(grade)
            out.write(render_csv(grade, header=columns != header))
            header = columns
    elif fmt == "json" and len(grades) > 1:
        out.write(
            json.dumps([json.loads(render(g, "json")) for g in grades], indent=2, ensure_ascii=False) + "\n"
        )
    elif fmt == "gradescope" and len(per_file) > 1:
        print("labsim report: a Gradescope results.json holds one submission; give one file", file=err)
        return 2
    elif fmt == "gradescope":
        out.write(render_gradescope_submission(grades))  # one file: one student's submission
    else:
        out.write("\n".join(render(grade, fmt) for grade in grades))
    return 0
