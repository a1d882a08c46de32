"""The Kafka edge's metrics, per application, in the router's registry (`/metrics`).

Counters are updated as messages go; the consumer lag and the partitions held and paused are read from
the edge's consumers when scraped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from router.kafka_partition import Outcome

_COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


@dataclass(frozen=True)
class ConsumerState:
    """What a scrape reads of one application's consumer in this router."""

    application: str
    lag: int
    """Messages in this router's partitions not yet answered and acknowledged."""
    partitions: int
    paused: int


class KafkaMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = Counter(
            "hydro_router_kafka_messages_received",
            "Kafka messages handed to the data plane, per application (a message read again counts again).",
            ["application"],
            registry=registry,
        )
        self.answered = Counter(
            "hydro_router_kafka_messages_answered",
            "Answers the broker acknowledged on the destination topic, per application.",
            ["application"],
            registry=registry,
        )
        self.to_error_topic = Counter(
            "hydro_router_kafka_messages_to_error_topic",
            "Messages the broker acknowledged on the error topic, per application and error code.",
            ["application", "code"],
            registry=registry,
        )
        self.duplicates = Counter(
            "hydro_router_kafka_duplicates",
            "Messages read again at an offset this router had already answered (at-least-once delivery).",
            ["application"],
            registry=registry,
        )
        self.rebalances = Counter(
            "hydro_router_kafka_rebalances",
            "Partition assignments this router received in the application's consumer group.",
            ["application"],
            registry=registry,
        )
        self.commit_latency = Histogram(
            "hydro_router_kafka_commit_duration_seconds",
            "Time an offset commit took, per application.",
            ["application"],
            buckets=_COMMIT_BUCKETS,
            registry=registry,
        )
        self.commit_failures = Counter(
            "hydro_router_kafka_commit_failures",
            "Offset commits the group coordinator refused or missed (the offsets are read again).",
            ["application"],
            registry=registry,
        )
        self._registry = registry

    def counters(self, application: str) -> ApplicationCounters:
        return ApplicationCounters(self, application)

    def watch(self, states: Callable[[], Iterable[ConsumerState]]) -> None:
        self._registry.register(_ConsumerCollector(states))


class ApplicationCounters:
    """One application's counters, looked up once (`router.kafka_partition.PartitionCounters`)."""

    def __init__(self, metrics: KafkaMetrics, application: str) -> None:
        self._metrics = metrics
        self._application = application
        self._received = metrics.received.labels(application)
        self._answered = metrics.answered.labels(application)
        self._duplicates = metrics.duplicates.labels(application)

    def received(self) -> None:
        self._received.inc()

    def duplicate(self) -> None:
        self._duplicates.inc()

    def settled(self, outcome: Outcome) -> None:
        if outcome.code == "ok":
            self._answered.inc()
        else:
            self._metrics.to_error_topic.labels(self._application, outcome.code).inc()


class _ConsumerCollector(Collector):
    def __init__(self, states: Callable[[], Iterable[ConsumerState]]) -> None:
        self._states = states

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "hydro_router_kafka_consumer_lag",
            "Messages in the partitions this router reads not yet answered, per application.",
            labels=["application"],
        )
        partitions = GaugeMetricFamily(
            "hydro_router_kafka_partitions",
            "Partitions of the application's source topic assigned to this router.",
            labels=["application"],
        )
        paused = GaugeMetricFamily(
            "hydro_router_kafka_paused_partitions",
            "Assigned partitions paused: no replica has room (or the router's buffer is full).",
            labels=["application"],
        )
        for state in list(self._states()):
            lag.add_metric([state.application], state.lag)
            partitions.add_metric([state.application], state.partitions)
            paused.add_metric([state.application], state.paused)
        yield from (lag, partitions, paused)
