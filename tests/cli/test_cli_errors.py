"""Bad arguments, unknown ids and missing labs: one sentence on stderr and the right exit status."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Labsim, one_sentence


@pytest.mark.parametrize(
    "args",
    [
        ["start", "_exmple"],
        ["check", "_exmple"],
        ["hint", "_exmple"],
        ["solve", "_exmple", "--yes"],
        ["status", "_exmple"],
        ["grade", "_exmple", "--format", "json"],
    ],
    ids=lambda args: args[0],
)
def test_an_unknown_scenario_names_the_nearest_id(labsim: Labsim, args: list[str]) -> None:
    run = labsim(*args)
    assert run.code == 2
    assert run.out == ""
    assert one_sentence(run.err) == (
        'labsim: no scenario "_exmple"; did you mean _example? (`labsim list` shows them all)'
    )
    assert not (labsim.home / "labs").exists()  # nothing was made for a typo


def test_an_id_nothing_resembles(labsim: Labsim) -> None:
    run = labsim("check", "postfix")
    assert run.code == 2
    assert one_sentence(run.err) == 'labsim: no scenario "postfix"; `labsim list` shows the 1 there are'


@pytest.mark.parametrize(
    "args", [["check", "_example"], ["hint", "_example"], ["stop", "_example"], ["logs", "_example"]]
)
def test_commands_on_a_scenario_without_a_lab(labsim: Labsim, args: list[str]) -> None:
    run = labsim(*args)
    assert run.code == 1
    assert one_sentence(run.err) == (
        "labsim: scenario _example has no lab yet; start one with: labsim start _example"
    )


def test_bad_arguments_get_the_usage_and_status_2(labsim: Labsim) -> None:
    run = labsim("grade", "_example", "--format", "xml")
    assert run.code == 2 and run.out == ""
    assert run.err.startswith("usage: labsim grade")
    assert "argument --format: invalid choice: 'xml'" in run.err
    assert labsim("check").code == 2
    assert labsim("--backend", "cloud", "list").code == 2


def test_grade_refuses_a_report_path_it_cannot_write_before_any_work(labsim: Labsim) -> None:
    run = labsim("grade", "_example", "--out", str(labsim.home / "no" / "such" / "grade.json"))
    assert run.code == 2
    assert "the folder" in one_sentence(run.err) and "does not exist" in run.err
    assert not (labsim.home / "labs").exists()


def test_a_shell_needs_a_terminal(labsim: Labsim) -> None:
    run = labsim("shell", "_example")
    assert run.code == 2
    assert one_sentence(run.err).startswith("labsim: a lab shell needs a terminal; from a script use:")


def test_no_docker_engine_suggests_the_local_backend(labsim: Labsim) -> None:
    gone = {"DOCKER_HOST": f"unix://{labsim.home}/no-docker.sock"}
    run = labsim("--backend", "docker", "start", "_example", env=gone)
    assert run.code == 1
    sentence = one_sentence(run.err)
    assert sentence.startswith("labsim: no Docker engine answers at unix://")
    assert sentence.endswith("use the local backend instead: labsim --backend local start _example")
    # The option works after the command too, as people type it.
    again = labsim("grade", "_example", "--backend", "docker", env=gone)
    assert again.code == 1
    assert one_sentence(again.err).endswith(
        "use the local backend instead: labsim --backend local grade _example"
    )


def test_the_exam_takes_the_backend_after_its_name_too() -> None:
    from labsim.cli import build_parser

    after = build_parser().parse_args(["exam", "--backend", "local", "--minutes", "5"])
    before = build_parser().parse_args(["--backend", "local", "exam"])
    assert (after.global_backend, after.minutes) == ("local", 5)
    assert (before.global_backend, before.minutes) == ("local", 60)
