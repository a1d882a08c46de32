"""A version's load as the scaler is told it: time-weighted over each report window.

Any request in a window counts, however short: a request that came and went between two reports still
shows as one in flight, so a burst of short requests is never reported as no demand.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class VersionLoad:
    """A version's load over the last report window: time-averaged, rounded up, at least the current."""

    version_key: str
    in_flight: int
    queued: int

    @property
    def demand(self) -> int:
        return self.in_flight + self.queued


class LoadWindow:
    """The areas under a version's in-flight and queued counts since the last report."""

    __slots__ = ("_window_start", "_changed_at", "_in_flight_area", "_queued_area")

    def __init__(self) -> None:
        self._window_start = self._changed_at = time.monotonic()
        self._in_flight_area = 0.0
        self._queued_area = 0.0

    def account(self, in_flight: int, queued: int) -> None:
        """Add the load since the last change (call before every change, with the counts until now)."""
        now = time.monotonic()
        elapsed = now - self._changed_at
        self._in_flight_area += in_flight * elapsed
        self._queued_area += queued * elapsed
        self._changed_at = now

    def report(self, key: str, in_flight: int, queued: int) -> VersionLoad:
        """The load since the last report, never below the current counts; starts a new window."""
        self.account(in_flight, queued)
        window = self._changed_at - self._window_start
        if window > 0:
            in_flight = max(in_flight, math.ceil(self._in_flight_area / window))
            queued = max(queued, math.ceil(self._queued_area / window))
        self._window_start = self._changed_at
        self._in_flight_area = self._queued_area = 0.0
        return VersionLoad(key, in_flight, queued)
