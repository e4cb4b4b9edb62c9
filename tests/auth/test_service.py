"""AuthService: passdb/userdb drivers and chains, SASL mechanisms, start-up fatals, delays."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import socket
import time

import pytest

from labsim.mailserver.auth.model import AuthResult, UnknownMechanism
from labsim.mailserver.auth.sasl import apop_digest
from labsim.mailserver.auth.schemes import hash_password
from labsim.mailserver.config.model import AuthDb

USERS_FILE = "/etc/dovecot/users"


def passwd_file(lab, extra_lines: str = "") -> None:  # type: ignore[no-untyped-def]
    lines = [
        "plain:{PLAIN}secret:2001:2001::/var/vmail/plain::userdb_mail=maildir:~/Maildir",
        f"sha:{{SHA512-CRYPT}}{hash_password('SHA512-CRYPT', 'secret')}:2002:2002::/var/vmail/sha",
        f"ssha:{{SSHA256}}{hash_password('SSHA256', 'secret')}:2003:2003::/var/vmail/ssha",
        f"cram:{{CRAM-MD5}}{hash_password('CRAM-MD5', 'secret')}:2004:2004::/var/vmail/cram",
        f"md5:{{MD5-CRYPT}}{hash_password('MD5-CRYPT', 'secret')}:2005:2005::/var/vmail/md5",
        f"bare:{hash_password('SHA256-CRYPT', 'secret')}:2006:2006::/var/vmail/bare",
        "rooty:{PLAIN}secret:0:0::/root",
        "lowuid:{PLAIN}secret:100:100::/home/lowuid",
        "junk line without colons",
    ]
    lab.builder.write(USERS_FILE, "\n".join(lines) + "\n" + extra_lines)


def file_service(lab, **kw):  # type: ignore[no-untyped-def]
    passwd_file(lab)
    kw.setdefault("passdbs", [AuthDb("passwd-file", f"scheme=CRYPT username_format=%u {USERS_FILE}")])
    kw.setdefault("userdbs", [AuthDb("passwd-file", USERS_FILE)])
    return lab.service(**kw)


def login(auth, user: str, password: str, **req) -> AuthResult:  # type: ignore[no-untyped-def]
    return asyncio.run(auth.login(user, password, auth_req(**req)))


def auth_req(**req):  # type: ignore[no-untyped-def]
    from tests.auth.conftest import Lab

    return Lab.req(**req)


@pytest.mark.parametrize("user", ["plain", "sha", "ssha", "cram", "md5", "bare"])
def test_passwd_file_schemes(lab, user: str) -> None:  # type: ignore[no-untyped-def]
    auth = file_service(lab, auth_verbose=True)
    ok = login(auth, user, "secret")
    assert ok.ok is True and ok.userinfo is not None
    assert ok.userinfo.home == f"/var/vmail/{user}"
    assert ok.init_error is None
    bad = login(auth, user, "Secret")
    assert (bad.ok, bad.client_message) == (False, "Authentication failed.")
    assert lab.lines()[-1] == f"auth: Info: passwd-file({user},127.0.0.2): Password mismatch"


def test_passwd_file_userdb_fields_and_log(lab) -> None:  # type: ignore[no-untyped-def]
    auth = file_service(lab, auth_verbose=True)
    ok = login(auth, "plain", "secret")
    assert ok.userinfo is not None
    assert (ok.userinfo.uid, ok.userinfo.gid, ok.userinfo.mail) == (2001, 2001, "maildir:~/Maildir")
    assert login(auth, "nobody", "x").ok is False
    assert "auth: Info: passwd-file(nobody,127.0.0.2): unknown user" in lab.lines()
    # uid 0 entries are refused when the file is read, as Dovecot does
    assert f"auth: Error: passwd-file {USERS_FILE}:User rooty has invalid UID '0'" in lab.lines()
    assert login(auth, "rooty", "secret").ok is False


def test_first_valid_uid_refusal(lab) -> None:  # type: ignore[no-untyped-def]
    auth = file_service(lab)
    res = login(auth, "lowuid", "secret")
    assert res.ok is True
    assert res.init_error == (
        "Mail access for users with UID 100 not permitted (see first_valid_uid in config file, uid from userdb lookup)."  # noqa: E501
    )
    assert lab.lines()[-1] == (
        "imap(lowuid): Error: Mail access for users with UID 100 not permitted "
        "(see first_valid_uid in config file, uid from userdb lookup)."
    )
    auth = file_service(lab, first_valid_uid=50, last_valid_uid=90)
    assert "last_valid_uid" in (login(auth, "lowuid", "secret").init_error or "")


def test_static_userdb_resolves_names(lab) -> None:  # type: ignore[no-untyped-def]
    lab.builder.write(
        "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nvmail:x:5000:5000::/var/vmail:/usr/sbin/nologin\n"
    )
    lab.builder.write("/etc/group", "root:x:0:\nvmail:x:5000:\n")
    auth = file_service(lab, userdbs=[AuthDb("static", "uid=vmail gid=vmail home=/var/vmail/%u")])
    res = login(auth, "Plain", "secret")
    assert res.ok and res.userinfo is not None
    assert (res.user, res.userinfo.uid, res.userinfo.gid, res.userinfo.home) == (
        "plain",
        5000,
        5000,
        "/var/vmail/plain",
    )
    assert res.init_error is None


def test_static_userdb_uid_zero(lab) -> None:  # type: ignore[no-untyped-def]
    auth = file_service(lab, userdbs=[AuthDb("static", "uid=0 gid=0 home=/root")])
    assert login(auth, "plain", "secret").init_error == "Invalid settings in userdb: userdb returned 0 as uid"


def test_shadow_passdb_and_passwd_userdb(lab) -> None:  # type: ignore[no-untyped-def]
    lab.builder.user("alice", "secret")
    lab.builder.user("locked", None)
    auth = lab.service(passdbs=[AuthDb("shadow")], userdbs=[AuthDb("passwd")], auth_verbose=True)
    res = login(auth, "alice", "secret")
    assert res.ok and res.userinfo is not None and res.userinfo.uid == 1000
    assert login(auth, "alice", "nope").ok is False
    assert lab.lines()[-1].endswith("shadow(alice,127.0.0.2): Password mismatch")
    assert login(auth, "locked", "").ok is False


def test_username_format_and_chars(lab) -> None:  # type: ignore[no-untyped-def]
    auth = file_service(lab, auth_verbose=True)
    assert login(auth, "PLAIN", "secret").user == "plain"
    assert login(auth, "pla in", "secret").ok is False
    assert lab.lines()[-1] == (
        "auth: Info: plain: Username character disallowed by auth_username_chars: 0x20 (username: pla in)"
    )
    auth = file_service(lab, auth_username_format="%u")
    assert login(auth, "PLAIN", "secret").ok is False


def test_chain_falls_through_and_deny(lab) -> None:  # type: ignore[no-untyped-def]
    lab.builder.user("alice", "secret")
    passwd_file(lab)
    lab.builder.write("/etc/dovecot/deny", "sha\n")
    dbs = [
        AuthDb("passwd-file", "/etc/dovecot/deny", deny=True),
        AuthDb("shadow"),
        AuthDb("passwd-file", USERS_FILE),
    ]
    auth = lab.service(
        passdbs=dbs, userdbs=[AuthDb("passwd"), AuthDb("passwd-file", USERS_FILE)], auth_verbose=True
    )
    assert login(auth, "alice", "secret").ok  # first real passdb
    assert login(auth, "plain", "secret").ok  # shadow: unknown -> continue -> passwd-file
    assert login(auth, "sha", "secret").ok is False  # denied
    assert "auth: Info: passwd-file(sha,127.0.0.2): User found from deny passdb" in lab.lines()
    # result_failure = return-fail stops the chain at the first passdb
    dbs[1].result_failure = "return-fail"
    auth = lab.service(passdbs=dbs, userdbs=[AuthDb("passwd-file", USERS_FILE)])
    assert login(auth, "plain", "secret").ok is False


def test_static_passdb(lab) -> None:  # type: ignore[no-untyped-def]
    lab.builder.user("alice", "x")
    auth = lab.service(passdbs=[AuthDb("static", "password=letmein")], userdbs=[AuthDb("passwd")])
    assert login(auth, "alice", "letmein").ok
    assert login(auth, "alice", "x").ok is False


def test_failure_delay_is_applied(lab) -> None:  # type: ignore[no-untyped-def]
    auth = file_service(lab, auth_failure_delay=0.2)
    t0 = time.monotonic()
    assert login(auth, "plain", "wrong").ok is False
    assert time.monotonic() - t0 >= 0.2
    t0 = time.monotonic()
    assert login(auth, "plain", "secret").ok is True
    assert time.monotonic() - t0 < 0.2 + 5  # success is never delayed on purpose


def test_mechanisms_and_plaintext_policy(lab) -> None:  # type: ignore[no-untyped-def]
    auth = file_service(lab, auth_mechanisms=["plain login cram-md5", "apop"])
    assert auth.mechanisms(secured=True) == ["PLAIN", "LOGIN", "CRAM-MD5"]
    assert auth.mechanisms(secured=False) == ["CRAM-MD5"]
    assert auth.apop_enabled()
    auth = file_service(lab, disable_plaintext_auth=False)
    assert auth.mechanisms(secured=False) == ["PLAIN"]
    with pytest.raises(UnknownMechanism):
        auth.sasl("CRAM-MD5", auth_req())


def test_cram_md5_with_only_pam_is_fatal(lab) -> None:  # type: ignore[no-untyped-def]
    auth = lab.service(
        auth_mechanisms=["plain", "cram-md5"], passdbs=[AuthDb("pam")], userdbs=[AuthDb("passwd")]
    )
    assert auth.broken == "CRAM-MD5 mechanism can't be supported with given passdbs"
    assert lab.lines() == [
        "auth: Fatal: CRAM-MD5 mechanism can't be supported with given passdbs",
        "master: Error: service(auth): command startup failed, throttling for 2.000 secs",
    ]
    res = login(auth, "alice", "secret")
    assert (res.ok, res.client_message, res.imap_code) == (False, "Auth process broken", "UNAVAILABLE")
    step = asyncio.run(auth.sasl("PLAIN", auth_req()).step(b"\0alice\0secret"))
    assert isinstance(step, AuthResult) and step.client_message == "Auth process broken"


def test_no_passdb_is_fatal(lab) -> None:  # type: ignore[no-untyped-def]
    auth = lab.service(passdbs=[], userdbs=[])
    assert auth.broken == "No passdbs specified in configuration file. PLAIN mechanism needs one"


def test_unknown_driver_is_fatal(lab) -> None:  # type: ignore[no-untyped-def]
    auth = lab.service(passdbs=[AuthDb("ldapx")])
    assert auth.broken == "Unknown passdb driver 'ldapx'"


async def _sasl(auth, mech: str, responses: list[bytes | None]) -> list[bytes | AuthResult]:  # type: ignore[no-untyped-def]
    ex = auth.sasl(mech, auth_req(secured=True))
    out = []
    for r in responses:
        out.append(await ex.step(r))
    return out


def test_sasl_plain(lab) -> None:  # type: ignore[no-untyped-def]
    auth = file_service(lab)
    first, done = asyncio.run(_sasl(auth, "PLAIN", [None, b"\0plain\0secret"]))
    assert first == b""
    assert isinstance(done, AuthResult) and done.ok and done.user == "plain"
    (done,) = asyncio.run(_sasl(auth, "plain", [b"plain\0plain\0secret"]))
    assert isinstance(done, AuthResult) and done.ok
    auth = file_service(lab, auth_verbose=True)
    for junk in (b"nonul", b"a\0b\0c\0d", b"\0plain\0\xff\xfe"):
        (res,) = asyncio.run(_sasl(auth, "PLAIN", [junk]))
        assert isinstance(res, AuthResult) and res.ok is False


def test_sasl_login(lab) -> None:  # type: ignore[no-untyped-def]
    auth = file_service(lab, auth_mechanisms=["plain", "login"])
    steps = asyncio.run(_sasl(auth, "LOGIN", [None, b"plain", b"secret"]))
    assert steps[:2] == [b"Username:", b"Password:"]
    assert isinstance(steps[2], AuthResult) and steps[2].ok
    steps = asyncio.run(_sasl(auth, "LOGIN", [None, b"plain", b"bad"]))
    assert isinstance(steps[2], AuthResult) and not steps[2].ok


def test_sasl_cram_md5(lab) -> None:  # type: ignore[no-untyped-def]
    auth = file_service(lab, auth_mechanisms=["plain", "cram-md5"], auth_verbose=True)
    assert auth.broken is None

    async def go(user: str, secret: str) -> tuple[bytes, AuthResult]:
        ex = auth.sasl("CRAM-MD5", auth_req())
        challenge = await ex.step(None)
        assert isinstance(challenge, bytes)
        digest = hmac.new(secret.encode(), challenge, hashlib.md5).hexdigest()
        res = await ex.step(f"{user} {digest}".encode())
        assert isinstance(res, AuthResult)
        return challenge, res

    challenge, res = asyncio.run(go("cram", "secret"))
    assert challenge.startswith(b"<") and challenge.endswith(b">") and b"@" in challenge
    assert res.ok  # stored as {CRAM-MD5}
    assert asyncio.run(go("plain", "secret"))[1].ok  # stored as plaintext
    assert not asyncio.run(go("cram", "wrong"))[1].ok
    assert not asyncio.run(go("sha", "secret"))[1].ok
    assert (
        "auth: Info: passwd-file(sha,127.0.0.2): Requested CRAM-MD5 scheme, but we have only SHA512-CRYPT"
        in lab.lines()
    )


def test_apop(lab) -> None:  # type: ignore[no-untyped-def]
    auth = file_service(lab, auth_mechanisms=["plain", "apop"])
    ts = "<1896.697170952@dbc.mtview.ca.us>"
    good = asyncio.run(auth.apop("plain", ts, apop_digest(ts, "secret"), auth_req(service="pop3")))
    assert good.ok and good.user == "plain"
    bad = asyncio.run(auth.apop("plain", ts, apop_digest(ts, "nope"), auth_req(service="pop3")))
    assert not bad.ok
    hashed = asyncio.run(auth.apop("sha", ts, apop_digest(ts, "secret"), auth_req(service="pop3")))
    assert not hashed.ok  # APOP needs the plaintext


def test_rfc1939_apop_vector() -> None:
    assert apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf") == "c4c9334bac560ecc979e58001b3e22fb"


def test_pam_service_name_from_args(lab) -> None:  # type: ignore[no-untyped-def]
    lab.builder.user("alice", "secret")
    lab.pam("auth required pam_deny.so\naccount required pam_deny.so\n", service="dovecot")
    lab.pam("auth required pam_unix.so\naccount required pam_unix.so\n", service="imap")
    auth = lab.pam_service("%s")
    assert login(auth, "alice", "secret", service="imap").ok
    assert not login(auth, "alice", "secret", service="pop3").ok  # no pop3 file, no other: PAM aborts
    auth = lab.pam_service("")
    assert not login(auth, "alice", "secret", service="imap").ok  # default service "dovecot" denies


def test_pam_failure_show_msg(lab) -> None:  # type: ignore[no-untyped-def]
    lab.builder.user("alice", "secret")
    lab.pam("auth required pam_unix.so\naccount required pam_deny.so\n")
    auth = lab.pam_service("failure_show_msg=yes", auth_verbose=True)
    res = login(auth, "alice", "secret")
    assert (res.ok, res.client_message) == (False, "Authentication failure")
    assert lab.lines()[-1].endswith("pam(alice,127.0.0.2): pam_acct_mgmt() failed: Authentication failure")


def test_login_wire_base64_helpers_roundtrip() -> None:
    # What IMAP AUTHENTICATE PLAIN carries: the protocol layer decodes it before step().
    assert base64.b64decode("AHBsYWluAHNlY3JldA==") == b"\0plain\0secret"


def test_plain_invalid_input_log(lab) -> None:  # type: ignore[no-untyped-def]
    auth = file_service(lab, auth_verbose=True)
    ex = auth.sasl("PLAIN", lab.req(session="EL1k"))
    res = asyncio.run(ex.step(b"junk"))
    assert isinstance(res, AuthResult) and not res.ok
    assert lab.lines()[-1] == "auth: Info: plain(?,127.0.0.2,<EL1k>): invalid input"


def test_passwd_file_empty_password_and_bad_data(lab) -> None:  # type: ignore[no-untyped-def]
    auth = file_service(lab, auth_verbose=True)
    lab.builder.write(
        USERS_FILE, "empty::2001:2001::/h\nfoo:{FOO}bar:2001:2001::/h\nbad:{SHA}notbase64!:2001:2001::/h\n"
    )
    assert not login(auth, "empty", "").ok
    assert not login(auth, "foo", "bar").ok
    assert not login(auth, "bad", "x").ok
    assert lab.lines()[-3:] == [
        "auth: Info: passwd-file(empty,127.0.0.2): Password mismatch",
        "auth: Error: passwd-file(foo,127.0.0.2): Unknown scheme FOO",
        "auth: Error: passwd-file(bad,127.0.0.2): Password data is not valid for scheme SHA: "
        "Input isn't valid base64 encoded data",
    ]


def test_pam_args_as_dovecot_reads_them(lab) -> None:  # type: ignore[no-untyped-def]
    from labsim.mailserver.auth.passdb import PamPassdb

    auth = lab.pam_service("session=yes failure_show_msg=yes cache_key=%u imap")
    db = auth.passdbs[0]
    assert isinstance(db, PamPassdb)
    assert (db.session, db.show_msg, db.setcred, db.service_template) == (True, True, False, "imap")
    # an unknown word is the service name only when it comes last
    assert lab.pam_service("session=no").passdbs[0].service_template == "session=no"  # type: ignore[attr-defined]
    auth = lab.pam_service("session=no dovecot")
    assert auth.broken == "pam: Unknown setting: session=no"


def test_known_but_unserved_and_unknown_mechanisms(lab) -> None:  # type: ignore[no-untyped-def]
    auth = file_service(lab, auth_mechanisms=["plain login digest-md5 ntlm"])
    assert auth.broken is None
    assert auth.mechanisms(secured=True) == ["PLAIN", "LOGIN"]
    auth = lab.service(auth_mechanisms=["plain digest-md5"], passdbs=[AuthDb("pam")])
    assert auth.broken == "DIGEST-MD5 mechanism can't be supported with given passdbs"
    auth = file_service(lab, auth_mechanisms=["plain", "bogus"])
    assert auth.broken == "Unknown authentication mechanism 'BOGUS'"


def test_a_driver_bug_becomes_a_temporary_failure(lab, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    auth = file_service(lab)

    def boom(*args: object) -> None:
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(auth.passdbs[0], "verify_plain", boom)
    res = login(auth, "plain", "secret")
    assert (res.ok, res.temp_fail) == (False, True)
    # As Dovecot's login process says it: the host and the time, to find the log lines by.
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    expected = rf"Temporary authentication failure\. \[{re.escape(socket.gethostname())}:{stamp}\]"
    assert re.fullmatch(expected, res.client_message), res.client_message
    assert (
        lab.lines()[-1] == "auth: Error: Internal error during authentication: RuntimeError: driver exploded"
    )
