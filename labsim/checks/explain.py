"""Why a server answered as it did, in a sentence a learner preparing for LPIC-2 can use.

The answers are Dovecot's own words (and Courier's where they differ); each explanation names
the setting or the place that decides, never the value the scenario wants.
"""

from __future__ import annotations

# (words in the server's answer, lower case) -> what it means
REFUSALS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("plaintext authentication disallowed", "privacyrequired"),
        "Dovecot refuses a password sent in the clear on a connection that is neither TLS nor from "
        "the host to itself while disable_plaintext_auth = yes (ssl = required implies it).",
    ),
    (
        ("unsupported authentication mechanism",),
        "Dovecot offers only the mechanisms that auth_mechanisms lists.",
    ),
    (
        ("auth process broken", "temporary authentication failure", "[unavailable]"),
        "Dovecot's auth process is not working; its Fatal line in /var/log/mail.log says why.",
    ),
    (
        ("authenticationfailed", "authentication failed", "login failed"),
        "The server never tells a client why a login failed; /var/log/mail.log does "
        "(the transcript shows its new lines).",
    ),
)


def refusal(answer: str) -> str:
    low = answer.lower()
    for words, meaning in REFUSALS:
        if any(w in low for w in words):
            return meaning
    return ""


def failure(text: str) -> str:
    """' <why>' for a dialogue that broke off (a greeting of "* BYE Auth process broken", say), or ''."""
    why = refusal(text)
    return f" {why}" if why else ""


def accepted(insecure: bool, transport: str) -> str:
    """A login went through that the check wanted refused."""
    if insecure and transport == "plain":
        return (
            "The password crossed a non-secure connection in the clear (from 127.0.0.2, no TLS) "
            "and was accepted."
        )
    return "The server let the login in."


def announcement(items: list[str]) -> str:
    """Where the capability words a check looked for come from."""
    words = {i.upper() for i in items}
    notes = []
    if any(w.startswith(("AUTH=", "SASL")) for w in words):
        notes.append(
            "Dovecot announces a mechanism for each name in auth_mechanisms (the plaintext ones only "
            "where a password may be sent)."
        )
    if "LOGINDISABLED" in words:
        notes.append(
            "IMAP announces LOGINDISABLED where disable_plaintext_auth forbids a password in the clear."
        )
    if words & {"STARTTLS", "STLS"}:
        notes.append("STARTTLS (STLS in POP3) is offered only when ssl is yes or required.")
    return " ".join(notes)
