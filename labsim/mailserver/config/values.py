"""Typed setting values: parsing with doveconf's error wording, and the
normalised text `doveconf` prints (`120s` shows as `2 mins`, `1024` as `1 k`).

Each parser returns (python value, printed form) or raises ValueError whose
message is the reason doveconf gives.
"""

from __future__ import annotations

import re

UINT_MAX = 4294967295
UINT64_MAX = 18446744073709551615


def parse_bool(text: str) -> tuple[bool, str]:
    # doveconf takes yes/y/1 (any case) for true but only `no` for false: `0` and `n` are errors.
    lowered = text.lower()
    if lowered in ("yes", "y", "1"):
        return True, "yes"
    if lowered == "no":
        return False, "no"
    raise ValueError(f"Invalid boolean value: {text} (use yes or no)")


def parse_uint(text: str) -> tuple[int, str]:
    stripped = text.strip(" \t")
    if re.fullmatch(r"-[0-9]+", stripped):
        raise ValueError(f"Invalid number {text}: Number too small")
    if not re.fullmatch(r"[0-9]+", stripped):
        raise ValueError(f"Invalid number {text}: Not a valid number")
    value = int(stripped)
    if value > UINT_MAX:
        raise ValueError(f"Invalid number {text}: Number too large")
    return value, str(value)


def parse_octal(text: str) -> tuple[int, str]:
    stripped = text.strip(" \t")
    if not re.fullmatch(r"[0-7]+", stripped):
        raise ValueError(f"Invalid number {text}: Not a valid number")
    return int(stripped, 8), stripped


def parse_port(text: str) -> tuple[int, str]:
    stripped = text.strip(" \t")
    if not re.fullmatch(r"[0-9]+", stripped) or int(stripped) > 65535:
        raise ValueError(f"Invalid port number {text}")
    return int(stripped), str(int(stripped))


_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE_SHOW = (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("k", 1024))


def format_size(value: int) -> str:
    if value == 0:
        return "0"
    for unit, factor in _SIZE_SHOW:
        if value % factor == 0:
            return f"{value // factor} {unit}"
    return f"{value} B"


def parse_size(text: str) -> tuple[int, str]:
    m = re.fullmatch(r"\s*([0-9]+)\s*([bkmgtBKMGT]?)(?:(?<=[kmgtKMGT])(?:i?[bB])?)?\s*", text)
    if m is None:
        raise ValueError(f"Invalid size: {text}")
    value = int(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]
    if value > UINT64_MAX:
        raise ValueError(f"Invalid size: {text}")
    return value, format_size(value)


_TIME_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_MSEC_UNITS = {"ms", "msec", "msecs", "millisecond", "milliseconds"}
_TIME_SHOW = (("weeks", 604800), ("days", 86400), ("hours", 3600), ("mins", 60))


def format_time(seconds: int) -> str:
    if seconds == 0:
        return "0"
    for unit, factor in _TIME_SHOW:
        if seconds % factor == 0:
            return f"{seconds // factor} {unit}"
    return f"{seconds} secs"


def parse_time(text: str) -> tuple[int, str]:
    """A time interval in whole seconds (the `time` type of 2.3)."""
    m = re.fullmatch(r"\s*([0-9]+)\s*([A-Za-z]*)\s*", text)
    if m is None:
        raise ValueError(f"Invalid time interval: {text}")
    number, unit = int(m.group(1)), m.group(2).lower()
    if unit in _MSEC_UNITS:
        raise ValueError(f"Milliseconds not supported for this setting: {text}")
    if unit == "":
        if number != 0:
            raise ValueError(f"Time interval '{text}' is missing units (add e.g. 's' for seconds)")
        return 0, "0"
    factor = _TIME_UNITS.get(unit)
    if factor is None:
        raise ValueError(f"Invalid time interval: {text}")
    seconds = number * factor
    if seconds > UINT_MAX:
        raise ValueError(f"Time interval is too large: {text}")
    return seconds, format_time(seconds)
