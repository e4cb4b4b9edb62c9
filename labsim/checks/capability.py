"""capability: what a server announces (IMAP CAPABILITY, POP3 CAPA), before or after login."""

from __future__ import annotations

from labsim.checks.base import listing, p_float, p_int, p_list, p_str, said, verdict
from labsim.checks.clients import Imap, Pop3
from labsim.checks.explain import announcement, failure, is_courier
from labsim.checks.result import CheckResult
from labsim.checks.session import DEFAULT_TIMEOUT, Dialogue, ProbeFailed
from labsim.lab.model import Lab
from labsim.scenario.model import CheckSpec


def announced(item: str, lines: list[str]) -> bool:
    """A one-word item matches any word announced (IMAP's atoms, or a POP3 word such as STLS
    or a SASL mechanism); several words match a POP3 line that starts with the first and has the rest."""
    words = item.upper().split()
    if not words:
        return False
    rows = [line.upper().split() for line in lines]
    if len(words) == 1:
        return any(words[0] in row for row in rows)
    return any(row and row[0] == words[0] and all(w in row for w in words[1:]) for row in rows)


def capability(lab: Lab, spec: CheckSpec) -> CheckResult:
    protocol = p_str(spec, "protocol", "imap")
    contains, lacks = p_list(spec, "contains"), p_list(spec, "lacks")
    after_login = bool(spec.params.get("after_login", False))
    d = Dialogue(
        lab,
        protocol,
        p_str(spec, "transport", "plain"),
        p_int(spec, "port"),
        p_str(spec, "source", "secure"),
        p_float(spec, "timeout", DEFAULT_TIMEOUT),
    )
    wanted = []
    if contains:
        wanted.append("to announce " + listing(contains))
    if lacks:
        wanted.append(("and not " if contains else "not to announce ") + listing(lacks, "or"))
    asked = {"plain": "without TLS", "starttls": "after STARTTLS", "tls": "over implicit TLS"}[
        p_str(spec, "transport", "plain")
    ]
    if p_str(spec, "source", "secure") == "insecure":
        asked += " from the non-secure address 127.0.0.2"
    if after_login:
        asked += " after the login"
    verb = "CAPABILITY" if protocol == "imap" else "CAPA"
    expected = f"Expected {protocol.upper()}'s {verb} ({asked}) " + " ".join(wanted)
    try:
        with d:
            client: Imap | Pop3 = Imap(d) if protocol == "imap" else Pop3(d)
            client.greet()
            if after_login:
                outcome = client.login(p_str(spec, "user"), p_str(spec, "password"))
                if not outcome.ok:
                    raise ProbeFailed(f"the login before asking was refused: {said(outcome.answer)}")
            lines = client.capabilities()
            if isinstance(client, Imap):
                shown = " ".join(lines)
                client.logout()
            else:
                shown = "; ".join(lines)
                client.quit()
    except ProbeFailed as exc:
        why = failure(str(exc), is_courier(d.transcript))
        return verdict(spec, False, f"{expected}, but {exc}.{why}", d.transcript)
    rows = [" ".join(lines)] if protocol == "imap" else lines
    missing = [c for c in contains if not announced(c, rows)]
    present = [c for c in lacks if announced(c, rows)]
    problems = []
    if missing:
        problems.append("missing " + listing(missing))
    if present:
        problems.append("announced although it should not be: " + listing(present))
    detail = f"{expected}. It announced: {shown or 'nothing'}."
    if problems:
        why = announcement(missing + present, is_courier(d.transcript))
        detail += f" Problem: {'; '.join(problems)}. {why}".rstrip()
    return verdict(spec, not problems, detail, d.transcript)
