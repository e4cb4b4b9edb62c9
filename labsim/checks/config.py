"""setting: a configuration value as the daemon's own tool reports it (doveconf) or a Courier file sets it."""

from __future__ import annotations

import re
import shlex

from labsim.checks.base import p_str, said, value, verdict
from labsim.checks.explain import courier_setting
from labsim.checks.result import CheckResult
from labsim.lab.model import Lab, LabError
from labsim.scenario.model import CheckSpec

MATCH_NOTES = {"exact": "", "any_order": " (in any order)", "includes": " (among other words)"}


def same(seen: str, want: str, match: str = "exact") -> bool:
    """Whitespace inside a value is not significant to Dovecot's list settings (protocols = imap  pop3).
    any_order: neither is the order of the words (protocols = pop3 imap serves the same);
    includes: each wanted word is there, whatever else is (protocols = imap pop3 lmtp)."""
    if match == "any_order":
        return sorted(seen.split()) == sorted(want.split())
    if match == "includes":
        return set(want.split()) <= set(seen.split())
    return seen.split() == want.split()


def courier_value(text: str, name: str) -> str | None:
    """The last NAME=value assignment in a Courier shell-style settings file, quotes removed."""
    value = None
    for line in text.splitlines():
        m = re.match(rf"\s*{re.escape(name)}=(.*)$", line)
        if m:
            try:
                words = shlex.split(m.group(1), comments=True)
            except ValueError:
                words = [m.group(1).strip()]
            value = " ".join(words)
    return value


def setting(lab: Lab, spec: CheckSpec) -> CheckResult:
    name = p_str(spec, "name")
    want = p_str(spec, "value")
    match = p_str(spec, "match", "exact")
    order_note = MATCH_NOTES.get(match, "")
    if p_str(spec, "source", "doveconf") == "courier":
        path = p_str(spec, "file")
        expected = f"Expected {name}={want}{order_note} in {path}"
        try:
            text = lab.read_file(path).decode("utf-8", "replace")
        except LabError as exc:
            return verdict(spec, False, f"{expected}, but {exc}.")
        seen = courier_value(text, name)
        if seen is None:
            why = " " + courier_setting(name)
            return verdict(spec, False, f"{expected}, but {path} does not set {name}.{why}".rstrip(), text)
        passed = same(seen, want, match)
        why = "" if passed else " " + courier_setting(name)
        return verdict(spec, passed, f"{expected}; it is {name}={seen}.{why}".rstrip(), f"# {path}\n{text}")
    argv = ["doveconf", "-h", name]
    result = lab.exec(argv, timeout=15)
    transcript = f"$ {shlex.join(argv)}\n{result.output}"
    expected = f"Expected `doveconf -h {name}` to print {value(want)}{order_note}"
    if not result.ok:
        last = result.output.strip().splitlines()[-1:] or [""]
        return verdict(spec, False, f"{expected}, but doveconf failed: {said(last[0], 300)}.", transcript)
    # Warnings (obsolete settings, say) share the merged output; they are not part of the value.
    value_lines = [line for line in result.output.splitlines() if not line.startswith("doveconf: Warning: ")]
    seen_value = "\n".join(value_lines).strip()
    passed = same(seen_value, want, match)
    return verdict(spec, passed, f"{expected}; it printed {value(seen_value)}.", transcript)
