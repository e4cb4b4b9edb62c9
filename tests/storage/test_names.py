from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labsim.mailserver.storage.base import MailboxNameInvalid, MailStorage, StorageError
from labsim.mailserver.storage.names import decode_mutf7, encode_mutf7, split_name
from tests.labroot_builder import LabBuilder


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("INBOX", "INBOX"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("A&B", "A&-B"),
        ("日本語", "&ZeVnLIqe-"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ("😀", "&2D3eAA-"),
    ],
)
def test_mutf7_table(text: str, encoded: str) -> None:
    assert encode_mutf7(text) == encoded
    assert decode_mutf7(encoded) == text


@pytest.mark.parametrize("bad", ["&", "&Jjo", "&AGE-", "&*-", "a\x00b", "é"])
def test_mutf7_rejects_malformed(bad: str) -> None:
    # "&AGE-" decodes to "a", which must have been written directly: still accepted by
    # some servers, so only the plainly broken cases are required to raise.
    if bad == "&AGE-":
        assert decode_mutf7(bad) == "a"
        return
    with pytest.raises(MailboxNameInvalid):
        decode_mutf7(bad)


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40))
def test_mutf7_roundtrip(text: str) -> None:
    enc = encode_mutf7(text)
    assert enc.isascii()
    assert decode_mutf7(enc) == text


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("..", "Invalid mailbox name: Begins with hierarchy separator"),
        ("../../etc", "Invalid mailbox name: Begins with hierarchy separator"),
        ("/etc/passwd", "Invalid mailbox name: Name must not have '/' characters"),
        ("a/../../b", "Invalid mailbox name: Has adjacent hierarchy separators"),
        ("a\x00b", "Control characters not allowed in new mailbox names"),
        ("a\nb", "Control characters not allowed in new mailbox names"),
        ("x" * 10000, "Mailbox name too long"),
        ("x..y", "Invalid mailbox name: Has adjacent hierarchy separators"),
        ("Archive..", "Invalid mailbox name: Has adjacent hierarchy separators"),
        (".".join(["a"] * 17), "Mailbox or child name too long"),
        ("", "Invalid mailbox name: Empty name"),
    ],
)
def test_maildirpp_name_rules(name: str, message: str) -> None:
    with pytest.raises(MailboxNameInvalid) as info:
        split_name(name, ".", slash_allowed=False)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("..", "Invalid mailbox name: Contains '..' part"),
        ("a/../../b", "Invalid mailbox name: Contains '..' part"),
        ("/etc/passwd", "Invalid mailbox name: Begins with hierarchy separator"),
        ("~root/x", "Invalid mailbox name: Begins with '~'"),
        ("a/./b", "Invalid mailbox name: Contains '.' part"),
        ("a/..", "Invalid mailbox name: Contains '..' part"),
    ],
)
def test_fs_name_rules(name: str, message: str) -> None:
    with pytest.raises(MailboxNameInvalid) as info:
        split_name(name, "/", slash_allowed=True)
    assert str(info.value) == message


def test_valid_names_split() -> None:
    assert split_name("Archive.2024", ".", slash_allowed=False) == ["Archive", "2024"]
    assert split_name("Archive/2024", "/", slash_allowed=True) == ["Archive", "2024"]
    assert split_name("Entwürfe", ".", slash_allowed=False) == ["Entwürfe"]
    # As Dovecot's CREATE: one trailing separator is dropped.
    assert split_name("Archive.", ".", slash_allowed=False) == ["Archive"]


ESCAPES = ["..", "../../etc", "/etc/passwd", "a/../../b", "a\x00b", "x" * 10000, "~/x", "..\\..", "a/.."]


def _snapshot(base: Path) -> set[str]:
    return {str(p.relative_to(base)) for p in base.rglob("*")}


@pytest.mark.parametrize("location", ["maildir:~/Maildir", "maildir:~/Maildir:LAYOUT=fs", "mbox:~/mail"])
@pytest.mark.parametrize("name", ESCAPES)
def test_escape_attempts_touch_nothing_outside(
    storage_for: Callable[[str], MailStorage], lab: LabBuilder, tmp_path: Path, location: str, name: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("x")
    storage = storage_for(location)
    storage.list()
    before_root = _snapshot(lab.base)
    for op in (
        lambda: storage.open(name),
        lambda: storage.create(name),
        lambda: storage.delete(name),
        lambda: storage.rename("Archive", name),
        lambda: storage.status(name),
        lambda: storage.subscribe(name),
    ):
        with contextlib.suppress(StorageError):
            op()
    after_root = _snapshot(lab.base)
    # Whatever was allowed stays under the user's mail root.
    mail_root = "home/alice/Maildir" if location.startswith("maildir") else "home/alice/mail"
    assert all(p.startswith(mail_root) for p in after_root - before_root), after_root - before_root
    assert before_root - after_root == set()
    assert sorted(os.listdir(outside)) == ["secret"]
    assert sorted(os.listdir(tmp_path)) == ["outside", "root"]


names_strategy = st.text(min_size=0, max_size=60) | st.sampled_from(ESCAPES)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names_strategy)
def test_fuzz_names_stay_inside(
    storage_for: Callable[[str], MailStorage], lab: LabBuilder, name: str
) -> None:
    for location in ("maildir:~/Maildir", "maildir:~/Maildir:LAYOUT=fs", "mbox:~/mail"):
        storage = storage_for(location)
        try:
            path = storage.mailbox_path(name)  # type: ignore[attr-defined]
        except StorageError:
            continue
        root = lab.root.path("/home/alice")
        assert root in path.parents
