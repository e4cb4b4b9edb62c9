"""The words every check's message is built from: server lines quoted as said, counts, lists, causes."""

from __future__ import annotations

from labsim.checks.base import count, listing, said, value
from labsim.checks.explain import accepted, announcement, bounced, is_courier, refusal
from labsim.checks.maillog import log_says, telling_line, without_syslog_prefix
from labsim.checks.session import openssl_reason, shown_argv


def test_server_lines_are_quoted_as_said_not_as_python_reprs() -> None:
    assert said("NO [AUTHENTICATIONFAILED] Authentication failed.") == (
        '"NO [AUTHENTICATIONFAILED] Authentication failed."'
    )
    assert said("NO Mailbox doesn't exist: X") == '"NO Mailbox doesn\'t exist: X"'
    assert said("OK [CAPABILITY IMAP4rev1 IDLE] Logged in") == '"OK [CAPABILITY ...] Logged in"'
    assert said("  ") == "nothing"
    assert said("x" * 500, 20) == '"' + "x" * 17 + '..."'
    assert value("") == "an empty value" and value("imap pop3") == "`imap pop3`"


def test_counts_and_lists_read_as_english() -> None:
    assert [count(n, "message") for n in (0, 1, 3)] == ["no messages", "1 message", "3 messages"]
    assert listing([]) == "" and listing(["a"]) == "a" and listing(["a", "b"]) == "a and b"
    assert listing([1, 2, 3], "or") == "1, 2 or 3"


def test_refusals_name_the_setting_that_decides() -> None:
    assert "disable_plaintext_auth" in refusal(
        "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
    )
    assert "auth_mechanisms" in refusal("NO [ALERT] Unsupported authentication mechanism.")
    assert "Fatal or Error lines" in refusal("-ERR [SYS/TEMP] Auth process broken")
    assert "/var/log/mail.log does" in refusal("NO [AUTHENTICATIONFAILED] Authentication failed.")
    assert refusal("NO something else") == ""
    assert "non-secure connection in the clear" in accepted(True, "plain")
    assert accepted(True, "starttls") == "The server let the login in."
    assert "auth_mechanisms" in announcement(["AUTH=CRAM-MD5"]) and announcement(["IMAP4rev1"]) == ""


def test_the_log_line_that_explains_is_found_and_quoted_without_syslog_noise() -> None:
    lines = [
        "Dec 06 11:12:00 vm dovecot: master: Dovecot v2.3.19.1 starting up for imap, pop3",
        "Dec 06 11:12:00 vm dovecot: imap-login: Error: Failed to initialize SSL server context: "
        "(You probably forgot '<' from ssl_cert=</etc/x.pem)",
    ]
    assert telling_line(lines) == lines[1]
    assert without_syslog_prefix(lines[1]).startswith("imap-login: Error: Failed to initialize")
    assert log_says(lines) == (
        ' /var/log/mail.log says: "imap-login: Error: Failed to initialize SSL server context: '
        "(You probably forgot '<' from ssl_cert=</etc/x.pem)\""
    )
    assert log_says(lines[:1]) == ""


def test_transcripts_show_the_client_as_an_admin_types_it() -> None:
    assert shown_argv("imap", "plain", 143, "insecure") == [
        "python3", "-m", "labsim.mailserver.tools.linechat", "127.0.0.1", "143", "--source", "127.0.0.2",
    ]  # fmt: skip
    assert shown_argv("pop3", "starttls", 110, "secure") == [
        "openssl", "s_client", "-quiet", "-crlf", "-connect", "127.0.0.1:110", "-starttls", "pop3",
    ]  # fmt: skip
    line = "40A796BA2E7F0000:error:0A000126:SSL routines:ssl3_read_n:unexpected eof while reading:../x.c:3:"
    assert openssl_reason(line) == "unexpected eof while reading"
    assert openssl_reason("write:errno=104") == "the connection was reset"


def test_courier_is_explained_in_its_own_files() -> None:
    assert is_courier("S: +OK Hello there.") and not is_courier("S: +OK Dovecot (Debian) ready.")
    assert "IMAP_TLS_REQUIRED" in refusal("a1 NO STARTTLS required", courier=True)
    assert "auth_mechanisms" not in announcement(["SASL PLAIN"], courier=True)
    assert "POP3AUTH" in announcement(["SASL PLAIN"], courier=True)
    assert "IMAPDSTARTTLS" in announcement(["STARTTLS"], courier=True)
    spoken = "imapd-ssl: couriertls: /etc/courier/imapd.pem: No such file or directory"
    line = f"Dec 06 11:59:07 vm {spoken}"
    assert without_syslog_prefix(line) == spoken
    quiet = "Dec 06 11:59:07 vm imapd: Connection, ip=[::1]"
    assert log_says([quiet, line]) == f' /var/log/mail.log says: "{spoken}"'


def test_a_bounce_says_why_courier_refused_it() -> None:
    root = bounced("root@mail", "550 User <root> unknown", "")
    assert root.startswith("Courier never delivers mail to root") and "makealiases compiles" in root
    assert bounced("uucp@mail", "550 User <uucp> unknown", "missing").endswith("There is no aliases.dat yet.")
    stale = bounced("root@mail", "550 User <root> unknown", "stale:/etc/courier/aliases/system")
    assert stale.endswith("aliases.dat is older than /etc/courier/aliases/system: the edit is not compiled.")
    assert bounced("root@mail", "452 Mailbox full", "") == ""
