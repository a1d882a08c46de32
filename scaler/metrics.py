"""Prometheus metrics of one scaler (own registry, so tests can run many scalers in one process).

Cold starts are also kept as plain numbers (`recent_cold_starts`) for logs and benchmarks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST

_START_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class ReplicaCounts:
    """Replica counts of one version at one moment."""

    version_key: str
    desired: int
    ready: int
    starting: int


@dataclass(frozen=True)
class ColdStart:
    """One replica's way from launch request to ready: `launch` (backend start) then `ready` (probing)."""

    version_key: str
    replica_id: str
    launch_s: float
    ready_s: float

    @property
    def total_s(self) -> float:
        return self.launch_s + self.ready_s


class Metrics:
    """Replica starts, failures and pulls; replica counts are read from the fleet at scrape time."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.registry = CollectorRegistry()
        self.recent_cold_starts: deque[ColdStart] = deque(maxlen=1000)
        self.start_seconds = Histogram(
            "hydro_scaler_replica_start_seconds",
            "Time from asking the backend for a replica to its first ModelReady, by phase "
            "(launch: the backend started it; ready: probing until ModelReady; total).",
            ["backend", "phase"],
            buckets=_START_BUCKETS,
            registry=self.registry,
        )
        self.failures = Counter(
            "hydro_scaler_replica_failures",
            "Replicas that failed to start or died while serving.",
            ["backend", "version", "stage"],
            registry=self.registry,
        )
        self.pull_seconds = Histogram(
            "hydro_scaler_image_pull_seconds",
            "Time to pull a version's image onto the host (docker backend).",
            buckets=_START_BUCKETS,
            registry=self.registry,
        )
        self.activations = Counter(
            "hydro_scaler_activations",
            "Activate calls that started a version from zero.",
            ["version"],
            registry=self.registry,
        )

    def observe_start(self, start: ColdStart) -> None:
        self.recent_cold_starts.append(start)
        self.start_seconds.labels(self.backend, "launch").observe(start.launch_s)
        self.start_seconds.labels(self.backend, "ready").observe(start.ready_s)
        self.start_seconds.labels(self.backend, "total").observe(start.total_s)

    def watch_replicas(self, counts: Callable[[], Iterable[ReplicaCounts]]) -> None:
        """Expose the replica counts that `counts()` returns at each scrape."""
        self.registry.register(_ReplicaCollector(counts))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ReplicaCollector(Collector):
    def __init__(self, counts: Callable[[], Iterable[ReplicaCounts]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "hydro_scaler_replicas",
            "Replicas per version: desired, ready and starting.",
            labels=["version", "state"],
        )
        for counts in self._counts():
            family.add_metric([counts.version_key, "desired"], counts.desired)
            family.add_metric([counts.version_key, "ready"], counts.ready)
            family.add_metric([counts.version_key, "starting"], counts.starting)
        yield family
