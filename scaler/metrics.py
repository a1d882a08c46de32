"""Prometheus metrics of one scaler (own registry, so tests can run many scalers in one process).

A cold start is broken into phases: those the backend reports while launching (docker: `holder-wait`, the
wait for a network-namespace holder, about 0 when the pool has one idle; `pull` when the host lacks
the image; `create`; `start`; process: `unpack`, `start`), `launch` (all of the backend's part), `first-ready`
(from launched to the first ModelReady answered: process start, imports and model load as seen from
outside, and the probing cadence) and `total` (from the request to start the replica to ready).
Cold starts are also kept as plain numbers (`recent_cold_starts`) for logs and benchmarks.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST

_START_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class ReplicaCounts:
    """Replica counts of one version at one moment."""

    version_key: str
    desired: int
    ready: int
    starting: int


@dataclass(frozen=True)
class ColdStart:
    """One replica's way from launch request to ready: `launch` (backend start), `first-ready` (probing).

    `backend_phases` splits `launch` as the backend measured it (docker: holder, pull, create, start).
    """

    version_key: str
    replica_id: str
    launch_s: float
    ready_s: float
    backend_phases: tuple[tuple[str, float], ...] = ()

    @property
    def total_s(self) -> float:
        return self.launch_s + self.ready_s

    def phases(self) -> list[tuple[str, float]]:
        """Every phase in order, ending with `launch`, `first-ready` and `total`."""
        return [
            *self.backend_phases,
            ("launch", self.launch_s),
            ("first-ready", self.ready_s),
            ("total", self.total_s),
        ]

    def describe(self) -> str:
        """`pull 0.000 s, create 0.031 s, ...` for the log line of a cold start."""
        return ", ".join(f"{name} {seconds:.3f} s" for name, seconds in self.phases())


class Metrics:
    """Replica starts, failures and pulls; replica counts are read from the fleet at scrape time."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.registry = CollectorRegistry()
        self.recent_cold_starts: deque[ColdStart] = deque(maxlen=1000)
        self.start_seconds = Histogram(
            "hydro_scaler_replica_start_seconds",
            "Cold start of a replica by phase: holder-wait (docker: waiting for a network-namespace holder), "
            "pull (only when the host lacked the image), create and start (docker), unpack (process), "
            "launch (the backend's whole part), first-ready (launched until the first ModelReady answered: "
            "process start, imports, model load, probing) and total.",
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
            "Time to pull a version's image onto the host (docker backend), ahead of time (`prepull`) "
            "or during a cold start (`start`).",
            ["backend", "reason"],
            buckets=_START_BUCKETS,
            registry=self.registry,
        )
        self.pull_failures = Counter(
            "hydro_scaler_image_pull_failures",
            "Image pulls that failed, ahead of time (`prepull`) or during a cold start (`start`).",
            ["backend", "reason"],
            registry=self.registry,
        )
        self.panicking = Gauge(
            "hydro_scaler_panic_mode",
            "1 while the version's autoscaler is in panic mode (scale up only), else 0.",
            ["version"],
            registry=self.registry,
        )
        self.drain_seconds = Histogram(
            "hydro_scaler_drain_seconds",
            "From a replica leaving the routers' rotation to its stop: `drained` (the runtime reported "
            "no request in flight), `timeout` (stopped at the drain bound with requests still in flight) "
            "or `unknown` (the runtime could not tell).",
            ["backend", "outcome"],
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
        for phase, seconds in start.phases():
            self.start_seconds.labels(self.backend, phase).observe(seconds)

    def observe_drain(self, seconds: float, outcome: str) -> None:
        self.drain_seconds.labels(self.backend, outcome).observe(seconds)

    def observe_pull(self, seconds: float, reason: str) -> None:
        self.pull_seconds.labels(self.backend, reason).observe(seconds)

    def set_panicking(self, version_key: str, panicking: bool) -> None:
        self.panicking.labels(version_key).set(1 if panicking else 0)

    def forget_version(self, version_key: str) -> None:
        """Drop the per-version series of a version that left the catalog."""
        with contextlib.suppress(KeyError):
            self.panicking.remove(version_key)

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
