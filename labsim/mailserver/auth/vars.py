"""Dovecot's %-variables (%u, %n, %d, %s, %h, %Lu, %{user}, %2.1u ...)."""

from __future__ import annotations

import re

SHORT = {
    "u": "user",
    "n": "username",
    "d": "domain",
    "s": "service",
    "h": "home",
    "r": "rip",
    "l": "lip",
    "p": "pid",
    "w": "password",
    "m": "mech",
    "a": "lport",
    "b": "rport",
    "c": "secured",
}

_VAR = re.compile(r"%([LUER]*)(?:(-?\d+)\.)?(\d*)([LUER]*)(\{[^}]*\}|[a-zA-Z%])")


def user_vars(user: str, **extra: str) -> dict[str, str]:
    name, at, domain = user.partition("@")
    out = {"user": user, "username": name, "domain": domain if at else ""}
    out.update(extra)
    return out


def expand(template: str, values: dict[str, str]) -> str:
    """Expand %-variables; an unknown variable expands to nothing (Dovecot logs it and goes on)."""

    def sub(m: re.Match[str]) -> str:
        mods = m.group(1) + m.group(4)
        offset_s, width_s, key = m.group(2), m.group(3), m.group(5)
        if key == "%":
            return "%"
        name = key[1:-1] if key.startswith("{") else SHORT.get(key, "")
        value = values.get(name, "")
        if offset_s is not None:
            offset = int(offset_s)
            value = value[offset:] if offset >= 0 else value[len(value) + offset :]
        if width_s:
            value = value[: int(width_s)]
        for mod in mods:
            if mod == "L":
                value = value.lower()
            elif mod == "U":
                value = value.upper()
            elif mod == "R":
                value = value[::-1]
        return value

    return _VAR.sub(sub, template)
