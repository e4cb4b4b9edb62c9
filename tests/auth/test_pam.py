"""The PAM engine: control flags, includes, modules, and what Dovecot logs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labsim.mailserver.auth import pam
from labsim.mailserver.auth import pam_codes as codes
from tests.labroot_builder import LabBuilder

DEBIAN_COMMON_AUTH = """\
auth	[success=1 default=ignore]	pam_unix.so nullok
auth	requisite			pam_deny.so
auth	required			pam_permit.so
"""
DEBIAN_COMMON_ACCOUNT = """\
account	[success=1 new_authtok_reqd=done default=ignore]	pam_unix.so
account	requisite			pam_deny.so
account	required			pam_permit.so
"""
DEBIAN_DOVECOT = """#%PAM-1.0

@include common-auth
@include common-account
@include common-session
"""


def builder(tmp_path: Path) -> LabBuilder:
    b = LabBuilder(tmp_path)
    b.user("alice", "secret")
    b.user("locked", None)
    b.write("/etc/pam.d/common-auth", DEBIAN_COMMON_AUTH)
    b.write("/etc/pam.d/common-account", DEBIAN_COMMON_ACCOUNT)
    b.write("/etc/pam.d/common-session", "session required pam_permit.so\nsession optional pam_systemd.so\n")
    return b


def run(
    b: LabBuilder, stack: str | None, user: str = "alice", password: str = "secret", **kw: object
) -> pam.PamOutcome:
    if stack is not None:
        b.write("/etc/pam.d/dovecot", stack)
    return pam.authenticate(b.root, "dovecot", user, password, "127.0.0.2", **kw)  # type: ignore[arg-type]


def code(b: LabBuilder, stack: str, user: str = "alice", password: str = "secret") -> int:
    return run(b, stack, user, password).code


def test_debian_stock_stack(tmp_path: Path) -> None:
    b = builder(tmp_path)
    b.write("/etc/pam.d/dovecot", DEBIAN_DOVECOT)
    assert run(b, None).ok
    wrong = run(b, None, password="nope")
    assert (wrong.code, wrong.call, wrong.message) == (
        codes.PAM_AUTH_ERR,
        "pam_authenticate",
        "Authentication failure",
    )
    # pam_unix says user_unknown, default=ignore lets pam_deny decide: Authentication failure
    assert run(b, None, user="nobody").code == codes.PAM_AUTH_ERR
    assert run(b, None, user="locked", password="").code == codes.PAM_AUTH_ERR


def test_required_alone(tmp_path: Path) -> None:
    b = builder(tmp_path)
    assert code(b, "auth required pam_unix.so\naccount required pam_unix.so\n") == codes.PAM_SUCCESS
    assert (
        code(b, "auth required pam_unix.so\naccount required pam_unix.so\n", user="ghost")
        == codes.PAM_USER_UNKNOWN
    )


def test_required_failure_is_remembered_but_stack_continues(tmp_path: Path) -> None:
    b = builder(tmp_path)
    stack = "auth required pam_deny.so\nauth required pam_unix.so\naccount required pam_permit.so\n"
    # the first failure's code wins even though the later module fails differently
    assert code(b, stack, user="ghost") == codes.PAM_AUTH_ERR
    stack = "auth required pam_unix.so\nauth required pam_deny.so\naccount required pam_permit.so\n"
    assert code(b, stack, user="ghost") == codes.PAM_USER_UNKNOWN


def test_requisite_stops_at_first_failure(tmp_path: Path) -> None:
    b = builder(tmp_path)
    # requisite pam_unix fails -> die: later sufficient pam_permit is never reached
    stack = "auth requisite pam_unix.so\nauth sufficient pam_permit.so\naccount required pam_permit.so\n"
    assert code(b, stack, password="bad") == codes.PAM_AUTH_ERR
    # with required instead, sufficient after a failed required still cannot rescue
    stack = "auth required pam_unix.so\nauth sufficient pam_permit.so\naccount required pam_permit.so\n"
    assert code(b, stack, password="bad") == codes.PAM_AUTH_ERR


def test_sufficient_success_ends_stack(tmp_path: Path) -> None:
    b = builder(tmp_path)
    stack = "auth sufficient pam_unix.so\nauth required pam_deny.so\naccount required pam_permit.so\n"
    assert code(b, stack) == codes.PAM_SUCCESS
    assert code(b, stack, password="bad") == codes.PAM_AUTH_ERR  # sufficient failure is ignored, deny decides


def test_optional_alone_decides_only_if_alone(tmp_path: Path) -> None:
    b = builder(tmp_path)
    stack = "auth optional pam_deny.so\nauth required pam_permit.so\naccount required pam_permit.so\n"
    assert code(b, stack) == codes.PAM_SUCCESS
    assert (
        code(b, "auth optional pam_unix.so\naccount required pam_permit.so\n", password="x")
        == codes.PAM_PERM_DENIED
    )


def test_default_bad_turns_success_into_failure(tmp_path: Path) -> None:
    b = builder(tmp_path)
    stack = "auth [default=bad] pam_unix.so\naccount required pam_permit.so\n"
    out = run(b, stack)
    assert (out.code, out.message) == (codes.PAM_PERM_DENIED, "Permission denied")
    assert code(b, "auth [success=ok default=bad] pam_unix.so\naccount required pam_permit.so\n") == 0


def test_success_jump_skips_lines(tmp_path: Path) -> None:
    b = builder(tmp_path)
    stack = (
        "auth [success=2 default=ignore] pam_unix.so\n"
        "auth requisite pam_deny.so\n"
        "auth required pam_deny.so\n"
        "auth required pam_permit.so\n"
        "account required pam_permit.so\n"
    )
    assert code(b, stack) == codes.PAM_SUCCESS
    assert code(b, stack.replace("success=2", "success=1")) == codes.PAM_AUTH_ERR


def test_die_done_reset_actions(tmp_path: Path) -> None:
    b = builder(tmp_path)
    acct = "account required pam_permit.so\n"
    assert code(b, "auth [success=die default=die] pam_permit.so\nauth required pam_permit.so\n" + acct) == 6
    assert code(b, "auth [success=done] pam_permit.so\nauth required pam_deny.so\n" + acct) == 0
    # reset forgets the earlier failure
    stack = "auth required pam_deny.so\nauth [success=reset default=reset] pam_permit.so\nauth required pam_permit.so\n"  # noqa: E501
    assert code(b, stack + acct) == 0
    assert (
        code(
            b,
            "auth [user_unknown=ignore default=die] pam_unix.so\nauth required pam_permit.so\n" + acct,
            user="ghost",
        )
        == 0
    )


def test_include_takes_only_same_type(tmp_path: Path) -> None:
    b = builder(tmp_path)
    b.write("/etc/pam.d/mixed", "auth required pam_unix.so\naccount required pam_deny.so\n")
    assert code(b, "auth include mixed\naccount required pam_permit.so\n") == 0
    assert code(b, "auth include mixed\naccount include mixed\n") == codes.PAM_AUTH_ERR


def test_at_include_takes_every_type(tmp_path: Path) -> None:
    b = builder(tmp_path)
    b.write("/etc/pam.d/mixed", "auth required pam_unix.so\naccount required pam_deny.so\n")
    out = run(b, "@include mixed\n")
    assert (out.code, out.call) == (codes.PAM_AUTH_ERR, "pam_acct_mgmt")


def test_substack_done_only_ends_the_substack(tmp_path: Path) -> None:
    b = builder(tmp_path)
    b.write("/etc/pam.d/sub", "auth sufficient pam_permit.so\n")
    acct = "account required pam_permit.so\n"
    # with include, sufficient ends the whole stack: the deny line is never reached
    assert code(b, "auth include sub\nauth required pam_deny.so\n" + acct) == 0
    # with substack, it only ends the substack: pam_deny still runs
    assert code(b, "auth substack sub\nauth required pam_deny.so\n" + acct) == codes.PAM_AUTH_ERR


def test_missing_module_fails_its_line_and_is_logged(tmp_path: Path) -> None:
    b = builder(tmp_path)
    logged: list[tuple[str, str]] = []
    b.write(
        "/etc/pam.d/dovecot",
        "auth required pam_unix.so\nauth required pam_foo.so\naccount required pam_permit.so\n",
    )
    out = pam.authenticate(
        b.root, "dovecot", "alice", "secret", log=lambda lvl, msg: logged.append((lvl, msg))
    )
    assert (out.code, out.message) == (codes.PAM_MODULE_UNKNOWN, "Module is unknown")
    mod = "/lib/x86_64-linux-gnu/security/pam_foo.so"
    assert logged == [
        (
            "Error",
            f"PAM unable to dlopen({mod}): {mod}: cannot open shared object file: No such file or directory",
        ),
        ("Error", f"PAM adding faulty module: {mod}"),
    ]
    # an optional missing module is harmless; the '-' prefix only silences the log
    logged.clear()
    b.write(
        "/etc/pam.d/dovecot",
        "auth required pam_unix.so\n-auth optional pam_foo.so\naccount required pam_permit.so\n",
    )
    assert pam.authenticate(
        b.root, "dovecot", "alice", "secret", log=lambda lvl, msg: logged.append((lvl, msg))
    ).ok
    assert logged == []


def test_account_phase_can_refuse_a_right_password(tmp_path: Path) -> None:
    b = builder(tmp_path)
    out = run(b, "auth required pam_unix.so\naccount required pam_deny.so\n")
    assert (out.code, out.call, out.message) == (
        codes.PAM_AUTH_ERR,
        "pam_acct_mgmt",
        "Authentication failure",
    )


def test_nullok_and_empty_password(tmp_path: Path) -> None:
    b = builder(tmp_path)
    b.write("/etc/shadow", b.root.path("/etc/shadow").read_text() + "empty::19700:0:99999:7:::\n")
    b.write(
        "/etc/passwd", b.root.path("/etc/passwd").read_text() + "empty:x:1500:1500::/home/empty:/bin/sh\n"
    )
    acct = "account required pam_unix.so\n"
    assert code(b, "auth required pam_unix.so nullok\n" + acct, user="empty", password="") == 0
    assert code(b, "auth required pam_unix.so nullok\n" + acct, user="empty", password="whatever") == 0
    assert code(b, "auth required pam_unix.so\n" + acct, user="empty", password="") == codes.PAM_AUTH_ERR


def test_locked_account(tmp_path: Path) -> None:
    b = builder(tmp_path)
    stack = "auth required pam_unix.so nullok\naccount required pam_unix.so\n"
    assert code(b, stack, user="locked", password="") == codes.PAM_AUTH_ERR
    assert code(b, stack, user="locked", password="!") == codes.PAM_AUTH_ERR


def test_account_expiry_and_forced_change(tmp_path: Path) -> None:
    b = builder(tmp_path)
    h = b.root.path("/etc/shadow").read_text().splitlines()[1].split(":")[1]
    today = int(time.time() // 86400)
    b.write(
        "/etc/passwd",
        b.root.path("/etc/passwd").read_text()
        + "old:x:1600:1600::/home/old:/bin/sh\nnew:x:1601:1601::/home/new:/bin/sh\n",
    )
    b.write(
        "/etc/shadow",
        b.root.path("/etc/shadow").read_text()
        + f"old:{h}:19000:0:99999:7::{today - 1}:\nnew:{h}:0:0:99999:7:::\n",
    )
    stack = "auth required pam_unix.so\naccount required pam_unix.so\n"
    out = run(b, stack, user="old")
    assert (out.code, out.call, out.message) == (
        codes.PAM_ACCT_EXPIRED,
        "pam_acct_mgmt",
        "User account has expired",
    )
    out = run(b, stack, user="new")
    assert out.message == "Authentication token is no longer valid; new one required"


def test_nologin(tmp_path: Path) -> None:
    b = builder(tmp_path)
    stack = "auth requisite pam_nologin.so\nauth required pam_unix.so\naccount required pam_permit.so\n"
    assert code(b, stack) == 0
    b.write("/etc/nologin", "maintenance\n")
    assert code(b, stack) == codes.PAM_AUTH_ERR


def test_succeed_if(tmp_path: Path) -> None:
    b = builder(tmp_path)
    acct = "account required pam_permit.so\n"
    assert code(b, "auth required pam_succeed_if.so uid >= 1000\nauth required pam_unix.so\n" + acct) == 0
    assert (
        code(b, "auth required pam_succeed_if.so user = bob\nauth required pam_unix.so\n" + acct)
        == codes.PAM_AUTH_ERR
    )
    assert (
        code(b, "auth required pam_succeed_if.so user in alice:bob quiet\nauth required pam_unix.so\n" + acct)
        == 0
    )


def test_missing_service_falls_back_to_other(tmp_path: Path) -> None:
    b = builder(tmp_path)
    b.write("/etc/pam.d/other", "auth required pam_deny.so\naccount required pam_deny.so\n")
    assert pam.authenticate(b.root, "nosuchservice", "alice", "secret").code == codes.PAM_AUTH_ERR
    b.write("/etc/pam.d/other", "auth required pam_unix.so\naccount required pam_unix.so\n")
    assert pam.authenticate(b.root, "nosuchservice", "alice", "secret").ok
    b.root.path("/etc/pam.d/other").unlink()
    out = pam.authenticate(b.root, "nosuchservice", "alice", "secret")
    assert (out.code, out.message) == (codes.PAM_ABORT, "Critical error - immediate abort")


def test_empty_or_all_ignore_stack_denies(tmp_path: Path) -> None:
    b = builder(tmp_path)
    assert code(b, "# nothing\n") == codes.PAM_PERM_DENIED
    assert code(b, "auth optional pam_env.so\naccount required pam_permit.so\n") == codes.PAM_PERM_DENIED


def test_malformed_lines_fail_closed(tmp_path: Path) -> None:
    b = builder(tmp_path)
    assert code(b, "auth [bogus=ok] pam_permit.so\naccount required pam_permit.so\n") == codes.PAM_PERM_DENIED
    assert code(b, "auth\naccount required pam_permit.so\n") == codes.PAM_PERM_DENIED
    assert code(b, "auth sometimes pam_permit.so\naccount required pam_permit.so\n") == codes.PAM_PERM_DENIED
    assert code(b, "auth include nosuchfile\naccount required pam_permit.so\n") == codes.PAM_PERM_DENIED


def test_include_loop_terminates(tmp_path: Path) -> None:
    b = builder(tmp_path)
    b.write("/etc/pam.d/loop", "auth include loop\n")
    assert code(b, "auth include loop\naccount required pam_permit.so\n") == codes.PAM_PERM_DENIED


def test_line_continuation_and_comments(tmp_path: Path) -> None:
    b = builder(tmp_path)
    stack = "auth required \\\n   pam_unix.so # trailing comment\naccount required pam_permit.so\n"
    assert code(b, stack) == 0
    assert code(b, stack, password="nope") == codes.PAM_AUTH_ERR


def test_absolute_module_path(tmp_path: Path) -> None:
    b = builder(tmp_path)
    assert (
        code(b, "auth required /lib/x86_64-linux-gnu/security/pam_unix.so\naccount required pam_permit.so\n")
        == 0
    )
    assert (
        code(b, "auth required /opt/pam_unix.so\naccount required pam_permit.so\n")
        == codes.PAM_MODULE_UNKNOWN
    )


WORDS = st.sampled_from(
    ["auth", "account", "-auth", "session", "password", "required", "requisite", "sufficient", "optional",
     "include", "substack", "@include", "[success=1 default=ignore]", "[default=bad]", "[success=ok",
     "pam_unix.so", "pam_deny.so", "pam_permit.so", "pam_foo.so", "nullok", "other", "dovecot", "#", "\\",
     "[", "]", "=", "common-auth", "\t", "pam_succeed_if.so", "uid", ">=", "x", "pam_nologin.so"]
)  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=6), max_size=8))
def test_random_pam_files_never_raise(tmp_path: Path, lines: list[list[str]]) -> None:
    b = LabBuilder(tmp_path)
    b.write("/etc/pam.d/common-auth", DEBIAN_COMMON_AUTH)
    text = "\n".join(" ".join(words) for words in lines)
    host = b.root.path("/etc/pam.d/dovecot")
    host.write_bytes(text.encode("utf-8", "surrogatepass"))
    out = pam.authenticate(b.root, "dovecot", "alice", "secret")
    assert 0 <= out.code < codes.RETURN_VALUES
    assert isinstance(out.message, str)


def test_pam_passdb_log_lines(tmp_path: Path) -> None:
    from labsim.mailserver.auth.model import AuthRequest
    from tests.auth.conftest import Lab

    lab = Lab(tmp_path)
    lab.builder.user("alice", "secret")
    lab.pam("auth required pam_unix.so\naccount required pam_unix.so\nsession required pam_permit.so\n")
    auth = lab.pam_service("session=yes dovecot", auth_verbose=True)
    req = AuthRequest(
        service="imap", mech="PLAIN", rip="127.0.0.2", lip="127.0.0.1", secured=False, session="Ab12"
    )
    bad = asyncio.run(auth.login("alice", "wrong", req))
    assert (bad.ok, bad.client_message, bad.imap_code) == (
        False,
        "Authentication failed.",
        "AUTHENTICATIONFAILED",
    )
    unknown = asyncio.run(auth.login("ghost", "x", req))
    assert unknown.client_message == "Authentication failed."
    lines = lab.lines()
    assert lines[0].endswith(
        "pam(alice,127.0.0.2,<Ab12>): pam_authenticate() failed: Authentication failure (Password mismatch?)"
    )
    assert lines[0].startswith("auth-worker(")
    assert ": Info: conn unix:auth-worker (pid=" in lines[0]
    assert lines[1].endswith("pam(ghost,127.0.0.2,<Ab12>): unknown user")
    good = asyncio.run(auth.login("Alice", "secret", req))  # %Lu lowercases
    assert (good.ok, good.user) == (True, "alice")
    assert good.userinfo is not None and (good.userinfo.uid, good.userinfo.home) == (1000, "/home/alice")


def test_session_yes_runs_the_session_stack(tmp_path: Path) -> None:
    b = builder(tmp_path)
    stack = "auth required pam_unix.so\naccount required pam_unix.so\n"
    assert run(b, stack).ok
    out = run(b, stack, session=True)  # no session lines: libpam's empty-chain failure
    assert (out.code, out.call) == (codes.PAM_PERM_DENIED, "pam_open_session")
    assert run(b, stack + "session required pam_unix.so\n", session=True).ok


def test_types_missing_from_the_service_come_from_other(tmp_path: Path) -> None:
    b = builder(tmp_path)
    stack = "auth required pam_unix.so\n"
    b.write("/etc/pam.d/other", "account required pam_deny.so\nsession required pam_permit.so\n")
    out = run(b, stack)
    assert (out.code, out.call) == (codes.PAM_AUTH_ERR, "pam_acct_mgmt")
    b.write("/etc/pam.d/other", "@include common-account\n@include common-session\n")
    assert run(b, stack, session=True).ok
