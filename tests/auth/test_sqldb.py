"""The sql passdb/userdb: the lab has no SQL driver, so its start is the auth process's fatal,
worded as Debian 12's Dovecot words it (tests/conformance/test_dovecot_includes.py compares
the missing-file case with the real server)."""

from __future__ import annotations

from pathlib import Path

from labsim.mailserver.auth.sqldb import sql_init_fatal
from labsim.mailserver.labroot import LabRoot

ARGS = "/etc/dovecot/dovecot-sql.conf.ext"


def test_a_missing_args_file(tmp_path: Path) -> None:
    assert sql_init_fatal(LabRoot(tmp_path), ARGS) == (
        f"sql {ARGS}: Can't open configuration file {ARGS}: No such file or directory"
    )


def test_a_file_without_a_driver(tmp_path: Path) -> None:
    # Debian's own dovecot-sql.conf.ext: every line a comment.
    (tmp_path / "etc/dovecot").mkdir(parents=True)
    (tmp_path / ARGS.lstrip("/")).write_text("# driver = mysql\n#connect =\n")
    assert sql_init_fatal(LabRoot(tmp_path), ARGS) == f"sql: driver not set in configuration file {ARGS}"


def test_a_driver_the_lab_does_not_have(tmp_path: Path) -> None:
    (tmp_path / "etc/dovecot").mkdir(parents=True)
    (tmp_path / ARGS.lstrip("/")).write_text("driver = mysql  # the server\nconnect = host=localhost\n")
    assert sql_init_fatal(LabRoot(tmp_path), ARGS) == "sql: Unknown database driver 'mysql'"
