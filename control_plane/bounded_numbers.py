"""Integers read from text a caller sent (path segments, query parameters), checked before `int()` sees them.

`'²'.isdigit()` holds but `int('²')` fails, and `int()` of more than 4300 digits raises: unchecked, both were
500s. The API layer and the domain modules (audit paging) share this one check.
"""

from __future__ import annotations


def bounded_int(raw: str, low: int, high: int) -> int | None:
    """`raw` as an integer from `low` to `high` (ASCII digits, a leading "-" if negative), else None."""
    digits = raw.removeprefix("-")
    widest = len(str(max(abs(low), abs(high))))
    if not (digits.isascii() and digits.isdigit()) or len(digits.lstrip("0")) > widest:
        return None
    value = int(raw)
    return value if low <= value <= high else None
