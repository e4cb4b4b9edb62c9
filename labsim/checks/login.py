"""imap_login and pop3_login: log in as a mail client would and compare with what was expected."""

from __future__ import annotations

from labsim.checks.base import p_float, p_int, p_opt, p_str, verdict
from labsim.checks.clients import Imap, LoginOutcome, Pop3, expected_outcome
from labsim.checks.result import CheckResult
from labsim.checks.session import DEFAULT_TIMEOUT, Dialogue, ProbeFailed
from labsim.lab.model import Lab
from labsim.scenario.model import CheckSpec


def _describe_expect(expect: str) -> str:
    low = expect.lower()
    if low == "success":
        return "the login to succeed"
    if low == "failure":
        return "the login to be refused"
    return f"the login to be refused with {expect!r}"


def _how(spec: CheckSpec, protocol: str) -> str:
    user = p_str(spec, "user")
    mech = p_opt(spec, "mechanism")
    transport = p_str(spec, "transport", "plain")
    source = p_str(spec, "source", "secure")
    via = {"plain": "without TLS", "starttls": "after STARTTLS", "tls": "over implicit TLS"}[transport]
    by = f" with {mech}" if mech else ""
    src = " from the non-secure address 127.0.0.2" if source == "insecure" else ""
    return f"{user} logging in to {protocol.upper()}{by} {via}{src}"


def login_check(lab: Lab, spec: CheckSpec, protocol: str) -> CheckResult:
    expect = p_str(spec, "expect", "success")
    # No mechanism: IMAP's LOGIN command or POP3's USER/PASS, which work whatever auth_mechanisms says.
    mech = p_opt(spec, "mechanism")
    d = Dialogue(
        lab,
        protocol,
        p_str(spec, "transport", "plain"),
        p_int(spec, "port"),
        p_str(spec, "source", "secure"),
        p_float(spec, "timeout", DEFAULT_TIMEOUT),
    )
    wanted = f"Expected {_describe_expect(expect)} for {_how(spec, protocol)}"
    try:
        with d:
            client: Imap | Pop3 = Imap(d) if protocol == "imap" else Pop3(d)
            client.greet()
            outcome: LoginOutcome = client.login(p_str(spec, "user"), p_str(spec, "password"), mech)
            if isinstance(client, Imap):
                client.logout()
            else:
                client.quit()
    except ProbeFailed as exc:
        return verdict(spec, False, f"{wanted}, but {exc}.", d.transcript)
    passed = expected_outcome(expect, outcome)
    seen = "it succeeded" if outcome.ok else "it was refused"
    return verdict(spec, passed, f"{wanted}; {seen}: {outcome.answer!r}.", d.transcript)


def imap_login(lab: Lab, spec: CheckSpec) -> CheckResult:
    return login_check(lab, spec, "imap")


def pop3_login(lab: Lab, spec: CheckSpec) -> CheckResult:
    return login_check(lab, spec, "pop3")
