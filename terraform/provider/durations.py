"""Durations as Terraform users write them in `timeouts` blocks: `30s`, `10m`, `1h30m`."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def seconds(text: str) -> float:
    """`text` in seconds; ValueError naming the expected form."""
    compact = text.strip()
    parts = _PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration: write it like 30s, 10m or 1h30m")
    return sum(float(n) * _SECONDS[u] for n, u in parts)
