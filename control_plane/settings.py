"""The control plane's settings, read from `HYDRO_*` environment variables.

The fields every service shares (home, object store, runtime, tokens, ...) come from
`servicekit.settings.ServiceSettings`; those redeclared here keep the shared variable and default and say
what the control plane does with it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from servicekit.settings import Runtime, ServiceSettings
from wire.package import DEFAULT_MAX_MEMBERS, DEFAULT_MAX_UNPACKED_BYTES

MIB = 1024 * 1024


class Settings(ServiceSettings):
    """Everything the control plane can be told. Field `x_y` is read from `HYDRO_X_Y`."""

    bind_host: str = Field(
        default="127.0.0.1", description="Address the REST API and the Catalog gRPC bind to."
    )
    control_plane_port: int = Field(default=8080, description="Port of the REST API (and the web UI).")
    catalog_port: int = Field(default=9089, description="Port of the gRPC `hydro.v1.Catalog` watch service.")
    scaler_address: str = Field(
        default="127.0.0.1:9091",
        description="host:port of the scaler, asked for replica counts (ListReplicas).",
    )
    sonar_address: str = Field(
        default="127.0.0.1:9092",
        description="host:port of Sonar's hydro.v1.Sonar ingest, to which the samples of external versions "
        "are handed; empty refuses them (503).",
    )
    sonar_timeout_s: float = Field(
        default=10.0, gt=0, description="How long a batch of samples may wait for Sonar's acknowledgement."
    )
    max_samples_per_request: int = Field(
        default=1000,
        gt=0,
        description="Most request and response pairs in one POST .../samples (its bytes are bounded by "
        "max_json_body_bytes).",
    )
    router_url: str = Field(
        default="http://127.0.0.1:8081", description="Base URL of the router, used to build invoke URLs."
    )
    router_grpc_address: str = Field(
        default="127.0.0.1:9090",
        description="host:port of the router's gRPC endpoint, shown as an invoke URL.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL of the catalog database; empty means "
        "`sqlite+aiosqlite:///{home}/hydro.db`. PostgreSQL: `postgresql+asyncpg://user@host:5432/db`.",
    )
    object_store_url: str = Field(
        default="",
        description="Where packages are stored: `file:///path` or `s3://bucket/prefix`; empty means "
        "`file://{home}/objects`.",
    )
    runtime: Runtime = Field(
        default="process",
        description="`docker` builds and pushes an image per version; `process` releases the stored package.",
    )
    registry: str = Field(default="127.0.0.1:5000", description="Docker registry images are pushed to.")
    wheelhouse: Path | None = Field(
        default=None,
        description="Directory of wheels; when set, model requirements are installed from it only "
        "(`pip --no-index --find-links`), so builds need no network.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for write calls. Unset: one is generated on first start, stored hashed, "
        "printed once and written to `{home}/token`.",
    )
    max_package_bytes: int = Field(
        default=512 * MIB, gt=0, description="Largest accepted upload (the compressed tar.gz), in bytes."
    )
    max_unpacked_bytes: int = Field(
        default=DEFAULT_MAX_UNPACKED_BYTES,
        gt=0,
        description="Largest total size of the files inside a package, in bytes.",
    )
    max_package_members: int = Field(
        default=DEFAULT_MAX_MEMBERS, gt=0, description="Most files and folders in a package."
    )
    max_json_body_bytes: int = Field(
        default=1 * MIB,
        gt=0,
        description="Largest accepted JSON request body, in bytes (a drift worker's result has its own, "
        "larger limit); larger ones get 413 as soon as they pass it.",
    )
    max_json_depth: int = Field(
        default=32,
        ge=1,
        description="Deepest nesting of arrays and objects accepted in a JSON request body; deeper ones "
        "get 400.",
    )
    build_concurrency: int = Field(
        default=2,
        ge=1,
        description="How many versions this control plane builds at the same time; further uploads wait "
        "in the queue (their log says how many are ahead).",
    )
    build_timeout_s: float = Field(
        default=900.0,
        gt=0,
        description="Longest a build may run; past it the build is stopped and the version is failed.",
    )
    build_max_attempts: int = Field(
        default=3,
        ge=1,
        description="How many times a version's build is started; a build interrupted by a control-plane "
        "restart is started again until then, and failed after.",
    )
    build_lease_s: float = Field(
        default=30.0,
        gt=0,
        description="How long a started build stays claimed by its control plane without a renewal (renewed "
        "every third of it); a build whose control plane died is taken over by a control plane after it.",
    )
    scaler_timeout_s: float = Field(
        default=0.5, gt=0, description="Deadline of the ListReplicas call made for GET /applications."
    )
    kafka_lag_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=30,
        description="Most time GET /applications spends reading Kafka endpoints' consumer lag from the "
        "brokers; past it the answer says the lag is unknown and why.",
    )
    ui_session_hours: float = Field(
        default=8.0,
        gt=0,
        le=24 * 30,
        description="How long a web UI login lasts; the session ends server-side after it (log in again).",
    )
    catalog_poll_s: float = Field(
        default=5.0,
        gt=0,
        description="How often the catalog revision is re-read from the database, to notice changes made by "
        "another control plane process (changes made here are pushed at once).",
    )

    @model_validator(mode="after")
    def _fill_database_url(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.home}/hydro.db"
        return self
