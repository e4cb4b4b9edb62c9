"""A class of five on Docker: up (idempotent), mixed pass/fail, grade (idempotent), down (exactly the class).

One test walks the whole life of one class, so a parallel run never starts a
second class of containers on a 2-core machine.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pexpect
import pytest

from labsim.classroom.gradebook import feedback_markdown
from labsim.classroom.limits import CLASS_LABEL, STUDENT_LABEL
from labsim.classroom.roster import Student
from labsim.classroom.service import open_class
from labsim.lab.docker_backend import LABEL
from labsim.lab.from_scenario import apply_solution
from tests.classroom.cli_driver import class_containers, run_cli
from tests.docker.conftest import TEST_LABEL

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SCENARIO = "dovecot-maildir"
STUDENTS = ["ada", "bea", "cyd", "dan", "eve"]
SOLVED = {"ada", "cyd"}


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_class_of_five_on_docker(
    docker_client: Any, lab_image: str, labsim_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "t" + uuid.uuid4().hex[:8]
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\n" + "".join(f"{s},Student {s.title()}\n" for s in STUDENTS))
    # Bystanders `class down` must leave alone: another labsim lab, another class, a non-labsim container.
    bystanders = [
        docker_client.containers.create(lab_image, labels={TEST_LABEL: "1", LABEL: f"bystander-{name}"}),
        docker_client.containers.create(lab_image, labels={TEST_LABEL: "1", CLASS_LABEL: name + "x"}),
        docker_client.containers.create(lab_image, labels={TEST_LABEL: "1"}),
    ]
    try:
        # --- up: five labs, labelled and limited --------------------------------------------------
        up = [
            "class",
            "up",
            "--roster",
            str(roster),
            "--scenario",
            SCENARIO,
            "--name",
            name,
            "--workers",
            "3",
            "--backend",
            "docker",
        ]
        code, out = run_cli(*up)
        assert code == 0, out + capsys.readouterr().err
        assert "[5/5]" in out and out.count(" created in ") == 5
        containers = class_containers(docker_client, name)
        assert sorted(c.labels[STUDENT_LABEL] for c in containers) == STUDENTS
        for c in containers:
            student = c.labels[STUDENT_LABEL]
            assert c.name == f"labsim-class-{name}-{student}-{SCENARIO}"
            assert c.status == "running"
            host = c.attrs["HostConfig"]
            assert host["NanoCpus"] == 500_000_000
            assert host["Memory"] == 256 * 1024 * 1024
            assert host["PidsLimit"] == 256
            assert host["NetworkMode"] == "none"
            assert not host["Privileged"]
        ids = {c.name: c.id for c in containers}

        # --- up again: running labs are kept, a stopped one is started ---------------------------
        service = open_class(name)
        service.lab("eve", SCENARIO).stop()
        code, out = run_cli(*up)
        assert code == 0
        assert out.count(" kept in ") == 4 and out.count(" started in ") == 1, out
        assert {c.name: c.id for c in class_containers(docker_client, name)} == ids

        # --- some students solve it ---------------------------------------------------------------
        scenario = service.scenario(SCENARIO)
        for student in SOLVED:
            apply_solution(service.lab(student, SCENARIO), scenario)
        assert run_cli("class", "hint", "bea", "--name", name)[0] == 0

        # --- grade, twice --------------------------------------------------------------------------
        out_dir = tmp_path / "grades"
        code, out = run_cli("class", "grade", "--out", str(out_dir), "--name", name)
        assert code == 0, out
        book = rows(out_dir / "gradebook.csv")
        assert [r["student"] for r in book] == STUDENTS
        for r in book:
            assert r["scenario"] == SCENARIO and r["max"] == "5" and r["scenario_version"] == "1"
            assert r["points"] == ("5" if r["student"] in SOLVED else "0"), r
            assert r[f"{SCENARIO}:alice-imap"] == ("2" if r["student"] in SOLVED else "0")
            assert r["hints"] == ("1" if r["student"] == "bea" else "0")
            assert r["lab_error"] == "" and int(r["time_s"]) >= 0
        feedback = sorted(p.name for p in (out_dir / "feedback").iterdir())
        assert feedback == sorted([f"{s}.json" for s in STUDENTS] + [f"{s}.md" for s in STUDENTS])
        ada = json.loads((out_dir / "feedback" / "ada.json").read_text())
        assert ada["points"] == ada["max"] == 5 and ada["grades"][0]["checks_hash"] == scenario.checks_hash()
        dan_md = (out_dir / "feedback" / "dan.md").read_text()
        assert "**0 of 5 points**" in dan_md and "| ✘ | mail-location" in dan_md
        suites = ET.parse(out_dir / "junit.xml").getroot().findall("testsuite")
        assert [s.get("name") for s in suites] == [f"{s}/{SCENARIO}" for s in STUDENTS]
        assert [s.get("failures") for s in suites] == ["0" if s in SOLVED else "4" for s in STUDENTS]

        # Feedback an earlier grading wrote for a student who left goes; the instructor's own files stay.
        (out_dir / "feedback" / "zed.md").write_text(feedback_markdown(name, Student("zed", "Zed"), []))
        (out_dir / "feedback" / "notes.md").write_text("the instructor's notes")
        code, _ = run_cli("class", "grade", "--out", str(out_dir), "--name", name)
        assert code == 0
        again = rows(out_dir / "gradebook.csv")
        assert [(r["student"], r["points"]) for r in again] == [(r["student"], r["points"]) for r in book]
        assert sorted(p.name for p in (out_dir / "feedback").iterdir()) == sorted([*feedback, "notes.md"])
        # Solved labs keep the time they first passed: re-grading does not move it.
        assert [r["time_s"] for r in again if r["student"] in SOLVED] == [
            r["time_s"] for r in book if r["student"] in SOLVED
        ]

        # --- status ---------------------------------------------------------------------------------
        code, out = run_cli("class", "status", "--name", name, "--json")
        assert code == 0
        labs = json.loads(out)["labs"]
        assert [(lab["student"], lab["state"], lab["server"]) for lab in labs] == [
            (s, "running", "running") for s in STUDENTS
        ]

        # --- attach: that student's shell -----------------------------------------------------------
        service.lab("cyd", SCENARIO).write_file("/root/whoami.txt", "this is cyd's lab\n")
        child = pexpect.spawn(
            sys.executable,
            ["-m", "labsim.cli", "class", "attach", "cyd", "--name", name],
            env={**os.environ, "LABSIM_HOME": str(labsim_home)},
            encoding="utf-8",
            timeout=30,
        )
        child.sendline("cat /root/whoami.txt; exit")
        try:
            child.expect("this is cyd's lab")
            child.expect(pexpect.EOF)
        except pexpect.ExceptionPexpect as exc:
            raise AssertionError(
                f"`labsim class attach cyd` did not give cyd's shell: {child.before!r}"
            ) from exc

        # --- a reset keeps the class's labels and limits (they live in the lab's state) ---------------
        cyd = service.lab("cyd", SCENARIO)
        cyd.reset(confirm=True)
        (again_cyd,) = [c for c in class_containers(docker_client, name) if c.labels[STUDENT_LABEL] == "cyd"]
        assert again_cyd.id != ids[again_cyd.name]  # a new container ...
        assert again_cyd.attrs["HostConfig"]["NanoCpus"] == 500_000_000  # ... with the same limits

        # --- down: exactly this class ---------------------------------------------------------------
        code, out = run_cli("class", "down", "--name", name, "--yes")
        assert code == 0, out
        assert class_containers(docker_client, name) == []
        for b in bystanders:
            b.reload()  # raises NotFound if down removed it
        assert not any((labsim_home / "labs").glob(f"class-{name}-*"))
        assert name not in [p.name for p in (labsim_home / "classes").iterdir()]
    finally:
        for b in bystanders:
            with contextlib.suppress(Exception):
                b.remove(force=True)
        for c in class_containers(docker_client, name):
            c.remove(force=True)
