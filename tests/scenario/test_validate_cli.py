# ruff: noqa: E501  (expected messages are compared whole, one per line)
"""`labsim validate`: exit status and output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labsim.cli import main

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLE = REPO / "scenarios" / "_example"


@pytest.fixture
def scenarios(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "scenarios"
    shutil.copytree(EXAMPLE, root / "_example")
    shutil.copytree(EXAMPLE, root / "bad")
    bad = root / "bad" / "scenario.yaml"
    bad.write_text(
        bad.read_text()
        .replace("id: _example", "id: bad")
        .replace("type: mailbox_count", "type: imap_logon")
        .replace("personality: dovecot", "personality: postfix")
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABSIM_SCENARIOS", str(root))
    return root


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


def test_a_valid_scenario_exits_0(scenarios: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "scenarios/_example"]) == 0
    out, err = capsys.readouterr()
    assert out == (
        "scenarios/_example/scenario.yaml: ok (_example version 1: 2 task(s), 5 check(s), 7 point(s))\n"
        "1 scenario(s) checked: all valid\n"
    )
    assert err == ""


def test_errors_go_to_stderr_with_file_and_line_and_exit_1(
    scenarios: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = scenarios / "bad" / "scenario.yaml"
    assert main(["validate"]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f'scenarios/bad/scenario.yaml line {line_of(bad, "personality:")}: personality: "postfix" is not one of dovecot, courier',
        f"scenarios/bad/scenario.yaml line {line_of(bad, 'imap_logon')}: tasks[0].checks[1]: "
        'unknown check type "imap_logon" (known: imap_login, pop3_login, capability, mailbox_count, pop3_sizes, '
        "tls_certificate, setting, file, command, delivery)",
    ]
    assert out.splitlines() == [
        "scenarios/_example/scenario.yaml: ok (_example version 1: 2 task(s), 5 check(s), 7 point(s))",
        "2 scenario(s) checked: 1 valid, 1 with errors (2 error(s))",
    ]


def test_json_output(scenarios: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--json", "scenarios"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [(d["file"], d["valid"], len(d["issues"])) for d in data] == [
        ("scenarios/_example/scenario.yaml", True, 0),
        ("scenarios/bad/scenario.yaml", False, 2),
    ]
    assert data[1]["issues"][0]["where"] == "personality"


def test_a_missing_path_is_an_error(scenarios: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "scenarios/nope"]) == 1
    assert capsys.readouterr().err == "scenarios/nope: no such file; a scenario folder holds scenario.yaml\n"


def test_nothing_to_validate_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LABSIM_SCENARIOS", str(tmp_path / "empty"))
    assert main(["validate"]) == 2
    assert capsys.readouterr().err == f"labsim validate: no scenarios found in {tmp_path / 'empty'}\n"


def test_the_installed_command_never_shows_a_traceback(scenarios: Path) -> None:
    (scenarios / "bad" / "scenario.yaml").write_bytes(b"id: [\x00\xff")
    env = {**os.environ, "LABSIM_SCENARIOS": str(scenarios)}
    proc = subprocess.run(
        [sys.executable, "-m", "labsim.cli", "validate", "scenarios/bad"],
        capture_output=True,
        text=True,
        env=env,
        cwd=scenarios.parent,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr == "scenarios/bad/scenario.yaml line 1: is not UTF-8 text (byte 0xff)\n"
