"""Fixed texts and small renderers shared by the IMAP session."""

from __future__ import annotations

import re
import time

from labsim.mailserver.storage.names import encode_mutf7

# What a 2.3.19 login process advertises before the mechanisms.
PRELOGIN_BASE = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+"

# Dovecot 2.3.19 sends, after login:
#   IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY
#   THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL
#   CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1
#   CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS
#   BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+
#   NOTIFY, and SPECIAL-USE when a configured mailbox has special_use.
# We advertise what this server implements, in Dovecot's order; the rest is a
# known difference (docs/conformance.md).
POSTLOGIN_CAPABILITY = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UNSELECT CHILDREN NAMESPACE UIDPLUS "
    "LIST-EXTENDED WITHIN LIST-STATUS MOVE LITERAL+"
)


def postlogin_capability(settings: object) -> str:
    """What the tagged OK of LOGIN and CAPABILITY list after login."""
    if getattr(settings, "mailbox_special_use", None):
        return POSTLOGIN_CAPABILITY + " SPECIAL-USE"
    return POSTLOGIN_CAPABILITY


SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")

# A synchronizing APPEND literal the server will not take now (the shared budget is spent).
APPEND_BUSY = "[LIMIT] Too many large APPENDs in progress, try again later"
BAD_PRELOGIN = "Error in IMAP command received by server."
TOO_MANY_INVALID = "Too many invalid IMAP commands."
PRIVACY_ALERT = (
    "[ALERT] Plaintext authentication not allowed without SSL/TLS, but your client did it "
    "anyway. If anyone was listening, the password was exposed."
)
PRIVACY_REQUIRED = (
    "[PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
)


def serverbug(now: float | None = None) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    return f"[SERVERBUG] Internal error occurred. Refer to server log for more information. [{stamp}]"


_ATOM_SAFE = re.compile(r"^[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+$")


def astring_out(text: str) -> str:
    """A mailbox name or other astring as the server writes it: bare when it is a
    plain atom, quoted otherwise."""
    if _ATOM_SAFE.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mailbox_out(name: str) -> str:
    return astring_out(encode_mutf7(name))


def timing(elapsed: float) -> str:
    return f" ({max(elapsed, 0.001):.3f} + 0.000 secs)."
