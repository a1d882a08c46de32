"""Counting which version of a split answered, over the router's HTTP invoke URL."""

from __future__ import annotations

from collections import Counter

import httpx

from tests.e2e.platform import Platform

CALLS = 120
"""At 50/50 each version answers 60 +- 5.5 (1 sd) of 120 calls; at 90/10 version 2 answers 12 +- 3.3."""


def count_answers(platform: Platform, app: str, calls: int = CALLS) -> Counter[int]:
    """Invoke `app` `calls` times with one row; how many answers each version gave."""
    counts: Counter[int] = Counter()
    with httpx.Client(timeout=30) as client:
        for _ in range(calls):
            answer = client.post(f"{platform.router}/apps/{app}", json={"x": [1.0]})
            assert answer.status_code == 200, answer.text
            counts[int(answer.json()["version"][0])] += 1
    return counts
