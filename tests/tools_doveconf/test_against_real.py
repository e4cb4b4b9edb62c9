"""Our doveconf against Debian's real /usr/bin/doveconf on the same files."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from labsim.mailserver.tools.doveconf import main

REAL = Path("/usr/bin/doveconf")
pytestmark = pytest.mark.skipif(not REAL.exists(), reason="real doveconf not installed")

CONFIGS = {
    "plain": "protocols = imap pop3\nmail_location = maildir:~/Maildir\n",
    "unknown": "# c\nprotocols = imap\nmail_locaton = maildir:~/Maildir\n",
    "bad_bool": "disable_plaintext_auth = perhaps\n",
    "bad_enum": "ssl = maybe\n",
    "bad_number": "first_valid_uid = abc\n",
    "negative": "first_valid_uid = -5\n",
    "too_large": "first_valid_uid = 4294967296\n",
    "bad_size": "mbox_min_index_size = 10Q\n",
    "bad_time": "auth_failure_delay = 2 fortnights\n",
    "unitless_time": "auth_failure_delay = 2\n",
    "msec_time": "auth_failure_delay = 1500 ms\n",
    "unclosed": "service imap-login {\n",
    "extra_close": "service imap-login {\n}\n}\n",
    "missing_include": "!include nothere.conf\n",
    "missing_include_try": "!include_try nothere.conf\nssl = no\n",
    "no_brace": "login_greeting\n",
    "no_key": "= x\n",
    "garbage": "service imap-login { }\n",
    "unknown_section": "foo {\n}\n",
    "unknown_nested": "service imap-login {\n  inet_listener imap {\n    bogus = 1\n  }\n}\n",
    "bad_port": "service imap-login {\n  inet_listener imap {\n    port = 70000\n  }\n}\n",
    "passdb_no_driver": "passdb {\n  args = x\n}\n",
    "local_auth": "remote 10.0.0.0/8 {\n  auth_verbose = yes\n}\n",
    "values": (
        "mbox_min_index_size = 1536\nauth_failure_delay = 120s\nimap_idle_notify_interval = 3600 s\n"
        "mail_max_userip_connections = 010\nauth_debug = 1\nauth_verbose = YES\nssl = yes\n"
        "first_valid_uid = 500\nlogin_greeting = 'single q'\nauth_realms = a \"b c\"\n"
        'mail_location = x"y\nlisten = 127.0.0.1, ::1\nssl_key = </k\nssl_cert = </c\n'
        "auth_mechanisms = PLAIN Login cram-md5\n"
    ),
    "refs": "mail_plugins = q\nmail_plugins = $mail_plugins zlib\nprotocols = $protocols imap\n"
    "protocol imap {\n  mail_plugins = $mail_plugins imap_quota\n}\n"
    "protocol imap {\n  mail_plugins = $mail_plugins x\n}\nlogin_greeting = $mail_plugins y\n",
    "filters": (
        "protocol imap {\n  mail_plugins = $mail_plugins imap_quota\n  mail_max_userip_connections = 20\n}\n"
        'protocol pop3 {\n  pop3_uidl_format = %08Xu\n}\nlogin_greeting = "Hello there"\n'
        "local 127.0.0.1 {\n  login_greeting = x\n}\nremote 10.0.0.0/8 {\n  ssl = no\n}\nssl = yes\n"
        "mail_plugins = zlib\n"
    ),
    "services": (
        "service imap-login {\n  inet_listener imap {\n    port = 0\n  }\n  inet_listener imaps {\n"
        "    port = 993\n    ssl = yes\n  }\n  process_min_avail = 1\n}\nservice imap-login {\n"
        "  inet_listener imap {\n   port = 1143\n  }\n}\nservice pop3-login {\n  inet_listener pop3s {\n"
        "    port = 995\n  }\n}\n"
    ),
    "sections": (
        "namespace foo {\n  inbox = yes\n}\nnamespace bar {\n  separator = /\n  mailbox x {\n  }\n"
        '  mailbox "Sent Messages" {\n    special_use = \\Sent\n  }\n}\nservice imap {\n}\nplugin {\n'
        "  quota = maildir\n}\nprotocol imap {\n}\npassdb {\n  driver = pam\n}\npassdb foo {\n"
        "  driver = shadow\n}\npassdb {\n  driver = passwd-file\n  args = /etc/x\n}\n"
    ),
    "comments": "login_greeting = a#b\nmail_location = x #y\nauth_realms = hi \\\n  there\n",
    "v1_protocols": "protocols = imap imaps pop3 pop3s\n",
    # 1.x names alone: the plain protocol is added and its non-SSL listener closed (port 0).
    "v1_pop3s_only": "protocols = imap pop3s\n",
    "v1_imaps_only": "protocols = imaps\n",
    "v1_both_ssl_only": "protocols = imaps pop3s\n",
    "v1_pop3s_first": "protocols =  pop3s   lmtp  \n",
    "v1_imaps_twice": "protocols = imaps imaps\n",
    "v1_imaps_quoted": 'protocols = "imaps"\n',
    "v1_imaps_later_port": "protocols = imaps\nservice imap-login {\n  inet_listener imap {\n"
    "    port = 143\n  }\n}\n",
    "v1_imaps_earlier_port": "service imap-login {\n  inet_listener imap {\n    port = 1143\n  }\n}\n"
    "protocols = imaps\n",
    "v1_imaps_per_line": "protocols = imaps\nprotocols = pop3s\n",
    "v1_imaps_managesieve": "protocols = imaps managesieve\n",
    "v1_imaps_none": "protocols = imaps none\n",
    "v1_pop3s_ref": "protocols = imap\nprotocols = $protocols pop3s\n",
    "v1_imaps_in_filter": "protocol imap {\n  protocols = imaps\n}\n",
    "v1_ssl": "ssl_cert_file = /etc/ssl/certs/dovecot.pem\nssl_key_file = /etc/ssl/private/dovecot.pem\n"
    "ssl_disable = yes\n",
    "v1_auth": (
        "auth default {\n  mechanisms = plain login\n  passdb pam {\n    args = dovecot\n  }\n"
        "  userdb passwd {\n  }\n  user = root\n  socket listen {\n    client {\n      path = /x\n"
        "    }\n  }\n}\n"
    ),
    "v1_misc": "login_dir = /var/run/dovecot/login\nlogin_process_per_connection = yes\n"
    "ssl_parameters_regenerate = 168\nssl_listen = *\nprotocol imap {\n  listen = *:143\n}\n",
    "v1_default_mail_env": "default_mail_env = maildir:~/Maildir\n",
    "v24": "mail_driver = maildir\n",
    "v1_auth_socket": (
        "auth default {\n  socket listen {\n    client {\n      mode = 0660\n"
        "      path = /var/spool/postfix/private/auth\n      user = postfix\n    }\n    master {\n"
        "      path = /var/run/dovecot/auth-master\n    }\n  }\n}\n"
    ),
    "study_guide_v1": (
        "# /etc/dovecot.conf as older study guides print it\nprotocols = imap imaps pop3 pop3s\n"
        "listen = *\nssl_disable = no\nssl_cert_file = /etc/ssl/certs/dovecot.pem\n"
        "ssl_key_file = /etc/ssl/private/dovecot.pem\nmail_location = mbox:~/mail:INBOX=/var/mail/%u\n"
        "protocol imap {\n}\nprotocol pop3 {\n  pop3_uidl_format = %08Xu%08Xv\n}\n"
        "auth default {\n  mechanisms = plain\n  passdb pam {\n  }\n  userdb passwd {\n  }\n"
        "  user = root\n}\n"
    ),
    "lab_23": (
        "protocols = imap pop3\nlisten = 127.0.0.1\ndisable_plaintext_auth = yes\nssl = required\n"
        "ssl_cert = </etc/ssl/certs/dovecot.pem\nssl_key = </etc/ssl/private/dovecot.pem\n"
        "ssl_min_protocol = TLSv1.2\nauth_mechanisms = plain login cram-md5\nauth_verbose = yes\n"
        "auth_failure_delay = 5 secs\nmbox_min_index_size = 10k\nfirst_valid_uid = 1000\n"
        "mail_location = maildir:~/Maildir\nlog_path = /var/log/dovecot.log\n"
        "login_greeting = Lab mail server ready.\nmail_max_userip_connections = 3\n"
        "passdb {\n  driver = passwd-file\n  args = scheme=CRAM-MD5 /etc/dovecot/users\n}\n"
        "passdb {\n  driver = pam\n}\nuserdb {\n  driver = passwd\n}\n"
        "service imap-login {\n  inet_listener imap {\n    port = 0\n  }\n}\n"
        "service pop3-login {\n  inet_listener pop3s {\n    port = 995\n    ssl = yes\n  }\n}\n"
        "namespace inbox {\n  inbox = yes\n  separator = /\n  mailbox Trash {\n    auto = subscribe\n"
        "    special_use = \\Trash\n  }\n}\n"
    ),
    "special_use": (
        'namespace inbox {\n  inbox = yes\n  mailbox "My Bin" {\n    special_use = \\Trash \\Foo\n  }\n}\n'
    ),
    "authdb_skip": "passdb {\n  driver = pam\n  skip = foo\n}\n",
    "authdb_result": (
        "userdb {\n  driver = passwd\n  result_success = continue-fail\n  auth_verbose = bar\n}\n"
    ),
    "listen_port": "listen = 127.0.0.1:143\n",
    "listen_v6_port": "listen = [::1]:10143\nprotocols = imap\n",
    "listen_filters": "local 127.0.0.1 {\n  listen = 1.2.3.4:143\n}\nprotocol pop3 {\n  listen = 1.2.3.4\n}\n"
    "protocol lmtp {\n  listen = 1.2.3.4\n}\nremote 1.2.3.4 {\n  listen =\n}\n",
    "ssl_off_globally": "ssl = no\nprotocol imap {\n  ssl = required\n}\nprotocol pop3 {\n  ssl = no\n}\n",
    "v1_ssl_disable_filter": "ssl_disable = yes\nprotocol imap {\n  ssl_disable = no\n}\n",
    "ssl_disable_ref": "ssl_disable = $ssl_disable\n",
    "ssl_disable_other_ref": "ssl_disable = $x\n",
    "bad_protocol": "protocols = imap,pop3\n",
    "managesieve": "protocols = imap managesieve\n",
    "protocols_none": "protocols = none\n",
    "uidl_no_vars": "pop3_uidl_format = %%\n",
    "uidl_filter": "protocol pop3 {\n  pop3_uidl_format = abc\n}\n",
    "nested_protocol": "protocol imap {\n  protocol pop3 {\n  }\n}\n",
    "protocol_local": "protocol imap {\n  local 1.2.3.4 {\n  }\n}\n",
    "local_protocol": "local 1.2.3.4 {\n  protocol imap {\n    login_greeting = x\n  }\n}\n",
    "plugin_section": "plugin {\n  auth default {\n  }\n}\n",
    "top_mailbox": "mailbox Trash {\n}\n",
    "local_passdb": "local 1.2.3.4 {\n  passdb {\n    driver = pam\n  }\n}\n",
    "local_uid": "local 1.2.3.4 {\n  first_valid_uid = 1000\n}\n",
    "local_bad_value": "local 1.2.3.4 {\n  auth_verbose = maybe\n}\n",
    "continued": "auth_failure_delay = \\\nssl_cert = x\nmbox_min_index_size = \\\n",
    "v1_auth_lt": "auth default {\n  mechanisms = <file.pem\n}\n",
    "v1_lt_file": "ssl_cert_file = <file.pem\nssl_key_file =\n",
    "bools": "auth_debug = Y\nauth_verbose = 1\nverbose_ssl = NO\nmail_debug = 0\n",
    "lt_in_bool": "disable_plaintext_auth = </etc/x\n",
    "missing_close_dump": "login_greeting = hi\nprotocol imap {\n  mail_plugins = x\n",
    "verbose_passwords": "auth_verbose_passwords = sha1:6\n",
    "verbose_passwords_bad": "auth_verbose_passwords = foo\n",
    "verbose_passwords_count": "auth_verbose_passwords = sha1:x\n",
    "namespace_separator": (
        "namespace inbox {\n  separator = ab\n  mailbox Trash {\n    special_use = bogus\n  }\n}\n"
        "passdb {\n}\n"
    ),
    "several_errors": "userdb {\n}\nprotocols = 1 week\n",
    "filter_in_section": "userdb {\n  driver = passwd\n  protocol pop3 {\n    verbose_ssl = yes\n  }\n}\n",
    "empty_obsolete": "ssl_cert_file =\nlogin_dir =\nssl_listen =\nlogin_process_per_connection =\n",
    "empty_ssl_disable": "ssl_disable =\n",
    "v1_auth_prefixed": "auth default {\n  auth_mechanisms = plain login\n  pop3_uidl_format = x\n}\n",
    "listen_bad_port": "listen = maildir:~/Maildir\n",
    "hidden": "ssl_key_password = x\nssl_client_key = </x\nssl_dh = </x\nssl_key = plain\nssl_cert = </c\n",
}

# Where we say more than Dovecot on purpose: a hint after the unknown-setting reason.
HINTED = {"v1_default_mail_env", "v24"}


def run_real(conf: Path, *args: str) -> tuple[int, str, str]:
    proc = subprocess.run([str(REAL), "-c", str(conf), *args], capture_output=True, text=True, timeout=20)
    return proc.returncode, proc.stdout, proc.stderr


def run_ours(conf: Path, *args: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setenv("LABSIM_ROOT", "/")
    out, err = io.StringIO(), io.StringIO()
    rc = main(["-c", str(conf), *args], stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_dash_n_matches_real(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "dovecot.conf"
    conf.write_text(CONFIGS[name])
    real = run_real(conf, "-n")
    ours = run_ours(conf, "-n", monkeypatch=monkeypatch)
    assert ours[0] == real[0]
    assert ours[1] == real[1]
    if name in HINTED:
        assert ours[2].startswith(real[2].rstrip("\n") + " (this is a Dovecot ")
    else:
        assert ours[2] == real[2]


@pytest.mark.parametrize(
    "args",
    [
        ("mail_plugins", "login_greeting", "auth_failure_delay"),
        ("-h", "login_greeting"),
        ("-f", "protocol=imap", "mail_plugins", "mail_max_userip_connections"),
        ("-a",),
    ],
)
def test_lookups_match_real(args: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "dovecot.conf"
    conf.write_text(CONFIGS["filters"] + "auth_failure_delay = 1 min\n")
    assert run_ours(conf, *args, monkeypatch=monkeypatch) == run_real(conf, *args)


@pytest.mark.parametrize(
    "name",
    [
        *("plain", "services", "sections", "v1_auth", "filters", "hidden", "study_guide_v1", "lab_23"),
        "v1_pop3s_only",
    ],
)
def test_dash_a_matches_real(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "dovecot.conf"
    conf.write_text(CONFIGS[name])
    assert run_ours(conf, "-a", monkeypatch=monkeypatch) == run_real(conf, "-a")


@pytest.mark.parametrize("name", ["lab_23", "several_errors"])
@pytest.mark.parametrize(
    "args", [("-d",), ("-d", "-n"), ("-d", "mail_location", "protocols", "ssl"), ("-d", "-h", "ssl_cert")]
)
def test_dash_d_shows_defaults_like_real(
    name: str, args: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A learner's "what was the default?": the real one answers without reading the file at all.
    conf = tmp_path / "dovecot.conf"
    conf.write_text(CONFIGS[name])
    assert run_ours(conf, *args, monkeypatch=monkeypatch) == run_real(conf, *args)


DEBIAN_CONF = Path("/etc/dovecot/dovecot.conf")


@pytest.mark.skipif(not DEBIAN_CONF.exists(), reason="Debian's dovecot-core config is not installed")
@pytest.mark.parametrize("args", [("-n",), ("-a",), ("mail_location", "protocols", "ssl_cert")])
def test_debian_tree_in_a_lab_root_matches_real(
    args: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree("/etc/dovecot", tmp_path / "etc/dovecot", symlinks=True)
    if Path("/usr/share/dovecot").exists():
        shutil.copytree("/usr/share/dovecot", tmp_path / "usr/share/dovecot", symlinks=True)
    monkeypatch.setenv("LABSIM_ROOT", str(tmp_path))
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(args), stdout=out, stderr=err)
    real = subprocess.run([str(REAL), *args], capture_output=True, text=True, timeout=20)
    assert (rc, out.getvalue(), err.getvalue()) == (real.returncode, real.stdout, real.stderr)
