# ruff: noqa: E501  (expected messages are compared whole, one per line)
"""scenario.yaml validation: every class of mistake gets file, line and what to fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from labsim.scenario import ScenarioError, load_scenario, validate_scenario
from labsim.scenario.check_types import CHECK_TYPES

SHOWN = "scenarios/demo/scenario.yaml"

VALID = """\
id: demo
version: 1
title: Demo
objective: "211.3"
brief: Do it.
setup:
  users:
    - name: alice
      password: secret
  mailboxes:
    - user: alice
      count: 2
tasks:
  - id: t1
    text: Do the thing.
    hints:
      - Look at mail_location.
    checks:
      - id: c1
        type: setting
        params:
          name: mail_location
          value: maildir:~/Maildir
solution:
  commands:
    - service dovecot restart
"""


def write(tmp_path: Path, text: str, folder: str = "demo") -> Path:
    directory = tmp_path / folder
    (directory / "files").mkdir(parents=True, exist_ok=True)
    (directory / "scenario.yaml").write_text(textwrap.dedent(text))
    return directory


def errors(tmp_path: Path, text: str, folder: str = "demo") -> list[str]:
    scenario, issues = validate_scenario(write(tmp_path, text, folder), SHOWN)
    assert scenario is None
    return [str(issue) for issue in issues]


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing needle."""
    hits = [i for i, line in enumerate(textwrap.dedent(text).splitlines(), start=1) if needle in line]
    return hits[nth - 1]


def test_the_minimal_scenario_is_valid(tmp_path: Path) -> None:
    scenario, issues = validate_scenario(write(tmp_path, VALID), SHOWN)
    assert issues == []
    assert scenario is not None
    assert scenario.id == "demo"
    assert scenario.version == "1"
    assert scenario.personality == "dovecot"
    assert scenario.backends == ["local", "docker"]
    assert scenario.setup.mailboxes[0].message_count == 2
    check = scenario.checks()[0]
    assert (check.id, check.type, check.points, check.expect_fresh) == ("c1", "setting", 1.0, "fail")
    assert check.params == {"name": "mail_location", "value": "maildir:~/Maildir"}


def test_unknown_check_type(tmp_path: Path) -> None:
    text = VALID.replace("type: setting", "type: imap_logon")
    known = ", ".join(CHECK_TYPES)
    assert errors(tmp_path, text) == [
        f"{SHOWN} line {line_of(text, 'imap_logon')}: tasks[0].checks[0]: "
        f'unknown check type "imap_logon" (known: {known})'
    ]
    assert known.startswith("imap_login, pop3_login, capability, mailbox_count, pop3_sizes, tls_certificate")


def test_unknown_key_is_named_with_a_suggestion_and_the_missing_one_reported(tmp_path: Path) -> None:
    text = VALID.replace("title: Demo", "titel: Demo")
    assert errors(tmp_path, text) == [
        f'{SHOWN} line 1: missing required key "title"',
        f'{SHOWN} line 3: unknown key "titel" (did you mean "title"?)',
    ]


def test_unknown_key_without_a_close_match_lists_the_known_ones(tmp_path: Path) -> None:
    text = VALID.replace("solution:\n", "solution:\n  zzz: 1\n")
    assert errors(tmp_path, text) == [
        f'{SHOWN} line {line_of(text, "zzz")}: solution: unknown key "zzz" (known: files, commands)'
    ]


def test_missing_required_key_points_at_its_mapping(tmp_path: Path) -> None:
    text = VALID.replace("    text: Do the thing.\n", "")
    assert errors(tmp_path, text) == [
        f'{SHOWN} line {line_of(text, "- id: t1")}: tasks[0]: missing required key "text"'
    ]


def test_wrong_type(tmp_path: Path) -> None:
    text = VALID.replace("version: 1\n", "version: 1\nestimated_minutes: ten\n")
    assert errors(tmp_path, text) == [f'{SHOWN} line 3: estimated_minutes: must be an integer, found "ten"']


def test_a_list_where_a_string_belongs(tmp_path: Path) -> None:
    text = VALID.replace("brief: Do it.", "brief: [a, b]")
    assert errors(tmp_path, text) == [f"{SHOWN} line 5: brief: must be a string, found a list"]


def test_duplicate_check_ids_across_tasks(tmp_path: Path) -> None:
    second = """\
  - id: t2
    text: Again.
    hints: [Same.]
    checks:
      - id: c1
        type: file
        params: {path: /etc/dovecot/dovecot.conf, exists: true}
"""
    text = VALID.replace("solution:\n", second + "solution:\n")
    assert errors(tmp_path, text) == [
        f"{SHOWN} line {line_of(text, '- id: c1', 2)}: tasks[1].checks[0].id: "
        f'duplicate check id "c1" (first at line {line_of(text, "- id: c1")})'
    ]


def test_duplicate_task_ids(tmp_path: Path) -> None:
    second = "  - id: t1\n    text: Again.\n    hints: [Same.]\n    checks:\n      - {id: c2, type: file, params: {path: /x, exists: false}}\n"
    text = VALID.replace("solution:\n", second + "solution:\n")
    assert errors(tmp_path, text) == [
        f'{SHOWN} line {line_of(text, "- id: t1", 2)}: tasks[1].id: duplicate task id "t1" (first at line 14)'
    ]


def test_duplicate_key_in_one_mapping(tmp_path: Path) -> None:
    text = VALID.replace("title: Demo\n", "title: Demo\ntitle: Again\n")
    assert errors(tmp_path, text) == [f'{SHOWN} line 4: duplicate key "title" (first at line 3)']


def test_source_file_that_does_not_exist(tmp_path: Path) -> None:
    text = VALID.replace(
        "solution:\n", "solution:\n  files:\n    - path: /etc/dovecot/local.conf\n      source: local.conf\n"
    )
    assert errors(tmp_path, text) == [
        f"{SHOWN} line {line_of(text, 'source:')}: solution.files[0].source: "
        f'source file "files/local.conf" does not exist next to {SHOWN}'
    ]


def test_source_file_that_exists_is_accepted_and_readable(tmp_path: Path) -> None:
    text = VALID.replace(
        "solution:\n", "solution:\n  files:\n    - path: /etc/dovecot/local.conf\n      source: local.conf\n"
    )
    directory = write(tmp_path, text)
    (directory / "files" / "local.conf").write_text("protocols = imap\n")
    scenario = load_scenario(directory)
    assert scenario.file_bytes(scenario.solution.files[0]) == b"protocols = imap\n"


def test_source_may_not_leave_the_files_folder(tmp_path: Path) -> None:
    text = VALID.replace(
        "solution:\n", "solution:\n  files:\n    - path: /etc/passwd\n      source: ../../secret\n"
    )
    assert errors(tmp_path, text) == [
        f"{SHOWN} line {line_of(text, 'source:')}: solution.files[0].source: "
        '"../../secret" must be a relative path inside the files/ folder'
    ]


def test_file_needs_content_or_source_not_both(tmp_path: Path) -> None:
    text = VALID.replace(
        "solution:\n",
        "solution:\n  files:\n    - path: /a\n    - path: /b\n      content: x\n      source: y\n",
    )
    assert errors(tmp_path, text) == [
        f"{SHOWN} line {line_of(text, '- path: /a')}: solution.files[0]: "
        'needs "content" (the text) or "source" (a file in the files/ folder)',
        f"{SHOWN} line {line_of(text, 'source: y')}: solution.files[1]: give either content or source, not both",
    ]


def test_empty_hint_list(tmp_path: Path) -> None:
    text = VALID.replace("    hints:\n      - Look at mail_location.\n", "    hints: []\n")
    assert errors(tmp_path, text) == [
        f"{SHOWN} line {line_of(text, 'hints: []')}: tasks[0].hints: the list is empty; give at least one hint, "
        "from a nudge to the last one that leads to the answer"
    ]


@pytest.mark.parametrize("points", ["0", "-1", "-0.5"])
def test_points_must_be_positive(tmp_path: Path, points: str) -> None:
    text = VALID.replace("        type: setting\n", f"        type: setting\n        points: {points}\n")
    assert errors(tmp_path, text) == [
        f"{SHOWN} line {line_of(text, 'points:')}: tasks[0].checks[0].points: must be greater than 0, found {points}"
    ]


def test_points_must_be_a_number(tmp_path: Path) -> None:
    text = VALID.replace("        type: setting\n", "        type: setting\n        points: many\n")
    assert errors(tmp_path, text) == [
        f'{SHOWN} line {line_of(text, "points:")}: tasks[0].checks[0].points: must be a number, found "many"'
    ]


def test_personality_must_be_dovecot_or_courier(tmp_path: Path) -> None:
    text = VALID.replace("version: 1\n", "version: 1\npersonality: postfix\n")
    assert errors(tmp_path, text) == [
        f'{SHOWN} line 3: personality: "postfix" is not one of dovecot, courier'
    ]


def test_difficulty_and_backends_are_enumerations(tmp_path: Path) -> None:
    text = VALID.replace("version: 1\n", "version: 1\ndifficulty: easy\nbackends: [local, podman]\n")
    assert errors(tmp_path, text) == [
        f'{SHOWN} line 3: difficulty: "easy" is not one of beginner, intermediate, advanced',
        f'{SHOWN} line 4: backends[1]: "podman" is not one of local, docker',
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "id: demo\ntitle: 'unclosed\n",
            3,
            "invalid YAML: found unexpected end of stream (while scanning a quoted scalar started at line 2), column 1",
        ),
        ("id: demo\n  title: x\n", 2, "invalid YAML: mapping values are not allowed here, column 8"),
        (
            "id: demo\ntasks: [a, b\n",
            3,
            "invalid YAML: expected ',' or ']', but got '<stream end>' "
            "(while parsing a flow sequence started at line 2), column 1",
        ),
        ("id: *nothing\n", 1, "invalid YAML: found undefined alias 'nothing', column 5"),
        (
            "a: 1\n---\nb: 2\n",
            2,
            "invalid YAML: expected a single document in the stream, but found another document, column 1",
        ),
    ],
)
def test_invalid_yaml_syntax_reports_its_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    assert errors(tmp_path, text) == [f"{SHOWN} line {line}: {message}"]


def test_whole_file_problems(tmp_path: Path) -> None:
    assert errors(tmp_path, "") == [
        f"{SHOWN}: the file is empty; a scenario needs id, title, brief and tasks"
    ]
    assert errors(tmp_path, "- a\n- b\n") == [
        f"{SHOWN} line 1: must be a mapping of keys (id, title, brief, tasks, ...), found a list"
    ]
    directory = write(tmp_path, VALID)
    (directory / "scenario.yaml").write_bytes(b"id: demo\ntitle: caf\xe9\n")
    _, issues = validate_scenario(directory, SHOWN)
    assert [str(i) for i in issues] == [f"{SHOWN} line 2: is not UTF-8 text (byte 0xe9)"]
    _, issues = validate_scenario(tmp_path / "absent", "scenarios/absent/scenario.yaml")
    assert [str(i) for i in issues] == [
        "scenarios/absent/scenario.yaml: no such file; a scenario folder holds scenario.yaml"
    ]


def test_check_params_are_validated_against_their_type(tmp_path: Path) -> None:
    checks = """\
    checks:
      - id: c1
        type: imap_login
        params:
          usr: alice
          password: secret
          transport: ssl
          port: imaps
      - id: c2
        type: command
        params: {exit_code: 0}
      - id: c3
        type: command
        params: {shell: "true", output_matches: "(unclosed"}
      - id: c4
        type: delivery
        params: {address: root, lands_in: {folder: INBOX}}
"""
    text = VALID[: VALID.index("    checks:")] + checks + VALID[VALID.index("solution:") :]
    c1 = line_of(text, "- id: c1")
    assert errors(tmp_path, text) == [
        f'{SHOWN} line {c1 + 2}: tasks[0].checks[0].params: check type imap_login needs parameter "user"',
        f'{SHOWN} line {c1 + 3}: tasks[0].checks[0].params: unknown parameter "usr" for check type imap_login '
        '(did you mean "user"?)',
        f'{SHOWN} line {c1 + 5}: tasks[0].checks[0].params.transport: "ssl" is not one of plain, starttls, tls',
        f'{SHOWN} line {c1 + 6}: tasks[0].checks[0].params.port: must be an integer, found "imaps"',
        f"{SHOWN} line {c1 + 9}: tasks[0].checks[1].params: check type command needs exactly one of argv, shell",
        f"{SHOWN} line {c1 + 12}: tasks[0].checks[2].params.output_matches: not a valid regular expression: "
        "missing ), unterminated subpattern at position 0",
        f'{SHOWN} line {c1 + 15}: tasks[0].checks[3].params.lands_in: "lands_in" needs parameter "user"',
    ]


def test_a_check_without_params_is_told_what_it_needs(tmp_path: Path) -> None:
    text = VALID.replace(
        "        params:\n          name: mail_location\n          value: maildir:~/Maildir\n", ""
    )
    line = line_of(text, "- id: c1")
    assert errors(tmp_path, text) == [
        f'{SHOWN} line {line}: tasks[0].checks[0].params: check type setting needs parameter "name"',
        f'{SHOWN} line {line}: tasks[0].checks[0].params: check type setting needs parameter "value"',
    ]


def test_expect_fresh_pass_needs_a_reason(tmp_path: Path) -> None:
    text = VALID.replace("        type: setting\n", "        type: setting\n        expect_fresh: pass\n")
    assert errors(tmp_path, text) == [
        f"{SHOWN} line {line_of(text, 'expect_fresh')}: tasks[0].checks[0]: expect_fresh: pass needs "
        "expect_fresh_reason, saying why the check passes on the fresh lab"
    ]
    fixed = text.replace(
        "expect_fresh: pass\n", "expect_fresh: pass\n        expect_fresh_reason: guards a default\n"
    )
    scenario = load_scenario(write(tmp_path, fixed))
    assert scenario.checks()[0].expect_fresh == "pass"


def test_mailbox_for_an_undeclared_user(tmp_path: Path) -> None:
    text = VALID.replace("    - user: alice\n", "    - user: bob\n")
    assert errors(tmp_path, text) == [
        f'{SHOWN} line {line_of(text, "user: bob")}: setup.mailboxes[0].user: user "bob" is not in setup.users (alice)'
    ]


def test_modes_are_octal_however_written(tmp_path: Path) -> None:
    files = "  files:\n" + "".join(
        f"    - path: /f{i}\n      content: x\n      mode: {mode}\n"
        for i, mode in enumerate(["0600", '"0640"', "644", "0o755", "rw-r--r--"])
    )
    text = VALID.replace("setup:\n", "setup:\n" + files)
    assert errors(tmp_path, text) == [
        f"{SHOWN} line {line_of(text, 'rw-r--r--')}: setup.files[4].mode: "
        'must be an octal file mode such as 0644, found "rw-r--r--"'
    ]
    scenario = load_scenario(write(tmp_path, text.replace("rw-r--r--", "0444")))
    assert [f.mode for f in scenario.setup.files] == [0o600, 0o640, 0o644, 0o755, 0o444]


def test_setup_paths_must_be_absolute(tmp_path: Path) -> None:
    text = VALID.replace(
        "setup:\n", "setup:\n  files:\n    - path: etc/dovecot/local.conf\n      content: x\n"
    )
    assert errors(tmp_path, text) == [
        f'{SHOWN} line {line_of(text, "path: etc")}: setup.files[0].path: "etc/dovecot/local.conf" must be an '
        "absolute path in the lab, such as /etc/dovecot/dovecot.conf"
    ]


def test_id_must_match_the_folder(tmp_path: Path) -> None:
    assert errors(tmp_path, VALID, folder="other") == [
        f'{SHOWN} line 1: id: "demo" does not match its folder name "other"'
    ]


def test_all_errors_are_reported_at_once_in_line_order(tmp_path: Path) -> None:
    text = (
        VALID.replace("version: 1\n", "version: 1\npersonality: exim\n")
        .replace("type: setting", "type: imap_logon")
        .replace("    hints:\n      - Look at mail_location.\n", "    hints: []\n")
        .replace("solution:\n  commands:\n    - service dovecot restart\n", "solution: {}\nextra: 1\n")
    )
    found = errors(tmp_path, text)
    assert [msg.split(": ", 1)[0] for msg in found] == [
        f"{SHOWN} line 3",
        f"{SHOWN} line {line_of(text, 'hints: []')}",
        f"{SHOWN} line {line_of(text, 'imap_logon')}",
        f"{SHOWN} line {line_of(text, 'solution: {}')}",
        f"{SHOWN} line {line_of(text, 'extra: 1')}",
    ]
    assert found[-1].endswith(
        'unknown key "extra" (known: id, version, title, objective, brief, tasks, topics, '
        "difficulty, estimated_minutes, personality, backends, setup, solution, hint_penalty)"
    )


def test_load_scenario_raises_with_every_issue(tmp_path: Path) -> None:
    text = VALID.replace("title: Demo\n", "").replace("brief: Do it.\n", "")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, text), SHOWN)
    assert str(caught.value) == (
        f'{SHOWN} line 1: missing required key "title"\n{SHOWN} line 1: missing required key "brief"'
    )
    assert len(caught.value.issues) == 2


def test_hints_may_carry_their_own_penalty(tmp_path: Path) -> None:
    text = VALID.replace("version: 1\n", "version: 1\nhint_penalty: 0.25\n").replace(
        "      - Look at mail_location.\n",
        "      - Look at mail_location.\n      - text: It is in 10-mail.conf.\n        penalty: 2\n",
    )
    scenario = load_scenario(write(tmp_path, text))
    assert [h.penalty for h in scenario.tasks[0].hints] == [None, 2.0]
    assert [scenario.hint_cost("t1", i) for i in range(2)] == [0.25, 2.0]
    negative = text.replace("penalty: 2", "penalty: -1")
    assert errors(tmp_path, negative) == [
        f"{SHOWN} line {line_of(negative, 'penalty: -1')}: tasks[0].hints[1].penalty: must be 0 or more, found -1"
    ]


def test_parameters_that_need_others(tmp_path: Path) -> None:
    text = VALID.replace(
        "          value: maildir:~/Maildir\n",
        "          value: maildir:~/Maildir\n          source: courier\n",
    )
    assert errors(tmp_path, text) == [
        f'{SHOWN} line {line_of(text, "params:")}: tasks[0].checks[0].params: source: courier needs parameter "file"'
    ]
    fixed = text.replace("source: courier\n", "source: courier\n          file: /etc/courier/imapd\n")
    assert load_scenario(write(tmp_path, fixed)).checks()[0].params["file"] == "/etc/courier/imapd"
