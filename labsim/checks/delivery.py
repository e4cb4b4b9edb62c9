"""delivery: a message sent to an address arrives in a user's Maildir folder, or bounces.

The check sends a message of its own through the lab's `sendmail` (the
submission path Courier's local delivery uses), marked with a token nobody
else writes, then looks for that token in the Maildirs of the lab's users as
an administrator would (`grep -rl TOKEN ~user/Maildir`). The transcript holds
the message, sendmail's words, the mail log lines the delivery wrote, and
where the message landed, with its Delivered-To line: that line shows what
the aliases turned the address into.

`expect: delivered` passes only when the message is found in the user's
folder; `expect: bounced` only when it is refused (sendmail's or the log's
`<<<` line) and did not reach the user. Nothing passes on a timeout.
"""

from __future__ import annotations

import re
import secrets
import shlex
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from labsim.checks.base import p_float, p_str, said, verdict
from labsim.checks.explain import TRANSCRIPT, bounced, discarded
from labsim.checks.result import CheckResult
from labsim.checks.session import DEFAULT_TIMEOUT
from labsim.lab.model import MAIL_LOG, Lab, LabError
from labsim.mailserver.delivery import DEFAULT_MAILDIR
from labsim.scenario.model import CheckSpec

DEFAULT_SENDER = "labsim-check@example.org"  # off the lab: a bounce for it stays in the log
POLL = 0.2
# sendmail prints one line per refused recipient: "<root@mail>: <<< 550 User <root> unknown".
_REFUSAL = re.compile(r"^<([^>]*)>: <<< (.+)$", re.MULTILINE)


@dataclass
class Account:
    name: str
    uid: int
    home: str


@dataclass
class Seen:
    """What one look at the lab found."""

    places: list[tuple[str, str, str]] = field(default_factory=list)  # (user, folder, lab path)
    refusals: list[tuple[str, str]] = field(default_factory=list)  # (address, reason)
    notices: list[tuple[str, str, str]] = field(default_factory=list)  # bounce notices quoting it
    discarded: bool = False
    log: list[str] = field(default_factory=list)


def make_message(token: str, sender: str, to: str) -> str:
    return (
        f"From: labsim delivery check <{sender}>\n"
        f"To: <{to}>\n"
        f"Subject: labsim delivery check {token}\n"
        f"Message-ID: <{token}@labsim.check>\n"
        f"Date: {formatdate(localtime=True)}\n"
        "\n"
        f"This message was sent by labsim to see where mail for {to} goes.\n"
        f"Its token is {token}.\n"
    )


def accounts(lab: Lab) -> dict[str, Account]:
    try:
        text = lab.read_file("/etc/passwd").decode("utf-8", "replace")
    except LabError:
        return {}
    found: dict[str, Account] = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 7 and parts[2].isdigit() and parts[5].startswith("/"):
            found[parts[0]] = Account(parts[0], int(parts[2]), parts[5])
    return found


def folder_name(relative: str) -> str:
    """The folder of a file, from its path under the Maildir: new/x -> INBOX, .Archive/cur/x -> Archive."""
    first = relative.split("/", 1)[0]
    return first[1:] if first.startswith(".") else "INBOX"


def same_folder(seen: str, want: str) -> bool:
    """Courier names folders INBOX.Archive where Dovecot says Archive: both mean .Archive on disk."""

    def norm(name: str) -> str:
        return "INBOX" if name.upper() == "INBOX" else re.sub(r"^INBOX\.", "", name, flags=re.IGNORECASE)

    return norm(seen) == norm(want)


def find(lab: Lab, token: str, users: dict[str, Account]) -> list[tuple[str, str, str]]:
    """(user, folder, lab path) of every file holding the token, in the Maildirs of users with mail."""
    roots = {a.name: f"{a.home.rstrip('/')}/{DEFAULT_MAILDIR}" for a in users.values()}
    if not roots:
        return []
    # Relative paths: the local sandbox runs commands from the lab root, a container from /.
    dirs = sorted({r.lstrip("/") for r in roots.values()})
    result = lab.exec(["grep", "-rlsF", "--", token, *dirs], timeout=10)
    places = []
    for line in result.output.splitlines():
        path = "/" + line.strip().lstrip("/")
        for name, maildir in sorted(roots.items(), key=lambda kv: -len(kv[1])):
            if path.startswith(maildir + "/"):
                places.append((name, folder_name(path[len(maildir) + 1 :]), path))
                break
    return places


def is_the_message(lab: Lab, path: str, token: str) -> bool:
    """The message itself, not a bounce notice quoting its headers: its own Message-ID has the token."""
    try:
        head = lab.read_file(path)[:65536].split(b"\n\n", 1)[0].decode("utf-8", "replace")
    except LabError:
        return False
    return f"<{token}@labsim.check>" in head


def log_size(lab: Lab) -> int:
    try:
        return len(lab.read_file(MAIL_LOG))
    except LabError:
        return 0


def new_log_lines(lab: Lab, offset: int, sender: str) -> list[str]:
    try:
        text = lab.read_file(MAIL_LOG)[offset:].decode("utf-8", "replace")
    except LabError:
        return []
    # Delivery lines carry the envelope sender; the bounce's follow-up lines carry its queue id.
    ids = {m.group(1) for m in re.finditer(rf"id=([^,\s]+),from=<{re.escape(sender)}>", text)}
    mta = (" courierd: ", " courierlocal: ", " courieresmtp")  # a double bounce's own lines name no sender
    return [
        ln
        for ln in text.splitlines()
        if f"<{sender}>" in ln or any(f"id={i}" in ln for i in ids) or any(m in ln for m in mta)
    ]


def look(lab: Lab, token: str, users: dict[str, Account], offset: int, sender: str, sent: str) -> Seen:
    found = find(lab, token, users)
    seen = Seen(log=new_log_lines(lab, offset, sender))
    for place in found:
        if is_the_message(lab, place[2], token):
            seen.places.append(place)
        else:
            seen.notices.append(place)
    refusals = {(a, r.strip()) for a, r in _REFUSAL.findall(sent)}
    for line in seen.log:
        m = re.search(r"addr=<([^>]*)>[^:]*: (\d{3} .+)$", line)
        if m and " courierd: " not in line:
            refusals.add((m.group(1), m.group(2).strip()))
        if "message discarded" in line:
            seen.discarded = True
    seen.refusals = sorted(refusals)
    return seen


def delivery(lab: Lab, spec: CheckSpec) -> CheckResult:
    to = p_str(spec, "address")
    where: Any = spec.params.get("lands_in") or {}
    user = str(where["user"]) if isinstance(where, dict) and where.get("user") else None
    folder = str(where.get("folder") or "INBOX") if isinstance(where, dict) else "INBOX"
    expect = p_str(spec, "expect", "delivered")
    sender = p_str(spec, "sender", DEFAULT_SENDER)
    timeout = p_float(spec, "timeout", DEFAULT_TIMEOUT)
    token = f"labsim-{secrets.token_hex(8)}"
    target = f"{user}'s {folder}" if user else "no user's mailbox"
    if expect == "bounced":
        expected = f"Expected mail for {to} to bounce" + (f" and not reach {user}" if user else "")
    else:
        expected = f"Expected a message sent to {to} to land in {target}"

    users = accounts(lab)
    if user and user not in users:
        return verdict(spec, False, f"{expected}, but there is no user {user} in the lab's /etc/passwd.")
    message = make_message(token, sender, to)
    argv = ["sendmail", "-f", sender, to]
    offset = log_size(lab)
    started = time.monotonic()
    sent = lab.exec(argv, timeout=timeout, input=message)
    lines = [f"$ {shlex.join(argv)} <<'EOF'", *message.rstrip("\n").splitlines(), "EOF"]
    lines += [*sent.output.rstrip("\n").splitlines(), f"[exit {sent.code}]"]
    if sent.code == 124 and "timed out" in sent.output:
        return verdict(
            spec, False, f"{expected}, but sendmail did not finish within {timeout:g} seconds.", _t(lines)
        )
    if sent.code != 0:
        last = sent.output.strip().splitlines()[-1:] or ["(no output)"]
        return verdict(
            spec, False, f"{expected}, but sendmail failed (exit {sent.code}): {last[0]}", _t(lines)
        )

    # Courier's local delivery is done when sendmail returns; an MTA that queues needs a moment.
    seen = look(lab, token, users, offset, sender, sent.output)
    while not _settled(seen) and time.monotonic() - started < timeout:
        time.sleep(POLL)
        seen = look(lab, token, users, offset, sender, sent.output)
    lines += _report(seen)
    return _judge(spec, expected, seen, expect, user, folder, timeout, lab, lines)


def _settled(seen: Seen) -> bool:
    """Whether what was seen already decides the check (so a failing check does not wait out its time)."""
    return bool(seen.places or seen.refusals or seen.discarded)


def _report(seen: Seen) -> list[str]:
    out = ["", f"# new lines in {MAIL_LOG}", *(seen.log or ["(none)"]), ""]
    if seen.places:
        out += [f"# the message was found in {who}'s {fol}: {path}" for who, fol, path in seen.places]
    else:
        out.append("# the message is in no user's Maildir")
    out += [
        f"# a delivery status notification about it reached {who}'s {fol}: {p}"
        for who, fol, p in seen.notices
    ]
    return out


def _judge(
    spec: CheckSpec,
    expected: str,
    seen: Seen,
    expect: str,
    user: str | None,
    folder: str,
    timeout: float,
    lab: Lab,
    lines: list[str],
) -> CheckResult:
    where = ", ".join(f"{who}'s {fol}" for who, fol, _ in seen.places)
    refused = "; ".join(f"<{a}>: {r}" for a, r in seen.refusals)
    hit = [p for p in seen.places if p[0] == user and same_folder(p[1], folder)]
    if hit:
        lines += _delivered_to(lab, hit[0][2])
    if expect == "bounced":
        if hit:
            return verdict(spec, False, f"{expected}, but it was delivered to {where}.", _t(lines))
        if seen.refusals:
            also = f" (it reached {where})" if where else ""
            return verdict(spec, True, f"{expected}. It was refused: {refused}{also}.", _t(lines))
        if seen.places:
            return verdict(spec, False, f"{expected}, but it was delivered to {where}.", _t(lines))
        why = "it was discarded without a bounce" if seen.discarded else "no refusal was seen"
        return verdict(spec, False, f"{expected}, but {why} within {timeout:g} seconds.", _t(lines))
    if hit:
        return verdict(spec, True, f"{expected}; it arrived there ({hit[0][2]}).", _t(lines))
    if seen.places:
        detail = f"{expected}, but it landed in {where}."
    elif seen.refusals:
        detail = f"{expected}, but it bounced: {said(refused, 300)}."
        state = _aliases_state(lab)
        if state is not None:
            why = bounced(seen.refusals[0][0], seen.refusals[0][1], state)
            detail += f" {why}" if why else ""
    elif seen.discarded:
        detail = f"{expected}, but it was thrown away: an alias on its way has no addresses."
        detail += f" {discarded()}" if _aliases_state(lab) is not None else ""
    else:
        detail = f"{expected}, but it did not arrive within {timeout:g} seconds and nothing bounced."
    return verdict(
        spec, False, f"{detail} {TRANSCRIPT[0].upper()}{TRANSCRIPT[1:]} has the mail log's lines.", _t(lines)
    )


# Courier's delivery reads aliases.dat only: a text file newer than it is an edit nobody compiled.
_ALIASES_STATE = (
    "test -d etc/courier/aliases || exit 3; test -e etc/courier/aliases.dat || { echo missing; exit 0; }; "
    "find etc/courier/aliases -type f -newer etc/courier/aliases.dat | head -1"
)


def _aliases_state(lab: Lab) -> str | None:
    """None on a host without Courier's aliases; else "missing", "stale:/etc/courier/aliases/FILE" or ""."""
    result = lab.exec(["sh", "-c", _ALIASES_STATE], timeout=10)
    if result.code != 0:
        return None
    text = result.output.strip()
    if text == "missing":
        return text
    return f"stale:/{text.lstrip('./')}" if text else ""


def _delivered_to(lab: Lab, path: str) -> list[str]:
    """The delivered file's Delivered-To line: what the aliases made of the address."""
    try:
        head = lab.read_file(path)[:4096].decode("utf-8", "replace")
    except LabError:
        return []
    return [f"#   {ln}" for ln in head.splitlines()[:4] if ln.startswith(("Delivered-To:", "Return-Path:"))]


def _t(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"
