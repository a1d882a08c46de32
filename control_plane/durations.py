"""Durations as people write them: `30m`, `1h`, `1h30m`, `86400s`, `7d`."""

from __future__ import annotations

import re

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([dhms])")
_WHOLE = re.compile(r"(?:\d+[dhms])+")


def parse_duration(text: str) -> int:
    """Seconds in `text`; ValueError naming the accepted form when it is not a duration."""
    compact = text.strip().lower()
    if not _WHOLE.fullmatch(compact):
        raise ValueError(
            f"{text!r} is not a duration: use a number with a unit s, m, h or d, e.g. '30m', '1h', '86400s'"
        )
    seconds = sum(int(number) * _UNITS[unit] for number, unit in _PART.findall(compact))
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest exact form of `seconds` in one unit: 3600 -> '1h', 5400 -> '90m', 61 -> '61s'."""
    for unit, size in _UNITS.items():
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
