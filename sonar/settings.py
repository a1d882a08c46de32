"""Sonar's settings, read from `HYDRO_*` environment variables.

The fields every service shares (home, bind_host, catalog_address, object store, control_plane_url, the
service credential) come from `servicekit.settings.ServiceSettings`; the drift worker and the release
profiler call the control plane with the service credential (`servicekit.credentials.service_token`:
`HYDRO_SERVICE_TOKEN`, else `{HYDRO_HOME}/service-token`), which opens the drift-job calls and package
downloads and nothing else.
"""

from __future__ import annotations

import os
import socket

from pydantic import Field

from servicekit.settings import ServiceSettings

MIB = 1024 * 1024
DEFAULT_MIN_ROWS = 30
"""Fewest rows a window needs for a drift verdict (`drift_min_rows`)."""


def _default_worker_name() -> str:
    return f"sonar-{socket.gethostname()}-{os.getpid()}"


class Settings(ServiceSettings):
    """Everything Sonar can be told: ingest and storage, and the drift worker's link to the control plane."""

    sonar_port: int = Field(default=9092, description="Port of the gRPC `hydro.v1.Sonar` ingest service.")
    sonar_metrics_port: int = Field(
        default=9192, description="Port of the HTTP `/metrics` and `/health` endpoints; 0 = off."
    )
    sonar_flush_rows: int = Field(
        default=100_000,
        gt=0,
        description="A version's hour of samples is written once it has this many rows.",
    )
    sonar_flush_bytes: int = Field(
        default=32 * MIB,
        gt=0,
        description="... or once its buffered records take this many bytes (as received).",
    )
    sonar_flush_age_s: float = Field(
        default=60.0, gt=0, description="... or once its oldest buffered record is this many seconds old."
    )
    sonar_max_buffered_bytes: int = Field(
        default=256 * MIB,
        gt=0,
        description="Most bytes held in memory (buffered records and Parquet parts waiting for the store); "
        "beyond it the oldest are dropped and counted in hydro_sonar_records_dropped_total.",
    )
    sonar_retry_initial_s: float = Field(
        default=0.2, gt=0, description="First pause before retrying a failed write to the object store."
    )
    sonar_retry_max_s: float = Field(
        default=10.0,
        gt=0,
        description="Longest pause between two retries of a failed write (doubles up to it).",
    )
    sonar_shutdown_timeout_s: float = Field(
        default=30.0,
        ge=0,
        description="On stop, how long Sonar keeps retrying to write what it holds before counting it "
        "dropped.",
    )
    sonar_unknown_version_wait_s: float = Field(
        default=5.0,
        ge=0,
        description="How long a record of a version Sonar has no signature for waits for the catalog to "
        "list it (the router may see a new version first) before it is rejected.",
    )
    # -- the drift worker (sonar.worker) ------------------------------------------------------------
    drift_enabled: bool = Field(default=True, description="Whether this Sonar runs scheduled drift jobs.")
    drift_poll_interval_s: float = Field(
        default=5.0, gt=0, description="How often the drift worker looks for due drift jobs."
    )
    drift_lease_s: float = Field(
        default=300.0,
        gt=0,
        description="How long a claimed drift job stays this worker's before others retry it.",
    )
    drift_flush_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Before a drift job reads its window, how long it waits for the samples this Sonar "
        "still holds of that window to be written; what is still unwritten then fails the job.",
    )
    drift_min_rows: int = Field(
        default=DEFAULT_MIN_ROWS,
        ge=1,
        description="A window with fewer rows gets the verdict insufficient_data instead of a drift "
        "verdict (a schedule or report request can set its own `min_rows` threshold).",
    )
    sample_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="Days of sampled traffic kept: Sonar deletes the hourly partitions that ended longer "
        "ago than this. The default of the models that set none of their own (`hydro models retention`).",
    )
    sample_retention_model_days: dict[str, float] = Field(
        default_factory=dict,
        description='The operator\'s per-model defaults, as JSON, e.g. {"fraud-detector": 7}: used for a '
        "model that has no retention of its own in the catalog (a model's own value wins).",
    )
    sample_retention_interval_s: float = Field(
        default=3600.0,
        ge=0,
        description="How often Sonar looks for sampled traffic older than its retention (0 turns it off).",
    )
    worker_name: str = Field(
        default_factory=_default_worker_name,
        description="Name of this Sonar in drift job leases and logs (default: sonar-{host}-{pid}).",
    )
