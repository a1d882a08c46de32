"""Where the CLI finds the platform, read from the same `HYDRO_*` variables the services read.

The fields every service shares (home, control_plane_url, token, admin_token, bind_host, runtime, ...)
and `bearer_token()` come from `servicekit.settings.ServiceSettings`, so one variable means one thing
for the CLI and the services alike; here only what the CLI and `hydro up` add.
"""

from __future__ import annotations

from pydantic import Field

from servicekit.settings import ServiceSettings


class Settings(ServiceSettings):
    """The CLI's and the SDK's settings. Field `x_y` is read from `HYDRO_X_Y`."""

    router_url: str = Field(default="http://127.0.0.1:8081", description="Base URL of the router (invoke).")
    control_plane_port: int = Field(default=8080, description="`hydro up`: port of the control plane's API.")
    catalog_port: int = Field(
        default=9089, description="`hydro up`: port of the control plane's Catalog gRPC."
    )
    router_http_port: int = Field(default=8081, description="`hydro up`: port of the router's HTTP invoke.")
    router_grpc_port: int = Field(default=9090, description="`hydro up`: port of the router's gRPC invoke.")
    scaler_port: int = Field(default=9091, description="`hydro up`: port of the scaler's gRPC service.")
    sonar_port: int = Field(default=9092, description="`hydro up`: port of Sonar's gRPC ingest.")
    sonar_metrics_port: int = Field(default=9192, description="`hydro up`: port of Sonar's /metrics.")
    timeout_s: float = Field(default=60.0, gt=0, description="Timeout of one HTTP call, in seconds.")
