"""The router's settings, read from `HYDRO_*` environment variables (the shared ones, `catalog_address`
among them, come from `servicekit.settings.ServiceSettings`)."""

from __future__ import annotations

import os
import socket
from typing import Literal

from pydantic import Field, field_validator

from servicekit.settings import ServiceSettings
from wire.limits import TensorLimits


def _default_router_id() -> str:
    return f"router-{socket.gethostname()}-{os.getpid()}"


class Settings(ServiceSettings):
    """Everything the router can be told; names shared with other services mean the same thing there."""

    bind_host: str = Field(
        default="127.0.0.1", description="Address the router's HTTP and gRPC servers listen on."
    )
    router_http_port: int = Field(
        default=8081, description="Port of the HTTP invoke (OIP REST, plain form, /metrics)."
    )
    router_grpc_port: int = Field(
        default=9090, description="Port of the gRPC invoke (`inference.GRPCInferenceService`)."
    )
    scaler_address: str = Field(
        default="127.0.0.1:9091", description="host:port of the hydro.v1.Scaler service."
    )
    router_id: str = Field(
        default_factory=_default_router_id,
        description="Name of this router in load reports and logs (default: router-{host}-{pid}).",
    )
    router_max_message_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Largest request body or gRPC message accepted from callers and exchanged with replicas; "
        "a larger request gets 413 / RESOURCE_EXHAUSTED.",
    )
    router_max_tensors: int = Field(
        default=256,
        gt=0,
        description="Most tensors (inputs plus outputs asked for) in one invoke; more get 400 / "
        "INVALID_ARGUMENT naming the limit.",
    )
    router_max_tensor_elements: int | None = Field(
        default=None,
        gt=0,
        description="Most elements of all the inputs of one invoke together, told from their shapes before "
        "any array is built; more get 400 / INVALID_ARGUMENT. Unset: router_max_message_bytes (an element "
        "takes at least a byte on the wire, so no request within the size limit is refused for its "
        "elements alone; a shape claiming more than its data can only be a lie).",
    )
    router_max_tensor_rank: int = Field(
        default=32,
        gt=0,
        le=64,
        description="Most dimensions of one tensor; a tensor's JSON data may nest no deeper (plain-form "
        "data nests once per dimension). More get 400 / INVALID_ARGUMENT.",
    )
    router_load_report_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between two load reports to the scaler (sent at once on new demand).",
    )
    router_reactivate_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="While requests are held and no replica is ready, Activate is repeated this often.",
    )
    router_quarantine_s: float = Field(
        default=5.0,
        gt=0,
        description="A replica that refused a connection stays out of rotation this long, unless the scaler "
        "drops it first.",
    )
    router_retry_after_s: int = Field(
        default=1, ge=0, description="Retry-After (seconds) sent with 429 and 503 answers."
    )
    router_snapshot_wait_s: float = Field(
        default=5.0,
        ge=0,
        description="How long a request waits for the first routing snapshot after the router starts.",
    )
    router_reconnect_max_s: float = Field(
        default=2.0,
        gt=0,
        description="Longest pause between two reconnects to the control plane or the scaler.",
    )
    router_request_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "OFF"] = Field(
        default="INFO",
        description="Level of the one JSON line per invoke on stderr (logger `router.requests`): lines are "
        "INFO, or WARNING for 5xx / UNAVAILABLE, INTERNAL and DEADLINE_EXCEEDED answers; WARNING keeps only "
        "those, OFF writes none.",
    )
    router_compress_min_bytes: int = Field(
        default=1024,
        ge=0,
        description="Smallest HTTP infer answer compressed for a caller that accepts gzip or deflate "
        "(`Accept-Encoding`); a smaller one is sent as is.",
    )
    router_compress_level: int = Field(
        default=1,
        ge=1,
        le=9,
        description="zlib level (1 fastest .. 9 smallest) of compressed HTTP answers.",
    )

    @field_validator("router_request_log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    sonar_address: str = Field(
        default="127.0.0.1:9092",
        description="host:port of Sonar's hydro.v1.Sonar ingest; empty turns sampling off.",
    )
    router_sonar_buffer_records: int = Field(
        default=10_000,
        gt=0,
        description="Most sampled records waiting for Sonar; beyond it new ones are dropped (and counted).",
    )
    router_sonar_buffer_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Most bytes of sampled records waiting for Sonar; beyond it new ones are dropped.",
    )
    router_sonar_batch_records: int = Field(
        default=500, gt=0, description="Most records in one batch sent to Sonar."
    )
    router_sonar_batch_bytes: int = Field(
        default=4 * 1024 * 1024,
        gt=0,
        description="A batch sent to Sonar stops growing at this size (a bigger record goes alone).",
    )
    router_sonar_batch_linger_s: float = Field(
        default=0.1,
        ge=0,
        description="How long a batch not yet full waits for more records before it is sent to Sonar "
        "(a message costs the router and Sonar far more than a record in it); 0 sends at once.",
    )
    router_sonar_max_record_bytes: int = Field(
        default=32 * 1024 * 1024,
        gt=0,
        description="A sampled record (request and response) larger than this is dropped, not sent.",
    )
    router_sonar_max_unacked_batches: int = Field(
        default=8,
        gt=0,
        description="Most batches sent to Sonar and not yet acknowledged; while this many wait, records "
        "stay buffered.",
    )

    router_kafka_partition_window: int = Field(
        default=32,
        gt=0,
        description="Kafka edge: most messages of one partition in the data plane or awaiting the broker's "
        "acknowledgement at once (answers still go out in the partition's order).",
    )
    router_kafka_unlimited_per_replica: int = Field(
        default=32,
        gt=0,
        description="Kafka edge: messages sent at once to a replica whose deployment config sets no "
        "container_concurrency (with a limit, the limit is used).",
    )
    router_kafka_retries: int = Field(
        default=2,
        ge=0,
        description="Kafka edge: a message the model failed on is tried this many times more before it goes "
        "to the error topic (no replica ready, a full queue: tried until it is served).",
    )
    router_kafka_retry_backoff_s: float = Field(
        default=0.2, gt=0, description="Kafka edge: first pause before a retry; it doubles up to 5 s."
    )
    router_kafka_revoke_grace_s: float = Field(
        default=5.0,
        ge=0,
        description="Kafka edge: how long the messages under way of a partition that moves to another "
        "router (or of a stopping router) may take to be answered before they are left to the next reader.",
    )
    router_kafka_max_buffered: int = Field(
        default=1000,
        gt=0,
        description="Kafka edge: records fetched ahead per partition before the partition is paused.",
    )
    router_kafka_session_timeout_s: float = Field(
        default=10.0,
        ge=1,
        description="Kafka edge: a router silent this long leaves its consumer groups and its partitions "
        "move to the others (Kafka's session.timeout.ms; the broker bounds it).",
    )
    router_kafka_fetch_max_wait_ms: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description="Kafka edge: the longest a fetch waits at the broker for records (fetch.max.wait.ms). "
        "Kafka answers as soon as a record arrives; some brokers (Tansu) hold every fetch this long, so it "
        "bounds the edge's latency there. Higher values mean fewer empty fetches on idle topics.",
    )
    router_kafka_offsets_interval_s: float = Field(
        default=1.0, gt=0, description="Kafka edge: how often the source topics' end offsets are read (lag)."
    )

    @property
    def tensor_limits(self) -> TensorLimits:
        """The invoke limits: `router_max_tensors`, `router_max_tensor_elements`, `router_max_tensor_rank`."""
        elements = self.router_max_tensor_elements or self.router_max_message_bytes
        return TensorLimits(self.router_max_tensors, elements, self.router_max_tensor_rank)
