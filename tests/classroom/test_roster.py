"""Rosters: CSV and YAML, and errors that name the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from labsim.classroom.roster import RosterError, Student, load_roster


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_header_comments_and_quoted_names(tmp_path: Path) -> None:
    path = write(
        tmp_path, "r.csv", 'id,name\n# a comment\n\nalice,Alice Liddell\nbob,"Builder, Bob"\ncarol\n'
    )
    assert load_roster(path) == [
        Student("alice", "Alice Liddell"),
        Student("bob", "Builder, Bob"),
        Student("carol", "carol"),
    ]


def test_yaml_list_and_students_key(tmp_path: Path) -> None:
    listed = write(tmp_path, "a.yaml", "- id: alice\n  name: Alice\n- bob\n")
    keyed = write(tmp_path, "b.yml", "students:\n  - id: alice\n    name: Alice\n  - id: bob\n")
    assert load_roster(listed) == [Student("alice", "Alice"), Student("bob", "bob")]
    assert load_roster(keyed) == [Student("alice", "Alice"), Student("bob", "bob")]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "r.csv",
            "id,name\nalice,A\nbob,B\nalice,Again\n",
            "r.csv line 4: student id 'alice' is already on line 2",
        ),
        ("r.csv", "alice,A\nAl Ice,B\n", "r.csv line 2: student id 'Al Ice' may only hold letters"),
        ("r.csv", "alice,A\nbob,B,extra\n", "r.csv line 2: expected two fields (id, name) but found 3"),
        ("r.csv", "id,name\n# nobody\n", "r.csv: no students in it"),
        ("r.csv", "alice,A\n,Nobody\n", "r.csv line 2: the student id is empty"),
        (
            "r.yaml",
            "students:\n  - id: alice\n  - id: alice\n",
            "r.yaml line 3: student id 'alice' is already on line 2",
        ),
        ("r.yaml", "- id: alice\n- name: Bob\n", "r.yaml line 2: this student has no `id`"),
        ("r.yaml", "- id: alice\n  mail: a@x\n", "r.yaml line 1: unknown key 'mail'"),
        ("r.yaml", "- id: [alice\n", "r.yaml line 2: not valid YAML"),
        ("r.yaml", "teachers: []\n", "r.yaml line 1: expected a `students:` list"),
        ("r.yaml", "- id: ../etc\n", "r.yaml line 1: student id '../etc' may only hold"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(RosterError) as info:
        load_roster(path)
    # The message starts with the file (as given) and the line, then says what is wrong.
    assert str(info.value).startswith(str(tmp_path / name) + message.removeprefix(name))


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(RosterError, match="no such roster file"):
        load_roster(tmp_path / "none.csv")
    binary = tmp_path / "r.csv"
    binary.write_bytes(b"\xff\xfe\x00alice")
    with pytest.raises(RosterError, match="not UTF-8"):
        load_roster(binary)
