"""Hostile stored passwords and SASL input never raise; they just fail."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labsim.mailserver.auth.model import AuthResult
from labsim.mailserver.auth.schemes import verify_password_detail
from labsim.mailserver.config.model import AuthDb
from tests.auth.conftest import Lab

PREFIXES = st.sampled_from(
    [
        "",
        "{PLAIN}",
        "{SHA}",
        "{SSHA512}",
        "{CRAM-MD5}",
        "{MD5-CRYPT}",
        "{SHA512-CRYPT}",
        "{CRYPT}",
        "{PLAIN.B64}",
        "{SHA.HEX}",
        "{",
        "$6$",
        "$1$",
        "$y$",
        "$2y$05$",
        "!",
    ]
)


@settings(max_examples=150, deadline=None)
@given(prefix=PREFIXES, body=st.text(max_size=40), password=st.text(max_size=10))
def test_verify_never_raises(prefix: str, body: str, password: str) -> None:
    ok, problem = verify_password_detail(prefix + body, password, "alice")
    assert isinstance(ok, bool)
    assert problem is None or isinstance(problem, str)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mech=st.sampled_from(["PLAIN", "LOGIN", "CRAM-MD5"]),
    steps=st.lists(st.one_of(st.none(), st.binary(max_size=60)), min_size=1, max_size=4),
)
def test_sasl_steps_never_raise(tmp_path: Path, mech: str, steps: list[bytes | None]) -> None:
    lab = Lab(tmp_path)
    lab.builder.write("/etc/dovecot/users", "alice:{PLAIN}secret\n")
    db = AuthDb("passwd-file", "/etc/dovecot/users")
    auth = lab.service(passdbs=[db], auth_mechanisms=["plain", "login", "cram-md5"])

    async def go() -> None:
        ex = auth.sasl(mech, lab.req(secured=True))
        for step in steps:
            out = await ex.step(step)
            assert isinstance(out, bytes | AuthResult)
            if isinstance(out, AuthResult):
                assert out.ok is False or out.user == "alice"
                return

    asyncio.run(go())
