"""imap_login and pop3_login: log in as a mail client would and compare with what was expected."""

from __future__ import annotations

from labsim.checks.base import p_float, p_int, p_opt, p_str, said, verdict
from labsim.checks.clients import Imap, LoginOutcome, Pop3, expected_outcome
from labsim.checks.explain import accepted, failure, is_courier, refusal
from labsim.checks.maillog import lines_since, log_offset, log_says, log_section
from labsim.checks.result import CheckResult
from labsim.checks.session import DEFAULT_TIMEOUT, Dialogue, ProbeFailed
from labsim.lab.model import Lab
from labsim.scenario.model import CheckSpec

VIA = {"plain": "without TLS", "starttls": "after STARTTLS", "tls": "over implicit TLS"}
PLAIN_COMMAND = {"imap": "the LOGIN command", "pop3": "USER and PASS"}


def how(spec: CheckSpec, protocol: str) -> str:
    """'alice's IMAP login (LOGIN command, without TLS, from the non-secure address 127.0.0.2)'."""
    mech = p_opt(spec, "mechanism")
    transport = p_str(spec, "transport", "plain")
    parts = [f"{mech} mechanism" if mech and mech != "USER" else PLAIN_COMMAND[protocol], VIA[transport]]
    if p_str(spec, "source", "secure") == "insecure":
        parts.append("from the non-secure address 127.0.0.2")
    return f"{p_str(spec, 'user')}'s {protocol.upper()} login ({', '.join(parts)})"


def wanted(expect: str) -> str:
    low = expect.lower()
    if low == "success":
        return "to succeed"
    if low == "failure":
        return "to be refused"
    return f'to be refused with "{expect}"'


def login_check(lab: Lab, spec: CheckSpec, protocol: str) -> CheckResult:
    expect = p_str(spec, "expect", "success")
    # No mechanism: IMAP's LOGIN command or POP3's USER/PASS, which work whatever auth_mechanisms says.
    mech = p_opt(spec, "mechanism")
    transport = p_str(spec, "transport", "plain")
    source = p_str(spec, "source", "secure")
    d = Dialogue(
        lab, protocol, transport, p_int(spec, "port"), source, p_float(spec, "timeout", DEFAULT_TIMEOUT)
    )
    expected = f"Expected {how(spec, protocol)} {wanted(expect)}"
    offset = log_offset(lab)
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
        log = lines_since(lab, offset)
        # With STARTTLS openssl reads the greeting itself: the log tells Courier apart then.
        courier = is_courier(d.transcript + log_section(log))
        detail = f"{expected}, but {exc}.{failure(str(exc), courier)}{log_says(log)}"
        return verdict(spec, False, detail, d.transcript + log_section(log))
    passed = expected_outcome(expect, outcome)
    if outcome.ok:
        detail = f"{expected}; the server accepted it: {said(outcome.answer)}."
        if not passed:
            detail += " " + accepted(source == "insecure", transport)
    else:
        detail = f"{expected}; the server refused it: {said(outcome.answer)}."
        if not passed:
            why = refusal(outcome.answer, is_courier(d.transcript))
            detail += " " + (why or "That is not the refusal asked for.")
    transcript = d.transcript if passed else d.transcript + log_section(lines_since(lab, offset))
    return verdict(spec, passed, detail.rstrip(), transcript)


def imap_login(lab: Lab, spec: CheckSpec) -> CheckResult:
    return login_check(lab, spec, "imap")


def pop3_login(lab: Lab, spec: CheckSpec) -> CheckResult:
    return login_check(lab, spec, "pop3")
