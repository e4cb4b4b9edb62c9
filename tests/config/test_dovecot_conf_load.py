"""Includes, merging, filters, references, `<file`, typed settings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labsim.mailserver.config.dovecot import load
from labsim.mailserver.config.model import AuthDb, InetListener
from labsim.mailserver.config.parser import NOTE_WARNING
from labsim.mailserver.labroot import LabRoot

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"


def test_glob_includes_in_sorted_order_later_wins(lab) -> None:  # type: ignore[no-untyped-def]
    lab.write("/etc/dovecot/conf.d/20-b.conf", "login_greeting = from b\nauth_verbose = yes\n")
    lab.write("/etc/dovecot/conf.d/10-a.conf", "login_greeting = from a\nauth_debug = yes\n")
    lab.write("/etc/dovecot/conf.d/README", "not = a conf file\n")
    config = lab.load("!include conf.d/*.conf\n!include_try local.conf\n")
    s = config.settings()
    assert (s.login_greeting, s.auth_verbose, s.auth_debug) == ("from b", True, True)
    assert config.files == [
        "/etc/dovecot/dovecot.conf",
        "/etc/dovecot/conf.d/10-a.conf",
        "/etc/dovecot/conf.d/20-b.conf",
    ]


def test_include_is_relative_to_the_including_file(lab) -> None:  # type: ignore[no-untyped-def]
    lab.write("/etc/dovecot/conf.d/10-auth.conf", "!include auth-system.conf.ext\n")
    lab.write("/etc/dovecot/conf.d/auth-system.conf.ext", "passdb {\n  driver = pam\n}\n")
    lab.write("/etc/dovecot/extra/x.conf", "first_valid_uid = 1000\n")
    config = lab.load("!include conf.d/10-auth.conf\n!include /etc/dovecot/extra/x.conf\n")
    s = config.settings()
    assert [db.driver for db in s.passdbs] == ["pam"]
    assert s.passdbs[0].source == ("/etc/dovecot/conf.d/auth-system.conf.ext", 1)
    assert s.first_valid_uid == 1000


def test_include_inside_a_section(lab) -> None:  # type: ignore[no-untyped-def]
    lab.write("/etc/dovecot/listener.inc", "inet_listener imap {\n  port = 1143\n}\n")
    config = lab.load("service imap-login {\n  !include listener.inc\n}\n")
    assert config.settings().services["imap-login"].listeners["imap"].port == 1143


def test_include_try_missing_is_fine(lab) -> None:  # type: ignore[no-untyped-def]
    config = lab.load("!include_try /usr/share/dovecot/protocols.d/*.protocol\n!include_try nothere.conf\n")
    assert config.settings().protocols == []


def test_debian_protocols_d(lab) -> None:  # type: ignore[no-untyped-def]
    lab.write("/usr/share/dovecot/protocols.d/pop3d.protocol", "protocols = $protocols pop3\n")
    lab.write("/usr/share/dovecot/protocols.d/imapd.protocol", "protocols = $protocols imap\n")
    config = lab.load("!include_try /usr/share/dovecot/protocols.d/*.protocol\n")
    assert config.settings().protocols == ["imap", "pop3"]
    assert config.raw("protocols") == " imap pop3"


def test_sections_merge_and_later_settings_override(lab) -> None:  # type: ignore[no-untyped-def]
    config = lab.load(
        "service imap-login {\n  inet_listener imap {\n    port = 0\n  }\n  process_min_avail = 1\n}\n"
        "service imap-login {\n  inet_listener imap {\n    port = 1143\n  }\n"
        "  inet_listener imaps {\n    port = 0\n  }\n}\n"
        "service pop3-login {\n  inet_listener pop3s {\n    address = 127.0.0.1\n  }\n}\n"
    )
    services = config.settings().services
    login = services["imap-login"]
    assert login.listeners == {
        "imap": InetListener("imap", 1143, False, ""),
        "imaps": InetListener("imaps", 0, True, ""),
    }
    assert login.settings["process_min_avail"] == "1"
    assert services["pop3-login"].listeners["pop3s"] == InetListener("pop3s", 995, True, "127.0.0.1")
    assert services["pop3-login"].listeners["pop3"] == InetListener("pop3", 110, False, "")


def test_default_services_exist_without_declaration(lab) -> None:  # type: ignore[no-untyped-def]
    s = lab.load("protocols = imap pop3\n").settings()
    assert s.listeners() == [
        ("imap", InetListener("imap", 143, False, "")),
        ("imap", InetListener("imaps", 993, True, "")),
        ("pop3", InetListener("pop3", 110, False, "")),
        ("pop3", InetListener("pop3s", 995, True, "")),
    ]
    assert s.services["imap-login"].settings["service_count"] == "1"


def test_passdbs_and_userdbs_in_order(lab) -> None:  # type: ignore[no-untyped-def]
    s = lab.load(
        "passdb {\n  driver = passwd-file\n  args = scheme=CRYPT username_format=%u /etc/imap.passwd\n"
        "  result_failure = return-fail\n}\npassdb {\n  driver = pam\n  args = dovecot\n  deny = no\n}\n"
        "passdb deny {\n  driver = passwd-file\n  deny = yes\n  args = /etc/dovecot/deny\n}\n"
        "userdb {\n  driver = static\n  args = uid=vmail gid=vmail home=/var/vmail/%u\n}\n"
        "userdb {\n  driver = passwd\n}\n"
    ).settings()
    assert [(d.driver, d.args, d.deny, d.result_failure) for d in s.passdbs] == [
        ("passwd-file", "scheme=CRYPT username_format=%u /etc/imap.passwd", False, "return-fail"),
        ("pam", "dovecot", False, "continue"),
        ("passwd-file", "/etc/dovecot/deny", True, "continue"),
    ]
    assert s.passdbs[2].settings["name"] == "deny"
    assert [(d.driver, d.args) for d in s.userdbs] == [
        ("static", "uid=vmail gid=vmail home=/var/vmail/%u"),
        ("passwd", ""),
    ]
    assert isinstance(s.userdbs[0], AuthDb) and s.userdbs[0].source == ("/etc/dovecot/dovecot.conf", 16)


def test_protocol_filters(lab) -> None:  # type: ignore[no-untyped-def]
    config = lab.load(
        "mail_max_userip_connections = 5\nprotocol imap {\n  mail_max_userip_connections = 20\n"
        "  mail_plugins = $mail_plugins imap_quota\n}\nprotocol pop3 {\n  pop3_uidl_format = %08Xu\n}\n"
        "local 127.0.0.1 {\n  login_greeting = local\n}\n"
    )
    assert config.settings().mail_max_userip_connections == 5
    assert config.settings("imap").mail_max_userip_connections == 20
    assert config.settings("pop3").mail_max_userip_connections == 5
    assert config.settings("pop3").pop3_uidl_format == "%08Xu"
    assert config.settings("imap").pop3_uidl_format == "%08Xu%08Xv"
    assert config.value("mail_plugins", "imap") == " imap_quota"
    assert config.settings("imap").values["mail_plugins"] == " imap_quota"
    assert config.settings().login_greeting == "Dovecot (Debian) ready."


def test_global_after_filter_warns(lab) -> None:  # type: ignore[no-untyped-def]
    config = lab.load("protocol imap {\n  mail_plugins = a\n}\nmail_plugins = b\n")
    assert config.warnings == [
        "/etc/dovecot/dovecot.conf line 4: Global setting mail_plugins won't change the setting inside an "
        "earlier filter at /etc/dovecot/dovecot.conf line 2 (if this is intentional, avoid this warning by "
        "moving the global setting before /etc/dovecot/dovecot.conf line 2)"
    ]
    assert config.value("mail_plugins", "imap") == "a"


def test_self_references(lab) -> None:  # type: ignore[no-untyped-def]
    config = lab.load(
        "mail_plugins = quota\nmail_plugins = $mail_plugins zlib\nlogin_greeting = hi\n"
        "login_greeting = $login_greeting there\nauth_realms = $mail_plugins\n"
        "protocol imap {\n  mail_plugins = $mail_plugins imap_quota\n}\n"
        "protocol imap {\n  mail_plugins = $mail_plugins imap_zlib\n}\n"
        'ssl_cipher_list = "$ssl_cipher_list"\n'
    )
    assert config.value("mail_plugins") == "quota zlib"
    assert config.value("mail_plugins", "imap") == "quota zlib imap_quota imap_zlib"
    assert config.value("login_greeting") == "hi there"
    # Only a setting's own name is expanded, and only unquoted at the start.
    assert config.value("auth_realms") == "$mail_plugins"
    assert config.value("ssl_cipher_list") == "$ssl_cipher_list"


def test_quoting_comments_continuation(lab) -> None:  # type: ignore[no-untyped-def]
    config = lab.load(
        'login_greeting = "Hello # there" # comment\nauth_realms = a "b c"\nmail_location = \'x"y\'\n'
        'auth_username_chars = ab#cd\nimap_id_log = hi \\\n   there\npostmaster_address = "a\\"b"\n'
        "  # indented comment\n\n\t mail_debug=yes\n"
    )
    assert config.value("login_greeting") == "Hello # there"
    assert config.value("auth_realms") == 'a "b c"'
    assert config.value("mail_location") == 'x"y'
    assert config.value("auth_username_chars") == "ab"
    assert config.value("imap_id_log") == "hi there"
    assert config.value("postmaster_address") == 'a"b'
    assert config.settings().mail_debug is True
    assert config.warnings == [
        "Configuration file /etc/dovecot/dovecot.conf line 4: Ambiguous '#' character in line, treating it "
        "as comment. Add a space before it to remove this warning."
    ]


def test_typed_values(lab) -> None:  # type: ignore[no-untyped-def]
    s = lab.load(
        "auth_failure_delay = 5 secs\nmbox_min_index_size = 10M\nimap_idle_notify_interval = 1 min\n"
        "first_valid_uid = 1000\nlisten = 127.0.0.1, ::1\nauth_mechanisms = PLAIN Login cram-md5\n"
        "disable_plaintext_auth = no\nauth_verbose = YES\nssl = required\nssl_min_protocol = TLSv1.3\n"
        "log_path = /var/log/dovecot.log\nprotocols = imap pop3\n"
    ).settings()
    assert s.auth_failure_delay == 5.0 and isinstance(s.auth_failure_delay, float)
    assert s.mbox_min_index_size == 10 * 1024 * 1024
    assert s.imap_idle_notify_interval == 60
    assert s.first_valid_uid == 1000
    assert s.listen == ["127.0.0.1", "::1"]
    assert s.auth_mechanisms == ["plain", "login", "cram-md5"]
    assert (s.disable_plaintext_auth, s.auth_verbose, s.ssl, s.ssl_min_protocol) == (
        False,
        True,
        "required",
        "TLSv1.3",
    )
    assert s.log_path == "/var/log/dovecot.log"
    assert lab.load("auth_verbose_passwords = sha1:6\n").settings().auth_verbose_passwords == "sha1:6"
    assert s.protocols == ["imap", "pop3"]


def test_defaults_are_debians(lab) -> None:  # type: ignore[no-untyped-def]
    s = lab.load("").settings()
    assert (s.protocols, s.listen, s.ssl, s.ssl_cert, s.ssl_cert_path) == ([], ["*", "::"], "yes", "", None)
    assert (s.auth_failure_delay, s.mbox_min_index_size, s.first_valid_uid) == (2.0, 0, 500)
    assert (s.disable_plaintext_auth, s.auth_mechanisms, s.mail_location) == (True, ["plain"], "")
    assert (s.pop3_uidl_format, s.mail_max_userip_connections, s.log_path) == ("%08Xu%08Xv", 10, "syslog")
    assert s.login_greeting == "Dovecot (Debian) ready."
    assert s.passdbs == [] and s.userdbs == []
    assert (s.auth_verbose_passwords, s.auth_username_format) == ("no", "%Lu")


def test_lt_files_are_read(lab) -> None:  # type: ignore[no-untyped-def]
    lab.write("/etc/ssl/certs/dovecot.pem", CERT)
    lab.write("/etc/ssl/private/dovecot.pem", KEY)
    lab.write("/etc/dovecot/greeting.txt", "Welcome to the lab\n")
    s = lab.load(
        "ssl_cert = </etc/ssl/certs/dovecot.pem\nssl_key = < /etc/ssl/private/dovecot.pem\n"
        "login_greeting = <greeting.txt\n"
    ).settings()
    assert (s.ssl_cert, s.ssl_cert_path) == (CERT, "/etc/ssl/certs/dovecot.pem")
    assert (s.ssl_key, s.ssl_key_path) == (KEY, "/etc/ssl/private/dovecot.pem")
    assert s.login_greeting == "Welcome to the lab"


def test_forgotten_lt_keeps_the_raw_string(lab) -> None:  # type: ignore[no-untyped-def]
    s = lab.load(
        'ssl_cert = /etc/ssl/certs/dovecot.pem\nssl_key = "</etc/ssl/private/dovecot.pem"\n'
    ).settings()
    assert (s.ssl_cert, s.ssl_cert_path) == ("/etc/ssl/certs/dovecot.pem", None)
    # Quoted, the `<` is part of the value, not a file reference.
    assert (s.ssl_key, s.ssl_key_path) == ("</etc/ssl/private/dovecot.pem", None)


def test_v1_forms_convert_with_doveconfs_warnings(lab) -> None:  # type: ignore[no-untyped-def]
    lab.write("/etc/ssl/certs/dovecot.pem", CERT)
    lab.write("/etc/ssl/private/dovecot.pem", KEY)
    config = lab.load(
        "protocols = imap imaps pop3 pop3s\nssl_disable = no\n"
        "ssl_cert_file = /etc/ssl/certs/dovecot.pem\nssl_key_file = /etc/ssl/private/dovecot.pem\n"
        "mail_location = maildir:~/Maildir\n"
        "auth default {\n  mechanisms = plain login\n  passdb pam {\n  }\n  userdb passwd {\n  }\n"
        "  user = root\n  socket listen {\n    client {\n      path = /var/spool/postfix/private/auth\n"
        "    }\n  }\n}\n"
    )
    p = "/etc/dovecot/dovecot.conf"
    assert config.warnings == [
        NOTE_WARNING,
        f"Obsolete setting in {p}:1: 'imaps' protocol is no longer necessary, remove it",
        f"Obsolete setting in {p}:1: 'pop3s' protocol is no longer necessary, remove it",
        f"Obsolete setting in {p}:2: ssl_disable has been renamed to ssl",
        f"Obsolete setting in {p}:3: ssl_cert_file has been replaced by ssl_cert = <file",
        f"Obsolete setting in {p}:4: ssl_key_file has been replaced by ssl_key = <file",
        f"Obsolete setting in {p}:6: add auth_ prefix to all settings inside auth {{}} "
        "and remove the auth {} section completely",
        f"Obsolete setting in {p}:8: passdb pam {{}} has been replaced by passdb {{ driver=pam }}",
        f"Obsolete setting in {p}:10: userdb passwd {{}} has been replaced by userdb {{ driver=passwd }}",
        f"Obsolete setting in {p}:12: auth_user has been replaced by service auth {{ user }}",
    ]
    s = config.settings()
    assert s.protocols == ["imap", "pop3"]
    assert (s.ssl, s.ssl_cert, s.ssl_cert_path, s.ssl_key) == ("yes", CERT, "/etc/ssl/certs/dovecot.pem", KEY)
    assert s.auth_mechanisms == ["plain", "login"]
    assert [d.driver for d in s.passdbs] == ["pam"] and [d.driver for d in s.userdbs] == ["passwd"]
    assert s.services["auth"].settings["user"] == "root"
    # The imaps/pop3s listeners are the default ones: still there with ssl.
    assert ("imap", InetListener("imaps", 993, True, "")) in s.listeners()


def test_v1_ssl_disable_yes(lab) -> None:  # type: ignore[no-untyped-def]
    assert lab.load("ssl_disable = yes\n").settings().ssl == "no"


def test_v1_listen_in_protocol(lab) -> None:  # type: ignore[no-untyped-def]
    config = lab.load("protocols = imap\nprotocol imap {\n  listen = *:10143\n  ssl_listen = 127.0.0.1\n}\n")
    imap = config.settings().services["imap-login"].listeners
    assert imap["imap"] == InetListener("imap", 10143, False, "*")
    assert imap["imaps"] == InetListener("imaps", 993, True, "127.0.0.1")
    assert config.warnings[1:] == [
        "Obsolete setting in /etc/dovecot/dovecot.conf:3: listen=..:port has been replaced by service { "
        "inet_listener { port } }",
        "Obsolete setting in /etc/dovecot/dovecot.conf:3: protocol { listen } has been replaced by service { "
        "inet_listener { address } }",
        "Obsolete setting in /etc/dovecot/dovecot.conf:4: "
        "protocol { ssl_listen } has been replaced by service { inet_listener { address } }",
    ]


DEBIAN = Path("/etc/dovecot/conf.d/10-auth.conf")


@pytest.mark.skipif(not DEBIAN.exists(), reason="Debian's dovecot-core config is not installed")
def test_the_real_debian_tree_loads_unchanged(tmp_path: Path) -> None:
    shutil.copytree("/etc/dovecot", tmp_path / "etc/dovecot", symlinks=True)
    if Path("/usr/share/dovecot").exists():
        shutil.copytree("/usr/share/dovecot", tmp_path / "usr/share/dovecot", symlinks=True)
    root = LabRoot(tmp_path)
    config = load(root, read_files=False)
    assert config.warnings == []
    assert len(config.files) > 10
    # The stock tree names a cert the lab must provide; with one in place everything loads.
    for name in ("dovecot.pem", "dovecot.key"):
        target = root.path(f"/etc/dovecot/private/{name}")
        if target.is_symlink():
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(CERT if name.endswith("pem") else KEY)
    s = load(root).settings()
    assert [d.driver for d in s.passdbs] == ["pam"] and [d.driver for d in s.userdbs] == ["passwd"]
    assert s.mail_location == "mbox:~/mail:INBOX=/var/mail/%u"
    assert (s.ssl, s.ssl_cert, s.ssl_cert_path) == ("yes", CERT, "/etc/dovecot/private/dovecot.pem")
    assert (s.disable_plaintext_auth, s.auth_mechanisms) == (True, ["plain"])
    if Path("/usr/share/dovecot/protocols.d").exists():
        assert s.protocols[:2] == ["imap", "pop3"]
