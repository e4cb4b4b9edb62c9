"""Every scenario: its checks fail on the fresh lab (as declared) and all pass after its solution."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from labsim.checks.result import CheckResult
from labsim.checks.runner import run_scenario
from labsim.lab.from_scenario import apply_solution, lab_spec
from labsim.lab.model import Lab
from labsim.lab.registry import LabRegistry
from labsim.scenario.loader import validate_scenario
from labsim.scenario.model import Scenario
from tests.lab.conftest import new_id

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "scenarios"
ALL = sorted(p.name for p in SCENARIOS_DIR.iterdir() if (p / "scenario.yaml").is_file())
# Each Docker run takes a container (about ten seconds): a developer's run proves the backend on the
# first scenarios of the curriculum; CI (LABSIM_REQUIRE_DOCKER=1) and LABSIM_DOCKER_ALL_SCENARIOS=1
# run every one, as every scenario must pass on both backends.
EVERY_ON_DOCKER = "1" in (
    os.environ.get("LABSIM_DOCKER_ALL_SCENARIOS"),
    os.environ.get("LABSIM_REQUIRE_DOCKER"),
)
FIRST = ("dovecot-first-start", "dovecot-maildir", "dovecot-plaintext-policy", "dovecot-selfsigned-ssl")
DOCKER = [s for s in ALL if not s.startswith("_") and (s in FIRST or EVERY_ON_DOCKER)]


def load(name: str) -> Scenario:
    scenario, issues = validate_scenario(SCENARIOS_DIR / name)
    assert scenario is not None and not issues, "\n".join(str(i) for i in issues)
    return scenario


def explain(results: list[CheckResult]) -> str:
    return "\n\n".join(f"[{r.check_id}] {r.status}: {r.message}\n{r.transcript}" for r in results)


# Dovecot's settings and tools: a Courier learner who reads them is sent to the wrong files.
DOVECOT_WORDS = re.compile(r"Dovecot|doveconf|doveadm|auth_mechanisms|disable_plaintext_auth|mail_location")


def unreadable(result: CheckResult, personality: str = "dovecot") -> str:
    """Why a check's message fails the learner: no expectation stated, a raw pattern, a Python repr,
    or (on Courier) a reason given in Dovecot's terms."""
    text = result.message
    if "Expected " not in text:
        return "it does not say what was expected"
    if "match /" in text:
        return "it shows a raw regular expression (give the check `shows`)"
    if re.search(r"\['|'\]|\[\d+, \d+", text):
        return "it shows a Python list"
    if personality == "courier" and DOVECOT_WORDS.search(text):
        return "it explains Courier with Dovecot's settings"
    return ""


def fresh_then_solved(lab: Lab, scenario: Scenario) -> None:
    lab.start()
    fresh = list(run_scenario(lab, scenario))
    specs = scenario.checks()
    assert [r.check_id for r in fresh] == [s.id for s in specs]
    wrong = [
        r
        for spec, r in zip(specs, fresh, strict=True)
        if r.error is not None or r.passed != (spec.expect_fresh == "pass")
    ]
    assert not wrong, "on the fresh lab:\n" + explain(wrong)
    # Both personalities: a learner reads every failing message before anything else.
    unclear = [r for r in fresh if unreadable(r, scenario.personality)]
    assert not unclear, "messages a learner cannot read:\n" + explain(unclear)
    for result in apply_solution(lab, scenario):
        assert result.ok, result.output
    solved = list(run_scenario(lab, scenario))
    failed = [r for r in solved if not r.passed]
    assert not failed, "after the reference solution:\n" + explain(failed)
    assert sum(r.points for r in solved) == scenario.max_points


def test_there_are_scenarios() -> None:
    assert len([s for s in ALL if not s.startswith("_")]) >= 7


def test_both_personalities_have_their_scenarios() -> None:
    shown = [load(s) for s in ALL if not s.startswith("_")]
    assert len([s for s in shown if s.personality == "dovecot"]) >= 10  # issue 4
    assert len([s for s in shown if s.personality == "courier"]) >= 5  # issue 7


def test_a_scenario_that_needs_real_ownership_runs_on_docker_only() -> None:
    # The local sandbox runs every lab process as one host user: chown there teaches nothing.
    assert load("dovecot-broken-permissions").backends == ["docker"]


@pytest.mark.parametrize("name", ALL)
def test_scenario_local(name: str, labsim_home: Path) -> None:
    scenario = load(name)
    if "local" not in scenario.backends:
        pytest.skip(f"{name} runs on Docker only")
    lab = LabRegistry().create(lab_spec(scenario), backend="local", lab_id=new_id())
    try:
        fresh_then_solved(lab, scenario)
    finally:
        lab.destroy()


@pytest.mark.docker
@pytest.mark.parametrize("name", DOCKER)
def test_scenario_docker(name: str, labsim_home: Path, lab_image: str, docker_client: Any) -> None:
    from labsim.lab.docker_backend import DockerLab

    scenario = load(name)
    if "docker" not in scenario.backends:
        pytest.skip(f"{name} runs on the local backend only")
    lab = DockerLab(LabRegistry().lab_dir(new_id()), {"image": lab_image}, client=docker_client)
    try:
        lab.create(lab_spec(scenario))
        fresh_then_solved(lab, scenario)
    finally:
        lab.destroy()


def test_doveadm_mechanisms_answer_may_be_written_as_capability_shows_it(labsim_home: Path) -> None:
    scenario = load("dovecot-doveadm")
    lab = LabRegistry().create(lab_spec(scenario), backend="local", lab_id=new_id())
    try:
        lab.start()
        for result in apply_solution(lab, scenario):
            assert result.ok, result.output
        answers = lab.root / "root/answers.txt"
        answers.write_text(answers.read_text().replace("mechanisms: plain", "mechanisms: PLAIN"))
        results = {r.check_id: r for r in run_scenario(lab, scenario)}
        assert results["mechanisms"].passed, explain([results["mechanisms"]])
        answers.write_text(answers.read_text().replace("mechanisms: PLAIN", "mechanisms: login"))
        results = {r.check_id: r for r in run_scenario(lab, scenario)}
        assert not results["mechanisms"].passed
    finally:
        lab.destroy()
