"""Where the CLI finds the platform, read from the same `HYDRO_*` variables the services read."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TOKEN_FILE = "token"


class Settings(BaseSettings):
    """The CLI's and the SDK's settings. Field `x_y` is read from `HYDRO_X_Y`."""

    model_config = SettingsConfigDict(env_prefix="HYDRO_", extra="ignore")

    home: Path = Field(
        default=Path("~/.hydro"),
        description="Where `hydro up` keeps its state; the admin token is read from `{home}/token`.",
    )
    control_plane_url: str = Field(
        default="http://127.0.0.1:8080", description="Base URL of the control plane's REST API."
    )
    router_url: str = Field(default="http://127.0.0.1:8081", description="Base URL of the router (invoke).")
    token: SecretStr | None = Field(
        default=None, description="Bearer token for write calls; unset means the contents of `{home}/token`."
    )
    admin_token: SecretStr | None = Field(
        default=None, description="The control plane's admin token, used when HYDRO_TOKEN is not set."
    )
    bind_host: str = Field(default="127.0.0.1", description="`hydro up`: address every service binds to.")
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

    @field_validator("home")
    @classmethod
    def _expand(cls, home: Path) -> Path:
        return home.expanduser().absolute()

    @property
    def token_file(self) -> Path:
        """The file `hydro up` (the control plane) writes the generated admin token to."""
        return self.home / TOKEN_FILE

    def bearer_token(self) -> str | None:
        """`HYDRO_TOKEN`, else `HYDRO_ADMIN_TOKEN`, else the token file's contents, else None."""
        for secret in (self.token, self.admin_token):
            if secret is not None and secret.get_secret_value():
                return secret.get_secret_value()
        try:
            text = self.token_file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return text or None
