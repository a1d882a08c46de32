"""What the control plane's REST API talks about, as typed values: models and their versions,
applications and their variants, invoke keys, drift schedules and reports, API tokens and the audit
trail; and the parsers that read each from its JSON answer (lenient about absent optional fields, strict
about the identifying ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

VERSION_STATUSES = ("pending", "building", "released", "failed")


@dataclass(frozen=True)
class InvokeKey:
    """An application's invoke key; `key` is set only in the answer that created it."""

    id: str
    prefix: str
    application: str
    created_at: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class ApiToken:
    """An API token with its role (viewer, deployer, admin); `token` is set only in the answer that
    created it."""

    name: str
    role: str
    created_at: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class AuditEvent:
    """One write call to the REST API (or a refused attempt); `token` and `role` are None when no valid
    token was presented."""

    id: int
    at: str
    token: str | None
    role: str | None
    method: str
    path: str
    status: int
    error: str | None = None


@dataclass(frozen=True)
class AuditPage:
    """Audit events, newest first; `next` is the `before` of the following page (None: no more)."""

    events: list[AuditEvent]
    next: int | None


@dataclass(frozen=True)
class Accepted:
    """The answer to an upload: the version number the control plane gave the package."""

    model: str
    version: int
    status: str
    external: bool = False
    """An external version (monitored only): released at once, never built or served."""


@dataclass(frozen=True)
class ModelSummary:
    name: str
    versions: int
    latest_version: int | None
    latest_status: str | None


@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: int
    status: str
    image: str | None = None
    digest: str | None = None
    error: str | None = None
    signature: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    external: bool = False

    @property
    def key(self) -> str:
        return f"{self.model}:{self.version}"

    @property
    def finished(self) -> bool:
        return self.status in ("released", "failed")


@dataclass(frozen=True)
class Replicas:
    ready: int
    desired: int


@dataclass(frozen=True)
class Variant:
    """One weighted model version of a stage; `replicas` only in answers (None: scaler not reachable)."""

    model: str
    version: int
    weight: int = 100
    deployment_config: str = "default"
    replicas: Replicas | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "weight": self.weight,
            "deployment_config": self.deployment_config,
        }


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int | None
    """The group's committed offset; None while it has committed none on this partition."""
    end: int
    lag: int


@dataclass(frozen=True)
class KafkaEndpoint:
    """An application's Kafka endpoint: it reads `source_topic` in `consumer_group` (None: the control
    plane's default, `hydro.<app>`), answers to `destination_topic`, and sends what it cannot serve to
    `error_topic`. In answers, `lag` is the group's total consumer lag (None: unknown, `lag_error` says
    why) and `partitions` its lag per partition."""

    source_topic: str
    destination_topic: str
    error_topic: str
    consumer_group: str | None = None
    lag: int | None = None
    lag_error: str | None = None
    partitions: tuple[PartitionLag, ...] = ()

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "source_topic": self.source_topic,
            "destination_topic": self.destination_topic,
            "error_topic": self.error_topic,
        }
        if self.consumer_group is not None:
            body["consumer_group"] = self.consumer_group
        return body


@dataclass(frozen=True)
class Application:
    name: str
    stages: tuple[tuple[Variant, ...], ...]
    sampling_rate: float = 1.0
    require_invoke_key: bool = False
    invoke_urls: dict[str, str] = field(default_factory=dict)
    kafka: KafkaEndpoint | None = None
    routable: bool | None = None
    """Every router connected to the control plane serves `revision` (None: an older control plane)."""
    routable_reason: str | None = None
    """Why not routable; None when it is."""
    revision: int | None = None


@dataclass(frozen=True)
class MonitoringSchedule:
    """When Sonar computes a version's drift reports: a cron expression (UTC) and a window length."""

    model: str
    version: int
    cron: str
    window: str
    window_s: int
    thresholds: dict[str, Any] = field(default_factory=dict)
    """Per-method thresholds (numbers) and `correction` (benjamini-hochberg, bonferroni or none)."""
    enabled: bool = True
    max_catch_up: int = 24
    next_run_at: str | None = None


@dataclass(frozen=True)
class DriftReport:
    """A drift report of a version over [window_start, window_end); summary and features once done."""

    id: str
    model: str
    version: int
    window_start: str
    window_end: str
    trigger: str
    status: str
    summary: dict[str, Any] | None = None
    features: list[dict[str, Any]] | None = None
    thresholds: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    worker: str | None = None
    html_url: str | None = None
    created_at: str | None = None
    finished_at: str | None = None

    @property
    def key(self) -> str:
        return f"{self.model}:{self.version}"

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


@dataclass(frozen=True)
class Deleted:
    """The answer to a deletion: what went, and what could not be removed after the catalog rows went."""

    versions: list[str]
    objects: int
    images: list[str]
    drift_reports: int
    samples: int
    failed: list[str]


@dataclass(frozen=True)
class GarbageCollection:
    """The answer to `POST /gc`: the registry's unreferenced images, and what was deleted of them."""

    dry_run: bool
    registry: str
    unreferenced: list[str]
    deleted: list[str]
    failed: list[str]
    kept: int
    reclaim_blobs: str


def parse_deleted(body: Mapping[str, Any]) -> Deleted:
    removed = body["removed"]
    return Deleted(
        versions=list(removed.get("versions", [])),
        objects=int(removed.get("objects", 0)),
        images=list(removed.get("images", [])),
        drift_reports=int(removed.get("drift_reports", 0)),
        samples=int(removed.get("samples", 0)),
        failed=list(body.get("failed", [])),
    )


def parse_gc(body: Mapping[str, Any]) -> GarbageCollection:
    return GarbageCollection(
        dry_run=bool(body["dry_run"]),
        registry=str(body.get("registry", "")),
        unreferenced=list(body.get("unreferenced", [])),
        deleted=list(body.get("deleted", [])),
        failed=list(body.get("failed", [])),
        kept=int(body.get("kept", 0)),
        reclaim_blobs=str(body.get("reclaim_blobs", "")),
    )


def items_of(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The list in an answer `{"<key>": [...]}`."""
    items = body.get(key, [])
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def parse_accepted(body: Mapping[str, Any]) -> Accepted:
    return Accepted(
        model=str(body["model"]),
        version=int(body["version"]),
        status=str(body["status"]),
        external=body.get("external") is True,
    )


def parse_model_summary(body: Mapping[str, Any]) -> ModelSummary:
    return ModelSummary(
        name=str(body["name"]),
        versions=int(body.get("versions") or 0),
        latest_version=body.get("latest_version"),
        latest_status=body.get("latest_status"),
    )


def parse_invoke_key(body: Mapping[str, Any]) -> InvokeKey:
    key = body.get("key")
    return InvokeKey(
        id=str(body["id"]),
        prefix=str(body.get("prefix", "")),
        application=str(body.get("application", "")),
        created_at=body.get("created_at"),
        key=key if isinstance(key, str) else None,
    )


def parse_token(body: Mapping[str, Any]) -> ApiToken:
    token = body.get("token")
    return ApiToken(
        name=str(body["name"]),
        role=str(body["role"]),
        created_at=body.get("created_at"),
        token=token if isinstance(token, str) else None,
    )


def parse_audit_page(body: Mapping[str, Any]) -> AuditPage:
    events = [
        AuditEvent(
            id=int(item["id"]),
            at=str(item["at"]),
            token=item.get("token"),
            role=item.get("role"),
            method=str(item["method"]),
            path=str(item["path"]),
            status=int(item["status"]),
            error=item.get("error"),
        )
        for item in body.get("events") or []
        if isinstance(item, Mapping)
    ]
    following = body.get("next")
    return AuditPage(events=events, next=int(following) if following is not None else None)


def parse_schedule(body: Mapping[str, Any]) -> MonitoringSchedule:
    return MonitoringSchedule(
        model=str(body["model"]),
        version=int(body["version"]),
        cron=str(body["cron"]),
        window=str(body["window"]),
        window_s=int(body["window_s"]),
        thresholds=dict(body.get("thresholds") or {}),
        enabled=bool(body.get("enabled", True)),
        max_catch_up=int(body.get("max_catch_up", 24)),
        next_run_at=body.get("next_run_at"),
    )


def parse_drift_report(body: Mapping[str, Any]) -> DriftReport:
    summary = body.get("summary")
    return DriftReport(
        id=str(body["id"]),
        model=str(body["model"]),
        version=int(body["version"]),
        window_start=str(body["window_start"]),
        window_end=str(body["window_end"]),
        trigger=str(body.get("trigger", "")),
        status=str(body["status"]),
        summary=dict(summary) if isinstance(summary, Mapping) else None,
        features=_features(body.get("features")),
        thresholds=dict(body.get("thresholds") or {}),
        error=body.get("error"),
        worker=body.get("worker"),
        html_url=body.get("html_url"),
        created_at=body.get("created_at"),
        finished_at=body.get("finished_at"),
    )


def _features(value: Any) -> list[dict[str, Any]] | None:
    """Per-feature results as a list of objects (an object keyed by feature name becomes one)."""
    if isinstance(value, Mapping):
        return [
            {"name": name, **result} if isinstance(result, Mapping) else {"name": name, "result": result}
            for name, result in value.items()
        ]
    if isinstance(value, list):
        return [item if isinstance(item, dict) else {"result": item} for item in value]
    return None


def parse_version(body: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(
        model=str(body["model"]),
        version=int(body["version"]),
        status=str(body["status"]),
        image=body.get("image"),
        digest=body.get("digest"),
        error=body.get("error"),
        signature=dict(body.get("signature") or {}),
        created_at=body.get("created_at"),
        external=body.get("external") is True,
    )


def parse_kafka(body: Mapping[str, Any]) -> KafkaEndpoint:
    lag = body.get("lag")
    partitions = lag.get("partitions") if isinstance(lag, Mapping) else None
    return KafkaEndpoint(
        source_topic=str(body["source_topic"]),
        destination_topic=str(body["destination_topic"]),
        error_topic=str(body["error_topic"]),
        consumer_group=None if body.get("consumer_group") is None else str(body["consumer_group"]),
        lag=int(lag["total"]) if isinstance(lag, Mapping) else None,
        lag_error=None if body.get("lag_error") is None else str(body["lag_error"]),
        partitions=tuple(
            PartitionLag(
                partition=int(p["partition"]),
                committed=None if p.get("committed") is None else int(p["committed"]),
                end=int(p["end"]),
                lag=int(p["lag"]),
            )
            for p in partitions or []
        ),
    )


def parse_application(body: Mapping[str, Any], name: str) -> Application:
    stages = []
    for stage in body.get("stages") or []:
        variants = []
        for v in stage.get("variants") or []:
            replicas = v.get("replicas")
            variants.append(
                Variant(
                    model=str(v["model"]),
                    version=int(v["version"]),
                    weight=int(v.get("weight", 100)),
                    deployment_config=str(v.get("deployment_config") or "default"),
                    replicas=None
                    if not isinstance(replicas, Mapping)
                    else Replicas(
                        ready=int(replicas.get("ready", 0)), desired=int(replicas.get("desired", 0))
                    ),
                )
            )
        stages.append(tuple(variants))
    return Application(
        name=str(body.get("name") or name),
        stages=tuple(stages),
        sampling_rate=float(body.get("sampling_rate", 1.0)),
        require_invoke_key=bool(body.get("require_invoke_key", False)),
        invoke_urls={str(k): str(v) for k, v in (body.get("invoke_urls") or {}).items()},
        kafka=parse_kafka(body["kafka"]) if isinstance(body.get("kafka"), Mapping) else None,
        routable=None if body.get("routable") is None else bool(body["routable"]),
        routable_reason=None if body.get("routable_reason") is None else str(body["routable_reason"]),
        revision=None if body.get("revision") is None else int(body["revision"]),
    )
