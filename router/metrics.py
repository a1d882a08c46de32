"""The router's Prometheus metrics, in a registry of its own (several services share one process).

Counters and histograms are updated per request; queue depth, in-flight requests, ready replicas,
activations and replicas taken out of rotation are read from the dispatcher when scraped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from router.version_queue import VersionQueue

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_HOLD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 20, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hydro_router_requests",
            "Invoke requests answered, by application, protocol and outcome code ('ok' or an error reason).",
            ["application", "protocol", "code"],
            registry=self.registry,
        )
        self.errors = Counter(
            "hydro_router_errors",
            "Invoke requests that failed, by application and error code.",
            ["application", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hydro_router_request_duration_seconds",
            "Time from a request's arrival to its answer, holds included.",
            ["application", "protocol"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.forwards = Counter(
            "hydro_router_forwards",
            "Calls forwarded to a replica, by application, version and outcome code.",
            ["application", "version", "code"],
            registry=self.registry,
        )
        self.forward_latency = Histogram(
            "hydro_router_forward_duration_seconds",
            "Time a replica took to answer a forwarded call.",
            ["application", "version"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.holds = Counter(
            "hydro_router_holds",
            "Requests held because no replica of the version had room (a cold start or a full fleet).",
            ["application", "version"],
            registry=self.registry,
        )
        self.hold_duration = Histogram(
            "hydro_router_hold_duration_seconds",
            "How long held requests waited for a replica (cold-start waits), by outcome.",
            ["application", "version", "outcome"],
            buckets=_HOLD_BUCKETS,
            registry=self.registry,
        )
        self._forwarded: dict[tuple[str, str], tuple[Counter, Histogram]] = {}

    def forwarded(self, application: str, version: str, seconds: float) -> None:
        """Count one forwarded call a replica answered, and its time (once per call: the children of the
        two metrics are kept per application and version rather than looked up by label each time)."""
        children = self._forwarded.get((application, version))
        if children is None:
            children = self._forwarded[(application, version)] = (
                self.forwards.labels(application, version, "OK"),
                self.forward_latency.labels(application, version),
            )
        children[0].inc()
        children[1].observe(seconds)

    def hold_started(self, application: str, version_key: str) -> None:
        """A request is held for a replica of the version (`VersionQueue`'s hold observer)."""
        self.holds.labels(application, version_key).inc()

    def hold_ended(self, application: str, version_key: str, outcome: str, seconds: float) -> None:
        self.hold_duration.labels(application, version_key, outcome).observe(seconds)

    def watch(self, queues: Callable[[], Iterable[VersionQueue]]) -> None:
        """Report the dispatcher's live state at every scrape."""
        self.registry.register(_DispatchCollector(queues))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _DispatchCollector(Collector):
    def __init__(self, queues: Callable[[], Iterable[VersionQueue]]) -> None:
        self._queues = queues

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "hydro_router_queue_depth", "Requests held per version.", labels=["version"]
        )
        in_flight = GaugeMetricFamily(
            "hydro_router_in_flight",
            "Requests forwarded and not yet answered per version.",
            labels=["version"],
        )
        ready = GaugeMetricFamily(
            "hydro_router_ready_replicas",
            "Replicas of the version in this router's rotation.",
            labels=["version"],
        )
        activations = CounterMetricFamily(
            "hydro_router_activations", "Activate calls the scaler accepted, per version.", labels=["version"]
        )
        takeouts = CounterMetricFamily(
            "hydro_router_replicas_taken_out",
            "Replicas taken out of rotation after refusing a connection, per version.",
            labels=["version"],
        )
        for queue in list(self._queues()):
            depth.add_metric([queue.key], queue.queued)
            in_flight.add_metric([queue.key], queue.in_flight)
            ready.add_metric([queue.key], len(queue.replicas))
            activations.add_metric([queue.key], queue.activations)
            takeouts.add_metric([queue.key], queue.takeouts)
        yield from (depth, in_flight, ready, activations, takeouts)
