"""Assignments: pack -> run -> grade on the local backend, and files that must be refused."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from labsim import __version__
from labsim.classroom.package import checks_code_hash, open_assignment, strip_solution
from labsim.lab.from_scenario import apply_solution
from labsim.lab.registry import LabRegistry
from labsim.scenario import load_scenario
from labsim.scenario.registry import default_scenarios_dir
from tests.classroom.cli_driver import labsim

SCENARIO = "dovecot-maildir"


@pytest.fixture
def packed(tmp_path: Path, labsim_home: Path) -> Path:
    out = tmp_path / "hw" / "maildir.labsim"
    out.parent.mkdir()
    assert labsim("assignment", "pack", str(default_scenarios_dir() / SCENARIO), "--out", str(out)) == 0
    return out


def test_pack_writes_a_manifest(packed: Path) -> None:
    with zipfile.ZipFile(packed) as z:
        manifest = json.loads(z.read("manifest.json"))
        assert f"scenarios/{SCENARIO}/scenario.yaml" in z.namelist()
    assert manifest["format"] == "labsim-assignment"
    assert manifest["labsim_version"] == __version__
    assert manifest["checks_code_hash"] == checks_code_hash()
    (entry,) = manifest["scenarios"]
    assert entry["id"] == SCENARIO and entry["version"] == "1" and len(entry["checks_hash"]) == 16


def test_round_trip_fails_fresh_then_passes_after_the_solution(
    packed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = tmp_path / "fresh.json"
    args = ["assignment", "run", str(packed), "--backend", "local", "--grade-only"]
    assert labsim(*args, "--format", "gradescope", "--out", str(fresh), "--student", "ada") == 1
    report = json.loads(fresh.read_text())
    assert report["score"] == 0
    # results.json has no field of its own for the student: Gradescope keeps extra_data.
    assert report["extra_data"]["student"] == "ada"
    assert report["extra_data"]["max_score"] == 5
    assert report["extra_data"]["labsim_version"] == __version__
    assert report["extra_data"]["checks_code_hash"] == checks_code_hash()
    (scenario_info,) = report["extra_data"]["scenarios"]
    assert scenario_info["id"] == SCENARIO and scenario_info["version"] == "1"
    assert [t["status"] for t in report["tests"]] == ["failed"] * 4
    assert "points 0/5" in capsys.readouterr().err

    # The student does the work in the lab the run made (here: the reference solution, through the Lab API).
    assignment = open_assignment(packed)
    scenario = assignment.scenarios[0]
    lab = LabRegistry().get(assignment.lab_id(scenario))
    created = lab.state["created"]
    assert not scenario.solution.commands  # the packed file has none: the instructor's copy has it
    apply_solution(lab, load_scenario(default_scenarios_dir() / SCENARIO))

    graded = tmp_path / "graded.json"
    assert labsim(*args, "--format", "json", "--out", str(graded)) == 0
    result = json.loads(graded.read_text())
    assert result["points"] == result["max_points"] == 5
    assert result["checks_code_hash"] == checks_code_hash()
    assert result["grades"][0]["checks_hash"] == scenario_info["checks_hash"]
    assert result["grades"][0]["scenario_version"] == "1"
    assert LabRegistry().get(assignment.lab_id(scenario)).state["created"] == created  # the same lab

    junit = tmp_path / "graded.xml"
    assert labsim(*args, "--format", "junit", "--out", str(junit)) == 0
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("tests") == "4"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["checks_code_hash"] == checks_code_hash()
    assert props["scenario_version"] == "1"
    LabRegistry().get(assignment.lab_id(scenario)).destroy()


def test_work_script_runs_in_the_lab(
    packed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work.sh"
    # Relative paths: the lab's cwd is its root on both backends.
    work.write_text(
        "printf 'mail_location = maildir:~/Maildir\\n' > etc/dovecot/local.conf\nservice dovecot restart\n"
    )
    code = labsim(
        "assignment", "run", str(packed), "--backend", "local", "--work", str(work), "--format", "text"
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "score 5/5" in out.out and f"checks code {checks_code_hash()}" in out.out
    assignment = open_assignment(packed)
    LabRegistry().get(assignment.lab_id(assignment.scenarios[0])).destroy()


def test_headless_without_work_is_refused(packed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert labsim("assignment", "run", str(packed), "--backend", "local") == 2  # a usage error
    err = capsys.readouterr().err
    assert err.startswith("labsim: there is no terminal to work in: add --grade-only")
    assert err.count("\n") == 1


def test_a_changed_scenario_is_refused(
    packed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tampered = tmp_path / "tampered.labsim"
    with zipfile.ZipFile(packed) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("scenario.yaml"):
                data = data.replace(b"points: 2", b"points: 20")
            dst.writestr(item, data)
    assert labsim("assignment", "run", str(tampered), "--backend", "local", "--grade-only") == 1
    assert "does not match the manifest" in capsys.readouterr().err


def test_not_an_assignment(tmp_path: Path, labsim_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.labsim"
    junk.write_text("hello")
    assert labsim("assignment", "run", str(junk), "--grade-only") == 1
    assert capsys.readouterr().err == f"labsim: {junk}: not a labsim assignment (not a zip file)\n"
    evil = tmp_path / "evil.labsim"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("manifest.json", "{}")
        z.writestr("../outside", "x")
    assert labsim("assignment", "run", str(evil), "--grade-only") == 1
    assert "refusing the member '../outside'" in capsys.readouterr().err
    assert not (labsim_home / "outside").exists()


def test_pack_refuses_a_broken_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "scenario.yaml").write_text("id: broken\nversion: 1\n")
    assert labsim("assignment", "pack", str(broken), "--out", str(tmp_path / "x.labsim")) == 1
    err = capsys.readouterr().err
    assert err.startswith("labsim: ") and "scenario.yaml" in err and err.count("\n") == 1
    assert not (tmp_path / "x.labsim").exists()


def test_pack_leaves_the_solution_out(
    tmp_path: Path, labsim_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = default_scenarios_dir() / "_example"  # its solution writes files/10-mail.conf
    out = tmp_path / "example.labsim"
    assert labsim("assignment", "pack", str(example), "--out", str(out)) == 0
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        text = z.read("scenarios/_example/scenario.yaml").decode()
    assert "scenarios/_example/files/10-mail.conf" not in names
    assert "solution:" not in text and "mail_location = maildir:~/Maildir" not in text
    assert text.startswith("# A complete example of the scenario format")  # the rest as written
    (scenario,) = open_assignment(out).scenarios
    original = load_scenario(example)
    assert not scenario.solution.files and not scenario.solution.commands
    assert scenario.checks_hash() == original.checks_hash()
    assert [t.hints for t in scenario.tasks] == [t.hints for t in original.tasks]
    capsys.readouterr()
    assert labsim("assignment", "run", str(out), "--solution") == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("labsim: the reference solution is not part of an assignment") and err.count("\n") == 1
    )


def test_strip_solution_keeps_the_keys_after_it() -> None:
    text = "id: x\nsolution:\n  commands:\n    - a\n# about tasks\ntasks:\n  - id: t\n"
    assert strip_solution(text) == "id: x\ntasks:\n  - id: t\n"


@pytest.mark.parametrize("kind", ["missing-folder", "through-a-file", "a-folder", "proc", "read-only"])
def test_an_unwritable_out_is_refused_before_any_lab(
    packed: Path, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "plain"
    a_file.write_text("x")
    out, says = {
        "missing-folder": (tmp_path / "nope" / "x.json", f"the folder {tmp_path / 'nope'} does not exist"),
        "through-a-file": (a_file / "x.json", f"{a_file} is a file, not a folder"),
        "a-folder": (tmp_path, "it is a folder"),
        "proc": (Path("/proc/x.json"), "the folder /proc is not writable"),
        "read-only": (Path("/sys/x.json"), "the folder /sys is not writable"),
    }[kind]
    run = ["assignment", "run", str(packed), "--backend", "local", "--grade-only", "--out", str(out)]
    assert labsim(*run) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"labsim: cannot write the report to {out}: {says}") and err.count("\n") == 1
    assert LabRegistry().list() == []  # refused before a lab was made
    pack = ["assignment", "pack", str(default_scenarios_dir() / SCENARIO), "--out", str(out)]
    assert labsim(*pack) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"labsim: cannot write the assignment file {out}: {says}"), err
    assert not (tmp_path / "nope").exists()
