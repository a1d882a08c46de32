"""The sampler's Prometheus metrics, read from its plain counts at each scrape (the hot path must not take
a metrics lock per record)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class SamplerCounts(Protocol):
    """What the collector reads of `router.sampler.Sampler`."""

    @property
    def counts(self) -> Mapping[str, int]: ...

    @property
    def drops(self) -> Mapping[str, int]: ...

    @property
    def buffered(self) -> int: ...

    @property
    def connected(self) -> bool: ...


class SamplerCollector(Collector):
    """The sampler's counts, read at each scrape."""

    def __init__(self, sampler: SamplerCounts) -> None:
        self._sampler = sampler

    def collect(self) -> Iterator[Metric]:
        sampler = self._sampler
        records = CounterMetricFamily(
            "hydro_router_sonar_records",
            "Execution records sampled for Sonar, by outcome: sampled (taken into the buffer or dropped at "
            "once), sent, acked, rejected (by Sonar), dropped.",
            labels=["outcome"],
        )
        for outcome, count in sampler.counts.items():
            records.add_metric([outcome], count)
        drops = CounterMetricFamily(
            "hydro_router_sonar_records_dropped",
            "Sampled records that never reached Sonar, by reason: buffer_full, too_large, unacknowledged "
            "(on a stream that broke before Sonar acknowledged them), shutdown.",
            labels=["reason"],
        )
        for reason, count in sampler.drops.items():
            drops.add_metric([reason], count)
        yield records
        yield drops
        yield GaugeMetricFamily(
            "hydro_router_sonar_buffered_records",
            "Sampled records waiting to be sent to Sonar.",
            value=sampler.buffered,
        )
        yield GaugeMetricFamily(
            "hydro_router_sonar_connected",
            "1 while the stream to Sonar is open.",
            value=int(sampler.connected),
        )
