"""Hostile input to `labsim`: odd ids, damaged files on disk, closed pipes, values out of range.

Each answer is one sentence (or argparse's usage) with the documented exit status, never a traceback,
and nothing the learner made is lost."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from labsim import cli
from tests.cli.conftest import LABSIM, Labsim, one_sentence


@pytest.mark.parametrize("wanted", ["..", ".", "a" * 300, "../_example", "/etc"])
def test_ids_with_path_characters_or_too_long_are_unknown_scenarios(labsim: Labsim, wanted: str) -> None:
    run = labsim("start", wanted)
    assert run.code == 2
    assert one_sentence(run.err).startswith(f'labsim: no scenario "{wanted}"')
    assert not (labsim.home / "labs").exists()


@pytest.mark.parametrize(
    "args", [["demo", "--port-base", "70000"], ["demo", "--port-base", "-5"], ["exam", "--minutes", "0"]]
)
def test_values_out_of_range_get_the_usage_before_anything_happens(labsim: Labsim, args: list[str]) -> None:
    run = labsim(*args)
    assert (run.code, run.out) == (2, "")
    assert run.err.startswith(f"usage: labsim {args[0]}") and "Traceback" not in run.err
    assert not (labsim.home / "labs").exists()


def test_a_reader_that_leaves_early_gets_no_traceback(labsim: Labsim) -> None:
    # `labsim validate | head -1`: the reader is gone before labsim writes a line.
    proc = subprocess.Popen(
        [str(LABSIM), "validate", str(Path(__file__).resolve().parents[2] / "scenarios")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=labsim.env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) in (0, 1)
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipe" not in err, err


def test_an_unexpected_error_is_one_sentence_and_its_details_are_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The last line of defence in cli.main, for a failure no command foresaw.
    import labsim.grading.report_cmd

    def broken(paths: list[str], fmt: str) -> int:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setenv("LABSIM_HOME", str(tmp_path))
    monkeypatch.setattr(labsim.grading.report_cmd, "run", broken)
    assert cli.main(["report", "grade.json"]) == 1
    out, err = capsys.readouterr()
    log = tmp_path / "logs" / "labsim-errors.log"
    assert out == ""
    assert err == f"labsim: unexpected error (the disk caught fire); details are in {log}\n"
    details = log.read_text()
    assert "labsim report grade.json" in details and "Traceback" in details and "RuntimeError" in details


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("time_spent_s", None, "time_spent_s must be a float, found None"),
        ("student", 5, "student must be a str, found 5"),
        ("score", {"checks": [7]}, "CheckScore entries must be objects, found 7"),
    ],
)
@pytest.mark.parametrize("fmt", ["text", "junit", "csv"])
def test_report_names_the_damaged_field_of_a_saved_grade(
    labsim: Labsim, tmp_path: Path, field: str, value: object, reason: str, fmt: str
) -> None:
    grade = {
        "format": "labsim-grade",
        "format_version": 1,
        "scenario_id": "_example",
        "scenario_version": "1",
        "scenario_title": "Example",
        "checks_hash": "0",
        "score": {"checks": [], "hints": []},
        field: value,
    }
    path = tmp_path / "grade.json"
    path.write_text(json.dumps(grade))
    run = labsim("report", "--format", fmt, str(path))
    assert run.code == 1
    assert one_sentence(run.err) == (
        f"labsim report: {path}: a labsim grade with a missing or damaged field ({reason})"
    )


@pytest.mark.parametrize("out", ["/", "{home}", "/proc/no/such.zip"])
def test_assignment_pack_to_a_path_it_cannot_write(labsim: Labsim, out: str) -> None:
    target = out.format(home=labsim.home.parent)
    example = Path(__file__).resolve().parents[2] / "scenarios" / "_example"
    run = labsim("assignment", "pack", "--out", target, str(example))
    assert run.code == 2  # a usage error, refused before anything is packed
    assert one_sentence(run.err).startswith(f"labsim: cannot write the assignment file {target}: ")


# --- a lab whose state.json was damaged --------------------------------------------------------

DAMAGE = {
    "truncated": lambda good: good[: len(good) // 3],
    "not JSON": lambda good: "garbage{",
    "a list": lambda good: "[]",
    "spec of the wrong type": lambda good: json.dumps({**json.loads(good), "spec": "x"}),
    "port base not a number": lambda good: json.dumps({**json.loads(good), "port_base": "abc"}),
}


def test_a_damaged_lab_state_is_shown_and_rebuilt_and_the_learners_files_survive(labsim: Labsim) -> None:
    assert labsim("--backend", "local", "start", "_example").code == 0
    (lab_dir,) = (labsim.home / "labs").iterdir()
    conf = lab_dir / "root/etc/dovecot/conf.d/10-mail.conf"
    conf.write_text(conf.read_text() + "# the learner's work\n")
    state = lab_dir / "state.json"
    good = state.read_text()
    for name, damage in DAMAGE.items():
        state.write_text(damage(good))
        # Listed, with the reason, instead of hidden (and every other listing still works).
        listing = labsim("lab", "list")
        assert listing.code == 0, name
        assert f"{lab_dir.name}  ?         ?        damaged" in listing.out, name
        assert f"lab {lab_dir.name} cannot be used: its state file {state} is damaged" in one_sentence(
            listing.err
        ), name
        assert labsim("status").code == 0, name
        direct = labsim("lab", "status", lab_dir.name)
        assert direct.code == 1 and "your files are still in" in one_sentence(direct.err), name
        # The scenario's command finds the same lab again, rather than making a new empty one beside it.
        started = labsim("--backend", "local", "start", "_example")
        assert started.code == 0, (name, started.err)
        assert f"lab {lab_dir.name} is running" in started.out, name
        assert [d.name for d in (labsim.home / "labs").iterdir()] == [lab_dir.name], name
        assert conf.read_text().endswith("# the learner's work\n"), name
        assert (lab_dir / "state.json.damaged").read_text() == damage(good), name
        good = state.read_text()


def test_a_damaged_lab_can_be_destroyed(labsim: Labsim) -> None:
    assert labsim("--backend", "local", "start", "_example").code == 0
    (lab_dir,) = (labsim.home / "labs").iterdir()
    pid = int((lab_dir / "root/run/dovecot/master.pid").read_text())
    (lab_dir / "state.json").write_text("[]")
    refused = labsim("lab", "destroy", lab_dir.name)
    assert refused.code == 1 and "needs confirmation" in one_sentence(refused.err)
    assert lab_dir.exists()
    run = labsim("lab", "destroy", lab_dir.name, "--yes")
    assert (run.code, run.out) == (0, f"lab {lab_dir.name} destroyed\n")
    assert not lab_dir.exists()
    # Its server was stopped too: nothing is left listening for a lab that is gone.
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    """Running, and not a zombie left for an init that does not reap (as in some containers)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_solve_on_a_lab_whose_root_is_gone_does_not_make_a_half_root(labsim: Labsim) -> None:
    assert labsim("--backend", "local", "start", "_example").code == 0
    assert labsim("stop", "_example").code == 0
    (lab_dir,) = (labsim.home / "labs").iterdir()
    shutil.rmtree(lab_dir / "root")
    run = labsim("solve", "_example", "--yes")
    assert run.code == 1
    assert (
        one_sentence(run.err)
        == f"labsim: lab {lab_dir.name} has no root directory any more; reset or recreate it"
    )
    assert not (lab_dir / "root").exists()  # still plainly missing, so status and reset say what it is
    assert "state:    missing" in labsim("status", "_example").out


def test_scenarios_pointing_at_nothing_says_where_it_looked(labsim: Labsim) -> None:
    nowhere = labsim.home.parent / "no-such-folder"
    run = labsim("start", "dovecot-pop3", env={"LABSIM_SCENARIOS": str(nowhere)})
    assert run.code == 2
    assert one_sentence(run.err) == (
        f'labsim: no scenario "dovecot-pop3": there are no scenario folders in {nowhere} (LABSIM_SCENARIOS)'
    )


def test_check_whose_reader_left_does_not_claim_success(labsim: Labsim) -> None:
    assert labsim("--backend", "local", "start", "_example").code == 0
    proc = subprocess.Popen(
        [str(LABSIM), "check", "_example"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=labsim.env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `labsim check _example | head -0`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "Traceback" not in err and "Exception ignored" not in err, err


def test_list_names_the_scenario_folders_it_leaves_out(labsim: Labsim, tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios"
    (scenarios / "broken-one").mkdir(parents=True)
    (scenarios / "broken-one" / "scenario.yaml").write_text("id: [\n")
    run = labsim("list", env={"LABSIM_SCENARIOS": str(scenarios)})
    assert run.code == 0
    assert one_sentence(run.err) == (
        "labsim: not listed, with errors: broken-one; `labsim validate` says what is wrong"
    )
