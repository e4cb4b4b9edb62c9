"""mailbox_count (what a user sees) and pop3_sizes (POP3 LIST against the files on disk)."""

from __future__ import annotations

import re

from labsim.checks.base import count, listing, p_float, p_int, p_str, said, verdict
from labsim.checks.clients import Imap, Pop3
from labsim.checks.explain import NOTHING_LISTENS, is_courier, permission_denied, refusal
from labsim.checks.maillog import lines_since, log_offset, log_says, log_section
from labsim.checks.result import CheckResult
from labsim.checks.session import DEFAULT_TIMEOUT, Dialogue, ProbeFailed
from labsim.lab.model import Lab, LabError
from labsim.scenario.model import CheckSpec

# Headers Dovecot keeps its mbox state in and hides from clients.
_MBOX_HIDDEN = (
    b"x-imapbase:",
    b"x-imap:",
    b"x-uid:",
    b"status:",
    b"x-status:",
    b"x-keywords:",
    b"content-length:",
)


def _dialogue(lab: Lab, spec: CheckSpec, protocol: str) -> Dialogue:
    return Dialogue(
        lab,
        protocol,
        p_str(spec, "transport", "plain"),
        p_int(spec, "port"),
        "secure",
        p_float(spec, "timeout", DEFAULT_TIMEOUT),
    )


def mailbox_count(lab: Lab, spec: CheckSpec) -> CheckResult:
    protocol = p_str(spec, "protocol", "imap")
    user, folder = p_str(spec, "user"), p_str(spec, "folder", "INBOX")
    want = p_int(spec, "count")
    if want == 0 and folder.upper() != "INBOX":
        expected = f"Expected {user} to see the folder {folder} (empty) over {protocol.upper()}"
    else:
        expected = f"Expected {user} to see {count(want, 'message')} in {folder} over {protocol.upper()}"
    d = _dialogue(lab, spec, protocol)
    offset = log_offset(lab)
    try:
        with d:
            if protocol == "imap":
                imap = Imap(d)
                imap.greet()
                outcome = imap.login(user, p_str(spec, "password"))
                if not outcome.ok:
                    raise ProbeFailed(_refused(outcome.answer, is_courier(d.transcript)))
                seen = imap.examine(folder)
                imap.logout()
            else:
                if folder.upper() != "INBOX":
                    raise ProbeFailed("POP3 only ever shows INBOX")
                pop = Pop3(d)
                pop.greet()
                outcome = pop.login(user, p_str(spec, "password"))
                if not outcome.ok:
                    raise ProbeFailed(_refused(outcome.answer, is_courier(d.transcript)))
                answer = pop.command("STAT")
                m = re.match(r"\+OK (\d+)", answer)
                if not m:
                    raise ProbeFailed(f"STAT was answered with {said(answer)}")
                seen = int(m.group(1))
                pop.quit()
    except ProbeFailed as exc:
        log = lines_since(lab, offset)
        # A refused login explains itself; any other failure (a folder the user may not read, say)
        # is explained by the error the server logged meanwhile.
        said_log = "" if "login was refused" in str(exc) else log_says(log)
        detail = f"{expected}, but {exc}.{said_log}{permission_denied(said_log)}"
        courier = is_courier(d.transcript)
        if "nothing listens" in str(exc):
            detail += f" {NOTHING_LISTENS}"
        elif ("doesn't exist" in str(exc) or "does not exist" in str(exc)) and not courier:
            detail += f" Dovecot looks for {user}'s folders where mail_location points."
        return verdict(spec, False, detail, d.transcript + log_section(log))
    detail = f"{expected}; the server shows {count(seen, 'message')}."
    if seen == 0 and want and not is_courier(d.transcript):
        detail += (
            " No messages at all usually means Dovecot looks for the mail where there is none: "
            "compare `doveconf -h mail_location` with where the mail really is."
        )
    return verdict(spec, seen == want, detail, d.transcript)


def _refused(answer: str, courier: bool) -> str:
    why = refusal(answer, courier)
    return f"the login was refused: {said(answer)}" + (f". {why.rstrip('.')}" if why else "")


def crlf_size(data: bytes) -> int:
    return len(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


def mbox_messages(data: bytes) -> list[bytes]:
    """The messages of an mbox file as a client sees them: no From_ line, no separator line,
    no headers Dovecot keeps its own state in."""
    messages: list[list[bytes]] = []
    for line in data.split(b"\n"):
        if line.startswith(b"From "):
            messages.append([])
        elif messages:
            messages[-1].append(line)
    out = []
    for lines in messages:
        while lines and lines[-1] == b"":
            lines.pop()
        head_done = False
        kept = []
        for line in lines:
            if not head_done and line == b"":
                head_done = True
            if not head_done and line.lower().startswith(_MBOX_HIDDEN):
                continue
            kept.append(line)
        out.append(b"\n".join(kept) + b"\n")
    return out


def _home(lab: Lab, user: str) -> str:
    for line in lab.read_file("/etc/passwd").decode("utf-8", "replace").splitlines():
        parts = line.split(":")
        if len(parts) >= 7 and parts[0] == user:
            return parts[5]
    raise LabError(f"user {user} is not in the lab's /etc/passwd")


def disk_sizes(lab: Lab, user: str) -> tuple[list[int], list[int], str]:
    """The user's INBOX messages as read from the files: (CRLF sizes, sizes as stored, where)."""
    location = lab.exec(["doveconf", "-h", "mail_location"], timeout=10).output.strip()
    home = _home(lab, user)
    fmt, _, rest = location.partition(":")
    parts = rest.split(":")
    path = parts[0]
    inbox = next((p.split("=", 1)[1] for p in parts[1:] if p.upper().startswith("INBOX=")), "")

    def expand(p: str) -> str:
        return p.replace("~", home, 1).replace("%u", user)

    if fmt == "maildir":
        base = expand(path).rstrip("/")
        found = lab.exec(["find", f"{base}/cur"[1:], f"{base}/new"[1:], "-maxdepth", "1", "-type", "f"])
        files = [line.strip() for line in found.output.splitlines() if line.strip() and "No such" not in line]
        data = [lab.read_file("/" + f) for f in files]
        return sorted(crlf_size(m) for m in data), sorted(len(m) for m in data), base
    if fmt == "mbox":
        mbox = expand(inbox) or f"{expand(path).rstrip('/')}/inbox"
        messages = mbox_messages(lab.read_file(mbox))
        return sorted(crlf_size(m) for m in messages), sorted(len(m) for m in messages), mbox
    raise LabError(f"mail_location `{location}` names a format the checker cannot read")


def pop3_sizes(lab: Lab, spec: CheckSpec) -> CheckResult:
    user = p_str(spec, "user")
    d = _dialogue(lab, spec, "pop3")
    expected = f"Expected POP3 LIST to give each of {user}'s messages its size with CRLF line ends"
    try:
        with d:
            pop = Pop3(d)
            pop.greet()
            outcome = pop.login(user, p_str(spec, "password"))
            if not outcome.ok:
                raise ProbeFailed(_refused(outcome.answer, is_courier(d.transcript)))
            first, rows = pop.multiline("LIST")
            if not first.startswith("+OK"):
                raise ProbeFailed(f"LIST was answered with {said(first)}")
            pop.quit()
    except ProbeFailed as exc:
        why = f" {NOTHING_LISTENS}" if "nothing listens" in str(exc) else ""
        return verdict(spec, False, f"{expected}, but {exc}.{why}", d.transcript)
    try:
        listed = sorted(int(row.split()[1]) for row in rows)
    except (IndexError, ValueError):
        shown = said("; ".join(rows))
        detail = f'{expected}, but the LIST lines are not "number size": {shown}.'
        return verdict(spec, False, detail, d.transcript)
    sizes, stored, where = disk_sizes(lab, user)
    transcript = d.transcript + f"# the messages under {where}, counted with CRLF: {listing(sizes)} bytes\n"
    if not sizes:
        return verdict(spec, False, f"{expected}, but no messages were found under {where}.", transcript)
    detail = (
        f"{expected}: the messages under {where} hold {listing(stored)} bytes as stored, "
        f"{listing(sizes)} counted with CRLF; LIST gave {listing(listed) or 'none'}."
    )
    if listed != sizes:
        detail += " POP3 counts every line end as two bytes (CRLF) even where the file stores LF."
    return verdict(spec, listed == sizes, detail, transcript)
