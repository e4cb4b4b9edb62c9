"""Fixtures for the storage tests: a lab root with a user, and storages over it."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.storage.base import MailStorage
from labsim.mailserver.storage.location import open_storage
from tests.labroot_builder import LabBuilder


@pytest.fixture
def lab(tmp_path: Path) -> LabBuilder:
    return LabBuilder(tmp_path / "root")


@pytest.fixture
def alice(lab: LabBuilder) -> UserInfo:
    u = lab.user("alice", None)
    assert u.home is not None
    return UserInfo("alice", u.uid, u.gid, u.home)


@pytest.fixture
def log_buffer() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def storage_for(lab: LabBuilder, alice: UserInfo, log_buffer: io.StringIO) -> Callable[[str], MailStorage]:
    def make(location: str, user: UserInfo | None = None) -> MailStorage:
        log = DovecotLog(lab.root, stderr=log_buffer)
        return open_storage(lab.root, location, user or alice, log, DovecotSettings())

    return make
