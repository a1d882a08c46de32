"""The load that routers report, aggregated per version across routers.

Each router streams a report about every version it has seen load for (about once a second). Only a
router's latest report counts, and only until it is `ttl_s` old: a router that disappears stops
counting after that timeout. Times are the scaler's own monotonic clock at receipt (router clocks may
disagree with ours).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RouterLoad:
    """One router's latest report: concurrency (in-flight + queued) per version key."""

    received_at: float
    concurrency: Mapping[str, float]


class LoadBoard:
    """The latest report of every router, summed per version on demand."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._routers: dict[str, RouterLoad] = {}
        self._last_demand_at: dict[str, float] = {}

    def record(self, router_id: str, concurrency: Mapping[str, float], now: float) -> list[str]:
        """Replace `router_id`'s report; return the version keys it shows demand for."""
        loads = {key: max(0.0, value) for key, value in concurrency.items()}
        self._routers[router_id] = RouterLoad(received_at=now, concurrency=loads)
        busy = [key for key, value in loads.items() if value > 0]
        for key in busy:
            self._last_demand_at[key] = now
        return busy

    def concurrency(self, version_key: str, now: float) -> float:
        """In-flight + queued requests for the version, summed over routers with a fresh report."""
        return sum(
            report.concurrency.get(version_key, 0.0)
            for report in self._routers.values()
            if self._fresh(report, now)
        )

    def last_demand_at(self, version_key: str) -> float | None:
        """When a router last reported requests for the version (None: never)."""
        return self._last_demand_at.get(version_key)

    def routers(self, now: float) -> list[str]:
        """The routers whose last report still counts."""
        return sorted(router for router, report in self._routers.items() if self._fresh(report, now))

    def expire(self, now: float) -> None:
        """Forget routers whose reports no longer count."""
        for router, report in list(self._routers.items()):
            if not self._fresh(report, now):
                del self._routers[router]

    def forget(self, version_key: str) -> None:
        """Drop what is known about a version that left the catalog."""
        self._last_demand_at.pop(version_key, None)

    def _fresh(self, report: RouterLoad, now: float) -> bool:
        return now - report.received_at < self.ttl_s
