"""A 1.x `protocols = imap pop3s` line: doveconf's conversion, and a server that follows it."""

from __future__ import annotations

from tests.tools_lab.conftest import LOCAL_CONF, ToolLab

WARNING = (
    "doveconf: Warning: Obsolete setting in /etc/dovecot/local.conf:3: 'pop3s' protocol can no longer "
    "be specified (use protocols=pop3). to disable non-ssl pop3, use service pop3-login "
    "{ inet_listener pop3 { port=0 } }"
)


def test_pop3s_alone_keeps_pop3_over_ssl_only(running: ToolLab) -> None:
    running.write("/etc/dovecot/local.conf", LOCAL_CONF + "protocols = imap pop3s\n")
    try:
        code, dump = running.sh("doveconf -n")
        assert code == 0 and WARNING in dump
        assert "protocols = imap pop3\n" in dump
        assert "service pop3-login {\n  inet_listener pop3 {\n    port = 0\n  }\n}\n" in dump
        code, out = running.sh("service dovecot restart")
        assert code == 0, out
        assert running.listening(995)  # POP3 over SSL is served ...
        assert not running.listening(110)  # ... the plain POP3 port is closed ...
        assert running.listening(143) and running.listening(993)  # ... and IMAP is untouched
    finally:
        running.write("/etc/dovecot/local.conf", LOCAL_CONF)
        running.sh("service dovecot restart")
    assert running.listening(110)
