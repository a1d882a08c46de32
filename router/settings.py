"""The router's settings, read from `HYDRO_*` environment variables."""

from __future__ import annotations

import os
import socket

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_router_id() -> str:
    return f"router-{socket.gethostname()}-{os.getpid()}"


class Settings(BaseSettings):
    """Everything the router can be told; names shared with other services mean the same thing there."""

    model_config = SettingsConfigDict(env_prefix="HYDRO_", extra="ignore")

    bind_host: str = Field(
        default="127.0.0.1", description="Address the router's HTTP and gRPC servers listen on."
    )
    router_http_port: int = Field(
        default=8081, description="Port of the HTTP invoke (OIP REST, plain form, /metrics)."
    )
    router_grpc_port: int = Field(
        default=9090, description="Port of the gRPC invoke (`inference.GRPCInferenceService`)."
    )
    catalog_address: str = Field(
        default="127.0.0.1:9089", description="host:port of the control plane's hydro.v1.Catalog service."
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
