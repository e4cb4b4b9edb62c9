"""Courier's INBOX. namespace in the lab: names, Maildir++ directories, LIST order, subscriptions.

tests/conformance/test_courier_conformance.py compares the same commands with
Debian's real imapd; these pin the behaviour where the real one cannot run.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsim.mailserver.courier import folders as FD
from tests.courier.test_courier_server import Running, chat, make_lab
from tests.labroot_builder import LabBuilder


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Running, LabBuilder]]:
    lab = make_lab(tmp_path, monkeypatch)
    running = Running(lab, ["imapd"])
    try:
        yield running, lab
    finally:
        running.stop()


def test_folders_live_under_inbox_as_maildirplusplus_directories(served: tuple[Running, LabBuilder]) -> None:
    running, lab = served
    maildir = lab.root.path("/home/alice/Maildir")
    out = chat(
        running.base + 143,
        [b"a LOGIN alice secret", b"b NAMESPACE", b"c CREATE Sent", b"d CREATE INBOX.Sent",
         b"e CREATE inbox.Sent", b"f CREATE INBOX.a.b", b"g SUBSCRIBE INBOX.Sent", b"h SUBSCRIBE Sent",
         b'i LSUB "" "*"', b"j LOGOUT"],
    )  # fmt: skip
    assert out[2:15] == [
        b'* NAMESPACE (("INBOX." ".")) NIL (("#shared." ".")("shared." "."))',
        b"b OK NAMESPACE completed.",
        b"c NO Invalid mailbox name.",
        b'd OK "INBOX.Sent" created.',
        b"e NO Cannot create this folder.",
        b'f OK "INBOX.a.b" created.',
        b"g OK Folder subscribed.",
        b"h NO Invalid mailbox name.",
        b'* LSUB (\\HasNoChildren) "." "INBOX.Sent"',
        b'* LSUB (\\Noselect \\HasChildren) "." "INBOX"',  # a parent level only, as imapd says
        b"i OK LSUB completed",
        b"* BYE Courier-IMAP server shutting down",
        b"j OK LOGOUT completed",
    ]
    # Maildir++ as Courier writes it: `.Sent`, not `.INBOX.Sent`; a subfolder `.a.b` only.
    assert (maildir / ".Sent" / "cur").is_dir() and (maildir / ".Sent" / "maildirfolder").exists()
    assert (maildir / ".a.b" / "new").is_dir() and not (maildir / ".a").exists()
    assert not any(p.name.startswith(".INBOX") for p in maildir.iterdir())
    assert (maildir / FD.SUBSCRIBE_FILE).read_text() == "INBOX.Sent\n"

    out = chat(
        running.base + 143,
        [b"a LOGIN alice secret", b'b LIST "" "*"', b"c RENAME INBOX.Sent INBOX.Old", b"d DELETE INBOX.a",
         b"e DELETE INBOX.a.b", b"f DELETE INBOX", b"g LOGOUT"],
    )  # fmt: skip
    assert sorted(out[2:7]) == [
        b'* LIST (\\HasNoChildren) "." "INBOX.Sent"',
        b'* LIST (\\HasNoChildren) "." "INBOX.a.b"',
        b'* LIST (\\Marked \\HasChildren) "." "INBOX"',
        b'* LIST (\\Noselect \\HasChildren) "." "INBOX.a"',
        b"b OK LIST completed",
    ]
    assert out[7:11] == [
        b"c OK Folder renamed.",
        b"d NO Mailbox does not exist, or must be subscribed to.",
        b"e OK Folder deleted.",
        b"f NO Cannot delete this folder.",
    ]
    assert (
        (maildir / ".Old").is_dir() and not (maildir / ".Sent").exists() and not (maildir / ".a.b").exists()
    )


def test_append_to_a_missing_folder_is_refused_before_the_message(served: tuple[Running, LabBuilder]) -> None:
    running, _lab = served
    with socket.create_connection(("127.0.0.1", running.base + 143), timeout=10) as sock:
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"a LOGIN alice secret\r\n")
        assert f.readline() == b"a OK LOGIN Ok.\r\n"
        # No `+ OK`: imapd answers at once, and the client does not send the literal.
        sock.sendall(b"b APPEND INBOX.nosuch {5}\r\n")
        assert f.readline() == b"b NO [TRYCREATE] Must create mailbox before append\r\n"
        sock.sendall(b"c APPEND Drafts {5}\r\n")
        assert f.readline() == b"c NO Invalid mailbox name.\r\n"
        sock.sendall(b"d APPEND INBOX {5}\r\n")
        assert f.readline() == b"+ OK\r\n"
        sock.sendall(b"hello\r\n")
        assert f.readline().startswith(b"d OK [APPENDUID ")


def test_list_order_is_imapds_over_readdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Folders come out last-seen first, then parent levels that are no folder (real imapd's
    answer for this readdir order)."""
    for d in (".x", ".a.b", "new", "cur"):
        (tmp_path / d).mkdir()
    monkeypatch.setattr(
        FD, "readdir", lambda path: [".x", ".", "new", ".a.b", "cur", ".."] if path == tmp_path else []
    )
    assert FD.list_lines("LIST", tmp_path, "*", False, None) == [
        '* LIST (\\HasNoChildren) "." "INBOX.a.b"',
        '* LIST (\\Unmarked \\HasChildren) "." "INBOX"',
        '* LIST (\\HasNoChildren) "." "INBOX.x"',
        '* LIST (\\Noselect \\HasChildren) "." "INBOX.a"',
    ]
    assert FD.list_lines("LIST", tmp_path, "%", False, None) == [
        '* LIST (\\Unmarked \\HasChildren) "." "INBOX"'
    ]
    assert FD.scan_pattern("nosuch", "*", exists=False) is None
    assert FD.scan_pattern("INBOX.", "%", exists=True) == "INBOX.%"
    assert FD.scan_pattern("", "inbox.*", exists=True) == "INBOX.*"


def test_readdir_includes_dot_in_the_directory_order(tmp_path: Path) -> None:
    (tmp_path / ".Sent").mkdir()
    names = FD.readdir(tmp_path)
    assert sorted(names) == [".", "..", ".Sent"]
