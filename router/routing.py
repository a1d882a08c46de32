"""The routing table: one control-plane snapshot, indexed for the data plane and drawn from per request.

Built once per snapshot (signatures parsed, cumulative weights summed), so a request only looks up its
application and draws one variant per stage.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

from protos.hydro.v1 import catalog_pb2
from wire.signature import Signature

DEFAULT_CONTAINER_CONCURRENCY = 0
DEFAULT_HOLD_TIMEOUT_S = 30.0
DEFAULT_MAX_QUEUE = 1000
DEFAULT_TARGET_CONCURRENCY = 100.0


@dataclass(frozen=True)
class Limits:
    """The deployment-config knobs the router enforces for one version."""

    container_concurrency: int = DEFAULT_CONTAINER_CONCURRENCY
    """Most requests one replica may carry at once; 0 = unlimited."""
    hold_timeout_s: float = DEFAULT_HOLD_TIMEOUT_S
    """Longest a request is held waiting for a replica with room."""
    max_queue: int = DEFAULT_MAX_QUEUE
    """Most requests held at once; one more is refused with 429."""
    target_concurrency: float = DEFAULT_TARGET_CONCURRENCY
    """Requests one replica is planned to carry (soft; the scaler's): the Kafka edge caps the backlog it
    reports as demand with it."""

    @classmethod
    def from_config(cls, config: catalog_pb2.DeploymentConfig | None) -> Limits:
        if config is None:
            return cls()
        return cls(
            container_concurrency=max(0, config.container_concurrency),
            hold_timeout_s=config.hold_timeout_s if config.hold_timeout_s > 0 else DEFAULT_HOLD_TIMEOUT_S,
            max_queue=max(0, config.max_queue),
            target_concurrency=config.target_concurrency
            if config.target_concurrency > 0
            else DEFAULT_TARGET_CONCURRENCY,
        )


@dataclass(frozen=True)
class KafkaBinding:
    """An application's Kafka endpoint: where its requests come from, where answers and failures go."""

    source_topic: str
    destination_topic: str
    error_topic: str
    consumer_group: str


@dataclass(frozen=True)
class Version:
    """A released model version as the router forwards to it."""

    key: str
    model: str
    number: str
    """The version number as the runtime expects it in `model_version`."""
    signature: Signature
    limits: Limits


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: its routable variants with cumulative weights, and its shadows."""

    variants: tuple[Version, ...]
    cumulative: tuple[float, ...]
    shadows: tuple[Version, ...] = ()
    unreleased: tuple[str, ...] = ()
    """Version keys the application names that the snapshot does not list as released."""

    def draw(self, x: float) -> Version:
        """The variant for a uniform draw `x` in [0, 1): variant i owns [cum[i-1], cum[i]) of the total."""
        total = self.cumulative[-1]
        index = bisect.bisect_right(self.cumulative, x * total)
        return self.variants[min(index, len(self.variants) - 1)]


@dataclass(frozen=True)
class Route:
    """An application: its stages in order."""

    name: str
    stages: tuple[Stage, ...]
    sampling_rate: float = 0.0
    require_invoke_key: bool = False
    invoke_key_hashes: frozenset[str] = frozenset()
    """SHA-256 hex digests of the keys that open the application (when it requires one)."""
    kafka: KafkaBinding | None = None
    """The application's Kafka endpoint, when it has one (`router.kafka_edge`)."""

    @property
    def routable(self) -> bool:
        return all(stage.variants for stage in self.stages) and bool(self.stages)

    @property
    def signature(self) -> Signature | None:
        """What callers send and get: the first stage's inputs and the last stage's outputs."""
        if not self.routable:
            return None
        return Signature(
            inputs=self.stages[0].variants[0].signature.inputs,
            outputs=self.stages[-1].variants[0].signature.outputs,
        )

    def routes_to(self, version_key: str) -> bool:
        """Whether any stage sends traffic (or a shadow copy) to the version."""
        return any(
            version.key == version_key
            for stage in self.stages
            for version in (*stage.variants, *stage.shadows)
        )

    def plan(self, random: Callable[[], float]) -> tuple[Version, ...]:
        """One variant per stage, each drawn by weight. The caller checks `routable` first."""
        return tuple(
            stage.draw(random()) if len(stage.variants) > 1 else stage.variants[0] for stage in self.stages
        )


@dataclass(frozen=True)
class RoutingTable:
    revision: int
    routes: dict[str, Route] = field(default_factory=dict)
    versions: dict[str, Version] = field(default_factory=dict)

    @classmethod
    def from_snapshot(cls, snapshot: catalog_pb2.Snapshot) -> RoutingTable:
        configs = {config.name: config for config in snapshot.deployment_configs}
        versions = {
            message.key: Version(
                key=message.key,
                model=message.model,
                number=str(message.version),
                signature=Signature.from_proto(message.signature),
                limits=Limits.from_config(configs.get(message.deployment_config)),
            )
            for message in snapshot.versions
        }
        routes = {app.name: _route(app, versions) for app in snapshot.applications}
        return cls(revision=snapshot.revision, routes=routes, versions=versions)


def _route(app: catalog_pb2.Application, versions: dict[str, Version]) -> Route:
    stages = []
    for stage in app.stages:
        weighted: list[Version] = []
        cumulative: list[float] = []
        shadows: list[Version] = []
        unreleased: list[str] = []
        total = 0.0
        for variant in stage.variants:
            version = versions.get(variant.version_key)
            if version is None:
                unreleased.append(variant.version_key)
            elif variant.weight <= 0:
                shadows.append(version)
            else:
                total += variant.weight
                weighted.append(version)
                cumulative.append(total)
        stages.append(
            Stage(
                variants=tuple(weighted),
                cumulative=tuple(cumulative),
                shadows=tuple(shadows),
                unreleased=tuple(unreleased),
            )
        )
    return Route(
        name=app.name,
        stages=tuple(stages),
        sampling_rate=app.sampling_rate,
        require_invoke_key=app.require_invoke_key,
        invoke_key_hashes=frozenset(app.invoke_key_hashes),
        kafka=_kafka(app),
    )


def _kafka(app: catalog_pb2.Application) -> KafkaBinding | None:
    if not app.HasField("kafka") or not app.kafka.source_topic:
        return None
    binding = app.kafka
    return KafkaBinding(
        source_topic=binding.source_topic,
        destination_topic=binding.destination_topic,
        error_topic=binding.error_topic,
        consumer_group=binding.consumer_group or f"hydro.{app.name}",
    )
