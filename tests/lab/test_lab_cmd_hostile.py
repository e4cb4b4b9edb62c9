"""`labsim lab exec` with its options where the usage writes them, and bad values for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.test_lab_cmd import env, lab_id, labsim, no_traceback  # noqa: F401  (fixtures)


def test_exec_takes_timeout_after_the_lab_as_the_usage_shows(env: dict[str, str], lab_id: str) -> None:  # noqa: F811
    # labsim lab exec LAB [--timeout S] -- CMD ...
    r = labsim(env, "lab", "exec", lab_id, "--timeout", "1", "--", "sleep", "5")
    no_traceback(r)
    assert r.returncode == 124 and "[timed out after 1s]" in r.stdout
    r = labsim(env, "lab", "exec", lab_id, "--timeout=30", "--", "doveconf", "-h", "mail_location")
    assert (r.returncode, r.stdout.strip()) == (0, "maildir:~/Maildir")  # dovecot-pop3 sets it


@pytest.mark.parametrize(
    ("value", "sentence"),
    [
        ("abc", "labsim: --timeout needs a number of seconds, not 'abc'"),
        ("-1", "labsim: --timeout needs a number of seconds above 0, not -1"),
    ],
)
def test_exec_refuses_a_bad_timeout(env: dict[str, str], lab_id: str, value: str, sentence: str) -> None:  # noqa: F811
    r = labsim(env, "lab", "exec", lab_id, "--timeout", value, "--", "true")
    no_traceback(r)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", sentence + "\n")


@pytest.mark.parametrize("bad_id", ["../evil", "a" * 300, ".hidden", ""])
def test_create_refuses_a_bad_lab_id_before_anything(env: dict[str, str], bad_id: str) -> None:  # noqa: F811
    r = labsim(env, "lab", "create", "dovecot-pop3", "--backend", "local", "--id", bad_id)
    no_traceback(r)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == (
        f"labsim: {bad_id[:60]!r} is not a lab id: a folder name, without '/', not starting with '.', "
        "at most 200 bytes (`labsim lab list` shows the labs)\n"
    )
    assert not (Path(env["LABSIM_HOME"]) / "labs").exists()
