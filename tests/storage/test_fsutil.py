from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.storage.base import StorageError
from labsim.mailserver.storage.fsutil import atomic_write, dotlock


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lock_of_a_dead_process_is_stale_at_once(tmp_path: Path) -> None:
    root = LabRoot(tmp_path)
    target = tmp_path / "dovecot-uidlist"
    lock = tmp_path / "dovecot-uidlist.lock"
    lock.write_text(f"{dead_pid()}:{socket.gethostname()}")
    with dotlock(root, target, wait=0.5):
        assert lock.read_text() == f"{os.getpid()}:{socket.gethostname()}"
    assert not lock.exists()


def test_live_lock_times_out_with_dovecots_words(tmp_path: Path) -> None:
    root = LabRoot(tmp_path)
    target = tmp_path / "alice"
    (tmp_path / "alice.lock").write_text(f"1:{socket.gethostname()}")
    with pytest.raises(StorageError) as info, dotlock(root, target, wait=0.2):
        pass
    assert str(info.value) == "file_dotlock_create(/alice) failed: Timeout while waiting for lock"
    assert (tmp_path / "alice.lock").exists()  # somebody else's lock is left alone


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    root = LabRoot(tmp_path)
    target = tmp_path / "f"
    target.write_bytes(b"old")
    atomic_write(root, target, b"new", os.getuid(), os.getgid(), 0o640)
    assert target.read_bytes() == b"new"
    assert os.stat(target).st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["f"]


def test_atomic_write_of_pieces_writes_them_in_order(tmp_path: Path) -> None:
    """An mbox is written message by message: more pieces than one writev() takes,
    empty ones among them."""
    root = LabRoot(tmp_path)
    target = tmp_path / "mbox"
    pieces = [b"%d\n" % i if i % 7 else b"" for i in range(2500)]
    atomic_write(root, target, pieces, os.getuid(), os.getgid())
    assert target.read_bytes() == b"".join(pieces)
    assert os.listdir(tmp_path) == ["mbox"]


def test_atomic_write_removes_temps_a_crash_left(tmp_path: Path) -> None:
    root = LabRoot(tmp_path)
    target = tmp_path / "alice"
    old = tmp_path / ".alice.123.456.tmp"
    fresh = tmp_path / ".alice.124.457.tmp"  # maybe a writer still at work: kept
    old.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(old, (1, 1))
    atomic_write(root, target, b"x", os.getuid(), os.getgid())
    assert sorted(os.listdir(tmp_path)) == [".alice.124.457.tmp", "alice"]
