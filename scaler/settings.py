"""The scaler's settings, read from `HYDRO_*` environment variables.

The fields every service shares come from `servicekit.settings.ServiceSettings`; the scaler uses `home`
(the process backend unpacks versions under `{home}/replicas`), `bind_host`, `catalog_address`,
`runtime` (`process`: local runtime processes, `docker`: containers) and `runtime_base_image` (docker:
network-namespace holders run `sleep infinity` in it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from servicekit.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the scaler can be told; names shared with other services mean the same thing there."""

    scaler_port: int = Field(default=9091, description="Port of the hydro.v1.Scaler gRPC service.")
    scaler_metrics_port: int = Field(
        default=9191, description="Port of the scaler's HTTP /metrics and /health; 0 turns it off."
    )
    scaler_tick_s: float = Field(
        default=2.0,
        gt=0,
        description="Seconds between two scaling decisions (activation never waits for one).",
    )
    scaler_load_report_ttl_s: float = Field(
        default=5.0,
        gt=0,
        description="A router's last load report stops counting this many seconds after it arrived.",
    )
    scaler_utilization: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="Fraction of target_concurrency a replica is planned to carry (Knative's 70%).",
    )
    scaler_ready_timeout_s: float = Field(
        default=120.0, gt=0, description="A replica that does not answer ModelReady within this is stopped."
    )
    scaler_stop_timeout_s: float = Field(
        default=3.0,
        ge=0,
        description="Grace given to a replica to exit on stop (docker stop timeout; SIGTERM before SIGKILL).",
    )
    scaler_drain_timeout_s: float = Field(
        default=30.0,
        ge=0,
        description="Scale-down: after a replica leaves the routers' rotation, wait at most this long for "
        "the requests it still serves (its runtime's own in-flight count) before stopping it.",
    )
    scaler_drain_settle_s: float = Field(
        default=0.2,
        ge=0,
        description="Scale-down: time given to the routers to hear that a replica left the rotation, "
        "before its in-flight count is read.",
    )
    scaler_probe_interval_s: float = Field(
        default=0.005,
        gt=0,
        description="Interval between two checks whether a starting replica listens yet (a TCP connect "
        "and an HTTP/2 preface), then the first interval between two ModelReady probes; that one grows by "
        "a fifth each time up to scaler_probe_max_interval_s.",
    )
    scaler_probe_max_interval_s: float = Field(
        default=0.05,
        gt=0,
        description="Longest interval between two ModelReady probes of a starting replica.",
    )
    scaler_health_interval_s: float = Field(
        default=1.0, gt=0, description="Seconds between ModelReady health checks of a ready replica."
    )
    scaler_health_failures: int = Field(
        default=3, ge=1, description="Failed health checks in a row after which a ready replica is replaced."
    )
    scaler_catalog_wait_s: float = Field(
        default=1.0,
        ge=0,
        description="How long Activate waits for the catalog to name an unknown version before NOT_FOUND.",
    )
    scaler_startup_wait_s: float = Field(
        default=5.0,
        ge=0,
        description="How long Activate waits for the first catalog snapshot at start-up before UNAVAILABLE.",
    )
    scaler_keep_containers: bool = Field(
        default=True,
        description="docker: leave containers running when the scaler exits, for the next scaler to adopt.",
    )
    scaler_instance: str = Field(
        default="default",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        description="docker: this scaler's name, stored as the label hydro.scaler on its containers; a "
        "scaler adopts or removes only containers carrying its own name.",
    )
    scaler_prepull: bool = Field(
        default=True,
        description="docker: pull a version's image as soon as the catalog lists it, not at its first "
        "cold start (failures are logged and counted, never fatal).",
    )
    scaler_prepull_concurrency: int = Field(
        default=2, ge=1, description="docker: at most this many pre-pulls run at once."
    )
    scaler_netns_holders: int = Field(
        default=2,
        ge=0,
        description="docker: idle network-namespace holder containers kept ready; a replica joins one's "
        "network instead of getting its own (cuts the network set-up out of a cold start); 0 turns it "
        "off. A replica in a holder publishes no port itself: its address is the holder's port (the "
        "scaler's endpoints say so; tools reading ports off replica containers must follow the "
        "hydro.holder label).",
    )
    scaler_holder_refill_delay_s: float = Field(
        default=1.0,
        ge=0,
        description="docker: after a holder is taken, wait this long before making its replacement (so "
        "the refill does not compete with the cold start for the cores).",
    )
    scaler_spares: bool = Field(
        default=False,
        description="docker: keep one created (not started) container per version, so that a cold start "
        "only starts it (made when the image is pre-pulled, remade after each use).",
    )
    scaler_replica_address: Literal["bridge", "published"] = Field(
        default="bridge",
        description="docker: the address replicas are announced (and probed) at. `bridge`: the container's "
        "address on the Docker bridge network (calls skip docker's userland proxy; the router must run on "
        "the Docker host); `published`: 127.0.0.1 and the port published for it.",
    )
    scaler_pids_limit: int = Field(default=256, gt=0, description="docker: pids limit of every container.")
    scaler_tmpfs_mb: int = Field(default=64, gt=0, description="docker: size of the tmpfs mounted on /tmp.")
