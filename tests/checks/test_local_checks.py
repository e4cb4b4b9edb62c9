"""setting, file, command and the runner against a real local lab (delivery: test_delivery.py)."""

from __future__ import annotations

import time
from typing import Any

from labsim.checks.registry import CHECKS
from labsim.checks.result import CheckResult
from labsim.checks.runner import run_check, run_checks
from labsim.lab.model import Lab
from labsim.scenario.model import CheckSpec


def run(lab: Lab, type_: str, **params: Any) -> CheckResult:
    return run_check(lab, CheckSpec(id="c", type=type_, description="the probe", params=params))


def test_setting_from_doveconf(probe_lab: Lab) -> None:
    assert run(probe_lab, "setting", name="protocols", value="imap pop3").passed
    wrong = run(probe_lab, "setting", name="mail_location", value="maildir:~/Maildir")
    assert not wrong.passed
    assert "to print `maildir:~/Maildir`; it printed `mbox:~/mail:INBOX=/var/mail/%u`." in wrong.message
    assert wrong.transcript.startswith("$ doveconf -h mail_location\n")


def test_setting_word_lists_in_any_order_or_among_others(probe_lab: Lab) -> None:
    # The probe lab serves protocols = imap pop3.
    assert not run(probe_lab, "setting", name="protocols", value="pop3 imap").passed
    assert run(probe_lab, "setting", name="protocols", value="pop3 imap", match="any_order").passed
    assert not run(probe_lab, "setting", name="protocols", value="pop3", match="any_order").passed
    assert run(probe_lab, "setting", name="protocols", value="pop3", match="includes").passed
    missing = run(probe_lab, "setting", name="protocols", value="imap lmtp", match="includes")
    assert not missing.passed
    assert "to print `imap lmtp` (among other words); it printed `imap pop3`" in missing.message


def test_setting_from_a_courier_file_takes_the_last_assignment(probe_lab: Lab) -> None:
    file = "/etc/courier/imapd"
    assert run(probe_lab, "setting", name="MAXPERIP", value=40, source="courier", file=file).passed
    assert run(probe_lab, "setting", name="IMAPDSTART", value="YES", source="courier", file=file).passed
    unset = run(probe_lab, "setting", name="POP3DSTART", value="YES", source="courier", file=file)
    assert not unset.passed and "does not set POP3DSTART" in unset.message


def test_file(probe_lab: Lab) -> None:
    conf = "/etc/dovecot/local.conf"
    assert run(probe_lab, "file", path=conf, exists=True, mode=0o644, contains="passwd-file").passed
    assert run(probe_lab, "file", path="/etc/dovecot/users", mode="0640", not_contains="bob:").passed
    bad = run(probe_lab, "file", path=conf, mode=0o600, contains=["cram-md5", "gssapi"], not_contains="apop")
    assert not bad.passed
    assert "mode should be 0600" in bad.message
    assert 'should contain "gssapi"' in bad.message and 'should not contain "apop"' in bad.message
    missing = run(probe_lab, "file", path="/etc/nothing.conf", exists=True)
    assert not missing.passed and "/etc/nothing.conf does not exist" in missing.message
    assert bad.message.startswith(
        "the probe: not yet. Expected /etc/dovecot/local.conf to exist, with mode 0600, "
        'containing "cram-md5", containing "gssapi", without "apop". '
        "Seen: /etc/dovecot/local.conf exists with mode 0644"
    )
    assert run(probe_lab, "file", path="/etc/nothing.conf", exists=False).passed


def test_command(probe_lab: Lab) -> None:
    ok = run(probe_lab, "command", argv=["doveconf", "-h", "auth_mechanisms"], output_contains="cram-md5")
    assert ok.passed and ok.transcript.endswith("[exit 0]\n")
    regex = run(
        probe_lab,
        "command",
        shell="doveadm pw -s CRAM-MD5 -p x",
        output_matches=r"^\{CRAM-MD5\}[0-9a-f]{64}$",
    )
    assert regex.passed, regex.message
    code = run(probe_lab, "command", shell="exit 3", exit_code=0)
    assert not code.passed and "should exit with 0, not 3" in code.message
    assert "not yet. Expected `exit 3` to exit with 0. Seen: exit status 3" in code.message
    assert run(probe_lab, "command", shell="exit 3", exit_code=3).passed
    out = run(probe_lab, "command", shell="echo hello", output_not_contains="hello", output_contains="bye")
    assert 'should not contain "hello", but it says "hello"' in out.message
    assert 'should contain "bye"' in out.message


def test_command_says_in_words_what_passing_looks_like(probe_lab: Lab) -> None:
    # A scenario's `shows` replaces the raw pattern in the message; the line that is wrong is quoted.
    params: dict[str, Any] = {"shell": "printf 'one Fatal\\nok\\ntwo Fatal\\n'", "output_matches": "^three$"}
    said = run(probe_lab, "command", **params, output_not_contains="Fatal", shows="three lines, no Fatal")
    assert not said.passed
    # Exit codes and patterns are the check's internals: the learner reads what was printed.
    assert said.message.startswith("the probe: not yet. Expected three lines, no Fatal. Seen: it printed")
    assert "exit status" not in said.message and "^three$" not in said.message
    assert 'but it says "one Fatal" (and 1 more line like it)' in said.message
    raw = run(probe_lab, "command", shell="echo hi", output_matches="^three$")
    assert "its output should match /^three$/" in raw.message and 'last line "hi"' in raw.message


def test_command_timeout_fails_quickly(probe_lab: Lab) -> None:
    started = time.monotonic()
    result = run(probe_lab, "command", shell="sleep 20", timeout=1)
    assert not result.passed and "did not finish within 1 seconds" in result.message
    assert time.monotonic() - started < 5


def test_runner_turns_faults_into_error_results(probe_lab: Lab, monkeypatch: Any) -> None:
    def broken(lab: Lab, spec: CheckSpec) -> CheckResult:
        raise KeyError("boom")

    monkeypatch.setitem(CHECKS, "broken", broken)
    specs = [
        CheckSpec(id="one", type="setting", params={"name": "protocols", "value": "imap pop3"}),
        CheckSpec(id="two", type="broken", points=3),
        CheckSpec(id="three", type="no_such_type"),
    ]
    results = list(run_checks(probe_lab, specs))
    assert [r.check_id for r in results] == ["one", "two", "three"]
    assert [r.status for r in results] == ["passed", "error", "error"]
    assert results[1].error == "KeyError: 'boom'" and results[1].max_points == 3 and results[1].points == 0
    assert "unknown check type 'no_such_type'" in results[2].message
    assert all(r.duration_s >= 0 for r in results)
