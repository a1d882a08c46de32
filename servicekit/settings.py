"""The settings every service shares, read from `HYDRO_*` environment variables.

Each service's `settings.py` subclasses `ServiceSettings` and adds its own fields; a field shared by two
services lives here once, so one variable means one thing everywhere. `load` reads a settings class and
turns pydantic's validation report into one line naming the variable and what it accepts, which the
entry points print before exiting non-zero (`hydro up`, `hydro router`, `python -m scaler`, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "HYDRO_"
TOKEN_FILE = "token"
"""The file under `home` that `hydro up` (the control plane) writes the generated admin token to."""
SERVICE_TOKEN_FILE = "service-token"
"""The file under `home` that holds the generated service credential (see `servicekit.credentials`)."""

Runtime = Literal["process", "docker"]
KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class SettingsError(ValueError):
    """A setting that cannot be used. The message is one line naming the variable and the allowed values."""


class ServiceSettings(BaseSettings):
    """Fields every Hydro process may be told. Field `x_y` is read from `HYDRO_X_Y`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    home: Path = Field(
        default=Path("~/.hydro"),
        description="Where embedded state lives: SQLite database, local object store, admin token file, "
        "process replicas.",
    )
    bind_host: str = Field(default="127.0.0.1", description="Address the service's servers listen on.")
    catalog_address: str = Field(
        default="127.0.0.1:9089", description="host:port of the control plane's hydro.v1.Catalog service."
    )
    control_plane_url: str = Field(
        default="http://127.0.0.1:8080", description="Base URL of the control plane's REST API."
    )
    token: SecretStr | None = Field(
        default=None, description="API token for the control plane (`Authorization: Bearer ...`)."
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="The control plane's admin token (the control plane's own; a client uses it when "
        "HYDRO_TOKEN is not set).",
    )
    service_token: SecretStr | None = Field(
        default=None,
        description="The service credential: the shared secret the services present to one another (gRPC "
        "metadata on the catalog, scaler and Sonar services; bearer header on package downloads and drift "
        "jobs). Unset: read from `{home}/service-token`, which the first service to start generates.",
    )
    tls_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate (chain) the control plane, the router's edges and the internal gRPC "
        "services present; with `tls_key_file` it turns TLS on. Unset: plain HTTP and gRPC.",
    )
    tls_key_file: Path | None = Field(default=None, description="PEM private key of `tls_cert_file`.")
    tls_ca_file: Path | None = Field(
        default=None,
        description="PEM CA certificate(s) clients verify servers against; when set, the CLI and services "
        "connect to one another over TLS.",
    )
    tls_client_auth: bool = Field(
        default=False,
        description="Mutual TLS on the internal gRPC services: callers must present a certificate signed by "
        "`tls_ca_file` (and present `tls_cert_file` themselves).",
    )
    http_header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Slow-client guard of the HTTP servers: a connection that has not sent a whole request "
        "head (request line and headers) this long after it opened or after its previous answer is closed.",
    )
    http_body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Slow-client guard of the HTTP servers: longest wait for the next piece of a request "
        "body before the request is answered 408 and the connection closed.",
    )
    object_store_url: str = Field(
        default="",
        description="The shared object store: `file:///path` or `s3://bucket/prefix`; empty means "
        "`file://{home}/objects`.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible server (MinIO, moto); None means AWS S3."
    )
    runtime: Runtime = Field(
        default="process",
        description="Where versions run: `process` (local processes from the stored package) or `docker` "
        "(an image per version, pushed to the registry).",
    )
    runtime_base_image: str = Field(
        default="hydro/runtime-base:py3.11", description="Image every version's image is built FROM."
    )
    kafka_bootstrap_servers: str = Field(
        default="",
        description="Comma-separated host:port list of the Kafka brokers applications' Kafka endpoints use. "
        "Empty: no Kafka (declaring a Kafka endpoint on an application is refused).",
    )
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        default="PLAINTEXT",
        description="How to reach the brokers: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
    )
    kafka_sasl_mechanism: KafkaSaslMechanism = Field(
        default="PLAIN", description="SASL mechanism when the protocol is SASL_*: PLAIN or SCRAM-SHA-256/512."
    )
    kafka_sasl_username: str = Field(default="", description="SASL user name (SASL_* protocols).")
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (SASL_* protocols)."
    )
    kafka_ssl_ca_file: Path | None = Field(
        default=None,
        description="PEM CA certificate(s) the brokers' certificates are checked against (SSL, SASL_SSL); "
        "unset: the system's trust store.",
    )

    @field_validator("home")
    @classmethod
    def _expand_home(cls, home: Path) -> Path:
        return home.expanduser().absolute()

    @model_validator(mode="after")
    def _check_tls(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("HYDRO_TLS_CERT_FILE and HYDRO_TLS_KEY_FILE go together: set both or neither")
        if self.tls_client_auth and (self.tls_ca_file is None or self.tls_cert_file is None):
            raise ValueError(
                "HYDRO_TLS_CLIENT_AUTH needs HYDRO_TLS_CA_FILE, HYDRO_TLS_CERT_FILE and HYDRO_TLS_KEY_FILE"
            )
        return self

    @model_validator(mode="after")
    def _check_kafka(self) -> Self:
        if self.kafka_security_protocol.startswith("SASL") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"HYDRO_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "HYDRO_KAFKA_SASL_USERNAME and HYDRO_KAFKA_SASL_PASSWORD"
            )
        return self

    @property
    def token_file(self) -> Path:
        return self.home / TOKEN_FILE

    @property
    def service_token_file(self) -> Path:
        return self.home / SERVICE_TOKEN_FILE

    @property
    def tls_enabled(self) -> bool:
        """Whether this process's servers speak TLS (a certificate and key are set)."""
        return self.tls_cert_file is not None

    @property
    def object_store(self) -> str:
        """`object_store_url`, or the local store under `home` when it is empty."""
        return self.object_store_url or f"file://{self.home}/objects"

    def bearer_token(self) -> str | None:
        """`HYDRO_TOKEN`, else `HYDRO_ADMIN_TOKEN`, else the token file `hydro up` wrote, else None."""
        for secret in (self.token, self.admin_token):
            if secret is not None and secret.get_secret_value():
                return secret.get_secret_value()
        try:
            text = self.token_file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return text or None


Settings = TypeVar("Settings", bound=BaseSettings)


def load(cls: type[Settings]) -> Settings:
    """Read `cls` from the environment; raise SettingsError naming the first bad variable."""
    try:
        return cls()
    except ValidationError as exc:
        raise SettingsError(describe(exc, cls)) from None


def describe(exc: ValidationError, cls: type[BaseSettings]) -> str:
    """One line for a settings validation error: `HYDRO_RUNTIME='swarm' is not allowed: expected 'process'
    or 'docker'`."""
    prefix = str(cls.model_config.get("env_prefix", ENV_PREFIX))
    parts: list[str] = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "settings"
        name = f"{prefix}{field}".upper()
        given = error.get("input")
        shown = f"={given!r}" if isinstance(given, str | int | float | bool) else ""
        parts.append(f"{name}{shown}: {error['msg']}")
    return "; ".join(parts)
