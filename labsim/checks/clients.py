"""IMAP and POP3 client steps over a Dialogue: greeting, login by each mechanism, a few commands."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
from dataclasses import dataclass

from labsim.checks.session import Dialogue, ProbeFailed


@dataclass
class LoginOutcome:
    ok: bool
    answer: str  # the server's final line for the login (or the refusal that ended it)


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def cram_md5_response(user: str, password: str, challenge_b64: str) -> str:
    try:
        challenge = base64.b64decode(challenge_b64.strip(), validate=True)
    except ValueError as exc:
        raise ProbeFailed(f'the CRAM-MD5 challenge "{challenge_b64}" is not base64') from exc
    digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
    return b64(f"{user} {digest}")


def imap_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Imap:
    def __init__(self, d: Dialogue) -> None:
        self.d = d
        self.n = 0
        self.greeting = ""

    def greet(self) -> str:
        # With STARTTLS openssl reads the greeting and its own exchange; what is left of that may
        # still arrive, so wait for the answer to a command of ours before going on.
        if self.d.transport == "starttls":
            self.d.send("a0 NOOP")
            self.d.until(lambda s: s.startswith("a0 "))
            return ""
        self.greeting = self.d.line()
        if not self.greeting.startswith("* OK") and not self.greeting.startswith("* PREAUTH"):
            raise ProbeFailed(f'{self.d.where} greeted with "{self.greeting}" instead of "* OK ..."')
        return self.greeting

    def command(self, text: str, shown: str | None = None) -> tuple[list[str], str]:
        """(untagged lines, tagged answer)."""
        self.n += 1
        tag = f"a{self.n}"
        self.d.send(f"{tag} {text}", None if shown is None else f"{tag} {shown}")
        lines = self.d.until(lambda s: s.startswith(tag + " "))
        return lines[:-1], lines[-1][len(tag) + 1 :]

    def login(self, user: str, password: str, mechanism: str | None = None) -> LoginOutcome:
        start = len(self.d.lines)
        try:
            return self._login(user, password, mechanism)
        except ProbeFailed:
            # A server that gives up on the client says why in a BYE, then hangs up (Courier while
            # authdaemond is down): that is the login's answer.
            bye = [ln[3:] for ln in self.d.lines[start:] if ln.startswith("S: * BYE")]
            if bye:
                return LoginOutcome(False, bye[-1])
            raise

    def _login(self, user: str, password: str, mechanism: str | None) -> LoginOutcome:
        if mechanism is None:
            _, answer = self.command(f"LOGIN {imap_quote(user)} {imap_quote(password)}")
            return LoginOutcome(answer.startswith("OK"), answer)
        self.n += 1
        tag = f"a{self.n}"
        self.d.send(f"{tag} AUTHENTICATE {mechanism}")
        steps = 0
        while True:
            got = self.d.line()
            if got.startswith(tag + " "):
                answer = got[len(tag) + 1 :]
                return LoginOutcome(answer.startswith("OK"), answer)
            if not got.startswith("+"):
                continue
            steps += 1
            if steps > 3:
                self.d.send("*")
                continue
            self.d.send(sasl_step(mechanism, user, password, got[1:].strip(), steps))

    def capabilities(self) -> list[str]:
        untagged, answer = self.command("CAPABILITY")
        caps: list[str] = []
        for line in untagged:
            if line.upper().startswith("* CAPABILITY "):
                caps += line.split()[2:]
        if not answer.startswith("OK"):
            raise ProbeFailed(f'CAPABILITY was answered with "{answer}"')
        return caps

    def examine(self, folder: str) -> int:
        untagged, answer = self.command(f"EXAMINE {imap_quote(folder)}")
        if not answer.startswith("OK"):
            raise ProbeFailed(f'EXAMINE {folder} was answered with "{answer}"')
        for line in untagged:
            m = re.match(r"\* (\d+) EXISTS", line, re.IGNORECASE)
            if m:
                return int(m.group(1))
        raise ProbeFailed(f"EXAMINE {folder} gave no EXISTS count")

    def logout(self) -> None:
        with contextlib.suppress(ProbeFailed):
            self.command("LOGOUT")


def sasl_step(mechanism: str, user: str, password: str, challenge: str, step: int) -> str:
    if mechanism == "PLAIN":
        return b64(f"\0{user}\0{password}")
    if mechanism == "LOGIN":
        return b64(user if step == 1 else password)
    if mechanism == "CRAM-MD5":
        return cram_md5_response(user, password, challenge)
    raise ProbeFailed(f"the checker does not speak the {mechanism} mechanism")


class Pop3:
    def __init__(self, d: Dialogue) -> None:
        self.d = d
        self.greeting = ""

    def greet(self) -> str:
        if self.d.transport == "starttls":
            # As for IMAP: skip whatever openssl's STLS exchange left, up to the end of our CAPA.
            self.d.send("CAPA")
            self.d.until(lambda s: s == ".")
            return ""
        self.greeting = self.d.line()
        if not self.greeting.startswith("+OK"):
            raise ProbeFailed(f'{self.d.where} greeted with "{self.greeting}" instead of "+OK ..."')
        return self.greeting

    def command(self, text: str, shown: str | None = None) -> str:
        self.d.send(text, shown)
        return self.d.until(lambda s: s.startswith(("+OK", "-ERR", "+ ")) or s == "+")[-1]

    def multiline(self, text: str) -> tuple[str, list[str]]:
        first = self.command(text)
        if not first.startswith("+OK"):
            return first, []
        body = self.d.until(lambda s: s == ".")[:-1]
        return first, [s[1:] if s.startswith("..") else s for s in body]

    def login(self, user: str, password: str, mechanism: str | None = None) -> LoginOutcome:
        mech = (mechanism or "USER").upper()
        if mech == "USER":
            answer = self.command(f"USER {user}")
            if not answer.startswith("+OK"):
                return LoginOutcome(False, answer)
            answer = self.command(f"PASS {password}")
            return LoginOutcome(answer.startswith("+OK"), answer)
        if mech == "APOP":
            m = re.search(r"<[^<>]+>", self.greeting)
            if not m:
                shown = self.greeting or "(no greeting seen)"
                return LoginOutcome(False, f"the greeting carries no APOP timestamp <...>: {shown}")
            digest = hashlib.md5((m.group(0) + password).encode()).hexdigest()
            answer = self.command(f"APOP {user} {digest}")
            return LoginOutcome(answer.startswith("+OK"), answer)
        answer = self.command(f"AUTH {mech}")
        steps = 0
        while answer.startswith("+ ") or answer == "+":
            steps += 1
            reply = "*" if steps > 3 else sasl_step(mech, user, password, answer[1:].strip(), steps)
            answer = self.command(reply)
        return LoginOutcome(answer.startswith("+OK"), answer)

    def capabilities(self) -> list[str]:
        first, lines = self.multiline("CAPA")
        if not first.startswith("+OK"):
            raise ProbeFailed(f'CAPA was answered with "{first}"')
        return lines

    def quit(self) -> None:
        with contextlib.suppress(ProbeFailed):
            self.command("QUIT")


def expected_outcome(expect: str, outcome: LoginOutcome) -> bool:
    """expect is "success", "failure", or text the refusal must contain."""
    want = expect.strip()
    if want.lower() == "success":
        return outcome.ok
    if want.lower() == "failure":
        return not outcome.ok
    return not outcome.ok and want.lower() in outcome.answer.lower()
