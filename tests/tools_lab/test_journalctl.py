"""`journalctl -xeu dovecot.service`, where a failed start points, and `systemctl daemon-reload`."""

from __future__ import annotations

from tests.tools_lab.conftest import LOCAL_CONF, ToolLab


def test_a_failed_start_is_in_the_units_journal(running: ToolLab) -> None:
    running.sh("service dovecot stop")
    running.write("/etc/dovecot/local.conf", LOCAL_CONF + "mail_locaton = oops\n")
    try:
        code, out = running.sh("service dovecot start")
        assert code == 1 and 'journalctl -xeu dovecot.service" for details.' in out
        code, journal = running.sh("journalctl -xeu dovecot.service")
        assert code == 0
        assert "Unknown setting: mail_locaton" in journal
        last = journal.splitlines()[-3:]
        assert "dovecot.service: Failed with result 'exit-code'." in last[-2]
        assert last[-1].endswith("Failed to start dovecot.service - Dovecot IMAP/POP3 email server.")
        assert running.out("journalctl -u dovecot --no-pager -n 1") == journal.splitlines()[-1] + "\n"
        assert running.out("journalctl --unit=dovecot.service -n2").splitlines() == last[-2:]
    finally:
        running.write("/etc/dovecot/local.conf", LOCAL_CONF)


def test_other_units_and_other_uses(running: ToolLab) -> None:
    assert running.sh("journalctl -u courier-imap") == (0, "-- No entries --\n")
    code, out = running.sh("journalctl")
    assert code == 1 and len(out.splitlines()) == 1 and "journalctl -xeu dovecot.service" in out
    assert running.sh("journalctl -f")[0] == 1
    assert running.sh("systemctl daemon-reload") == (0, "")
